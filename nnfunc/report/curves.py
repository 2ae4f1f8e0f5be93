"""Per-epoch curves of a training run as PNGs: loss and accuracy.

Every function takes the run's history (a list of per-epoch dicts), draws on
its own figure and writes one PNG atomically, returning the path.
"""

import math

import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator

from nnfunc.errors import InputError
from nnfunc.report._canvas import figure as _figure, save as _save

TRAIN_COLOR, VAL_COLOR, TEST_COLOR = "tab:blue", "tab:orange", "tab:green"


def _series(history, key):
    """Return (epochs, values) as float arrays; missing or None values become nan."""
    if isinstance(history, dict) or not history or not all(isinstance(e, dict) for e in history):
        raise InputError("history must be a non-empty list of per-epoch dicts, as returned by training")
    epochs = np.array([e.get("epoch", i + 1) for i, e in enumerate(history)], dtype=np.float64)
    values = np.array([np.nan if e.get(key) is None else e[key] for e in history], dtype=np.float64)
    return epochs, values


def _epoch_axis(ax):
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _curve(ax, epochs, values, label, color):
    if np.isfinite(values).any():
        # Markers keep a one-epoch run visible.
        ax.plot(epochs, values, marker="o", markersize=3, label=label, color=color)


def _round_minor_label(value, _position):
    """Label a log-axis minor tick only at 2, 3 or 5 times a power of ten."""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if min(abs(mantissa - d) for d in (2, 3, 5)) < 1e-6 else ""


def plot_loss(history, path):
    """Plot train and validation loss per epoch.

    Args:
        history: list of per-epoch dicts with ``epoch``, ``train_loss`` and
            optionally ``val_loss`` (None/nan when there is no validation set).
        path: destination PNG.

    Returns:
        The path written. The y axis is logarithmic when the loss spans more
        than a factor of 10, so late epochs are not flattened.
    """
    epochs, train = _series(history, "train_loss")
    _, val = _series(history, "val_loss")
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    _curve(ax, epochs, train, "train", TRAIN_COLOR)
    _curve(ax, epochs, val, "validation", VAL_COLOR)
    finite = np.concatenate([train, val])
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 10:
        ax.set_yscale("log")
        # Plain decimals ("0.05") read better than "5x10^-2"; minor labels
        # only help (and only fit) when the axis spans few decades.
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        if finite.max() / finite.min() <= 100:
            ax.yaxis.set_minor_formatter(FuncFormatter(_round_minor_label))
    _epoch_axis(ax)
    ax.set_ylabel("loss (cross-entropy + L2 penalty)")
    ax.set_title("Loss per epoch")
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy(history, path, *, test=None):
    """Plot train and validation accuracy (percent) per epoch.

    Args:
        history: list of per-epoch dicts with ``epoch``, ``train_accuracy``
            and optionally ``val_accuracy``, all fractions in [0, 1].
        path: destination PNG.
        test: None, a test accuracy fraction, or a dict with ``accuracy``
            (as passed to ``metrics.write_metrics``); drawn as a dashed line.

    Returns:
        The path written.
    """
    epochs, train = _series(history, "train_accuracy")
    _, val = _series(history, "val_accuracy")
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    _curve(ax, epochs, 100 * train, "train", TRAIN_COLOR)
    _curve(ax, epochs, 100 * val, "validation", VAL_COLOR)
    if isinstance(test, dict):
        test = test.get("accuracy")
    if test is not None:
        ax.axhline(100 * float(test), color=TEST_COLOR, linestyle="--", label=f"test {100 * float(test):.2f}%")
    _epoch_axis(ax)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy per epoch")
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, path)
