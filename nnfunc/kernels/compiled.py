"""The numba backend: every pass of ``nnfunc.kernels.reference`` under the same name, compiled into one loop.

``layer_loops`` holds the forward and backward passes between the matmuls,
``optimizer_loops`` the optimizer updates, ``image_loops`` the warp of
training images. Each function here first asks whether its compiled loop
fits the arrays (``_fits``: one float dtype the loops are compiled for, C
order); when not, it reports the fallback (``kernels.fell_back``: counted,
and a warning when numba was asked for by name) and runs the NumPy
reference, whose result is the same. Passes left to NumPy by design
(sigmoid and tanh forward, a single column's sum, shapes a caller never
passes) go to the reference without a report.
"""

import numpy as np

from nnfunc import kernels
from nnfunc.kernels import image_loops, layer_loops, optimizer_loops, reference
from nnfunc.kernels._numba import FLOATS

NAME = "numba"
_ANY_FLOAT = "cast them with .astype(np.float32) (or float64), or run with nnfunc.kernels.use('numpy')"


def _misfit(arrays):
    """(why, fix) when the compiled loops cannot take these arrays, else None."""
    dtype = arrays[0].dtype
    if dtype not in FLOATS:
        return f"{dtype} arrays (the loops are compiled for float32 and float64)", _ANY_FLOAT
    for a in arrays:
        if a.dtype != dtype:
            return f"{a.dtype} arrays beside {dtype} ones", "give every array of the call one dtype"
        if not a.flags.c_contiguous:
            return ("an array not in C order (a transpose, a slice with a step, Fortran order)",
                    "pass C-ordered arrays (np.ascontiguousarray), or run with nnfunc.kernels.use('numpy')")
    return None


def _fits(what, *arrays):
    """Whether the compiled loop of pass ``what`` takes ``arrays``; when not, the fallback is reported."""
    why = _misfit(arrays)
    if why is None:
        return True
    kernels.fell_back(what, *why)
    return False


# ---------------------------------------------------------------- layers


def bias_activation(Z, b, act, slope):
    code = layer_loops.FORWARD_CODES.get(act.name)
    if code is None or Z.ndim != 2 or not _fits("bias + activation", Z, b):
        return reference.bias_activation(Z, b, act, slope)
    return layer_loops.bias_activation(Z, b, code, slope)


def bias_activation_finite(Z, b, act, slope):
    code = layer_loops.FORWARD_CODES.get(act.name)
    if code is None or Z.ndim != 2 or not _fits("bias + activation", Z, b):
        return reference.bias_activation_finite(Z, b, act, slope)
    return layer_loops.bias_activation_finite(Z, b, code, slope)


def activation_grad(dA, A, act, slope):
    code = layer_loops.GRAD_CODES.get(act.name)
    if code is None or dA.shape != A.shape or not _fits("the activation derivative", dA, A):
        return reference.activation_grad(dA, A, act, slope)
    return layer_loops.activation_grad(dA, A, code, slope)


def activation_grad_sums(dA, A, act, slope, out=None):
    code = layer_loops.GRAD_CODES.get(act.name)
    # a single column: NumPy sums it pairwise (see column_sums), so that one stays NumPy's
    if code is None or dA.ndim != 2 or dA.shape != A.shape or dA.shape[1] == 1 or not _fits(
            "the activation derivative", dA, A, *(() if out is None else (out,))):
        return reference.activation_grad_sums(dA, A, act, slope, out)
    return layer_loops.activation_grad_sums(dA, A, code, slope, np.empty(dA.shape[1], dA.dtype) if out is None
                                            else out)


def softmax(logits):
    if logits.ndim != 2 or not _fits("softmax", logits):
        return reference.softmax(logits)
    return layer_loops.softmax(logits)


def softmax_cross_entropy(logits, y):
    if logits.ndim != 2 or not _fits("softmax cross-entropy", logits):
        return reference.softmax_cross_entropy(logits, y)
    return layer_loops.softmax_cross_entropy(logits, y)


def cross_entropy_grad(probs, y):
    if probs.ndim != 2 or not _fits("the cross-entropy gradient", probs):
        return reference.cross_entropy_grad(probs, y)
    return layer_loops.cross_entropy_grad(probs, y)


def add_scaled(d, W, c):
    if d.shape != W.shape or not _fits("the L2 gradient", d, W):
        return reference.add_scaled(d, W, c)
    return layer_loops.add_scaled(d, W, c)


def column_sums(a, out=None):
    # a single column is contiguous down the rows, and NumPy sums it pairwise: that one stays NumPy's
    if a.ndim != 2 or a.shape[1] == 1 or not _fits("the bias gradient", a, *(() if out is None else (out,))):
        return reference.column_sums(a, out)
    return layer_loops.column_sums(a, out)


def warp(x, matrix, offset, field, out, lo, hi, reference):
    arrays = (x, matrix, offset, out) + (() if field is None else (field,))
    if x.ndim != 2 or not _fits("the image warp", *arrays):
        return reference(x, matrix, offset, field, out, lo, hi)
    return image_loops.warp(x, matrix, offset, field, out, lo, hi)


# ---------------------------------------------------------------- optimizers


def add_all(params, updates):
    arrays = [*params.values(), *(updates[k] for k in params)]
    if not params or any(updates[k].shape != p.shape for k, p in params.items()) or not _fits("apply_updates",
                                                                                             *arrays):
        return reference.add_all(params, updates)
    return optimizer_loops.add_all(params, updates)


def update_one(rule, key, g, p, old, lr_t, count):
    if not _fits(f"the {rule.name} update", g, *old, *(() if p is None else (p,))):
        return reference.update_one(rule, key, g, p, old, lr_t, count)
    return optimizer_loops.update_one(rule.name, g, p, old, rule.constants(key, p, lr_t, count))


def update_all(rule, grads, params, old, lr_t, count):
    keys = list(grads)
    arrays = [*grads.values(), *(d[k] for d in old for k in keys), *(() if params is None else
                                                                      (params[k] for k in keys))]
    if not keys or not _fits(f"the {rule.name} update", *arrays):
        return reference.update_all(rule, grads, params, old, lr_t, count)
    constants = {k: rule.constants(k, None if params is None else params[k], lr_t, count) for k in keys}
    return optimizer_loops.update_all(rule.name, grads, params, old, constants)


def update_in_place(rule, key, g, p, slots, scratch, lr_t, count):
    if not _fits(f"the {rule.name} step", g, p, *slots):
        return reference.update_in_place(rule, key, g, p, slots, scratch, lr_t, count)
    optimizer_loops.apply(rule.name, g, p, slots, rule.constants(key, p, lr_t, count))


# each pass does what its reference does, and says so in the reference's words
for _name in reference.PASSES:
    globals()[_name].__doc__ = getattr(reference, _name).__doc__
