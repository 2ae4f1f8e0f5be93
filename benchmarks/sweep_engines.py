"""What a local cluster of two single-thread workers costs in Dask distributed and in Ray (the candidates for sweeps).

    python benchmarks/sweep_engines.py dask
    python benchmarks/sweep_engines.py ray      # in an environment with ray installed

Prints, for the engine named: the import time, the time to start the
cluster and run a first task, the overhead per task (200 tiny tasks), the
time to shut down, and the resident memory of every process the cluster
started (with this one). nnfunc's trials take seconds to minutes, so the
start-up and the memory matter more than the per-task overhead.
"""

import os
import sys
import time


def _rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
        except OSError:
            pass  # gone meanwhile
    return total / 1024


def _new_pids(before):
    return [p for p in os.listdir("/proc") if p.isdigit() and (p not in before or int(p) == os.getpid())]


def _inc(x):
    return x + 1


def dask():
    t0 = time.perf_counter()
    from distributed import Client, LocalCluster

    imported = time.perf_counter() - t0
    before = set(os.listdir("/proc"))
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    client.submit(_inc, 0, pure=False).result()
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    client.gather([client.submit(_inc, i, pure=False) for i in range(200)])
    per_task = (time.perf_counter() - t0) / 200
    pids = _new_pids(before)
    rss = _rss_mb(pids)
    t0 = time.perf_counter()
    client.close()
    cluster.close()
    return imported, started, per_task, time.perf_counter() - t0, rss, len(pids)


def ray():
    t0 = time.perf_counter()
    import ray as _ray

    imported = time.perf_counter() - t0
    before = set(os.listdir("/proc"))
    t0 = time.perf_counter()
    _ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    inc = _ray.remote(num_cpus=1)(_inc)
    _ray.get(inc.remote(0))
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ray.get([inc.remote(i) for i in range(200)])
    per_task = (time.perf_counter() - t0) / 200
    pids = _new_pids(before)
    rss = _rss_mb(pids)
    t0 = time.perf_counter()
    _ray.shutdown()
    return imported, started, per_task, time.perf_counter() - t0, rss, len(pids)


if __name__ == "__main__":
    engine = sys.argv[1] if len(sys.argv) > 1 else "dask"
    imported, started, per_task, stopped, rss, procs = {"dask": dask, "ray": ray}[engine]()
    print(f"{engine}: import {imported:.2f} s, start + first task {started:.2f} s, {1e3 * per_task:.2f} ms per task, "
          f"shutdown {stopped:.2f} s, {rss:.0f} MB resident in {procs} processes")
