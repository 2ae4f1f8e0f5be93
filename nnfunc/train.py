"""``python -m nnfunc.train``: the name the project is known by, kept; the command lives in ``nnfunc.cli.train``."""

import sys

from nnfunc.cli.train import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m nnfunc.train"))
