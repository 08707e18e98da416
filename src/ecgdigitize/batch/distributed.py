"""Run a batch on a Dask cluster (``ecgdigitize batch ... --scheduler tcp://host:port``).

Needs the optional dependency ``dask[distributed]``
(``pip install 'ecgdigitize[distributed]'``), on the machine running the
batch and on every worker, with the same version of ecgdigitize.

Each page is one Dask task, :func:`ecgdigitize.batch.worker.execute`, run
on a worker: it reads the page, digitizes it and writes its outputs into its
own folder ``OUT/.tmp/NAME.HOST.PID.TOKEN/``. The process running the batch
(the Dask client) owns the manifest: it takes the outcomes as they complete,
moves the outputs into ``OUT`` and marks the pages done, exactly as with the
local pool (see :mod:`ecgdigitize.batch.runner`).

**Shared file system.** The input files and the output folder must be seen
by every worker *and* by the client under the same paths (NFS, a cluster
file system, or one machine). This is checked when the run starts: every
worker must be able to write into ``OUT``. Keep the manifest on a local disk
(``--manifest``): SQLite's WAL mode does not work on network file systems.

**Limits enforced on Dask.** Best effort, as a Dask task cannot be stopped
from outside:

- time: the client asks the workers every second which pages they are
  running, and a page that has run longer than ``timeout_s`` is recorded as
  ``timeout`` and its result discarded; if it is the only task running on its
  worker, that worker is restarted (through its nanny) to free it, else the
  page's thread runs on until it returns;
- memory: a MemoryError in a page is recorded as ``oom``, as locally. There
  is no per-page address-space limit (pages share the worker process);
  Dask's own ``memory_limit`` applies (with ``--scheduler local``, set to the
  memory limit of the batch): a worker over it is restarted by its nanny, and
  a page whose workers keep dying ends as ``failed`` (Dask's KilledWorker).

``--scheduler local`` starts a local cluster (``--workers`` processes, one
thread each) for the run.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import BatchError
from .manifest import iso_time
from .pool import default_workers
from .worker import TMP_DIRNAME, PageTask, TaskOutcome, WorkFunction, execute, one_line

__all__ = ["DaskExecutor", "import_distributed"]

#: How often the client checks running pages against the time limit, in s.
POLL_S = 1.0


def import_distributed() -> Any:
    """The ``distributed`` module, or a BatchError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise BatchError("--scheduler needs Dask: pip install 'ecgdigitize[distributed]' "
                         "(dask[distributed])") from None
    return distributed


def _probe(out_dir: str) -> dict[str, Any]:
    """Run on each worker at start: can it write into the output folder?"""
    from .. import __version__

    tmp = Path(out_dir) / TMP_DIRNAME
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        probe = tmp / f".probe.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        probe.write_bytes(b"")
        probe.unlink()
        writable = ""
    except OSError as exc:
        writable = exc.strerror or str(exc)
    return {"version": __version__, "error": writable}


def _executing(dask_worker: Any) -> list[str]:
    """Run on each worker: keys of the tasks its threads are running now."""
    threads = getattr(dask_worker, "active_threads", None) or {}
    return [str(k) for k in threads.values()]


class DaskExecutor:
    """Run pages as tasks of a Dask cluster.

    Parameters
    ----------
    scheduler : str
        Scheduler address (``tcp://host:port``), or ``local`` for a local
        cluster started for the run.
    work : callable
        The work function (see :func:`ecgdigitize.batch.worker.execute`),
        importable on the workers.
    timeout_s : float, optional
        Time limit of a page in s (None or 0: none); see the module description.
    workers : int, optional
        Worker processes of a local cluster (default: the number of CPU cores).
    max_memory_mb : float, optional
        Memory limit of each worker of a local cluster, in MB.
    poll_s : float
        How often running pages are checked, in s.
    """

    def __init__(self, scheduler: str, work: WorkFunction, *, timeout_s: float | None = None,
                 workers: int | None = None, max_memory_mb: float | None = None,
                 poll_s: float = POLL_S) -> None:
        self.scheduler = scheduler
        self.work = work
        self.timeout_s = timeout_s or None
        self.workers = workers
        self.max_memory_mb = max_memory_mb or None
        self.poll_s = poll_s

    @contextlib.contextmanager
    def _client(self, distributed: Any) -> Iterator[Any]:
        if self.scheduler == "local":
            memory: Any = (int(self.max_memory_mb * 2**20) if self.max_memory_mb else "auto")
            cluster = distributed.LocalCluster(
                n_workers=self.workers or default_workers(), threads_per_worker=1,
                processes=True, memory_limit=memory, dashboard_address=None)
            try:
                with distributed.Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
            return
        try:
            client = distributed.Client(self.scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise BatchError(f"cannot connect to the Dask scheduler at {self.scheduler}: "
                             f"{one_line(exc)}") from None
        with client:
            yield client

    def _check_workers(self, client: Any, out_dir: str) -> None:
        try:
            client.wait_for_workers(1, timeout=60)
        except (TimeoutError, OSError):
            raise BatchError(f"the Dask cluster at {self.scheduler} has no worker") from None
        try:
            probes = client.run(_probe, out_dir)
        except ImportError as exc:
            raise BatchError(f"ecgdigitize cannot be imported on the Dask workers: {exc}") \
                from None
        from .. import __version__

        for addr, p in sorted(probes.items()):
            if p["error"]:
                raise BatchError(f"Dask worker {addr} cannot write to {out_dir} ({p['error']}); "
                                 "the output folder must be on a file system shared by the "
                                 "workers, under the same path")
            if p["version"] != __version__:
                raise BatchError(f"Dask worker {addr} runs ecgdigitize {p['version']}, this "
                                 f"process {__version__}")

    def run(self, tasks: Iterable[PageTask], on_start: Callable[[PageTask, str | None], None],
            on_done: Callable[[PageTask, TaskOutcome], None]) -> None:
        """Run every task; call `on_start` when a page is submitted and `on_done` with its outcome.

        Raises
        ------
        BatchError
            If ``distributed`` is missing, the scheduler cannot be reached, or
            the workers cannot write the output folder.
        """
        distributed = import_distributed()
        queue = deque(tasks)
        if not queue:
            return
        with self._client(distributed) as client:
            self._check_workers(client, queue[0].out_dir)
            self._loop(distributed, client, queue, on_start, on_done)

    def _loop(self, distributed: Any, client: Any, queue: deque[PageTask],
              on_start: Callable[[PageTask, str | None], None],
              on_done: Callable[[PageTask, TaskOutcome], None]) -> None:
        in_flight: dict[str, tuple[Any, PageTask, float]] = {}
        running_since: dict[str, float] = {}
        last_poll = 0.0
        try:
            while queue or in_flight:
                n_threads = sum(client.nthreads().values()) or 1
                while queue and len(in_flight) < 2 * n_threads:
                    task = queue.popleft()
                    key = f"ecgdigitize-page-{task.key}-{uuid.uuid4().hex[:8]}"
                    on_start(task, None)
                    fut = client.submit(execute, self.work, task, key=key, pure=False)
                    in_flight[key] = (fut, task, time.time())
                try:
                    done = distributed.wait([f for f, _, _ in in_flight.values()],
                                            timeout=self.poll_s, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                for fut in done:
                    entry = in_flight.pop(fut.key, None)
                    running_since.pop(fut.key, None)
                    if entry is not None:
                        on_done(entry[1], self._outcome(distributed, fut, entry[1], entry[2]))
                now = time.monotonic()
                if self.timeout_s and in_flight and now - last_poll >= self.poll_s:
                    last_poll = now
                    self._enforce_timeout(client, in_flight, running_since, on_done)
        finally:
            if in_flight:
                with contextlib.suppress(Exception):
                    client.cancel([f for f, _, _ in in_flight.values()], force=True)

    @staticmethod
    def _outcome(distributed: Any, fut: Any, task: PageTask, submitted: float) -> TaskOutcome:
        if fut.status == "finished":
            try:
                return fut.result()
            except Exception as exc:   # could not be deserialised
                error = one_line(exc, True)
        elif fut.status == "error":
            exc = fut.exception()
            if isinstance(exc, distributed.KilledWorker):
                error = ("the Dask workers running this page kept dying (out of memory, or a "
                         f"crash): {one_line(exc)}")
            else:
                error = f"Dask: {one_line(exc, True)}"
        else:
            error = f"the Dask task ended as {fut.status}"
        return TaskOutcome(task.key, "failed", error,
                           metrics={"started_at": iso_time(submitted), "finished_at": iso_time()})

    def _enforce_timeout(self, client: Any, in_flight: dict[str, tuple[Any, PageTask, float]],
                         running_since: dict[str, float],
                         on_done: Callable[[PageTask, TaskOutcome], None]) -> None:
        assert self.timeout_s is not None
        try:
            executing: dict[str, list[str]] = client.run(_executing)
        except Exception:   # a worker went away meanwhile: try again next time
            return
        now = time.monotonic()
        where = {k: addr for addr, keys in executing.items() for k in keys}
        for key in list(in_flight):
            if key not in where:
                continue
            start = running_since.setdefault(key, now)
            if now - start <= self.timeout_s:
                continue
            fut, task, _ = in_flight.pop(key)
            running_since.pop(key, None)
            addr = where[key]
            with contextlib.suppress(Exception):
                client.cancel([fut], force=True)
            restarted = False
            if executing.get(addr) == [key]:
                try:
                    client.restart_workers([addr], raise_for_error=False)
                    restarted = True
                except Exception:
                    restarted = False
            note = ("the worker was restarted" if restarted
                    else "the task could not be stopped and runs on")
            on_done(task, TaskOutcome(
                task.key, "timeout",
                f"took longer than {self.timeout_s:g} s on Dask worker {addr}; {note}",
                metrics={"worker": addr, "started_at": iso_time(time.time() - (now - start)),
                         "finished_at": iso_time(), "elapsed_s": now - start}))
