"""Checkpoints: a training run's FitState and config as the arrays of an nnfunc ``.npz``, and back.

Layout (every entry a plain array, loadable with ``allow_pickle=False``):
the header ``checkpoint_format``, ``nnfunc_version`` and ``meta`` (a JSON
string: config, dataset, epoch, step, RNG states, early-stopping counters,
history, the optimizer state's field names), then ``params/W1`` ...,
``best/W1`` ... (when a validation set tracked the best params) and
``opt/<field>`` or ``opt/<field>/<key>`` for the optimizer state. Files of
nnfunc 0.3.0 and before store the same number as ``format_version``
(``nnfunc.npz``) and read as today. ``nnfunc.training.model_file`` reads the
params of these files and writes the smaller model files.

No float array is written or read back with a subnormal value: they are
flushed to zero both ways (``nnfunc.subnormals``), so a run written before
that rule loads, evaluates and resumes at full speed.
"""

import numpy as np

from nnfunc import npz
from nnfunc.errors import CheckpointError, ConfigError, shown
from nnfunc.training.loop import _STREAMS as FitState_STREAMS, FitState
from nnfunc.training.network_file import check_kind, check_network, opened, params_to_use, params_under
from nnfunc.training.seeds import run_seeds
from nnfunc.params import layer_sizes
from nnfunc.subnormals import flushed

KIND = "checkpoint"  # stored as checkpoint_format; model files count their own formats
# 2: two RNG streams (batches, dropout) instead of one; format 1 files still give their params.
# 3: a third stream, augment (0.3); a format-2 file resumes with the one its config's seed gives (it never drew)
FORMAT = 3
READABLE_FORMATS = (1, 2, 3)
RESUMABLE_FORMATS = (2, 3)
_META_KEYS = ("config", "dataset", "sizes", "dtype", "epoch", "step", "rng_states", "best_val_loss",
              "bad_epochs", "opt_fields", "history")
# what a "no usable file" message offers instead: to use a model, and to resume a run
FIX = ("pass a run directory written by python -m nnfunc.train (it holds model.npz) "
       "or a model file written by nnfunc.save")
_OLD_STREAMS = ("batches", "dropout")  # before 0.3
RESUME_FIX = "pass the directory of a run written by python -m nnfunc.train (it holds model.npz)"


def save(path, state, config, dataset):
    """Write ``state`` (FitState), ``config`` (JSON-able dict) and the dataset name atomically."""
    arrays = {f"params/{k}": v for k, v in flushed(state.params).items()}
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
    npz.write(path, arrays, kind=KIND, format=FORMAT, meta=meta)


def _check(path, header, formats, fix):
    """Raise CheckpointError unless ``header`` is a whole checkpoint in one of ``formats``."""
    check_kind(path, header, {KIND: formats}, fix)
    check_network(path, header, _META_KEYS, fix)


def read_meta(path):
    """The meta record (dict: config, dataset, epoch, ...) of a checkpoint to resume; no array's data is read.

    Every array's header is still checked against the network the record
    describes: a caller that needs the settings learns of a damaged file now.

    Raises:
        CheckpointError: as ``read``, but for damage inside the arrays' data.
    """
    with opened(path, fix=RESUME_FIX) as (header, _):
        _check(path, header, RESUMABLE_FORMATS, RESUME_FIX)
        return header.meta


def read(path):
    """(every entry {name: ndarray}, meta dict) of a checkpoint to resume, all of it checked and read.

    The entries are the file's own, header too (``meta`` as stored): a copy
    can be written back. Float arrays are flushed of subnormals.

    Raises:
        CheckpointError: missing, unreadable, truncated, corrupt or pickled
            file, arrays that do not fit its meta record, NaN or inf in its
            arrays, a format that does not resume, or a file of another kind.
    """
    with opened(path, fix=RESUME_FIX) as (header, read_arrays):
        _check(path, header, RESUMABLE_FORMATS, RESUME_FIX)
        return read_arrays(), header.meta


def load_params(path, *, sizes=None):
    """The params to evaluate from a checkpoint of any format (best-validation ones when stored).

    Args:
        path: model.npz.
        sizes: expected widths (n0, ..., nL), or None to accept any.

    Returns:
        (params, meta): Params, and the file's meta record (a dict).

    Raises:
        CheckpointError: bad file, or an architecture other than ``sizes``.
    """
    with opened(path, fix=FIX) as (header, read_arrays):
        _check(path, header, READABLE_FORMATS, FIX)
        arrays = read_arrays()
    params = params_to_use(arrays, path)
    check_architecture(params, sizes, path)
    return params, header.meta


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
    params = params_under(arrays, "params/", path)
    check_architecture(params, sizes, path)
    best = params_under(arrays, "best/", path) if any(k.startswith("best/") for k in arrays) else None
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
