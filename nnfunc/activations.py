"""Hidden-layer activations: each forward rule beside its derivative.

Every derivative is written in terms of the *output* A = f(Z), never Z, so
the forward pass can overwrite Z with A and keep one array per layer.
That works because each function here is monotonic: relu and leaky_relu
have A > 0 exactly where Z > 0; sigmoid' = A (1 - A); tanh' = 1 - A^2.
"""

from typing import Callable, NamedTuple

import numpy as np

from nnfunc.errors import ConfigError

LEAKY_SLOPE = 0.01


class Activation(NamedTuple):
    """An activation as data: name, forward, backward and whether it has a kink at 0.

    forward(Z) -> A overwrites and returns Z (the caller owns Z).
    backward(dA, A) -> dZ overwrites and returns dA (the caller owns dA).
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    has_kink: bool


def _relu(Z):
    return np.maximum(Z, 0, out=Z)


def _relu_grad(dA, A):
    # d relu(z)/dz taken as 0 at z = 0, the usual subgradient
    return np.multiply(dA, A > 0, out=dA)


def _leaky_relu(Z):
    slope = Z.dtype.type(LEAKY_SLOPE)
    return np.maximum(Z, Z * slope, out=Z)


def _leaky_relu_grad(dA, A):
    slope = dA.dtype.type(LEAKY_SLOPE)
    return np.multiply(dA, np.where(A > 0, dA.dtype.type(1), slope), out=dA)


def _sigmoid(Z):
    # 1/(1+exp(-z)) overflows exp for z < -709; 0.5 + 0.5 tanh(z/2) is the same
    # function and finite for every z.
    half = Z.dtype.type(0.5)
    Z *= half
    np.tanh(Z, out=Z)
    Z *= half
    Z += half
    return Z


def _sigmoid_grad(dA, A):
    dA *= A
    dA *= 1 - A
    return dA


def _tanh(Z):
    return np.tanh(Z, out=Z)


def _tanh_grad(dA, A):
    dA *= 1 - A * A
    return dA


def _linear(Z):
    return Z


def _linear_grad(dA, A):
    return dA


ACTIVATIONS = {
    a.name: a
    for a in (
        Activation("relu", _relu, _relu_grad, True),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_grad, True),
        Activation("sigmoid", _sigmoid, _sigmoid_grad, False),
        Activation("tanh", _tanh, _tanh_grad, False),
        Activation("linear", _linear, _linear_grad, False),
    )
}


def get(name):
    """Return the Activation called ``name``.

    Raises:
        ConfigError: for an unknown name, listing the valid ones.
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None


def parse_spec(text):
    """Turn "relu" or "relu,tanh" (CLI and config.json form) into a name or a list of names."""
    names = [n.strip() for n in text.split(",")]
    return names[0] if len(names) == 1 else names


def resolve(activation, num_hidden):
    """Turn an activation spec into one Activation per hidden layer.

    Args:
        activation: one name for every hidden layer, or a sequence of names,
            one per hidden layer.
        num_hidden: number of hidden layers, L - 1.

    Returns:
        tuple of ``num_hidden`` Activation.

    Raises:
        ConfigError: unknown name, or a sequence of the wrong length.
    """
    if isinstance(activation, str):
        return (get(activation),) * num_hidden
    try:
        names = list(activation)
    except TypeError:
        raise ConfigError(
            f"activation must be a name or a sequence of names, got {activation!r}; "
            f"choose from {', '.join(ACTIVATIONS)}"
        ) from None
    if len(names) != num_hidden:
        raise ConfigError(
            f"got {len(names)} activation name{'s' * (len(names) != 1)} for {num_hidden} hidden "
            f"layer{'s' * (num_hidden != 1)}; "
            f"give one name per hidden layer or a single name for all"
        )
    return tuple(get(n) for n in names)
