"""Pictures of a trained network as PNGs: first-layer weights, hidden activations, confusion, mistakes.

Every function takes plain arrays, draws on its own figure and writes one
PNG atomically, returning the path. The ``_*_figure`` helpers build a
figure without saving it, so tests can check where its text landed.
"""

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import PowerNorm

from nnfunc.errors import InputError
from nnfunc.report._canvas import DPI, figure as _figure, save as _save

# 32 colour levels read the same as 256 but keep noisy weight images small as PNG.
WEIGHT_CMAP = colormaps["RdBu_r"].resampled(32).with_extremes(bad="0.75")


def _images(images, image_shape, name):
    images = np.asarray(images, dtype=np.float64)
    size = math.prod(image_shape)
    if images.ndim != 2 or images.shape[1] != size:
        raise InputError(f"{name} must be (k, {size}) for image_shape {image_shape}, got shape {images.shape}")
    return images.reshape(-1, *image_shape)


def _names(class_names, ids, what):
    """Return class_names as strs after checking every id in ``ids`` indexes one."""
    names = [str(c) for c in class_names]
    ids = np.asarray(ids).ravel()
    if ids.size and (ids.min() < 0 or ids.max() >= len(names)):
        raise InputError(
            f"got {len(names)} class_names but {what} go from {ids.min()} to {ids.max()}; pass one name per class"
        )
    return names


def _grid(n):
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def plot_weights(W1, path, *, image_shape=(28, 28), max_units=64):
    """Show each first-layer unit's incoming weights as an image.

    Args:
        W1: (n0, n1) float, n0 == prod(image_shape); column j feeds unit j.
        path: destination PNG.
        image_shape: (height, width) of one input image.
        max_units: draw at most the first this many units.

    Returns:
        The path written. Each unit gets its own symmetric colour scale
        (red positive, blue negative, white zero), so the pattern of every
        unit shows whatever its weight magnitude.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    if W1.ndim != 2 or W1.shape[0] != math.prod(image_shape):
        raise InputError(f"W1 must be ({math.prod(image_shape)}, n1) for image_shape {image_shape}, got {W1.shape}")
    units = _images(W1[:, : max(1, max_units)].T, image_shape, "W1 columns")
    # Each unit scaled to [-1, 1] by its own largest |weight|; a dead unit stays 0.
    limits = np.abs(units).max(axis=(1, 2), keepdims=True)
    units = units / np.where(limits > 0, limits, 1.0)
    rows, cols = _grid(len(units))
    height, width = image_shape
    # One mosaic image with 1-pixel gaps (nan, drawn grey) instead of a subplot
    # per unit: smaller files and identical pixel scale for every unit.
    mosaic = np.full((rows * (height + 1) + 1, cols * (width + 1) + 1), np.nan)
    for j, unit in enumerate(units):
        top, left = 1 + (j // cols) * (height + 1), 1 + (j % cols) * (width + 1)
        mosaic[top : top + height, left : left + width] = unit
    # About 2.4 screen pixels per weight, at least 4.5 inches wide for the title.
    side = max(4.5, 2.4 * mosaic.shape[1] / DPI)
    fig = _figure(side, side * mosaic.shape[0] / mosaic.shape[1] + 0.45)
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 0.45 / fig.get_figheight() - 0.01))
    ax.imshow(mosaic, cmap=WEIGHT_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(
        f"First-layer weights, units 0-{len(units) - 1} of {W1.shape[1]} row by row\n"
        "each scaled to its largest |w|: red +, blue -, white 0",
        fontsize=9,
        y=1 - 0.04 / fig.get_figheight(),
        va="top",
    )
    return _save(fig, path)


def plot_activations(images, hidden, path, *, labels=None, class_names=None, image_shape=(28, 28)):
    """Show sample images beside the activations they cause in each hidden layer.

    Args:
        images: (k, n0) float in [0, 1], n0 == prod(image_shape).
        hidden: list of (k, n_l) float arrays, one per hidden layer
            (the cache's ``A1`` .. ``A{L-1}``).
        path: destination PNG.
        labels: None or (k,) int labels shown beside each image.
        class_names: None or names indexed by label; when given, each
            image is labelled with its class name instead of "label N".
        image_shape: (height, width) of one input image.

    Returns:
        The path written: one row per sample, the image then one bar chart
        per layer (unit index vs activation). Each layer's column shares
        one y range so samples can be compared.
    """
    fig = _activations_figure(images, hidden, labels, class_names, image_shape)
    return _save(fig, path)


def _activations_figure(images, hidden, labels=None, class_names=None, image_shape=(28, 28)):
    """Build plot_activations' Figure without saving it."""
    digits = _images(images, image_shape, "images")
    k = len(digits)
    layers = [np.asarray(a, dtype=np.float64) for a in hidden]
    for l, a in enumerate(layers, start=1):
        if a.ndim != 2 or a.shape[0] != k:
            raise InputError(f"hidden[{l - 1}] must be ({k}, n_{l}), got shape {a.shape}; pass one row per image")
    if labels is not None and len(labels) != k:
        raise InputError(f"got {len(labels)} labels for {k} images; pass one label per image or None")
    if class_names is not None:
        if labels is None:
            raise InputError("class_names was given without labels; pass labels too, or drop class_names")
        names = _names(class_names, labels, "labels")
    fig = _figure(1.3 + 3.6 * len(layers), 0.5 + 1.05 * k)
    grid = fig.add_gridspec(k, 1 + len(layers), width_ratios=[1] + [3.4] * len(layers))
    for i in range(k):
        ax = fig.add_subplot(grid[i, 0])
        ax.imshow(digits[i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if labels is not None:
            label = int(labels[i])
            name = str(label) if class_names is None else names[label]
            # A bare digit beside an image reads as a stray tick; MNIST's names are just that.
            ax.set_ylabel(f"label {label}" if name == str(label) else name, fontsize=8)
        if i == 0:
            ax.set_title("input", fontsize=9)
    for l, a in enumerate(layers, start=1):
        low, high = min(0.0, float(a.min())), max(0.0, float(a.max()))
        pad = 0.05 * ((high - low) or 1.0)
        for i in range(k):
            ax = fig.add_subplot(grid[i, l])
            colors = np.where(a[i] >= 0, "tab:red", "tab:blue")
            ax.bar(np.arange(a.shape[1]), a[i], width=1.0, color=colors, linewidth=0)
            ax.set_xlim(-0.5, a.shape[1] - 0.5)
            ax.set_ylim(low - pad, high + pad)
            ax.axhline(0, color="black", linewidth=0.5)
            ax.tick_params(labelsize=6, length=2)
            if i == 0:
                ax.set_title(f"hidden layer {l} ({a.shape[1]} units)", fontsize=9)
            if i < k - 1:
                ax.set_xticklabels([])
            else:
                ax.set_xlabel("unit", fontsize=8)
    fig.tight_layout(pad=0.4, h_pad=0.3, w_pad=0.6)
    return fig


def plot_confusion(confusion, path, *, class_names):
    """Draw a confusion matrix as an annotated heatmap.

    Args:
        confusion: (n, n) int counts, rows true, columns predicted.
        path: destination PNG.
        class_names: n names, one per class.

    Returns:
        The path written. Colour is each row's fraction on a square-root
        scale, so the few off-diagonal mistakes stay visible beside a bright
        diagonal; the cells show raw counts. Names longer than 3
        characters are slanted on the x axis so they do not overlap.
    """
    return _save(_confusion_figure(confusion, class_names), path)


def _confusion_figure(confusion, class_names):
    """Build plot_confusion's Figure without saving it."""
    confusion = np.asarray(confusion)
    n = confusion.shape[0] if confusion.ndim == 2 else 0
    if confusion.ndim != 2 or confusion.shape != (n, n) or n == 0:
        raise InputError(f"confusion must be a square (n, n) matrix, got shape {confusion.shape}")
    if len(class_names) != n:
        raise InputError(f"got {len(class_names)} class_names for {n} classes; pass one name per class")
    support = confusion.sum(axis=1, keepdims=True)
    fraction = confusion / np.maximum(support, 1)
    names = [str(c) for c in class_names]
    slanted = max(map(len, names)) > 3
    # Long names need wider cells, so slanted labels clear each other, and
    # room beside and below the matrix; constrained layout then fits them all.
    size = max(4.0, (0.6 if slanted else 0.5) * n + 1.5)
    fig = _figure(size + (1.3 if slanted else 0.8), size + (0.3 if slanted else 0.0), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(fraction, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="fraction of the true class")
    fontsize = 8 if n <= 12 else 6
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                color = "white" if fraction[i, j] > 0.3 else "black"
                ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center", color=color, fontsize=fontsize)
    ax.set_yticks(range(n), names)
    if slanted:
        # Anchored rotation puts each slanted label's end under its own column.
        ax.set_xticks(range(n), names, rotation=45, ha="right", rotation_mode="anchor", fontsize=9)
    else:
        ax.set_xticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = int(confusion.sum())
    hits = int(np.trace(confusion))
    ax.set_title(f"Confusion matrix ({hits}/{total} correct = {100 * hits / max(total, 1):.2f}%)", fontsize=10)
    return fig


def plot_misclassified(images, y_true, y_pred, path, *, class_names, probs=None, max_items=36, image_shape=(28, 28)):
    """Show a gallery of misclassified images.

    Args:
        images: (m, n0) float in [0, 1], n0 == prod(image_shape).
        y_true: (m,) int true class ids.
        y_pred: (m,) int predicted class ids.
        path: destination PNG.
        class_names: names indexed by class id.
        probs: None or (m, n_classes) float predicted probabilities; when
            given, the most confident mistakes come first and each title
            shows the probability of the predicted class.
        max_items: draw at most this many mistakes.
        image_shape: (height, width) of one image.

    Returns:
        The path written (a short note if nothing was misclassified). Each
        panel is titled "true: X" over "pred: Y (p)", and panels are as wide
        as the longest such line.
    """
    return _save(_misclassified_figure(images, y_true, y_pred, class_names, probs, max_items, image_shape), path)


def _misclassified_figure(images, y_true, y_pred, class_names, probs=None, max_items=36, image_shape=(28, 28)):
    """Build plot_misclassified's Figure without saving it."""
    digits = _images(images, image_shape, "images")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != (len(digits),) or y_pred.shape != (len(digits),):
        raise InputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must both be ({len(digits)},)")
    names = _names(class_names, np.concatenate([y_true, y_pred]), "y_true and y_pred")
    wrong = np.flatnonzero(y_true != y_pred)
    confidence = None
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (len(digits), len(names)):
            raise InputError(
                f"probs must be ({len(digits)}, {len(names)}), one column per class name; got {probs.shape}"
            )
        confidence = probs[np.arange(len(digits)), y_pred]
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    shown = wrong[: max(0, max_items)]
    if not len(shown):
        fig = _figure(4, 1.5)
        fig.text(0.5, 0.5, f"no misclassified examples among {len(digits)}", ha="center", va="center")
        return fig
    suffix = [""] * len(digits) if confidence is None else [f" ({c:.2f})" for c in confidence]
    titles = [f"true: {names[y_true[i]]}\npred: {names[y_pred[i]]}{suffix[i]}" for i in shown]
    longest = max(len(line) for t in titles for line in t.split("\n"))
    # 7-point characters average under 0.065 inch; panels never shrink below 1.3 inch.
    width = max(1.3, 0.065 * longest + 0.15)
    rows, cols = _grid(len(shown))
    # Constrained layout, unlike tight_layout, leaves room for the suptitle.
    fig = _figure(max(4.0, width * cols), 1.6 * rows + 0.4, layout="constrained")
    for slot, (i, title) in enumerate(zip(shown, titles)):
        ax = fig.add_subplot(rows, cols, slot + 1)
        ax.imshow(digits[i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=7, pad=2)
    fig.suptitle(f"Misclassified: {len(shown)} of {len(wrong)} mistakes in {len(digits)} images", fontsize=10)
    return fig
