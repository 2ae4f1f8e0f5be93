"""``python -m nnfunc.predict RUN_DIR IMAGE...``: classify PNG/JPEG images of digits.

Each image, of any size, is preprocessed like MNIST (grayscale, light
background inverted, cropped to the ink, fit in 20x20, centred by mass in
28x28) and classified by the run's network.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import nnfunc as nf
from nnfunc import checkpoint
from nnfunc.activations import parse_spec
from nnfunc.download import SPECS
from nnfunc.imageprep import load_digit

def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nnfunc.predict", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("run_dir", help="a run directory written by python -m nnfunc.train")
    p.add_argument("images", nargs="+", help="PNG or JPEG files, one digit each")
    args = p.parse_args(argv)
    try:
        params, meta = checkpoint.load_params(Path(args.run_dir) / "model.npz")
        if nf.layer_sizes(params)[0] != 784:
            raise nf.CheckpointError(f"{args.run_dir} has input width {nf.layer_sizes(params)[0]}, not 28x28 = 784 pixels")
        x = np.stack([load_digit(path) for path in args.images])
        probs, _ = nf.forward(params, x, activation=parse_spec(meta["config"]["activation"]))
    except nf.NnfuncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec = SPECS.get(meta["dataset"])
    names = spec.class_names if spec else tuple(map(str, range(probs.shape[1])))
    for path, row in zip(args.images, probs):
        best = int(row.argmax())
        ranked = "  ".join(f"{names[k]}:{row[k]:.3f}" for k in np.argsort(row)[::-1][:3])
        print(f"{path}: {names[best]}  (p={row[best]:.3f}; top 3 {ranked})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
