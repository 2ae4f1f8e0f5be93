"""``python -m nnfunc.sweep``: the ``nnfunc sweep`` command."""

import sys

from nnfunc.cli.sweep import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m nnfunc.sweep"))
