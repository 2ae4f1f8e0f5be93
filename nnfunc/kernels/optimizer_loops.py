"""The optimizer updates compiled with numba: the pure update over every key in one call, and the in-place step.

Each loop runs the float operations of its NumPy reference in
``nnfunc.optim.inplace`` in the same order, one rounding each, so the
results match bit for bit. Scalars come in the arrays' dtype, so float32
stays float32. As ``nnfunc.subnormals`` has it, every slot value and param
a loop writes goes through ``_flushed``, and Adam's and RMSprop's products
of the gradient through ``_scaled`` and ``_squared_scaled``; ``tiny`` is
the dtype's smallest normal number.
"""

import numpy as np

from nnfunc.kernels._numba import TINY, flushed as _flushed, jit as _jit
from nnfunc.kernels._numba import scaled as _scaled, squared_scaled as _squared_scaled

# ---------------------------------------------------------------- optimizer updates
# The pure update writes the new slots and the update ``u`` as rows of one
# fresh block and returns whether every entry of u is finite (x - x is 0
# unless x is NaN or inf); the training loop's in-place step overwrites the
# slots and adds the update into p. Few arrays per loop on purpose: LLVM
# vectorises a loop only when it can rule out, at run time, overlap between
# each written array and every other one, and gives up beyond a few pairs
# (one Adam loop over g, p, mu, nu, m, v and u ran 7x slower). One output
# block counts as one array.


@_jit
def _sgd(g, out, neg_lr, tiny):
    bad = 0
    for i in range(g.size):
        ui = g[i] * neg_lr
        out[0, i] = ui
        bad += (ui - ui) != 0
    return bad == 0


@_jit
def _sgd_apply(g, p, neg_lr, tiny):
    for i in range(g.size):
        p[i] = _flushed(p[i] + g[i] * neg_lr, tiny)


@_jit
def _momentum(g, mu, out, beta, neg_lr, nesterov, tiny):
    bad = 0
    for i in range(g.size):
        mi = _flushed(mu[i] * beta + g[i], tiny)
        ui = (mi * beta + g[i]) * neg_lr if nesterov else mi * neg_lr
        out[0, i] = mi
        out[1, i] = ui
        bad += (ui - ui) != 0
    return bad == 0


@_jit
def _momentum_apply(g, p, m, beta, neg_lr, nesterov, tiny):
    for i in range(g.size):
        mi = _flushed(m[i] * beta + g[i], tiny)
        m[i] = mi
        p[i] = _flushed(p[i] + ((mi * beta + g[i]) * neg_lr if nesterov else mi * neg_lr), tiny)


@_jit
def _adam(g, mu, nu, p, out, b1, one_b1, b2, one_b2, eps_root, scale, weight_decay, neg_lr, decays, tiny):
    bad = 0
    for i in range(g.size):
        gi = g[i]
        mi = _flushed(mu[i] * b1 + _scaled(gi, one_b1, tiny), tiny)
        vi = _flushed(nu[i] * b2 + _squared_scaled(gi, one_b2, tiny), tiny)
        ui = mi / (np.sqrt(vi) + eps_root) * scale
        if decays:
            ui = (ui + p[i] * weight_decay) * neg_lr
        out[0, i] = mi
        out[1, i] = vi
        out[2, i] = ui
        bad += (ui - ui) != 0
    return bad == 0


@_jit
def _adam_apply(g, p, m, v, b1, one_b1, b2, one_b2, eps_root, scale, weight_decay, neg_lr, decays, tiny):
    for i in range(g.size):
        gi = g[i]
        mi = _flushed(m[i] * b1 + _scaled(gi, one_b1, tiny), tiny)
        vi = _flushed(v[i] * b2 + _squared_scaled(gi, one_b2, tiny), tiny)
        m[i] = mi
        v[i] = vi
        ui = mi / (np.sqrt(vi) + eps_root) * scale
        if decays:
            ui = (ui + p[i] * weight_decay) * neg_lr
        p[i] = _flushed(p[i] + ui, tiny)


@_jit
def _rmsprop(g, nu, out, decay, one_decay, eps, neg_lr, tiny):
    bad = 0
    for i in range(g.size):
        gi = g[i]
        vi = _flushed(nu[i] * decay + _squared_scaled(gi, one_decay, tiny), tiny)
        ui = gi / (np.sqrt(vi) + eps) * neg_lr
        out[0, i] = vi
        out[1, i] = ui
        bad += (ui - ui) != 0
    return bad == 0


@_jit
def _rmsprop_apply(g, p, v, decay, one_decay, eps, neg_lr, tiny):
    for i in range(g.size):
        gi = g[i]
        vi = _flushed(v[i] * decay + _squared_scaled(gi, one_decay, tiny), tiny)
        v[i] = vi
        p[i] = _flushed(p[i] + gi / (np.sqrt(vi) + eps) * neg_lr, tiny)


_PURE = {"sgd": _sgd, "momentum": _momentum, "adam": _adam, "rmsprop": _rmsprop}
_APPLY = {"sgd": _sgd_apply, "momentum": _momentum_apply, "adam": _adam_apply, "rmsprop": _rmsprop_apply}


def _scalars(rule, c, f):
    """A rule's constants (``nnfunc.optim.inplace.SgdConstants`` ...) as its loop's trailing arguments.

    Numbers come in the arrays' type ``f``, so float32 stays float32; the
    booleans as they are. Adam's per-key ``scale`` and ``decays`` come here
    for one key; ``_shared_scalars`` leaves them out.
    """
    if rule == "sgd":
        return (f(c.neg_lr),)
    if rule == "momentum":
        return f(c.beta), f(c.neg_lr), c.nesterov
    if rule == "adam":
        return (f(c.b1), f(c.one_b1), f(c.b2), f(c.one_b2), f(c.eps_root), f(c.scale), f(c.weight_decay),
                f(c.neg_lr), c.decays)
    return f(c.decay), f(c.one_decay), f(c.eps), f(c.neg_lr)


def update_one(rule, g, p, old, constants):
    """One optimizer rule over one tensor, into fresh arrays; the arrays must fit (``compiled`` checks).

    Args:
        rule: "sgd", "momentum", "adam" or "rmsprop".
        g: the gradient; p: the param (read for weight decay) or None.
        old: the rule's slot arrays, a tuple.
        constants: the rule's constants, a NamedTuple of ``nnfunc.optim.inplace``.

    Returns:
        (u, new slot arrays, whether u is all finite): the update and the
        slots are rows of one new block, shaped like g.
    """
    out = np.empty((len(old) + 1, g.size), g.dtype)
    g1, olds = g.reshape(-1), [a.reshape(-1) for a in old]
    if rule == "adam":  # p is read only with weight decay, which needs it; g stands in otherwise
        olds.append(g1 if p is None else p.reshape(-1))
    ok = _PURE[rule](g1, *olds, out, *_scalars(rule, constants, g.dtype.type), TINY[g.dtype])
    rows = tuple(row.reshape(g.shape) for row in out)
    return rows[-1], rows[:-1], bool(ok)


def update_all(rule, grads, params, old, constants):
    """One optimizer rule over every tensor, one compiled call per key; the arrays must fit.

    A call per key with 1-D arrays costs numba less to type than one call
    taking tuples of all of them, which mattered on small networks.

    Args:
        rule: "sgd", "momentum", "adam" or "rmsprop".
        grads: non-empty dict of arrays; params: dict like grads or None.
        old: the rule's slot dicts, a list.
        constants: {key: the rule's constants for that key} (only Adam's
            scale and decays differ by key: AdamW spares biases).

    Returns:
        (updates, new slot dicts, {key: whether its update is finite}),
        shaped like the grads; a key's update and new slots are rows of one
        fresh block.
    """
    loop, n = _PURE[rule], len(old)
    updates, new, ok, scalars = {}, [{} for _ in old], {}, {}
    for k, g in grads.items():
        c = constants[k]
        args = scalars.get(c)
        if args is None:  # once per distinct constants: two at most (Adam's weights and biases)
            args = scalars[c] = (*_scalars(rule, c, g.dtype.type), TINY[g.dtype])
        out = np.empty((n + 1, *g.shape), g.dtype)
        g1, olds = g.reshape(-1), [d[k].reshape(-1) for d in old]
        if rule == "adam":  # p is read only with weight decay, which needs it; g stands in otherwise
            olds.append(g1 if params is None else params[k].reshape(-1))
        ok[k] = bool(loop(g1, *olds, out.reshape(n + 1, g1.size), *args))
        updates[k] = out[n, ...]  # a view even for a 0-d array
        for r, d in enumerate(new):
            d[k] = out[r, ...]
    return updates, new, ok


def add_all(params, updates):
    """``{k: params[k] + updates[k]}`` (flushed) as new arrays, and {k: finite}; the arrays must fit.

    One call per key: for two arrays a key, numba types them faster than
    it types tuples of all of them.
    """
    new, ok = {}, {}
    for k, p in params.items():
        out = np.empty_like(p)
        ok[k] = bool(_add(p.reshape(-1), updates[k].reshape(-1), out.reshape(-1), TINY[p.dtype]))
        new[k] = out
    return new, ok


def apply(rule, g, p, slots, constants):
    """The training loop's step on one tensor: slots overwritten, update added into p; the arrays must fit."""
    _APPLY[rule](g.reshape(-1), p.reshape(-1), *(a.reshape(-1) for a in slots),
                 *_scalars(rule, constants, g.dtype.type), TINY[g.dtype])


@_jit
def _add(p, u, out, tiny):
    bad = 0
    for i in range(p.size):
        s = _flushed(p[i] + u[i], tiny)
        out[i] = s
        bad += (s - s) != 0
    return bad == 0
