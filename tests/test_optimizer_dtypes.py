"""No optimizer mixes dtypes: grads, state or updates of another float dtype than the params' are refused, by key.

Before this rule, ``adam.update`` with float32 grads for float64 params and
state returned float32 updates beside a float64 state, and ``nf.update``
with float64 grads turned float32 params into float64 ones, silently.
"""

import numpy as np
import pytest

import nnfunc as nf
from nnfunc.errors import ParamsError
from tests.test_optimizers import all_optimizers, make_tree

SHAPES = [(3, 2), (2, 2)]
PAIRS = [(np.float64, np.float32), (np.float32, np.float64)]


def trees(params_dtype, other_dtype):
    rng = np.random.default_rng(0)
    return make_tree(rng, SHAPES, params_dtype), make_tree(rng, SHAPES, other_dtype)


def message(name, key, got, want, like="params"):
    return rf"{name}\['{key}'\] is {np.dtype(got)} but {like}\['{key}'\] is {np.dtype(want)}"


@pytest.mark.parametrize("params_dtype, grads_dtype", PAIRS)
@pytest.mark.parametrize("opt", all_optimizers(0.1), ids=lambda o: o.name)
def test_update_refuses_grads_of_another_dtype_than_the_params(opt, params_dtype, grads_dtype):
    params, grads = trees(params_dtype, grads_dtype)
    state = opt.init(params)
    with pytest.raises(ParamsError, match=message("grads", "W1", grads_dtype, params_dtype) + ".*astype"):
        opt.update(grads, state, params)
    # one key is enough to be refused, and it is the one named
    grads = {k: g.astype(params_dtype) if k != "b2" else g for k, g in grads.items()}
    with pytest.raises(ParamsError, match=message("grads", "b2", grads_dtype, params_dtype)):
        opt.update(grads, state, params)


@pytest.mark.parametrize("params_dtype, grads_dtype", PAIRS)
@pytest.mark.parametrize("opt", [o for o in all_optimizers(0.1) if o.name != "adamw"], ids=lambda o: o.name)
def test_without_params_the_state_sets_the_dtype(opt, params_dtype, grads_dtype):
    params, grads = trees(params_dtype, grads_dtype)
    state = opt.init(params)
    if opt.name == "sgd":  # no state to disagree with: the update keeps the grads' dtype
        updates, _ = opt.update(grads, state)
        assert all(u.dtype == grads_dtype for u in updates.values())
        return
    slot = state._fields[1]
    with pytest.raises(ParamsError, match=message("grads", "W1", grads_dtype, params_dtype, f"state.{slot}")):
        opt.update(grads, state)


@pytest.mark.parametrize("opt", [o for o in all_optimizers(0.1) if o.name != "sgd"], ids=lambda o: o.name)
def test_update_refuses_a_state_of_another_dtype_than_the_params(opt):
    params32, params64 = trees(np.float32, np.float64)
    state = opt.init(params32)  # then the params and grads change dtype
    slot = state._fields[1]
    with pytest.raises(ParamsError, match=message(f"state.{slot}", "W1", np.float32, np.float64) +
                       r".*opt.init\(params\)"):
        opt.update(params64, state, params64)


@pytest.mark.parametrize("params_dtype, updates_dtype", PAIRS)
def test_apply_updates_refuses_updates_of_another_dtype(params_dtype, updates_dtype):
    params, updates = trees(params_dtype, updates_dtype)
    with pytest.raises(ParamsError, match=message("updates", "W1", updates_dtype, params_dtype)):
        nf.apply_updates(params, updates)


@pytest.mark.parametrize("params_dtype, grads_dtype", PAIRS)
def test_the_plain_step_refuses_grads_of_another_dtype(params_dtype, grads_dtype):
    params = nf.init((3, 2, 2), 0, dtype=params_dtype)
    grads = {k: np.ones_like(p, dtype=grads_dtype) for k, p in params.items()}
    with pytest.raises(ParamsError, match=message("grads", "W1", grads_dtype, params_dtype)):
        nf.update(params, grads, lr=0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", all_optimizers(0.1), ids=lambda o: o.name)
def test_one_dtype_throughout_is_kept(opt, dtype):
    params, grads = trees(dtype, dtype)
    updates, state = opt.update(grads, opt.init(params), params)
    assert all(u.dtype == dtype for u in updates.values())
    assert all(a.dtype == dtype for slot in state[1:] for a in slot.values())
    assert all(p.dtype == dtype for p in nf.apply_updates(params, updates).values())
    assert all(p.dtype == dtype for p in nf.update(params, grads, lr=0.1).values())
