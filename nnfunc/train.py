"""``python -m nnfunc.train``: train an MLP on MNIST or Fashion-MNIST.

A thin shell around ``nnfunc.fit``: parse flags, load verified data, build
params and optimizer, call ``fit`` with a callback that checkpoints every
epoch, then evaluate on the test set and draw the plots. Nothing imports
this module.
"""

import argparse
import datetime
import json
import math
import signal
import sys
from pathlib import Path

import numpy as np

import nnfunc as nf
from nnfunc import checkpoint, data, fileio, fit, metrics, optimizers, schedules
from nnfunc.activations import parse_spec
from nnfunc.allocator import keep_freed_memory
from nnfunc.evaluation import evaluate

DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 3e-3, "adamw": 3e-3, "rmsprop": 1e-3}
DEFAULTS = dict(
    hidden="25,25", activation="relu", init="he", optimizer="adam", lr=None, schedule="cosine",
    warmup_epochs=0.0, decay_epochs=None, epochs=30, batch_size=64, l2=3e-4, dropout=0.0, val_size=5000,
    patience=0, seed=0, dtype="float32", dataset="mnist", train_size=None, test_size=None,
)


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m nnfunc.train",
        description="Train a fully connected network on real MNIST (or Fashion-MNIST) and write a run "
        "directory with config, metrics, checkpoint and plots.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a = p.add_argument
    a("--hidden", help="hidden widths, comma separated (input and output sizes come from the data); '' for none")
    a("--activation", help="hidden activation: relu, leaky_relu, sigmoid, tanh, linear; or one per hidden layer, comma separated")
    a("--init", help="weight init: he, xavier/glorot, lecun, each optionally _normal or _uniform")
    a("--optimizer", choices=optimizers.NAMES, help="update rule")
    a("--lr", type=float, help=f"base learning rate (default per optimizer: {DEFAULT_LR})")
    a("--schedule", choices=schedules.NAMES, help="learning-rate schedule over the run's steps")
    a("--warmup-epochs", type=float, help="linear warmup length in epochs (fractions allowed)")
    a("--decay-epochs", type=int, help="epochs the schedule decays over (default: --epochs); fixed for --resume")
    a("--epochs", type=int, help="epochs in total (with --resume: train up to this many)")
    a("--batch-size", type=int, help="examples per mini-batch")
    a("--l2", type=float, help="L2 strength: loss += 0.5 * l2 * sum ||W||^2 (weights only)")
    a("--dropout", type=float, help="probability of dropping each hidden unit while training (inverted dropout)")
    a("--val-size", type=int, help="examples held out of the training set for validation (0: none)")
    a("--patience", type=int, help="stop after this many epochs without a lower validation loss and keep the best params (0: off)")
    a("--seed", type=int, help="seed of every random draw (init, split, batches, dropout)")
    a("--dtype", choices=("float32", "float64"), help="dtype of params and computation")
    a("--dataset", choices=("mnist", "fashion-mnist"), help="which dataset")
    a("--data-dir", help="directory holding the four IDX .gz files (else NNFUNC_DATA_DIR, the cache, a download)")
    a("--offline", action="store_true", help="never use the network to fetch data")
    a("--train-size", type=int, help="use only the first N training examples (quick runs, tests)")
    a("--test-size", type=int, help="use only the first N test examples")
    a("--out", help="run directory (default runs/<timestamp>)")
    a("--resume", metavar="RUN_DIR", help="continue RUN_DIR with its own config and seed, up to --epochs")
    a("--gradcheck", action="store_true", help="print the gradient check of this architecture on a small batch first")
    a("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    a("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(**{k: None for k in DEFAULTS})
    return p


def make_config(args):
    """The run's config dict: defaults, then flags; for --resume the run's own config."""
    flags = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None}
    if args.resume:
        if "epochs" not in flags:
            raise nf.ConfigError("--resume needs --epochs N: the total number of epochs to train up to")
        path = Path(args.resume) / "config.json"
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise nf.ConfigError(f"--resume {args.resume}: cannot read {path} ({exc}); "
                                 "pass the directory of a run written by python -m nnfunc.train") from None
        ignored = sorted(set(flags) - {"epochs"})
        if ignored:
            print(f"note: --resume uses the run's own config; ignoring {', '.join('--' + k.replace('_', '-') for k in ignored)}", file=sys.stderr)
        config["epochs"] = flags["epochs"]
        return config
    config = {**DEFAULTS, **flags}
    config["lr"] = config["lr"] if config["lr"] is not None else DEFAULT_LR[config["optimizer"]]
    config["decay_epochs"] = config["decay_epochs"] or config["epochs"]
    config["nnfunc_version"] = nf.__version__
    return config


def parse_widths(text):
    try:
        return tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise nf.ConfigError(f"--hidden must be comma-separated integers like 25,25, got {text!r}") from None


def load_data(config, args):
    """Verified dataset as uint8, cut to the requested sizes, with a seeded validation split."""
    ds = data.load_dataset(config["dataset"], data_dir=args.data_dir, offline=args.offline or None, dtype=np.uint8,
                           progress=not args.quiet)
    ds = data.subset(ds, n_train=config["train_size"], n_test=config["test_size"])
    seed_split = np.random.SeedSequence(config["seed"]).spawn(2)[0]
    x_tr, y_tr, x_val, y_val = data.split_validation(ds.x_train, ds.y_train, config["val_size"], np.random.default_rng(seed_split))
    return ds, fit.TrainData(x_tr, y_tr, x_val, y_val)


def build(config, n_in, n_out, steps_per_epoch):
    """(sizes, params, optimizer, schedule) of a config."""
    sizes = (n_in, *parse_widths(config["hidden"]), n_out)
    params = nf.init(sizes, config["seed"], scheme=config["init"], dtype=np.dtype(config["dtype"]))
    warmup = round(config["warmup_epochs"] * steps_per_epoch)
    total = max(config["decay_epochs"] * steps_per_epoch, warmup + 1)
    schedule = schedules.get(config["schedule"], config["lr"], total_steps=total, warmup_steps=warmup)
    return sizes, params, optimizers.get(config["optimizer"], schedule), schedule


def epoch_line(record, epochs):
    val = ""
    if record["val_loss"] is not None:
        val = f"  val loss {record['val_loss']:.4f} acc {100 * record['val_accuracy']:6.2f}%"
    lr = f"  lr {record['lr']:.2e}" if record["lr"] is not None else ""
    return (f"epoch {record['epoch']:>3}/{epochs}  train loss {record['train_loss']:.4f} "
            f"acc {100 * record['train_accuracy']:6.2f}%{val}{lr}  {record['seconds']:.1f}s")


def run_gradcheck(params, train, config):
    from nnfunc.netcheck import check_network

    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    x = data.scale_pixels(train.x_train[:8], np.float64)
    report = check_network(params64, x, train.y_train[:8], activation=parse_spec(config["activation"]), l2=config["l2"])
    print(report)
    if not report.ok:
        raise nf.GradientMismatchError("gradient check failed: the analytic gradients of this network are wrong")


def write_plots(out, state, ds, test, activation):
    """Draw every PNG of a run; ``test`` is the Evaluation of the final params on the test set."""
    from nnfunc import plots

    params = fit.final_params(state)
    history = list(state.history)
    plots.plot_loss(history, out / "loss.png")
    plots.plot_accuracy(history, out / "accuracy.png", test=test.accuracy)
    if ds.x_test.shape[1] == 784:
        plots.plot_weights(params["W1"], out / "weights.png")
        sample = data.scale_pixels(ds.x_test[:8], np.float32)
        _, cache = nf.forward(params, sample, activation=activation)
        hidden = [cache[f"A{l}"] for l in range(1, nf.num_layers(params))]
        if hidden:
            plots.plot_activations(sample, hidden, out / "activations.png", labels=ds.y_test[:8])
        plots.plot_misclassified(data.scale_pixels(ds.x_test, np.float32), ds.y_test, test.predictions,
                                 out / "misclassified.png", class_names=ds.class_names, probs=test.probs)
    confusion = metrics.confusion_matrix(ds.y_test, test.predictions, len(ds.class_names))
    plots.plot_confusion(confusion, out / "confusion.png", class_names=ds.class_names)


def new_run_dir():
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / stamp
    n = 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stamp}-{n}"
    return out


def train(args):
    config = make_config(args)
    out = Path(args.resume or args.out or new_run_dir())
    activation = parse_spec(config["activation"])
    fit_config = fit.FitConfig(config["epochs"], config["batch_size"], activation, config["l2"], config["dropout"], config["patience"])
    # bad settings fail here, before the run directory gets any file
    fit.check_config(fit_config, len(parse_widths(config["hidden"])))
    ds, train_data = load_data(config, args)
    m = train_data.x_train.shape[0]
    steps_per_epoch = math.ceil(m / min(config["batch_size"], m))
    sizes, params, opt, schedule = build(config, train_data.x_train.shape[1], len(ds.class_names), steps_per_epoch)
    if args.resume:
        state, meta = checkpoint.load_state(out / "model.npz", opt, sizes=sizes)
        if config["epochs"] > config["decay_epochs"] and config["schedule"] != "constant":
            print(f"note: this run's {config['schedule']} schedule ended at epoch {config['decay_epochs']}; "
                  "later epochs use its final rate", file=sys.stderr)
    else:
        # a run that never finished an epoch (it diverged or was stopped) may be started over
        if (out / "model.npz").exists() and checkpoint.read(out / "model.npz")[1]["epoch"] > 0:
            raise nf.ConfigError(f"{out} already holds a run; continue it with --resume {out} or pick another --out")
        state = fit.start(params, opt, config["seed"])
    if args.gradcheck:
        run_gradcheck(state.params, train_data, config)
    fileio.write_json(out / "config.json", config)
    if not args.quiet:
        print(f"training {'-'.join(map(str, sizes))} {activation} on {ds.name} ({m} train, "
              f"{train_data.x_val.shape[0]} val, {ds.x_test.shape[0]} test) from {ds.source} -> {out}")

    def save(state):
        checkpoint.save(out / "model.npz", state, config, ds.name)
        metrics.write_metrics(out, list(state.history))
        if not args.quiet and state.history:
            print(epoch_line(state.history[-1], config["epochs"]), flush=True)

    if state.epoch == 0:
        save(state)
    try:
        state = fit.fit(state, opt, train_data, fit_config, schedule=schedule, on_epoch=save,
                        progress=not args.quiet and sys.stdout.isatty() and sys.stderr.isatty())
    except KeyboardInterrupt:
        last = checkpoint.read(out / "model.npz")[1]["epoch"]
        print(f"\ninterrupted: the checkpoint of epoch {last} is saved in {out / 'model.npz'}; continue with\n"
              f"  python -m nnfunc.train --resume {out} --epochs {config['epochs']}", file=sys.stderr)
        return 130
    if fit.stopped_early(state, fit_config):
        print(f"early stopping: no lower validation loss for {config['patience']} epochs; "
              f"keeping the params of epoch {state.epoch - state.bad_epochs}")
    params = fit.final_params(state)
    test = evaluate(params, ds.x_test, ds.y_test, activation=activation, l2=config["l2"])
    metrics.write_metrics(out, list(state.history), {"loss": test.loss, "accuracy": test.accuracy})
    if not args.no_plots:
        write_plots(out, state, ds, test, activation)
    print(f"test accuracy {100 * test.accuracy:.2f}%  test loss {test.loss:.4f}  "
          f"({sum(r['seconds'] for r in state.history):.1f}s training)  run: {out}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # this process is ours: reuse freed arrays instead of faulting in new pages
    # a SIGTERM (e.g. from a job runner) stops like Ctrl-C: the last epoch's checkpoint stays
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return train(args)
    except nf.DivergenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except nf.NnfuncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside the epochs (loading data, plotting): nothing to save
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
