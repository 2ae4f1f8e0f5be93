"""Properties of the model functions on random architectures (Hypothesis).

The central one: on every drawn network the analytic gradient of ``loss``
(params and input x, L2 included) equals the numerical one, kink-aware.
"""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import nnfunc as nf
from nnfunc.model import kink_pattern
from nnfunc.params import param_keys
from nnfunc.verify import network as netcheck
from nnfunc.losses import l2_penalty
from tests.helpers import assert_bit_identical, copy_tree, exact_axpy
from tests.strategies import architectures, problems


@given(problems())
def test_analytic_gradient_matches_numerical(prob):
    report = netcheck.check_network(prob.params, prob.x, prob.y, activation=prob.activation, l2=prob.l2, mode="full")
    assert report.ok, str(report)
    # every tensor and the input are really checked, not all skipped
    names = {row.name for row in report.rows}
    assert set(prob.params) | {"x"} <= names


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(prob=problems(l2=0.1))
def test_shapes_keys_and_dtypes(dtype, prob):
    params = {k: v.astype(dtype) for k, v in prob.params.items()}
    L = len(prob.sizes) - 1
    m = prob.x.shape[0]
    probs, cache = nf.forward(params, prob.x, activation=prob.activation)
    assert probs.shape == (m, prob.sizes[-1]) and probs.dtype == dtype
    assert list(cache) == ["A0", *(f"A{l}" for l in range(1, L)), "logits", "outputs", "probs"]
    assert cache["outputs"] is cache["probs"] is probs
    for l in range(L):
        assert cache[f"A{l}"].shape == (m, prob.sizes[l]) and cache[f"A{l}"].dtype == dtype
    assert cache["logits"].shape == probs.shape and cache["logits"].dtype == dtype
    grads = nf.backward(params, cache, prob.y, activation=prob.activation, l2=prob.l2)
    assert list(grads) == param_keys(L)
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == dtype
    dx = nf.input_grad(params, prob.x, prob.y, activation=prob.activation)
    assert dx.shape == prob.x.shape and dx.dtype == dtype
    pred = nf.predict(params, prob.x, activation=prob.activation)
    assert pred.shape == (m,) and pred.dtype == np.int64
    assert ((0 <= pred) & (pred < prob.sizes[-1])).all()


@given(problems())
def test_probabilities_and_loss_are_sane(prob):
    probs, _ = nf.forward(prob.params, prob.x, activation=prob.activation)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    value = nf.loss(prob.params, prob.x, prob.y, activation=prob.activation, l2=prob.l2)
    assert np.isfinite(value) and value >= 0


@given(problems())
def test_backward_agrees_with_value_and_grad(prob):
    # l2 drawn too: a backward that forgot the L2 term must fail here
    kw = dict(activation=prob.activation, l2=prob.l2)
    _, cache = nf.forward(prob.params, prob.x, activation=prob.activation)
    grads = nf.backward(prob.params, cache, prob.y, **kw)
    value, grads2 = nf.value_and_grad(prob.params, prob.x, prob.y, **kw)
    assert_bit_identical(grads, grads2)
    assert value == nf.loss(prob.params, prob.x, prob.y, **kw)
    if prob.l2:
        # the L2 term, l2 * W, added once to the data gradient: checked against the sum
        # rounded from exact rationals, for every weight matrix, and biases untouched
        plain = nf.backward(prob.params, cache, prob.y, activation=prob.activation)
        for k, W in prob.params.items():
            want = exact_axpy(plain[k], prob.l2, W, W.dtype) if k[0] == "W" else plain[k]
            assert_bit_identical(grads[k], want)


@given(st.integers(1, 6), st.integers(1, 12), st.floats(-1e3, 1e3), st.integers(0, 2**32 - 1))
def test_softmax_is_shift_invariant(m, k, shift, seed):
    logits = np.random.default_rng(seed).normal(0, 5, (m, k))
    np.testing.assert_allclose(nf.softmax(logits + shift), nf.softmax(logits), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e4, -1e4, 1e30])
def test_extreme_logits_stay_finite(dtype, scale):
    logits = np.array([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0], [-3.0, 2.0, 1.0]], dtype=dtype) * dtype(scale)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        probs = nf.softmax(logits)
        logp = nf.log_softmax(logits)
        from nnfunc.losses import softmax_cross_entropy

        value, _ = softmax_cross_entropy(logits, np.array([1, 2, 0]))
        a = np.array([[scale, -scale, 0.0]], dtype=dtype)
        sig = nf.ACTIVATIONS["sigmoid"].forward(a.copy())
    assert np.isfinite(probs).all() and np.isfinite(logp).all() and np.isfinite(value)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert np.isfinite(sig).all() and sig.min() >= 0 and sig.max() <= 1


def test_loss_of_a_network_with_huge_weights_is_finite():
    params = nf.init((4, 3, 3), 0, dtype=np.float64)
    params = {k: v * 1e4 for k, v in params.items()}
    x = np.ones((2, 4))
    for act in nf.ACTIVATIONS:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            value, grads = nf.value_and_grad(params, x, np.array([0, 2]), activation=act)
        assert np.isfinite(value) and all(np.isfinite(g).all() for g in grads.values())


@given(problems(), st.floats(0.0, 1.0))
def test_functions_are_pure_and_deterministic(prob, lr):
    params0, x0, y0 = copy_tree(prob.params), prob.x.copy(), prob.y.copy()
    kw = dict(activation=prob.activation)
    results = []
    for _ in range(2):
        probs, cache = nf.forward(prob.params, prob.x, **kw)
        cache0 = copy_tree(cache)
        grads = nf.backward(prob.params, cache, prob.y, l2=prob.l2, **kw)
        assert_bit_identical(cache, cache0)
        value, grads2 = nf.value_and_grad(prob.params, prob.x, prob.y, l2=prob.l2, **kw)
        grads2_0 = copy_tree(grads2)
        new = nf.update(prob.params, grads2, lr=lr)
        assert_bit_identical(grads2, grads2_0)
        results.append(
            (probs, grads, value, new, nf.predict(prob.params, prob.x, **kw), nf.input_grad(prob.params, prob.x, prob.y, **kw))
        )
        assert_bit_identical(prob.params, params0)
        assert_bit_identical(prob.x, x0)
        assert_bit_identical(prob.y, y0)
    for a, b in zip(*results):
        assert_bit_identical(a, b)


@given(architectures(), st.integers(0, 2**32 - 1), st.sampled_from(nf.SCHEMES))
def test_init_is_deterministic_per_seed_and_ignores_global_state(arch, seed, scheme):
    sizes, _ = arch
    np.random.seed(1)
    a = nf.init(sizes, seed, scheme=scheme)
    np.random.seed(2)
    np.random.random(10)
    b = nf.init(sizes, np.random.default_rng(seed), scheme=scheme)
    assert_bit_identical(a, b)
    for l in range(1, len(sizes)):
        assert a[f"W{l}"].shape == (sizes[l - 1], sizes[l]) and a[f"W{l}"].dtype == np.float32
        assert not a[f"b{l}"].any()


@pytest.mark.parametrize("scheme, variance", [
    ("he", lambda i, o: 2 / i), ("he_uniform", lambda i, o: 2 / i),
    ("xavier", lambda i, o: 2 / (i + o)), ("glorot_uniform", lambda i, o: 2 / (i + o)),
    ("lecun", lambda i, o: 1 / i), ("lecun_uniform", lambda i, o: 1 / i),
])
def test_init_variance_follows_the_scheme(scheme, variance):
    W = nf.init((400, 300), 0, scheme=scheme, dtype=np.float64)["W1"]
    np.testing.assert_allclose(W.var(), variance(400, 300), rtol=0.02)
    assert abs(W.mean()) < 0.01 * np.sqrt(variance(400, 300))
    if scheme.endswith("uniform"):
        assert np.abs(W).max() <= np.sqrt(3 * variance(400, 300))


@given(problems(), st.randoms(use_true_random=False))
def test_batch_permutation_leaves_loss_and_grads_unchanged(prob, random):
    perm = np.arange(prob.x.shape[0])
    random.shuffle(perm)
    kw = dict(activation=prob.activation, l2=prob.l2)
    v1, g1 = nf.value_and_grad(prob.params, prob.x, prob.y, **kw)
    v2, g2 = nf.value_and_grad(prob.params, prob.x[perm], prob.y[perm], **kw)
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10, atol=1e-13)


@given(problems(l2=0.0))
def test_batch_gradient_is_mean_of_example_gradients(prob):
    kw = dict(activation=prob.activation)
    _, batch = nf.value_and_grad(prob.params, prob.x, prob.y, **kw)
    per_example = [nf.value_and_grad(prob.params, prob.x[i : i + 1], prob.y[i : i + 1], **kw)[1] for i in range(len(prob.y))]
    for k in batch:
        mean = np.mean([g[k] for g in per_example], axis=0)
        np.testing.assert_allclose(batch[k], mean, rtol=1e-10, atol=1e-13)


@given(problems(l2=0.0), st.sampled_from([1e-3, 0.1, 2.5]))
def test_l2_gradient_is_exactly_l2_times_w(prob, l2):
    kw = dict(activation=prob.activation)
    v0, g0 = nf.value_and_grad(prob.params, prob.x, prob.y, **kw)
    v1, g1 = nf.value_and_grad(prob.params, prob.x, prob.y, l2=l2, **kw)
    L = len(prob.sizes) - 1
    for k, W in prob.params.items():
        if k.startswith("W"):
            # exactly: g0 + l2 * W with IEEE's two roundings, worked out in exact rationals
            assert_bit_identical(g1[k], exact_axpy(g0[k], l2, W, W.dtype))
            # and it is the derivative of the penalty's value: the penalty is quadratic, so a
            # central difference with step 1 is exact, [P(W + e) - P(W - e)] / 2 = l2 * w
            numeric = np.empty_like(W)
            moved = {**prob.params, k: W.copy()}
            for i in np.ndindex(W.shape):
                moved[k][i] = W[i] + 1.0
                up = l2_penalty(moved, L, l2)
                moved[k][i] = W[i] - 1.0
                down = l2_penalty(moved, L, l2)
                moved[k][i] = W[i]
                numeric[i] = (up - down) / 2
            np.testing.assert_allclose(g1[k] - g0[k], numeric, rtol=1e-9, atol=1e-12)
        else:
            assert_bit_identical(g1[k], g0[k])  # biases are not decayed
    # the penalty 0.5 * l2 * sum of squared weights, summed exactly (fsum) element by element
    penalty = 0.5 * l2 * math.fsum(float(w) ** 2 for k, W in prob.params.items() if k.startswith("W") for w in W.flat)
    np.testing.assert_allclose(v1 - v0, penalty, rtol=1e-9, atol=1e-12)


@given(problems(), st.floats(0.0, 1.0))
def test_update_is_a_plain_gradient_step(prob, lr):
    _, grads = nf.value_and_grad(prob.params, prob.x, prob.y, activation=prob.activation)
    assert_bit_identical(nf.update(prob.params, grads, lr=0.0), prob.params)
    new = nf.update(prob.params, grads, lr=lr)
    # p - lr * g as IEEE float64 must round it, worked out in exact rationals
    assert_bit_identical(new, {k: exact_axpy(p, -lr, grads[k], p.dtype) for k, p in prob.params.items()})
    # the optimizers' sgd, a separate code path, takes the same step
    opt = nf.sgd(lr)
    assert_bit_identical(new, nf.apply_updates(prob.params, opt.update(grads, opt.init(prob.params))[0]))


def test_update_of_known_numbers():
    # by hand: 1 - 0.5 * 0.5 = 0.75, -2 - 0.5 * -1 = -1.5, 0.25 - 0.5 * 0.5 = 0, bias 3 - 0.5 * 4 = 1
    params = {"W1": np.array([[1.0], [-2.0], [0.25]]), "b1": np.array([3.0])}
    grads = {"W1": np.array([[0.5], [-1.0], [0.5]]), "b1": np.array([4.0])}
    new = nf.update(params, grads, lr=0.5)
    assert new["W1"].tolist() == [[0.75], [-1.5], [0.0]] and new["b1"].tolist() == [1.0]


def test_leaky_relu_uses_slope_one_hundredth():
    z = np.array([[-2.0, -0.5, 0.0, 3.0]])
    out = nf.ACTIVATIONS["leaky_relu"].forward(z.copy())
    np.testing.assert_array_equal(out, [[-0.02, -0.005, 0.0, 3.0]])
    dz = nf.ACTIVATIONS["leaky_relu"].backward(np.ones_like(z), out)
    np.testing.assert_array_equal(dz, [[0.01, 0.01, 0.01, 1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_stays_float32_end_to_end(dtype):
    params = nf.init((6, 5, 3), 0, dtype=dtype)
    x = np.random.default_rng(0).random((4, 6))  # float64 data
    value, grads = nf.value_and_grad(params, x, np.array([0, 1, 2, 0]), l2=0.5)
    assert all(g.dtype == dtype for g in grads.values())
    assert nf.forward(params, x)[0].dtype == dtype
    assert all(v.dtype == dtype for v in nf.update(params, grads, lr=0.1).values())


def test_backward_names_every_missing_cache_entry():
    params = nf.init((4, 3, 3, 2), 0, dtype=np.float64)
    x, y = np.ones((2, 4)), np.array([0, 1])
    _, cache = nf.forward(params, x)
    for key in ("A0", "A1", "A2", "logits", "probs"):
        broken = {k: v for k, v in cache.items() if k != key}
        with pytest.raises(nf.ParamsError, match=rf"cache lacks \['{key}'\]"):
            nf.backward(params, broken, y)
    assert set(nf.backward(params, cache, y)) == set(params)


@given(problems())
def test_kink_pattern_marks_exactly_the_kinked_units(prob):
    pattern = kink_pattern(prob.params, prob.x, activation=prob.activation)
    assert pattern.dtype == bool and pattern.ndim == 1
    _, cache = nf.forward(prob.params, prob.x, activation=prob.activation)
    # the documented meaning, not the library's shortcut (A > 0 of the kinked layers):
    # the sign of each pre-activation Z = A_prev @ W + b of every relu / leaky_relu layer
    expected = []
    for l, name in enumerate(prob.activation, start=1):
        if name in ("relu", "leaky_relu"):
            Z = cache[f"A{l - 1}"] @ prob.params[f"W{l}"] + prob.params[f"b{l}"]
            expected.append(Z.ravel() > 0)
    assert np.array_equal(pattern, np.concatenate(expected) if expected else np.zeros(0, bool))
    assert pattern.size == prob.x.shape[0] * sum(
        n for n, name in zip(prob.sizes[1:-1], prob.activation) if name in ("relu", "leaky_relu"))


@given(problems())
def test_predict_is_the_argmax_of_forward(prob):
    _, cache = nf.forward(prob.params, prob.x, activation=prob.activation)
    pred = nf.predict(prob.params, prob.x, activation=prob.activation)
    assert np.array_equal(pred, cache["logits"].argmax(axis=1))
    # in float32 too, on float64 data: x is cast to the params' dtype first
    params32 = {k: v.astype(np.float32) for k, v in prob.params.items()}
    _, cache32 = nf.forward(params32, prob.x, activation=prob.activation)
    assert np.array_equal(nf.predict(params32, prob.x, activation=prob.activation),
                          cache32["logits"].argmax(axis=1))
