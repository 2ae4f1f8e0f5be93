"""IDX files on disk: find them, read and verify their bytes, parse them into checked arrays.

Every failure is a ``DataError`` naming the file: unreadable, truncated or
corrupt gzip, a checksum mismatch, a wrong header, labels out of range.
The ``mnist`` package parses the IDX bytes; it is imported only when a file
is parsed, so ``import nnfunc`` does not load it.
"""

import gzip
import hashlib
import io
import struct
import zlib

import numpy as np

from nnfunc.errors import DataError


def find_file(directory, stem):
    """The file for ``stem`` in ``directory`` (a Path), gzipped preferred, or None."""
    for path in (directory / (stem + ".gz"), directory / stem):
        if path.is_file():
            return path
    return None


def read_verified(path, sha256, *, gz=None, name=None):
    """Return a file's uncompressed bytes after checking their SHA-256.

    Args:
        path: the file. gz: gunzip it first; None decides by a ".gz" suffix.
        sha256: expected hex digest of the uncompressed bytes.
        name: how errors name the file (default: the path).

    Raises:
        DataError: unreadable file, truncated or corrupt gzip, checksum mismatch.
    """
    name = name or str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"{name}: cannot read ({e}); check that it is a readable file") from e
    return verify_bytes(data, sha256, gz=str(path).endswith(".gz") if gz is None else gz, name=name)


def verify_bytes(data, sha256, *, gz, name):
    """Return ``data`` (bytes), gunzipped if ``gz``, after checking the SHA-256.

    Raises:
        DataError: truncated or corrupt gzip, checksum mismatch; names ``name``.
    """
    if gz:
        try:
            data = gzip.decompress(data)
        except EOFError as e:
            raise DataError(f"{name}: truncated gzip (ends before the compressed stream does); "
                            "the copy or download was cut short, replace the file") from e
        except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise DataError(f"{name}: corrupt gzip ({e}); replace the file") from e
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DataError(f"{name}: checksum mismatch: expected SHA-256 {sha256} of the uncompressed bytes, "
                        f"got {got}; the file is damaged or from another dataset, replace it")
    return data


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
