"""What every command shares: errors as one message and an exit code, warnings as one line."""

import argparse
import errno
import sys
import warnings

from nnfunc import kernels
from nnfunc.errors import CheckpointError, NnfuncError

EXIT_ERROR = 2


class DefaultsFormatter(argparse.HelpFormatter):
    """--help that shows each flag's real default, and nothing for flags without one."""

    def _get_help_string(self, action):
        help = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "(default" not in help:
            help += " (default: %(default)s)"
        return help


MAX_MESSAGE = 2000  # one paragraph; a damaged file's field must not fill the terminal


def classifier(model, command):
    """``model`` if it ends in softmax (what ``nnfunc train`` makes), else CheckpointError: ``command`` classifies."""
    if model.output != "softmax":
        raise CheckpointError(f"{model.path} holds a network with a {model.output} output layer; nnfunc {command} "
                              "works with softmax classifiers (what nnfunc train makes); in Python, use "
                              "nf.predict(model.params, x, activation=model.activation, output=model.output)")
    return model


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
            kernels.backend()
            return body()
    except NnfuncError as exc:
        return report(exc)
    except OSError as exc:  # a path that cannot be written or read: say which, not a traceback
        return report(os_message(exc))
    except MemoryError:
        return report(f"out of memory; {memory_fix}")
