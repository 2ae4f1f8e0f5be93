"""``nnfunc sweep`` end to end: real Dask clusters of two worker processes on 127.0.0.1, tiny real-MNIST trials.

Each test runs the command as a user would (a subprocess, its own HOME),
and the kills are real signals: the whole sweep's process group, or one
worker process in the middle of a trial.
"""

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.helpers import needs_sweep_extra

pytestmark = [pytest.mark.slow, needs_sweep_extra]

TINY = ["--epochs", "2", "--train-size", "3000", "--val-size", "500", "--test-size", "500", "--hidden", "16"]
SPACE = ["--search", "lr=1e-3..3e-2:log", "--search", "batch_size=32|64"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, mnist_path):
    """run(*args) / popen(*args): ``python -m nnfunc sweep ARGS`` with a private HOME; the data from the env."""
    home = tmp_path_factory.mktemp("sweep")
    (home / "tmp").mkdir()
    # TMPDIR: where the workers' scratch directories go, so a test can see what is left there
    env = {**os.environ, "HOME": str(home / "home"), "XDG_CACHE_HOME": str(home / "cache"),
           "MPLCONFIGDIR": str(home / "mpl"), "NNFUNC_OFFLINE": "1", "NNFUNC_DATA_DIR": str(mnist_path),
           "PYTHONIOENCODING": "utf-8", "TMPDIR": str(home / "tmp")}

    def command(args):
        return [sys.executable, "-m", "nnfunc", "sweep", *map(str, args)]

    def run(*args, timeout=300):
        return subprocess.run(command(args), capture_output=True, text=True, env=env, cwd=home, timeout=timeout)

    def popen(*args):
        # a session of its own, so a test can kill the sweep with everything it started
        return subprocess.Popen(command(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=home, start_new_session=True)

    def train(*args, threads="1"):
        # the sweep's workers run with one BLAS thread: so does the reproduction
        return subprocess.run([sys.executable, "-m", "nnfunc.train", *map(str, args)], capture_output=True,
                              text=True, env={**env, "OPENBLAS_NUM_THREADS": threads}, cwd=home, timeout=300)

    return SimpleNamespace(run=run, popen=popen, train=train, home=home, env=env, tmp=home / "tmp")


def table(out):
    with open(Path(out) / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k != "meta"}


def epochs_without_seconds(run_dir):
    record = json.loads((Path(run_dir) / "metrics.json").read_text())
    return [{k: v for k, v in e.items() if k != "seconds"} for e in record["epochs"]], record["test"]


def wait_for_line(proc, pattern, lines, timeout=240):
    """Read the sweep's output until a line matches ``pattern``; return the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(lines)}")


@pytest.fixture(scope="module")
def finished(sweep):
    out = sweep.home / "finished"
    result = sweep.run(*SPACE, "--trials", 6, "--workers", 2, "--out", out, "--", *TINY)
    assert result.returncode == 0, result.stdout + result.stderr
    return SimpleNamespace(out=out, result=result, rows=table(out))


def test_the_sweep_runs_every_trial_on_both_workers(finished):
    rows = finished.rows
    assert [r["trial"] for r in rows] == [str(i) for i in range(6)]
    assert {r["state"] for r in rows} == {"complete"}
    assert len({r["worker"] for r in rows}) == 2  # two worker processes shared the trials
    assert "on a local cluster of 2 workers" in finished.result.stdout
    for r in rows:
        assert 1e-3 <= float(r["lr"]) <= 3e-2 and r["batch_size"] in ("32", "64")
        assert 0 < float(r["val_accuracy"]) <= 1 and r["epochs"] == "2"


def test_each_trial_is_a_run_directory_of_its_settings(finished, sweep):
    for r in finished.rows:
        run = finished.out / r["run_dir"]
        config = json.loads((run / "config.json").read_text())
        assert config["lr"] == float(r["lr"]) and config["batch_size"] == int(r["batch_size"])
        assert config["epochs"] == 2 and config["hidden"] == "16" and config["train_size"] == 3000
        epochs, test = epochs_without_seconds(run)
        assert min(e["val_loss"] for e in epochs) == float(r["val_loss"])
        assert test["accuracy"] == float(r["test_accuracy"])
        assert (run / "model.npz").is_file() and "epoch   2/2" in (run / "train.log").read_text()
    # every command works on it: evaluate reads the trial's model and data
    best = finished.out / finished.rows[0]["run_dir"]
    result = subprocess.run([sys.executable, "-m", "nnfunc", "evaluate", str(best)], capture_output=True, text=True,
                            env=sweep.env, cwd=sweep.home, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{100 * float(finished.rows[0]['test_accuracy']):.2f}%" in result.stdout


def test_the_best_trial_is_reproduced_bit_for_bit_from_its_command(finished, sweep):
    text = (finished.out / "best.txt").read_text().splitlines()
    best = min((r for r in finished.rows if r["state"] == "complete"), key=lambda r: float(r["val_loss"]))
    kernels = json.loads((finished.out / best["run_dir"] / "config.json").read_text())["computed_by"]["kernels"]
    # the line pins the BLAS threads and the kernels the trial ran with
    assert text[0].startswith(f"# trial {best['trial']}:")
    assert text[1] == f"OPENBLAS_NUM_THREADS=1 NNFUNC_KERNELS={kernels} {best['command']}"
    argv = text[1].split()[2:]
    assert argv[:3] == ["python", "-m", "nnfunc.train"]
    again = sweep.home / "again"
    result = sweep.train(*argv[3:], "--out", again, "--no-plots")
    assert result.returncode == 0, result.stderr
    original = finished.out / best["run_dir"]
    assert epochs_without_seconds(again) == epochs_without_seconds(original)
    a, b = npz_arrays(again / "model.npz"), npz_arrays(original / "model.npz")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


def test_the_results_hold_every_trial_and_the_plots(finished):
    record = json.loads((finished.out / "trials.json").read_text())
    assert record["search"] == {"batch_size": {"choices": [32, 64]}, "lr": {"low": 1e-3, "high": 3e-2, "log": True}}
    assert [t["trial"] for t in record["trials"]] == list(range(6))
    for t in record["trials"]:
        assert [p[1] for p in t["curve"]] == [1, 2]  # one report per epoch, in order
        kept = min(t["curve"], key=lambda p: p[2])  # [time, epoch, val loss, val accuracy]
        assert (kept[2], kept[3]) == (t["val_loss"], t["val_accuracy"])
    for name in ("progress.png", "params.png"):
        data = (finished.out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000
    spec = json.loads((finished.out / "sweep.json").read_text())
    assert (spec["train"], spec["sampler"], spec["pruner"], spec["prune_after"]) == (TINY, "tpe", "median", 2)


def test_running_a_finished_sweep_again_changes_nothing(finished, sweep):
    before = {p: p.stat().st_mtime_ns for p in (finished.out / "trials").rglob("*")}
    result = sweep.run(*SPACE, "--trials", 6, "--workers", 2, "--out", finished.out, "--", *TINY)
    assert result.returncode == 0, result.stderr
    assert "already has 6 trials" in result.stdout and "started" not in result.stdout
    assert {p: p.stat().st_mtime_ns for p in (finished.out / "trials").rglob("*")} == before


def test_a_sweep_with_other_settings_is_not_continued(finished, sweep):
    result = sweep.run("--search", "lr=1e-4..1e-2:log", "--trials", 8, "--out", finished.out, "--", *TINY)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is a sweep with other settings: its search is" in result.stderr and "another --out" in result.stderr


@pytest.mark.parametrize("args, words", [
    (["--search", "lr=0..1:log", "--", *TINY], ["log range needs a low end above 0"]),
    (["--search", "dropout=0..2", "--", *TINY], ["dropout=2", "--dropout"]),
    (["--search", "lr=1e-3..1e-2", "--", *TINY, "--val-size", "0"], ["--val-size above 0"]),
    (["--search", "seed=0|1", "--", *TINY], ["--seed cannot be searched"]),
    (["--", *TINY], ["search space is empty"]),
    (["--search", "lr=1e-3..1e-2", "--trials", "0", "--", *TINY], ["--trials must be"]),
    (["--search", "lr=1e-3..1e-2", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1", "--", *TINY],
     ["--workers sizes the local cluster"]),
    (["--search", "lr=1e-3..1e-2", "--", *TINY[:2], "--train-size", "70000"], ["--train-size 70000 is more than the "
                                                                                  "60000 examples"]),
    (["--search", "lr=1e-3..1e-2", "--", *TINY[:2], "--train-size", "3000", "--val-size", "3000"],
     ["--val-size 3000 must be below --train-size 3000"]),
    (["--space", "missing.toml"], ["cannot read the search space file"]),
])
def test_a_bad_search_space_is_refused_before_anything_starts(sweep, args, words):
    out = sweep.home / "refused"
    result = sweep.run("--out", out, *args, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert not out.exists() and "started" not in result.stdout


def test_a_second_sweep_on_a_running_sweeps_directory_is_refused(sweep):
    out = sweep.home / "busy"
    args = [*SPACE, "--trials", 4, "--workers", 2, "--out", out, "--", *TINY[2:-2], "--hidden", "128", "--epochs", 4]
    proc = sweep.popen(*args)
    lines = []
    try:
        wait_for_line(proc, r"^trial \d+ started", lines)
        second = sweep.run(*args)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert second.returncode == 2 and "Traceback" not in second.stderr, second.stdout + second.stderr
    assert f"{out} is in use by pid {proc.pid}" in second.stderr
    assert "started" not in second.stdout


def test_a_damaged_sweep_record_is_named_with_the_fix(sweep, tmp_path):
    out = tmp_path / "damaged"
    out.mkdir()
    (out / "sweep.json").write_text('{"search": {')
    result = sweep.run(*SPACE, "--out", out, "--", *TINY)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert f"{out / 'sweep.json'} is damaged" in result.stderr and "another --out" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["sweep.json"]


def test_a_directory_that_is_not_a_sweep_is_refused(sweep, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = sweep.run(*SPACE, "--out", tmp_path, "--", *TINY)
    assert result.returncode == 2 and "holds files but no sweep.json" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_hopeless_trials_are_stopped_after_their_first_epoch(sweep):
    """One worker runs the trials in order, so the first four finish before any is judged (median pruner)."""
    out = sweep.home / "pruned"
    result = sweep.run("--search", "lr=1e-7|1e-2", "--sampler", "random", "--seed", 3, "--trials", 9,
                       "--workers", 1, "--prune-after", 1, "--out", out, "--", *TINY[2:], "--epochs", 3)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table(out)
    lrs = [float(r["lr"]) for r in rows]
    # the precondition: most of the first four trials learn, and a hopeless one comes later
    assert lrs[:4].count(1e-2) >= 2 and 1e-7 in lrs[4:], lrs
    for r in rows[4:]:
        epochs, test = epochs_without_seconds(out / r["run_dir"])
        if float(r["lr"]) == 1e-7:
            assert r["state"] == "pruned" and len(epochs) == 1 and test is None
            assert re.search(rf"^trial {r['trial']} epoch 1: .* -> pruned ", result.stdout, re.M)
        else:
            assert r["state"] == "complete" and len(epochs) == 3


def test_a_killed_sweep_continues_without_redoing_finished_trials(sweep):
    out = sweep.home / "killed"
    args = [*SPACE, "--trials", 8, "--workers", 2, "--out", out, "--", *TINY[2:-2], "--hidden", "128", "--epochs", 4]
    proc = sweep.popen(*args)
    lines = []
    try:
        wait_for_line(proc, r"^trial \d+ complete", lines)
        wait_for_line(proc, r"^trial \d+ complete", lines)
        wait_for_line(proc, r"^trial \d+ epoch 1:", lines)  # and one is mid-way
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep, its scheduler and its workers, with no warning
        proc.communicate(timeout=60)
    # what the killed sweep finished: a trial dir is written before its row, so read the dirs
    first = table(out)
    kept = {r["trial"]: (out / r["run_dir"] / "model.npz").read_bytes() for r in first
            if r["state"] in ("complete", "pruned")}
    assert len(kept) >= 2
    assert not list((out / "trials").glob(".*.partial"))
    result = sweep.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    done_before = int(re.search(rf"continuing the sweep in {re.escape(str(out))}: (\d+) of 8 trials done",
                                result.stdout)[1])
    assert done_before >= len(kept)
    rows = table(out)
    assert sum(r["state"] in ("complete", "pruned") for r in rows) == 8
    # finished trials were kept as they were, and not run again
    for number, data in kept.items():
        assert (out / f"trials/{int(number):04d}/model.npz").read_bytes() == data
    started_again = re.findall(r"^trial (\d+) started", result.stdout, re.M)
    assert not set(started_again) & set(kept) and len(started_again) == 8 - done_before
    # a trial that was running is marked interrupted and run again with its settings
    interrupted = [r for r in rows if r["state"] == "interrupted"]
    assert interrupted
    for r in interrupted:
        retry = next(x for x in rows if x["retry_of"] == r["trial"])
        assert retry["state"] in ("complete", "pruned")
        assert (retry["lr"], retry["batch_size"]) == (r["lr"], r["batch_size"])


def test_a_worker_killed_mid_trial_costs_that_trial_not_the_sweep(sweep):
    out = sweep.home / "worker-killed"
    proc = sweep.popen(*SPACE, "--trials", 4, "--workers", 2, "--out", out, "--", *TINY[2:-2], "--hidden", "256",
                       "--epochs", 8)
    lines = []
    try:
        match = wait_for_line(proc, r"^trial (\d+) epoch 1: .* \((.+):(\d+)\)$", lines)
        victim, pid = match[1], int(match[3])
        os.kill(pid, signal.SIGKILL)  # the worker process training trial `victim`, mid-trial
        rest, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    rows = table(out)
    assert [r["state"] for r in rows] == ["complete"] * 4, output
    killed = next(r for r in rows if r["trial"] == victim)
    assert not killed["worker"].endswith(f":{pid}")  # it ran again on a live worker
    epochs, _ = epochs_without_seconds(out / killed["run_dir"])
    assert [e["epoch"] for e in epochs] == list(range(1, 9))
    record = json.loads((out / "trials.json").read_text())
    curve = next(t for t in record["trials"] if t["trial"] == int(victim))["curve"]
    assert [p[1] for p in curve] == list(range(1, 9))  # the rerun's epochs, from its start
    # the dead worker's scratch directory was cleared by a later trial on this host
    assert not [p.name for p in sweep.tmp.glob("nnfunc-trial-*")]


def test_trials_that_fail_are_recorded_and_the_sweep_goes_on(sweep):
    out = sweep.home / "diverged"
    result = sweep.run("--search", "lr=1e3..1e4", "--trials", 2, "--workers", 2, "--out", out, "--", *TINY,
                       "--optimizer", "sgd")
    assert result.returncode == 1 and "no trial completed" in result.stderr, result.stdout + result.stderr
    rows = table(out)
    assert [r["state"] for r in rows] == ["failed"] * 2
    for r in rows:
        assert "diverged" in r["error"] and "lower the learning rate" in r["error"]
        assert "error: " in (out / r["run_dir"] / "train.log").read_text()
    assert not (out / "best.txt").exists()


def test_sigterm_stops_the_sweep_and_its_workers_and_it_continues(sweep):
    out = sweep.home / "terminated"
    args = [*SPACE, "--trials", 6, "--workers", 2, "--out", out, "--", *TINY[2:-2], "--hidden", "128", "--epochs", 4]
    proc = sweep.popen(*args)
    lines = []
    try:
        wait_for_line(proc, r"^trial \d+ complete", lines)
        wait_for_line(proc, r"^trial \d+ epoch 1:", lines)
        os.kill(proc.pid, signal.SIGTERM)  # the sweep alone, as a job runner stops it
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, "".join(lines) + rest
    assert f"the finished trials are kept in {out}; run the same command" in rest
    # the local cluster went down with it: nothing of the sweep's session is left running
    # (a zombie is no process: it is dead, waiting for whoever reaps orphans here)
    listed = subprocess.run(["ps", "-o", "stat=,pid=,args=", "-s", str(proc.pid)], capture_output=True, text=True)
    assert [line for line in listed.stdout.splitlines() if not line.startswith("Z")] == []
    result = sweep.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(r["state"] in ("complete", "pruned") for r in table(out)) == 6


@contextlib.contextmanager
def dask_cluster(sweep, tmp_path, threads):
    """A scheduler and one worker per entry of ``threads`` (its thread count), started with the ``dask`` commands."""
    dask = str(Path(sys.executable).parent / "dask")  # the console script the extra installs
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], env=sweep.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        for n in threads:
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", str(n), "--no-dashboard"],
                                          env=sweep.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        yield address
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)


def test_the_same_command_runs_on_a_cluster_started_with_dasks_own_commands(sweep, tmp_path):
    """The README's multi-machine recipe, on one machine: ``dask scheduler``, two ``dask worker``, ``--scheduler``."""
    with dask_cluster(sweep, tmp_path, [1, 1]) as address:
        out = sweep.home / "remote"
        result = sweep.run(*SPACE, "--trials", 4, "--scheduler", address, "--out", out, "--", *TINY)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"on {address}" in result.stdout
        rows = table(out)
        assert [r["state"] for r in rows] == ["complete"] * 4
        assert len({r["worker"] for r in rows}) == 2


def test_a_worker_of_several_threads_is_refused(sweep, tmp_path):
    with dask_cluster(sweep, tmp_path, [2]) as address:
        result = sweep.run(*SPACE, "--trials", 2, "--scheduler", address, "--out", sweep.home / "threads", "--",
                           *TINY)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert "runs 2 threads" in result.stderr and "--nthreads 1" in result.stderr
    assert "started" not in result.stdout


def test_an_unreachable_scheduler_is_named(sweep):
    result = sweep.run(*SPACE, "--scheduler", "tcp://127.0.0.1:9", "--out", sweep.home / "nowhere", "--", *TINY,
                       timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert "cannot reach the Dask scheduler at --scheduler tcp://127.0.0.1:9" in result.stderr
