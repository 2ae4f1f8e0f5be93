"""What the optimizers refuse: params, grads and states of the wrong kind, and the cause of a NaN update.

Type, key and shape checks only (no pass over the numbers), run by the pure
``update`` and ``apply_updates`` before any arithmetic; ``damaged_state``
and ``blame_sum`` look at the numbers only after a result came out NaN or inf.
"""

import numpy as np

from nnfunc import finite
from nnfunc.errors import ConfigError, ParamsError, shown


def blame_sum(key, params, updates):
    """Raise the error that explains a NaN or inf in ``params[key] + updates[key]``."""
    finite.finite_arrays(updates, [key], "updates", "applying them would fill the params with NaN: do not apply "
                         "these updates; make them with opt.update, which names the cause of a NaN")
    finite.finite_arrays(params, [key], "params", finite.PARAMS_FIX)
    dtype = params[key].dtype
    raise ConfigError(f"params[{key!r}] + updates[{key!r}] overflows {dtype} (params up to "
                      f"{finite.largest(params[key]):.3g}, updates up to {finite.largest(updates[key]):.3g}); "
                      "pass a smaller lr")


def check_params(params):
    if not isinstance(params, dict) or not params:
        raise ParamsError(f"params must be a non-empty dict of arrays, got {type(params).__name__}; "
                          "build one with nnfunc.init(sizes, rng)")
    for k, p in params.items():
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":  # kind, not issubdtype: 10x cheaper per key
            raise ParamsError(f"params[{k!r}] must be a float ndarray, got {getattr(p, 'dtype', type(p))}: "
                              "convert it with np.asarray(p, dtype=np.float32)")


def check_grads(grads, like, what, name="grads", fix=None):
    """Refuse grads not keyed and shaped like ``like`` (a state slot or the params), naming the key.

    ``like`` None checks only that grads is a dict of float arrays; ``name``
    is how the message names grads; ``fix`` replaces the advice for other
    keys or shapes. Dict lookups and shapes only: no pass over the numbers.
    """
    if not isinstance(grads, dict):
        raise ParamsError(f"{name} must be a dict of arrays keyed like params, got {type(grads).__name__}; "
                          "pass e.g. the grads of nnfunc.value_and_grad or the updates of opt.update")
    if like is not None:
        missing, extra = [k for k in like if k not in grads], [k for k in grads if k not in like]
        if missing or extra:
            raise ParamsError(f"{name} keys do not match {what}: missing {missing}, unexpected {extra}; "
                              f"{fix or 'pass one array per key of the params given to opt.init'}")
    for k, g in grads.items():
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            raise ParamsError(f"{name}[{k!r}] is {_describe(g)}; pass a float array shaped like params[{k!r}]")
        if like is not None and g.shape != like[k].shape:
            raise ParamsError(f"{name}[{k!r}] has shape {g.shape} but {what}[{k!r}] has {like[k].shape}; "
                              f"{fix or f'pass {name} shaped like the params given to opt.init'}")


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return _a(type(value).__name__)


def _a(kind):
    return f"{'an' if kind[0] in 'AEIOUaeiou' else 'a'} {kind}"


STATE_FIX = "pass what opt.init(params) or the last opt.update returned"


def check_state(state, state_type, slots):
    """Refuse a state this optimizer's ``init`` could not have made: another type, a bad count, slots not dicts.

    Types only (``update`` checks the slots' keys and shapes): no pass over the numbers.
    """
    if not isinstance(state, state_type):
        got = "None" if state is None else _describe(state)
        raise ParamsError(f"state must be what opt.init(params) returned for this optimizer, "
                          f"{_a(state_type.__name__)}; got {got}; {STATE_FIX}")
    count = np.asarray(state.count)
    if count.shape != () or count.dtype.kind not in "iu" or count < 0:
        raise ParamsError(f"state.count must be a 0-d integer array >= 0 (the updates done so far), got "
                          f"{shown(state.count)}; {STATE_FIX}")
    for s in slots:
        slot = getattr(state, s)
        if not isinstance(slot, dict):
            raise ParamsError(f"state.{s} must be a dict of arrays keyed like params, got {type(slot).__name__}; "
                              f"{STATE_FIX}")
        check_grads(slot, None, "", name=f"state.{s}")  # only the types: update checks keys and shapes


def damaged_state(key, state, slots):
    """Raise ParamsError if a slot of ``state`` holds NaN or inf at ``key`` (or, for nu, a negative value)."""
    for s in slots:
        a = getattr(state, s)[key]
        # nu is a moving mean of squares: a negative value makes sqrt(nu) NaN
        if not np.isfinite(a).all() or (s == "nu" and (a < 0).any()):
            bad = "NaN, inf or negative values" if s == "nu" else "NaN or inf"
            raise ParamsError(f"state.{s}[{key!r}] holds {bad}: the optimizer state is damaged; start again "
                              "from opt.init(params), or from an undamaged checkpoint")
