"""Loader for a local copy of the PTB-XL database.

PTB-XL ships ``ptbxl_database.csv`` (one row per ECG, with ``ecg_id``,
``strat_fold``, ``filename_lr`` (100 Hz) and ``filename_hr`` (500 Hz) paths
relative to the database root) and the WFDB records themselves. This module
reads the index with the standard library and yields :class:`EcgRecord` s.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError, RecordError
from ..record import EcgRecord
from .wfdbio import read_record

__all__ = ["PtbxlEntry", "read_ptbxl_index", "iter_ptbxl_records"]


@dataclass(frozen=True)
class PtbxlEntry:
    """One row of ``ptbxl_database.csv``.

    Parameters
    ----------
    ecg_id : int
        PTB-XL record id.
    strat_fold : int
        Recommended cross-validation fold (1-10).
    path_100hz, path_500hz : Path
        Record paths (without extension) of the 100 Hz and 500 Hz versions.
    """

    ecg_id: int
    strat_fold: int
    path_100hz: Path
    path_500hz: Path


def read_ptbxl_index(root: str | Path) -> list[PtbxlEntry]:
    """Read ``ptbxl_database.csv`` under `root`.

    Raises
    ------
    RecordError
        If the index is missing or lacks the expected columns.
    """
    root = Path(root)
    index = root / "ptbxl_database.csv"
    if not index.is_file():
        raise RecordError(f"{root} is not a PTB-XL folder: no ptbxl_database.csv")
    entries = []
    with index.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"ecg_id", "strat_fold", "filename_lr", "filename_hr"}
        if not need <= set(reader.fieldnames or []):
            missing = sorted(need - set(reader.fieldnames or []))
            raise RecordError(f"{index}: missing columns {missing}")
        for row in reader:
            try:
                entries.append(
                    PtbxlEntry(
                        ecg_id=int(float(row["ecg_id"])),
                        strat_fold=int(float(row["strat_fold"])),
                        path_100hz=root / row["filename_lr"],
                        path_500hz=root / row["filename_hr"],
                    )
                )
            except ValueError as exc:
                raise RecordError(f"{index}: bad row {row.get('ecg_id')!r}: {exc}") from None
    return entries


def iter_ptbxl_records(
    root: str | Path, folds: Iterable[int] | None = None, rate_hz: int = 500,
    limit: int | None = None,
) -> Iterator[EcgRecord]:
    """Yield PTB-XL records as :class:`EcgRecord` (12 leads, mV).

    Parameters
    ----------
    root : str or Path
        Database root holding ``ptbxl_database.csv``.
    folds : iterable of int, optional
        Keep only these ``strat_fold`` values (e.g. ``range(1, 9)`` for training).
    rate_hz : {100, 500}
        Which version of the records to read.
    limit : int, optional
        Stop after this many records.
    """
    if rate_hz not in (100, 500):
        raise OptionError(f"PTB-XL comes at 100 or 500 Hz, not {rate_hz}")
    keep = set(folds) if folds is not None else None
    count = 0
    for entry in read_ptbxl_index(root):
        if keep is not None and entry.strat_fold not in keep:
            continue
        path = entry.path_500hz if rate_hz == 500 else entry.path_100hz
        rec = read_record(path)
        rec.name = f"ptbxl{entry.ecg_id:05d}"
        yield rec
        count += 1
        if limit is not None and count >= limit:
            return
