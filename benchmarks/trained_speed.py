"""What a trained network costs: a run's stored params against the same params with subnormals set to 0.

    python benchmarks/trained_speed.py [--run DIR] [--rounds 7] [--threads 1,2]

Without ``--run`` it first trains the default run (``python -m nnfunc.train
--no-plots``, timed as a whole process) and reports its epoch times: the
median of epochs 2-3 against the median of epochs 6 to the end. Then, for
each thread count, a fresh worker process times through the public API:

- ``nf.forward`` on the first 1,000 test images with the run's params as
  stored in model.npz (read with NumPy alone, so a run written before the
  flush keeps its subnormals) and with those params' subnormals set to 0;
- one epoch of ``nf.fit`` (55,000 training images, the run's batch size,
  L2 and optimizer, at the rate its schedule had when its last epoch began,
  held constant: the schedule itself ends at 0, where nothing would move)
  from the run's checkpoint state as stored, with subnormals set to 0, and
  from a fresh network of the same sizes.

The cases alternate round by round after one untimed round, and each
cell is the median over rounds; the spread is the slowest round over the
fastest. Each worker times NumPy's sgemm (2048^3) before and after its rounds: a figure from a
worker whose two sgemm readings differ by more than 10%, or whose spread
passes 15%, is marked noisy and is not to be quoted. The worker reports
its BLAS (threadpoolctl), kernels backend, CPU, and numba and NumPy
versions. The script imports no part of nnfunc that older versions lack,
so ``PYTHONPATH=<old checkout>`` measures an older nnfunc on the same run.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NOISE_SGEMM, NOISE_SPREAD = 1.10, 1.15


def subnormal(a):
    return (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)


def zeroed(tree):
    """A copy of a dict of float arrays with every subnormal set to 0 (NumPy alone: no nnfunc code)."""
    return {k: np.where(subnormal(v), v.dtype.type(0), v) for k, v in tree.items()}


def stored_arrays(run):
    with np.load(Path(run) / "model.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def sgemm_gflops(n=2048, repeat=5):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_seconds(lambda: a @ a) for _ in range(repeat))
    return 2 * n**3 / best / 1e9


def _seconds(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _per_call(fn, min_seconds=0.3):
    """Seconds per call of ``fn``, over enough calls to fill ``min_seconds``."""
    fn()
    n, total = 0, 0.0
    while total < min_seconds:
        total += _seconds(fn)
        n += 1
    return total / n


# ---------------------------------------------------------------- the worker (one process per thread count)
def worker(run, threads, rounds):
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(threads)
    import nnfunc as nf
    from nnfunc import kernels
    from nnfunc.training.runs import build
    from nnfunc.optim import optimizers
    from nnfunc.training import checkpoint

    before = sgemm_gflops()
    config = json.loads((Path(run) / "config.json").read_text())
    arrays = stored_arrays(run)
    prefix = "best/" if any(k.startswith("best/") for k in arrays) else "params/"
    stored = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    flushed = zeroed(stored)
    counts = {k: int(subnormal(v).sum()) for k, v in arrays.items() if v.dtype.kind == "f" and subnormal(v).any()}

    ds = nf.load_dataset(config.get("dataset", "mnist"), dtype=np.uint8, progress=False)
    x_test = ds.x_test[:1000].astype(np.float32) / np.float32(255)
    train = nf.TrainData(ds.x_train[:55000], ds.y_train[:55000], ds.x_train[:0], ds.y_train[:0])
    steps = math.ceil(len(train.y_train) / config["batch_size"])  # per epoch
    sizes, fresh, run_opt = build(config, x_test.shape[1], stored[f"W{len(stored) // 2}"].shape[1], steps)
    state, _ = checkpoint.load_state(Path(run) / "model.npz", run_opt)  # flushed on load by versions that flush
    opt = optimizers.get(config["optimizer"], float(run_opt.schedule(max(state.step - steps, 0))))

    def with_arrays(state, source):
        """The checkpoint state with its params and optimizer slots taken from ``source`` (stored or zeroed)."""
        params = {k: source(f"params/{k}") for k in state.params}
        slots = [{k: source(f"opt/{f}/{k}") for k in getattr(state.opt_state, f)} for f in state.opt_state._fields[1:]]
        return state._replace(params=params, opt_state=type(state.opt_state)(state.opt_state.count, *slots))

    as_stored = with_arrays(state, lambda name: arrays[name].copy())
    as_zeroed = with_arrays(state, lambda name: zeroed({"a": arrays[name]})["a"])
    fit_config = nf.FitConfig(epochs=state.epoch + 1, batch_size=config["batch_size"], activation=config["activation"],
                              l2=config["l2"], dropout=config["dropout"])
    fresh_state = nf.start_fit(fresh, opt, config["seed"])._replace(epoch=state.epoch, step=state.step)
    fresh_state = fresh_state._replace(opt_state=opt.init(fresh)._replace(count=state.opt_state.count))

    def forward(params):
        return lambda: nf.forward(params, x_test, activation=config["activation"])

    def epoch(start):
        return lambda: nf.fit(start, opt, train, fit_config)

    cases = {
        "forward b1000: stored": forward(stored), "forward b1000: subnormals set to 0": forward(flushed),
        "fit epoch: stored": epoch(as_stored), "fit epoch: subnormals set to 0": epoch(as_zeroed),
        "fit epoch: fresh network": epoch(fresh_state),
    }
    times = {name: [] for name in cases}
    for r in range(rounds + 1):  # round 0 warms caches, thread pools and compiled kernels
        for name, fn in cases.items():
            seconds = _per_call(fn) if name.startswith("forward") else _seconds(fn)
            if r:
                times[name].append(seconds)
    after = sgemm_gflops()
    blas = "; ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')} x{i['num_threads']}"
                     for i in threadpool_info() if i["user_api"] == "blas")
    try:
        import numba

        numba_version = numba.__version__
    except ImportError:
        numba_version = None
    return {"threads": threads, "sgemm_before": before, "sgemm_after": after, "times": times, "counts": counts,
            "blas": blas, "kernels": kernels.active(), "numpy": np.__version__, "numba": numba_version,
            "nnfunc": nf.__version__, "cpu": cpu_model(),
            "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}}


# ---------------------------------------------------------------- the driver
def default_run(out):
    """Train the default run into ``out``; return (wall seconds, per-epoch seconds)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnfunc.train", "--no-plots", "--quiet", "--out", str(out)], check=True)
    wall = time.perf_counter() - t0
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    return wall, [e["seconds"] for e in metrics["epochs"]]


def report(result):
    noisy_sgemm = max(result["sgemm_before"], result["sgemm_after"]) / min(result["sgemm_before"],
                                                                          result["sgemm_after"]) > NOISE_SGEMM
    print(f"\n{result['threads']} thread(s): {result['blas']}; kernels {result['kernels']}; "
          f"sgemm {result['sgemm_before']:.0f} -> {result['sgemm_after']:.0f} GFLOP/s"
          + ("  NOISY (sgemm moved)" if noisy_sgemm else ""))
    med = {name: statistics.median(ts) for name, ts in result["times"].items()}
    print("| case | median | spread | / subnormals set to 0 |")
    print("|---|---|---|---|")
    for name, ts in result["times"].items():
        spread = max(ts) / min(ts)
        base = med[name.split(":")[0] + ": subnormals set to 0"]
        unit = 1e6 if name.startswith("forward") else 1e3
        print(f"| {name} | {med[name] * unit:,.0f} {'us' if unit == 1e6 else 'ms'} | {spread:.2f}"
              f"{' NOISY' if spread > NOISE_SPREAD else ''} | {med[name] / base:.2f}x |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a run directory (default: train the default run first)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--worker", nargs=2, metavar=("RUN", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.rounds)))
        return
    run = args.run
    if run is None:
        run = tempfile.mkdtemp(prefix="nnfunc-trained-") + "/run"
        wall, epochs = default_run(run)
        late = epochs[5:]
        print(f"default run: {wall:.1f} s wall; epochs 2-3 median {statistics.median(epochs[1:3]):.3f} s, "
              f"epochs 6-{len(epochs)} median {statistics.median(late):.3f} s; every epoch: "
              + " ".join(f"{s:.3f}" for s in epochs))
    first = None
    for threads in [int(t) for t in args.threads.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--worker", run, str(threads), "--rounds", str(args.rounds)],
                             check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        if first is None:
            first = result
            print(f"run {run}: nnfunc {result['nnfunc']}, NumPy {result['numpy']}, numba {result['numba']}, "
                  f"CPU {result['cpu']}, OPENBLAS env {result['openblas_env'] or 'unset'}")
            print("subnormal values stored: " + (", ".join(f"{k} {n:,}" for k, n in result["counts"].items())
                                                 or "none"))
        report(result)


if __name__ == "__main__":
    main()
