"""``nnfunc train`` (also ``python -m nnfunc.train``): train an MLP on MNIST or Fashion-MNIST.

A thin shell around ``nnfunc.fit``: check every flag, load verified data,
build params and optimizer from the run's seed tree, call ``fit`` with a
callback that checkpoints every epoch, then evaluate on the test set and
draw the plots. Every check runs before the run directory gets a file.
"""

import argparse
import math
import signal
import sys
from pathlib import Path

import numpy as np

import nnfunc as nf
from nnfunc import activations
from nnfunc.allocator import keep_freed_memory
from nnfunc.cli import _common
from nnfunc.cli._common import flag
from nnfunc.cli._settings import (DEFAULTS, SHOWN_DEFAULTS, augment_spec, check_resume, make_config,
                                  parse_widths, run_dir_of)
from nnfunc.data import augment as _augment
from nnfunc.data.datasets import SPECS
from nnfunc.data.load import scale_pixels, subset
from nnfunc.errors import ConfigError
from nnfunc.optim import optimizers, schedules
from nnfunc.training import checkpoint, loop, runlog
from nnfunc.training.seeds import run_seeds

def build_parser(prog="nnfunc train"):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Train a fully connected network on real MNIST (or Fashion-MNIST) and write a run "
        "directory with config, metrics, checkpoint and plots.",
    )

    def a(name, help, **kwargs):
        key = name[2:].replace("-", "_")
        if key in DEFAULTS:
            # the parser's own default stays None so a resumed run can tell given flags apart
            shown = SHOWN_DEFAULTS.get(key, DEFAULTS[key])
            help = f"{help} (default: {shown})"
        p.add_argument(name, help=help, **kwargs)

    a("--hidden", "hidden widths, comma separated (input and output sizes come from the data); '' for none")
    a("--activation", "hidden activation: " + ", ".join(nf.ACTIVATIONS) + "; or one per hidden layer, comma separated")
    a("--init", "weight init: he, xavier/glorot, lecun, each optionally _normal or _uniform")
    a("--optimizer", "update rule", choices=optimizers.NAMES)
    a("--lr", "base learning rate", type=float)
    a("--schedule", "learning-rate schedule over the run's steps", choices=schedules.NAMES)
    a("--warmup-epochs", "linear warmup length in epochs (fractions allowed)", type=float)
    a("--decay-epochs", "epochs the schedule decays over; fixed for --resume", type=int)
    a("--epochs", "epochs in total (with --resume: train up to this many)", type=int)
    a("--batch-size", "examples per mini-batch", type=int)
    a("--l2", "L2 strength: loss += 0.5 * l2 * sum ||W||^2 (weights only)", type=float)
    a("--dropout", "probability of dropping each hidden unit while training (inverted dropout)", type=float)
    a("--val-size", "examples held out of the training set for validation (0: none)", type=int)
    a("--patience", "stop after this many epochs without a lower validation loss and keep the best params "
      "(0: off)", type=int)
    a("--augment", "distort every training batch afresh: " + ", ".join(_augment.KINDS) + " (validation and test "
      "images never are)", choices=_augment.KINDS)
    a("--rotate", "with --augment affine: largest rotation, degrees", type=float)
    a("--scale", "with --augment affine: largest scaling of each axis, as a fraction", type=float)
    a("--shear", "with --augment affine: largest shear, degrees", type=float)
    a("--shift", "with --augment affine: largest shift of each axis, pixels", type=float)
    a("--elastic-alpha", "with --augment elastic: scale of the elastic displacement, pixels", type=float)
    a("--elastic-sigma", "with --augment elastic: width of the Gaussian smoothing the displacement, pixels",
      type=float)
    a("--seed", "seed of every random draw (init, split, batches, dropout, augmentation: one stream each)", type=int)
    a("--dtype", "dtype of params and computation", choices=("float32", "float64"))
    a("--dataset", "which dataset", choices=tuple(SPECS))
    a("--data-dir", "directory holding the four IDX files (default: the run's recorded directory for "
      "--resume, else $NNFUNC_DATA_DIR, the cache, a download)")
    a("--offline", "never use the network to fetch data", action="store_true")
    a("--train-size", "use only the first N training examples (quick runs, tests)", type=int)
    a("--test-size", "use only the first N test examples", type=int)
    a("--out", "run directory (default: runs/<timestamp>)")
    a("--resume", "continue RUN_DIR with its own config and seed, up to --epochs", metavar="RUN_DIR")
    a("--gradcheck", "print the gradient check of this architecture on a small batch first", action="store_true")
    a("--quiet", "no progress bar and no per-epoch lines", action="store_true")
    a("--no-plots", "skip the PNG plots", action="store_true")
    p.set_defaults(**{k: None for k in DEFAULTS})
    return p


def load_data(config, args):
    """Verified dataset as uint8, cut to the requested sizes, with the seeded validation split."""
    ds = _common.load_data(config["dataset"], data_dir=args.data_dir, recorded=config.get("data_source"),
                           offline=args.offline, progress=not args.quiet)
    for key, split in (("train_size", ds.y_train), ("test_size", ds.y_test)):
        if config[key] is not None and config[key] > len(split):
            raise ConfigError(f"{flag(key)} {config[key]} is more than the {len(split)} examples of "
                              f"{ds.name}; pass at most {len(split)}")
    ds = subset(ds, n_train=config["train_size"], n_test=config["test_size"])
    if config["val_size"] >= len(ds.y_train):
        raise ConfigError(f"--val-size {config['val_size']} leaves none of the {len(ds.y_train)} training "
                          "examples to train on; pass a smaller --val-size")
    split_rng = np.random.default_rng(run_seeds(config["seed"]).split)
    x_tr, y_tr, x_val, y_val = nf.split_validation(ds.x_train, ds.y_train, config["val_size"], split_rng)
    return ds, nf.TrainData(x_tr, y_tr, x_val, y_val)


def build(config, n_in, n_out, steps_per_epoch):
    """(sizes, params, optimizer) of a config; the params come from the seed tree's init stream."""
    sizes = (n_in, *parse_widths(config["hidden"]), n_out)
    init_rng = np.random.default_rng(run_seeds(config["seed"]).init)
    params = nf.init(sizes, init_rng, scheme=config["init"], dtype=np.dtype(config["dtype"]))
    warmup = round(config["warmup_epochs"] * steps_per_epoch)
    total = max(config["decay_epochs"] * steps_per_epoch, warmup + 1)
    schedule = schedules.get(config["schedule"], config["lr"], total_steps=total, warmup_steps=warmup)
    return sizes, params, optimizers.get(config["optimizer"], schedule)


def epoch_line(record, epochs):
    val = ""
    if record["val_loss"] is not None:
        val = f"  val loss {record['val_loss']:.4f} acc {100 * record['val_accuracy']:6.2f}%"
    lr = f"  lr {record['lr']:.2e}" if record["lr"] is not None else ""
    return (f"epoch {record['epoch']:>3}/{epochs}  train loss {record['train_loss']:.4f} "
            f"acc {100 * record['train_accuracy']:6.2f}%{val}{lr}  {record['seconds']:.1f}s")


def run_gradcheck(params, train, config):
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    x = scale_pixels(train.x_train[:8], np.float64)
    report = nf.check_network(params64, x, train.y_train[:8], activation=activations.parse_spec(config["activation"]),
                              l2=config["l2"])
    print(report)
    if not report.ok:
        raise nf.GradientMismatchError("gradient check failed: the analytic gradients of this network are wrong")


def write_plots(out, state, ds, test, activation, train_data, config):
    """Draw every PNG of a run.

    ``test`` is the Evaluation of the final params on the test set; the
    first training images of ``train_data`` (a TrainData) show the run's
    augmentation, when ``config`` has one.
    """
    from nnfunc.report import curves, distortions, metrics, pictures

    spec = augment_spec(config)
    if spec is not None:
        # a stream of its own, so drawing the picture never moves the training's draws
        rng = np.random.default_rng(run_seeds(config["seed"]).augment.spawn(1)[0])
        sample = scale_pixels(train_data.x_train[:8], np.float32)
        versions = [_augment.augment(sample, spec, rng) for _ in range(7)]
        distortions.plot_augment(sample, versions, out / "augment.png", spec=spec)
    params = loop.final_params(state)
    history = list(state.history)
    curves.plot_loss(history, out / "loss.png")
    curves.plot_accuracy(history, out / "accuracy.png", test=test.accuracy)
    if ds.x_test.shape[1] == 784:
        pictures.plot_weights(params["W1"], out / "weights.png")
        sample = scale_pixels(ds.x_test[:8], np.float32)
        _, cache = nf.forward(params, sample, activation=activation)
        hidden = [cache[f"A{l}"] for l in range(1, len(params) // 2)]
        if hidden:
            pictures.plot_activations(sample, hidden, out / "activations.png", labels=ds.y_test[:8],
                                   class_names=ds.class_names)
        pictures.plot_misclassified(scale_pixels(ds.x_test, np.float32), ds.y_test, test.predictions,
                                 out / "misclassified.png", class_names=ds.class_names, probs=test.probs)
    confusion = metrics.confusion_matrix(ds.y_test, test.predictions, len(ds.class_names))
    pictures.plot_confusion(confusion, out / "confusion.png", class_names=ds.class_names)


def _unfinished(path):
    """Whether ``path`` is this nnfunc's checkpoint of a run that never finished an epoch."""
    try:
        return checkpoint.read_meta(path)["epoch"] == 0
    except nf.CheckpointError:
        return False  # someone else's file, or another version's: never overwrite it


def run_dirs(args):
    """(source run or None, run directory to write): --resume continues in place, or branches into --out."""
    source = run_dir_of(args.resume) if args.resume else None
    out = Path(args.out) if args.out else source or runlog.new_run_dir()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a directory for the run")
    return source, out


def train(args, on_epoch=None):
    """Run ``args`` (parsed flags); return the exit code.

    ``on_epoch(record)``, when given, is called with each epoch's history
    record once its checkpoint is saved (a sweep reports it); an exception
    there stops the run, with that checkpoint on disk.
    """
    config = make_config(args)
    source, out = run_dirs(args)
    branch = source is not None and out.resolve() != source.resolve()
    activation = activations.parse_spec(config["activation"])
    fit_config = nf.FitConfig(config["epochs"], config["batch_size"], activation, config["l2"], config["dropout"],
                              config["patience"], augment_spec(config))
    ds, train_data = load_data(config, args)
    config["data_source"] = ds.source
    m = train_data.x_train.shape[0]
    steps_per_epoch = math.ceil(m / min(config["batch_size"], m))
    sizes, params, opt = build(config, train_data.x_train.shape[1], len(ds.class_names), steps_per_epoch)
    with runlog.own(out):
        if source is None or branch:
            # a run that never finished an epoch (it diverged or was stopped) may be started over
            if (out / "model.npz").exists() and not _unfinished(out / "model.npz"):
                raise ConfigError(f"{out} already holds a model.npz; continue its run with --resume {out} or pick "
                                  "another --out")
        if source is not None:
            state, _ = checkpoint.load_state(source / "model.npz", opt, sizes=sizes)
            check_resume(source, state, opt, config, fit_config, steps_per_epoch)
            if branch:
                config["branched_from"] = f"{source.absolute()} at epoch {state.epoch}"
        else:
            state = nf.start_fit(params, opt, config["seed"])
        if args.gradcheck:
            run_gradcheck(state.params, train_data, config)
        return _fit(args, out, config, ds, train_data, state, opt, fit_config, sizes, fresh=source is None or branch,
                    on_epoch=on_epoch)


def _fit(args, out, config, ds, train_data, state, opt, fit_config, sizes, *, fresh, on_epoch=None):
    """Train while holding ``out``: checkpoint every epoch, then test, write metrics and plots.

    A fresh run or a branch is saved at once, so its directory holds a run
    from the start; a run resumed in place is not rewritten until it has
    trained an epoch, so a resume that fails early changes nothing.
    """
    activation = fit_config.activation
    saved = [state.epoch]  # epochs whose checkpoint is on disk

    def save(state):
        # checkpoint first: config.json, its copy of the settings, then always belongs to a saved state
        checkpoint.save(out / "model.npz", state, config, ds.name)
        runlog.write_config(out, config)
        runlog.write_metrics(out, list(state.history))
        new = state.epoch > saved[0]
        if not args.quiet and new:
            print(epoch_line(state.history[-1], config["epochs"]), flush=True)
        saved.append(state.epoch)
        if on_epoch is not None and new:
            on_epoch(state.history[-1])

    if fresh:
        save(state)
    if not args.quiet:
        print(f"training {'-'.join(map(str, sizes))} {activation} on {ds.name} ({train_data.x_train.shape[0]} train, "
              f"{train_data.x_val.shape[0]} val, {ds.x_test.shape[0]} test) from {ds.source} -> {out}")
    try:
        state = nf.fit(state, opt, train_data, fit_config, on_epoch=save,
                       progress=not args.quiet and sys.stdout.isatty() and sys.stderr.isatty())
    except KeyboardInterrupt:
        print(f"\ninterrupted: the checkpoint of epoch {saved[-1]} is saved in {out / 'model.npz'}; continue with\n"
              f"  python -m nnfunc.train --resume {out} --epochs {config['epochs']}", file=sys.stderr)
        return 130
    except nf.DivergenceError as exc:
        kept = f"the checkpoint of epoch {saved[-1]} is kept in {out / 'model.npz'}"
        if fresh:
            print(f"error: {exc} (flags: --lr, --warmup-epochs, --schedule, --l2); {kept}", file=sys.stderr)
        else:  # a resumed run keeps its settings: the fix is a new run
            print(f"error: {exc}; {kept}. A resumed run keeps its settings, so start a new run with a lower --lr, "
                  "a --warmup-epochs, another --schedule or a higher --l2", file=sys.stderr)
        return 1
    if loop.stopped_early(state, fit_config):
        print(f"early stopping: no lower validation loss for {config['patience']} epochs; "
              f"keeping the params of epoch {state.epoch - state.bad_epochs}")
    params = loop.final_params(state)
    test = nf.evaluate(params, ds.x_test, ds.y_test, activation=activation, l2=config["l2"])
    runlog.write_metrics(out, list(state.history), {"loss": test.loss, "accuracy": test.accuracy})
    if not args.no_plots:
        write_plots(out, state, ds, test, activation, train_data, config)
    print(f"test accuracy {100 * test.accuracy:.2f}%  test loss {test.loss:.4f}  "
          f"({sum(r['seconds'] for r in state.history):.1f}s training)  run: {out}")
    return 0


def main(argv=None, prog="nnfunc train"):
    args = build_parser(prog).parse_args(argv)
    keep_freed_memory()  # this process is ours: reuse freed arrays instead of faulting in new pages
    # a SIGTERM (e.g. from a job runner) stops like Ctrl-C: the last epoch's checkpoint stays
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _common.run(lambda: train(args), memory_fix="use smaller --hidden widths, a smaller --batch-size or "
                           "fewer examples (--train-size), or a machine with more memory")
    except KeyboardInterrupt:  # outside the epochs (loading data, plotting): nothing to save
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
