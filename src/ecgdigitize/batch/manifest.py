"""The manifest of a batch run: one SQLite row per page, and its CSV export.

The manifest (``OUT/manifest.sqlite`` by default) is written by one process
only, the one running the batch, in WAL mode: every change is one short
transaction, so a run killed at any moment leaves it consistent, and readers
(``sqlite3 OUT/manifest.sqlite``, a progress monitor) may look at it while
the batch runs.

Table ``pages``, one row per page of every input file ever given:

============== ======= =====================================================
column         type    meaning
============== ======= =====================================================
id             integer row id (the task key)
input          text    absolute path of the input file
page           integer 0-based page within the file
n_pages        integer pages in the file (0: the file could not be listed)
name           text    output stem: the outputs are ``OUT/NAME.*``; unique,
                       case-insensitively
renamed_from   text    the plain name, when a collision forced a suffix
status         text    ``pending``, ``done``, ``failed``, ``timeout``, ``oom``
error          text    one-line reason of the last failure
settings       text    fingerprint of the options the outputs were made with
input_size     integer size of the input file in bytes, when it was listed
input_mtime_ns integer its modification time in ns, when it was listed
layout         text    detected layout
speed_mm_s     real    detected paper speed in mm/s
gain_mm_mv     real    detected gain in mm/mV
px_per_mm      real    detected scale in px/mm (mean of both axes)
mean_quality   real    mean per-lead quality in [0, 1]
n_warnings     integer number of warnings of the digitizer
timings_json   text    JSON object: stage -> wall time in s
elapsed_s      real    wall time of the whole page in s (load, digitize, write)
worker         text    ``host:pid`` of the process that ran the last attempt
started_at     text    start of the last attempt, ISO 8601 UTC
finished_at    text    end of the last attempt, ISO 8601 UTC
peak_rss_mb    real    peak resident memory of the worker process up to the
                       end of the page, in MB
attempts       integer number of attempts
outputs        text    JSON list of the output file names (in ``OUT``)
commit_dir     text    set only while the outputs are moved into place
============== ======= =====================================================

Table ``meta`` holds ``schema_version`` and the last run's options.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import BatchError
from ..io.atomic import write_text_atomic

__all__ = ["STATUSES", "FAILED_STATUSES", "SCHEMA_VERSION", "PageRow", "Manifest", "iso_time",
           "file_stat"]

#: Every status a page can have.
STATUSES: tuple[str, ...] = ("pending", "done", "failed", "timeout", "oom")
#: Statuses of a page that did not succeed; retried only with ``--retry-failed``.
FAILED_STATUSES: tuple[str, ...] = ("failed", "timeout", "oom")
#: Version of the table layout; a manifest of another version is refused.
SCHEMA_VERSION = "1"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY,
    input TEXT NOT NULL,
    page INTEGER NOT NULL,
    n_pages INTEGER NOT NULL,
    name TEXT NOT NULL,
    renamed_from TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    error TEXT,
    settings TEXT,
    input_size INTEGER,
    input_mtime_ns INTEGER,
    layout TEXT,
    speed_mm_s REAL,
    gain_mm_mv REAL,
    px_per_mm REAL,
    mean_quality REAL,
    n_warnings INTEGER,
    timings_json TEXT,
    elapsed_s REAL,
    worker TEXT,
    started_at TEXT,
    finished_at TEXT,
    peak_rss_mb REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    outputs TEXT,
    commit_dir TEXT,
    UNIQUE (input, page)
);
CREATE UNIQUE INDEX IF NOT EXISTS pages_name ON pages (name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS pages_status ON pages (status);
"""


def iso_time(t: float | None = None) -> str:
    """A Unix time in s (default: now) as ISO 8601 UTC with milliseconds."""
    t = time.time() if t is None else t
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class PageRow:
    """One row of the ``pages`` table (see the module description)."""

    id: int | None
    input: str
    page: int
    n_pages: int
    name: str
    renamed_from: str | None = None
    status: str = "pending"
    error: str | None = None
    settings: str | None = None
    input_size: int | None = None
    input_mtime_ns: int | None = None
    layout: str | None = None
    speed_mm_s: float | None = None
    gain_mm_mv: float | None = None
    px_per_mm: float | None = None
    mean_quality: float | None = None
    n_warnings: int | None = None
    timings_json: str | None = None
    elapsed_s: float | None = None
    worker: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    peak_rss_mb: float | None = None
    attempts: int = 0
    outputs: str | None = None
    commit_dir: str | None = None

    @property
    def output_files(self) -> list[str]:
        """The output file names recorded for the page (empty when none)."""
        return list(json.loads(self.outputs)) if self.outputs else []

    @property
    def label(self) -> str:
        """How messages name the page: ``FILE`` or ``FILE page N`` (1-based)."""
        return self.input if self.n_pages <= 1 else f"{self.input} page {self.page + 1}"


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PageRow))
#: Result columns a worker fills in (see :meth:`Manifest.begin_commit`).
METRIC_COLUMNS: tuple[str, ...] = ("layout", "speed_mm_s", "gain_mm_mv", "px_per_mm",
                                   "mean_quality", "n_warnings", "timings_json", "elapsed_s",
                                   "worker", "started_at", "finished_at", "peak_rss_mb")


def _clean(value: Any) -> Any:
    """SQLite-ready value: non-finite floats become NULL."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Manifest:
    """The SQLite manifest of a batch run.

    Parameters
    ----------
    path : str or Path
        Database file (created, with its folder, if needed).

    Raises
    ------
    BatchError
        If the file is not an SQLite database or holds a manifest of another
        schema version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (see _tx).
            self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a killed process never loses a commit; a power cut may lose
            # the last ones, which then run again.
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._tx():
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                row = self._db.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                     (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    raise BatchError(f"{self.path}: manifest of schema version {row[0]}, this "
                                     f"version of ecgdigitize writes {SCHEMA_VERSION}; use "
                                     "another --manifest or output folder")
        except sqlite3.DatabaseError as exc:
            raise BatchError(f"{self.path}: not a usable manifest ({exc})") from None

    # ------------------------------------------------------------------ plumbing

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _tx(self) -> Manifest._Tx:
        """A write transaction: committed on success, rolled back on an exception."""
        return Manifest._Tx(self._db)

    def close(self) -> None:
        """Close the database (checkpointing the WAL into the main file)."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:
            pass
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _row(r: sqlite3.Row) -> PageRow:
        return PageRow(**{k: r[k] for k in COLUMNS})

    def _update(self, row_id: int, values: dict[str, Any]) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        self._db.execute(f"UPDATE pages SET {cols} WHERE id = ?",
                         [_clean(v) for v in values.values()] + [row_id])

    # ------------------------------------------------------------------ reading

    def rows(self, ids: Iterable[int] | None = None) -> list[PageRow]:
        """Rows, all or those of `ids`, ordered by input and page."""
        cur = self._db.execute("SELECT * FROM pages ORDER BY input, page")
        out = [self._row(r) for r in cur]
        if ids is not None:
            wanted = set(ids)
            out = [r for r in out if r.id in wanted]
        return out

    def get(self, row_id: int) -> PageRow:
        """The row `row_id`."""
        r = self._db.execute("SELECT * FROM pages WHERE id = ?", (row_id,)).fetchone()
        if r is None:
            raise KeyError(row_id)
        return self._row(r)

    def rows_by_input(self) -> dict[str, list[PageRow]]:
        """Rows grouped by input path, each group ordered by page."""
        groups: dict[str, list[PageRow]] = {}
        for row in self.rows():
            groups.setdefault(row.input, []).append(row)
        return groups

    def names(self) -> dict[str, str]:
        """Case-folded output name -> input path, for every row."""
        return {r[0].casefold(): r[1] for r in self._db.execute("SELECT name, input FROM pages")}

    def done_outputs(self) -> set[str]:
        """File names (in the output folder) of every page marked done."""
        out: set[str] = set()
        for (text,) in self._db.execute("SELECT outputs FROM pages WHERE status = 'done'"):
            if text:
                out.update(json.loads(text))
        return out

    def in_commit(self) -> list[PageRow]:
        """Rows whose outputs were being moved into place when a run stopped."""
        cur = self._db.execute("SELECT * FROM pages WHERE commit_dir IS NOT NULL")
        return [self._row(r) for r in cur]

    def counts(self, ids: Iterable[int] | None = None) -> dict[str, int]:
        """Number of rows per status (all rows, or those of `ids`)."""
        out = dict.fromkeys(STATUSES, 0)
        for row in self.rows(ids):
            out[row.status] += 1
        return out

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table."""
        r = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if r is None else str(r[0])

    # ------------------------------------------------------------------ writing

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the ``meta`` table."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def apply(self, insert: Sequence[PageRow] = (), update: Sequence[tuple[int, dict]] = (),
              delete: Sequence[int] = ()) -> list[int]:
        """Insert, update and delete rows in one transaction.

        Parameters
        ----------
        insert : sequence of PageRow
            New rows (their ``id`` is ignored).
        update : sequence of (int, dict)
            Row id and the columns to set.
        delete : sequence of int
            Row ids to delete.

        Returns
        -------
        list of int
            Ids of the inserted rows, in order.
        """
        ids = []
        with self._tx() as db:
            for row_id in delete:
                db.execute("DELETE FROM pages WHERE id = ?", (row_id,))
            for row_id, values in update:
                self._update(row_id, values)
            cols = [c for c in COLUMNS if c != "id"]
            sql = (f"INSERT INTO pages ({', '.join(cols)}) "
                   f"VALUES ({', '.join('?' for _ in cols)})")
            for row in insert:
                cur = db.execute(sql, [_clean(getattr(row, c)) for c in cols])
                ids.append(int(cur.lastrowid))
        return ids

    def mark_started(self, row_id: int, worker: str | None = None) -> None:
        """A new attempt of a page begins: back to ``pending``, one more attempt."""
        with self._tx() as db:
            db.execute("UPDATE pages SET status = 'pending', error = NULL, attempts = attempts + 1,"
                       " started_at = ?, finished_at = NULL, worker = ? WHERE id = ?",
                       (iso_time(), worker, row_id))

    def begin_commit(self, row_id: int, metrics: dict[str, Any], outputs: Sequence[str],
                     commit_dir: str, settings: str) -> None:
        """Record a page's results and the folder its outputs are being moved from.

        The row stays ``pending`` until :meth:`finish_commit`; a run that stops
        in between is finished by the next one (see ``commit_dir``).
        """
        values = {k: metrics.get(k) for k in METRIC_COLUMNS}
        values.update(outputs=json.dumps(list(outputs)), commit_dir=commit_dir,
                      settings=settings, error=None)
        with self._tx():
            self._update(row_id, values)

    def finish_commit(self, row_id: int) -> None:
        """Every output of the page is in place: mark it done."""
        with self._tx() as db:
            db.execute("UPDATE pages SET status = 'done', commit_dir = NULL WHERE id = ?",
                       (row_id,))

    def record_failure(self, row_id: int, status: str, error: str,
                       metrics: dict[str, Any] | None = None) -> None:
        """Mark a page failed, timed out or out of memory, with a one-line reason."""
        if status not in FAILED_STATUSES:
            raise ValueError(f"not a failure status: {status!r}")
        values: dict[str, Any] = {k: v for k, v in (metrics or {}).items()
                                  if k in METRIC_COLUMNS}
        values.update(status=status, error=error, commit_dir=None)
        values.setdefault("finished_at", iso_time())
        with self._tx():
            self._update(row_id, values)

    # ------------------------------------------------------------------ export

    def iter_csv(self) -> Iterator[str]:
        """The rows as CSV text, header first, a line at a time."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        cols = [c for c in COLUMNS if c != "commit_dir"]
        writer.writerow(cols)
        for row in self.rows():
            writer.writerow(["" if getattr(row, c) is None else getattr(row, c) for c in cols])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    def export_csv(self, path: str | Path) -> Path:
        """Write every row to a CSV file, atomically.

        The columns are those of the ``pages`` table but ``commit_dir``;
        ``timings_json`` and ``outputs`` hold JSON text.

        Returns
        -------
        Path
            `path`.
        """
        path = Path(path)
        write_text_atomic(path, "".join(self.iter_csv()))
        return path


def file_stat(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(size in bytes, modification time in ns) of a file, or None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)
