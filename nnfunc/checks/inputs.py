"""Check the data arguments: x of the network's width, integer labels y, a whole labelled set.

Complex numbers, NaN and inf, one-hot labels and values beyond the params'
dtype are refused here, with the fix, before any arithmetic.
"""

import numpy as np

from nnfunc.errors import InputError
from nnfunc.finite import largest, scale_fix


def check_x(x, n_in, dtype, *, scan=True):
    """Return ``x`` as a (m, n_in) array of ``dtype``, or raise InputError.

    Args:
        x: (m, n_in) real numbers, m >= 1, all finite; complex numbers are
            refused (the cast would silently drop the imaginary part).
        n_in: the width the first layer expects (rows of W1).
        dtype: the params' floating dtype; x is cast to it (a copy only if needed).
        scan: look for NaN and inf here. A caller whose first layer is
            checked instead passes False and calls ``finite_x`` when that
            layer comes out non-finite (see ``nnfunc.model``).
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
    if x.dtype == dtype:
        cast = x
    else:
        with np.errstate(over="ignore"):  # a finite float64 above float32's range becomes inf: said in finite_x
            cast = x.astype(dtype)
    if scan:
        finite_x(x, cast)
    return cast


def finite_x(x, cast):
    """Raise InputError if x, or its cast to the params' dtype, holds NaN or inf; else return None.

    Args:
        x: the (m, n) array as given; cast: as ``check_x`` returned it.
    """
    if np.isfinite(cast).all():
        return
    if np.isfinite(x).all():
        raise InputError(f"x holds values up to {largest(x):.3g}, beyond the range of the params' {cast.dtype}; "
                         f"{scale_fix(cast.dtype)}")
    bad = np.argwhere(~np.isfinite(x))[0]
    raise InputError(
        f"x contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
        "clean or impute the data before training"
    )


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
