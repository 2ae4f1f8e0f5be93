"""The exception types nnfunc raises: one per kind of bad input.

Each is a ``ValueError`` subclass (or ``RuntimeError`` for a run that goes
wrong) so callers can catch broadly or precisely; every message names the
problem and says how to fix it. ``shown`` keeps a value read from a file
from turning a message into a page.
"""

import math

SHOWN_CHARS = 80


def shown(value, limit=SHOWN_CHARS, *, quote=True):
    """``repr(value)`` for a message, cut to about ``limit`` characters (a damaged file may hold megabytes).

    ``quote=False`` shows a string as itself, for one that reads as a word of the message.

    An int beyond a float's range is described by its length: Python
    refuses to print one of more than 4300 digits, and 400 are no help anyway.
    """
    if isinstance(value, int) and value.bit_length() > 1024:
        return f"an int of {math.floor(math.log10(abs(value))) + 1} digits"
    try:
        text = value if isinstance(value, str) and not quote else repr(value)
    except ValueError:  # a Fraction or a container holding such an int
        return f"a {type(value).__name__} too large to print"
    return text if len(text) <= limit else f"{text[: limit - 20]}...{text[-12:]} ({len(text):,} characters)"


class NnfuncError(Exception):
    """Base class of every error nnfunc raises on purpose."""


class InputError(NnfuncError, ValueError):
    """Bad user data: x or y of the wrong shape, type, range, or with NaN/inf."""


class ConfigError(NnfuncError, ValueError):
    """A bad setting: unknown activation/scheme/optimizer name, bad sizes, lr < 0."""


class ParamsError(NnfuncError, ValueError):
    """A params dict with missing keys, inconsistent shapes or mixed dtypes."""


class DataError(NnfuncError, ValueError):
    """A dataset file that is corrupt, truncated, or fails its checksum."""


class DataNotFoundError(DataError):
    """No source (directory, cache, mirror) could provide a dataset."""


class CheckpointError(NnfuncError, ValueError):
    """A checkpoint that is corrupt, pickled, or from another architecture."""


class DivergenceError(NnfuncError, RuntimeError):
    """Training produced a non-finite loss."""


class GradientMismatchError(NnfuncError, AssertionError):
    """Analytic and numerical gradients disagree (raised by assert helpers)."""
