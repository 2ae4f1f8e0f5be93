"""What every compiled loop shares: the numba decorator, the dtypes it compiles for, the fit check.

The loops run on one thread. Two threads halve a lone Adam pass, but in a
training step each pass follows a matmul whose OpenBLAS threads are still
spinning for work: a second pool then fights them for the two cores, and
the step got slower, not faster (``python benchmarks/kernel_threads.py``).
"""

import numba
import numpy as np

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
