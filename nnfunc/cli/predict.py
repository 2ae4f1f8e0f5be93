"""``nnfunc predict MODEL IMAGE...``: classify image files with a run or model file.

Each image is preprocessed like MNIST (grayscale, light background
inverted, cropped to the ink, fit in 20x20, centred by mass in 28x28:
``nnfunc.load_image``) and classified by the model. Reading an image does
bounded work: a file of up to 64 megapixels is read (larger pictures are
shrunk before the float work), a bigger one is refused from its header, and a
named pipe, device or directory is refused without waiting on it.
"""

import argparse
import sys

import numpy as np

import nnfunc as nf
from nnfunc.cli import _common
from nnfunc.data.image_file import MAX_PIXELS
from nnfunc.errors import CheckpointError


def build_parser(prog):
    p = argparse.ArgumentParser(prog=prog, description="Classify PNG/JPEG images, one digit (or garment) each, "
                                "preprocessed like MNIST.")
    p.add_argument("model", help="a run directory written by nnfunc train, its model.npz, or a file from nnfunc.save")
    p.add_argument("images", nargs="+", help="PNG or JPEG files (also GIF, BMP, TIFF, WebP, PPM), one digit each, "
                   f"up to {MAX_PIXELS // 1_000_000} megapixels")
    return p


def predict(args):
    model = _common.classifier(nf.load(args.model), "predict")
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
    return _common.run(lambda: predict(args), memory_fix="pass fewer or smaller images")


if __name__ == "__main__":
    sys.exit(main())
