"""A sweep's results: the trials table (trials.csv, trials.json), the best trial's command, the plots.

The table is rebuilt from the study after each finished trial, so a
killed sweep's directory always shows what it had finished; the plots
are drawn when the sweep ends. Files are written atomically.
"""

import csv
import io
import shlex

from nnfunc import fileio

REPRODUCE = "OPENBLAS_NUM_THREADS=1 "  # before a trial's command: its bits, as the worker ran it
# the table's columns, in order; the searched settings come after "state"
COLUMNS = ("trial", "state", "val_loss", "val_accuracy", "test_accuracy", "epochs", "seconds", "worker", "retry_of",
           "run_dir", "error", "command")


def command(argv, out=None):
    """The shell command that trains this trial again (``--out`` only when given)."""
    return shlex.join(["python", "-m", "nnfunc.train", *argv, *(["--out", str(out)] if out else [])])


def reproduce(row):
    """The shell line that trains a trial's row again bit for bit: one BLAS thread and the trial's kernels."""
    kernels = f"NNFUNC_KERNELS={row['kernels']} " if row.get("kernels") else ""
    return f"{REPRODUCE}{kernels}{row['command']}"


def trial_dir(number):
    """A trial's run directory inside the sweep directory."""
    return f"trials/{number:04d}"


def table(study_rows):
    """The table rows of the study's trials (``nnfunc.sweep.store.rows``)."""
    out = []
    for r in study_rows:
        a = r["attrs"]
        argv = a.get("argv")
        out.append({
            # a pruned trial has no objective, but the val loss of its kept epoch is worth seeing
            "trial": r["trial"], "state": r["state"], "val_loss": a.get("val_loss", r["val_loss"]),
            "val_accuracy": a.get("val_accuracy"), "test_accuracy": a.get("test_accuracy"),
            "epochs": a.get("epochs"), "seconds": a.get("seconds"), "worker": a.get("worker"),
            "retry_of": a.get("retry_of"), "run_dir": a.get("run_dir"), "error": a.get("error"),
            "kernels": a.get("kernels"),
            "command": command(argv) if argv is not None else None, "params": r["params"],
            "started": r["started"], "ended": r["ended"], "curve": a.get("curve", []),
        })
    return out


def best(rows):
    """The complete trial of lowest validation loss (the study's objective), or None."""
    done = [r for r in rows if r["state"] == "complete" and r["val_loss"] is not None]
    return min(done, key=lambda r: (r["val_loss"], r["trial"])) if done else None


def write(directory, rows, space_dict, *, plots=True):
    """Write trials.json, trials.csv, best.txt (when a trial is complete) and, with ``plots``, the PNGs.

    Returns the best row or None.
    """
    keys = sorted(space_dict)
    fileio.write_json(directory / "trials.json", {"search": space_dict, "trials": rows})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    header = [*COLUMNS[:2], *keys, *COLUMNS[2:]]
    writer.writerow(header)
    for row in rows:
        cells = {**row, **{k: row["params"].get(k) for k in keys}}
        writer.writerow(["" if cells[c] is None else repr(cells[c]) if isinstance(cells[c], float) else cells[c]
                         for c in header])
    fileio.write_text(directory / "trials.csv", text.getvalue())
    top = best(rows)
    if top is not None:
        # the workers run one BLAS thread each: the same thread count gives the same bits
        fileio.write_text(directory / "best.txt",
                          f"# trial {top['trial']}: validation loss {top['val_loss']:.6g}, validation accuracy "
                          f"{100 * top['val_accuracy']:.2f}%, run directory {top['run_dir']}\n"
                          f"{reproduce(top)}\n")
    if plots and any(r["curve"] for r in rows):
        from nnfunc.report import sweeps

        best_trial = None if top is None else top["trial"]
        sweeps.plot_progress(rows, directory / "progress.png", best=best_trial)
        sweeps.plot_params(rows, space_dict, directory / "params.png", best=best_trial)
    return top
