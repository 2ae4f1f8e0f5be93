"""Forward-only inference on a batch of 1000: nf.forward (what compare_torch.py times), predict_proba, predict."""

import pytest

import nnfunc as nf
from nnfunc.evaluation import predict_proba

from benchmarks.conftest import SMALL, WIDE, batch


@pytest.mark.parametrize("sizes", [SMALL, WIDE], ids=["784-25-25-10", "784-512-512-10"])
def test_nf_forward_1000(benchmark, sizes):
    x, _ = batch(sizes, 1000)
    params = nf.init(sizes, 0)
    benchmark(nf.forward, params, x)


@pytest.mark.parametrize("sizes", [SMALL, WIDE], ids=["784-25-25-10", "784-512-512-10"])
def test_forward_1000(benchmark, sizes):
    x, _ = batch(sizes, 1000)
    params = nf.init(sizes, 0)
    benchmark(predict_proba, params, x, chunk=1000)


@pytest.mark.parametrize("sizes", [SMALL, WIDE], ids=["784-25-25-10", "784-512-512-10"])
def test_predict_1000(benchmark, sizes):
    x, _ = batch(sizes, 1000)
    params = nf.init(sizes, 0)
    benchmark(nf.predict, params, x)
