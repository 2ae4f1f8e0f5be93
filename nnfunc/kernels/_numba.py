"""What every compiled loop shares: the numba decorator, the dtypes it compiles for, the fit check.

The loops run on one thread. Two threads halve a lone Adam pass, but in a
training step each pass follows a matmul whose OpenBLAS threads are still
spinning for work: a second pool then fights them for the two cores, and
the step got slower, not faster (``python benchmarks/kernel_threads.py``).
"""

import numba
import numba.np.arraymath  # noqa: F401  (see below)
import numpy as np

# The import above is what numba does on its first compile: it loads numba's
# array functions and, through SciPy when installed, a second OpenBLAS. Done
# here, it happens before the caller's arrays fill the memory; done at the
# first compile, under a memory limit (ulimit -v), that OpenBLAS (SciPy's
# 0.3.30) retried its failed 32 MB allocation forever instead of letting
# nnfunc report "out of memory".

# error_model="numpy": x / 0 gives inf as in NumPy, not ZeroDivisionError, and lets the loops vectorise
jit = numba.njit(cache=True, error_model="numpy", nogil=True)

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def fits(dtype, *arrays):
    """Whether ``dtype`` is a compiled float type and every array is of it, in C order."""
    if dtype not in FLOATS:
        return False
    for a in arrays:
        if a.dtype != dtype or not a.flags.c_contiguous:
            return False
    return True
