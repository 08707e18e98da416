"""``ecgdigitize batch``: digitize many pages, in parallel, resumably.

:func:`run_batch` is the whole command:

1. lock the output folder (``OUT/.batch.lock``: one batch per folder);
2. open the manifest (:mod:`~ecgdigitize.batch.manifest`) and finish what a
   killed run left (see *Outputs* below), then empty ``OUT/.tmp``;
3. expand the inputs (:mod:`~ecgdigitize.batch.inputs`) and plan the run
   (:mod:`~ecgdigitize.batch.plan`): which pages, under which names;
4. run the pages on a local pool of worker processes
   (:mod:`~ecgdigitize.batch.pool`) or a Dask cluster
   (:mod:`~ecgdigitize.batch.distributed`), recording each outcome as it
   comes, with a progress bar;
5. finish a commit cut short by Ctrl-C, empty ``OUT/.tmp`` again and
   export the manifest as CSV.

Outputs appear complete or not at all. A worker writes all the files of a
page into its own folder ``OUT/.tmp/NAME.HOST.PID.TOKEN/``. This process then

a. records the page's results and that folder in the manifest (the row stays
   ``pending``, ``commit_dir`` set);
b. moves each file into ``OUT`` (a rename within one file system: atomic);
c. marks the row ``done`` and clears ``commit_dir`` (one transaction);
d. removes the empty folder.

A run killed during (b) leaves ``commit_dir`` set; the next run moves what is
left in that folder into place and marks the page done (or ``pending`` if a
file is missing). Everything else in ``OUT/.tmp`` is a page that was not
finished: it is deleted, and the page, still ``pending``, is run again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import BatchError, OutputError
from ..progress import Progress
from .inputs import expand_inputs
from .manifest import STATUSES, Manifest, PageRow
from .plan import Plan, plan_run
from .pool import REAL_WORK_MODULES, LocalPool, default_workers
from .worker import (
    TMP_DIRNAME,
    DigitizeOptions,
    PageTask,
    TaskOutcome,
    WorkFunction,
    digitize_page,
)

__all__ = ["BatchSummary", "run_batch", "recover", "LOCK_NAME"]

#: Lock file of an output folder in use.
LOCK_NAME = ".batch.lock"


@dataclass
class BatchSummary:
    """Outcome of a batch run.

    Parameters
    ----------
    out_dir : Path
        Output folder.
    manifest : Path
        The SQLite manifest.
    csv : Path, optional
        The CSV export (None if it could not be written).
    n_pages : int
        Pages of the run's inputs.
    n_skipped : int
        Pages already done, not run again.
    n_run : int
        Pages run (or listed, and failed) in this run.
    counts : dict of str to int
        Final number of the run's pages per status.
    problems : list of PageRow
        The run's pages that are not done, in order.
    interrupted : bool
        The run was stopped (Ctrl-C, SIGTERM) before the end.
    elapsed_s : float
        Wall time of the run in s.
    peak_rss_mb : dict of str to float
        Peak resident memory per worker process (``host:pid``) in MB.
    """

    out_dir: Path
    manifest: Path
    csv: Path | None
    n_pages: int
    n_skipped: int
    n_run: int
    counts: dict[str, int]
    problems: list[PageRow] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def all_done(self) -> bool:
        """True if every page of the run's inputs is done."""
        return self.counts.get("done", 0) == self.n_pages and not self.interrupted

    @property
    def exit_status(self) -> int:
        """0 if every page is done, 130 if interrupted, else 2."""
        if self.interrupted:
            return 130
        return 0 if self.all_done else 2


# --------------------------------------------------------------------------- folder upkeep


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on `out_dir` (released by the system if the process dies)."""
    try:
        import fcntl
    except ImportError:   # not on Windows: no lock
        yield
        return
    path = out_dir / LOCK_NAME
    try:
        fh = open(path, "a+b")   # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise OutputError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BatchError(f"{out_dir} is in use by another ecgdigitize batch (lock "
                             f"{path}); wait for it to finish or choose another folder") \
                from None
        yield
    finally:
        fh.close()


def _clean_tmp(out_dir: Path) -> None:
    """Remove every unfinished page left in ``OUT/.tmp`` (and the folder if empty)."""
    tmp = out_dir / TMP_DIRNAME
    if not tmp.is_dir():
        return
    for entry in tmp.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    with contextlib.suppress(OSError):
        tmp.rmdir()


def _move_outputs(src: Path, out_dir: Path, files: Sequence[str]) -> None:
    for name in files:
        if Path(name).name != name or name.startswith("."):
            raise OutputError(f"refusing output file name {name!r}")
        if (src / name).exists():
            os.replace(src / name, out_dir / name)


def recover(manifest: Manifest, out_dir: str | Path) -> int:
    """Finish the pages a killed run was moving into place; empty ``OUT/.tmp``.

    Returns
    -------
    int
        Number of pages finished (marked done).
    """
    out_dir = Path(out_dir)
    finished = 0
    for row in manifest.in_commit():
        assert row.id is not None
        files = row.output_files
        src = Path(row.commit_dir or "")
        try:
            if src.is_dir():
                _move_outputs(src, out_dir, files)
        except (OSError, OutputError):
            pass
        if files and all((out_dir / f).is_file() for f in files):
            manifest.finish_commit(row.id)
            finished += 1
        else:
            manifest.apply(update=[(row.id, {"commit_dir": None, "status": "pending"})])
    _clean_tmp(out_dir)
    return finished


def _commit(manifest: Manifest, out_dir: Path, outcome: TaskOutcome, settings: str) -> None:
    """Move a page's outputs into place and mark it done (see the module description)."""
    src = Path(outcome.tmp_dir or "")
    manifest.begin_commit(outcome.key, outcome.metrics, outcome.files, str(src), settings)
    _move_outputs(src, out_dir, outcome.files)
    missing = [f for f in outcome.files if not (out_dir / f).is_file()]
    if missing:
        raise OutputError(f"output file {missing[0]} went missing before it was moved into "
                          f"{out_dir}")
    manifest.finish_commit(outcome.key)
    shutil.rmtree(src, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt (main thread only), so both stop cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- the run


def run_batch(inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
              options: DigitizeOptions | None = None, *, workers: int | None = None,
              recursive: bool = False, timeout_s: float | None = 120.0,
              max_memory_mb: float | None = 2048.0, retry_failed: bool = False,
              manifest_path: str | os.PathLike[str] | None = None, scheduler: str | None = None,
              progress: bool = True, stream: IO[str] | None = None,
              work: WorkFunction | None = None) -> BatchSummary:
    """Digitize every page of `inputs` into `out_dir`; resume where a previous run stopped.

    Parameters
    ----------
    inputs : sequence of str or path-like
        Folders, globs, files and ``.txt`` lists of them
        (see :func:`ecgdigitize.batch.inputs.expand_inputs`).
    out_dir : str or path-like
        Output folder (created).
    options : DigitizeOptions, optional
        Digitizer and output options (default: all defaults).
    workers : int, optional
        Local worker processes (default: the CPU cores this process may use); with
        ``scheduler="local"``, the workers of the local Dask cluster.
    recursive : bool
        Descend into sub-folders of input folders.
    timeout_s : float, optional
        Longest time one page may take, in s (None or 0: no limit). Locally
        the worker is stopped; on Dask see :mod:`ecgdigitize.batch.distributed`.
    max_memory_mb : float, optional
        Memory limit of a worker, in MB (None or 0: no limit; see
        :class:`ecgdigitize.batch.pool.LocalPool`).
    retry_failed : bool
        Run again the pages that failed, timed out or ran out of memory.
    manifest_path : str or path-like, optional
        The SQLite manifest (default ``OUT/manifest.sqlite``); its CSV export
        is written beside it, with the suffix ``.csv``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:port``), or ``local`` for a
        local Dask cluster; None for the local process pool.
    progress : bool
        Show a progress bar.
    stream : file, optional
        Where the progress bar goes (default: standard error).
    work : callable, optional
        Work function (default: :func:`ecgdigitize.batch.worker.digitize_page`);
        a picklable ``work(task, folder)`` that writes a page's outputs into
        `folder`. For tests and other uses of the machinery.

    Returns
    -------
    BatchSummary

    Raises
    ------
    OptionError
        If an input yields no file or a list cannot be read.
    OutputError
        If the output folder cannot be written.
    BatchError
        If the folder is in use by another batch, the manifest is unusable, or
        workers cannot be started.

    Notes
    -----
    As with any use of :mod:`multiprocessing`, a script that calls this
    function must do so under ``if __name__ == "__main__":`` (worker processes
    import the main script); otherwise its workers die at start-up and a
    BatchError says so. Ctrl-C or SIGTERM stops the run cleanly: the pages
    being read are left ``pending`` and the summary says ``interrupted``.
    """
    t_start = time.monotonic()
    options = options or DigitizeOptions()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {out} is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    out = out.resolve()
    mpath = Path(manifest_path).resolve() if manifest_path is not None else out / "manifest.sqlite"
    csv_path = mpath.with_suffix(".csv")
    real_work = work is None
    work = work or digitize_page
    settings = options.fingerprint()
    with _locked(out), _sigterm_stops():
        manifest = Manifest(mpath)
        interrupted = False
        plan: Plan | None = None
        executor: Any = None
        csv_written: Path | None = None
        try:
            recover(manifest, out)
            exclude = {out / f for f in manifest.done_outputs()}
            exclude |= {mpath, csv_path, Path(f"{mpath}-wal"), Path(f"{mpath}-shm")}
            files = expand_inputs(inputs, recursive=recursive, exclude=exclude)
            reserved = [csv_path.stem] if csv_path.parent == out else []
            plan = plan_run(manifest, files, out, settings, retry_failed, reserved)
            tasks = [PageTask(r.id, r.input, r.page, r.n_pages, r.name, str(out), options)
                     for r in plan.todo if r.id is not None]
            bar = Progress(len(tasks) + len(plan.list_failed), "batch", stream=stream,
                           enabled=progress, unit="sheets")
            if plan.list_failed:
                bar.skip(len(plan.list_failed), ok=False)
            elif tasks:
                bar.refresh()

            def on_start(task: PageTask, worker: str | None) -> None:
                manifest.mark_started(task.key, worker)

            def on_done(task: PageTask, outcome: TaskOutcome) -> None:
                ok = False
                if outcome.status == "done":
                    try:
                        _commit(manifest, out, outcome, settings)
                        ok = True
                    except (OSError, OutputError) as exc:
                        msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                        manifest.record_failure(task.key, "failed", f"cannot move the outputs "
                                                f"into {out}: {msg}", outcome.metrics)
                else:
                    manifest.record_failure(task.key, outcome.status,
                                            outcome.error or outcome.status, outcome.metrics)
                bar.update(ok=ok)

            if tasks:
                if scheduler:
                    from .distributed import DaskExecutor

                    executor = DaskExecutor(scheduler, work, timeout_s=timeout_s,
                                            workers=workers, max_memory_mb=max_memory_mb)
                else:
                    executor = LocalPool(workers or default_workers(), work,
                                         timeout_s=timeout_s, max_memory_mb=max_memory_mb,
                                         preload=REAL_WORK_MODULES if real_work else ())
                try:
                    executor.run(tasks, on_start, on_done)
                except KeyboardInterrupt:
                    interrupted = True
                finally:
                    bar.close()
        finally:
            # A commit cut short (Ctrl-C in the middle of moving files) is finished here.
            with contextlib.suppress(OSError):
                recover(manifest, out)
            try:
                csv_written = manifest.export_csv(csv_path)
            except OutputError:
                csv_written = None
            summary = _summary(manifest, plan, out, mpath, csv_written, interrupted,
                               time.monotonic() - t_start)
            manifest.close()
    return summary


def _summary(manifest: Manifest, plan: Plan | None, out: Path, mpath: Path,
             csv_path: Path | None, interrupted: bool, elapsed_s: float) -> BatchSummary:
    if plan is None:
        return BatchSummary(out, mpath, csv_path, 0, 0, 0, manifest.counts([]),
                            interrupted=interrupted, elapsed_s=elapsed_s)
    rows = manifest.rows(plan.page_ids)
    counts = dict.fromkeys(STATUSES, 0)
    for r in rows:
        counts[r.status] += 1
    ran = {r.id for r in plan.todo}
    peaks: dict[str, float] = {}
    for r in rows:
        if r.id in ran and r.worker and r.peak_rss_mb is not None:
            peaks[r.worker] = max(peaks.get(r.worker, 0.0), float(r.peak_rss_mb))
    return BatchSummary(out, mpath, csv_path, len(rows), len(plan.skipped),
                        len(plan.todo) + len(plan.list_failed), counts,
                        [r for r in rows if r.status != "done"], interrupted, elapsed_s, peaks)
