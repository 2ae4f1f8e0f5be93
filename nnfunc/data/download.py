"""Download dataset files from mirrors, verified before they land: the only module that uses the network.

A download is streamed into a temp file beside its destination
(``fileio.atomic_open``), verified, and only then renamed into place: a
failed, interrupted or corrupt download never leaves a file that looks
complete. ``nnfunc.data.load`` decides when to download and imports this
module only then.
"""

import http.client
import sys
import urllib.error
import urllib.request

from nnfunc.data.datasets import CHECK_ORDER, check_mirrors
from nnfunc.data.idx import find_file, read_verified, verify_bytes
from nnfunc.errors import DataError
from nnfunc.fileio import atomic_open

DEFAULT_TIMEOUT = 30.0
CHUNK_BYTES = 1 << 16
# Some hosts refuse urllib's default agent.
USER_AGENT = "nnfunc"


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
