"""Argument validation, one home: numbers, counts, seeds, generators, sizes, batches.

Public functions call these once per call at the edge, so a wrong shape, a
NaN or a bool where a count belongs fails with a message that names the
argument and the fix instead of deep inside a matmul; the training loop's
inner step never calls them. ``name`` is how the message names the
argument: a Python keyword (``"l2"``) from the library, a flag
(``"--l2"``) from the command line.

Problems that show only in a result (a NaN, an overflow) are
``nnfunc.finite``'s.
"""

import math
import numbers

import numpy as np

from nnfunc.errors import ConfigError, InputError, shown
from nnfunc.finite import largest, scale_fix

def is_real(value):
    """Whether ``value`` is a real number and not a bool (True is not a rate); NaN and inf count."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_finite(value):
    """math.isfinite for any real number; an int or Fraction too large for a float counts as not finite."""
    try:
        return math.isfinite(value)
    except OverflowError:  # math.isfinite converts to a float first, and 10**400 has none
        return False


def _g(bound):
    try:
        return f"{bound:g}"
    except OverflowError:  # an int bound beyond a float's range
        return shown(bound)


def _bounds(low, high, low_open, high_open):
    """The range in words: ">= 0", "> 0", "in [0, 1)", "<= 5" or ""."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_g(low)}, {_g(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_g(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_g(high)}"
    return ""


def _within(value, low, high, low_open, high_open):
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def number(value, name, *, low=None, high=None, low_open=False, high_open=False, hint=None, error=ConfigError):
    """Return ``value`` as a float if it is a finite real number in range, else raise.

    Args:
        value: the argument; bools are refused (True is not a rate), and so
            is an int too large for a float (10**400 is no finite rate).
        name: how the message names it ("lr", "--lr").
        low, high: bounds (None: unbounded); ``*_open`` excludes the bound.
        hint: what to do instead, appended to the message.
        error: the exception type (ConfigError, or InputError for data).
    """
    if not (is_real(value) and is_finite(value) and _within(value, low, high, low_open, high_open)):
        raise error(f"{name} must be a finite number{_bounds(low, high, low_open, high_open)}, got {shown(value)}"
                    + (f"; {hint}" if hint else ""))
    return float(value)


def integer(value, name, *, low=None, high=None, hint=None, error=ConfigError):
    """Return ``value`` as an int if it is an integer (not a bool) in [low, high], else raise."""
    if not (_is_int(value) and _within(value, low, high, False, False)):
        raise error(f"{name} must be an integer{_bounds(low, high, False, False)}, got {shown(value)}"
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
            raise ConfigError(f"every width in {name} must be an int >= 1, got {shown(n)} in {shown(widths)}")
        if n > np.iinfo(np.intp).max:  # no array has that many columns; the memory check could not even say so
            raise ConfigError(f"every width in {name} must be at most {np.iinfo(np.intp).max:,}, got {shown(n)}; "
                              "use smaller widths")
    return tuple(int(n) for n in widths)


def check_x(x, n_in, dtype):
    """Return ``x`` as a (m, n_in) array of ``dtype``, or raise InputError.

    Args:
        x: (m, n_in) real numbers, m >= 1, all finite; complex numbers are
            refused (the cast would silently drop the imaginary part).
        n_in: the width the first layer expects (rows of W1).
        dtype: the params' floating dtype; x is cast to it (a copy only if needed).
    """
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    _not_complex(x, "x")
    if x.dtype.kind not in "biuf":  # bool, ints, floats (dtype.kind: issubdtype costs more than the check)
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
            raise InputError(f"x holds values up to {largest(x):.3g}, beyond the range of the params' {dtype}; "
                             f"{scale_fix(dtype)}")
        bad = np.argwhere(~np.isfinite(x))[0]
        raise InputError(
            f"x contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
            "clean or impute the data before training"
        )
    return cast


def _not_complex(x, name):
    """Refuse a complex array: casting it to the params' real dtype would silently drop the imaginary part."""
    if x.dtype.kind == "c":
        raise InputError(f"{name} holds complex numbers (dtype {x.dtype}); pass real numbers, e.g. np.abs({name}) "
                         f"or {name}.real if that is what you meant")


def check_examples(x, y, n_in, n_classes, name="x"):
    """Check a whole labelled set (pixels or features) without copying it; return (x, y as intp).

    Unlike ``check_x`` it keeps uint8 pixels as they are (scaled later, chunk
    by chunk) and allows m = 0.

    Args:
        x: (m, n_in) uint8 pixels 0..255, or real numbers, all finite.
        y: (m,) int class ids in [0, n_classes).
        name: how the message names x (e.g. "data.x_val").

    Raises:
        InputError: wrong type, shape, dtype (complex included), a NaN or inf, or bad labels.
    """
    if isinstance(x, np.ndarray):
        _not_complex(x, name)
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
