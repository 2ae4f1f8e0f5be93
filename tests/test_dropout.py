"""Dropout as math: masks, 1/keep scaling, and gradients that match numerics.

With an int seed the masks are the same at every call, so a dropout loss is
one deterministic function of the params and its gradient can be measured
by central differences like any other; a Generator advances instead.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc.model import kink_pattern
from nnfunc.errors import ConfigError
from nnfunc.verify.network import check_network
from tests.helpers import assert_bit_identical
from tests.strategies import problems

rates = st.sampled_from([0.1, 0.3, 0.5, 0.8])
seeds = st.integers(0, 2**32 - 1)


@given(problems(), rates, seeds)
def test_dropout_gradient_matches_numerical(prob, dropout, seed):
    report = check_network(prob.params, prob.x, prob.y, activation=prob.activation, l2=prob.l2,
                           dropout=dropout, dropout_seed=seed, mode="full")
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == [*prob.params, "x"]


@given(problems(), rates, seeds)
def test_dropout_functions_agree_with_each_other(prob, dropout, seed):
    kw = dict(activation=prob.activation, dropout=dropout, rng=seed)
    value, grads = nf.value_and_grad(prob.params, prob.x, prob.y, l2=prob.l2, **kw)
    assert value == nf.loss(prob.params, prob.x, prob.y, l2=prob.l2, **kw)
    probs, cache = nf.forward(prob.params, prob.x, **kw)
    assert_bit_identical(grads, nf.backward(prob.params, cache, prob.y, activation=prob.activation,
                                            l2=prob.l2))
    # the loss is the cross-entropy of forward's logits, plus the penalty
    penalty = 0.5 * prob.l2 * sum(float(np.sum(W * W)) for k, W in prob.params.items() if k[0] == "W")
    cross_entropy = -np.mean(nf.log_softmax(cache["logits"])[np.arange(len(prob.y)), prob.y])
    np.testing.assert_allclose(probs, nf.softmax(cache["logits"]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(value, cross_entropy + penalty, rtol=1e-9, atol=1e-12)
    # input_grad runs the same masked network. Z1 = x @ W1 + b1 gives dL/dx = dZ1 @ W1.T and
    # dL/dW1 = x.T @ dZ1 (without L2), so sum(dx * x) == sum(dL/dW1 * W1): two code paths tied
    # by an identity, which a dx missing the masks, scaled or permuted would break
    dx = nf.input_grad(prob.params, prob.x, prob.y, l2=prob.l2, **kw)
    assert dx.shape == prob.x.shape and dx.dtype == prob.x.dtype
    _, data_grads = nf.value_and_grad(prob.params, prob.x, prob.y, l2=0.0, **kw)
    lhs, rhs = dx * prob.x, data_grads["W1"] * prob.params["W1"]
    scale = np.sum(np.abs(lhs)) + np.sum(np.abs(rhs))
    np.testing.assert_allclose(np.sum(lhs), np.sum(rhs), rtol=1e-9, atol=1e-12 * scale + 1e-300)


def _revealing_network(n_in, width, seed, dtype):
    """A linear hidden layer followed by the identity: the logits *are* the hidden units."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((n_in, width)).astype(dtype),
              "b1": rng.standard_normal(width).astype(dtype),
              "W2": np.eye(width, dtype=dtype), "b2": np.zeros(width, dtype=dtype)}
    x = rng.standard_normal((200, n_in)).astype(dtype)
    return params, x, x @ params["W1"] + params["b1"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", [0.2, 0.7])
def test_each_unit_is_dropped_with_probability_p_and_survivors_scaled_by_one_over_keep(dropout, dtype):
    params, x, hidden = _revealing_network(6, 50, 1, dtype)
    _, cache = nf.forward(params, x, activation="linear", dropout=dropout, rng=7)
    logits = cache["logits"]
    assert logits.dtype == dtype
    dropped = logits == 0
    # 10,000 units: the dropped fraction is within 5 standard deviations of p
    sd = np.sqrt(dropout * (1 - dropout) / logits.size)
    assert abs(dropped.mean() - dropout) < 5 * sd
    keep = 1 - dropout
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(logits[~dropped], hidden[~dropped] / dtype(keep), rtol=rtol)
    # the cache records what the backward pass needs: pre-dropout values and the scaled mask
    np.testing.assert_allclose(cache["F1"], hidden, rtol=rtol, atol=rtol)
    assert set(np.unique(cache["D1"])) == {dtype(0), dtype(1 / keep)}
    assert_bit_identical(cache["A1"], cache["F1"] * cache["D1"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(prob=problems(max_layers=3), dropout=rates, seed=seeds)
def test_masks_are_drawn_once_per_hidden_layer_in_order(dtype, prob, dropout, seed):
    # in the params' dtype: a float32 run draws float32 numbers, as resumed runs expect
    params = {k: v.astype(dtype) for k, v in prob.params.items()}
    _, cache = nf.forward(params, prob.x, activation=prob.activation, dropout=dropout, rng=seed)
    rng = np.random.default_rng(seed)
    keep = 1 - dropout
    for l in range(1, len(prob.sizes) - 1):
        D = cache[f"D{l}"]
        kept = rng.random(D.shape, dtype=D.dtype) < keep
        assert np.array_equal(D != 0, kept), l
    assert "D0" not in cache and f"D{len(prob.sizes) - 1}" not in cache  # neither input nor logits


@given(problems(), seeds)
def test_zero_dropout_is_no_dropout_whatever_the_rng(prob, seed):
    kw = dict(activation=prob.activation, l2=prob.l2)
    plain = nf.value_and_grad(prob.params, prob.x, prob.y, **kw)
    for rng in (None, seed, np.random.default_rng(seed)):
        assert_bit_identical(nf.value_and_grad(prob.params, prob.x, prob.y, dropout=0.0, rng=rng, **kw), plain)
    _, cache = nf.forward(prob.params, prob.x, activation=prob.activation, dropout=0, rng=seed)
    assert not any(k[0] in "DF" for k in cache)


def test_same_seed_same_masks_and_a_generator_advances():
    params = nf.init((5, 40, 40, 3), 0, dtype=np.float64)
    x = np.random.default_rng(1).random((16, 5))
    kw = dict(dropout=0.5)
    first = nf.forward(params, x, rng=3, **kw)[0]
    assert_bit_identical(first, nf.forward(params, x, rng=3, **kw)[0])
    assert not np.array_equal(first, nf.forward(params, x, rng=4, **kw)[0])
    gen = np.random.default_rng(3)
    assert_bit_identical(first, nf.forward(params, x, rng=gen, **kw)[0])
    assert not np.array_equal(first, nf.forward(params, x, rng=gen, **kw)[0])


def test_inverted_dropout_keeps_the_expected_activation():
    # averaged over many masks, the dropped-out hidden layer equals the plain one
    params, x, hidden = _revealing_network(3, 4, 2, np.float64)
    x, hidden = x[:5], hidden[:5]
    runs = [nf.forward(params, x, activation="linear", dropout=0.4, rng=s)[1]["logits"]
            for s in range(4000)]
    mean = np.mean(runs, axis=0)
    sd = np.abs(hidden) * np.sqrt(0.4 / 0.6 / len(runs))
    assert np.all(np.abs(mean - hidden) < 5 * sd + 1e-12)


@pytest.mark.parametrize("dropout, rng, words", [
    (1.0, 0, "dropout must be a finite number in [0, 1), got 1.0"),
    (-0.1, 0, "dropout must be a finite number in [0, 1), got -0.1"),
    (float("nan"), 0, "dropout must be a finite number in [0, 1), got nan"),
    (True, 0, "dropout must be a finite number in [0, 1), got True"),
    ("0.5", 0, "dropout must be a finite number in [0, 1), got '0.5'"),
    (0.5, None, "dropout > 0 needs rng="),
    (0.5, "seed", "numpy Generator or an int seed"),
    (0.5, -1, "rng seed must be an integer >= 0, got -1"),
])
def test_bad_dropout_is_rejected_by_every_function(dropout, rng, words):
    params = nf.init((4, 3, 2), 0)
    x, y = np.ones((2, 4), np.float32), np.array([0, 1])
    kw = dict(dropout=dropout, rng=rng)
    calls = [lambda: nf.forward(params, x, **kw), lambda: nf.loss(params, x, y, **kw),
             lambda: nf.value_and_grad(params, x, y, **kw), lambda: nf.input_grad(params, x, y, **kw),
             lambda: kink_pattern(params, x, **kw)]
    for call in calls:
        with pytest.raises(ConfigError) as info:
            call()
        assert words in str(info.value)


@pytest.mark.parametrize("seed", [np.random.default_rng(0), -1, 1.0, True])
def test_check_network_needs_an_int_dropout_seed(seed):
    params = nf.init((3, 4, 2), 0, dtype=np.float64)
    x, y = np.ones((2, 3)), np.array([0, 1])
    with pytest.raises(ConfigError, match=r"dropout_seed must be an int(eger| seed) >= 0, got .*dropout_seed=0"):
        check_network(params, x, y, dropout=0.5, dropout_seed=seed)


def test_numpy_scalar_rates_and_seeds_are_the_python_ones():
    params = nf.init((4, 3, 2), 0)
    x, y = np.ones((2, 4), np.float32), np.array([0, 1])
    value = nf.loss(params, x, y, dropout=0.25, rng=3)
    assert nf.loss(params, x, y, dropout=np.float32(0.25), rng=np.int64(3)) == value
    assert value != nf.loss(params, x, y)  # the rate was applied, not dropped


def test_a_dropout_backward_that_ignores_the_mask_is_caught():
    # the checker can see dropout bugs: the same loss with the gradient of
    # the plain network (mask dropped from backward) fails
    params = nf.init((4, 6, 6, 3), 0, dtype=np.float64)
    rng = np.random.default_rng(5)
    x, y = rng.random((4, 4)), rng.integers(0, 3, 4)
    kw = dict(activation="tanh", dropout=0.5, rng=11)
    _, wrong = nf.value_and_grad(params, x, y, activation="tanh")
    report = nf.gradcheck(lambda p: nf.loss(p, x, y, **kw), params, wrong, mode="full")
    assert not report.ok
    _, right = nf.value_and_grad(params, x, y, **kw)
    assert nf.gradcheck(lambda p: nf.loss(p, x, y, **kw), params, right, mode="full").ok
