"""Separation oracle: what perfect trace separation gives a column reader, per benchmark set.

Run: ``.venv/bin/python benchmarks/bench_oracle.py [--n-clean 56] [--n-scan 24]
[--n-photo 12] [--n-degraded 12] [--n-overlap 12] [--digitized DIR] [--write-results]``

The sheets of ``bench_digitize.py`` are generated again from the same seeds
and specs, with their geometric warp (rotation, perspective, wrinkles, curl,
folds, background margin, upside-down) set to none, since the mask oracle
reads unwarped sheets only. Each printed lead is then read back from the
generator's *instance mask* (the pixels each lead's pen drew, so no lead is
ever confused with another) column by column with the stroke-centre rule
(:mod:`ecgdigitize.synth.oracle`) and scored like the digitizer (reference
convention, zero-centred, best shift within +-100 ms).

This is not a strict ceiling: the oracle reads a binary mask, while the
digitizer reads the anti-aliased ink to sub-pixel precision, and on clean
sheets it can do better. It shows what is lost to separation (where the
digitizer falls far below it) and what the pen and resolution allow at all
(where both are low). With ``--digitized DIR`` (the ``--out`` folder of a
``bench_digitize.py`` run on the same sets) the digitizer's figures are shown
beside the oracle's.

Prints a Markdown table; ``--write-results`` appends it as a dated section to
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ecgdigitize.evaluate.metrics import snr_reference
from ecgdigitize.synth.dataset import SIMULATOR
from ecgdigitize.synth.oracle import oracle_record
from ecgdigitize.synth.sheet import generate_sheet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_digitize import (  # noqa: E402
    SET_KEYS,
    SPEC_MAKERS,
    _load_record,
    append_results,
    code_line,
    machine_line,
    make_tasks,
    record_sources,
)


def run_one(task: tuple) -> dict[str, Any]:
    """Generate one benchmark sheet unwarped and score its leads read from the mask."""
    set_name, i, source, seed_seq, _, _ = task
    rng = np.random.default_rng(seed_seq)
    record = _load_record(source, rng, i)
    spec = SPEC_MAKERS[set_name](i, rng)
    a = spec.artifacts
    a.rotation_deg = a.perspective = a.wrinkles = a.curl = a.folds = a.background = 0.0
    a.upside_down = False
    seed_id = int(seed_seq.generate_state(1)[0])
    name = "sim" if source == SIMULATOR else Path(source).name
    sheet = generate_sheet(record, spec, rng=rng, seed=seed_id, source=name)
    gt = sheet.groundtruth
    rec = oracle_record(sheet.canvas.instances, gt)
    n = rec.signals.shape[0]
    leads: dict[str, float] = {}
    # Segments hold the printed samples (-aVR on a Cabrera sheet); the record holds the
    # standard lead.
    for name_k in dict.fromkeys(seg["lead"].lstrip("-") for seg in gt["leads"]):
        truth = np.full(n, np.nan)
        for seg in gt["leads"]:
            if seg["lead"].lstrip("-") == name_k:
                sign = -1.0 if seg["lead"].startswith("-") else 1.0
                i0 = int(round(float(seg["t_start_s"]) * rec.fs))
                vals = sign * np.asarray(seg["signal_mv"], float)[: max(n - i0, 0)]
                truth[i0:i0 + vals.size] = vals
        leads[name_k] = float(snr_reference(
            truth, rec.signals[:, rec.lead_names.index(name_k)], rec.fs).snr_db)
    return {"set": set_name, "stem": f"{set_name}_{i:03d}_{name}", "leads": leads}


def _digitized(folder: Path | None) -> dict[str, dict[str, float]]:
    """Per-sheet lead SNRs (reference convention) of a bench_digitize run, by stem
    (unscored leads left out, as bench_digitize's medians do)."""
    if folder is None:
        return {}
    rows = json.loads((folder / "per_sheet.json").read_text(encoding="utf-8"))["sheets"]
    return {r["stem"]: {k: v["ref"] for k, v in (r.get("leads") or {}).items()
                        if v["ref"] is not None} for r in rows}


def _median(values: list[float]) -> float:
    """Median of the finite values (NaN if none)."""
    a = np.asarray(values, float)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else float("nan")


def report(rows: list[dict[str, Any]], dig: dict[str, dict[str, float]],
           args: argparse.Namespace, source_desc: str) -> str:
    L = [f"## Separation oracle per benchmark set — {datetime.date.today().isoformat()}", "",
         f"Command: `.venv/bin/python benchmarks/bench_oracle.py {shlex.join(sys.argv[1:])}`",
         "", f"Code: {code_line()}.", "", f"Machine: {machine_line()}.", "",
         f"Sheets: those of `bench_digitize.py` (seed {args.seed}) from {source_desc}, "
         "generated without their geometric warp; every lead read back from its own "
         "pixels of the instance mask. SNR per lead, reference convention; a sheet is "
         "below 10 dB by the median of its leads.", ""]
    head = "| set | sheets | oracle: median SNR per lead, dB | oracle: sheets below 10 dB |"
    rule = "|---|---|---|---|"
    if dig:
        head += " digitizer, same sheets: median SNR per lead, dB |"
        rule += "---|"
    L += [head, rule]
    for set_name in SET_KEYS:
        rs = [r for r in rows if r["set"] == set_name]
        if not rs:
            continue
        vals = [v for r in rs for v in r["leads"].values()]
        low = sum(not _median(list(r["leads"].values())) >= 10.0 for r in rs)
        line = f"| {set_name} | {len(rs)} | {_median(vals):.1f} | {low}/{len(rs)} |"
        if dig:
            dv = [v for r in rs for v in dig.get(r["stem"], {}).values()]
            line += f" {_median(dv):.1f} |" if dv else " - |"
        L.append(line)
    L.append("")
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-clean", type=int, default=56)
    ap.add_argument("--n-scan", type=int, default=24)
    ap.add_argument("--n-photo", type=int, default=12)
    ap.add_argument("--n-degraded", type=int, default=12)
    ap.add_argument("--n-overlap", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--digitized", type=Path, default=None,
                    help="--out folder of a bench_digitize.py run on the same sets")
    ap.add_argument("--write-results", action="store_true",
                    help="append a dated section to benchmarks/RESULTS.md")
    args = ap.parse_args()
    sources, source_desc = record_sources()
    counts = {"clean": args.n_clean, "scan": args.n_scan, "photo": args.n_photo,
              "degraded": args.n_degraded, "overlap": args.n_overlap}
    tasks = [t for name, key in SET_KEYS.items()
             for t in make_tasks(counts[name], name, sources, args.seed, "", key, {})]
    with ProcessPoolExecutor(args.workers) as ex:
        rows = list(ex.map(run_one, tasks))
    text = report(rows, _digitized(args.digitized), args, source_desc)
    print(text)
    if args.write_results:
        append_results(text)


if __name__ == "__main__":
    main()
