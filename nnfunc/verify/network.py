"""Check a network's backpropagation, parameters and input, in one call.

``check_network`` wraps the generic ``nnfunc.verify.checker`` around the model:
it checks every params tensor and the input batch ``x`` (under the key
``"x"``) against central differences of ``loss``, in float64, and skips
coordinates whose step moves a ReLU-like unit across its kink (detected with
``kink_pattern``).
"""

import numpy as np

from nnfunc import checks
from nnfunc.errors import ConfigError, InputError
from nnfunc.verify.checker import DEFAULT_MAX_FULL, DEFAULT_SAMPLES_PER_TENSOR, gradcheck, raise_unless_ok
from nnfunc.model import input_grad, kink_pattern, loss, value_and_grad
from nnfunc.checks import validate_params
from nnfunc.params import param_keys

INPUT_KEY = "x"


def check_network(params, x, y, *, activation="relu", output="softmax", l2=0.0, weights=None, dropout=0.0,
                  dropout_seed=0,
                  mode="auto", eps=None, rtol=None, atol=None, rng=0,
                  samples_per_tensor=DEFAULT_SAMPLES_PER_TENSOR, max_full=DEFAULT_MAX_FULL):
    """Check ``value_and_grad`` and ``input_grad`` against numerical derivatives.

    The checked function is ``loss(params, x, y, activation=..., output=...,
    l2=..., weights=..., dropout=..., rng=dropout_seed)`` of the combined dict ``{**params, "x":
    x}``; its claimed gradient is ``{**value_and_grad(...)[1], "x":
    input_grad(...)}``, both computed on float64 copies (the caller's arrays
    are never written). With dropout, every evaluation draws its masks from
    ``dropout_seed`` afresh, so the checked loss is one fixed function and
    its gradient, mask scaling included, can be measured.

    Args:
        params: Params (float32 or float64; checked in float64).
        x: (m, n0) real, the input batch.
        y: the targets of ``output``: (m,) int class ids for softmax, else
            (m, nL) numbers (see ``nnfunc.outputs``).
        activation: one name for every hidden layer, or one per hidden layer.
        output: the output layer and its loss: softmax, logistic, identity or exp.
        l2: L2 strength >= 0.
        weights: None or (m,) row weights >= 0 (see ``nnfunc.loss``).
        dropout: probability in [0, 1) of zeroing each hidden unit.
        dropout_seed: int seed of the dropout masks (used when dropout > 0).
        mode, eps, rtol, atol, rng, samples_per_tensor, max_full: as for
            ``nnfunc.gradcheck`` (``max_full`` counts params and x).

    Returns:
        GradcheckReport with one row per params tensor (in layer order) and
        a last row ``"x"``.

    Raises:
        ParamsError, InputError, ConfigError: bad params, data or settings.
    """
    L = validate_params(params)
    keys = param_keys(L)
    work = {k: np.array(params[k], dtype=np.float64) for k in keys}
    x = np.array(x, dtype=np.float64) if _is_real(x) else x
    if isinstance(dropout_seed, np.random.Generator):
        raise ConfigError(f"dropout_seed must be an int seed >= 0, got {dropout_seed!r}: a Generator "
                          "would draw new masks at every evaluation, so pass e.g. dropout_seed=0")
    dropout_seed = checks.seed(dropout_seed, "dropout_seed")
    model = dict(activation=activation, dropout=dropout, rng=dropout_seed)
    scored = dict(model, output=output, l2=l2, weights=weights)
    _, grads = value_and_grad(work, x, y, **scored)
    combined_grads = {**grads, INPUT_KEY: input_grad(work, x, y, **scored)}
    combined = {**work, INPUT_KEY: x}

    def combined_loss(point):
        return loss({k: point[k] for k in keys}, point[INPUT_KEY], y, **scored)

    def combined_kinks(point):
        return kink_pattern({k: point[k] for k in keys}, point[INPUT_KEY], **model)

    # with no kinked activation the pattern is always empty: skip computing it
    has_kinks = combined_kinks(combined).size > 0
    return gradcheck(combined_loss, combined, combined_grads, mode=mode, eps=eps, rtol=rtol,
                     atol=atol, rng=rng, samples_per_tensor=samples_per_tensor,
                     max_full=max_full, kink_fn=combined_kinks if has_kinks else None)


def assert_network_gradients(params, x, y, **options):
    """Run ``check_network`` and raise when it fails.

    Args:
        params, x, y, **options: as for ``check_network``.

    Returns:
        The GradcheckReport, when ``ok``.

    Raises:
        GradientMismatchError: the check failed; the message is the report.
        (And everything ``check_network`` raises.)
    """
    return raise_unless_ok(check_network(params, x, y, **options), "the network's analytic and numerical gradients")


def _is_real(x):
    """Whether x converts to a real array (else the model's check_x explains)."""
    try:
        array = np.asarray(x)
    except (TypeError, ValueError):
        raise InputError(f"x must be an array of numbers, got {type(x).__name__}") from None
    return np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)
