"""nnfunc's report/answer queues against Optuna's Dask integration (``DaskStorage``), on the same trials.

    pip install optuna-integration    # for the comparison only; nnfunc does not use it
    python benchmarks/sweep_protocol.py [--trials 8] [--epochs 10] [--rounds 3]

Both sweeps run the same tiny real-MNIST trials (``nnfunc.sweep.trial.run``,
the function a worker runs) on one local cluster of two single-thread
workers, with random sampling and no pruning, so both do the same work and
differ only in how each epoch's validation loss reaches Optuna and the
answer comes back:

- nnfunc: the worker puts a report on a Dask queue and waits for the
  sweep's answer; the sweep process alone opens ``study.db`` and judges
  (``nnfunc.sweep.scheduling.run_trials``, what ``nnfunc sweep`` runs);
- DaskStorage: the study's storage lives in the scheduler process; the
  worker asks its own trial and calls ``trial.report`` and
  ``trial.should_prune`` there, each a call into the scheduler.

Tiny epochs (about 50 ms) make the per-report cost visible. Prints each
round's wall time and the time per epoch report, the median of rounds, and
the machine: BLAS, threads, versions.
"""

import argparse
import contextlib
import os
import signal
import threading
import warnings
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from nnfunc.sweep import engine, scheduling, store
from nnfunc.sweep import trial as _trial
from nnfunc.sweep.space import merge, parse_flag
from nnfunc.training import provenance

SEARCH = ["lr=1e-3..3e-2:log"]


def tiny(epochs):
    return ["--epochs", str(epochs), "--train-size", "3000", "--val-size", "500", "--test-size", "200", "--hidden",
            "16", "--seed", "0"]


def nnfunc_sweep(client, trials, epochs, where, kill=False):
    """``nnfunc sweep``'s own loop: (seconds, epoch reports, {trial state: count})."""
    space = merge({}, [parse_flag(text) for text in SEARCH])
    study = store.open_study(where / "study.db", sampler="random", pruner="none", seed=0, prune_after=2)
    t0 = time.perf_counter()
    with _killing_a_worker(client, kill):
        scheduling.run_trials(client, study, space, tiny(epochs), where, trials, 0, say=lambda line: None)
    seconds = time.perf_counter() - t0
    return seconds, sum(len(t.intermediate_values) for t in study.trials), _states(study.trials)


def _dask_storage_trial(storage_name, epochs):
    """On a worker: ask a trial of the study in the scheduler, train it, report each epoch there."""
    from optuna_integration import DaskStorage

    study = optuna.load_study(study_name="bench", storage=DaskStorage(name=storage_name, register=False),
                              sampler=optuna.samplers.RandomSampler(), pruner=optuna.pruners.NopPruner())
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True)})

    def should_prune(record):
        trial.report(record["val_loss"], record["epoch"])
        return trial.should_prune()

    outcome = _trial.run([*tiny(epochs), "--lr", repr(trial.params["lr"])], should_prune)
    state = optuna.trial.TrialState.COMPLETE if outcome["status"] == _trial.COMPLETE else optuna.trial.TrialState.FAIL
    study.tell(trial, 0.0 if state == optuna.trial.TrialState.COMPLETE else None, state=state)
    return outcome["status"]


def dask_storage_sweep(client, trials, epochs, where, kill=False):
    """Optuna's documented integration: (seconds, epoch reports, {trial state: count})."""
    from optuna_integration import DaskStorage

    storage = DaskStorage(f"sqlite:///{where / 'dask-study.db'}", client=client)
    study = optuna.create_study(study_name="bench", storage=storage)
    t0 = time.perf_counter()
    with _killing_a_worker(client, kill):
        futures = [client.submit(_dask_storage_trial, storage.name, epochs, pure=False) for _ in range(trials)]
        client.gather(futures)
    seconds = time.perf_counter() - t0
    found = study.get_trials()
    return seconds, sum(len(t.intermediate_values) for t in found), _states(found)


def _states(found):
    counts = {}
    for t in found:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


@contextlib.contextmanager
def _killing_a_worker(client, kill):
    """With ``kill``: SIGKILL one worker process (its nanny starts another) once the sweep has run a second."""
    if not kill:
        yield
        return
    pid = next(iter(client.run(os.getpid).values()))
    timer = threading.Timer(1.0, os.kill, (pid, signal.SIGKILL))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _never(record):
    return False


def _time_reports():
    """On a worker: wrap ``trial.run`` so each epoch report's round trip (its ``should_prune`` call) is timed."""
    import nnfunc.sweep.trial as module

    if hasattr(module, "_report_seconds"):
        return
    module._report_seconds, real = [], module.run

    def run(argv, should_prune):
        def timed(record):
            t0 = time.perf_counter()
            answer = should_prune(record)
            module._report_seconds.append(time.perf_counter() - t0)
            return answer

        return real(argv, timed)

    module.run = run


def _take_report_seconds():
    import nnfunc.sweep.trial as module

    taken = list(module._report_seconds)
    module._report_seconds.clear()
    return taken


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kill", action="store_true", help="SIGKILL a worker mid-sweep once, and count the trials")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # DaskStorage's, on every call
    print(f"computed by: {provenance.kernels_line(provenance.describe())}; optuna {optuna.__version__}")
    times = {"nnfunc queues": [], "DaskStorage": []}
    with engine.connect(workers=2) as client:
        workers = list(client.scheduler_info()["workers"])  # warm each one: the data cache, the kernels
        client.gather([client.submit(_trial.run, tiny(1), _never, workers=[w], pure=False) for w in workers])
        client.run(_time_reports)
        for r in range(args.rounds):
            for name, sweep in (("nnfunc queues", nnfunc_sweep), ("DaskStorage", dask_storage_sweep)):
                client.run(_take_report_seconds)
                with tempfile.TemporaryDirectory() as where:
                    seconds, reports, states = sweep(client, args.trials, args.epochs, Path(where), args.kill)
                if args.kill:  # the wrapper of the killed worker's replacement: time no rounds, count the trials
                    client.run(_time_reports)
                    print(f"{name:>14} with a worker killed: {reports} epoch reports, trials {states}")
                    continue
                waits = [w for per_worker in client.run(_take_report_seconds).values() for w in per_worker]
                assert len(waits) == reports == args.trials * args.epochs, (len(waits), reports)
                times[name].append((seconds, waits))
                print(f"round {r + 1} {name:>14}: {seconds:6.2f} s for {args.trials} trials; a report's round trip "
                      f"{1e3 * statistics.median(waits):.1f} ms median, {1e3 * max(waits):.1f} ms at most")
    if args.kill:
        return
    print()
    for name, rounds in times.items():
        seconds = statistics.median(s for s, _ in rounds)
        spread = (max(s for s, _ in rounds) - min(s for s, _ in rounds)) / seconds
        waits = sorted(w for _, per_round in rounds for w in per_round)
        print(f"{name:>14}: sweep {seconds:5.2f} s (median of {len(rounds)}, spread {100 * spread:.0f}%); report round "
              f"trip {1e3 * statistics.median(waits):.1f} ms median, {1e3 * waits[int(0.9 * len(waits))]:.1f} ms p90")


if __name__ == "__main__":
    main()
