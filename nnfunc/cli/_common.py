"""What every command shares: flag-worded errors, finding a run's data, exit codes."""

import argparse
import errno
import sys
import warnings

from nnfunc import kernels
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


MAX_MESSAGE = 2000  # one paragraph; a damaged file's field must not fill the terminal


def report(exc):
    """Print a library error for a shell user; return the exit code."""
    text = str(exc)
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE - 400]} [... {len(text) - MAX_MESSAGE + 200:,} characters cut ...] {text[-200:]}"
    print(f"error: {text}", file=sys.stderr)
    return EXIT_ERROR


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # a shell user needs the sentence, not the source line that raised it
    print(f"warning: {message}", file=sys.stderr)


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


# what to do about the OS errors a user can cause, by errno
_OS_FIXES = {
    errno.ENOSPC: "free some disk space, or write the run elsewhere with --out",
    errno.EDQUOT: "free some of your disk quota, or write the run elsewhere with --out",
    errno.EROFS: "that file system is read-only; write the run elsewhere with --out",
    errno.EACCES: "check the permissions of the path and of its parent directories",
    errno.EPERM: "check the permissions of the path and of its parent directories",
    errno.ENOTDIR: "a file stands where a directory is needed; move it or pick another path",
    errno.EISDIR: "a directory stands where a file is needed; move it or pick another path",
    errno.EEXIST: "something already exists at that path; move it or pick another path",
    errno.ELOOP: "a symbolic link is in the way (nnfunc does not follow one there); remove it or pick another path",
    errno.EFBIG: "the file grew past a size limit of this system; free space or raise the limit",
}


def os_message(exc):
    """One line for an OSError: what failed, on which path, and what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    fix = _OS_FIXES.get(exc.errno, "check the path and its permissions")
    return f"{exc.strerror or exc}{where}; {fix}. Files written before this error are intact"


def run(body, *, memory_fix="use smaller settings, or a machine with more memory"):
    """Call ``body()`` and turn nnfunc's errors, the file system's and memory exhaustion into a message and exit 2.

    ``memory_fix`` is what the out-of-memory message tells the user to change
    (each command names its own flags). Warnings print as one ``warning:`` line.
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            # load the compiled kernels' libraries now, while memory is free
            # (see nnfunc/kernels/_numba.py), not at the first forward pass;
            # a command that needs none (export) pays the import, about 0.5 s
            kernels.fast()
            return body()
    except NnfuncError as exc:
        return report(exc)
    except OSError as exc:  # a path that cannot be written or read: say which, not a traceback
        return report(os_message(exc))
    except MemoryError:
        return report(f"out of memory; {memory_fix}")
