"""A trained model on disk: ``save`` writes params and how to use them, ``load`` reads them back.

``load`` reads both kinds of nnfunc file: a model file written by ``save``
(params, activation, class names) and a training run's checkpoint
(``runs/RUN/model.npz``, or the run directory itself), whose best params
it returns. Neither ever unpickles: every entry is a plain array.

A model file is an nnfunc ``.npz`` (``nnfunc.npz``): the header
``model_format``, ``nnfunc_version`` and ``meta`` (activation, classes,
dataset, sizes, dtype, and the output layer unless it is softmax), then
``params/W1`` ... A file without "output" (format 1: every file before the other
output layers, and a run's checkpoint) holds a softmax network; one with
it is format 2, which older nnfunc refuses instead of misreading. Model files of nnfunc 0.3.0
and before store the same number as ``format_version`` and say
``"kind": "model"`` in their meta record; they load as today.
"""

import os
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, NamedTuple, Optional

import numpy as np

from nnfunc import activations as _activations
from nnfunc import outputs as _outputs
from nnfunc import npz
from nnfunc.data.datasets import SPECS
from nnfunc.errors import CheckpointError, ConfigError, ParamsError, shown
from nnfunc.checks import validate_params
from nnfunc.params import layer_sizes
from nnfunc.subnormals import flushed
from nnfunc.training import checkpoint
from nnfunc.training.network_file import check_kind, check_network, opened, params_to_use

KIND = "model"  # stored as model_format; checkpoints count their own formats
FORMAT = 1
# format 2: a network with another output layer than softmax, which nnfunc before them would misread
FORMAT_OUTPUT = 2
_META_KEYS = ("activation", "classes", "dataset", "sizes", "dtype")
# what load reads: a model file, or a training run's checkpoint of any format
_FORMATS = {checkpoint.KIND: checkpoint.READABLE_FORMATS, KIND: (FORMAT, FORMAT_OUTPUT)}


class Model(NamedTuple):
    """A loaded model: what ``predict`` needs, and where it came from.

    params: Params, a plain dict (the arrays are the caller's to keep).
    activation: the hidden activation spec, a name or a tuple of names;
        pass it on as ``predict(m.params, x, activation=m.activation)``.
    classes: nL class names (strings) or None when unknown.
    dataset: the dataset name it was trained on ("mnist", ...) or None.
    config: the training run's settings (read-only; empty for a model file).
    path: the file it was read from.
    output: the output layer (``nnfunc.outputs``); pass it on as
        ``predict(..., output=m.output)``.
    """

    params: dict
    activation: object
    classes: Optional[tuple]
    dataset: Optional[str]
    config: Mapping
    path: Path
    output: str = "softmax"


def save(path, params, *, activation, classes=None, dataset=None, output="softmax"):
    """Write a model file: params plus the settings needed to use them, atomically.

    Args:
        path: the file to write (``.npz`` by convention); its directory is created.
        params: Params of L layers.
        activation: the hidden activation spec the params were trained with.
        classes: None, or nL names, one per output unit.
        dataset: None, or the dataset name (lets ``nnfunc evaluate`` find the test set).
        output: the output layer the params were trained with (softmax,
            logistic, identity or exp).

    Returns:
        The Path written.

    Raises:
        ParamsError, ConfigError: bad params, activation, classes or dataset.
    """
    path = _path(path)
    L = validate_params(params)
    bad = next((k for k, p in params.items() if not np.isfinite(p).all()), None)
    if bad is not None:  # load would refuse the file: refuse to write it
        raise ParamsError(f"params[{bad!r}] holds NaN or inf; a model file must hold a usable network: save the "
                          "params of an epoch before the run diverged")
    names = _activations.resolve(activation, L - 1)  # fails on an unknown name or a wrong count
    output = _outputs.get(output).name
    spec = activation if isinstance(activation, str) else [a.name for a in names]
    n_out = params[f"W{L}"].shape[1]
    if classes is not None:
        if not isinstance(classes, (list, tuple)) or len(classes) != n_out:
            raise ConfigError(f"classes must be {n_out} names, one per output unit, got {classes!r}")
        classes = [str(c) for c in classes]
    if dataset is not None and (not isinstance(dataset, str) or dataset not in SPECS):
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(SPECS)} or leave it None")
    meta = {"activation": spec, "classes": classes, "dataset": dataset,
            "sizes": list(layer_sizes(params)), "dtype": str(params["W1"].dtype)}
    if output != "softmax":  # and format 2, which nnfunc before the output layers refuses to read
        meta["output"] = output
    arrays = {f"params/{k}": v for k, v in flushed(params).items()}  # a model file holds no subnormal
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; pass a file name such as {path / 'model.npz'}")
    npz.write(path, arrays, kind=KIND, format=FORMAT if output == "softmax" else FORMAT_OUTPUT, meta=meta)
    return path


def _path(path):
    """``path`` as a Path, or CheckpointError for something that is not a path (None, a number)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise CheckpointError(f"path must be a file or directory name (str or pathlib.Path), got {shown(path)}")
    return Path(path)


def resolve(path):
    """The model file behind ``path``: ``path/model.npz`` for a run directory, else ``path`` itself."""
    path = _path(path)
    try:
        return path / "model.npz" if path.is_dir() and (path / "model.npz").is_file() else path
    except OSError:  # e.g. a run directory we may not search: reading model.npz then says so
        return path / "model.npz"


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
    fix = checkpoint.FIX
    with opened(file, fix=fix) as (header, read_arrays):
        check_kind(file, header, _FORMATS, fix)
        check_network(file, header, (), fix)
        arrays = read_arrays()
    kind, meta = header.kind, header.meta
    activation, classes, dataset, config = _fields(file, meta, kind)
    params = params_to_use(arrays, file)
    try:
        _activations.resolve(activation, len(params) // 2 - 1)
    except ConfigError as exc:
        raise CheckpointError(f"{file}: stored activation does not fit the params ({exc}); {fix}") from None
    n_out = params[f"W{len(params) // 2}"].shape[1]
    if classes is not None and len(classes) != n_out:
        if kind != KIND:  # a run's names come from its dataset, and this network has other outputs
            classes = None
        else:
            raise CheckpointError(f"{file} names {len(classes)} classes for {n_out} outputs; the file is damaged: "
                                  f"{fix}")
    output = meta.get("output", "softmax") if kind == KIND else "softmax"
    if output not in _outputs.NAMES:
        raise CheckpointError(f"{file} has a corrupt meta record (output {shown(output)}, which this nnfunc does "
                              f"not know: {', '.join(_outputs.NAMES)}); {fix}")
    return Model(params, activation, classes, dataset, MappingProxyType(dict(config)), file, output)


def _fields(file, meta, kind):
    """(activation, classes, dataset, config) of a file's meta record, type-checked."""
    def corrupt(what):
        return CheckpointError(f"{file} has a corrupt meta record ({what}); the file is damaged: {checkpoint.FIX}")

    if kind == KIND:
        missing = sorted(set(_META_KEYS) - set(meta))
        if missing:
            raise corrupt(f"no {', '.join(missing)}")
        activation, classes, dataset, config = meta["activation"], meta["classes"], meta["dataset"], {}
    else:
        config, dataset = meta.get("config"), meta.get("dataset")
        if not isinstance(config, dict) or not isinstance(config.get("activation"), str):
            raise corrupt("its run config has no activation")
        activation = _activations.parse_spec(config["activation"])
        classes = SPECS[dataset].class_names if isinstance(dataset, str) and dataset in SPECS else None
    names = [activation] if isinstance(activation, str) else activation
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise corrupt(f"activation {shown(activation)}")
    if classes is not None and (not isinstance(classes, list | tuple) or not all(isinstance(c, str) for c in classes)):
        raise corrupt(f"classes {shown(classes)}")
    if dataset is not None and (not isinstance(dataset, str) or dataset not in SPECS):
        raise corrupt(f"dataset {shown(dataset)}, which nnfunc does not know")
    activation = activation if isinstance(activation, str) else tuple(activation)
    return activation, None if classes is None else tuple(classes), dataset, config
