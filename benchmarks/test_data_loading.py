"""Loading MNIST from the IDX files: cold (verify + parse) and cached."""

import numpy as np
import pytest

import nnfunc as nf


@pytest.fixture
def source(tmp_path):
    from tests.conftest import mnist_dir

    path = mnist_dir()
    if path is None:
        pytest.skip("real MNIST files not found: set NNFUNC_DATA_DIR")
    return path


def test_load_cold(benchmark, source, tmp_path, monkeypatch):
    counter = iter(range(10**6))

    def cold():
        # a fresh, empty user cache every round: hash, gunzip and parse all four files
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"cache{next(counter)}"))
        return nf.load_dataset("mnist", data_dir=source, dtype=np.uint8, progress=False)

    benchmark.pedantic(cold, rounds=3, iterations=1)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_load_cached(benchmark, source, tmp_path, monkeypatch, dtype):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    nf.load_dataset("mnist", data_dir=source, progress=False)
    benchmark(nf.load_dataset, "mnist", data_dir=source, dtype=dtype, progress=False)
