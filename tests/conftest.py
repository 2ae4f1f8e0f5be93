"""Hypothesis profiles and shared fixtures.

Profiles: ``ci`` (derandomized, no deadline, no database; the README test
command selects it), ``dev`` (the default: random, fewer examples) and
``thorough`` (thousands of examples, for a long pre-release run).
"""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

# scikit-learn runs its array API check only when SciPy starts in array API
# mode, which must be chosen before SciPy loads. SciPy loads wherever numba
# does, so the whole suite (and its subprocesses) runs SciPy in that mode;
# nnfunc itself never calls SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

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

# The proofs of the math run on both kernel backends (nnfunc.kernels): the
# compiled one every other test uses, and the NumPy reference.
BOTH_KERNELS = {"test_model_properties", "test_optimizers", "test_nonfinite", "test_gradcheck", "test_augment"}


def pytest_generate_tests(metafunc):
    from nnfunc import kernels

    if metafunc.module.__name__.rpartition(".")[2] in BOTH_KERNELS and kernels.installed():
        metafunc.parametrize("kernel_backend", kernels.BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def kernel_backend(request):
    """The kernel backend a test runs on: the default, or each in turn for BOTH_KERNELS."""
    from nnfunc import kernels

    name = getattr(request, "param", None)
    if name is None:
        yield kernels.active()
        return
    with kernels.use(name):
        yield name


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


@pytest.fixture(scope="module")
def cli(tmp_path_factory, mnist_path):
    """run(command, *args): ``python -m nnfunc command`` in a private HOME and cache; returns CompletedProcess."""
    home = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "HOME": str(home / "home"), "XDG_CACHE_HOME": str(home / "cache"),
           "MPLCONFIGDIR": str(home / "mpl"), "NNFUNC_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
    env.pop("NNFUNC_DATA_DIR", None)

    def command(name, args, data):
        cmd = [sys.executable, "-m", "nnfunc", name, *map(str, args)]
        return cmd + (["--data-dir", str(mnist_path)] if data else [])

    def run(name, *args, data=True, argv=None):
        return subprocess.run(argv or command(name, args, data), capture_output=True, text=True, env=env,
                              cwd=home, timeout=300)

    def popen(name, *args, data=True):
        return subprocess.Popen(command(name, args, data), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=home)

    return SimpleNamespace(run=run, popen=popen, home=home, mnist=mnist_path, env=env)
