"""Each activation and its derivative against the textbook formulas, and the
text and sequence forms of an activation spec."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc import activations
from nnfunc.errors import ConfigError

FORMULAS = {
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "linear": lambda z: z,
}

SLOPES = {  # textbook derivatives, written in z and stable in both tails
    "relu": lambda z: (z > 0) * 1.0,
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "sigmoid": lambda z: np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))) ** 2,
    "tanh": lambda z: 1 / np.cosh(z) ** 2,
    "linear": lambda z: np.ones_like(z),
}

values = st.lists(st.floats(-30, 30, allow_nan=False), min_size=1, max_size=20)


@pytest.mark.parametrize("name", FORMULAS)
@given(z=values)
def test_forward_is_the_formula_and_backward_its_derivative(name, z):
    act = nf.ACTIVATIONS[name]
    z = np.array([z], dtype=np.float64)
    a = act.forward(z.copy())
    # sigmoid is 0.5 + 0.5 tanh(z/2): exact to 1e-16 absolute, not relative, in its far left tail
    np.testing.assert_allclose(a, FORMULAS[name](z), rtol=1e-12, atol=1e-15)
    upstream = np.random.default_rng(len(z[0])).standard_normal(z.shape)
    dz = act.backward(upstream.copy(), a)
    np.testing.assert_allclose(dz, upstream * SLOPES[name](z), rtol=1e-7, atol=1e-15)


@pytest.mark.parametrize("name", FORMULAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_work_in_place_and_keep_dtype(name, dtype):
    act = nf.ACTIVATIONS[name]
    z = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    a = act.forward(z)
    assert a is z and a.dtype == dtype  # the caller owns Z, so it is overwritten
    d = np.ones_like(a)
    dz = act.backward(d, a)
    assert dz is d and dz.dtype == dtype


def test_derivatives_at_and_around_the_kink():
    z = np.array([[-2.0, -1e-9, 0.0, 1e-9, 2.0]])
    for name, below, above in (("relu", 0.0, 1.0), ("leaky_relu", 0.01, 1.0)):
        act = nf.ACTIVATIONS[name]
        dz = act.backward(np.ones_like(z), act.forward(z.copy()))
        # z = 0 takes the left slope, the usual subgradient
        np.testing.assert_array_equal(dz, [[below, below, below, above, above]])
    assert [a.has_kink for a in nf.ACTIVATIONS.values()] == [True, True, False, False, False]


def test_known_values():
    # Derivatives at z = 0, 2, -2, worked out by hand in z (not in the output A
    # the library uses) and evaluated to 40 digits with mpmath:
    #   sigmoid'(0) = 1/4;  sigmoid'(+-2) = e^2 / (1 + e^2)^2 = 0.10499358540350651734...
    #   tanh'(0) = 1;       tanh'(+-2) = sech(2)^2 = 4 / (e^2 + e^-2)^2 = 0.07065082485316446568...
    z = np.array([[0.0, 2.0, -2.0]])
    np.testing.assert_allclose(nf.ACTIVATIONS["sigmoid"].forward(z.copy()), [[0.5, 0.8807970779778823, 0.11920292202211755]])
    a = nf.ACTIVATIONS["sigmoid"].forward(z.copy())
    np.testing.assert_allclose(nf.ACTIVATIONS["sigmoid"].backward(np.ones_like(a), a),
                               [[0.25, 0.10499358540350652, 0.10499358540350652]], rtol=1e-14)
    t = nf.ACTIVATIONS["tanh"].forward(z.copy())
    # upstream 2: the derivative multiplies it
    np.testing.assert_allclose(nf.ACTIVATIONS["tanh"].backward(np.full_like(t, 2.0), t),
                               [[2.0, 2 * 0.07065082485316447, 2 * 0.07065082485316447]], rtol=1e-14)
    np.testing.assert_array_equal(nf.ACTIVATIONS["linear"].backward(np.full_like(z, 3.0), z), np.full_like(z, 3.0))


@pytest.mark.parametrize("text, spec", [
    ("relu", "relu"),
    (" tanh ", "tanh"),
    ("relu,tanh", ["relu", "tanh"]),
    ("relu, sigmoid ,linear", ["relu", "sigmoid", "linear"]),
    ("relu,relu", ["relu", "relu"]),
])
def test_parse_spec_turns_text_into_a_name_or_a_list(text, spec):
    assert activations.parse_spec(text) == spec


def test_parse_spec_output_resolves_to_the_right_layers():
    acts = activations.resolve(activations.parse_spec("relu,tanh,sigmoid"), 3)
    assert [a.name for a in acts] == ["relu", "tanh", "sigmoid"]
    assert [a.name for a in activations.resolve(activations.parse_spec("tanh"), 2)] == ["tanh", "tanh"]
    with pytest.raises(ConfigError, match="unknown activation ''"):
        activations.resolve(activations.parse_spec("relu,"), 2)


def test_resolve_and_get():
    assert activations.resolve("relu", 0) == ()
    assert activations.resolve(("tanh", "relu"), 2) == (nf.ACTIVATIONS["tanh"], nf.ACTIVATIONS["relu"])
    assert activations.get("sigmoid") is nf.ACTIVATIONS["sigmoid"]
    for bad in ("ReLU", None, 3):
        with pytest.raises(ConfigError, match="choose one of relu, leaky_relu, sigmoid, tanh, linear"):
            activations.get(bad)
    with pytest.raises(ConfigError, match="a name or a sequence of names"):
        activations.resolve(3, 1)
    with pytest.raises(ConfigError, match="got 1 activation name for 2 hidden layers"):
        activations.resolve(["relu"], 2)
