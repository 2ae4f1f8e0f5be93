"""The fused in-place kernels behind every optimizer: one pass per tensor, in cache-sized chunks.

A rule is a ``Kernel``: its NumPy reference ``kernel(key, g, p, old, new,
u, lr_t, count)`` reads the gradient ``g``, the param ``p`` (or None) and
the old slot arrays ``old`` (a tuple), and writes the new slot arrays into
``new`` and the update into ``u``; the same rule compiled in
``nnfunc.kernels.optimizer_loops`` runs when the numba kernels are active (see
``nnfunc.kernels``) and does the same float operations in one loop. Every
slot and param a rule writes is flushed as it is made, and Adam's and
RMSprop's products of the gradient go through ``scaled`` and
``squared_scaled`` (``nnfunc.subnormals``). Both are elementwise, so ``new`` may be
``old``: the pure ``update`` passes fresh arrays, the training loop's
in-place step passes the state's own arrays, and both run the same
floating-point operations, so they agree bit for bit. The formulas in words
live with the factories in ``nnfunc.optim.optimizers``.
"""

import math
from typing import Callable, NamedTuple

import numpy as np

from nnfunc import finite, kernels
from nnfunc.errors import ConfigError
from nnfunc.subnormals import flush, scaled, squared_scaled

CHUNK = 1 << 16  # elements per kernel call: 256 KB of float32, five arrays fit a core's L2


class Kernel(NamedTuple):
    """One update rule: the NumPy reference and how to call its compiled twin.

    ``constants(key, p, lr_t, count) -> (scalars, flags)`` gives the compiled
    rule ``rule`` its constants as Python floats and its booleans.
    """

    reference: Callable
    rule: str
    constants: Callable


def fresh(kernel, key, g, p, old, lr_t, count):
    """Run a rule on one tensor into fresh arrays: (u, new slot arrays, whether u is all finite).

    The compiled rule checks u in its own pass; after the NumPy reference one dot product does.
    """
    fast = kernels.fast()
    if fast is not None:
        scalars, flags = kernel.constants(key, p, lr_t, count)
        done = fast.optimizer_update(kernel.rule, g, p, old, scalars, flags)
        if done is not None:
            return done
    new, u = tuple(np.empty_like(a) for a in old), np.empty_like(g)
    _reference(kernel.reference, key, g, p, old, new, u, lr_t, count)
    return u, new, finite.all_finite(u)


def fresh_all(kernel, grads, params, old, lr_t, count):
    """Run a rule on every tensor into fresh arrays: (updates, new slot dicts, {key: update finite}).

    ``old``: the state's slot dicts. The compiled rule does every key in one
    call; the NumPy reference goes key by key (``fresh``).
    """
    def constants(key):
        return kernel.constants(key, None if params is None else params[key], lr_t, count)

    fast = kernels.fast()
    if fast is not None:
        done = fast.optimizer_update_all(kernel.rule, grads, params, old, constants)
        if done is not None:
            return done
    updates, new, ok = {}, [{} for _ in old], {}
    for k, g in grads.items():
        p = None if params is None else params[k]
        updates[k], slots, ok[k] = fresh(kernel, k, g, p, tuple(d[k] for d in old), lr_t, count)
        for d, a in zip(new, slots):
            d[k] = a
    return updates, new, ok


def in_place(kernel, key, g, p, slots, scratch, lr_t, count):
    """Run a rule on one tensor in place: ``slots`` overwritten, the update added into ``p`` (flushed).

    ``scratch`` is a spare array like ``p`` for the NumPy reference's update.
    """
    fast = kernels.fast()
    if fast is not None:
        scalars, flags = kernel.constants(key, p, lr_t, count)
        if fast.optimizer_apply(kernel.rule, g, p, slots, scalars, flags):
            return
    _reference(kernel.reference, key, g, p, slots, slots, scratch, lr_t, count)
    p += scratch
    flush(p)


def _reference(kernel, key, g, p, old, new, u, lr_t, count):
    """Call the NumPy ``kernel`` on one tensor, walking big tensors in L2-sized chunks.

    The kernel's many elementwise passes then hit cache instead of memory
    (about 25% faster for a 784-512-512-10 Adam step); results are unchanged.
    Only arrays laid out in C order flatten to views; ravel() would copy any
    other, and the kernel's writes would be lost, so those run whole.
    """
    if g.size <= CHUNK or not all(a.flags.c_contiguous for a in (u, *new)):
        return kernel(key, g, p, old, new, u, lr_t, count)
    flat = [a.ravel() for a in (g, u, *old, *new)] + ([] if p is None else [p.ravel()])
    n = len(old)
    for s in range(0, g.size, CHUNK):
        g_, u_, *rest = (a[s : s + CHUNK] for a in flat)
        p_ = rest.pop() if p is not None else None
        kernel(key, g_, p_, tuple(rest[:n]), tuple(rest[n:]), u_, lr_t, count)


def sgd():
    """u = -lr * g."""

    def kernel(key, g, p, old, new, u, lr_t, count):
        np.multiply(g, -g.dtype.type(lr_t), out=u)

    return Kernel(kernel, "sgd", lambda key, p, lr_t, count: ((-lr_t,), ()))


def momentum(beta, nesterov):
    """mu = beta * mu + g; u = -lr * mu, or -lr * (g + beta * mu) for Nesterov."""

    def kernel(key, g, p, old, new, u, lr_t, count):
        (mu,), (m,) = old, new
        b, neg_lr = g.dtype.type(beta), -g.dtype.type(lr_t)
        np.multiply(mu, b, out=m)
        m += g
        flush(m)
        if nesterov:
            np.multiply(m, b, out=u)
            u += g
            u *= neg_lr
        else:
            np.multiply(m, neg_lr, out=u)

    return Kernel(kernel, "momentum", lambda key, p, lr_t, count: ((beta, -lr_t), (nesterov,)))


def adam(b1, b2, eps, weight_decay, decay_biases, name):
    """Adam's moments and bias-corrected direction, plus AdamW's decoupled decay."""

    def decays_and_scalars(key, p, count):
        decays = bool(weight_decay) and (decay_biases or not key.startswith("b"))
        if decays and p is None:
            raise ConfigError(f"{name} needs the params for weight decay: call update(grads, state, params)")
        # Bias corrections in Python floats, folded into two scalars:
        # mu_hat / (sqrt(nu_hat) + eps) == mu / (sqrt(nu) + eps * root) * root / c1.
        c1, root = 1.0 - b1 ** (count + 1), math.sqrt(1.0 - b2 ** (count + 1))
        return decays, c1, root

    def kernel(key, g, p, old, new, u, lr_t, count):
        (mu, nu), (m, v) = old, new
        decays, c1, root = decays_and_scalars(key, p, count)
        f = g.dtype.type
        # the gradient's terms are scaled: a frozen tiny weight's l2 * W must not underflow here step after step
        scaled(g, f(1.0 - b1), out=u)  # u is scratch until the direction is computed
        np.multiply(mu, f(b1), out=m)
        m += u
        flush(m)
        squared_scaled(g, f(1.0 - b2), out=u)
        np.multiply(nu, f(b2), out=v)
        v += u
        flush(v)
        np.sqrt(v, out=u)
        u += f(eps * root)
        np.divide(m, u, out=u)
        if decays:
            u *= f(root / c1)
            u += p * f(weight_decay)
            u *= -f(lr_t)
        else:
            u *= f(-lr_t * root / c1)

    def constants(key, p, lr_t, count):
        decays, c1, root = decays_and_scalars(key, p, count)
        scale = root / c1 if decays else -lr_t * root / c1
        return (b1, 1.0 - b1, b2, 1.0 - b2, eps * root, scale, weight_decay, -lr_t), (decays,)

    return Kernel(kernel, "adam", constants)


def rmsprop(decay, eps):
    """nu = decay * nu + (1 - decay) * g**2; u = -lr * g / (sqrt(nu) + eps)."""

    def kernel(key, g, p, old, new, u, lr_t, count):
        (nu,), (v,) = old, new
        f = g.dtype.type
        squared_scaled(g, f(1.0 - decay), out=u)  # scratch until the last three lines
        np.multiply(nu, f(decay), out=v)
        v += u
        flush(v)
        np.sqrt(v, out=u)
        u += f(eps)
        np.divide(g, u, out=u)
        u *= -f(lr_t)

    return Kernel(kernel, "rmsprop", lambda key, p, lr_t, count: ((decay, 1.0 - decay, eps, -lr_t), ()))
