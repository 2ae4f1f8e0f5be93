"""The sweep's trial loop: one trial per worker thread, each epoch's report judged, each outcome recorded.

Optuna (``store``) picks each trial's settings, Dask (``engine``) runs it,
each epoch's validation loss comes back and Optuna may stop the trial
(``_judge``); a finished trial becomes the run directory ``trials/NNNN``
and a row of the study (``_finish``). What it has to say goes to ``say``,
one line at a time.
"""

import uuid

from nnfunc.errors import ConfigError
from nnfunc.sweep import directory, engine, results, store
from nnfunc.sweep import space as _space
from nnfunc.sweep import trial as _trial


def params_text(params):
    """A trial's settings as one line: ``batch_size=64 lr=0.003162``."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def run_trials(client, study, space, fixed, out, trials, done, *, say):
    """Keep every worker busy with a trial until ``trials`` are done (``done`` already are); ``say`` gets each line.

    Returns when the last trial has finished; a KeyboardInterrupt or a lost
    cluster stops every running trial at its next epoch on the way out.
    """
    _check_workers(client, say)
    key = f"nnfunc-sweep-{uuid.uuid4().hex[:12]}"
    channel = engine.Channel(client, key)
    running = {}  # number -> {"trial", "future", "attempts", "curve", "reported", "epochs"}
    try:
        while True:
            while len(running) < max(engine.slots(client), 1) and done + len(running) < trials:
                trial = store.ask(study, space)
                argv = _space.trial_argv(fixed, trial.params)
                trial.set_user_attr("argv", argv)
                running[trial.number] = {"trial": trial, "future": engine.submit(client, key, trial.number, argv),
                                         "attempts": [], "curve": [], "reported": set(),
                                         "epochs": _space.epochs_of(fixed, trial.params)}
                say(f"trial {trial.number} started: {params_text(trial.params)}")
            if not running:
                return
            for report in channel.poll():
                entry = running.get(report["number"])
                if entry is not None:  # else a trial that ended meanwhile
                    channel.answer(report, _judge(entry, report, say))
            for number in [n for n, e in running.items() if e["future"].done()]:
                entry = running.pop(number)
                _finish(study, entry, out, number, *engine.result(entry["future"]), say)
                channel.forget(number)
                done += 1
                results.write(out, results.table(store.rows(study)), _space.as_dict(space), plots=False)
    finally:
        channel.stop()  # trials still running (the sweep was stopped) give up at their next epoch


def _check_workers(client, say):
    """Wait for a worker; refuse workers of several threads (trials would share a process's BLAS threads)."""
    if not engine.slots(client):
        say("waiting for a worker to join the scheduler")
        client.wait_for_workers(1)
    many = {w: n for w, n in client.nthreads().items() if n > 1}
    if many:
        worker, n = next(iter(many.items()))
        raise ConfigError(f"the Dask worker {worker} runs {n} threads; a trial needs a worker process of its own "
                          "(trials sharing one would share its BLAS threads, so each one's speed and bits would depend on the "
                          "others). Start workers with "
                          "dask worker ADDRESS --nworkers N --nthreads 1")


def _judge(entry, report, say):
    """Record an epoch's report; return whether its trial should stop."""
    attempt, record, trial = report["attempt"], report["record"], entry["trial"]
    if attempt not in entry["attempts"]:  # the first report, or a rerun after its worker died
        entry["attempts"].append(attempt)
        entry["curve"] = []
    elif attempt != entry["attempts"][-1]:
        return True  # an older attempt still running (its worker was thought dead): the newer one counts
    epoch = record["epoch"]
    if epoch in entry["reported"]:
        stop = store.should_stop(trial)  # a rerun's epoch: Optuna keeps the first report
    else:
        stop = store.report(trial, epoch, record["val_loss"])
        entry["reported"].add(epoch)
    if epoch >= entry["epochs"]:
        stop = False  # the last epoch: stopping now would save nothing and lose the result
    entry["curve"].append([report["time"], epoch, record["val_loss"], record["val_accuracy"]])
    trial.set_user_attr("curve", entry["curve"])
    say(f"trial {report['number']} epoch {epoch}: val loss {record['val_loss']:.4f} acc "
          f"{100 * record['val_accuracy']:.2f}%{' -> pruned' if stop else ''} ({report['worker']})")
    return stop


def _finish(study, entry, out, number, outcome, lost, say):
    trial = entry["trial"]
    if outcome is None:
        store.finish(study, trial, _trial.FAILED, attrs={"error": f"the cluster lost the trial ({lost})"})
        say(f"trial {number} lost: {lost}")
        return
    run_dir = directory.write_trial(out, number, outcome["files"])
    value, attrs = directory.outcome_attrs(outcome["files"], run_dir)
    attrs["worker"] = f"{outcome['host']}:{outcome['pid']}"
    status = outcome["status"]
    if status == _trial.COMPLETE and value is None:
        status, outcome["error"] = _trial.FAILED, "the run has no validation loss"
    if status == _trial.FAILED:
        attrs["error"] = outcome["error"]
    store.finish(study, trial, status, value, attrs)
    line = f"trial {number} {status}"
    if "val_accuracy" in attrs:
        line += f": validation accuracy {100 * attrs['val_accuracy']:.2f}% after {attrs['epochs']} epochs"
    if status == _trial.FAILED:
        line += f": {outcome['error']}"
    say(f"{line} ({attrs['seconds']:.1f} s training on {attrs['worker']}) -> {out / run_dir}")
