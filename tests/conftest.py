"""Hypothesis profiles and shared fixtures.

Profiles: ``ci`` (derandomized, no deadline, no database; the README test
command selects it), ``dev`` (the default: random, fewer examples) and
``thorough`` (thousands of examples, for a long pre-release run).
"""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def numpy_errors_raise():
    """Loose numerics are errors: an overflow, 0/0 or a divide by zero fails where it happens.

    Library code that expects one (a diverging run) says so with its own
    ``np.errstate``. Underflow is left alone: tiny numbers rounding to 0 is
    what softmax of far-apart logits and numpy's own ``isclose`` are meant to do.
    """
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield


def mnist_dir():
    """The directory holding the real MNIST IDX files, or None."""
    candidates = [os.environ.get("NNFUNC_DATA_DIR"), REPO.parent / "shared" / "datasets" / "mnist"]
    for c in candidates:
        if c and (Path(c) / "train-images-idx3-ubyte.gz").exists():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def mnist_path():
    """Path of the real MNIST files; skips the test when they are absent."""
    path = mnist_dir()
    if path is None:
        pytest.skip("real MNIST files not found: set NNFUNC_DATA_DIR")
    return path
