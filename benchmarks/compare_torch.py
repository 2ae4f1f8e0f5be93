"""Side by side: nnfunc and PyTorch training and inference speed on the same networks.

    python benchmarks/compare_torch.py [--rounds 3] [--quick] [--no-tta]

Each measurement runs in its own subprocess (an idle OpenBLAS pool spinning
in the same process slows PyTorch by 8-30%), nnfunc and PyTorch alternate
round by round, and each cell reports the median over rounds. Both get the
same float32 data, network, batch size, optimizer and thread count. The
workers of both libraries run with nnfunc.allocator.keep_freed_memory(),
which the training CLI also uses. The GEMM columns compare a step's matmul FLOPs with sgemm measured in the same
run: at the step's own shapes ("same-shape") and at its peak (2048^3).
Time-to-accuracy trains the wide net on real MNIST with one fixed recipe
and reports the median over 3 seeds of the training seconds (evaluation
excluded) until test accuracy first reaches 97.5% and 98%.
Without torch installed the script says so and times nnfunc alone.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SMALL, WIDE = (784, 25, 25, 10), (784, 512, 512, 10)
STEP_CASES = [  # (name, sizes, optimizer, batch)
    ("784-25-25-10 sgd b128", SMALL, "sgd", 128),
    ("784-512-512-10 adam b32", WIDE, "adam", 32),
    ("784-512-512-10 adam b128", WIDE, "adam", 128),
    ("784-512-512-10 adam b1024", WIDE, "adam", 1024),
]
INFER_CASES = [("784-25-25-10 infer b1000", SMALL, None, 1000), ("784-512-512-10 infer b1000", WIDE, None, 1000)]
RECIPE = dict(sizes=WIDE, lr=1e-3, batch=128, epochs=8)  # Adam, constant lr, He-normal init, float32
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))


def matmul_shapes(sizes, m, train=True):
    """(m, k, n) of every matmul in a step: forward, then dW and dA for each layer."""
    shapes = [(m, a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    if train:
        shapes += [(a, m, b) for a, b in zip(sizes[:-1], sizes[1:])]  # dW = A.T @ dZ
        shapes += [(m, b, a) for a, b in zip(sizes[1:-1], sizes[2:])]  # dA = dZ @ W.T (no dx)
    return shapes


def flops(shapes):
    return sum(2 * m * k * n for m, k, n in shapes)


# ---------------------------------------------------------------- workers
def _timeit(fn, min_seconds):
    fn()
    fn()  # warm caches and thread pools
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return elapsed / n


def worker_nnfunc(case, seconds):
    import nnfunc as nf
    from nnfunc import activations
    from nnfunc.training import _step
    from nnfunc.evaluation import predict_proba

    name, sizes, opt_name, batch = case
    rng = np.random.default_rng(0)
    params = nf.init(sizes, 0)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    if opt_name is None:
        return batch / _timeit(lambda: predict_proba(params, x, chunk=batch), seconds)
    acts = activations.resolve("relu", len(sizes) - 2)
    opt = nf.sgd(0.01) if opt_name == "sgd" else nf.adam(1e-3)
    # the training loop's own path: in place on arrays it owns, buffers reused
    box, buffers = [params, opt.init(params)], _step.make_buffers(params)

    def step():
        box[0], box[1], _, _ = _step.step_in_place(box[0], box[1], x, y, opt, acts, 0.0, 0.0, None, buffers)

    return batch / _timeit(step, seconds)


def _torch_model(torch, sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def worker_torch(case, seconds):
    import torch

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    name, sizes, opt_name, batch = case
    model = _torch_model(torch, sizes)
    x = torch.rand(batch, sizes[0])
    y = torch.randint(0, sizes[-1], (batch,))
    if opt_name is None:
        model.eval()

        def infer():
            with torch.inference_mode():
                torch.softmax(model(x), dim=1)

        return batch / _timeit(infer, seconds)
    opt = torch.optim.SGD(model.parameters(), lr=0.01) if opt_name == "sgd" else torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.functional.cross_entropy

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return batch / _timeit(step, seconds)


def worker_sgemm(case, seconds):
    """Seconds of the step's matmuls in numpy sgemm, and peak sgemm GFLOP/s."""
    name, sizes, opt_name, batch = case
    rng = np.random.default_rng(0)
    total = 0.0
    for m, k, n in matmul_shapes(sizes, batch, train=opt_name is not None):
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        total += _timeit(lambda: a @ b, seconds / 6)
    big = rng.random((2048, 2048), dtype=np.float32)
    peak = 2 * 2048**3 / _timeit(lambda: big @ big, seconds / 2) / 1e9
    return {"gemm_seconds": total, "peak_gflops": peak}


def _mnist():
    from nnfunc.data.load import load_dataset

    return load_dataset("mnist", progress=False, dtype=np.uint8)


def worker_tta_nnfunc(seed):
    import nnfunc as nf
    from nnfunc.evaluation import evaluate

    ds = _mnist()
    params = nf.init(RECIPE["sizes"], seed)
    opt = nf.adam(RECIPE["lr"])
    state = nf.start_fit(params, opt, seed)
    data = nf.TrainData(ds.x_train, ds.y_train, ds.x_train[:0], ds.y_train[:0])
    trained, curve = 0.0, []
    for epoch in range(1, RECIPE["epochs"] + 1):
        t0 = time.perf_counter()
        state = nf.fit(state, opt, data, nf.FitConfig(epoch, RECIPE["batch"]))
        trained += time.perf_counter() - t0
        curve.append((trained, evaluate(state.params, ds.x_test, ds.y_test).accuracy))
    return curve


def worker_tta_torch(seed):
    import torch

    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    ds = _mnist()
    x_train = torch.from_numpy(ds.x_train)
    y_train = torch.from_numpy(ds.y_train)
    x_test = torch.from_numpy(ds.x_test).float() / 255
    y_test = torch.from_numpy(ds.y_test)
    model = _torch_model(torch, RECIPE["sizes"])
    for layer in model:
        if isinstance(layer, torch.nn.Linear):  # the same He-normal init and zero biases as nnfunc
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    gen = torch.Generator().manual_seed(seed)
    trained, curve, bs = 0.0, [], RECIPE["batch"]
    for epoch in range(RECIPE["epochs"]):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y_train), generator=gen)
        for s in range(0, len(perm), bs):
            idx = perm[s : s + bs]
            xb = x_train[idx].float().mul_(1 / 255)
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xb), y_train[idx]).backward()
            opt.step()
        trained += time.perf_counter() - t0
        model.eval()
        with torch.inference_mode():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        curve.append((trained, acc))
    return curve


# ---------------------------------------------------------------- driver
def run_worker(*args):
    out = subprocess.run([sys.executable, __file__, "--worker", *map(str, args)], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"worker {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def blas_info():
    from threadpoolctl import threadpool_info

    return ", ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')} "
                     f"threads {i['num_threads']}" for i in threadpool_info())


def first_time(curve, target):
    return next((t for t, acc in curve if acc >= target), None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.5, help="timing window per measurement")
    ap.add_argument("--no-tta", action="store_true", help="skip time-to-accuracy")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        # both libraries get the process-wide malloc setting nnfunc's CLI uses
        from nnfunc.allocator import keep_freed_memory

        keep_freed_memory()
        kind, *rest = args.worker
        if kind.startswith("tta"):
            result = {"tta_nnfunc": worker_tta_nnfunc, "tta_torch": worker_tta_torch}[kind](int(rest[0]))
        else:
            case = (STEP_CASES + INFER_CASES)[int(rest[0])]
            result = {"nnfunc": worker_nnfunc, "torch": worker_torch, "sgemm": worker_sgemm}[kind](case, float(rest[1]))
        print(json.dumps(result))
        return
    import nnfunc

    blas = blas_info()  # before torch loads its own OpenMP runtime into this process
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
        print("torch is not installed (pip install torch==2.13.0): timing nnfunc alone")
    libs = ["nnfunc"] + (["torch"] if torch_version else [])
    import numpy

    print(f"nnfunc {nnfunc.__version__}, numpy {numpy.__version__}, torch {torch_version}; "
          f"BLAS: {blas}; torch threads {THREADS}")
    cases = STEP_CASES + INFER_CASES
    results = {(i, lib): [] for i in range(len(cases)) for lib in libs + ["sgemm"]}
    for r in range(args.rounds):
        order = libs if r % 2 == 0 else libs[::-1]
        for i in range(len(cases)):
            for lib in order + ["sgemm"]:
                results[i, lib].append(run_worker(lib, i, args.seconds))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    header = "| case | nnfunc samples/s | torch samples/s | nnfunc / torch | nnfunc % of same-shape sgemm | nnfunc % of peak sgemm |"
    print("\n" + header + "\n|" + "---|" * 6)
    for i, (name, sizes, opt_name, batch) in enumerate(cases):
        ours = statistics.median(results[i, "nnfunc"])
        theirs = statistics.median(results[i, "torch"]) if torch_version else None
        gemm_s = statistics.median(g["gemm_seconds"] for g in results[i, "sgemm"])
        peak = statistics.median(g["peak_gflops"] for g in results[i, "sgemm"])
        step_flops = flops(matmul_shapes(sizes, batch, train=opt_name is not None))
        same_shape = ours / (batch / gemm_s)
        of_peak = ours * step_flops / batch / (peak * 1e9)
        ratio = f"{ours / theirs:.2f}x" if theirs else "-"
        print(f"| {name} | {ours:,.0f} | {f'{theirs:,.0f}' if theirs else '-'} | {ratio} | "
              f"{100 * same_shape:.0f}% | {100 * of_peak:.0f}% (peak {peak:.0f} GFLOP/s) |")
    if args.no_tta:
        return
    print(f"\ntime to accuracy: {'-'.join(map(str, RECIPE['sizes']))}, Adam lr {RECIPE['lr']}, batch "
          f"{RECIPE['batch']}, float32, full 60k train set, up to {RECIPE['epochs']} epochs; median of 3 seeds")
    curves = {lib: [] for lib in libs}
    for seed in range(3):
        for lib in (libs if seed % 2 == 0 else libs[::-1]):
            curves[lib].append(run_worker(f"tta_{lib}", seed))
    print("| library | s to 97.5% | s to 98% | final test accuracy |\n|---|---|---|---|")
    for lib in libs:
        cells = []
        for target in (0.975, 0.98):
            times = [first_time(c, target) for c in curves[lib]]
            cells.append(f"{statistics.median(times):.1f}" if None not in times else f"not reached by all ({times})")
        final = statistics.median(c[-1][1] for c in curves[lib])
        print(f"| {lib} | {cells[0]} | {cells[1]} | {100 * final:.2f}% |")


if __name__ == "__main__":
    main()
