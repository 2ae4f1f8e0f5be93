"""``nnfunc train`` (also ``python -m nnfunc.train``): train an MLP on MNIST or Fashion-MNIST.

Flags to ``nnfunc.training.runs.run``, its reports to lines on the
terminal, its errors to exit codes: the run itself is the library's.
"""

import signal
import sys

from nnfunc.allocator import keep_freed_memory
from nnfunc.cli import _common
from nnfunc.errors import DivergenceError
from nnfunc.training import runs
from nnfunc.training.flags import build_parser, settings_of

__all__ = ["build_parser", "main", "train"]


def train(args):
    """Run ``args`` (parsed flags); return the exit code."""
    settings = settings_of(args)
    loud = not args.quiet
    epochs = []

    def started(plan):
        epochs.append(plan.epochs)
        if loud:
            print(runs.start_line(plan), flush=True)

    def saved(record):
        if loud:
            print(runs.epoch_line(record, epochs[0]), flush=True)

    try:
        result = runs.run(settings, out=args.out, resume=args.resume, data_dir=args.data_dir, offline=args.offline,
                          plots=not args.no_plots, gradcheck=args.gradcheck,
                          allow_other_kernels=args.allow_other_kernels,
                          progress=loud and sys.stdout.isatty() and sys.stderr.isatty(), on_start=started,
                          on_gradcheck=print, on_saved=saved)
    except runs.RunInterrupted as exc:
        print(f"\n{exc}; continue with\n  {exc.resume}", file=sys.stderr)
        return 130
    except DivergenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.stopped_early:
        state = result.state
        print(f"early stopping: no lower validation loss for {result.config['patience']} epochs; "
              f"keeping the params of epoch {state.epoch - state.bad_epochs}")
    seconds = sum(r["seconds"] for r in result.state.history)
    print(f"{runs.test_line(result.test)}  ({seconds:.1f}s training)  run: {result.run_dir}")
    return 0


def main(argv=None, prog="nnfunc train"):
    args = build_parser(prog).parse_args(argv)
    keep_freed_memory()  # this process is ours: reuse freed arrays instead of faulting in new pages
    # a SIGTERM (e.g. from a job runner) stops like Ctrl-C: the last epoch's checkpoint stays
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _common.run(lambda: train(args), memory_fix="use smaller --hidden widths, a smaller --batch-size or "
                           "fewer examples (--train-size), or a machine with more memory")
    except KeyboardInterrupt:  # outside the epochs (loading data, plotting): nothing to save
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
