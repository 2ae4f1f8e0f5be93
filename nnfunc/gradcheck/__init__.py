"""The gradient checker: analytic gradients against central differences.

Takes any loss function over a dict of arrays; imports no model code. See
``gradcheck`` for the criterion and the modes, and ``nnfunc.netcheck`` for
checking a network (params and input) in one call.
"""

from nnfunc.gradcheck.core import (
    DEFAULT_ATOL,
    DEFAULT_EPS,
    DEFAULT_MAX_FULL,
    DEFAULT_RTOL,
    DEFAULT_SAMPLES_PER_TENSOR,
    MODES,
    assert_gradients,
    gradcheck,
)
from nnfunc.gradcheck.probes import relative_error
from nnfunc.gradcheck.report import GradcheckReport, TensorRow

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_EPS",
    "DEFAULT_MAX_FULL",
    "DEFAULT_RTOL",
    "DEFAULT_SAMPLES_PER_TENSOR",
    "MODES",
    "GradcheckReport",
    "TensorRow",
    "assert_gradients",
    "gradcheck",
    "relative_error",
]
