"""Params: the plain dict that *is* a network, its key order and its validation.

A network with L weight layers is ``{"W1": (n0, n1), "b1": (n1,), ...,
"WL": (n_{L-1}, nL), "bL": (nL,)}``: batch-first, so a layer computes
``x @ W + b``. Gradients and optimizer state use the same keys.
"""

import numpy as np

from nnfunc.errors import ParamsError

Params = dict[str, np.ndarray]
Grads = dict[str, np.ndarray]


def param_keys(num_layers):
    """Keys in layer order: ["W1", "b1", ..., "WL", "bL"] (never sorted: "W10" < "W2")."""
    return [k for l in range(1, num_layers + 1) for k in (f"W{l}", f"b{l}")]


def num_layers(params):
    """Number of weight layers L of a params dict (unchecked: len(params) // 2)."""
    return len(params) // 2


def layer_sizes(params):
    """Widths (n0, n1, ..., nL) of a params dict, read from its weight shapes."""
    L = num_layers(params)
    return (params["W1"].shape[0],) + tuple(params[f"W{l}"].shape[1] for l in range(1, L + 1))


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
    dtypes = set()
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        for key, value, ndim in ((f"W{l}", W, 2), (f"b{l}", b, 1)):
            if not isinstance(value, np.ndarray) or value.ndim != ndim:
                raise ParamsError(
                    f"params[{key!r}] must be a {ndim}-D numpy array, got "
                    f"{_describe(value)}; convert it with np.asarray"
                )
            if value.dtype.kind != "f":  # kind, not issubdtype: this runs on every public call
                raise ParamsError(
                    f"params[{key!r}] has dtype {value.dtype}; parameters must be floating "
                    "(float32 or float64): use .astype(np.float32)"
                )
            dtypes.add(value.dtype)
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
    if len(dtypes) > 1:
        names = ", ".join(f"{k}: {params[k].dtype}" for k in expected)
        raise ParamsError(
            f"params mix dtypes ({names}); cast them all to one, e.g. "
            "{k: v.astype(np.float32) for k, v in params.items()}"
        )
    return L


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__
