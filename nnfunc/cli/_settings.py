"""``nnfunc train``'s settings: defaults, every flag checked by name, and the rules of --resume.

Everything here runs before the run directory gets a file, so a bad flag
or combination costs nothing to fix. Messages name flags, never Python
keywords.
"""

from pathlib import Path

import nnfunc as nf
from nnfunc import activations, checks
from nnfunc.cli._common import flag
from nnfunc.errors import ConfigError
from nnfunc.initializers import SCHEMES
from nnfunc.training import loop, runlog

DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 3e-3, "adamw": 3e-3, "rmsprop": 1e-3}
DEFAULTS = dict(
    hidden="25,25", activation="relu", init="he", optimizer="adam", lr=None, schedule="cosine",
    warmup_epochs=0.0, decay_epochs=None, epochs=30, batch_size=64, l2=3e-4, dropout=0.0, val_size=5000,
    patience=0, seed=0, dtype="float32", dataset="mnist", train_size=None, test_size=None,
)
# how --help shows a default that is not a plain value
SHOWN_DEFAULTS = {
    "lr": "per optimizer: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()),
    "decay_epochs": "--epochs", "train_size": "all", "test_size": "all", "hidden": "25,25",
}


def parse_widths(text):
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise ConfigError(f"--hidden must be comma-separated integers like 25,25, got {text!r}") from None
    if any(w < 1 for w in widths):
        raise ConfigError(f"--hidden widths must be >= 1, got {text!r}")
    return widths


def check_config(config):
    """Raise ConfigError, naming the flag, for any bad setting or combination of settings."""
    c = config
    checks.integer(c["epochs"], "--epochs", low=1)
    checks.integer(c["batch_size"], "--batch-size", low=1)
    checks.number(c["lr"], "--lr", low=0)
    checks.number(c["l2"], "--l2", low=0)
    checks.dropout_rate(c["dropout"], "--dropout")
    checks.integer(c["val_size"], "--val-size", low=0)
    checks.integer(c["patience"], "--patience", low=0, hint="0 turns early stopping off")
    checks.seed(c["seed"], "--seed")
    checks.number(c["warmup_epochs"], "--warmup-epochs", low=0)
    checks.integer(c["decay_epochs"], "--decay-epochs", low=1)
    for key in ("train_size", "test_size"):
        if c[key] is not None:
            checks.integer(c[key], flag(key), low=1)
    hidden = parse_widths(c["hidden"])
    try:
        activations.resolve(activations.parse_spec(c["activation"]), len(hidden))
    except ConfigError as exc:
        raise ConfigError(f"--activation {c['activation']!r} for --hidden {c['hidden']!r}: {exc}") from None
    if c["init"] not in SCHEMES:
        raise ConfigError(f"--init {c['init']!r} is unknown; choose one of {', '.join(SCHEMES)}")
    if c["patience"] and not c["val_size"]:
        raise ConfigError("--patience needs a validation set to watch; keep --val-size above 0 or drop --patience")
    if c["warmup_epochs"] >= c["decay_epochs"]:
        raise ConfigError(f"--warmup-epochs {c['warmup_epochs']:g} must be shorter than the schedule's "
                          f"{c['decay_epochs']} epochs (--decay-epochs, default --epochs)")
    if c["train_size"] is not None and c["val_size"] >= c["train_size"]:
        raise ConfigError(f"--val-size {c['val_size']} must be below --train-size {c['train_size']}, "
                          "so that some examples are left to train on")


def make_config(args):
    """The run's config dict: defaults, then flags; for --resume the run's own config and a new --epochs."""
    flags = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None}
    if args.resume:
        if args.out:
            raise ConfigError("--resume continues RUN_DIR in place; drop --out")
        if "epochs" not in flags:
            raise ConfigError("--resume needs --epochs N: the total number of epochs to train up to")
        others = sorted(set(flags) - {"epochs"})
        if others:
            raise ConfigError(f"--resume keeps the run's own settings; drop {', '.join(flag(k) for k in others)} "
                              "(or start a new run with them)")
        config = runlog.read_config(run_dir_of(args.resume))
        config["epochs"] = flags["epochs"]
        checks.integer(config["epochs"], "--epochs", low=1)
        return config
    config = {**DEFAULTS, **flags}
    config["lr"] = config["lr"] if config["lr"] is not None else DEFAULT_LR[config["optimizer"]]
    if config["decay_epochs"] is None:
        config["decay_epochs"] = config["epochs"]
    check_config(config)
    config["nnfunc_version"] = nf.__version__
    return config


def run_dir_of(path):
    """The run directory of ``--resume PATH``: PATH itself, or the run holding PATH = RUN/model.npz."""
    path = Path(path)
    return path.parent if path.name == "model.npz" and path.is_file() else path


def check_resume(out, state, opt, config, fit_config, steps_per_epoch):
    """Refuse a --resume that could not change anything: nothing left to train, stopped early, or lr 0."""
    if config["epochs"] <= state.epoch:
        raise ConfigError(f"{out} has already trained {state.epoch} epochs; pass --epochs above {state.epoch} "
                          "to train more")
    if loop.stopped_early(state, fit_config):
        raise ConfigError(f"{out} stopped early at epoch {state.epoch} (no lower validation loss for "
                          f"{config['patience']} epochs); it would stop again at once. Start a new run instead")
    horizon = config["decay_epochs"] * steps_per_epoch
    if config["epochs"] > config["decay_epochs"] and opt.schedule(horizon) == 0:
        last = config["decay_epochs"]
        why = (f"{out}'s learning rate is 0 from epoch {last + 1} on ({config['schedule']} schedule, --lr "
               f"{config['lr']:g}), so epochs after {last} would change nothing.")
        if config["lr"] == 0:
            todo = "Start a new run with a learning rate above 0"
        elif state.epoch < last:
            todo = (f"Resume with --epochs {last} at most, or start a new run with --epochs {config['epochs']} "
                    f"(its schedule then decays over all {config['epochs']} epochs)")
        else:
            todo = (f"It has finished its schedule; start a new run with --epochs {config['epochs']} "
                    f"(its schedule then decays over all {config['epochs']} epochs)")
        raise ConfigError(f"{why} {todo}")
