"""A training run as one library call: data, run directory and its lock, fit, checkpoints, test metrics, plots.

``run(settings)`` is what ``nnfunc train`` does, for Python callers and
the sweep's trials: it raises nnfunc's errors (never exits, never touches
the process's streams or signals) and returns a ``RunResult``. What a run
reports as it goes reaches the caller through callbacks, each named by
what it promises. Every check runs before the run directory gets a file.
"""

import math
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from nnfunc import activations
from nnfunc.errors import CheckpointError, ConfigError, DivergenceError, GradientMismatchError
from nnfunc.evaluation import Evaluation, evaluate
from nnfunc.initializers import init
from nnfunc.optim import optimizers, schedules
from nnfunc.training import checkpoint, loop, provenance, rundata, runlog
from nnfunc.training import resume as resume_rules
from nnfunc.training.seeds import run_seeds
from nnfunc.training.settings import augment_spec, make_config, parse_widths, run_dir_of


class RunResult(NamedTuple):
    """A finished run: where it is, its config, final FitState, test Evaluation and whether patience stopped it."""

    run_dir: Path
    config: dict
    state: loop.FitState
    test: Evaluation
    stopped_early: bool


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a SIGTERM the caller turned into one) stopped a run that holds a checkpoint.

    ``run_dir`` keeps the checkpoint of ``epoch``; ``resume`` is the train
    command that continues it up to ``epochs``.
    """

    def __init__(self, run_dir, epoch, epochs):
        super().__init__(f"interrupted: the checkpoint of epoch {epoch} is saved in {run_dir / 'model.npz'}")
        self.run_dir, self.epoch, self.epochs = run_dir, epoch, epochs
        self.resume = f"python -m nnfunc.train --resume {run_dir} --epochs {epochs}"


class Plan(NamedTuple):
    """What a run will do, told to ``on_start`` once its data is loaded and its directory held."""

    run_dir: Path
    sizes: tuple
    activation: object
    dataset: str
    source: str
    n_train: int
    n_val: int
    n_test: int
    epochs: int


def epoch_line(record, epochs):
    """The line ``nnfunc train`` prints for an epoch's history record, of ``epochs`` in all."""
    val = ""
    if record["val_loss"] is not None:
        val = f"  val loss {record['val_loss']:.4f} acc {100 * record['val_accuracy']:6.2f}%"
    lr = f"  lr {record['lr']:.2e}" if record["lr"] is not None else ""
    return (f"epoch {record['epoch']:>3}/{epochs}  train loss {record['train_loss']:.4f} "
            f"acc {100 * record['train_accuracy']:6.2f}%{val}{lr}  {record['seconds']:.1f}s")


def start_line(plan):
    """The line ``nnfunc train`` prints when a run starts (a ``Plan``)."""
    return (f"training {'-'.join(map(str, plan.sizes))} {plan.activation} on {plan.dataset} ({plan.n_train} train, "
            f"{plan.n_val} val, {plan.n_test} test) from {plan.source} -> {plan.run_dir}")


def test_line(test):
    """The line that gives a run's test result (an Evaluation)."""
    return f"test accuracy {100 * test.accuracy:.2f}%  test loss {test.loss:.4f}"


def build(config, n_in, n_out, steps_per_epoch):
    """(sizes, params, optimizer) of a config; the params come from the seed tree's init stream."""
    sizes = (n_in, *parse_widths(config["hidden"]), n_out)
    init_rng = np.random.default_rng(run_seeds(config["seed"]).init)
    params = init(sizes, init_rng, scheme=config["init"], dtype=np.dtype(config["dtype"]))
    warmup = round(config["warmup_epochs"] * steps_per_epoch)
    total = max(config["decay_epochs"] * steps_per_epoch, warmup + 1)
    schedule = schedules.get(config["schedule"], config["lr"], total_steps=total, warmup_steps=warmup)
    return sizes, params, optimizers.get(config["optimizer"], schedule)


def fit_config_of(config):
    """The FitConfig of a run's config."""
    return loop.FitConfig(config["epochs"], config["batch_size"], activations.parse_spec(config["activation"]),
                          config["l2"], config["dropout"], config["patience"], augment_spec(config))


def run_dirs(resume=None, out=None):
    """(source run or None, run directory to write): a resume continues in place, or branches into ``out``."""
    source = run_dir_of(resume) if resume is not None else None
    out = Path(out) if out is not None else source or runlog.new_run_dir()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a directory for the run")
    return source, out


def _unfinished(path):
    """Whether ``path`` is this nnfunc's checkpoint of a run that never finished an epoch."""
    try:
        return checkpoint.read_meta(path)["epoch"] == 0
    except CheckpointError:
        return False  # someone else's file, or another version's: never overwrite it


def run(settings=None, *, out=None, resume=None, data_dir=None, offline=False, plots=True, gradcheck=False,
        allow_other_kernels=False, progress=False, on_start: Optional[Callable] = None,
        on_gradcheck: Optional[Callable] = None, on_saved: Optional[Callable] = None):
    """Train a run (or continue one) and write its directory; return a RunResult.

    Args:
        settings: the run's settings, a dict of ``settings.DEFAULTS`` keys
            (the rest take their defaults); with ``resume`` only ``epochs``.
        out: the run directory (default ``runs/<timestamp>``, or ``resume``).
        resume: a run directory (or its model.npz) to continue up to
            ``settings["epochs"]``, in place or branched into ``out``.
        data_dir, offline: where the data is, and whether the network may
            be used to fetch it (``nnfunc.training.rundata.find``).
        plots: draw the PNGs. gradcheck: check this architecture's
            gradients on 8 examples first (``on_gradcheck(report)`` sees it).
        allow_other_kernels: resume on other kernels than the run's own.
        progress: draw progress bars on stderr (download, batches).
        on_start: ``on_start(plan)`` once, with a ``Plan``, before training
            (after ``on_gradcheck``).
        on_saved: ``on_saved(record)`` after each epoch's checkpoint is on
            disk, with that epoch's history record; an exception there stops
            the run, that checkpoint kept.

    Raises:
        ConfigError, DataError, CheckpointError, ...: before any file is
            written, for bad settings, data or a run that cannot continue.
        DivergenceError: the loss became non-finite; the message says which
            checkpoint is kept and what to change.
        GradientMismatchError: ``gradcheck`` failed.
        RunInterrupted: KeyboardInterrupt once the run holds a checkpoint.
    """
    config = make_config(settings or {}, resume)
    source, out = run_dirs(resume, out)
    branch = source is not None and out.resolve() != source.resolve()
    fit_config = fit_config_of(config)
    ds, train_data = rundata.load(config, data_dir=data_dir, offline=offline, progress=progress)
    config["data_source"] = ds.source
    m = train_data.x_train.shape[0]
    steps_per_epoch = math.ceil(m / min(config["batch_size"], m))
    sizes, params, opt = build(config, train_data.x_train.shape[1], len(ds.class_names), steps_per_epoch)
    with runlog.own(out):
        if (source is None or branch) and (out / "model.npz").exists() and not _unfinished(out / "model.npz"):
            # a run that never finished an epoch (it diverged or was stopped) may be started over
            raise ConfigError(f"{out} already holds a model.npz; continue its run with --resume {out} or pick "
                              "another --out")
        if source is not None:
            state, finishing = _continued(source, branch, opt, sizes, config, fit_config, steps_per_epoch,
                                          allow_other_kernels)
        else:
            state, finishing = loop.start_fit(params, opt, config["seed"]), False
            config["computed_by"] = provenance.describe()
        if gradcheck:
            _gradcheck(state.params, train_data, config, on_gradcheck)
        if on_start is not None:
            on_start(Plan(out, sizes, fit_config.activation, ds.name, ds.source, m, train_data.x_val.shape[0],
                          ds.x_test.shape[0], config["epochs"]))
        saved = [state.epoch]  # epochs whose checkpoint is on disk
        try:
            if not finishing:
                state = _train(out, config, ds, state, opt, train_data, fit_config, saved, progress,
                               fresh=source is None or branch, on_saved=on_saved)
            return _finish(out, config, ds, state, train_data, fit_config, plots)
        except KeyboardInterrupt:
            raise RunInterrupted(out, saved[-1], config["epochs"]) from None


def _continued(source, branch, opt, sizes, config, fit_config, steps_per_epoch, allow_other_kernels):
    """(FitState of ``source``'s checkpoint, whether only its ending is left); records the resume in ``config``.

    Raises ConfigError or CheckpointError for a run that cannot continue here.
    """
    state, _ = checkpoint.load_state(source / "model.npz", opt, sizes=sizes)
    provenance.check_kernels(config, source, allow_other_kernels)
    finishing = resume_rules.check(source, state, opt, config, fit_config, steps_per_epoch,
                                   tested=branch or resume_rules.tested(source))
    earlier = config.get("resumed") if isinstance(config.get("resumed"), list) else []
    now = {"epoch": state.epoch, **provenance.describe()}
    if provenance.last_kernels(config) not in (None, now["kernels"]):
        now["allow_other_kernels"] = True  # check_kernels let it through: the user asked
    config["resumed"] = [*earlier, now]
    if branch:
        config["branched_from"] = f"{source.absolute()} at epoch {state.epoch}"
    return state, finishing


def _gradcheck(params, train, config, on_report):
    from nnfunc.data.load import scale_pixels
    from nnfunc.verify.network import check_network

    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    x = scale_pixels(train.x_train[:8], np.float64)
    report = check_network(params64, x, train.y_train[:8], activation=activations.parse_spec(config["activation"]),
                           l2=config["l2"])
    if on_report is not None:
        on_report(report)
    if not report.ok:
        raise GradientMismatchError("gradient check failed: the analytic gradients of this network are wrong")


def _train(out, config, ds, state, opt, train_data, fit_config, saved, progress, *, fresh, on_saved):
    """Fit while holding ``out``, saving a checkpoint after every epoch; return the last FitState.

    A fresh run or a branch is saved at once, so its directory holds a run
    from the start; a run resumed in place is not rewritten until it has
    trained an epoch, so a resume that fails early changes nothing.
    """

    def save(state):
        # checkpoint first: config.json, its copy of the settings, then always belongs to a saved state
        checkpoint.save(out / "model.npz", state, config, ds.name)
        runlog.write_config(out, config)
        runlog.write_metrics(out, list(state.history))
        new = state.epoch > saved[-1]
        saved.append(state.epoch)
        if on_saved is not None and new:
            on_saved(state.history[-1])

    if fresh:
        save(state)
    try:
        return loop.fit(state, opt, train_data, fit_config, on_epoch=save, progress=progress)
    except DivergenceError as exc:
        kept = f"the checkpoint of epoch {saved[-1]} is kept in {out / 'model.npz'}"
        if fresh:
            message = f"{exc} (flags: --lr, --warmup-epochs, --schedule, --l2); {kept}"
        else:  # a resumed run keeps its settings: the fix is a new run
            message = (f"{exc}; {kept}. A resumed run keeps its settings, so start a new run with a lower --lr, "
                       "a --warmup-epochs, another --schedule or a higher --l2")
        raise DivergenceError(message) from exc


def _finish(out, config, ds, state, train_data, fit_config, plots):
    """Evaluate on the test set, draw the plots, then write the test result: the mark of a finished run."""
    params = loop.final_params(state)
    test = evaluate(params, ds.x_test, ds.y_test, activation=fit_config.activation, l2=config["l2"])
    if plots:
        from nnfunc.report.runplots import write_plots

        write_plots(out, state, ds, test, fit_config.activation, train_data, config)
    runlog.write_metrics(out, list(state.history), {"loss": test.loss, "accuracy": test.accuracy})
    return RunResult(out, config, state, test, loop.stopped_early(state, fit_config))
