"""Downloads against a real HTTP server on 127.0.0.1 (no mocks): mirror
fallback, corrupt / wrong / cut-off / oversized / bomb transfers leaving
nothing behind, timeouts, offline mode never connecting, refilling a partial
user cache, and the temp files of a killed download removed.

The server serves files of ``server.root`` (the real MNIST directory unless a
test changes it) at ``/<mode>/<file name>``; the mode picks the misbehaviour.
"""

import gzip
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from nnfunc.data.cache import CACHE_FILE, user_cache_dir
from nnfunc.fileio import LOCK_FILE
from nnfunc.data.load import load_dataset
from nnfunc.data.datasets import STEMS, DatasetSpec
from nnfunc.data.download import download_missing, fetch
from nnfunc.errors import DataError, DataNotFoundError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /<mode>/<name>: ok, missing (404), corrupt, wrong (same size, one byte changed),
    other (another, larger file), drop, drop-nolength (cut off half way, with / without
    Content-Length), slow, huge (a 1 MiB body, announced), endless (64 MiB of zeros,
    no Content-Length), bomb (``server.bomb``, gzip inflating far past the file's size)."""

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        mode, _, name = self.path.lstrip("/").partition("/")
        path = server.root / name
        if mode == "missing" or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if mode == "wrong":
            raw = bytearray(gzip.decompress(data))
            raw[-1] ^= 1  # a label 0..9 stays one, a pixel stays a pixel
            data = gzip.compress(bytes(raw))
        if mode == "other":
            data = (server.root / "train-labels-idx1-ubyte.gz").read_bytes()
        if mode == "huge":
            data = data + bytes((1 << 20) - len(data))
        if mode == "bomb":
            data = server.bomb
        if mode == "corrupt":
            middle = len(data) // 2
            data = data[:middle] + bytes(b ^ 0x5A for b in data[middle:middle + 64]) + data[middle + 64:]
        if mode == "slow":
            server.release.wait(10)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode not in ("drop-nolength", "endless"):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode.startswith("drop"):
            data = data[: len(data) // 2]
        try:
            for _ in range(64 if mode == "endless" else 1):
                self.wfile.write(bytes(1 << 20) if mode == "endless" else data)
        except OSError:
            pass  # the client hung up, as it should on a body it refuses
        self.close_connection = True

    def log_message(self, *args):
        pass  # keep test output clean


@pytest.fixture
def server(mnist_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.requests, httpd.root, httpd.release = [], Path(mnist_path), threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NNFUNC_DATA_DIR", raising=False)
    monkeypatch.delenv("NNFUNC_OFFLINE", raising=False)


def all_files(directory):
    """Every file under ``directory``, hidden ones included, as relative paths."""
    return sorted(os.path.relpath(os.path.join(d, f), directory)
                  for d, _, files in os.walk(directory) for f in files)


def test_download_falls_back_to_the_second_mirror_and_is_cached(server, mnist_path):
    mirrors = [f"{server.url}/missing/", f"{server.url}/ok"]
    ds = load_dataset("mnist", offline=False, mirrors=mirrors, progress=False, dtype=np.uint8)
    cache = user_cache_dir("mnist")
    assert ds.source == str(cache)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert np.bincount(ds.y_train).tolist() == MNIST_TRAIN_COUNTS
    for stem in STEMS:
        name = stem + ".gz"
        assert (cache / name).read_bytes() == (mnist_path / name).read_bytes()
        assert server.requests.index(f"/missing/{name}") + 1 == server.requests.index(f"/ok/{name}")
    assert len(server.requests) == 8
    assert all_files(cache) == sorted([CACHE_FILE, LOCK_FILE] + [s + ".gz" for s in STEMS])

    again = load_dataset("mnist", offline=True, mirrors=mirrors, dtype=np.uint8)
    assert len(server.requests) == 8, "a load from the cache used the network"
    assert again.source == ds.source
    assert all(np.array_equal(a, b) for a, b in zip(ds[:4], again[:4]))


@pytest.mark.parametrize("mode, reason", [
    ("corrupt", "corrupt gzip"),
    ("wrong", "checksum mismatch"),
    ("other", "inflates past the 10,008 bytes the file holds"),
    ("huge", "announces 1,048,576 bytes, more than the 76,795 bytes"),
    ("endless", "sent more than the 76,795 bytes"),
    ("bomb", "inflates past the 10,008 bytes the file holds"),
    ("drop", "connection closed after"),
    ("drop-nolength", "truncated gzip"),
])
def test_bad_transfer_is_rejected_and_leaves_no_file(server, mode, reason):
    # 32 MiB of zeros gzip to ~32 KiB: within what a gzip of the 10,008-byte labels may take
    server.bomb = gzip.compress(bytes(32 << 20), compresslevel=9)
    assert len(server.bomb) < 76_795
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", offline=False, mirrors=[f"{server.url}/{mode}/"], progress=False)
    message = str(info.value)
    assert f"{server.url}/{mode}/t10k-labels-idx1-ubyte.gz" in message and reason in message
    assert server.requests == [f"/{mode}/t10k-labels-idx1-ubyte.gz"]
    assert all_files(user_cache_dir("mnist")) == [LOCK_FILE], "a rejected download left a file"


@pytest.mark.parametrize("offline_arg, env", [(True, None), (None, "1")])
def test_offline_never_connects(server, monkeypatch, offline_arg, env):
    if env is not None:
        monkeypatch.setenv("NNFUNC_OFFLINE", env)
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", offline=offline_arg, mirrors=[f"{server.url}/ok/"])
    assert server.requests == []
    message = str(info.value)
    assert f"user cache: {user_cache_dir('mnist')}" in message
    assert "download: skipped, offline" in message
    assert "NNFUNC_DATA_DIR" in message and "train-images-idx3-ubyte.gz" in message


def test_fetch_lists_every_failed_mirror(server, tmp_path):
    with socket.socket() as s:  # a port nobody listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    mirrors = [f"{server.url}/missing/", f"http://127.0.0.1:{closed_port}/", f"{server.url}/slow/"]
    dest = tmp_path / "out" / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DataError) as info:
        fetch(dest.name, dest, mirrors, check=lambda data, url: None, max_bytes=1 << 20, progress=False,
              timeout=0.2)
    lines = str(info.value).splitlines()
    assert "HTTP 404" in lines[1] and "cannot connect" in lines[2] and "timed out" in lines[3]
    assert all_files(tmp_path / "out") == []


def test_progress_bar_only_when_asked(server, tmp_path, capsys):
    name = "t10k-labels-idx1-ubyte.gz"
    for progress in (False, True):
        url = fetch(name, tmp_path / name, [f"{server.url}/ok/"], check=lambda data, url: None, max_bytes=1 << 20,
                    progress=progress)
        assert url == f"{server.url}/ok/{name}"
        err = capsys.readouterr().err
        assert (name in err) == progress
    assert all_files(tmp_path) == [name]


def test_download_missing_fetches_only_absent_or_broken_files(server, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    raw = {stem: f"contents of {stem}".encode() for stem in STEMS}
    for stem in STEMS:
        (served / (stem + ".gz")).write_bytes(gzip.compress(raw[stem]))
    server.root = served
    spec = DatasetSpec(sha256={s: hashlib.sha256(raw[s]).hexdigest() for s in STEMS},
                       sizes={s: len(raw[s]) for s in STEMS}, mirrors=(), class_names=tuple("0123456789"),
                       system_dirs=())
    target = tmp_path / "target"
    target.mkdir()
    good, broken, plain = STEMS[0], STEMS[1], STEMS[2]
    (target / (good + ".gz")).write_bytes(gzip.compress(raw[good]))
    (target / (broken + ".gz")).write_bytes(b"\x1f\x8b garbage")
    (target / plain).write_bytes(raw[plain])  # an uncompressed copy counts too
    # what a download killed before its rename leaves, and a temp file of something else
    (target / f".{STEMS[3]}.gz.k1ll3d0k.tmp").write_bytes(b"half a download")
    (target / ".notes.txt.abcdefgh.tmp").write_bytes(b"not ours")
    download_missing(target, spec, [f"{server.url}/ok/"], progress=False)
    assert sorted(server.requests) == sorted(f"/ok/{s}.gz" for s in (broken, STEMS[3]))
    for stem in (broken, STEMS[3]):
        assert gzip.decompress((target / (stem + ".gz")).read_bytes()) == raw[stem]
    assert all_files(target) == sorted([good + ".gz", broken + ".gz", plain, STEMS[3] + ".gz", LOCK_FILE,
                                        ".notes.txt.abcdefgh.tmp"])

