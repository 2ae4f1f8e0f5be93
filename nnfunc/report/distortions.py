"""The picture of a run's augmentation: training digits beside distorted versions of them (augment.png)."""

import numpy as np

from nnfunc.errors import InputError
from nnfunc.report._canvas import DPI, figure as _figure, save as _save


def plot_augment(images, versions, path, *, spec=None, image_shape=(28, 28)):
    """Draw each image in the first column and its distorted versions to its right.

    Args:
        images: (k, n0) float in [0, 1], n0 == prod(image_shape).
        versions: list of (k, n0) float arrays, each one distortion of every image.
        path: destination PNG.
        spec: the ``nnfunc.Augment`` that drew them, named in the title.
        image_shape: (height, width) of one image.

    Returns:
        The path written: one mosaic, ink dark on white, with white gaps
        between images and a wider one between the originals and the distortions.
    """
    return _save(_augment_figure(images, versions, spec, image_shape), path)


def _augment_figure(images, versions, spec=None, image_shape=(28, 28)):
    """Build plot_augment's Figure without saving it."""
    height, width = image_shape
    columns = [np.asarray(images, dtype=np.float64)] + [np.asarray(v, dtype=np.float64) for v in versions]
    k = columns[0].shape[0] if columns[0].ndim == 2 else -1
    for j, c in enumerate(columns):
        if c.ndim != 2 or c.shape != (k, height * width):
            what = "images" if j == 0 else f"versions[{j - 1}]"
            raise InputError(f"{what} must be (k, {height * width}) like images, got shape {c.shape}")
    if k < 1 or not versions:
        raise InputError("plot_augment needs at least one image and one version of it")
    gap = 4  # pixels between the originals and their distortions
    mosaic = np.full((k * (height + 1) + 1, len(columns) * (width + 1) + 1 + gap), np.nan)
    for j, c in enumerate(columns):
        left = 1 + j * (width + 1) + (gap if j else 0)
        for i in range(k):
            top = 1 + i * (height + 1)
            mosaic[top : top + height, left : left + width] = c[i].reshape(height, width)
    scale = 2.2 / DPI  # inches per image pixel: about 2.2 screen pixels each
    fig_w = max(5.0, scale * mosaic.shape[1])
    title_h = 0.55
    fig = _figure(fig_w, fig_w * mosaic.shape[0] / mosaic.shape[1] + title_h)
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - title_h / fig.get_figheight() - 0.01))
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    parts = ""
    if spec is not None:
        shown = [f"{name} {getattr(spec, key):g}{unit}" for key, name, unit in (
            ("rotate", "rotate", "°"), ("scale", "scale", ""), ("shear", "shear", "°"), ("shift", "shift", " px"),
            ("alpha", "elastic alpha", " px")) if getattr(spec, key)]
        if spec.alpha:
            shown.append(f"sigma {spec.sigma:g} px")
        parts = "\n" + ", ".join(shown)
    fig.suptitle(f"Training images (left) and {len(versions)} random distortions of each{parts}", fontsize=9,
                 y=1 - 0.04 / fig.get_figheight(), va="top")
    return fig
