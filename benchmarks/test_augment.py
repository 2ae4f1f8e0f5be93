"""Distorting a training batch of 128 real digits, per kind, and the warp alone.

    pytest benchmarks/test_augment.py --benchmark-columns=median,ops

``python benchmarks/augment_speed.py`` puts these rates beside the
training step's samples/s in the same run.
"""

import numpy as np
import pytest

from nnfunc.data import augment as A

M = 128


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_train[:M].astype(np.float32) / np.float32(255)


@pytest.mark.parametrize("kind", ["affine", "elastic", "elastic+affine"])
def test_augment_batch(benchmark, digits, kind):
    spec, rng, out = A.for_kind(kind), np.random.default_rng(0), np.empty_like(digits)
    benchmark.extra_info["images_per_call"] = M
    benchmark(A.augment, digits, spec, rng, out)


def test_warp_only(benchmark, digits):
    w = A.draw(np.random.default_rng(0), M, 28, A.for_kind("elastic+affine"))
    out = np.empty_like(digits)
    benchmark.extra_info["images_per_call"] = M
    benchmark(A.warp, digits, w, out)
