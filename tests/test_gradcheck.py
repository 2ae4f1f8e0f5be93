"""The gradient checker on toy functions, and the checker checked.

Toys with known gradients: a quadratic, elementwise exp/log, softmax
regression (exp/log through log-sum-exp) and sum |p| (a kink at 0). "Test the
tester": planted bugs (a factor, a missing term, a transposed matrix, a wrong
bias gradient) must fail in every mode, in the right tensor.
"""

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnfunc.errors import ConfigError, GradientMismatchError, InputError, ParamsError
from nnfunc.verify.checker import DEFAULT_EPS, assert_gradients, gradcheck
from nnfunc.verify.probes import relative_error
from nnfunc.verify.report import GradcheckReport

MODES = ("full", "sample", "direction")


# --- toys -------------------------------------------------------------------


def quadratic(seed, shapes):
    """f = sum_k sum(c_k * p_k**2 + w_k * p_k); returns (loss_fn, params, grad_fn)."""
    rng = np.random.default_rng(seed)
    params = {f"t{i}": np.asarray(rng.standard_normal(s)) for i, s in enumerate(shapes)}
    c = {k: rng.uniform(0.1, 2.0, v.shape) for k, v in params.items()}
    w = {k: rng.standard_normal(v.shape) for k, v in params.items()}

    def loss_fn(p):
        return float(sum(np.sum(c[k] * p[k] ** 2 + w[k] * p[k]) for k in p))

    def grad_fn(p):
        return {k: np.asarray(2 * c[k] * p[k] + w[k]) for k in p}

    return loss_fn, params, grad_fn


def exp_log(seed, shapes):
    """f = sum(exp(a / 2)) + sum(log(1 + b**2)) over two tensors a, b."""
    rng = np.random.default_rng(seed)
    params = {"a": rng.standard_normal(shapes[0]), "b": rng.standard_normal(shapes[1])}

    def loss_fn(p):
        return float(np.sum(np.exp(p["a"] / 2)) + np.sum(np.log1p(p["b"] ** 2)))

    def grad_fn(p):
        return {"a": np.exp(p["a"] / 2) / 2, "b": 2 * p["b"] / (1 + p["b"] ** 2)}

    return loss_fn, params, grad_fn


def softmax_regression(n=60, m=16, l2=0.1, seed=0):
    """Mean cross-entropy of softmax(x @ W + b) plus 0.5 * l2 * ||W||^2, W square (n, n)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, n))
    y = rng.integers(0, n, m)
    params = {"W": rng.standard_normal((n, n)) * 0.3, "b": rng.standard_normal(n) * 0.3}

    def loss_fn(p):
        Z = x @ p["W"] + p["b"]
        Z = Z - Z.max(axis=1, keepdims=True)
        log_probs = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(m), y].mean() + 0.5 * l2 * np.sum(p["W"] ** 2))

    def grad_fn(p, *, with_l2=True):
        Z = x @ p["W"] + p["b"]
        probs = np.exp(Z - Z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(m), y] -= 1
        dZ = probs / m
        return {"W": x.T @ dZ + (l2 * p["W"] if with_l2 else 0), "b": dZ.sum(axis=0)}

    return loss_fn, params, grad_fn


def abs_sum(values):
    """f = sum |p| with kink_fn = the sign pattern p > 0."""
    params = {"p": np.asarray(values, dtype=np.float64)}

    def loss_fn(p):
        return float(np.sum(np.abs(p["p"])))

    def kink_fn(p):
        return p["p"] > 0

    return loss_fn, params, {"p": np.sign(params["p"])}, kink_fn


shapes_strategy = st.lists(st.lists(st.integers(1, 4), max_size=3).map(tuple), min_size=1,
                           max_size=3)
seeds = st.integers(0, 2**32 - 1)


# --- correct gradients pass -------------------------------------------------


@given(shapes=shapes_strategy, seed=seeds, mode=st.sampled_from(MODES + ("auto",)))
def test_quadratic_passes_for_random_shapes(shapes, seed, mode):
    loss_fn, params, grad_fn = quadratic(seed, shapes)
    report = gradcheck(loss_fn, params, grad_fn(params), mode=mode, rng=seed)
    assert report.ok, report.format()
    assert report.max_rel_error < 1e-8


@given(shape_a=st.lists(st.integers(1, 4), max_size=2).map(tuple),
       shape_b=st.lists(st.integers(1, 4), max_size=2).map(tuple), seed=seeds)
def test_exp_log_passes_in_every_mode(shape_a, shape_b, seed):
    loss_fn, params, grad_fn = exp_log(seed, (shape_a, shape_b))
    for mode in MODES:
        report = gradcheck(loss_fn, params, grad_fn(params), mode=mode, rng=seed)
        assert report.ok, report.format()


@pytest.mark.parametrize("mode", MODES + ("auto",))
def test_softmax_regression_passes(mode):
    loss_fn, params, grad_fn = softmax_regression()
    report = assert_gradients(loss_fn, params, grad_fn(params), mode=mode)
    assert report.ok and report.max_rel_error < 1e-7
    assert report.format().splitlines()[-1].startswith("OK: max relative error")


# --- test the tester: planted bugs ------------------------------------------

BUGS = {
    "factor 1.01": ("W", lambda g, grad_fn, p: {**g, "W": g["W"] * 1.01}),
    "factor 2": ("W", lambda g, grad_fn, p: {**g, "W": g["W"] * 2}),
    "missing l2 term": ("W", lambda g, grad_fn, p: grad_fn(p, with_l2=False)),
    "transposed": ("W", lambda g, grad_fn, p: {**g, "W": g["W"].T}),
    "bias not averaged": ("b", lambda g, grad_fn, p: {**g, "b": g["b"] * 16}),
    "bias off by 1e-4": ("b", lambda g, grad_fn, p: {**g, "b": g["b"] + 1e-4}),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_is_caught_in_its_tensor(bug, mode):
    loss_fn, params, grad_fn = softmax_regression()
    name, plant = BUGS[bug]
    report = gradcheck(loss_fn, params, plant(grad_fn(params), grad_fn, params), mode=mode)
    assert not report.ok
    rows = {row.name: row for row in report.rows}
    assert not rows[name].ok, report.format()
    assert all(row.ok for row in report.rows if row.name not in (name, "direction"))
    assert report.format().splitlines()[-1].startswith("FAILED:")
    if mode == "sample":
        assert rows["W"].checked == 32 < params["W"].size  # really a sample
    if mode == "direction":
        assert report.mode == "direction"
        assert report.rows[0].name == "direction" and not report.rows[0].ok
        assert [row.name for row in report.rows[1:]] == ["W", "b"]
        assert "direction check failed" in report.note and report.note in report.format()


@given(shapes=shapes_strategy, seed=seeds, mode=st.sampled_from(MODES), data=st.data())
def test_planted_error_at_random_coordinate_is_located(shapes, seed, mode, data):
    loss_fn, params, grad_fn = quadratic(seed, shapes)
    grads = grad_fn(params)
    name = data.draw(st.sampled_from(sorted(params)))
    index = tuple(data.draw(st.integers(0, n - 1)) for n in params[name].shape)
    grads[name][index] += 0.5
    # a sample may miss one bad coordinate by design, so sample every entry here
    everything = max(p.size for p in params.values())
    report = gradcheck(loss_fn, params, grads, mode=mode, rng=seed, samples_per_tensor=everything)
    assert not report.ok
    row = next(row for row in report.rows if row.name == name)
    assert not row.ok and row.worst_index == index
    assert row.max_abs_error == pytest.approx(0.5, rel=1e-6)


def test_sample_mode_covers_every_tensor_including_biases():
    rng = np.random.default_rng(3)
    shapes = {"W1": (50, 40), "b1": (40,), "W2": (40, 3), "b2": (3,), "s": ()}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = {k: 2 * v for k, v in params.items()}
    report = gradcheck(lambda p: float(sum(np.sum(v**2) for v in p.values())), params, grads,
                       mode="sample", samples_per_tensor=10)
    assert report.ok and report.mode == "sample"
    assert [row.name for row in report.rows] == list(shapes)
    assert [row.checked for row in report.rows] == [10, 10, 10, 3, 1]


def test_same_rng_gives_same_report_and_auto_picks_by_size():
    loss_fn, params, grad_fn = softmax_regression(n=20)
    grads = grad_fn(params)
    first = gradcheck(loss_fn, params, grads, mode="sample", rng=5)
    assert first == gradcheck(loss_fn, params, grads, mode="sample", rng=5)
    assert gradcheck(loss_fn, params, grads).mode == "full"
    assert gradcheck(loss_fn, params, grads, max_full=100).mode == "sample"


# --- kinks --------------------------------------------------------------------


def test_coordinate_within_eps_of_kink_is_counted_not_failed():
    loss_fn, params, grads, kink_fn = abs_sum([1.5, -0.7, 0.3 * DEFAULT_EPS, -2.0])
    report = gradcheck(loss_fn, params, grads, mode="full", kink_fn=kink_fn)
    assert report.ok, report.format()
    assert (report.rows[0].kinks, report.rows[0].checked) == (1, 3)
    assert "(1 kink-crossed, skipped)" in report.format()
    # without kink_fn the same coordinate fails: the skip is not hiding nothing
    blind = gradcheck(loss_fn, params, grads, mode="full")
    assert not blind.ok and blind.rows[0].worst_index == (2,)


@given(seed=seeds, size=st.integers(1, 12), mode=st.sampled_from(MODES))
def test_abs_with_entries_at_kinks_passes_with_kink_fn(seed, size, mode):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(size)
    near = rng.random(size) < 0.5
    values[near] = rng.uniform(-1, 1, near.sum()) * DEFAULT_EPS  # within eps of the kink
    loss_fn, params, grads, kink_fn = abs_sum(values)
    report = gradcheck(loss_fn, params, grads, mode=mode, rng=seed, kink_fn=kink_fn)
    assert report.ok, report.format()
    if mode != "direction":
        assert report.rows[0].kinks == near.sum()


def test_direction_crossing_a_kink_falls_back_to_coordinates():
    loss_fn, params, grads, kink_fn = abs_sum([0.0, 1.0, -1.0])
    report = gradcheck(loss_fn, params, grads, mode="direction", kink_fn=kink_fn)
    assert report.ok and report.rows[0].kinks == 1
    assert "crossed a kink" in report.note
    assert report.rows[1].name == "p" and report.rows[1].kinks == 1


# --- the caller's arrays ------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_callers_arrays_are_never_written(dtype, mode):
    loss_fn, params, grad_fn = softmax_regression(n=8)
    params = {k: v.astype(dtype) for k, v in params.items()}
    grads = {k: v.astype(dtype) for k, v in grad_fn(params).items()}
    arrays = [*params.values(), *grads.values()]
    before = [array.tobytes() for array in arrays]
    for array in arrays:
        array.flags.writeable = False  # any write, even a temporary one, raises

    def spy(p):
        assert all(v.dtype == np.float64 for v in p.values())
        assert not any(np.shares_memory(p[k], params[k]) for k in p)
        return loss_fn(p)

    report = gradcheck(spy, params, grads, mode=mode, kink_fn=lambda p: p["W"] > 0)
    assert report.ok, report.format()
    assert [array.tobytes() for array in arrays] == before


def test_float32_params_are_checked_in_float64():
    loss_fn, params, grad_fn = softmax_regression(n=8)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    report = gradcheck(loss_fn, params32, grad_fn({k: v.astype(np.float64)
                                                   for k, v in params32.items()}))
    assert report.ok and report.max_rel_error < 1e-8


# --- validation ---------------------------------------------------------------


def _toy():
    params = {"W": np.ones((2, 3)), "b": np.zeros(3)}
    return (lambda p: float(np.sum(p["W"] ** 2) + np.sum(p["b"]))), params


@pytest.mark.parametrize("grads, words", [
    ({"W": np.ones((2, 3))}, ["missing ['b']"]),
    ({"W": np.ones((2, 3)), "b": np.ones(3), "c": np.ones(1)}, ["extra ['c']"]),
    ({"W": np.ones((3, 2)), "b": np.ones(3)}, ["grads['W']", "(3, 2)", "(2, 3)"]),
    ({"W": np.ones((2, 3)), "b": np.ones(3, dtype=complex)}, ["grads['b']", "complex"]),
    ([np.ones((2, 3))], ["grads must be a non-empty dict"]),
])
def test_bad_grads_raise_params_error_naming_the_key(grads, words):
    loss_fn, params = _toy()
    with pytest.raises(ParamsError) as info:
        gradcheck(loss_fn, params, grads)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_bad_params_and_settings_raise_typed_errors():
    loss_fn, params = _toy()
    grads = {"W": 2 * params["W"], "b": np.ones(3)}
    with pytest.raises(ParamsError, match="params\\['W'\\] holds NaN"):
        gradcheck(loss_fn, {**params, "W": np.full((2, 3), np.nan)}, grads)
    with pytest.raises(ParamsError, match="non-empty dict"):
        gradcheck(loss_fn, {}, {})
    for options, message in [
            ({"mode": "exact"}, "unknown gradcheck mode 'exact'; use one of auto, full, sample, direction"),
            ({"eps": 0.0}, "eps must be a finite number in [2.22045e-16, 1), got 0.0; a relative step: "
                           "the default 1e-05 balances truncation and rounding error"),
            ({"rtol": -1e-6}, "rtol must be a finite number > 0, got -1e-06"),
            ({"atol": float("nan")}, "atol must be a finite number >= 0, got nan"),
            ({"samples_per_tensor": 0}, "samples_per_tensor must be an integer >= 1, got 0"),
            ({"max_full": 1.5}, "max_full must be an integer >= 0, got 1.5")]:
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
            gradcheck(loss_fn, params, grads, **options)
    with pytest.raises(InputError, match="finite"):
        gradcheck(lambda p: float("nan"), params, grads)
    for bad_loss in (lambda p: np.ones(2), lambda p: "zero"):
        with pytest.raises(ConfigError, match="must return one real number"):
            gradcheck(bad_loss, params, grads)


def test_nan_in_analytic_gradient_fails_instead_of_passing():
    loss_fn, params = _toy()
    grads = {"W": 2 * params["W"], "b": np.array([1.0, np.nan, 1.0])}
    report = gradcheck(loss_fn, params, grads)
    assert not report.ok and not report.rows[1].ok and report.rows[0].ok


# --- assert_gradients and the report -----------------------------------------


def test_assert_gradients_raises_with_the_table():
    loss_fn, params, grad_fn = softmax_regression(n=10)
    grads = grad_fn(params)
    assert assert_gradients(loss_fn, params, grads).ok
    with pytest.raises(GradientMismatchError) as info:
        assert_gradients(loss_fn, params, {**grads, "b": grads["b"] * 2})
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "max rel err" in message and "FAILED" in message and "in b " in message
    assert message.startswith("analytic and numerical gradients disagree:\n")


def test_relative_error_has_an_absolute_floor():
    a = np.array([1.0, 1.0, 1e-12, 0.0, 1.0, np.nan])
    n = np.array([1.0, 1.0 + 1e-5, 0.0, 5e-9, np.inf, 1.0])
    error = relative_error(a, n, rtol=1e-6, atol=1e-8)
    assert list(error <= 1e-6) == [True, False, True, True, False, False]
    assert error[1] == pytest.approx(1e-5 / (2 + 1e-5))


def test_report_is_frozen_and_its_table_is_aligned():
    loss_fn, params, grad_fn = softmax_regression(n=12)
    report = gradcheck(loss_fn, params, grad_fn(params), mode="direction")
    assert isinstance(report, GradcheckReport)
    with pytest.raises(AttributeError):
        report.ok = False
    failed = gradcheck(loss_fn, params, {**grad_fn(params), "b": np.zeros(12)}, mode="direction")
    for rep in (report, failed):
        lines = rep.format().splitlines()
        assert str(rep) == rep.format()
        dashes = lines[1]
        gaps = [i for i, ch in enumerate(dashes) if ch == " "]
        table = [line for line in lines[:2 + len(rep.rows)]]
        assert len(table) == 2 + len(rep.rows)
        for line in table:  # no cell spills into the gap between columns
            assert all(i >= len(line) or line[i] == " " for i in gaps), line
        assert table[0].split()[0] == "tensor"
        assert [line.split()[0] for line in table[2:]] == [row.name for row in rep.rows]
    assert failed.format().splitlines()[-1].startswith("FAILED: max relative error")
    assert "in direction, b" in failed.format()


# --- what each mode covers, and the options it honours ------------------------


class Spy:
    """A loss f = sum_k sum(p_k ** 3) that records which coordinates each call perturbed."""

    def __init__(self, params):
        self.base = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        self.touched = []

    def __call__(self, p):
        moved = [(k, tuple(int(i) for i in idx)) for k in p
                 for idx in np.argwhere(p[k] != self.base[k])]
        self.touched.append(moved)
        return float(sum(np.sum(v**3) for v in p.values()))

    @staticmethod
    def grads(params):
        return {k: 3 * np.asarray(v, dtype=np.float64) ** 2 for k, v in params.items()}

    def coordinates(self):
        """The set of single coordinates probed (each appears in a +h and a -h call)."""
        singles = [moved[0] for moved in self.touched if len(moved) == 1]
        return singles


def test_full_mode_checks_every_entry_of_every_tensor_even_large_ones():
    rng = np.random.default_rng(0)
    params = {"big": rng.standard_normal((40, 30)), "b": rng.standard_normal(7)}
    spy = Spy(params)
    report = gradcheck(spy, params, Spy.grads(params), mode="full", samples_per_tensor=5, max_full=10)
    assert report.ok and report.mode == "full"
    assert [row.checked for row in report.rows] == [1200, 7]
    probed = spy.coordinates()
    assert len(probed) == 2 * 1207 and len(set(probed)) == 1207


@given(seed=seeds, k=st.integers(1, 40))
def test_sample_mode_draws_distinct_coordinates(seed, k):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((9, 5)), "b": rng.standard_normal(4)}
    spy = Spy(params)
    report = gradcheck(spy, params, Spy.grads(params), mode="sample", samples_per_tensor=k, rng=seed)
    probed = spy.coordinates()
    per_tensor = {name: {idx for key, idx in probed if key == name} for name in params}
    assert len(per_tensor["W"]) == min(k, 45) == report.rows[0].checked
    assert len(per_tensor["b"]) == min(k, 4) == report.rows[1].checked
    assert len(probed) == 2 * (min(k, 45) + min(k, 4))  # each coordinate exactly twice


def test_explicit_eps_sets_the_step_per_coordinate():
    # for p**3 the central difference is exactly 3 p**2 + h**2, h = eps * max(1, |p|)
    params = {"p": np.array([0.5, -3.0])}
    for eps in (1e-2, 1e-3):
        report = gradcheck(Spy(params), params, Spy.grads(params), mode="full", eps=eps, rtol=1e-2)
        assert report.eps == eps
        row = report.rows[0]
        h = eps * np.maximum(1.0, np.abs(params["p"]))
        numeric = 3 * params["p"] ** 2 + h**2
        # the worst entry is reported with its numeric derivative
        i = row.worst_index[0]
        assert row.numeric == pytest.approx(numeric[i], rel=1e-9)
        assert row.max_abs_error == pytest.approx(np.max(h**2), rel=1e-6)


def test_explicit_rtol_and_atol_decide_the_verdict():
    params = {"p": np.array([0.5, -3.0])}
    grads = Spy.grads(params)  # off from the eps=1e-2 difference by h**2: 1e-4 and 9e-4
    loose = gradcheck(Spy(params), params, grads, eps=1e-2, rtol=1e-3)
    assert loose.ok and loose.rtol == 1e-3
    tight = gradcheck(Spy(params), params, grads, eps=1e-2, rtol=1e-6)
    assert not tight.ok and tight.rtol == 1e-6
    # an absolute floor above both errors passes what the relative test fails
    floored = gradcheck(Spy(params), params, grads, eps=1e-2, rtol=1e-6, atol=1e-3)
    assert floored.ok and floored.atol == 1e-3
    assert not gradcheck(Spy(params), params, grads, eps=1e-2, rtol=1e-6, atol=5e-4).ok
    # the default floor is 1e-8 * max(1, |f|): here f = 0.125 - 27
    assert gradcheck(Spy(params), params, grads).atol == pytest.approx(1e-8 * 26.875)
    assert gradcheck(lambda p: 0.25, {"p": np.zeros(1)}, {"p": np.zeros(1)}).atol == 1e-8


def test_tolerance_boundaries():
    loss_fn, params = _toy()
    grads = {"W": 2 * params["W"], "b": np.ones(3)}
    # atol = 0 is allowed (a purely relative test); rtol = 0 or eps = 0 is not
    assert gradcheck(loss_fn, params, grads, atol=0).ok
    assert gradcheck(loss_fn, params, grads, atol=0.0, rtol=1e-3).atol == 0.0
    for options in ({"rtol": 0}, {"rtol": 0.0}, {"eps": 0}, {"atol": -1e-9}, {"rtol": float("inf")},
                    {"eps": True}, {"rtol": "1e-6"}, {"samples_per_tensor": True}, {"max_full": -1}):
        with pytest.raises(ConfigError, match=f"^{next(iter(options))} must be"):
            gradcheck(loss_fn, params, grads, **options)
    assert gradcheck(loss_fn, params, grads, max_full=0).mode == "sample"
    assert gradcheck(loss_fn, params, grads, max_full=9).mode == "full"  # 9 numbers: the boundary
    assert gradcheck(loss_fn, params, grads, max_full=8).mode == "sample"
    for rtol, atol in ((0.0, 1e-8), (1e-6, -1.0), (float("nan"), 0.0), (1e-6, "0"), (np.inf, 0.0),
                       (1e-6, np.inf)):
        with pytest.raises(ConfigError, match="rtol > 0 and atol >= 0"):
            relative_error(np.ones(1), np.ones(1), rtol=rtol, atol=atol)


def test_assert_gradients_passes_every_option_on():
    loss_fn, params, grad_fn = softmax_regression(n=10)
    grads = grad_fn(params)
    report = assert_gradients(loss_fn, params, grads, mode="sample", samples_per_tensor=3, rng=4,
                              eps=1e-4, rtol=1e-5, atol=1e-7, max_full=0)
    assert report == gradcheck(loss_fn, params, grads, mode="sample", samples_per_tensor=3, rng=4,
                               eps=1e-4, rtol=1e-5, atol=1e-7)
    assert (report.mode, report.eps, report.rtol, report.atol) == ("sample", 1e-4, 1e-5, 1e-7)
    assert [row.checked for row in report.rows] == [3, 3]
    assert assert_gradients(loss_fn, params, grads, max_full=0).mode == "sample"
    # kink_fn reaches the checker: the kink is skipped instead of failed
    loss_abs, params_abs, grads_abs, kink_fn = abs_sum([1.0, 0.3 * DEFAULT_EPS])
    assert assert_gradients(loss_abs, params_abs, grads_abs, kink_fn=kink_fn).rows[0].kinks == 1
    with pytest.raises(GradientMismatchError):
        assert_gradients(loss_abs, params_abs, grads_abs)
    with pytest.raises(ConfigError):
        assert_gradients(loss_fn, params, grads, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_fortran_ordered_and_strided_params_are_really_perturbed(mode):
    loss_fn, params, grad_fn = softmax_regression(n=6)
    grads = grad_fn(params)
    layouts = {"W": np.asfortranarray(params["W"]), "b": np.repeat(params["b"], 2)[::2]}
    assert not layouts["W"].flags.c_contiguous and not layouts["b"].flags.contiguous
    assert gradcheck(loss_fn, layouts, grads, mode=mode).ok
    wrong = {"W": np.asfortranarray(grads["W"]), "b": grads["b"].copy()}
    wrong["W"][4, 1] += 0.3
    report = gradcheck(loss_fn, layouts, wrong, mode=mode, samples_per_tensor=36)
    assert not report.ok
    row = next(row for row in report.rows if row.name == "W")
    assert row.worst_index == (4, 1) and row.max_abs_error == pytest.approx(0.3, rel=1e-5)


def test_integer_params_are_checked_as_the_docstring_allows():
    params = {"a": np.array([1, -2, 3], dtype=np.int64), "b": np.array([[2]], dtype=np.int32)}
    loss_fn = lambda p: float(np.sum(p["a"] ** 2) + 5 * np.sum(p["b"] ** 3))  # noqa: E731
    grads = {"a": 2 * params["a"], "b": 15 * params["b"] ** 2}
    report = gradcheck(loss_fn, params, grads, mode="full")
    assert report.ok and [row.checked for row in report.rows] == [3, 1]
    assert not gradcheck(loss_fn, params, {**grads, "b": grads["b"] + 1}).ok
    with pytest.raises(ParamsError, match="bool"):
        gradcheck(loss_fn, {"a": np.array([True])}, {"a": np.ones(1)})


def test_direction_row_measures_the_directional_derivative():
    # one scalar: the unit direction is +-1, the step t = eps * max(1, |p|), and
    # for p**3 the central difference is 3 p**2 + t**2
    for p, eps in ((2.0, 0.1), (0.5, 0.01), (-4.0, 0.02)):
        params = {"p": np.array(p)}
        report = gradcheck(Spy(params), params, Spy.grads(params), mode="direction", eps=eps,
                           rtol=0.5)
        row = report.rows[0]
        t = eps * max(1.0, abs(p))
        sign = np.sign(row.analytic)
        assert row.analytic == pytest.approx(sign * 3 * p**2, rel=1e-9)
        assert row.numeric == pytest.approx(sign * (3 * p**2 + t**2), rel=1e-9)
        assert row.shape == (1,) and row.checked == 1


def test_direction_spreads_over_tensors_and_ignores_empty_ones():
    rng = np.random.default_rng(8)
    params = {"a": rng.standard_normal((3, 4)), "empty": np.zeros((0, 2)), "c": rng.standard_normal(5)}
    grads = Spy.grads(params)
    report = gradcheck(Spy(params), params, grads, mode="direction")
    assert report.ok and report.rows[0].shape == (17,)
    wrong = {**grads, "c": grads["c"] * 1.5}
    assert not gradcheck(Spy(params), params, wrong, mode="direction").ok


def test_default_rng_is_seed_zero():
    loss_fn, params, grad_fn = softmax_regression(n=20)
    grads = grad_fn(params)
    assert gradcheck(loss_fn, params, grads, mode="sample") == gradcheck(loss_fn, params, grads,
                                                                        mode="sample", rng=0)
    assert gradcheck(loss_fn, params, grads, mode="sample") != gradcheck(loss_fn, params, grads,
                                                                        mode="sample", rng=1)


@pytest.mark.parametrize("rng, message", [
    (-1, r"rng seed must be an integer >= 0, got -1; pass a seed like .*0$"),
    (1.5, r"rng must be a numpy Generator or an int seed, got float; "
          r"pass np\.random\.default_rng\(seed\) or a seed like rng=0"),
    ("0", r"rng must be a numpy Generator or an int seed, got str; "
          r"pass np\.random\.default_rng\(seed\) or a seed like rng=0"),
])
def test_a_bad_rng_is_named(rng, message):
    loss_fn, params, grad_fn = softmax_regression(n=20)
    with pytest.raises(ConfigError, match=message):
        gradcheck(loss_fn, params, grad_fn(params), rng=rng)


def test_each_coordinate_steps_by_eps_times_its_own_scale():
    # one tensor per value: each row's numeric derivative is 3 p**2 + h**2, h = eps * max(1, |p|)
    values = {"small": 0.5, "unit": -1.0, "large": 4.0}
    params = {k: np.array([v]) for k, v in values.items()}
    report = gradcheck(Spy(params), params, Spy.grads(params), mode="full", eps=1e-2, rtol=1e-2)
    for row in report.rows:
        p = values[row.name]
        h = 1e-2 * max(1.0, abs(p))
        assert row.numeric == pytest.approx(3 * p**2 + h**2, rel=1e-9), row


def test_notes_say_why_a_fallback_ran():
    loss_fn, params, grad_fn = softmax_regression(n=6)
    grads = grad_fn(params)
    assert gradcheck(loss_fn, params, grads, mode="direction").note == ""
    assert gradcheck(loss_fn, params, grads, mode="full").note == ""
    failed = gradcheck(loss_fn, params, {**grads, "b": grads["b"] * 2}, mode="direction",
                       samples_per_tensor=5)
    assert failed.note == ("the direction check failed; a sample coordinate check "
                           "(5 per tensor) ran to locate the error")
    assert [row.checked for row in failed.rows[1:]] == [5, 5]  # a sample, not every entry
    loss_abs, params_abs, grads_abs, kink_fn = abs_sum([0.0, 1.0, -1.0])
    kinked = gradcheck(loss_abs, params_abs, grads_abs, mode="direction", kink_fn=kink_fn)
    assert kinked.note == ("the direction check crossed a kink; a sample coordinate check "
                           "(32 per tensor) ran instead")


def test_direction_away_from_kinks_counts_none():
    loss_fn, params, grads, kink_fn = abs_sum([1.5, -0.7, 2.0])
    report = gradcheck(loss_fn, params, grads, mode="direction", kink_fn=kink_fn)
    assert report.ok and len(report.rows) == 1 and report.rows[0].kinks == 0 and report.note == ""
    assert report.rows[0].worst_index == () and report.rows[0].shape == (3,)


def test_kink_fn_that_reuses_its_output_buffer():
    # a kink_fn may hand back the same array each call; the checker keeps its own copy
    loss_fn, params, grads, _ = abs_sum([1.5, 0.3 * DEFAULT_EPS, -2.0])
    buffer = np.zeros(3, dtype=bool)

    def kink_fn(p):
        np.greater(p["p"], 0, out=buffer)
        return buffer

    report = gradcheck(loss_fn, params, grads, mode="full", kink_fn=kink_fn)
    assert report.ok and report.rows[0].kinks == 1


def test_a_tensor_whose_every_step_crosses_a_kink_is_reported_empty():
    loss_fn, params, grads, kink_fn = abs_sum([0.1 * DEFAULT_EPS, -0.2 * DEFAULT_EPS])
    params["q"], grads["q"] = np.array([2.0]), np.array([0.0])  # f does not depend on q
    row = gradcheck(loss_fn, params, grads, mode="full", kink_fn=kink_fn).rows[0]
    assert row[:7] == ("p", (2,), 0, 2, 0.0, 0.0, ())
    assert np.isnan(row.analytic) and np.isnan(row.numeric) and row.ok is True


def squares(p):
    return float(np.sum(p["W"] ** 2) + np.sum(p["b"]))


SQUARES_GRADS = {"W": 2 * np.ones((2, 3)), "b": np.ones(3)}


@pytest.mark.parametrize("value, kind", [
    ("1.5", "str"), (b"1.5", "bytes"), (True, "bool"), (np.bool_(False), "bool"), (None, "NoneType"),
    ({"loss": 1.0}, "dict"), ([1.0], "list"), (np.complex128(1.0), "complex128"), (1 + 0j, "complex"),
    (np.ones(1), "float64 array of shape (1,)"), (np.ones((2, 2)), "float64 array of shape (2, 2)"),
    (np.array(1.0 + 0j), "complex128 array of shape ()"), (np.array("1.5"), "<U3 array of shape ()"),
    (np.array(True), "bool array of shape ()"),
])
def test_a_loss_that_returns_no_real_number_is_named_at_the_first_call(value, kind):
    calls = []

    def text_loss(p):
        calls.append(1)
        return value

    with pytest.raises(ConfigError) as info:
        gradcheck(text_loss, {"W": np.ones((2, 3)), "b": np.zeros(3)}, SQUARES_GRADS)
    message = str(info.value)
    assert message.startswith("loss_fn text_loss returned ")
    assert f"({'an' if kind[0] in 'aeiou' else 'a'} {kind}); it must return one real number" in message
    assert len(calls) == 1


def test_a_string_loss_that_parses_as_a_number_is_an_error_not_a_failed_check():
    # float("...") would read it, and the check would report a mismatch
    def text_squares(p):
        return str(squares(p))

    with pytest.raises(ConfigError, match=r"^loss_fn text_squares returned '6\.0' \(a str\); it must return one"):
        gradcheck(text_squares, {"W": np.ones((2, 3)), "b": np.zeros(3)}, SQUARES_GRADS)


def test_a_loss_that_goes_wrong_after_the_first_call_is_named_too():
    calls = []

    def later_a_string(p):
        calls.append(1)
        return squares(p) if len(calls) == 1 else "oops"

    with pytest.raises(ConfigError, match=r"^loss_fn later_a_string returned 'oops' \(a str\)"):
        gradcheck(later_a_string, {"W": np.ones((2, 3)), "b": np.zeros(3)}, SQUARES_GRADS)
    assert len(calls) == 2


@pytest.mark.parametrize("to_value", [
    float, np.float64, np.float32, np.longdouble, np.array, lambda v: np.array(v, np.float32),
    lambda v: Fraction(v), lambda v: np.float64(v) * np.ones(()),
])
def test_a_loss_returning_any_real_scalar_is_checked(to_value):
    params = {"W": np.ones((2, 3)), "b": np.zeros(3)}
    report = gradcheck(lambda p: to_value(squares(p)), params, SQUARES_GRADS, rtol=1e-2)
    assert report.ok
    wrong = {**SQUARES_GRADS, "b": np.full(3, 2.0)}
    assert not gradcheck(lambda p: to_value(squares(p)), params, wrong, rtol=1e-2).ok


def test_an_int_loss_is_a_real_number_and_an_int_too_large_for_a_float_counts_as_inf():
    params, zeros = {"w": np.ones(2)}, {"w": np.zeros(2)}
    assert gradcheck(lambda p: 3, params, zeros).ok
    with pytest.raises(InputError, match=r"returned inf at params; it must return one finite real number"):
        gradcheck(lambda p: 10**400, params, zeros)


@pytest.mark.parametrize("value", [np.float64(np.inf), float("nan"), -np.inf, np.array(np.nan)])
def test_loss_must_return_one_finite_real_number(value):
    loss_fn, params = _toy()
    grads = {"W": 2 * params["W"], "b": np.ones(3)}
    with pytest.raises(InputError, match=r"^loss_fn <lambda> returned .* at params; it must return one finite real "
                                         "number there"):
        gradcheck(lambda p: value, params, grads)
    assert gradcheck(lambda p: np.float32(1.0), params, {k: np.zeros_like(v) for k, v in grads.items()}).ok


def test_relative_error_handles_zeros_and_non_finite_quietly():
    a = np.array([0.0, 0.0, np.inf, np.nan, 1e308])
    n = np.array([0.0, 1e-300, np.inf, 0.0, -1e308])
    with np.errstate(all="raise"):  # the function, not the caller, decides what is quiet
        error = relative_error(a, n, rtol=1e-6, atol=0.0)
    assert error[0] == 0.0 and error[1] == 1.0
    assert np.isinf(error[2:]).all()
    assert relative_error(np.array([1.0]), np.array([1.5]), rtol=1e-6, atol=0.0)[0] == pytest.approx(0.2)
    # with the floor: |a - n| / max(|a| + |n|, atol / rtol)
    assert relative_error(np.array([1e-9]), np.array([0.0]), rtol=1e-6, atol=1e-8)[0] == pytest.approx(1e-7)


def test_an_error_equal_to_rtol_passes():
    # f = 3p at p = 0 with eps = 0.5: the difference quotient is exactly 3, so a
    # claimed 1 has relative error |1 - 3| / (1 + 3) = 0.5 exactly
    params = {"p": np.array([0.0])}
    loss_fn = lambda p: float(3 * p["p"][0])  # noqa: E731
    row = gradcheck(loss_fn, params, {"p": np.array([1.0])}, eps=0.5, rtol=0.5, atol=0.0).rows[0]
    assert row.numeric == 3.0 and row.max_rel_error == 0.5 and row.ok
    assert not gradcheck(loss_fn, params, {"p": np.array([1.0])}, eps=0.5, rtol=0.4999, atol=0.0).ok


def test_infinite_gradients_fail_quietly_under_strict_errstate():
    # the loss is finite at p but infinite one step up, and the claimed gradient
    # is infinite too: inf - inf inside the checker must not raise
    params = {"p": np.array([1.0])}
    loss_fn = lambda p: float(p["p"][0]) ** 2 if p["p"][0] <= 1.0 else float("inf")  # noqa: E731
    with np.errstate(all="raise"):
        report = gradcheck(loss_fn, params, {"p": np.array([np.inf])}, mode="full")
    assert not report.ok and report.rows[0].max_rel_error == np.inf
