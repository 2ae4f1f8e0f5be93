"""Output layers beside softmax (nnfunc.outputs): their losses, gradients, weights and predictions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import outputs
from nnfunc.errors import ConfigError, InputError, ParamsError
from tests.strategies import output_problems, targets

OUTPUTS = ("softmax", "logistic", "identity", "exp")


def reference_loss(output, z, y, w=None):
    """The module table's formulas, written the plain way (probabilities, no shortcuts)."""
    if output == "softmax":
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        rows = -np.log(p[np.arange(len(y)), y])
    elif output == "logistic":
        p = 1 / (1 + np.exp(-z))
        rows = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    elif output == "identity":
        rows = 0.5 * ((z - y) ** 2).sum(axis=1)
    else:
        mu = np.exp(z)
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y / mu, 1)), 0)
        rows = (ylogy - y + mu).sum(axis=1)
    return rows.mean() if w is None else (w * rows).sum() / w.sum()


def logits_of(prob):
    _, cache = nf.forward(prob.params, prob.x, activation=prob.activation)
    return cache["logits"]


@settings(max_examples=150)
@given(output_problems())
def test_every_output_gradient_matches_numerical_differentiation(case):
    prob, output, weights = case
    nf.assert_network_gradients(prob.params, prob.x, prob.y, activation=prob.activation, output=output,
                                l2=prob.l2, weights=weights)


@settings(max_examples=100)
@given(output_problems())
def test_loss_is_the_tables_formula_plus_l2(case):
    prob, output, weights = case
    z = logits_of(prob)
    penalty = 0.5 * prob.l2 * sum((v ** 2).sum() for k, v in prob.params.items() if k.startswith("W"))
    value = nf.loss(prob.params, prob.x, prob.y, activation=prob.activation, output=output, l2=prob.l2,
                    weights=weights)
    # the plain formulas lose digits where a probability rounds to 0 or 1; these logits stay far from that
    np.testing.assert_allclose(value, reference_loss(output, z, prob.y, weights) + penalty, rtol=1e-9, atol=1e-12)


@settings(max_examples=100)
@given(output_problems())
def test_backward_agrees_with_value_and_grad_for_every_output(case):
    prob, output, weights = case
    kw = dict(activation=prob.activation, output=output)
    outs, cache = nf.forward(prob.params, prob.x, **kw)
    grads = nf.backward(prob.params, cache, prob.y, l2=prob.l2, weights=weights, **kw)
    _, want = nf.value_and_grad(prob.params, prob.x, prob.y, l2=prob.l2, weights=weights, **kw)
    for k in want:
        np.testing.assert_array_equal(grads[k], want[k], err_msg=k)
    assert cache["outputs"] is outs


@settings(max_examples=60)
@given(output_problems(weighted=False), st.integers(1, 3))
def test_a_whole_number_weight_counts_a_row_that_many_times(case, times):
    prob, output, _ = case
    m = prob.x.shape[0]
    counts = np.arange(m) % 3 + times
    rows = np.repeat(np.arange(m), counts)
    kw = dict(activation=prob.activation, output=output, l2=prob.l2)
    value, grads = nf.value_and_grad(prob.params, prob.x, prob.y, weights=counts, **kw)
    want, want_grads = nf.value_and_grad(prob.params, prob.x[rows], prob.y[rows], **kw)
    np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-14)
    for k in grads:
        np.testing.assert_allclose(grads[k], want_grads[k], rtol=1e-10, atol=1e-13, err_msg=k)
    # equal weights, whatever their size, are the plain mean
    same = nf.loss(prob.params, prob.x, prob.y, weights=np.full(m, 7.5), **kw)
    np.testing.assert_allclose(same, nf.loss(prob.params, prob.x, prob.y, **kw), rtol=1e-13)


@given(output_problems(outputs=("softmax", "logistic", "identity", "exp")))
def test_forward_outputs_and_predictions_follow_the_table(case):
    prob, output, _ = case
    z = logits_of(prob)
    outs, _ = nf.forward(prob.params, prob.x, activation=prob.activation, output=output)
    predicted = nf.predict(prob.params, prob.x, activation=prob.activation, output=output)
    want = {"softmax": np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), "logistic": 1 / (1 + np.exp(-z)),
            "identity": z, "exp": np.exp(z)}[output]
    np.testing.assert_allclose(outs, want, rtol=1e-12, atol=1e-15)
    if output == "softmax":
        np.testing.assert_array_equal(predicted, z.argmax(axis=1))
    elif output == "logistic":
        np.testing.assert_array_equal(predicted, (want > 0.5).astype(np.int64))
        assert predicted.dtype == np.int64
    else:
        np.testing.assert_allclose(predicted, want, rtol=1e-12)


@pytest.mark.parametrize("output", OUTPUTS)
def test_float32_in_float32_out(output):
    rng = np.random.default_rng(0)
    params = nf.init((5, 4, 3), rng, dtype=np.float32)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = targets(rng, output, 6, 3)
    outs, _ = nf.forward(params, x, output=output)
    value, grads = nf.value_and_grad(params, x, y, output=output, weights=np.arange(6.0) + 1)
    assert outs.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    assert np.isfinite(value)


def test_the_logistic_loss_stays_finite_where_probabilities_round_to_0_or_1():
    # logits of +-60: sigmoid rounds to exactly 1 and 0 in float64, the loss on the logits does not
    params = {"W1": np.array([[60.0, -60.0]]), "b1": np.zeros(2)}
    x, y = np.ones((1, 1)), np.array([[0.0, 1.0]])
    value, grads = nf.value_and_grad(params, x, y, output="logistic")
    np.testing.assert_allclose(value, 120.0, rtol=1e-12)
    np.testing.assert_allclose(grads["b1"], [1.0, -1.0], rtol=1e-12)


def test_the_poisson_loss_of_zero_counts_takes_y_log_y_as_0():
    params = {"W1": np.zeros((1, 2)), "b1": np.log([2.0, 3.0])}
    value = nf.loss(params, np.ones((1, 1)), np.array([[0.0, 3.0]]), output="exp")
    np.testing.assert_allclose(value, 2.0 + 0.0, atol=1e-12)  # mu at y = 0; y log(y / mu) - y + mu = 0 at y = mu


def test_an_exp_output_that_overflows_names_the_cause():
    params = {"W1": np.array([[800.0]]), "b1": np.zeros(1)}
    with pytest.raises(InputError, match="overflowed"):
        nf.forward(params, np.ones((1, 1)), output="exp")
    with pytest.raises(InputError, match="overflowed"):
        nf.predict(params, np.ones((1, 1)), output="exp")


@pytest.mark.parametrize("output, y, match", [
    ("identity", np.zeros((3, 1)), r"shape \(3, 1\).*nL=2"),
    ("identity", np.zeros(3), r"shape \(3, 2\)|shape \(3,\)"),
    ("identity", np.array([[0, np.nan]] * 3), "NaN or inf"),
    ("identity", np.array([["a", "b"]] * 3), "real numbers"),
    ("logistic", np.array([[0, 2]] * 3), r"outside \[0, 1\]"),
    ("logistic", np.array([[0, -0.5]] * 3), r"outside \[0, 1\]"),
    ("exp", np.array([[1, -1]] * 3), ">= 0"),
    ("softmax", np.zeros((3, 2)), "one-hot"),
])
def test_bad_targets_name_what_the_output_needs(output, y, match):
    params = nf.init((2, 2), 0, dtype=np.float64)
    with pytest.raises(InputError, match=match):
        nf.loss(params, np.ones((3, 2)), y, output=output)


def test_one_column_targets_may_be_passed_flat():
    params = nf.init((2, 1), 0, dtype=np.float64)
    x, y = np.ones((3, 2)), np.array([0.5, 1.0, 2.0])
    assert nf.loss(params, x, y, output="identity") == nf.loss(params, x, y[:, None], output="identity")


@pytest.mark.parametrize("weights, match", [
    (np.ones(2), r"shape \(2,\)"), (np.array([1, -1, 1.0]), ">= 0"), (np.zeros(3), "positive sum"),
    (np.array([1, np.nan, 1]), "finite"), ("abc", "numbers"),
])
def test_bad_weights_are_refused(weights, match):
    params = nf.init((2, 2), 0, dtype=np.float64)
    with pytest.raises(InputError, match=match):
        nf.value_and_grad(params, np.ones((3, 2)), np.zeros(3, int), weights=weights)


def test_an_unknown_output_names_the_choices():
    params = nf.init((2, 2), 0, dtype=np.float64)
    for call in (lambda: nf.forward(params, np.ones((1, 2)), output="sigmoid"),
                 lambda: nf.loss(params, np.ones((1, 2)), [0], output="mse")):
        with pytest.raises(ConfigError, match="softmax, logistic, identity, exp"):
            call()


def test_backward_needs_the_cache_of_the_same_output():
    params = nf.init((2, 2), 0, dtype=np.float64)
    x = np.ones((1, 2))
    _, cache = nf.forward(params, x, output="identity")
    with pytest.raises(ParamsError, match="probs"):
        nf.backward(params, cache, [0])
    _, cache = nf.forward(params, x)
    del cache["outputs"]
    with pytest.raises(ParamsError, match="outputs"):
        nf.backward(params, cache, np.zeros((1, 2)), output="identity")


def test_the_module_rules_are_their_own_derivatives():
    # delta is the derivative of batch_loss at the logits, checked here without the network around it
    rng = np.random.default_rng(3)
    for output in OUTPUTS:
        z, w = rng.normal(size=(4, 3)), rng.uniform(0.5, 2, 4)
        y = targets(rng, output, 4, 3)
        value, outs = outputs.batch_loss(output, z, y, w)
        numeric = nf.gradcheck(lambda p: outputs.batch_loss(output, p["z"], y, w)[0], {"z": z},
                               {"z": outputs.delta(output, outs, y, w)}, mode="full")
        assert numeric.ok, (output, numeric)
