"""Dataset mode: many sheets from a folder of records (or the simulator), in parallel.

Sheet ``i`` is generated from its own child seed of the run's seed
(:class:`numpy.random.SeedSequence`), so the set is the same whatever the
number of workers, and an interrupted run resumes where it stopped (a sheet
whose sidecar exists is complete, because the sidecar is written last).
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EcgDigitizeError, OptionError, RecordError
from ..io.ptbxl import read_ptbxl_index
from ..io.wfdbio import iter_record_paths, read_record
from ..progress import Progress
from ..record import EcgRecord
from ..simulator import random_params, simulate_ecg
from .groundtruth import write_sheet_files
from .presets import sample_spec
from .sheet import generate_sheet

__all__ = ["DatasetResult", "list_record_sources", "make_dataset", "make_one"]

SIMULATOR = "simulator"


@dataclass
class DatasetResult:
    """Outcome of a dataset run.

    Parameters
    ----------
    written : list of str
        Stems of the sheets written in this run.
    skipped : list of str
        Stems already complete (resumed run).
    failed : dict of str to str
        Stem to one-line error.
    """

    written: list[str]
    skipped: list[str]
    failed: dict[str, str]


def list_record_sources(records: str | Path | None) -> list[str]:
    """Record paths to draw sheets from: a WFDB folder, a PTB-XL root, or the simulator.

    Raises
    ------
    RecordError
        If the folder holds no record.
    """
    if records is None:
        return [SIMULATOR]
    root = Path(records)
    if (root / "ptbxl_database.csv").is_file():
        return [str(e.path_500hz) for e in read_ptbxl_index(root)]
    return [str(p) for p in iter_record_paths(root)]


def _load(source: str, rng: np.random.Generator, index: int) -> tuple[EcgRecord, str]:
    if source == SIMULATOR:
        rec = simulate_ecg(rng, duration_s=10.0, fs=500.0, params=random_params(rng),
                           name=f"sim{index:06d}")
        return rec, SIMULATOR
    return read_record(source), source


def make_one(source: str, preset: str, seed_seq: np.random.SeedSequence, out_dir: str | Path,
             stem: str, image_format: str = "png") -> str:
    """Generate and write one sheet; return its stem.

    The sheet is fully determined by `source`, `preset` and `seed_seq`.
    """
    rng = np.random.default_rng(seed_seq)
    record, origin = _load(source, rng, int(seed_seq.spawn_key[-1]) if seed_seq.spawn_key else 0)
    spec = sample_spec(preset, rng)
    seed_id = int(seed_seq.generate_state(1)[0])
    sheet = generate_sheet(record, spec, rng=rng, seed=seed_id, source=origin)
    sheet.groundtruth["seed_entropy"] = str(seed_seq.entropy)
    sheet.groundtruth["seed_spawn_key"] = list(seed_seq.spawn_key)
    write_sheet_files(out_dir, stem, sheet.canvas, sheet.groundtruth, image_format,
                      jpeg_quality=spec.artifacts.jpeg_quality)
    return stem


def _task(args: tuple) -> tuple[str, str | None]:
    source, preset, seed_seq, out_dir, stem, fmt = args
    try:
        make_one(source, preset, seed_seq, out_dir, stem, fmt)
        return stem, None
    except EcgDigitizeError as exc:
        return stem, str(exc)
    except Exception as exc:  # a bug must not stop a long run; it is recorded
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return stem, f"{type(exc).__name__}: {exc} ({Path(tb.filename).name}:{tb.lineno})"


def make_dataset(out_dir: str | Path, n: int, preset: str = "mixed",
                 records: str | Path | None = None, seed: int = 0, workers: int | None = None,
                 image_format: str = "auto", progress: bool = True) -> DatasetResult:
    """Generate `n` sheets with ground truth into `out_dir`.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created).
    n : int
        Number of sheets.
    preset : str
        Generator preset (see :data:`ecgdigitize.synth.presets.PRESETS`).
    records : str or Path, optional
        Folder of WFDB records or a PTB-XL root; the simulator when None.
        Records are drawn without replacement in a seeded order, cycling.
    seed : int
        Run seed.
    workers : int, optional
        Worker processes (default: the number of CPU cores).
    image_format : str
        ``png``, ``jpg`` or ``auto`` (JPEG when the preset compresses).
    progress : bool
        Print a progress bar on standard error.

    Returns
    -------
    DatasetResult
    """
    if n < 1:
        raise OptionError(f"number of sheets must be at least 1, got {n}")
    sample_spec(preset, np.random.default_rng(0))  # validates the preset name
    sources = list_record_sources(records)
    if not sources:
        raise RecordError(f"no records found in {records}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = np.random.SeedSequence(seed)
    order = np.random.default_rng(root.spawn(1)[0]).permutation(len(sources))
    children = np.random.SeedSequence(seed, spawn_key=(1,)).spawn(n)
    tasks, skipped = [], []
    for i in range(n):
        source = sources[order[i % len(sources)]]
        name = "sim" if source == SIMULATOR else Path(source).name
        stem = f"{preset.replace('/', '-')}_{i:06d}_{name}"
        if (out_dir / f"{stem}.json").is_file():
            skipped.append(stem)
            continue
        tasks.append((source, preset, children[i], str(out_dir), stem, image_format))
    bar = Progress(len(tasks), f"synth {preset}", enabled=progress)
    written, failed = [], {}
    workers = workers or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        if workers <= 1 or len(tasks) <= 1:
            results: Iterator[tuple[str, str | None]] = map(_task, tasks)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            futures = [pool.submit(_task, t) for t in tasks]
            results = (f.result() for f in as_completed(futures))
        for stem, err in results:
            if err:
                failed[stem] = err
            else:
                written.append(stem)
            bar.update(err is None)
    return DatasetResult(sorted(written), skipped, failed)
