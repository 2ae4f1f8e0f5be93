"""Never a silent NaN: the public numeric functions return finite results or raise a clear error.

Inputs that overflow the params' dtype, params holding NaN or inf, an L2
strength too big for the dtype, a bad learning rate (an int too large for a
float included), gradients of another layout, NaN in an optimizer's grads or
state, a step that overflows, a schedule that turns bad mid-run, a network
bigger than the machine's memory, huge command-line flags, complex x, an
empty set to evaluate and an image path that is not a path each end in an
nnfunc error that names the culprit and the fix. Every check runs under the strict
``np.errstate`` of conftest and, where the default errstate would only warn,
under warnings-as-errors too: the user sees the nnfunc error, never numpy's.
"""

import contextlib
import math
import os
import re
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import checks, finite, memory
from nnfunc.errors import ConfigError, InputError, ParamsError
from nnfunc.evaluation import _evaluate, predict_proba
from nnfunc.optim import optimizers as opt_mod
from nnfunc.params import param_keys
from tests.helpers import assert_bit_identical, copy_tree
from tests.strategies import problems

REPO = Path(__file__).resolve().parent.parent
Y2 = np.array([0, 1])


def all_optimizers(lr):
    return [opt_mod.sgd(lr), opt_mod.momentum(lr, beta=0.8), opt_mod.momentum(lr, nesterov=True),
            opt_mod.adam(lr), opt_mod.adamw(lr, weight_decay=0.1), opt_mod.rmsprop(lr)]


# every public function that computes from (params, x): each returns its result
PUBLIC = {
    "forward": lambda p, x, y, **kw: nf.forward(p, x, **kw)[0],
    "predict": lambda p, x, y, **kw: nf.predict(p, x, **kw),
    "loss": lambda p, x, y, **kw: nf.loss(p, x, y, **kw),
    "value_and_grad": lambda p, x, y, **kw: nf.value_and_grad(p, x, y, **kw)[0],
    "input_grad": lambda p, x, y, **kw: nf.input_grad(p, x, y, **kw),
    "evaluate": lambda p, x, y, **kw: nf.evaluate(p, x, y, **kw).loss,
    "predict_proba": lambda p, x, y, **kw: predict_proba(p, x, **kw),
}


@contextlib.contextmanager
def default_numerics():
    """numpy's default errstate (warn), every warning an error: a RuntimeWarning fails the test."""
    with np.errstate(all="warn", under="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.fixture(params=["strict", "default"])
def numerics(request):
    """A context to call the library in: conftest's raise-everything errstate, or numpy's default."""
    return contextlib.nullcontext if request.param == "strict" else default_numerics


# --- 1. overflow from finite inputs, NaN or inf in params --------------------------------


@pytest.mark.parametrize("name", PUBLIC)
def test_inputs_that_overflow_float32_raise_input_error(name, numerics):
    params = nf.init((4, 5, 3), 0)  # float32
    x = np.full((2, 4), 3e38)  # finite in float32, but x @ W1 is not
    with numerics(), pytest.raises(InputError) as info:
        PUBLIC[name](params, x, Y2)
    message = str(info.value)
    assert message.startswith("x holds values up to 3e+38 (the weights up to ")
    assert "overflowed float32" in message
    assert message.endswith("scale the inputs, e.g. pixels to [0, 1], or use float64 params")


def test_float64_params_hold_what_float32_cannot_and_the_fix_drops_float64():
    params = nf.init((4, 5, 3), 0, dtype=np.float64)
    x = np.full((2, 4), 3e38)
    probs, _ = nf.forward(params, x)  # float64 holds x @ W easily
    assert np.isfinite(probs).all()
    positive = {k: np.abs(v) + 1 for k, v in params.items()}  # every unit adds up the four 1e308s
    with pytest.raises(InputError) as info:
        nf.forward(positive, np.full((2, 4), 1e308))
    assert str(info.value).endswith("overflowed float64: the logits came out NaN or inf although x and params "
                                    "are finite; scale the inputs, e.g. pixels to [0, 1]")


def test_x_beyond_the_range_of_the_params_dtype_is_named_not_called_nan():
    params = nf.init((4, 5, 3), 0)
    with pytest.raises(InputError, match=r"^x holds values up to 1e\+39, beyond the range of the params' "
                                         r"float32; scale the inputs, e.g. pixels to \[0, 1\], or use float64"):
        nf.forward(params, np.full((2, 4), 1e39))
    with pytest.raises(InputError, match=r"x contains NaN or inf \(first at row 1, column 2\)"):
        nf.forward(params, np.where(np.arange(8).reshape(2, 4) == 6, np.nan, 1.0))


@pytest.mark.parametrize("name", PUBLIC)
@pytest.mark.parametrize("key", ["W1", "b1", "W2", "b2"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_params_names_the_key(name, key, bad, numerics):
    params = nf.init((4, 5, 3), 0)
    params[key] = params[key].copy()
    params[key].flat[-1] = bad
    # +inf, not -inf, so no relu can clip it to 0 before the logits
    with numerics(), pytest.raises(ParamsError, match=rf"^params\['{key}'\] holds NaN or inf; the run diverged or "
                                                      r"the file is damaged: retrain or load another copy$"):
        PUBLIC[name](params, np.ones((2, 4)), Y2)


def test_the_first_bad_key_in_layer_order_is_named():
    params = nf.init((3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2), 0)  # 11 layers: "W10" sorts before "W2"
    params = {k: v.copy() for k, v in params.items()}
    params["W10"][0, 0] = np.nan
    params["W2"][0, 0] = np.nan
    with pytest.raises(ParamsError, match=r"^params\['W2'\]"):
        nf.predict(params, np.ones((1, 3)))


@given(problems(dtype=np.float32, max_layers=3, max_width=6, max_batch=4), st.data())
def test_a_nan_anywhere_in_params_is_never_returned(prob, data):
    key = data.draw(st.sampled_from(sorted(prob.params)))
    at = data.draw(st.integers(0, prob.params[key].size - 1))
    params = copy_tree(prob.params)
    params[key].flat[at] = np.nan
    kw = dict(activation=prob.activation)
    for name, call in PUBLIC.items():
        with pytest.raises(ParamsError, match=rf"params\['{key}'\] holds NaN or inf"):
            call(params, prob.x, prob.y, **kw)


@given(problems(dtype=np.float32, max_layers=3, max_width=6, max_batch=4),
       st.sampled_from([1.0, 1e10, 1e20, 1e30, 1e36, 3e38]))
def test_public_results_are_finite_or_a_clear_input_error(prob, scale):
    # whether a given network overflows depends on its weights and signs: either way, no NaN comes back
    x = (prob.x / np.abs(prob.x).max() * scale).astype(np.float32)
    kw = dict(activation=prob.activation)
    for name, call in PUBLIC.items():
        try:
            result = call(prob.params, x, prob.y, **kw)
        except InputError as exc:
            assert scale > 1 and "overflowed float32" in str(exc), (name, str(exc))
        else:
            assert np.isfinite(result).all(), name
    assert np.isfinite(nf.forward(prob.params, prob.x, **kw)[0]).all()  # and unscaled, all is well


def test_predict_does_not_call_nan_logits_class_zero():
    params = nf.init((4, 3), 0)
    params["b1"] = np.array([np.nan, 0, 0], np.float32)
    # argmax of a row holding NaN is the NaN's index, a confident-looking 0
    with pytest.raises(ParamsError, match=r"params\['b1'\]"):
        nf.predict(params, np.ones((3, 4)))


def test_backward_refuses_probs_that_forward_could_not_have_made():
    params = nf.init((4, 5, 3), 0)
    probs, cache = nf.forward(params, np.ones((2, 4)))
    assert set(nf.backward(params, cache, Y2)) == set(params)
    with pytest.raises(InputError, match=r"cache\['probs'\] came out NaN or inf"):
        nf.backward(params, {**cache, "probs": np.full_like(probs, np.nan)}, Y2)


@pytest.mark.parametrize("name", ["loss", "value_and_grad", "input_grad", "evaluate"])
@pytest.mark.parametrize("dtype, l2", [(np.float32, 1e39), (np.float32, 1e308), (np.float64, 1e308)])
def test_an_l2_too_large_for_the_dtype_is_a_config_error_naming_l2(name, dtype, l2, numerics):
    params = nf.init((4, 5, 3), 0, dtype=dtype)
    with numerics(), pytest.raises(ConfigError) as info:
        PUBLIC[name](params, np.ones((2, 4)), Y2, l2=l2)
    assert str(info.value).startswith(f"l2 is too large ({l2:g}): the L2 penalty 0.5 * l2 * sum(W**2) or its "
                                      f"gradient l2 * W overflows {np.dtype(dtype)}")
    assert str(info.value).endswith("pass a smaller l2, typically 1e-5 to 1e-2")
    # a large but representable l2 still works, and the gradient's L2 term is finite
    value, grads = nf.value_and_grad(params, np.ones((2, 4)), Y2, l2=1e30 if dtype == np.float32 else 1e300)
    assert math.isfinite(value) and all(np.isfinite(g).all() for g in grads.values())


# --- softmax and log-softmax ----------------------------------------------------------


@pytest.mark.parametrize("function", [nf.softmax, nf.log_softmax])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_softmax_of_nan_or_plus_inf_raises_naming_the_row(function, bad, numerics):
    logits = np.zeros((3, 4))
    logits[2, 1] = bad
    with numerics(), pytest.raises(InputError, match=r"^logits row 2 holds NaN or \+inf \(or only -inf\), so its "
                                                     r"softmax is undefined; logits must be finite"):
        function(logits)
    with numerics(), pytest.raises(InputError, match="logits row 0"):
        function(np.full((1, 3), -np.inf))


def test_minus_inf_logits_are_probability_zero(numerics):
    logits = np.array([[0.0, -np.inf, 0.0]])
    with numerics():
        assert nf.softmax(logits).tolist() == [[0.5, 0.0, 0.5]]
        assert nf.log_softmax(logits)[0, 1] == -np.inf
        # logits so far apart that their difference overflows float32: the far one is exactly 0
        assert nf.softmax(np.array([[3e38, -3e38]], np.float32)).tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("logits, words", [
    (np.zeros(3), "with k >= 1, got float64 of shape (3,)"),
    (np.zeros((2, 3), np.int64), "got int64 of shape (2, 3); convert with logits.astype(float)"),
    (np.zeros((2, 0)), "with k >= 1, got float64 of shape (2, 0)"),
    ([[0.0, 1.0]], "got a list; convert with np.asarray(logits, float)"),
])
def test_softmax_refuses_what_is_not_a_batch_of_float_logits(logits, words):
    for function in (nf.softmax, nf.log_softmax):
        with pytest.raises(InputError, match=r"^logits must be a 2-D float array \(m, k\)") as info:
            function(logits)
        assert words in str(info.value) and "reshape(1, -1)" in str(info.value)


# --- 2. nf.update ------------------------------------------------------------------------


@pytest.fixture
def step_problem():
    params = nf.init((4, 5, 3), 0)
    _, grads = nf.value_and_grad(params, np.ones((2, 4)), Y2)
    return params, grads


@pytest.mark.parametrize("lr", ["0.1", float("nan"), -1, math.inf, True, None])
def test_update_refuses_a_bad_lr(step_problem, lr):
    params, grads = step_problem
    with pytest.raises(ConfigError, match=rf"^lr must be a finite number >= 0, got {re.escape(repr(lr))}$"):
        nf.update(params, grads, lr=lr)


@pytest.mark.parametrize("tree", ["grads", "params"])
@pytest.mark.parametrize("key", ["W1", "b2"])
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_update_refuses_nan_or_inf_naming_the_key(step_problem, tree, key, bad, numerics):
    params, grads = copy_tree(step_problem)
    target = grads if tree == "grads" else params
    target[key].flat[0] = bad
    with numerics(), pytest.raises(ParamsError, match=rf"^{tree}\['{key}'\] holds NaN or inf; "):
        nf.update(params, grads, lr=0.1)


def test_update_refuses_an_lr_that_overflows_the_step(step_problem, numerics):
    params, grads = step_problem
    with numerics(), pytest.raises(ConfigError, match=r"^lr=1e\+300 times grads\['W1'\] overflows float32; "
                                                      r"pass a smaller lr$"):
        nf.update(params, grads, lr=1e300)
    assert all(np.isfinite(v).all() for v in nf.update(params, grads, lr=1e3).values())


@given(st.integers(309, 6000), st.sampled_from([1, -1]))
def test_an_int_too_large_for_a_float_is_no_finite_number(exponent, sign):
    # math.isfinite(10**400) raises OverflowError; Python will not even print an int of over 4300 digits
    big = sign * 10**exponent
    shown = f"an int of {exponent + 1} digits"
    params = nf.init((3, 2), 0)
    grads = {k: np.ones_like(v) for k, v in params.items()}
    with pytest.raises(ConfigError, match=rf"^lr must be a finite number >= 0, got {shown}$"):
        nf.update(params, grads, lr=big)
    with pytest.raises(ConfigError, match=rf"^lr must be a finite number >= 0, got {shown}; pass a rate like lr=0.01$"):
        opt_mod.sgd(big)
    with pytest.raises(ConfigError, match=rf"^epochs must be an integer in \[1, 5\], got {shown}$"):
        checks.integer(big, "epochs", low=1, high=5)
    with pytest.raises(ConfigError, match=rf"^every width in sizes must be (an int >= 1|at most [\d,]+), got {shown}"):
        nf.init((3, big, 2), 0)


def test_a_large_int_that_a_float_holds_is_a_number_and_a_huge_bound_is_printable():
    assert checks.number(10**308, "lr") == 1e308
    assert checks.number(Fraction(1, 3), "lr") == 1 / 3
    with pytest.raises(ConfigError, match=r"^lr must be a finite number >= 0, got Fraction\(10000"):
        checks.number(Fraction(10**400), "lr", low=0)
    # a bound beyond a float's range is described, not formatted with :g (OverflowError)
    with pytest.raises(ConfigError, match=r"^total_steps must be an integer >= an int of 401 digits, got 5$"):
        checks.integer(5, "total_steps", low=10**400 + 1)


# --- 3. an optimizer's update: the gradient's layout ------------------------------------


BAD_LAYOUTS = {
    "wrong shape": (lambda g: {**g, "W1": np.ones((4, 1), np.float32)}, r"grads\['W1'\] has shape \(4, 1\) but "),
    "a vector for a matrix": (lambda g: {**g, "W2": g["W2"].ravel()}, r"grads\['W2'\] has shape \(15,\) but "),
    "missing key": (lambda g: {k: v for k, v in g.items() if k != "b2"}, r"missing \['b2'\], unexpected \[\]"),
    "extra key": (lambda g: {**g, "W3": g["W1"]}, r"missing \[\], unexpected \['W3'\]"),
    "not a dict": (lambda g: list(g.values()), r"grads must be a dict of arrays keyed like params, got list"),
    "a list array": (lambda g: {**g, "b1": g["b1"].tolist()}, r"grads\['b1'\] is a list; pass a float array"),
}


@pytest.mark.parametrize("bad", BAD_LAYOUTS)
@pytest.mark.parametrize("with_params", [True, False])
def test_optimizer_update_refuses_grads_of_another_layout(step_problem, bad, with_params):
    params, grads = step_problem
    change, message = BAD_LAYOUTS[bad]
    for opt in all_optimizers(0.1):
        if opt.name == "sgd" and not with_params and bad not in ("not a dict", "a list array"):
            continue  # sgd's state records no keys or shapes: only the params could tell (apply_updates does)
        state = opt.init(params)
        with pytest.raises(ParamsError, match=message):
            opt.update(change(grads), state, params if with_params else None)
        # the good grads still go through
        updates, new_state = opt.update(grads, state, params)
        assert int(new_state.count) == 1 and all(updates[k].shape == params[k].shape for k in params)


def test_apply_updates_refuses_an_update_that_would_broadcast(step_problem):
    params, grads = step_problem
    # sgd without params cannot see a (4, 1) gradient is wrong; applying its update would broadcast it
    updates, _ = opt_mod.sgd(0.1).update({**grads, "W1": np.ones((4, 1), np.float32)}, opt_mod.sgd(0.1).init(params))
    with pytest.raises(ParamsError, match=r"^updates\['W1'\] has shape \(4, 1\) but params\['W1'\] has \(4, 5\)"):
        nf.apply_updates(params, updates)


# --- 3b. an optimizer's update: never a NaN ------------------------------------------------

GRADS_MESSAGE = ("holds NaN or inf; a step along it would fill the params with NaN: find where the gradient "
                 "overflowed (unscaled inputs? a diverging run?) and do not take this step")


def started(opt, params, grads):
    """The state after one good update: moments that are not all zero."""
    return opt.update(grads, opt.init(params), params)[1]


def assert_refused_untouched(opt, grads, state, params, error, message):
    """opt.update raises ``error`` matching ``message`` and leaves its three arguments bit-identical."""
    before = copy_tree(grads), [copy_tree(field) for field in state], copy_tree(params)
    with pytest.raises(error, match=message):
        opt.update(grads, state, params)
    assert_bit_identical(grads, before[0])
    assert_bit_identical(list(state), before[1])
    assert_bit_identical(params, before[2])


@pytest.mark.parametrize("which", range(6))
@pytest.mark.parametrize("key", ["W1", "b2"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_optimizer_update_refuses_nan_or_inf_grads_naming_the_key(step_problem, which, key, bad, numerics):
    params, grads = step_problem
    opt = all_optimizers(0.1)[which]
    grads = copy_tree(grads)
    grads[key].flat[-1] = bad
    with numerics():
        state = started(opt, params, step_problem[1])
        assert_refused_untouched(opt, grads, state, params, ParamsError,
                                 rf"^grads\['{key}'\] {re.escape(GRADS_MESSAGE)}$")


@given(problems(dtype=np.float32, max_layers=3, max_width=6, max_batch=4), st.data())
def test_a_nan_planted_anywhere_in_grads_or_state_is_named_never_returned(prob, data):
    _, grads = nf.value_and_grad(prob.params, prob.x, prob.y, activation=prob.activation)
    which = data.draw(st.sampled_from(range(6)))
    opt = all_optimizers(0.01)[which]
    state = started(opt, prob.params, grads)
    # the damaged tree: the grads, or one of the state's slots
    slots = [f for f in state._fields if f != "count"]
    tree_name = data.draw(st.sampled_from(["grads", *slots]))
    key = data.draw(st.sampled_from(list(prob.params)))
    at = data.draw(st.integers(0, prob.params[key].size - 1))
    # nu is a mean of squares: negative is as damaged as NaN (-1e6 outweighs any g**2 here, so sqrt gets < 0)
    bad = data.draw(st.sampled_from([np.nan, -1e6] if tree_name == "nu" else [np.nan, np.inf, -np.inf]))
    if tree_name == "grads":
        grads = copy_tree(grads)
        grads[key].flat[at] = bad
        message = rf"^grads\['{key}'\] holds NaN or inf; "
    else:
        slot = copy_tree(getattr(state, tree_name))
        slot[key].flat[at] = bad
        state = state._replace(**{tree_name: slot})
        damage = "NaN, inf or negative values" if tree_name == "nu" else "NaN or inf"
        message = (rf"^state\.{tree_name}\['{key}'\] holds {damage}: the optimizer state is damaged; start again "
                   r"from opt\.init\(params\), or from an undamaged checkpoint$")
    assert_refused_untouched(opt, grads, state, prob.params, ParamsError, message)


def test_adamw_refuses_nan_params_that_would_make_a_nan_update(step_problem, numerics):
    # adamw's update reads the params (weight decay); the other optimizers never see them
    params, grads = copy_tree(step_problem)
    params["W2"].flat[0] = np.nan
    opt = opt_mod.adamw(0.1, weight_decay=0.1)
    with numerics():
        assert_refused_untouched(opt, grads, opt.init(params), params, ParamsError,
                                 rf"^params\['W2'\] holds NaN or inf; {re.escape(finite.PARAMS_FIX)}$")


@pytest.mark.parametrize("which", range(6))
def test_an_lr_that_overflows_the_update_is_named(step_problem, which, numerics):
    params, grads = step_problem  # float32: the rate 1e39 itself is inf there
    opt = all_optimizers(1e39)[which]
    with numerics():
        assert_refused_untouched(opt, grads, opt.init(params), params, ConfigError,
                                 rf"^lr=1e\+39 \(the rate at step 0\) times the {opt.name} step for 'W1' overflows "
                                 r"float32; pass a smaller lr$")
        updates, _ = all_optimizers(1e30)[which].update(grads, opt.init(params), params)  # steps of ~1e30 fit
    assert all(np.isfinite(u).all() for u in updates.values())


@pytest.mark.parametrize("which", range(3))  # sgd, momentum, nesterov: adam's and rmsprop's steps are bounded
def test_an_lr_that_overflows_float64_is_named_at_its_step(which, numerics):
    params = nf.init((3, 2), 0, dtype=np.float64)
    grads = {k: np.full_like(v, 1e10) for k, v in params.items()}
    opt = all_optimizers(lambda step: 1e300 if step == 2 else 1e-3)[which]
    with numerics():
        state = opt.init(params)
        for _ in range(2):
            _, state = opt.update(grads, state, params)
        assert_refused_untouched(opt, grads, state, params, ConfigError,
                                 rf"^lr=1e\+300 \(the rate at step 2\) times the {opt.name} step for 'W1' "
                                 r"overflows float64; pass a smaller lr$")


def test_a_step_that_overflows_even_at_lr_one_blames_the_sizes_not_the_rate(numerics):
    params = nf.init((2, 2), 0)
    huge = {k: np.full_like(v, 3e38) for k, v in params.items()}
    opt = opt_mod.momentum(0.01)  # the velocity 0.9 * 3e38 + 3e38 overflows float32 whatever the rate
    with numerics():
        assert_refused_untouched(opt, huge, opt.init(params)._replace(mu=copy_tree(huge)), params, ConfigError,
                                 r"^the momentum step for 'W1' overflows float32 even at lr=1, from finite grads "
                                 r"\(up to 3e\+38\), state and params; scale the inputs or the loss down")
    # an eps that rounds to 0 in float32: a zero gradient with zero moments is 0 / 0
    opt = opt_mod.adam(0.01, eps=1e-50)
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    with numerics():
        assert_refused_untouched(opt, zeros, opt.init(params), params, ConfigError,
                                 r"^the adam step for 'W1' overflows float32 even at lr=1, .*raise eps")
    wide = nf.init((2, 2), 0, dtype=np.float64)  # float64 holds 1e-50: no step, and no error
    updates, _ = opt.update({k: np.zeros_like(v) for k, v in wide.items()}, opt.init(wide), wide)
    assert all(not u.any() for u in updates.values())


@given(st.sampled_from(range(6)), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1),
       st.sampled_from([1.0, 1e10, 1e30, 1e37, 1e300]))
def test_an_update_is_finite_or_a_clear_error(which, dtype, seed, scale):
    # huge but finite grads: the update comes back finite, or an nnfunc error says why; never numpy's or a NaN
    rng = np.random.default_rng(seed)
    params = nf.init((3, 4, 2), rng, dtype=dtype)
    with np.errstate(over="ignore"):  # float32 cannot hold 1e300: those grads are inf, and named as such
        grads = {k: (rng.standard_normal(v.shape) * scale).astype(dtype) for k, v in params.items()}
    opt = all_optimizers(0.5)[which]
    try:
        updates, state = opt.update(grads, opt.init(params), params)
    except (ConfigError, ParamsError) as exc:
        assert "overflows" in str(exc) or "NaN or inf" in str(exc), str(exc)
        assert scale >= 1e30, str(exc)
    else:
        assert all(finite.all_finite(u) for u in updates.values())


def test_all_finite_never_calls_a_huge_finite_array_infinite():
    # the sum of squares of 3e38s overflows float32; the exact scan then says finite
    assert finite.all_finite(np.full((3, 4), 3e38, np.float32))
    assert finite.all_finite(np.asfortranarray(np.full((3, 4), -1.7e308)))
    assert finite.all_finite(np.zeros((0, 4), np.float32))
    for bad in (np.nan, np.inf, -np.inf):
        a = np.ones((3, 4), np.float32)
        a[2, 3] = bad
        assert not finite.all_finite(a) and not finite.all_finite(a.T)


def test_the_training_loops_in_place_update_stays_unchecked(step_problem):
    # update_in_place runs every step of fit: no checks there (fit watches the loss instead)
    params, grads = copy_tree(step_problem)
    grads["W1"].flat[0] = np.nan
    opt = opt_mod.sgd(0.1)
    scratch = {k: np.empty_like(v) for k, v in params.items()}
    with np.errstate(invalid="ignore"):
        out, _ = opt.update_in_place(grads, opt.init(params), params, scratch)
    assert np.isnan(out["W1"].flat[0]) and np.isfinite(out["W1"].flat[1:]).all()


@pytest.mark.parametrize("tree, key, bad", [("updates", "W1", np.nan), ("updates", "b2", -np.inf),
                                            ("params", "b1", np.nan), ("params", "W2", np.inf)])
def test_apply_updates_refuses_nan_or_inf_naming_the_key(step_problem, tree, key, bad, numerics):
    params, updates = copy_tree(step_problem)
    (updates if tree == "updates" else params)[key].flat[0] = bad
    fix = ("applying them would fill the params with NaN: do not apply these updates; make them with opt.update, "
           "which names the cause of a NaN") if tree == "updates" else finite.PARAMS_FIX
    before = copy_tree(params), copy_tree(updates)
    with numerics(), pytest.raises(ParamsError, match=rf"^{tree}\['{key}'\] holds NaN or inf; {re.escape(fix)}$"):
        nf.apply_updates(params, updates)
    assert_bit_identical((params, updates), before)


def test_apply_updates_refuses_a_sum_that_overflows(numerics):
    params = {k: np.full_like(v, 2e38) for k, v in nf.init((3, 2), 0).items()}
    with numerics(), pytest.raises(ConfigError, match=r"^params\['W1'\] \+ updates\['W1'\] overflows float32 "
                                                      r"\(params up to 2e\+38, updates up to 2e\+38\); pass a "
                                                      r"smaller lr$"):
        nf.apply_updates(params, params)
    assert all(np.isfinite(v).all() for v in nf.apply_updates(params, {k: -v for k, v in params.items()}).values())


# --- 4. a schedule that turns bad later --------------------------------------------------


@given(st.integers(1, 6), st.sampled_from([math.nan, -1.0, math.inf, "0.1", True, None]),
       st.booleans(), st.sampled_from(range(6)))
def test_a_bad_rate_at_any_step_is_refused_before_it_touches_the_params(bad_step, value, in_place, which):
    params = nf.init((3, 4, 2), 0)
    grads = {k: np.ones_like(v) for k, v in params.items()}
    opt = all_optimizers(lambda step: value if step == bad_step else 0.01)[which]
    state, own = opt.init(params), copy_tree(params)
    scratch = {k: np.empty_like(v) for k, v in params.items()}
    for _ in range(bad_step):  # the good steps run
        if in_place:
            own, state = opt.update_in_place(grads, state, own, scratch)
        else:
            updates, state = opt.update(grads, state, own)
            own = nf.apply_updates(own, updates)
    before = copy_tree(own), [copy_tree(field) for field in state]
    shown = repr(float(value)) if isinstance(value, float) else repr(value)
    with pytest.raises(ConfigError) as info:
        if in_place:
            opt.update_in_place(grads, state, own, scratch)
        else:
            opt.update(grads, state, own)
    assert str(info.value) == (f"schedule({bad_step}) returned {shown}; a schedule must return a finite "
                               "rate >= 0 at every step")
    assert_bit_identical(own, before[0])
    assert_bit_identical(list(state), before[1])


def test_a_numpy_rate_is_a_rate():
    params = nf.init((3, 2), 0)
    grads = {k: np.ones_like(v) for k, v in params.items()}
    opt = opt_mod.sgd(lambda step: np.float32(0.5))
    updates, _ = opt.update(grads, opt.init(params), params)
    assert updates["W1"].tolist() == np.full((3, 2), -0.5).tolist()


def test_a_rate_too_large_for_a_float_is_refused_and_an_int_rate_is_a_rate():
    params = nf.init((3, 2), 0)
    grads = {k: np.ones_like(v) for k, v in params.items()}
    opt = opt_mod.sgd(lambda step: 1 if step == 0 else 10**400)
    updates, state = opt.update(grads, opt.init(params), params)
    assert updates["W1"].tolist() == np.full((3, 2), -1.0).tolist()
    for update in (opt.update, lambda g, s, p: opt.update_in_place(g, s, copy_tree(p), copy_tree(p))):
        with pytest.raises(ConfigError, match=r"^schedule\(1\) returned an int of 401 digits; a schedule must "
                                              r"return a finite rate >= 0 at every step$"):
            update(grads, state, params)


# --- 5. a network bigger than the machine --------------------------------------------------


def test_memory_refuses_exactly_more_than_the_physical_memory(monkeypatch):
    monkeypatch.setattr(memory, "cgroup_limit", lambda **roots: None)  # whatever container this runs in
    monkeypatch.setattr(memory, "physical_memory", lambda: 208)
    # (3, 4, 2) in float64: 3*4 + 4 + 4*2 + 2 = 26 parameters, 208 bytes
    assert set(nf.init((3, 4, 2), 0, dtype=np.float64)) == set(param_keys(2))
    monkeypatch.setattr(memory, "physical_memory", lambda: 207)
    with pytest.raises(ConfigError) as info:
        nf.init((3, 4, 2), 0, dtype=np.float64)
    assert str(info.value) == ("sizes (3, 4, 2) hold 26 float64 parameters: about 0.0 GB, more than this "
                               "machine's 0.0 GB of memory; use smaller widths")
    memory.check(207, "it", "fix")  # at the limit: fine
    with pytest.raises(ConfigError, match=r"^the run's arrays: about 0.0 GB, .*; pass fewer$"):
        memory.check(208, "the run's arrays", "pass fewer")
    monkeypatch.setattr(memory, "physical_memory", lambda: None)
    memory.check(10**30, "anything", "nothing")  # unknown memory: no opinion


def test_physical_memory_is_what_the_system_reports():
    total = memory.physical_memory()
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        assert total == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") and total > 2**20
    else:
        assert total is None


INIT_IN_A_SMALL_PROCESS = """
import sys
import numpy as np
import nnfunc as nf
from nnfunc import memory
total, bound = memory.available()
if total is None:
    sys.exit(5)
n = 2 * total // (4 * (784 + 1 + 10)) + 1  # (784, n, 10) in float32: twice the machine (or its container)
try:
    nf.init((784, n, 10), 0)
except nf.ConfigError as exc:
    print(exc)
else:
    sys.exit(4)
try:  # the address-space limit really holds: without the check, init would die here, not the machine
    np.ones(2**31, np.uint8)
except MemoryError:
    sys.exit(3)
sys.exit(6)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and overcommit are Linux matters")
def test_init_bigger_than_the_machine_is_refused_before_allocating():
    import resource

    limit = 2**30  # 1 GiB of address space: a regression raises MemoryError instead of waking the OOM killer

    def small():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", INIT_IN_A_SMALL_PROCESS], cwd=REPO, env=env, preexec_fn=small,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    message = result.stdout.strip()
    assert message.startswith("sizes (784, ") and " float32 parameters: about " in message
    assert message.endswith(("GB of memory; use smaller widths", "GB memory limit; use smaller widths"))
    need, have = re.search(r"about ([\d,.]+) GB, more than this (?:machine|container)'s ([\d,.]+) GB",
                           message).groups()
    assert float(need.replace(",", "")) > float(have.replace(",", "")) > 0


# --- 6. the gradcheck command's huge flags --------------------------------------------------


def run_gradcheck(*args):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"}
    return subprocess.run([sys.executable, "-m", "nnfunc", "gradcheck", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--l2", "1e308"], "error: --l2 is too large (1e+308): the L2 penalty 0.5 * l2 * sum(W**2) or its gradient "
                        "l2 * W overflows float64"),
    (["--l2", "1.7e308"], "pass a smaller --l2, typically 1e-5 to 1e-2"),
    (["--eps", "1e300"], "error: --eps must be a finite number in [2.22045e-16, 1), got 1e+300; a relative step"),
    (["--eps", "1e-300"], "error: --eps must be a finite number in [2.22045e-16, 1), got 1e-300"),
    (["--batch", "100000000000000"], "(23 parameters) on --batch 100000000000000 rows in float64: about "),
    (["--sizes", "4,1000000000000,2"], "error: checking --sizes 4,1000000000000,2 (7,000,000,000,002 parameters)"),
])
def test_gradcheck_cli_names_the_huge_flag(args, message):
    base = ["--sizes", "4,3,2"] if "--sizes" not in args else []
    result = run_gradcheck(*base, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert result.stdout == ""
    for noise in ("Traceback", "Warning", "loss_fn", "overflow encountered"):
        assert noise not in result.stderr
    if "--batch" in args or "--sizes" in args:
        assert result.stderr.rstrip().endswith("pass smaller --sizes or --batch")


def test_gradcheck_cli_still_checks_a_large_but_finite_l2():
    result = run_gradcheck("--sizes", "4,3,2", "--l2", "1e300", "--activation", "tanh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: max relative error" in result.stdout and result.stderr == ""


# --- 7. values of the wrong kind: complex x, no rows, a path that is not a path -------------------


@pytest.mark.parametrize("name", PUBLIC)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_x_is_refused_not_cast_to_its_real_part(name, dtype):
    params = nf.init((4, 5, 3), 0)
    x = np.ones((2, 4), dtype)  # an imaginary part of 0 too: the dtype says the data is not what W1 expects
    with pytest.raises(InputError, match=rf"^x holds complex numbers \(dtype {np.dtype(dtype)}\); pass real numbers, "
                                         r"e\.g\. np\.abs\(x\) or x\.real if that is what you meant$"):
        PUBLIC[name](params, x, Y2)
    assert np.isfinite(PUBLIC[name](params, x.real, Y2)).all()  # the fix works


def test_a_complex_labelled_set_is_named_by_its_name():
    with pytest.raises(InputError, match=r"^data\.x_val holds complex numbers \(dtype complex128\); pass real "
                                         r"numbers, e\.g\. np\.abs\(data\.x_val\) or data\.x_val\.real"):
        checks.check_examples(np.ones((2, 4), complex), Y2, 4, 3, name="data.x_val")
    with pytest.raises(InputError, match=r"^x holds complex numbers"):
        nf.forward(nf.init((4, 3), 0), [[1j, 0, 0, 0]])  # a list becomes a complex array


@pytest.mark.parametrize("x", [np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.float32)])
def test_evaluate_refuses_no_rows_instead_of_a_nan_loss(x, numerics):
    params = nf.init((4, 5, 3), 0)
    with numerics(), pytest.raises(InputError, match=r"^x has no rows; evaluate needs at least one example$"):
        nf.evaluate(params, x, np.zeros(0, np.int64))
    # the training loop's unchecked pass keeps an empty validation set legal: nan, which fit reports as None
    result = _evaluate(params, 2, nf.activations.resolve("relu", 1), x, np.zeros(0, np.intp), 0.0)
    assert math.isnan(result.loss) and math.isnan(result.accuracy)
    assert result.predictions.shape == (0,) and result.probs.shape == (0, 3)


@pytest.mark.parametrize("path, shown", [(None, "None"), (123, "int"), (3.5, "float"), (["a.png"], "list"),
                                         (np.array(["a.png"]), "ndarray")])
def test_load_image_refuses_a_path_that_is_not_a_path(path, shown):
    with pytest.raises(InputError, match=rf"^path must be a file path \(a str or pathlib\.Path\), got {shown}; "
                                         r"pass the image file's path, e\.g\. \"digit\.png\"$"):
        nf.load_image(path)


def test_load_image_refuses_a_nul_in_the_path(tmp_path):
    for path in ("digit\0.png", tmp_path / "a\0b", b"a\0b"):
        with pytest.raises(InputError, match=r"holds a NUL character, which no file name can; check the path$"):
            nf.load_image(path)
    with pytest.raises(InputError, match=r"no such file; check the path$"):  # a path of each kind gets through
        nf.load_image(os.fsencode(tmp_path / "missing.png"))
