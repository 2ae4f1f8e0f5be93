"""Where trials run: Dask distributed, a local cluster the sweep starts or a running cluster's scheduler.

A trial is one Dask task (``_task``) on a one-thread worker. Each epoch, the
task puts a report on the sweep's queue in the scheduler and waits for the
sweep's answer (go on, or stop: pruned) on a queue of its own, so the
decision is taken by the sweep process, which alone holds the study. A
worker that dies mid-trial is Dask's to handle: the scheduler runs the task
again on another worker (a new ``attempt``), up to its allowed failures.
This is the only module that imports Dask.

Why queues and not Optuna's Dask integration (``optuna_integration.DaskStorage``,
where the study's storage lives in the scheduler and the worker calls
``trial.report`` and ``trial.should_prune`` itself), measured with
``python benchmarks/sweep_protocol.py`` (8 tiny real-MNIST trials of 10
epochs on 2 one-thread workers, optuna 5.1, Optuna-integration 5.0):

- faults: with a worker SIGKILLed mid-sweep (``--kill``), DaskStorage's
  study ended with 11 trials for 8 (one left RUNNING for ever by the dead
  attempt, two more asked by Dask's recomputation of results the dead
  worker held), these queues with exactly 8 complete: a trial is asked and
  told by the sweep alone, and a rerun is told apart by its ``attempt``.
  With DaskStorage the study also lives where the scheduler runs, so with
  ``--scheduler`` on another host ``study.db`` would not be in ``--out``,
  and a sweep could not continue from its directory;
- speed: DaskStorage is faster. A report's round trip (the worker's wait
  from its report to the answer) is 22 ms median here (35 ms p90; it was
  30 ms when both ends polled every 20 ms instead of 5) against 6 ms, and
  the sweep of tiny epochs took 3.1 s against 1.75 s. Against a real epoch
  (1-30 s) the difference is 2% or less, which the faults above outweigh.
"""

import contextlib
import os
import socket
import time
import uuid

from distributed import Client, Event, LocalCluster, Queue
from distributed.client import FutureCancelledError
from distributed.comm import CommClosedError

from nnfunc.errors import ConfigError

from nnfunc.sweep import trial as _trial

# a worker waits this long for the sweep's answer (it comes in milliseconds) before it gives the trial up
ANSWER_TIMEOUT = 300.0
# the cluster went away under the sweep (its scheduler died, the network broke)
CLUSTER_ERRORS = (CommClosedError,)
POLL = 0.2  # seconds the sweep waits for a report before it looks at finished trials


@contextlib.contextmanager
def connect(scheduler=None, workers=None):
    """A Dask Client: of the scheduler at ``scheduler`` ("tcp://host:8786"), else of a new local cluster.

    The local cluster has ``workers`` processes (default: one per core this
    process may use) of one thread each, on 127.0.0.1 only, without a
    dashboard; Dask's nannies start each with one BLAS thread.
    """
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at --scheduler {scheduler} ({exc}); check the address "
                              "(tcp://HOST:PORT) and that dask scheduler runs there") from None
        with client:
            yield client
        return
    n = workers or len(os.sched_getaffinity(0))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def slots(client):
    """How many trials the cluster runs at once: its worker threads (workers may come and go)."""
    return sum(client.nthreads().values())


class Channel:
    """The sweep's end of the queues: ``poll`` for epoch reports, ``answer`` each one, ``stop`` every trial."""

    def __init__(self, client, key):
        self.client, self.key = client, key
        self.reports = Queue(f"{key}-reports", client=client)
        self._answers = {}  # (trial number, attempt) -> its answer Queue

    def poll(self, wait=POLL):
        """The epoch reports waiting (a list of dicts), after up to ``wait`` seconds for the first.

        It asks the queue's length rather than wait on ``get``: a ``get``
        that times out makes the scheduler log a traceback.
        """
        deadline = time.monotonic() + wait
        while True:
            waiting = self.reports.qsize()
            if waiting:
                return self.reports.get(batch=waiting)
            if time.monotonic() >= deadline:
                return []
            time.sleep(0.005)

    def answer(self, report, stop):
        """Tell the attempt that sent ``report`` whether to stop (each attempt has a queue of its own)."""
        where = (report["number"], report["attempt"])
        if where not in self._answers:
            self._answers[where] = Queue(_answer_queue(self.key, *where), client=self.client)
        self._answers[where].put({"epoch": report["record"]["epoch"], "stop": bool(stop)})

    def forget(self, number):
        """Release a finished trial's answer queues."""
        for where in [w for w in self._answers if w[0] == number]:
            _close(self._answers.pop(where))

    def stop(self):
        """Tell every trial of this sweep still running to stop at its next epoch, and release the queues."""
        with contextlib.suppress(Exception):  # the scheduler may be gone already
            Event(f"{self.key}-stop", client=self.client).set()
        for where in list(self._answers):
            _close(self._answers.pop(where))
        _close(self.reports)


def _answer_queue(key, number, attempt):
    return f"{key}-trial-{number}-{attempt}"


def _close(queue):
    with contextlib.suppress(Exception):  # the scheduler may be gone already
        queue.close()


def submit(client, key, number, argv):
    """Start trial ``number`` (train flags ``argv``) on the cluster; return its Future."""
    return client.submit(_task, key, number, argv, key=f"{key}-trial-{number}", pure=False)


def result(future):
    """(outcome dict, None), or (None, message) when the engine lost the trial (workers died, cancelled)."""
    try:
        return future.result(), None
    except FutureCancelledError:
        return None, "the trial was cancelled by the cluster"
    except Exception as exc:  # KilledWorker and the like: the trial is lost, not the sweep
        return None, f"{type(exc).__name__}: {exc}"


class SweepGone(RuntimeError):
    """The sweep stopped answering a trial's reports: it was stopped, or lost."""


def _task(key, number, argv):
    """A trial on a worker: train, reporting each epoch and waiting for the sweep's answer."""
    attempt = uuid.uuid4().hex  # a rerun after a worker died is a new attempt, with its own answers
    reports = Queue(f"{key}-reports")
    answers = Queue(_answer_queue(key, number, attempt))
    stopped = Event(f"{key}-stop")

    def report_and_wait(record):
        reports.put({"number": number, "attempt": attempt, "record": record, "time": time.time(),
                     "worker": f"{socket.gethostname()}:{os.getpid()}"})
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while time.monotonic() < deadline:
            # short waits: a sweep that was stopped says so with its event
            if answers.qsize():
                answer = answers.get()
                if answer["epoch"] == record["epoch"]:
                    return answer["stop"]
            elif stopped.is_set():
                raise SweepGone("the sweep was stopped; this trial is abandoned (a continued sweep runs it again)")
            else:
                time.sleep(0.005)
        raise SweepGone(f"no answer from the sweep in {ANSWER_TIMEOUT:.0f} s: it was stopped or lost")

    try:
        outcome = _trial.run(argv, report_and_wait)
    finally:
        _close(answers)
        _close(reports)
    outcome["attempt"] = attempt
    return outcome
