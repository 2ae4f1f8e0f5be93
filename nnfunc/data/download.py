"""Download dataset files from mirrors, verified before they land: the only module that uses the network.

A download is streamed into a temp file beside its destination
(``fileio.atomic_open``), verified, and only then renamed into place: a
failed, interrupted or corrupt download never leaves a file that looks
complete. A body may not pass the most a gzip of its file can take (checked
against ``Content-Length`` before reading, then as it arrives), and
gunzipping it stops at the file's exact size: a hostile mirror costs no more
than an honest one. Downloads hold the target directory's lock
(``fileio.directory_lock``), so the temp files a killed download left can be
removed safely. ``nnfunc.data.load`` decides when to download and imports
this module only then.
"""

import contextlib
import http.client
import sys
import urllib.error
import urllib.request

from nnfunc.data.datasets import CHECK_ORDER, STEMS, check_mirrors
from nnfunc.data.idx import find_file, gzip_limit, read_verified, verify_bytes
from nnfunc.errors import DataError
from nnfunc.fileio import atomic_open, directory_lock, remove_temp_files

DEFAULT_TIMEOUT = 30.0
CHUNK_BYTES = 1 << 16
# Some hosts refuse urllib's default agent.
USER_AGENT = "nnfunc"


def download_missing(target, spec, mirrors, *, progress=None, timeout=DEFAULT_TIMEOUT):
    """Download into ``target`` (a Path) each file it lacks or holds broken.

    Holds ``target``'s lock throughout: another process downloading there
    is waited for (its files are then found verified and kept), and the
    temp files a killed download left are removed first.

    Raises:
        DataError: ``target`` cannot be created or locked (read-only, full,
            no permission); a file no mirror could provide intact (files
            fetched before it stay: each was verified).
    """
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(directory_lock(target, wait=True))
            remove_temp_files(target, {stem + ".gz" for stem in STEMS})
        except OSError as e:
            raise DataError(f"cannot write to {target} ({e.strerror or e}); make it writable, or set "
                            "XDG_CACHE_HOME to a writable directory") from e
        for stem in CHECK_ORDER:
            size = spec.sizes[stem]
            existing = find_file(target, stem)
            if existing is not None:
                try:
                    read_verified(existing, spec.sha256[stem], size=size)
                    continue
                except DataError:
                    pass  # replaced below by a verified download

            def check(data, url, sha=spec.sha256[stem], size=size):
                verify_bytes(data, sha, size=size, gz=True, name=url)

            fetch(stem + ".gz", target / (stem + ".gz"), mirrors, check=check, max_bytes=gzip_limit(size),
                  progress=progress, timeout=timeout)


def fetch(filename, dest, mirrors, *, check, max_bytes, progress=None, timeout=DEFAULT_TIMEOUT):
    """Download ``filename`` from the first mirror that serves a good copy.

    Args:
        filename: file name appended to each mirror's base URL.
        dest: final path; written only after ``check`` accepts the bytes.
        mirrors: base URLs tried in order (see ``check_mirrors``).
        check: called as ``check(data, url)`` with the complete body (bytes)
            while it sits in a temp file; raises ``DataError`` to reject it
            (the temp file is removed and the next mirror tried).
        max_bytes: the most bytes a good copy can have; a longer body is
            refused (by its ``Content-Length`` before reading, else as soon
            as it passes the limit) and the next mirror tried.
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
                check(_stream(url, f, max_bytes=max_bytes, progress=progress, timeout=timeout), url)
            return url
        except urllib.error.HTTPError as e:
            failures.append(f"{url}: HTTP {e.code} {e.reason}")
        except urllib.error.URLError as e:
            failures.append(f"{url}: cannot connect ({e.reason})")
        except (http.client.HTTPException, OSError, DataError) as e:
            failures.append(f"{url}: {str(e) or type(e).__name__}")
    raise DataError(f"could not download {filename} from any mirror:\n" + "\n".join(f"     - {x}" for x in failures))


def _stream(url, out, *, max_bytes, progress, timeout):
    """Copy the body at ``url`` into the open binary file ``out`` and return it.

    Returns:
        The body as bytes, at most ``max_bytes`` of them.

    Raises:
        DataError: a body longer than ``max_bytes`` (announced or sent); the
            server closed the connection before sending the
            ``Content-Length`` it announced (``http.client`` returns a short
            body silently in that case).
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    isatty = getattr(sys.stderr, "isatty", None)  # stderr may be replaced by an object without one
    show = bool(isatty and isatty()) if progress is None else bool(progress)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise DataError(f"announces {total:,} bytes, more than the {max_bytes:,} bytes this file can take; "
                            "the mirror serves another file")
        chunks, received = [], 0
        from tqdm import tqdm  # only when a bar is drawn: import nnfunc stays light

        with tqdm(total=total, desc=url.rsplit("/", 1)[-1], unit="B", unit_scale=True, unit_divisor=1024,
                  disable=not show, file=sys.stderr, leave=False) as bar:
            # one byte past the limit is enough to refuse a body
            while chunk := response.read(min(CHUNK_BYTES, max_bytes + 1 - received)):
                received += len(chunk)
                if received > max_bytes:
                    raise DataError(f"sent more than the {max_bytes:,} bytes this file can take; "
                                    "the mirror serves another file")
                out.write(chunk)
                chunks.append(chunk)
                bar.update(len(chunk))
    data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise DataError(f"connection closed after {len(data)} of {total} bytes")
    return data
