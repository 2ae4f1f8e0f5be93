"""Argument validation, one home: numbers, counts, seeds, generators, sizes, batches, results.

Public functions call these once per call at the edge, so a wrong shape, a
NaN or a bool where a count belongs fails with a message that names the
argument and the fix instead of deep inside a matmul; the training loop's
inner step never calls them. ``name`` is how the message names the
argument: a Python keyword (``"l2"``) from the library, a flag
(``"--l2"``) from the command line.

Some problems show only in a result: finite x and params whose forward pass
overflows, an L2 term too big for the dtype, a network that holds a NaN.
The ``finite_*`` checks look at the cheap result (logits, a loss, a step)
and only when it is not finite scan the arguments to say which one is to
blame; ``memory`` refuses an allocation the machine cannot hold.
"""

import math
import numbers
import os

import numpy as np

from nnfunc.errors import ConfigError, InputError, ParamsError

# what to do about a params array holding NaN or inf
PARAMS_FIX = "the run diverged or the file is damaged: retrain or load another copy"


def is_real(value):
    """Whether ``value`` is a real number and not a bool (True is not a rate); NaN and inf count."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _bounds(low, high, low_open, high_open):
    """The range in words: ">= 0", "> 0", "in [0, 1)", "<= 5" or ""."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def _within(value, low, high, low_open, high_open):
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def number(value, name, *, low=None, high=None, low_open=False, high_open=False, hint=None, error=ConfigError):
    """Return ``value`` as a float if it is a finite real number in range, else raise.

    Args:
        value: the argument; bools are refused (True is not a rate).
        name: how the message names it ("lr", "--lr").
        low, high: bounds (None: unbounded); ``*_open`` excludes the bound.
        hint: what to do instead, appended to the message.
        error: the exception type (ConfigError, or InputError for data).
    """
    if not (is_real(value) and math.isfinite(value) and _within(value, low, high, low_open, high_open)):
        raise error(f"{name} must be a finite number{_bounds(low, high, low_open, high_open)}, got {value!r}"
                    + (f"; {hint}" if hint else ""))
    return float(value)


def integer(value, name, *, low=None, high=None, hint=None, error=ConfigError):
    """Return ``value`` as an int if it is an integer (not a bool) in [low, high], else raise."""
    if not (_is_int(value) and _within(value, low, high, False, False)):
        raise error(f"{name} must be an integer{_bounds(low, high, False, False)}, got {value!r}"
                    + (f"; {hint}" if hint else ""))
    return int(value)


def seed(value, name="seed", *, example=None):
    """Return ``value`` as an int seed >= 0, the form ``numpy.random.SeedSequence`` takes.

    ``example`` is the fix the message suggests (default ``name=0``).
    """
    return integer(value, name, low=0, hint=f"pass a seed like {example or f'{name}=0'}")


def generator(rng, name="rng"):
    """Return a numpy Generator from a Generator, a SeedSequence or an int seed >= 0.

    Raises:
        ConfigError: anything else (None, a float, a negative seed, a bool).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if not _is_int(rng):
        raise ConfigError(f"{name} must be a numpy Generator or an int seed, got {type(rng).__name__}; "
                          f"pass np.random.default_rng(seed) or a seed like {name}=0")
    return np.random.default_rng(seed(rng, f"{name} seed", example=f"{name}=0"))


def sizes(value, name="sizes", *, example="(784, 10)"):
    """Validate layer widths (n0, ..., nL); return them as a tuple of ints."""
    try:
        widths = tuple(value)
    except TypeError:
        raise ConfigError(f"{name} must be a sequence of widths like (784, 25, 10), got {value!r}") from None
    if len(widths) < 2:
        count = "1 entry" if len(widths) == 1 else f"{len(widths)} entries"
        raise ConfigError(f"{name} {widths} has {count}; give at least an input and an output width, "
                          f"e.g. {example}")
    for n in widths:
        if not _is_int(n) or n < 1:
            raise ConfigError(f"every width in {name} must be an int >= 1, got {n!r} in {widths}")
    return tuple(int(n) for n in widths)


def check_x(x, n_in, dtype):
    """Return ``x`` as a (m, n_in) array of ``dtype``, or raise InputError.

    Args:
        x: (m, n_in) real numbers, m >= 1, all finite.
        n_in: the width the first layer expects (rows of W1).
        dtype: the params' floating dtype; x is cast to it (a copy only if needed).
    """
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise InputError(f"x must be an array of numbers, got dtype {x.dtype}; convert with np.asarray(x, float)")
    if x.ndim != 2:
        hint = " (a single example? use x.reshape(1, -1))" if x.ndim == 1 else ""
        raise InputError(f"x must be 2-D (m, {n_in}), batch first; got shape {x.shape}{hint}")
    if x.shape[1] != n_in:
        raise InputError(
            f"x has {x.shape[1]} features per row but W1 expects {n_in}: x must be (m, {n_in}); "
            "check that images are flattened and that sizes[0] matches the data"
        )
    if x.shape[0] == 0:
        raise InputError("x has no rows; pass at least one example")
    with np.errstate(over="ignore"):  # a finite float64 above float32's range becomes inf: said below
        cast = x.astype(dtype, copy=False)
    if not np.isfinite(cast).all():
        if np.isfinite(x).all():
            raise InputError(f"x holds values up to {_largest(x):.3g}, beyond the range of the params' {dtype}; "
                             f"{_scale_fix(dtype)}")
        bad = np.argwhere(~np.isfinite(x))[0]
        raise InputError(
            f"x contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
            "clean or impute the data before training"
        )
    return cast


def check_examples(x, y, n_in, n_classes, name="x"):
    """Check a whole labelled set (pixels or features) without copying it; return (x, y as intp).

    Unlike ``check_x`` it keeps uint8 pixels as they are (scaled later, chunk
    by chunk) and allows m = 0.

    Args:
        x: (m, n_in) uint8 pixels 0..255, or real numbers, all finite.
        y: (m,) int class ids in [0, n_classes).
        name: how the message names x (e.g. "data.x_val").

    Raises:
        InputError: wrong type, shape, dtype, a NaN or inf, or bad labels.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != n_in:
        shape = getattr(x, "shape", type(x).__name__)
        raise InputError(f"{name} must be a 2-D array (m, {n_in}), batch first, got {shape}; "
                         "flatten images to rows of the first layer's width")
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InputError(f"{name} must hold uint8 pixels or real numbers, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise InputError(f"{name} contains NaN or inf; clean or impute the data first")
    return x, check_y(y, x.shape[0], n_classes)


def check_y(y, m, n_classes):
    """Return ``y`` as an (m,) intp array of class ids in [0, n_classes), or raise InputError."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == n_classes and y.shape[1] > 1:
        raise InputError(
            f"y has shape {y.shape}, which looks one-hot; pass integer class ids (m,) instead: y.argmax(axis=1)"
        )
    if y.ndim != 1:
        raise InputError(f"y must be 1-D integer class ids of shape ({m},), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(
            f"y must hold integer class ids, got dtype {y.dtype}; convert with y.astype(np.int64) "
            "after checking the values are whole numbers"
        )
    if y.shape[0] != m:
        raise InputError(f"y has {y.shape[0]} labels but x has {m} rows; they must match one to one")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise InputError(
            f"y contains class id {bad}, outside [0, {n_classes}); the output layer has "
            f"{n_classes} units, so labels must be 0..{n_classes - 1}"
        )
    return y.astype(np.intp, copy=False)


def check_l2(l2, name="l2"):
    """Return l2 as a float >= 0, or raise ConfigError."""
    return number(l2, name, low=0)


def dropout_rate(dropout, name="dropout"):
    """Return a dropout probability in [0, 1) as a float (0 turns dropout off)."""
    return number(dropout, name, low=0, high=1, high_open=True, hint="0 turns it off")


def _largest(a):
    """max |a| as a float, without an |a| copy (uint8 cannot be negated)."""
    a = np.asarray(a)
    return max(abs(float(np.max(a))), abs(float(np.min(a)))) if a.size else 0.0


def _scale_fix(dtype):
    wider = ", or use float64 params" if np.dtype(dtype) != np.float64 else ""
    return f"scale the inputs, e.g. pixels to [0, 1]{wider}"


def _layer_order(params):
    """The keys of a validated params dict in layer order: W1, b1, ..., WL, bL (never sorted: "W10" < "W2")."""
    return [k for l in range(1, len(params) // 2 + 1) for k in (f"W{l}", f"b{l}")]


def overflow_checked_after():
    """An ``np.errstate`` for a computation whose result a ``finite_*`` check inspects afterwards.

    Overflow then shows as inf or NaN in the result, which the check explains;
    numpy's warning (or FloatingPointError under a strict errstate) would say less.
    """
    return np.errstate(over="ignore", invalid="ignore")


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


def finite_output(output, what, params, x):
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

    Raises:
        ParamsError: a params array holds NaN or inf (the first one is named).
        InputError: x holds NaN or inf, or finite x and params overflowed the dtype.
    """
    if np.isfinite(output).all():
        return output
    finite_arrays(params, _layer_order(params), "params", PARAMS_FIX)
    if not np.isfinite(x).all():
        raise InputError("x contains NaN or inf; clean or impute the data first")
    dtype = params["W1"].dtype
    weights = max(_largest(v) for k, v in params.items() if k.startswith("W"))
    raise InputError(
        f"x holds values up to {_largest(x):.3g} (the weights up to {weights:.3g}) and the forward pass "
        f"overflowed {dtype}: {what} came out NaN or inf although x and params are finite; {_scale_fix(dtype)}"
    )


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
    finite_arrays(params, _layer_order(params), "params", PARAMS_FIX)
    weights = max(_largest(v) for k, v in params.items() if k.startswith("W"))
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
        if not np.isfinite(value).all():
            finite_arrays(params, [key], "params", PARAMS_FIX)
            finite_arrays(grads, [key], "grads", "a step along it would fill the params with NaN: find where the "
                          "gradient overflowed (unscaled inputs? a diverging run?) and do not take this step")
            raise ConfigError(f"{name}={lr:g} times grads[{key!r}] overflows {value.dtype}; pass a smaller {name}")
    return new


def physical_memory():
    """Bytes of physical memory on this machine, or None where the system does not say."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None
    return total if total > 0 else None


def memory(nbytes, what, fix):
    """Raise ConfigError if ``nbytes`` is more than this machine's physical memory.

    Call it before a big allocation: numpy would otherwise fail with a bare
    MemoryError, or, since Linux overcommits, succeed and let the OOM killer
    end the process later. Nothing is checked where the memory is unknown.

    Args:
        nbytes: int, every byte the caller is about to hold at once (e.g.
            params + optimizer state + gradients, not the params alone).
        what: what needs them, starting the message, e.g. "sizes (784,
            100000000, 10) hold 79,400,001,010 float32 parameters".
        fix: what to do instead, ending the message, e.g. "use smaller widths".

    Raises:
        ConfigError: "{what}: about N GB, more than this machine's M GB of memory; {fix}".
    """
    total = physical_memory()
    if total is not None and nbytes > total:
        raise ConfigError(f"{what}: about {nbytes / 1e9:,.1f} GB, more than this machine's "
                          f"{total / 1e9:,.1f} GB of memory; {fix}")
