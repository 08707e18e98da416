"""Limb-lead check: how far six rows read as limb leads disagree, right names or wrong.

Run: ``.venv/bin/python benchmarks/bench_limb_check.py [--n 24] [--workers 2]
[--write-results]``

A 6x1 sheet without printed names looks the same whether it holds the limb
leads or the precordial ones. The digitizer reads such a sheet as limb leads
only where they agree with each other (``III = II - I`` and the augmented
leads, :func:`ecgdigitize.digitize.redundancy.limb_inconsistency`), and takes
rows that disagree by :data:`ecgdigitize.digitize.pipeline.LIMB_MAX_INCONSISTENCY`
or more for precordial ones. This benchmark measures the two distributions
that threshold separates: ``--n`` sheets printed with limb leads and ``--n``
printed with precordial leads, cycled through the ``clean-scan``, ``bw-scan``,
``degraded``, ``photo`` and ``overlap`` presets without printed lead names,
from the real records of ``../shared/data/records`` (else the simulator),
seeded per sheet. Every sheet is digitized with ``layout="6x1-limb"`` and
``redundancy="none"`` (both kinds read as limb leads, unrepaired, as the
layout choice sees them) and once with the automatic layout choice.

Prints a Markdown table; ``--write-results`` appends it as a dated section to
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ecgdigitize.digitize.pipeline import LIMB_MAX_INCONSISTENCY, digitize
from ecgdigitize.digitize.redundancy import limb_inconsistency
from ecgdigitize.errors import EcgDigitizeError
from ecgdigitize.synth.presets import sample_spec
from ecgdigitize.synth.sheet import generate_sheet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_digitize import (  # noqa: E402
    _load_record,
    append_results,
    code_line,
    machine_line,
    record_sources,
)

PRESETS = ("clean-scan", "bw-scan", "degraded", "photo", "overlap")
KINDS = ("6x1-limb", "6x1-precordial")


def run_one(task: tuple[int, str, str, np.random.SeedSequence]) -> dict[str, Any]:
    """Generate one 6x1 sheet and read it as limb leads and automatically. Never raises."""
    i, kind, source, seed_seq = task
    rng = np.random.default_rng(seed_seq)
    record = _load_record(source, rng, i)
    preset = PRESETS[i % len(PRESETS)]
    spec = sample_spec(preset, rng)
    spec.render.layout = kind
    spec.render.lead_labels = False          # the names would settle it
    sheet = generate_sheet(record, spec, rng=rng, seed=i)
    row: dict[str, Any] = {"i": i, "kind": kind, "preset": preset}
    try:
        # Unrepaired, as the layout choice sees it (the repair runs after it and pulls the
        # leads towards agreement).
        forced = digitize(sheet.canvas.image, layout="6x1-limb", redundancy="none")
        row["inconsistency"] = limb_inconsistency(
            dict(zip(forced.lead_names, forced.signals.T, strict=True)), forced.fs)
        row["n_rows_warning"] = any("rows but" in w for w in forced.warnings)
        row["auto"] = digitize(sheet.canvas.image).detected.layout
    except EcgDigitizeError as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def report(rows: list[dict[str, Any]], args: argparse.Namespace, source_desc: str) -> str:
    L = [f"## Limb-lead check on 6x1 sheets — {datetime.date.today().isoformat()}", "",
         f"Command: `.venv/bin/python benchmarks/bench_limb_check.py "
         f"{shlex.join(sys.argv[1:])}`", "", f"Code: {code_line()}.", "",
         f"Machine: {machine_line()}.", "",
         f"Sheets: {args.n} printed with limb leads and {args.n} with precordial leads, "
         f"presets {', '.join(PRESETS)} in turn, from {source_desc}. Each is read as "
         "`6x1-limb` with `redundancy=none` (limb inconsistency of that reading, unfilled "
         "and unrepaired as the layout choice sees it) and with the automatic layout "
         f"choice; the threshold is {LIMB_MAX_INCONSISTENCY}.", "",
         "| printed | sheets | read | inconsistency min / median / max | at or above "
         "threshold | automatic layout right |", "|---|---|---|---|---|---|"]
    for kind in KINDS:
        rs = [r for r in rows if r["kind"] == kind]
        v = np.array([r["inconsistency"] for r in rs
                      if "inconsistency" in r and np.isfinite(r["inconsistency"])])
        above = int(np.count_nonzero(v >= LIMB_MAX_INCONSISTENCY))
        right = sum(r.get("auto") == kind for r in rs)
        stats = (f"{v.min():.3f} / {np.median(v):.3f} / {v.max():.3f}" if v.size else "-")
        L.append(f"| {kind} | {len(rs)} | {v.size} | {stats} | {above} | {right} |")
    L.append("")
    odd = [r for r in rows if r["kind"] == "6x1-limb" and
           r.get("inconsistency", 0.0) >= LIMB_MAX_INCONSISTENCY]
    for r in odd:
        L.append(f"- Limb sheet {r['i']} ({r['preset']}) at {r['inconsistency']:.3f}"
                 + (": its reading found more rows than the layout has"
                    if r.get("n_rows_warning") else "") + ".")
    wrong = [r for r in rows if "auto" in r and r["auto"] != r["kind"]]
    if wrong:
        L.append("- Automatic layout wrong: " + "; ".join(
            f"sheet {r['i']} ({r['kind']}, {r['preset']}, inconsistency "
            f"{r['inconsistency']:.3f}) read as {r['auto']}" for r in wrong) + ".")
    for r in rows:
        if "error" in r:
            L.append(f"- Sheet {r['i']} ({r['kind']}, {r['preset']}): {r['error']}")
    L.append("")
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24, help="sheets of each kind (default 24)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write-results", action="store_true",
                    help="append a dated section to benchmarks/RESULTS.md")
    args = ap.parse_args()
    sources, source_desc = record_sources()
    children = np.random.SeedSequence(args.seed).spawn(2 * args.n)
    tasks = [(i, KINDS[i % 2], sources[(i // 2) % len(sources)], children[i])
             for i in range(2 * args.n)]
    with ProcessPoolExecutor(args.workers) as ex:
        rows = list(ex.map(run_one, tasks))
    text = report(rows, args, source_desc)
    print(text)
    if args.write_results:
        append_results(text)


if __name__ == "__main__":
    main()
