"""The training core: mini-batch epochs from a state to a new state.

``fit`` is a function of its arguments only: the same state, optimizer,
data and config give bit-identical results, and a run split into two calls
(2 epochs, then resumed to 4) equals one call of 4 epochs, because every
random draw comes from the Generator whose state travels inside FitState.
It returns new params; it never writes into the arrays it was given.
"""

import math
import time
from typing import Callable, NamedTuple, Optional

import numpy as np

from nnfunc import activations as _activations
from nnfunc.data import scale_pixels
from nnfunc.errors import ConfigError, DivergenceError
from nnfunc.evaluation import evaluate
from nnfunc.inputs import check_l2
from nnfunc.losses import l2_penalty, softmax_cross_entropy
from nnfunc.model import _backward, _forward
from nnfunc.optimizers import apply_updates
from nnfunc.params import validate_params


class TrainData(NamedTuple):
    """x_*: (m, n0) uint8 pixels or float; y_*: (m,) int. The validation set may be empty."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


class FitConfig(NamedTuple):
    """Settings of a run. patience 0 turns early stopping off."""

    epochs: int
    batch_size: int = 128
    activation: object = "relu"
    l2: float = 0.0
    dropout: float = 0.0
    patience: int = 0


class FitState(NamedTuple):
    """Everything a run needs to continue exactly where it stopped.

    epoch and step count completed epochs and updates; rng_state is the
    Generator's bit_generator.state; best_* track the lowest validation loss
    (best_params is None until a validation loss exists); history holds one
    dict per epoch.
    """

    params: dict
    opt_state: tuple
    epoch: int
    step: int
    rng_state: dict
    best_params: Optional[dict]
    best_val_loss: float
    bad_epochs: int
    history: tuple


def start(params, opt, seed):
    """The FitState of a run that has not trained yet."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    return FitState(params, opt.init(params), 0, 0, rng.bit_generator.state, None, math.inf, 0, ())


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
    if config.epochs < 0 or config.batch_size < 1:
        raise ConfigError(f"epochs must be >= 0 and batch_size >= 1, got {config.epochs} and {config.batch_size}")
    if not 0 <= config.dropout < 1:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    if config.patience < 0:
        raise ConfigError(f"patience must be >= 0 (0 turns early stopping off), got {config.patience}")
    check_l2(config.l2)
    return _activations.resolve(config.activation, num_hidden)


def train_step(params, opt_state, xb, yb, opt, acts, l2=0.0, dropout=0.0, rng=None, scratch=None):
    """One unchecked mini-batch update: forward, fused softmax-CE gradient, backward, optimizer.

    Args:
        xb: (k, n0) float in the params' dtype; yb: (k,) int.
        acts: resolved activations (``nnfunc.activations.resolve``).
        scratch: None for a pure step (new params and state); or
            ``make_scratch(params)``, and then params and opt_state are
            updated in place (``Optimizer.step``) and gradients written into
            reused buffers: only for a caller that owns them, like ``fit``.

    Returns:
        (params, opt_state, ce, logits): the new params and state, the batch's
        mean cross-entropy (without L2) and its logits (k, nL).
    """
    cache = _forward(params, xb, acts, dropout, rng)
    ce, probs = softmax_cross_entropy(cache["logits"], yb)
    grads, _ = _backward(params, cache, probs, yb, acts, l2, out=None if scratch is None else scratch["grads"])
    if scratch is not None and opt.step is not None:
        params, opt_state = opt.step(grads, opt_state, params, scratch["step"])
    else:
        updates, opt_state = opt.update(grads, opt_state, params)
        params = apply_updates(params, updates)
    return params, opt_state, ce, cache["logits"]


def make_scratch(params):
    """Buffers for an in-place ``train_step``: gradients, and the optimizer's spare arrays."""
    return {"grads": {k: np.empty_like(v) for k, v in params.items()},
            "step": {k: np.empty_like(v) for k, v in params.items()}}


def _copy(tree):
    """Deep copy of params or an optimizer state (NamedTuple of count and dicts)."""
    if isinstance(tree, dict):
        return {k: v.copy() for k, v in tree.items()}
    return type(tree)(*(_copy(f) if isinstance(f, dict) else f.copy() for f in tree))


def fit(state, opt, data, config, *, schedule=None, on_epoch: Callable = None, progress=False):
    """Train from ``state`` until ``config.epochs`` epochs are done in total.

    Args:
        state: FitState from ``start`` or a checkpoint.
        opt: an Optimizer (init, update) pair.
        data: TrainData.
        config: FitConfig.
        schedule: the optimizer's learning-rate schedule, only to report lr.
        on_epoch: called as ``on_epoch(state)`` after each epoch (to save a
            checkpoint); an exception there stops the run.
        progress: draw a tqdm bar over each epoch's batches.

    Returns:
        The FitState after the last epoch, or earlier when early stopping
        fired (``stopped_early``).

    Raises:
        DivergenceError: a mini-batch loss became nan or inf.
    """
    L = validate_params(state.params)
    acts = check_config(config, L - 1)
    dtype = state.params["W1"].dtype
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state.rng_state
    x = data.x_train
    bs = min(config.batch_size, x.shape[0])
    # the loop owns everything in here: private copies of params and optimizer
    # state stepped in place, gradient buffers, and the batch it gathers into
    work = {
        "params": _copy(state.params),
        "opt_state": _copy(state.opt_state),
        "scratch": make_scratch(state.params),
        "xbuf": np.empty((bs, x.shape[1]), dtype=dtype),
        "rawbuf": np.empty((bs, x.shape[1]), dtype=x.dtype),
    }
    while state.epoch < config.epochs and not stopped_early(state, config):
        # a diverging run overflows before its loss turns non-finite; the
        # DivergenceError raised then says what to change, warnings would only clutter
        with np.errstate(over="ignore", invalid="ignore"):
            state = _epoch(state, work, rng, opt, data, config, acts, schedule, progress)
        if on_epoch is not None:
            on_epoch(state)
    return state


def _epoch(state, work, rng, opt, data, config, acts, schedule, progress):
    """One epoch of ``fit`` on its private ``work`` arrays; returns the next FitState (with copies)."""
    t0 = time.perf_counter()
    x, y = data.x_train, data.y_train
    m, bs = x.shape[0], work["xbuf"].shape[0]
    params, opt_state = work["params"], work["opt_state"]
    dtype = params["W1"].dtype
    step = state.step
    perm = rng.permutation(m)
    starts = range(0, m, bs)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"epoch {state.epoch + 1}/{config.epochs}", unit="batch", leave=False)
    ce_sum = correct = 0.0
    for s in starts:
        idx = perm[s : s + bs]
        k = idx.shape[0]
        if x.dtype == np.uint8:
            np.take(x, idx, axis=0, out=work["rawbuf"][:k])
            xb = scale_pixels(work["rawbuf"][:k], dtype, out=work["xbuf"][:k])
        else:
            xb = np.take(x, idx, axis=0, out=work["xbuf"][:k])
        yb = y[idx]
        params, opt_state, ce, logits = train_step(params, opt_state, xb, yb, opt, acts, config.l2, config.dropout,
                                                   rng, work["scratch"])
        if not math.isfinite(ce):
            raise DivergenceError(
                f"the loss became {ce} at epoch {state.epoch + 1}, step {step + 1}: training diverged; "
                "lower the learning rate (--lr), add a warmup or decaying --schedule, or raise --l2"
            )
        step += 1
        ce_sum += ce * k
        correct += np.count_nonzero(logits.argmax(axis=1) == yb)
    work["params"], work["opt_state"] = params, opt_state
    train_loss = ce_sum / m + l2_penalty(params, len(acts) + 1, config.l2)
    val = evaluate(params, data.x_val, data.y_val, activation=config.activation, l2=config.l2)
    record = {
        "epoch": state.epoch + 1,
        "train_loss": train_loss,
        "train_accuracy": correct / m,
        "val_loss": None if math.isnan(val.loss) else val.loss,
        "val_accuracy": None if math.isnan(val.accuracy) else val.accuracy,
        "lr": float(schedule(step - 1)) if schedule and step else None,
        "seconds": time.perf_counter() - t0,
    }
    snapshot = _copy(params)
    best_params, best_val, bad = state.best_params, state.best_val_loss, state.bad_epochs
    if record["val_loss"] is not None:
        if val.loss < best_val:
            best_params, best_val, bad = snapshot, val.loss, 0
        else:
            bad += 1
    return FitState(snapshot, _copy(opt_state), state.epoch + 1, step, rng.bit_generator.state, best_params,
                    best_val, bad, state.history + (record,))
