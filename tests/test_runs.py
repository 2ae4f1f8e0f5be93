"""A training run as a library call (``nnfunc.training.runs``), runs that record what computed them, and a run
stopped after its last epoch that ``--resume`` finishes.

The library call runs in this process; the signals and the kernel backends,
which are a process's own, run in subprocesses as a user would.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nnfunc import kernels
from nnfunc.errors import ConfigError
from nnfunc.training import checkpoint, provenance, runs
from tests.test_cli import PLOTS, SMALL, npz_arrays, read_json, without_seconds

SETTINGS = dict(train_size=2000, test_size=500, val_size=200, hidden="16", epochs=2)


def test_a_run_is_a_library_call_that_prints_nothing(tmp_path, mnist_path, capfd):
    told = []
    result = runs.run(SETTINGS, out=tmp_path / "run", data_dir=mnist_path, offline=True, plots=False,
                      on_start=lambda plan: told.append(("start", plan.epochs, plan.n_train)),
                      on_saved=lambda record: told.append(("saved", record["epoch"])))
    assert capfd.readouterr() == ("", "")
    assert told == [("start", 2, 1800), ("saved", 1), ("saved", 2)]  # 200 of the 2000 validate
    assert isinstance(result, runs.RunResult) and result.run_dir == tmp_path / "run" and result.state.epoch == 2
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert metrics["test"] == {"loss": result.test.loss, "accuracy": result.test.accuracy}
    config = read_json(tmp_path / "run" / "config.json")
    assert config == result.config and config["computed_by"] == provenance.describe()
    assert config["computed_by"]["kernels"] == kernels.active()
    assert set(config["computed_by"]["blas"]) == {"name", "version", "kernel", "threads"}
    assert checkpoint.read_meta(tmp_path / "run" / "model.npz")["config"] == config


def test_a_callback_that_raises_stops_the_run_with_its_checkpoint(tmp_path, mnist_path):
    def stop(record):
        raise RuntimeError(f"stop after epoch {record['epoch']}")

    with pytest.raises(RuntimeError, match="stop after epoch 1"):
        runs.run(SETTINGS, out=tmp_path / "run", data_dir=mnist_path, offline=True, plots=False, on_saved=stop)
    assert checkpoint.read_meta(tmp_path / "run" / "model.npz")["epoch"] == 1


def test_bad_settings_raise_before_any_file(tmp_path, mnist_path):
    with pytest.raises(ConfigError, match="--hidden"):
        runs.run({**SETTINGS, "hidden": "16,x"}, out=tmp_path / "run", data_dir=mnist_path, offline=True)
    assert not (tmp_path / "run").exists()


# --- a SIGTERM after the last epoch ---------------------------------------------------------------------------

# nnfunc train, with a SIGTERM sent to itself as the test evaluation or the plots begin
TERMINATED = """
    import os, signal, sys
    from nnfunc.report import runplots
    from nnfunc.training import runs
    from nnfunc.cli.train import main

    def terminated(real):
        def call(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            return real(*args, **kwargs)
        return call

    if sys.argv[1] == "evaluation":
        runs.evaluate = terminated(runs.evaluate)
    else:
        runplots.write_plots = terminated(runplots.write_plots)
    sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def direct(cli):
    """A 2-epoch run with its plots, never interrupted."""
    out = cli.home / "direct"
    result = cli.run("train", *SMALL, "--epochs", "2", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("moment", ["evaluation", "plots"])
def test_a_run_stopped_after_its_last_epoch_is_finished_by_resume(cli, direct, tmp_path, moment):
    out = tmp_path / "run"
    stopped = subprocess.run([sys.executable, "-c", textwrap.dedent(TERMINATED), moment, *SMALL, "--epochs", "2",
                              "--out", out, "--data-dir", cli.mnist], capture_output=True, text=True, env=cli.env,
                             cwd=cli.home, timeout=300)
    assert stopped.returncode == 130, stopped.stderr
    assert f"--resume {out} --epochs 2" in stopped.stderr and "Traceback" not in stopped.stderr
    assert read_json(out / "metrics.json")["test"] is None and not list(out.glob("*.png"))
    trained = npz_arrays(out / "model.npz")

    finished = cli.run("train", "--resume", out, "--epochs", "2")
    assert finished.returncode == 0, finished.stderr
    assert "epoch " not in finished.stdout  # nothing trained again
    a, b = read_json(out / "metrics.json"), read_json(direct / "metrics.json")
    assert a["test"] == b["test"] and without_seconds(a["epochs"]) == without_seconds(b["epochs"])
    assert sorted(p.name for p in out.glob("*.png")) == sorted(PLOTS)
    after = npz_arrays(out / "model.npz")
    assert {k: v.tobytes() for k, v in after.items()} == {k: v.tobytes() for k, v in trained.items()}
    ours, theirs = npz_arrays(direct / "model.npz"), after
    for key in ours:
        if key != "meta":
            assert ours[key].tobytes() == theirs[key].tobytes(), key

    again = cli.run("train", "--resume", out, "--epochs", "2")
    assert again.returncode == 2 and "already" in again.stderr


# --- kernels ---------------------------------------------------------------------------------------------------


def train_on(cli, backend, *args):
    """``nnfunc train ARGS`` with NNFUNC_KERNELS=backend."""
    return subprocess.run([sys.executable, "-m", "nnfunc", "train", *map(str, args), "--data-dir", cli.mnist],
                          capture_output=True, text=True, env={**cli.env, kernels.ENV: backend}, cwd=cli.home,
                          timeout=300)


@pytest.mark.skipif(not kernels.installed(), reason="numba is not installed: one backend only")
def test_a_resume_on_other_kernels_is_refused_unless_asked_and_then_recorded(cli, tmp_path):
    out = tmp_path / "run"
    first = train_on(cli, "numpy", *SMALL, "--epochs", "1", "--decay-epochs", "4", "--no-plots", "--out", out)
    assert first.returncode == 0, first.stderr
    assert read_json(out / "config.json")["computed_by"]["kernels"] == "numpy"
    before = (out / "model.npz").read_bytes()

    refused = train_on(cli, "numba", "--resume", out, "--epochs", "2")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    for words in ("numpy kernels", f"{kernels.ENV}=numpy", "--allow-other-kernels"):
        assert words in refused.stderr
    assert (out / "model.npz").read_bytes() == before

    allowed = train_on(cli, "numba", "--resume", out, "--epochs", "2", "--allow-other-kernels")
    assert allowed.returncode == 0, allowed.stderr
    config = read_json(out / "config.json")
    [record] = config["resumed"]
    assert record["kernels"] == "numba" and record["allow_other_kernels"] is True and record["epoch"] == 1
    assert config["computed_by"]["kernels"] == "numpy"

    # from here on the run is a numba run: a numpy resume is the one refused
    assert train_on(cli, "numpy", "--resume", out, "--epochs", "3").returncode == 2
    shown = cli.run("evaluate", out)
    assert shown.returncode == 0, shown.stderr
    assert "trained with numpy kernels" in shown.stdout
    assert "resumed after epoch 1 with numba kernels" in shown.stdout


def test_a_run_from_before_the_record_resumes_and_says_so(cli, tmp_path):
    out = tmp_path / "run"
    assert cli.run("train", *SMALL, "--epochs", "1", "--decay-epochs", "2", "--no-plots", "--out", out).returncode == 0
    # what a run of nnfunc 0.3.0 wrote: no computed_by, in the checkpoint or config.json
    arrays = npz_arrays(out / "model.npz")
    meta = json.loads(str(arrays["meta"]))
    del meta["config"]["computed_by"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(out / "model.npz", **arrays)
    config = read_json(out / "config.json")
    del config["computed_by"]
    (out / "config.json").write_text(json.dumps(config))

    resumed = cli.run("train", "--resume", out, "--epochs", "2", "--no-plots")
    assert resumed.returncode == 0, resumed.stderr
    assert "not recorded" in cli.run("evaluate", out).stdout
