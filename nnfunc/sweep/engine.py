"""Where trials run: Dask distributed, a local cluster the sweep starts or a running cluster's scheduler.

A trial is one Dask task (``_task``) on a one-thread worker. Each epoch, the
task puts a report on the sweep's queue in the scheduler and waits for the
sweep's answer (go on, or stop: pruned) on a queue of its own, so the
decision is taken by the sweep process, which alone holds the study. A
worker that dies mid-trial is Dask's to handle: the scheduler runs the task
again on another worker (a new ``attempt``), up to its allowed failures.
This is the only module that imports Dask.
"""

import contextlib
import os
import socket
import time
import uuid

from distributed import Client, LocalCluster, Queue
from distributed.client import FutureCancelledError

from nnfunc.sweep import trial as _trial

# a worker waits this long for the sweep's answer before it gives the trial up (the sweep is gone)
ANSWER_TIMEOUT = 600.0
POLL = 0.2  # seconds the sweep waits for a report before it looks at finished trials


@contextlib.contextmanager
def connect(scheduler=None, workers=None):
    """A Dask Client: of the scheduler at ``scheduler`` ("tcp://host:8786"), else of a new local cluster.

    The local cluster has ``workers`` processes (default: one per core this
    process may use) of one thread each, on 127.0.0.1 only, without a
    dashboard; Dask's nannies start each with one BLAS thread.
    """
    if scheduler is not None:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    n = workers or len(os.sched_getaffinity(0))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def slots(client):
    """How many trials the cluster runs at once: its worker threads (workers may come and go)."""
    return sum(client.nthreads().values())


def worker_pids(client):
    """{worker address: process id} of the cluster's workers (tests kill one)."""
    return client.run(os.getpid)


class Channel:
    """The sweep's end of the report queues: ``poll`` for epoch reports, ``answer`` each one."""

    def __init__(self, client, key):
        self.client, self.key = client, key
        self.reports = Queue(f"{key}-reports", client=client)
        self._answers = {}

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
            time.sleep(0.02)

    def answer(self, report, stop):
        """Tell the task that sent ``report`` whether to stop."""
        number = report["number"]
        if number not in self._answers:
            self._answers[number] = Queue(f"{self.key}-trial-{number}", client=self.client)
        self._answers[number].put({"attempt": report["attempt"], "epoch": report["record"]["epoch"],
                                   "stop": bool(stop)})

    def forget(self, number):
        """Release a finished trial's answer queue."""
        queue = self._answers.pop(number, None)
        if queue is not None:
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


def _task(key, number, argv):
    """A trial on a worker: train, reporting each epoch and waiting for the sweep's answer."""
    attempt = uuid.uuid4().hex  # a rerun after a worker died is a new attempt
    reports = Queue(f"{key}-reports")
    answers = Queue(f"{key}-trial-{number}")

    def on_epoch(record):
        reports.put({"number": number, "attempt": attempt, "record": record, "time": time.time(),
                     "worker": f"{socket.gethostname()}:{os.getpid()}"})
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            answer = answers.get(timeout=max(deadline - time.monotonic(), 0.001))
            # answers meant for an attempt that died are skipped
            if answer["attempt"] == attempt and answer["epoch"] == record["epoch"]:
                return answer["stop"]

    outcome = _trial.run(argv, on_epoch)
    outcome["attempt"] = attempt
    return outcome
