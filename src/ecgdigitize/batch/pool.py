"""A small pool of worker processes that can stop one hung or bloated page.

:class:`concurrent.futures.ProcessPoolExecutor` cannot stop one task: a page
that hangs would hold its worker for ever, and a worker that dies breaks the
whole executor. This pool keeps, for each worker process, its own pipe, the
page it holds and when it got it. The parent process (the only one that
writes the manifest) then:

- stops a worker whose page has run longer than the time limit
  (``timeout``), or whose resident memory exceeds the limit (``oom``), and
  starts a new one;
- notices a worker that died (a crash in a library, ``os._exit``, the
  system's out-of-memory killer) and records its page as ``failed`` (or
  ``oom`` for a SIGKILL it did not send);
- gives pages out one at a time, so a slow page never holds others back.

Each worker, once started, also limits its own address space
(``RLIMIT_AS``) to its size after start-up plus the memory limit, so a single
oversized allocation fails at once with a MemoryError (recorded as ``oom``)
instead of pushing the machine into swap; the worker is then replaced.

Workers are forked from a ``forkserver`` process (``spawn`` where there is
none) that has imported the digitizer and built its caches once
(:mod:`ecgdigitize.batch._preload`): nothing is inherited from the batch
process itself, and a new or replacement worker is ready in milliseconds
instead of seconds. Workers ignore Ctrl-C (the parent stops them) and die
with their parent (Linux ``PR_SET_PDEATHSIG``; the fork server exits when
the batch process does; and a check of the batch process when idle), so a
killed batch leaves no stray workers.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from ..errors import BatchError
from .manifest import iso_time
from .worker import PageTask, TaskOutcome, WorkFunction, execute

__all__ = ["LocalPool", "default_workers", "rss_mb", "REAL_WORK_MODULES"]

#: Modules a worker of the real digitizer imports before it limits its memory.
REAL_WORK_MODULES: tuple[str, ...] = ("ecgdigitize.digitize.pipeline", "ecgdigitize.io.outputs",
                                      "ecgdigitize.io.pages", "ecgdigitize.digitize.overlay",
                                      "ecgdigitize.batch._preload")
#: How long a new worker may take to start, in s.
START_TIMEOUT_S = 180.0
#: Workers in a row that may die before they are ready before the run gives up.
MAX_START_FAILURES = 5
#: Thread-count variables set to 1 for the workers (one page per core), unless set.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _statm_mb(pid: int | str, field: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[field]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


def default_workers() -> int:
    """Number of CPU cores this process may run on (at least 1)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):   # not on macOS or Windows
        return os.cpu_count() or 1


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (None if it cannot be read)."""
    value = _statm_mb(pid, 1)
    if value is not None:
        return value
    try:
        import psutil
    except ImportError:
        return None
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:   # gone, or not allowed
        return None


# --------------------------------------------------------------------------- worker side


def _die_with_parent() -> int:
    """Have the system kill this process when its parent process dies (Linux).

    The parent is the batch process (spawn) or the fork server, which exits
    when the batch process does. Returns the parent's pid.
    """
    ppid = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != ppid:   # the parent died before prctl
        os._exit(1)
    return ppid


def _orphaned(ppid: int, batch_pid: int) -> bool:
    if os.getppid() != ppid:
        return True
    try:
        os.kill(batch_pid, 0)
    except ProcessLookupError:
        return True
    except OSError:   # exists, not ours to signal
        pass
    return False


def _limit_address_space(max_memory_mb: float | None) -> None:
    if not max_memory_mb:
        return
    try:
        import resource
    except ImportError:   # not on Windows
        return
    vm = _statm_mb("self", 0)
    if vm is None:
        return
    limit = int((vm + max_memory_mb) * 2**20)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _worker_main(conn: Connection, work: WorkFunction, preload: Sequence[str],
                 max_memory_mb: float | None, parent_pid: int) -> None:
    """Body of a worker process: take pages from `conn` until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ppid = _die_with_parent()
    for name in preload:
        importlib.import_module(name)
    _limit_address_space(max_memory_mb)
    from .worker import worker_id

    try:
        conn.send(("ready", worker_id()))
    except OSError:
        return
    while True:
        if not conn.poll(1.0):
            if _orphaned(ppid, parent_pid):
                return
            continue
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        outcome = execute(work, task)
        try:
            conn.send(("done", outcome))
        except OSError:   # the batch process is gone; its next run redoes the page
            return
        if outcome.fatal:
            return


# --------------------------------------------------------------------------- parent side


@dataclass
class _Slot:
    """A worker process and the page it holds."""

    proc: BaseProcess
    conn: Connection
    spawned: float
    ready: bool = False
    worker: str = ""
    task: PageTask | None = None
    t0: float = 0.0
    wall0: float = 0.0
    killed: bool = False
    counted: bool = False
    retiring: bool = False   # it exits after its last page (after a MemoryError)


@contextlib.contextmanager
def _single_threaded_env() -> Iterator[None]:
    """Set the thread-count variables to 1 while a worker is started (unless set)."""
    added = [v for v in _THREAD_VARS if v not in os.environ]
    for v in added:
        os.environ[v] = "1"
    try:
        yield
    finally:
        for v in added:
            os.environ.pop(v, None)


def _death_reason(code: int | None) -> tuple[str, str]:
    """Status and message for a worker that died on its own with exit `code`."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL:
            return "oom", ("the worker process was killed by SIGKILL, most likely by the "
                           "system for lack of memory")
        return "failed", f"the worker process died of {name}"
    return "failed", f"the worker process died with exit code {code}"


class LocalPool:
    """Run pages on local worker processes, with a time and a memory limit per page.

    Parameters
    ----------
    workers : int
        Number of worker processes (at least 1).
    work : callable
        The work function (see :func:`ecgdigitize.batch.worker.execute`);
        must be picklable (a module-level function).
    timeout_s : float, optional
        Longest time a page may take, in s (None or 0: no limit).
    max_memory_mb : float, optional
        Largest resident memory of a worker while it holds a page, in MB, and
        the most its address space may grow after start-up (None or 0: no
        limit).
    preload : sequence of str
        Modules each worker imports before taking pages (and before its
        address space is limited); the fork server imports them too, if this
        pool is the first to start it in this process.
    poll_s : float
        Longest wait between two checks of the limits, in s.
    """

    def __init__(self, workers: int, work: WorkFunction, *, timeout_s: float | None = None,
                 max_memory_mb: float | None = None, preload: Sequence[str] = (),
                 poll_s: float = 0.2) -> None:
        if workers < 1:
            raise BatchError(f"number of workers must be at least 1, got {workers}")
        self.workers = int(workers)
        self.work = work
        self.timeout_s = timeout_s or None
        self.max_memory_mb = max_memory_mb or None
        self.preload = tuple(preload)
        self.poll_s = poll_s
        if "forkserver" in mp.get_all_start_methods():
            # Workers are forked from a server process that has imported (and warmed)
            # the digitizer once: a new or replacement worker is ready in milliseconds.
            self._ctx = mp.get_context("forkserver")
            self._ctx.set_forkserver_preload(["ecgdigitize.batch.pool", *self.preload])
        else:
            self._ctx = mp.get_context("spawn")

    # ------------------------------------------------------------------ processes

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, name="ecgdigitize-batch-worker",
                                 args=(child, self.work, self.preload, self.max_memory_mb,
                                       os.getpid()), daemon=True)
        with _single_threaded_env():
            proc.start()
        child.close()
        return _Slot(proc, parent, time.monotonic())

    @staticmethod
    def _kill(slot: _Slot) -> None:
        slot.killed = True
        with contextlib.suppress(OSError):
            slot.proc.kill()
        slot.proc.join(5.0)
        slot.conn.close()

    def _stop_all(self, slots: list[_Slot]) -> None:
        for s in slots:
            if s.proc.is_alive() and s.task is None and not s.killed:
                with contextlib.suppress(OSError, ValueError):
                    s.conn.send(None)
            elif s.proc.is_alive():
                with contextlib.suppress(OSError):
                    s.proc.kill()
        deadline = time.monotonic() + 5.0
        for s in slots:
            s.proc.join(max(0.0, deadline - time.monotonic()))
            if s.proc.is_alive():
                with contextlib.suppress(OSError):
                    s.proc.kill()
                s.proc.join(2.0)
            with contextlib.suppress(OSError):
                s.conn.close()

    # ------------------------------------------------------------------ outcomes

    def _parent_outcome(self, slot: _Slot, status: str, error: str) -> TaskOutcome:
        assert slot.task is not None
        metrics = {"elapsed_s": time.monotonic() - slot.t0, "worker": slot.worker or None,
                   "started_at": iso_time(slot.wall0), "finished_at": iso_time()}
        return TaskOutcome(slot.task.key, status, error, metrics=metrics)

    @staticmethod
    def _drain(slot: _Slot, on_done: Callable[[PageTask, TaskOutcome], None]) -> bool:
        """Read every message of a worker; False if its pipe is broken."""
        messages, ok = [], True
        try:
            while not slot.conn.closed and slot.conn.poll():
                messages.append(slot.conn.recv())
        except Exception:   # EOF, or a message cut short by a killed worker
            ok = False
        for kind, value in messages:
            if kind == "ready":
                slot.ready, slot.worker = True, value
            elif kind == "done" and slot.task is not None and value.key == slot.task.key:
                task, slot.task = slot.task, None
                slot.retiring = slot.retiring or bool(value.fatal)
                on_done(task, value)
        return ok

    # ------------------------------------------------------------------ main loop

    def run(self, tasks: Iterable[PageTask], on_start: Callable[[PageTask, str | None], None],
            on_done: Callable[[PageTask, TaskOutcome], None]) -> None:
        """Run every task; call `on_start` when a page is handed out and `on_done` with its outcome.

        Both callbacks run in this process, one at a time. On an exception
        (Ctrl-C included) the workers are stopped at once, their pages left
        without an outcome, and the exception propagates.

        Raises
        ------
        BatchError
            If worker processes keep dying before they are ready.
        """
        queue = deque(tasks)
        slots: list[_Slot] = []
        start_failures = 0
        try:
            slots = [self._spawn() for _ in range(min(self.workers, len(queue)))]
            while queue or any(s.task is not None for s in slots):
                for s in slots:
                    if s.ready and s.task is None and queue and not (s.killed or s.retiring):
                        task = queue.popleft()
                        s.task, s.t0, s.wall0 = task, time.monotonic(), time.time()
                        on_start(task, s.worker)
                        with contextlib.suppress(OSError, ValueError):
                            s.conn.send(task)
                waitables: list = []
                for s in slots:
                    if not s.conn.closed:
                        waitables.append(s.conn)
                    waitables.append(s.proc.sentinel)
                wait(waitables, self.poll_s)
                replace: list[_Slot] = []
                for s in slots:
                    ok = self._drain(s, on_done)
                    if ok and s.proc.is_alive():
                        continue
                    # Dead, or its pipe is broken (whatever it sent before is read): let it
                    # end on its own (its exit code reaches a fork server's client late).
                    s.proc.join(2.0)
                    if s.proc.is_alive():
                        self._kill(s)
                    if s.task is not None:
                        if s.killed:
                            status, msg = "failed", "the worker process stopped answering"
                        else:
                            status, msg = _death_reason(s.proc.exitcode)
                        task = s.task
                        on_done(task, self._parent_outcome(s, status, msg))
                        s.task = None
                    elif not s.ready and not s.killed and not s.retiring:
                        start_failures += 1
                        if start_failures >= MAX_START_FAILURES:
                            raise BatchError(
                                f"worker processes die before they are ready (last exit code "
                                f"{s.proc.exitcode}); see the messages above")
                    replace.append(s)
                now = time.monotonic()
                for s in slots:
                    if s in replace:
                        continue
                    if s.retiring and s.task is None:   # done with; it would exit anyway
                        self._kill(s)
                        replace.append(s)
                        continue
                    if s.ready and not s.counted:
                        start_failures, s.counted = 0, True
                    elif not s.ready and now - s.spawned > START_TIMEOUT_S:
                        self._kill(s)
                        start_failures += 1
                        replace.append(s)
                        continue
                    if s.task is None:
                        continue
                    if self.timeout_s and now - s.t0 > self.timeout_s:
                        outcome = self._parent_outcome(
                            s, "timeout", f"took longer than {self.timeout_s:g} s; the worker "
                            "was stopped")
                        self._kill(s)
                        task, s.task = s.task, None
                        on_done(task, outcome)
                        replace.append(s)
                        continue
                    rss = rss_mb(s.proc.pid) if self.max_memory_mb and s.proc.pid else None
                    if rss is not None and rss > self.max_memory_mb:
                        outcome = self._parent_outcome(
                            s, "oom", f"used {rss:.0f} MB of memory, over the limit of "
                            f"{self.max_memory_mb:g} MB; the worker was stopped")
                        outcome.metrics["peak_rss_mb"] = rss
                        self._kill(s)
                        task, s.task = s.task, None
                        on_done(task, outcome)
                        replace.append(s)
                for s in replace:
                    slots.remove(s)
                    with contextlib.suppress(OSError):
                        s.conn.close()
                busy = sum(1 for s in slots if s.task is not None)
                want = min(self.workers, busy + len(queue))
                while len(slots) < want:
                    slots.append(self._spawn())
        finally:
            self._stop_all(slots)
