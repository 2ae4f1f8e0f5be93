"""Checkpoints: a FitState plus its run config in one ``.npz``, no pickle.

Layout (every entry a plain array, loadable with ``allow_pickle=False``):
``format_version``, ``nnfunc_version``, ``meta`` (a JSON string: config,
dataset, epoch, step, RNG states, early-stopping counters, history, the
optimizer state's field names), ``params/W1`` ..., ``best/W1`` ... (when a
validation set tracked the best params) and ``opt/<field>`` or
``opt/<field>/<key>`` for the optimizer state. ``nnfunc.training.model_file``
reads the params of these files and writes the smaller model files.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from nnfunc._version import __version__
from nnfunc.errors import CheckpointError, ParamsError
from nnfunc.fileio import save_npz
from nnfunc.training.loop import FitState
from nnfunc.params import layer_sizes, param_keys, validate_params

# 2: two RNG streams (batches, dropout) instead of one; format 1 files still give their params
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
KIND = "checkpoint"
_META_KEYS = ("config", "dataset", "sizes", "dtype", "epoch", "step", "rng_states", "best_val_loss",
              "bad_epochs", "opt_fields", "history")
# what a "no usable file" message offers instead: to use a model, and to resume a run
FIX = ("pass a run directory written by python -m nnfunc.train (it holds model.npz) "
       "or a model file written by nnfunc.save")
RESUME_FIX = "pass the directory of a run written by python -m nnfunc.train (it holds model.npz)"


def save(path, state, config, dataset):
    """Write ``state`` (FitState), ``config`` (JSON-able dict) and the dataset name atomically."""
    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "nnfunc_version": np.array(__version__),
    }
    arrays.update({f"params/{k}": v for k, v in state.params.items()})
    if state.best_params is not None:
        arrays.update({f"best/{k}": v for k, v in state.best_params.items()})
    fields = {}
    for field, value in zip(state.opt_state._fields, state.opt_state):
        if isinstance(value, dict):
            arrays.update({f"opt/{field}/{k}": v for k, v in value.items()})
            fields[field] = "dict"
        else:
            arrays[f"opt/{field}"] = np.asarray(value)
            fields[field] = "array"
    meta = {
        "config": config,
        "dataset": dataset,
        "sizes": list(layer_sizes(state.params)),
        "dtype": str(state.params["W1"].dtype),
        "epoch": state.epoch,
        "step": state.step,
        "rng_states": state.rng_states,
        "best_val_loss": state.best_val_loss if np.isfinite(state.best_val_loss) else None,
        "bad_epochs": state.bad_epochs,
        "opt_fields": fields,
        "history": list(state.history),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    save_npz(path, arrays)


def read(path, *, kinds=(KIND,), meta_keys=_META_KEYS, versions=(FORMAT_VERSION,), fix=RESUME_FIX):
    """Read an nnfunc ``.npz`` (checkpoint or model file); return (arrays dict, meta dict).

    Args:
        path: the file. kinds: the ``meta["kind"]`` values accepted (a
            checkpoint has none stored and counts as "checkpoint").
        meta_keys: keys its meta record must hold.
        versions: the ``format_version`` values accepted.
        fix: what every error message tells the user to do instead.

    Raises:
        CheckpointError: missing, truncated, corrupt or pickled file, an
            unknown format version, or a file of another kind.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory without model.npz; {fix}")
    if not path.is_file():
        raise CheckpointError(f"no file at {path}; {fix}")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path} ({exc}); {fix}") from None
    # np.load reads anything that is not a zip as .npy or pickle: refuse it first
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{path} is not an .npz file (it does not start like a zip archive); {fix}")
    try:
        # our own handle: np.load leaks its file when the zip turns out broken
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CheckpointError(f"{path} holds pickled Python objects, which nnfunc never loads; {fix}") from None
        raise CheckpointError(f"{path} is not a readable checkpoint ({exc}); {fix}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({type(exc).__name__}: {exc}); {fix}") from None
    if "format_version" not in arrays or "meta" not in arrays:
        raise CheckpointError(f"{path} is an .npz but not an nnfunc checkpoint (no format_version/meta); {fix}")
    try:
        version = int(arrays["format_version"])
    except (TypeError, ValueError):
        raise CheckpointError(f"{path} has a corrupt format_version {arrays['format_version']!r}; {fix}") from None
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} has a corrupt meta record ({exc}); {fix}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} has a meta record that is not a JSON object; {fix}")
    kind = meta.get("kind", KIND)
    if kind not in kinds:
        raise CheckpointError(f"{path} is an nnfunc {kind} file, but a {' or '.join(kinds)} is needed here; {fix}")
    if version not in versions:
        raise CheckpointError(
            f"{path} has format {version} (written by nnfunc {arrays.get('nnfunc_version', '?')}); this is "
            f"needed in format {' or '.join(map(str, versions))}. {fix[0].upper() + fix[1:]}, or use the nnfunc "
            "version that wrote it"
        )
    missing = sorted(set(meta_keys) - set(meta))
    if missing:
        raise CheckpointError(f"{path} has a meta record without {', '.join(missing)}; {fix}")
    return arrays, meta


def _params(arrays, prefix, path):
    keys = [k[len(prefix) :] for k in arrays if k.startswith(prefix)]
    # every stored key must belong: a lost "b2" must not quietly make a shallower network
    expected = param_keys(sum(k.startswith("W") for k in keys))
    if sorted(keys) != sorted(expected):
        raise CheckpointError(f"{path}: stored params are inconsistent (keys {sorted(keys)}, expected {expected}); "
                              "the file is damaged: train a new run, or use another copy")
    params = {k: arrays[prefix + k] for k in expected}
    try:
        validate_params(params)
    except ParamsError as exc:
        raise CheckpointError(f"{path}: stored params are inconsistent ({exc})") from None
    return params


def load_params(path, *, sizes=None, arrays=None):
    """The params to evaluate from a checkpoint (best-validation ones when stored).

    Args:
        path: model.npz.
        sizes: expected widths (n0, ..., nL), or None to accept any.
        arrays: ``(arrays, meta)`` already returned by ``read(path)``, or None to read.

    Returns:
        (params, meta): Params, and the file's meta record (a dict).

    Raises:
        CheckpointError: bad file, or an architecture other than ``sizes``.
    """
    arrays, meta = read(path, versions=READABLE_VERSIONS, fix=FIX) if arrays is None else arrays
    prefix = "best/" if any(k.startswith("best/") for k in arrays) else "params/"
    params = _params(arrays, prefix, path)
    check_architecture(params, sizes, path)
    return params, meta


def check_architecture(params, sizes, path):
    """Raise CheckpointError when params' widths differ from ``sizes`` (None: any)."""
    found = layer_sizes(params)
    if sizes is not None and tuple(sizes) != found:
        raise CheckpointError(
            f"{path} holds a {'-'.join(map(str, found))} network, but {'-'.join(map(str, sizes))} "
            "was asked for; use the same --hidden and dataset as that run, or start a new run with another --out"
        )


def load_state(path, opt, *, sizes=None):
    """Rebuild the FitState of a checkpoint for ``opt`` (the run's optimizer).

    Returns:
        (FitState, meta).

    Raises:
        CheckpointError: bad file, other architecture, or optimizer state that
            does not fit ``opt``.
    """
    arrays, meta = read(path)
    params = _params(arrays, "params/", path)
    check_architecture(params, sizes, path)
    best = _params(arrays, "best/", path) if any(k.startswith("best/") for k in arrays) else None
    template = opt.init(params)
    if list(meta["opt_fields"]) != list(template._fields):
        raise CheckpointError(
            f"{path} stores optimizer state {list(meta['opt_fields'])}, but {opt.name} needs "
            f"{list(template._fields)}; resume with the run's own optimizer"
        )
    fields = {}
    try:
        for field, old in zip(template._fields, template):
            if isinstance(old, dict):
                fields[field] = {k: arrays[f"opt/{field}/{k}"] for k in old}
            else:
                fields[field] = arrays[f"opt/{field}"]
    except KeyError as exc:
        raise CheckpointError(f"{path} lacks the optimizer array {exc}; the file is damaged: "
                              "train a new run, or resume from another copy") from None
    best_val = meta["best_val_loss"]
    state = FitState(
        params,
        type(template)(**fields),
        meta["epoch"],
        meta["step"],
        meta["rng_states"],
        best,
        np.inf if best_val is None else best_val,
        meta["bad_epochs"],
        tuple(meta["history"]),
    )
    return state, meta
