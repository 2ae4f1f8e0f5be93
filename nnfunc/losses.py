"""Softmax cross-entropy from logits, and the L2 penalty: values and gradients.

The loss of a batch is

    mean_i [ logsumexp(z_i) - z_i[y_i] ]  +  0.5 * l2 * sum_l ||W_l||^2

(weights only, not biases). Its gradient with respect to the logits is
``(softmax(z) - onehot(y)) / m`` and with respect to W_l it gets ``l2 * W_l``.
Nothing here takes log of a probability: the row max is subtracted before
exp, so no logit size can overflow. The public ``softmax`` and
``log_softmax`` check their argument; the model and the training loop call
the unchecked ``_softmax`` and ``softmax_cross_entropy`` on logits they made.
The softmax passes run on the kernel backend in force (``nnfunc.kernels``),
whose NumPy reference is ``nnfunc.kernels.reference``.
"""

import numpy as np

from nnfunc import finite, kernels
from nnfunc.errors import InputError
from nnfunc.kernels.reference import row_max


def softmax(logits):
    """Row-wise softmax, stable for logits of any size.

    Args:
        logits: (m, k) float, k >= 1; -inf is allowed (probability 0).

    Returns:
        (m, k) float, same dtype, rows summing to 1.

    Raises:
        InputError: logits not a 2-D float array, or a row with NaN, +inf or only -inf.
    """
    return _checked(_softmax, logits)


def log_softmax(logits):
    """Row-wise log-softmax, ``z - logsumexp(z)``, finite for finite logits of any size.

    Args and Raises as ``softmax``; returns (m, k) float, same dtype, every entry <= 0.
    """
    return _checked(_log_softmax, logits)


def _checked(function, logits):
    """``function(logits)`` for a public caller: a clear InputError instead of a NaN row."""
    if not isinstance(logits, np.ndarray):
        raise InputError(f"logits must be a 2-D float array (m, k), got a {type(logits).__name__}; convert with "
                         "np.asarray(logits, float), and a single row with .reshape(1, -1)")
    if not np.issubdtype(logits.dtype, np.floating) or logits.ndim != 2 or logits.shape[1] == 0:
        raise InputError(f"logits must be a 2-D float array (m, k) with k >= 1, got {logits.dtype} of shape "
                         f"{logits.shape}; convert with logits.astype(float), and a single row with .reshape(1, -1)")
    # logits far apart overflow the shift to -inf, which is the right 0; NaN rows are found below
    with finite.overflow_checked_after():
        out = function(logits)
    bad = np.isnan(out).any(axis=1)
    if bad.any():
        raise InputError(f"logits row {int(bad.argmax())} holds NaN or +inf (or only -inf), so its softmax is "
                         "undefined; logits must be finite: check what produced them (a diverged run? unscaled "
                         "inputs?)")
    return out


def _softmax(logits):
    """Unchecked ``softmax``: (m, k) float logits with no NaN or +inf."""
    return kernels.backend().softmax(logits)


def _log_softmax(logits):
    """Unchecked ``log_softmax``: (m, k) float logits with no NaN or +inf."""
    shifted = logits - row_max(logits)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy of integer labels under softmax(logits), and the probabilities.

    Args:
        logits: (m, k) float.
        y: (m,) int class ids in [0, k).

    Returns:
        (loss, probs): loss a Python float >= 0; probs (m, k) same dtype as logits.
    """
    return kernels.backend().softmax_cross_entropy(logits, y)


def softmax_cross_entropy_grad(probs, y):
    """Gradient of the mean cross-entropy with respect to the logits.

    Args:
        probs: (m, k) float softmax output (not modified).
        y: (m,) int class ids.

    Returns:
        dZ: (m, k) same dtype, ``(probs - onehot(y)) / m`` with subnormals flushed to zero
        (``nnfunc.subnormals``): a confident network's tiny probabilities would
        otherwise carry them into every matmul of the backward pass.
    """
    return kernels.backend().cross_entropy_grad(probs, y)


def l2_penalty(params, num_layers, l2):
    """``0.5 * l2 * sum_l ||W_l||^2`` as a Python float (0.0 when l2 == 0)."""
    if l2 == 0:
        return 0.0
    # einsum runs its own loop; vdot would wake every BLAS thread for a cheap sum
    total = sum(float(np.einsum("ij,ij->", W, W)) for W in (params[f"W{l}"] for l in range(1, num_layers + 1)))
    return 0.5 * l2 * total
