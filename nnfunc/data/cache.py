"""One directory's four IDX files -> verified uint8 arrays, kept in the user cache.

Verifying costs a gunzip, a hash and a parse, so the parsed uint8 arrays are
kept in ``<user cache>/arrays-v1.npz`` with a stamp (resolved path, size,
mtime_ns, expected hash) of each source file; a later load whose stamps match
reads only that file. A damaged cache is rebuilt from the verified sources;
source directories are never written to.
"""

import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from nnfunc.data.datasets import CHECK_ORDER, SPECS, STEMS
from nnfunc.data.idx import check_counts, find_file, parse_idx, read_verified
from nnfunc.errors import DataNotFoundError
from nnfunc.fileio import save_npz

CACHE_FILE = "arrays-v1.npz"


def user_cache_dir(name):
    """``$XDG_CACHE_HOME/nnfunc/<name>``, or ``~/.cache/nnfunc/<name>`` (XDG ignores relative paths)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "nnfunc" / name


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


def load_dir(directory, name):
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
        # our own handle: np.load leaks its file when the zip turns out broken
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
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
