"""What every compiled loop shares: the numba decorator, the dtypes it compiles for, the fit check.

The loops run on one thread. Two threads halve a lone Adam pass, but in a
training step each pass follows a matmul whose OpenBLAS threads are still
spinning for work: a second pool then fights them for the two cores, and
the step got slower, not faster (``python benchmarks/kernel_threads.py``).
"""

import numba
import numba.np.arraymath  # noqa: F401  (see below)
import numpy as np

from nnfunc.kernels.compile_guard import guard

# The import above is what numba does on its first compile: it loads numba's
# array functions and, through SciPy when installed, a second OpenBLAS. Done
# here, it happens before the caller's arrays fill the memory; done at the
# first compile, under a memory limit (ulimit -v), that OpenBLAS (SciPy's
# 0.3.30) retried its failed 32 MB allocation forever instead of letting
# nnfunc report "out of memory".

# error_model="numpy": x / 0 gives inf as in NumPy, not ZeroDivisionError, and lets the loops vectorise
_njit = numba.njit(cache=True, error_model="numpy", nogil=True)


def jit(function):
    """numba's njit with nnfunc's settings; a compile holds Ctrl-C until it is done (``compile_guard``)."""
    return guard(_njit(function))

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# the smallest normal number of each, in its own type: below it a value is subnormal (nnfunc.subnormals)
TINY = {dtype: dtype.type(np.finfo(dtype).tiny) for dtype in FLOATS}


def fits(dtype, *arrays):
    """Whether ``dtype`` is a compiled float type and every array is of it, in C order."""
    if dtype not in FLOATS:
        return False
    for a in arrays:
        if a.dtype != dtype or not a.flags.c_contiguous:
            return False
    return True


# The rule of nnfunc.subnormals for one value, shared by the loops of
# layer_loops and optimizer_loops. numba's on-disk cache checks only the
# calling function's own file, so after editing these delete
# nnfunc/kernels/__pycache__/*.nb[ic], or the callers keep the old code.
@jit
def flushed(x, tiny):
    """x, or a zero of its sign when it is subnormal (``subnormals.flush``)."""
    # times a zero of x's own type: a literal 0 would make a float32 x a float64
    return x * (tiny - tiny) if abs(x) < tiny else x


@jit
def scaled(x, c, tiny):
    """x * c, with |x| < tiny / |c| taken as a zero of its sign first (``subnormals.scaled``)."""
    return (x * (tiny - tiny) if abs(x) < tiny / abs(c) else x) * c


@jit
def squared_scaled(x, c, tiny):
    """(x * x) * c, with |x| < sqrt(tiny / |c|) taken as a zero first (``subnormals.squared_scaled``)."""
    k = x * (tiny - tiny) if abs(x) < np.sqrt(tiny / abs(c)) else x
    return (k * k) * c
