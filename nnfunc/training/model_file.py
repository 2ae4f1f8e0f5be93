"""A trained model on disk: ``save`` writes params and how to use them, ``load`` reads them back.

``load`` reads both kinds of nnfunc file: a model file written by ``save``
(params, activation, class names) and a training run's checkpoint
(``runs/RUN/model.npz``, or the run directory itself), whose best params
it returns. Neither ever unpickles: every entry is a plain array.
"""

import json
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, NamedTuple, Optional

import numpy as np

from nnfunc._version import __version__
from nnfunc import activations as _activations
from nnfunc.data.datasets import SPECS
from nnfunc.errors import CheckpointError, ConfigError
from nnfunc.fileio import save_npz
from nnfunc.params import layer_sizes, validate_params
from nnfunc.training import checkpoint

KIND = "model"
_META_KEYS = ("kind", "activation", "classes", "dataset", "sizes", "dtype")


class Model(NamedTuple):
    """A loaded model: what ``predict`` needs, and where it came from.

    params: Params, a plain dict (the arrays are the caller's to keep).
    activation: the hidden activation spec, a name or a tuple of names;
        pass it on as ``predict(m.params, x, activation=m.activation)``.
    classes: nL class names (strings) or None when unknown.
    dataset: the dataset name it was trained on ("mnist", ...) or None.
    config: the training run's settings (read-only; empty for a model file).
    path: the file it was read from.
    """

    params: dict
    activation: object
    classes: Optional[tuple]
    dataset: Optional[str]
    config: Mapping
    path: Path


def save(path, params, *, activation, classes=None, dataset=None):
    """Write a model file: params plus the settings needed to use them, atomically.

    Args:
        path: the file to write (``.npz`` by convention); its directory is created.
        params: Params of L layers.
        activation: the hidden activation spec the params were trained with.
        classes: None, or nL names, one per output unit.
        dataset: None, or the dataset name (lets ``nnfunc evaluate`` find the test set).

    Returns:
        The Path written.

    Raises:
        ParamsError, ConfigError: bad params, activation, classes or dataset.
    """
    L = validate_params(params)
    names = _activations.resolve(activation, L - 1)  # fails on an unknown name or a wrong count
    spec = activation if isinstance(activation, str) else [a.name for a in names]
    n_out = params[f"W{L}"].shape[1]
    if classes is not None:
        if isinstance(classes, str) or len(classes) != n_out:
            raise ConfigError(f"classes must be {n_out} names, one per output unit, got {classes!r}")
        classes = [str(c) for c in classes]
    if dataset is not None and dataset not in SPECS:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(SPECS)} or leave it None")
    meta = {"kind": KIND, "activation": spec, "classes": classes, "dataset": dataset,
            "sizes": list(layer_sizes(params)), "dtype": str(params["W1"].dtype)}
    arrays = {"format_version": np.array(checkpoint.FORMAT_VERSION), "nnfunc_version": np.array(__version__),
              "meta": np.array(json.dumps(meta))}
    arrays.update({f"params/{k}": v for k, v in params.items()})
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; pass a file name such as {path / 'model.npz'}")
    save_npz(path, arrays)
    return path


def resolve(path):
    """The model file behind ``path``: ``path/model.npz`` for a run directory, else ``path`` itself."""
    path = Path(path)
    return path / "model.npz" if path.is_dir() and (path / "model.npz").is_file() else path


def load(path):
    """Read a model file or a training run (its directory or its model.npz).

    Args:
        path: a run directory, a checkpoint ``model.npz`` or a file written by ``save``.

    Returns:
        Model; for a training run, its best-validation params when a
        validation set tracked them, else the last epoch's.

    Raises:
        CheckpointError: no such file, a directory without model.npz, a
            corrupt, truncated, pickled or foreign file.
    """
    file = resolve(path)
    arrays, meta = checkpoint.read(file, kinds=(checkpoint.KIND, KIND), meta_keys=("sizes", "dtype"))
    if meta.get("kind", checkpoint.KIND) == KIND:
        missing = sorted(set(_META_KEYS) - set(meta))
        if missing:
            raise CheckpointError(f"{file} has a meta record without {', '.join(missing)}; {checkpoint.FIX}")
        params, _ = checkpoint.load_params(file, arrays=(arrays, meta))
        activation, classes, dataset, config = meta["activation"], meta["classes"], meta["dataset"], {}
    else:
        params, _ = checkpoint.load_params(file, arrays=(arrays, meta))
        config = meta["config"]
        activation, dataset = _activations.parse_spec(config["activation"]), meta["dataset"]
        classes = SPECS[dataset].class_names if dataset in SPECS else None
    activation = activation if isinstance(activation, str) else tuple(activation)
    try:
        _activations.resolve(activation, len(params) // 2 - 1)
    except ConfigError as exc:
        raise CheckpointError(f"{file}: stored activation does not fit the params ({exc}); {checkpoint.FIX}") from None
    return Model(params, activation, None if classes is None else tuple(classes), dataset,
                 MappingProxyType(dict(config)), file)
