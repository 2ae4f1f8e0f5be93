"""Side by side: ``nnfunc.sklearn.MLPClassifier`` and scikit-learn's own ``MLPClassifier``, same settings.

    python benchmarks/compare_sklearn.py [--rounds 3] [--train 60000] [--epochs 10] [--dtypes float32,float64]

Both fit the same real MNIST training rows (pixels in [0, 1]) with the same
network and training: 100 ReLU units, Adam at 1e-3, batches of 200,
``--epochs`` epochs, no L2 (scikit-learn: ``alpha=0``, ``tol=0`` and
``n_iter_no_change=epochs``, so it runs every epoch too), then score the
10,000 test digits. float32 data trains in float32 in both libraries,
float64 in float64. Each fit runs in its own subprocess, the libraries
alternate round by round (seed = round), and each cell is the median over
rounds; the ratio is scikit-learn's fit time over nnfunc's, so above 1
means nnfunc is faster. The BLAS and its thread count are printed first.
"""

import argparse
import json
import statistics
import subprocess
import sys

WORKER = r"""
import json, sys, time, warnings
import numpy as np
import nnfunc as nf
library, dtype, n, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
data = nf.load_dataset("mnist")
X, y = data.x_train[:n].astype(dtype), data.y_train[:n]
if library == "nnfunc":
    from nnfunc.sklearn import MLPClassifier
    model = MLPClassifier(hidden=(100,), optimizer="adam", lr=1e-3, batch_size=200, epochs=epochs, random_state=seed)
else:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    warnings.simplefilter("ignore", ConvergenceWarning)  # it stops at max_iter, as asked
    model = MLPClassifier(hidden_layer_sizes=(100,), solver="adam", learning_rate_init=1e-3, batch_size=200,
                          max_iter=epochs, alpha=0.0, tol=0.0, n_iter_no_change=epochs, random_state=seed)
t0 = time.perf_counter()
model.fit(X, y)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "epochs": model.n_iter_,
                  "accuracy": model.score(data.x_test.astype(dtype), data.y_test)}))
"""


def measure(library, dtype, n, epochs, seed):
    out = subprocess.run([sys.executable, "-c", WORKER, library, dtype, str(n), str(epochs), str(seed)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def blas():
    import numpy
    from threadpoolctl import threadpool_info

    numpy.ones((2, 2)) @ numpy.ones((2, 2))  # numpy's BLAS is loaded and has run
    return ", ".join(f"{i['internal_api']} {i.get('architecture', '')} x{i['num_threads']}" for i in threadpool_info())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--train", type=int, default=60_000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--dtypes", default="float32,float64")
    args = p.parse_args()
    print(f"BLAS: {blas()}")
    print(f"MNIST {args.train} training rows, 784-100-10 ReLU, Adam 1e-3, batch 200, {args.epochs} epochs, "
          f"{args.rounds} rounds (median)")
    print(f"{'dtype':8} {'library':9} {'fit s':>7} {'samples/s':>10} {'test acc':>9}")
    for dtype in args.dtypes.split(","):
        cells = {"nnfunc": [], "sklearn": []}
        for seed in range(args.rounds):
            order = ("nnfunc", "sklearn") if seed % 2 == 0 else ("sklearn", "nnfunc")
            for library in order:
                cells[library].append(measure(library, dtype, args.train, args.epochs, seed))
        medians = {}
        for library, runs in cells.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            accuracy = statistics.median(r["accuracy"] for r in runs)
            medians[library] = seconds
            print(f"{dtype:8} {library:9} {seconds:7.2f} {args.train * args.epochs / seconds:10,.0f} "
                  f"{100 * accuracy:8.2f}%")
        print(f"{dtype:8} fit time ratio sklearn / nnfunc: {medians['sklearn'] / medians['nnfunc']:.2f}x")


if __name__ == "__main__":
    main()
