"""A run's data: the verified dataset, found where the run expects it, cut to its sizes and split.

``find`` looks a dataset up as a run or a command expects: a directory
given must work; otherwise the directory a run recorded is tried first,
then the usual lookup (``nnfunc.data.load.load_dataset``), so a run's
later commands need no data directory again. Messages name the train
flags (``--data-dir``, ``--offline``).
"""

import numpy as np

from nnfunc.data import load as data_load
from nnfunc.errors import ConfigError, DataError, DataNotFoundError
from nnfunc.training.loop import TrainData
from nnfunc.training.seeds import run_seeds
from nnfunc.training.settings import flag

# the command line's names for load_dataset's options
WORDS = {"data_dir": "--data-dir", "pass_dir": "pass it with --data-dir DIR", "drop_dir": "drop --data-dir",
         "offline_on": "--offline", "offline_off": "drop --offline"}


def find(name, *, data_dir=None, recorded=None, offline=False, progress=False, dtype="uint8"):
    """A verified dataset (``nnfunc.data.load.Dataset``), looked up as a run expects.

    Raises:
        DataNotFoundError: worded with flags (``--data-dir``, ``--offline``).
    """
    options = dict(offline=offline or None, dtype=dtype, progress=progress)
    tried = []
    try:
        if data_dir is None and recorded:
            try:
                return data_load.load_dataset(name, data_dir=recorded, **options)
            except DataError as exc:  # moved or changed since the run: fall back to the usual places
                reason = exc.tried[0] if getattr(exc, "given_dir", False) else str(exc)
                tried.append(f"the run's recorded data directory: {reason}")
        return data_load.load_dataset(name, data_dir=data_dir, **options)
    except DataNotFoundError as exc:
        raise data_load.reword_not_found(exc, WORDS, tried_first=tried) from None


def load(config, *, data_dir=None, offline=False, progress=False):
    """(dataset as uint8 cut to the config's sizes, TrainData with the seeded validation split)."""
    ds = find(config["dataset"], data_dir=data_dir, recorded=config.get("data_source"), offline=offline,
              progress=progress)
    for key, split in (("train_size", ds.y_train), ("test_size", ds.y_test)):
        if config[key] is not None and config[key] > len(split):
            raise ConfigError(f"{flag(key)} {config[key]} is more than the {len(split)} examples of "
                              f"{ds.name}; pass at most {len(split)}")
    ds = data_load.subset(ds, n_train=config["train_size"], n_test=config["test_size"])
    if config["val_size"] >= len(ds.y_train):
        raise ConfigError(f"{flag('val_size')} {config['val_size']} leaves none of the {len(ds.y_train)} training "
                          f"examples to train on; pass a smaller {flag('val_size')}")
    split_rng = np.random.default_rng(run_seeds(config["seed"]).split)
    x_tr, y_tr, x_val, y_val = data_load.split_validation(ds.x_train, ds.y_train, config["val_size"], split_rng)
    return ds, TrainData(x_tr, y_tr, x_val, y_val)
