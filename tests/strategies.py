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


def targets(rng, output, m, n_out):
    """Random targets of an output layer (``nnfunc.outputs``) for m rows, float64 but for softmax's ids."""
    if output == "softmax":
        return rng.integers(0, n_out, m)
    if output == "logistic":  # hard labels and probabilities both
        return np.where(rng.random((m, n_out)) < 0.5, rng.integers(0, 2, (m, n_out)), rng.random((m, n_out)))
    if output == "exp":
        return rng.poisson(2.0, (m, n_out)).astype(np.float64) * rng.integers(0, 2, (m, n_out))
    return rng.normal(0, 2, (m, n_out))


@st.composite
def output_problems(draw, outputs=None, weighted=None, **kwargs):
    """(problem, output, weights): a ``problems()`` network with targets for a drawn output layer.

    weights is None or (m,) float64 >= 0 with a positive sum (some rows weigh 0).
    """
    prob = draw(problems(**kwargs))
    output = draw(st.sampled_from(outputs or ("softmax", "logistic", "identity", "exp")))
    rng = np.random.default_rng(prob.seed + 1)
    m = prob.x.shape[0]
    y = targets(rng, output, m, prob.sizes[-1])
    weights = None
    if weighted if weighted is not None else draw(st.booleans()):
        weights = rng.uniform(0, 3, m) * (rng.random(m) < 0.8)
        weights[rng.integers(m)] += 0.5
    return prob._replace(y=y), output, weights
