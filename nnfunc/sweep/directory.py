"""A sweep directory's files: its spec (checked under the lock), its trials written atomically, their outcomes.

One sweep at a time owns a sweep directory (``nnfunc.training.runlog.own``,
the lock a run directory has); ``check_spec`` runs only while it is held,
so two sweeps of different specs never both pass and continue one study
with two spaces.
"""

import json
import os
import shutil
from pathlib import Path

from nnfunc import fileio
from nnfunc.errors import ConfigError, shown
from nnfunc.training import provenance, runlog

SPEC_KEYS = ("search", "train", "sampler", "pruner", "prune_after", "seed")
# the files a sweep writes (atomically) beside its trials/
SWEEP_FILES = ("sweep.json", "trials.json", "trials.csv", "best.txt", "progress.png", "params.png")


def sweep_out(out=None):
    """The sweep directory of ``--out`` (default sweeps/<timestamp>); refuse a file there."""
    out = Path(out) if out else runlog.new_run_dir("sweeps")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a directory for the sweep")
    return out


def check_spec(out, spec):
    """Refuse ``out`` unless it is empty or a sweep of the same spec (to continue); call it holding the lock."""
    recorded = out / "sweep.json"
    if recorded.exists():
        try:
            old = json.loads(fileio.read_limited(recorded, runlog.MAX_JSON_BYTES))
            old = {k: old[k] for k in SPEC_KEYS}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{recorded} is damaged ({shown(str(exc), quote=False)}); restore it, or start a new "
                              "sweep with another --out") from None
        changed = [k for k in SPEC_KEYS if json.dumps(old[k], sort_keys=True) != json.dumps(spec[k], sort_keys=True)]
        if changed:
            k = changed[0]
            raise ConfigError(f"{out} is a sweep with other settings: its {k} is {shown(old[k])}, this command's is "
                              f"{shown(spec[k])}. Continue it with its own settings, or pick another --out")
    elif out.is_dir() and any(p.name != fileio.LOCK_FILE for p in out.iterdir()):
        raise ConfigError(f"{out} holds files but no sweep.json, so it is not a sweep; pick another --out")
    trials = out / "trials"
    if not (out / "study.db").exists() and trials.is_dir() and any(not p.name.startswith(".") for p in trials.iterdir()):
        raise ConfigError(f"{out} has trials but no study.db (the record of them), so continuing would number new "
                          "trials over them; restore study.db from a copy, or start a new sweep with another --out")
    return out


def _kernels(files):
    """The kernels backend a trial's config.json records ("numba" or "numpy"), or None."""
    try:
        return provenance.last_kernels(json.loads(files["config.json"]))
    except (KeyError, ValueError, AttributeError):
        return None


def outcome_attrs(files, out):
    """(objective, attrs) of a finished trial from its metrics.json: the kept epoch's validation loss and more."""
    metrics = json.loads(files["metrics.json"]) if "metrics.json" in files else {"epochs": [], "test": None}
    epochs = [e for e in metrics["epochs"] if e.get("val_loss") is not None]
    attrs = {"epochs": len(metrics["epochs"]), "seconds": sum(e["seconds"] or 0 for e in metrics["epochs"]),
             "run_dir": str(out), "kernels": _kernels(files)}
    if not epochs:
        return None, attrs
    kept = min(epochs, key=lambda e: e["val_loss"])
    attrs["val_loss"], attrs["val_accuracy"] = kept["val_loss"], kept["val_accuracy"]
    if metrics.get("test"):
        attrs["test_accuracy"] = metrics["test"]["accuracy"]
    return kept["val_loss"], attrs


def write_trial(directory, number, files):
    """Write a trial's files as ``trials/NNNN`` atomically (a hidden partial directory, then one rename)."""
    from nnfunc.sweep import results

    final = directory / results.trial_dir(number)
    if final.exists():  # trial numbers never repeat in a study: this is another study's trial
        raise ConfigError(f"{final} already exists and belongs to no trial of {directory / 'study.db'}; move it away, "
                          "or start a new sweep with another --out")
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, data in files.items():
        if Path(name).name != name or name.startswith("."):
            continue  # a worker's file name never picks the path
        fileio.write_bytes(partial / name, data)
    os.rename(partial, final)
    return Path(results.trial_dir(number))


def clear_partials(directory):
    """Remove the partial trial directories a killed sweep left."""
    trials = directory / "trials"
    if trials.is_dir():
        for p in trials.glob(".*.partial"):
            shutil.rmtree(p, ignore_errors=True)
