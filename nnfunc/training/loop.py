"""The training loop: mini-batch epochs from a FitState to a new FitState.

``fit`` is a function of its arguments only: the same state, optimizer,
data and config give bit-identical results, and a run split into two calls
(2 epochs, then resumed to 4) equals one call of 4 epochs, because every
random draw comes from the Generators whose states travel inside FitState.
It returns new params; it never writes into the arrays it was given (its
in-place fast path, ``_step``, works on private copies).
"""

import math
import time
from typing import Callable, NamedTuple, Optional

import numpy as np

from nnfunc import activations as _activations
from nnfunc import checks, finite
from nnfunc.data import augment as _augment
from nnfunc.data.load import scale_pixels
from nnfunc.errors import DivergenceError, InputError
from nnfunc.evaluation import _evaluate
from nnfunc.losses import l2_penalty
from nnfunc.checks import validate_params
from nnfunc.training._step import make_buffers, step_in_place
from nnfunc.training.seeds import run_seeds

_STREAMS = ("batches", "dropout", "augment")


class TrainData(NamedTuple):
    """x_*: (m, n0) uint8 pixels or float; y_*: (m,) int. The validation set may be empty."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


class FitConfig(NamedTuple):
    """Settings of a run. patience 0 turns early stopping off.

    augment: None, or an ``nnfunc.Augment``: every training batch is then
    distorted afresh (``nnfunc.data.augment``); validation data never is.
    """

    epochs: int
    batch_size: int = 128
    activation: object = "relu"
    l2: float = 0.0
    dropout: float = 0.0
    patience: int = 0
    augment: object = None


class FitState(NamedTuple):
    """Everything a run needs to continue exactly where it stopped.

    epoch and step count completed epochs and updates; rng_states holds the
    ``bit_generator.state`` of the "batches" (shuffling), "dropout" and
    "augment" Generators; best_* track the lowest validation loss
    (best_params is None until a validation loss exists); history holds one
    dict per epoch.
    """

    params: dict
    opt_state: tuple
    epoch: int
    step: int
    rng_states: dict
    best_params: Optional[dict]
    best_val_loss: float
    bad_epochs: int
    history: tuple


def start_fit(params, opt, seed):
    """The FitState of a run that has not trained yet.

    Args:
        params: the initial Params (e.g. ``init(sizes, run_seeds(seed).init)``).
        opt: the Optimizer ``fit`` will use.
        seed: the run's int seed; shuffling, dropout and augmentation draw
            from its "batches", "dropout" and "augment" streams
            (``nnfunc.training.seeds``).
    """
    seeds = run_seeds(seed)
    states = {name: np.random.default_rng(getattr(seeds, name)).bit_generator.state for name in _STREAMS}
    return FitState(params, opt.init(params), 0, 0, states, None, math.inf, 0, ())


def stopped_early(state, config):
    """True when the validation loss has not improved for ``patience`` epochs."""
    return config.patience > 0 and state.bad_epochs >= config.patience


def final_params(state):
    """The params to evaluate and ship: the best-validation ones when tracked."""
    return state.best_params if state.best_params is not None else state.params


def check_config(config, num_hidden):
    """Validate a FitConfig for a network of ``num_hidden`` hidden layers; return its activations.

    Raises:
        ConfigError: a bad count, rate or activation name.
    """
    checks.integer(config.epochs, "epochs", low=0)
    checks.integer(config.batch_size, "batch_size", low=1)
    checks.dropout_rate(config.dropout)
    checks.integer(config.patience, "patience", low=0, hint="0 turns early stopping off")
    checks.check_l2(config.l2)
    if config.augment is not None:
        _augment.check(config.augment, "config.augment")
    return _activations.resolve(config.activation, num_hidden)


def _check_data(data, n_in, n_classes, augment=None):
    """Raise InputError unless ``data`` is a TrainData the network can train on (m_train >= 1)."""
    if not isinstance(data, TrainData):
        raise InputError(f"data must be a TrainData(x_train, y_train, x_val, y_val), got {type(data).__name__}; "
                         "an empty validation set is x_train[:0], y_train[:0]")
    checks.check_examples(data.x_train, data.y_train, n_in, n_classes, "data.x_train")
    checks.check_examples(data.x_val, data.y_val, n_in, n_classes, "data.x_val")
    if data.x_train.shape[0] == 0:
        raise InputError("data.x_train has no rows; training needs at least one example")
    if augment is not None:
        _augment.image_side(n_in, "data.x_train")


def _copy(tree):
    """Deep copy of params or an optimizer state (NamedTuple of count and dicts)."""
    if isinstance(tree, dict):
        return {k: v.copy() for k, v in tree.items()}
    return type(tree)(*(_copy(f) if isinstance(f, dict) else f.copy() for f in tree))


def fit(state, opt, data, config, *, on_epoch: Callable = None, progress=False):
    """Train from ``state`` until ``config.epochs`` epochs are done in total.

    Args:
        state: FitState from ``start_fit`` or a checkpoint.
        opt: an Optimizer; its schedule gives the lr each epoch reports.
        data: TrainData.
        config: FitConfig.
        on_epoch: called as ``on_epoch(state)`` after each epoch (to save a
            checkpoint); an exception there stops the run.
        progress: draw a tqdm bar over each epoch's batches.

    Returns:
        The FitState after the last epoch, or earlier when early stopping
        fired (``stopped_early``).

    Raises:
        DivergenceError: a mini-batch loss became nan or inf.
        ParamsError, InputError, ConfigError: bad params, data or config.
    """
    L = validate_params(state.params)
    acts = check_config(config, L - 1)
    _check_data(data, state.params["W1"].shape[0], state.params[f"W{L}"].shape[1], config.augment)
    dtype = state.params["W1"].dtype
    missing = [name for name in _STREAMS if name not in state.rng_states]
    if missing:
        raise InputError(f"state.rng_states lacks the stream {', '.join(map(repr, missing))}; build the state with "
                         "nnfunc.start_fit, or read a checkpoint with checkpoint.load_state (it adds the augment "
                         "stream of a run from nnfunc 0.2)")
    rngs = {}
    for name in _STREAMS:
        rngs[name] = np.random.Generator(np.random.PCG64())
        rngs[name].bit_generator.state = state.rng_states[name]
    x = data.x_train
    bs = min(config.batch_size, x.shape[0])
    # the loop owns everything in here: private copies of params and optimizer
    # state stepped in place, gradient buffers, and the batch it gathers into
    work = {
        "params": _copy(state.params),
        "opt_state": _copy(state.opt_state),
        "buffers": make_buffers(state.params),
        "xbuf": np.empty((bs, x.shape[1]), dtype=dtype),
        "rawbuf": np.empty((bs, x.shape[1]), dtype=x.dtype),
        "augbuf": np.empty((bs, x.shape[1]), dtype=dtype) if config.augment is not None else None,
    }
    while state.epoch < config.epochs and not stopped_early(state, config):
        # a diverging run overflows before its loss turns non-finite; the
        # DivergenceError raised then says what to change, warnings would only clutter
        with np.errstate(over="ignore", invalid="ignore"):
            state = _epoch(state, work, rngs, opt, data, config, acts, progress)
        if on_epoch is not None:
            on_epoch(state)
    return state


def _epoch(state, work, rngs, opt, data, config, acts, progress):
    """One epoch of ``fit`` on its private ``work`` arrays; returns the next FitState (with copies)."""
    t0 = time.perf_counter()
    x, y = data.x_train, data.y_train
    m, bs = x.shape[0], work["xbuf"].shape[0]
    params, opt_state = work["params"], work["opt_state"]
    dtype = params["W1"].dtype
    step = state.step
    perm = rngs["batches"].permutation(m)
    starts = range(0, m, bs)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"epoch {state.epoch + 1}/{config.epochs}", unit="batch", leave=False)
    ce_sum = correct = 0.0
    for s in starts:
        idx = perm[s : s + bs]
        k = idx.shape[0]
        xb = _batch(x, idx, work, dtype, config.augment, rngs["augment"])
        yb = y[idx]
        params, opt_state, ce, logits = step_in_place(params, opt_state, xb, yb, opt, acts, config.l2,
                                                      config.dropout, rngs["dropout"], work["buffers"])
        if not math.isfinite(ce):
            raise DivergenceError(
                f"the loss became {ce} at epoch {state.epoch + 1}, step {step + 1}: training diverged; "
                "lower the learning rate, add a warmup or a decaying schedule, or raise l2"
            )
        step += 1
        ce_sum += ce * k
        correct += np.count_nonzero(logits.argmax(axis=1) == yb)
    work["params"], work["opt_state"] = params, opt_state
    train_loss = ce_sum / m + l2_penalty(params, len(acts) + 1, config.l2)
    val = _evaluate(params, len(acts) + 1, acts, data.x_val, data.y_val, config.l2)
    record = {
        "epoch": state.epoch + 1,
        "train_loss": train_loss,
        "train_accuracy": correct / m,
        # None means no validation set; a NaN from a diverged one must stay NaN
        "val_loss": val.loss if data.x_val.shape[0] else None,
        "val_accuracy": val.accuracy if data.x_val.shape[0] else None,
        "lr": float(opt.schedule(step - 1)) if step and opt.schedule is not None else None,
        "seconds": time.perf_counter() - t0,
    }
    _check_finite(record, params, opt_state)
    snapshot = _copy(params)
    best_params, best_val, bad = state.best_params, state.best_val_loss, state.bad_epochs
    if record["val_loss"] is not None:
        if val.loss < best_val:
            best_params, best_val, bad = snapshot, val.loss, 0
        else:
            bad += 1
    rng_states = {name: rng.bit_generator.state for name, rng in rngs.items()}
    return FitState(snapshot, _copy(opt_state), state.epoch + 1, step, rng_states, best_params,
                    best_val, bad, state.history + (record,))


def _batch(x, idx, work, dtype, augment, rng):
    """The rows ``idx`` of ``x`` as the params' dtype in ``work``'s buffers, distorted when ``augment`` says so."""
    k = idx.shape[0]
    if x.dtype == np.uint8:
        np.take(x, idx, axis=0, out=work["rawbuf"][:k])
        xb = scale_pixels(work["rawbuf"][:k], dtype, out=work["xbuf"][:k])
    else:
        xb = np.take(x, idx, axis=0, out=work["xbuf"][:k])
    if augment is not None:
        side = math.isqrt(xb.shape[1])
        # drawn here for this batch: the unchecked apply (fit checked the spec and the data once)
        xb = _augment.apply(xb, _augment.draw(rng, k, side, augment, dtype), work["augbuf"][:k])
    return xb


def _check_finite(record, params, opt_state):
    """Raise DivergenceError when an epoch ended with a non-finite loss, param or optimizer state.

    The step loop watches each mini-batch's cross-entropy; this catches what
    it cannot see (the L2 term, the validation loss, an optimizer moment that
    overflowed) before the state reaches a checkpoint. Once an epoch: cheap.
    """
    epoch = record["epoch"]
    for key in ("train_loss", "val_loss"):
        value = record[key]
        if value is not None and not math.isfinite(value):
            raise DivergenceError(f"the {key.replace('_', ' ')} became {value} at epoch {epoch}: training diverged; "
                                  "lower the learning rate, add a warmup or a decaying schedule, or raise l2")
    trees = {"params": params, **{f"optimizer {f}": v for f, v in zip(opt_state._fields, opt_state)
                                  if isinstance(v, dict)}}
    for where, tree in trees.items():
        for key, value in tree.items():
            if not finite.all_finite(value):
                raise DivergenceError(f"{where}[{key!r}] overflowed to NaN or inf in epoch {epoch}: training "
                                      "diverged; lower the learning rate, add a warmup or a decaying schedule, or "
                                      "raise l2")
