"""Tests for nnfunc.data.images: synthetic digit files in, MNIST-style rows out."""

import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageOps

from nnfunc.errors import InputError
from nnfunc.data.images import load_image, preprocess


def _one(size=(300, 200), ink=0, paper=255, mode="L"):
    """A thick slanted '1' stroke, width x height = size."""
    width, height = size
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).line(
        [(width * 0.55, height * 0.15), (width * 0.45, height * 0.85)], fill=ink, width=max(3, height // 12)
    )
    return image


def _ring(size=(200, 300), ink=255, paper=0, mode="L"):
    """A ring '0' placed off centre."""
    width, height = size
    image = Image.new(mode, size, paper)
    box = (width * 0.1, height * 0.2, width * 0.6, height * 0.9)
    ImageDraw.Draw(image).ellipse(box, outline=ink, width=max(3, width // 15))
    return image


def _as_image(v):
    return v.reshape(28, 28)


def _centre_of_mass(image):
    """(row, column) of the ink's centre of mass: pixel coordinates weighted by ink,
    written as a weighted average over a coordinate grid (the library sums
    projections onto each axis instead)."""
    rows, cols = np.indices(image.shape)
    return np.average(rows, weights=image), np.average(cols, weights=image)


def _check_mnist_like(v):
    assert v.shape == (784,)
    assert v.dtype == np.float32
    assert v.min() >= 0.0 and v.max() <= 1.0
    assert v.max() > 0.5  # strokes are bright ink
    image = _as_image(v)
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    assert rows[-1] - rows[0] + 1 <= 20 and cols[-1] - cols[0] + 1 <= 20
    # The longer side fills the 20-pixel box (give or take the anti-aliased rim).
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 >= 18
    centre_row, centre_col = _centre_of_mass(image)
    assert abs(centre_row - 14) <= 1.0 and abs(centre_col - 14) <= 1.0
    # Background corners are black, like MNIST.
    assert image[:3, :3].max() == 0 and image[-3:, -3:].max() == 0


@pytest.mark.parametrize(
    "name, image",
    [
        ("one_black_on_white.jpg", _one((300, 200))),
        ("one_small.png", _one((40, 60))),
        ("one_white_on_black.png", _one((200, 300), ink=255, paper=0)),
        ("ring_white_on_black.png", _ring((200, 300))),
        ("ring_black_on_white.jpg", _ring((640, 480), ink=0, paper=255)),
        ("ring_rgb.jpg", _ring((300, 300), ink=(20, 20, 120), paper=(250, 245, 230), mode="RGB")),
        ("one_rgba.png", _one((300, 200), ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")),
    ],
)
def test_load_image_gives_one_mnist_like_row(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    x = load_image(path)
    assert x.shape == (1, 784)  # one row, ready for predict
    _check_mnist_like(x[0])


def test_rgba_transparency_is_white_paper(tmp_path):
    """Black ink on transparent pixels must not vanish into a black background."""
    rgba = _ring((200, 300), ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")
    rgba.save(tmp_path / "rgba.png")
    opaque = _ring((200, 300), ink=0, paper=255)
    opaque.save(tmp_path / "opaque.png")
    np.testing.assert_allclose(load_image(tmp_path / "rgba.png"), load_image(tmp_path / "opaque.png"), atol=1e-6)


def test_polarity_does_not_matter(tmp_path):
    dark_on_light = _ring((240, 320), ink=0, paper=255)
    dark_on_light.save(tmp_path / "a.png")
    ImageOps.invert(dark_on_light).save(tmp_path / "b.png")
    a, b = load_image(tmp_path / "a.png"), load_image(tmp_path / "b.png")
    assert np.abs(a - b).max() < 0.02


def test_grey_paper_and_grey_ink_are_normalised():
    """A photo-like image (grey paper, dark grey ink) matches the clean drawing."""
    clean = np.asarray(_one((150, 200)), dtype=np.float64) / 255
    photo = 0.85 - 0.6 * (1 - clean)  # paper 0.85, ink 0.25
    np.testing.assert_allclose(preprocess(photo), preprocess(clean), atol=1e-5)


def test_position_and_scale_do_not_matter():
    small = np.zeros((100, 100))
    small[20:50, 30:40] = 1.0
    big = np.zeros((400, 300))
    big[250:370, 40:80] = 1.0  # same bar, 4x larger, elsewhere
    np.testing.assert_allclose(preprocess(small), preprocess(big), atol=0.05)


@given(
    height=st.integers(8, 60),
    width=st.integers(8, 60),
    top=st.floats(0, 0.8),
    left=st.floats(0, 0.8),
    box_height=st.floats(0.1, 1),
    box_width=st.floats(0.1, 1),
    dark_on_light=st.booleans(),
)
def test_any_rectangle_fits_the_mnist_frame(height, width, top, left, box_height, box_width, dark_on_light):
    # The rectangle stays off the 1-pixel border: a frame filled edge to edge
    # is uniform, and "no ink found" is then the right answer.
    gray = np.zeros((height, width))
    r0, c0 = 1 + int(top * (height - 2)), 1 + int(left * (width - 2))
    r1 = min(height - 1, r0 + max(1, int(box_height * (height - 2))))
    c1 = min(width - 1, c0 + max(1, int(box_width * (width - 2))))
    gray[r0:r1, c0:c1] = 1.0
    if dark_on_light:
        gray = 1.0 - gray
    v = preprocess(gray)
    image = _as_image(v)
    assert v.dtype == np.float32 and 0 <= v.min() and v.max() <= 1
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    assert rows[-1] - rows[0] < 20 + 1 and cols[-1] - cols[0] < 20 + 1
    centre_row, centre_col = _centre_of_mass(image)
    assert abs(centre_row - 14) <= 1.0 and abs(centre_col - 14) <= 1.0


def test_real_mnist_digits_survive_a_round_trip(mnist_path):
    """Upscaled, inverted MNIST digits come back close to the originals."""
    with gzip.open(mnist_path / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read(16 + 784 * 20)
    digits = np.frombuffer(raw, np.uint8, offset=16).reshape(20, 28, 28)
    correlations = []
    for digit in digits:
        big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR), dtype=np.float64)
        v = preprocess(1.0 - big / 255)
        correlations.append(np.corrcoef(v, digit.ravel())[0, 1])
    assert np.mean(correlations) > 0.9
    assert np.min(correlations) > 0.7


@pytest.mark.parametrize("paper", [0, 255, 128])
def test_blank_image_has_no_ink(tmp_path, paper):
    path = tmp_path / f"blank{paper}.png"
    Image.new("L", (100, 80), paper).save(path)
    with pytest.raises(InputError, match="no ink found") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_not_an_image_names_the_file(tmp_path):
    path = tmp_path / "digit.png"
    path.write_text("this is not a PNG")
    with pytest.raises(InputError, match="cannot read") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_truncated_image_names_the_file(tmp_path):
    path = tmp_path / "cut.png"
    _ring().save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nowhere.png"
    with pytest.raises(InputError, match="no such file") as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "gray, message",
    [
        (np.zeros((5, 5, 3)), "2-D"),
        (np.zeros((0, 5)), "2-D"),
        (np.full((5, 5), 255, dtype=np.uint8), "float"),
        (np.full((5, 5), 2.0), r"\[0, 1\]"),
        (np.full((5, 5), np.nan), r"\[0, 1\]"),
    ],
)
def test_preprocess_rejects_bad_arrays(gray, message):
    with pytest.raises(InputError, match=message):
        preprocess(gray)


def test_ink_filling_the_frame_is_blank():
    with pytest.raises(InputError, match="no ink found"):
        preprocess(np.ones((8, 8)))


def test_preprocess_does_not_modify_its_argument():
    gray = np.ones((50, 40))
    gray[10:40, 15:25] = 0.0
    before = gray.copy()
    preprocess(gray)
    np.testing.assert_array_equal(gray, before)
