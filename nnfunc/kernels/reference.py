"""The NumPy backend: the readable reference of every fused pass, what ``kernels.backend()`` gives without numba.

``nnfunc.kernels.compiled`` has the same functions, compiled; each name here
is the arithmetic its loop must match. The passes whose NumPy code sits
with its math in a later layer take it as an argument: an activation's
``forward`` and ``backward`` (``nnfunc.activations``), an optimizer rule's
``reference`` (``nnfunc.optim.inplace``), the image warp
(``nnfunc.data.augment._warp``).
"""

import numpy as np

from nnfunc import finite
from nnfunc.subnormals import flush, scaled

NAME = "numpy"
# what a backend offers: the compiled one has each of these, under the same name
PASSES = ("bias_activation", "bias_activation_finite", "activation_grad", "activation_grad_sums", "softmax",
          "softmax_cross_entropy", "cross_entropy_grad", "add_scaled", "column_sums", "warp", "add_all", "update_one",
          "update_all", "update_in_place")
CHUNK = 1 << 16  # elements per optimizer-rule call: 256 KB of float32, five arrays fit a core's L2


# ---------------------------------------------------------------- layers


def bias_activation(Z, b, act, slope):
    """``Z += b`` then ``act.forward``, overwriting Z (the caller owns it); returns A. ``slope``: leaky_relu's."""
    Z += b
    return act.forward(Z)


def bias_activation_finite(Z, b, act, slope):
    """``bias_activation``, and whether ``Z + b`` was all finite before the activation (relu(-inf) is 0); (A, bool)."""
    Z += b
    ok = finite.all_finite(Z)
    return act.forward(Z), ok


def activation_grad(dA, A, act, slope):
    """``dA * f'`` from the activation's output A, overwriting dA (the caller owns it); returns dZ."""
    return act.backward(dA, A)


def activation_grad_sums(dA, A, act, slope, out=None):
    """``activation_grad``, then its ``column_sums`` (the bias gradient): (dZ, (n,) sums, into ``out`` if given)."""
    dZ = activation_grad(dA, A, act, slope)
    return dZ, column_sums(dZ, out)


def row_max(logits):
    """(m, 1) row maxima. Gathering at argmax is several times faster than
    ``max(axis=1)`` for the few columns of a classifier (numpy's max
    reduction is slow on short rows)."""
    return np.take_along_axis(logits, logits.argmax(axis=1)[:, None], axis=1)


def softmax(logits):
    """Row-wise softmax of (m, k) float logits with no NaN or +inf, the row max subtracted first."""
    shifted = logits - row_max(logits)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def softmax_cross_entropy(logits, y):
    """(mean cross-entropy as a Python float, probs) of (m, k) logits and (m,) int class ids."""
    m = logits.shape[0]
    shifted = logits - row_max(logits)
    picked = shifted[np.arange(m), y]
    probs = np.exp(shifted, out=shifted)
    sums = probs.sum(axis=1)
    # log(sums) >= 0 and picked <= 0, so every term is >= 0 even in rounding
    loss = float(np.mean(np.log(sums) - picked))
    probs /= sums[:, None]
    return loss, probs


def cross_entropy_grad(probs, y):
    """``(probs - onehot(y)) / m`` as a new array, subnormals flushed to zero."""
    m = probs.shape[0]
    dZ = probs.copy()
    dZ[np.arange(m), y] -= 1
    dZ *= probs.dtype.type(1.0 / m)
    return flush(dZ)


def add_scaled(d, W, c):
    """``d += subnormals.scaled(W, c)`` in place (the L2 term of a weight gradient); returns d."""
    d += scaled(W, c)
    return d


def column_sums(a, out=None):
    """``np.sum(a, axis=0, out=out)``: the bias gradient of (m, n) dZ."""
    return np.sum(a, axis=0, out=out)


def warp(x, matrix, offset, field, out, lo, hi, reference):
    """Bilinear warp of flattened square images into ``out``: ``reference`` itself (``augment._warp``)."""
    return reference(x, matrix, offset, field, out, lo, hi)


# ---------------------------------------------------------------- optimizers


def add_all(params, updates):
    """``{k: params[k] + updates[k]}``, flushed, and {k: whether that sum is finite}."""
    new = {k: flush(np.asarray(p + updates[k])) for k, p in params.items()}  # 0-d sums are scalars
    return new, {k: finite.all_finite(v) for k, v in new.items()}


def update_one(rule, key, g, p, old, lr_t, count):
    """Run an optimizer rule on one tensor into fresh arrays: (u, new slot arrays, whether u is all finite).

    After the rule one dot product checks u (``finite.all_finite``).
    """
    new, u = tuple(np.empty_like(a) for a in old), np.empty_like(g)
    _chunked(rule.reference, key, g, p, old, new, u, lr_t, count)
    return u, new, finite.all_finite(u)


def update_all(rule, grads, params, old, lr_t, count):
    """Run an optimizer rule on every tensor into fresh arrays: (updates, new slot dicts, {key: update finite}).

    ``old``: the state's slot dicts, in the order the rule reads them; ``params`` may be None.
    """
    updates, new, ok = {}, [{} for _ in old], {}
    for k, g in grads.items():
        p = None if params is None else params[k]
        updates[k], slots, ok[k] = update_one(rule, k, g, p, tuple(d[k] for d in old), lr_t, count)
        for d, a in zip(new, slots):
            d[k] = a
    return updates, new, ok


def update_in_place(rule, key, g, p, slots, scratch, lr_t, count):
    """Run an optimizer rule on one tensor in place: ``slots`` overwritten, the update added into ``p`` (flushed).

    ``scratch`` is a spare array like ``p`` for the update.
    """
    _chunked(rule.reference, key, g, p, slots, slots, scratch, lr_t, count)
    p += scratch
    flush(p)


def _chunked(reference, key, g, p, old, new, u, lr_t, count):
    """Call a rule's NumPy ``reference`` on one tensor, walking big tensors in L2-sized chunks.

    The rule's many elementwise passes then hit cache instead of memory
    (about 25% faster for a 784-512-512-10 Adam step); results are unchanged.
    Only arrays laid out in C order flatten to views; ravel() would copy any
    other, and the rule's writes would be lost, so those run whole.
    """
    if g.size <= CHUNK or not all(a.flags.c_contiguous for a in (u, *new)):
        return reference(key, g, p, old, new, u, lr_t, count)
    flat = [a.ravel() for a in (g, u, *old, *new)] + ([] if p is None else [p.ravel()])
    n = len(old)
    for s in range(0, g.size, CHUNK):
        g_, u_, *rest = (a[s : s + CHUNK] for a in flat)
        p_ = rest.pop() if p is not None else None
        reference(key, g_, p_, tuple(rest[:n]), tuple(rest[n:]), u_, lr_t, count)
