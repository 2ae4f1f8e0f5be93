"""An ``.npz`` nobody vouches for, read header first: every array's shape and dtype before any data.

A member must be one ``.npy`` array of a plain dtype (never a pickle) whose
stored size matches its header; the members together may not inflate past
``MAX_INFLATION`` times the file. Uncompressed members are read straight
into their arrays and checked against their CRC-32. Every failure is a
``fileio.UnreadableFile`` saying what is wrong with the file.

An nnfunc file (a checkpoint, a model file) is such an ``.npz`` with a
header of three small entries: ``meta`` (a JSON object), ``nnfunc_version``
and one format number named for the file's kind (``checkpoint_format``,
``model_format``): each kind counts its own formats. ``write`` writes one;
``opened``, ``read_header`` and ``read`` read its header before any data.
Files written before each kind had its own number (up to nnfunc 0.3.0)
store it as ``format_version`` and name a model file's kind in
``meta["kind"]`` (none: a checkpoint); they read as the same format of that
kind.
"""

import contextlib
import json
import math
import os
import re
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from nnfunc._version import __version__
from nnfunc.errors import shown
from nnfunc.fileio import UnreadableFile, open_regular, save_npz

# an .npz member may inflate this many times its stored size: float weights
# compress by well under 2x and nnfunc stores them uncompressed, so more is a bomb
MAX_INFLATION = 16
MAX_MEMBERS = 10_000
MAX_META_CHARS = 64 << 20  # a meta record of 1,000 epochs of history is about 250 KB
_MAX_VERSION_CHARS = 200
META, WRITTEN_BY = "meta", "nnfunc_version"
LEGACY_FORMAT = "format_version"  # one number both kinds shared, up to nnfunc 0.3.0
_FORMAT = re.compile(r"([a-z]+)_format")


class Header(NamedTuple):
    """What an nnfunc file says of itself, read before any array's data.

    kind: the file's kind ("checkpoint", "model"), named by its format entry.
    format: its format number; each kind counts its own.
    meta: the ``meta`` record, a JSON object (dict).
    written_by: the nnfunc version that wrote the file ("?" when it does not say).
    shapes: {name: (shape tuple, numpy dtype)} of every entry besides the header's three: the data.
    """

    kind: str
    format: int
    meta: dict
    written_by: str
    shapes: dict


def write(path, arrays, *, kind, format, meta):
    """Write an nnfunc file atomically: ``arrays`` after a header naming ``kind``, its ``format`` and ``meta``.

    Args:
        path: the file. arrays: {name: ndarray} of plain dtypes (the data).
        kind: a lowercase word ("checkpoint"); stored as the entry ``<kind>_format``.
        format: the kind's format number (int). meta: a JSON-able dict.
    """
    if not _FORMAT.fullmatch(f"{kind}_format"):
        raise ValueError(f"a file's kind is a lowercase word, got {kind!r}")
    header = {f"{kind}_format": np.array(format), WRITTEN_BY: np.array(__version__), META: np.array(json.dumps(meta))}
    save_npz(path, {**header, **arrays})


@contextlib.contextmanager
def opened(path):
    """Yield (Header, read) of the nnfunc file at ``path``, every entry's header checked and no data read yet.

    ``read()`` returns every entry {name: ndarray} as stored, the header's
    too (a copy can be written back), from the same open file: a writer
    renaming a new version over ``path`` meanwhile cannot mix two versions.

    Raises:
        UnreadableFile: as ``npz_headers``; no meta record or format number,
            two format numbers, a corrupt one, or a meta record of another kind.
        OSError: missing or unreadable.
    """
    with open_regular(path) as f:
        shapes = npz_headers(f, name=path)
        yield _file_header(f, path, shapes), lambda: read_npz(f, name=path)


def read_header(path):
    """The Header of the nnfunc file at ``path``; no array's data is read (see ``opened``)."""
    with opened(path) as (header, _):
        return header


def read(path):
    """(Header, {name: ndarray} of every entry) of the nnfunc file at ``path`` (see ``opened``)."""
    with opened(path) as (header, read_arrays):
        return header, read_arrays()


def npz_headers(path, *, name=None):
    """Shape and dtype of every array in an ``.npz``, read without reading any array's data.

    ``path`` may also be a binary file open for reading (it is read from its
    start and left open; ``name`` then names it in messages): a reader that
    must see one version of a file other processes replace opens it once.

    Returns:
        {name: (shape tuple, numpy dtype)}, names without ``.npy``.

    Raises:
        UnreadableFile: not a regular file or not a zip, a member that is not
            an ``.npy``, an object (pickle) dtype, a member whose size does
            not match its header, or members inflating past
            ``MAX_INFLATION`` times the file's size.
        OSError: missing or unreadable.
    """
    with _open_zip(path, name) as (zf, infos, path):
        return {key: _header(zf, info, path)[:2] for key, info in infos.items()}


def read_npz(path, names=None, *, name=None):
    """Read arrays of an ``.npz`` after checking their headers (see ``npz_headers``; others are not opened).

    Args:
        path: the file, or a binary file open for reading (see ``npz_headers``).
        names: the arrays to read (None: all). name: the file's name in messages.

    Returns:
        {name: ndarray}; each array is its own copy, never a pickle.

    Raises:
        UnreadableFile, OSError: as ``npz_headers``; KeyError for a name the file lacks.
    """
    with _open_zip(path, name) as (zf, infos, path):
        wanted = infos if names is None else {key: infos[key] for key in names}
        headers = {name: _header(zf, info, path) for name, info in wanted.items()}
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
def _open_zip(source, name=None):
    """Yield (ZipFile, {array name: ZipInfo}, the file's name) after the checks every reader needs.

    ``source``: a path (opened here), or a binary file open for reading (read from its start, left open).
    """
    if hasattr(source, "read"):
        opened, path = contextlib.nullcontext(source), name or getattr(source, "name", "the file")
        source.seek(0)
    else:
        opened, path = open_regular(source), name or source
    with opened as f:
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
                yield zf, named, path
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


def _file_header(f, path, shapes):
    """The Header of the open nnfunc file ``f`` (named ``path``) whose entries' ``shapes`` were read."""
    keys = [k for k in shapes if k == LEGACY_FORMAT or _FORMAT.fullmatch(k)]
    if META not in shapes or not keys:
        raise UnreadableFile(f"{path} is an .npz but not an nnfunc checkpoint or model file (it needs a meta record "
                             "and a format number)")
    if len(keys) > 1:
        raise UnreadableFile(f"{path} holds {len(keys)} format numbers ({', '.join(map(shown, keys[:3]))}) where an "
                             "nnfunc file has one; the file is damaged")
    key = keys[0]
    (f_shape, f_dtype), (m_shape, m_dtype) = shapes[key], shapes[META]
    if f_shape != () or f_dtype.kind not in "iu":
        raise UnreadableFile(f"{path} has a corrupt {key} (a {f_dtype} array of shape {shown(f_shape)})")
    if m_shape != () or m_dtype.kind != "U" or m_dtype.itemsize > 4 * MAX_META_CHARS:
        raise UnreadableFile(f"{path} has a corrupt meta record (a {m_dtype} array of shape {shown(m_shape)})")
    small = [key, META]
    v_shape, v_dtype = shapes.get(WRITTEN_BY, (None, np.dtype(float)))
    if v_shape == () and v_dtype.kind == "U" and v_dtype.itemsize <= 4 * _MAX_VERSION_CHARS:
        small.append(WRITTEN_BY)  # any other is no version: messages say "?"
    values = read_npz(f, small, name=path)
    try:
        meta = json.loads(str(values[META]))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise UnreadableFile(f"{path} has a corrupt meta record ({exc})") from None
    if not isinstance(meta, dict):
        raise UnreadableFile(f"{path} has a meta record that is not a JSON object")
    stated = meta.get("kind")
    if key == LEGACY_FORMAT:
        kind = "checkpoint" if stated is None else stated  # a model file said so; a checkpoint did not
        if not isinstance(kind, str):
            raise UnreadableFile(f"{path} has a meta record whose kind {shown(kind)} is not a word; the file is "
                                 "damaged")
    else:
        kind = _FORMAT.fullmatch(key)[1]
        if stated is not None and stated != kind:
            raise UnreadableFile(f"{path} is an nnfunc {kind} file whose meta record names it a "
                                 f"{shown(stated, quote=False)} file; the file is damaged")
    data = {name: shape for name, shape in shapes.items() if name not in (key, META, WRITTEN_BY)}
    return Header(kind, int(values[key]), meta, str(values.get(WRITTEN_BY, "?")), data)
