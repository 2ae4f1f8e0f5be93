"""The MLP itself: forward pass, loss, backpropagation, prediction, a plain step.

A network maps x: (m, n0) through hidden layers A_l = f_l(A_{l-1} @ W_l + b_l)
to logits Z_L = A_{L-1} @ W_L + b_L and its outputs: softmax(Z_L) by default,
or another output layer with its loss (``nnfunc.outputs``: logistic,
identity, exp), chosen by ``output=`` in every call. Every
public function validates its arguments once and then calls an unchecked
core (``_forward``, ``_backward``) that the training loop also uses; it then
checks its cheap result (logits, loss) and raises instead of returning NaN.

Invariant (checked by tests/test_model_properties.py): ``backward`` returns
exactly the gradient of ``loss``, L2 term included, for every architecture.
"""

import numpy as np

from nnfunc import activations as _activations
from nnfunc.errors import ConfigError, ParamsError
from nnfunc import checks, finite, kernels
from nnfunc.checks import check_l2, check_x, check_y, finite_x
from nnfunc import outputs as _outputs
from nnfunc.losses import l2_penalty
from nnfunc.checks import validate_params
from nnfunc.params import Grads, Params, layer_sizes, param_keys
from nnfunc.subnormals import flush

_LINEAR = _activations.get("linear")  # the output layer's: its bias pass says whether the logits are finite


def _network(params, activation):
    """Validate params and the activation spec; return (L, activations)."""
    L = validate_params(params)
    return L, _activations.resolve(activation, L - 1)


def _setup(params, x, activation):
    """``_network`` plus the batch's shape and type; return (L, activations, x, given).

    x comes back as an (m, n0) array of the params' dtype, ``given`` as the
    caller passed it. x is not yet scanned for NaN and inf: pass ``given``
    to ``_forward``, which checks the first layer instead.
    """
    L, acts = _network(params, activation)
    return L, acts, check_x(x, params["W1"].shape[0], params["W1"].dtype, scan=False), x


def _forward(params, x, acts, dropout=0.0, rng=None, given=None, check_logits=False):
    """Unchecked forward pass. Returns cache {"A0": x, "A1".., "A{L-1}", "logits"}.

    With ``dropout`` > 0 each hidden unit is zeroed with that probability and
    the survivors scaled by 1 / (1 - dropout) (inverted dropout: nothing
    changes at test time). The cache then also holds the masks "D{l}" and the
    activations before dropout "F{l}", which the derivative needs.

    ``given``: the x a public call was passed, to check x for NaN and inf
    where it is cheapest. A NaN or inf in a row of x makes that whole row of
    ``x @ W1 + b1`` NaN or inf (x * 0 is NaN when x is), so only when that
    (m, n1) result is not finite is x scanned (``checks.finite_x`` raises).
    ``check_logits``: raise as ``finite.finite_output`` does when the logits
    are not finite, told by the pass that adds their bias.
    """
    cache = {"A0": x}
    A = x
    keep = 1.0 - dropout
    passes = kernels.backend()
    for l, act in enumerate(acts, start=1):
        # A @ W is ours, so the bias and the activation overwrite it: in one compiled pass, or two NumPy ones
        Z = A @ params[f"W{l}"]
        if l == 1 and given is not None:
            A, first_finite = passes.bias_activation_finite(Z, params["b1"], act, _activations.LEAKY_SLOPE)
            _check_x_by(first_finite, Z, given, x)
        else:
            A = passes.bias_activation(Z, params[f"b{l}"], act, _activations.LEAKY_SLOPE)
        if dropout:
            D = rng.random(A.shape, dtype=A.dtype) < keep
            D = D * A.dtype.type(1.0 / keep)
            cache[f"F{l}"], cache[f"D{l}"] = A, D
            A = A * D
        cache[f"A{l}"] = A
    L = len(acts) + 1
    logits, logits_finite = passes.bias_activation_finite(A @ params[f"W{L}"], params[f"b{L}"], _LINEAR,
                                                          _activations.LEAKY_SLOPE)
    if L == 1 and given is not None:  # no hidden layer: the logits are the first layer
        _check_x_by(logits_finite, logits, given, x)
    if check_logits and not logits_finite:
        finite.finite_output(logits, "the logits", params, x)
    cache["logits"] = logits
    return cache


def _check_x_by(first_finite, Z, given, x):
    """Scan x (``checks.finite_x`` raises) unless its first layer Z came out finite and has a unit."""
    if not first_finite or Z.shape[1] == 0:  # an empty layer says nothing about x
        finite_x(given, x)


def _backward(params, cache, dZ, acts, l2, need_dx=False, out=None):
    """Unchecked backpropagation of dZ, the loss's gradient at the logits. Returns (grads, dx or None).

    ``out``: None, or a dict of arrays shaped like params that the caller
    owns; the gradients are then written into it (the training loop reuses
    one such dict instead of allocating megabytes per step).
    """
    L = len(acts) + 1
    passes = kernels.backend()
    grads = {f"b{L}": passes.column_sums(dZ, None if out is None else out[f"b{L}"])}
    for l in range(L, 0, -1):
        A_prev = cache[f"A{l - 1}"]
        W = params[f"W{l}"]
        dW = np.matmul(A_prev.T, dZ, out=None if out is None else out[f"W{l}"])
        # the L2 term: scaled, so the frozen tiny weights of dead units make no subnormal (nnfunc.subnormals)
        grads[f"W{l}"] = passes.add_scaled(dW, W, l2) if l2 else dW
        if l > 1:
            dA = dZ @ W.T
            if f"D{l - 1}" in cache:
                dA *= cache[f"D{l - 1}"]
            # dA is ours: the derivative overwrites it in place, and the same pass sums the bias gradient
            A, act = cache.get(f"F{l - 1}", A_prev), acts[l - 2]
            dZ, grads[f"b{l - 1}"] = passes.activation_grad_sums(dA, A, act, _activations.LEAKY_SLOPE,
                                                                 None if out is None else out[f"b{l - 1}"])
    # dZ is now the first layer's
    dx = dZ @ params["W1"].T if need_dx else None
    return {k: grads[k] for k in param_keys(L)}, dx


def _check_dropout(dropout, rng):
    """Validate a dropout rate; return (rate, Generator or None)."""
    dropout = checks.dropout_rate(dropout)
    if not dropout:
        return 0.0, None
    if rng is None:
        raise ConfigError("dropout > 0 needs rng=: pass a numpy Generator or an int seed for the masks")
    return dropout, checks.generator(rng)


def forward(params, x, *, activation="relu", output="softmax", dropout=0.0, rng=None):
    """Run the network on a batch.

    Args:
        params: Params of L layers, one floating dtype.
        x: (m, n0) real; cast to the params' dtype.
        activation: a name for every hidden layer or one name per hidden
            layer: relu, leaky_relu, sigmoid, tanh, linear.
        output: the output layer (``nnfunc.outputs``): softmax, logistic,
            identity or exp.
        dropout: probability in [0, 1) of zeroing each hidden unit (training only).
        rng: Generator for the dropout masks (needed when dropout > 0).

    Returns:
        (outputs, cache): outputs (m, nL) in the params' dtype, the output
        layer's activation of the logits (for softmax, probabilities with
        rows summing to 1); cache a dict holding "A0" (x), the hidden
        activations "A1".."A{L-1}" (m, n_l), "logits" (m, nL), "outputs",
        and for softmax "probs" (the same array).

    Raises:
        InputError, ParamsError, ConfigError: bad x, params, activation or output;
            ParamsError for NaN or inf in params, InputError when x overflows the dtype.
    """
    L, acts, x, given = _setup(params, x, activation)
    name = _outputs.get(output).name
    with finite.overflow_checked_after():
        cache = _forward(params, x, acts, *_check_dropout(dropout, rng), given=given, check_logits=True)
        cache["outputs"] = _outputs.activate(name, cache["logits"])
    if name == "exp":  # the only activation that overflows finite logits
        finite.finite_output(cache["outputs"], "the outputs", params, x)
    if name == "softmax":
        cache["probs"] = cache["outputs"]
    return cache["outputs"], cache


def loss(params, x, y, *, activation="relu", output="softmax", l2=0.0, weights=None, dropout=0.0, rng=None):
    """The output layer's mean loss plus ``0.5 * l2 * sum_l ||W_l||^2``.

    Args:
        params: Params.
        x: (m, n0) real.
        y: the targets ``output`` trains on: for softmax (m,) int class ids
            in [0, nL); else (m, nL) numbers (see ``nnfunc.outputs``).
        activation: see ``forward``.
        output: softmax (cross-entropy), logistic (binary cross-entropy),
            identity (half squared error) or exp (half Poisson deviance).
        l2: L2 strength >= 0 (weights only, not biases).
        weights: None, or (m,) row weights >= 0: the loss is then
            ``sum_i w_i l_i / sum_i w_i`` instead of the mean.
        dropout, rng: see ``forward``; the same seed gives the same masks,
            so a dropout loss is a deterministic function of the params.

    Returns:
        float (>= 0 but for the identity and exp outputs' constant terms, which are >= 0 too).

    Raises:
        As ``forward``; InputError for bad y or weights; ConfigError when l2 makes the penalty overflow.
    """
    return _checked_loss(params, x, y, activation, output, l2, weights, dropout, rng)[-2]


def backward(params, cache, y, *, activation="relu", output="softmax", l2=0.0, weights=None) -> Grads:
    """Gradient of ``loss`` from a cache that ``forward`` returned.

    Args:
        params: the Params the cache came from.
        cache: dict from ``forward(params, x, activation=activation, output=output)``.
        y, weights: the targets and row weights, as for ``loss``.
        activation, output: the same as for the forward pass.
        l2: L2 strength >= 0.

    Returns:
        Grads with the keys, shapes and dtype of params.
    """
    L, acts = _network(params, activation)
    name = _outputs.get(output).name
    made = "probs" if name == "softmax" else "outputs"
    expected = ["A0", *(f"A{l}" for l in range(1, L)), "logits", made]
    missing = [k for k in expected if k not in cache]
    if missing:
        raise ParamsError(f"cache lacks {missing}; pass the cache returned by forward() with the same params, "
                          "activation and output")
    outs = finite.finite_output(cache[made], f"cache[{made!r}]", params, cache["A0"])
    y = _outputs.check_targets(name, y, outs.shape[0], outs.shape[1], outs.dtype)
    w = _outputs.check_weights(weights, outs.shape[0], outs.dtype)
    with finite.overflow_checked_after():
        dZ = _outputs.delta(name, outs, y, w)
        grads, _ = finite.finite_grads(*_backward(params, cache, dZ, acts, check_l2(l2)), params, cache["A0"])
    return grads


def value_and_grad(params, x, y, *, activation="relu", output="softmax", l2=0.0, weights=None, dropout=0.0,
                   rng=None):
    """Loss and its gradient in one forward and one backward pass (arguments as ``loss``).

    Returns:
        (loss, grads): float, and Grads with the keys, shapes and dtype of params.
    """
    value, grads, _ = _value_grads_dx(params, x, y, activation, output, l2, weights, dropout, rng, need_dx=False)
    return value, grads


def input_grad(params, x, y, *, activation="relu", output="softmax", l2=0.0, weights=None, dropout=0.0, rng=None):
    """Gradient of ``loss`` with respect to the input batch (arguments as ``loss``).

    Returns:
        dx: (m, n0) in the params' dtype.
    """
    _, _, dx = _value_grads_dx(params, x, y, activation, output, l2, weights, dropout, rng, need_dx=True)
    return dx


def _checked_loss(params, x, y, activation, output, l2, weights, dropout, rng):
    """Validate a batch with targets once; return (acts, dZ maker, cache, loss), the loss checked finite.

    A finite loss means finite outputs, so the backward pass needs no check.
    """
    L, acts, x, given = _setup(params, x, activation)
    name = _outputs.get(output).name
    y = _outputs.check_targets(name, y, x.shape[0], params[f"W{L}"].shape[1], x.dtype)
    w = _outputs.check_weights(weights, x.shape[0], x.dtype)
    l2 = check_l2(l2)
    with finite.overflow_checked_after():
        cache = _forward(params, x, acts, *_check_dropout(dropout, rng), given=given)
        value, outs = _outputs.batch_loss(name, cache["logits"], y, w)
        penalty = finite.finite_penalty(l2_penalty(params, L, l2), l2, params)
    value = finite.finite_output(value, "the loss", params, x) + penalty
    return acts, l2, lambda: _outputs.delta(name, outs, y, w), cache, value, outs


def _value_grads_dx(params, x, y, activation, output, l2, weights, dropout, rng, need_dx):
    acts, l2, make_delta, cache, value, _ = _checked_loss(params, x, y, activation, output, l2, weights, dropout,
                                                          rng)
    with finite.overflow_checked_after():
        grads, dx = finite.finite_grads(*_backward(params, cache, make_delta(), acts, l2, need_dx=need_dx), params,
                                        cache["A0"])
    return value, grads, dx


def predict(params, x, *, activation="relu", output="softmax"):
    """What the network predicts for each row.

    Returns:
        softmax: (m,) int64 class ids (the most probable class); logistic:
        (m, nL) int64 labels 0/1 (probability > 0.5); identity and exp:
        (m, nL) the outputs, in the params' dtype.

    Raises:
        As ``forward``: an argmax over NaN logits would be class 0, not a prediction.
    """
    L, acts, x, given = _setup(params, x, activation)
    name = _outputs.get(output).name
    with finite.overflow_checked_after():
        logits = _forward(params, x, acts, given=given, check_logits=True)["logits"]
        predicted = _outputs.predict(name, logits)
    if name == "exp":
        finite.finite_output(predicted, "the outputs", params, x)
    return predicted


def kink_pattern(params, x, *, activation="relu", dropout=0.0, rng=None):
    """Signs of the hidden pre-activations that sit at a kink (relu, leaky_relu).

    A parameter perturbation that changes this pattern moved some unit across
    its kink, where a finite difference does not measure the derivative.
    ``dropout`` and ``rng`` (see ``forward``) must be those of the loss being
    checked: the masks decide what the later layers see.

    Returns:
        1-D bool array: ``Z > 0`` for every kinked hidden unit of every row,
        layers concatenated; empty when no hidden activation has a kink.
    """
    L, acts, x, given = _setup(params, x, activation)
    cache = _forward(params, x, acts, *_check_dropout(dropout, rng), given=given)
    # for relu and leaky relu, A > 0 exactly where Z > 0; a unit that dropout
    # zeroed reads False whatever its Z, and its kink cannot reach the loss
    parts = [cache[f"A{l}"].ravel() > 0 for l, act in enumerate(acts, start=1) if act.has_kink]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def update(params, grads, *, lr) -> Params:
    """One plain gradient-descent step: a new dict ``{k: params[k] - lr * grads[k]}``.

    The result holds no subnormal (``nnfunc.subnormals``).

    Raises:
        ConfigError: lr not a finite number >= 0, or so large that lr * grads overflows.
        ParamsError: grads not keyed, shaped and typed like params (a float32
            gradient for float64 params is refused, not cast); NaN or inf in
            params or grads.
    """
    L = validate_params(params)
    lr = checks.number(lr, "lr", low=0)
    keys = param_keys(L)
    if set(grads) != set(keys):
        raise ParamsError(f"grads keys {sorted(grads)} do not match params keys {keys}")
    for k in keys:
        if np.shape(grads[k]) != params[k].shape:
            raise ParamsError(f"grads[{k!r}] has shape {np.shape(grads[k])}, params[{k!r}] has {params[k].shape}; "
                              "pass the gradient of these params, e.g. from value_and_grad")
        # a float32 gradient would otherwise make a float64 step silently, or a float64 one promote float32 params
        if np.asarray(grads[k]).dtype != params[k].dtype:
            raise ParamsError(f"grads[{k!r}] is {np.asarray(grads[k]).dtype} but params[{k!r}] is {params[k].dtype}; "
                              "pass the gradient of these params (value_and_grad keeps their dtype), or cast it "
                              f"with .astype(params[{k!r}].dtype)")
    with finite.overflow_checked_after():
        step = params["W1"].dtype.type(lr)
        return finite.finite_step({k: flush(params[k] - step * grads[k]) for k in keys}, params, grads, lr)


__all__ = [
    "forward",
    "loss",
    "backward",
    "value_and_grad",
    "input_grad",
    "predict",
    "kink_pattern",
    "update",
    "layer_sizes",
]
