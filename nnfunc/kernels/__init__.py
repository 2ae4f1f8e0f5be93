"""Which backend runs the elementwise passes: the NumPy reference or the numba-compiled loops.

``backend()`` returns the backend in force, a namespace of functions with
the same names in both: ``nnfunc.kernels.reference`` (NumPy, the readable
reference) or ``nnfunc.kernels.compiled`` (numba; ``layer_loops``,
``optimizer_loops``, ``image_loops``), each pass fused into one loop (bias +
activation, the activation derivative, softmax with its cross-entropy
gradient, every optimizer update with its finiteness check, the image
warp). A call site asks once and calls: every function of either backend
computes its result. The compiled loops run the same float operations in
the same order, so the results are bit-identical, except softmax's row sum
and log, whose last bits may differ (tests/test_kernels.py states and
checks the bound).

The choice, first match wins:

1. ``with nnfunc.kernels.use("numpy"): ...`` (a context variable: it holds
   for this thread or task and is undone on exit);
2. the environment variable ``NNFUNC_KERNELS=numpy`` or ``=numba``, read
   when nnfunc is imported;
3. numba when it is installed (``pip install nnfunc[fast]``), else NumPy.

When the compiled loop does not fit the arrays (a dtype other than float32
and float64, mixed dtypes, an array not in C order), the numba backend runs
the NumPy reference instead, with the same result, and counts it by reason
(``fallbacks()``). If numba was asked for explicitly (1 or 2 above), it
also warns, a ``KernelFallbackWarning`` naming the pass, the dtype or
layout and the fix, once per reason in each ``use`` block (once per
process under the environment variable). Chosen by default (3), it stays
silent. Passes the compiled backend leaves to NumPy by design (sigmoid and
tanh, whose tanh NumPy keeps exact; a single column's sum, which NumPy adds
pairwise) are not fallbacks.

numba is imported, and each kernel compiled, only when first used; compiled
kernels are cached on disk (numba's ``cache=True``), so only the first run
after an install pays the compile time. ``describe()`` says what computes.
"""

import collections
import contextlib
import importlib.metadata
import importlib.util
import os
import warnings
from contextvars import ContextVar

from nnfunc.errors import ConfigError

BACKENDS = ("numba", "numpy")
ENV = "NNFUNC_KERNELS"
INSTALL = 'pip install "nnfunc[fast]" (or pip install numba)'

_chosen = ContextVar("nnfunc_kernels", default=None)
_warned = ContextVar("nnfunc_kernels_warned", default=None)  # reasons warned about in this use() block
_ENV_VALUE = os.environ.get(ENV, "").strip().lower()  # read once: active() runs several times per call
_ENV_WARNED = set()  # reasons warned about under NNFUNC_KERNELS=numba, once per process
_fallbacks = collections.Counter()
_installed = None
_backends = {}  # name -> module, once imported


class KernelFallbackWarning(UserWarning):
    """numba was asked for, but a compiled loop did not fit the arrays: the NumPy reference ran instead."""


def installed():
    """Whether numba can be imported (looked up once, without importing it)."""
    global _installed
    if _installed is None:
        _installed = importlib.util.find_spec("numba") is not None
    return _installed


def _check(name, source):
    if name not in BACKENDS:
        raise ConfigError(f"{source} must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "numba" and not installed():
        raise ConfigError(f"{source} asks for the numba kernels, but numba is not installed: {INSTALL}, "
                          "or choose numpy")
    return name


def active():
    """The backend in force here: "numba" or "numpy".

    Raises:
        ConfigError: ``NNFUNC_KERNELS`` names no backend, or numba is asked
            for and not installed.
    """
    name = _chosen.get()
    if name is not None:
        return name
    if _ENV_VALUE:
        return _check(_ENV_VALUE, f"the environment variable {ENV}")
    return "numba" if installed() else "numpy"


@contextlib.contextmanager
def use(name):
    """Run the enclosed code with the "numba" or "numpy" kernels.

    Raises:
        ConfigError: an unknown name, or "numba" without numba installed.
    """
    token = _chosen.set(_check(name, "kernels"))
    warned = _warned.set(set())
    try:
        yield name
    finally:
        _warned.reset(warned)
        _chosen.reset(token)


def backend():
    """The backend in force: a namespace of the passes, ``reference`` (NumPy) or ``compiled`` (numba).

    Called once or more per public call, so the common case is two lookups.
    """
    name = active()
    module = _backends.get(name)
    if module is None:
        if name == "numba":
            from nnfunc.kernels import compiled as module  # imports numba: only on first use
        else:
            from nnfunc.kernels import reference as module
        _backends[name] = module
    return module


def _explicit():
    """Whether numba was asked for by name (``use`` or the environment variable), not merely installed."""
    name = _chosen.get()
    return name == "numba" if name is not None else _ENV_VALUE == "numba"


def fell_back(what, why, fix):
    """Count a compiled pass that ran the NumPy reference instead; warn when numba was asked for by name.

    Args:
        what: the pass, e.g. "softmax"; why: the arrays' dtype or layout,
            e.g. "float16 arrays"; fix: what makes the compiled loop fit.
    """
    reason = f"{what}: {why}"
    _fallbacks[reason] += 1
    if not _explicit():
        return
    seen = _warned.get()
    seen = _ENV_WARNED if seen is None else seen
    if reason not in seen:
        seen.add(reason)
        warnings.warn(f"the numba kernels were asked for, but {what} got {why}, which its compiled loop does not "
                      f"take, so the NumPy reference ran (same result, slower); {fix}",
                      KernelFallbackWarning, stacklevel=4)


def fallbacks():
    """How often each compiled pass ran the NumPy reference instead, in this process: {"pass: reason": count}."""
    return dict(_fallbacks)


def describe():
    """What computes here, for a run's record: {"backend", "numba", "fallbacks"}.

    "numba" is numba's version when the numba backend is in force, else None;
    "fallbacks" is ``fallbacks()``.
    """
    name = active()
    version = importlib.metadata.version("numba") if name == "numba" else None
    return {"backend": name, "numba": version, "fallbacks": fallbacks()}
