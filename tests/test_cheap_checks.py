"""The checks that moved to where they are cheap still catch what they caught.

x is no longer scanned for NaN and inf before the forward pass: a NaN or
inf anywhere in a row of x makes that whole row of ``x @ W1 + b1`` NaN or
inf (x * 0 is NaN when x is), so the pass that adds the first layer's bias
reports it and only then is x scanned, with the message of
``checks.finite_x``. validate_params remembers the layouts it found valid,
keyed by a signature read afresh from the dict on every call. These tests
try to get a NaN or a bad dict past them.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import checks, kernels, model
from nnfunc.checks import arrays
from nnfunc.errors import InputError, ParamsError
from tests.strategies import problems

CALLS = {
    "forward": lambda p, x, y, act: nf.forward(p, x, activation=act),
    "predict": lambda p, x, y, act: nf.predict(p, x, activation=act),
    "loss": lambda p, x, y, act: nf.loss(p, x, y, activation=act),
    "value_and_grad": lambda p, x, y, act: nf.value_and_grad(p, x, y, activation=act),
    "input_grad": lambda p, x, y, act: nf.input_grad(p, x, y, activation=act),
    "dropout": lambda p, x, y, act: nf.value_and_grad(p, x, y, activation=act, dropout=0.5, rng=0),
    "kink_pattern": lambda p, x, y, act: model.kink_pattern(p, x, activation=act),
}


@given(problems(dtype=np.float32, max_batch=6), st.sampled_from(sorted(CALLS)), st.sampled_from(["numpy", "numba"]),
       st.sampled_from([np.nan, np.inf, -np.inf]), st.data())
def test_nan_or_inf_anywhere_in_x_is_named_with_its_place(problem, call, backend, bad, data):
    p = problem
    x = p.x.copy()
    cells = data.draw(st.lists(st.tuples(st.integers(0, x.shape[0] - 1), st.integers(0, x.shape[1] - 1)),
                               min_size=1, max_size=3))
    for r, c in cells:
        x[r, c] = bad
    first = min(cells)
    if data.draw(st.booleans()):  # the worst case for a check after the layer: W1 all zeros, or pushing to -inf
        p.params["W1"][...] = data.draw(st.sampled_from([0.0, -1.0]))
    with kernels.use(backend), pytest.raises(InputError, match=re.escape(
            f"x contains NaN or inf (first at row {first[0]}, column {first[1]})")):
        CALLS[call](p.params, x, p.y, list(p.activation))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_layer_of_no_units_still_has_x_checked(backend):
    params = {"W1": np.ones((3, 0), np.float32), "b1": np.ones(0, np.float32), "W2": np.ones((0, 2), np.float32),
              "b2": np.ones(2, np.float32)}
    x = np.array([[1.0, np.nan, 2.0]], np.float32)
    with kernels.use(backend), pytest.raises(InputError, match="x contains NaN or inf"):
        nf.forward(params, x)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float64_x_beyond_float32_is_named_after_the_layer_too(backend):
    params = nf.init((3, 4, 2), 0)
    x = np.array([[1.0, 1e39, 2.0]])
    with kernels.use(backend), pytest.raises(InputError, match="beyond the range of the params' float32"):
        nf.value_and_grad(params, x, np.array([1]))


def test_a_finite_x_is_not_copied_or_scanned_twice():
    """x of the params' dtype goes into the first matmul as it is: the cache holds the caller's array."""
    params = nf.init((3, 4, 2), 0)
    x = np.ones((2, 3), np.float32)
    assert nf.forward(params, x)[1]["A0"] is x


BREAKS = {
    "a W of another shape": lambda p: p.__setitem__("W2", np.ones((5, 5), np.float32)),
    "a list for a b": lambda p: p.__setitem__("b1", [0.0] * p["b1"].shape[0]),
    "an int W": lambda p: p.__setitem__("W1", p["W1"].astype(np.int32)),
    "another dtype": lambda p: p.__setitem__("b2", p["b2"].astype(np.float64)),
    "an extra key": lambda p: p.__setitem__("W9", p["W1"]),
    "a key gone": lambda p: p.pop("b1"),
    "a b made 2-D": lambda p: p.__setitem__("b1", p["b1"][None, :]),
}


@pytest.mark.parametrize("how", sorted(BREAKS))
def test_a_dict_mutated_after_a_good_call_is_refused(how):
    params = nf.init((6, 4, 3), 0)
    x = np.ones((2, 6), np.float32)
    nf.forward(params, x)  # its layout is now known to be valid
    assert checks.validate_params(params) == 2
    BREAKS[how](params)
    with pytest.raises(ParamsError):
        checks.validate_params(params)
    with pytest.raises(ParamsError):
        nf.forward(params, x)


def test_a_remembered_layout_gives_what_a_full_check_gives():
    for sizes in ((6, 4, 3), (5, 2), (7, 3, 3, 2)):
        params = nf.init(sizes, 0)
        assert checks.validate_params(params) == arrays._validate(params) == len(sizes) - 1
    assert len(arrays._VALID_LAYOUTS) <= arrays._MAX_LAYOUTS


def test_an_unhashable_shape_falls_back_to_the_full_check():
    class Odd:
        shape = [3, 4]  # a list: the signature cannot be hashed
        dtype = np.dtype(np.float32)
        ndim = 2

    with pytest.raises(ParamsError, match="must be a 2-D numpy array"):
        checks.validate_params({"W1": Odd(), "b1": np.zeros(4, np.float32)})
