"""One directory's four IDX files -> verified uint8 arrays, kept in the user cache.

Verifying costs a gunzip, a hash and a parse, so the parsed uint8 arrays are
kept in ``<user cache>/arrays-v1.npz`` with a stamp (resolved path, size,
mtime_ns, expected hash) of each source file; a later load whose stamps match
reads only that file. The stamps say which sources the cache stands for, not
that its arrays are right: each load also proves the arrays, since each one
with its IDX header rebuilt from its shape must hash to the dataset's official
SHA-256 of that file. Shapes and dtypes are checked before any data is read,
so a damaged, tampered or hostile cache costs next to nothing and is rebuilt
from the verified sources. Source directories are never written to.

Writing the cache holds an ``flock`` on ``.lock`` in its directory: the
holder first removes the temp files a killed writer left; a load that finds
the lock taken leaves the cache to the process holding it.
"""

import hashlib
import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from nnfunc.data.datasets import CHECK_ORDER, SPECS, STEMS, idx_shape
from nnfunc.data.idx import check_counts, find_file, idx_header, parse_idx, read_verified
from nnfunc.errors import DataError, DataNotFoundError
from nnfunc.fileio import UnreadableFile, directory_lock, remove_temp_files, save_npz
from nnfunc.npz import npz_headers, read_npz

CACHE_FILE = "arrays-v1.npz"
# (stem prefix, key suffix): train-* -> x_train / y_train, t10k-* -> x_test / y_test
SPLITS = (("train", "train"), ("t10k", "test"))
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")


def user_cache_dir(name):
    """``$XDG_CACHE_HOME/nnfunc/<name>``, or ``~/.cache/nnfunc/<name>`` (XDG ignores relative paths)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "nnfunc" / name


def _find_files(directory, name):
    """Return (dir, {stem: path}) for ``directory`` or its ``name`` subfolder.

    Raises:
        DataNotFoundError: no such directory, one that cannot be opened, or files missing.
        DataError: a file that cannot be looked up (see ``find_file``).
    """
    directory = directory.expanduser()
    try:
        is_dir = stat.S_ISDIR(os.stat(directory).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        is_dir = False
    except OSError as e:
        raise DataNotFoundError(f"{directory}: cannot open it ({e.strerror or e}); check the permissions of it "
                                "and of the directories above it") from e
    if not is_dir:
        raise DataNotFoundError(f"{directory} does not exist or is not a directory")
    for candidate in (directory, directory / name):
        paths = {stem: find_file(candidate, stem) for stem in STEMS}
        if all(paths.values()):
            return candidate, paths
    missing = [stem + "[.gz]" for stem in STEMS if find_file(directory, stem) is None]
    raise DataNotFoundError(f"{directory}: missing {', '.join(missing)}")


def load_dir(directory, name):
    """Return (dir used, uint8 arrays) from one directory, via the array cache.

    Returns:
        (Path, {"x_train": (m, 784), "y_train": (m,), "x_test": (n, 784), "y_test": (n,)}), all uint8.

    Raises:
        DataNotFoundError: see ``_find_files``. DataError: a source file that
            cannot be read or fails its checks. Cache problems never raise: a
            bad cache is rebuilt, an unwritable one is warned about.
    """
    spec = SPECS[name]
    found, paths = _find_files(directory, name)
    stamps = json.dumps([[str(paths[s].resolve()), *_size_and_mtime(paths[s]), spec.sha256[s]] for s in STEMS])
    cache = user_cache_dir(name) / CACHE_FILE
    arrays = _read_cache(cache, stamps, spec)
    if arrays is None:
        arrays = _verified_arrays(paths, spec)
        _write_cache(cache, arrays, stamps)
    return found, arrays


def _size_and_mtime(path):
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(f"{path}: cannot look it up ({e.strerror or e}); check the path and its permissions") from e
    return st.st_size, st.st_mtime_ns


def _verified_arrays(paths, spec):
    """Read, verify and parse the four files: {x_train, y_train, x_test, y_test}, uint8."""
    raws = {stem: read_verified(paths[stem], spec.sha256[stem], size=spec.sizes[stem]) for stem in CHECK_ORDER}
    arrays = {}
    for split, key in SPLITS:
        stems = (f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte")
        names = [str(paths[s]) for s in stems]
        images = parse_idx(raws.pop(stems[0]), kind="images", name=names[0])
        labels = parse_idx(raws.pop(stems[1]), kind="labels", name=names[1])
        check_counts(images, labels, names=names)
        arrays["x_" + key], arrays["y_" + key] = images.reshape(len(images), -1), labels
    return arrays


def _write_cache(cache, arrays, stamps):
    """Save the arrays to ``cache`` under the directory lock; warn, never raise, when that fails."""
    try:
        with directory_lock(cache.parent) as (held, _):
            if not held:
                return  # another process is writing the cache; it is only a cache
            remove_temp_files(cache.parent, {cache.name})
            save_npz(cache, {**arrays, "stamps": np.array(stamps)})
    except OSError as e:
        # stacklevel 4: the warning points at the caller of load_dataset
        warnings.warn(f"could not write the array cache {cache} ({e.strerror or e}); loading works but verifies "
                      f"the source files again each time: make {cache.parent} writable, or set XDG_CACHE_HOME "
                      "to a writable directory", stacklevel=4)


def _read_cache(path, stamps, spec):
    """The cached uint8 arrays if ``path`` holds the dataset's own arrays for exactly ``stamps``, else None.

    Each step reads only what the one before it vouched for: the headers
    (exact shapes and dtypes, no data), then the small stamps array, then the
    arrays, which must hash to the official checksums.
    """
    try:
        if npz_headers(path) != _cache_headers(spec, stamps):
            return None
        if str(read_npz(path, ["stamps"])["stamps"]) != stamps:
            return None
        arrays = read_npz(path, ARRAY_NAMES)
    except (UnreadableFile, OSError):
        return None  # missing, unreadable, damaged or hostile: rebuilt from the verified sources
    return arrays if _proven(arrays, spec) else None


def _cache_headers(spec, stamps):
    """{name: (shape, dtype)} a cache of ``spec``'s arrays for ``stamps`` must have."""
    headers = {"stamps": ((), np.array(stamps).dtype)}
    for split, key in SPLITS:
        images = idx_shape(f"{split}-images-idx3-ubyte", spec.sizes[f"{split}-images-idx3-ubyte"])
        labels = idx_shape(f"{split}-labels-idx1-ubyte", spec.sizes[f"{split}-labels-idx1-ubyte"])
        headers["x_" + key] = ((images[0], images[1] * images[2]), np.dtype(np.uint8))
        headers["y_" + key] = (labels, np.dtype(np.uint8))
    return headers


def _proven(arrays, spec):
    """True if every array, as the IDX file it was parsed from, has the spec's SHA-256.

    The cached arrays are exactly the IDX payloads: rebuilding the header from
    the shape and hashing it with the array's bytes gives the checksum of the
    source file, so any changed byte (a shuffled label, a swapped image) fails.
    """
    for split, key in SPLITS:
        for stem, array in ((f"{split}-images-idx3-ubyte", arrays["x_" + key]),
                            (f"{split}-labels-idx1-ubyte", arrays["y_" + key])):
            digest = hashlib.sha256(idx_header(idx_shape(stem, spec.sizes[stem])))
            digest.update(np.ascontiguousarray(array))
            if digest.hexdigest() != spec.sha256[stem]:
                return False
    return True
