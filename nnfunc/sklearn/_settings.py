"""scikit-learn's MLP settings, checked by name when fit uses them, and its random_state."""

import numbers

import numpy as np

import nnfunc as nf

# scikit-learn's activation names, and nnfunc's own
ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "linear": "linear", "sigmoid": "sigmoid", "leaky_relu": "leaky_relu"}
SOLVERS = ("lbfgs", "sgd", "adam")
RATES = ("constant", "invscaling", "adaptive")
FLOATS = (np.float64, np.float32)


def number(value, name, low=None, high=None, low_open=False, high_open=False, integral=False, inf=False):
    """``value`` if it is a number of the right kind in range, else ValueError naming the setting."""
    kind = numbers.Integral if integral else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) or (inf and value == np.inf)
    if ok and not (inf and value == np.inf):
        ok = np.isfinite(value) and (low is None or (value > low if low_open else value >= low)) and (
            high is None or (value < high if high_open else value <= high))
    if not ok:
        bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}{')' if high_open else ']'}"
        raise ValueError(f"The '{name}' parameter must be {'an int' if integral else 'a number'} in {bounds}"
                         f"{' or np.inf' if inf else ''}, got {value!r}")
    return value


def choice(value, name, choices):
    """``value`` if it is one of ``choices``, else ValueError naming the setting and the choices."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"The '{name}' parameter must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_settings(est):
    """Check an estimator's settings when fit uses them (scikit-learn's rule: __init__ only stores them).

    Returns the hidden layer widths as a list of ints; raises ValueError naming a bad setting.
    """
    hidden = est.hidden_layer_sizes
    hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in hidden) or any(
            n <= 0 for n in hidden):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
    choice(est.activation, "activation", tuple(ACTIVATIONS))
    choice(est.solver, "solver", SOLVERS)
    number(est.alpha, "alpha", 0)
    if est.batch_size != "auto":
        number(est.batch_size, "batch_size", 1, integral=True)
    choice(est.learning_rate, "learning_rate", RATES)
    number(est.learning_rate_init, "learning_rate_init", 0, low_open=True)
    number(est.power_t, "power_t", 0)
    number(est.max_iter, "max_iter", 1, integral=True)
    number(est.tol, "tol", 0)
    number(est.momentum, "momentum", 0, 1)
    number(est.validation_fraction, "validation_fraction", 0, 1, high_open=True)
    number(est.beta_1, "beta_1", 0, 1, high_open=True)
    number(est.beta_2, "beta_2", 0, 1, high_open=True)
    number(est.epsilon, "epsilon", 0, low_open=True)
    number(est.n_iter_no_change, "n_iter_no_change", 1, integral=True, inf=True)
    number(est.max_fun, "max_fun", 1, integral=True)
    number(est.dropout, "dropout", 0, 1, high_open=True)
    if est.dropout and est.solver == "lbfgs":
        raise ValueError("dropout needs a stochastic solver ('sgd' or 'adam'): L-BFGS minimises one fixed "
                         "function, and dropout draws new masks at every step")
    if est.init != "sklearn":
        choice(est.init, "init", ("sklearn", *nf.SCHEMES))
    try:
        known = est.dtype is None or np.dtype(est.dtype) in FLOATS
    except TypeError:
        known = False
    if not known:
        raise ValueError(f"dtype must be None (X's: float32 stays float32), 'float32' or 'float64', "
                         f"got {est.dtype!r}")
    return [int(n) for n in hidden]


def random_state(state):
    """A RandomState from ``random_state``, as scikit-learn's ``check_random_state``, but for None.

    None gives a RandomState seeded from fresh OS entropy rather than NumPy's
    global one: nnfunc never draws from, or moves, the global stream.
    """
    if state is None:
        return np.random.RandomState(np.random.SeedSequence().generate_state(4))
    if isinstance(state, np.random.RandomState):
        return state
    if isinstance(state, numbers.Integral) and not isinstance(state, bool) and 0 <= state < 2**32:
        return np.random.RandomState(int(state))
    raise ValueError(f"random_state must be None, an int in [0, 2**32) or a numpy RandomState, got {state!r}")
