"""Params: the plain dict that *is* a network, its key order and its shapes.

A network with L weight layers is ``{"W1": (n0, n1), "b1": (n1,), ...,
"WL": (n_{L-1}, nL), "bL": (nL,)}``: batch-first, so a layer computes
``x @ W + b``. Gradients and optimizer state use the same keys. Checking
that a dict is such a network is ``nnfunc.checks.validate_params``'s job.
"""

import numpy as np

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


def __getattr__(name):
    # validate_params moved to nnfunc.checks (argument checks, one home); the old import path still works
    if name == "validate_params":
        from nnfunc.checks import validate_params

        return validate_params
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
