"""A sweep's pictures: each trial's validation accuracy over the sweep's time, and accuracy against each setting.

Both take the sweep's table rows (plain dicts, as ``nnfunc.sweep.results``
writes them to trials.json), draw on their own figure and write one PNG
atomically, returning the path.
"""

import math

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from nnfunc.errors import InputError
from nnfunc.report._canvas import figure as _figure, save as _save

STATE_STYLE = {  # colour and marker of each end a trial can have
    "complete": ("tab:blue", "o"),
    "pruned": ("tab:gray", "x"),
    "failed": ("tab:red", "s"),
    "interrupted": ("tab:orange", "s"),
    "running": ("tab:green", "^"),
}
BEST_COLOR = "tab:purple"


def _check(rows):
    if isinstance(rows, dict) or not all(isinstance(r, dict) and "trial" in r for r in rows):
        raise InputError("rows must be a list of the sweep's trial dicts (trials.json)")


def plot_progress(rows, path, *, best=None):
    """Validation accuracy of every trial at each epoch, against the time since the sweep began.

    A line per trial (``row["curve"]``: [time, epoch, val loss, val
    accuracy] per epoch); pruned trials grey and thin, trial number
    ``best`` (the sweep's choice, if any) thick.
    """
    return _save(_progress_figure(rows, best), path)


def _progress_figure(rows, best=None):
    _check(rows)
    curves = [(r, np.array([[p[0], p[3]] for p in r.get("curve") or [] if p[3] is not None], dtype=float))
              for r in rows]
    starts = [c[0, 0] for _, c in curves if c.size] + [r["started"] for r in rows if r.get("started")]
    t0 = min(starts) if starts else 0.0
    ends = [c[-1, 0] for _, c in curves if c.size]
    # seconds for a short sweep, minutes for a long one
    unit, scale = ("minutes", 60.0) if ends and max(ends) - t0 > 180 else ("seconds", 1.0)
    fig = _figure(7, 4.5)
    ax = fig.add_subplot()
    for row, curve in curves:
        if not curve.size:
            continue
        color, marker = STATE_STYLE.get(row["state"], ("black", "."))
        is_best = row["trial"] == best
        ax.plot((curve[:, 0] - t0) / scale, 100 * curve[:, 1], color=BEST_COLOR if is_best else color, marker=marker, markersize=3,
                linewidth=2.5 if is_best else 1, alpha=1 if is_best or row["state"] == "complete" else 0.6,
                label=f"best: trial {row['trial']} (lowest val loss)" if is_best else None)
    for state, (color, marker) in STATE_STYLE.items():
        if any(r["state"] == state for r, c in curves if c.size):
            ax.plot([], [], color=color, marker=marker, label=state)
    ax.set_xlabel(f"{unit} since the sweep began")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"Validation accuracy of {len(rows)} trials, per epoch")
    _zoom(ax, [100 * c[:, 1] for _, c in curves if c.size])
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def _zoom(ax, series):
    """Show the top of the accuracy range: a hopeless trial at 10% would flatten the rest."""
    values = np.concatenate(series) if series else np.array([])
    if values.size:
        top = values.max()
        low = max(values.min(), top - 4 * max(np.percentile(top - values, 75), 0.5))
        ax.set_ylim(low - 0.5, min(top + 0.5, 100.2))


def plot_params(rows, space, path, *, best=None):
    """Each trial's validation accuracy (at its kept epoch) against each searched setting.

    Args:
        rows: the sweep's trial dicts (``params``, ``state``, ``val_accuracy``).
        space: {setting: {"low", "high", "log"} or {"choices": [...]}} (sweep.json's "search").
        path: destination PNG.
        best: the number of the sweep's best trial (drawn apart), or None.
    """
    return _save(_params_figure(rows, space, best), path)


def _params_figure(rows, space, best=None):
    _check(rows)
    if not space:
        raise InputError("space is empty: a sweep searches at least one setting")
    keys = sorted(space)
    cols = min(len(keys), 3)
    nrows = math.ceil(len(keys) / cols)
    fig = _figure(4 * cols, 3.2 * nrows)
    scored = [r for r in rows if r.get("val_accuracy") is not None and r["state"] in ("complete", "pruned")]
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, cols, i + 1)
        dim = space[key]
        choices = dim.get("choices")
        for row in scored:
            value = row["params"].get(key)
            if value is None:
                continue
            x = choices.index(value) if choices is not None and value in choices else value
            color, marker = STATE_STYLE[row["state"]]
            if row["trial"] == best:
                color = BEST_COLOR
            ax.scatter([x], [100 * row["val_accuracy"]], color=color, marker=marker, s=36 if row["trial"] == best
                       else 18, zorder=3 if row["trial"] == best else 2)
        if choices is not None:
            ax.set_xticks(range(len(choices)), [str(c) for c in choices], rotation=30 if len(choices) > 3 else 0,
                          fontsize="small")
            ax.set_xlim(-0.5, len(choices) - 0.5)
        elif dim.get("log"):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # a decade or two: 1, 2, 5 each
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())  # 3x10^-3 labels crowd each other
        ax.set_xlabel(key)
        ax.set_ylabel("val accuracy (%)" if i % cols == 0 else "")
        _zoom(ax, [np.array([100 * r["val_accuracy"] for r in scored])] if scored else [])
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"Validation accuracy against each searched setting ({len(scored)} trials; "
                 "x pruned, purple the best: lowest val loss)")
    fig.tight_layout()
    return fig
