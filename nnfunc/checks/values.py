"""Check settings and scalar arguments: numbers in range, counts, seeds, generators, layer widths.

``name`` is how a message names the argument: a Python keyword (``"l2"``)
from the library, a flag (``"--l2"``) from the command line.
"""

import math
import numbers

import numpy as np

from nnfunc.errors import ConfigError, shown


def is_real(value):
    """Whether ``value`` is a real number and not a bool (True is not a rate); NaN and inf count."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_finite(value):
    """math.isfinite for any real number; an int or Fraction too large for a float counts as not finite."""
    try:
        return math.isfinite(value)
    except OverflowError:  # math.isfinite converts to a float first, and 10**400 has none
        return False


def _g(bound):
    try:
        return f"{bound:g}"
    except OverflowError:  # an int bound beyond a float's range
        return shown(bound)


def _bounds(low, high, low_open, high_open):
    """The range in words: ">= 0", "> 0", "in [0, 1)", "<= 5" or ""."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_g(low)}, {_g(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_g(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_g(high)}"
    return ""


def _within(value, low, high, low_open, high_open):
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def number(value, name, *, low=None, high=None, low_open=False, high_open=False, hint=None, error=ConfigError):
    """Return ``value`` as a float if it is a finite real number in range, else raise.

    Args:
        value: the argument; bools are refused (True is not a rate), and so
            is an int too large for a float (10**400 is no finite rate).
        name: how the message names it ("lr", "--lr").
        low, high: bounds (None: unbounded); ``*_open`` excludes the bound.
        hint: what to do instead, appended to the message.
        error: the exception type (ConfigError, or InputError for data).
    """
    if not (is_real(value) and is_finite(value) and _within(value, low, high, low_open, high_open)):
        raise error(f"{name} must be a finite number{_bounds(low, high, low_open, high_open)}, got {shown(value)}"
                    + (f"; {hint}" if hint else ""))
    return float(value)


def integer(value, name, *, low=None, high=None, hint=None, error=ConfigError):
    """Return ``value`` as an int if it is an integer (not a bool) in [low, high], else raise."""
    if not (_is_int(value) and _within(value, low, high, False, False)):
        raise error(f"{name} must be an integer{_bounds(low, high, False, False)}, got {shown(value)}"
                    + (f"; {hint}" if hint else ""))
    return int(value)


def seed(value, name="seed", *, example=None):
    """Return ``value`` as an int seed >= 0, the form ``numpy.random.SeedSequence`` takes.

    ``example`` is the fix the message suggests (default ``name=0``).
    """
    return integer(value, name, low=0, hint=f"pass a seed like {example or f'{name}=0'}")


def generator(rng, name="rng"):
    """Return a numpy Generator from a Generator, a SeedSequence or an int seed >= 0.

    Raises:
        ConfigError: anything else (None, a float, a negative seed, a bool).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if not _is_int(rng):
        raise ConfigError(f"{name} must be a numpy Generator or an int seed, got {type(rng).__name__}; "
                          f"pass np.random.default_rng(seed) or a seed like {name}=0")
    return np.random.default_rng(seed(rng, f"{name} seed", example=f"{name}=0"))


def sizes(value, name="sizes", *, example="(784, 10)"):
    """Validate layer widths (n0, ..., nL); return them as a tuple of ints."""
    try:
        widths = tuple(value)
    except TypeError:
        raise ConfigError(f"{name} must be a sequence of widths like (784, 25, 10), got {value!r}") from None
    if len(widths) < 2:
        count = "1 entry" if len(widths) == 1 else f"{len(widths)} entries"
        raise ConfigError(f"{name} {widths} has {count}; give at least an input and an output width, "
                          f"e.g. {example}")
    for n in widths:
        if not _is_int(n) or n < 1:
            raise ConfigError(f"every width in {name} must be an int >= 1, got {shown(n)} in {shown(widths)}")
        if n > np.iinfo(np.intp).max:  # no array has that many columns; the memory check could not even say so
            raise ConfigError(f"every width in {name} must be at most {np.iinfo(np.intp).max:,}, got {shown(n)}; "
                              "use smaller widths")
    return tuple(int(n) for n in widths)


def check_l2(l2, name="l2"):
    """Return l2 as a float >= 0, or raise ConfigError."""
    return number(l2, name, low=0)


def dropout_rate(dropout, name="dropout"):
    """Return a dropout probability in [0, 1) as a float (0 turns dropout off)."""
    return number(dropout, name, low=0, high=1, high_open=True, hint="0 turns it off")
