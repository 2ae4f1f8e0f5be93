"""Learning-rate schedules: pure functions from a step number to a rate.

A schedule is any callable ``schedule(step: int) -> float``. ``step`` is the
number of updates done before the one being computed, so the first update
uses ``schedule(0)``. Schedules hold no state: the optimizer's ``count``
alone decides the rate, which makes a resumed run use the same rates as an
uninterrupted one. The schedules made here refuse a step that is not an
int in [0, 2**63) (ConfigError). Every factory validates its settings and raises
``ConfigError`` naming the bad value and how to fix it; the optimizers check
each rate a schedule returns with ``rate_at``.
"""

import math

import numpy as np

from nnfunc import checks
from nnfunc.errors import ConfigError, shown

NAMES = ("constant", "step", "exponential", "cosine")
# The optimizers count steps in an int64; a bigger step would overflow a float in the decay formulas.
MAX_STEP = 2**63 - 1


def _check_rate(value, name="lr", hint=None):
    return checks.number(value, name, low=0, hint=hint or f"pass a rate like {name}=0.01")


def _check_count(value, name, minimum):
    count = checks.integer(value, name, low=minimum)
    if count > MAX_STEP:  # the formulas divide by it as a float
        raise ConfigError(f"{name} must be at most 2**63 - 1, the most steps an optimizer counts, got "
                          f"{shown(count)}; pass a smaller {name}")
    return count


def _check_factor(value, name):
    return checks.number(value, name, low=0, high=1, low_open=True,
                         hint=f"the rate must decay: pass e.g. {name}=0.1")


def _check_step(step):
    # Called once per update, so isinstance tests and a comparison only: a
    # negative step would give rates above the base rate, a float or NaN step a
    # rate between steps or NaN, and a string a TypeError deep in the formula.
    if not (isinstance(step, (int, np.integer)) and not isinstance(step, bool) and 0 <= step <= MAX_STEP):
        raise ConfigError(f"step must be an integer in [0, 2**63) (the number of updates done so far), got "
                          f"{shown(step)}; pass an int such as int(state.count)")


def rate_at(schedule, step):
    """Return ``schedule(step)`` if it is a rate: a real number (not a bool), finite and >= 0.

    An int too large for a float (10**400) is not finite: no dtype can hold it.

    Optimizers call it at every step, so a float rate costs one scalar test: a schedule of
    the user's own that turns NaN late in a run would otherwise fill the
    params with NaN, and a negative rate would step uphill.

    Raises:
        ConfigError: naming the step and the value returned.
    """
    rate = schedule(step)
    if isinstance(rate, (float, np.floating)) and 0 <= rate < math.inf:  # the usual case; NaN fails both
        return rate
    # an int or Fraction: 10**400 is finite, but no float dtype can hold it
    if checks.is_real(rate) and rate >= 0 and checks.is_finite(rate):
        return rate
    value = float(rate) if isinstance(rate, (float, np.floating)) else rate
    raise ConfigError(f"schedule({step}) returned {shown(value)}; a schedule must return a finite "
                      "rate >= 0 at every step")


def as_schedule(lr):
    """Return ``lr`` as a schedule, validating it.

    Args:
        lr: a finite number >= 0 (a constant rate) or a schedule, i.e. a
            callable ``step -> float``; a callable is probed at step 0 here,
            and the optimizers check every later rate (``rate_at``).

    Returns:
        A callable ``step: int -> float``.

    Raises:
        ConfigError: ``lr`` is negative, non-finite, not a number, or a
            callable whose rate at step 0 is not a finite number >= 0.
    """
    if callable(lr):
        _check_rate(lr(0), "schedule(0)", hint="a schedule must return a rate >= 0 at every step")
        return lr
    return constant(lr)


def constant(lr):
    """Return the schedule that is ``lr`` at every step.

    Raises:
        ConfigError: ``lr`` is negative or non-finite.
    """
    lr = _check_rate(lr)

    def schedule(step):
        _check_step(step)
        return lr

    return schedule


def step_decay(lr, step_size, gamma=0.1):
    """Return ``lr * gamma ** (step // step_size)``: drop by ``gamma`` every ``step_size`` steps.

    Raises:
        ConfigError: ``lr`` < 0 or non-finite, ``step_size`` < 1, ``gamma`` outside (0, 1].
    """
    lr = _check_rate(lr)
    step_size = _check_count(step_size, "step_size", 1)
    gamma = _check_factor(gamma, "gamma")

    def schedule(step):
        _check_step(step)
        return lr * gamma ** (step // step_size)

    return schedule


def exponential(lr, decay_rate, decay_steps):
    """Return ``lr * decay_rate ** (step / decay_steps)``: a smooth exponential decay.

    Raises:
        ConfigError: ``lr`` < 0 or non-finite, ``decay_rate`` outside (0, 1],
            ``decay_steps`` not a finite number > 0.
    """
    lr = _check_rate(lr)
    decay_rate = _check_factor(decay_rate, "decay_rate")
    decay_steps = checks.number(decay_steps, "decay_steps", low=0, low_open=True)

    def schedule(step):
        _check_step(step)
        return lr * decay_rate ** (step / decay_steps)

    return schedule


def cosine(lr, decay_steps, final_lr=0.0):
    """Return half a cosine from ``lr`` at step 0 to ``final_lr`` at ``decay_steps``, then ``final_lr``.

    Raises:
        ConfigError: ``lr`` < 0 or non-finite, ``decay_steps`` < 1,
            ``final_lr`` outside [0, lr].
    """
    lr = _check_rate(lr)
    decay_steps = _check_count(decay_steps, "decay_steps", 1)
    final_lr = _check_rate(final_lr, "final_lr")
    if final_lr > lr:
        raise ConfigError(f"final_lr={final_lr} is above lr={lr}: a cosine decay needs final_lr <= lr")

    def schedule(step):
        _check_step(step)
        if step >= decay_steps:
            return final_lr
        # written as a drop from lr so step 0 gives lr exactly and no rounding exceeds it
        return max(final_lr, lr - 0.5 * (lr - final_lr) * (1.0 - math.cos(math.pi * step / decay_steps)))

    return schedule


def warmup(schedule_or_lr, warmup_steps):
    """Ramp linearly up to a schedule over ``warmup_steps`` steps, then follow it shifted.

    Steps ``0 .. warmup_steps - 1`` use ``base(0) * (step + 1) / (warmup_steps + 1)``:
    the first update already gets a non-zero rate, and the ramp is the
    straight line that would reach ``base(0)`` at ``step = warmup_steps``.
    From ``warmup_steps`` on, the rate is ``base(step - warmup_steps)``: the
    wrapped schedule starts only after the warmup, so a decay keeps its full
    length (build it over ``total_steps - warmup_steps`` to end on time).

    Args:
        schedule_or_lr: a schedule or a constant rate (the ``base``).
        warmup_steps: integer >= 0; 0 returns ``base`` unchanged.

    Raises:
        ConfigError: bad ``schedule_or_lr`` (see ``as_schedule``) or
            ``warmup_steps`` < 0.
    """
    base = as_schedule(schedule_or_lr)
    warmup_steps = _check_count(warmup_steps, "warmup_steps", 0)
    if warmup_steps == 0:
        return base
    peak = float(base(0))

    def schedule(step):
        _check_step(step)
        if step < warmup_steps:
            return peak * (step + 1) / (warmup_steps + 1)
        return base(step - warmup_steps)

    return schedule


def get(name, lr, *, total_steps, warmup_steps=0, **kwargs):
    """Build a schedule by name, for the command line.

    The decay part spans ``total_steps - warmup_steps`` steps, so with a
    warmup the run still ends its decay at ``total_steps``.

    Args:
        name: "constant", "step" (``step_size`` defaults to a third of the
            decay, ``gamma`` to 0.1), "exponential" (``decay_rate`` defaults
            to 0.1: the rate falls tenfold over the decay) or "cosine"
            (``final_lr`` defaults to 0.0).
        lr: base rate, finite and >= 0.
        total_steps: integer > ``warmup_steps``: the number of updates in the run.
        warmup_steps: integer >= 0; see ``warmup``.
        **kwargs: the named schedule's settings listed above.

    Returns:
        A callable ``step: int -> float``.

    Raises:
        ConfigError: unknown name, unknown setting for that name, or a bad value.
    """
    if name not in NAMES:
        raise ConfigError(f"unknown schedule {name!r}: use one of {', '.join(NAMES)}")
    warmup_steps = _check_count(warmup_steps, "warmup_steps", 0)
    total_steps = _check_count(total_steps, "total_steps", warmup_steps + 1)
    decay_steps = total_steps - warmup_steps
    settings = {
        "constant": {},
        "step": {"step_size": max(1, decay_steps // 3), "gamma": 0.1},
        "exponential": {"decay_rate": 0.1},
        "cosine": {"final_lr": 0.0},
    }[name]
    unknown = sorted(set(kwargs) - set(settings))
    if unknown:
        valid = ", ".join(settings) or "none"
        raise ConfigError(f"schedule {name!r} has no setting {', '.join(unknown)}: its settings are {valid}")
    settings.update(kwargs)
    if name == "constant":
        base = constant(lr)
    elif name == "step":
        base = step_decay(lr, **settings)
    elif name == "exponential":
        base = exponential(lr, decay_steps=decay_steps, **settings)
    else:
        base = cosine(lr, decay_steps=decay_steps, **settings)
    return warmup(base, warmup_steps)
