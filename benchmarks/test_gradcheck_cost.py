"""What a gradient check costs per mode, on the seed network (params + x, batch 8)."""

import numpy as np
import pytest

import nnfunc as nf


@pytest.mark.parametrize("mode", ["full", "sample", "direction"])
@pytest.mark.parametrize("sizes", [(784, 25, 25, 10), (784, 128, 10)], ids=["784-25-25-10", "784-128-10"])
def test_gradcheck_mode(benchmark, sizes, mode):
    rng = np.random.default_rng(0)
    params = nf.init(sizes, 0, dtype=np.float64)
    x, y = rng.random((8, sizes[0])), rng.integers(0, sizes[-1], 8)
    report = benchmark.pedantic(nf.check_network, args=(params, x, y), kwargs=dict(mode=mode, l2=0.01, max_full=10**6),
                                rounds=1 if mode == "full" else 3, iterations=1)
    assert report.ok
