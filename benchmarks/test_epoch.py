"""One full epoch of real MNIST (60k) through the real training loop, batching included."""

import numpy as np
import pytest

import nnfunc as nf
from nnfunc.training import loop as fit

from benchmarks.conftest import SMALL, WIDE


@pytest.mark.parametrize("sizes, opt_name, m", [(SMALL, "adam", 64), (SMALL, "sgd", 128), (WIDE, "adam", 128)],
                         ids=["784-25-25-10-adam-b64", "784-25-25-10-sgd-b128", "784-512-512-10-adam-b128"])
def test_epoch(benchmark, mnist, sizes, opt_name, m):
    opt = nf.sgd(0.05) if opt_name == "sgd" else nf.adam(1e-3)
    data = fit.TrainData(mnist.x_train, mnist.y_train, mnist.x_train[:0], mnist.y_train[:0])
    state = fit.start_fit(nf.init(sizes, 0), opt, 0)
    config = fit.FitConfig(epochs=1, batch_size=m)
    result = benchmark.pedantic(fit.fit, args=(state, opt, data, config), rounds=3, iterations=1)
    assert result.epoch == 1 and np.isfinite(result.history[0]["train_loss"])
