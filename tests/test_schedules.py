"""Schedules: values at known steps, monotonic decay, warmup shape, validation."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnfunc.optim import schedules
from nnfunc.errors import ConfigError
from tests.helpers import round_exact

rates = st.floats(1e-6, 10.0)


def test_values_at_known_steps():
    assert schedules.constant(0.3)(0) == 0.3 == schedules.constant(0.3)(10**6)
    step = schedules.step_decay(1.0, step_size=10, gamma=0.5)
    assert [step(s) for s in (0, 9, 10, 19, 20, 35)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]
    expo = schedules.exponential(2.0, decay_rate=0.5, decay_steps=4)
    assert expo(0) == 2.0 and expo(4) == 1.0 and expo(8) == 0.5
    assert expo(2) == pytest.approx(math.sqrt(2))  # 2 * 0.5 ** (2 / 4) = 2 / sqrt(2)
    cos = schedules.cosine(1.0, decay_steps=100, final_lr=0.1)
    assert cos(0) == 1.0
    assert cos(50) == pytest.approx(0.55)
    assert cos(100) == 0.1 == cos(1000)


def test_schedules_return_python_floats():
    for schedule in (schedules.constant(1), schedules.step_decay(1, 2), schedules.exponential(1, 0.5, 3),
                     schedules.cosine(1, 5), schedules.warmup(1, 3),
                     schedules.get("cosine", 1, total_steps=9)):
        for s in (0, 1, 7):
            assert type(schedule(s)) is float


@given(rates, st.integers(1, 50), st.floats(0.01, 1.0), st.floats(0.0, 1.0))
def test_decays_are_non_increasing_and_bounded(lr, steps, factor, final_fraction):
    for schedule in (schedules.step_decay(lr, steps, factor), schedules.exponential(lr, factor, steps),
                     schedules.cosine(lr, steps, final_lr=lr * final_fraction)):
        values = [schedule(s) for s in range(3 * steps + 2)]
        assert values[0] == pytest.approx(lr)
        assert all(b <= a for a, b in zip(values, values[1:]))
        assert all(0 <= v <= lr for v in values)


@given(rates, st.integers(1, 30))
def test_warmup_starts_low_rises_and_reaches_base(lr, warmup_steps):
    base = schedules.cosine(lr, 20, final_lr=0.0)
    schedule = schedules.warmup(base, warmup_steps)
    ramp = [schedule(s) for s in range(warmup_steps + 1)]
    assert 0 < ramp[0] < lr
    assert ramp[0] == pytest.approx(lr / (warmup_steps + 1))
    assert all(b > a for a, b in zip(ramp, ramp[1:]))
    assert ramp[-1] == lr
    for s in range(warmup_steps, warmup_steps + 25):  # then the base, shifted
        assert schedule(s) == base(s - warmup_steps)


def test_warmup_of_a_number_and_zero_warmup():
    assert [schedules.warmup(0.4, 3)(s) for s in range(5)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4])
    base = schedules.constant(0.7)
    assert schedules.warmup(base, 0) is base


def test_get_builds_named_schedules_over_the_run():
    assert schedules.get("constant", 0.2, total_steps=10)(9) == 0.2
    cos = schedules.get("cosine", 1.0, total_steps=110, warmup_steps=10)
    assert 0 < cos(0) < 1.0 and cos(10) == 1.0 and cos(110) == 0.0 and cos(60) == pytest.approx(0.5)
    expo = schedules.get("exponential", 1.0, total_steps=50, decay_rate=0.01)
    assert expo(50) == pytest.approx(0.01)
    step = schedules.get("step", 1.0, total_steps=30, step_size=5, gamma=0.5)
    assert step(4) == 1.0 and step(5) == 0.5
    assert schedules.get("step", 1.0, total_steps=30)(10) == pytest.approx(0.1)  # default: a third of the run


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        schedules.get("linear", 0.1, total_steps=10)
    for name in ("constant", "step", "exponential", "cosine"):
        assert name in str(info.value)


def test_get_unknown_setting_lists_valid_settings():
    with pytest.raises(ConfigError, match="final_lr"):
        schedules.get("cosine", 0.1, total_steps=10, gamma=0.5)


BAD = [
    (schedules.constant, (-0.1,), "lr"),
    (schedules.constant, (math.nan,), "lr"),
    (schedules.constant, (math.inf,), "lr"),
    (schedules.constant, (True,), "lr"),
    (schedules.step_decay, (0.1, 0), "step_size"),
    (schedules.step_decay, (0.1, 2.5), "step_size"),
    (schedules.step_decay, (0.1, 5, 0.0), "gamma"),
    (schedules.step_decay, (0.1, 5, 1.5), "gamma"),
    (schedules.exponential, (0.1, 1.2, 5), "decay_rate"),
    (schedules.exponential, (0.1, 0.5, 0), "decay_steps"),
    (schedules.exponential, (0.1, 0.5, -3), "decay_steps"),
    (schedules.cosine, (0.1, 0), "decay_steps"),
    (schedules.cosine, (0.1, 10, 0.2), "final_lr"),
    (schedules.cosine, (0.1, 10, -0.1), "final_lr"),
    (schedules.warmup, (0.1, -1), "warmup_steps"),
    (schedules.warmup, (lambda s: math.nan, 3), "schedule(0)"),
    (schedules.exponential, (0.1, 0.5, math.inf), "decay_steps"),
    (schedules.exponential, (0.1, 0.5, True), "decay_steps"),
    (schedules.exponential, (0.1, 0.5, "5"), "decay_steps"),
    (schedules.step_decay, (0.1, 5, True), "gamma"),
    (schedules.step_decay, (0.1, 5, "0.5"), "gamma"),
    (schedules.cosine, (0.1, 10, math.nan), "final_lr"),
]


@pytest.mark.parametrize("factory, args, word", BAD)
def test_bad_settings_raise_config_error(factory, args, word):
    # the message starts with the setting's own name
    with pytest.raises(ConfigError, match=rf"^{re.escape(word)}(?!\w)"):
        factory(*args)


@pytest.mark.parametrize("kwargs, word", [
    ({"total_steps": 0}, "total_steps"),
    ({"total_steps": 10, "warmup_steps": 10}, "total_steps"),
    ({"total_steps": 10, "warmup_steps": -1}, "warmup_steps"),
])
def test_get_bad_steps_raise_config_error(kwargs, word):
    with pytest.raises(ConfigError, match=rf"^{word}(?!\w)"):
        schedules.get("cosine", 0.1, **kwargs)


def every_schedule():
    """One schedule of each kind, warmups included: each checks its step."""
    return [schedules.constant(0.1), schedules.step_decay(0.1, 3), schedules.exponential(0.1, 0.5, 10),
            schedules.cosine(0.1, 100), schedules.warmup(0.1, 5), schedules.warmup(schedules.cosine(0.1, 10), 3),
            schedules.get("exponential", 0.1, total_steps=20, warmup_steps=2)]


@pytest.mark.parametrize("step, shown", [
    (-1, "-1"), (math.nan, "nan"), (5.0, "5.0"), (np.float64(3), "np.float64(3.0)"), ("5", "'5'"), (True, "True"),
    (np.bool_(False), "np.False_"), (None, "None"), (2**63, "9223372036854775808"),
    pytest.param(10**400, "an int of 401 digits", id="10**400"),
    pytest.param(-10**5000, "an int of 5001 digits", id="-10**5000"),  # str() of it raises ValueError
])
def test_a_step_that_is_not_an_update_count_is_refused(step, shown):
    # nan gave nan (exponential), 0.0 (cosine) or the base rate (warmup); "5" gave a TypeError
    for schedule in every_schedule():
        with pytest.raises(ConfigError) as info:
            schedule(step)
        assert str(info.value) == (f"step must be an integer in [0, 2**63) (the number of updates done so far), "
                                   f"got {shown}; pass an int such as int(state.count)")


@given(st.integers(0, 10**6), st.sampled_from([np.int64, np.uint32, np.int32, int]))
def test_numpy_integer_steps_are_steps(step, kind):
    for schedule in every_schedule():
        rate = schedule(kind(step))
        assert rate == schedule(step) and 0 <= rate <= 0.1


def test_the_last_step_an_optimizer_can_count_gives_a_rate():
    # an int64 count: huge steps must not overflow a float in the decay formulas
    last = 2**63 - 1
    assert [schedule(last) for schedule in every_schedule()] == [0.1, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0]
    assert schedules.step_decay(0.1, 3, gamma=1)(np.int64(last)) == 0.1


@pytest.mark.parametrize("factory, args, word", [
    (schedules.cosine, (0.1, 2**63), "decay_steps"),
    (schedules.cosine, (0.1, 10**400), "decay_steps"),
    (schedules.step_decay, (0.1, 2**63), "step_size"),
    (schedules.warmup, (0.1, 10**400), "warmup_steps"),
])
def test_a_count_beyond_an_int64_is_refused_when_the_schedule_is_made(factory, args, word):
    # cosine(0.1, 10**400)(5) raised OverflowError: math.pi * step / decay_steps
    with pytest.raises(ConfigError, match=rf"^{word} must be at most 2\*\*63 - 1, the most steps an optimizer "
                                          rf"counts, got (9223372036854775808|an int of 401 digits); pass a smaller "
                                          rf"{word}$"):
        factory(*args)
    assert 0 < factory(*args[:-1], 2**63 - 1)(0) <= 0.1  # the largest count works (a warmup starts tiny)


def test_rate_at_refuses_a_rate_no_float_can_hold_and_takes_an_int_rate():
    assert schedules.rate_at(lambda step: 2, 0) == 2
    assert schedules.rate_at(lambda step: Fraction(1, 4), 0) == Fraction(1, 4)
    fraction = "Fraction(" + "1" + "0" * 400 + ", 1)"  # messages cut a repr this long to 80 characters
    for rate, shown in [(10**400, "an int of 401 digits"), (-1, "-1"), (np.float32("nan"), "nan"),
                        (Fraction(10**400), f"{fraction[:60]}...{fraction[-12:]} (414 characters)")]:
        with pytest.raises(ConfigError) as info:
            schedules.rate_at(lambda step: rate, 7)
        assert str(info.value) == (f"schedule(7) returned {shown}; a schedule must return a finite rate >= 0 "
                                   "at every step")


def test_edges_that_are_allowed():
    assert [schedules.step_decay(0.3, 1, gamma=1)(s) for s in (0, 5)] == [0.3, 0.3]
    assert schedules.exponential(0.3, 1, 2)(7) == 0.3
    assert schedules.exponential(1.0, 0.5, 2.5)(5) == 0.25  # a fractional horizon
    assert schedules.cosine(0.3, 4, final_lr=0.3)(2) == 0.3
    assert schedules.get("constant", 0.5, total_steps=3, warmup_steps=2)(2) == 0.5  # one step of decay
    with pytest.raises(ConfigError, match=r"^total_steps must be an integer >= 3, got 2"):
        schedules.get("constant", 0.5, total_steps=2, warmup_steps=2)


def test_cosine_ends_exactly_on_final_lr():
    # lr - (lr - final) rounds to 0.010000000000000002 here: from decay_steps on
    # the rate is final_lr itself, not the formula
    schedule = schedules.cosine(0.03, 4, final_lr=0.01)
    assert [schedule(s) for s in (4, 5, 100)] == [0.01, 0.01, 0.01]


def test_warmup_hands_over_to_the_base_exactly():
    # 0.1 * 3 / 3 is 0.10000000000000002 in floating point: the ramp must stop
    # before warmup_steps, where the base schedule takes over with its own value
    schedule = schedules.warmup(0.1, 2)
    rates = [schedule(s) for s in range(4)]
    # the ramp 0.1 * k / 3 for k = 1, 2: the float nearest that exact rational (0.1 being the float 0.1)
    assert rates[:2] == [round_exact(Fraction(0.1) * k / 3, np.float64) for k in (1, 2)]
    assert rates[:2] == pytest.approx([1 / 30, 2 / 30], rel=1e-15, abs=0)  # by hand
    assert rates[2:] == [0.1, 0.1]  # exactly the base rate, not the ramp's rounding of it


def test_as_schedule_probes_the_first_step():
    first_bad = lambda step: -1.0 if step == 0 else 0.1  # noqa: E731
    with pytest.raises(ConfigError, match=r"^schedule\(0\) must be a finite number >= 0, got -1\.0"):
        schedules.as_schedule(first_bad)
    later_bad = lambda step: 0.1 if step == 0 else -1.0  # noqa: E731
    assert schedules.as_schedule(later_bad) is later_bad  # only step 0 is probed
    assert schedules.as_schedule(0.2)(5) == 0.2


def test_get_defaults_of_each_named_schedule():
    # step: a third of the decay, at least 1; gamma 0.1
    assert [schedules.get("step", 1.0, total_steps=9)(s) for s in (2, 3, 6)] == pytest.approx([1.0, 0.1, 0.01])
    assert schedules.get("step", 1.0, total_steps=2)(1) == pytest.approx(0.1)
    # exponential: tenfold over the decay
    assert schedules.get("exponential", 1.0, total_steps=10)(10) == pytest.approx(0.1)
    assert schedules.get("exponential", 1.0, total_steps=10)(5) == pytest.approx(1 / math.sqrt(10))
    # cosine: to 0 by default, to final_lr when given
    assert schedules.get("cosine", 1.0, total_steps=10)(10) == 0.0
    final = schedules.get("cosine", 1.0, total_steps=10, final_lr=0.2)
    assert final(10) == 0.2 and final(5) == pytest.approx(0.6)


@pytest.mark.parametrize("name, listed", [("constant", "none"), ("step", "step_size, gamma"),
                                          ("exponential", "decay_rate"), ("cosine", "final_lr")])
def test_get_unknown_setting_message_lists_the_valid_ones(name, listed):
    with pytest.raises(ConfigError) as info:
        schedules.get(name, 0.1, total_steps=10, momentum=0.5)
    assert str(info.value) == f"schedule {name!r} has no setting momentum: its settings are {listed}"
