"""Every bad input to the model API raises a ValueError subclass naming the problem and the fix."""

import numpy as np
import pytest

import nnfunc as nf
from nnfunc.errors import ConfigError, InputError, ParamsError
from nnfunc.optim import optimizers


@pytest.fixture
def net():
    params = nf.init((4, 3, 2), 0)
    x = np.zeros((5, 4), dtype=np.float32)
    y = np.array([0, 1, 0, 1, 1])
    return params, x, y


def test_x_width_not_matching_w1(net):
    params, _, y = net
    with pytest.raises(InputError, match=r"x has 7 features per row but W1 expects 4.*\(m, 4\)"):
        nf.loss(params, np.zeros((5, 7)), y)


def test_x_one_dimensional_gets_reshape_hint(net):
    params, _, _ = net
    with pytest.raises(InputError, match=r"x must be 2-D.*reshape\(1, -1\)"):
        nf.forward(params, np.zeros(4))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x(net, bad):
    params, x, y = net
    x = x.copy()
    x[2, 3] = bad
    for call in (lambda: nf.forward(params, x), lambda: nf.value_and_grad(params, x, y), lambda: nf.predict(params, x)):
        with pytest.raises(InputError, match=r"NaN or inf \(first at row 2, column 3\).*clean"):
            call()


def test_y_out_of_range(net):
    params, x, _ = net
    with pytest.raises(InputError, match=r"class id 2, outside \[0, 2\).*labels must be 0..1"):
        nf.loss(params, x, np.array([0, 1, 2, 0, 0]))
    with pytest.raises(InputError, match=r"class id -1"):
        nf.loss(params, x, np.array([0, 1, -1, 0, 0]))


def test_y_not_integers(net):
    params, x, _ = net
    with pytest.raises(InputError, match=r"integer class ids, got dtype float64.*astype"):
        nf.value_and_grad(params, x, np.array([0.0, 1.0, 0.0, 1.0, 1.0]))


def test_y_one_hot_is_recognised(net):
    params, x, y = net
    with pytest.raises(InputError, match=r"looks one-hot.*argmax"):
        nf.loss(params, x, np.eye(2)[y])


def test_y_length_not_matching_x(net):
    params, x, _ = net
    with pytest.raises(InputError, match=r"y has 3 labels but x has 5 rows"):
        nf.loss(params, x, np.array([0, 1, 0]))


def test_unknown_activation_lists_valid_names(net):
    params, x, _ = net
    with pytest.raises(ConfigError, match=r"unknown activation 'relu6'.*relu, leaky_relu, sigmoid, tanh, linear"):
        nf.forward(params, x, activation="relu6")


def test_activation_sequence_of_wrong_length(net):
    params, x, _ = net
    with pytest.raises(ConfigError, match=r"2 activation names for 1 hidden layer;"):
        nf.forward(params, x, activation=["relu", "tanh"])


def test_unknown_init_scheme_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown init scheme 'kaiming'.*he, he_normal, he_uniform, xavier"):
        nf.init((3, 2), 0, scheme="kaiming")


@pytest.mark.parametrize("sizes, message", [
    ((784,), r"has 1 entry; give at least an input and an output width"),
    ((), r"0 entries"),
    ((784, 0, 10), r"int >= 1, got 0"),
    ((784, -3, 10), r"int >= 1, got -3"),
    ((784, 2.5, 10), r"int >= 1, got 2.5"),
])
def test_bad_sizes(sizes, message):
    with pytest.raises(ConfigError, match=message):
        nf.init(sizes, 0)


def test_bad_rng():
    with pytest.raises(ConfigError, match=r"numpy Generator or an int seed"):
        nf.init((3, 2), rng=None)


def test_params_missing_key(net):
    params, x, _ = net
    broken = {k: v for k, v in params.items() if k != "b2"}
    with pytest.raises(ParamsError, match=r"missing \['b2'\]"):
        nf.forward(broken, x)


def test_params_gap_in_layer_numbers(net):
    params, x, _ = net
    broken = {"W1": params["W1"], "b1": params["b1"], "W3": params["W2"], "b3": params["b2"]}
    with pytest.raises(ParamsError, match=r"numbered from 1 with no gaps"):
        nf.forward(broken, x)


def test_params_inconsistent_shapes(net):
    params, x, _ = net
    with pytest.raises(ParamsError, match=r"W2 has shape \(5, 2\) but W1 has shape \(4, 3\): W2 must have 3 rows"):
        nf.forward({**params, "W2": np.zeros((5, 2), np.float32)}, x)
    with pytest.raises(ParamsError, match=r"b1 has shape \(4,\).*must be \(3,\)"):
        nf.forward({**params, "b1": np.zeros(4, np.float32)}, x)


def test_params_mixed_dtypes(net):
    params, x, _ = net
    with pytest.raises(ParamsError, match=r"mix dtypes.*W2: float64.*astype"):
        nf.forward({**params, "W2": params["W2"].astype(np.float64)}, x)


def test_params_integer_dtype(net):
    params, x, _ = net
    with pytest.raises(ParamsError, match=r"params\['W1'\] has dtype int64; parameters must be floating"):
        nf.forward({**params, "W1": np.zeros((4, 3), np.int64)}, x)


def test_params_not_a_dict():
    with pytest.raises(ParamsError, match=r"must be a non-empty dict.*nnfunc.init"):
        nf.forward([1, 2], np.zeros((1, 2)))


def test_negative_l2(net):
    params, x, y = net
    with pytest.raises(ConfigError, match=r"l2 must be a finite number >= 0, got -0.1"):
        nf.loss(params, x, y, l2=-0.1)


def test_backward_with_a_foreign_cache(net):
    params, x, y = net
    with pytest.raises(ParamsError, match=r"cache lacks.*forward\(\)"):
        nf.backward(params, {"A0": x}, y)


def test_update_with_mismatched_grads(net):
    params, _, _ = net
    with pytest.raises(ParamsError, match=r"grads keys"):
        nf.update(params, {"W1": params["W1"]}, lr=0.1)


def test_errors_are_value_errors():
    for err in (InputError, ConfigError, ParamsError, nf.DataError, nf.CheckpointError):
        assert issubclass(err, ValueError)


def _gradcheck_with(params, grads=None):
    from nnfunc.verify.checker import gradcheck

    return lambda: gradcheck(lambda p: 0.0, params, grads if grads is not None else params)


def _optimizer_init(params):
    return lambda: nf.adam().init(params)


MESSAGES = [
    (lambda: nf.activations.resolve(3, 1), ConfigError,
     "activation must be a name or a sequence of names, got 3; choose from relu, leaky_relu, sigmoid, tanh, linear"),
    (_gradcheck_with([np.ones(2)]), ParamsError,
     "params must be a non-empty dict of arrays, got list; pass e.g. {'W1': W1, 'b1': b1}"),
    (_gradcheck_with({"W": np.ones(2, complex)}), ParamsError,
     "params['W'] has dtype complex128; pass real numbers (a float or int array)"),
    (_gradcheck_with({"W": np.array([np.nan])}), ParamsError,
     "params['W'] holds NaN or inf; gradients can only be checked at finite params"),
    (_gradcheck_with({"W": np.ones((0, 2))}), ParamsError,
     "params hold no numbers (every array is empty); pass non-empty arrays"),
    (_gradcheck_with({"W": np.ones(2), "b": np.ones(1)}, {"W": np.ones(2)}), ParamsError,
     "grads keys do not match params: missing ['b'], extra []; pass one gradient per params key, under the same key"),
    (lambda: nf.init((3, 2), "seed"), ConfigError,
     "rng must be a numpy Generator or an int seed, got str; pass np.random.default_rng(seed) or a seed like rng=0"),
    (lambda: nf.init((3,), 0), ConfigError,
     "sizes (3,) has 1 entry; give at least an input and an output width, e.g. (784, 10)"),
    (lambda: nf.forward(nf.init((3, 2, 2), 0), np.ones((1, 3)), dropout=0.5), ConfigError,
     "dropout > 0 needs rng=: pass a numpy Generator or an int seed for the masks"),
    (lambda: nf.update(nf.init((3, 2), 0), {"W1": np.ones((2, 2)), "b1": np.ones(2)}, lr=0.1), ParamsError,
     "grads['W1'] has shape (2, 2), params['W1'] has (3, 2); pass the gradient of these params, e.g. from value_and_grad"),
    (_optimizer_init([np.ones(2)]), ParamsError,
     "params must be a non-empty dict of arrays, got list; build one with nnfunc.init(sizes, rng)"),
    (_optimizer_init({"W1": [1.0]}), ParamsError,
     "params['W1'] must be a float ndarray, got <class 'list'>: convert it with np.asarray(p, dtype=np.float32)"),
    (_optimizer_init({"W1": np.ones(2, np.int32)}), ParamsError,
     "params['W1'] must be a float ndarray, got int32: convert it with np.asarray(p, dtype=np.float32)"),
    (lambda: optimizers.get("adagrad", 0.1), ConfigError,
     "unknown optimizer 'adagrad': use one of sgd, momentum, nesterov, adam, adamw, rmsprop"),
    (lambda: optimizers.get("sgd", 0.1, beta=0.9), ConfigError,
     "optimizer 'sgd' has no setting beta: its settings are none"),
    (lambda: optimizers.get("adam", 0.1, gamma=1, beta=0.9), ConfigError,
     "optimizer 'adam' has no setting beta, gamma: its settings are b1, b2, eps"),
    (lambda: nf.schedules.get("linear", 0.1, total_steps=5), ConfigError,
     "unknown schedule 'linear': use one of constant, step, exponential, cosine"),
    (lambda: nf.schedules.get("step", 0.1, total_steps=5, b=1, a=2), ConfigError,
     "schedule 'step' has no setting a, b: its settings are step_size, gamma"),
]


@pytest.mark.parametrize("call, error, message", MESSAGES, ids=[m[2][:40] for m in MESSAGES])
def test_messages_name_the_problem_and_the_fix(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message
