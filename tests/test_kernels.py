"""The compiled kernels equal the NumPy reference: bit for bit, except exp and log within a stated bound.

Every pass that uses only +, -, *, / and sqrt runs the same operations in
the same order in both, each rounded once (numba compiles without
fast-math, so nothing is fused or reordered), so the results are
bit-identical. Softmax calls exp and log: NumPy's vectorised float32/64
exp and the C library's may differ in the last bit, and the row sum adds
the same k terms in another order, so probabilities may differ by a few
ulps: at most k + 2 (exp <= 1 ulp in each library, the sum of k positive
terms <= k - 1 ulps relative, the division one rounding), checked below.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import kernels, losses
from nnfunc.errors import ConfigError
from tests.helpers import assert_bit_identical
from tests.strategies import problems
from tests.test_optimizers import all_optimizers, assert_state_identical
from tests.test_optimizers import run as run_pure
from tests.test_optimizers import problems as optimizer_problems

pytestmark = pytest.mark.skipif(not kernels.installed(), reason="numba not installed: pip install -e '.[fast]'")

compiled = pytest.importorskip("nnfunc.kernels.compiled") if kernels.installed() else None
DTYPES = [np.float32, np.float64]


def both(fn):
    """fn() under the NumPy reference, then under the compiled kernels."""
    with kernels.use("numpy"):
        want = fn()
    with kernels.use("numba"):
        got = fn()
    return want, got


# ---------------------------------------------------------------- the switch


def test_the_context_chooses_and_undoes():
    with kernels.use("numpy"):
        assert kernels.active() == "numpy" and kernels.fast() is None
        with kernels.use("numba"):
            assert kernels.active() == "numba" and kernels.fast() is compiled
        assert kernels.active() == "numpy"


@pytest.mark.parametrize("value, want", [("numpy", "numpy"), ("NUMBA", "numba"), ("", "numba")])
def test_the_environment_variable_chooses(value, want):
    code = "import nnfunc.kernels as k; print(k.active())"
    env = {**os.environ, "NNFUNC_KERNELS": value}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == want


def test_a_bad_choice_names_the_backends(monkeypatch):
    with pytest.raises(ConfigError, match="kernels must be one of numba, numpy, got 'fortran'"):
        with kernels.use("fortran"):
            pass
    code = "import numpy as np, nnfunc as nf; nf.forward(nf.init((2, 2), 0), np.ones((1, 2)))"
    env = {**os.environ, "NNFUNC_KERNELS": "gpu"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "NNFUNC_KERNELS must be one of numba, numpy, got 'gpu'" in out.stderr


def test_numba_asked_for_but_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(kernels, "_installed", False)
    with pytest.raises(ConfigError, match=r"numba is not installed: pip install \"nnfunc\[fast\]\""):
        with kernels.use("numba"):
            pass
    assert kernels.active() == "numpy"  # nothing asked for: the reference


def test_import_nnfunc_compiles_nothing():
    code = "import sys, nnfunc; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- optimizers: bit for bit


def run_in_place(opt, params, grads_list):
    params = {k: v.copy() for k, v in params.items()}
    state, scratch = opt.init(params), {k: np.empty_like(v) for k, v in params.items()}
    for grads in grads_list:
        params, state = opt.update_in_place(grads, state, params, scratch)
    return params, state


@given(optimizer_problems(), st.sampled_from([1e-3, 0.1, 3.0]))
def test_every_optimizer_is_bit_identical_compiled(problem, lr):
    params, grads_list, _ = problem
    for run in (run_pure, run_in_place):
        want, got = both(lambda: [run(opt, params, grads_list) for opt in all_optimizers(lr)])
        for (p1, s1), (p2, s2) in zip(want, got):
            assert_bit_identical(p1, p2)
            assert_state_identical(s1, s2)


def test_a_non_contiguous_gradient_takes_the_reference_path():
    params = {"W1": np.ones((3, 4), np.float32), "b1": np.zeros(4, np.float32)}
    grads = {"W1": np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2].T, "b1": np.ones(4, np.float32)}
    opt = nf.adam(0.1)
    want, got = both(lambda: opt.update(grads, opt.init(params), params))
    assert_bit_identical(want[0], got[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_kernel_flags_an_overflowing_update(dtype):
    big = np.finfo(dtype).max
    params = {"W1": np.full((2, 2), big, dtype), "b1": np.zeros(2, dtype)}
    grads = {"W1": np.full((2, 2), -2, dtype), "b1": np.zeros(2, dtype)}
    for backend in kernels.BACKENDS:
        with kernels.use(backend), pytest.raises(ConfigError, match="overflows"):
            nf.sgd(big).update(grads, nf.sgd(big).init(params), params)
        with kernels.use(backend), pytest.raises(ConfigError, match="overflow"):
            nf.apply_updates(params, {"W1": params["W1"], "b1": params["b1"]})


# ---------------------------------------------------------------- layers: bit for bit


@st.composite
def matrices(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    m, n = draw(st.integers(1, 300)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    return (scale * rng.standard_normal((m, n))).astype(dtype), rng


@given(matrices(), st.sampled_from(["relu", "leaky_relu", "linear", "sigmoid", "tanh"]))
def test_bias_and_activation_are_bit_identical(case, name):
    Z, rng = case
    b = rng.standard_normal(Z.shape[1]).astype(Z.dtype)
    act = nf.ACTIVATIONS[name]
    want = act.forward(Z + b)
    got = Z.copy()
    if compiled.bias_activation(got, b, name, 0.01):
        assert_bit_identical(want, got)
    else:  # the tanh-based ones stay with NumPy's tanh, and nothing was written
        assert name in ("sigmoid", "tanh") and np.array_equal(got, Z)


@given(matrices(), st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh"]))
def test_activation_derivatives_are_bit_identical(case, name):
    dA, rng = case
    act = nf.ACTIVATIONS[name]
    A = act.forward(rng.standard_normal(dA.shape).astype(dA.dtype))
    A.ravel()[:: 3] = 0  # the kink, where relu's derivative is taken as 0
    want = act.backward(dA.copy(), A)
    got = dA.copy()
    assert compiled.activation_grad(got, A, name, 0.01)
    assert_bit_identical(want, got)


@given(matrices())
def test_bias_gradients_are_bit_identical(case):
    dZ, _ = case
    got = compiled.column_sums(dZ)
    if dZ.shape[1] == 1:  # contiguous down the rows: NumPy sums it pairwise, and keeps it
        assert got is None
    else:
        assert_bit_identical(np.sum(dZ, axis=0), got)


@given(matrices())
def test_the_cross_entropy_gradient_is_bit_identical(case):
    probs, rng = case
    y = rng.integers(0, probs.shape[1], probs.shape[0])
    with kernels.use("numpy"):
        want = losses.softmax_cross_entropy_grad(probs, y)
    assert_bit_identical(want, compiled.cross_entropy_grad(probs, y))


# ---------------------------------------------------------------- softmax: the stated bound


@given(matrices(), st.sampled_from([1e-2, 1.0, 30.0, 300.0]))
def test_softmax_agrees_within_k_plus_2_ulps(case, spread):
    logits, rng = case
    logits = logits * logits.dtype.type(spread / max(1e-30, float(np.abs(logits).max())))
    y = rng.integers(0, logits.shape[1], logits.shape[0])
    (loss0, p0), (loss1, p1) = both(lambda: losses.softmax_cross_entropy(logits, y))
    k, dtype = logits.shape[1], logits.dtype
    ulps = np.abs(p1 - p0) / np.spacing(np.maximum(p0, np.finfo(dtype).tiny))
    assert ulps.max() <= k + 2
    # the mean: log of each row sum (as the probs) and a sum over rows in another order
    assert abs(loss1 - loss0) <= (k + 4 + logits.shape[0]) * np.finfo(dtype).eps * (1 + abs(loss0))
    p0, p1 = both(lambda: losses.softmax(logits))
    assert (np.abs(p1 - p0) / np.spacing(np.maximum(p0, np.finfo(dtype).tiny))).max() <= k + 2


# ---------------------------------------------------------------- a whole network


@given(problems(dtype=np.float32, max_batch=16), st.sampled_from([0.0, 0.3]))
def test_a_network_gradient_is_bit_identical_given_the_same_softmax(problem, dropout):
    """With the softmax shared (its bound is above), every other pass of forward and backward is exact."""
    p = problem

    def value_and_grad():
        return nf.value_and_grad(p.params, p.x, p.y, activation=list(p.activation), l2=p.l2, dropout=dropout,
                                 rng=p.seed)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "softmax_cross_entropy", lambda logits, y: None)
        mp.setattr(compiled, "softmax", lambda logits: None)
        (loss0, g0), (loss1, g1) = both(value_and_grad)
    assert loss0 == loss1
    assert_bit_identical(g0, g1)
