"""What checkpoints and model files share: reading one through ``nnfunc.npz``, and checking its network.

Both kinds hold a network's params (``params/W1`` ...) described by their
meta record's ``sizes`` and ``dtype``; every array's header is checked
against that network before any data is read, so a file's work is bounded
by what it must hold. Every failure is a ``CheckpointError`` that says what
is wrong and what to do instead. Arrays read back hold no subnormal value
(``nnfunc.subnormals``) and no NaN or inf.
"""

import contextlib
from pathlib import Path

import numpy as np

from nnfunc import fileio, npz
from nnfunc.errors import CheckpointError, ParamsError, shown
from nnfunc.checks import validate_params
from nnfunc.params import param_keys
from nnfunc.subnormals import flush

MAX_LAYERS = 1000  # far past any MLP that trains; a longer sizes list is damage
DAMAGED = "the file is damaged: train a new run, or use another copy"


@contextlib.contextmanager
def opened(path, *, fix):
    """Yield (npz.Header, read) of the nnfunc file at ``path``; ``read()`` gives every entry, flushed and finite.

    Args:
        path: the file (str or Path). fix: what every error message tells the user to do instead.

    Raises:
        CheckpointError: missing, a directory, unreadable, truncated, corrupt
            or pickled, no nnfunc file, NaN or inf in an array; raised in the
            ``with`` block or here, each names ``path`` and ``fix``.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise CheckpointError(f"{path} is a directory without model.npz; {fix}")
        with npz.opened(path) as (header, read):
            yield header, lambda: _finite(read(), path, fix)
    except FileNotFoundError:
        raise CheckpointError(f"no file at {path}; {fix}") from None
    except fileio.UnreadableFile as exc:
        raise CheckpointError(f"{exc}; {fix}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path} ({exc.strerror or exc}); check its permissions, or {fix}") from None


def _finite(arrays, path, fix):
    """``arrays`` (fresh, ours to write into) with subnormals flushed; CheckpointError for NaN or inf."""
    for a in arrays.values():
        if a.dtype.kind == "f":
            flush(a)
    bad = next((name for name, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all()), None)
    if bad is not None:
        raise CheckpointError(f"{path} holds NaN or inf in {bad}: the run diverged before it was saved, or the file "
                              f"is damaged; {fix}")
    return arrays


def check_kind(path, header, formats, fix):
    """Raise CheckpointError unless ``header`` is of a kind in ``formats`` ({kind: its format numbers read here}).

    Raises:
        CheckpointError: another kind of file, or a format of the kind this nnfunc does not read here.
    """
    if header.kind not in formats:
        raise CheckpointError(f"{path} is an nnfunc {shown(header.kind, quote=False)} file, but a "
                              f"{' or '.join(formats)} is needed here; {fix}")
    if header.format not in formats[header.kind]:
        raise CheckpointError(
            f"{path} is a {header.kind} file of format {header.format} (written by nnfunc "
            f"{shown(header.written_by, quote=False)}); this is needed in format "
            f"{' or '.join(map(str, formats[header.kind]))}. {fix[0].upper() + fix[1:]}, or use the nnfunc version "
            "that wrote it"
        )


def check_network(path, header, meta_keys, fix):
    """Raise CheckpointError unless the meta record holds ``meta_keys`` and every array fits its network.

    The network is the one of the meta record's ``sizes`` (n0, ..., nL) and
    ``dtype``: ``params/``, ``best/`` and ``opt/<field>/`` hold its W and b,
    ``opt/<field>`` a scalar int64 count; nothing else may be stored.
    """
    meta = header.meta
    missing = sorted({"sizes", "dtype", *meta_keys} - set(meta))
    if missing:
        raise CheckpointError(f"{path} has a meta record without {', '.join(missing)}; {fix}")
    sizes, dtype = meta["sizes"], meta["dtype"]
    if (not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LAYERS + 1
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)
            or dtype not in ("float32", "float64")):
        raise CheckpointError(f"{path} has a corrupt meta record (sizes {shown(sizes)}, dtype {shown(dtype)}); "
                              f"{DAMAGED}")
    shapes = {}
    for l in range(1, len(sizes)):
        shapes[f"W{l}"], shapes[f"b{l}"] = (sizes[l - 1], sizes[l]), (sizes[l],)
    for name, (shape, found) in header.shapes.items():
        group, _, key = name.rpartition("/")
        if group in ("params", "best") or (group.startswith("opt/") and group.count("/") == 1):
            want = (shapes.get(key), np.dtype(dtype))
        elif group == "opt":
            want = ((), np.dtype(np.int64))  # the update count
        else:
            want = (None, None)
        if (shape, found) != want:
            raise CheckpointError(f"{path} holds an array {shown(name)} of shape {shown(shape)} and dtype {found}, "
                                  f"which a {shown('-'.join(map(str, sizes)), quote=False)} {dtype} network does not "
                                  f"have; {DAMAGED}")


def params_under(arrays, prefix, path):
    """The Params stored under ``prefix`` ("params/", "best/"); CheckpointError unless they make one network."""
    keys = [k[len(prefix) :] for k in arrays if k.startswith(prefix)]
    # every stored key must belong: a lost "b2" must not quietly make a shallower network
    expected = param_keys(sum(k.startswith("W") for k in keys))
    if sorted(keys) != sorted(expected):
        raise CheckpointError(f"{path}: stored params are inconsistent (keys {sorted(keys)}, expected {expected}); "
                              f"{DAMAGED}")
    params = {k: arrays[prefix + k] for k in expected}
    try:
        validate_params(params)
    except ParamsError as exc:
        raise CheckpointError(f"{path}: stored params are inconsistent ({exc})") from None
    return params


def params_to_use(arrays, path):
    """The params to evaluate: the best-validation ones when stored (``best/``), else the last (``params/``)."""
    return params_under(arrays, "best/" if any(k.startswith("best/") for k in arrays) else "params/", path)
