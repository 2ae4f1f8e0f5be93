"""The train settings as command-line flags: the one parser ``nnfunc train`` and the sweep's trials read.

A run's settings are the ``DEFAULTS`` keys of ``nnfunc.training.settings``;
the other flags are options of ``nnfunc.training.runs.run`` (where the run
goes, where its data is, what it prints). The parser's defaults are None,
so a resumed run can tell the settings given apart from those it keeps.
"""

import argparse

from nnfunc import activations
from nnfunc.data import augment as _augment
from nnfunc.data.datasets import SPECS
from nnfunc.errors import ConfigError
from nnfunc.optim import optimizers, schedules
from nnfunc.training.settings import DEFAULTS, SHOWN_DEFAULTS

# the flags that are not settings: run()'s options, and what the command prints
OPTIONS = ("data_dir", "offline", "out", "resume", "gradcheck", "quiet", "no_plots", "allow_other_kernels")

_SETTINGS = (
    ("--hidden", "hidden widths, comma separated (input and output sizes come from the data); '' for none", {}),
    ("--activation", "hidden activation: " + ", ".join(activations.ACTIVATIONS) + "; or one per hidden layer, "
     "comma separated", {}),
    ("--init", "weight init: he, xavier/glorot, lecun, each optionally _normal or _uniform", {}),
    ("--optimizer", "update rule", dict(choices=optimizers.NAMES)),
    ("--lr", "base learning rate", dict(type=float)),
    ("--schedule", "learning-rate schedule over the run's steps", dict(choices=schedules.NAMES)),
    ("--warmup-epochs", "linear warmup length in epochs (fractions allowed)", dict(type=float)),
    ("--decay-epochs", "epochs the schedule decays over; fixed for --resume", dict(type=int)),
    ("--epochs", "epochs in total (with --resume: train up to this many)", dict(type=int)),
    ("--batch-size", "examples per mini-batch", dict(type=int)),
    ("--l2", "L2 strength: loss += 0.5 * l2 * sum ||W||^2 (weights only)", dict(type=float)),
    ("--dropout", "probability of dropping each hidden unit while training (inverted dropout)", dict(type=float)),
    ("--val-size", "examples held out of the training set for validation (0: none)", dict(type=int)),
    ("--patience", "stop after this many epochs without a lower validation loss and keep the best params "
     "(0: off)", dict(type=int)),
    ("--augment", "distort every training batch afresh: " + ", ".join(_augment.KINDS) + " (validation and test "
     "images never are)", dict(choices=_augment.KINDS)),
    ("--rotate", "with --augment affine: largest rotation, degrees", dict(type=float)),
    ("--scale", "with --augment affine: largest scaling of each axis, as a fraction", dict(type=float)),
    ("--shear", "with --augment affine: largest shear, degrees", dict(type=float)),
    ("--shift", "with --augment affine: largest shift of each axis, pixels", dict(type=float)),
    ("--elastic-alpha", "with --augment elastic: scale of the elastic displacement, pixels", dict(type=float)),
    ("--elastic-sigma", "with --augment elastic: width of the Gaussian smoothing the displacement, pixels",
     dict(type=float)),
    ("--seed", "seed of every random draw (init, split, batches, dropout, augmentation: one stream each)",
     dict(type=int)),
    ("--dtype", "dtype of params and computation", dict(choices=("float32", "float64"))),
    ("--dataset", "which dataset", dict(choices=tuple(SPECS))),
)
_OPTIONS = (
    ("--data-dir", "directory holding the four IDX files (default: the run's recorded directory for --resume, "
     "else $NNFUNC_DATA_DIR, the cache, a download)", {}),
    ("--offline", "never use the network to fetch data", dict(action="store_true")),
    ("--train-size", "use only the first N training examples (quick runs, tests)", dict(type=int)),
    ("--test-size", "use only the first N test examples", dict(type=int)),
    ("--out", "run directory (default: runs/<timestamp>)", {}),
    ("--resume", "continue RUN_DIR with its own config and seed, up to --epochs", dict(metavar="RUN_DIR")),
    ("--allow-other-kernels", "with --resume: continue a run on other kernels than it was trained with (numba or "
     "the NumPy reference; the result then differs in the last bits from an uninterrupted run); recorded in "
     "config.json", dict(action="store_true")),
    ("--gradcheck", "print the gradient check of this architecture on a small batch first",
     dict(action="store_true")),
    ("--quiet", "no progress bar and no per-epoch lines", dict(action="store_true")),
    ("--no-plots", "skip the PNG plots", dict(action="store_true")),
)


def build_parser(prog="nnfunc train"):
    """``nnfunc train``'s argparse parser: every setting (default None) and every option."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Train a fully connected network on real MNIST (or Fashion-MNIST) and write a run "
        "directory with config, metrics, checkpoint and plots.",
    )
    for name, help, kwargs in _SETTINGS + _OPTIONS:
        key = name[2:].replace("-", "_")
        if key in DEFAULTS:
            help = f"{help} (default: {SHOWN_DEFAULTS.get(key, DEFAULTS[key])})"
        p.add_argument(name, help=help, **kwargs)
    p.set_defaults(**{k: None for k in DEFAULTS})
    return p


def raising_parser(where):
    """``build_parser()`` whose errors raise ConfigError naming ``where`` the flags came from, never exit."""
    parser = build_parser()

    def error(message):
        raise ConfigError(f"{where}: {message}; see nnfunc train --help")

    parser.error = error
    return parser


def settings_of(args):
    """The settings given in ``args`` (parsed flags), as a dict of DEFAULTS keys (unset ones left out)."""
    return {k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None}
