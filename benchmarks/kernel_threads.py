"""Why nnfunc's compiled kernels run on one thread: a second thread pool fights OpenBLAS's.

    python benchmarks/kernel_threads.py

Times the fused Adam loop of ``nnfunc.kernels.optimizer_loops`` over a
784-512-512-10 network's parameters alone and right after a batch-128 sgemm
(as in a training step), compiled serial and with numba's ``prange`` on 2
threads. Alone, two threads win; after the sgemm, OpenBLAS's worker is
still spinning for work on the second core and the two pools fight, so the
pair costs several times more. Prints the BLAS kernel and thread counts.
"""

import time

import numba
import numpy as np
from threadpoolctl import threadpool_info

from nnfunc.kernels._numba import TINY, flushed, scaled, squared_scaled
from nnfunc.kernels.optimizer_loops import _adam_apply

SIZES = (784, 512, 512, 10)
BATCH = 128


@numba.njit(parallel=True, error_model="numpy")
def adam_parallel(g, p, m, v, b1, one_b1, b2, one_b2, eps_root, scale, tiny):
    # _adam_apply's arithmetic (subnormal guards included), spread over numba's threads
    for i in numba.prange(g.size):
        gi = g[i]
        mi = flushed(m[i] * b1 + scaled(gi, one_b1, tiny), tiny)
        vi = flushed(v[i] * b2 + squared_scaled(gi, one_b2, tiny), tiny)
        m[i] = mi
        v[i] = vi
        p[i] = flushed(p[i] + mi / (np.sqrt(vi) + eps_root) * scale, tiny)


def best_of(fn, n=200, reps=7):
    """Fastest mean over ``reps`` runs of ``n`` calls, in microseconds (the machine is noisy)."""
    for _ in range(10):
        fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def main():
    rng = np.random.default_rng(0)
    n = sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    g, p, m = (rng.standard_normal(n).astype(np.float32) * np.float32(1e-3) for _ in range(3))
    v = np.abs(rng.standard_normal(n).astype(np.float32)) * np.float32(1e-6)
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    W = rng.random((SIZES[0], SIZES[1]), dtype=np.float32)
    f = np.float32
    consts = (f(0.9), f(0.1), f(0.999), f(0.001), f(1e-8), f(-1e-3))

    tiny = TINY[np.dtype(np.float32)]

    def serial():
        _adam_apply(g, p, m, v, *consts, f(0), f(-1e-3), False, tiny)

    def parallel():
        adam_parallel(g, p, m, v, *consts, tiny)

    blas = "; ".join(f"{i['internal_api']} kernel {i.get('architecture')} threads {i['num_threads']}"
                     for i in threadpool_info())
    parallel()  # compile, and start numba's pool so that its threading layer is known
    print(f"BLAS: {blas}; numba {numba.__version__}, threading layer {numba.threading_layer()}, "
          f"{numba.config.NUMBA_NUM_THREADS} threads; Adam over {n:,} float32 params")
    sgemm = best_of(lambda: x @ W)
    print(f"sgemm ({BATCH}x{SIZES[0]} @ {SIZES[0]}x{SIZES[1]}) alone: {sgemm:,.0f} us")
    for name, kernel in (("serial", serial), ("2-thread prange", parallel)):
        alone = best_of(kernel)
        after = best_of(lambda: (x @ W, kernel())) - sgemm
        print(f"Adam {name}: alone {alone:,.0f} us, right after the sgemm {after:,.0f} us")


if __name__ == "__main__":
    main()
