"""A user's image of one digit -> the (1, 784) row a network trained on MNIST expects.

MNIST digits are bright ink on a black 28x28 field: the digit is scaled
(aspect kept) so its longer side is 20 px, anti-aliased, then placed so its
centre of mass sits on pixel (14, 14). ``preprocess`` repeats that on a
grey image; ``load_image`` reads a file (``nnfunc.data.image_file``: bounded
work on any file) and calls it. Pillow is imported only when an image is
read or resized, so ``import nnfunc`` stays light.
"""

import numpy as np

from nnfunc.data.image_file import read_gray
from nnfunc.errors import InputError

SIDE = 28          # output field, pixels
BOX = 20           # longer side of the scaled digit
CENTER = 14.0      # row and column of the centre of mass (as measured on MNIST)
INK_THRESHOLD = 0.1  # after background removal and stretch; fainter pixels are noise


def _ink(gray):
    """Return gray as bright ink on a 0 background, stretched to max 1, noise zeroed."""
    border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    background = float(np.median(border))
    if background > 0.5:
        # A light border means dark ink on paper: flip to MNIST's polarity.
        ink, background = 1.0 - gray, 1.0 - background
    else:
        ink = gray.copy()
    # Paper in a photo is rarely pure white; remove its level, then stretch
    # so the strongest stroke is 1 like MNIST's saturated strokes.
    ink -= background
    peak = ink.max()
    if peak <= INK_THRESHOLD:
        raise InputError("no ink found: the image is blank or has no contrast; pass a picture of a digit")
    ink /= peak
    # Faint specks would move the bounding box and the centre of mass.
    ink[ink < INK_THRESHOLD] = 0.0
    return ink


def _crop(ink):
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _scale(digit):
    """Resize so the longer side is BOX px, keeping the aspect ratio (anti-aliased)."""
    height, width = digit.shape
    from PIL import Image

    factor = BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    # Lanczos rings slightly below 0 and above 1 near sharp edges.
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def _place(digit):
    """Paste digit into a SIDE x SIDE black field with its centre of mass at (CENTER, CENTER)."""
    height, width = digit.shape
    mass = digit.sum()
    row = (digit.sum(axis=1) @ np.arange(height)) / mass
    col = (digit.sum(axis=0) @ np.arange(width)) / mass
    # Integer shift as in MNIST; clamped so no ink falls outside the field.
    top = int(np.clip(round(CENTER - row), 0, SIDE - height))
    left = int(np.clip(round(CENTER - col), 0, SIDE - width))
    field = np.zeros((SIDE, SIDE), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return field


def preprocess(gray):
    """Apply the MNIST normalisation to one grey image.

    Args:
        gray: (H, W) float in [0, 1], either polarity (dark ink on light
            paper is inverted, judged from the border's median).

    Returns:
        (784,) float32 in [0, 1]: bright ink on 0, the ink's bounding box
        at most 20x20, centre of mass at pixel (14, 14) (row-major 28x28).

    Raises:
        InputError: gray is not a 2-D float array in [0, 1], or it holds
            no ink (blank or uniform).
    """
    gray = np.asarray(gray)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise InputError(f"gray must be a 2-D (H, W) image, got shape {gray.shape}; convert colour images to grey")
    if not np.issubdtype(gray.dtype, np.floating):
        raise InputError(f"gray must be float in [0, 1], got dtype {gray.dtype}; divide 8-bit pixels by 255")
    if not np.isfinite(gray).all() or gray.min() < 0 or gray.max() > 1:
        raise InputError("gray must hold finite values in [0, 1]; rescale the image first")
    digit = _scale(_crop(_ink(gray.astype(np.float64))))
    if not digit.any():
        raise InputError("no ink found after scaling: the strokes are too thin or faint; pass a bolder digit")
    return _place(digit).ravel()


def load_image(path):
    """Read an image file of one digit and preprocess it like MNIST, ready for ``predict``.

    The work is bounded whatever the file holds, and a named pipe or device
    is refused, not waited on (``nnfunc.data.image_file``).

    Args:
        path: a PNG, JPEG, GIF, BMP, TIFF, WebP or PPM file of up to
            MAX_PIXELS pixels (an animation's first frame is used), either
            polarity (dark ink on paper or light ink on black).

    Returns:
        x: (1, 784) float32 in [0, 1], one row as ``preprocess`` makes it;
        stack several with ``np.concatenate``.

    Raises:
        InputError: the path is not a str, bytes or os.PathLike; it is
            missing, unreadable or not a regular file (a directory, named
            pipe, device or socket); the file is empty,
            too long, damaged or not in those formats; the image has too
            many pixels or no ink. The message names the file.
    """
    gray = read_gray(path)
    try:
        return preprocess(gray)[None, :]
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
