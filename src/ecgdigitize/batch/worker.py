"""One unit of batch work: one page of one input file.

:func:`execute` runs a *work function* on a :class:`PageTask` and turns
whatever happens into a :class:`TaskOutcome`: never an exception, so one bad
page cannot stop a batch. It gives the work function a private, empty folder
``OUT/.tmp/NAME.HOST.PID.TOKEN/`` to write the page's outputs into; the
process that owns the manifest then moves them into ``OUT``
(see :mod:`ecgdigitize.batch.runner`), so the outputs of a page appear
complete or not at all.

:func:`digitize_page` is the work function of ``ecgdigitize batch``: read the
page, digitize it, write its outputs. The runner takes any other function of
the same signature (tests use ones that sleep, allocate or crash).

Both run in a worker process: a process of the local pool
(:mod:`ecgdigitize.batch.pool`) or a Dask worker
(:mod:`ecgdigitize.batch.distributed`), so tasks, outcomes and work
functions are picklable (work functions by reference: module-level).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..digitize.gaps import DEFAULT_MAX_GAP_S
from ..digitize.load import DEFAULT_MAX_PIXELS
from ..errors import EcgDigitizeError, OutputError
from ..io.outputs import DEFAULT_FORMATS
from ..io.pages import PDF_DEFAULT_DPI
from .manifest import iso_time

__all__ = ["TMP_DIRNAME", "DigitizeOptions", "PageTask", "TaskOutcome", "WorkFunction",
           "execute", "digitize_page", "warm_up", "single_thread_opencv", "one_line",
           "worker_id"]

#: Folder of ``OUT`` holding the pages being written (removed at the start of a run).
TMP_DIRNAME = ".tmp"
#: Longest error message kept, in characters.
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class DigitizeOptions:
    """Options of the digitizer and the writers, the same for every page.

    Parameters
    ----------
    layout : str
        Layout name, or ``auto``.
    speed_mm_s, gain_mm_mv : float or ``"auto"``
        Paper speed in mm/s and gain in mm/mV, or ``auto``.
    fs : float
        Output sampling rate in Hz.
    dpi : float, optional
        Scan resolution in dpi, used when the grid cannot be measured
        (default: the page's own, see :func:`ecgdigitize.io.pages.page_dpi`).
    pdf_dpi : float
        Resolution PDF pages are rendered at, in dpi.
    formats : tuple of str
        Output formats (see :data:`ecgdigitize.io.outputs.OUTPUT_FORMATS`;
        default :data:`~ecgdigitize.io.outputs.DEFAULT_FORMATS`).
    overlay : bool
        Write ``NAME_overlay.png``.
    layouts_extra : dict, optional
        User layouts (from :func:`ecgdigitize.layouts.load_layouts`).
    max_pixels : int
        Largest page accepted, in px.
    redundancy : str
        Limb-lead filling: ``gaps``, ``all`` or ``none`` (see
        :func:`ecgdigitize.digitize.pipeline.digitize`).
    perspective : bool
        Correct the perspective of photographed sheets.
    dewarp : bool
        Straighten the grid of curled or wrinkled sheets.
    segmenter : str
        ``auto``, ``classical`` or ``learned`` pixel separation (see
        :func:`ecgdigitize.digitize.pipeline.digitize`).
    max_gap_ms : float
        Longest unread stretch of a printed lead bridged, in ms (0: none).
    """

    layout: str = "auto"
    speed_mm_s: float | str = "auto"
    gain_mm_mv: float | str = "auto"
    fs: float = 500.0
    dpi: float | None = None
    pdf_dpi: float = PDF_DEFAULT_DPI
    formats: tuple[str, ...] = DEFAULT_FORMATS
    overlay: bool = True
    layouts_extra: dict[str, Any] | None = field(default=None, hash=False)
    max_pixels: int = DEFAULT_MAX_PIXELS
    redundancy: str = "gaps"
    perspective: bool = True
    dewarp: bool = True
    segmenter: str = "auto"
    max_gap_ms: float = 1000.0 * DEFAULT_MAX_GAP_S

    def fingerprint(self) -> str:
        """A short text that changes when an option changing the outputs changes.

        A page done with other options is done again by a resumed run.
        """
        doc = asdict(self)
        doc["layouts_extra"] = (None if self.layouts_extra is None
                                else sorted((k, repr(v)) for k, v in self.layouts_extra.items()))
        text = json.dumps(doc, sort_keys=True, default=repr)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class PageTask:
    """One page to digitize.

    Parameters
    ----------
    key : int
        Manifest row id of the page.
    input : str
        Input file (absolute path).
    page : int
        0-based page within the file.
    n_pages : int
        Pages in the file.
    name : str
        Output stem.
    out_dir : str
        Output folder.
    options : DigitizeOptions
        Options of the run.
    """

    key: int
    input: str
    page: int
    n_pages: int
    name: str
    out_dir: str
    options: DigitizeOptions = field(default_factory=DigitizeOptions)

    @property
    def label(self) -> str:
        """How messages name the page: ``FILE`` or ``FILE page N`` (1-based)."""
        return self.input if self.n_pages <= 1 else f"{self.input} page {self.page + 1}"


@dataclass
class TaskOutcome:
    """What became of a page.

    Parameters
    ----------
    key : int
        Manifest row id of the page.
    status : str
        ``done``, ``failed``, ``timeout`` or ``oom``.
    error : str, optional
        One-line reason when not done.
    tmp_dir : str, optional
        Folder holding the outputs, when done.
    files : list of str
        Names of the output files in `tmp_dir`.
    metrics : dict
        Manifest columns: detected settings, ``timings_json``, ``elapsed_s``
        (s), ``worker`` (``host:pid``), ``started_at``, ``finished_at``,
        ``peak_rss_mb`` (peak resident memory of the worker process so far, MB).
    fatal : bool
        The worker process should not be used again (after a MemoryError).
    """

    key: int
    status: str
    error: str | None = None
    tmp_dir: str | None = None
    files: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    fatal: bool = False


#: A work function: writes the outputs of one page into the folder it is given and
#: returns the page's manifest metrics (see :func:`digitize_page`), or None.
WorkFunction = Callable[[PageTask, Path], "dict[str, Any] | None"]


def worker_id() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def one_line(exc: BaseException, with_type: bool = False) -> str:
    """An exception as one line of at most :data:`MAX_ERROR_CHARS` characters.

    Parameters
    ----------
    exc : BaseException
        The exception.
    with_type : bool
        Prefix the class name and add where it was raised (``file:line``), for
        exceptions that are not ecgdigitize's own.
    """
    msg = " ".join(str(exc).split())
    if with_type:
        where = ""
        tb = traceback.extract_tb(exc.__traceback__)
        if tb:
            where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})"
        msg = f"{type(exc).__name__}: {msg}{where}" if msg else f"{type(exc).__name__}{where}"
    if len(msg) > MAX_ERROR_CHARS:
        msg = msg[:MAX_ERROR_CHARS - 3] + "..."
    return msg or type(exc).__name__


def _looks_like_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and exc.errno == 12:   # ENOMEM
        return True
    text = str(exc).lower()
    # OpenCV reports a failed allocation as cv2.error.
    return type(exc).__name__ == "error" and ("insufficient memory" in text
                                              or "failed to allocate" in text)


def _metrics(info: dict[str, Any] | None, t0: float, wall0: float) -> dict[str, Any]:
    info = dict(info or {})
    timings = info.pop("timings_s", None)
    out = {k: info[k] for k in ("layout", "speed_mm_s", "gain_mm_mv", "px_per_mm",
                                "mean_quality", "n_warnings") if k in info}
    if timings is not None:
        out["timings_json"] = json.dumps({k: round(float(v), 4) for k, v in timings.items()})
    out.update(elapsed_s=time.perf_counter() - t0, worker=worker_id(),
               started_at=iso_time(wall0), finished_at=iso_time(), peak_rss_mb=peak_rss_mb())
    return out


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, in MB (None where unknown)."""
    try:
        import resource
    except ImportError:   # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10   # bytes / KiB


def execute(work: WorkFunction, task: PageTask) -> TaskOutcome:
    """Run `work` on one page; never raises for a problem of the page.

    Parameters
    ----------
    work : callable
        ``work(task, folder)`` writes the page's outputs into `folder` (an
        empty folder of its own) and returns its metrics (or None).
    task : PageTask
        The page.

    Returns
    -------
    TaskOutcome
        ``done`` with the folder and the names of the files written;
        ``failed`` with the one-line message of an
        :class:`~ecgdigitize.errors.EcgDigitizeError`, or the type, message
        and place of any other exception; ``oom`` after a MemoryError (the
        process should then be replaced: `fatal` is True).
    """
    t0, wall0 = time.perf_counter(), time.time()
    token = secrets.token_hex(3)
    tmp = Path(task.out_dir) / TMP_DIRNAME / f"{task.name}.{socket.gethostname()}.{os.getpid()}" \
        f".{token}"
    status, error, fatal = "done", None, False
    info: dict[str, Any] | None = None
    files: list[str] = []
    try:
        try:
            tmp.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"cannot create {tmp}: {exc.strerror or exc}") from None
        info = work(task, tmp)
        files = sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))
        if not files:
            raise OutputError("no output file was written")
    except EcgDigitizeError as exc:
        status, error = "failed", one_line(exc)
    except Exception as exc:   # a bug or a library's error: recorded, the batch goes on
        if _looks_like_oom(exc):
            status, error, fatal = "oom", f"out of memory ({one_line(exc, True)})", True
        else:
            status, error = "failed", one_line(exc, True)
    if status != "done":
        shutil.rmtree(tmp, ignore_errors=True)
        files = []
    return TaskOutcome(task.key, status, error, str(tmp) if status == "done" else None, files,
                       _metrics(info, t0, wall0), fatal)


# --------------------------------------------------------------------------- the real work


def warm_up() -> None:
    """Import the digitizer and build its per-process caches, ahead of the first page.

    Best effort: the caches are an implementation detail of the digitizer
    (today the lead-name template banks); nothing fails if they change.
    """
    import importlib

    for module, func in (("ecgdigitize.digitize.settings_text", "_coarse_bank"),
                         ("ecgdigitize.digitize.labels", "_templates")):
        try:
            getattr(importlib.import_module(module), func)()
        except Exception:   # a missing cache only costs time later
            pass

_THREADS_SET = False


def single_thread_opencv() -> None:
    """Keep OpenCV to one thread (once per process): a batch runs one page per core."""
    global _THREADS_SET
    if not _THREADS_SET:
        import cv2

        cv2.setNumThreads(1)
        _THREADS_SET = True


def digitize_page(task: PageTask, folder: Path) -> dict[str, Any]:
    """Read one page, digitize it and write its outputs into `folder`.

    Parameters
    ----------
    task : PageTask
        The page and the options.
    folder : Path
        Where to write ``NAME.hea``/``.dat``, ``NAME.csv``, ``NAME.json`` and
        ``NAME_overlay.png`` (those asked for).

    Returns
    -------
    dict
        ``layout``, ``speed_mm_s``, ``gain_mm_mv``, ``px_per_mm``,
        ``mean_quality``, ``n_warnings`` and ``timings_s`` (stage -> s:
        ``load_page``, the digitizer's stages, ``digitize`` for all of
        them, ``write``).

    Raises
    ------
    EcgDigitizeError
        If the page cannot be read (ImageError), is not an ECG
        (NotAnEcgError) or its outputs cannot be written (OutputError, also
        when ``OUT/NAME.json`` is a ground-truth sidecar of ``synth``).
    """
    from ..digitize.pipeline import digitize
    from ..io.outputs import mean_quality, refuse_groundtruth, write_outputs
    from ..io.pages import PageRef, load_page, page_dpi

    single_thread_opencv()
    opts = task.options
    if "json" in opts.formats:
        refuse_groundtruth(Path(task.out_dir) / f"{task.name}.json")
    t = time.perf_counter()
    ref = PageRef(Path(task.input), task.page, task.n_pages)
    image = load_page(ref, dpi=opts.pdf_dpi, max_pixels=opts.max_pixels)
    dpi = opts.dpi if opts.dpi is not None else page_dpi(ref, opts.pdf_dpi)
    t_load = time.perf_counter() - t
    result = digitize(image, layout=opts.layout, speed_mm_s=opts.speed_mm_s,
                      gain_mm_mv=opts.gain_mm_mv, fs=opts.fs, layouts_extra=opts.layouts_extra,
                      dpi=dpi, max_pixels=opts.max_pixels, redundancy=opts.redundancy,
                      perspective=opts.perspective, dewarp=opts.dewarp,
                      segmenter=opts.segmenter, max_gap_ms=opts.max_gap_ms)
    result.source = ref.label
    t = time.perf_counter()
    write_outputs(result, folder, task.name, opts.formats, image=image, overlay=opts.overlay)
    t_write = time.perf_counter() - t
    stages = {k: float(v) for k, v in result.timings_s.items() if k != "total"}
    total = float(result.timings_s.get("total", sum(stages.values())))
    d = result.detected
    scales = [float(v) for v in (d.px_per_mm_x, d.px_per_mm_y) if math.isfinite(float(v))]
    return {
        "layout": d.layout,
        "speed_mm_s": float(d.speed_mm_s),
        "gain_mm_mv": float(d.gain_mm_mv),
        "px_per_mm": sum(scales) / len(scales) if scales else None,
        "mean_quality": mean_quality(result),
        "n_warnings": len(result.warnings),
        "timings_s": {"load_page": t_load, **stages, "digitize": total, "write": t_write},
    }
