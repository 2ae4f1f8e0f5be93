"""The numerical parts of the scikit-learn bridge: its initialisation, objective, and L-BFGS.

Everything here is a function of explicit arguments (params dicts, arrays,
a numpy Generator); the estimators in ``_base`` keep the results.
scikit-learn's objective for a batch of n rows (or row weights summing to n) is

    the output layer's mean loss  +  0.5 * alpha * sum_l ||W_l||^2 / n,

which is nnfunc's ``loss`` with ``l2 = alpha / n``. One difference is kept
in the open: with several targets, scikit-learn's squared error averages
them in the loss it reports (``loss_``, ``loss_curve_``, and so ``tol``)
but its gradient is that of their sum. nnfunc minimises the sum, the
function of that gradient, and ``shown`` reports the average.
"""

import numpy as np
import scipy.optimize
import scipy.sparse

import nnfunc as nf
from nnfunc.errors import ConfigError, InputError, ParamsError


def glorot(sizes, rng, factor, dtype):
    """scikit-learn's initialisation: every weight and bias uniform in +-sqrt(factor / (fan_in + fan_out)).

    Args:
        sizes: (n0, ..., nL) layer widths; rng: numpy RandomState (scikit-learn's stream) or Generator.
        factor: 6, or 2 for a logistic hidden activation (as scikit-learn).
        dtype: float32 or float64; the draws are made in float64 and cast,
            so a float32 network starts from the float64 one's values.
    """
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        bound = np.sqrt(factor / (n_in + n_out))
        params[f"W{l}"] = rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype)
        params[f"b{l}"] = rng.uniform(-bound, bound, n_out).astype(dtype)
    return params


def dense(X, rows=None, dtype=None):
    """Rows of X (all when ``rows`` is None) as a dense C array; X dense or scipy sparse."""
    part = X if rows is None else X[rows]
    if scipy.sparse.issparse(part):
        part = part.toarray()
    return np.ascontiguousarray(part, dtype=dtype)


def objective(params, X, Y, w, net, alpha, dropout=0.0, rng=None):
    """(loss, grads) of scikit-learn's objective on one batch (see the module docstring).

    Args:
        X: (n, n0) dense float; Y: the output's targets (``nnfunc.outputs``);
        w: None or (n,) row weights; net: dict(activation=..., output=...).
    """
    n = X.shape[0] if w is None else float(w.sum())
    return nf.value_and_grad(params, X, Y, **net, l2=alpha / n, weights=w, dropout=dropout,
                             rng=rng if dropout else None)


def shown(value, params, alpha, n, output):
    """scikit-learn's reported loss from the objective's value (see the module docstring)."""
    L = len(params) // 2
    k = params[f"W{L}"].shape[1]
    if output != "identity" or k == 1:
        return value
    penalty = 0.5 * alpha / n * sum(float(np.einsum("ij,ij->", params[f"W{l}"], params[f"W{l}"]))
                                    for l in range(1, L + 1))
    return penalty + (value - penalty) / k


def pack(params):
    """Every array of params, weights first then biases (scikit-learn's order), as one float64 vector."""
    L = len(params) // 2
    keys = [f"W{l}" for l in range(1, L + 1)] + [f"b{l}" for l in range(1, L + 1)]
    return np.concatenate([params[k].ravel() for k in keys]).astype(np.float64)


def unpack(theta, like):
    """The params dict shaped and typed like ``like`` whose values ``pack`` gave as theta."""
    L = len(like) // 2
    keys = [f"W{l}" for l in range(1, L + 1)] + [f"b{l}" for l in range(1, L + 1)]
    out, start = {}, 0
    for k in keys:
        size = like[k].size
        out[k] = theta[start:start + size].reshape(like[k].shape).astype(like[k].dtype)
        start += size
    return {k: out[k] for k in like}


def lbfgs(params, X, Y, w, net, alpha, max_iter, max_fun, tol):
    """Minimise the full-batch objective with SciPy's L-BFGS-B, as scikit-learn's ``solver='lbfgs'``.

    Returns:
        (params, loss, n_iter, result): the params at the end, the loss
        there as scikit-learn reports it, the iterations run, and SciPy's
        OptimizeResult.
    """
    def fun(theta):
        try:
            value, grads = objective(unpack(theta, params), X, Y, w, net, alpha)
        except (InputError, ParamsError, ConfigError):  # an overflowing trial step: the line search steps back
            return np.inf, np.zeros_like(theta)
        return value, pack(grads)

    result = scipy.optimize.minimize(fun, pack(params), method="L-BFGS-B", jac=True,
                                     options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
    params = unpack(result.x, params)
    n = X.shape[0] if w is None else float(w.sum())
    return params, shown(float(result.fun), params, alpha, n, net["output"]), min(int(result.nit), max_iter), result
