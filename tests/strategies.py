"""Hypothesis strategies: small architectures and problems, big arrays from a seed."""

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

import nnfunc as nf

ACTIVATION_NAMES = tuple(nf.ACTIVATIONS)


class Problem(NamedTuple):
    sizes: tuple
    activation: tuple
    params: dict
    x: np.ndarray
    y: np.ndarray
    l2: float
    seed: int


@st.composite
def architectures(draw, max_layers=4, max_width=12):
    """(sizes, activations): 1 to max_layers weight layers, widths 1..max_width."""
    num_layers = draw(st.integers(1, max_layers))
    sizes = tuple(draw(st.lists(st.integers(1, max_width), min_size=num_layers + 1, max_size=num_layers + 1)))
    acts = tuple(draw(st.lists(st.sampled_from(ACTIVATION_NAMES), min_size=num_layers - 1, max_size=num_layers - 1)))
    return sizes, acts


@st.composite
def problems(draw, dtype=np.float64, max_layers=4, max_width=12, max_batch=8, l2=None):
    """A random network, batch and labels; arrays built from one drawn seed."""
    sizes, acts = draw(architectures(max_layers, max_width))
    m = draw(st.integers(1, max_batch))
    seed = draw(st.integers(0, 2**32 - 1))
    if l2 is None:
        l2 = draw(st.sampled_from([0.0, 1e-3, 0.1, 1.0]))
    scheme = draw(st.sampled_from(nf.SCHEMES))
    rng = np.random.default_rng(seed)
    params = nf.init(sizes, rng, scheme=scheme, dtype=dtype)
    # random biases too, so a broken bias gradient cannot hide behind zeros
    params = {k: (v + rng.normal(0, 0.5, v.shape).astype(dtype) if k.startswith("b") else v) for k, v in params.items()}
    x = rng.uniform(-2, 2, (m, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], m)
    return Problem(sizes, acts, params, x, y, l2, seed)
