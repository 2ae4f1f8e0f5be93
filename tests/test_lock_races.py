"""Two races on a directory's lock, each replayed with real processes and a real ``flock``.

1. A lock holder that deletes its lock file (``runlog.own`` after a run
   that failed before writing anything) while another process waits for
   it: the waiter wakes holding the deleted file, so without a re-check a
   third process could take the directory beside it.
2. Two sweeps with different settings on one ``--out``: the recorded spec
   must be compared under the lock, or the second continues the first's
   study with another search space.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nnfunc import fileio
from tests.helpers import needs_sweep_extra

REPO = Path(__file__).resolve().parent.parent


def python(code, *args, **kwargs):
    """A Python subprocess running ``code`` (stdin and stdout are pipes, for a test to step it)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, **kwargs)


def waiting_for_a_lock(pid):
    """Whether process ``pid`` is blocked in flock (a "->" line of /proc/locks names the waiters)."""
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in line and line.split()[5] == str(pid) for line in lines if len(line.split()) > 5)


def step(proc, expected):
    """Read ``proc``'s next line and check it is ``expected``."""
    line = proc.stdout.readline().strip()
    assert line == expected, (line, proc.stderr.read() if proc.poll() is not None else "")


HOLD_THEN_FAIL = """
    import sys
    from nnfunc.training import runlog
    try:
        with runlog.own(sys.argv[1]):
            print("held", flush=True)
            sys.stdin.readline()
            raise RuntimeError("a run refused before it wrote a file")
    except RuntimeError:
        print("gone", flush=True)
"""

WAIT_THEN_HOLD = """
    import sys
    from nnfunc import fileio
    with fileio.directory_lock(sys.argv[1], wait=True) as (held, fd):
        print("held" if held else "free", flush=True)
        sys.stdin.readline()
"""


def test_a_waiter_on_a_deleted_lock_file_still_excludes_others(tmp_path):
    run = tmp_path / "run"
    first = python(HOLD_THEN_FAIL, run)
    second = None
    try:
        step(first, "held")
        second = python(WAIT_THEN_HOLD, run)
        deadline = time.monotonic() + 60
        while not waiting_for_a_lock(second.pid):
            assert second.poll() is None and time.monotonic() < deadline, second.stderr.read()
            time.sleep(0.05)
        first.stdin.write("\n")
        first.stdin.flush()
        step(first, "gone")  # it deleted the lock file (and the empty directory) it held
        step(second, "held")
        # the directory is the waiter's now: nobody else may take it
        with fileio.directory_lock(run) as (held, _):
            assert not held, "two processes hold one directory"
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.kill()
                proc.communicate()


# Another sweep's command (another search space) that records its spec and study, then stops at the cluster
OTHER_SWEEP = """
    import sys
    from nnfunc.cli import sweep
    from nnfunc.sweep import engine

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    engine.connect = stop
    sys.exit(sweep.main(sys.argv[1:]))
"""

# A sweep whose rival takes the directory just before it does: between its first look and its lock
RACED_SWEEP = """
    import subprocess, sys
    from nnfunc.cli import sweep
    from nnfunc.sweep import engine
    from nnfunc.training import runlog

    out, other, tiny = sys.argv[1], sys.argv[2], sys.argv[3:]
    real_own = runlog.own

    def raced_own(directory):
        subprocess.run([sys.executable, "-c", other, "--search", "lr=1e-4..1e-3:log", "--out", out, "--", *tiny])
        return real_own(directory)

    def went_on(*args, **kwargs):
        raise SystemExit("the sweep went on with the other sweep's study")

    runlog.own, engine.connect = raced_own, went_on
    sys.exit(sweep.main(["--search", "lr=1e-3..3e-2:log", "--out", out, "--", *tiny]))
"""
TINY = ["--epochs", "1", "--train-size", "500", "--val-size", "100", "--test-size", "100", "--hidden", "8"]


@pytest.mark.slow
@needs_sweep_extra
def test_a_sweep_that_loses_the_race_for_its_directory_is_refused(tmp_path, mnist_path):
    out = tmp_path / "sweep"
    env = {**os.environ, "HOME": str(tmp_path / "home"), "NNFUNC_DATA_DIR": str(mnist_path), "NNFUNC_OFFLINE": "1",
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    proc = python(RACED_SWEEP, out, textwrap.dedent(OTHER_SWEEP), *TINY, env=env)
    stdout, stderr = proc.communicate(timeout=300)
    assert (out / "study.db").exists(), "the other sweep never started: " + stdout + stderr
    search = json.loads((out / "sweep.json").read_text())["search"]
    assert "1e-04" in json.dumps(search) or "0.0001" in json.dumps(search), search  # the other sweep's own
    assert proc.returncode == 2, stdout + stderr
    assert "is a sweep with other settings" in stderr and "Traceback" not in stderr
