"""Explain a result that came out NaN or inf: name the argument to blame and the fix.

Some problems show only in a result: finite x and params whose forward pass
overflows, an L2 term too big for the dtype, a network that holds a NaN.
The ``finite_*`` checks look at the cheap result (logits, a loss, a step)
and only when it is not finite scan the arguments to say which one is to
blame; ``all_finite`` is the one-dot test behind them. Checks of the
arguments themselves live in ``nnfunc.checks``, the memory check in
``nnfunc.memory``.
"""

import math

import numpy as np

from nnfunc.errors import ConfigError, InputError, ParamsError
from nnfunc.params import param_keys

# what to do about a params array holding NaN or inf
PARAMS_FIX = "the run diverged or the file is damaged: retrain or load another copy"
# what to do about a gradient holding NaN or inf
GRADS_FIX = ("a step along it would fill the params with NaN: find where the gradient overflowed (unscaled inputs? "
             "a diverging run?) and do not take this step")


def largest(a):
    """max |a| as a float, without an |a| copy (uint8 cannot be negated)."""
    a = np.asarray(a)
    return max(abs(float(np.max(a))), abs(float(np.min(a)))) if a.size else 0.0


def scale_fix(dtype):
    wider = ", or use float64 params" if np.dtype(dtype) != np.float64 else ""
    return f"scale the inputs, e.g. pixels to [0, 1]{wider}"


def overflow_checked_after():
    """An ``np.errstate`` for a computation whose result a ``finite_*`` check inspects afterwards.

    Overflow then shows as inf or NaN in the result, which the check explains;
    numpy's warning (or FloatingPointError under a strict errstate) would say less.
    """
    return np.errstate(over="ignore", invalid="ignore")


def all_finite(a):
    """Whether every entry of the float array ``a`` is finite, in one cheap pass.

    The sum of squares (one BLAS dot, far cheaper than ``np.isfinite(a).all()``)
    is finite unless an entry is NaN or inf, or the sum itself overflowed:
    only then is the array scanned exactly, so a huge but finite array passes.
    Call it under ``overflow_checked_after()`` if numpy might warn.

    Args:
        a: float ndarray of any shape (empty: True).
    """
    flat = a.ravel(order="K")  # a view of any contiguous array, C or Fortran
    return math.isfinite(float(np.vdot(flat, flat))) or bool(np.isfinite(a).all())


def finite_arrays(arrays, keys, name, fix, error=ParamsError):
    """Raise ``error`` naming the first ``name[key]``, in ``keys`` order, that holds NaN or inf.

    Args:
        arrays: dict of arrays (params, grads).
        keys: the keys to scan, in the order the message should find them.
        name: how the message names the dict ("params", "grads").
        fix: what to do about it, ending the message.
    """
    for key in keys:
        if not np.isfinite(arrays[key]).all():
            raise error(f"{name}[{key!r}] holds NaN or inf; {fix}")


def finite_output(output, what, params, x, stage="forward pass"):
    """Return ``output`` if every entry is finite, else raise the error that explains why.

    One pass over the output, which is small (logits (m, nL), a loss);
    only when it fails are params and x scanned for the culprit. Compute
    the output under ``np.errstate(over="ignore", invalid="ignore")`` so the
    user sees this error, not numpy's warning or FloatingPointError.

    Args:
        output: array or float computed from params and x.
        what: how the message names it ("the logits", "the loss").
        params: Params it was computed from (layer-order keys W1, b1, ...).
        x: (m, n0) the inputs it was computed from.
        stage: where the overflow happened, for the message.

    Raises:
        ParamsError: a params array holds NaN or inf (the first one is named).
        InputError: x holds NaN or inf, or finite x and params overflowed the dtype.
    """
    if np.isfinite(output).all():
        return output
    explain_overflow(what, params, x, stage)


def explain_overflow(what, params, x, stage):
    """Raise the error that explains a NaN or inf in ``what``, computed from params and x in ``stage``."""
    finite_arrays(params, param_keys(len(params) // 2), "params", PARAMS_FIX)
    if not np.isfinite(x).all():
        raise InputError("x contains NaN or inf; clean or impute the data first")
    dtype = params["W1"].dtype
    weights = max(largest(v) for k, v in params.items() if k.startswith("W"))
    raise InputError(
        f"x holds values up to {largest(x):.3g} (the weights up to {weights:.3g}) and the {stage} "
        f"overflowed {dtype}: {what} came out NaN or inf although x and params are finite; {scale_fix(dtype)}"
    )


def finite_grads(grads, dx, params, x):
    """Return (grads, dx) if every entry is finite (one dot per array), else raise as ``finite_output``.

    A finite loss can still have a gradient that overflows (huge activations
    times the output error); this is the backward pass's check.
    """
    arrays = [*grads.values(), *([] if dx is None else [dx])]
    if not all(all_finite(a) for a in arrays):
        explain_overflow("the gradients", params, x, "backward pass")
    return grads, dx


def finite_penalty(penalty, l2, params, name="l2"):
    """Return the L2 penalty if it and its gradient ``l2 * W`` fit the params' dtype, else raise.

    Args:
        penalty: ``0.5 * l2 * sum_l ||W_l||^2`` as computed (inf if it overflowed).
        l2: the L2 strength, already checked to be a finite number >= 0.
        params: Params it was computed from (scanned only on failure).
        name: how the message names l2 ("l2", "--l2").

    Raises:
        ParamsError: a params array holds NaN or inf.
        ConfigError: l2 is so large that the penalty or its gradient overflows.
    """
    dtype = params["W1"].dtype
    biggest = float(np.finfo(dtype).max)
    # sum ||W||^2 = 2 * penalty / l2 bounds every |W|, so l2 * |W| <= sqrt(2 * l2 * penalty): no scan
    if math.isfinite(penalty) and l2 < biggest and math.sqrt(2 * l2) * math.sqrt(penalty) < biggest:
        return penalty
    finite_arrays(params, param_keys(len(params) // 2), "params", PARAMS_FIX)
    weights = max(largest(v) for k, v in params.items() if k.startswith("W"))
    raise ConfigError(f"{name} is too large ({l2:g}): the L2 penalty 0.5 * l2 * sum(W**2) or its gradient l2 * W "
                      f"overflows {dtype} (the weights go up to {weights:.3g}); pass a smaller {name}, "
                      "typically 1e-5 to 1e-2")


def finite_step(new, params, grads, lr, name="lr"):
    """Return the stepped params ``new = params - lr * grads`` if all finite, else raise the error that explains it.

    Args:
        new, params, grads: dicts of arrays with the same keys.
        lr: the rate used, a finite number >= 0.
        name: how the message names lr.

    Raises:
        ParamsError: params or grads hold NaN or inf (the first key is named).
        ConfigError: finite params and grads, but ``lr * grads`` overflowed.
    """
    for key, value in new.items():
        if not all_finite(value):
            finite_arrays(params, [key], "params", PARAMS_FIX)
            finite_arrays(grads, [key], "grads", GRADS_FIX)
            raise ConfigError(f"{name}={lr:g} times grads[{key!r}] overflows {value.dtype}; pass a smaller {name}")
    return new


def blame_sum(key, params, updates):
    """Raise the error that explains a NaN or inf in ``params[key] + updates[key]`` (``apply_updates``)."""
    finite_arrays(updates, [key], "updates", "applying them would fill the params with NaN: do not apply "
                  "these updates; make them with opt.update, which names the cause of a NaN")
    finite_arrays(params, [key], "params", PARAMS_FIX)
    dtype = params[key].dtype
    raise ConfigError(f"params[{key!r}] + updates[{key!r}] overflows {dtype} (params up to "
                      f"{largest(params[key]):.3g}, updates up to {largest(updates[key]):.3g}); "
                      "pass a smaller lr")


def damaged_state(key, state, slots):
    """Raise ParamsError if a slot of an optimizer's ``state`` holds NaN or inf at ``key`` (nu: or a negative value)."""
    for s in slots:
        a = getattr(state, s)[key]
        # nu is a moving mean of squares: a negative value makes sqrt(nu) NaN
        if not np.isfinite(a).all() or (s == "nu" and (a < 0).any()):
            bad = "NaN, inf or negative values" if s == "nu" else "NaN or inf"
            raise ParamsError(f"state.{s}[{key!r}] holds {bad}: the optimizer state is damaged; start again "
                              "from opt.init(params), or from an undamaged checkpoint")
