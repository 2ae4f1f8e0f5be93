"""The command line: ``nnfunc COMMAND`` (or ``python -m nnfunc COMMAND``), one module per command.

Argument parsing and printing only; the work is done by the library. Each
command's module has ``main(argv=None, prog=...) -> exit code``. Nothing in
the library imports this package.
"""

import importlib
import sys

COMMANDS = {
    "train": "train a network on MNIST or Fashion-MNIST and write a run directory",
    "evaluate": "test accuracy, per-class accuracy and confusion matrix of a run or model file",
    "predict": "classify image files of digits (or clothes) with a run or model file",
    "gradcheck": "check a random network's gradients against central differences",
    "export": "write a run or model file as an ONNX model for onnxruntime (needs the [onnx] extra)",
    "sweep": "search train settings with many trials on a Dask cluster (needs the [sweep] extra)",
}


def usage():
    lines = ["usage: nnfunc COMMAND [ARGS...]   (or python -m nnfunc COMMAND)", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    lines += ["", "nnfunc COMMAND --help shows a command's flags and their defaults."]
    return "\n".join(lines)


def main(argv=None):
    """Run ``nnfunc COMMAND ARGS...``; return the command's exit code (2 for an unknown command)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of {', '.join(COMMANDS)}\n\n{usage()}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"nnfunc.cli.{command}")
    return module.main(rest, prog=f"nnfunc {command}")
