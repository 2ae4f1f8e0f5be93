"""Parameter initialization: fan-scaled random weights, zero biases.

Every scheme draws W{l}: (n_{l-1}, n_l) from a distribution whose variance
is ``gain / fan``; biases start at zero. The randomness comes only from the
Generator (or seed) the caller passes.
"""

import numbers

import numpy as np

from nnfunc.errors import ConfigError
from nnfunc.params import Params

# name -> (variance numerator, which fan); variance = gain / fan
_FAMILIES = {
    "he": (2.0, "in"),  # keeps ReLU activations' variance constant (He et al. 2015)
    "xavier": (1.0, "avg"),  # 1 / fan_avg = 2 / (fan_in + fan_out), Glorot & Bengio 2010
    "lecun": (1.0, "in"),  # LeCun 1998, for tanh/SELU-like units
}
_ALIASES = {"glorot": "xavier"}

SCHEMES = tuple(
    f"{family}{suffix}"
    for family in ("he", "xavier", "glorot", "lecun")
    for suffix in ("", "_normal", "_uniform")
)


def as_generator(rng):
    """Return a numpy Generator from a Generator or an int seed >= 0."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ConfigError(f"rng seed must be >= 0, got {rng}; pass a seed like 0")
        return np.random.default_rng(int(rng))
    raise ConfigError(
        f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}; "
        "pass np.random.default_rng(seed) or a seed like 0"
    )


def _parse_scheme(scheme):
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    family, _, kind = scheme.partition("_")
    return _ALIASES.get(family, family), kind or "normal"


def check_sizes(sizes):
    """Validate layer widths; return them as a tuple of ints."""
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ConfigError(f"sizes must be a sequence of widths like (784, 25, 10), got {sizes!r}") from None
    if len(sizes) < 2:
        raise ConfigError(
            f"sizes {sizes} has {len(sizes)} entries; give at least an input and an output width, "
            "e.g. (784, 10)"
        )
    for n in sizes:
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"every width in sizes must be an int >= 1, got {n!r} in {sizes}")
    return tuple(int(n) for n in sizes)


def init(sizes, rng, *, scheme="he", dtype=np.float32) -> Params:
    """Draw a fresh network.

    Args:
        sizes: widths (n0, n1, ..., nL), at least two entries, each >= 1.
        rng: numpy Generator or int seed (the only source of randomness).
        scheme: he, xavier, glorot or lecun, optionally with _normal
            (the default) or _uniform.
        dtype: floating dtype of every array (float32 or float64).

    Returns:
        Params: W{l}: (n_{l-1}, n_l) dtype, b{l}: (n_l,) dtype zeros.

    Raises:
        ConfigError: bad sizes, unknown scheme, non-floating dtype or bad rng.
    """
    sizes = check_sizes(sizes)
    family, kind = _parse_scheme(scheme)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be float32 or float64, got {dtype}")
    gen = as_generator(rng)
    gain, fan_kind = _FAMILIES[family]
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        fan = n_in if fan_kind == "in" else (n_in + n_out) / 2
        std = np.sqrt(gain / fan)
        if kind == "normal":
            W = gen.standard_normal((n_in, n_out), dtype=dtype)
            W *= dtype.type(std)
        else:
            # uniform on [-a, a] has variance a^2 / 3
            limit = dtype.type(np.sqrt(3.0) * std)
            W = gen.random((n_in, n_out), dtype=dtype)
            W *= 2 * limit
            W -= limit
        params[f"W{l}"] = W
        params[f"b{l}"] = np.zeros(n_out, dtype=dtype)
    return params
