"""Turn an update rule of ``nnfunc.optim.inplace`` into an optimizer's functions: init, checked update, in-place step.

``update`` gives the rule fresh arrays and stays pure; it checks the state
and grads it is given (types, keys, shapes, dtypes), and each update as it
is made (``blame`` then names the grads, state, params or rate).
``update_in_place`` gives the rule the state's own arrays and adds the
update into the params, unchecked: it is the training loop's, which
watches the loss instead. Both run on the kernel backend in force
(``nnfunc.kernels.backend()``) and the same floating-point operations, so
they agree bit for bit.
"""

import numpy as np

from nnfunc import checks, finite, kernels
from nnfunc.errors import ConfigError, ParamsError
from nnfunc.optim.schedules import rate_at


def count_array(value=0):
    """A state's ``count``: a 0-d int64 array."""
    return np.array(value, dtype=np.int64)


def build(name, schedule, state_type, slots, rule):
    """The (init, update, update_in_place) of an optimizer that runs ``rule``.

    ``slots`` names the state's dicts in the order the rule reads them.
    """

    def init(params):
        checks.check_float_params(params)
        return state_type(count_array(), *({k: np.zeros_like(p) for k, p in params.items()} for _ in slots))

    def update(grads, state, params=None):
        check_update(grads, state, params, state_type, slots)
        count = int(state.count)
        lr_t = rate_at(schedule, count)
        # a NaN or inf update (an overflow, or x / 0 where eps rounds to 0) is explained by blame, not warned about
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            updates, new, ok = kernels.backend().update_all(rule, grads, params, [getattr(state, s) for s in slots],
                                                            lr_t, count)
            for k, finite_update in ok.items():  # checked in the loop's own pass, or one dot per key
                if not finite_update:
                    blame(name, rule, slots, k, grads[k], None if params is None else params[k], state, lr_t, count)
        return updates, state_type(count_array(count + 1), *new)

    def update_in_place(grads, state, params, scratch):
        """In place, for a loop that owns all four dicts: params += update; state slots overwritten.

        ``scratch`` holds one spare array per key (``empty_like`` params).
        Returns (params, state): the same param arrays, a state with the same
        slot arrays and a new count.
        """
        count = int(state.count)
        lr_t = rate_at(schedule, count)
        own = [getattr(state, s) for s in slots]
        passes = kernels.backend()
        for k, g in grads.items():
            passes.update_in_place(rule, k, g, params[k], tuple(d[k] for d in own), scratch[k], lr_t, count)
        return params, state._replace(count=count_array(count + 1))

    return init, update, update_in_place


def check_update(grads, state, params, state_type, slots):
    """Refuse a state ``init`` did not make, and grads, state or params of other keys, shapes or dtypes."""
    checks.check_state(state, state_type, slots)
    if params is not None:
        checks.check_float_params(params)
    checks.check_grads(grads, params, "params")  # params None: only the types
    if params is None and slots:  # the state is all there is to check grads against (sgd's has no slots)
        checks.check_grads(grads, getattr(state, slots[0]), f"the state's {slots[0]}")
    like, what = (grads, "grads") if params is None else (params, "params")
    for s in slots:  # grads fit the params (or the first slot), so a misfit here is the state's
        checks.check_grads(getattr(state, s), like, what, name=f"state.{s}", fix=checks.STATE_FIX)
    if params is not None:
        check_dtypes(grads, params, "grads", "params",
                     "pass the gradient of these params (nnfunc.value_and_grad keeps their dtype)")
    elif slots:
        check_dtypes(grads, getattr(state, slots[0]), "grads", f"state.{slots[0]}",
                     "pass grads in the dtype of the params given to opt.init")
    for s in slots:
        check_dtypes(getattr(state, s), like, f"state.{s}", what, checks.STATE_FIX)


def check_dtypes(tree, like, name, what, fix):
    """Refuse an array of ``tree`` whose dtype is not that of ``like`` at its key: mixing would change the result's."""
    for k, a in tree.items():
        if a.dtype != like[k].dtype:
            raise ParamsError(f"{name}[{k!r}] is {a.dtype} but {what}[{k!r}] is {like[k].dtype}; {fix}, or cast "
                              f"it with .astype(np.{like[k].dtype})")


def blame(name, rule, slots, k, g, p, state, lr_t, count):
    """Raise the error that explains a NaN or inf in the update of ``k``; called only then."""
    finite.finite_arrays({k: g}, [k], "grads", finite.GRADS_FIX)
    finite.damaged_state(k, state, slots)
    if p is not None:
        finite.finite_arrays({k: p}, [k], "params", finite.PARAMS_FIX)
    # every input is finite, so the arithmetic overflowed: at lr = 1 the update is the bare step direction
    old = tuple(getattr(state, s)[k] for s in slots)
    if kernels.backend().update_one(rule, k, g, p, old, 1.0, count)[2]:
        raise ConfigError(f"lr={float(lr_t):g} (the rate at step {count}) times the {name} step for {k!r} "
                          f"overflows {g.dtype}; pass a smaller lr")
    raise ConfigError(f"the {name} step for {k!r} overflows {g.dtype} even at lr=1, from finite grads "
                      f"(up to {finite.largest(g):.3g}), state and params; scale the inputs or the loss down, "
                      "raise eps or lower weight_decay where the optimizer has them, or use float64 params")
