"""Whole-dataset evaluation: loss, accuracy and predictions, in chunks.

Chunks bound the memory of a forward pass over 60,000 rows; images may be
stored as uint8 and are scaled to [0, 1] chunk by chunk. The public
functions check their result and raise instead of reporting a NaN loss or
a meaningless accuracy; ``_evaluate`` (the training loop's) does not.
"""

from typing import NamedTuple

import numpy as np

from nnfunc import activations as _activations
from nnfunc import checks, finite
from nnfunc.data.load import scale_pixels
from nnfunc.errors import InputError
from nnfunc.losses import _softmax, l2_penalty, softmax_cross_entropy
from nnfunc.model import _forward
from nnfunc.checks import validate_params

CHUNK = 4096


class Evaluation(NamedTuple):
    """loss: mean cross-entropy + L2 penalty; accuracy in [0, 1]; predictions (m,) int64; probs (m, k)."""

    loss: float
    accuracy: float
    predictions: np.ndarray
    probs: np.ndarray


def evaluate(params, x, y, *, activation="relu", l2=0.0, chunk=CHUNK):
    """Evaluate a network on a whole dataset.

    Args:
        params: Params.
        x: (m, n0) uint8 (pixels 0..255) or float, m >= 1.
        y: (m,) int class ids.
        activation: as in ``nnfunc.forward``.
        l2: L2 strength whose penalty is added to the loss (the training objective).
        chunk: rows per forward pass.

    Returns:
        Evaluation, with a finite loss.

    Raises:
        ParamsError, InputError, ConfigError: bad params, data or settings;
            ParamsError for NaN or inf in params, InputError when x has no
            rows (a mean over none is nan) or overflows the params' dtype,
            ConfigError when l2 makes the penalty overflow.
    """
    L = validate_params(params)
    acts = _activations.resolve(activation, L - 1)
    x, y = checks.check_examples(x, y, params["W1"].shape[0], params[f"W{L}"].shape[1])
    if x.shape[0] == 0:
        raise InputError("x has no rows; evaluate needs at least one example")
    l2, chunk = checks.check_l2(l2), checks.integer(chunk, "chunk", low=1)
    with finite.overflow_checked_after():
        finite.finite_penalty(l2_penalty(params, L, l2), l2, params)
        result = _evaluate(params, L, acts, x, y, l2, chunk)
    # a finite mean loss means every row's probs are finite
    finite.finite_output(result.loss, "the loss", params, x)
    return result


def _evaluate(params, L, acts, x, y, l2, chunk=CHUNK):
    """Unchecked ``evaluate`` (the training loop's validation pass); for m = 0, loss and accuracy are nan.

    An empty validation set is legal in training (no validation), so m = 0
    is not an error here: the loop reports the nan as "no validation loss".
    """
    dtype = params["W1"].dtype
    m, k = x.shape[0], params[f"W{L}"].shape[1]
    probs = np.empty((m, k), dtype=dtype)
    total = 0.0
    for start in range(0, m, chunk):
        xb = scale_pixels(x[start : start + chunk], dtype)
        logits = _forward(params, xb, acts)["logits"]
        value, probs[start : start + chunk] = softmax_cross_entropy(logits, y[start : start + chunk])
        total += value * xb.shape[0]
    if m == 0:
        return Evaluation(float("nan"), float("nan"), np.zeros(0, np.int64), probs)
    predictions = probs.argmax(axis=1).astype(np.int64)
    accuracy = float(np.mean(predictions == y))
    return Evaluation(total / m + l2_penalty(params, L, l2), accuracy, predictions, probs)


def predict_proba(params, x, *, activation="relu", chunk=CHUNK):
    """Class probabilities (m, nL) for uint8 or float images (m, n0), chunk by chunk.

    Raises:
        ParamsError, InputError, ConfigError: as ``evaluate``.
    """
    L = validate_params(params)
    acts = _activations.resolve(activation, L - 1)
    x, _ = checks.check_examples(x, np.zeros(np.shape(x)[:1], np.intp), params["W1"].shape[0], params[f"W{L}"].shape[1])
    chunk, dtype = checks.integer(chunk, "chunk", low=1), params["W1"].dtype
    with finite.overflow_checked_after():
        parts = [_softmax(_forward(params, scale_pixels(x[s : s + chunk], dtype), acts)["logits"])
                 for s in range(0, len(x), chunk)]
    probs = np.concatenate(parts) if parts else np.zeros((0, params[f"W{L}"].shape[1]), dtype)
    return finite.finite_output(probs, "the probabilities", params, x)
