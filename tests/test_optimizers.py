"""Laws of the optimizers: purity, dtype keeping, zero-rate identity, reference formulas, convergence."""

import contextlib
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import kernels
from nnfunc.kernels import reference as numpy_backend
from nnfunc.optim import optimizers as opt_mod
from nnfunc.optim import schedules
from nnfunc.errors import ConfigError, ParamsError
from tests.helpers import assert_bit_identical, copy_tree, exact_axpy, round_exact
from tests.strategies import architectures

DTYPES = [np.float32, np.float64]


def all_optimizers(lr):
    """One optimizer of each kind, with non-default settings where that tests more."""
    return [
        opt_mod.sgd(lr),
        opt_mod.momentum(lr, beta=0.8),
        opt_mod.momentum(lr, beta=0.8, nesterov=True),
        opt_mod.adam(lr),
        opt_mod.adamw(lr, weight_decay=0.1),
        opt_mod.adamw(lr, weight_decay=0.1, decay_biases=True),
        opt_mod.rmsprop(lr),
    ]


def make_tree(rng, shapes, dtype, scale=1.0):
    """A params-like dict {"W1", "b1", ...} of normal arrays of the given shapes."""
    tree = {}
    for i, (n_in, n_out) in enumerate(shapes, start=1):
        tree[f"W{i}"] = (scale * rng.standard_normal((n_in, n_out))).astype(dtype)
        tree[f"b{i}"] = (scale * rng.standard_normal(n_out)).astype(dtype)
    return tree


@st.composite
def problems(draw):
    """(params, list of grads for 3 steps, dtype) with small random shapes."""
    dtype = draw(st.sampled_from(DTYPES))
    sizes, _ = draw(architectures(max_layers=3, max_width=4))
    shapes = list(zip(sizes[:-1], sizes[1:]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = make_tree(rng, shapes, dtype)
    grads = [make_tree(rng, shapes, dtype) for _ in range(3)]
    return params, grads, dtype


def assert_state_identical(s1, s2):
    assert type(s1) is type(s2)
    for f1, f2 in zip(s1, s2):
        if isinstance(f1, dict):
            assert_bit_identical(f1, f2)
        else:
            assert f1.tobytes() == f2.tobytes()


def run(opt, params, grads_list):
    state = opt.init(params)
    for grads in grads_list:
        updates, state = opt.update(grads, state, params)
        params = opt_mod.apply_updates(params, updates)
    return params, state


@given(problems())
def test_zero_lr_leaves_params_bit_identical(problem):
    params, grads, _ = problem
    for opt in all_optimizers(0.0):
        new_params, _ = run(opt, params, grads)
        assert_bit_identical(new_params, params)


def exact_sgd_step(params, grads, lr, dtype):
    """p - lr * g element by element in exact rationals, rounded to ``dtype`` after the
    product and after the difference (what IEEE arithmetic in ``dtype`` must give),
    with the rate held in ``dtype`` as the params are."""
    return {k: exact_axpy(p, -Fraction(float(dtype(lr))), grads[k], dtype) for k, p in params.items()}


def test_exact_sgd_step_oracle_by_hand():
    # 1 - 0.25 * 0.5 = 0.875 and 3 - 0.25 * -2 = 3.5 exactly; 0.1 is not a float:
    # in float64 0.1 * 3 rounds to 0.30000000000000004, and 1 - that rounds to the float 0.7
    params, grads = {"W1": np.array([1.0, 3.0, 1.0])}, {"W1": np.array([0.5, -2.0, 3.0])}
    assert exact_sgd_step(params, grads, 0.25, np.float64)["W1"][:2].tolist() == [0.875, 3.5]
    assert exact_sgd_step(params, grads, 0.1, np.float64)["W1"][2] == 1.0 - 0.1 * 3.0 == 0.7
    # ties go to even: 1 + 2**-53 is halfway between 1 and its successor
    assert round_exact(1 + Fraction(1, 2**53), np.float64) == 1.0
    assert round_exact(1 + Fraction(3, 2**53), np.float64) == 1.0 + 2 * 2.0**-52


@given(problems(), st.floats(1e-4, 1.0))
def test_sgd_step_is_params_minus_lr_times_grads(problem, lr):
    params, grads, dtype = problem
    opt = opt_mod.sgd(lr)
    updates, _ = opt.update(grads[0], opt.init(params), params)
    stepped = opt_mod.apply_updates(params, updates)
    assert_bit_identical(stepped, exact_sgd_step(params, grads[0], lr, dtype))
    # and the model's own plain step, a separate code path, lands on the same bits
    assert_bit_identical(stepped, nf.update(params, grads[0], lr=lr))


@given(problems())
def test_pure_and_deterministic(problem):
    params, grads, _ = problem
    for opt in all_optimizers(0.05):
        params_copy, grads_copy = copy_tree(params), copy_tree(grads[0])
        state = opt.init(params)
        _, state = opt.update(grads[1], state, params)  # non-zero moments
        state_copy = type(state)(*[copy_tree(f) if isinstance(f, dict) else f.copy() for f in state])
        out1 = opt.update(grads[0], state, params)
        out2 = opt.update(grads[0], state, params)
        new_params = opt_mod.apply_updates(params, out1[0])
        assert_bit_identical(params, params_copy)
        assert_bit_identical(grads[0], grads_copy)
        assert_state_identical(state, state_copy)
        assert_bit_identical(out1[0], out2[0])
        assert_state_identical(out1[1], out2[1])
        assert new_params is not params
        for k in params:  # no output aliases an input
            assert not np.shares_memory(out1[0][k], grads[0][k])
            assert not np.shares_memory(new_params[k], params[k])


@pytest.mark.parametrize("dtype", DTYPES)
def test_keys_shapes_dtypes_and_state_layout(dtype):
    rng = np.random.default_rng(0)
    params = make_tree(rng, [(3, 2), (2, 4)], dtype)
    grads = make_tree(rng, [(3, 2), (2, 4)], dtype)
    for opt in all_optimizers(0.1):
        state = opt.init(params)
        for n in range(3):
            assert isinstance(state.count, np.ndarray) and state.count.shape == ()
            assert state.count.dtype == np.int64 and int(state.count) == n
            # Checkpoints rely on this: every field is count or a params-like dict.
            for field, value in zip(state._fields, state):
                if field != "count":
                    assert isinstance(value, dict) and list(value) == list(params), field
                    for k in params:
                        assert value[k].shape == params[k].shape and value[k].dtype == dtype
            updates, state = opt.update(grads, state, params)
            assert list(updates) == list(params)
            for k in params:
                assert updates[k].shape == params[k].shape and updates[k].dtype == dtype, (opt.name, k)


def test_update_uses_schedule_at_count():
    rng = np.random.default_rng(1)
    params = make_tree(rng, [(2, 3)], np.float64)
    grads = make_tree(rng, [(2, 3)], np.float64)
    opt = opt_mod.sgd(lambda step: 0.5 ** step)
    state = opt.init(params)
    for step in range(4):
        updates, state = opt.update(grads, state, params)
        for k in grads:
            assert np.array_equal(updates[k], -(0.5 ** step) * grads[k])


@given(problems())
def test_momentum_with_zero_beta_is_sgd(problem):
    params, grads, _ = problem
    assert_bit_identical(run(opt_mod.momentum(0.1, beta=0.0), params, grads)[0],
                         run(opt_mod.sgd(0.1), params, grads)[0])


def test_momentum_and_nesterov_match_reference_and_differ():
    rng = np.random.default_rng(2)
    params = make_tree(rng, [(3, 2)], np.float64)
    grads = [make_tree(rng, [(3, 2)], np.float64) for _ in range(3)]
    lr, beta = 0.1, 0.9
    # closed form instead of the recurrence: the velocity after step t is
    # mu_t = sum_{s<=t} beta**(t-s) g_s, and each step subtracts lr * mu_t
    # (heavy ball) or lr * (g_t + beta * mu_t) (Nesterov)
    velocity = [{k: sum(beta ** (t - s) * grads[s][k] for s in range(t + 1)) for k in params}
                for t in range(len(grads))]
    for nesterov in (False, True):
        steps = [{k: grads[t][k] + beta * velocity[t][k] if nesterov else velocity[t][k] for k in params}
                 for t in range(len(grads))]
        want = {k: params[k] - lr * sum(step[k] for step in steps) for k in params}
        got, _ = run(opt_mod.momentum(lr, beta=beta, nesterov=nesterov), params, grads)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)
    plain, _ = run(opt_mod.momentum(lr, beta=beta), params, grads)
    ahead, _ = run(opt_mod.momentum(lr, beta=beta, nesterov=True), params, grads)
    assert not np.allclose(plain["W1"], ahead["W1"])


def reference_adam(params, grads_list, lr, b1, b2, eps, weight_decay=0.0, decay_biases=False):
    """Adam/AdamW written straight from the papers, in float64."""
    p = copy_tree(params)
    mu = {k: np.zeros_like(v) for k, v in p.items()}
    nu = {k: np.zeros_like(v) for k, v in p.items()}
    for t, g in enumerate(grads_list, start=1):
        for k in p:
            mu[k] = b1 * mu[k] + (1 - b1) * g[k]
            nu[k] = b2 * nu[k] + (1 - b2) * g[k] ** 2
            direction = (mu[k] / (1 - b1**t)) / (np.sqrt(nu[k] / (1 - b2**t)) + eps)
            decay = weight_decay if (decay_biases or not k.startswith("b")) else 0.0
            p[k] = p[k] - lr * (direction + decay * p[k])
    return p


@pytest.mark.parametrize("weight_decay, decay_biases", [(0.0, False), (0.1, False), (0.1, True)])
def test_adam_and_adamw_match_reference(weight_decay, decay_biases):
    rng = np.random.default_rng(3)
    params = make_tree(rng, [(3, 2), (2, 2)], np.float64)
    grads = [make_tree(rng, [(3, 2), (2, 2)], np.float64) for _ in range(5)]
    settings = dict(lr=0.01, b1=0.8, b2=0.99, eps=1e-3)  # a large eps checks where eps goes
    if weight_decay:
        opt = opt_mod.adamw(**settings, weight_decay=weight_decay, decay_biases=decay_biases)
    else:
        opt = opt_mod.adam(**settings)
    got, _ = run(opt, params, grads)
    want = reference_adam(params, grads, **settings, weight_decay=weight_decay, decay_biases=decay_biases)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-14)


def test_adamw_decays_only_weights_by_default():
    params = {"W1": np.full((2, 2), 3.0), "b1": np.full(2, 3.0)}
    zero_grads = {k: np.zeros_like(v) for k, v in params.items()}
    for decay_biases, bias_moves in [(False, False), (True, True)]:
        opt = opt_mod.adamw(0.1, weight_decay=0.5, decay_biases=decay_biases)
        updates, _ = opt.update(zero_grads, opt.init(params), params)
        np.testing.assert_allclose(updates["W1"], -0.1 * 0.5 * 3.0)
        assert np.any(updates["b1"] != 0) == bias_moves


def test_adamw_without_params_raises():
    params = {"W1": np.ones((2, 2))}
    opt = opt_mod.adamw(0.1)
    with pytest.raises(ConfigError, match="params"):
        opt.update(params, opt.init(params))


def test_rmsprop_matches_reference():
    rng = np.random.default_rng(4)
    params = make_tree(rng, [(2, 3)], np.float64)
    grads = [make_tree(rng, [(2, 3)], np.float64) for _ in range(4)]
    lr, decay, eps = 0.01, 0.8, 1e-3
    # closed form instead of the recurrence: nu_t = (1 - decay) * sum_{s<=t} decay**(t-s) g_s**2
    nu = [{k: (1 - decay) * sum(decay ** (t - s) * grads[s][k] ** 2 for s in range(t + 1)) for k in params}
          for t in range(len(grads))]
    want = {k: params[k] - lr * sum(grads[t][k] / (np.sqrt(nu[t][k]) + eps) for t in range(len(grads)))
            for k in params}
    got, _ = run(opt_mod.rmsprop(lr, decay=decay, eps=eps), params, grads)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-14)
    # the documented first step, by hand: nu = (1 - decay) g**2, so the step is
    # lr / sqrt(1 - decay) per unit gradient sign when eps is negligible
    first, _ = run(opt_mod.rmsprop(lr, decay=decay, eps=1e-300), params, grads[:1])
    for k in params:
        np.testing.assert_allclose(first[k] - params[k], -np.sign(grads[0][k]) * lr / np.sqrt(1 - decay), rtol=1e-12)


@given(problems(), st.floats(1e-4, 0.1))
def test_adam_first_step_moves_each_coordinate_by_about_lr(problem, lr):
    params, grads, dtype = problem
    g = {k: v.copy() for k, v in grads[0].items()}
    g["W1"].flat[0] = 0  # a zero gradient must not move its coordinate
    opt = opt_mod.adam(lr)
    updates, _ = opt.update(g, opt.init(params), params)
    for k in g:
        nonzero = np.abs(g[k]) > 1e-3
        np.testing.assert_allclose(np.abs(updates[k][nonzero]), lr, rtol=1e-4)
        assert np.all(np.sign(updates[k]) == -np.sign(g[k]))
    assert updates["W1"].flat[0] == 0


CONVERGENCE = [
    ("sgd", {}, 0.2),
    ("momentum", {}, 0.05),
    ("nesterov", {}, 0.05),
    ("adam", {}, 0.1),
    ("adamw", {"weight_decay": 1e-3}, 0.1),
    ("rmsprop", {}, 0.05),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, lr", CONVERGENCE)
@given(seed=st.integers(0, 2**32 - 1))
def test_converges_on_quadratic(name, kwargs, lr, dtype, seed):
    # f(p) = 0.5 * sum(a * (p - c)**2), minimum at c; a cosine decay to 0
    # lets the adaptive methods settle instead of circling at distance ~lr.
    rng = np.random.default_rng(seed)
    shapes = [(3, 2), (2, 1)]
    a = {k: (np.abs(v) % 1.5 + 0.5).astype(dtype)  # curvatures in [0.5, 2)
         for k, v in make_tree(rng, shapes, np.float64).items()}
    c = make_tree(rng, shapes, dtype)
    params = make_tree(rng, shapes, dtype)
    steps = 400
    opt = opt_mod.get(name, schedules.cosine(lr, steps), **kwargs)
    state = opt.init(params)
    for _ in range(steps):
        grads = {k: a[k] * (params[k] - c[k]) for k in params}
        updates, state = opt.update(grads, state, params)
        params = opt_mod.apply_updates(params, updates)
    for k in params:
        assert params[k].dtype == dtype
        np.testing.assert_allclose(params[k], c[k], atol=1e-2)


def test_get_builds_each_named_optimizer():
    for name in opt_mod.NAMES:
        assert opt_mod.get(name, 0.1).name == name
    assert opt_mod.get("momentum", 0.1, nesterov=True).name == "nesterov"


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        opt_mod.get("adagrad", 0.1)
    for name in ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"):
        assert name in str(info.value)


def test_get_unknown_setting_lists_valid_settings():
    with pytest.raises(ConfigError, match="beta") as info:
        opt_mod.get("adam", 0.1, beta=0.9)
    assert "b1" in str(info.value) and "eps" in str(info.value)


BAD = [
    (opt_mod.sgd, {"lr": -0.1}, "lr"),
    (opt_mod.sgd, {"lr": math.nan}, "lr"),
    (opt_mod.sgd, {"lr": math.inf}, "lr"),
    (opt_mod.sgd, {"lr": "0.1"}, "lr"),
    (opt_mod.sgd, {"lr": lambda step: -1.0}, "schedule"),
    (opt_mod.momentum, {"lr": 0.1, "beta": 1.0}, "beta"),
    (opt_mod.momentum, {"lr": 0.1, "beta": -0.1}, "beta"),
    (opt_mod.adam, {"b1": 1.0}, "b1"),
    (opt_mod.adam, {"b2": 1.5}, "b2"),
    (opt_mod.adam, {"eps": 0.0}, "eps"),
    (opt_mod.adam, {"eps": -1e-8}, "eps"),
    (opt_mod.adamw, {"weight_decay": -0.1}, "weight_decay"),
    (opt_mod.rmsprop, {"decay": 1.0}, "decay"),
    (opt_mod.rmsprop, {"eps": math.nan}, "eps"),
]


@pytest.mark.parametrize("factory, kwargs, word", BAD)
def test_bad_settings_raise_config_error(factory, kwargs, word):
    with pytest.raises(ConfigError, match=rf"^{word}(?!\w)"):
        factory(**kwargs)


@pytest.mark.parametrize("bad", [{}, [np.ones(2)], {"W1": np.ones(2, dtype=np.int64)}, {"W1": [1.0]}])
def test_init_rejects_bad_params(bad):
    for opt in all_optimizers(0.1):
        with pytest.raises(ParamsError):
            opt.init(bad)


STATE_FIX = r"; pass what opt\.init\(params\) or the last opt\.update returned$"
BAD_STATES = {
    "None": (lambda s: None, r"^state must be what opt\.init\(params\) returned for this optimizer, an? \w+State; "
                             r"got None"),
    "a dict": (lambda s: s._asdict(), r"^state must be .*; got a dict"),
    "a plain tuple": (lambda s: tuple(s), r"^state must be .*; got a tuple"),
    "another optimizer's": (lambda s: opt_mod.SgdState(s.count) if not isinstance(s, opt_mod.SgdState)
                            else opt_mod.RmspropState(s.count, {}), r"^state must be .*; got an? (Sgd|Rmsprop)State"),
    "a negative count": (lambda s: s._replace(count=np.array(-1)),
                         r"^state\.count must be a 0-d integer array >= 0 \(the updates done so far\), "
                         r"got array\(-1\)"),
    "a float count": (lambda s: s._replace(count=np.array(1.0)), r"^state\.count must be .*, got array\(1\.\)"),
    "a vector count": (lambda s: s._replace(count=np.array([1])), r"^state\.count must be .*, got array\(\[1\]\)"),
    "a string count": (lambda s: s._replace(count="0"), r"^state\.count must be .*, got '0'"),
}


@pytest.mark.parametrize("bad", BAD_STATES)
def test_update_refuses_a_state_its_init_did_not_make(bad):
    rng = np.random.default_rng(11)
    params = make_tree(rng, [(3, 2), (2, 2)], np.float32)
    grads = make_tree(rng, [(3, 2), (2, 2)], np.float32)
    change, message = BAD_STATES[bad]
    for opt in all_optimizers(0.1):
        state = opt.init(params)
        with pytest.raises(ParamsError, match=message + (STATE_FIX if "count" in bad else "")):
            opt.update(grads, change(state), params)
        # a state rebuilt from its fields (as a checkpoint does) is still this optimizer's
        updates, _ = opt.update(grads, type(state)(**state._asdict()), params)
        assert list(updates) == list(params)


@pytest.mark.parametrize("slot_change, message", [
    (lambda d: None, r"^state\.(mu|nu) must be a dict of arrays keyed like params, got NoneType; pass what"),
    (lambda d: {k: v for k, v in d.items() if k != "b2"}, r"missing \['b2'\], unexpected \[\]"),
    (lambda d: {**d, "W1": d["W1"].tolist()}, r"^state\.(mu|nu)\['W1'\] is a list; pass a float array"),
    (lambda d: {**d, "b1": d["b1"][:1]}, r"\['b1'\] has shape \(1,\) but "),
])
def test_update_refuses_a_state_slot_of_another_layout(slot_change, message):
    rng = np.random.default_rng(12)
    params = make_tree(rng, [(3, 2), (2, 2)], np.float64)
    for opt in all_optimizers(0.1)[1:]:  # sgd's state has no slots
        state = opt.init(params)
        for slot in state._fields[1:]:  # each slot, the first (checked against the grads) and the others
            with pytest.raises(ParamsError, match=message):
                opt.update(params, state._replace(**{slot: slot_change(getattr(state, slot))}), params)


def test_update_refuses_params_that_are_not_a_dict_of_float_arrays():
    rng = np.random.default_rng(13)
    params = make_tree(rng, [(3, 2)], np.float64)
    for opt in all_optimizers(0.1):
        with pytest.raises(ParamsError, match=r"^params must be a non-empty dict of arrays, got list"):
            opt.update(params, opt.init(params), list(params.values()))
        with pytest.raises(ParamsError, match=r"^params\['W1'\] must be a float ndarray, got <class 'list'>"):
            opt.update(params, opt.init(params), {**params, "W1": params["W1"].tolist()})
        with pytest.raises(ParamsError, match=r"^params must be a non-empty dict of arrays, got NoneType"):
            opt_mod.apply_updates(None, params)


@given(problems(), st.sampled_from([0.0, 1e-3, 0.3]))
def test_in_place_step_equals_update_then_apply_bit_for_bit(problem, lr):
    params, grads_list, _ = problem
    for opt in all_optimizers(schedules.cosine(lr, 2)) + all_optimizers(lr):
        want_params, want_state = run(opt, params, grads_list)
        own_params = copy_tree(params)
        state = opt.init(own_params)
        scratch = {k: np.empty_like(v) for k, v in params.items()}
        for grads in grads_list:
            grads_before = copy_tree(grads)
            out, state = opt.update_in_place(grads, state, own_params, scratch)
            assert out is own_params  # in place: the loop keeps its arrays
            assert_bit_identical(grads, grads_before)  # grads are only read
        assert_bit_identical(own_params, want_params)
        assert_state_identical(state, want_state)


@given(problems())
def test_chunked_kernels_give_the_same_bits(problem):
    params, grads_list, _ = problem
    with pytest.MonkeyPatch.context() as mp, kernels.use("numpy"):  # the chunks are the NumPy reference's
        mp.setattr(numpy_backend, "CHUNK", 1 << 30)
        want = [run(opt, params, grads_list) for opt in all_optimizers(0.1)]
        mp.setattr(numpy_backend, "CHUNK", 3)  # every tensor bigger than 3 numbers goes through the chunk loop
        got = [run(opt, params, grads_list) for opt in all_optimizers(0.1)]
    for (p1, s1), (p2, s2) in zip(want, got):
        assert_bit_identical(p1, p2)
        assert_state_identical(s1, s2)


# --- documented defaults, get(), and every path through the chunked kernels ---


def steps_of(opt, params, grads_list, with_params=True):
    """The params after running ``opt`` over the grads (update + apply_updates)."""
    state = opt.init(params)
    for grads in grads_list:
        updates, state = opt.update(grads, state, params if with_params else None)
        params = opt_mod.apply_updates(params, updates)
    return params


DEFAULTS = [
    (lambda: opt_mod.momentum(0.1), lambda: opt_mod.momentum(0.1, beta=0.9, nesterov=False)),
    (lambda: opt_mod.adam(), lambda: opt_mod.adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8)),
    (lambda: opt_mod.adamw(), lambda: opt_mod.adamw(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8,
                                                    weight_decay=1e-2, decay_biases=False)),
    (lambda: opt_mod.rmsprop(), lambda: opt_mod.rmsprop(lr=1e-3, decay=0.9, eps=1e-8)),
    (lambda: opt_mod.get("nesterov", 0.1), lambda: opt_mod.momentum(0.1, beta=0.9, nesterov=True)),
]


@pytest.mark.parametrize("default, explicit", DEFAULTS, ids=["momentum", "adam", "adamw", "rmsprop", "nesterov"])
def test_documented_defaults(default, explicit):
    rng = np.random.default_rng(6)
    params = make_tree(rng, [(3, 2), (2, 2)], np.float64)
    # gradients small enough that eps = 1e-8 against sqrt(nu) shows in the bits
    grads = [make_tree(rng, [(3, 2), (2, 2)], np.float64, scale=1e-6) for _ in range(4)]
    assert default().name == explicit().name
    assert_bit_identical(steps_of(default(), params, grads), steps_of(explicit(), params, grads))


def test_each_default_changed_alone_changes_the_steps():
    # so the bit-for-bit comparison above really sees every default
    rng = np.random.default_rng(7)
    params = make_tree(rng, [(3, 2)], np.float64)
    grads = [make_tree(rng, [(3, 2)], np.float64, scale=1e-6) for _ in range(4)]
    cases = [(opt_mod.adamw, dict(lr=2e-3), "W1"), (opt_mod.adamw, dict(b1=0.8), "W1"),
             (opt_mod.adamw, dict(b2=0.99), "W1"), (opt_mod.adamw, dict(eps=1e-7), "W1"),
             (opt_mod.adamw, dict(weight_decay=0.1), "W1"), (opt_mod.adamw, dict(decay_biases=True), "b1"),
             (opt_mod.rmsprop, dict(lr=2e-3), "W1"),
             (opt_mod.rmsprop, dict(decay=0.8), "W1"), (opt_mod.rmsprop, dict(eps=1e-7), "W1")]
    for factory, changed, key in cases:
        got = steps_of(factory(**changed), params, grads)[key]
        assert not np.array_equal(got, steps_of(factory(), params, grads)[key]), (factory, changed)


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam", "adamw", "rmsprop"])
def test_get_passes_settings_through(name):
    rng = np.random.default_rng(8)
    params = make_tree(rng, [(2, 3)], np.float64)
    grads = [make_tree(rng, [(2, 3)], np.float64) for _ in range(3)]
    settings = {"momentum": dict(beta=0.5), "nesterov": dict(beta=0.5), "adam": dict(b1=0.5, eps=1e-3),
                "adamw": dict(b2=0.5, weight_decay=0.3), "rmsprop": dict(decay=0.5)}[name]
    direct = {"nesterov": lambda **kw: opt_mod.momentum(0.1, nesterov=True, **kw)}.get(
        name, lambda **kw: getattr(opt_mod, name)(0.1, **kw))
    got = steps_of(opt_mod.get(name, 0.1, **settings), params, grads)
    assert_bit_identical(got, steps_of(direct(**settings), params, grads))
    assert not np.array_equal(got["W1"], steps_of(direct(), params, grads)["W1"])


@given(problems())
def test_chunked_kernels_without_params_and_in_place(problem):
    params, grads_list, _ = problem
    with pytest.MonkeyPatch.context() as mp:
        results = {}
        for size in (1 << 30, 3):  # unchunked, then every tensor over 3 numbers in chunks
            mp.setattr(numpy_backend, "CHUNK", size)
            pure, in_place = [], []
            for opt in all_optimizers(0.1):
                needs_params = opt.name == "adamw"
                if not needs_params:
                    pure.append(steps_of(opt, params, grads_list, with_params=False))
                own, scratch = copy_tree(params), {k: np.empty_like(v) for k, v in params.items()}
                state = opt.init(own)
                for grads in grads_list:
                    own, state = opt.update_in_place(grads, state, own, scratch)
                in_place.append((own, state))
            results[size] = pure, in_place
        (pure1, step1), (pure2, step2) = results[1 << 30], results[3]
        for a, b in zip(pure1, pure2):
            assert_bit_identical(a, b)
        for (p1, s1), (p2, s2) in zip(step1, step2):
            assert_bit_identical(p1, p2)
            assert_state_identical(s1, s2)
        # and without params, an optimizer without weight decay moves them the same way
        for a, opt in zip(pure1, [o for o in all_optimizers(0.1) if o.name != "adamw"]):
            assert_bit_identical(a, steps_of(opt, params, grads_list))


def test_chunk_boundaries_cover_every_element():
    # a tensor of CHUNK + 1 numbers: the last chunk has one element
    rng = np.random.default_rng(9)
    n = numpy_backend.CHUNK + 1
    params = {"W1": rng.standard_normal((n, 1)).astype(np.float32), "b1": np.zeros(1, np.float32)}
    grads = {"W1": rng.standard_normal((n, 1)).astype(np.float32), "b1": np.ones(1, np.float32)}
    for opt in all_optimizers(0.1):
        updates, _ = opt.update(grads, opt.init(params), params)
        assert np.all(updates["W1"] != 0) and np.all(np.sign(updates["W1"]) == -np.sign(grads["W1"])), opt.name


@pytest.mark.parametrize("chunk", [3, 1 << 30])
def test_any_memory_layout_gives_the_same_steps(chunk, monkeypatch, kernel_backend):
    # Fortran-ordered and strided arrays do not flatten to views: a chunked
    # kernel writing through a flattened copy would lose its results
    rng = np.random.default_rng(10)
    params = make_tree(rng, [(7, 5), (5, 3)], np.float32)
    grads = [make_tree(rng, [(7, 5), (5, 3)], np.float32) for _ in range(3)]

    def odd(tree):
        return {k: np.asfortranarray(v) if v.ndim == 2 else np.repeat(v, 2)[::2] for k, v in tree.items()}

    monkeypatch.setattr(numpy_backend, "CHUNK", chunk)
    # the compiled loops take C order only: numba asked for by name says it ran the reference instead
    announced = (pytest.warns(kernels.KernelFallbackWarning, match="not in C order") if kernel_backend == "numba"
                 else contextlib.nullcontext())
    with announced:
        for opt in all_optimizers(0.1):
            check_layouts(opt, params, grads, odd)


def check_layouts(opt, params, grads, odd):
    """``opt`` on arrays laid out by ``odd`` gives the steps it gives on C-ordered ones, pure and in place."""
    want, want_state = run(opt, params, grads)
    got, got_state = run(opt, odd(params), [odd(g) for g in grads])
    for k in want:
        assert np.array_equal(got[k], want[k]), (opt.name, k)
    own = odd(params)
    scratch = {k: np.empty_like(v) for k, v in own.items()}
    state = opt.init(own)
    for g in grads:
        own, state = opt.update_in_place(odd(g), state, own, scratch)
    for k in want:
        assert np.array_equal(own[k], want[k]), (opt.name, k, "step")
        for field in state._fields[1:]:
            assert np.array_equal(getattr(state, field)[k], getattr(want_state, field)[k])


@pytest.mark.parametrize("factory, kwargs, message", [
    (opt_mod.momentum, {"lr": 0.1, "beta": "0.9"}, "beta must be a finite number in [0, 1), got '0.9'"),
    (opt_mod.momentum, {"lr": 0.1, "beta": False}, "beta must be a finite number in [0, 1), got False"),
    (opt_mod.adam, {"b1": -0.1}, "b1 must be a finite number in [0, 1), got -0.1"),
    (opt_mod.adam, {"b2": 1.0}, "b2 must be a finite number in [0, 1), got 1.0"),
    (opt_mod.adam, {"eps": math.inf}, "eps must be a finite number > 0, got inf"),
    (opt_mod.adam, {"eps": True}, "eps must be a finite number > 0, got True"),
    (opt_mod.adam, {"eps": "1e-8"}, "eps must be a finite number > 0, got '1e-8'"),
    (opt_mod.adamw, {"weight_decay": math.inf}, "weight_decay must be a finite number >= 0, got inf"),
    (opt_mod.adamw, {"weight_decay": False}, "weight_decay must be a finite number >= 0, got False"),
    (opt_mod.adamw, {"weight_decay": "0.1"}, "weight_decay must be a finite number >= 0, got '0.1'"),
    (opt_mod.rmsprop, {"decay": "0.9"}, "decay must be a finite number in [0, 1), got '0.9'"),
    (opt_mod.rmsprop, {"eps": 0.0}, "eps must be a finite number > 0, got 0.0"),
])
def test_bad_settings_are_named_in_the_message(factory, kwargs, message):
    with pytest.raises(ConfigError) as info:
        factory(**kwargs)
    assert str(info.value).startswith(message), str(info.value)


def test_edges_of_the_settings_are_accepted():
    params = {"W1": np.ones((2, 2))}
    for opt in (opt_mod.momentum(0.1, beta=0), opt_mod.adam(b1=0, b2=0), opt_mod.adamw(weight_decay=0),
                opt_mod.rmsprop(decay=0, eps=1e300), opt_mod.sgd(0)):
        updates, state = opt.update(params, opt.init(params), params)
        assert np.all(np.isfinite(updates["W1"])) and int(state.count) == 1
