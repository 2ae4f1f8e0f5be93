"""The command users run, side by side: ``python -m nnfunc.train`` against the same run written in PyTorch.

    python benchmarks/compare_train.py [--recipe default,wide] [--threads 2,1] [--epochs N] [--rounds 1]

For each recipe and thread count, two processes train the same network
with the same optimizer, schedule, L2, dropout, batch size, epochs and data:

- nnfunc: the training command itself, ``python -m nnfunc.train <flags>
  --no-plots --out <tmp>`` (``OPENBLAS_NUM_THREADS`` set to the thread
  count), its epoch times and validation accuracies read from the run's
  metrics.json;
- PyTorch 2.13: a plain loop (``torch.set_num_threads``), Linear + ReLU
  (+ Dropout) layers, He-normal weights and zero biases, Adam with the L2
  term on the weights only (``weight_decay`` in a param group: the same
  coupled L2 as nnfunc's), the same half-cosine learning rate per step,
  cross-entropy. It trains on exactly the rows nnfunc trains on: the
  driver makes the run's own validation split (``rundata.load`` of the
  same settings) and hands both splits over as .npy files. Pixels become
  float32 tensors once, before the first epoch; nnfunc scales each batch.

Both time an epoch the same way: the training steps, then the loss and
accuracy on the 5,000 validation images (nnfunc's epoch record includes
its validation pass), and both report test accuracy once, at the end.
The table gives the median epoch time (epoch 1, which pays for first-call
costs, is left out), the whole process's wall time, the final test
accuracy, and the time to the same accuracy: the training seconds until
the validation accuracy first reaches the lower of the two runs' best.

The machine check of compare_torch.py applies: NumPy's 2048^3 sgemm
before and after each recipe; a difference above 10% marks it NOISY.
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

RECIPES = {
    "default": [],  # python -m nnfunc.train: 784-25-25-10, Adam 3e-3 cosine, batch 64, l2 3e-4, 30 epochs
    "wide": ["--hidden", "1024,1024", "--dropout", "0.5", "--epochs", "25", "--batch-size", "256", "--lr", "1e-3",
             "--l2", "0"],
}
NOISE = 0.10


def settings_of(flags):
    """The run's settings for these flags, as the training command parses them."""
    from nnfunc.training import flags as train_flags, settings

    args = train_flags.raising_parser("compare_train.py").parse_args(flags)
    return settings.make_config(train_flags.settings_of(args))


def sgemm_peak(threads):
    """NumPy's 2048^3 sgemm in GFLOP/s at ``threads``, in its own process (compare_torch.py's machine check)."""
    from compare_torch import run_worker

    return run_worker("peak", 0, threads=threads)


# ---------------------------------------------------------------- the PyTorch run (its own process)
def worker_torch(config_path, data_dir, threads):
    t_start = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    with open(config_path) as f:
        c = json.load(f)
    torch.manual_seed(c["seed"])
    arrays = {k: torch.from_numpy(np.load(os.path.join(data_dir, f"{k}.npy")))
              for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    x_tr, x_val, x_te = (arrays[k].float().div_(255) for k in ("x_train", "x_val", "x_test"))
    y_tr, y_val, y_te = (arrays[k].long() for k in ("y_train", "y_val", "y_test"))
    sizes = [x_tr.shape[1], *map(int, c["hidden"].split(",")), 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = torch.nn.Linear(a, b)
        torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")  # nnfunc's "he": N(0, 2 / fan_in)
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
            if c["dropout"]:
                layers.append(torch.nn.Dropout(c["dropout"]))
    model = torch.nn.Sequential(*layers)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    lr = c["lr"]
    opt = torch.optim.Adam([{"params": weights, "weight_decay": c["l2"]}, {"params": biases, "weight_decay": 0.0}],
                           lr=lr)
    bs, n = c["batch_size"], x_tr.shape[0]
    total = c["decay_epochs"] * math.ceil(n / bs)
    # nnfunc's cosine: lr - 0.5 * lr * (1 - cos(pi * step / total)), then 0
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: max(0.0, 1 - 0.5 * (1 - math.cos(math.pi * step / total))) if step < total else 0.0)
    gen = torch.Generator().manual_seed(c["seed"])
    loss_fn = torch.nn.functional.cross_entropy
    epochs = []
    for _ in range(c["epochs"]):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen)
        ce_sum, correct = 0.0, 0
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            xb, yb = x_tr[idx], y_tr[idx]
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            sched.step()
            ce_sum += loss.item() * len(idx)  # nnfunc too sums each batch's loss and hits for the epoch record
            correct += int((logits.argmax(1) == yb).sum())
        model.eval()
        with torch.inference_mode():
            out = model(x_val)
            val_loss, val_acc = float(loss_fn(out, y_val)), float((out.argmax(1) == y_val).float().mean())
        epochs.append({"seconds": time.perf_counter() - t0, "val_accuracy": val_acc, "val_loss": val_loss,
                       "train_loss": ce_sum / n, "train_accuracy": correct / n})
    with torch.inference_mode():
        test = float((model(x_te).argmax(1) == y_te).float().mean())
    return {"epochs": epochs, "test_accuracy": test, "seconds_in_process": time.perf_counter() - t_start}


# ---------------------------------------------------------------- driver
def run_nnfunc(flags, threads, out):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnfunc.train", *flags, "--no-plots", "--quiet", "--out", out], env=env,
                   check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    return {"epochs": metrics["epochs"], "test_accuracy": metrics["test"]["accuracy"], "wall": wall}


def run_torch(config_path, data_dir, threads):
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--worker", config_path, data_dir, str(threads)],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"the PyTorch run failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    return result


def summary(run, target):
    per_epoch = [e["seconds"] for e in run["epochs"]]
    steady = statistics.median(per_epoch[1:] or per_epoch)
    elapsed, reached = 0.0, None
    for i, e in enumerate(run["epochs"]):
        elapsed += e["seconds"]
        if e["val_accuracy"] >= target:
            reached = (i + 1, elapsed)
            break
    return steady, reached


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="default,wide", help="recipes, from: " + ", ".join(RECIPES))
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs (and so its cosine length)")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each library per recipe and thread count")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker_torch(args.worker[0], args.worker[1], int(args.worker[2]))))
        return
    import numpy as np
    import numba
    import torch  # noqa: F401  (fail early, before the data is written)

    import nnfunc
    from nnfunc import kernels
    from nnfunc.training import rundata

    print(f"nnfunc {nnfunc.__version__} ({kernels.active()} kernels, numba {numba.__version__}), numpy "
          f"{np.__version__}, torch {torch.__version__}; python {sys.version.split()[0]}")
    for recipe in args.recipe.split(","):
        flags = RECIPES[recipe] + (["--epochs", str(args.epochs)] if args.epochs else [])
        config = settings_of(flags)
        with tempfile.TemporaryDirectory() as tmp:
            ds, data = rundata.load(config, offline=True)
            for key, value in (("x_train", data.x_train), ("y_train", data.y_train), ("x_val", data.x_val),
                               ("y_val", data.y_val), ("x_test", ds.x_test), ("y_test", ds.y_test)):
                np.save(os.path.join(tmp, f"{key}.npy"), value)
            config_path = os.path.join(tmp, "config.json")
            with open(config_path, "w") as f:
                json.dump(config, f)
            for threads in map(int, args.threads.split(",")):
                before = sgemm_peak(threads)
                runs = {"nnfunc": [], "torch": []}
                for r in range(args.rounds):
                    for lib in (("nnfunc", "torch") if r % 2 == 0 else ("torch", "nnfunc")):
                        if lib == "nnfunc":
                            runs[lib].append(run_nnfunc(flags, threads, os.path.join(tmp, f"run{threads}-{r}")))
                        else:
                            runs[lib].append(run_torch(config_path, tmp, threads))
                after = sgemm_peak(threads)
                report(recipe, flags, config, threads, runs, before, after)


def report(recipe, flags, config, threads, runs, before, after):
    noisy = abs(after / before - 1) > NOISE
    target = min(max(e["val_accuracy"] for e in r["epochs"]) for rs in runs.values() for r in rs)
    command = " ".join(["python -m nnfunc.train", *flags])
    print(f"\n### {recipe} recipe, {threads} thread{'s' if threads > 1 else ''}: `{command}` "
          f"({config['hidden']} hidden, {config['optimizer']} {config['lr']:g} {config['schedule']}, batch "
          f"{config['batch_size']}, l2 {config['l2']:g}, dropout {config['dropout']:g}, {config['epochs']} epochs)\n")
    print(f"machine check: sgemm 2048^3 {before:.0f} GFLOP/s before, {after:.0f} after "
          f"({100 * (after / before - 1):+.1f}%): {'NOISY: do not quote' if noisy else 'quiet'}\n")
    print(f"| library | seconds per epoch (median of epochs 2-{config['epochs']}) | process wall time | "
          f"test accuracy | time to {100 * target:.2f}% validation accuracy |")
    print("|---|---|---|---|---|")
    medians = {}
    for lib, rs in runs.items():
        steadies, walls, tests, reach = [], [], [], []
        for r in rs:
            steady, reached = summary(r, target)
            steadies.append(steady)
            walls.append(r["wall"])
            tests.append(r["test_accuracy"])
            reach.append(reached)
        medians[lib] = statistics.median(steadies)
        got = [x for x in reach if x]
        tta = (f"{statistics.median(s for _, s in got):.1f} s (epoch {statistics.median(e for e, _ in got):g})"
               if got else "not reached")
        print(f"| {lib} | {medians[lib]:.2f} s | {statistics.median(walls):.1f} s | "
              f"{100 * statistics.median(tests):.2f}% | {tta} |")
    print(f"\nepoch time, nnfunc / PyTorch: {medians['nnfunc'] / medians['torch']:.2f} "
          f"({'nnfunc faster' if medians['nnfunc'] < medians['torch'] else 'PyTorch faster'})")


if __name__ == "__main__":
    main()
