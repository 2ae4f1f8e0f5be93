"""Refuse an allocation bigger than the memory this process may use: the machine's, or its container's limit.

Linux overcommits, so numpy may hand out an array the process cannot hold
and let the out-of-memory killer end it later. ``check`` runs before a big
allocation and raises a ConfigError instead. Inside a container the bound
is the cgroup's memory limit, not the host's physical memory: v2
``memory.max`` ("max" means none), v1 ``memory.limit_in_bytes`` (a value
near 2**63 means none), read for this process's own cgroup (from
``/proc/self/cgroup``) and every ancestor up to the mount's root, since a
limit on a parent binds its children too. The roots are arguments so a
test can point them at a fake tree.
"""

import math
import os
from pathlib import Path

from nnfunc.errors import ConfigError

PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")
# v1 writes "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages); no real limit is this big
NO_LIMIT = 2**62


def physical_memory():
    """Bytes of physical memory on this machine, or None where the system does not say."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None
    return total if total > 0 else None


def cgroup_limit(*, proc=PROC, cgroup=CGROUP):
    """The smallest memory limit on this process's cgroup or an ancestor, in bytes; None if there is none.

    Args:
        proc: the proc filesystem's root (reads ``proc/self/cgroup``).
        cgroup: where the cgroup filesystems are mounted: v2 at ``cgroup``
            itself (or ``cgroup/unified`` on a hybrid system), v1's memory
            controller at ``cgroup/memory``.
    """
    try:
        lines = (Path(proc) / "self" / "cgroup").read_text().splitlines()
    except OSError:  # not Linux, or no /proc
        return None
    cgroup = Path(cgroup)
    limits = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:  # the v2 unified hierarchy
            for root in (cgroup, cgroup / "unified"):
                limits += _limits_along(root, path, "memory.max")
        elif "memory" in controllers.split(","):
            limits += _limits_along(cgroup / "memory", path, "memory.limit_in_bytes")
    return min(limits, default=None)


def _limits_along(root, path, name):
    """The limits in the ``name`` files from ``root/path`` up to ``root``, the ones that say a number."""
    parts = [part for part in path.strip().split("/") if part]
    found = (_read_limit(root.joinpath(*parts[:depth]) / name) for depth in range(len(parts), -1, -1))
    return [limit for limit in found if limit is not None]


def _read_limit(file):
    """A limit file's bytes, or None for "max", a missing or unreadable file, or a value that means none."""
    try:
        text = file.read_text().strip()
    except OSError:
        return None
    try:
        limit = int(text)
    except ValueError:  # "max": no limit
        return None
    return limit if 0 < limit < NO_LIMIT else None


def available(*, proc=PROC, cgroup=CGROUP):
    """The bytes this process may use and whose bound that is: ``(bytes, "container")``, ``(bytes, "machine")``.

    The container's limit when it is below physical memory, else physical
    memory; ``(None, None)`` where neither is known. Arguments as for
    ``cgroup_limit``.
    """
    total, limit = physical_memory(), cgroup_limit(proc=proc, cgroup=cgroup)
    if limit is not None and (total is None or limit < total):
        return limit, "container"
    return (total, "machine") if total is not None else (None, None)


def _gigabytes(nbytes):
    try:
        return f"{nbytes / 1e9:,.1f}"
    except OverflowError:  # an int beyond a float's range
        return f"10**{math.floor(math.log10(nbytes)) - 9}"


def check(nbytes, what, fix, *, proc=PROC, cgroup=CGROUP):
    """Raise ConfigError if ``nbytes`` is more than this process may use (see ``available``).

    Call it before a big allocation: numpy would otherwise fail with a bare
    MemoryError, or, since Linux overcommits, succeed and let the OOM killer
    end the process later. Nothing is checked where the memory is unknown.

    Args:
        nbytes: int, every byte the caller is about to hold at once (e.g.
            params + optimizer state + gradients, not the params alone).
        what: what needs them, starting the message, e.g. "sizes (784,
            100000000, 10) hold 79,400,001,010 float32 parameters".
        fix: what to do instead, ending the message, e.g. "use smaller widths".
        proc, cgroup: as for ``cgroup_limit``.

    Raises:
        ConfigError: "{what}: about N GB, more than this machine's M GB of
            memory; {fix}", or "... more than this container's M GB memory
            limit; {fix}".
    """
    total, bound = available(proc=proc, cgroup=cgroup)
    if total is not None and nbytes > total:
        have = (f"this machine's {total / 1e9:,.1f} GB of memory" if bound == "machine"
                else f"this container's {total / 1e9:,.1f} GB memory limit")
        raise ConfigError(f"{what}: about {_gigabytes(nbytes)} GB, more than {have}; {fix}")
