"""The sweep's memory and judgement: an Optuna study in ``study.db`` (SQLite) inside the sweep directory.

Optuna chooses each trial's settings (TPE or random sampling), decides
from the per-epoch validation losses whether a running trial is hopeless
(median, successive halving or Hyperband pruning), and keeps every trial's
state in an embedded SQLite file that survives a killed sweep. Only the
sweep's own process opens the file: workers never see it, so they need no
shared disk. This is the only module that imports Optuna.
"""

import logging

import numpy as np
import optuna
import sqlalchemy.exc
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from nnfunc.errors import ConfigError
from nnfunc.sweep.trial import COMPLETE, FAILED, PRUNED

STUDY_NAME = "nnfunc-sweep"
# what the SQLite storage raises: a damaged file, a full disk, a lost directory
STORE_ERRORS = (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError)
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "halving", "hyperband", "none")
# states as the sweep's table shows them
# (a trial's own ends are nnfunc.sweep.trial's words; the study adds three)
INTERRUPTED, RUNNING, WAITING = "interrupted", "running", "waiting"


def _quiet():
    # Optuna logs each trial at INFO; the sweep prints its own lines
    logging.getLogger("optuna").setLevel(logging.WARNING)


def distributions(space):
    """Optuna distributions of a space ({key: nnfunc.sweep.space.Dimension})."""
    out = {}
    for key, dim in space.items():
        if dim.choices is not None:
            out[key] = CategoricalDistribution(dim.choices)
        elif dim.is_int:
            out[key] = IntDistribution(int(dim.low), int(dim.high), log=dim.log)
        else:
            out[key] = FloatDistribution(dim.low, dim.high, log=dim.log)
    return out


def _sampler(name, seed, n_trials_before):
    # a resumed sweep must not replay the first session's draws: seed by (seed, trials so far)
    state = int(np.random.SeedSequence([seed, n_trials_before]).generate_state(1)[0])
    if name == "random":
        return optuna.samplers.RandomSampler(seed=state)
    return optuna.samplers.TPESampler(seed=state)


def _pruner(name, prune_after):
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=prune_after)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(prune_after, 1))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(prune_after, 1))
    return optuna.pruners.NopPruner()


def open_study(path, *, sampler, pruner, seed, prune_after):
    """The study in the SQLite file ``path``: created, or loaded to continue.

    ``prune_after``: no trial is stopped before it has trained this many epochs.
    """
    _quiet()
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path.absolute()}", engine_kwargs={"connect_args":
                                                                                             {"timeout": 60}})
        try:
            before = len(storage.get_all_trials(storage.get_study_id_from_name(STUDY_NAME)))
        except KeyError:  # a new sweep
            before = 0
        return optuna.create_study(storage=storage, study_name=STUDY_NAME, direction="minimize",
                                   sampler=_sampler(sampler, seed, before), pruner=_pruner(pruner, prune_after),
                                   load_if_exists=True)
    except STORE_ERRORS as exc:
        raise ConfigError(f"{path} is not a readable sweep study ({_reason(exc)}); restore it from a copy, or start "
                          "a new sweep with another --out") from None


def _reason(exc):
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def describe(exc):
    """One line for a storage error met while the sweep runs (a full disk, a lost file)."""
    return f"the sweep's study.db failed: {_reason(exc)}. Finished trials are kept; fix the cause and run the same " \
           "command to continue"


def recover(study):
    """Settle the trials a killed sweep left running; return the numbers of those queued again.

    A trial whose end was being recorded (its "status" attribute, set last
    before ``tell``, is there) gets that end. The others were interrupted:
    they stay in the study as failed without an error (the table calls them
    interrupted), and new trials with the same settings take their place.
    """
    lost = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        status = t.user_attrs.get("status")
        if status == COMPLETE and t.user_attrs.get("val_loss") is not None:
            study.tell(t.number, t.user_attrs["val_loss"])
        elif status in (PRUNED, FAILED):
            study.tell(t.number, state=TrialState.PRUNED if status == PRUNED else TrialState.FAIL)
        else:
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            lost.append(t.number)
    return lost


def state_of(frozen):
    """The table's word for a trial's state."""
    if frozen.state == TrialState.FAIL:
        return FAILED if "error" in frozen.user_attrs else INTERRUPTED
    return {TrialState.COMPLETE: COMPLETE, TrialState.PRUNED: PRUNED, TrialState.RUNNING: RUNNING,
            TrialState.WAITING: WAITING}[frozen.state]


def trials(study):
    """Every trial as a FrozenTrial, in number order."""
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def done(study):
    """How many trials have a result (complete, pruned, or failed by their own fault)."""
    return sum(state_of(t) in (COMPLETE, PRUNED, FAILED) for t in trials(study))


def ask(study, space):
    """A new trial (or a queued retry) with its settings drawn from ``space``."""
    return study.ask(fixed_distributions=distributions(space))


def report(trial, epoch, val_loss):
    """Tell Optuna an epoch's validation loss; return whether the trial should stop."""
    trial.report(val_loss, epoch)
    return should_stop(trial)


def should_stop(trial):
    """Whether the pruner gives up on ``trial`` given what it has reported (a rerun's epochs are not re-told)."""
    return bool(trial.should_prune())


def finish(study, trial, status, value=None, attrs=()):
    """Record a trial's end: ``status`` complete (with ``value``), pruned or failed (attrs has "error").

    Each attribute is its own write, so "status" goes last: a sweep killed
    before ``tell`` leaves a trial that ``recover`` can settle.
    """
    for key, v in {**dict(attrs), "status": status}.items():
        trial.set_user_attr(key, v)
    if status == COMPLETE:
        study.tell(trial, value)
    else:
        study.tell(trial, state=TrialState.PRUNED if status == PRUNED else TrialState.FAIL)


def rows(study):
    """Every trial as a plain dict: trial, state, val_loss (the objective), params, attrs, started, ended."""
    out = []
    for t in trials(study):
        out.append({"trial": t.number, "state": state_of(t), "val_loss": t.value if t.state == TrialState.COMPLETE
                    else None, "params": dict(t.params), "attrs": dict(t.user_attrs),
                    "started": t.datetime_start.timestamp() if t.datetime_start else None,
                    "ended": t.datetime_complete.timestamp() if t.datetime_complete else None})
    return out
