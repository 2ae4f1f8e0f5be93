"""Check claimed gradients of any loss function against central differences.

``gradcheck(loss_fn, params, grads)`` takes a function of a dict of arrays
and the gradient claimed for it, and returns a ``GradcheckReport``. It
imports no model code: networks are checked by ``nnfunc.verify.network``.

Criterion: for each checked entry with analytic ``a`` and numeric ``n``,
``error = |a - n| / max(|a| + |n|, atol / rtol)`` and the entry passes when
``error <= rtol``; equivalently ``|a - n| <= max(rtol * (|a| + |n|), atol)``,
so gradients near zero are held to the absolute floor ``atol`` instead of
failing on rounding noise. NaN or inf never passes.

Numeric derivative: ``(f(p + h e_i) - f(p - h e_i)) / (fl(p_i + h) -
fl(p_i - h))`` with ``h = eps * max(1, |p_i|)`` (the divisor is the step
actually taken after rounding).

Invariant (tests check it with read-only arrays): the caller's arrays are
never written, not even temporarily; every perturbation happens on float64
copies the checker allocated itself, whatever the caller's dtype.
"""

import math

import numpy as np

from nnfunc import checks
from nnfunc.errors import ConfigError, GradientMismatchError, InputError, shown
from nnfunc.verify.probes import coordinate_row, direction_row
from nnfunc.verify.report import GradcheckReport

MODES = ("auto", "full", "sample", "direction")
# Central-difference error is about eps**2 * |f''''| / 6 (truncation) plus
# 1e-16 * |f| / eps (rounding); the sum is smallest near eps = 1e-5 for O(1)
# losses (on 784-25-25-10 nets the max abs error was 1.5e-10 at 1e-5, 1.6e-9
# at 1e-6, 1.5e-8 at 1e-7), and the step stays small enough to rarely cross a kink.
DEFAULT_EPS = 1e-5
# A relative step below float64's machine epsilon can vanish in p + h (0 / 0
# for a derivative); one of 1 or more steps as far as the value itself.
EPS_RANGE = (float(np.finfo(np.float64).eps), 1.0)
DEFAULT_RTOL = 1e-6
# Rounding noise scales with |f|, so the default floor is 1e-8 * max(1, |f(p)|).
DEFAULT_ATOL = 1e-8
DEFAULT_MAX_FULL = 10_000
DEFAULT_SAMPLES_PER_TENSOR = 32


def gradcheck(loss_fn, params, grads, *, mode="auto", eps=None, rtol=None, atol=None, rng=0,
              samples_per_tensor=DEFAULT_SAMPLES_PER_TENSOR, max_full=DEFAULT_MAX_FULL,
              kink_fn=None):
    """Compare analytic gradients with central differences, tensor by tensor.

    The criterion and the numeric derivative are in the module docstring.

    Args:
        loss_fn: Params -> one real number (a float, an int, a NumPy scalar
            or a 0-d array); called with dicts of float64 arrays.
        params: dict[str, ndarray] of real numbers (any float or int dtype).
        grads: dict with the same keys and shapes as params: the claimed
            gradient of loss_fn at params.
        mode: "full" checks every coordinate; "sample" ``samples_per_tensor``
            random coordinates of each tensor (all of a smaller one), so biases
            are covered too; "direction" compares ``(f(p + h d) - f(p - h d))
            / 2h`` with ``<g, d>`` for one random unit direction d over all
            tensors (two evaluations at any size) and, if that fails or crosses
            a kink, runs a "sample" check whose rows follow and which ``note``
            explains; "auto" is "full" up to ``max_full`` numbers, else "sample".
        eps: relative step in [2.2e-16, 1) (``EPS_RANGE``); default 1e-5.
        rtol: relative tolerance, > 0; default 1e-6.
        atol: absolute floor, >= 0; default ``1e-8 * max(1, |loss_fn(params)|)``.
        rng: seed or numpy Generator for sampling and the direction.
        samples_per_tensor: coordinates per tensor in "sample" mode, >= 1.
        max_full: largest total size that "auto" checks in full, >= 0.
        kink_fn: optional Params -> ndarray signature (e.g. a ReLU sign
            pattern). An entry whose +h or -h step changes the signature is
            counted as kink-crossed and skipped instead of failed.

    Returns:
        GradcheckReport; ``ok`` is the verdict, ``str(report)`` the table.

    Raises:
        ParamsError: params/grads not dicts of real arrays, non-finite
            params, or grads with missing/extra keys or other shapes.
        ConfigError: unknown mode or a bad eps/rtol/atol/samples/max_full;
            loss_fn returned something that is not one real number (a
            string, a bool, a complex, an array of another shape, None...).
        InputError: loss_fn does not return a finite number at params.
    """
    _check_options(mode, eps, rtol, atol, samples_per_tensor, max_full)
    work = checks.float64_copies(params, "params", finite=True)
    claimed = checks.float64_copies(grads, "grads", finite=False)
    checks.same_layout(work, claimed)
    generator = checks.generator(rng)
    real_loss = _real_valued(loss_fn)
    settings = _settings(_finite_at_params(real_loss(work), loss_fn), work, eps, rtol, atol, kink_fn)
    if mode == "auto":
        mode = "full" if sum(v.size for v in work.values()) <= max_full else "sample"
    if mode == "direction":
        rows, note = _direction_rows(real_loss, work, claimed, generator, samples_per_tensor, settings)
    else:
        per_tensor = None if mode == "full" else samples_per_tensor
        rows, note = _coordinate_rows(real_loss, work, claimed, generator, per_tensor, settings), ""
    # params are never empty, so there is a row
    return GradcheckReport(ok=all(row.ok for row in rows), max_rel_error=max(row.max_rel_error for row in rows),
                           mode=mode, rows=tuple(rows), eps=settings["eps"], rtol=settings["rtol"],
                           atol=settings["atol"], note=note)


def _check_options(mode, eps, rtol, atol, samples_per_tensor, max_full):
    """Refuse an unknown mode or a bad eps, rtol, atol, samples_per_tensor or max_full (ConfigError)."""
    if mode not in MODES:
        raise ConfigError(f"unknown gradcheck mode {mode!r}; use one of {', '.join(MODES)}")
    if eps is not None:
        check_eps(eps)
    _check_number("rtol", rtol, positive=True)
    _check_number("atol", atol, positive=False)
    checks.integer(samples_per_tensor, "samples_per_tensor", low=1)
    checks.integer(max_full, "max_full", low=0)


def _settings(f0, work, eps, rtol, atol, kink_fn):
    """The probes' keyword arguments: eps, rtol, atol with their defaults filled in, kink_fn and its kink0."""
    # np.array copies: a kink_fn may hand back the same buffer at every call
    kink0 = None if kink_fn is None else np.array(kink_fn(work))
    return dict(eps=DEFAULT_EPS if eps is None else float(eps),
                rtol=DEFAULT_RTOL if rtol is None else float(rtol),
                atol=DEFAULT_ATOL * max(1.0, abs(f0)) if atol is None else float(atol),
                kink_fn=kink_fn, kink0=kink0)


def _direction_rows(loss_fn, work, claimed, generator, samples_per_tensor, settings):
    """The direction row, and the sample rows that locate the error if it failed or crossed a kink; (rows, note)."""
    rows = [direction_row(loss_fn, work, claimed, generator, **settings)]
    if rows[0].ok and not rows[0].kinks:
        return rows, ""
    why = ("failed", "to locate the error") if not rows[0].ok else ("crossed a kink", "instead")
    note = (f"the direction check {why[0]}; a sample coordinate check "
            f"({samples_per_tensor} per tensor) ran {why[1]}")
    return rows + _coordinate_rows(loss_fn, work, claimed, generator, samples_per_tensor, settings), note


def assert_gradients(loss_fn, params, grads, **options):
    """Run ``gradcheck`` and raise if any entry fails.

    Args:
        loss_fn, params, grads, **options: as for ``gradcheck``.

    Returns:
        The GradcheckReport, when ``ok``.

    Raises:
        GradientMismatchError: the check failed; the message is the report.
        (And everything ``gradcheck`` raises.)
    """
    return raise_unless_ok(gradcheck(loss_fn, params, grads, **options), "analytic and numerical gradients")


def raise_unless_ok(report, what):
    """Return ``report`` if ok, else raise GradientMismatchError("<what> disagree:" + the table)."""
    if not report.ok:
        raise GradientMismatchError(f"{what} disagree:\n" + report.format())
    return report


def _coordinate_rows(loss_fn, work, claimed, generator, per_tensor, settings):
    """One coordinate row per tensor: every entry (per_tensor None) or a sample of that many."""
    rows = []
    for name, tensor in work.items():
        if per_tensor is None or tensor.size <= per_tensor:
            indices = np.arange(tensor.size)
        else:
            indices = np.sort(generator.choice(tensor.size, per_tensor, replace=False))
        rows.append(coordinate_row(loss_fn, work, name, claimed[name], indices, **settings))
    return rows


def _real_valued(loss_fn):
    """``loss_fn`` with every value checked to be one real number and returned as a float (NaN and inf pass)."""

    def real_loss(point):
        return _as_float(loss_fn(point), loss_fn)

    return real_loss


def _as_float(value, loss_fn):
    """A loss value as a float; ConfigError naming ``loss_fn`` unless it is one real number (0-d arrays count).

    A string, a bool, a complex number, None or an array of another shape
    is refused: ``float("1.5")`` or ``float(True)`` would turn it into a
    number, and the check would report a mismatch instead of the mistake.
    """
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        value = value[()]
    if not checks.is_real(value):
        kind = (f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray)
                else type(value).__name__)
        kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        raise ConfigError(f"loss_fn {_name(loss_fn)} returned {shown(value)} ({kind}); it must return one real "
                          "number, e.g. a float or a 0-d array: return the loss itself, as float(loss)")
    try:
        return float(value)
    except OverflowError:  # an int (or Fraction) beyond a float's range
        return math.inf if value > 0 else -math.inf


def _name(loss_fn):
    return shown(getattr(loss_fn, "__name__", None) or loss_fn, quote=False)


def _finite_at_params(f0, loss_fn):
    """The loss at params, a float; InputError unless it is finite there."""
    if not math.isfinite(f0):
        raise InputError(f"loss_fn {_name(loss_fn)} returned {f0!r} at params; it must return one finite "
                         "real number there: check gradients where the loss is finite")
    return f0


def check_eps(eps, name="eps"):
    """Return ``eps`` as a float if it is a usable relative step (``EPS_RANGE``), else raise ConfigError."""
    low, high = EPS_RANGE
    return checks.number(eps, name, low=low, high=high, high_open=True,
                         hint=f"a relative step: the default {DEFAULT_EPS:g} balances truncation and rounding error")


def _check_number(name, value, *, positive):
    if value is not None:
        checks.number(value, name, low=0, low_open=positive)
