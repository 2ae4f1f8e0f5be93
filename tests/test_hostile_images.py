"""Hostile image files: ``load_image`` and ``nnfunc predict`` do bounded work and fail with a clear message.

Every file here is real and on disk: files that are not files (a directory,
a named pipe, a symlink to one, a socket, /dev/zero), files that lie (a
header claiming a huge picture, text named .png, a truncated or corrupted
image, an EPS program), and big pictures that are allowed, which must come
out as their unshrunk float computation would. The worst cases also run as
``python -m nnfunc predict`` in a child whose address space is capped and
which has a timeout, so a regression fails fast instead of hurting the machine.
"""

import contextlib
import io
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageOps

import nnfunc as nf
from nnfunc.data.image_file import MAX_BYTES, MAX_PIXELS, WORK_PIXELS
from nnfunc.data.images import load_image, preprocess
from nnfunc.errors import InputError
from tests.conftest import REPO

# A predict child gets this much address space: the old code needed 3.6 GB for
# a 12000 x 12000 PNG, the largest allowed picture now needs under 0.5 GB.
CHILD_ADDRESS_SPACE = 1536 * 2**20
CHILD_TIMEOUT = 60  # seconds; each run takes about one
TOO_BIG = "crop or downscale the picture"
CANNOT_READ = "cannot read it as an image"


# --- files -----------------------------------------------------------------------------------------


def _nine(size=(60, 48)):
    """A '9' (a loop and a tail), dark ink on white "L" paper, width x height = size.

    Unlike a ring its centre of mass is not on a half pixel, so the integer
    centring does not flip between two equally good shifts.
    """
    width, height = size
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    stroke = max(3, min(width, height) // 12)
    draw.ellipse((width * 0.35, height * 0.15, width * 0.65, height * 0.5), outline=0, width=stroke)
    draw.line([(width * 0.64, height * 0.35), (width * 0.5, height * 0.85)], fill=0, width=stroke)
    return image


def _as_mode(gray, mode):
    """The "L" picture gray in another Pillow mode, showing the same ink."""
    if mode == "RGBA":  # ink opaque, paper transparent: load_image puts it on white paper
        return Image.merge("RGBA", (gray, gray, gray, ImageOps.invert(gray)))
    if mode == "I;16":
        return Image.eval(gray.convert("I"), lambda v: v * 257).convert("I;16")
    if mode == "P+transparency":
        image = gray.convert("P")
        image.info["transparency"] = image.getpixel((0, 0))
        return image
    return gray.convert(mode)


def _encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width, height, rows=None, *, colour_type=0, bit_depth=8):
    """A PNG's bytes, written by hand: a valid header (CRCs and all) for any size.

    rows: the scanlines (bytes, without PNG's filter byte), compressed one at a
    time so a huge picture never sits in the test's memory; none gives a
    header-only file, which is how a tiny file claims a huge picture.
    """
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    if rows is not None:
        compressor = zlib.compressobj(1)
        data = b"".join(compressor.compress(b"\x00" + row) for row in rows) + compressor.flush()
        chunks.append(_chunk(b"IDAT", data))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + _chunk(b"IEND", b"")


def _scaled_rows(image, scale):
    """The rows of image (any 8-bit mode) each pixel repeated scale times both ways, one row at a time."""
    pixels = np.asarray(image)
    for row in pixels:
        wide = np.repeat(row, scale, axis=0).tobytes()
        for _ in range(scale):
            yield wide


def _write(path, data):
    path.write_bytes(data)
    return path


def _reference(gray):
    """The row of an "L" picture computed as before, in float64 at full size (no shrinking)."""
    return preprocess(np.asarray(gray, dtype=np.float64) / 255)


@contextlib.contextmanager
def _within(seconds):
    """Fail instead of hanging: SIGALRM interrupts a blocking open or read after ``seconds``."""
    def expire(signum, frame):
        raise TimeoutError(f"load_image still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _load_clean(path):
    """load_image(path) with every warning an error, whatever pytest's configuration says."""
    with warnings.catch_warnings(), _within(20):
        warnings.simplefilter("error")
        return load_image(path)


# --- what is not a file: refused without waiting ------------------------------------------------------------


@pytest.fixture
def not_a_file(request, tmp_path):
    """(path, the words the error must use) for each kind of path that is not a regular file."""
    kind = request.param
    if kind == "/dev/zero":
        yield "/dev/zero", "is a character device"
        return
    path = tmp_path / "digit.png"
    if kind == "directory":
        path.mkdir()
        yield path, "is a directory"
    elif kind == "named pipe":
        os.mkfifo(path)
        yield path, "is a named pipe"
    elif kind == "symlink to a named pipe":
        os.mkfifo(tmp_path / "pipe")
        path.symlink_to(tmp_path / "pipe")
        yield path, "is a named pipe"
    else:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
            yield path, "is a socket"


NOT_FILES = ["directory", "named pipe", "symlink to a named pipe", "socket", "/dev/zero"]


@pytest.mark.parametrize("not_a_file", NOT_FILES, indirect=True)
def test_a_path_that_is_not_a_file_is_refused_without_waiting(not_a_file):
    path, what = not_a_file
    with pytest.raises(InputError) as info:
        _load_clean(path)
    message = str(info.value)
    assert message.startswith(f"{path} {what}")
    assert "not a file" in message and "pass" in message and "image file (PNG or JPEG)" in message


def test_a_symlink_loop_is_a_clear_error(tmp_path):
    path = tmp_path / "digit.png"
    path.symlink_to(path)
    with pytest.raises(InputError) as info:
        _load_clean(path)
    assert str(info.value).startswith(f"{path} cannot be opened (")
    assert str(info.value).endswith("); check its permissions, or pass another image file")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="no such file; check the path") as info:
        _load_clean(tmp_path / "nowhere.png")
    assert str(tmp_path / "nowhere.png") in str(info.value)


def test_a_sparse_file_longer_than_any_image_is_refused_unread(tmp_path):
    path = _write(tmp_path / "digit.png", _encoded(_nine(), "PNG"))
    os.truncate(path, MAX_BYTES + 1)  # a hole: costs no disk, but a decoder could read it all
    with pytest.raises(InputError) as info:
        _load_clean(path)
    assert str(info.value) == (f"{path} is {MAX_BYTES + 1:,} bytes, more than the {MAX_BYTES:,} an image of up to "
                               f"{MAX_PIXELS:,} pixels needs; save the picture as PNG or JPEG, cropped or downscaled")


# --- headers that claim too many pixels: refused before decoding ----------------------------------------------


def _gif_claiming(width, height):
    """A 1x1 GIF whose logical screen says width x height (Pillow grows the image to it)."""
    data = bytearray(_encoded(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


@pytest.mark.parametrize("name, width, height", [("just_over.png", 8001, 8000), ("square.png", 12000, 12000),
                                                  ("wide.png", MAX_PIXELS + 1, 1), ("screen.gif", 60000, 2900)])
def test_a_header_over_the_pixel_limit_is_refused_with_its_size(tmp_path, name, width, height):
    claim = _gif_claiming if name.endswith(".gif") else _png
    path = _write(tmp_path / name, claim(width, height))
    with pytest.raises(InputError) as info:
        _load_clean(path)  # Pillow warns above 89 MP: the warning must not escape
    assert str(info.value) == (f"{path}: the image is {width} x {height} = {width * height:,} pixels, more than the "
                               f"limit of {MAX_PIXELS:,}; {TOO_BIG}")


def test_a_header_over_pillows_own_limit_gets_the_same_advice(tmp_path):
    path = _write(tmp_path / "huge.png", _png(100_000, 100_000))
    with pytest.raises(InputError) as info:
        _load_clean(path)
    assert str(info.value) == (f"{path}: the image has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, more than "
                               f"the limit of {MAX_PIXELS:,}; {TOO_BIG}")


def test_a_header_at_the_limit_is_allowed_and_then_found_empty(tmp_path):
    path = _write(tmp_path / "limit.png", _png(8000, 8000))
    assert 8000 * 8000 == MAX_PIXELS
    with pytest.raises(InputError) as info:
        _load_clean(path)
    assert CANNOT_READ in str(info.value) and TOO_BIG not in str(info.value)


# --- damaged and lying files: a clear error naming the file -------------------------------------------------


PNG_BYTES = _encoded(_nine(), "PNG")
JPEG_BYTES = _encoded(_nine().convert("RGB"), "JPEG")
HOSTILE = {
    "empty.png": b"",
    "notes.png": b"this is not a PNG, just text\n",
    "signature_only.png": PNG_BYTES[:8],
    "header_only.png": PNG_BYTES[:33],
    "truncated.png": PNG_BYTES[: len(PNG_BYTES) // 2],
    "truncated.jpg": JPEG_BYTES[: len(JPEG_BYTES) // 2],
    "markers_only.jpg": JPEG_BYTES[:200],
    "zero_width.png": _png(0, 10),
    "program.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n{} loop\n",  # Ghostscript would spin
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_damaged_or_lying_file_is_a_clear_error(tmp_path, name):
    path = _write(tmp_path / name, HOSTILE[name])
    with pytest.raises(InputError) as info:
        _load_clean(path)
    message = str(info.value)
    assert message.startswith(str(path))
    if name == "empty.png":
        assert message == f"{path} is empty (0 bytes); pass an image file (PNG or JPEG)"
    else:
        assert f": {CANNOT_READ} (" in message and message.endswith("; pass a PNG or JPEG file")


def test_a_png_missing_only_its_end_chunk_still_reads(tmp_path):
    """Every pixel is there, so the right answer is the intact file's row, not an error."""
    assert PNG_BYTES.endswith(_chunk(b"IEND", b""))
    cut = _write(tmp_path / "no_end.png", PNG_BYTES[:-12])
    np.testing.assert_array_equal(_load_clean(cut), _load_clean(_write(tmp_path / "whole.png", PNG_BYTES)))


def test_a_text_file_names_the_formats_read(tmp_path):
    path = _write(tmp_path / "notes.png", HOSTILE["notes.png"])
    with pytest.raises(InputError) as info:
        _load_clean(path)
    assert str(info.value) == (f"{path}: {CANNOT_READ} (not a valid PNG, JPEG, GIF, BMP, TIFF, WEBP or PPM file); "
                               "pass a PNG or JPEG file")


SEEDS = {
    "png_gray": lambda: _encoded(_nine(), "PNG"),
    "png_rgba": lambda: _encoded(_as_mode(_nine(), "RGBA"), "PNG"),
    "png_16bit": lambda: _encoded(_as_mode(_nine(), "I;16"), "PNG"),
    "png_palette": lambda: _encoded(_as_mode(_nine(), "P+transparency"), "PNG"),
    "jpeg": lambda: _encoded(_nine().convert("RGB"), "JPEG"),
    "jpeg_progressive": lambda: _encoded(_nine(), "JPEG", progressive=True),
    "gif": lambda: _encoded(_nine().convert("P"), "GIF"),
    "bmp": lambda: _encoded(_nine().convert("RGB"), "BMP"),
    "tiff_deflate": lambda: _encoded(_nine(), "TIFF", compression="tiff_deflate"),
    "tiff_lzw": lambda: _encoded(_nine().convert("RGB"), "TIFF", compression="tiff_lzw"),
    "webp": lambda: _encoded(_nine().convert("RGB"), "WEBP"),
    "ppm": lambda: _encoded(_nine(), "PPM"),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A directory the Hypothesis tests write their files in (one file per example, overwritten)."""
    return tmp_path_factory.mktemp("hostile")


@given(seed=st.sampled_from(sorted(SEEDS)), keep=st.floats(0.0, 1.0),
       edits=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), max_size=8))
def test_any_damage_gives_a_row_or_a_clear_error(scratch, seed, keep, edits):
    """A file cut short and/or with bytes overwritten: one MNIST row, or an InputError naming it; nothing else."""
    data = bytearray(SEEDS[seed]())
    data = data[: max(1, round(len(data) * keep))]
    for where, value in edits:
        data[int(where * len(data))] = value
    path = _write(scratch / f"damaged_{seed}", bytes(data))
    try:
        x = _load_clean(path)
    except InputError as err:
        assert str(err).startswith(str(path))
    else:
        assert x.shape == (1, 784) and x.dtype == np.float32
        assert 0 <= x.min() and x.max() <= 1


# --- what Pillow reads in many ways: the first frame, 16 bits, EXIF ---------------------------------------------


def _bar(size=(60, 48)):
    """A thick horizontal bar, dark on white: nothing like a '9'."""
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).rectangle((10, 20, 50, 28), fill=0)
    return image


@pytest.mark.parametrize("fmt, suffix, mode", [("GIF", "gif", "P"), ("TIFF", "tif", "L"), ("PNG", "png", "L")])
def test_an_animation_gives_its_first_frame(tmp_path, fmt, suffix, mode):
    first, second = _nine().convert(mode), _bar().convert(mode)
    animated = tmp_path / f"animated.{suffix}"
    first.save(animated, fmt, save_all=True, append_images=[second])
    with Image.open(animated) as image:
        assert getattr(image, "n_frames", 1) == 2  # really two frames on disk
    alone = tmp_path / f"first.{suffix}"
    first.save(alone, fmt)
    second.save(tmp_path / f"second.{suffix}", fmt)
    x = _load_clean(animated)
    np.testing.assert_array_equal(x, _load_clean(alone))
    assert np.abs(x - _load_clean(tmp_path / f"second.{suffix}")).max() > 0.5


def test_a_16_bit_gray_png_reads_like_its_8_bit_twin(tmp_path):
    _as_mode(_nine(), "I;16").save(tmp_path / "deep.png")
    _nine().save(tmp_path / "plain.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I;16")
    np.testing.assert_allclose(_load_clean(tmp_path / "deep.png"), _load_clean(tmp_path / "plain.png"), atol=1e-6)


def test_a_16_bit_colour_png_reads_like_its_8_bit_twin(tmp_path):
    """Pillow cannot write 16-bit colour PNGs, so this one is written by hand (each sample twice: v * 257)."""
    gray = _nine()
    rgb16 = np.repeat(np.asarray(gray, dtype=">u2")[:, :, None] * 257, 3, axis=2)
    path = _write(tmp_path / "deep.png", _png(*gray.size, (row.tobytes() for row in rgb16), colour_type=2,
                                              bit_depth=16))
    gray.save(tmp_path / "plain.png")
    np.testing.assert_allclose(_load_clean(path), _load_clean(tmp_path / "plain.png"), atol=1e-6)


def _old_row(path):
    """The row load_image made before it shrank anything: EXIF applied, every pixel in float64.

    Opened from a file object as load_image opens it: Pillow 13 turns a TIFF
    opened by its path a second time (to the stored orientation) on loading.
    """
    with open(path, "rb") as file, Image.open(file) as image:
        return preprocess(np.asarray(ImageOps.exif_transpose(image).convert("L"), dtype=np.float64) / 255)


@pytest.mark.parametrize("size", [(60, 48), (2400, 2000)])
@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "PNG"])
def test_exif_orientation_is_applied_small_or_shrunk(tmp_path, size, fmt):
    """The picture is stored a quarter turn off, tagged (orientation 6) so that a viewer turns it back."""
    gray = _nine(size)
    stored = gray.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / f"turned.{fmt.lower()}"
    stored.save(path, fmt, exif=exif)
    x = _load_clean(path)[0]
    if size[0] * size[1] <= WORK_PIXELS:
        np.testing.assert_array_equal(x, _old_row(path))
    else:
        np.testing.assert_allclose(x, _old_row(path), atol=0.05)
    if fmt != "JPEG":  # lossless: the upright drawing itself
        np.testing.assert_allclose(x, _reference(gray), atol=0.05)
    assert np.abs(x - _reference(stored)).max() > 0.5  # the turn was applied


# --- big pictures: shrunk early, same answer ------------------------------------------------------------------


@pytest.mark.parametrize("size", [(2400, 2000), (3000, 1400), (1000, 9000)])
@pytest.mark.parametrize("mode, fmt", [("L", "PNG"), ("RGB", "JPEG"), ("L", "JPEG"), ("RGBA", "PNG"), ("I;16", "PNG"),
                                       ("1", "PNG"), ("P", "GIF"), ("P+transparency", "PNG"), ("RGB", "TIFF"),
                                       ("RGB", "BMP")])
def test_a_big_picture_gives_the_row_of_the_unshrunk_computation(tmp_path, size, mode, fmt):
    """Over WORK_PIXELS: decoded smaller (JPEG) or box-averaged in 8 bits, yet the row barely moves."""
    assert size[0] * size[1] > WORK_PIXELS
    gray = _nine(size)
    path = tmp_path / f"big.{fmt.lower()}"
    _as_mode(gray, mode).save(path, fmt)
    np.testing.assert_allclose(_load_clean(path)[0], _reference(gray), atol=0.05)


@pytest.mark.parametrize("size", [(2000, 2000), (4000, 1000), (600, 500)])
def test_a_picture_up_to_work_pixels_is_computed_as_before(tmp_path, size):
    """No shrinking at or below WORK_PIXELS: bit for bit the float64 computation on every pixel."""
    assert size[0] * size[1] <= WORK_PIXELS
    gray = _nine(size)
    gray.save(tmp_path / "digit.png")
    np.testing.assert_array_equal(_load_clean(tmp_path / "digit.png")[0], _reference(gray))


# (mode, format); JPEG at full quality, or its blur alone could fade a one-pixel line below the ink threshold
KINDS = [("L", "PNG"), ("RGB", "JPEG"), ("RGBA", "PNG"), ("I;16", "PNG"), ("P", "GIF"), ("1", "BMP"), ("L", "TIFF")]
SAVE_OPTIONS = {"JPEG": {"quality": 100, "subsampling": 0}}


@given(width=st.integers(3, 2400), height=st.integers(3, 2400), corners=st.tuples(*[st.floats(0, 1)] * 4),
       dark_on_light=st.booleans(), kind=st.sampled_from(KINDS))
def test_any_picture_up_to_the_limit_gives_one_mnist_row(scratch, width, height, corners, dark_on_light, kind):
    """A rectangle of ink in a picture of any shape, polarity and kind (up to 2400 x 2400 here, past
    WORK_PIXELS; the 64 MP end runs in ``predict`` below): one row in [0, 1], the ink centred."""
    left, right = sorted(round(1 + c * (width - 3)) for c in corners[:2])
    top, bottom = sorted(round(1 + c * (height - 3)) for c in corners[2:])
    gray = Image.new("L", (width, height), 255 if dark_on_light else 0)
    ImageDraw.Draw(gray).rectangle((left, top, right, bottom), fill=0 if dark_on_light else 255)  # off the border
    mode, fmt = kind
    path = scratch / f"any.{fmt.lower()}"
    _as_mode(gray, mode).save(path, fmt, **SAVE_OPTIONS.get(fmt, {}))
    x = _load_clean(path)
    assert x.shape == (1, 784) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.5
    image = x.reshape(28, 28)
    rows, cols = np.indices(image.shape)
    assert abs(np.average(rows, weights=image) - 14) <= 1 and abs(np.average(cols, weights=image) - 14) <= 1


# --- nnfunc predict in a capped child ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return nf.save(tmp_path_factory.mktemp("model") / "model.npz", nf.init((784, 10), 0), activation="relu")


def _predict(model, *images):
    """``python -m nnfunc predict model images...`` with its address space capped and a timeout."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))

    # Each thread's stack and BLAS buffers count against the cap: one thread keeps it about the image.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nnfunc", "predict", str(model), *map(str, images)],
                          capture_output=True, text=True, cwd=REPO, env=env, preexec_fn=cap, timeout=CHILD_TIMEOUT)


def _assert_clean_error(result, *words):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.startswith("error: ")
    for word in words:
        assert word in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("not_a_file", ["named pipe", "symlink to a named pipe", "/dev/zero"], indirect=True)
def test_predict_refuses_a_path_that_is_not_a_file(model, not_a_file):
    path, what = not_a_file
    _assert_clean_error(_predict(model, path), f"{path} {what}", "pass an image file")


@pytest.mark.slow
def test_predict_refuses_a_12000_square_png_from_its_header(model, tmp_path):
    """The reported file: 158 KB of PNG, 144 MP; the old code spent 3.6 GB and 11 s on it."""
    path = _write(tmp_path / "big.png", _png(12000, 12000, (bytes(12000) for _ in range(12000))))
    assert path.stat().st_size < 1_000_000
    _assert_clean_error(_predict(model, path), f"{path}: the image is 12000 x 12000 = 144,000,000 pixels",
                        f"limit of {MAX_PIXELS:,}", TOO_BIG)


@pytest.mark.slow
def test_predict_refuses_a_tiny_file_claiming_a_huge_picture(model, tmp_path):
    path = _write(tmp_path / "claims.png", _png(100_000, 100_000))
    _assert_clean_error(_predict(model, path), str(path), TOO_BIG)


@pytest.mark.slow
def test_predict_reads_the_largest_pictures_allowed_within_the_cap(model, tmp_path):
    """An 8000 x 8000 RGBA PNG (the worst allowed: 256 MB decoded) and a 48 MP phone-sized JPEG."""
    png = _write(tmp_path / "limit.png", _png(8000, 8000, _scaled_rows(_as_mode(_nine((800, 800)), "RGBA"), 10),
                                              colour_type=6))
    jpeg = tmp_path / "photo.jpg"
    _nine((8000, 6000)).convert("RGB").save(jpeg, quality=90)
    result = _predict(model, png, jpeg)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(png), str(jpeg)]
    assert all("(p=" in line for line in lines)
