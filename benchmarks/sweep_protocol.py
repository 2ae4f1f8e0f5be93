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


def nnfunc_sweep(client, trials, epochs, where):
    """``nnfunc sweep``'s own loop: (seconds, epoch reports)."""
    space = merge({}, [parse_flag(text) for text in SEARCH])
    study = store.open_study(where / "study.db", sampler="random", pruner="none", seed=0, prune_after=2)
    t0 = time.perf_counter()
    scheduling.run_trials(client, study, space, tiny(epochs), where, trials, 0, say=lambda line: None)
    seconds = time.perf_counter() - t0
    reports = sum(len(t.intermediate_values) for t in study.trials)
    assert reports == trials * epochs, reports
    return seconds, reports


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


def dask_storage_sweep(client, trials, epochs, where):
    """Optuna's documented integration: (seconds, epoch reports)."""
    from optuna_integration import DaskStorage

    storage = DaskStorage(f"sqlite:///{where / 'dask-study.db'}", client=client)
    study = optuna.create_study(study_name="bench", storage=storage)
    t0 = time.perf_counter()
    futures = [client.submit(_dask_storage_trial, storage.name, epochs, pure=False) for _ in range(trials)]
    statuses = client.gather(futures)
    seconds = time.perf_counter() - t0
    assert statuses == [_trial.COMPLETE] * trials, statuses
    reports = sum(len(t.intermediate_values) for t in study.get_trials())
    assert reports == trials * epochs, reports
    return seconds, reports


def _never(record):
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"computed by: {provenance.kernels_line(provenance.describe())}; optuna {optuna.__version__}")
    times = {"nnfunc queues": [], "DaskStorage": []}
    with engine.connect(workers=2) as client:
        workers = list(client.scheduler_info()["workers"])  # warm each one: the data cache, the kernels
        client.gather([client.submit(_trial.run, tiny(1), _never, workers=[w], pure=False) for w in workers])
        for r in range(args.rounds):
            for name, sweep in (("nnfunc queues", nnfunc_sweep), ("DaskStorage", dask_storage_sweep)):
                with tempfile.TemporaryDirectory() as where:
                    seconds, reports = sweep(client, args.trials, args.epochs, Path(where))
                times[name].append((seconds, reports))
                print(f"round {r + 1} {name:>14}: {seconds:6.2f} s for {args.trials} trials, {reports} reports")
    print()
    for name, rounds in times.items():
        seconds = statistics.median(s for s, _ in rounds)
        spread = (max(s for s, _ in rounds) - min(s for s, _ in rounds)) / seconds
        print(f"{name:>14}: median {seconds:6.2f} s ({1e3 * seconds / rounds[0][1]:.1f} ms of sweep per epoch "
              f"report, 2 workers), spread {100 * spread:.0f}%")


if __name__ == "__main__":
    main()
