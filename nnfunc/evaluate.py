"""``python -m nnfunc.evaluate RUN_DIR``: test accuracy, per-class accuracy, confusion matrix."""

import argparse
import sys
from pathlib import Path

import nnfunc as nf
from nnfunc import checkpoint, data, metrics
from nnfunc.activations import parse_spec
from nnfunc.evaluation import evaluate


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nnfunc.evaluate", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("run_dir", help="a run directory written by python -m nnfunc.train")
    p.add_argument("--data-dir", help="directory holding the IDX files (else the usual lookup)")
    p.add_argument("--offline", action="store_true", help="never use the network to fetch data")
    args = p.parse_args(argv)
    try:
        params, meta = checkpoint.load_params(Path(args.run_dir) / "model.npz")
        config = meta["config"]
        ds = data.load_dataset(meta["dataset"], data_dir=args.data_dir, offline=args.offline or None,
                               dtype="uint8", progress=False)
        ds = data.subset(ds, n_test=config.get("test_size"))
        n_in, n_out = ds.x_test.shape[1], len(ds.class_names)
        checkpoint.check_architecture(params, (n_in, *nf.layer_sizes(params)[1:-1], n_out), args.run_dir)
        result = evaluate(params, ds.x_test, ds.y_test, activation=parse_spec(config["activation"]), l2=config["l2"])
    except nf.NnfuncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    confusion = metrics.confusion_matrix(ds.y_test, result.predictions, n_out)
    print(f"{meta['dataset']} test set: {len(ds.y_test)} examples, run {args.run_dir} (epoch {meta['epoch']})")
    print(f"test accuracy {100 * result.accuracy:.2f}%   test loss {result.loss:.4f}\n")
    print(metrics.format_per_class(confusion, ds.class_names))
    print()
    print(metrics.format_confusion(confusion, ds.class_names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
