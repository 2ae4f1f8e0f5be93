"""Distorted copies of training images, a batch at a time: affine and elastic (Simard et al. 2003).

Every image of a batch gets its own random warp. Output pixel (r, c) reads
the input, by bilinear interpolation with black (0) outside the image, at

    (r', c') = M @ (r - o, c - o) + (o, o) + t + alpha * smooth(u)[:, r, c],   o = (side - 1) / 2

where M (2x2) rotates, shears and scales the sampling grid about the
centre (so a grid scaled by s shows the digit scaled by 1 / s), t shifts, and u
is uniform noise in [-1, 1] per pixel and axis (256 levels), smoothed by a Gaussian of
width sigma (the elastic part). Identity parameters read every pixel from
itself, so they give the input back exactly, and a shift by whole pixels
moves the digit exactly; the result is clipped to the input's range and 0.

``draw`` turns a Generator into a ``Warp`` (the per-image parameters),
``warp`` applies one, ``augment`` does both. The resampling runs as one
compiled loop when numba is active (``nnfunc.kernels``), else as the NumPy
reference below; the two agree bit for bit (tests/test_augment.py).
"""

import functools
import math
from typing import NamedTuple, Optional

import numpy as np

from nnfunc import checks, kernels
from nnfunc.errors import ConfigError, InputError

KINDS = ("none", "affine", "elastic", "elastic+affine")
# largest |value| of a warp's offsets and field (pixels), and of its matrix entries: far past any
# useful warp, and small enough that no source coordinate overflows into inf - inf = NaN
LIMIT = 1e6
MATRIX_LIMIT = 1e3


class Augment(NamedTuple):
    """How strongly to distort; a strength of 0 turns that part off.

    rotate: degrees, angle ~ U(-rotate, rotate); scale: fraction, each axis
    of the sampling grid scaled by s ~ 1 + U(-scale, scale), which shows the
    digit scaled by 1 / s; shear: degrees, ~ U(-shear, shear); shift:
    pixels, each axis ~ U(-shift, shift); alpha: pixels, the elastic
    displacement's scale; sigma: pixels, the width of the Gaussian that
    smooths it (Simard et al. use alpha 34, sigma 4). Every range is
    symmetric, so the direction of the map matters only for scale.
    """

    rotate: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    shift: float = 0.0
    alpha: float = 0.0
    sigma: float = 4.0


class Warp(NamedTuple):
    """The per-image parameters of one batch's warp (see the module docstring).

    matrix: (m, 2, 2) float, acting on (row, col) offsets from the centre;
    offset: (m, 2) float, t in pixels (row, col); field: (m, 2, side, side)
    float, the displacement alpha * smooth(u) (row, then col), or None.
    """

    matrix: np.ndarray
    offset: np.ndarray
    field: Optional[np.ndarray] = None


def for_kind(kind, *, rotate=10.0, scale=0.1, shear=10.0, shift=2.0, alpha=34.0, sigma=4.0, names=None):
    """The Augment a kind name stands for ("none" gives None), keeping only its parts' strengths.

    ``names`` is passed to ``check`` for the messages.

    Raises:
        ConfigError: an unknown kind, or a strength out of range.
    """
    if kind not in KINDS:
        raise ConfigError(f"augment {kind!r} is unknown; choose one of {', '.join(KINDS)}")
    if kind == "none":
        return None
    affine = "affine" in kind
    elastic = "elastic" in kind
    return check(Augment(rotate if affine else 0.0, scale if affine else 0.0, shear if affine else 0.0,
                         shift if affine else 0.0, alpha if elastic else 0.0, sigma), names=names)


def check(spec, name="augment", names=None):
    """Return ``spec`` if it is an Augment of finite strengths in range, else raise ConfigError.

    Messages name a field ``f`` as ``names[f]`` when given (the command line
    passes its flags), else as ``name.f``.
    """
    if not isinstance(spec, Augment):
        raise ConfigError(f"{name} must be an nnfunc.Augment(rotate=..., alpha=...) or None, got "
                          f"{type(spec).__name__}")
    n = (names or {}).get
    for field, high, hint in (
        ("rotate", 180, "it is the largest angle in degrees"),
        ("scale", 1, "each axis is scaled by 1 + U(-scale, scale), so keep it below 1"),
        ("shear", 60, "it is the largest shear angle in degrees"),
        ("shift", LIMIT, "it is the largest shift in pixels"),
        ("alpha", LIMIT, "it scales the elastic displacement (pixels)"),
        ("sigma", 100, "it is the width in pixels of the Gaussian that smooths the displacement"),
    ):
        checks.number(getattr(spec, field), n(field, f"{name}.{field}"), low=0, high=high,
                      low_open=field == "sigma", high_open=field == "scale", hint=hint)
    return spec


def image_side(n_in, name="x"):
    """The side of square images of ``n_in`` pixels; raise InputError when they are not square."""
    side = math.isqrt(n_in)
    if side < 1 or side * side != n_in:
        raise InputError(f"augmentation warps square images, but {name} has rows of {n_in} pixels, which is no "
                         "square; pass images flattened row by row (28 x 28 = 784), or turn augmentation off")
    return side


def gaussian_matrix(side, sigma):
    """(side, side) float64 G with ``G @ u @ G.T`` the Gaussian smoothing of u, 0 outside the image.

    The kernel is cut at 4 sigma and normalised over its full width, as
    ``scipy.ndimage.gaussian_filter(u, sigma, mode="constant")`` does.
    """
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    d = np.arange(side)[:, None] - np.arange(side)[None, :]
    return np.where(np.abs(d) <= radius, taps[np.clip(d + radius, 0, 2 * radius)], 0.0)


@functools.lru_cache(maxsize=16)
def _smoothing(side, sigma, alpha):
    """float32 (right, left, constant) with the field = left @ (k @ right) - constant: once per setting, read-only."""
    g = gaussian_matrix(side, sigma)
    right = (g.T * (2 * alpha / 255)).astype(np.float32)
    left = g.astype(np.float32)
    constant = (alpha * g @ np.ones((side, side)) @ g.T).astype(np.float32)
    for a in (right, left, constant):
        a.flags.writeable = False
    return right, left, constant


def draw(rng, m, side, spec, dtype=np.float32):
    """Draw the warp of ``m`` images of ``side`` x ``side`` from ``rng`` (a Generator it advances).

    Args:
        rng: numpy.random.Generator; m, side: ints >= 0 and >= 1; spec: an
            Augment (checked by the caller); dtype: float dtype of the result.

    The draws come in a fixed order (angles, scales, shears, shifts, noise),
    each only when its strength is above 0. The field is computed in
    float32 whatever ``dtype``: it is random anyway.

    Returns:
        A Warp in ``dtype``.
    """
    deg = np.pi / 180
    angle = rng.uniform(-spec.rotate, spec.rotate, m) * deg if spec.rotate else np.zeros(m)
    scales = 1 + rng.uniform(-spec.scale, spec.scale, (m, 2)) if spec.scale else np.ones((m, 2))
    shear = np.tan(rng.uniform(-spec.shear, spec.shear, m) * deg) if spec.shear else np.zeros(m)
    offset = rng.uniform(-spec.shift, spec.shift, (m, 2)) if spec.shift else np.zeros((m, 2))
    cos, sin = np.cos(angle), np.sin(angle)
    # rotation @ shear @ diag(scales), on (row, col) offsets
    matrix = np.empty((m, 2, 2))
    matrix[:, 0, 0] = cos * scales[:, 0]
    matrix[:, 0, 1] = (cos * shear - sin) * scales[:, 1]
    matrix[:, 1, 0] = sin * scales[:, 0]
    matrix[:, 1, 1] = (sin * shear + cos) * scales[:, 1]
    field = None
    if spec.alpha:
        # u = (2k - 255) / 255 for random bytes k: uniform on 256 levels of [-1, 1], at a third of
        # the cost of random floats; smoothing is linear, so the scale goes into g and the -1 into a
        # constant field
        k = np.frombuffer(rng.bytes(m * 2 * side * side), np.uint8).reshape(m * 2 * side, side)
        right, left, constant = _smoothing(side, spec.sigma, spec.alpha)
        field = np.matmul(left, (k.astype(np.float32) @ right).reshape(m * 2, side, side))
        field -= constant
        field = field.reshape(m, 2, side, side)
    return Warp(matrix.astype(dtype), offset.astype(dtype), None if field is None else field.astype(dtype, copy=False))


def warp(x, w, out=None):
    """Warp every row of ``x`` by its parameters in ``w``.

    Args:
        x: (m, side * side) float, images flattened row by row.
        w: a Warp of m images (from ``draw``, or built by hand).
        out: optional (m, side * side) array of x's dtype to write into.

    Returns:
        (m, side * side) in x's dtype, clipped to [min(x.min(), 0), max(x.max(), 0)].

    Raises:
        InputError: shapes that do not fit.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind != "f":
        raise InputError(f"x must be (m, side * side) float images, got shape {x.shape} dtype {x.dtype}")
    m, n = x.shape
    side = image_side(n)
    dtype = x.dtype
    matrix, offset = np.asarray(w.matrix, dtype), np.asarray(w.offset, dtype)
    field = None if w.field is None else np.asarray(w.field, dtype)
    if matrix.shape != (m, 2, 2) or offset.shape != (m, 2) or (field is not None and field.shape != (m, 2, side, side)):
        raise InputError(f"a Warp for x of shape {x.shape} needs matrix ({m}, 2, 2), offset ({m}, 2) and field "
                         f"({m}, 2, {side}, {side}) or None; got {matrix.shape}, {offset.shape}, "
                         f"{None if field is None else field.shape}")
    if out is None:
        out = np.empty_like(x)
    elif not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
        raise InputError(f"out must be an array of x's shape {x.shape} and dtype {x.dtype}, got "
                         f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}; pass such an "
                         "array, or None for a new one")
    if m == 0:
        return out
    for what, value, limit in (("matrix", matrix, MATRIX_LIMIT), ("offset", offset, LIMIT), ("field", field, LIMIT)):
        # min and max are NaN when any value is: the comparison then fails too
        if value is not None and not (-limit <= value.min() and value.max() <= limit):
            raise InputError(f"the Warp's {what} holds NaN, inf or values beyond +-{limit:g}; draw it with "
                             "nnfunc.data.augment.draw, or keep it within that range")
    return apply(x, Warp(matrix, offset, field), out)


def apply(x, w, out):
    """``warp`` without its checks of ``w`` and ``out``: for a caller that drew ``w`` for ``x`` (the training loop).

    x, out: (m, side * side) arrays of one float dtype; w: a Warp in that dtype.
    """
    if x.shape[0] == 0:
        return out
    lo, hi = x.dtype.type(min(x.min(), 0)), x.dtype.type(max(x.max(), 0))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError("x holds NaN or inf; images to warp must be finite pixels")
    return kernels.backend().warp(x, w.matrix, w.offset, w.field, out, lo, hi, reference=_warp)


def augment(x, spec, rng, out=None):
    """A distorted copy of the images ``x``: ``warp(x, draw(rng, m, side, spec))``.

    Args:
        x: (m, side * side) float images; spec: an Augment; rng: a
            numpy.random.Generator, advanced by the draws.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind != "f":
        raise InputError(f"x must be (m, side * side) float images, got shape {x.shape} dtype {x.dtype}")
    check(spec)
    rng = checks.generator(rng)
    return warp(x, draw(rng, x.shape[0], image_side(x.shape[1]), spec, x.dtype), out=out)


def _warp(x, matrix, offset, field, out, lo, hi):
    """The NumPy reference of the compiled ``kernels.image_loops.warp``: the same float operations, in order."""
    m, n = x.shape
    side = math.isqrt(n)
    dtype = x.dtype.type
    o = dtype((side - 1) / 2)
    r = (np.arange(n) // side).astype(x.dtype) - o
    c = (np.arange(n) % side).astype(x.dtype) - o
    a, b = matrix[:, 0, 0, None], matrix[:, 0, 1, None]
    d, e = matrix[:, 1, 0, None], matrix[:, 1, 1, None]
    y = a * r + b * c + o + offset[:, 0, None]
    xs = d * r + e * c + o + offset[:, 1, None]
    if field is not None:
        y += field[:, 0].reshape(m, n)
        xs += field[:, 1].reshape(m, n)
    # a source beyond the border reads the zero padding, however far out
    np.clip(y, -1, side, out=y)
    np.clip(xs, -1, side, out=xs)
    y0, x0 = np.floor(y), np.floor(xs)
    fy, fx = y - y0, xs - x0
    # one zero row and column before the image, two after: every corner read lands inside
    width = side + 3
    padded = np.zeros((m, width, width), x.dtype)
    padded[:, 1:side + 1, 1:side + 1] = x.reshape(m, side, side)
    padded = padded.reshape(m, width * width)
    idx = (y0.astype(np.intp) + 1) * width + (x0.astype(np.intp) + 1)
    v00 = np.take_along_axis(padded, idx, axis=1)
    v01 = np.take_along_axis(padded, idx + 1, axis=1)
    v10 = np.take_along_axis(padded, idx + width, axis=1)
    v11 = np.take_along_axis(padded, idx + width + 1, axis=1)
    one = dtype(1)
    gx = one - fx
    top = gx * v00 + fx * v01
    bottom = gx * v10 + fx * v11
    np.clip((one - fy) * top + fy * bottom, lo, hi, out=out)
    return out
