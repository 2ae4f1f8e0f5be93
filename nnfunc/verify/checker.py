"""Check claimed gradients of any loss function against central differences.

``gradcheck(loss_fn, params, grads)`` takes a function of a dict of arrays
and the gradient claimed for it, and returns a ``GradcheckReport``. It
imports no model code: networks are checked by ``nnfunc.verify.network``.

Invariant (tests check it with read-only arrays): the caller's arrays are
never written, not even temporarily; every perturbation happens on float64
copies the checker allocated itself, whatever the caller's dtype.
"""

import math

import numpy as np

from nnfunc import checks
from nnfunc.errors import ConfigError, GradientMismatchError, InputError, ParamsError
from nnfunc.verify.probes import coordinate_row, direction_row
from nnfunc.verify.report import GradcheckReport

MODES = ("auto", "full", "sample", "direction")
# Central-difference error is about eps**2 * |f'''| / 6 (truncation) plus
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

    Criterion: for each checked entry with analytic ``a`` and numeric ``n``,
    ``error = |a - n| / max(|a| + |n|, atol / rtol)`` and the entry passes
    when ``error <= rtol``; equivalently ``|a - n| <= max(rtol * (|a| + |n|),
    atol)``, so gradients near zero are held to the absolute floor ``atol``
    instead of failing on rounding noise. NaN or inf never passes.

    Numeric derivative: ``(f(p + h e_i) - f(p - h e_i)) / (fl(p_i + h) -
    fl(p_i - h))`` with ``h = eps * max(1, |p_i|)`` (the divisor is the step
    actually taken after rounding).

    Modes:
        "full": every coordinate of every tensor.
        "sample": ``samples_per_tensor`` random coordinates of each tensor
            (all of a smaller tensor), so every tensor, biases included, is
            covered; seeded by ``rng``.
        "direction": one random unit direction d over all tensors, comparing
            ``(f(p + h d) - f(p - h d)) / 2h`` with ``<g, d>``: two loss
            evaluations at any size. If it fails (or crosses a kink), a
            "sample" coordinate check runs to locate the error; its rows
            follow the direction row and ``note`` says so.
        "auto": "full" when params hold at most ``max_full`` numbers, else
            "sample".

    Args:
        loss_fn: Params -> float; called with dicts of float64 arrays.
        params: dict[str, ndarray] of real numbers (any float or int dtype).
        grads: dict with the same keys and shapes as params: the claimed
            gradient of loss_fn at params.
        mode: "auto", "full", "sample" or "direction".
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
        ConfigError: unknown mode or a bad eps/rtol/atol/samples/max_full.
        InputError: loss_fn does not return a finite number at params.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown gradcheck mode {mode!r}; use one of {', '.join(MODES)}")
    if eps is not None:
        check_eps(eps)
    _check_number("rtol", rtol, positive=True)
    _check_number("atol", atol, positive=False)
    checks.integer(samples_per_tensor, "samples_per_tensor", low=1)
    checks.integer(max_full, "max_full", low=0)
    work = _float64_copies(params, "params", finite=True)
    claimed = _float64_copies(grads, "grads", finite=False)
    _check_same_layout(work, claimed)
    generator = checks.generator(rng)

    f0 = _finite_scalar(loss_fn(work))
    eps = DEFAULT_EPS if eps is None else float(eps)
    rtol = DEFAULT_RTOL if rtol is None else float(rtol)
    atol = DEFAULT_ATOL * max(1.0, abs(f0)) if atol is None else float(atol)
    # np.array copies: a kink_fn may hand back the same buffer at every call
    kink0 = None if kink_fn is None else np.array(kink_fn(work))
    settings = dict(eps=eps, rtol=rtol, atol=atol, kink_fn=kink_fn, kink0=kink0)

    if mode == "auto":
        mode = "full" if sum(v.size for v in work.values()) <= max_full else "sample"
    note = ""
    if mode == "direction":
        rows = [direction_row(loss_fn, work, claimed, generator, **settings)]
        if not rows[0].ok or rows[0].kinks:
            why = ("failed", "to locate the error") if not rows[0].ok else (
                "crossed a kink", "instead")
            note = (f"the direction check {why[0]}; a sample coordinate check "
                    f"({samples_per_tensor} per tensor) ran {why[1]}")
            rows += _coordinate_rows(loss_fn, work, claimed, generator, samples_per_tensor,
                                     settings)
    else:
        per_tensor = None if mode == "full" else samples_per_tensor
        rows = _coordinate_rows(loss_fn, work, claimed, generator, per_tensor, settings)
    return GradcheckReport(
        ok=all(row.ok for row in rows),
        max_rel_error=max(row.max_rel_error for row in rows),  # params are never empty
        mode=mode,
        rows=tuple(rows),
        eps=eps,
        rtol=rtol,
        atol=atol,
        note=note,
    )


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


def _float64_copies(tree, what, *, finite):
    """Validate a dict of real arrays and return float64 copies of them."""
    if not isinstance(tree, dict) or not tree:
        raise ParamsError(f"{what} must be a non-empty dict of arrays, got {type(tree).__name__}; "
                          "pass e.g. {'W1': W1, 'b1': b1}")
    copies = {}
    for key, value in tree.items():
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ParamsError(f"{what}[{key!r}] has dtype {array.dtype}; pass real numbers "
                              "(a float or int array)")
        copies[key] = np.array(array, dtype=np.float64)  # always a copy, ours to perturb
        if finite and not np.all(np.isfinite(copies[key])):
            raise ParamsError(f"{what}[{key!r}] holds NaN or inf; gradients can only be "
                              "checked at finite params")
    if finite and sum(v.size for v in copies.values()) == 0:
        raise ParamsError(f"{what} hold no numbers (every array is empty); pass non-empty arrays")
    return copies


def _check_same_layout(params, grads):
    missing = [k for k in params if k not in grads]
    extra = [k for k in grads if k not in params]
    if missing or extra:
        raise ParamsError(f"grads keys do not match params: missing {missing}, extra {extra}; "
                          "pass one gradient per params key, under the same key")
    for key in params:
        if grads[key].shape != params[key].shape:
            raise ParamsError(f"grads[{key!r}] has shape {grads[key].shape} but params[{key!r}] "
                              f"has shape {params[key].shape}; a gradient has its tensor's shape")


def _finite_scalar(value):
    """The loss value as a float; InputError unless it is one finite real number."""
    try:
        number = float(value) if np.ndim(value) == 0 and np.isrealobj(value) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not math.isfinite(number):
        raise InputError(f"loss_fn returned {value!r} at params; it must return one finite "
                         "real number there: check gradients where the loss is finite")
    return number


def check_eps(eps, name="eps"):
    """Return ``eps`` as a float if it is a usable relative step (``EPS_RANGE``), else raise ConfigError."""
    low, high = EPS_RANGE
    return checks.number(eps, name, low=low, high=high, high_open=True,
                         hint=f"a relative step: the default {DEFAULT_EPS:g} balances truncation and rounding error")


def _check_number(name, value, *, positive):
    if value is not None:
        checks.number(value, name, low=0, low_open=positive)
