"""Wall time of the same sweep on a local Dask cluster of 1 and of 2 workers, alternating, on real MNIST.

    python benchmarks/sweep_workers.py [--trials 16] [--rounds 1] [--workers 1,2] [-- TRAIN FLAGS]

The sweep uses the random sampler and no pruner, so every worker count runs
the very same trials (random draws are fixed by trial number), and the
times compare engines, not luck. Each round runs every worker count once,
in turn, so a slow spell of the machine hits them all; the table gives
each count's median wall time (the whole ``nnfunc sweep`` process: cluster
start, data checks, trials, results) and its speed-up over the first. The
search space is README's example (``--hidden`` changes its widths). Needs
the [sweep] extra.

``--sequential`` adds the yardstick without an engine: the first sweep's
trial commands run one after the other as plain ``python -m nnfunc.train``
processes, with the BLAS threads the machine gives (one process using
both cores through its matmuls, where the sweep uses one core per trial).
"""

import argparse
import csv
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

def space(hidden):
    return ["--search", "lr=3e-4..1e-2:log", "--search", f"hidden={hidden}", "--search", "dropout=0..0.3",
            "--search", "batch_size=64|128"]


def blas():
    """What BLAS ran in the workers: their kernel and threads (each worker gets one BLAS thread)."""
    code = ("import numpy; from threadpoolctl import threadpool_info; "
            "print([(i['internal_api'], i.get('architecture'), i['num_threads']) for i in threadpool_info()])")
    env_code = f"import os; os.environ['OPENBLAS_NUM_THREADS'] = '1'; {code}"
    try:
        return subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except OSError:
        return "unknown"


def run_sweep(workers, trials, hidden, train_flags, out):
    cmd = [sys.executable, "-m", "nnfunc", "sweep", *space(hidden), "--trials", str(trials), "--sampler", "random",
           "--pruner", "none", "--workers", str(workers), "--no-plots", "--out", str(out), "--", *train_flags]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{result.stdout}\n{result.stderr}")
    return seconds


def run_sequential(sweep_dir, out):
    """Time the sweep's trial commands run one by one as plain train processes (no plots, like the trials)."""
    with open(sweep_dir / "trials.csv", newline="") as f:
        commands = [row["command"] for row in csv.DictReader(f)]
    t0 = time.perf_counter()
    for i, command in enumerate(commands):
        argv = shlex.split(command)[3:]
        subprocess.run([sys.executable, "-m", "nnfunc.train", *argv, "--no-plots", "--quiet", "--out",
                        str(out / f"{i:04d}")], check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    own, train_flags = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--workers", default="1,2", help="worker counts, comma separated")
    p.add_argument("--hidden", default="128|256|256,256", help="the widths searched (default: README's)")
    p.add_argument("--sequential", action="store_true", help="also time the trials as plain train runs in a row")
    args = p.parse_args(own)
    train_flags = train_flags or ["--epochs", "8"]
    counts = [int(w) for w in args.workers.split(",")]
    times = {w: [] for w in counts}
    sequential = []
    root = Path(tempfile.mkdtemp(prefix="sweep-workers-"))
    try:
        for r in range(args.rounds):
            for w in counts:
                out = root / f"w{w}-r{r}"
                times[w].append(run_sweep(w, args.trials, args.hidden, train_flags, out))
                print(f"round {r + 1}: {w} worker(s) {times[w][-1]:.1f} s", flush=True)
                if args.sequential and w == counts[0]:
                    sequential.append(run_sequential(out, root / f"seq-r{r}"))
                    print(f"round {r + 1}: sequential train runs {sequential[-1]:.1f} s", flush=True)
                    shutil.rmtree(root / f"seq-r{r}")
                shutil.rmtree(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.trials} trials, hidden {args.hidden}, train flags {' '.join(train_flags)}; BLAS in the workers: "
          f"{blas()}")
    print("| workers | wall time (median) | speed-up |\n|---|---|---|")
    base = statistics.median(times[counts[0]])
    for w in counts:
        t = statistics.median(times[w])
        print(f"| {w} | {t:.1f} s | {base / t:.2f}x |")
    if sequential:
        t = statistics.median(sequential)
        threads = os.environ.get("OPENBLAS_NUM_THREADS", "the default")
        print(f"| none: the trials as train runs in a row (BLAS threads: {threads}) | {t:.1f} s | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
