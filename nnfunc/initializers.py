"""Parameter initialization: fan-scaled random weights, zero biases.

Every scheme draws W{l}: (n_{l-1}, n_l) from a distribution whose variance
is ``gain / fan``; biases start at zero. The randomness comes only from the
Generator (or seed) the caller passes.
"""

import numpy as np

from nnfunc import checks, memory
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


def _parse_scheme(scheme):
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    family, _, kind = scheme.partition("_")
    return _ALIASES.get(family, family), kind or "normal"


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
        ConfigError: bad sizes, unknown scheme, non-floating dtype, bad rng,
            or a network too big for this machine's memory.
    """
    sizes = checks.sizes(sizes)
    family, kind = _parse_scheme(scheme)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be float32 or float64, got {dtype}")
    gen = checks.generator(rng)
    count = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    # numpy would raise a bare MemoryError, or get the memory on credit (Linux overcommits) for the OOM killer
    memory.check(count * dtype.itemsize, f"sizes {sizes} hold {count:,} {dtype} parameters", "use smaller widths")
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
