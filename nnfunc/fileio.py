"""Atomic file writes: a temp file in the target directory, then a rename.

A run killed at any moment leaves either the old file or the new one, never
a half-written file that looks complete.
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temp file beside ``path``; rename it over ``path`` on success.

    Args:
        path: destination file; its directory is created if missing.
        mode: "wb" or "w" (text, UTF-8).

    Yields:
        The open temp file. On an exception the temp file is removed and
        ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes 0600 files; give the result the mode open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text(path, text):
    """Write ``text`` (str) to ``path`` atomically, UTF-8."""
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_npz(path, arrays):
    """Save a dict of arrays as an uncompressed ``.npz`` atomically.

    Args:
        path: destination; should end in ``.npz``.
        arrays: name -> ndarray; object arrays are refused so the file
            loads with ``allow_pickle=False``.
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"save_npz: {name!r} is an object array; store plain numbers or strings")
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def save_figure(path, fig, **kwargs):
    """Save a matplotlib figure as PNG atomically (``fig.savefig`` into a temp file)."""
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", **kwargs)
