"""Hostile data files: what a damaged, wrong or malicious source or cache may cost.

Gzip bombs, files of impossible sizes, truncated streams, named pipes, denied
permissions, a tampered or booby-trapped array cache, litter from killed
writers, a read-only or full cache directory. Each must end in a DataError
naming the file (or, for the cache, a rebuild or a warning) and never cost
more than the real file would.

Anything that could blow up memory or hang runs in a child interpreter with
its address space capped (``RLIMIT_AS``) and a timeout, so a regression fails
fast instead of hurting the machine. Real permission errors need a process
without root's override capabilities (``setpriv``); a real full disk needs a
private tmpfs mount (``unshare``). No test reaches the network or the real
user cache (XDG_CACHE_HOME is a per-test tmp dir).
"""

import gzip
import io
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from nnfunc.data import cache as cache_module
from nnfunc.data.cache import CACHE_FILE, user_cache_dir
from nnfunc.fileio import LOCK_FILE, directory_lock
from nnfunc.data.datasets import SPECS, STEMS
from nnfunc.data.idx import _Capped, gzip_limit, read_verified
from nnfunc.data.load import load_dataset
from nnfunc.errors import DataError
from tests.test_data import MNIST_TEST_COUNTS, isolated_env

# test_data's private cache and offline switch, for every test here
pytestmark = pytest.mark.usefixtures(isolated_env.__name__)
REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
CHILD_MEMORY = 1 << 30  # numpy and OpenBLAS fit; a 4 GiB bomb does not
SIZES = SPECS["mnist"].sizes
SHA = SPECS["mnist"].sha256


@pytest.fixture(scope="session")
def verified_cache(mnist_path, tmp_path_factory):
    """(stamps string, {name: uint8 array}) of a cache built from the real MNIST files in ``mnist_path``.

    Every load in this file that reads ``mnist_path`` computes these same stamps,
    so a cache written with them is one the load will consider.
    """
    root = tmp_path_factory.mktemp("xdg-hostile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root))
        load_dataset("mnist", data_dir=mnist_path, offline=True, dtype=np.uint8)
    with np.load(root / "nnfunc" / "mnist" / CACHE_FILE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        return str(z["stamps"]), arrays


# ------------------------------------------------------------------ helpers


def link_farm(src, dest, *, skip=()):
    """Symlink the four MNIST files of ``src`` into ``dest``, except the stems in ``skip``."""
    dest.mkdir(parents=True, exist_ok=True)
    for stem in STEMS:
        if stem not in skip:
            (dest / (stem + ".gz")).symlink_to(src / (stem + ".gz"))
    return dest


def idx_header(stem):
    """The real IDX header of ``stem``'s file: a bomb that starts like the real thing."""
    if "-images-" in stem:
        return struct.pack(">HBBIII", 0, 8, 3, (SIZES[stem] - 16) // 784, 28, 28)
    return struct.pack(">HBBI", 0, 8, 1, SIZES[stem] - 8)


def gzip_bomb(path, inflated, *, header=b""):
    """Write a one-member gzip of ``header`` + zeros that inflates to ``inflated`` bytes (a multiple of 1 MiB).

    Cheap to make: after a full flush deflate's output for 1 MiB of zeros is
    the same ~1 KiB block every time, so the block is computed once and
    repeated (about 1000:1). The stream ends in a valid last block but a
    wrong CRC: a tripwire that only a reader going all the way to the end
    trips over (it then reports "corrupt gzip", not the size).
    """
    z = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; the gzip header is written by hand
    first = z.compress(header + bytes(MIB - len(header))) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(bytes(MIB)) + z.flush(zlib.Z_FULL_FLUSH)
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first)
        for _ in range(inflated // MIB - 1):
            f.write(block)
        f.write(b"\x03\x00" + bytes(8))  # empty last block; CRC and length 0: wrong
    return path


def drop_caps():
    """The command prefix that makes a root child obey file permissions, or [] for a normal user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is missing: no way to get real permission errors")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def run_python(code, *, prefix=(), timeout=120):
    """Run ``code`` in a fresh interpreter (this test's environment, address space capped); return the result."""
    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))

    return subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=cap_memory,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "default"})


def read_in_child(path, stem):
    """read_verified of ``path`` as ``stem`` in a capped child: (its DataError message or "accepted", peak bytes).

    The peak is what ``tracemalloc`` saw allocated at once: every chunk
    inflated is a Python bytes object, so it bounds the output read.
    """
    result = run_python(f"""
        import tracemalloc
        from nnfunc.data.idx import read_verified
        from nnfunc.errors import DataError
        tracemalloc.start()
        try:
            read_verified({str(path)!r}, {SHA[stem]!r}, size={SIZES[stem]})
            outcome = "accepted"
        except DataError as e:
            outcome = str(e)
        print(outcome)
        print(tracemalloc.get_traced_memory()[1])
    """)
    assert result.returncode == 0, result.stderr
    outcome, peak = result.stdout.strip().rsplit("\n", 1)
    return outcome, int(peak)


def load_in_child(*, data_dir=None, prefix=()):
    """load_dataset("mnist") in a capped child: (stdout: the source or the DataError, stderr)."""
    result = run_python(f"""
        import numpy as np
        from nnfunc.data.load import load_dataset
        from nnfunc.errors import DataError
        try:
            ds = load_dataset("mnist", data_dir={None if data_dir is None else str(data_dir)!r}, dtype=np.uint8)
            print("source", ds.source, np.bincount(ds.y_test).tolist())
        except DataError as e:
            print(type(e).__name__, e)
    """, prefix=prefix)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return result.stdout.strip(), result.stderr



def loaded_from(directory):
    """What load_in_child prints for a good load from ``directory``."""
    return f"source {directory} {MNIST_TEST_COUNTS}"


# ------------------------------------------------------- gzip bombs, sizes


# Bombs that get past the size-on-disk check: deflate packs zeros about 1000:1, so
# a labels file may inflate to ~70 MiB within its bound, an images file to gigabytes.
BOMBS = {"t10k-labels-idx1-ubyte": 64 * MIB, "train-labels-idx1-ubyte": 64 * MIB,
         "t10k-images-idx3-ubyte": 4096 * MIB, "train-images-idx3-ubyte": 4096 * MIB}


@pytest.mark.parametrize("stem", STEMS)
def test_gzip_bomb_stops_at_the_files_size(stem, tmp_path):
    bomb = gzip_bomb(tmp_path / (stem + ".gz"), BOMBS[stem], header=idx_header(stem))
    assert bomb.stat().st_size <= gzip_limit(SIZES[stem]), "the bomb must pass the size-on-disk check"
    outcome, peak = read_in_child(bomb, stem)
    # the size message, not the wrong CRC at the end: reading stopped long before it
    assert outcome == (f"{bomb}: inflates past the {SIZES[stem]:,} bytes the file holds; it is not the dataset "
                       "file (a damaged file or a decompression bomb), replace it")
    # at most the file's own size (plus a chunk) was ever held, though the bomb is 16x to 6700x larger
    assert peak < SIZES[stem] + 3 * MIB


@pytest.mark.parametrize("stem", STEMS)
def test_gzip_too_large_for_its_file_is_refused_unread(stem, tmp_path):
    path = tmp_path / (stem + ".gz")
    limit = gzip_limit(SIZES[stem])
    if "-labels-" in stem:  # a real bomb: 1 GiB of zeros
        gzip_bomb(path, 1024 * MIB, header=idx_header(stem))
    else:  # a sparse 64 GiB file: reading it would take minutes, refusing it costs a stat
        with open(path, "wb") as f:
            f.write(b"\x1f\x8b")
            f.truncate(64 << 30)
    size = path.stat().st_size
    assert size > limit
    outcome, peak = read_in_child(path, stem)
    assert outcome == (f"{path}: {size:,} bytes gzipped, more than the {limit:,} bytes any gzip of the "
                       f"{SIZES[stem]:,}-byte file can take; it is not the dataset file, replace it")
    assert peak < MIB


@pytest.mark.parametrize("extra", [1, -1, 64 << 30])
def test_uncompressed_file_of_the_wrong_size_is_refused_unread(mnist_path, tmp_path, extra):
    stem = "t10k-labels-idx1-ubyte"
    path = tmp_path / stem
    data = read_verified(mnist_path / (stem + ".gz"), SHA[stem], size=SIZES[stem])
    with open(path, "wb") as f:
        f.write(data[:extra] if extra < 0 else data)
        if extra > 0:
            f.truncate(len(data) + extra)  # sparse: 64 GiB cost nothing on disk
    outcome, peak = read_in_child(path, stem)
    assert outcome == (f"{path}: {len(data) + extra:,} bytes, but the uncompressed file is exactly "
                       f"{SIZES[stem]:,} bytes; it is damaged or another file, replace it")
    assert peak < MIB


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("cut", ["trailer", "half"])
def test_truncated_gzip_is_named(mnist_path, tmp_path, stem, cut):
    good = (mnist_path / (stem + ".gz")).read_bytes()
    path = tmp_path / (stem + ".gz")
    path.write_bytes(good[:-4] if cut == "trailer" else good[: len(good) // 2])
    with pytest.raises(DataError) as info:
        read_verified(path, SHA[stem], size=SIZES[stem])
    assert str(info.value) == (f"{path}: truncated gzip (ends before the compressed stream does); the copy or "
                               "download was cut short, replace the file")


def test_gzip_that_inflates_short_is_named(tmp_path):
    stem = "t10k-labels-idx1-ubyte"
    path = tmp_path / (stem + ".gz")
    path.write_bytes(gzip.compress(idx_header(stem) + bytes(100)))
    with pytest.raises(DataError, match="holds 108 bytes once gunzipped, but the file is exactly 10,008 bytes"):
        read_verified(path, SHA[stem], size=SIZES[stem])


def test_many_member_gzip_with_zero_padding_still_reads(mnist_path, tmp_path):
    stem = "t10k-labels-idx1-ubyte"
    data = read_verified(mnist_path / (stem + ".gz"), SHA[stem], size=SIZES[stem])
    path = tmp_path / (stem + ".gz")
    # three members (as concatenated gzips or bgzip make) and the zero padding gzip allows
    path.write_bytes(b"".join(gzip.compress(data[i:i + 4000]) for i in range(0, len(data), 4000)) + bytes(512))
    assert read_verified(path, SHA[stem], size=SIZES[stem]) == data


def test_a_file_growing_while_read_is_cut_off():
    # the guard behind the size-on-disk check, for a file that grows after it was measured
    capped = _Capped(io.BytesIO(bytes(100)), 60, name="growing.gz")
    assert len(capped.read(50)) == 50 and len(capped.read(10)) == 10
    with pytest.raises(DataError, match="growing.gz: grew past"):
        capped.read(10)


def test_a_bomb_in_one_source_falls_back_to_the_next(mnist_path, tmp_path, monkeypatch):
    stem = "train-images-idx3-ubyte"
    bombed = link_farm(mnist_path, tmp_path / "bombed", skip=(stem,))
    gzip_bomb(bombed / (stem + ".gz"), 4096 * MIB, header=idx_header(stem))
    link_farm(mnist_path, user_cache_dir("mnist"))
    monkeypatch.setenv("NNFUNC_DATA_DIR", str(bombed))
    out, _ = load_in_child()
    assert out == loaded_from(user_cache_dir("mnist"))
    out, _ = load_in_child(data_dir=bombed)  # given explicitly, its problem is the error
    assert out == (f"DataError {bombed}/{stem}.gz: inflates past the 47,040,016 bytes the file holds; it is not "
                   "the dataset file (a damaged file or a decompression bomb), replace it")


# ------------------------------------------------------------ pipes, permissions


@pytest.mark.parametrize("name", ["t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte"])
def test_named_pipe_instead_of_a_file_is_named_without_hanging(mnist_path, tmp_path, monkeypatch, name):
    stem = name.removesuffix(".gz")
    piped = link_farm(mnist_path, tmp_path / "piped", skip=(stem,))
    os.mkfifo(piped / name)  # opening it for reading would block until a writer came
    out, _ = load_in_child(data_dir=piped)
    assert out == (f"DataError {piped / name} is a named pipe, not a file; replace it with the dataset file")
    monkeypatch.setenv("NNFUNC_DATA_DIR", str(piped))
    link_farm(mnist_path, user_cache_dir("mnist"))
    out, _ = load_in_child()
    assert out == loaded_from(user_cache_dir("mnist"))


def make_unreadable(mnist_path, tmp_path, what):
    """A copy of MNIST in tmp_path/src (or its mnist subfolder) with one thing made unreadable."""
    src = tmp_path / "src"
    folder = src / "mnist" if what == "subfolder" else src
    folder.mkdir(parents=True)
    for stem in STEMS:
        shutil.copy(mnist_path / (stem + ".gz"), folder / (stem + ".gz"))
    target = {"directory": src, "subfolder": folder, "file": folder / "t10k-labels-idx1-ubyte.gz"}[what]
    target.chmod(0)
    return src, folder, target


@pytest.mark.parametrize("what", ["directory", "subfolder", "file"])
def test_unreadable_source_is_named_and_the_next_one_used(mnist_path, tmp_path, monkeypatch, what):
    prefix = drop_caps()
    src, folder, target = make_unreadable(mnist_path, tmp_path, what)
    try:
        monkeypatch.setenv("NNFUNC_DATA_DIR", str(src))
        out, _ = load_in_child(prefix=prefix)
        assert out.startswith("DataNotFoundError no usable source for dataset 'mnist'; tried, in order:")
        first = out.splitlines()[1]
        if what == "file":
            assert first == (f"  1. $NNFUNC_DATA_DIR: {target}: cannot read it (Permission denied); check the "
                             "permissions of the file (reading needs r on the file and x on each directory)")
        else:
            assert first == (f"  1. $NNFUNC_DATA_DIR: {folder}/train-images-idx3-ubyte.gz: cannot look it up "
                             f"(Permission denied); check the permissions of {folder} and the directories above "
                             "it (reading needs r on the file and x on each directory)")
        assert "  2. user cache: " in out and "download: skipped, offline" in out
        link_farm(mnist_path, user_cache_dir("mnist"))
        out, _ = load_in_child(prefix=prefix)
        assert out == loaded_from(user_cache_dir("mnist"))
        out, _ = load_in_child(data_dir=src, prefix=prefix)  # given explicitly, its problem is the error
        assert out.startswith("DataError ") and "Permission denied" in out
    finally:
        target.chmod(0o755)


def test_unopenable_data_dir_is_named(mnist_path, tmp_path):
    prefix = drop_caps()
    parent = tmp_path / "locked"
    parent.mkdir()
    link_farm(mnist_path, parent / "data")
    parent.chmod(0)
    try:
        out, _ = load_in_child(data_dir=parent / "data", prefix=prefix)
    finally:
        parent.chmod(0o755)
    assert out.startswith(f"DataNotFoundError data_dir {parent / 'data'}: cannot open it (Permission denied); "
                          "check the permissions of it and of the directories above it; put the four files")


# ------------------------------------------------------------ the array cache


def write_npz(path, arrays, *, patch=None, compress=False):
    """An .npz written member by member; ``patch=(name, old, new)`` rewrites that member's .npy header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED,
                         compresslevel=1 if compress else None) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            data = buffer.getvalue()
            if patch and patch[0] == name:
                end = data.index(b"\n") + 1
                assert patch[1] in data[:end] and len(patch[1]) == len(patch[2])
                data = data[:end].replace(patch[1], patch[2]) + data[end:]
            zf.writestr(name + ".npy", data)
    return path


def tampered(arrays, how):
    """A copy of the cached arrays with one kind of tampering applied."""
    arrays = {k: v.copy() for k, v in arrays.items()}
    if how == "shuffled labels":
        arrays["y_train"] = np.random.default_rng(0).permutation(arrays["y_train"])
    elif how == "swapped images":
        arrays["x_test"][[0, 1]] = arrays["x_test"][[1, 0]]
    elif how == "one pixel":
        arrays["x_train"][-1, -1] ^= 1
    elif how == "one label":
        arrays["y_test"][0] = (arrays["y_test"][0] + 1) % 10
    elif how == "zeros":
        arrays = {k: np.zeros_like(v) for k, v in arrays.items()}
    return arrays


def assert_rebuilt(cache, before, true_arrays, mnist_path):
    """Load, and check the cache was replaced by the true arrays and the load returned them."""
    ds = load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8)
    for key, value in zip(("x_train", "y_train", "x_test", "y_test"), ds[:4]):
        assert np.array_equal(value, true_arrays[key])
    assert cache.stat().st_ino != before, "the bad cache was not replaced"
    with np.load(cache, allow_pickle=False) as z:
        assert all(np.array_equal(z[k], v) for k, v in true_arrays.items())


def test_untouched_cache_is_used_not_rebuilt(mnist_path, verified_cache):
    # the control for the tests below: a cache written the same way but with the true arrays is used as is
    stamps, arrays = verified_cache
    cache = write_npz(user_cache_dir("mnist") / CACHE_FILE, {**arrays, "stamps": np.array(stamps)})
    before = cache.stat().st_ino
    ds = load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8)
    assert cache.stat().st_ino == before
    assert np.array_equal(ds.y_train, arrays["y_train"]) and np.array_equal(ds.x_test, arrays["x_test"])


@pytest.mark.parametrize("how", ["shuffled labels", "swapped images", "one pixel", "one label"])
def test_tampered_cache_is_refused_and_rebuilt(mnist_path, verified_cache, how):
    stamps, arrays = verified_cache
    bad = tampered(arrays, how)
    assert any(not np.array_equal(bad[k], arrays[k]) for k in arrays)
    cache = write_npz(user_cache_dir("mnist") / CACHE_FILE, {**bad, "stamps": np.array(stamps)})
    assert_rebuilt(cache, cache.stat().st_ino, arrays, mnist_path)


@pytest.mark.parametrize("member, old, new", [
    ("x_test", b"(10000, 784)", b"(10001, 784)"),  # claims more data than is stored
    ("x_test", b"(10000, 784)", b"(5000, 1568)"),  # the same bytes, another shape
    ("y_train", b"'|u1'", b"'<u2'"),  # another dtype (and so a size that does not fit)
    ("x_train", b"'|u1'", b"'|i1'"),  # signed bytes: same size, wrong dtype
    ("y_test", b"'|u1'", b"'|O' "),  # pickled objects
])
def test_cache_with_a_lying_header_is_refused_and_rebuilt(mnist_path, verified_cache, member, old, new):
    stamps, arrays = verified_cache
    cache = write_npz(user_cache_dir("mnist") / CACHE_FILE, {**arrays, "stamps": np.array(stamps)},
                      patch=(member, old, new))
    assert_rebuilt(cache, cache.stat().st_ino, arrays, mnist_path)


def test_cache_bomb_costs_nothing_and_is_rebuilt(mnist_path, verified_cache):
    stamps, arrays = verified_cache
    # right names, shapes, dtypes and stamps; 55 MB of zeros deflated to a few hundred KB
    cache = write_npz(user_cache_dir("mnist") / CACHE_FILE, {**tampered(arrays, "zeros"), "stamps": np.array(stamps)},
                      compress=True)
    assert cache.stat().st_size < 2 * MIB
    tracemalloc.start()
    try:
        assert cache_module._read_cache(cache, stamps, SPECS["mnist"]) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MIB, "the cache was inflated before it was refused"
    assert_rebuilt(cache, cache.stat().st_ino, arrays, mnist_path)


@pytest.mark.parametrize("kind", ["named pipe", "directory", "symlink to /dev/zero"])
def test_cache_that_is_not_a_file_is_left_and_the_load_works(mnist_path, kind):
    cache = user_cache_dir("mnist") / CACHE_FILE
    cache.parent.mkdir(parents=True)
    {"named pipe": os.mkfifo, "directory": os.mkdir,
     "symlink to /dev/zero": lambda p: os.symlink("/dev/zero", p)}[kind](cache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8)
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS
    if kind == "directory":  # nothing can be renamed over a directory: a warning says so
        assert [str(w.message) for w in caught][0].startswith(f"could not write the array cache {cache} (")
    else:  # a pipe or a symlink is replaced by the real cache
        assert caught == [] and cache.is_file() and not cache.is_symlink()


def test_stale_temp_files_of_the_cache_are_removed(mnist_path):
    directory = user_cache_dir("mnist")
    directory.mkdir(parents=True)
    stale = directory / f".{CACHE_FILE}.k1ll3d0k.tmp"  # what a writer killed before its rename leaves
    stale.write_bytes(b"half a cache")
    kept = [directory / ".other.npz.abcdefgh.tmp", directory / f".{CACHE_FILE}.tmp", directory / "notes.txt"]
    for path in kept:
        path.write_bytes(b"not ours")
    load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8)
    assert sorted(p.name for p in directory.iterdir()) == sorted([CACHE_FILE, LOCK_FILE, *(p.name for p in kept)])


def test_cache_is_left_alone_while_another_process_holds_the_lock(mnist_path):
    directory = user_cache_dir("mnist")
    directory.mkdir(parents=True)
    stale = directory / f".{CACHE_FILE}.k1ll3d0k.tmp"
    stale.write_bytes(b"maybe someone's cache being written")
    # flock locks belong to an open file, so this process's own lock blocks its load like another's would
    with directory_lock(directory) as (held, _):
        assert held
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8)
        assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS and caught == []
        assert sorted(p.name for p in directory.iterdir()) == sorted([LOCK_FILE, stale.name])
    load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8)
    assert sorted(p.name for p in directory.iterdir()) == sorted([LOCK_FILE, CACHE_FILE])


def test_lock_file_that_is_a_pipe_costs_a_warning_not_the_load(mnist_path):
    directory = user_cache_dir("mnist")
    directory.mkdir(parents=True)
    os.mkfifo(directory / LOCK_FILE)
    with pytest.warns(UserWarning, match=f"could not write the array cache .*{LOCK_FILE}.*is there, not nnfunc.s lock file"):
        ds = load_dataset("mnist", data_dir=mnist_path, dtype=np.uint8)
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS


# ------------------------------------------------- read-only and full directories


WARNING = "could not write the array cache"


def test_read_only_cache_and_data_directories_still_load(mnist_path, tmp_path, monkeypatch):
    prefix = drop_caps()
    data = tmp_path / "data"
    data.mkdir()
    for stem in STEMS:
        shutil.copy(mnist_path / (stem + ".gz"), data / (stem + ".gz"))
    cache_dir = user_cache_dir("mnist")
    link_farm(mnist_path, cache_dir)
    data.chmod(0o555)
    try:
        # read-only data directory, writable cache: no warning, nothing written to the data
        out, err = load_in_child(data_dir=data, prefix=prefix)
        assert out == loaded_from(data) and WARNING not in err
        assert sorted(p.name for p in data.iterdir()) == sorted(s + ".gz" for s in STEMS)
        # a read-only cache directory, as the cache and as the source, then one that cannot even be
        # looked into: a warning with the fix, and the data
        (cache_dir / CACHE_FILE).unlink()
        (cache_dir / LOCK_FILE).unlink()
        for mode, source in ((0o555, data), (0o555, None), (0o000, data)):
            cache_dir.chmod(mode)
            out, err = load_in_child(data_dir=source, prefix=prefix)
            assert out == loaded_from(data if source else cache_dir)
            assert (f"{WARNING} {cache_dir / CACHE_FILE} (Permission denied); loading works but verifies the "
                    f"source files again each time: make {cache_dir} writable, or set XDG_CACHE_HOME") in err
    finally:
        data.chmod(0o755)
        cache_dir.chmod(0o755)


def test_full_cache_disk_costs_a_warning_and_leaves_no_temp_file(mnist_path, tmp_path):
    mount = tmp_path / "full"
    mount.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{mount}'"],
                           capture_output=True, timeout=30) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("cannot mount a private tmpfs here (needs unshare and mount rights)")
    code = f"""
        import json, os, warnings
        import numpy as np
        os.environ["XDG_CACHE_HOME"] = {str(mount)!r}
        from nnfunc.data.load import load_dataset
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = load_dataset("mnist", data_dir={str(mnist_path)!r}, dtype=np.uint8)
        print(json.dumps(np.bincount(ds.y_test).tolist()))
        print(json.dumps(sorted(os.listdir({str(mount / "nnfunc" / "mnist")!r}))))
        print(str(caught[0].message))
    """
    result = subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0" && exec "$@"',
                             str(mount), sys.executable, "-c", textwrap.dedent(code)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    counts, listing, warning = result.stdout.strip().splitlines()
    assert json.loads(counts) == MNIST_TEST_COUNTS
    assert json.loads(listing) == [LOCK_FILE], "a temp file was left on the full disk"
    assert warning.startswith(f"{WARNING} {mount}/nnfunc/mnist/{CACHE_FILE} (No space left on device)")


def test_download_into_a_read_only_cache_is_a_named_failure(tmp_path):
    prefix = drop_caps()
    cache_dir = user_cache_dir("mnist")
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(0o555)
    try:
        result = run_python("""
            from nnfunc.data.load import load_dataset
            from nnfunc.errors import DataNotFoundError
            try:
                load_dataset("mnist", offline=False, mirrors=["http://127.0.0.1:9/"])
            except DataNotFoundError as e:
                print(e)
        """, prefix=prefix)
    finally:
        cache_dir.chmod(0o755)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert (f"2. download into {cache_dir}: cannot write to {cache_dir} (Permission denied); make it writable, "
            "or set XDG_CACHE_HOME to a writable directory") in result.stdout



@pytest.mark.parametrize("shape", [(10**400,), (10**200, 10**200), (-10000,)])
def test_cache_with_an_absurd_header_is_rebuilt(mnist_path, verified_cache, shape):
    """Shapes no float can hold: the header check must not overflow, and the cache is rebuilt."""
    stamps, arrays = verified_cache
    cache = write_npz(user_cache_dir("mnist") / CACHE_FILE, {**arrays, "stamps": np.array(stamps)})
    with zipfile.ZipFile(cache) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    header = np.lib.format.header_data_from_array_1_0(arrays["y_test"])
    header["shape"] = shape
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    members["y_test.npy"] = buffer.getvalue() + arrays["y_test"].tobytes()
    with zipfile.ZipFile(cache, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert_rebuilt(cache, cache.stat().st_ino, arrays, mnist_path)
