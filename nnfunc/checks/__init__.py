"""Argument validation, one home: settings, data, and the dicts of arrays (params, grads, optimizer state).

Public functions call these once per call at the edge, so a wrong shape, a
NaN or a bool where a count belongs fails with a message that names the
argument and the fix instead of deep inside a matmul; the training loop's
inner step never calls them. ``values`` checks settings and scalars,
``inputs`` the data x and y, ``arrays`` the dicts of arrays; import the
functions from here (``checks.number``, ``checks.validate_params``).

Problems that show only in a result (a NaN, an overflow) are explained by
``nnfunc.finite``; the memory check is ``nnfunc.memory``'s.
"""

from nnfunc.checks.arrays import (STATE_FIX, check_float_params, check_grads, check_state, float64_copies,
                                  same_layout, validate_params)
from nnfunc.checks.inputs import check_examples, check_x, check_y, finite_x
from nnfunc.checks.values import check_l2, dropout_rate, generator, integer, is_finite, is_real, number, seed, sizes

__all__ = [
    "STATE_FIX", "check_examples", "check_float_params", "check_grads", "check_l2", "check_state", "check_x",
    "check_y", "dropout_rate", "finite_x", "float64_copies", "generator", "integer", "is_finite", "is_real",
    "number", "same_layout", "seed", "sizes", "validate_params",
]
