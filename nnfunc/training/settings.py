"""A training run's settings: defaults, every setting checked by name, and the rules of resuming.

A run's settings are ``nnfunc train``'s flags (``hidden``, ``lr``, ...,
the keys of ``DEFAULTS``): the command line, the sweep and
``nnfunc.training.runs.run`` share them, so messages name them as flags
(``--val-size``). Everything here runs before the run directory gets a
file, so a bad setting or combination costs nothing to fix.
"""

from pathlib import Path

import numpy as np

from nnfunc import activations, checks, memory
from nnfunc.data import augment as _augment
from nnfunc.data.datasets import SPECS
from nnfunc._version import __version__
from nnfunc.errors import ConfigError, shown
from nnfunc.initializers import SCHEMES
from nnfunc.optim import optimizers, schedules
from nnfunc.training import checkpoint, runlog

# --augment and its strengths; a run config from before 0.3 lacks them all and meant "none"
AUGMENT_DEFAULTS = dict(augment="none", rotate=10.0, scale=0.1, shear=10.0, shift=2.0, elastic_alpha=34.0,
                        elastic_sigma=4.0)
AFFINE_KEYS = ("rotate", "scale", "shear", "shift")
ELASTIC_KEYS = ("elastic_alpha", "elastic_sigma")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 3e-3, "adamw": 3e-3, "rmsprop": 1e-3}
DEFAULTS = dict(
    hidden="25,25", activation="relu", init="he", optimizer="adam", lr=None, schedule="cosine",
    warmup_epochs=0.0, decay_epochs=None, epochs=30, batch_size=64, l2=3e-4, dropout=0.0, val_size=5000,
    patience=0, seed=0, dtype="float32", dataset="mnist", train_size=None, test_size=None,
    **AUGMENT_DEFAULTS,
)
# how --help shows a default that is not a plain value
SHOWN_DEFAULTS = {
    "lr": "per optimizer: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()),
    "decay_epochs": "--epochs", "train_size": "all", "test_size": "all", "hidden": "25,25",
}


def flag(name):
    """The flag of a setting: "val_size" -> "--val-size"."""
    return "--" + name.replace("_", "-")


PIXELS = 28 * 28  # every dataset's images
# params, the loop's working copy, each epoch's snapshot, the best params, two
# optimizer slots (adam), gradients and scratch: what training holds at once
COPIES = 8


def parse_widths(text, name="--hidden"):
    if not text.strip():
        return ()  # no hidden layer: softmax regression
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated integers like 25,25 (or '' for none), got "
                          f"{shown(text)}") from None
    if any(w < 1 for w in widths):
        raise ConfigError(f"{name} widths must be >= 1, got {shown(text)}")
    return widths


def augment_spec(config, name=flag):
    """The run's ``nnfunc.Augment`` (None for --augment none); ConfigError names the setting.

    A kind whose every strength is 0 would warp each batch into itself, so it is refused.
    """
    c = config
    if c["augment"] not in _augment.KINDS:
        raise ConfigError(f"{name('augment')} {c['augment']!r} is unknown; choose one of {', '.join(_augment.KINDS)}")
    names = {**{k: name(k) for k in AFFINE_KEYS}, "alpha": name("elastic_alpha"), "sigma": name("elastic_sigma")}
    spec = _augment.for_kind(c["augment"], rotate=c["rotate"], scale=c["scale"], shear=c["shear"], shift=c["shift"],
                             alpha=c["elastic_alpha"], sigma=c["elastic_sigma"], names=names)
    for part, keys in (("elastic", ("elastic_alpha",)), ("affine", AFFINE_KEYS)):
        if part in c["augment"] and not any(c[k] for k in keys):
            raise ConfigError(f"{name('augment')} {c['augment']} with {' and '.join(f'{name(k)} 0' for k in keys)} "
                              f"leaves every image as it is; raise {name(keys[0])}, or drop the {part} part")
    return spec


def check_config(config, name=flag):
    """Raise ConfigError, naming the setting as ``name(key)`` (a flag by default), for any bad setting or combination."""
    c, n = config, name
    checks.integer(c["epochs"], n("epochs"), low=1)
    checks.integer(c["batch_size"], n("batch_size"), low=1)
    checks.number(c["lr"], n("lr"), low=0)
    checks.number(c["l2"], n("l2"), low=0)
    checks.dropout_rate(c["dropout"], n("dropout"))
    checks.integer(c["val_size"], n("val_size"), low=0)
    checks.integer(c["patience"], n("patience"), low=0, hint="0 turns early stopping off")
    checks.seed(c["seed"], n("seed"))
    checks.number(c["warmup_epochs"], n("warmup_epochs"), low=0)
    checks.integer(c["decay_epochs"], n("decay_epochs"), low=1)
    for key in ("train_size", "test_size"):
        if c[key] is not None:
            checks.integer(c[key], n(key), low=1)
    for key, allowed in (("optimizer", optimizers.NAMES), ("schedule", schedules.NAMES), ("init", SCHEMES),
                         ("dtype", ("float32", "float64")), ("dataset", tuple(SPECS))):
        if c[key] not in allowed:
            raise ConfigError(f"{n(key)} {c[key]!r} is unknown; choose one of {', '.join(allowed)}")
    for key in ("hidden", "activation", "augment"):
        if not isinstance(c[key], str):
            raise ConfigError(f"{n(key)} must be a string like {DEFAULTS[key]!r}, got {c[key]!r}")
    augment_spec(c, n)
    hidden = parse_widths(c["hidden"], n("hidden"))
    try:
        activations.resolve(activations.parse_spec(c["activation"]), len(hidden))
    except ConfigError as exc:
        raise ConfigError(f"{n('activation')} {c['activation']!r} for {n('hidden')} {c['hidden']!r}: {exc}") from None
    if c["patience"] and not c["val_size"]:
        raise ConfigError(f"{n('patience')} needs a validation set to watch; keep {n('val_size')} above 0 or drop "
                          f"{n('patience')}")
    if c["warmup_epochs"] >= c["decay_epochs"]:
        raise ConfigError(f"{n('warmup_epochs')} {c['warmup_epochs']:g} must be shorter than the schedule's "
                          f"{c['decay_epochs']} epochs ({n('decay_epochs')}, default {n('epochs')})")
    widths = (PIXELS, *hidden, len(SPECS[c["dataset"]].class_names))
    count = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    memory.check(count * np.dtype(c["dtype"]).itemsize * COPIES,
                 f"{n('hidden')} {c['hidden']} makes a network of {count:,} parameters; training holds {COPIES} "
                 "copies of them", f"pass smaller {n('hidden')} widths")
    if c["train_size"] is not None and c["val_size"] >= c["train_size"]:
        raise ConfigError(f"{n('val_size')} {c['val_size']} must be below {n('train_size')} {c['train_size']}, "
                          "so that some examples are left to train on")


def check_stored(config, where):
    """Validate a run config read back from ``where`` (a file); raise ConfigError naming the key and the fix."""
    fix = (f"{where} was edited or damaged: restore it from a copy, or start a new run")
    if not isinstance(config, dict):
        raise ConfigError(f"{where} holds no run config (a JSON object); {fix}")
    config = upgrade(config)
    missing = [k for k in DEFAULTS if k not in config]
    if missing:
        raise ConfigError(f"{where} has a run config without {', '.join(map(repr, missing))}; {fix}")
    for key in ("data_source", "nnfunc_version"):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise ConfigError(f"{where} has a run config whose {key!r} is {config[key]!r}, not a string; {fix}")
    try:
        check_config(config, name=lambda key: f"key {key!r}")
    except ConfigError as exc:
        raise ConfigError(f"{where} has a bad run config: {exc}. {fix[0].upper() + fix[1:]}") from None
    return config


def upgrade(config):
    """A stored run config with the settings added since it was written: a copy, or itself when none is missing."""
    if isinstance(config, dict) and not any(k in config for k in AUGMENT_DEFAULTS):
        return {**config, **AUGMENT_DEFAULTS}  # written before 0.3: no augmentation
    return config


def make_config(given, resume=None):
    """The run's config dict: defaults, then the ``given`` settings (a dict of DEFAULTS keys).

    With ``resume`` (a run directory) it is that run's own config, read
    from its checkpoint (``config.json`` is a copy, checked against it),
    with the new ``epochs``, the only setting that may be given.
    """
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{shown(unknown[0])} is not a setting of a run; choose among {', '.join(DEFAULTS)}")
    flags = {k: v for k, v in given.items() if v is not None}
    if resume is not None:
        if "epochs" not in flags:
            raise ConfigError("--resume needs --epochs N: the total number of epochs to train up to")
        others = sorted(set(flags) - {"epochs"})
        if others:
            raise ConfigError(f"--resume keeps the run's own settings; drop {', '.join(flag(k) for k in others)} "
                              "(or start a new run with them)")
        config = stored_config(run_dir_of(resume))
        config["epochs"] = checks.integer(flags["epochs"], "--epochs", low=1)
        return config
    config = {**DEFAULTS, **flags}
    part = {**dict.fromkeys(AFFINE_KEYS, "affine"), **dict.fromkeys(ELASTIC_KEYS, "elastic")}
    strengths = [k for k in part if k in flags]
    unused = [k for k in strengths if part[k] not in config["augment"]]
    if unused:
        kinds = {part[k] for k in strengths}
        need = kinds.pop() if len(kinds) == 1 else "elastic+affine"
        raise ConfigError(f"{flag(unused[0])} sets a strength of --augment {need}, but --augment is "
                          f"{config['augment']!r}: pass --augment {need}{'' if '+' in need else ' (or elastic+affine)'}"
                          f", or drop {', '.join(flag(k) for k in unused)}")
    config["lr"] = config["lr"] if config["lr"] is not None else DEFAULT_LR[config["optimizer"]]
    if config["decay_epochs"] is None:
        config["decay_epochs"] = config["epochs"]
    check_config(config)
    config["nnfunc_version"] = __version__
    return config


def stored_config(run):
    """A run's config from its checkpoint, validated, after checking its config.json copy agrees.

    A missing config.json is no loss (the next save rewrites it); one that
    differs in a setting was edited, and resuming would hide the edit.
    """
    path = run / "model.npz"
    meta = checkpoint.read_meta(path)  # the settings only: load_state reads the arrays
    config = check_stored(meta["config"], path)
    if (run / "config.json").exists() or (run / "config.json").is_symlink():
        try:
            copy = upgrade(runlog.read_config(run))
        except ConfigError as exc:
            raise ConfigError(f"{exc}; it is a copy of the settings in model.npz: delete it and --resume "
                              "rewrites it") from None
        changed = [k for k in sorted(set(copy) | set(config)) if k != "epochs" and copy.get(k) != config.get(k)]
        if changed:
            key = changed[0]
            there, here = (shown(d[key]) if key in d else "missing" for d in (copy, config))
            more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
            raise ConfigError(
                f"{run / 'config.json'} differs from the run's checkpoint in {', '.join(map(shown, changed[:4]))}"
                f"{more} ({shown(key)} is {there} there, {here} in model.npz): a run's settings are fixed "
                "when it starts. Undo the edit (or delete config.json: --resume rewrites it from model.npz), or "
                "start a new run with the settings you want"
            )
    return dict(config)


def run_dir_of(path):
    """The run directory of ``--resume PATH``: PATH itself, or the run holding PATH = RUN/model.npz."""
    path = Path(path)
    return path.parent if path.name == "model.npz" and path.is_file() else path
