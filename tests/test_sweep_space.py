"""A sweep's plan, without a cluster: the search space, its checks, the Optuna study and the results table.

Everything here must hold before a worker starts: a bad space is refused
with a message naming the setting and the fix, a trial's flags give back
exactly the values drawn, and the study keeps finished trials and queues
interrupted ones again.
"""

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from nnfunc.training.flags import build_parser
from nnfunc.errors import ConfigError
from nnfunc.sweep import results, space as S
from tests.helpers import needs_sweep_extra

SMALL = ["--epochs", "2", "--train-size", "3000", "--val-size", "500", "--test-size", "500"]


def test_a_range_a_log_range_and_choices_parse():
    assert S.parse_flag("lr=1e-4..1e-2:log") == S.Dimension("lr", 1e-4, 1e-2, True)
    assert S.parse_flag("dropout=0..0.5") == S.Dimension("dropout", 0.0, 0.5, False)
    assert S.parse_flag("batch-size=64|128") == S.Dimension("batch_size", choices=(64, 128))
    assert S.parse_flag("epochs=2..8") == S.Dimension("epochs", 2, 8)
    assert S.parse_flag("epochs=2..8").is_int and isinstance(S.parse_flag("epochs=2..8").low, int)
    assert S.parse_flag("hidden=128|256,256") == S.Dimension("hidden", choices=("128", "256,256"))
    assert S.parse_flag("augment=none|affine").choices == ("none", "affine")


@pytest.mark.parametrize("text, words", [
    ("lr", ["KEY=LOW..HIGH"]),
    ("=1..2", ["KEY=LOW..HIGH"]),
    ("lr=", ["KEY=LOW..HIGH"]),
    ("learning_rate=1..2", ["'learning_rate' is not a train setting", "lr"]),
    ("seed=0|1", ["--seed cannot be searched", "after --"]),
    ("train-size=100..200", ["--train-size cannot be searched", "shares"]),
    ("out=a|b", ["--out cannot be searched", "the sweep sets it"]),
    ("lr=1e-2..1e-4", ["is empty", "low end must be below"]),
    ("lr=0.1..0.1", ["is empty"]),
    ("lr=0..1e-2:log", ["log range needs a low end above 0"]),
    ("lr=1e-4..1e-2:ln", ["only range scale is :log"]),
    ("lr=small..big", ["'small' is not a number"]),
    ("lr=nan..1", ["not a finite number"]),
    ("lr=1e-3..inf", ["not a finite number"]),
    ("epochs=2.5..8", ["'2.5' is not an integer"]),
    ("batch_size=64|64", ["repeat a value"]),
    ("hidden=1..9", ["--hidden is not a number", "hidden=A|B"]),
    ("lr=0.001", ["one value is not a search", "--lr 0.001 after --"]),
])
def test_a_bad_flag_is_refused_with_the_fix(text, words):
    with pytest.raises(ConfigError) as err:
        S.parse_flag(text)
    for word in words:
        assert word in str(err.value)


def test_a_toml_file_gives_the_space_and_the_shared_flags(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('[search]\nlr = {low = 1e-4, high = 1e-2, log = true}\nhidden = [128, "256,256"]\n'
                    'batch_size = [64, 128]\n[train]\nepochs = 3\naugment = "affine"\noffline = true\n')
    space, fixed = S.read_file(path)
    assert space == {"lr": S.Dimension("lr", 1e-4, 1e-2, True), "hidden": S.Dimension("hidden", choices=("128",
                     "256,256")), "batch_size": S.Dimension("batch_size", choices=(64, 128))}
    assert fixed == ["--epochs", "3", "--augment", "affine", "--offline"]


@pytest.mark.parametrize("text, words", [
    ("[search\nlr = 1", ["is not valid TOML"]),
    ("[trial]\nepochs = 1", ["'trial'", "[search] and [train]"]),
    ("[search]\nlr = {low = 1e-4, top = 1}", ["unknown field 'top'"]),
    ("[search]\nlr = 0.1", ["list of choices or {low"]),
    ("[search]\nlr = {low = 1e-4, high = 1e-2, log = 1}", ["log must be true or false"]),
    ("[search]\nepochs = [2, 3.5]", ["3.5 is not an integer"]),
    ("[search]\nepochs = [true]", ["True is not an integer"]),
    ("[search]\nhidden = [[1]]", ["must be a string"]),
    ("[search]\nlr = []", ["non-empty list"]),
    ("[train]\nepochs = [1]", ["give a number, a string or true"]),
])
def test_a_bad_file_is_refused_naming_the_entry(tmp_path, text, words):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        S.read_file(path)
    for word in words:
        assert word in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the search space file"):
        S.read_file(tmp_path / "nope.toml")


@pytest.mark.parametrize("flags, fixed, words", [
    ([], SMALL, ["search space is empty"]),
    (["dropout=0..1.5"], SMALL, ["dropout=1.5", "--dropout"]),
    (["lr=1e-3..1e-2"], [*SMALL, "--lr", "0.1"], ["--lr is both searched and fixed in the train flags"]),
    (["lr=1e-3..1e-2"], [*SMALL[:4], "--val-size", "0"], ["validation loss", "--val-size above 0"]),
    (["lr=1e-3..1e-2"], [*SMALL, "--out", "x"], ["--out in the train flags (after -- or in [train])", "drop it"]),
    (["lr=1e-3..1e-2"], [*SMALL, "--resume", "x"], ["--resume in the train flags"]),
    (["lr=1e-3..1e-2"], [*SMALL, "--bogus", "1"], ["--bogus 1 is not a flag of nnfunc train"]),
    (["lr=1e-3..1e-2"], [*SMALL, "--optimizer", "adamx"], ["train flags", "invalid choice: 'adamx'"]),
    (["optimizer=sgd|adamx"], SMALL, ["bad run (optimizer=adamx)", "invalid choice: 'adamx'"]),
    (["dtype=float32|float16"], SMALL, ["dtype=float16", "invalid choice"]),
    # two choice settings that clash only in one combination
    (["hidden=16,16|64|32,32", "activation=relu|tanh,relu|sigmoid"], SMALL,
     ["hidden=64, activation=tanh,relu", "--activation 'tanh,relu' for --hidden '64'"]),
    (["hidden=16|x"], SMALL, ["hidden=x", "comma-separated integers"]),
    (["activation=relu|swish"], SMALL, ["activation=swish", "swish"]),
    (["batch_size=0|64"], SMALL, ["batch_size=0", "--batch-size"]),
    (["rotate=0..10"], SMALL, ["--rotate sets a strength of --augment affine"]),
    (["warmup_epochs=0..4"], SMALL, ["--warmup-epochs 4 must be shorter"]),
])
def test_check_refuses_a_space_that_makes_a_bad_run(flags, fixed, words):
    with pytest.raises(ConfigError) as err:
        S.check({d.key: d for d in map(S.parse_flag, flags)}, fixed)
    for word in words:
        assert word in str(err.value)


def test_a_setting_searched_twice_is_refused():
    with pytest.raises(ConfigError, match="--search lr is given twice"):
        S.merge({}, [S.parse_flag("lr=1e-3..1e-2"), S.parse_flag("lr=1e-4..1e-3")])
    file_space = {"lr": S.parse_flag("lr=1e-3..1e-2")}
    assert S.merge(file_space, [S.parse_flag("lr=1e-4..1e-3")])["lr"].low == 1e-4  # a flag overrides the file


def test_the_corners_cover_every_combination_of_choices_and_both_ends_of_ranges():
    space = {d.key: d for d in map(S.parse_flag, ["hidden=16|32", "batch_size=32|64|128", "lr=1e-3..1e-2"])}
    corners = list(S.corners(space))
    assert len(corners) == 2 * 3 * 2
    assert {(c["hidden"], c["batch_size"], c["lr"]) for c in corners} == {
        (h, b, lr) for h in ("16", "32") for b in (32, 64, 128) for lr in (1e-3, 1e-2)}
    big = {f"k{i}": S.Dimension(k, choices=tuple(range(5))) for i, k in enumerate(S.INTS)}
    assert 5 ** len(big) > S.MAX_COMBINATIONS
    covered = list(S.corners(big))
    assert len(covered) == 2 * (1 + 4 * len(big))  # each choice once, beside the others' first
    for key, dim in big.items():
        assert {c[key] for c in covered} == set(dim.choices)


def test_check_accepts_a_good_space():
    space = {d.key: d for d in map(S.parse_flag, ["lr=1e-4..1e-2:log", "hidden=16|32,32", "augment=none|affine",
                                                  "batch_size=32|64", "epochs=1..3"])}
    assert S.check(space, SMALL[2:]) == space


@given(st.floats(1e-9, 1e3, allow_nan=False), st.integers(1, 4096), st.sampled_from(["16", "32,32", ""]))
def test_a_trials_flags_give_back_exactly_the_values_drawn(lr, batch, hidden):
    argv = S.trial_argv(SMALL, {"lr": lr, "batch_size": batch, "hidden": hidden})
    args = build_parser().parse_args(argv)
    assert (args.lr, args.batch_size, args.hidden, args.epochs) == (lr, batch, hidden, 2)


def test_the_space_round_trips_through_json():
    space = {d.key: d for d in map(S.parse_flag, ["lr=1e-4..1e-2:log", "hidden=16|32"])}
    assert json.loads(json.dumps(S.as_dict(space))) == {"hidden": {"choices": ["16", "32"]},
                                                        "lr": {"low": 1e-4, "high": 1e-2, "log": True}}


def test_the_best_trial_is_the_complete_one_of_lowest_validation_loss():
    rows = [{"trial": 0, "state": "complete", "val_loss": 0.5}, {"trial": 1, "state": "pruned", "val_loss": None},
            {"trial": 2, "state": "complete", "val_loss": 0.3}, {"trial": 3, "state": "failed", "val_loss": None}]
    assert results.best(rows)["trial"] == 2
    assert results.best(rows[1:2]) is None


# the study: Optuna in a SQLite file


@needs_sweep_extra
def test_draws_stay_in_the_space_and_a_reopened_study_keeps_its_trials(tmp_path):
    from nnfunc.sweep import store

    space = {d.key: d for d in map(S.parse_flag, ["lr=1e-4..1e-2:log", "epochs=1..5", "hidden=16|32"])}
    study = store.open_study(tmp_path / "study.db", sampler="tpe", pruner="median", seed=0, prune_after=1)
    for i in range(12):
        trial = store.ask(study, space)
        p = trial.params
        assert 1e-4 <= p["lr"] <= 1e-2 and p["epochs"] in range(1, 6) and p["hidden"] in ("16", "32")
        assert isinstance(p["epochs"], int)
        store.finish(study, trial, "complete", value=float(i))
    running = store.ask(study, space)
    again = store.open_study(tmp_path / "study.db", sampler="tpe", pruner="median", seed=0, prune_after=1)
    assert store.done(again) == 12
    # the running trial of a killed sweep comes back as a queued retry with its settings
    assert store.recover(again) == [running.number]
    retry = store.ask(again, space)
    assert retry.params == running.params and retry.number != running.number
    states = [r["state"] for r in store.rows(again)]
    assert states.count("interrupted") == 1 and states.count("running") == 1 and store.done(again) == 12


@needs_sweep_extra
@pytest.mark.parametrize("prune_after, expected", [(1, True), (2, False)])
def test_a_trial_far_behind_the_median_is_stopped_after_the_warmup(tmp_path, prune_after, expected):
    from nnfunc.sweep import store

    space = {"lr": S.parse_flag("lr=1e-4..1e-2")}
    study = store.open_study(tmp_path / "study.db", sampler="random", pruner="median", seed=0,
                             prune_after=prune_after)
    for _ in range(4):
        trial = store.ask(study, space)
        assert store.report(trial, 1, 0.5) is False  # too few finished trials to judge
        assert store.report(trial, 2, 0.4) is False
        store.finish(study, trial, "complete", value=0.4)
    hopeless = store.ask(study, space)
    assert store.report(hopeless, 1, 2.3) is expected
    good = store.ask(study, space)
    assert store.report(good, 1, 0.45) is False
    assert store.report(hopeless, 2, 2.3) is True


def test_without_the_extra_the_command_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None; from nnfunc.cli import main; "
            "sys.exit(main(['sweep', '--search', 'lr=1e-3..1e-2', '--out', sys.argv[1]]))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "pip install" in result.stderr and "[sweep]" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_trials_command_names_its_run_directory_only_when_asked():
    assert results.command(["--lr", "0.1"]) == "python -m nnfunc.train --lr 0.1"
    assert results.command(["--hidden", ""], "a b") == "python -m nnfunc.train --hidden '' --out 'a b'"
    assert math.isclose(float(results.command(["--lr", repr(0.1 + 0.2)]).split()[-1]), 0.1 + 0.2, rel_tol=0)


def test_a_trials_files_land_whole_and_only_by_their_own_names(tmp_path):
    from nnfunc.sweep.directory import clear_partials, write_trial

    files = {"config.json": b"{}", "metrics.json": b"[]", "../escape": b"x", ".lock": b"", "sub/x": b"y"}
    assert write_trial(tmp_path, 7, files).as_posix() == "trials/0007"
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["0007"]
    assert sorted(p.name for p in (tmp_path / "trials/0007").iterdir()) == ["config.json", "metrics.json"]
    assert not (tmp_path / "escape").exists()
    # numbers never repeat in a study: a directory already there is never written over
    with pytest.raises(ConfigError, match="trials/0007 already exists"):
        write_trial(tmp_path, 7, {"config.json": b"{1}"})
    assert (tmp_path / "trials/0007/config.json").read_bytes() == b"{}"
    # a sweep killed while writing leaves a hidden partial directory: the next one clears it
    (tmp_path / "trials/.0008.partial").mkdir()
    (tmp_path / "trials/.0008.partial/config.json").write_bytes(b"{")
    clear_partials(tmp_path)
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["0007"]


def test_only_this_hosts_scratch_of_dead_workers_is_cleared(tmp_path):
    import os

    from nnfunc.sweep import trial

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    mine = tmp_path / f"{trial._scratch_prefix(dead_pid)}-abc"
    alive = tmp_path / f"{trial._scratch_prefix(os.getpid())}-abc"
    other_host = tmp_path / f"{trial.SCRATCH}otherhost-{dead_pid}-abc"
    for d in (mine, alive, other_host):
        (d / "run").mkdir(parents=True)
    assert trial.clear_dead_scratch(tmp_path) == [mine]
    assert not mine.exists() and alive.exists() and other_host.exists()


@needs_sweep_extra
def test_the_help_example_is_a_valid_sweep():
    import shlex

    from nnfunc.cli.sweep import EXAMPLE, build_parser, plan, split_argv

    command = " ".join(line.strip().rstrip("\\") for line in EXAMPLE.splitlines()[1:3])
    own, fixed = split_argv(shlex.split(command)[2:])
    space, _, _ = plan(build_parser().parse_args(own), fixed)
    assert space["hidden"].choices == ("128", "256", "128,128")


@needs_sweep_extra
def test_a_trial_whose_end_was_being_recorded_is_settled_not_rerun(tmp_path):
    """A sweep killed between a trial's attributes and Optuna's tell: recover finishes the record."""
    from nnfunc.sweep import store

    space = {"lr": S.parse_flag("lr=1e-4..1e-2")}
    study = store.open_study(tmp_path / "study.db", sampler="random", pruner="none", seed=0, prune_after=1)
    ends = {"complete": {"val_loss": 0.25, "status": "complete"}, "pruned": {"val_loss": 0.5, "status": "pruned"},
            "failed": {"error": "diverged", "status": "failed"}, "interrupted": {"val_loss": 0.3}}
    numbers = {}
    for name, attrs in ends.items():
        trial = store.ask(study, space)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        numbers[name] = trial.number
    again = store.open_study(tmp_path / "study.db", sampler="random", pruner="none", seed=0, prune_after=1)
    assert store.recover(again) == [numbers["interrupted"]]
    states = {r["trial"]: r for r in store.rows(again)}
    assert {name: states[n]["state"] for name, n in numbers.items()} == {
        "complete": "complete", "pruned": "pruned", "failed": "failed", "interrupted": "interrupted"}
    assert states[numbers["complete"]]["val_loss"] == 0.25 and store.done(again) == 3
    assert [r["state"] for r in store.rows(again)][-1] == "waiting"  # the interrupted one, queued again


@needs_sweep_extra
def test_a_damaged_study_file_is_named_with_the_fix(tmp_path):
    from nnfunc.sweep import store

    (tmp_path / "study.db").write_bytes(b"not a database, " * 100)
    with pytest.raises(ConfigError, match="study.db is not a readable sweep study .*restore it from a copy"):
        store.open_study(tmp_path / "study.db", sampler="tpe", pruner="median", seed=0, prune_after=1)


@needs_sweep_extra
def test_reports_from_a_rerun_and_from_a_stale_attempt_are_judged_apart(tmp_path):
    from nnfunc.sweep import store
    from nnfunc.sweep.scheduling import _judge

    study = store.open_study(tmp_path / "study.db", sampler="random", pruner="none", seed=0, prune_after=1)
    trial = store.ask(study, {"lr": S.parse_flag("lr=1e-4..1e-2")})
    entry = {"trial": trial, "attempts": [], "curve": [], "reported": set(), "epochs": 3}

    def report(attempt, epoch):
        record = {"epoch": epoch, "val_loss": 1.0 / epoch, "val_accuracy": 0.9}
        return {"number": trial.number, "attempt": attempt, "record": record, "time": float(epoch), "worker": "w:1"}

    said = []
    assert _judge(entry, report("a", 1), said.append) is False and _judge(entry, report("a", 2), said.append) is False
    # its worker died: the rerun starts a new curve, and epoch 1 is not told to Optuna twice
    assert _judge(entry, report("b", 1), said.append) is False
    assert [p[1] for p in entry["curve"]] == [1] and entry["reported"] == {1, 2}
    # the first attempt turns out to be alive: it is told to stop, and its report is not drawn
    assert _judge(entry, report("a", 3), said.append) is True
    assert [p[1] for p in entry["curve"]] == [1]
    assert said[0] == "trial 0 epoch 1: val loss 1.0000 acc 90.00% (w:1)"


@needs_sweep_extra
def test_a_trial_the_cluster_lost_is_recorded_as_failed(tmp_path):
    from nnfunc.sweep import store
    from nnfunc.sweep.scheduling import _finish

    study = store.open_study(tmp_path / "study.db", sampler="random", pruner="none", seed=0, prune_after=1)
    trial = store.ask(study, {"lr": S.parse_flag("lr=1e-4..1e-2")})
    said = []
    _finish(study, {"trial": trial}, tmp_path, trial.number, None, "KilledWorker: worker died 3 times", said.append)
    assert said == ["trial 0 lost: KilledWorker: worker died 3 times"]
    [row] = store.rows(study)
    assert row["state"] == "failed" and row["attrs"]["error"] == ("the cluster lost the trial (KilledWorker: worker "
                                                                  "died 3 times)")
    assert store.done(study) == 1
