"""The opt-in malloc setting is accepted by glibc (or reports that it could not be)."""

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_every_setting():
    # in a subprocess: the setting is process-wide and must not leak into the test run
    code = "from nnfunc.allocator import keep_freed_memory as k; print(k(), k(1 << 40))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]  # sizes above glibc's cap are clamped, not refused


def test_importing_nnfunc_does_not_change_malloc():
    code = "import sys, nnfunc; print('nnfunc.allocator' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
