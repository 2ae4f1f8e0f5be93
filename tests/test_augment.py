"""The distortions of training images: exact geometry, pixel range, seeding, both kernels, and the training loop.

Runs on both kernel backends (tests/conftest.py); test_backends_agree
checks them against each other bit for bit.
"""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import nnfunc as nf
from nnfunc import kernels
from nnfunc.data import augment as A
from tests.helpers import assert_bit_identical

FLOATS = st.sampled_from([np.float32, np.float64])


@st.composite
def images(draw, max_m=4, sides=(1, 2, 5, 28), low=0.0, high=1.0):
    """(x: (m, side * side) float, side) with pixels in [low, high], some exactly 0 and 1."""
    dtype = draw(FLOATS)
    side = draw(st.sampled_from(sides))
    m = draw(st.integers(1, max_m))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, (m, side * side)).astype(dtype)
    x[rng.random(x.shape) < 0.3] = 0
    x[rng.random(x.shape) < 0.1] = high
    return x, side


@st.composite
def specs(draw):
    """Any Augment in range, each part on or off."""
    def part(high):
        return draw(st.one_of(st.just(0.0), st.floats(0, high)))

    return A.Augment(rotate=part(180), scale=part(0.9), shear=part(60), shift=part(40), alpha=part(60),
                     sigma=draw(st.floats(0.3, 8)))


def identity(m, dtype, offset=(0, 0), matrix=((1, 0), (0, 1))):
    return A.Warp(np.tile(np.array(matrix, dtype), (m, 1, 1)), np.tile(np.array(offset, dtype), (m, 1)))


def shifted(x, side, dy, dx):
    """x's images moved so that output (r, c) shows input (r + dy, c + dx), black where that is outside."""
    img = x.reshape(-1, side, side)
    out = np.zeros_like(img)
    rows = slice(max(0, -dy), min(side, side - dy))
    cols = slice(max(0, -dx), min(side, side - dx))
    src_r = slice(rows.start + dy, rows.stop + dy)
    src_c = slice(cols.start + dx, cols.stop + dx)
    if rows.start < rows.stop and cols.start < cols.stop:
        out[:, rows, cols] = img[:, src_r, src_c]
    return out.reshape(x.shape)


@given(images())
def test_identity_parameters_give_the_input_back(case):
    x, _ = case
    assert_bit_identical(A.warp(x, identity(len(x), x.dtype)), x)
    # a zero field, and a spec whose every strength is 0, change nothing either
    field = np.zeros((len(x), 2, *(2 * [math.isqrt(x.shape[1])])), x.dtype)
    assert_bit_identical(A.warp(x, identity(len(x), x.dtype)._replace(field=field)), x)
    assert_bit_identical(A.augment(x, A.Augment(alpha=0.0), np.random.default_rng(0)), x)


@given(images(), st.integers(-30, 30), st.integers(-30, 30))
def test_a_shift_by_whole_pixels_moves_the_image_exactly(case, dy, dx):
    x, side = case
    out = A.warp(x, identity(len(x), x.dtype, offset=(dy, dx)))
    assert_bit_identical(out, shifted(x, side, dy, dx))


@given(images())
def test_quarter_turns_and_mirrors_are_exact(case):
    x, side = case
    img = x.reshape(-1, side, side)
    turn = A.warp(x, identity(len(x), x.dtype, matrix=((0, -1), (1, 0)))).reshape(img.shape)
    # output (r, c) reads input (side - 1 - c, r): the image turned a quarter clockwise
    assert_bit_identical(turn, np.rot90(img, k=-1, axes=(1, 2)))
    mirror = A.warp(x, identity(len(x), x.dtype, matrix=((1, 0), (0, -1)))).reshape(img.shape)
    assert_bit_identical(mirror, img[:, :, ::-1])
    again = x
    for _ in range(4):
        again = A.warp(again, identity(len(x), x.dtype, matrix=((0, -1), (1, 0))))
    assert_bit_identical(again, x)


@given(images(sides=(5, 28)), st.floats(0, 1))
def test_a_fractional_shift_interpolates_between_neighbours(case, f):
    x, side = case
    out = A.warp(x, identity(len(x), x.dtype, offset=(0, f))).reshape(-1, side, side)
    img = x.reshape(-1, side, side).astype(np.float64)
    right = np.concatenate([img[:, :, 1:], np.zeros_like(img[:, :, :1])], axis=2)
    expected = (1 - np.float64(x.dtype.type(f))) * img + np.float64(x.dtype.type(f)) * right
    # the source column c + f is rounded to the dtype before its fraction is taken
    np.testing.assert_allclose(out, expected, rtol=0, atol=64 * np.finfo(x.dtype).eps)


@given(images(low=-2.0, high=3.0), specs(), st.integers(0, 2**32 - 1))
def test_outputs_stay_in_the_pixel_range(case, spec, seed):
    x, _ = case
    out = A.augment(x, spec, np.random.default_rng(seed))
    assert out.dtype == x.dtype and out.shape == x.shape
    assert out.min() >= min(x.min(), 0) and out.max() <= max(x.max(), 0)
    unit = np.clip(x, 0, 1)
    out = A.augment(unit, spec, np.random.default_rng(seed))
    assert out.min() >= 0 and out.max() <= 1


@given(images(), specs(), st.integers(0, 2**32 - 1))
def test_the_same_seed_gives_the_same_batch(case, spec, seed):
    x, _ = case
    before = x.copy()
    a = A.augment(x, spec, np.random.default_rng(seed))
    b = A.augment(x, spec, np.random.default_rng(seed))
    assert_bit_identical(a, b)
    assert_bit_identical(x, before)  # the input is never written


def test_other_seeds_give_other_batches():
    x = np.random.default_rng(0).random((16, 784), np.float32)
    spec = A.Augment(rotate=10, alpha=34)
    a = A.augment(x, spec, np.random.default_rng(1))
    b = A.augment(x, spec, np.random.default_rng(2))
    assert not np.array_equal(a, b)
    # every image of a batch gets its own draw
    same = np.repeat(x[:1], 8, axis=0)
    out = A.augment(same, spec, np.random.default_rng(3))
    assert len({row.tobytes() for row in out}) == 8


@given(images(sides=(28,)), specs(), st.integers(0, 2**32 - 1))
def test_backends_agree_bit_for_bit(case, spec, seed):
    if not kernels.installed():
        pytest.skip("numba is not installed")
    x, _ = case
    w = A.draw(np.random.default_rng(seed), len(x), 28, spec, x.dtype)
    from nnfunc.kernels import compiled, reference

    before = kernels.fallbacks()
    compiled.warp(x, w.matrix, w.offset, w.field, np.empty_like(x), 0, 1, reference=A._warp)
    assert kernels.fallbacks() == before  # the compiled loop fits: it ran, not the reference
    outs = []
    for name in kernels.BACKENDS:
        with kernels.use(name):
            assert kernels.backend() is {"numba": compiled, "numpy": reference}[name]
            outs.append(A.augment(x, spec, np.random.default_rng(seed)))
    assert_bit_identical(*outs)


@given(st.floats(0.3, 8), st.integers(1, 30))
def test_gaussian_matrix_is_a_zero_padded_gaussian_blur(sigma, side):
    """G @ u @ G.T equals a direct 2-D convolution with the normalised, cut kernel, 0 outside."""
    rng = np.random.default_rng(side)
    u = rng.uniform(-1, 1, (side, side))
    g = A.gaussian_matrix(side, sigma)
    radius = int(4 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(u, radius)
    direct = np.zeros_like(u)
    for i in range(-radius, radius + 1):
        for j in range(-radius, radius + 1):
            direct += taps[i + radius] * taps[j + radius] * padded[radius + i : radius + i + side,
                                                                    radius + j : radius + j + side]
    np.testing.assert_allclose(g @ u @ g.T, direct, atol=1e-12)


def test_elastic_displacement_scales_with_alpha_and_averages_zero():
    small = A.draw(np.random.default_rng(5), 1024, 28, A.Augment(alpha=10.0, sigma=4.0))
    large = A.draw(np.random.default_rng(5), 1024, 28, A.Augment(alpha=30.0, sigma=4.0))
    np.testing.assert_allclose(large.field, 3 * small.field, rtol=1e-4, atol=1e-4)
    # uniform noise of variance 1/3 through a 2-D Gaussian of unit sum: a std of about
    # alpha * sqrt(1/3) / (2 sqrt(pi) sigma) in the middle of the image
    middle = large.field[:, :, 10:18, 10:18]
    expected = 30.0 * math.sqrt(1 / 3) / (2 * math.sqrt(math.pi) * 4.0)
    assert abs(middle.mean()) < 0.1 * expected
    assert 0.8 * expected < middle.std() < 1.2 * expected


def test_affine_draws_stay_within_their_strengths():
    spec = A.Augment(rotate=15, scale=0.2, shift=3)
    w = A.draw(np.random.default_rng(0), 2000, 28, spec, np.float64)
    assert np.abs(w.offset).max() <= 3 and np.abs(w.offset).max() > 2.9
    angles = np.degrees(np.arctan2(w.matrix[:, 1, 0], w.matrix[:, 0, 0]))
    assert np.abs(angles).max() <= 15 + 1e-9 and np.abs(angles).max() > 14.5
    col_scale = np.hypot(w.matrix[:, 0, 0], w.matrix[:, 1, 0])
    assert 0.8 - 1e-9 <= col_scale.min() < 0.81 and 1.19 < col_scale.max() <= 1.2 + 1e-9
    assert w.field is None


def test_bad_input_is_refused_with_the_fix():
    x = np.zeros((2, 784), np.float32)
    with pytest.raises(nf.InputError, match="no square"):
        A.augment(np.zeros((2, 780), np.float32), A.Augment(rotate=5), np.random.default_rng(0))
    with pytest.raises(nf.InputError, match="float images"):
        A.augment(np.zeros((2, 784), np.uint8), A.Augment(rotate=5), np.random.default_rng(0))
    bad = x.copy()
    bad[0, 3] = np.nan
    with pytest.raises(nf.InputError, match="NaN"):
        A.augment(bad, A.Augment(rotate=5), np.random.default_rng(0))
    with pytest.raises(nf.InputError, match=r"matrix \(2, 2, 2\)"):
        A.warp(x, identity(3, np.float32))
    w = identity(2, np.float32)
    with pytest.raises(nf.InputError, match="offset holds NaN"):
        A.warp(x, w._replace(offset=np.full((2, 2), np.inf, np.float32)))
    # finite, but so large that a coordinate would overflow: refused before any read
    with pytest.raises(nf.InputError, match="matrix holds NaN, inf or values beyond"):
        A.warp(x, w._replace(matrix=np.full((2, 2, 2), 3e38, np.float32)))
    with pytest.raises(nf.InputError, match="field holds NaN"):
        A.warp(x, w._replace(field=np.full((2, 2, 28, 28), np.nan, np.float32)))
    for out in (np.empty((1, 784), np.float32), np.empty((2, 784), np.float64), [0.0] * 784):
        with pytest.raises(nf.InputError, match="out must be an array of x's shape"):
            A.warp(x, w, out=out)
    for spec, match in ((A.Augment(rotate=-1), "augment.rotate"), (A.Augment(scale=1.0), "augment.scale"),
                        (A.Augment(alpha=float("nan")), "augment.alpha"), (A.Augment(sigma=0.0), "augment.sigma"),
                        (A.Augment(sigma=1e9), "augment.sigma")):
        with pytest.raises(nf.ConfigError, match=match):
            A.augment(x, spec, np.random.default_rng(0))
    with pytest.raises(nf.ConfigError, match="nnfunc.Augment"):
        A.augment(x, {"rotate": 5}, np.random.default_rng(0))
    with pytest.raises(nf.ConfigError, match="choose one of none, affine, elastic, elastic\\+affine"):
        A.for_kind("wobble")


def test_for_kind_keeps_only_its_parts():
    assert A.for_kind("none") is None
    affine = A.for_kind("affine", rotate=5, alpha=20)
    assert affine.rotate == 5 and affine.alpha == 0
    elastic = A.for_kind("elastic", rotate=5, alpha=20)
    assert elastic.rotate == 0 and elastic.shift == 0 and elastic.alpha == 20
    both = A.for_kind("elastic+affine", rotate=5, alpha=20)
    assert both.rotate == 5 and both.alpha == 20


# --- in the training loop ------------------------------------------------------------------------

SIZES = (784, 12, 10)


def small_data(m=96, val=32):
    rng = np.random.default_rng(7)
    x = (rng.random((m + val, 784)) * 255).astype(np.uint8)
    y = rng.integers(0, 10, m + val)
    return nf.TrainData(x[:m], y[:m], x[m:], y[m:])


def run(epochs, spec, state=None, data=None, seed=3):
    opt = nf.adam(1e-2)
    if state is None:
        state = nf.start_fit(nf.init(SIZES, np.random.default_rng(seed)), opt, seed)
    config = nf.FitConfig(epochs, batch_size=32, dropout=0.2, augment=spec)
    return nf.fit(state, opt, data or small_data(), config)


SPEC = A.Augment(rotate=10, scale=0.1, shear=5, shift=2, alpha=20, sigma=3)


def test_a_resumed_augmented_run_equals_one_run():
    direct = run(4, SPEC)
    resumed = run(4, SPEC, state=run(2, SPEC))
    for key in direct.params:
        assert_bit_identical(direct.params[key], resumed.params[key])
    assert direct.rng_states == resumed.rng_states
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in direct.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]


def test_augmentation_draws_from_its_own_stream():
    plain, distorted = run(2, None), run(2, SPEC)
    assert not np.array_equal(plain.params["W1"], distorted.params["W1"])
    # shuffles and dropout masks are the same draws with augmentation on or off
    assert plain.rng_states["batches"] == distorted.rng_states["batches"]
    assert plain.rng_states["dropout"] == distorted.rng_states["dropout"]
    assert plain.rng_states["augment"] != distorted.rng_states["augment"]
    assert plain.rng_states["augment"] == nf.start_fit(plain.params, nf.adam(1e-2), 3).rng_states["augment"]


def test_validation_images_are_never_distorted():
    data = small_data()
    state = run(2, SPEC, data=data)
    x_val = data.x_val.astype(np.float32) / np.float32(255)
    val = nf.evaluate(state.params, x_val, data.y_val)
    assert state.history[-1]["val_loss"] == pytest.approx(val.loss, rel=1e-6)
    assert state.history[-1]["val_accuracy"] == val.accuracy


def test_fit_refuses_augmentation_it_cannot_do():
    data = small_data()
    with pytest.raises(nf.ConfigError, match="config.augment.shift"):
        run(1, A.Augment(shift=-1))
    odd = nf.TrainData(data.x_train[:, :780], data.y_train, data.x_val[:, :780], data.y_val)
    opt = nf.adam(1e-2)
    state = nf.start_fit(nf.init((780, 12, 10), np.random.default_rng(0)), opt, 0)
    with pytest.raises(nf.InputError, match="780 pixels, which is no square"):
        nf.fit(state, opt, odd, nf.FitConfig(1, augment=SPEC))


def test_fit_names_a_state_without_the_augment_stream():
    opt = nf.adam(1e-2)
    state = nf.start_fit(nf.init(SIZES, np.random.default_rng(0)), opt, 0)
    old = state._replace(rng_states={k: v for k, v in state.rng_states.items() if k != "augment"})
    with pytest.raises(nf.InputError, match="lacks the stream 'augment'.*start_fit"):
        nf.fit(old, opt, small_data(), nf.FitConfig(1))
