"""The dataset files: what they are, fetching them, and proving them intact.

Knows each dataset's four IDX files, their SHA-256 (of the uncompressed
bytes) and mirrors. Turns a file, on disk or on a mirror, into checked bytes
and checked arrays, or into a ``DataError`` naming the file. A download is
streamed into a temp file beside its destination (``fileio.atomic_open``),
verified, and only then renamed into place: a failed, interrupted or corrupt
download never leaves a file that looks complete. ``nnfunc.data`` decides
where to look and caches the arrays. The only module that uses the network.
"""

import gzip
import hashlib
import http.client
import io
import struct
import sys
import urllib.error
import urllib.request
import zlib
from typing import NamedTuple

import mnist
import numpy as np

from nnfunc.errors import ConfigError, DataError
from nnfunc.fileio import atomic_open

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Small label files first, so a broken one is reported before 47 MB are hashed.
CHECK_ORDER = (STEMS[3], STEMS[1], STEMS[2], STEMS[0])
DEFAULT_TIMEOUT = 30.0
CHUNK_BYTES = 1 << 16
# Some hosts refuse urllib's default agent.
USER_AGENT = "nnfunc"


class DatasetSpec(NamedTuple):
    """What identifies a dataset: checksums, mirrors, class names, system dirs."""

    sha256: dict
    mirrors: tuple
    class_names: tuple
    system_dirs: tuple


SPECS = {
    "mnist": DatasetSpec(
        sha256=dict(zip(STEMS, (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"))),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        class_names=tuple(str(d) for d in range(10)),
        system_dirs=(),
    ),
    "fashion-mnist": DatasetSpec(
        sha256=dict(zip(STEMS, (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"))),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        system_dirs=(("Debian package dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),),
    ),
}


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


def check_mirrors(mirrors):
    """Validate a mirror list and return it as a tuple of base URLs.

    Raises:
        ConfigError: a bare string, an empty list, or a non-http(s) URL.
    """
    if isinstance(mirrors, (str, bytes)) or not hasattr(mirrors, "__iter__"):
        raise ConfigError(f"mirrors must be a list of base URLs, got {mirrors!r}; wrap a single URL in a list")
    mirrors = tuple(mirrors)
    if not mirrors:
        raise ConfigError("mirrors is empty; give at least one base URL or leave mirrors=None for the defaults")
    for url in mirrors:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"mirror {url!r} is not an http:// or https:// URL; fix or drop it")
    return mirrors


def download_missing(target, spec, mirrors, *, progress=None, timeout=DEFAULT_TIMEOUT):
    """Download into ``target`` (a Path) each file it lacks or holds broken.

    Raises:
        DataError: a file no mirror could provide intact (files fetched
            before it stay: each was verified).
    """
    for stem in CHECK_ORDER:
        existing = find_file(target, stem)
        if existing is not None:
            try:
                read_verified(existing, spec.sha256[stem])
                continue
            except DataError:
                pass  # replaced below by a verified download

        def check(data, url, sha=spec.sha256[stem]):
            verify_bytes(data, sha, gz=True, name=url)

        fetch(stem + ".gz", target / (stem + ".gz"), mirrors, check=check, progress=progress, timeout=timeout)


def fetch(filename, dest, mirrors, *, check, progress=None, timeout=DEFAULT_TIMEOUT):
    """Download ``filename`` from the first mirror that serves a good copy.

    Args:
        filename: file name appended to each mirror's base URL.
        dest: final path; written only after ``check`` accepts the bytes.
        mirrors: base URLs tried in order (see ``check_mirrors``).
        check: called as ``check(data, url)`` with the complete body (bytes)
            while it sits in a temp file; raises ``DataError`` to reject it
            (the temp file is removed and the next mirror tried).
        progress: True/False, or None to show a bar only on a terminal.
        timeout: seconds to wait for a connection or for the next bytes.

    Returns:
        The URL that served the accepted file.

    Raises:
        DataError: every mirror failed; the message lists each URL and why.
    """
    failures = []
    for base in check_mirrors(mirrors):
        url = base.rstrip("/") + "/" + filename
        try:
            with atomic_open(dest, "wb") as f:
                check(_stream(url, f, progress=progress, timeout=timeout), url)
            return url
        except urllib.error.HTTPError as e:
            failures.append(f"{url}: HTTP {e.code} {e.reason}")
        except urllib.error.URLError as e:
            failures.append(f"{url}: cannot connect ({e.reason})")
        except (http.client.HTTPException, OSError, DataError) as e:
            failures.append(f"{url}: {str(e) or type(e).__name__}")
    raise DataError(f"could not download {filename} from any mirror:\n" + "\n".join(f"     - {x}" for x in failures))


def _stream(url, out, *, progress, timeout):
    """Copy the body at ``url`` into the open binary file ``out`` and return it.

    Returns:
        The body as bytes (dataset files are small enough to hold twice).

    Raises:
        DataError: the server closed the connection before sending the
            ``Content-Length`` it announced (``http.client`` returns a short
            body silently in that case).
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    isatty = getattr(sys.stderr, "isatty", None)  # stderr may be replaced by an object without one
    show = bool(isatty and isatty()) if progress is None else bool(progress)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        chunks = []
        from tqdm import tqdm  # only when a bar is drawn: import nnfunc stays light

        with tqdm(total=total, desc=url.rsplit("/", 1)[-1], unit="B", unit_scale=True, unit_divisor=1024,
                  disable=not show, file=sys.stderr, leave=False) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                chunks.append(chunk)
                bar.update(len(chunk))
    data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise DataError(f"connection closed after {len(data)} of {total} bytes")
    return data
