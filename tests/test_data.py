"""Tests of nnfunc.data and its file checks (nnfunc.data.idx): real MNIST, the
source order, the array cache, every kind of broken file, and the splits.

No test here may reach the network (NNFUNC_OFFLINE=1) or the real home
(XDG_CACHE_HOME is a per-test tmp dir). Full verify-and-parse loads are slow,
so one session fixture does it and tests reuse its array cache.
"""

import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnfunc.data.cache import CACHE_FILE, user_cache_dir
from nnfunc.data.load import Dataset, load_dataset, scale_pixels, split_validation, subset
from nnfunc.data.datasets import SPECS, STEMS
from nnfunc.data.idx import check_counts, parse_idx, read_verified
from nnfunc.errors import ConfigError, DataError, DataNotFoundError, InputError
from tests.helpers import correctly_rounded_pixels

# Well-known per-class counts of MNIST: a check that the data is the real thing.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NNFUNC_DATA_DIR", raising=False)
    monkeypatch.setenv("NNFUNC_OFFLINE", "1")


@pytest.fixture(scope="session")
def mnist_session(mnist_path, tmp_path_factory):
    """(XDG root holding a verified MNIST array cache, the uint8 Dataset).

    A garbage file is planted where the cache goes first: the load must
    rebuild it (checked by test_damaged_array_cache_is_rebuilt).
    """
    root = tmp_path_factory.mktemp("xdg-session")
    cache = root / "nnfunc" / "mnist" / CACHE_FILE
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not an npz file")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root))
        dataset = load_dataset("mnist", data_dir=mnist_path, offline=True, dtype=np.uint8)
    return root, dataset


@pytest.fixture
def warm_cache(mnist_session, tmp_path):
    """This test's user cache, pre-filled with the session's MNIST array cache."""
    dest = tmp_path / "xdg" / "nnfunc" / "mnist" / CACHE_FILE
    dest.parent.mkdir(parents=True)
    # A hard link is safe: the cache is only ever replaced by rename, never written in place.
    try:
        os.link(mnist_session[0] / "nnfunc" / "mnist" / CACHE_FILE, dest)
    except OSError:
        shutil.copy(mnist_session[0] / "nnfunc" / "mnist" / CACHE_FILE, dest)
    return dest


def link_farm(src, dest, *, skip=()):
    """Symlink the four MNIST files of ``src`` into ``dest`` except ``skip``."""
    dest.mkdir(parents=True, exist_ok=True)
    for stem in STEMS:
        if stem not in skip:
            (dest / (stem + ".gz")).symlink_to(src / (stem + ".gz"))
    return dest


def idx_bytes(array, type_code=0x08):
    """The IDX encoding of ``array`` (uint8 by default)."""
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


# ---------------------------------------------------------------- real MNIST


def test_real_mnist_float32(mnist_path, warm_cache, mnist_session):
    ds = load_dataset("mnist", data_dir=mnist_path)
    assert isinstance(ds, Dataset)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.x_train.dtype == ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    for x in (ds.x_train, ds.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(ds.y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.y_test, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert ds.name == "mnist" and ds.class_names == tuple("0123456789")
    assert ds.source == str(mnist_path)
    # Each pixel is the float32 nearest to the exact quotient p / 255 (an exact-rational
    # table, not the library's division): no rounding through a wider or a reciprocal step.
    assert np.array_equal(ds.x_test, correctly_rounded_pixels(np.float32)[mnist_session[1].x_test])


def test_float64_and_uint8_are_the_same_scaling(mnist_path, warm_cache, mnist_session):
    raw = mnist_session[1]
    assert raw.x_train.dtype == np.uint8 and raw.y_train.dtype == np.int64
    f64 = load_dataset("mnist", data_dir=mnist_path, dtype=np.float64)
    assert f64.x_test.dtype == np.float64
    # np.array_equal, not assert_array_equal: the latter is much slower on big arrays.
    assert np.array_equal(f64.x_test, correctly_rounded_pixels(np.float64)[raw.x_test])
    assert np.array_equal(f64.y_train, raw.y_train)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_pixels_is_the_correctly_rounded_quotient(dtype):
    # every uint8 value, against exact rationals (no MNIST needed)
    table = correctly_rounded_pixels(dtype)
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    scaled = scale_pixels(pixels, dtype)
    assert scaled.dtype == dtype and scaled.shape == (16, 16)
    assert np.array_equal(scaled, table.reshape(16, 16))
    # the out= path the training loop uses writes the same numbers into the buffer it is given
    buffer = np.full((16, 16), -1.0, dtype=dtype)
    assert scale_pixels(pixels, dtype, out=buffer) is buffer
    assert np.array_equal(buffer, scaled)
    # by hand: 0 -> 0, 255 -> 1, 51 = 255 / 5 -> the float nearest 1/5; and strictly increasing
    assert scaled.ravel()[[0, 51, 255]].tolist() == [0.0, float(dtype(0.2)), 1.0]
    assert np.all(np.diff(scaled.ravel()) > 0)
    # the oracle sees a 1-ulp slip: x * (1/255) misses on many pixel values
    assert np.count_nonzero(np.arange(256).astype(dtype) * dtype(1 / 255) != table) > 10
    # floats are only cast, not divided again
    floats = np.array([[0.25, 1.0]])
    assert np.array_equal(scale_pixels(floats, dtype), floats) and scale_pixels(floats, dtype).dtype == dtype


def test_damaged_array_cache_is_rebuilt(mnist_session):
    root, raw = mnist_session
    with np.load(root / "nnfunc" / "mnist" / CACHE_FILE, allow_pickle=False) as z:
        assert np.array_equal(z["x_train"], raw.x_train)
        assert z["y_test"].dtype == np.uint8


def test_array_cache_is_used_until_a_source_file_changes(mnist_path, mnist_session, tmp_path):
    raw = mnist_session[1]
    # Real copies of one small file (so it can be tampered with), links for the rest.
    src = link_farm(mnist_path, tmp_path / "src", skip=("t10k-labels-idx1-ubyte",))
    labels = src / "t10k-labels-idx1-ubyte.gz"
    shutil.copy2(mnist_path / labels.name, labels)
    listing = sorted(os.listdir(src))
    first = load_dataset("mnist", data_dir=src, dtype=np.uint8)
    cache = user_cache_dir("mnist") / CACHE_FILE
    assert cache.is_file()
    assert np.array_equal(first.x_train, raw.x_train)

    # Same size and mtime but garbage bytes: only a load that trusts its cache can succeed.
    stat = labels.stat()
    labels.write_bytes(b"\0" * stat.st_size)
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = load_dataset("mnist", data_dir=src, dtype=np.uint8)
    assert all(np.array_equal(a, b) for a, b in zip(first[:4], second[:4]))

    # A new mtime invalidates the stamp, so the file is verified again and rejected.
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: corrupt gzip"):
        load_dataset("mnist", data_dir=src, dtype=np.uint8)
    assert sorted(os.listdir(src)) == listing, "a source directory was written to"


def test_split_validation_real_mnist_comes_from_train_only(mnist_session):
    raw = mnist_session[1]
    x_tr, y_tr, x_val, y_val = split_validation(raw.x_train, raw.y_train, 10000, rng=0)
    assert x_tr.shape == (50000, 784) and x_val.shape == (10000, 784) and y_val.shape == (10000,)
    rows = np.dtype((np.void, 784))
    together = np.sort(np.concatenate([x_tr, x_val]).view(rows).ravel())
    assert np.array_equal(together, np.sort(raw.x_train.view(rows).ravel()))
    np.testing.assert_array_equal(np.bincount(np.concatenate([y_tr, y_val])), MNIST_TRAIN_COUNTS)


# ------------------------------------------------------------ source order


def test_env_dir_comes_before_user_cache_and_may_use_a_subfolder(mnist_path, warm_cache, tmp_path, monkeypatch):
    link_farm(mnist_path, user_cache_dir("mnist"))
    root = tmp_path / "datasets"
    sub = link_farm(mnist_path, root / "mnist")
    monkeypatch.setenv("NNFUNC_DATA_DIR", str(root))
    assert load_dataset("mnist", dtype=np.uint8).source == str(sub)
    monkeypatch.delenv("NNFUNC_DATA_DIR")
    assert load_dataset("mnist", dtype=np.uint8).source == str(user_cache_dir("mnist"))


def bad_labels_dir(mnist_path, directory):
    """A dir of MNIST files whose t10k labels are valid gzip with one label changed."""
    link_farm(mnist_path, directory, skip=("t10k-labels-idx1-ubyte",))
    data = bytearray(gzip.decompress((mnist_path / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    data[8] = (data[8] + 1) % 10
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(data)))
    return directory


def test_failing_env_dir_is_recorded_and_the_next_source_used(mnist_path, warm_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("NNFUNC_DATA_DIR", str(bad_labels_dir(mnist_path, tmp_path / "bad")))
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "$NNFUNC_DATA_DIR" in message and "t10k-labels-idx1-ubyte.gz: checksum mismatch" in message
    assert "user cache" in message and "offline" in message and "To fix" in message
    link_farm(mnist_path, user_cache_dir("mnist"))
    assert load_dataset("mnist").source == str(user_cache_dir("mnist"))


def test_explicit_data_dir_must_work(mnist_path, tmp_path, monkeypatch):
    monkeypatch.setenv("NNFUNC_DATA_DIR", str(mnist_path))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch") as info:
        load_dataset("mnist", data_dir=bad_labels_dir(mnist_path, tmp_path / "bad"))
    assert SPECS["mnist"].sha256["t10k-labels-idx1-ubyte"] in str(info.value)  # expected vs got
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="data_dir .*missing train-images"):
        load_dataset("mnist", data_dir=tmp_path / "empty")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "nowhere")


# ------------------------------------------------------- broken files, named


def make_dir_with(mnist_path, directory, stem, data):
    link_farm(mnist_path, directory, skip=(stem,))
    (directory / (stem + ".gz")).write_bytes(data)
    return directory


@pytest.mark.parametrize("damage, reason", [
    (lambda gz: gz[: len(gz) // 2], "truncated gzip"),
    (lambda gz: b"PK" + gz[2:], "corrupt gzip"),
    (lambda gz: gz[:-8] + bytes(b ^ 0xFF for b in gz[-8:-4]) + gz[-4:], "corrupt gzip"),  # CRC
])
def test_damaged_gzip_is_named(mnist_path, tmp_path, damage, reason):
    stem = "train-labels-idx1-ubyte"
    good = (mnist_path / (stem + ".gz")).read_bytes()
    directory = make_dir_with(mnist_path, tmp_path / "d", stem, damage(good))
    with pytest.raises(DataError, match=f"{stem}.gz: {reason}"):
        load_dataset("mnist", data_dir=directory)


def test_read_verified_accepts_uncompressed_files(mnist_path, tmp_path):
    stem = "t10k-labels-idx1-ubyte"
    data = gzip.decompress((mnist_path / (stem + ".gz")).read_bytes())
    (tmp_path / stem).write_bytes(data)
    size = SPECS["mnist"].sizes[stem]
    assert len(data) == size
    assert read_verified(tmp_path / stem, SPECS["mnist"].sha256[stem], size=size) == data
    with pytest.raises(DataError, match="checksum mismatch"):
        read_verified(tmp_path / stem, SPECS["fashion-mnist"].sha256[stem], size=size)


@pytest.mark.parametrize("raw, kind, reason", [
    (b"\x01\x00" + idx_bytes(np.zeros(3, np.uint8))[2:], "labels", "not a valid IDX file"),
    (idx_bytes(np.zeros(5, np.uint8))[:-1], "labels", "not a valid IDX file"),
    (idx_bytes(np.zeros(3, np.uint8))[:6], "labels", "not a valid IDX file"),
    (struct.pack(">HBB", 0, 0x08, 0), "labels", "not a valid IDX file"),
    (b"", "labels", "not a valid IDX file"),
    (idx_bytes(np.zeros((2, 28), np.uint8)), "images", "IDX header"),
    (idx_bytes(np.zeros((2, 28, 27), np.uint8)), "images", "IDX header"),
    (idx_bytes(np.zeros((2, 28, 28), np.uint8), type_code=0x09), "images", "IDX header"),
    (idx_bytes(np.zeros((2, 3), np.uint8)), "labels", "IDX header"),
    (idx_bytes(np.array([0, 9, 10], np.uint8)), "labels", "label 10 out of range"),
])
def test_bad_idx_contents_are_named(raw, kind, reason):
    with pytest.raises(DataError, match=f"some-file.idx: .*{reason}"):
        parse_idx(raw, kind=kind, name="some-file.idx")


def test_parse_idx_round_trip_and_count_mismatch():
    images = np.arange(2 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(2, 28, 28)
    parsed = parse_idx(idx_bytes(images), kind="images", name="imgs")
    assert parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, images)
    labels = parse_idx(idx_bytes(np.array([3, 1, 4], np.uint8)), kind="labels", name="labs")
    with pytest.raises(DataError, match="imgs has 2 images but labs has 3 labels"):
        check_counts(parsed, labels, names=["imgs", "labs"])


@pytest.mark.skipif(not all((FASHION_DIR / (s + ".gz")).is_file() for s in STEMS),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package():
    ds = load_dataset("fashion-mnist", dtype=np.uint8)
    assert ds.source == str(FASHION_DIR)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert len(ds.class_names) == 10
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "cifar10"}, "unknown dataset"),
    ({"dtype": np.int32}, "dtype int32 is not supported"),
    ({"dtype": "not-a-dtype"}, "not a NumPy dtype"),
    ({"mirrors": "https://example.org/"}, "list of base URLs"),
    ({"mirrors": []}, "mirrors is empty"),
    ({"mirrors": ["ftp://example.org/"]}, "not an http"),
])
def test_bad_settings_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_dataset(**kwargs)


# ------------------------------------------------------------------ splits


@given(m=st.integers(1, 60), val_frac=st.floats(0, 0.99), seed=st.integers(0, 2**32 - 1))
def test_split_validation_partitions_deterministically(m, val_frac, seed):
    val_size = int(val_frac * m)
    x = np.arange(m * 3, dtype=np.float32).reshape(m, 3)
    y = np.arange(m) % 10
    x_before, y_before = x.copy(), y.copy()
    x_tr, y_tr, x_val, y_val = split_validation(x, y, val_size, seed)
    assert x_val.shape == (val_size, 3) and y_val.shape == (val_size,)
    assert x_tr.shape == (m - val_size, 3) and y_tr.dtype == y.dtype
    ids_tr, ids_val = x_tr[:, 0] // 3, x_val[:, 0] // 3
    assert not set(ids_tr) & set(ids_val)
    assert sorted(np.concatenate([ids_tr, ids_val])) == list(range(m))
    np.testing.assert_array_equal(y_val, ids_val.astype(int) % 10)
    again = split_validation(x, y, val_size, np.random.default_rng(seed))
    for a, b in zip((x_tr, y_tr, x_val, y_val), again):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)


def test_split_validation_seeds_differ_and_zero_is_empty():
    x, y = np.arange(100.0).reshape(50, 2), np.arange(50)
    assert not np.array_equal(split_validation(x, y, 10, 1)[3], split_validation(x, y, 10, 2)[3])
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 0, 0)
    assert x_val.shape == (0, 2) and y_val.shape == (0,)
    np.testing.assert_array_equal(x_tr, x)


@pytest.mark.parametrize("x_len, val_size, rng, error", [
    (10, -1, 0, ConfigError), (10, 10, 0, ConfigError), (10, 2.0, 0, ConfigError),
    (10, True, 0, ConfigError), (10, 2, "seed", ConfigError), (9, 2, 0, InputError),
])
def test_split_validation_rejects_bad_arguments(x_len, val_size, rng, error):
    with pytest.raises(error):
        split_validation(np.zeros((x_len, 2)), np.zeros(10, np.int64), val_size, rng)


def test_subset_first_rows_or_seeded_sample():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    ds = Dataset(x, np.arange(20), x[:10], np.arange(10), "mnist", tuple("0123456789"), "/src")
    small = subset(ds, n_train=5, n_test=3)
    np.testing.assert_array_equal(small.x_train, x[:5])
    assert small.y_test.tolist() == [0, 1, 2] and small.source == "/src"
    sample = subset(ds, n_train=5, rng=7)
    assert sample.y_train.tolist() == sorted(set(sample.y_train.tolist())) and len(sample.y_train) == 5
    np.testing.assert_array_equal(sample.x_train[:, 0], sample.y_train * 2)
    assert subset(ds, n_train=5, rng=7).y_train.tolist() == sample.y_train.tolist()
    assert sample.x_test is ds.x_test
    with pytest.raises(ConfigError, match="n_train"):
        subset(ds, n_train=21)
