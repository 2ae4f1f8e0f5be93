"""``nnfunc evaluate MODEL``: test accuracy, per-class accuracy and confusion matrix of a run or model file."""

import argparse
import sys

import nnfunc as nf
from nnfunc import checks
from nnfunc.cli import _common
from nnfunc.data.datasets import SPECS
from nnfunc.data.load import subset
from nnfunc.errors import CheckpointError, ConfigError
from nnfunc.report import metrics
from nnfunc.training import provenance, rundata


def build_parser(prog):
    p = argparse.ArgumentParser(prog=prog, description="Evaluate a trained network on its dataset's test set: "
                                "accuracy, loss, per-class accuracy and the confusion matrix.")
    p.add_argument("model", help="a run directory written by nnfunc train, its model.npz, or a file from nnfunc.save")
    p.add_argument("--dataset", choices=tuple(SPECS),
                   help="test set to use (default: the one the model was trained on; needed for a model file "
                   "saved without dataset=)")
    p.add_argument("--data-dir", help="directory holding the four IDX files (default: the directory the run "
                   "recorded, else $NNFUNC_DATA_DIR, the cache, a download)")
    p.add_argument("--offline", action="store_true", help="never use the network to fetch data")
    return p


def evaluate(args):
    model = _common.classifier(nf.load(args.model), "evaluate")
    name = args.dataset or model.dataset
    if name is None:
        raise ConfigError(f"{model.path} does not record its dataset; pass --dataset "
                          f"({' or '.join(SPECS)})")
    test_size, l2, source = run_settings(model)
    ds = rundata.find(name, data_dir=args.data_dir, recorded=source, offline=args.offline)
    if name == model.dataset and test_size is not None:
        if test_size > len(ds.y_test):
            raise CheckpointError(f"{model.path} was tested on {test_size} examples, but {name} has "
                                  f"{len(ds.y_test)}; its run config is damaged")
        ds = subset(ds, n_test=test_size)  # the test set the run reported on
    sizes = nf.layer_sizes(model.params)
    if (sizes[0], sizes[-1]) != (ds.x_test.shape[1], len(ds.class_names)):
        raise CheckpointError(f"{model.path} maps {sizes[0]} inputs to {sizes[-1]} classes, but {name} has "
                              f"{ds.x_test.shape[1]} pixels and {len(ds.class_names)} classes; pass the "
                              "--dataset it was trained on")
    result = nf.evaluate(model.params, ds.x_test, ds.y_test, activation=model.activation, l2=l2)
    names = ds.class_names  # the rows are the test set's true classes
    confusion = metrics.confusion_matrix(ds.y_test, result.predictions, len(names))
    print(f"{name} test set: {len(ds.y_test)} examples, model {model.path}")
    if model.config:  # a run's checkpoint; a model file records no run
        print("\n".join(provenance.trained_with(model.config)))
    print(f"test accuracy {100 * result.accuracy:.2f}%   test loss {result.loss:.4f}\n")
    print(metrics.format_per_class(confusion, names))
    print()
    print(metrics.format_confusion(confusion, names))
    return 0


def run_settings(model):
    """(test_size, l2, data_source) from a run's config, checked: it comes from a file."""
    config = model.config
    try:
        test_size = config.get("test_size")
        if test_size is not None:
            checks.integer(test_size, "'test_size'", low=1)
        l2 = checks.check_l2(config.get("l2", 0.0), "'l2'")
        source = config.get("data_source")
        if source is not None and not isinstance(source, str):
            raise ConfigError(f"'data_source' must be a directory name, got {source!r}")
    except ConfigError as exc:
        raise CheckpointError(f"{model.path} has a damaged run config ({exc}); evaluate another copy of the run, or "
                              "save its params with nnfunc.save and evaluate that file with --dataset") from None
    return test_size, l2, source


def main(argv=None, prog="nnfunc evaluate"):
    args = build_parser(prog).parse_args(argv)
    return _common.run(lambda: evaluate(args), memory_fix="use a machine with more memory")


if __name__ == "__main__":
    sys.exit(main())
