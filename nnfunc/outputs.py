"""Output layers and their losses: the last layer's activation beside the loss it pairs with.

========  ===========  ====================================================  ==============
output    activation   loss of one row (summed over the nL outputs)          targets y
========  ===========  ====================================================  ==============
softmax   softmax(z)   logsumexp(z) - z[y]            (cross-entropy)        (m,) int ids
logistic  sigmoid(z)   softplus(z) - y z             (binary cross-entropy)  (m, nL) in [0, 1]
identity  z            (z - y)^2 / 2                 (half squared error)    (m, nL) real
exp       exp(z)       exp(z) - y z + y log y - y    (half Poisson deviance) (m, nL) >= 0
========  ===========  ====================================================  ==============

z is a row of logits. Each pair is a canonical link, so the derivative of a
row's loss with respect to its logits is ``activation(z) - y`` (y one-hot
for softmax): one rule for every backward pass. The loss of a batch is the
weighted mean over its rows, ``sum_i w_i l_i / sum_i w_i`` (``w = 1``
without weights: the plain mean), and its gradient with respect to the
logits is ``w_i (activation(z_i) - y_i) / sum_i w_i``. Binary cross-entropy
and the Poisson deviance are the forms scikit-learn's MLP uses (its
``binary_log_loss`` and ``poisson_loss``), written on the logits so that no
log of a probability is taken.

Softmax without weights runs on the kernel backend (``nnfunc.kernels``);
the rest is NumPy. Every gradient returned here holds no subnormal
(``nnfunc.subnormals``).
"""

from typing import NamedTuple

import numpy as np

from nnfunc import kernels
from nnfunc.checks import check_y
from nnfunc.errors import ConfigError, InputError
from nnfunc.losses import _log_softmax, _softmax
from nnfunc.subnormals import flush


class Output(NamedTuple):
    """An output layer as data: its name, what it trains on, and what ``predict`` returns."""

    name: str
    loss: str
    targets: str
    predicts: str


OUTPUTS = {
    "softmax": Output("softmax", "cross-entropy", "(m,) int class ids in [0, nL)", "(m,) int64 class ids"),
    "logistic": Output("logistic", "binary cross-entropy", "(m, nL) numbers in [0, 1] (labels 0/1 or "
                       "probabilities)", "(m, nL) int64 labels 0/1 (logit > 0)"),
    "identity": Output("identity", "half squared error", "(m, nL) real numbers", "(m, nL) the outputs"),
    "exp": Output("exp", "half Poisson deviance", "(m, nL) counts or rates >= 0", "(m, nL) the outputs exp(z)"),
}
NAMES = tuple(OUTPUTS)


def get(name):
    """The Output called ``name``, or ConfigError naming the choices."""
    if not isinstance(name, str) or name not in OUTPUTS:
        raise ConfigError(f"unknown output {name!r}: use one of {', '.join(NAMES)} (softmax for classes, "
                          "logistic for binary or multi-label, identity for regression, exp for Poisson counts)")
    return OUTPUTS[name]


def check_targets(output, y, m, n_out, dtype):
    """Return the targets of a batch of m rows for ``output`` as the loss uses them, or raise InputError.

    softmax: (m,) intp class ids (``checks.check_y``). Otherwise an (m, n_out)
    array of ``dtype``; an (m,) y is taken as one column when n_out == 1.
    """
    if output == "softmax":
        return check_y(y, m, n_out)
    spec = OUTPUTS[output]
    try:
        y = np.asarray(y)
    except (TypeError, ValueError):
        raise InputError(f"y must be an array of numbers for the {output} output: {spec.targets}") from None
    if y.ndim == 1 and n_out == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape != (m, n_out):
        raise InputError(f"y has shape {y.shape}, but the {output} output needs {spec.targets} with m={m}, "
                         f"nL={n_out}: one row per row of x, one column per output unit")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool) or np.iscomplexobj(y):
        raise InputError(f"y must hold real numbers for the {output} output, got dtype {y.dtype}")
    y = y.astype(dtype, copy=False)
    if not np.isfinite(y).all():
        raise InputError(f"y holds NaN or inf; the {output} output needs {spec.targets}")
    if output == "logistic" and y.size and (y.min() < 0 or y.max() > 1):
        raise InputError(f"y holds {y[(y < 0) | (y > 1)][0]:g}, outside [0, 1]; the logistic output trains on "
                         "labels 0/1 (or probabilities): one column per label, e.g. from MultiLabelBinarizer")
    if output == "exp" and y.size and y.min() < 0:
        raise InputError(f"y holds {y.min():g}; the exp (Poisson) output needs counts or rates >= 0")
    return y


def check_weights(weights, m, dtype):
    """Return row weights as an (m,) array of ``dtype``, or None for equal weights; raise InputError.

    Weights are finite, >= 0, and not all zero.
    """
    if weights is None:
        return None
    try:
        w = np.asarray(weights, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(f"weights must be ({m},) numbers >= 0, one per row of x, got {type(weights).__name__}") \
            from None
    if w.shape != (m,):
        raise InputError(f"weights has shape {w.shape}, x has {m} rows: pass one weight per row, shape ({m},)")
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise InputError("weights must be finite and >= 0 with a positive sum (a zero weight leaves a row out)")
    return w


def activate(output, logits):
    """The output layer's activation of (m, nL) logits: a new array of their dtype."""
    if output == "softmax":
        return _softmax(logits)
    if output == "identity":
        return logits.copy()
    if output == "logistic":
        return sigmoid(logits)
    with np.errstate(over="ignore"):  # exp of a huge logit is inf, which the caller's finite check explains
        return np.exp(logits)


def sigmoid(z):
    """``1 / (1 + exp(-z))`` for any z without overflow, to full relative precision; a new array.

    With ``e = exp(-|z|)``: ``1 / (1 + e)`` for z >= 0 and ``e / (1 + e)`` for
    z < 0, so a tiny probability keeps its digits (its log is ``log_sigmoid``).
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def log_sigmoid(z):
    """``log(sigmoid(z)) = -softplus(-z)``, finite for every finite z; a new array."""
    return -np.logaddexp(z.dtype.type(0), -z)


def batch_loss(output, logits, y, weights=None):
    """(loss, outputs): the batch's weighted mean loss as a Python float, and the activation of the logits.

    Args:
        output: a name in ``NAMES``.
        logits: (m, nL) float; y: targets from ``check_targets``;
        weights: None or (m,) from ``check_weights``.
    """
    if output == "softmax" and weights is None:
        return kernels.backend().softmax_cross_entropy(logits, y)
    outputs = activate(output, logits)
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss is the caller's to explain
        rows = _row_losses(output, logits, outputs, y)
    value = rows.mean() if weights is None else np.dot(weights, rows) / weights.sum()
    return float(value), outputs


def _row_losses(output, logits, outputs, y):
    """(m,) the loss of each row (see the module's table)."""
    if output == "softmax":
        return -np.take_along_axis(_log_softmax(logits), y[:, None], axis=1)[:, 0]
    if output == "identity":
        return 0.5 * np.einsum("ij,ij->i", outputs - y, outputs - y)
    if output == "logistic":
        return (np.logaddexp(logits.dtype.type(0), logits) - y * logits).sum(axis=1)
    # y log y is 0 at y = 0; np.log(0) would warn, so take log of 1 there
    ylogy = y * np.log(np.where(y > 0, y, 1))
    return (outputs - y * logits + ylogy - y).sum(axis=1)


def delta(output, outputs, y, weights=None):
    """Gradient of ``batch_loss`` with respect to the logits: (m, nL), a new array, no subnormals.

    Args:
        outputs: (m, nL) what ``batch_loss`` returned beside the loss (not modified).
        y, weights: as for ``batch_loss``.
    """
    if output == "softmax" and weights is None:
        return kernels.backend().cross_entropy_grad(outputs, y)
    dZ = outputs.copy()
    if output == "softmax":
        dZ[np.arange(len(y)), y] -= 1
    else:
        dZ -= y
    if weights is None:
        dZ *= dZ.dtype.type(1 / dZ.shape[0])
    else:
        dZ *= (weights / weights.sum())[:, None]
    return flush(dZ)


def predict(output, logits):
    """What ``nnfunc.predict`` returns for (m, nL) logits (see ``Output.predicts``)."""
    if output == "softmax":
        return logits.argmax(axis=1).astype(np.int64)
    if output == "logistic":
        return (logits > 0).astype(np.int64)
    return activate(output, logits)
