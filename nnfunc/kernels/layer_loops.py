"""The layer passes compiled with numba: bias + activation, its derivative, softmax, cross-entropy, bias sums, L2.

Each loop mirrors its NumPy reference in ``nnfunc.kernels.reference`` (or
the one named in its wrapper's docstring) and runs its float operations in
the same order, so the results match bit for bit, except softmax's row sum
and log, whose last bits may differ from NumPy's (tests/test_kernels.py
states the bound; the exp is NumPy's in both). The wrappers take arrays
that fit: one float dtype the loops are compiled for, C order
(``nnfunc.kernels.compiled`` checks).
"""

import numpy as np

from nnfunc.kernels._numba import TINY, flushed as _flushed, jit as _jit, scaled as _scaled

# Only the piecewise-linear activations are compiled forward: sigmoid and tanh
# call tanh, and NumPy's own keeps them exact. The linear derivative is dA itself.
FORWARD_CODES = {"linear": 0, "relu": 1, "leaky_relu": 2}
GRAD_CODES = {"relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4}


@_jit
def _bias_activation(Z, b, code, slope):
    zero = slope - slope
    bad = 0
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            z = Z[i, j] + b[j]
            bad += (z - z) != 0  # before the activation, which can hide it (relu(-inf) is 0)
            if code == 1:
                if z < zero:
                    z = zero
            elif code == 2:
                zs = z * slope
                if z < zs:
                    z = zs
            Z[i, j] = z
    return bad == 0


def bias_activation(Z, b, code, slope):
    """``Z += b`` then the activation of ``FORWARD_CODES`` ``code``, in place (``activations._relu`` etc.); returns Z."""
    _bias_activation(Z, b, code, Z.dtype.type(slope))
    return Z


def bias_activation_finite(Z, b, code, slope):
    """``bias_activation``, and whether ``Z + b`` was all finite; returns (Z, bool)."""
    return Z, bool(_bias_activation(Z, b, code, Z.dtype.type(slope)))


@_jit
def _activation_grad(dA, A, code, slope):
    one = slope / slope
    zero = slope - slope
    for i in range(dA.size):
        a = A[i]
        if code == 1:
            dA[i] = dA[i] * (one if a > zero else zero)
        elif code == 2:
            dA[i] = dA[i] * (one if a > zero else slope)
        elif code == 3:
            dA[i] = dA[i] * a * (one - a)
        elif code == 4:
            dA[i] = dA[i] * (one - a * a)


def activation_grad(dA, A, code, slope):
    """``dA *= f'`` in place from the output A, ``code`` from ``GRAD_CODES`` (``activations._relu_grad`` etc.); returns dA."""
    _activation_grad(dA.reshape(-1), A.reshape(-1), code, dA.dtype.type(slope))
    return dA


@_jit
def _activation_grad_sums(dA, A, code, slope, out):
    one = slope / slope
    zero = slope - slope
    for j in range(dA.shape[1]):
        out[j] = zero  # as NumPy's sum: from +0
    for i in range(dA.shape[0]):
        for j in range(dA.shape[1]):
            a = A[i, j]
            if code == 1:
                d = dA[i, j] * (one if a > zero else zero)
            elif code == 2:
                d = dA[i, j] * (one if a > zero else slope)
            elif code == 3:
                d = dA[i, j] * a * (one - a)
            else:
                d = dA[i, j] * (one - a * a)
            dA[i, j] = d
            out[j] += d


def activation_grad_sums(dA, A, code, slope, out):
    """``activation_grad`` and ``column_sums`` of its result into ``out`` in the same pass; returns (dZ, out)."""
    _activation_grad_sums(dA, A, code, dA.dtype.type(slope), out)
    return dA, out


# ---------------------------------------------------------------- softmax and cross-entropy


# The exp runs in NumPy between two compiled passes: NumPy's is vectorised,
# a loop's calls the C library once per entry, several times slower.


@_jit
def _shift_rows(logits, out, y, picked, with_loss):
    """out = logits - row max; picked[i] = out[i, y[i]] when with_loss."""
    m, k = logits.shape
    for i in range(m):
        top = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > top:
                top = logits[i, j]
        for j in range(k):
            out[i, j] = logits[i, j] - top
        if with_loss:
            picked[i] = out[i, y[i]]


@_jit
def _normalize_rows(e, picked, with_loss):
    """e /= row sums, in place; returns the mean of log(sum) - picked when with_loss."""
    m, k = e.shape
    total = 0.0
    for i in range(m):
        s = e[i, 0] - e[i, 0]
        for j in range(k):
            s += e[i, j]
        for j in range(k):
            e[i, j] /= s
        if with_loss:
            total += np.log(s) - picked[i]
    return total / m


def _softmax_rows(logits, y, with_loss):
    probs = np.empty_like(logits)
    picked = np.empty(logits.shape[0] if with_loss else 0, logits.dtype)
    _shift_rows(logits, probs, y, picked, with_loss)
    np.exp(probs, out=probs)
    return _normalize_rows(probs, picked, with_loss), probs


def softmax_cross_entropy(logits, y):
    """(mean cross-entropy, probs) of (m, k) logits, as ``reference.softmax_cross_entropy``."""
    loss, probs = _softmax_rows(logits, y, True)
    return float(loss), probs


def softmax(logits):
    """Row-wise softmax of (m, k) logits, as ``reference.softmax``."""
    return _softmax_rows(logits, _NO_LABELS, False)[1]


_NO_LABELS = np.zeros(0, np.intp)


@_jit
def _cross_entropy_grad(probs, y, dZ, inv_m, tiny):
    one = inv_m / inv_m
    for i in range(probs.shape[0]):
        for j in range(probs.shape[1]):
            p = probs[i, j]
            if j == y[i]:
                p = p - one
            dZ[i, j] = _flushed(p * inv_m, tiny)


def cross_entropy_grad(probs, y):
    """``(probs - onehot(y)) / m`` of (m, k) probs, flushed, as ``reference.cross_entropy_grad``."""
    dZ = np.empty_like(probs)
    _cross_entropy_grad(probs, y, dZ, probs.dtype.type(1.0 / probs.shape[0]), TINY[probs.dtype])
    return dZ


@_jit
def _add_scaled(d, W, c, tiny):
    for i in range(d.size):
        d[i] += _scaled(W[i], c, tiny)


def add_scaled(d, W, c):
    """``d += subnormals.scaled(W, c)`` in place (the L2 term of a weight gradient); returns d."""
    _add_scaled(d.reshape(-1), W.reshape(-1), d.dtype.type(c), TINY[d.dtype])
    return d


@_jit
def _column_sums(a, out):
    for j in range(a.shape[1]):
        out[j] = 0  # as NumPy: from +0, so a column of -0.0 sums to +0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j] += a[i, j]


def column_sums(a, out=None):
    """``np.sum(a, axis=0, out=out)`` of (m, n) a with n > 1, rows added in order as NumPy does."""
    if out is None:
        out = np.empty(a.shape[1], a.dtype)
    _column_sums(a, out)
    return out
