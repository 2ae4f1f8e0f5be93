"""An image file nobody vouches for -> a bounded, upright grey array.

Image files come from anyone, so reading one does bounded work: only a
regular file is opened (a named pipe would block forever), its length and
its pixel count (from the header) are checked before any pixel is decoded,
and a large picture is shrunk in 8 bits before the float work. Pillow is
imported only here, and only when a file is read.
"""

import math
import os
import struct
import warnings

import numpy as np

from nnfunc import fileio
from nnfunc.errors import InputError

# Refused before decoding: 64 MP holds a 48 MP (8000 x 6000) phone photo with
# room to spare and decodes to at most 256 MB (RGBA); Pillow only warns at 89 MP.
MAX_PIXELS = 64_000_000
# Larger pictures are shrunk by a whole factor first: the float work costs about
# 25 bytes a pixel, and 4 MP leaves a 2560 x 1440 screenshot untouched while a
# digit a tenth as wide as a 64 MP photo still keeps 200 px for the 20 px box.
WORK_PIXELS = 4_000_000
# An uncompressed RGBA file at the pixel limit; a longer file is padding that
# some decoders (WebP, a PNG's unknown chunks) would read into memory.
MAX_BYTES = 4 * MAX_PIXELS
# Raster formats only: an EPS file is a program that Pillow hands to Ghostscript.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
# What Pillow raises on a damaged file (TypeError and struct.error too, from its header parsers).
_DAMAGED = (OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, struct.error)


def _check_path(path):
    """Refuse what the operating system cannot take as a file name, before anything is opened."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        kind = "None" if path is None else type(path).__name__
        raise InputError(f"path must be a file path (a str or pathlib.Path), got {kind}; pass the image file's "
                         "path, e.g. \"digit.png\"")
    if "\0" in os.fsdecode(path):  # os.open would raise ValueError: embedded null byte
        raise InputError(f"path {path!r} holds a NUL character, which no file name can; check the path")


def _open(path):
    """Open path for binary reading without blocking: a regular file of 1 to MAX_BYTES bytes only."""
    _check_path(path)
    try:
        file = fileio.open_regular(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except fileio.UnreadableFile as err:
        raise InputError(f"{err}; pass an image file (PNG or JPEG)") from None
    except OSError as err:
        raise InputError(f"{path} cannot be opened ({err.strerror}); check its permissions, or pass another "
                         "image file") from None
    size = fileio.file_size(file)
    if 0 < size <= MAX_BYTES:
        return file
    file.close()
    if size == 0:
        raise InputError(f"{path} is empty (0 bytes); pass an image file (PNG or JPEG)")
    raise InputError(f"{path} is {size:,} bytes, more than the {MAX_BYTES:,} an image of up to "
                     f"{MAX_PIXELS:,} pixels needs; save the picture as PNG or JPEG, cropped or downscaled")


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


def _factor(width, height):
    """The smallest whole factor that shrinks width x height to at most WORK_PIXELS pixels."""
    factor = max(1, math.isqrt(width * height // WORK_PIXELS))
    while math.ceil(width / factor) * math.ceil(height / factor) > WORK_PIXELS:
        factor += 1
    return factor


def _shrink(image, factor):
    """Box-average a decoded Pillow image down by a whole factor (anti-aliased, in 8 or 32 bits).

    Palette and 16-bit images are converted first (reduce cannot average
    palette indices and has no 16-bit mode), and reduce copies an alpha image
    to premultiply it: a strip at a time keeps those copies small.
    """
    from PIL import Image

    if image.mode.startswith("I;16"):
        mode = "I"
    elif image.mode in ("1", "P", "PA"):
        mode = "RGBA" if image.mode == "PA" or "transparency" in image.info else "L"
    else:
        mode = image.mode
    small = Image.new(mode, (math.ceil(image.width / factor), math.ceil(image.height / factor)))
    step = 256 * factor  # input rows a strip: a multiple of factor, so strips reduce as the whole would
    for top in range(0, image.height, step):
        strip = image.crop((0, top, image.width, min(top + step, image.height))).convert(mode)
        small.paste(strip.reduce(factor), (0, top // factor))
    return small


def _upright(image, orientation):
    """Undo an EXIF orientation as ``ImageOps.exif_transpose`` does (phones store rotation there)."""
    from PIL import Image

    turn = Image.Transpose
    method = {2: turn.FLIP_LEFT_RIGHT, 3: turn.ROTATE_180, 4: turn.FLIP_TOP_BOTTOM, 5: turn.TRANSPOSE,
              6: turn.ROTATE_270, 7: turn.TRANSVERSE, 8: turn.ROTATE_90}.get(orientation)
    return image if method is None else image.transpose(method)


def _decode(image, path):
    """Check a just-opened image's pixel count, then decode it upright and shrunk to at most WORK_PIXELS.

    Returns a decoded Pillow image (an animation's first frame); one that small
    already keeps its pixels and mode. Raises InputError above MAX_PIXELS.
    """
    from PIL import ExifTags

    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: the image is {width} x {height} = {width * height:,} pixels, more than the limit "
                         f"of {MAX_PIXELS:,}; crop or downscale the picture")
    factor = _factor(width, height)
    if factor > 1:
        # A JPEG then decodes straight to 1/2, 1/4 or 1/8 scale, in grey; other formats ignore this.
        image.draft("L", (max(1, width // factor), max(1, height // factor)))
    image.load()
    # Read after loading (a TIFF turns itself upright as it loads) and before shrinking drops it.
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    factor = _factor(*image.size)
    return _upright(_shrink(image, factor) if factor > 1 else image, orientation)


def read_gray(path):
    """Read an image file (its first frame) as grey, upright, shrunk to at most WORK_PIXELS.

    Args:
        path: a PNG, JPEG, GIF, BMP, TIFF, WebP or PPM file of up to
            MAX_PIXELS pixels and MAX_BYTES bytes.

    Returns:
        (H, W) float64 in [0, 1]; transparency becomes white paper.

    Raises:
        InputError: the path is not a str, bytes or os.PathLike, or is
            missing, unreadable or not a regular file;
            the file is empty, too long, damaged or not in those formats;
            the image has too many pixels. The message names the file.
    """
    from PIL import Image, UnidentifiedImageError

    with _open(path) as file:
        try:
            with warnings.catch_warnings():
                # Pillow warns of a damaged header (UserWarning: harmless, or an error follows)
                # and of a big image (_decode refuses it in clearer words).
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(file, formats=FORMATS) as image:
                    gray = _to_gray(_decode(image, path))
        except InputError:
            raise
        except Image.DecompressionBombError:  # Pillow's own limit, at twice its warning
            raise InputError(f"{path}: the image has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, more than the "
                             f"limit of {MAX_PIXELS:,}; crop or downscale the picture") from None
        except UnidentifiedImageError:
            names = f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
            raise InputError(f"{path}: cannot read it as an image (not a valid {names} file); "
                             "pass a PNG or JPEG file") from None
        except _DAMAGED as err:
            raise InputError(f"{path}: cannot read it as an image ({err}); pass a PNG or JPEG file") from None
    return gray
