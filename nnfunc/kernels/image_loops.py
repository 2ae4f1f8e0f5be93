"""The image warp compiled with numba: one pass per output pixel, the whole batch in one call.

It mirrors ``nnfunc.data.augment._warp`` operation for operation, in the
images' dtype, so the two agree bit for bit (tests/test_augment.py). It
copies one image at a time into a zero-padded square, so that every corner
read lands inside without a bounds test.
"""

import math

import numpy as np

from nnfunc.kernels._numba import jit as _jit


@_jit
def _warp(x, matrix, offset, field, has_field, rel, high, out, lo, hi):
    """x, out: (m, side * side); matrix (m, 2, 2); offset (m, 2); field (m, 2, side, side) when has_field;
    rel: (side,) holding i - (side - 1) / 2; high, lo, hi: scalars; all in one float dtype."""
    m = x.shape[0]
    side = rel.shape[0]
    o = -rel[0]  # rel[i] = i - o
    one = high / high  # high = side >= 1, in the images' dtype
    low = -one
    # one zero row and column before the image, two after: every corner read lands inside, no tests
    width = side + 3
    padded = np.zeros(width * width, x.dtype)
    for i in range(m):
        for r in range(side):
            for c in range(side):
                padded[(r + 1) * width + c + 1] = x[i, r * side + c]
        a, b = matrix[i, 0, 0], matrix[i, 0, 1]
        d, e = matrix[i, 1, 0], matrix[i, 1, 1]
        t0, t1 = offset[i, 0], offset[i, 1]
        for r in range(side):
            for c in range(side):
                y = a * rel[r] + b * rel[c] + o + t0
                xs = d * rel[r] + e * rel[c] + o + t1
                if has_field:
                    y = y + field[i, 0, r, c]
                    xs = xs + field[i, 1, r, c]
                y = min(max(y, low), high)
                xs = min(max(xs, low), high)
                y0 = np.floor(y)
                x0 = np.floor(xs)
                fy = y - y0
                fx = xs - x0
                iy = int(y0)
                ix = int(x0)
                k = (iy + 1) * width + ix + 1
                v00 = padded[k]
                v01 = padded[k + 1]
                v10 = padded[k + width]
                v11 = padded[k + width + 1]
                gx = one - fx
                top = gx * v00 + fx * v01
                bottom = gx * v10 + fx * v11
                v = (one - fy) * top + fy * bottom
                out[i, r * side + c] = min(max(v, lo), hi)


def warp(x, matrix, offset, field, out, lo, hi):
    """Bilinear warp of flattened square images into ``out``, as ``augment._warp``; returns out.

    x, out: (m, side * side); all arrays in one float dtype, C order (``nnfunc.kernels.compiled`` checks).
    """
    dtype = x.dtype
    side = math.isqrt(x.shape[1])
    rel = np.arange(side).astype(dtype) - dtype.type((side - 1) / 2)
    empty = np.zeros((0, 2, 0, 0), dtype)
    _warp(x, matrix, offset, empty if field is None else field, field is not None, rel, dtype.type(side), out, dtype.type(lo),
          dtype.type(hi))
    return out
