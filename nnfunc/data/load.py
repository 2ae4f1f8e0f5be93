"""Datasets as arrays: find a verified source, cache its arrays, split and subset them.

Sources, first hit wins: the ``data_dir`` argument (which must work: its
problem is raised, nothing else is tried); ``$NNFUNC_DATA_DIR``; the user
cache ``$XDG_CACHE_HOME/nnfunc/<name>`` (default ``~/.cache/nnfunc/<name>``);
for Fashion-MNIST the Debian package directory; then a download into the user
cache, unless offline. A directory may hold the four IDX files itself or in a
``<name>`` subfolder, gzipped or not; it counts only when all four verify
(``nnfunc.data.idx`` reads and checks the files; ``nnfunc.data.download``,
imported only when needed, fetches them). Whatever is wrong with one source
(a missing, damaged or hostile file, a permission denied, a pipe where a file
should be) is a ``DataError`` naming the path and the problem: it goes into
the list of places tried and the next source is tried.

Verifying costs a gunzip, a hash and a parse, so ``nnfunc.data.cache``
keeps the parsed arrays in the user cache (and proves them on each load). A
cache that cannot be written costs a warning, never the load. Source
directories are never written to.
"""

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nnfunc import checks
from nnfunc.data.cache import load_dir, user_cache_dir
from nnfunc.data.datasets import SPECS, STEMS, check_mirrors
from nnfunc.errors import ConfigError, DataError, DataNotFoundError, InputError

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8))


class Dataset(NamedTuple):
    """A dataset's splits and where they came from.

    x_train: (60000, 784) float in [0, 1], or raw uint8; y_train: (60000,)
    int64 class ids 0..9; x_test: (10000, 784); y_test: (10000,) int64;
    class_names: 10 strings; source: the directory the files were read from, as an absolute path.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    class_names: tuple
    source: str


def _check_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise ConfigError(f"dtype {dtype!r} is not a NumPy dtype; use np.float32, np.float64 or np.uint8") from e
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype} is not supported; use np.float32, np.float64 or np.uint8")
    return dtype


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
        DataError: ``data_dir`` holds a corrupt, wrong or unreadable file.
        DataNotFoundError: no source worked; the message lists each one tried.

    Warns:
        UserWarning: the array cache could not be written (read-only, full);
            the data is loaded all the same.
    """
    key = str(name).lower()
    if key not in SPECS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(SPECS)}")
    spec = SPECS[key]
    dtype = _check_dtype(dtype)
    mirrors = spec.mirrors if mirrors is None else check_mirrors(mirrors)
    if data_dir is not None:
        try:
            return _to_dataset(*load_dir(Path(data_dir), key), key, dtype)
        except DataNotFoundError as e:
            raise _not_found(key, [str(e)], PYTHON_WORDS, given_dir=True) from e

    places = []
    if os.environ.get("NNFUNC_DATA_DIR"):
        places.append(("$NNFUNC_DATA_DIR", Path(os.environ["NNFUNC_DATA_DIR"])))
    places.append(("user cache", user_cache_dir(key)))
    places += [(label, Path(d)) for label, d in spec.system_dirs]
    tried = []
    for label, directory in places:
        try:
            return _to_dataset(*load_dir(directory, key), key, dtype)
        except DataError as e:
            tried.append(f"{label}: {e}")
    if is_offline(offline):
        tried.append(_SKIPPED_OFFLINE)
    else:
        from nnfunc.data.download import download_missing  # the network stack loads only here

        try:
            download_missing(user_cache_dir(key), spec, mirrors, progress=progress)
            return _to_dataset(*load_dir(user_cache_dir(key), key), key, dtype)
        except DataError as e:
            tried.append(f"download into {user_cache_dir(key)}: {e}")
    raise _not_found(key, tried, PYTHON_WORDS, given_dir=False)


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
    checks.integer(val_size, "val_size", low=0, high=m - 1,
                   hint=f"{m} training examples must leave at least one for training")
    order = checks.generator(rng).permutation(m)
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
        checks.integer(n, f"n_{split}", low=1, high=len(y))
        idx = np.arange(n) if rng is None else np.sort(generator.choice(len(y), size=n, replace=False))
        return x[idx], y[idx]

    generator = None if rng is None else checks.generator(rng)
    x_train, y_train = pick(dataset.x_train, dataset.y_train, n_train, "train")
    x_test, y_test = pick(dataset.x_test, dataset.y_test, n_test, "test")
    return dataset._replace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def is_offline(offline=None):
    """Resolve ``offline=None`` from ``$NNFUNC_OFFLINE`` (1/true/yes/on)."""
    if offline is None:
        return os.environ.get("NNFUNC_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(offline)


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
                   name, SPECS[name].class_names, str(Path(found).absolute()))


_SKIPPED_OFFLINE = object()  # worded when the message is built
# How a DataNotFoundError names the options: Python keywords here; the
# command line rewords it with its flags (``reword_not_found``).
PYTHON_WORDS = {"data_dir": "data_dir", "pass_dir": "pass it as data_dir=...",
                "drop_dir": "drop data_dir", "offline_on": "offline=True", "offline_off": "offline=False"}


def _not_found(name, tried, words, *, given_dir):
    """The DataNotFoundError of a failed lookup: every place tried, why it failed, and the fix.

    The error keeps ``dataset``, ``tried`` and ``given_dir`` so that
    ``reword_not_found`` can say the same in another vocabulary.
    """
    files = ", ".join(stem + ".gz" for stem in STEMS)
    if given_dir:
        text = (f"{words['data_dir']} {tried[0]}; put the four files {files} (gzipped or not) there, "
                f"or {words['drop_dir']} to search the default places")
    else:
        lines = [f"no usable source for dataset {name!r}; tried, in order:"]
        skipped = f"download: skipped, offline ({words['offline_on']} or NNFUNC_OFFLINE=1)"
        lines += [f"  {i}. {skipped if entry is _SKIPPED_OFFLINE else entry}" for i, entry in enumerate(tried, 1)]
        lines.append(f"To fix: put the four files {files} (gzipped or not) in one directory and "
                     f"{words['pass_dir']}, or set NNFUNC_DATA_DIR to it, or place them in "
                     f"{user_cache_dir(name)}; or allow network access ({words['offline_off']}, "
                     "unset NNFUNC_OFFLINE) to download them.")
        text = "\n".join(lines)
    error = DataNotFoundError(text)
    error.dataset, error.tried, error.given_dir = name, tuple(tried), given_dir
    return error


def reword_not_found(error, words, *, tried_first=()):
    """The same DataNotFoundError with its options named by ``words`` (keys of PYTHON_WORDS).

    ``tried_first``: places the caller tried before ``load_dataset`` (strings
    "where: why"), listed ahead of the error's own.
    """
    if not hasattr(error, "tried"):
        return error
    tried = list(error.tried) if error.given_dir else [*tried_first, *error.tried]
    return _not_found(error.dataset, tried, {**PYTHON_WORDS, **words}, given_dir=error.given_dir)
