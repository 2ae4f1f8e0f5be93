"""Training step (value_and_grad + optimizer update) for the seed and a wide network.

    pytest benchmarks/test_step.py --benchmark-columns=median,ops
"""

import pytest

import nnfunc as nf
from nnfunc import activations
from nnfunc.training import _step

from benchmarks.conftest import SMALL, WIDE, batch

BATCHES = (32, 128, 256, 1024)


@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("sizes, opt_name", [(SMALL, "sgd"), (WIDE, "adam")], ids=["784-25-25-10-sgd", "784-512-512-10-adam"])
def test_train_step(benchmark, sizes, opt_name, m):
    x, y = batch(sizes, m)
    opt = nf.sgd(0.01) if opt_name == "sgd" else nf.adam(1e-3)
    acts = activations.resolve("relu", len(sizes) - 2)
    params = nf.init(sizes, 0)
    # the training loop's own path: in place on arrays it owns, buffers reused
    box, buffers = [params, opt.init(params)], _step.make_buffers(params)

    def step():
        box[0], box[1], _, _ = _step.step_in_place(box[0], box[1], x, y, opt, acts, 0.0, 0.0, None, buffers)

    benchmark.extra_info["samples_per_step"] = m
    benchmark(step)


@pytest.mark.parametrize("m", BATCHES)
@pytest.mark.parametrize("sizes, opt_name", [(SMALL, "sgd"), (WIDE, "adam")], ids=["784-25-25-10-sgd", "784-512-512-10-adam"])
def test_public_step(benchmark, sizes, opt_name, m):
    """The step users write (optax's idiom): value_and_grad, opt.update, apply_updates, every check included."""
    x, y = batch(sizes, m)
    opt = nf.sgd(0.01) if opt_name == "sgd" else nf.adam(1e-3)
    params = nf.init(sizes, 0)
    box = [params, opt.init(params)]

    def step():
        _, grads = nf.value_and_grad(box[0], x, y)
        updates, box[1] = opt.update(grads, box[1], box[0])
        box[0] = nf.apply_updates(box[0], updates)

    benchmark.extra_info["samples_per_step"] = m
    benchmark(step)


@pytest.mark.parametrize("sizes", [SMALL, WIDE], ids=["784-25-25-10", "784-512-512-10"])
def test_public_value_and_grad(benchmark, sizes):
    """The checked public entry point, to show what boundary validation costs."""
    x, y = batch(sizes, 128)
    params = nf.init(sizes, 0)
    benchmark(nf.value_and_grad, params, x, y)
