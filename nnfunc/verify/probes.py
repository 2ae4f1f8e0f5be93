"""The numerical probes behind gradcheck: per-coordinate and random-direction.

Each probe takes ``work``, a dict of float64 arrays that the checker
allocated itself (copies of the caller's params), perturbs it in place and
restores it exactly, so the caller's arrays are never touched. Probes return
``TensorRow``s; the tolerance arithmetic lives in ``relative_error``.
"""

import numpy as np

from nnfunc.errors import ConfigError
from nnfunc.verify.report import DIRECTION, TensorRow

_TINY = np.finfo(np.float64).tiny


def relative_error(analytic, numeric, *, rtol, atol):
    """Relative error with an absolute floor; an entry passes when it is <= rtol.

    ``|a - n| / max(|a| + |n|, atol / rtol)``: the ordinary relative error,
    except that the denominator never drops below ``atol / rtol``, so the test
    ``error <= rtol`` is exactly ``|a - n| <= max(rtol * (|a| + |n|), atol)``.
    Non-finite values give ``inf`` (a NaN can never pass).

    Args:
        analytic: (k,) float64.
        numeric: (k,) float64.
        rtol: relative tolerance, > 0.
        atol: absolute floor, >= 0.

    Returns:
        (k,) float64 errors.

    Raises:
        ConfigError: ``rtol`` not > 0 or ``atol`` not >= 0 (NaN is neither).
    """
    try:
        valid = 0 < rtol < np.inf and 0 <= atol < np.inf
    except TypeError:
        valid = False
    if not valid:
        raise ConfigError(f"need rtol > 0 and atol >= 0, both finite; got rtol={rtol!r}, atol={atol!r}")
    floor = max(atol / rtol, _TINY)  # never 0, so 0 / 0 cannot occur when atol is 0
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)
    return np.where(np.isfinite(error), error, np.inf)


def coordinate_row(loss_fn, work, name, analytic, flat_indices, *, eps, rtol, atol,
                   kink_fn=None, kink0=None):
    """Central differences on chosen coordinates of one tensor.

    Coordinate ``i`` steps by ``h = eps * max(1, |p_i|)``; the divisor is the
    step actually taken, ``fl(p_i + h) - fl(p_i - h)``, so rounding of the
    perturbed value cannot bias the difference quotient.

    Args:
        loss_fn: Params -> float.
        work: the checker's own float64 params; ``work[name]`` is modified
            and restored bit for bit.
        name: key of the tensor to probe.
        analytic: same shape as ``work[name]``, float64: the claimed gradient.
        flat_indices: (k,) int, indices into the flattened tensor.
        eps: relative step.
        rtol, atol: tolerances (see ``relative_error``).
        kink_fn: optional Params -> ndarray signature; a coordinate whose
            +h or -h step changes it is counted as kink-crossed, not checked.
        kink0: the signature at the unperturbed params (needed with kink_fn).

    Returns:
        The tensor's ``TensorRow``.
    """
    tensor = work[name]
    numeric = np.empty(len(flat_indices))
    crossed = np.zeros(len(flat_indices), dtype=bool)
    for j, i in enumerate(flat_indices):
        # index the tensor itself, never a reshaped copy of it: a perturbation
        # the loss cannot see would measure a derivative of zero
        at = np.unravel_index(i, tensor.shape)
        original = tensor[at]
        h = eps * max(1.0, abs(original))
        tensor[at] = original + h
        upper = tensor[at]
        f_plus = float(loss_fn(work))
        crossed[j] = kink_fn is not None and _crossed(kink_fn, work, kink0)
        tensor[at] = original - h
        lower = tensor[at]
        f_minus = float(loss_fn(work))
        crossed[j] |= kink_fn is not None and _crossed(kink_fn, work, kink0)
        tensor[at] = original
        numeric[j] = (f_plus - f_minus) / (upper - lower)
    claimed = analytic.ravel()[flat_indices]
    return _row(name, tensor.shape, claimed, numeric, crossed, flat_indices,
                rtol=rtol, atol=atol)


def direction_row(loss_fn, work, grads, rng, *, eps, rtol, atol, kink_fn=None, kink0=None):
    """Compare ``(f(p + h d) - f(p - h d)) / 2h`` with ``<g, d>`` for one random d.

    ``d`` is standard normal over all tensors, scaled to unit norm, and
    ``h = eps * max(1, max |p|)``. The analytic side uses the step actually
    taken after rounding, ``<g, fl(p + h d) - fl(p - h d)> / 2h``. Costs two
    loss evaluations whatever the size.

    Args:
        loss_fn: Params -> float.
        work: the checker's own float64 params (not modified).
        grads: same keys and shapes as ``work``, float64.
        rng: numpy Generator drawing d.
        eps: relative step.
        rtol, atol: tolerances (see ``relative_error``).
        kink_fn, kink0: as in ``coordinate_row``.

    Returns:
        A ``TensorRow`` named ``"direction"`` with ``shape == (total numbers,)``.
    """
    direction = {k: rng.standard_normal(v.shape) for k, v in work.items()}
    norm = np.sqrt(sum(float(np.sum(d * d)) for d in direction.values()))
    # the checker refuses params with no numbers, so some tensor is non-empty
    largest = max(float(np.max(np.abs(v))) for v in work.values() if v.size)
    h = eps * max(1.0, largest) / norm
    plus = {k: work[k] + h * direction[k] for k in work}
    minus = {k: work[k] - h * direction[k] for k in work}
    f_plus, f_minus = float(loss_fn(plus)), float(loss_fn(minus))
    crossed = kink_fn is not None and (_crossed(kink_fn, plus, kink0)
                                       or _crossed(kink_fn, minus, kink0))
    step = sum(float(np.vdot(grads[k], plus[k] - minus[k])) for k in work)
    width = 2.0 * h * norm
    total = sum(v.size for v in work.values())
    return _row(DIRECTION, (total,), np.array([step / width]),
                np.array([(f_plus - f_minus) / width]), np.array([crossed]), None,
                rtol=rtol, atol=atol)


def _crossed(kink_fn, params, kink0):
    return not np.array_equal(np.asarray(kink_fn(params)), kink0)


def _row(name, shape, claimed, numeric, crossed, flat_indices, *, rtol, atol):
    """Summarise one probe's entries into a TensorRow (kink-crossed excluded)."""
    keep = ~crossed
    if not np.any(keep):
        return TensorRow(name, tuple(shape), 0, int(crossed.sum()), 0.0, 0.0, (),
                         float("nan"), float("nan"), True)
    claimed, numeric = claimed[keep], numeric[keep]
    error = relative_error(claimed, numeric, rtol=rtol, atol=atol)
    worst = int(np.argmax(error))
    index = ()
    if flat_indices is not None:
        index = tuple(int(i) for i in np.unravel_index(flat_indices[keep][worst], shape))
    with np.errstate(invalid="ignore"):
        abs_error = np.abs(claimed - numeric)
    return TensorRow(
        name=name,
        shape=tuple(shape),
        checked=int(keep.sum()),
        kinks=int(crossed.sum()),
        max_abs_error=float(np.max(np.where(np.isfinite(abs_error), abs_error, np.inf))),
        max_rel_error=float(error[worst]),
        worst_index=index,
        analytic=float(claimed[worst]),
        numeric=float(numeric[worst]),
        ok=bool(np.all(error <= rtol)),
    )
