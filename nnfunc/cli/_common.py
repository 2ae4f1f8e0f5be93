"""What every command shares: flag-worded errors, finding a run's data, exit codes."""

import argparse
import sys

from nnfunc.data import load as data_load
from nnfunc.errors import DataError, DataNotFoundError, NnfuncError

# the command line's names for load_dataset's options
CLI_WORDS = {"data_dir": "--data-dir", "pass_dir": "pass it with --data-dir DIR", "drop_dir": "drop --data-dir",
             "offline_on": "--offline", "offline_off": "drop --offline"}
EXIT_ERROR = 2


class DefaultsFormatter(argparse.HelpFormatter):
    """--help that shows each flag's real default, and nothing for flags without one."""

    def _get_help_string(self, action):
        help = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "(default" not in help:
            help += " (default: %(default)s)"
        return help


def flag(name):
    """The flag of a config key: "val_size" -> "--val-size"."""
    return "--" + name.replace("_", "-")


def report(exc):
    """Print a library error for a shell user; return the exit code."""
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_ERROR


def load_data(name, *, data_dir=None, recorded=None, offline=False, progress=False, dtype="uint8"):
    """A verified dataset, looked up as the user expects from a command.

    ``data_dir`` (``--data-dir``) must work when given. Otherwise the
    directory a run recorded (``recorded``) is tried first, then the usual
    lookup, so a run's later commands need no ``--data-dir`` again.

    Raises:
        DataNotFoundError: worded with flags (``--data-dir``, ``--offline``).
    """
    options = dict(offline=offline or None, dtype=dtype, progress=progress)
    tried = []
    try:
        if data_dir is None and recorded:
            try:
                return data_load.load_dataset(name, data_dir=recorded, **options)
            except DataError as exc:  # moved or changed since the run: fall back to the usual places
                reason = exc.tried[0] if getattr(exc, "given_dir", False) else str(exc)
                tried.append(f"the run's recorded data directory: {reason}")
        return data_load.load_dataset(name, data_dir=data_dir, **options)
    except DataNotFoundError as exc:
        raise data_load.reword_not_found(exc, CLI_WORDS, tried_first=tried) from None


def run(body):
    """Call ``body()`` and turn nnfunc's errors, and the file system's, into a message and exit code 2."""
    try:
        return body()
    except NnfuncError as exc:
        return report(exc)
    except OSError as exc:  # a path that cannot be written or read: say which, not a traceback
        return report(f"{exc.strerror or exc}: {exc.filename or ''}; check the path and its permissions".strip())
