"""Checkpoints: a FitState plus its run config in one ``.npz``, no pickle.

Layout (every entry a plain array, loadable with ``allow_pickle=False``):
``format_version``, ``nnfunc_version``, ``meta`` (a JSON string: config,
dataset, epoch, step, RNG states, early-stopping counters, history, the
optimizer state's field names), ``params/W1`` ..., ``best/W1`` ... (when a
validation set tracked the best params) and ``opt/<field>`` or
``opt/<field>/<key>`` for the optimizer state. ``nnfunc.training.model_file``
reads the params of these files and writes the smaller model files.

No float array is written or read back with a subnormal value: they are
flushed to zero both ways (``nnfunc.subnormals``), so a run written before
that rule loads, evaluates and resumes at full speed.
"""

import json
from pathlib import Path

import numpy as np

from nnfunc._version import __version__
from nnfunc.errors import CheckpointError, ConfigError, ParamsError, shown
from nnfunc import fileio, npz
from nnfunc.fileio import save_npz
from nnfunc.training.loop import _STREAMS as FitState_STREAMS, FitState
from nnfunc.training.seeds import run_seeds
from nnfunc.checks import validate_params
from nnfunc.params import layer_sizes, param_keys
from nnfunc.subnormals import flush, flushed

# 2: two RNG streams (batches, dropout) instead of one; format 1 files still give their params.
# 3: a third stream, augment (0.3); a format-2 file resumes with the one its config's seed gives (it never drew)
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
RESUMABLE_VERSIONS = (2, 3)
KIND = "checkpoint"
_META_KEYS = ("config", "dataset", "sizes", "dtype", "epoch", "step", "rng_states", "best_val_loss",
              "bad_epochs", "opt_fields", "history")
# what a "no usable file" message offers instead: to use a model, and to resume a run
FIX = ("pass a run directory written by python -m nnfunc.train (it holds model.npz) "
       "or a model file written by nnfunc.save")
_OLD_STREAMS = ("batches", "dropout")  # before 0.3
RESUME_FIX = "pass the directory of a run written by python -m nnfunc.train (it holds model.npz)"


def save(path, state, config, dataset):
    """Write ``state`` (FitState), ``config`` (JSON-able dict) and the dataset name atomically."""
    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "nnfunc_version": np.array(__version__),
    }
    arrays.update({f"params/{k}": v for k, v in flushed(state.params).items()})
    if state.best_params is not None:
        arrays.update({f"best/{k}": v for k, v in flushed(state.best_params).items()})
    fields = {}
    for field, value in zip(state.opt_state._fields, state.opt_state):
        if isinstance(value, dict):
            arrays.update({f"opt/{field}/{k}": v for k, v in flushed(value).items()})
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


def read(path, *, kinds=(KIND,), meta_keys=_META_KEYS, versions=RESUMABLE_VERSIONS, fix=RESUME_FIX, data=True):
    """Read an nnfunc ``.npz`` (checkpoint or model file); return (arrays dict, meta dict).

    Work is bounded by what the file must hold: the small ``meta`` record is
    read first, and every array's header (name, shape, dtype) is checked
    against the network it describes before any array data is read.

    Args:
        path: the file. kinds: the ``meta["kind"]`` values accepted (a
            checkpoint has none stored and counts as "checkpoint").
        meta_keys: keys its meta record must hold.
        versions: the ``format_version`` values accepted.
        fix: what every error message tells the user to do instead.
        data: False checks every header but reads only the meta record
            and returns (None, meta): for a caller that needs the settings.

    Raises:
        CheckpointError: missing, unreadable, truncated, corrupt or pickled
            file, arrays that do not fit its meta record, NaN or inf in its
            params, an unknown format version, or a file of another kind.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise CheckpointError(f"{path} is a directory without model.npz; {fix}")
        # one open file for every read: a writer's rename in between cannot mix two versions of the file
        with fileio.open_regular(path) as f:
            return _read_open(f, path, kinds, meta_keys, versions, fix, data)
    except FileNotFoundError:
        raise CheckpointError(f"no file at {path}; {fix}") from None
    except fileio.UnreadableFile as exc:
        raise CheckpointError(f"{exc}; {fix}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path} ({exc.strerror or exc}); check its permissions, or {fix}") from None


def _read_open(f, path, kinds, meta_keys, versions, fix, data):
    """``read`` on the open file ``f`` (named ``path``)."""
    headers = npz.npz_headers(f, name=path)
    meta, version = _read_meta(f, path, headers, fix)
    kind = meta.get("kind", KIND)
    if kind not in kinds:
        raise CheckpointError(f"{path} is an nnfunc {shown(kind, quote=False)} file, but a {' or '.join(kinds)} is needed here; "
                              f"{fix}")
    if version not in versions:
        written = npz.read_npz(f, ["nnfunc_version"], name=path)["nnfunc_version"] if "nnfunc_version" in headers \
            else "?"
        raise CheckpointError(
            f"{path} has format {version} (written by nnfunc {shown(str(written), quote=False)}); this is needed in format "
            f"{' or '.join(map(str, versions))}. {fix[0].upper() + fix[1:]}, or use the nnfunc version that wrote it"
        )
    missing = sorted(set(meta_keys) - set(meta))
    if missing:
        raise CheckpointError(f"{path} has a meta record without {', '.join(missing)}; {fix}")
    _check_headers(path, headers, meta)
    if not data:
        return None, meta
    arrays = npz.read_npz(f, name=path)
    for a in arrays.values():  # fresh arrays, ours to write into
        if a.dtype.kind == "f":
            flush(a)
    bad = next((name for name, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all()), None)
    if bad is not None:
        raise CheckpointError(f"{path} holds NaN or inf in {bad}: the run diverged before it was saved, or the file "
                              f"is damaged; {fix}")
    return arrays, meta


MAX_LAYERS = 1000  # far past any MLP that trains; a longer sizes list is damage
_MAX_META_CHARS = 64 << 20  # a meta record of 1,000 epochs of history is about 250 KB


def _read_meta(f, path, headers, fix):
    """The meta record (dict) and format version of the open file ``f`` (named ``path``) whose headers were read."""
    if "format_version" not in headers or "meta" not in headers:
        raise CheckpointError(f"{path} is an .npz but not an nnfunc checkpoint (no format_version/meta); {fix}")
    (v_shape, v_dtype), (m_shape, m_dtype) = headers["format_version"], headers["meta"]
    if v_shape != () or v_dtype.kind not in "iu":
        raise CheckpointError(f"{path} has a corrupt format_version (a {v_dtype} array of shape {v_shape}); {fix}")
    if m_shape != () or m_dtype.kind != "U" or m_dtype.itemsize > 4 * _MAX_META_CHARS:
        raise CheckpointError(f"{path} has a corrupt meta record (a {m_dtype} array of shape {m_shape}); {fix}")
    small = npz.read_npz(f, ["format_version", "meta"], name=path)
    try:
        meta = json.loads(str(small["meta"]))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path} has a corrupt meta record ({exc}); {fix}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} has a meta record that is not a JSON object; {fix}")
    return meta, int(small["format_version"])


def _check_headers(path, headers, meta):
    """Raise CheckpointError unless every array's header fits the network ``meta`` describes."""
    damaged = "the file is damaged: train a new run, or use another copy"
    sizes, dtype = meta["sizes"], meta["dtype"]
    if (not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LAYERS + 1
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)
            or dtype not in ("float32", "float64")):
        raise CheckpointError(f"{path} has a corrupt meta record (sizes {shown(sizes)}, dtype {shown(dtype)}); "
                              f"{damaged}")
    shapes = {}
    for l in range(1, len(sizes)):
        shapes[f"W{l}"], shapes[f"b{l}"] = (sizes[l - 1], sizes[l]), (sizes[l],)
    for name, (shape, found) in headers.items():
        if name in ("format_version", "nnfunc_version", "meta"):
            continue
        group, _, key = name.rpartition("/")
        if group in ("params", "best") or (group.startswith("opt/") and group.count("/") == 1):
            want = (shapes.get(key), np.dtype(dtype))
        elif group == "opt":
            want = ((), np.dtype(np.int64))  # the update count
        else:
            want = (None, None)
        if (shape, found) != want:
            raise CheckpointError(f"{path} holds an array {shown(name)} of shape {shown(shape)} and dtype {found}, "
                                  f"which a {shown('-'.join(map(str, sizes)), quote=False)} {dtype} network does not "
                                  f"have; {damaged}")


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


def _check_progress(path, meta):
    """Raise CheckpointError unless the meta record's counters, RNG states and history are well formed."""
    def damaged(what):
        return CheckpointError(f"{path} has a damaged meta record ({what}); train a new run, or resume from "
                               "another copy")

    for key in ("epoch", "step", "bad_epochs"):
        value = meta[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise damaged(f"{key} {shown(value)} is not a count")
    best = meta["best_val_loss"]
    if best is not None and (not isinstance(best, (int, float)) or isinstance(best, bool) or not np.isfinite(best)):
        raise damaged(f"best_val_loss {shown(best)}")
    history = meta["history"]
    if not isinstance(history, list) or len(history) != meta["epoch"] or not all(isinstance(r, dict) for r in history):
        raise damaged(f"a history of {meta['epoch']} epochs is needed")
    fields = meta["opt_fields"]
    if not isinstance(fields, dict) or not all(isinstance(k, str) and v in ("dict", "array") for k, v in fields.items()):
        raise damaged(f"opt_fields {shown(fields)}")
    states = meta["rng_states"]
    if not isinstance(states, dict) or sorted(states) not in (sorted(FitState_STREAMS), sorted(_OLD_STREAMS)):
        raise damaged(f"rng_states must hold {', '.join(FitState_STREAMS)}")
    if "augment" not in states:
        _old_augment_state(meta, damaged)
    for name, state in states.items():
        try:
            np.random.PCG64().state = state  # the loop restores them this way
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise damaged(f"rng_states[{shown(name)}] ({type(exc).__name__}: {shown(str(exc), quote=False)})") from None


def _old_augment_state(meta, damaged):
    """The "augment" stream of a format-2 run: where its seed starts it, as that run never drew from it."""
    seed = meta["config"].get("seed") if isinstance(meta["config"], dict) else None
    try:
        return np.random.default_rng(run_seeds(seed).augment).bit_generator.state
    except ConfigError:
        raise damaged(f"rng_states lacks 'augment', and the config's seed {shown(seed)} cannot give it") from None


def _check_opt_state(path, fields, step):
    """Raise CheckpointError unless the optimizer state could have come from ``step`` updates."""
    def damaged(what):
        return CheckpointError(f"{path} has damaged optimizer state ({what}); train a new run, or resume from "
                               "another copy")

    if int(fields["count"]) != step:
        raise damaged(f"opt/count {int(fields['count'])} but the run has taken {step} steps")
    for key, value in fields.get("nu", {}).items():  # moving means of squares
        if (value < 0).any():
            raise damaged(f"opt/nu/{key} holds negative values, which a mean of squares cannot")


def load_state(path, opt, *, sizes=None):
    """Rebuild the FitState of a checkpoint for ``opt`` (the run's optimizer).

    Returns:
        (FitState, meta).

    Raises:
        CheckpointError: bad file, other architecture, or optimizer state that
            does not fit ``opt``.
    """
    arrays, meta = read(path)
    _check_progress(path, meta)
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
    _check_opt_state(path, fields, meta["step"])
    best_val = meta["best_val_loss"]
    rng_states = dict(meta["rng_states"])
    if "augment" not in rng_states:
        rng_states["augment"] = _old_augment_state(meta, None)  # _check_progress proved the seed gives one
    state = FitState(
        params,
        type(template)(**fields),
        meta["epoch"],
        meta["step"],
        rng_states,
        best,
        np.inf if best_val is None else best_val,
        meta["bad_epochs"],
        tuple(meta["history"]),
    )
    return state, meta
