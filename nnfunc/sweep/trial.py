"""One trial, as a worker runs it: a training run in a scratch directory, returned as bytes.

The worker may be another machine, so the trial never writes into the
sweep directory: it trains in a private temporary directory (through
``nnfunc.training.runs.run``, the call ``nnfunc train`` makes) and returns
the run directory's files, which the sweep writes (atomically) as
``trials/NNNN``. Nothing here knows the engine or the search library; the
engine passes ``should_prune``, which reports each epoch and says whether
to stop.
"""

import math
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from nnfunc.errors import NnfuncError
from nnfunc.training import runs
from nnfunc.training.flags import raising_parser, settings_of

# the statuses a trial ends with
COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"


SCRATCH = "nnfunc-trial-"  # + host and pid: a killed worker's directory is known by its dead pid


def _scratch_prefix(pid):
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40]
    return f"{SCRATCH}{host}-{pid}"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clear_dead_scratch(root=None):
    """Remove this host's scratch directories of trials whose worker died (killed, or rebooted); return them.

    Only names with this host's name are touched: another host (or
    container) sharing the directory has pids of its own.
    """
    removed = []
    prefix = _scratch_prefix("")
    for entry in Path(root or tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = entry.name[len(prefix):].partition("-")[0]
        if pid.isdigit() and entry.is_dir() and not entry.is_symlink() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


class Pruned(Exception):
    """Raised from the epoch callback to stop a trial the search library gave up on."""


def record_of(history_record):
    """An epoch's history record as plain floats (it travels through the engine); NaN becomes None."""
    out = {}
    for key, value in history_record.items():
        value = None if value is None else float(value)
        out[key] = value if value is None or math.isfinite(value) else None
    out["epoch"] = int(history_record["epoch"])
    return out


def _parse(argv):
    """(settings, data options) of a trial's train flags; a bad flag raises ConfigError, never exits."""
    args = raising_parser("the trial's train flags").parse_args(argv)
    return settings_of(args), {"data_dir": args.data_dir, "offline": args.offline}


def _log_lines(lines):
    """(on_start, on_saved) callbacks that keep the trial's log, as ``nnfunc train`` prints it."""
    epochs = []

    def started(plan):
        epochs.append(plan.epochs)
        lines.append(runs.start_line(plan))

    def saved(record):
        lines.append(runs.epoch_line(record, epochs[0]))

    return started, saved


def run(argv, should_prune):
    """Train one trial; return its outcome as plain data.

    Args:
        argv: ``nnfunc train`` flags (no --out: the trial picks its scratch directory).
        should_prune: ``should_prune(record) -> bool`` after each epoch's
            checkpoint (``record`` from ``record_of``); True stops the trial
            as pruned.

    Returns:
        {"status": COMPLETE | PRUNED | FAILED, "error": message or None,
        "files": {name: bytes} of the run directory (with ``train.log``),
        "host", "pid", "started", "ended"}.
    """
    started = time.time()
    clear_dead_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{_scratch_prefix(os.getpid())}-"))
    out = scratch / "run"
    lines = []
    status, error = COMPLETE, None
    on_start, log_epoch = _log_lines(lines)

    def saved(record):
        log_epoch(record)
        if should_prune(record_of(record)):
            raise Pruned

    try:
        try:
            settings, options = _parse(argv)
            result = runs.run(settings, out=out, plots=False, on_start=on_start, on_saved=saved, **options)
            lines.append(runs.test_line(result.test))
        except Pruned:
            status = PRUNED
        except NnfuncError as exc:  # a bad setting, data, a diverged loss: the trial's own failure
            status, error = FAILED, str(exc)
        except MemoryError:
            status, error = FAILED, "out of memory on the worker; search smaller --hidden widths or --batch-size"
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            status, error = FAILED, f"{exc.strerror or exc}{where} on the worker {socket.gethostname()}"
        except Exception as exc:  # a bug, another nnfunc version: the trial's fault, not the cluster's
            status, error = FAILED, f"{type(exc).__name__}: {exc} on the worker {socket.gethostname()}"
        if error is not None:
            lines.append(f"error: {error}")
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file() and p.name != ".lock"} \
            if out.is_dir() else {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    files["train.log"] = "".join(f"{line}\n" for line in lines).encode()
    return {"status": status, "error": error, "files": files, "host": socket.gethostname(), "pid": os.getpid(),
            "started": started, "ended": time.time()}
