"""The opt-in malloc setting really stops page faults on reallocation (glibc only)."""

import platform
import subprocess
import sys

import pytest

FAULTS = """
import resource, sys
import numpy as np
import nnfunc as nf
from nnfunc.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
params = nf.init((784, 512, 512, 10), 0)
x = np.random.default_rng(0).random((1000, 784), dtype=np.float32)
nf.forward(params, x)  # warm up
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    nf.forward(params, x)  # 2 MB activations per layer, freed after each pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode):
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_arrays_are_reused_instead_of_faulted_in_again():
    # each run in its own process: the setting is process-wide and must not leak into the test run
    default, kept = page_faults("default"), page_faults("keep")
    assert default > 20 * 100  # glibc's default: freed activations go back to the OS and fault in again
    assert kept < default / 10


def test_importing_nnfunc_does_not_change_malloc():
    code = "import sys, nnfunc; print('nnfunc.allocator' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
