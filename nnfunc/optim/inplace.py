"""The NumPy reference of the fused optimizer updates: each rule's arithmetic, elementwise, into arrays it is given.

A rule is a ``Rule``: ``reference(key, g, p, old, new, u, lr_t, count)``
reads the gradient ``g``, the param ``p`` (or None) and the old slot arrays
``old`` (a tuple), and writes the new slot arrays into ``new`` and the
update into ``u``; ``constants(key, p, lr_t, count)`` gives the same rule's
constants as a NamedTuple of Python numbers (``SgdConstants`` ...), which
the compiled twin in ``nnfunc.kernels.optimizer_loops`` reads by name and
runs as one loop with the same float operations. The kernel backend
(``nnfunc.kernels.backend()``) runs one or the other: the NumPy one walks
big tensors in cache-sized chunks (``nnfunc.kernels.reference``).

Every slot and param a rule writes is flushed as it is made, and Adam's and
RMSprop's products of the gradient go through ``scaled`` and
``squared_scaled`` (``nnfunc.subnormals``). Both are elementwise, so
``new`` may be ``old``: the pure ``update`` passes fresh arrays, the
training loop's in-place step passes the state's own arrays, and both run
the same floating-point operations, so they agree bit for bit. The
formulas in words live with the factories in ``nnfunc.optim.optimizers``.
"""

import math
from typing import Callable, NamedTuple

import numpy as np

from nnfunc.errors import ConfigError
from nnfunc.subnormals import flush, scaled, squared_scaled


class Rule(NamedTuple):
    """One update rule: its name, its NumPy reference, and its constants for the compiled twin."""

    name: str
    reference: Callable
    constants: Callable


class SgdConstants(NamedTuple):
    neg_lr: float  # -lr


class MomentumConstants(NamedTuple):
    beta: float
    neg_lr: float
    nesterov: bool


class AdamConstants(NamedTuple):
    """Adam's constants for one key, the bias corrections folded in (see ``adam``)."""

    b1: float
    one_b1: float  # 1 - b1
    b2: float
    one_b2: float  # 1 - b2
    eps_root: float  # eps * sqrt(1 - b2 ** t)
    scale: float  # sqrt(1 - b2 ** t) / (1 - b1 ** t), times -lr unless the key decays
    weight_decay: float
    neg_lr: float
    decays: bool  # AdamW's decay applies to this key (biases are spared unless decay_biases)


class RmspropConstants(NamedTuple):
    decay: float
    one_decay: float  # 1 - decay
    eps: float
    neg_lr: float


def sgd():
    """u = -lr * g."""

    def reference(key, g, p, old, new, u, lr_t, count):
        np.multiply(g, -g.dtype.type(lr_t), out=u)

    return Rule("sgd", reference, lambda key, p, lr_t, count: SgdConstants(-lr_t))


def momentum(beta, nesterov):
    """mu = beta * mu + g; u = -lr * mu, or -lr * (g + beta * mu) for Nesterov."""

    def reference(key, g, p, old, new, u, lr_t, count):
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

    return Rule("momentum", reference, lambda key, p, lr_t, count: MomentumConstants(beta, -lr_t, nesterov))


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

    def reference(key, g, p, old, new, u, lr_t, count):
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
        return AdamConstants(b1, 1.0 - b1, b2, 1.0 - b2, eps * root, scale, weight_decay, -lr_t, decays)

    return Rule("adam", reference, constants)


def rmsprop(decay, eps):
    """nu = decay * nu + (1 - decay) * g**2; u = -lr * g / (sqrt(nu) + eps)."""

    def reference(key, g, p, old, new, u, lr_t, count):
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

    return Rule("rmsprop", reference, lambda key, p, lr_t, count: RmspropConstants(decay, 1.0 - decay, eps, -lr_t))
