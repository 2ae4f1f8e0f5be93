"""Compile a numba kernel without losing Ctrl-C: signals are held during the compile and delivered after it.

numba compiles through LLVM, and LLVM calls back into Python while it
works: llvmlite's object-cache hooks (``ExecutionEngine._raw_object_cache_notify``
and ``_getbuffer``) are ctypes callbacks. Python runs a signal handler at
the first bytecode after the signal, and after LLVM's code generation (the
longest stretch of a compile spent in C) that bytecode is in the notify
callback. The KeyboardInterrupt raised there cannot leave a ctypes callback:
it is printed as "Exception ignored on calling ctypes callback function"
and dropped, and the compile then fails with "RuntimeError: no compiled
object yet" (or, from the getbuffer hook, goes on as if nothing happened).
So while a kernel compiles or loads from numba's cache, SIGINT and SIGTERM
are only recorded, and the handler that was in force gets them once the
compile is over (within one kernel's compile, a fraction of a second).
"""

import functools
import signal
import threading
import warnings

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))
_holding = False  # a compile of the main thread holds the signals (compiles nest: a kernel calls others)


def guard(dispatcher):
    """Make every compile of a numba ``dispatcher`` hold signals and numba's ResourceWarnings; return it.

    numba compiles through ``dispatcher.compile`` on every path (a first
    call, a call from another kernel, ``get_compile_result``), so an
    instance attribute of that name covers them all.
    """
    compile = dispatcher.compile

    @functools.wraps(compile)
    def guarded(sig):
        with warnings.catch_warnings():
            # a file left unclosed inside numba's compiler was reported when
            # its ResourceWarning hit a compile of a cold cache (as an error
            # under the test suite's filterwarnings = error); only that
            # warning, only from numba's own modules, only during our compiles
            warnings.filterwarnings("ignore", category=ResourceWarning, module=r"numba(\.|$)")
            warnings.filterwarnings("ignore", category=ResourceWarning, module=r"llvmlite(\.|$)")
            return _holding_signals(compile, sig)

    dispatcher.compile = guarded
    return dispatcher


def _holding_signals(compile, sig):
    """``compile(sig)`` with SIGINT/SIGTERM recorded instead of handled; the first one is handled after."""
    global _holding
    # only the main thread runs Python's signal handlers, so only there can
    # one raise inside LLVM's callbacks; a nested compile is already covered
    if _holding or threading.current_thread() is not threading.main_thread():
        return compile(sig)
    caught = []
    previous = {}

    def record(signum, frame):
        caught.append((signum, frame))

    _holding = True
    try:
        for signum in _SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):  # SIG_DFL and SIG_IGN act in C, never inside a callback
                previous[signum] = handler
                signal.signal(signum, record)
        return compile(sig)
    finally:
        # signal.signal handles a pending signal before it swaps: `record` still gets it
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _holding = False
        if caught:
            signum, frame = caught[0]
            previous[signum](signum, frame)  # default_int_handler raises KeyboardInterrupt here
