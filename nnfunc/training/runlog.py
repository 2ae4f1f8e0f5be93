"""A run directory's life: its name, its owner's lock, config.json, metrics.json and metrics.csv.

One process at a time writes a run directory: ``own`` takes an OS lock on
its ``.lock`` file (the OS releases it when the process dies, however it
dies) and clears the temp files a killed owner left. A run's history is
written twice, as ``metrics.json`` (the record ``read_metrics`` reads back)
and ``metrics.csv`` (for spreadsheets), both atomically; the checkpoint
beside them is ``nnfunc.training.checkpoint``'s.
"""

import contextlib
import csv
import datetime
import io
import json
import math
import os
import socket
import sys
from pathlib import Path

import numpy as np

from nnfunc import fileio
from nnfunc.errors import ConfigError, DataError, InputError, shown

# the files a run writes (atomically): only their temp files are ever cleared
RUN_FILES = ("model.npz", "config.json", "metrics.json", "metrics.csv", "loss.png", "accuracy.png", "weights.png",
             "activations.png", "misclassified.png", "confusion.png")
MAX_JSON_BYTES = 64 << 20  # a config is a few hundred bytes; metrics of 10,000 epochs about 2 MB

EPOCH_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
# Without a validation set there is nothing to report, so these may be absent.
OPTIONAL_KEYS = ("val_loss", "val_accuracy")


def new_run_dir(root="runs"):
    """A directory name that does not exist yet: ``root/<YYYYmmdd-HHMMSS>[-n]`` (not created)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(root) / stamp
    n = 1
    while out.exists():
        n += 1
        out = Path(root) / f"{stamp}-{n}"
    return out


@contextlib.contextmanager
def own(run_dir):
    """Hold ``run_dir`` (created if missing) for this process alone while the block runs.

    The lock is ``flock`` on ``run_dir/.lock``, which also names the holder
    (pid, host, command) for the message another process gets. Temp files
    a killed writer left are removed once the lock is held.

    Raises:
        ConfigError: another live process holds the directory.
        OSError: the directory or its lock file cannot be created (also
            FileExistsError when ``run_dir`` is a file).
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    lock_was_there = (run_dir / fileio.LOCK_FILE).exists()
    with fileio.directory_lock(run_dir) as (held, fd):
        if not held:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise ConfigError(f"{run_dir} is in use by {holder}; wait for that run to finish or stop it, or pick "
                              "another --out")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} ({' '.join(sys.orig_argv)[:300]})\n".encode(), 0)
        fileio.remove_temp_files(run_dir, RUN_FILES)
        try:
            yield run_dir
        except BaseException:
            # a failed block leaves the directory as it found it: no lock file it did not have, and no
            # empty run. Deleting the lock while holding it is safe: directory_lock re-checks the file it locked
            with contextlib.suppress(OSError):
                if not lock_was_there:
                    (run_dir / fileio.LOCK_FILE).unlink()
                if created:
                    run_dir.rmdir()  # fails, as it should, unless the directory is empty
            raise


def write_config(run_dir, config):
    """Write the run's settings as ``config.json`` atomically."""
    fileio.write_json(Path(run_dir) / "config.json", config)


def read_config(run_dir):
    """The settings ``write_config`` wrote, as a dict.

    Raises:
        ConfigError: no readable config.json in ``run_dir`` (the message says
            what is wrong with the file; the caller adds the fix).
    """
    path = Path(run_dir) / "config.json"
    try:
        config = json.loads(fileio.read_limited(path, MAX_JSON_BYTES).decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # also fileio.UnreadableFile, UnicodeDecodeError
        raise ConfigError(f"{path} is not a readable run config ({shown(str(exc), quote=False)})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path} does not hold a JSON object; it is not an nnfunc run config")
    return config


def _number(value, key, epoch_index):
    """Return value as a JSON-safe int/float, or None when missing or not finite."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"history[{epoch_index}][{key!r}] is {value!r}; pass a number (or None)")
    if key == "epoch":
        return int(value)
    value = float(value)
    # JSON has no nan/inf; null says "no value" in both files.
    return value if math.isfinite(value) else None


def _epoch_rows(history):
    if isinstance(history, (str, bytes, dict)) or not hasattr(history, "__iter__"):
        raise InputError("history must be a list of per-epoch dicts, as returned by training")
    rows = []
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise InputError(f"history[{i}] is a {type(entry).__name__}; each epoch must be a dict")
        missing = [k for k in EPOCH_KEYS if k not in entry and k not in OPTIONAL_KEYS]
        if missing:
            raise InputError(f"history[{i}] lacks {missing}; each epoch needs the keys {list(EPOCH_KEYS)}")
        rows.append({k: _number(entry.get(k), k, i) for k in EPOCH_KEYS})
    return rows


def _test_record(test):
    if test is None:
        return None
    if not isinstance(test, dict) or not {"loss", "accuracy"} <= set(test):
        raise InputError(f"test must be None or a dict with 'loss' and 'accuracy', got {test!r}")
    return {k: _number(test[k], k, "test") for k in ("loss", "accuracy")}


def write_metrics(run_dir, history, test=None):
    """Write ``metrics.json`` and ``metrics.csv`` into ``run_dir`` atomically.

    Args:
        run_dir: the run's directory (created if missing).
        history: list of per-epoch dicts with keys ``EPOCH_KEYS``; the
            ``val_*`` values may be None, nan or absent (no validation set).
            Other keys are ignored.
        test: None, or a dict with the final test ``loss`` and ``accuracy``.

    Returns:
        (json_path, csv_path) as Paths.

    Raises:
        InputError: history or test is malformed.
    """
    rows = _epoch_rows(history)
    record = {"epochs": rows, "test": _test_record(test)}
    run_dir = Path(run_dir)
    json_path, csv_path = run_dir / "metrics.json", run_dir / "metrics.csv"
    fileio.write_json(json_path, record)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(EPOCH_KEYS)
    # repr of a float round-trips exactly; None becomes an empty cell.
    writer.writerows([["" if row[k] is None else repr(row[k]) for k in EPOCH_KEYS] for row in rows])
    fileio.write_text(csv_path, text.getvalue())
    return json_path, csv_path


def read_metrics(run_dir):
    """Read back the record ``write_metrics`` wrote.

    Args:
        run_dir: the run's directory.

    Returns:
        {"epochs": [per-epoch dict, ...], "test": {"loss", "accuracy"} or None}.

    Raises:
        InputError: there is no ``metrics.json`` in ``run_dir``.
        DataError: the file is not valid JSON or lacks the expected structure.
    """
    path = Path(run_dir) / "metrics.json"
    try:
        raw = fileio.read_limited(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise InputError(f"no metrics file {path}; pass the directory of a finished training run") from None
    except (OSError, fileio.UnreadableFile) as exc:
        raise DataError(f"cannot read {path} ({getattr(exc, 'strerror', None) or exc}); it must be the "
                        "metrics.json a training run wrote") from None
    try:
        record = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); it is corrupt: re-run write_metrics") from None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("epochs"), list)
        or not all(isinstance(e, dict) for e in record["epochs"])
        or "test" not in record
    ):
        raise DataError(f"{path} lacks the 'epochs' list or 'test' entry; it is not an nnfunc metrics file")
    return record
