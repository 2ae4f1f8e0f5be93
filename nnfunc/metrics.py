"""Classification metrics and the per-run metrics files (no plotting here).

Labels are integer class ids ``(m,)`` as everywhere in nnfunc. A run's
history is written twice, as ``metrics.json`` (the record ``read_metrics``
reads back) and ``metrics.csv`` (for spreadsheets), both atomically.
"""

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from nnfunc import fileio
from nnfunc.errors import DataError, InputError

EPOCH_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
# Without a validation set there is nothing to report, so these may be absent.
OPTIONAL_KEYS = ("val_loss", "val_accuracy")


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
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise InputError(f"n_classes must be a positive int, got {n_classes!r}")
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


def _number(value, key, epoch_index):
    """Return value as a JSON-safe int/float, or None when missing or not finite."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"history[{epoch_index}][{key!r}] is {value!r}; pass a number (or None)")
    if key == "epoch":
        return int(value)
    value = float(value)
    # JSON has no nan/inf; null says "no value" in both files.
    return value if math.isfinite(value) else None


def _epoch_rows(history):
    if isinstance(history, (str, bytes, dict)) or not hasattr(history, "__iter__"):
        raise InputError("history must be a list of per-epoch dicts, as returned by training")
    rows = []
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise InputError(f"history[{i}] is a {type(entry).__name__}; each epoch must be a dict")
        missing = [k for k in EPOCH_KEYS if k not in entry and k not in OPTIONAL_KEYS]
        if missing:
            raise InputError(f"history[{i}] lacks {missing}; each epoch needs the keys {list(EPOCH_KEYS)}")
        rows.append({k: _number(entry.get(k), k, i) for k in EPOCH_KEYS})
    return rows


def _test_record(test):
    if test is None:
        return None
    if not isinstance(test, dict) or not {"loss", "accuracy"} <= set(test):
        raise InputError(f"test must be None or a dict with 'loss' and 'accuracy', got {test!r}")
    return {k: _number(test[k], k, "test") for k in ("loss", "accuracy")}


def write_metrics(run_dir, history, test=None):
    """Write ``metrics.json`` and ``metrics.csv`` into ``run_dir`` atomically.

    Args:
        run_dir: the run's directory (created if missing).
        history: list of per-epoch dicts with keys ``EPOCH_KEYS``; the
            ``val_*`` values may be None, nan or absent (no validation set).
            Other keys are ignored.
        test: None, or a dict with the final test ``loss`` and ``accuracy``.

    Returns:
        (json_path, csv_path) as Paths.

    Raises:
        InputError: history or test is malformed.
    """
    rows = _epoch_rows(history)
    record = {"epochs": rows, "test": _test_record(test)}
    run_dir = Path(run_dir)
    json_path, csv_path = run_dir / "metrics.json", run_dir / "metrics.csv"
    fileio.write_json(json_path, record)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(EPOCH_KEYS)
    # repr of a float round-trips exactly; None becomes an empty cell.
    writer.writerows([["" if row[k] is None else repr(row[k]) for k in EPOCH_KEYS] for row in rows])
    fileio.write_text(csv_path, text.getvalue())
    return json_path, csv_path


def read_metrics(run_dir):
    """Read back the record ``write_metrics`` wrote.

    Args:
        run_dir: the run's directory.

    Returns:
        {"epochs": [per-epoch dict, ...], "test": {"loss", "accuracy"} or None}.

    Raises:
        InputError: there is no ``metrics.json`` in ``run_dir``.
        DataError: the file is not valid JSON or lacks the expected structure.
    """
    path = Path(run_dir) / "metrics.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"no metrics file {path}; pass the directory of a finished training run") from None
    try:
        record = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); it is corrupt: re-run write_metrics") from None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("epochs"), list)
        or not all(isinstance(e, dict) for e in record["epochs"])
        or "test" not in record
    ):
        raise DataError(f"{path} lacks the 'epochs' list or 'test' entry; it is not an nnfunc metrics file")
    return record
