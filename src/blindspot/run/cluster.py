"""`blindspot cluster`: the files of a batch as Ray tasks on a Ray cluster.

Each file is one Ray task that reserves `threads` CPUs (default 1) and runs `batch.run_one`,
the same call a local worker makes, so its output is the one a local run writes. Ray keeps its
worker processes, so each keeps one model session (the pipeline's cache) for all its files.
Inputs and outputs are paths that every node sees the same way (a shared file system mounted at
the same place): the driver plans the outputs, the tasks read and write them. Resume and the
report work as in a local run; the longest files start first.

Needs `pip install 'blindspot[ray]'` on the driver and on every node.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import BlindspotError
from ..wording import install_hint
from .batch import Job, Outcome, Task, available_cores, estimate, limit_threads, run_one


def run_ray(task: Task, jobs: list[Job], address: str = "auto",
            workers: int | None = None) -> Iterator[Outcome]:
    """Each job's outcome, in the order they finish, from tasks on the Ray cluster at
    `address` ("ray://HOST:PORT", "auto": the running one, "local": a new one on this machine
    with `workers` CPUs, default one per core). At most `workers` files are in flight
    (default: the cluster's CPUs over the CPUs each task reserves)."""
    if not jobs:
        return
    ray = _ray()
    started = _connect(ray, address, workers)
    try:
        threads = task.options.threads or 1
        task = task.with_threads(threads)
        remote = ray.remote(_run_file).options(num_cpus=threads, max_retries=1)
        limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        pending = sorted(jobs, key=lambda job: -estimate(job[0])[1])[::-1]  # longest last
        in_flight: dict = {}
        try:
            while pending or in_flight:
                while pending and len(in_flight) < limit:
                    src, out = pending.pop()
                    ref = remote.remote(task, _absolute(src), _absolute(out))
                    in_flight[ref] = (src, out)
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    yield _outcome(ray, ref, in_flight.pop(ref))
        finally:
            for ref in in_flight:  # stopped early (Ctrl-C): the writes in progress unwind
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
    finally:
        if started:
            ray.shutdown()


def _run_file(task: Task, src: Path, out: Path) -> Outcome:
    """One file, inside a Ray worker (which holds `threads` CPUs for it)."""
    limit_threads(task.options.threads)
    return run_one(task, src, out)


def _outcome(ray, ref, job: Job) -> Outcome:  # noqa: ANN001 - ray is imported lazily
    src, out = job
    try:
        outcome: Outcome = ray.get(ref)
    except ray.exceptions.RayError as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return Outcome(src, out, error=f"{src}: the Ray task failed ({reason}); no output "
                                       "was written")
    # Name the files as the user gave them (the tasks got absolute paths).
    if outcome.error is not None:
        outcome.error = outcome.error.replace(str(_absolute(src)), str(src))
    if outcome.result is not None:
        outcome.result.source, outcome.result.output = src, out
    outcome.source, outcome.output = src, out
    return outcome


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _ray():  # noqa: ANN202 - the ray module
    try:
        import ray
    except ImportError:
        raise BlindspotError(f"blindspot cluster needs Ray: {install_hint('ray')}") from None
    return ray


def _connect(ray, address: str, workers: int | None) -> bool:  # noqa: ANN001
    """Connect to the cluster (or start a local one); whether this call started it."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": bool(os.environ.get(
        "BLINDSPOT_DEBUG"))}
    try:
        if address == "local":
            ray.init(address="local", num_cpus=workers or available_cores(),
                     include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BlindspotError(f"cannot connect to the Ray cluster at {address} ({reason}); start "
                             "one with `ray start --head`, or use --address local") from None
    return True
