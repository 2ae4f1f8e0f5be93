"""``python -m nnfunc COMMAND``: the command line (see ``nnfunc.cli``)."""

import sys

from nnfunc.cli import main

sys.exit(main())
