"""The compiled kernels equal the NumPy reference: bit for bit, except exp and log within a stated bound.

Every pass that uses only +, -, *, / and sqrt runs the same operations in
the same order in both, each rounded once (numba compiles without
fast-math, so nothing is fused or reordered), so the results are
bit-identical. Softmax calls exp and log: the compiled backend calls
NumPy's exp too, but the C library's log may differ from NumPy's in the
last bit (the bound below still allows 1 ulp for each exp), and the row sum adds
the same k terms in another order, so probabilities may differ by a few
ulps: at most k + 2 (exp <= 1 ulp in each library, the sum of k positive
terms <= k - 1 ulps relative, the division one rounding), checked below.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import kernels, losses
from nnfunc.errors import ConfigError
from nnfunc.kernels import reference
from tests.helpers import assert_bit_identical
from tests.strategies import problems
from tests.test_optimizers import all_optimizers, assert_state_identical
from tests.test_optimizers import run as run_pure
from tests.test_optimizers import problems as optimizer_problems

pytestmark = pytest.mark.skipif(not kernels.installed(), reason="numba not installed: pip install -e '.[fast]'")

compiled = pytest.importorskip("nnfunc.kernels.compiled") if kernels.installed() else None
layer_loops = pytest.importorskip("nnfunc.kernels.layer_loops") if kernels.installed() else None
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
        assert kernels.active() == "numpy" and kernels.backend() is reference
        with kernels.use("numba"):
            assert kernels.active() == "numba" and kernels.backend() is compiled
        assert kernels.active() == "numpy"


def test_both_backends_offer_the_same_passes():
    def passes(module):
        return {n for n, f in vars(module).items() if callable(f) and not n.startswith("_")
                and getattr(f, "__module__", None) == module.__name__}

    assert passes(compiled) == set(reference.PASSES) <= passes(reference)
    assert {"softmax", "update_all", "update_in_place", "add_all", "warp"} <= set(reference.PASSES)
    assert (reference.NAME, compiled.NAME) == ("numpy", "numba")


def test_describe_names_what_computes():
    import importlib.metadata

    with kernels.use("numpy"):
        assert kernels.describe()["backend"] == "numpy" and kernels.describe()["numba"] is None
    with kernels.use("numba"):
        info = kernels.describe()
    assert info["backend"] == "numba" and info["numba"] == importlib.metadata.version("numba")
    assert info["fallbacks"] == kernels.fallbacks()


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


def test_a_non_contiguous_gradient_takes_the_reference_path_and_says_so():
    params = {"W1": np.ones((3, 4), np.float32), "b1": np.zeros(4, np.float32)}
    grads = {"W1": np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2].T, "b1": np.ones(4, np.float32)}
    opt = nf.adam(0.1)
    before = kernels.fallbacks()
    with pytest.warns(kernels.KernelFallbackWarning, match=r"the adam update got an array not in C order.*"
                      r"np\.ascontiguousarray"):
        want, got = both(lambda: opt.update(grads, opt.init(params), params))
    assert_bit_identical(want[0], got[0])
    counted = {k: v - before.get(k, 0) for k, v in kernels.fallbacks().items()}
    assert {k: v for k, v in counted.items() if v} == {
        "the adam update: an array not in C order (a transpose, a slice with a step, Fortran order)": 1}


def test_numba_asked_for_warns_once_per_reason_in_each_block():
    x = np.ones((3, 4), np.float16)
    y = np.zeros(3, np.int64)
    for _ in range(2):  # each use() block warns again, once
        with kernels.use("numba"), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                want = losses.softmax_cross_entropy(x, y)
        assert [str(w.message)[:71] for w in caught] == [
            "the numba kernels were asked for, but softmax cross-entropy got float16"]
        assert issubclass(caught[0].category, kernels.KernelFallbackWarning)
        assert "cast them with .astype(np.float32)" in str(caught[0].message)
    with kernels.use("numpy"):
        assert want[0] == losses.softmax_cross_entropy(x, y)[0]


def test_numba_by_default_falls_back_silently_but_counted(monkeypatch):
    monkeypatch.setattr(kernels, "_ENV_VALUE", "")
    assert kernels.active() == "numba" and not kernels._explicit()
    x = np.ones((3, 4), np.float16)
    before = kernels.fallbacks().get("softmax: float16 arrays (the loops are compiled for float32 and float64)", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.softmax(x)
    after = kernels.fallbacks()["softmax: float16 arrays (the loops are compiled for float32 and float64)"]
    assert after == before + 1


def test_numba_asked_for_in_the_environment_warns_once_per_process():
    code = ("import warnings, numpy as np, nnfunc as nf; warnings.simplefilter('always')\n"
            "for _ in range(3): nf.softmax(np.ones((2, 3), np.float16))\n"
            "print(nf.kernels.fallbacks())")
    env = {**os.environ, "NNFUNC_KERNELS": "numba"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stderr.count("KernelFallbackWarning") == 1
    assert "'softmax: float16 arrays (the loops are compiled for float32 and float64)': 3" in out.stdout


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
    if name in layer_loops.FORWARD_CODES:
        assert_bit_identical(want, layer_loops.bias_activation(Z.copy(), b, layer_loops.FORWARD_CODES[name], 0.01))
    else:  # the tanh-based ones stay with NumPy's tanh
        assert name in ("sigmoid", "tanh")
    assert_bit_identical(want, compiled.bias_activation(Z.copy(), b, act, 0.01))


@given(matrices(), st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh"]))
def test_activation_derivatives_are_bit_identical(case, name):
    dA, rng = case
    act = nf.ACTIVATIONS[name]
    A = act.forward(rng.standard_normal(dA.shape).astype(dA.dtype))
    A.ravel()[:: 3] = 0  # the kink, where relu's derivative is taken as 0
    want = act.backward(dA.copy(), A)
    assert_bit_identical(want, layer_loops.activation_grad(dA.copy(), A, layer_loops.GRAD_CODES[name], 0.01))
    assert_bit_identical(want, compiled.activation_grad(dA.copy(), A, act, 0.01))


@given(matrices(), st.sampled_from(["relu", "leaky_relu", "linear", "sigmoid", "tanh"]), st.data())
def test_bias_and_activation_say_whether_z_plus_b_was_finite(case, name, data):
    """The first layer's check: the flag looks before the activation, where relu(-inf) = 0 would hide an inf."""
    Z, rng = case
    b = rng.standard_normal(Z.shape[1]).astype(Z.dtype)
    bad = data.draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
    if bad is not None:
        Z[data.draw(st.integers(0, Z.shape[0] - 1)), data.draw(st.integers(0, Z.shape[1] - 1))] = bad
    act = nf.ACTIVATIONS[name]
    with np.errstate(invalid="ignore", over="ignore"):
        want = act.forward(Z + b)
        (A0, ok0), (A1, ok1) = (passes.bias_activation_finite(Z.copy(), b, act, 0.01) for passes in (reference,
                                                                                                      compiled))
    assert ok0 is ok1 is (bad is None)
    assert_bit_identical(want, A0)
    assert_bit_identical(want, A1)


@given(matrices(), st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh"]))
def test_the_derivative_and_its_bias_sums_in_one_pass_are_bit_identical(case, name):
    dA, rng = case
    act = nf.ACTIVATIONS[name]
    A = act.forward(rng.standard_normal(dA.shape).astype(dA.dtype))
    A.ravel()[:: 3] = 0
    dZ = act.backward(dA.copy(), A)
    want = dZ, np.sum(dZ, axis=0)
    for passes in (reference, compiled):
        assert_bit_identical(want, passes.activation_grad_sums(dA.copy(), A, act, 0.01))
        out = np.full(dA.shape[1], np.nan, dA.dtype)  # the training loop's buffer: overwritten, not added to
        got = passes.activation_grad_sums(dA.copy(), A, act, 0.01, out)
        assert got[1] is out
        assert_bit_identical(want, got)


@given(matrices())
def test_bias_gradients_are_bit_identical(case):
    dZ, _ = case
    if dZ.shape[1] > 1:  # a single column is contiguous down the rows: NumPy sums it pairwise, and keeps it
        assert_bit_identical(np.sum(dZ, axis=0), layer_loops.column_sums(dZ))
    assert_bit_identical(np.sum(dZ, axis=0), compiled.column_sums(dZ))


@given(matrices())
def test_the_cross_entropy_gradient_is_bit_identical(case):
    probs, rng = case
    y = rng.integers(0, probs.shape[1], probs.shape[0])
    want = reference.cross_entropy_grad(probs, y)
    assert_bit_identical(want, layer_loops.cross_entropy_grad(probs, y))
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
        mp.setattr(compiled, "softmax_cross_entropy", reference.softmax_cross_entropy)
        mp.setattr(compiled, "softmax", reference.softmax)
        (loss0, g0), (loss1, g1) = both(value_and_grad)
    assert loss0 == loss1
    assert_bit_identical(g0, g1)
