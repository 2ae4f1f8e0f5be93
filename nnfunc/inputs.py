"""Validation of user data at the public boundary: batches x and labels y.

The training loop's inner step never calls these; public functions call
them once per call so that a wrong shape or a NaN fails with a message
instead of deep inside a matmul.
"""

import numbers

import numpy as np

from nnfunc.errors import ConfigError, InputError


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
    x = x.astype(dtype, copy=False)
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise InputError(
            f"x contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
            "clean or impute the data before training"
        )
    return x


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


def check_l2(l2):
    """Return l2 as a float >= 0, or raise ConfigError."""
    if not isinstance(l2, numbers.Real) or isinstance(l2, bool) or not np.isfinite(l2) or l2 < 0:
        raise ConfigError(f"l2 must be a finite number >= 0, got {l2!r}")
    return float(l2)
