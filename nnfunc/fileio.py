"""Files in and out: atomic writes, regular-file reads, directory locks.

Writes go to a temp file in the target directory, then a rename: a run
killed at any moment leaves either the old file or the new one, never a
half-written file that looks complete (only a ``.NAME.XXXXXXXX.tmp`` that
``remove_temp_files`` clears under ``directory_lock``). Reads open regular
files only (a named pipe would block forever) and never read more than the
caller says the file may hold; ``nnfunc.npz`` reads ``.npz`` files that way.
"""

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
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
    with contextlib.suppress(FileNotFoundError):
        there = os.lstat(path).st_mode
        # the rename would replace a directory or a device node with a plain file
        if stat.S_ISDIR(there):
            raise IsADirectoryError(errno.EISDIR, "a directory is there, not a file", str(path))
        if stat.S_ISCHR(there) or stat.S_ISBLK(there):  # e.g. /dev/null, which root could replace
            raise FileExistsError(errno.EEXIST, f"{_kind(there)} is there, not a file", str(path))
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
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno and exc.filename is None:  # a failed write names no file: say which
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
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


class UnreadableFile(ValueError):
    """A file that is not a regular file, too large, or not the format it should be.

    The message says what is wrong with the file; callers add what to do.
    """


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path):
    """Open ``path`` for binary reading if it is a regular file (symlinks followed).

    Opening never blocks: a named pipe or device is refused, not waited on.

    Raises:
        UnreadableFile: a directory, pipe, socket or device.
        OSError: missing or unreadable (FileNotFoundError, PermissionError, ...).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # open(2) refuses a socket outright, before fstat could name it
            raise UnreadableFile(f"{path} is a socket or a device, not a file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnreadableFile(f"{path} is {_kind(mode)}, not a file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_size(file):
    """The size in bytes of an open file (an ``open_regular`` result)."""
    return os.fstat(file.fileno()).st_size


def read_limited(path, limit):
    """The bytes of the regular file ``path``, refusing one larger than ``limit`` bytes.

    Raises:
        UnreadableFile: not a regular file, or larger than ``limit``.
        OSError: missing or unreadable.
    """
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFile(f"{path} is larger than the {limit:,} bytes such a file can hold")
    return data


LOCK_FILE = ".lock"


@contextlib.contextmanager
def directory_lock(directory, *, wait=False):
    """Try to hold an exclusive ``flock`` on ``directory/.lock`` (both created if missing).

    The OS releases the lock when its process dies, however it dies. The
    lock file is never followed through a symlink and never waited on if it
    is a pipe. Its holder may delete it (and the directory) while holding
    it: a process that then gets the lock of the deleted file sees that
    the path no longer names it and locks the path afresh, so two
    processes never both hold the directory.

    Args:
        directory: a Path. wait: block until the lock is free instead of giving up.

    Yields:
        (held, fd): whether this process holds the lock (always True when
        ``wait``), and the lock file's descriptor (to note or read its holder).

    Raises:
        OSError: the directory or the lock file cannot be created or opened;
            IsADirectoryError or FileExistsError when something other than a
            file is there.
    """
    directory = Path(directory)
    path = directory / LOCK_FILE
    while True:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        try:
            held = _lock(fd, path, wait)
        except BaseException:
            os.close(fd)
            raise
        if held is not None:
            break
        os.close(fd)  # the file was deleted by its last holder: lock the one the path names now
    try:
        yield held, fd
    finally:
        os.close(fd)  # releases the lock


def _lock(fd, path, wait):
    """flock ``fd``: True when held, False when another holds it, None when ``path`` names another file by then."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        raise FileExistsError(errno.EEXIST, f"{_kind(mode)} is there, not nnfunc's lock file", str(path))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    mine = os.fstat(fd)
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return True if (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev) else None


_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def remove_temp_files(directory, names):
    """Delete the temp files ``atomic_open`` left in ``directory`` for files named in ``names``.

    Only call it while no other process may be writing there (hold the
    directory's lock). Returns the Paths removed.
    """
    removed = []
    for entry in Path(directory).iterdir():
        match = _TEMP.match(entry.name)
        if match and match["name"] in names and entry.is_file() and not entry.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed.append(entry)
    return removed
