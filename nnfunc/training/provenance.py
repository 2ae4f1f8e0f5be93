"""What computed a run: nnfunc's version, the kernel backend, NumPy, numba and the BLAS with its threads.

A run records ``describe()`` in its config (so in ``config.json`` and the
checkpoint) when it starts, and again each time it is resumed. Two
backends give results that differ in the last bits, so a resume on other
kernels than the run started with is refused unless asked for
(``check_kernels``); another BLAS or thread count is recorded, not refused.
"""

import platform

import numpy as np

from nnfunc import kernels
from nnfunc._version import __version__
from nnfunc.errors import ConfigError


def blas():
    """{"name", "version", "kernel", "threads"} of the BLAS NumPy calls (kernel and threads None when unknown).

    threadpoolctl (installed with scikit-learn) reads the loaded library
    itself; without it, NumPy's build record gives the name and version.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        # SciPy (loaded by augmentation) brings a BLAS of its own: NumPy's is the one in numpy's wheel
        found.sort(key=lambda i: "numpy" not in str(i.get("filepath", "")))
        if found:
            info = found[0]
            return {"name": info.get("internal_api"), "version": info.get("version"),
                    "kernel": info.get("architecture"), "threads": info.get("num_threads")}
    try:
        built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # another NumPy's record: the name is unknown, not an error
        built = {}
    return {"name": built.get("name"), "version": built.get("version"), "kernel": None, "threads": None}


def describe():
    """What computes in this process, as JSON-ready data (see the module docstring)."""
    backend = kernels.describe()
    return {"nnfunc": __version__, "kernels": backend["backend"], "numpy": np.__version__,
            "numba": backend["numba"], "blas": blas(), "python": platform.python_version()}


def kernels_line(computed_by):
    """One line for a person: "numba kernels (numba 0.62.1), NumPy 2.4.6, openblas 0.3.31 SkylakeX 2 threads"."""
    if not isinstance(computed_by, dict) or not computed_by.get("kernels"):
        return "not recorded (trained before nnfunc recorded it)"
    c, b = computed_by, computed_by.get("blas") or {}
    backend = f"{c['kernels']} kernels" + (f" (numba {c['numba']})" if c.get("numba") else "")
    parts = [b.get("name"), b.get("version"), b.get("kernel"),
             f"{b['threads']} thread{'s' * (b['threads'] != 1)}" if b.get("threads") else None]
    blas_text = " ".join(str(p) for p in parts if p)
    return f"{backend}, NumPy {c.get('numpy')}" + (f", {blas_text}" if blas_text else "") + \
        f", nnfunc {c.get('nnfunc')}"


def trained_with(config):
    """Lines for a person: what trained the run, then each resume that changed the kernels."""
    lines = [f"trained with {kernels_line(config.get('computed_by'))}"]
    resumed = config.get("resumed") if isinstance(config.get("resumed"), list) else []
    for record in resumed:
        if isinstance(record, dict) and record.get("allow_other_kernels"):
            lines.append(f"resumed after epoch {record.get('epoch')} with {kernels_line(record)}")
    return lines


def last_kernels(config):
    """The kernels a run's config says it trained its last epochs with ("numba", "numpy"), or None."""
    records = [config.get("computed_by")]
    if isinstance(config.get("resumed"), list):
        records += config["resumed"]
    found = [r["kernels"] for r in records if isinstance(r, dict) and r.get("kernels") in kernels.BACKENDS]
    return found[-1] if found else None


def check_kernels(config, run_dir, allow_other=False):
    """Refuse to resume a run on other kernels than it was trained with, unless ``allow_other``.

    Raises:
        ConfigError: naming both backends, the environment variable that
            selects one, and the flag that continues anyway.
    """
    recorded = last_kernels(config)
    here = kernels.active()
    if recorded is None or recorded == here or allow_other:
        return
    install = f" after installing numba: {kernels.INSTALL}," if recorded == "numba" and not kernels.installed() else ""
    raise ConfigError(f"{run_dir} was trained with the {recorded} kernels, and this process runs the {here} "
                      f"kernels: the rest of the run would differ from an uninterrupted one. Select them with the "
                      f"environment variable {kernels.ENV}={recorded}{install} or pass --allow-other-kernels to "
                      "continue on these (the change is recorded in config.json)")
