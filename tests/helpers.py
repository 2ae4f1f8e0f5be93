"""Small test utilities shared by several test files."""

import os
from fractions import Fraction

import numpy as np
import pytest


def copy_tree(obj):
    """Deep copy of dicts/lists/tuples of arrays."""
    if isinstance(obj, dict):
        return {k: copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(copy_tree(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj


def assert_bit_identical(a, b):
    """Dicts, tuples and arrays equal bit for bit, with equal dtypes and keys."""
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_bit_identical(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            assert_bit_identical(u, v)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    else:
        assert a == b or (a != a and b != b)


def correctly_rounded_pixels(dtype):
    """(256,) table: entry i is the ``dtype`` number nearest to the exact rational i / 255.

    An oracle for uint8 -> [0, 1] scaling that shares no arithmetic with the
    library: each quotient is an exact ``Fraction``, and of the ``dtype``
    numbers next to it the nearest is picked by exact comparison (IEEE
    division, correctly rounded, must land on the same number). i / 255 is
    never a tie between two floats: that would need a finite binary expansion,
    which only 0 and 1 have here.
    """
    dtype = np.dtype(dtype)
    table = np.empty(256, dtype=dtype)
    for i in range(256):
        exact = Fraction(i, 255)
        guess = dtype.type(float(exact))
        candidates = {guess, np.nextafter(guess, dtype.type(-1)), np.nextafter(guess, dtype.type(2))}
        ranked = sorted(candidates, key=lambda c: abs(Fraction(float(c)) - exact))
        assert abs(Fraction(float(ranked[0])) - exact) < abs(Fraction(float(ranked[1])) - exact)
        table[i] = ranked[0]
    return table


def round_exact(exact, dtype):
    """The ``dtype`` number nearest to the rational ``exact``, ties to even (IEEE round to nearest)."""
    dtype = np.dtype(dtype)
    guess = dtype.type(float(exact))  # within one ulp of the answer; exact comparison decides
    candidates = {guess, np.nextafter(guess, dtype.type(-np.inf)), np.nextafter(guess, dtype.type(np.inf))}
    odd = lambda c: int(np.array(c).view(f"u{dtype.itemsize}")) & 1  # noqa: E731
    return min(candidates, key=lambda c: (abs(Fraction(float(c)) - exact), odd(c)))


def exact_axpy(y, a, x, dtype):
    """``y + a * x`` element by element as IEEE arithmetic in ``dtype`` must round it.

    Computed in exact rationals (``Fraction``), rounded to ``dtype`` once after the
    product and once after the sum, so it shares no floating-point code with the
    library; ``a`` is a number or a Fraction, ``y`` and ``x`` arrays of one shape.
    Zeros get IEEE's signs: a product's is the sign rule's, an exact-zero sum is
    -0 only when both terms are -0.
    """
    a = a if isinstance(a, Fraction) else Fraction(float(a))
    dtype = np.dtype(dtype)
    out = []
    for yi, xi in zip(np.ravel(y), np.ravel(x)):
        product = round_exact(a * Fraction(float(xi)), dtype)
        if product == 0:
            product = np.copysign(dtype.type(0), -1 if (a < 0) != bool(np.signbit(xi)) else 1)
        total = round_exact(Fraction(float(yi)) + Fraction(float(product)), dtype)
        if total == 0:
            total = np.copysign(dtype.type(0), -1 if np.signbit(yi) and np.signbit(product) else 1)
        out.append(total)
    return np.array(out, dtype=dtype).reshape(np.shape(y))


def installed(*modules):
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


# The sweep's tests need the [sweep] extra. They skip without it, except
# where NNFUNC_REQUIRE_EXTRAS=1 (CI installs every extra): there a broken
# install must fail, not skip.
needs_sweep_extra = pytest.mark.skipif(
    os.environ.get("NNFUNC_REQUIRE_EXTRAS") != "1" and not installed("distributed", "optuna"),
    reason="the [sweep] extra (dask distributed, optuna) is not installed: pip install -e '.[sweep]'")


def require_extra(extra, *modules):
    """Skip the calling test module when ``extra``'s modules are missing (module level, before importing them).

    Where NNFUNC_REQUIRE_EXTRAS=1 (CI) nothing skips: the import that follows fails instead.
    """
    if os.environ.get("NNFUNC_REQUIRE_EXTRAS") != "1" and not installed(*modules):
        pytest.skip(f"the [{extra}] extra is not installed: pip install -e '.[{extra}]'", allow_module_level=True)
