"""An opt-in, process-wide malloc setting for long numeric runs (glibc only).

Each training step allocates and frees arrays of a few megabytes. glibc
serves those with fresh mmap pages and hands them back on free, so every
step pays page faults again: on this project's 2-core VM that cost 1.2 ms
of a 5.7 ms forward pass of 784-512-512-10 at batch 1000. Keeping freed
memory in the heap removes the cost. It changes the whole process, so
nothing in nnfunc calls this on import: the training CLI and the
benchmarks call it for the process they own.
"""

import ctypes

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc refuses larger values on 64-bit


def keep_freed_memory(nbytes=_MMAP_THRESHOLD_MAX):
    """Ask glibc malloc to keep freed blocks below ``nbytes`` for reuse.

    Args:
        nbytes: blocks smaller than this come from the heap (not mmap), and
            up to 4 * nbytes of free heap is kept instead of trimmed.

    Returns:
        True if every setting was accepted; False where there is no glibc
        mallopt (then nothing changed).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    nbytes = min(int(nbytes), _MMAP_THRESHOLD_MAX)
    settings = ((_M_MMAP_THRESHOLD, nbytes), (_M_TRIM_THRESHOLD, 4 * nbytes), (_M_TOP_PAD, nbytes))
    return all(mallopt(param, value) == 1 for param, value in settings)
