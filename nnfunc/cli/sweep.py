"""``nnfunc sweep`` (also ``python -m nnfunc.sweep``): search train settings on a Dask cluster with Optuna.

The command's flags and lines; the sweep's parts are ``nnfunc.sweep``'s.

Every check (the space, the train flags, the directory, the data) runs
before a worker starts. The sweep then keeps one trial per worker thread
running: Optuna (``store``) picks each trial's settings, Dask (``engine``)
runs it, each epoch's validation loss comes back and Optuna may stop the
trial; each finished trial becomes the run directory ``trials/NNNN`` and a
row of the results. Run the same command on the same ``--out`` to continue
a sweep that was stopped: finished trials are kept, interrupted ones run
again.
"""

import argparse
import importlib
import os
import signal
import sys

from nnfunc import checks, fileio
from nnfunc._version import __version__
from nnfunc.cli import _common
from nnfunc.errors import ConfigError
from nnfunc.sweep import directory
from nnfunc.sweep import space as _space
from nnfunc.training import rundata, runlog
from nnfunc.training.flags import settings_of
from nnfunc.training.settings import make_config

EXAMPLE = """example:
  nnfunc sweep --trials 16 --search lr=3e-4..3e-2:log --search 'hidden=128|256|128,128' \\
      --search dropout=0..0.3 -- --epochs 8 --train-size 20000
  (flags after -- are nnfunc train's, shared by every trial; quote a choice: | is the shell's pipe)"""


def build_parser(prog="nnfunc sweep"):
    from nnfunc.sweep import store

    p = argparse.ArgumentParser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Search nnfunc train's settings: trials run in parallel on a Dask "
                                "cluster (a local one by default), Optuna picks their settings and stops hopeless "
                                "ones early. Each trial is a run directory in the sweep directory.",
                                epilog=EXAMPLE)
    p.add_argument("--search", action="append", default=[], metavar="KEY=SPEC",
                   help="a searched train setting: KEY=LOW..HIGH, KEY=LOW..HIGH:log or KEY=A|B|C (repeat the flag)")
    p.add_argument("--space", metavar="FILE", help="a TOML file with a [search] table (and [train] settings every "
                   "trial shares); --search flags add to it")
    p.add_argument("--trials", type=int, default=16, help="trials in the sweep, counting finished ones of a "
                   "continued sweep (default: 16)")
    p.add_argument("--workers", type=int, help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster whose scheduler is at ADDRESS "
                   "(like tcp://10.0.0.1:8786) instead of a local one")
    p.add_argument("--out", help="sweep directory (default: sweeps/<timestamp>); an existing one continues")
    p.add_argument("--sampler", choices=store.SAMPLERS, default="tpe", help="how trials are chosen (default: tpe)")
    p.add_argument("--pruner", choices=store.PRUNERS, default="median",
                   help="how hopeless trials are stopped (default: median)")
    p.add_argument("--prune-after", type=int, default=2, metavar="EPOCHS",
                   help="no trial is stopped before it has trained this many epochs (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (default: 0); the trials' own seed is "
                   "train's --seed after --")
    p.add_argument("--no-plots", action="store_true", help="skip progress.png and params.png")
    return p


def split_argv(argv):
    """(the sweep's flags, the train flags after ``--``)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def plan(args, fixed):
    """(space, fixed train flags, spec) of the command, all checked; ConfigError names the problem."""
    checks.integer(args.trials, "--trials", low=1)
    checks.integer(args.prune_after, "--prune-after", low=0)
    checks.seed(args.seed, "--seed")
    if args.workers is not None:
        checks.integer(args.workers, "--workers", low=1)
        if args.scheduler:
            raise ConfigError("--workers sizes the local cluster; a cluster at --scheduler has its own workers. "
                              "Drop one of them")
    file_space, file_fixed = _space.read_file(args.space) if args.space else ({}, [])
    space = _space.merge(file_space, [_space.parse_flag(text) for text in args.search])
    fixed = [*file_fixed, *fixed]
    _space.check(space, fixed)
    spec = {"search": _space.as_dict(space), "train": fixed, "sampler": args.sampler, "pruner": args.pruner,
            "prune_after": args.prune_after, "seed": args.seed}
    return space, fixed, spec


def check_data(space, fixed):
    """Load the trials' data once here, with train's checks of the sizes, so a problem shows before the cluster starts.

    (For a local cluster: a remote one's workers find their own data.)
    """
    args = _space.first_trial(space, fixed)
    rundata.load(make_config(settings_of(args)), data_dir=args.data_dir, offline=args.offline)


def _say(line):
    print(line, flush=True)  # at once: a user (or a test) watches the trials as they go


def run(args, fixed):
    """The whole sweep; returns the exit code."""
    from nnfunc.sweep import engine, results, scheduling, store

    space, fixed, spec = plan(args, fixed)
    out = directory.sweep_out(args.out)
    if not args.scheduler:
        check_data(space, fixed)
    with runlog.own(out):
        directory.check_spec(out, spec)  # under the lock: no other sweep can write its spec meanwhile
        directory.clear_partials(out)
        fileio.remove_temp_files(out, directory.SWEEP_FILES)  # a killed sweep's half-written results
        if not (out / "sweep.json").exists():
            fileio.write_json(out / "sweep.json", {**spec, "nnfunc_version": __version__})
        study = store.open_study(out / "study.db", sampler=args.sampler, pruner=args.pruner, seed=args.seed,
                                 prune_after=args.prune_after)
        lost = store.recover(study)
        done = store.done(study)
        if done or lost:
            again = f"; interrupted trials {', '.join(map(str, lost))} run again" if lost and done < args.trials else ""
            print(f"continuing the sweep in {out}: {done} of {args.trials} trials done{again}")
        if done >= args.trials:
            print(f"the sweep already has {done} trials; pass a larger --trials to run more")
        else:
            where = args.scheduler or f"a local cluster of {args.workers or len(os.sched_getaffinity(0))} workers"
            print(f"sweep: {args.trials - done} trials on {where} -> {out}", flush=True)
            try:
                with engine.connect(args.scheduler, args.workers) as client:
                    scheduling.run_trials(client, study, space, fixed, out, args.trials, done, say=_say)
            except KeyboardInterrupt:
                print(f"\ninterrupted: the finished trials are kept in {out}; run the same command to continue the "
                      "sweep", file=sys.stderr)
                return 130
            except engine.CLUSTER_ERRORS as exc:
                return _common.report(f"lost the Dask cluster ({exc}); the finished trials are kept in {out}: run the "
                                      "same command to continue the sweep")
            except store.STORE_ERRORS as exc:
                return _common.report(store.describe(exc))
        rows = results.table(store.rows(study))
        top = results.write(out, rows, spec["search"], plots=not args.no_plots)
    counts = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    print(f"done: {', '.join(f'{n} {state}' for state, n in counts.items())}; table {out / 'trials.csv'}")
    if top is None:
        print("no trial completed: see the errors in trials.csv", file=sys.stderr)
        return 1
    print(f"best: trial {top['trial']}, validation loss {top['val_loss']:.4f}, validation accuracy "
          f"{100 * top['val_accuracy']:.2f}% ({scheduling.params_text(top['params'])}); train it again:\n"
          f"  {results.reproduce(top)}")
    return 0


def missing_extra():
    """None when the [sweep] extra is installed, else the message that says how to install it."""
    try:
        for module in ("nnfunc.sweep.engine", "nnfunc.sweep.store"):
            importlib.import_module(module)
    except ImportError as exc:
        return (f"nnfunc sweep needs {exc.name or 'a package'} from the sweep extra, which is not installed: "
                "pip install \"nnfunc[sweep]\" (or pip install -e \".[sweep]\" in a clone)")
    return None


def main(argv=None, prog="nnfunc sweep"):
    argv = sys.argv[1:] if argv is None else list(argv)
    own, fixed = split_argv(argv)
    problem = missing_extra()
    if problem:
        return _common.report(problem)
    args = build_parser(prog).parse_args(own)
    # a SIGTERM stops like Ctrl-C; the study keeps every finished trial
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _common.run(lambda: run(args, fixed), memory_fix="search smaller --hidden widths")
    except KeyboardInterrupt:  # before the trials (checks, data) or after them (results): nothing is lost
        print("\ninterrupted", file=sys.stderr)
        return 130
