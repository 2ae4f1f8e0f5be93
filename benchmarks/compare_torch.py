"""Side by side: nnfunc and PyTorch, through each library's public API, on the same networks and data.

    python benchmarks/compare_torch.py [--threads 2,1] [--rounds 3] [--seconds 1.5] [--no-tta] [--seeds 5]
                                       [--no-trained] [--scaling]

Training rows time what a user calls for one step: for nnfunc
``value_and_grad``, ``opt.update`` and ``apply_updates`` (the "loop"
column is the training loop's in-place step, for the cost of the checks);
for PyTorch ``zero_grad``, forward, ``cross_entropy``, ``backward`` and
``opt.step``. Inference rows run ``nf.forward`` and PyTorch's model +
softmax under ``inference_mode`` over 10,000 random images in contiguous
chunks of 1,000. Both get the same float32 data, network, batch size and
optimizer, and the same number of threads; the whole table is measured
once per thread count of ``--threads``.

Every row runs twice: on fresh weights (nnfunc's He init and PyTorch's
own) and on the weights of a trained network, the same for both (one
epoch of Adam on real MNIST, made at the start; ``--no-trained`` skips
them).

Every measurement runs in its own subprocess (an idle OpenBLAS pool
spinning in the same process slows PyTorch), the PyTorch worker imports
neither NumPy nor nnfunc, the libraries alternate round by round, and
each cell is the median over rounds (a round: the median of 5 timing
windows of ``--seconds`` / 5 each, the mean over each window's calls). Both run under the same glibc
malloc tunables (``GLIBC_TUNABLES``, the values ``nnfunc.allocator`` sets
in the training CLI), and one more round runs both with the process
defaults. The
sgemm columns put the step's matmul FLOPs beside NumPy's sgemm measured in
the same run: at the step's own shapes ("same-shape") and at 2048^3
("peak"). Inference rows also print their two limits: reading x once (a
BLAS dot over each chunk, the machine's read bandwidth at these threads)
and the matmuls alone (same-shape sgemm).

The machine check: NumPy's 2048^3 sgemm is timed in its own process before
and after each table, and every row's spread (slowest round over fastest,
per library) is printed. A table whose two sgemm figures differ by more
than 10%, or with a row whose rounds spread more than 10%, is marked
NOISY above it: such a run is not to be quoted.

Time to accuracy trains 784-512-512-10 with Adam 1e-3, batch 128, He-normal
init, on real MNIST for each seed, both libraries through their public API
on the same batches in the same order (one NumPy permutation per epoch
from the seed), after one warm-up pass; it evaluates test accuracy every
quarter epoch (not timed) and reports the median over seeds of the epochs
and training seconds until accuracy first reaches 97.5% and 98%, at the
first thread count. ``--scaling`` draws docs/images/scaling.png from the
same run: samples/s of the training step against hidden width and against
batch size, with the same-shape sgemm limit, at the first thread count.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SMALL, WIDE = (784, 25, 25, 10), (784, 512, 512, 10)
STEP_CASES = [  # (name, sizes, optimizer, batch)
    ("784-25-25-10 sgd b128", SMALL, "sgd", 128),
    ("784-512-512-10 adam b32", WIDE, "adam", 32),
    ("784-512-512-10 adam b128", WIDE, "adam", 128),
    ("784-512-512-10 adam b1024", WIDE, "adam", 1024),
]
INFER_CASES = [("784-25-25-10 infer b1000", SMALL, None, 1000), ("784-512-512-10 infer b1000", WIDE, None, 1000)]
INFER_ROWS = 10_000
RECIPE = dict(sizes=WIDE, lr=1e-3, batch=128, epochs=8, checks_per_epoch=4)
THREADS = int(os.environ.get("BENCH_THREADS", 2))  # a worker's threads: the driver sets it per table
WEIGHTS = os.environ.get("BENCH_WEIGHTS", "")  # a worker's trained weights (a directory), or fresh ones
NOISE = 0.10  # sgemm before/after, or a row's rounds, differing more than this: a noisy run
# nnfunc.allocator.keep_freed_memory()'s settings, as environment for a whole process
TUNED = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728:glibc.malloc.top_pad=33554432"
WIDTHS = (32, 64, 128, 256, 512, 1024, 2048)
BATCHES = (16, 64, 256, 1024, 4096)


def scaling_cases():
    return ([(f"width {w}", (784, w, w, 10), "adam", 128) for w in WIDTHS]
            + [(f"batch {b}", WIDE, "adam", b) for b in BATCHES])


def matmul_shapes(sizes, m, train=True):
    """(m, k, n) of every matmul in a step: forward, then dW and dA for each layer."""
    shapes = [(m, a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    if train:
        shapes += [(a, m, b) for a, b in zip(sizes[:-1], sizes[1:])]  # dW = A.T @ dZ
        shapes += [(m, b, a) for a, b in zip(sizes[1:-1], sizes[2:])]  # dA = dZ @ W.T (no dx)
    return shapes


def flops(shapes):
    return sum(2 * m * k * n for m, k, n in shapes)


# ---------------------------------------------------------------- workers (one per process)
def _timeit(fn, min_seconds, windows=5):
    """Seconds per call: the median over ``windows`` windows that share ``min_seconds``, each the mean of its calls.

    The median of windows keeps a moment of the machine's noise inside one
    window from moving the round.
    """
    fn()
    fn()  # warm caches, thread pools and compiled kernels
    per_call = []
    for _ in range(windows):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds / windows:
                per_call.append(elapsed / n)
                break
    return statistics.median(per_call)


def _threads_nnfunc():
    from threadpoolctl import threadpool_limits

    threadpool_limits(THREADS)


def worker_nnfunc(case, seconds, path="public"):
    import numpy as np

    import nnfunc as nf

    _threads_nnfunc()
    name, sizes, opt_name, batch = case
    rng = np.random.default_rng(0)
    params = nf.init(sizes, 0)
    if WEIGHTS:
        params = {k: np.asarray(v) for k, v in _stored_weights(sizes, lambda raw, shape: np.frombuffer(
            raw, np.float32).reshape(shape).copy()).items()}
    if opt_name is None:
        x = rng.random((INFER_ROWS, sizes[0]), dtype=np.float32)

        def infer():
            for s in range(0, INFER_ROWS, batch):
                nf.forward(params, x[s : s + batch])

        return INFER_ROWS / _timeit(infer, seconds)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    opt = nf.sgd(0.01) if opt_name == "sgd" else nf.adam(1e-3)
    box = [params, opt.init(params)]
    if path == "public":

        def step():
            _, grads = nf.value_and_grad(box[0], x, y)
            updates, box[1] = opt.update(grads, box[1], box[0])
            box[0] = nf.apply_updates(box[0], updates)

    else:  # the training loop's in-place step on arrays it owns
        from nnfunc import activations
        from nnfunc.training import _step

        acts, buffers = activations.resolve("relu", len(sizes) - 2), _step.make_buffers(params)

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
    if WEIGHTS:
        stored = _stored_weights(sizes, lambda raw, shape: torch.frombuffer(bytearray(raw), dtype=torch.float32)
                                 .reshape(shape))
        linear = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
        with torch.no_grad():
            for l, layer in enumerate(linear, start=1):  # torch keeps W as (out, in)
                layer.weight.copy_(stored[f"W{l}"].T)
                layer.bias.copy_(stored[f"b{l}"])
    if opt_name is None:
        x = torch.rand(INFER_ROWS, sizes[0])
        model.eval()

        def infer():
            with torch.inference_mode():
                for s in range(0, INFER_ROWS, batch):
                    torch.softmax(model(x[s : s + batch]), dim=1)

        return INFER_ROWS / _timeit(infer, seconds)
    x = torch.rand(batch, sizes[0])
    y = torch.randint(0, sizes[-1], (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01) if opt_name == "sgd" else torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.functional.cross_entropy

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return batch / _timeit(step, seconds)


def worker_sgemm(case, seconds):
    """Seconds of the step's matmuls in NumPy sgemm, and peak sgemm GFLOP/s."""
    import numpy as np

    _threads_nnfunc()
    name, sizes, opt_name, batch = case
    rng = np.random.default_rng(0)
    total = 0.0
    for m, k, n in matmul_shapes(sizes, batch, train=opt_name is not None):
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        total += _timeit(lambda: a @ b, seconds / 6)
    big = rng.random((2048, 2048), dtype=np.float32)
    peak = 2 * 2048**3 / _timeit(lambda: big @ big, seconds / 2) / 1e9
    return {"gemm_seconds": total, "peak_gflops": peak}


def worker_peak(seconds):
    """NumPy's sgemm at 2048^3 in GFLOP/s: the best of five (the machine check before and after a table)."""
    import numpy as np

    _threads_nnfunc()
    big = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    big @ big
    best = min(_timeit(lambda: big @ big, 0, windows=1) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def worker_read(case, seconds):
    """Rows/s at which x can be read once, chunk by chunk: a BLAS dot of each chunk with itself."""
    import numpy as np

    _threads_nnfunc()
    name, sizes, opt_name, batch = case
    x = np.random.default_rng(0).random((INFER_ROWS, sizes[0]), dtype=np.float32)

    def read():
        for s in range(0, INFER_ROWS, batch):
            flat = x[s : s + batch].ravel()
            np.vdot(flat, flat)

    return INFER_ROWS / _timeit(read, seconds)


# ---------------------------------------------------------------- trained weights, shared by both libraries
def _weights_dir(root, sizes):
    return os.path.join(root, "-".join(map(str, sizes)))


def _stored_weights(sizes, read):
    """{key: array} of the trained weights for ``sizes``, each made by ``read(raw bytes, shape)``."""
    folder = _weights_dir(WEIGHTS, sizes)
    with open(os.path.join(folder, "shapes.json")) as f:
        shapes = json.load(f)
    out = {}
    for key, shape in shapes.items():
        with open(os.path.join(folder, f"{key}.f32"), "rb") as f:
            out[key] = read(f.read(), tuple(shape))
    return out


def make_trained(root):
    """Train each network one epoch (Adam, batch 128, real MNIST) through the public API; store raw float32."""
    import numpy as np

    import nnfunc as nf

    ds = _mnist()
    x = ds.x_train.astype(np.float32) / np.float32(255)
    for sizes, lr in ((SMALL, 3e-3), (WIDE, 1e-3)):
        params, opt = nf.init(sizes, 0), nf.adam(lr)
        state = opt.init(params)
        order = np.random.default_rng(0).permutation(len(x))
        for s in range(0, len(x), 128):
            idx = order[s : s + 128]
            _, grads = nf.value_and_grad(params, x[idx], ds.y_train[idx])
            updates, state = opt.update(grads, state, params)
            params = nf.apply_updates(params, updates)
        acc = float(np.mean(nf.predict(params, ds.x_test.astype(np.float32) / np.float32(255)) == ds.y_test))
        folder = _weights_dir(root, sizes)
        os.makedirs(folder)
        for key, value in params.items():
            np.ascontiguousarray(value, dtype="<f4").tofile(os.path.join(folder, f"{key}.f32"))
        with open(os.path.join(folder, "shapes.json"), "w") as f:
            json.dump({k: list(v.shape) for k, v in params.items()}, f)
        print(f"trained weights: {'-'.join(map(str, sizes))}, one epoch of Adam {lr:g}, test accuracy "
              f"{100 * acc:.2f}%", file=sys.stderr)


def _mnist():
    import numpy as np

    from nnfunc.data.load import load_dataset

    return load_dataset("mnist", progress=False, dtype=np.uint8)


def _schedule(n_train, seed):
    """The batches of every epoch and the steps after which to evaluate (same for both libraries)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-n_train // RECIPE["batch"])
    checks = {round(steps_per_epoch * (i + 1) / RECIPE["checks_per_epoch"]) for i in range(RECIPE["checks_per_epoch"])}
    return rng, steps_per_epoch, checks


def worker_tta_nnfunc(seed):
    import numpy as np

    import nnfunc as nf

    _threads_nnfunc()
    ds = _mnist()
    x_test = ds.x_test.astype(np.float32) / np.float32(255)
    params = nf.init(RECIPE["sizes"], seed)
    opt = nf.adam(RECIPE["lr"])
    state = opt.init(params)
    rng, per_epoch, checks = _schedule(len(ds.y_train), seed)
    trained, curve, bs = 0.0, [], RECIPE["batch"]
    xb = ds.x_train[:bs].astype(np.float32) * np.float32(1 / 255)
    opt.update(nf.value_and_grad(params, xb, ds.y_train[:bs])[1], state, params)  # warm-up: pure, changes nothing
    for epoch in range(RECIPE["epochs"]):
        perm = rng.permutation(len(ds.y_train))
        t0 = time.perf_counter()
        for step in range(per_epoch):
            idx = perm[step * bs : (step + 1) * bs]
            xb = ds.x_train[idx].astype(np.float32) * np.float32(1 / 255)
            _, grads = nf.value_and_grad(params, xb, ds.y_train[idx])
            updates, state = opt.update(grads, state, params)
            params = nf.apply_updates(params, updates)
            if step + 1 in checks:
                trained += time.perf_counter() - t0
                acc = float(np.mean(nf.predict(params, x_test) == ds.y_test))
                curve.append((epoch + (step + 1) / per_epoch, trained, acc))
                t0 = time.perf_counter()
    return curve


def worker_tta_torch(seed):
    import torch

    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    ds = _mnist()  # NumPy arrays, turned into tensors once
    x_train, y_train = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    x_test, y_test = torch.from_numpy(ds.x_test).float() / 255, torch.from_numpy(ds.y_test)
    model = _torch_model(torch, RECIPE["sizes"])
    for layer in model:
        if isinstance(layer, torch.nn.Linear):  # the same He-normal init and zero biases as nnfunc
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    rng, per_epoch, checks = _schedule(len(ds.y_train), seed)
    trained, curve, bs = 0.0, [], RECIPE["batch"]
    torch.nn.functional.cross_entropy(model(x_train[:bs].float()), y_train[:bs]).backward()  # warm-up
    opt.zero_grad(set_to_none=True)
    for epoch in range(RECIPE["epochs"]):
        perm = torch.from_numpy(rng.permutation(len(ds.y_train)))
        model.train()
        t0 = time.perf_counter()
        for step in range(per_epoch):
            idx = perm[step * bs : (step + 1) * bs]
            xb = x_train[idx].float().mul_(1 / 255)
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xb), y_train[idx]).backward()
            opt.step()
            if step + 1 in checks:
                trained += time.perf_counter() - t0
                with torch.inference_mode():
                    acc = (model(x_test).argmax(1) == y_test).float().mean().item()
                curve.append((epoch + (step + 1) / per_epoch, trained, acc))
                t0 = time.perf_counter()
    return curve


# ---------------------------------------------------------------- driver
def run_worker(kind, *args, tuned=True, threads=None, weights=""):
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if tuned:
        env["GLIBC_TUNABLES"] = TUNED
    env["BENCH_THREADS"] = str(threads or THREADS)
    env["BENCH_WEIGHTS"] = weights
    out = subprocess.run([sys.executable, __file__, "--worker", kind, *map(str, args)],
                         capture_output=True, text=True, check=False, env=env)
    if out.returncode:
        raise RuntimeError(f"worker {kind} {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def blas_info():
    from threadpoolctl import threadpool_info

    return ", ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')} "
                     f"threads {i['num_threads']}" for i in threadpool_info())


def measure(rows, rounds, seconds, tuned=True, threads=None):
    """{(row, worker): [result per round]}; a row is (case index, weights dir), its workers alternate by round.

    ``rows``: [(row key, case argument, weights dir or "", [worker, ...])].
    """
    results = {(key, w): [] for key, _, _, workers in rows for w in workers}
    for r in range(rounds):
        for key, case_arg, weights, workers in rows:
            for w in (workers if r % 2 == 0 else workers[::-1]):
                kind, *extra = w.split(":")
                results[key, w].append(run_worker(kind, case_arg, seconds, *extra, tuned=tuned, threads=threads,
                                                  weights=weights))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    return results


def spread(values):
    """Slowest round over fastest, minus 1 (0.04: the rounds spread 4%)."""
    return max(values) / min(values) - 1


def speed_table(args, libs, threads, trained):
    """Measure and print the table at ``threads``; return its machine check {"before", "after", "noisy", ...}."""
    cases = STEP_CASES + INFER_CASES
    has_torch = "torch" in libs
    rows = []
    for i, (name, sizes, opt_name, batch) in enumerate(cases):
        train = opt_name is not None
        rows.append(((i, "fresh"), i, "", ["nnfunc"] + (["nnfunc:loop"] if train else []) + (["torch"] if has_torch
                     else []) + ["sgemm"] + ([] if train else ["read"])))
        if trained:
            rows.append(((i, "trained"), i, trained, ["nnfunc"] + (["torch"] if has_torch else [])))
    before = run_worker("peak", args.seconds, threads=threads)
    tuned = measure(rows, args.rounds, args.seconds, threads=threads)
    after = run_worker("peak", args.seconds, threads=threads)
    plain = measure([(key, arg, w, [x for x in ("nnfunc", "torch") if x in workers]) for key, arg, w, workers in rows
                     if key[1] == "fresh"], 1, args.seconds, tuned=False, threads=threads)
    spreads = {(key, w): spread(v) for (key, w), v in tuned.items() if w in ("nnfunc", "torch")}
    widest = max(spreads, key=spreads.get)
    sgemm_diff = after / before - 1
    # one round has no spread to judge by
    noisy = abs(sgemm_diff) > NOISE or spreads[widest] > NOISE or args.rounds < 2
    check = {"threads": threads, "before": before, "after": after, "widest_spread": spreads[widest], "noisy": noisy}
    verdict = ("NOISY: do not quote this table" if noisy else "quiet: sgemm steady and every row within 10%")
    if args.rounds < 2:
        verdict = "one round, no spread: do not quote this table"
    print(f"\n### {threads} thread{'s' if threads > 1 else ''} each\n")
    print(f"machine check: sgemm 2048^3 {before:.0f} GFLOP/s before, {after:.0f} after ({100 * sgemm_diff:+.1f}%); "
          f"widest row spread {100 * spreads[widest]:.1f}% ({cases[widest[0][0]][0]}, {widest[0][1]}, "
          f"{widest[1]}): {verdict}\n")
    print("| case | weights | nnfunc samples/s | torch samples/s | nnfunc / torch | spread nnfunc / torch | "
          "loop step / public | % of same-shape sgemm | % of peak sgemm | limits | nnfunc / torch, default malloc |")
    print("|" + "---|" * 11)
    peak = max(before, after)
    for key, _, _, workers in rows:
        i, weights = key
        name, sizes, opt_name, batch = cases[i]
        train = opt_name is not None
        med = {w: statistics.median(tuned[key, w]) for w in workers if w not in ("sgemm", "read")}
        ours, theirs = med["nnfunc"], med.get("torch")
        fresh = (i, "fresh")
        gemm_s = statistics.median(g["gemm_seconds"] for g in tuned[fresh, "sgemm"])
        same_shape = ours / (batch / gemm_s)
        of_peak = ours * flops(matmul_shapes(sizes, batch, train)) / batch / (peak * 1e9)
        loop = f"{med['nnfunc:loop'] / ours:.2f}" if "nnfunc:loop" in med else "-"
        ratio = f"{ours / theirs:.2f}x" if theirs else "-"
        spreads_cell = " / ".join(f"{100 * spreads[key, w]:.0f}%" for w in ("nnfunc", "torch") if (key, w) in spreads)
        limits = "-"
        if not train:
            read = statistics.median(tuned[fresh, "read"])
            gbs = read * sizes[0] * 4 / 1e9
            limits = f"read x: {read:,.0f} rows/s ({gbs:.1f} GB/s); matmuls: {batch / gemm_s:,.0f} rows/s"
        default = (f"{plain[key, 'nnfunc'][0] / plain[key, 'torch'][0]:.2f}x" if (key, "torch") in plain else "-")
        print(f"| {name} | {weights} | {ours:,.0f} | {f'{theirs:,.0f}' if theirs else '-'} | {ratio} | "
              f"{spreads_cell} | {loop} | {100 * same_shape:.0f}% | {100 * of_peak:.0f}% (peak {peak:.0f} GFLOP/s) | "
              f"{limits} | {default} |")
    return check


def tta_table(args, libs, threads):
    print(f"\ntime to accuracy: {'-'.join(map(str, RECIPE['sizes']))}, Adam lr {RECIPE['lr']}, batch "
          f"{RECIPE['batch']}, float32, full 60k train set, up to {RECIPE['epochs']} epochs, test accuracy every "
          f"1/{RECIPE['checks_per_epoch']} epoch; median of {args.seeds} seeds; {threads} threads each")
    curves = {lib: [] for lib in libs}
    for seed in range(args.seeds):
        for lib in (libs if seed % 2 == 0 else libs[::-1]):
            curves[lib].append(run_worker(f"tta_{lib}", seed, threads=threads))
        print(f"seed {seed} done", file=sys.stderr)
    print("| library | target | epochs (median) | seconds (median) | per seed: epochs / s | final accuracy (median) |")
    print("|---|---|---|---|---|---|")
    for lib in libs:
        final = statistics.median(c[-1][2] for c in curves[lib])
        for target in (0.975, 0.98):
            hits = [next(((e, t) for e, t, acc in c if acc >= target), None) for c in curves[lib]]
            reached = [h for h in hits if h]
            per_seed = ", ".join(f"{e:.2f} / {t:.1f}" if h else "not reached" for h in hits for e, t in [h or (0, 0)])
            if len(reached) > len(hits) // 2:  # a median exists when most seeds got there
                big = float("inf")
                e_med = statistics.median(h[0] if h else big for h in hits)
                t_med = statistics.median(h[1] if h else big for h in hits)
                cells = f"{e_med:.2f} | {t_med:.1f}"
            else:
                cells = "not reached | -"
            print(f"| {lib} | {100 * target:.1f}% | {cells} | {per_seed} | {100 * final:.2f}% |")


def scaling(args, libs, threads, check):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = scaling_cases()
    workers = ["nnfunc"] + (["torch"] if "torch" in libs else []) + ["sgemm"]
    runs = measure([(i, f"s{i}", "", workers) for i in range(len(cases))], args.rounds, args.seconds / 2,
                   threads=threads)
    res = {key: [statistics.median(v) if key[1] != "sgemm" else {"gemm_seconds": statistics.median(
           g["gemm_seconds"] for g in v)}] for key, v in runs.items()}  # medians over rounds
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, prefix, xs, label in ((axes[0], "width", WIDTHS, "hidden width (784-w-w-10, Adam, batch 128)"),
                                  (axes[1], "batch", BATCHES, "batch size (784-512-512-10, Adam)")):
        idx = [i for i, c in enumerate(cases) if c[0].startswith(prefix)]
        for w, style in (("nnfunc", "o-"), ("torch", "s-")):
            if w in workers:
                ax.plot(xs, [res[i, w][0] for i in idx], style, label=w)
        limit = [cases[i][3] / res[i, "sgemm"][0]["gemm_seconds"] for i in idx]
        ax.plot(xs, limit, "k--", label="the step's matmuls alone (same-shape sgemm)")
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="training samples/s")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Training step throughput through the public API, {threads} threads each, float32\n"
                 f"(sgemm 2048^3: {check['before']:.0f}/{check['after']:.0f} GFLOP/s before/after the table"
                 f"{', NOISY' if check.get('noisy', True) else ''})")
    fig.tight_layout()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "images", "scaling.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {os.path.normpath(out)}")
    for i, (name, *_rest) in enumerate(cases):
        cells = ", ".join(f"{w} {res[i, w][0]:,.0f}" for w in workers if w != "sgemm")
        print(f"{name}: {cells}, sgemm limit {cases[i][3] / res[i, 'sgemm'][0]['gemm_seconds']:,.0f} samples/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="2,1", help="thread counts, one table each (default 2,1)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.5, help="timing window per measurement")
    ap.add_argument("--seeds", type=int, default=5, help="seeds for time to accuracy")
    ap.add_argument("--no-tta", action="store_true", help="skip time to accuracy")
    ap.add_argument("--no-speed", action="store_true", help="skip the speed table")
    ap.add_argument("--no-trained", action="store_true", help="time fresh weights only")
    ap.add_argument("--scaling", action="store_true", help="draw docs/images/scaling.png")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind.startswith("tta"):
            result = {"tta_nnfunc": worker_tta_nnfunc, "tta_torch": worker_tta_torch}[kind](int(rest[0]))
        elif kind == "peak":
            result = worker_peak(float(rest[0]))
        else:
            which = rest[0]
            case = scaling_cases()[int(which[1:])] if which.startswith("s") else (STEP_CASES + INFER_CASES)[int(which)]
            fn = {"nnfunc": worker_nnfunc, "torch": worker_torch, "sgemm": worker_sgemm, "read": worker_read}[kind]
            result = fn(case, float(rest[1]), *rest[2:])
        print(json.dumps(result))
        return
    import tempfile

    import numba
    import numpy
    from trained_speed import cpu_model  # the driver only: it imports NumPy, which the PyTorch worker must not

    import nnfunc
    from nnfunc import kernels

    blas = blas_info()
    try:
        torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                       capture_output=True, text=True, check=True).stdout.strip()
    except subprocess.CalledProcessError:
        torch_version = None
        print("torch is not installed (pip install torch==2.13.0): timing nnfunc alone")
    libs = ["nnfunc"] + (["torch"] if torch_version else [])
    thread_counts = [int(t) for t in args.threads.split(",")]
    print(f"nnfunc {nnfunc.__version__} ({kernels.active()} kernels, numba {numba.__version__}), numpy "
          f"{numpy.__version__}, torch {torch_version}; BLAS: {blas}; CPU: {cpu_model()}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; python {sys.version.split()[0]}")
    checks = []
    with tempfile.TemporaryDirectory() as trained:
        if not args.no_speed:
            if not args.no_trained:
                make_trained(trained)
            for threads in thread_counts:
                checks.append(speed_table(args, libs, threads, "" if args.no_trained else trained))
        if args.scaling:
            check = checks[0] if checks else {"before": run_worker("peak", args.seconds), "after": float("nan")}
            scaling(args, libs, thread_counts[0], check)
    if not args.no_tta:
        tta_table(args, libs, thread_counts[0])
    if checks:
        quiet = [c["threads"] for c in checks if not c["noisy"]]
        print(f"\nquotable tables (not noisy): threads {quiet or 'none'}")


if __name__ == "__main__":
    main()
