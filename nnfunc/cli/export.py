"""``nnfunc export MODEL``: write a run or model file as an ONNX model for onnxruntime (the [onnx] extra)."""

import argparse
import sys
from pathlib import Path

import nnfunc as nf
from nnfunc.cli import _common
from nnfunc.onnx import INSTALL


def build_parser(prog):
    p = argparse.ArgumentParser(prog=prog, description="Write a trained network as an ONNX model: input x "
                                "(batch, n0) float32 (pixels scaled to [0, 1]), outputs probabilities (batch, nL) "
                                "and label (batch,). Needs the [onnx] extra: pip install \"nnfunc[onnx]\".")
    p.add_argument("model", help="a run directory written by nnfunc train, its model.npz, or a file from nnfunc.save")
    p.add_argument("--out", help="the .onnx file to write (default: model.onnx in a run directory, else the "
                   "model file's name with .onnx)")
    return p


def default_out(model_path):
    """RUN/model.npz -> RUN/model.onnx; digits.npz -> digits.onnx."""
    return Path(model_path).with_suffix(".onnx")


def export(args):
    model = nf.load(args.model)
    out = Path(args.out) if args.out else default_out(model.path)
    try:
        nf.export_onnx(model.params, out, activation=model.activation, classes=model.classes, output=model.output)
    except ModuleNotFoundError as exc:
        if exc.name != "onnx":
            raise
        return _common.report(f"nnfunc export needs the onnx extra, which is not installed: {INSTALL}")
    sizes = nf.layer_sizes(model.params)
    activation = model.activation if isinstance(model.activation, str) else ",".join(model.activation)
    made = "probabilities and label" if model.output in ("softmax", "logistic") else "predictions"
    print(f"wrote {out} (sizes {'-'.join(map(str, sizes))}, activation {activation}; input x (batch, {sizes[0]}) "
          f"float32, outputs {made})")
    return 0


def main(argv=None, prog="nnfunc export"):
    """Run the CLI; return the exit code (0 written, 2 an error)."""
    args = build_parser(prog).parse_args(argv)
    return _common.run(lambda: export(args))


if __name__ == "__main__":
    sys.exit(main())
