"""Generator benchmarks: speed, peak memory and rendering fidelity.

Run: ``.venv/bin/python benchmarks/bench_synth.py [--n 20] [--fidelity-sheets 10]``

Prints a Markdown block for ``benchmarks/RESULTS.md``:

- median time per clean Letter sheet at 200 dpi (2200 x 1700 px), render only
  and with the full artifact stack (every artifact on);
- peak resident memory of the whole process;
- rendering fidelity: the ground-truth instance mask of clean 300 dpi sheets
  read back column by column (``ecgdigitize.synth.oracle``) and scored with
  the reference-paper SNR convention against the source samples, for the
  simulator and, when ``../shared/data/records`` is present, for real records.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from ecgdigitize.evaluate.metrics import snr_reference
from ecgdigitize.io.wfdbio import iter_record_paths, read_record
from ecgdigitize.leads import STANDARD_LEADS
from ecgdigitize.record import EcgRecord
from ecgdigitize.simulator import random_params, simulate_ecg
from ecgdigitize.synth.groundtruth import build_groundtruth
from ecgdigitize.synth.oracle import read_leads_from_mask
from ecgdigitize.synth.render import RenderOptions, render_sheet
from ecgdigitize.synth.sheet import ArtifactOptions, SheetSpec, generate_sheet

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "records"

FULL_STACK = ArtifactOptions(
    stains=0.6, handwriting=0.6, stamp=0.6, creases=0.6, torn_corners=0.5, wrinkles=0.6,
    curl=0.5, folds=0.5, rotation_deg=4.0, perspective=0.6, background=0.1, lighting=0.6, blur=0.4,
    noise=0.4, bw=False, jpeg_quality=75,
)


def _time_sheets(n: int, artifacts: ArtifactOptions, seed: int) -> list[float]:
    times = []
    for i in range(n + 1):
        rng = np.random.default_rng(seed + i)
        rec = simulate_ecg(rng, 10.0, 500.0, random_params(rng))
        spec = SheetSpec(render=RenderOptions(layout="3x4+1", dpi=200, paper="letter"),
                         artifacts=artifacts)
        t0 = time.perf_counter()
        generate_sheet(rec, spec, rng=rng, seed=seed + i)
        dt = time.perf_counter() - t0
        if i:  # the first call warms caches and imports
            times.append(dt)
    return times


def _fidelity(records, line_width_mm: float, dpi: float = 300.0, speed_mm_s: float = 25.0
              ) -> list[float]:
    snrs = []
    for rec in records:
        opts = RenderOptions(layout="3x4+1", dpi=dpi, line_width_mm=line_width_mm,
                             speed_mm_s=speed_mm_s)
        flat = render_sheet(rec, opts)
        gt = build_groundtruth(flat, flat.canvas, lambda p: p, {})
        back = read_leads_from_mask(flat.canvas.instances, gt)
        for seg in gt["leads"]:
            y = np.array(seg["signal_mv"], float)
            snrs.append(snr_reference(y, back[seg["instance_id"]], seg["fs_hz"]).snr_db)
    return snrs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="sheets per timing (default 20)")
    ap.add_argument("--fidelity-sheets", type=int, default=10)
    args = ap.parse_args()

    clean = _time_sheets(args.n, ArtifactOptions(), 100)
    full = _time_sheets(args.n, FULL_STACK, 200)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    sim = []
    for i in range(args.fidelity_sheets):
        rng = np.random.default_rng(1000 + i)
        sim.append(simulate_ecg(rng, 10.0, 500.0, random_params(rng, artifacts=False)))
    real = []
    if SHARED.is_dir():
        paths = list(iter_record_paths(SHARED / "cinc2021"))[: args.fidelity_sheets]
        real = [read_record(p) for p in paths]

    t = np.arange(5000) / 500.0
    sine = [EcgRecord(np.stack([0.8 * np.sin(2 * np.pi * t)] * 12, axis=1), 500.0,
                      list(STANDARD_LEADS), name="sine1hz")]
    rows = []
    for name, recs in (("1 Hz sine, 0.8 mV", sine), ("simulator", sim),
                       ("real (cinc2021)", real)):
        if not recs:
            continue
        for lw, speed in ((0.3, 25.0), (0.1, 25.0), (0.1, 50.0)):
            s = _fidelity(recs, lw, speed_mm_s=speed)
            rows.append((name, lw, speed, len(recs), len(s), float(np.median(s)),
                         float(np.mean(s)), float(np.min(s))))

    cores = os.cpu_count()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {cores} cores, {mem_gb:.0f} GiB RAM, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| clean 3x4+1 sheet, 2200x1700 px, median of {len(clean)} | "
          f"{statistics.median(clean):.3f} s (max {max(clean):.3f} s) |")
    print(f"| full artifact stack, median of {len(full)} | {statistics.median(full):.3f} s "
          f"(max {max(full):.3f} s) |")
    print(f"| peak resident memory, whole process | {peak_mb:.0f} MB |")
    print()
    print("| fidelity source (300 dpi) | pen mm | mm/s | sheets | lead segments | median SNR dB "
          "| mean SNR dB | min SNR dB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, lw, speed, ns, nl, med, mean, mn in rows:
        print(f"| {name} | {lw} | {speed:g} | {ns} | {nl} | {med:.1f} | {mean:.1f} | {mn:.1f} |")


if __name__ == "__main__":
    main()
