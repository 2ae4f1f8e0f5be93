"""Check the dicts of arrays: a network's params, an optimizer's params, grads and state, gradcheck's.

Keys, types, shapes and dtypes only, so the checks on every public call cost
the same for a 10-unit and a 10-million-unit network; only gradcheck's
``float64_copies``, which copies anyway, also looks at the numbers.
"""

import numpy as np

from nnfunc.errors import ParamsError, shown
from nnfunc.params import param_keys

# what to do about an optimizer state that opt.init could not have made
STATE_FIX = "pass what opt.init(params) or the last opt.update returned"


# layouts already found valid: {signature: L}. What validate_params checks
# (keys, array types, shapes, dtypes) is all in the signature, which is read
# afresh from the dict on every call, so a mutated dict cannot pass as the old one.
_VALID_LAYOUTS = {}
_MAX_LAYOUTS = 256


def _layout(params):
    """A params dict's signature: its type, each key with its value's type, shape and dtype; None if unhashable."""
    try:
        signature = (type(params), *[(k, type(v), v.shape, v.dtype) for k, v in params.items()])
        hash(signature)
    except (AttributeError, TypeError):  # not a dict, a value with no shape or dtype, an unhashable shape
        return None
    return signature


def validate_params(params):
    """Check that ``params`` is a well-formed network; return its number of layers.

    Args:
        params: dict with exactly the keys W1, b1, ..., WL, bL; each W{l} a 2-D
            and each b{l} a 1-D floating ndarray, all of one dtype, with
            W{l}: (n_{l-1}, n_l) and b{l}: (n_l,).

    Returns:
        L, the number of weight layers.

    Raises:
        ParamsError: naming the missing/extra key, the bad shape or the mixed dtypes.
    """
    layout = _layout(params)
    L = _VALID_LAYOUTS.get(layout)
    if L is None:
        L = _validate(params)
        if layout is not None and len(_VALID_LAYOUTS) < _MAX_LAYOUTS:
            _VALID_LAYOUTS[layout] = L
    return L


def _validate(params):
    """``validate_params`` in full: every check, every time."""
    if not isinstance(params, dict) or not params:
        raise ParamsError(
            f"params must be a non-empty dict like {{'W1': ..., 'b1': ...}}, got {type(params).__name__}; "
            "build one with nnfunc.init(sizes, rng)"
        )
    L = sum(1 for k in params if isinstance(k, str) and k.startswith("W"))
    expected = param_keys(L)
    missing = [k for k in expected if k not in params]
    extra = [k for k in params if k not in expected]
    if L == 0 or missing or extra:
        raise ParamsError(
            f"params keys must be {expected or ['W1', 'b1']}; missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}; layers are numbered from 1 with no gaps"
        )
    for l in range(1, L + 1):
        _check_layer(params, l)
    if len({params[k].dtype for k in expected}) > 1:
        names = ", ".join(f"{k}: {params[k].dtype}" for k in expected)
        raise ParamsError(
            f"params mix dtypes ({names}); cast them all to one, e.g. "
            "{k: v.astype(np.float32) for k, v in params.items()}"
        )
    return L


def _check_layer(params, l):
    """Refuse layer ``l`` unless W{l} is 2-D, b{l} 1-D, both floating, and their shapes chain."""
    W, b = params[f"W{l}"], params[f"b{l}"]
    for key, value, ndim in ((f"W{l}", W, 2), (f"b{l}", b, 1)):
        if not isinstance(value, np.ndarray) or value.ndim != ndim:
            raise ParamsError(
                f"params[{key!r}] must be a {ndim}-D numpy array, got "
                f"{_shape_or_type(value)}; convert it with np.asarray"
            )
        if value.dtype.kind != "f":  # kind, not issubdtype: this runs on every public call
            raise ParamsError(
                f"params[{key!r}] has dtype {value.dtype}; parameters must be floating "
                "(float32 or float64): use .astype(np.float32)"
            )
    if b.shape[0] != W.shape[1]:
        raise ParamsError(
            f"b{l} has shape {b.shape} but W{l} has shape {W.shape}: b{l} must be "
            f"({W.shape[1]},), one bias per output unit of layer {l}"
        )
    if l > 1 and W.shape[0] != params[f"W{l - 1}"].shape[1]:
        raise ParamsError(
            f"W{l} has shape {W.shape} but W{l - 1} has shape {params[f'W{l - 1}'].shape}: "
            f"W{l} must have {params[f'W{l - 1}'].shape[1]} rows, one per unit of layer {l - 1}"
        )


def _shape_or_type(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__


def check_float_params(params):
    """Refuse params an optimizer cannot update: not a non-empty dict of float arrays (any keys, any shapes).

    Unlike ``validate_params`` this asks for no network layout: an optimizer
    updates any dict of float arrays.
    """
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


def float64_copies(tree, what, *, finite):
    """Validate a non-empty dict of real arrays and return float64 copies of them (gradcheck's params, grads).

    ``what`` names the dict in messages; ``finite`` also refuses NaN, inf and a dict holding no numbers.
    """
    if not isinstance(tree, dict) or not tree:
        raise ParamsError(f"{what} must be a non-empty dict of arrays, got {type(tree).__name__}; "
                          "pass e.g. {'W1': W1, 'b1': b1}")
    copies = {}
    for key, value in tree.items():
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ParamsError(f"{what}[{key!r}] has dtype {array.dtype}; pass real numbers "
                              "(a float or int array)")
        copies[key] = np.array(array, dtype=np.float64)  # always a copy, ours to perturb
        if finite and not np.all(np.isfinite(copies[key])):
            raise ParamsError(f"{what}[{key!r}] holds NaN or inf; gradients can only be "
                              "checked at finite params")
    if finite and sum(v.size for v in copies.values()) == 0:
        raise ParamsError(f"{what} hold no numbers (every array is empty); pass non-empty arrays")
    return copies


def same_layout(params, grads):
    """Refuse grads whose keys or shapes differ from the params' (gradcheck's wording)."""
    missing = [k for k in params if k not in grads]
    extra = [k for k in grads if k not in params]
    if missing or extra:
        raise ParamsError(f"grads keys do not match params: missing {missing}, extra {extra}; "
                          "pass one gradient per params key, under the same key")
    for key in params:
        if grads[key].shape != params[key].shape:
            raise ParamsError(f"grads[{key!r}] has shape {grads[key].shape} but params[{key!r}] "
                              f"has shape {params[key].shape}; a gradient has its tensor's shape")


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return _a(type(value).__name__)


def _a(kind):
    return f"{'an' if kind[0] in 'AEIOUaeiou' else 'a'} {kind}"
