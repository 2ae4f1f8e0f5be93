"""The loss functions as values: softmax, log-softmax, cross-entropy, its gradient, the L2 term.

Each is compared with a plain float64 formula (or a float128-free exact
rewrite of it) on non-square logits, so a lost keepdims, a wrong axis or a
misplaced subtraction cannot hide behind symmetry.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc.losses import l2_penalty, softmax_cross_entropy, softmax_cross_entropy_grad

seeds = st.integers(0, 2**32 - 1)
shapes = st.tuples(st.integers(1, 7), st.integers(2, 9)).filter(lambda s: s[0] != s[1])


def logits_from(seed, shape, scale=3.0, dtype=np.float64):
    return (np.random.default_rng(seed).normal(0, scale, shape)).astype(dtype)


def naive_log_softmax(z):
    """log(exp(z) / sum exp(z)) row by row, in float64; fine for moderate z."""
    e = np.exp(z.astype(np.float64))
    return np.log(e / e.sum(axis=1)[:, None])


@given(seeds, shapes)
def test_log_softmax_equals_log_of_softmax(seed, shape):
    z = logits_from(seed, shape)
    out = nf.log_softmax(z)
    assert out.shape == shape and out.dtype == z.dtype
    np.testing.assert_allclose(out, naive_log_softmax(z), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, np.log(nf.softmax(z)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=1e-12)


@given(seeds, shapes)
def test_log_softmax_is_exact_for_huge_logits(seed, shape):
    # z + 1e4 makes exp overflow in the naive formula; the result must not move
    z = logits_from(seed, shape)
    for dtype in (np.float32, np.float64):
        shifted = (z + 1e4).astype(dtype)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = nf.log_softmax(shifted)
        assert out.dtype == dtype
        tol = 5e-3 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(out, naive_log_softmax(z), rtol=tol, atol=tol)
    assert np.all(nf.log_softmax(z) <= 0)


def test_log_softmax_of_known_rows():
    z = np.array([[0.0, 0.0, 0.0, 0.0], [np.log(3.0), 0.0, 0.0, 0.0]])
    out = nf.log_softmax(z)
    np.testing.assert_allclose(out[0], np.full(4, -np.log(4.0)))
    np.testing.assert_allclose(out[1], [np.log(3 / 6), np.log(1 / 6), np.log(1 / 6), np.log(1 / 6)])


@given(seeds, shapes)
def test_softmax_matches_the_formula_and_keeps_dtype(seed, shape):
    for dtype in (np.float32, np.float64):
        z = logits_from(seed, shape, dtype=dtype)
        p = nf.softmax(z)
        assert p.dtype == dtype and p.shape == shape
        e = np.exp(z.astype(np.float64))
        tol = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), rtol=tol, atol=tol)


@given(seeds, shapes, st.data())
def test_cross_entropy_value_probs_and_gradient(seed, shape, data):
    m, k = shape
    z = logits_from(seed, shape)
    y = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=m, max_size=m)))
    z_before = z.copy()
    value, probs = softmax_cross_entropy(z, y)
    assert np.array_equal(z, z_before)  # the logits are not overwritten
    assert isinstance(value, float)
    # log(sum exp) of a near-one sum: exact to 1e-16 absolute, not relative, for tiny losses
    np.testing.assert_allclose(value, -naive_log_softmax(z)[np.arange(m), y].mean(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(probs, nf.softmax(z), rtol=1e-13, atol=1e-15)
    grad = softmax_cross_entropy_grad(probs, y)
    onehot = np.eye(k)[y]
    np.testing.assert_allclose(grad, (probs - onehot) / m, rtol=1e-13, atol=1e-16)
    assert np.array_equal(probs, nf.softmax(z))  # the gradient leaves probs alone
    # and it is the derivative of the value: a central difference on one logit
    i, j = data.draw(st.integers(0, m - 1)), data.draw(st.integers(0, k - 1))
    h = 1e-6
    up, down = z.copy(), z.copy()
    up[i, j] += h
    down[i, j] -= h
    numeric = (softmax_cross_entropy(up, y)[0] - softmax_cross_entropy(down, y)[0]) / (2 * h)
    np.testing.assert_allclose(grad[i, j], numeric, rtol=1e-5, atol=1e-9)


def test_cross_entropy_of_known_logits():
    z = np.array([[0.0, 0.0], [np.log(3.0), 0.0], [0.0, 50.0]], dtype=np.float32)
    value, probs = softmax_cross_entropy(z, np.array([0, 0, 1]))
    expected = (np.log(2) + np.log(4 / 3) + np.log1p(np.exp(-50.0))) / 3
    assert value == pytest.approx(expected, rel=1e-6)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs[1], [0.75, 0.25], rtol=1e-6)
    grad = softmax_cross_entropy_grad(probs, np.array([0, 0, 1]))
    np.testing.assert_allclose(grad[1], [-0.25 / 3, 0.25 / 3], rtol=1e-5)
    assert grad.dtype == np.float32


@given(seeds, st.integers(1, 4), st.sampled_from([0.0, 1e-3, 0.5, 2.0]))
def test_l2_penalty_is_half_l2_times_squared_weights_only(seed, num_layers, l2):
    rng = np.random.default_rng(seed)
    sizes = tuple(rng.integers(1, 6, num_layers + 1))
    params = {k: v + 1 for k, v in nf.init(sizes, rng, dtype=np.float64).items()}  # biases 1, not 0
    # element by element, summed exactly (fsum): no array reduction shared with the library
    expected = 0.5 * l2 * math.fsum(float(w) * float(w) for l in range(1, num_layers + 1) for w in params[f"W{l}"].flat)
    value = l2_penalty(params, num_layers, l2)
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-12, abs=0.0)
    # only the first num_layers weight matrices count
    if num_layers > 1:
        assert l2_penalty(params, num_layers - 1, l2) < value or l2 == 0


def test_l2_penalty_of_known_weights():
    # by hand: ||W1||^2 = 1 + 4 + 9 + 16 = 30, ||W2||^2 = 0.25, biases ignored;
    # 0.5 * 0.2 * 30.25 = 3.025
    params = {"W1": np.array([[1.0, -2.0], [3.0, 4.0]]), "b1": np.array([5.0, 6.0]),
              "W2": np.array([[0.5], [0.0]]), "b2": np.array([7.0])}
    assert l2_penalty(params, 2, 0.2) == pytest.approx(3.025, rel=1e-15)
    assert l2_penalty(params, 1, 0.2) == pytest.approx(3.0, rel=1e-15)  # only W1 counted
    assert l2_penalty(params, 2, 0.0) == 0.0
