"""Which kernels run the elementwise work: compiled (numba) or the NumPy reference.

The NumPy code in ``nnfunc.model``, ``nnfunc.losses``, ``nnfunc.activations``
and ``nnfunc.optim._kernels`` is the readable reference.
``nnfunc.kernels.compiled`` hands out the same arithmetic compiled with
numba (``layer_loops``, ``optimizer_loops``), each pass fused into one loop
(bias + activation, the activation derivative, softmax with its
cross-entropy gradient, every optimizer update with its finiteness check).
It runs the same float operations in the same order, so the results are
bit-identical, except softmax's exp and log, whose last bit may differ
(tests/test_kernels.py states and checks the bound).

The choice, first match wins:

1. ``with nnfunc.kernels.use("numpy"): ...`` (a context variable: it holds
   for this thread or task and is undone on exit);
2. the environment variable ``NNFUNC_KERNELS=numpy`` or ``=numba``, read
   when nnfunc is imported;
3. numba when it is installed (``pip install nnfunc[fast]``), else NumPy.

numba is imported, and each kernel compiled, only when first used; compiled
kernels are cached on disk (numba's ``cache=True``), so only the first run
after an install pays the compile time.
"""

import contextlib
import importlib.util
import os
from contextvars import ContextVar

from nnfunc.errors import ConfigError

BACKENDS = ("numba", "numpy")
ENV = "NNFUNC_KERNELS"
INSTALL = 'pip install "nnfunc[fast]" (or pip install numba)'

_chosen = ContextVar("nnfunc_kernels", default=None)
_ENV_VALUE = os.environ.get(ENV, "").strip().lower()  # read once: active() runs several times per call
_installed = None
_compiled = None  # the module, once imported


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
    try:
        yield name
    finally:
        _chosen.reset(token)


def fast():
    """The compiled kernels module when numba is active, else None (use the NumPy reference).

    Called once or more per public call, so the common case is two lookups.
    """
    global _compiled
    if active() != "numba":
        return None
    if _compiled is None:
        from nnfunc.kernels import compiled  # imports numba: only on first use

        _compiled = compiled
    return _compiled
