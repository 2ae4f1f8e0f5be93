"""The elementwise passes compiled with numba, each one loop over its arrays.

Every function here mirrors a NumPy reference (named in its docstring) and
runs its float operations in the same order, one rounding each, so the
results match bit for bit; only ``softmax_cross_entropy`` and ``softmax``
call exp and log, whose last bit may differ from NumPy's (tests state the
bound). Scalars are passed in the arrays' dtype so float32 stays float32.

The kernels run on one thread. Two threads halve a lone Adam pass, but in a
training step each pass follows a matmul whose OpenBLAS threads are still
spinning for work: a second pool then fights them for the two cores, and
the step got slower, not faster (see README, Performance).

The Python wrappers take the arrays the NumPy code would, check that the
compiled loop fits them (one float dtype, C order), and return None when it
does not, so the caller falls back to the reference.
"""

import numba
import numpy as np

# error_model="numpy": x / 0 gives inf as in NumPy, not ZeroDivisionError, and lets the loops vectorise
_jit = numba.njit(cache=True, error_model="numpy", nogil=True)

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
ACTIVATION_CODES = {"linear": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4}


def _fits(dtype, *arrays):
    return dtype in FLOATS and all(a.dtype == dtype and a.flags.c_contiguous for a in arrays)


# ---------------------------------------------------------------- optimizer updates
# Each kernel writes the update into u and the new slots, and with ``apply``
# adds u into p (the training loop's in-place step). It returns whether every
# update (or new param, with apply) is finite: x - x is 0 unless x is NaN or inf.


@_jit
def _sgd(g, p, u, neg_lr, apply):
    bad = neg_lr - neg_lr
    for i in range(g.size):
        ui = g[i] * neg_lr
        u[i] = ui
        if apply:
            ui = p[i] + ui
            p[i] = ui
        bad += ui - ui
    return bad == 0


@_jit
def _momentum(g, p, mu, m, u, beta, neg_lr, nesterov, apply):
    bad = neg_lr - neg_lr
    for i in range(g.size):
        mi = mu[i] * beta + g[i]
        m[i] = mi
        if nesterov:
            ui = (mi * beta + g[i]) * neg_lr
        else:
            ui = mi * neg_lr
        u[i] = ui
        if apply:
            ui = p[i] + ui
            p[i] = ui
        bad += ui - ui
    return bad == 0


@_jit
def _adam(g, p, mu, nu, m, v, u, b1, one_b1, b2, one_b2, eps_root, scale, weight_decay, neg_lr, decays, apply):
    bad = neg_lr - neg_lr
    for i in range(g.size):
        gi = g[i]
        mi = mu[i] * b1 + gi * one_b1
        vi = nu[i] * b2 + (gi * gi) * one_b2
        m[i] = mi
        v[i] = vi
        ui = mi / (np.sqrt(vi) + eps_root) * scale
        if decays:
            ui = (ui + p[i] * weight_decay) * neg_lr
        u[i] = ui
        if apply:
            ui = p[i] + ui
            p[i] = ui
        bad += ui - ui
    return bad == 0


@_jit
def _rmsprop(g, p, nu, v, u, decay, one_decay, eps, neg_lr, apply):
    bad = neg_lr - neg_lr
    for i in range(g.size):
        gi = g[i]
        vi = nu[i] * decay + (gi * gi) * one_decay
        v[i] = vi
        ui = gi / (np.sqrt(vi) + eps) * neg_lr
        u[i] = ui
        if apply:
            ui = p[i] + ui
            p[i] = ui
        bad += ui - ui
    return bad == 0


@_jit
def _add(p, u, out):
    bad = p.dtype.type(0)
    for i in range(p.size):
        s = p[i] + u[i]
        out[i] = s
        bad += s - s
    return bad == 0


def optimizer_step(rule, g, p, old, new, u, scalars, flags):
    """One optimizer kernel over one tensor; None if the arrays do not fit the compiled loop.

    Args:
        rule: "sgd", "momentum", "adam" or "rmsprop".
        g, u: gradient and update, like the param; p: the param or None.
        old, new: the rule's slot arrays (tuples; ``new`` may be ``old``).
        scalars: the rule's constants as Python floats (order as the kernel's).
        flags: the rule's booleans, ending with ``apply`` (add u into p).

    Returns:
        True when every update (every new param, with apply) is finite, False if not, None if not run.
    """
    apply = flags[-1]
    arrays = (g, u, *old, *new) + ((p,) if p is not None else ())
    if not _fits(g.dtype, *arrays) or apply and p is None:
        return None
    f = g.dtype.type
    flat = [a.reshape(-1) for a in (g, u, *old, *new)]
    g1, u1, slots = flat[0], flat[1], flat[2:]
    p1 = u1 if p is None else p.reshape(-1)  # unused without apply or weight decay
    consts = [f(c) for c in scalars]
    if rule == "sgd":
        return bool(_sgd(g1, p1, u1, *consts, apply))
    if rule == "momentum":
        return bool(_momentum(g1, p1, *slots, u1, *consts, *flags))
    if rule == "adam":
        return bool(_adam(g1, p1, *slots, u1, *consts, *flags))
    return bool(_rmsprop(g1, p1, *slots, u1, *consts, apply))


def add(p, u):
    """``p + u`` as a new array and whether it is finite; None if the arrays do not fit."""
    if not _fits(p.dtype, p, u) or p.shape != u.shape:
        return None
    out = np.empty_like(p)
    return out, bool(_add(p.reshape(-1), u.reshape(-1), out.reshape(-1)))


# ---------------------------------------------------------------- layers


@_jit
def _bias_activation(Z, b, code, slope):
    zero = slope - slope
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            z = Z[i, j] + b[j]
            if code == 1:
                if z < zero:
                    z = zero
            elif code == 2:
                zs = z * slope
                if z < zs:
                    z = zs
            Z[i, j] = z


def bias_activation(Z, b, name, slope):
    """``Z += b`` then the activation ``name``, in place (``activations._relu`` etc.); False if not run.

    Only the piecewise-linear activations are compiled: sigmoid and tanh
    call tanh, and NumPy's own keeps them exact.
    """
    code = ACTIVATION_CODES.get(name, 3)
    if code > 2 or Z.ndim != 2 or not _fits(Z.dtype, Z, b):
        return False
    _bias_activation(Z, b, code, Z.dtype.type(slope))
    return True


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


def activation_grad(dA, A, name, slope):
    """``dA *= f'`` in place from the activation's output A (``activations._relu_grad`` etc.); False if not run."""
    code = ACTIVATION_CODES.get(name)
    if not code or dA.shape != A.shape or not _fits(dA.dtype, dA, A):
        return False
    _activation_grad(dA.reshape(-1), A.reshape(-1), code, dA.dtype.type(slope))
    return True


# ---------------------------------------------------------------- softmax and cross-entropy


@_jit
def _softmax_rows(logits, out, y, with_loss):
    m, k = logits.shape
    total = 0.0
    for i in range(m):
        top = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > top:
                top = logits[i, j]
        s = top - top
        for j in range(k):
            e = np.exp(logits[i, j] - top)
            out[i, j] = e
            s += e
        for j in range(k):
            out[i, j] /= s
        if with_loss:
            total += np.log(s) - (logits[i, y[i]] - top)
    return total / m


def softmax_cross_entropy(logits, y):
    """(mean cross-entropy, probs) as ``losses.softmax_cross_entropy``; None if not run."""
    if logits.ndim != 2 or not _fits(logits.dtype, logits):
        return None
    probs = np.empty_like(logits)
    return float(_softmax_rows(logits, probs, y, True)), probs


def softmax(logits):
    """Row-wise softmax as ``losses._softmax``; None if not run."""
    if logits.ndim != 2 or not _fits(logits.dtype, logits):
        return None
    probs = np.empty_like(logits)
    _softmax_rows(logits, probs, np.zeros(0, np.int64), False)
    return probs


@_jit
def _cross_entropy_grad(probs, y, dZ, inv_m):
    one = inv_m / inv_m
    for i in range(probs.shape[0]):
        for j in range(probs.shape[1]):
            p = probs[i, j]
            if j == y[i]:
                p = p - one
            dZ[i, j] = p * inv_m


def cross_entropy_grad(probs, y):
    """``(probs - onehot(y)) / m`` as ``losses.softmax_cross_entropy_grad``; None if not run."""
    if probs.ndim != 2 or not _fits(probs.dtype, probs):
        return None
    dZ = np.empty_like(probs)
    _cross_entropy_grad(probs, y, dZ, probs.dtype.type(1.0 / probs.shape[0]))
    return dZ


@_jit
def _column_sums(a, out):
    for j in range(a.shape[1]):
        out[j] = 0  # as NumPy: from +0, so a column of -0.0 sums to +0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j] += a[i, j]


def column_sums(a, out=None):
    """``np.sum(a, axis=0, out=out)``, rows added in order as NumPy does; None if not run.

    A single column is contiguous down the rows, and NumPy sums it pairwise: that one is left to NumPy.
    """
    if a.ndim != 2 or a.shape[1] == 1 or not _fits(a.dtype, a, *(() if out is None else (out,))):
        return None
    if out is None:
        out = np.empty(a.shape[1], a.dtype)
    _column_sums(a, out)
    return out
