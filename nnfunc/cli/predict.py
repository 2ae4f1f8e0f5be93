"""``nnfunc predict MODEL IMAGE...``: classify image files with a run or model file.

Each image, of any size, is preprocessed like MNIST (grayscale, light
background inverted, cropped to the ink, fit in 20x20, centred by mass in
28x28: ``nnfunc.load_image``) and classified by the model.
"""

import argparse
import sys

import numpy as np

import nnfunc as nf
from nnfunc.cli import _common
from nnfunc.errors import CheckpointError


def build_parser(prog):
    p = argparse.ArgumentParser(prog=prog, description="Classify PNG/JPEG images, one digit (or garment) each, "
                                "preprocessed like MNIST.")
    p.add_argument("model", help="a run directory written by nnfunc train, its model.npz, or a file from nnfunc.save")
    p.add_argument("images", nargs="+", help="PNG or JPEG files, one digit each")
    return p


def predict(args):
    model = nf.load(args.model)
    n_in = nf.layer_sizes(model.params)[0]
    if n_in != 784:
        raise CheckpointError(f"{model.path} has input width {n_in}, not 28x28 = 784 pixels; "
                              "predict classifies 28x28 images only")
    x = np.concatenate([nf.load_image(path) for path in args.images])
    probs, _ = nf.forward(model.params, x, activation=model.activation)
    names = model.classes or tuple(map(str, range(probs.shape[1])))
    for path, row in zip(args.images, probs):
        best = int(row.argmax())
        ranked = "  ".join(f"{names[k]}:{row[k]:.3f}" for k in np.argsort(row)[::-1][:3])
        print(f"{path}: {names[best]}  (p={row[best]:.3f}; top 3 {ranked})")
    return 0


def main(argv=None, prog="nnfunc predict"):
    args = build_parser(prog).parse_args(argv)
    return _common.run(lambda: predict(args))


if __name__ == "__main__":
    sys.exit(main())
