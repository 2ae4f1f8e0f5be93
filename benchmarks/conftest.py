"""Shared set-up of the pytest-benchmark timings: BLAS report, networks, MNIST."""

import numpy as np
import pytest

import nnfunc as nf

SMALL, WIDE = (784, 25, 25, 10), (784, 512, 512, 10)


def pytest_configure(config):
    from nnfunc.allocator import keep_freed_memory

    keep_freed_memory()  # as the training CLI does


def pytest_report_header(config):
    from threadpoolctl import threadpool_info

    return "BLAS: " + "; ".join(
        f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')} threads {i['num_threads']}"
        for i in threadpool_info()
    )


def batch(sizes, m, seed=0):
    """Random float32 inputs (m, n0) and labels (m,) for a network of ``sizes``."""
    rng = np.random.default_rng(seed)
    return rng.random((m, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], m)


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST as uint8 (NNFUNC_DATA_DIR or the usual lookup)."""
    try:
        return nf.load_dataset("mnist", dtype=np.uint8, progress=False)
    except nf.DataError as exc:
        pytest.skip(f"MNIST not available: {exc}")
