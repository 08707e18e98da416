"""Which pages a batch run has to do: listing, naming, resuming.

:func:`plan_run` brings the manifest up to date with the input files and
says which pages to run:

- a file already in the manifest, unchanged since (same size and
  modification time), keeps its rows as they are, without being opened;
- a new or changed file is listed (:func:`ecgdigitize.io.pages.list_pages`,
  which renders nothing): one row per page. A changed file's pages are all
  done again. A file that cannot be listed gets a single ``failed`` row
  (page 0, ``n_pages`` 0) with the reason;
- a page is run when its row is ``pending``, or ``done`` but made with other
  options or missing one of its outputs; a ``failed``, ``timeout`` or ``oom``
  page only with ``retry_failed`` (a file that could not be listed is then
  listed again).

Output names. A page's name is :attr:`ecgdigitize.io.pages.PageRef.name`
(the file stem, ``_p001``... for the pages of a multi-page file). When pages
of different files would get the same name (``a/x.png`` and ``b/x.png``, or
``x.png`` and ``x.jpg``; compared case-insensitively, as some file systems
do), or a name is taken by a page of the manifest or reserved (the CSV
export's), each of those pages gets ``NAME_HHHHHHHH`` instead: the first 8 hex
digits of the SHA-1 of its file's absolute path (more if that is taken too),
and the plain name is kept in ``renamed_from``. A name, once given, is kept by
the manifest, so a resumed run writes to the same files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EcgDigitizeError
from ..io.outputs import output_stem
from .manifest import FAILED_STATUSES, Manifest, PageRow, file_stat
from .worker import one_line

__all__ = ["Plan", "plan_run", "hashed_name"]


@dataclass
class Plan:
    """What a run does.

    Parameters
    ----------
    page_ids : list of int
        Manifest rows of every page of the run's inputs, in order.
    todo : list of PageRow
        Pages to run now, in order.
    skipped : list of int
        Rows already done with the same options, outputs present.
    held : list of int
        Rows that failed before and are not retried.
    list_failed : list of int
        Rows of files that could not be listed in this run.
    """

    page_ids: list[int] = field(default_factory=list)
    todo: list[PageRow] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    list_failed: list[int] = field(default_factory=list)


def hashed_name(name: str, input_path: str, n_hex: int = 8) -> str:
    """`name` with the first `n_hex` hex digits of the SHA-1 of `input_path` appended."""
    digest = hashlib.sha1(input_path.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{name}_{digest[:n_hex]}"


@dataclass
class _NewPage:
    input: str
    page: int
    n_pages: int
    base: str
    stat: tuple[int, int] | None
    error: str | None = None


def _list(path: Path) -> tuple[list[tuple[int, int, str]] | None, str | None]:
    """Pages of a file as (index, count, name), or None and the reason."""
    from ..io.pages import list_pages

    try:
        refs = list_pages(path)
    except EcgDigitizeError as exc:
        return None, one_line(exc)
    except Exception as exc:   # a library's error on a malformed file
        return None, one_line(exc, True)
    return [(r.index, r.count, r.name) for r in refs], None


def _assign_names(pages: list[_NewPage], taken: dict[str, str], reserved: set[str]
                  ) -> list[tuple[str, str | None]]:
    """Name of each new page and its plain name when it had to be changed."""
    inputs_of: dict[str, set[str]] = {}
    for p in pages:
        inputs_of.setdefault(p.base.casefold(), set()).add(p.input)
    names: list[tuple[str, str | None] | None] = [None] * len(pages)
    used = dict(taken)
    clashing = []
    for i, p in enumerate(pages):   # plain names first, so a hashed one never takes one
        cf = p.base.casefold()
        if (len(inputs_of[cf]) > 1 or cf in reserved
                or (cf in used and used[cf] != p.input)):
            clashing.append(i)
        else:
            names[i] = (p.base, None)
            used[cf] = p.input
    for i in clashing:
        p = pages[i]
        n_hex = 8
        name = hashed_name(p.base, p.input, n_hex)
        while name.casefold() in used or name.casefold() in reserved:
            n_hex += 4
            if n_hex > 40:   # every digest length taken: count up
                k = 2
                while f"{name}_{k}".casefold() in used:
                    k += 1
                name = f"{name}_{k}"
                break
            name = hashed_name(p.base, p.input, n_hex)
        used[name.casefold()] = p.input
        names[i] = (name, p.base)
    return [n for n in names if n is not None]


def _outputs_present(row: PageRow, out_dir: Path) -> bool:
    files = row.output_files
    return bool(files) and all((out_dir / f).is_file() for f in files)


def plan_run(manifest: Manifest, files: Sequence[Path], out_dir: str | Path, settings: str,
             retry_failed: bool = False, reserved: Iterable[str] = ()) -> Plan:
    """Update the manifest for `files` and say which pages to run.

    Parameters
    ----------
    manifest : Manifest
        The run's manifest (rows are inserted, updated and deleted).
    files : sequence of Path
        Input files (absolute paths, see
        :func:`ecgdigitize.batch.inputs.expand_inputs`).
    out_dir : str or Path
        Output folder.
    settings : str
        Fingerprint of the run's options
        (:meth:`ecgdigitize.batch.worker.DigitizeOptions.fingerprint`).
    retry_failed : bool
        Run the pages that failed, timed out or ran out of memory before.
    reserved : iterable of str
        Names no page may have (e.g. ``manifest``, whose ``.csv`` is the export).

    Returns
    -------
    Plan
    """
    out_dir = Path(out_dir)
    existing = manifest.rows_by_input()
    taken = manifest.names()
    reserved_cf = {r.casefold() for r in reserved}
    new_pages: list[_NewPage] = []
    updates: list[tuple[int, dict]] = []
    deletes: list[int] = []
    list_failed_rows: list[tuple[int, dict]] = []
    for path in files:
        key = str(path)
        st = file_stat(path)
        rows = existing.get(key, [])
        if rows:
            unchanged = st is not None and all(
                (r.input_size, r.input_mtime_ns) == st for r in rows)
            placeholder = any(r.n_pages == 0 for r in rows)
            if (unchanged and not (retry_failed and placeholder)) or st is None:
                continue   # known file (a vanished one keeps its rows; its pages fail to load)
        pages, error = _list(path)
        stat_cols = {"input_size": st[0] if st else None,
                     "input_mtime_ns": st[1] if st else None}
        if pages is None:
            fail = {"status": "failed", "error": error, "n_pages": 0, "outputs": None,
                    **stat_cols}
            keep = next((r for r in rows if r.page == 0), None)
            deletes += [r.id for r in rows if r is not keep]
            if keep is not None:
                list_failed_rows.append((keep.id, fail))
            else:
                new_pages.append(_NewPage(key, 0, 0, output_stem(path.stem), st, error))
            continue
        by_page = {r.page: r for r in rows if r.n_pages > 0}
        for r in rows:
            if r.n_pages == 0 or r.page >= len(pages):
                deletes.append(r.id)
                taken.pop(r.name.casefold(), None)
        for index, count, name in pages:
            row = by_page.get(index)
            if row is None:
                new_pages.append(_NewPage(key, index, count, name, st))
            else:   # a changed file: every page again
                updates.append((row.id, {"n_pages": count, "status": "pending", "error": None,
                                         **stat_cols}))
    names = _assign_names(new_pages, taken, reserved_cf)
    inserts = []
    for p, (name, renamed_from) in zip(new_pages, names, strict=True):
        row = PageRow(None, p.input, p.page, p.n_pages, name, renamed_from,
                      input_size=p.stat[0] if p.stat else None,
                      input_mtime_ns=p.stat[1] if p.stat else None)
        if p.error is not None:
            row.status, row.error = "failed", p.error
        inserts.append(row)
    new_ids = manifest.apply(insert=inserts, update=updates + list_failed_rows, delete=deletes)
    plan = Plan()
    plan.list_failed = [i for i, p in zip(new_ids, new_pages, strict=True) if p.error is not None]
    plan.list_failed += [i for i, _ in list_failed_rows]
    if plan.list_failed:
        manifest.apply(update=[(i, {"attempts": manifest.get(i).attempts + 1})
                               for i in plan.list_failed])
    wanted = {str(p) for p in files}
    for row in manifest.rows():
        if row.input not in wanted:
            continue
        assert row.id is not None
        plan.page_ids.append(row.id)
        if row.id in plan.list_failed:
            continue
        if row.status == "done":
            if row.settings == settings and _outputs_present(row, out_dir):
                plan.skipped.append(row.id)
            else:
                plan.todo.append(row)
        elif row.status == "pending":
            plan.todo.append(row)
        elif row.status in FAILED_STATUSES and retry_failed and row.n_pages > 0:
            plan.todo.append(row)
        else:
            plan.held.append(row.id)
    return plan
