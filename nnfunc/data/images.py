"""A user's image of one digit -> the (1, 784) row a network trained on MNIST expects.

MNIST digits are bright ink on a black 28x28 field: the digit is scaled
(aspect kept) so its longer side is 20 px, anti-aliased, then placed so its
centre of mass sits on pixel (14, 14). ``preprocess`` repeats that on a
grey image; ``load_image`` reads a file with Pillow and calls it. Pillow is
imported only when an image is read or resized, so ``import nnfunc`` stays
light.
"""

import numpy as np

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


def _to_gray(image):
    """Return a Pillow image as (H, W) float64 in [0, 1]; transparency becomes white paper."""
    from PIL import Image

    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # 16-bit and float PNG/TIFF modes: Pillow's "L" conversion would clip them.
        values = np.asarray(image, dtype=np.float64)
        return np.clip(values if image.mode == "F" else values / 65535.0, 0.0, 1.0)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def load_image(path):
    """Read an image file of one digit and preprocess it like MNIST, ready for ``predict``.

    Args:
        path: a PNG, JPEG or other Pillow-readable image of any size, either
            polarity (dark ink on paper or light ink on black).

    Returns:
        x: (1, 784) float32 in [0, 1], one row as ``preprocess`` makes it;
        stack several with ``np.concatenate``.

    Raises:
        InputError: the file is missing, unreadable or not an image, or
            the image holds no ink; the message names the file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            # Phone photos store their rotation in EXIF rather than in the pixels.
            gray = _to_gray(ImageOps.exif_transpose(image))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as err:
        raise InputError(f"{path}: cannot read it as an image ({err}); pass a PNG or JPEG file") from None
    try:
        return preprocess(gray)[None, :]
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
