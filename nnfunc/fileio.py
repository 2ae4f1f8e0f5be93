"""Files in and out: atomic writes, and bounded reads of files nobody vouches for.

Writes go to a temp file in the target directory, then a rename: a run
killed at any moment leaves either the old file or the new one, never a
half-written file that looks complete (only a ``.NAME.XXXXXXXX.tmp`` that
``remove_temp_files`` clears). Reads open regular files only (a named pipe
would block forever) and never read more than the caller says the file may
hold: a ``.npz`` shows every array's shape and dtype before any data is read.
"""

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from nnfunc.errors import shown

# an .npz member may inflate this many times its stored size: float weights
# compress by well under 2x and nnfunc stores them uncompressed, so more is a bomb
MAX_INFLATION = 16
MAX_MEMBERS = 10_000


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


def npz_headers(path):
    """Shape and dtype of every array in an ``.npz``, read without reading any array's data.

    Returns:
        {name: (shape tuple, numpy dtype)}, names without ``.npy``.

    Raises:
        UnreadableFile: not a regular file or not a zip, a member that is not
            an ``.npy``, an object (pickle) dtype, a member whose size does
            not match its header, or members inflating past
            ``MAX_INFLATION`` times the file's size.
        OSError: missing or unreadable.
    """
    with _open_zip(path) as (zf, infos):
        return {name: _header(zf, info, path)[:2] for name, info in infos.items()}


def read_npz(path, names=None):
    """Read arrays of an ``.npz`` after checking every member's header (see ``npz_headers``).

    Args:
        path: the file. names: the arrays to read (None: all).

    Returns:
        {name: ndarray}; each array is its own copy, never a pickle.

    Raises:
        UnreadableFile, OSError: as ``npz_headers``; KeyError for a name the file lacks.
    """
    with _open_zip(path) as (zf, infos):
        wanted = infos if names is None else {name: infos[name] for name in names}
        headers = {name: _header(zf, info, path) for name, info in infos.items()}
        arrays = {}
        for name, info in wanted.items():
            shape, dtype, fortran, offset = headers[name]
            array = np.empty(shape, dtype, order="F" if fortran else "C")
            # read straight into the array: no bytes object, no second copy
            buffer = memoryview(array.T if fortran else array).cast("B")
            if info.compress_type == zipfile.ZIP_STORED:
                _read_stored(zf.fp, info, offset, buffer, f"{path}: array {name!r}")
            else:
                with zf.open(info) as member:
                    member.read(offset)
                    filled = 0
                    while filled < len(buffer):
                        got = member.readinto(buffer[filled:])
                        if not got:
                            raise UnreadableFile(f"{path}: array {name!r} ends early")
                        filled += got
            arrays[name] = array
        return arrays


def _read_stored(f, info, offset, buffer, what):
    """Read an uncompressed member's data (after ``offset`` header bytes) from the zip's file into ``buffer``.

    The zip module would read it into bytes and copy them again; this reads
    once, then checks the member's CRC-32 as the zip module would.
    """
    f.seek(info.header_offset)
    local = f.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise UnreadableFile(f"{what} has a corrupt zip entry")
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    f.seek(start)
    head = f.read(offset)
    f.seek(start + offset)
    if f.readinto(buffer) != len(buffer):
        raise UnreadableFile(f"{what} ends early")
    if zlib.crc32(buffer, zlib.crc32(head)) != info.CRC:
        raise UnreadableFile(f"{what} fails its CRC check: the file is damaged")


@contextlib.contextmanager
def _open_zip(path):
    """Yield (ZipFile, {array name: ZipInfo}) after the checks every reader needs."""
    with open_regular(path) as f:
        if f.read(4) != b"PK\x03\x04":
            raise UnreadableFile(f"{path} is not an .npz file (it does not start like a zip archive)")
        f.seek(0)
        size = os.fstat(f.fileno()).st_size
        try:
            with zipfile.ZipFile(f) as zf:
                infos = zf.infolist()
                if len(infos) > MAX_MEMBERS:
                    raise UnreadableFile(f"{path} holds {len(infos)} arrays, more than any nnfunc file")
                inflated = sum(info.file_size for info in infos)
                if inflated > MAX_INFLATION * size + (1 << 20):
                    raise UnreadableFile(f"{path} would inflate from {size:,} to {inflated:,} bytes; it is not "
                                         "an nnfunc file (nnfunc stores arrays uncompressed)")
                named = {}
                for info in infos:
                    if not info.filename.endswith(".npy") or info.filename[:-4] in named:
                        raise UnreadableFile(f"{path} holds {info.filename!r}, which is not one .npy array")
                    named[info.filename[:-4]] = info
                yield zf, named
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
            # RuntimeError: an encrypted member; NotImplementedError: an unknown compression
            raise UnreadableFile(f"{path} is corrupt or truncated ({type(exc).__name__}: {exc})") from None
        except (ValueError, OSError, zipfile.error) as exc:
            if isinstance(exc, UnreadableFile):
                raise
            raise UnreadableFile(f"{path} is corrupt or truncated ({type(exc).__name__}: {exc})") from None


def _header(zf, info, path):
    """(shape, dtype, fortran order, header length) of one member, checked against its stored size."""
    name = info.filename[:-4]
    with zf.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, OverflowError, SyntaxError, TypeError) as exc:
            raise UnreadableFile(f"{path}: array {name!r} has a bad header ({str(exc)[:200]})") from None
        offset = member.tell()
    if dtype.hasobject:
        raise UnreadableFile(f"{path} holds pickled Python objects in {name!r}, which nnfunc never loads")
    # exact integers: a header may claim (10**200, 10**200), far past any float
    nbytes = math.prod(shape) * dtype.itemsize
    if min(shape, default=0) < 0 or offset + nbytes != info.file_size:
        raise UnreadableFile(f"{path}: array {name!r} claims shape {shown(shape)} of {dtype}, which does not fit the "
                             f"{info.file_size:,} bytes stored for it")
    return shape, dtype, fortran, offset


LOCK_FILE = ".lock"


@contextlib.contextmanager
def directory_lock(directory, *, wait=False):
    """Try to hold an exclusive ``flock`` on ``directory/.lock`` (both created if missing).

    The OS releases the lock when its process dies, however it dies. The
    lock file is never followed through a symlink, never waited on if it
    is a pipe, and never deleted (deleting it would let two holders lock
    two different files).

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
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileExistsError(errno.EEXIST, f"{_kind(mode)} is there, not nnfunc's lock file", str(path))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            held = True
        except BlockingIOError:
            held = False
        yield held, fd
    finally:
        os.close(fd)  # releases the lock


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
