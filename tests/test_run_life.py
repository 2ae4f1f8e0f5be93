"""A run directory's whole life as a Hypothesis state machine: start, kill, resume, damage, a second writer.

Each step runs the real command line in a subprocess on a small subset of
real MNIST. Whatever the order of steps, the invariants hold: the
checkpoint loads or its error says why; a finished resume equals an
uninterrupted run bit for bit; no temp file survives the next start;
config.json agrees with model.npz; a second writer is refused while the
first lives; no command ever prints a traceback.
"""

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

import nnfunc as nf
from nnfunc import fileio
from nnfunc.training import checkpoint
from tests.helpers import assert_bit_identical

# 3000 examples in batches of 32: an epoch of ~94 steps, long enough for a kill to land inside one
ARGS = ["--train-size", "3000", "--test-size", "200", "--val-size", "200", "--hidden", "16", "--batch-size", "32",
        "--decay-epochs", "6", "--no-plots", "--quiet"]
LAST = 6  # the schedule's end: the most epochs any step trains to


def temp_files(run):
    return sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) if run.is_dir() else []


def arrays_of(path):
    """The checkpoint's arrays and its meta without the per-run settings and timings."""
    arrays, meta = checkpoint.read(path)
    arrays = {k: v for k, v in arrays.items() if k not in ("meta", "nnfunc_version")}
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in meta["history"]]
    return arrays, history, {k: meta[k] for k in ("epoch", "step", "rng_states", "best_val_loss", "bad_epochs")}


class RunLife(RuleBasedStateMachine):
    env = None
    mnist = None
    references = None  # epochs -> arrays_of an uninterrupted run of that many epochs

    def __init__(self):
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="run-life-"))
        self.run = self.home / "run"
        self.damaged = False  # model.npz or config.json was damaged on purpose

    def teardown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    # --- running the command line ---

    def argv(self, *args):
        return [sys.executable, "-m", "nnfunc", *map(str, args), "--data-dir", str(self.mnist)]

    def cli(self, *args):
        print("STEP", args[0], args[-3:], flush=True)
        result = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env, cwd=self.home,
                                timeout=300)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode in (0, 2), (result.returncode, result.stderr)
        return result

    def reference(self, epochs):
        if epochs not in self.references:
            out = Path(tempfile.mkdtemp(prefix="run-life-ref-")) / "run"
            done = subprocess.run(self.argv("train", *ARGS, "--epochs", epochs, "--out", out), capture_output=True,
                                  text=True, env=self.env, timeout=300)
            assert done.returncode == 0, done.stderr
            self.references[epochs] = arrays_of(out / "model.npz")
            shutil.rmtree(out.parent)
        return self.references[epochs]

    def saved_epoch(self):
        """The checkpoint's epoch, None without one; a damaged file must say why, nothing else."""
        if not (self.run / "model.npz").exists():
            return None
        try:
            return checkpoint.read(self.run / "model.npz")[1]["epoch"]
        except nf.CheckpointError:
            assert self.damaged, "a checkpoint was damaged without anyone damaging it"
            return "damaged"

    # --- the steps of a life ---

    @initialize(epochs=st.integers(1, 2))
    def first_run(self, epochs):
        """Every life starts from a trained run, so that the few examples CI affords reach the later steps."""
        result = self.cli("train", *ARGS, "--epochs", epochs, "--out", self.run)
        assert result.returncode == 0, result.stderr
        self.check_equals_reference(epochs)

    @rule(epochs=st.integers(1, 3))
    def start(self, epochs):
        print("RULE start", flush=True)
        before = self.saved_epoch()
        result = self.cli("train", *ARGS, "--epochs", epochs, "--out", self.run)
        if before in (None, 0):
            assert result.returncode == 0, result.stderr
            self.damaged = False
            self.check_equals_reference(epochs)
            assert not temp_files(self.run)  # the writer that finished cleared what a killed one left
        else:
            assert "already holds a model.npz" in result.stderr

    @rule(extra=st.integers(1, 3))
    def resume(self, extra):
        print("RULE resume", flush=True)
        before = self.saved_epoch()
        if before is None or before == "damaged":
            result = self.cli("train", "--resume", self.run, "--epochs", LAST)
            assert result.returncode == 2 and "model.npz" in result.stderr
            return
        target = min(before + extra, LAST)
        result = self.cli("train", "--resume", self.run, "--epochs", target)
        if self.damaged and result.returncode == 2:
            assert "config.json" in result.stderr  # an edit is named, not obeyed
        elif before >= LAST:
            assert result.returncode == 2 and "already trained" in result.stderr
        else:
            assert result.returncode == 0, result.stderr
            self.check_equals_reference(target)
            assert not temp_files(self.run)

    @rule(delay=st.floats(0.0, 3.0))
    def kill(self, delay):
        print("RULE kill", flush=True)
        """SIGKILL a writer at a random moment: before its lock, mid-epoch, or mid-write."""
        before = self.saved_epoch()
        if before in (None, 0):
            argv = self.argv("train", *ARGS, "--epochs", LAST, "--out", self.run)
        elif before == "damaged" or before >= LAST:
            return
        else:
            argv = self.argv("train", "--resume", self.run, "--epochs", LAST)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env,
                                cwd=self.home)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert "Traceback" not in err
        after = self.saved_epoch()
        assert after is None or after == "damaged" or after <= LAST
        if after not in (None, "damaged") and after > 0:
            self.check_equals_reference(after)  # whatever the moment, the checkpoint on disk is whole and right

    @rule()
    def second_writer(self):
        print("RULE second_writer", flush=True)
        """While one process trains, a second start or resume of the same directory is refused."""
        if self.saved_epoch() not in (None, 0):
            return
        first = subprocess.Popen(self.argv("train", *ARGS, "--epochs", LAST, "--out", self.run),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env,
                                 cwd=self.home)
        try:
            lock = self.run / ".lock"
            deadline = time.monotonic() + 60
            while not (lock.exists() and f"pid {first.pid} " in lock.read_text()):
                if first.poll() is not None or time.monotonic() > deadline:
                    return  # it finished (or failed) before we saw it hold the lock
                time.sleep(0.02)
            second = self.cli("train", *ARGS, "--epochs", 2, "--out", self.run)
            assert second.returncode == 2, second.stderr
            with fileio.directory_lock(self.run) as (free, _):
                pass
            if f"in use by pid {first.pid}" not in second.stderr:
                # only if the first finished its run, and let go of the lock, while the second started
                assert free and self.saved_epoch() == LAST, second.stderr
                assert "already holds a model.npz" in second.stderr, second.stderr
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate()

    @rule()
    def evaluate(self):
        print("RULE evaluate", flush=True)
        epoch = self.saved_epoch()
        result = self.cli("evaluate", self.run)
        if epoch is None or epoch == "damaged":
            assert result.returncode == 2 and "model.npz" in result.stderr
        elif result.returncode == 0:
            assert "test accuracy" in result.stdout

    @precondition(lambda self: (self.run / "model.npz").exists())
    @rule(how=st.sampled_from(["truncate", "garbage", "delete", "edit_config", "delete_config", "metrics"]))
    def damage(self, how):
        print("RULE damage", flush=True)
        model, config = self.run / "model.npz", self.run / "config.json"
        if how == "truncate":
            data = model.read_bytes()
            model.write_bytes(data[: len(data) // 2])
        elif how == "garbage":
            model.write_bytes(b"\x00garbage" * 100)
        elif how == "delete":
            model.unlink()
        elif how == "edit_config" and config.exists():
            settings_ = json.loads(config.read_text())
            settings_["lr"] = 0.5
            config.write_text(json.dumps(settings_))
        elif how == "delete_config" and config.exists():
            config.unlink()
        elif how == "metrics" and (self.run / "metrics.json").exists():
            (self.run / "metrics.json").write_text("{")
        self.damaged = self.damaged or how in ("truncate", "garbage", "edit_config")

    @rule()
    def start_over(self):
        print("RULE start_over", flush=True)
        shutil.rmtree(self.run, ignore_errors=True)
        self.damaged = False

    # --- what must hold after every step ---

    def check_equals_reference(self, epochs):
        arrays, history, counters = arrays_of(self.run / "model.npz")
        ref_arrays, ref_history, ref_counters = self.reference(epochs)
        assert counters == ref_counters
        assert history == ref_history
        assert_bit_identical(arrays, ref_arrays)

    @invariant()
    def checkpoint_loads_or_says_why(self):
        self.saved_epoch()

    @invariant()
    def config_json_matches_the_checkpoint(self):
        config = self.run / "config.json"
        if self.damaged or not config.exists() or self.saved_epoch() in (None, "damaged"):
            return
        stored = checkpoint.read(self.run / "model.npz")[1]["config"]
        copy = json.loads(config.read_text())
        # a kill between the two writes may leave config.json one target behind
        assert {k: v for k, v in copy.items() if k != "epochs"} == {k: v for k, v in stored.items() if k != "epochs"}


def test_a_run_directory_survives_its_life(cli):
    RunLife.env, RunLife.mnist, RunLife.references = cli.env, cli.mnist, {}
    # each step is a real process (~1 s), so the profile's example count would take hours
    machine = settings(settings.default, max_examples=12, stateful_step_count=8, deadline=None)
    run_state_machine_as_test(RunLife, settings=machine)
