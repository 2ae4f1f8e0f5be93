"""Datasets as arrays: find a verified source, cache its arrays, split them.

Sources, first hit wins: the ``data_dir`` argument (which must work: its
problem is raised, nothing else is tried); ``$NNFUNC_DATA_DIR``; the user
cache ``$XDG_CACHE_HOME/nnfunc/<name>`` (default ``~/.cache/nnfunc/<name>``);
for Fashion-MNIST the Debian package directory; then a download into the user
cache, unless offline. A directory may hold the four IDX files itself or in a
``<name>`` subfolder, gzipped or not; it counts only when all four verify
(``nnfunc.download`` knows the files and checks them).

Verifying costs a gunzip, a hash and a parse, so the parsed uint8 arrays are
kept in ``<user cache>/arrays-v1.npz`` with a stamp (resolved path, size,
mtime_ns, expected hash) of each source file; a later load whose stamps match
reads only that file. Source directories are never written to.
"""

import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nnfunc.download import (CHECK_ORDER, SPECS, STEMS, check_counts, check_mirrors, download_missing,
                             find_file, parse_idx, read_verified)
from nnfunc.errors import ConfigError, DataError, DataNotFoundError, InputError
from nnfunc.fileio import save_npz

CACHE_FILE = "arrays-v1.npz"
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8))


class Dataset(NamedTuple):
    """A dataset's splits and where they came from.

    x_train: (60000, 784) float in [0, 1], or raw uint8; y_train: (60000,)
    int64 class ids 0..9; x_test: (10000, 784); y_test: (10000,) int64;
    class_names: 10 strings; source: the directory the files were read from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    class_names: tuple
    source: str


def load_dataset(name="mnist", *, data_dir=None, offline=None, mirrors=None, progress=None, dtype=np.float32):
    """Load a dataset's full train and test splits, verified.

    Args:
        name: "mnist" or "fashion-mnist".
        data_dir: a directory that must hold the four IDX files (or a
            ``name`` subfolder that does); when given, nothing else is tried.
        offline: never use the network; None reads ``$NNFUNC_OFFLINE`` ("1").
        mirrors: base URLs to download from instead of the built-in ones.
        progress: download progress bar on/off; None shows it on a terminal.
        dtype: np.float32 or np.float64 (pixels / 255), or np.uint8 (raw).

    Returns:
        Dataset (see its docstring); x in ``dtype``, y int64.

    Raises:
        ConfigError: unknown name or dtype, bad mirrors.
        DataError: ``data_dir`` holds a corrupt or wrong file.
        DataNotFoundError: no source worked; the message lists each one tried.
    """
    key = str(name).lower()
    if key not in SPECS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(SPECS)}")
    spec = SPECS[key]
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise ConfigError(f"dtype {dtype!r} is not a NumPy dtype; use np.float32, np.float64 or np.uint8") from e
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype} is not supported; use np.float32, np.float64 or np.uint8")
    mirrors = spec.mirrors if mirrors is None else check_mirrors(mirrors)
    if data_dir is not None:
        try:
            return _to_dataset(*_load_dir(Path(data_dir), key), key, dtype)
        except DataNotFoundError as e:
            raise DataNotFoundError(f"data_dir {e}; put the four files {', '.join(STEMS)} (.gz or not) there, "
                                    "or drop data_dir to search the default places") from e

    places = []
    if os.environ.get("NNFUNC_DATA_DIR"):
        places.append(("$NNFUNC_DATA_DIR", Path(os.environ["NNFUNC_DATA_DIR"])))
    places.append(("user cache", user_cache_dir(key)))
    places += [(label, Path(d)) for label, d in spec.system_dirs]
    tried = []
    for label, directory in places:
        try:
            return _to_dataset(*_load_dir(directory, key), key, dtype)
        except DataError as e:
            tried.append(f"{label}: {e}")
    if is_offline(offline):
        tried.append("download: skipped, offline (offline=True or NNFUNC_OFFLINE=1)")
    else:
        try:
            download_missing(user_cache_dir(key), spec, mirrors, progress=progress)
            return _to_dataset(*_load_dir(user_cache_dir(key), key), key, dtype)
        except DataError as e:
            tried.append(f"download into {user_cache_dir(key)}: {e}")
    raise DataNotFoundError(_not_found_message(key, tried))


def split_validation(x, y, val_size, rng):
    """Split a seeded random validation set off a training set.

    Args:
        x: (m, ...) training inputs; y: (m,) labels. Neither is modified.
        val_size: number of validation examples, 0 <= val_size < m.
        rng: numpy Generator or int seed.

    Returns:
        (x_train, y_train, x_val, y_val): new arrays, each part in the
        original row order; x_val (val_size, ...), y_val (val_size,).

    Raises:
        InputError: x and y of different lengths, or y not 1-D.
        ConfigError: val_size out of range or not an int; bad rng.
    """
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1 or x.ndim < 1 or len(x) != len(y):
        raise InputError(f"x {x.shape} and y {y.shape} must be (m, ...) and (m,) with the same m")
    m = len(y)
    if isinstance(val_size, bool) or not isinstance(val_size, (int, np.integer)):
        raise ConfigError(f"val_size must be an int count, got {val_size!r}")
    if not 0 <= val_size < m:
        raise ConfigError(f"val_size={val_size} must be in 0..{m - 1} for {m} training examples; "
                          "leave at least one example for training")
    order = _as_generator(rng).permutation(m)
    # Sorted indices keep the original row order inside each part.
    train_idx, val_idx = np.sort(order[val_size:]), np.sort(order[:val_size])
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def subset(dataset, *, n_train=None, n_test=None, rng=None):
    """A smaller Dataset: the first rows of each split, or a random sample.

    Args:
        dataset: a Dataset. n_train, n_test: rows to keep (None keeps all).
        rng: None takes the first rows; a Generator or int seed samples
            rows at random (kept in original order).

    Raises:
        ConfigError: a count that is not an int in 1..rows of that split.
    """
    def pick(x, y, n, split):
        if n is None:
            return x, y
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= len(y):
            raise ConfigError(f"n_{split}={n!r} must be an int in 1..{len(y)}")
        idx = np.arange(n) if rng is None else np.sort(generator.choice(len(y), size=n, replace=False))
        return x[idx], y[idx]

    generator = None if rng is None else _as_generator(rng)
    x_train, y_train = pick(dataset.x_train, dataset.y_train, n_train, "train")
    x_test, y_test = pick(dataset.x_test, dataset.y_test, n_test, "test")
    return dataset._replace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def user_cache_dir(name):
    """``$XDG_CACHE_HOME/nnfunc/<name>``, or ``~/.cache/nnfunc/<name>`` (XDG ignores relative paths)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "nnfunc" / name


def is_offline(offline=None):
    """Resolve ``offline=None`` from ``$NNFUNC_OFFLINE`` (1/true/yes/on)."""
    if offline is None:
        return os.environ.get("NNFUNC_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(offline)


def _as_generator(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise ConfigError(f"rng must be a numpy Generator or an int seed, got {rng!r}")


def _find_files(directory, name):
    """Return (dir, {stem: path}) for ``directory`` or its ``name`` subfolder."""
    directory = directory.expanduser()
    for candidate in (directory, directory / name):
        paths = {stem: find_file(candidate, stem) for stem in STEMS}
        if all(paths.values()):
            return candidate, paths
    if not directory.is_dir():
        raise DataNotFoundError(f"{directory} does not exist or is not a directory")
    missing = [stem + "[.gz]" for stem in STEMS if find_file(directory, stem) is None]
    raise DataNotFoundError(f"{directory}: missing {', '.join(missing)}")


def _load_dir(directory, name):
    """Return (dir used, uint8 arrays) from one directory, via the array cache."""
    spec = SPECS[name]
    found, paths = _find_files(directory, name)
    stats = {s: paths[s].stat() for s in STEMS}
    stamps = json.dumps([[str(paths[s].resolve()), stats[s].st_size, stats[s].st_mtime_ns, spec.sha256[s]]
                         for s in STEMS])
    cache = user_cache_dir(name) / CACHE_FILE
    arrays = _read_cache(cache, stamps)
    if arrays is None:
        raws = {stem: read_verified(paths[stem], spec.sha256[stem]) for stem in CHECK_ORDER}
        arrays = {}
        for split, key in (("train", "train"), ("t10k", "test")):
            stems = (f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte")
            names = [str(paths[s]) for s in stems]
            images = parse_idx(raws.pop(stems[0]), kind="images", name=names[0])
            labels = parse_idx(raws.pop(stems[1]), kind="labels", name=names[1])
            check_counts(images, labels, names=names)
            arrays["x_" + key], arrays["y_" + key] = images.reshape(len(images), -1), labels
        try:
            save_npz(cache, {**arrays, "stamps": np.array(stamps)})
        except OSError as e:
            warnings.warn(f"could not write the array cache {cache} ({e}); loading works but stays slow",
                          stacklevel=3)
    return found, arrays


def _read_cache(path, stamps):
    """The cached uint8 arrays if ``path`` holds them for exactly ``stamps``, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["stamps"]) != stamps:
                return None
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache is rebuilt from the verified sources
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if not (x.dtype == y.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 784 and y.shape == (len(x),)):
            return None
    return arrays


def scale_pixels(x, dtype, out=None):
    """uint8 pixels -> [0, 1] in ``dtype``: the one formula every loader and loop uses.

    ``x / dtype(255)`` in one pass computing in ``dtype`` (no float64 detour);
    ``x * (1/255)`` would differ by 1 ulp on about half the pixel values, so
    data scaled here and data scaled batch by batch agree bit for bit.

    Args:
        x: uint8 array (floats are cast to ``dtype`` unchanged); dtype: a float dtype;
        out: optional array of x's shape and ``dtype`` to write into.
    """
    dtype = np.dtype(dtype)
    if x.dtype != np.uint8:
        return x.astype(dtype, copy=False)
    return np.divide(x, dtype.type(255), dtype=dtype, out=out)


def _to_dataset(found, arrays, name, dtype):
    """Build the public Dataset: x scaled into ``dtype``, y as int64."""
    def scale(x):
        return x if dtype == np.uint8 else scale_pixels(x, dtype)

    return Dataset(scale(arrays["x_train"]), arrays["y_train"].astype(np.int64),
                   scale(arrays["x_test"]), arrays["y_test"].astype(np.int64),
                   name, SPECS[name].class_names, str(found))


def _not_found_message(name, tried):
    """The DataNotFoundError text: every place tried, why it failed, and the fix."""
    lines = [f"no usable source for dataset {name!r}; tried, in order:"]
    lines += [f"  {i}. {entry}" for i, entry in enumerate(tried, 1)]
    files = ", ".join(stem + ".gz" for stem in STEMS)
    lines.append(f"To fix: put the four files {files} (gzipped or not) in one directory and pass it as "
                 f"data_dir=..., or set NNFUNC_DATA_DIR to it, or place them in {user_cache_dir(name)}; "
                 "or allow network access (offline=False, unset NNFUNC_OFFLINE) to download them.")
    return "\n".join(lines)
