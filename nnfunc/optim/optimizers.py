"""Gradient-descent optimizers as pure ``(init, update)`` pairs: the rules and their settings.

    opt = adam(1e-3)
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)

``update`` returns new dicts and never writes into its arguments; the same
inputs give bit-identical outputs. Updates already carry the minus sign and
the learning rate, and ``apply_updates`` (``p + u``) is the one place that
adds them, so with ``lr = 0`` the params come back bit-identical (but for a
subnormal, which comes back as zero, and a -0.0, which may come back +0.0).

No state or params an optimizer writes holds a subnormal float, so a
trained network stays as fast as a fresh one: the moments and the sums
``p + u`` are flushed to zero as they are made, and Adam and RMSprop take a
gradient term that would underflow as zero (``nnfunc.subnormals``).

Each state is a small NamedTuple whose fields are ``count`` (0-d int64
array: updates done so far) and dicts of arrays with the params' keys,
shapes and dtypes, so checkpoints can store any state generically. Arrays
keep the params' dtype: float32 in, float32 state and updates out. Nothing
is cast: ``update`` refuses grads or state of another dtype than the
params' at the same key (without params, than the state's), and
``apply_updates`` updates of another dtype than the params' (ParamsError
naming the key and both dtypes), since mixing them would change the
dtype of the result or of the arithmetic without a word.

``lr`` is a number or a schedule ``step -> float`` (see ``nnfunc.optim.schedules``),
called with ``count`` before the update, so the first update uses ``lr(0)``;
a rate that is not a finite number >= 0 raises ConfigError at its step.
``update`` refuses a state its optimizer's ``init`` did not make and grads
that do not match it (ParamsError), and never returns a NaN or inf update:
the compiled loop checks each result in its own pass (the NumPy reference
with one dot product per key; see ``nnfunc.kernels``), and only when that fails are the grads,
state, params and rate scanned to name the culprit. ``apply_updates``
checks its result the same way. ``update_in_place``, the training loop's,
checks only the rate.
"""

import inspect
from typing import Callable, NamedTuple, Optional

import numpy as np

from nnfunc import checks, finite, kernels
from nnfunc.errors import ConfigError
from nnfunc.optim import inplace
from nnfunc.optim._build import build, check_dtypes
from nnfunc.optim.schedules import as_schedule


class Optimizer(NamedTuple):
    """An optimizer: ``init(params) -> state`` and ``update(grads, state, params) -> (updates, state)``.

    ``update`` of the built-in optimizers raises ParamsError for a state
    their ``init`` did not make and for grads, state or params whose update
    would be NaN or inf, ConfigError for a rate or step that overflows the
    dtype; it never returns a NaN. ``schedule(step) -> lr`` is the rate
    ``update`` uses at each step (a constant rate is a schedule too); ``fit``
    reports it per epoch.
    ``update_in_place(grads, state, params, scratch) -> (params, state)``
    is the same update written into the params and state it is given: only
    for a training loop that owns those arrays (``nnfunc.training``);
    everything else uses ``update``. An optimizer of your own may leave
    both None: ``fit`` then uses ``update`` and reports no lr.
    """

    init: Callable
    update: Callable
    name: str = "custom"
    schedule: Optional[Callable] = None
    update_in_place: Optional[Callable] = None


class SgdState(NamedTuple):
    count: np.ndarray  # () int64


class MomentumState(NamedTuple):
    count: np.ndarray  # () int64
    mu: dict  # velocity, like params


class AdamState(NamedTuple):
    count: np.ndarray  # () int64
    mu: dict  # moving mean of grads, like params
    nu: dict  # moving mean of squared grads, like params


class RmspropState(NamedTuple):
    count: np.ndarray  # () int64
    nu: dict  # moving mean of squared grads, like params


def apply_updates(params, updates):
    """Return new params ``p + u`` for every key, subnormal sums flushed to zero (``nnfunc.subnormals``).

    Args:
        params: dict of float arrays.
        updates: dict with the same keys, shapes and dtypes, from ``update``.

    Returns:
        A new dict; ``params`` is not modified.

    Raises:
        ParamsError: params not a dict of float arrays; updates not keyed,
            shaped and typed like params (``p + u`` would broadcast, or change
            the params' dtype); NaN or inf in updates or params (the first key
            is named).
        ConfigError: finite params and updates whose sum overflows the dtype.
    """
    checks.check_float_params(params)
    checks.check_grads(updates, params, "params", name="updates")
    check_dtypes(updates, params, "updates", "params", "make them with opt.update from grads in the params' dtype")
    with finite.overflow_checked_after():  # an overflow is explained below, not warned about
        new, ok = kernels.backend().add_all(params, updates)
    for k, finite_sum in ok.items():
        if not finite_sum:
            finite.blame_sum(k, params, updates)
    return new


def _decay(value, name):
    return checks.number(value, name, low=0, high=1, high_open=True, hint=f"pass e.g. {name}=0.9")


def _positive(value, name):
    return checks.number(value, name, low=0, low_open=True, hint=f"pass e.g. {name}=1e-8")


def _optimizer(name, schedule, state_type, slots, rule):
    """An Optimizer running ``rule`` (``nnfunc.optim.inplace``) whose state keeps the dicts ``slots``."""
    init, update, update_in_place = build(name, schedule, state_type, slots, rule)
    return Optimizer(init, update, name, schedule, update_in_place)


def sgd(lr):
    """Plain gradient descent: ``u = -lr * g``.

    Raises:
        ConfigError: ``lr`` negative, non-finite, or a bad schedule.
    """
    return _optimizer("sgd", as_schedule(lr), SgdState, (), inplace.sgd())


def momentum(lr, beta=0.9, nesterov=False):
    """Heavy-ball momentum: ``mu = beta * mu + g``, ``u = -lr * mu``.

    With ``nesterov=True`` the step looks ahead: ``u = -lr * (g + beta * mu)``
    using the new ``mu``. ``beta = 0`` gives exactly ``sgd(lr)`` (for
    gradients that are not subnormal). The rate multiplies the velocity,
    not the gradient, so a schedule changes the step size at once rather
    than through the velocity's memory.

    Raises:
        ConfigError: bad ``lr`` or ``beta`` outside [0, 1).
    """
    schedule = as_schedule(lr)
    rule = inplace.momentum(_decay(beta, "beta"), bool(nesterov))
    return _optimizer("nesterov" if nesterov else "momentum", schedule, MomentumState, ("mu",), rule)


def _adam(lr, b1, b2, eps, weight_decay, decay_biases, name):
    schedule = as_schedule(lr)
    b1, b2, eps = _decay(b1, "b1"), _decay(b2, "b2"), _positive(eps, "eps")
    weight_decay = checks.number(weight_decay, "weight_decay", low=0)
    rule = inplace.adam(b1, b2, eps, weight_decay, decay_biases, name)
    return _optimizer(name, schedule, AdamState, ("mu", "nu"), rule)


def adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma & Ba, 2015) with bias-corrected moments.

    ``u = -lr * mu_hat / (sqrt(nu_hat) + eps)``, the PyTorch placement of
    ``eps``. The first step moves every coordinate with a non-zero gradient
    by about ``lr``.

    Raises:
        ConfigError: bad ``lr``, ``b1`` or ``b2`` outside [0, 1), ``eps`` <= 0.
    """
    return _adam(lr, b1, b2, eps, 0.0, False, "adam")


def adamw(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2, decay_biases=False):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    ``u = -lr * (adam_direction + weight_decay * p)``: the decay acts on the
    params directly instead of through the gradient, and is scaled by the
    (scheduled) rate, so ``lr = 0`` changes nothing. It applies to every
    param given except biases (keys starting with "b") unless
    ``decay_biases=True``. ``update`` needs ``params`` when ``weight_decay > 0``.

    Raises:
        ConfigError: as ``adam``, or ``weight_decay`` negative or non-finite.
    """
    return _adam(lr, b1, b2, eps, weight_decay, bool(decay_biases), "adamw")


def rmsprop(lr=1e-3, decay=0.9, eps=1e-8):
    """RMSprop: ``nu = decay * nu + (1 - decay) * g**2``, ``u = -lr * g / (sqrt(nu) + eps)``.

    No bias correction (as in PyTorch): with ``nu`` starting at 0 the first
    steps are larger than ``lr``, by ``1 / sqrt(1 - decay)`` on the first.

    Raises:
        ConfigError: bad ``lr``, ``decay`` outside [0, 1), ``eps`` <= 0.
    """
    schedule = as_schedule(lr)
    rule = inplace.rmsprop(_decay(decay, "decay"), _positive(eps, "eps"))
    return _optimizer("rmsprop", schedule, RmspropState, ("nu",), rule)


def _nesterov(lr, beta=0.9):
    return momentum(lr, beta=beta, nesterov=True)


_FACTORIES = {"sgd": sgd, "momentum": momentum, "nesterov": _nesterov,
              "adam": adam, "adamw": adamw, "rmsprop": rmsprop}
NAMES = tuple(_FACTORIES)


def get(name, lr, **kwargs):
    """Build an optimizer by name: "sgd", "momentum", "nesterov", "adam", "adamw" or "rmsprop".

    Args:
        name: one of ``NAMES``.
        lr: a number >= 0 or a schedule.
        **kwargs: that optimizer's other settings (e.g. ``beta``, ``eps``).

    Raises:
        ConfigError: unknown name, a setting that optimizer does not take,
            or a bad value.
    """
    if name not in _FACTORIES:
        raise ConfigError(f"unknown optimizer {name!r}: use one of {', '.join(NAMES)}")
    factory = _FACTORIES[name]
    valid = list(inspect.signature(factory).parameters)[1:]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(f"optimizer {name!r} has no setting {', '.join(unknown)}: "
                          f"its settings are {', '.join(valid) or 'none'}")
    return factory(lr, **kwargs)
