"""The same script with either import: ``nnfunc.sklearn.MLPClassifier`` against scikit-learn's, on MNIST.

    python benchmarks/compare_sklearn.py [--rounds 3] [--train 60000] [--epochs 10] [--dtypes float32,float64]
                                         [--threads 2]

One worker script fits ``MLPClassifier(hidden_layer_sizes=(100,),
solver="adam", learning_rate_init=1e-3, batch_size=200, max_iter=epochs,
alpha=0.0, tol=0.0, n_iter_no_change=epochs, random_state=seed)`` on the
first ``--train`` real MNIST training rows (pixels in [0, 1]) and scores
the 10,000 test digits; the only difference between the libraries is the
import line. Same random_state, same initial weights and batches: the
accuracies agree to rounding. float32 data trains in float32 in both,
float64 in float64. Each fit runs in its own subprocess, the libraries
alternate round by round (seed = round), and each cell is the median
over rounds; the ratio is scikit-learn's fit time over nnfunc's, so
above 1 means nnfunc is faster.

The machine check of compare_torch.py applies: NumPy's 2048^3 sgemm in
its own process before and after, and each cell's spread over its
rounds; NOISY is printed when the two sgemm readings differ by more than
10% or a cell's rounds spread more than 10%, and such a table is not
quoted. The BLAS, its threads and both libraries' versions are printed first.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import json, sys, time, warnings
import numpy as np
import nnfunc as nf
library, dtype, n, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if library == "nnfunc":
    from nnfunc.sklearn import MLPClassifier
else:
    from sklearn.neural_network import MLPClassifier
from sklearn.exceptions import ConvergenceWarning
warnings.simplefilter("ignore", ConvergenceWarning)  # it stops at max_iter, as asked
data = nf.load_dataset("mnist")
X, y = data.x_train[:n].astype(dtype), data.y_train[:n]
model = MLPClassifier(hidden_layer_sizes=(100,), solver="adam", learning_rate_init=1e-3, batch_size=200,
                      max_iter=epochs, alpha=0.0, tol=0.0, n_iter_no_change=epochs, random_state=seed)
t0 = time.perf_counter()
model.fit(X, y)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "epochs": model.n_iter_,
                  "accuracy": model.score(data.x_test.astype(dtype), data.y_test)}))
"""
NOISE = 0.10


def measure(library, dtype, n, epochs, seed, threads):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "NUMBA_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", WORKER, library, dtype, str(n), str(epochs), str(seed)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


def sgemm_peak(threads):
    """NumPy's 2048^3 sgemm in GFLOP/s at ``threads``, in its own process (compare_torch.py's machine check)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from compare_torch import run_worker

    return run_worker("peak", 1.0, threads=threads)


def versions():
    import numpy
    import sklearn
    from threadpoolctl import threadpool_info

    import nnfunc

    numpy.ones((2, 2)) @ numpy.ones((2, 2))  # numpy's BLAS is loaded and has run
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}"
                     for i in threadpool_info() if i['internal_api'] != "openmp")
    return f"nnfunc {nnfunc.__version__}, scikit-learn {sklearn.__version__}, NumPy {numpy.__version__}; {blas}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--train", type=int, default=60_000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads of every process")
    args = p.parse_args()
    print(versions())
    print(f"MNIST {args.train} training rows, 784-100-10 ReLU, Adam 1e-3, batch 200, {args.epochs} epochs, "
          f"{args.rounds} rounds (median), {args.threads} BLAS thread(s)")
    before = sgemm_peak(args.threads)
    rows = []
    for dtype in args.dtypes.split(","):
        cells = {"nnfunc": [], "sklearn": []}
        for seed in range(args.rounds):
            order = ("nnfunc", "sklearn") if seed % 2 == 0 else ("sklearn", "nnfunc")
            for library in order:
                cells[library].append(measure(library, dtype, args.train, args.epochs, seed, args.threads))
        rows.append((dtype, cells))
    after = sgemm_peak(args.threads)
    spreads = [max(r["seconds"] for r in runs) / min(r["seconds"] for r in runs) - 1
               for _, cells in rows for runs in cells.values()]
    noisy = abs(after / before - 1) > NOISE or max(spreads) > NOISE or args.rounds < 2
    print(f"machine check: sgemm 2048^3 {before:.0f} GFLOP/s before, {after:.0f} after; widest spread "
          f"{100 * max(spreads):.1f}%" + ("  NOISY: do not quote" if noisy else ""))
    print(f"{'dtype':8} {'library':9} {'fit s':>7} {'spread':>7} {'samples/s':>10} {'test acc':>9}")
    for dtype, cells in rows:
        medians = {}
        for library, runs in cells.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            accuracy = statistics.median(r["accuracy"] for r in runs)
            spread = max(r["seconds"] for r in runs) / min(r["seconds"] for r in runs) - 1
            medians[library] = seconds
            print(f"{dtype:8} {library:9} {seconds:7.2f} {100 * spread:6.1f}% "
                  f"{args.train * args.epochs / seconds:10,.0f} {100 * accuracy:8.2f}%")
        print(f"{dtype:8} fit time ratio sklearn / nnfunc: {medians['sklearn'] / medians['nnfunc']:.2f}x")


if __name__ == "__main__":
    main()
