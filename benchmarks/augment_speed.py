"""Augmentation throughput beside training throughput, measured in the same run on real MNIST.

    python benchmarks/augment_speed.py [--hidden 1024,1024] [--batch-size 128] [--rounds 5] [--seconds 1.0]

Rows, each the median over rounds (the rows alternate within a round, so a
slow spell of the machine hits them all):

- "augment KIND (BACKEND)": images/s of ``nnfunc.data.augment.augment`` on
  batches of real training digits: the draw (angles, noise, smoothing)
  and the warp, for the compiled and the NumPy kernels;
- "scipy ...": the same warp by ``scipy.ndimage.map_coordinates`` (order 1,
  zero outside) and the same smoothing by ``scipy.ndimage.gaussian_filter``,
  when SciPy is installed: the well-kept library one would otherwise use;
- "train step": samples/s of the recipe's training step (the loop's
  in-place path, Adam), without augmentation;
- "epoch": the training loop ``nf.fit`` over the same 10,000 images, with
  and without augmentation, so the cost shows as a share of an epoch.
"""

import argparse
import math
import statistics
import time

import numpy as np

import nnfunc as nf
from nnfunc import activations, kernels
from nnfunc.allocator import keep_freed_memory
from nnfunc.data import augment as A
from nnfunc.training import _step

KINDS = ("affine", "elastic", "elastic+affine")


def rate(fn, items, seconds):
    """Items per second of ``fn()`` (which handles ``items``), over at least ``seconds`` after one warm call."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n * items / elapsed


def scipy_rows(x, spec, rng):
    """{row name: callable} doing the warp and the smoothing with scipy.ndimage, or {} without SciPy."""
    try:
        from scipy import ndimage
    except ImportError:
        return {}
    m, side = x.shape[0], 28
    images = x.reshape(m, side, side)
    w = A.draw(rng, m, side, spec)
    o = (side - 1) / 2
    r, c = np.meshgrid(np.arange(side) - o, np.arange(side) - o, indexing="ij")
    src = np.einsum("mab,bp->map", w.matrix, np.stack([r.ravel(), c.ravel()])) + o + w.offset[:, :, None]
    src += w.field.reshape(m, 2, -1)
    coords = np.empty((3, m, side * side))
    coords[0] = np.arange(m)[:, None]  # whole-image index: weight 1 on its own image
    coords[1:] = src.transpose(1, 0, 2)
    coords = coords.reshape(3, m, side, side)
    noise = rng.uniform(-1, 1, (m, 2, side, side)).astype(np.float32)

    def warp():
        ndimage.map_coordinates(images, coords, order=1, mode="grid-constant", cval=0.0)

    def smooth():
        ndimage.gaussian_filter(noise, (0, 0, spec.sigma, spec.sigma), mode="constant")

    return {"scipy map_coordinates warp only": warp, "scipy gaussian_filter smoothing only": smooth}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", default="1024,1024")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--epoch-images", type=int, default=10_000)
    args = p.parse_args(argv)
    keep_freed_memory()
    from threadpoolctl import threadpool_info

    blas = "; ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')} threads "
                     f"{i['num_threads']}" for i in threadpool_info())
    ds = nf.load_dataset("mnist", dtype=np.uint8, progress=False)
    bs = args.batch_size
    x = ds.x_train[:bs].astype(np.float32) / np.float32(255)
    y = ds.y_train[:bs]
    spec_of = {k: A.for_kind(k) for k in KINDS}
    rng = np.random.default_rng(0)
    out = np.empty_like(x)
    backends = [b for b in kernels.BACKENDS if b == "numpy" or kernels.installed()]

    rows = {}
    for kind in KINDS:
        for backend in backends:
            def fn(kind=kind, backend=backend):
                with kernels.use(backend):
                    A.augment(x, spec_of[kind], rng, out=out)
            rows[f"augment {kind} ({backend})"] = (fn, bs)
        if kind == "elastic+affine":
            for backend in backends:
                w = A.draw(rng, bs, 28, spec_of[kind])

                def warp_only(w=w, backend=backend):
                    with kernels.use(backend):
                        A.warp(x, w, out=out)
                rows[f"warp only ({backend})"] = (warp_only, bs)
            rows["draw only (numpy)"] = (lambda: A.draw(rng, bs, 28, spec_of["elastic+affine"]), bs)
    for name, fn in scipy_rows(x, spec_of["elastic+affine"], rng).items():
        rows[name] = (fn, bs)

    sizes = (784, *map(int, args.hidden.split(",")), 10)
    opt = nf.adam(1e-3)
    acts = activations.resolve("relu", len(sizes) - 2)
    params = nf.init(sizes, 0)
    box, buffers = [params, opt.init(params)], _step.make_buffers(params)

    def step():
        box[0], box[1], _, _ = _step.step_in_place(box[0], box[1], x, y, opt, acts, 0.0, 0.0, None, buffers)
    rows[f"train step {'-'.join(map(str, sizes))} adam b{bs}"] = (step, bs)

    n = args.epoch_images
    data = nf.TrainData(ds.x_train[:n], ds.y_train[:n], ds.x_train[:0], ds.y_train[:0])
    for kind in ("none", "elastic+affine"):
        def epoch(kind=kind):
            state = nf.start_fit(params, opt, 0)
            nf.fit(state, opt, data, nf.FitConfig(1, bs, augment=A.for_kind(kind)))
        rows[f"epoch of nf.fit, augment {kind}"] = (epoch, n)

    results = {name: [] for name in rows}
    for r in range(args.rounds):
        for name, (fn, items) in rows.items():
            seconds = args.seconds if not name.startswith("epoch") else 0.0
            results[name].append(rate(fn, items, seconds))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    print(f"\nBLAS: {blas}; numba kernels: {'installed' if kernels.installed() else 'not installed'}")
    print(f"median of {args.rounds} rounds, batches of {bs} real MNIST training digits\n")
    print(f"| {'what':<48} | {'images/s':>10} |")
    print(f"|{'-' * 50}|{'-' * 12}|")
    for name, values in results.items():
        print(f"| {name:<48} | {statistics.median(values):>10,.0f} |")
    med = {name: statistics.median(v) for name, v in results.items()}
    train_rate = med[f"train step {'-'.join(map(str, sizes))} adam b{bs}"]
    for backend in backends:
        aug = med[f"augment elastic+affine ({backend})"]
        print(f"\nelastic+affine ({backend}): {aug / train_rate:.2f}x the training step's samples/s, so it "
              f"would add {train_rate / aug:.0%} to an epoch done in series")
    plain, augmented = med["epoch of nf.fit, augment none"], med["epoch of nf.fit, augment elastic+affine"]
    print(f"nf.fit epoch: {plain:,.0f} vs {augmented:,.0f} images/s with elastic+affine: the epoch takes "
          f"{plain / augmented - 1:+.0%} longer")
    return 0 if math.isfinite(train_rate) else 1


if __name__ == "__main__":
    raise SystemExit(main())
