"""IDX files on disk: find them, read and verify their bytes, parse them into checked arrays.

Every failure is a ``DataError`` naming the file: unreadable or not a
regular file, a size no copy of it can have, truncated or corrupt gzip, a
checksum mismatch, a wrong header, labels out of range.

Reading costs at most what the file must hold: each file's exact
uncompressed size is known, so a file is refused by its size on disk before
it is read, and gunzipping streams in chunks, hashing as it goes, and stops
as soon as the output passes that size (a decompression bomb costs no more
than the real file). The ``mnist`` package parses the IDX bytes; it is
imported only when a file is parsed, so ``import nnfunc`` does not load it.
"""

import contextlib
import errno
import gzip
import hashlib
import io
import os
import struct
import zlib

import numpy as np

from nnfunc.errors import DataError
from nnfunc.fileio import UnreadableFile, open_regular

CHUNK_BYTES = 1 << 20


def gzip_limit(size):
    """The most bytes a gzip file of ``size`` uncompressed bytes can take.

    Deflate's worst case (stored blocks) adds 5 bytes per 64 KiB and each
    gzip member a header of a few dozen bytes; an eighth more plus 64 KiB
    leaves room for any real compressor, many-member files (bgzip) and a
    long file name in the header.
    """
    return size + size // 8 + (1 << 16)


def find_file(directory, stem):
    """The file for ``stem`` in ``directory`` (a Path), gzipped preferred, or None if neither exists.

    Whatever stands at the name counts (a pipe or a directory is reported
    when it is read, not taken for a missing file).

    Raises:
        DataError: the name cannot be looked up (no search permission on a
            directory, a symlink loop, ...).
    """
    for path in (directory / (stem + ".gz"), directory / stem):
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue  # missing, a dangling symlink, or the directory is a file
        except OSError as e:
            raise DataError(f"{path}: cannot look it up ({e.strerror or e}); "
                            f"{_os_fix(e, f'{directory} and the directories above it')}") from e
        return path
    return None


def read_verified(path, sha256, *, size, gz=None, name=None):
    """Return a file's uncompressed bytes after checking their size and SHA-256.

    Args:
        path: the file. gz: gunzip it first; None decides by a ".gz" suffix.
        sha256: expected hex digest of the uncompressed bytes.
        size: their exact expected length in bytes; no more is ever read or inflated.
        name: how errors name the file (default: the path).

    Returns:
        bytes of length ``size``.

    Raises:
        DataError: not a readable regular file, a size on disk no copy can
            have, truncated or corrupt gzip, inflating past ``size``,
            checksum mismatch.
    """
    name = name or str(path)
    gz = str(path).endswith(".gz") if gz is None else gz
    try:
        with open_regular(path) as f:
            _check_stored_size(os.fstat(f.fileno()).st_size, size=size, gz=gz, name=name)
            return _read_checked(_Capped(f, gzip_limit(size), name=name) if gz else f,
                                 sha256, size=size, gz=gz, name=name)
    except UnreadableFile as e:  # its message names the path
        prefix = "" if name == str(path) else f"{name}: "
        raise DataError(f"{prefix}{e}; replace it with the dataset file") from e
    except OSError as e:
        raise DataError(f"{name}: cannot read it ({e.strerror or e}); {_os_fix(e, 'the file')}") from e


def verify_bytes(data, sha256, *, size, gz, name):
    """Return ``data`` (bytes), gunzipped if ``gz``, after checking its size and SHA-256.

    Args:
        data: the file's bytes, as read or downloaded. sha256: expected hex
            digest of the uncompressed bytes. size: their exact length; no
            more is inflated. gz: gunzip ``data`` first. name: how errors name it.

    Raises:
        DataError: a length no copy can have, truncated or corrupt gzip,
            inflating past ``size``, checksum mismatch; names ``name``.
    """
    _check_stored_size(len(data), size=size, gz=gz, name=name)
    return _read_checked(io.BytesIO(data), sha256, size=size, gz=gz, name=name)


def _check_stored_size(stored, *, size, gz, name):
    """Refuse, before reading, a file whose size on disk no copy of the data can have."""
    if gz and stored > gzip_limit(size):
        raise DataError(f"{name}: {stored:,} bytes gzipped, more than the {gzip_limit(size):,} bytes any gzip of "
                        f"the {size:,}-byte file can take; it is not the dataset file, replace it")
    if not gz and stored != size:
        raise DataError(f"{name}: {stored:,} bytes, but the uncompressed file is exactly {size:,} bytes; "
                        "it is damaged or another file, replace it")


def _read_checked(f, sha256, *, size, gz, name):
    """Read ``f`` (gunzipping if ``gz``) in chunks, hashing, never holding more than ``size`` + 1 bytes."""
    digest, chunks, total = hashlib.sha256(), [], 0
    try:
        # gzip.GzipFile, not zlib: it reads multi-member files and zero padding as gzip.decompress does
        with gzip.GzipFile(fileobj=f, mode="rb") if gz else contextlib.nullcontext(f) as source:
            # one byte past size is enough to know the file is too long
            while chunk := source.read(min(CHUNK_BYTES, size + 1 - total)):
                total += len(chunk)
                if total > size:
                    raise DataError(f"{name}: {'inflates' if gz else 'grows'} past the {size:,} bytes the file "
                                    "holds; it is not the dataset file (a damaged file or a decompression bomb), "
                                    "replace it")
                digest.update(chunk)
                chunks.append(chunk)
    except EOFError as e:
        raise DataError(f"{name}: truncated gzip (ends before the compressed stream does); "
                        "the copy or download was cut short, replace the file") from e
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{name}: corrupt gzip ({e}); replace the file") from e
    if total != size:
        raise DataError(f"{name}: holds {total:,} bytes{' once gunzipped' if gz else ''}, but the file is "
                        f"exactly {size:,} bytes; it is cut short or another file, replace it")
    got = digest.hexdigest()
    if got != sha256:
        raise DataError(f"{name}: checksum mismatch: expected SHA-256 {sha256} of the uncompressed bytes, "
                        f"got {got}; the file is damaged or from another dataset, replace it")
    return b"".join(chunks)


class _Capped:
    """A binary reader over ``f`` that refuses to read past ``limit`` bytes (a file that grows while read)."""

    def __init__(self, f, limit, *, name):
        self._f, self._left, self._name = f, limit, name

    def read(self, n=-1):
        data = self._f.read(self._left + 1 if n is None or n < 0 else min(n, self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise DataError(f"{self._name}: grew past the bytes any gzip of the file can take while it was read; "
                            "it is not the dataset file, replace it")
        return data


def _os_fix(error, what):
    """What to do about an OSError met while reading a source."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"check the permissions of {what} (reading needs r on the file and x on each directory)"
    return "check the path, or put the dataset files elsewhere"


def idx_header(shape):
    """The IDX header of a uint8 array of ``shape``: 0x0000, type 0x08, ndim, each dimension as big-endian uint32."""
    return struct.pack(">HBB", 0, 0x08, len(shape)) + struct.pack(">" + "I" * len(shape), *shape)


def parse_idx(raw, *, kind, name):
    """Parse IDX bytes with ``mnist.parse_idx`` and check the result.

    Args:
        raw: the uncompressed IDX file contents (bytes).
        kind: "images" (expects (m, 28, 28) uint8) or "labels" ((m,) uint8, 0..9).
        name: how errors name the file.

    Returns:
        images: (m, 28, 28) uint8, or labels: (m,) uint8.

    Raises:
        DataError: not an IDX file, wrong header (type or dims), label > 9.
    """
    import mnist  # here, not at the top: it loads urllib, which import nnfunc must not

    try:
        array = mnist.parse_idx(io.BytesIO(raw))
    except (ValueError, struct.error, TypeError) as e:  # IdxDecodeError is a ValueError
        raise DataError(f"{name}: not a valid IDX file ({e}); replace the file") from e
    if kind == "images":
        ok, want = array.ndim == 3 and array.shape[1:] == (28, 28), "(m, 28, 28) uint8"
    else:
        ok, want = array.ndim == 1, "(m,) uint8"
    if not ok or array.dtype != np.uint8:
        raise DataError(f"{name}: IDX header gives {array.dtype} of shape {array.shape}, expected {kind} "
                        f"{want}; is this the right file?")
    if kind == "labels" and array.size and array.max() > 9:
        raise DataError(f"{name}: label {int(array.max())} out of range 0..9; replace the file")
    return array


def check_counts(images, labels, *, names):
    """Raise DataError unless images (m, 28, 28) and labels (m,) have the same m."""
    if len(images) != len(labels):
        raise DataError(f"{names[0]} has {len(images)} images but {names[1]} has {len(labels)} labels; "
                        "the two files come from different splits or datasets")
