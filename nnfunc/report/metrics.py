"""Classification metrics: accuracy, confusion matrix, per-class accuracy, and their text tables.

Labels are integer class ids ``(m,)`` as everywhere in nnfunc.
"""

import numpy as np

from nnfunc import checks
from nnfunc.errors import InputError


def _labels(name, y):
    y = np.asarray(y)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        raise InputError(
            f"{name} must be a 1-D array of integer class ids, got shape {y.shape} "
            f"dtype {y.dtype}; pass labels (m,) such as the output of predict, not one-hot or probs"
        )
    return y


def _label_pair(y_true, y_pred):
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise InputError(
            f"y_true has {y_true.size} labels but y_pred has {y_pred.size}; pass one prediction per example"
        )
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """Return the fraction of examples predicted correctly.

    Args:
        y_true: (m,) int class ids.
        y_pred: (m,) int class ids.

    Returns:
        A float in [0, 1].

    Raises:
        InputError: shapes differ, labels are not integer, or m == 0.
    """
    y_true, y_pred = _label_pair(y_true, y_pred)
    if y_true.size == 0:
        raise InputError("accuracy of zero examples is undefined; pass at least one label")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, n_classes):
    """Count (true class, predicted class) pairs.

    Args:
        y_true: (m,) int class ids in [0, n_classes).
        y_pred: (m,) int class ids in [0, n_classes).
        n_classes: number of classes n (>= 1).

    Returns:
        (n, n) int64: entry [i, j] counts examples of true class i predicted
        as j, so rows sum to the class counts and the trace counts hits.

    Raises:
        InputError: bad shapes or a label outside [0, n_classes).
    """
    checks.integer(n_classes, "n_classes", low=1, error=InputError)
    y_true, y_pred = _label_pair(y_true, y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise InputError(
                f"{name} has labels in [{y.min()}, {y.max()}] but n_classes={n_classes}; "
                f"pass ids in [0, {n_classes}) or a larger n_classes"
            )
    flat = y_true.astype(np.int64) * n_classes + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes).astype(np.int64)


def _confusion(confusion):
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.shape[0] == 0:
        raise InputError(f"confusion must be a square (n, n) matrix, got shape {confusion.shape}")
    if not np.issubdtype(confusion.dtype, np.integer) or (confusion < 0).any():
        raise InputError("confusion must hold non-negative integer counts; build it with confusion_matrix")
    return confusion


def per_class_accuracy(confusion):
    """Return each class's recall: hits over examples of that class.

    Args:
        confusion: (n, n) int counts, rows true, columns predicted.

    Returns:
        (n,) float64. A class with no examples gets nan, not 0: its accuracy
        is unknown, and 0 would read as "always wrong". Use np.nanmean to
        average.
    """
    confusion = _confusion(confusion)
    support = confusion.sum(axis=1)
    hits = np.diag(confusion).astype(np.float64)
    out = np.full(confusion.shape[0], np.nan)
    np.divide(hits, support, out=out, where=support > 0)
    return out


def _names(class_names, n):
    names = [str(c) for c in class_names]
    if len(names) != n:
        raise InputError(f"got {len(names)} class_names for {n} classes; pass one name per class")
    return names


def format_confusion(confusion, class_names):
    """Render a confusion matrix as an aligned text table.

    Args:
        confusion: (n, n) int counts, rows true, columns predicted.
        class_names: n names, one per class.

    Returns:
        A multi-line string; the corner cell reads ``true\\pred``.
    """
    confusion = _confusion(confusion)
    names = _names(class_names, confusion.shape[0])
    corner = "true\\pred"
    width = max(len(str(confusion.max())), *(len(n) for n in names))
    label_width = max(len(corner), *(len(n) for n in names))
    lines = [corner.ljust(label_width) + "".join(f" {n:>{width}}" for n in names)]
    for name, row in zip(names, confusion):
        lines.append(name.ljust(label_width) + "".join(f" {int(c):>{width}}" for c in row))
    return "\n".join(lines)


def format_per_class(confusion, class_names):
    """Render each class's support, hits and accuracy as an aligned text table.

    Args:
        confusion: (n, n) int counts, rows true, columns predicted.
        class_names: n names, one per class.

    Returns:
        A multi-line string; classes without examples show ``n/a``.
    """
    confusion = _confusion(confusion)
    names = _names(class_names, confusion.shape[0])
    acc = per_class_accuracy(confusion)
    support = confusion.sum(axis=1)
    hits = np.diag(confusion)
    name_width = max(len("class"), *(len(n) for n in names))
    num_width = max(len("examples"), len(str(support.max())))
    lines = [f"{'class':<{name_width}} {'examples':>{num_width}} {'correct':>{num_width}} {'accuracy':>8}"]
    for name, s, h, a in zip(names, support, hits, acc):
        shown = "n/a" if np.isnan(a) else f"{100 * a:.2f}%"
        lines.append(f"{name:<{name_width}} {int(s):>{num_width}} {int(h):>{num_width}} {shown:>8}")
    return "\n".join(lines)
