"""Lead-label reader benchmark: precision, recall and speed of ``find_labels``.

Run: ``.venv/bin/python benchmarks/bench_labels.py [--n 40] [--seed 0] [--mask classes|dark]``

Generates `n` clean sheets of simulated records with seeded random settings:
layout (3x4+1, 6x2, 12x1, 3x4-cabrera), font (every generator font), dpi
(100-600), label cap height (2.5-4 mm) and label position (above/below the
baseline). The ink mask is either the ground-truth class mask (trace + text,
``--mask classes``) or the image thresholded for darkness (grey < 100,
``--mask dark``; the generator's red grid is lighter than that).

A hit is correct when its name equals a printed label's and its box centre
lies within that label's box grown by half its height; every other hit is a
false positive. Recall is also given for the labels that do not touch a trace
(in the class mask), which the reader can see as separate components.

Also times ``find_labels`` on a 2200 x 1700 mask (Letter at 200 dpi), median
of repeated runs after a warm-up (templates rendered).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from ecgdigitize.digitize.labels import find_labels, read_label
from ecgdigitize.simulator import simulate_ecg
from ecgdigitize.synth.canvas import TEXT, TRACE
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import SheetSpec, generate_sheet
from ecgdigitize.synth.style import FONTS

LAYOUTS = ("3x4+1", "6x2", "12x1", "3x4-cabrera")
DPIS = (100, 150, 200, 300, 400, 600)


def make_sheet(seed: int, dpi: float | None = None):
    """A seeded random clean sheet and its options."""
    rng = np.random.default_rng(10_000 + seed)
    rec = simulate_ecg(rng)
    opts = RenderOptions(
        layout=str(rng.choice(LAYOUTS)),
        dpi=float(dpi if dpi is not None else rng.choice(DPIS)),
        font=str(rng.choice(sorted(FONTS))),
        label_height_mm=float(rng.uniform(2.5, 4.0)),
        label_position=str(rng.choice(["above", "below"])),
    )
    return generate_sheet(rec, SheetSpec(render=opts), rng=rng, seed=seed), opts


def ink_mask(sheet, mode: str) -> np.ndarray:
    """Binary ink mask of a generated sheet."""
    if mode == "classes":
        return np.isin(sheet.canvas.classes, (TRACE, TEXT))
    grey = cv2.cvtColor(sheet.canvas.image, cv2.COLOR_RGB2GRAY)
    return grey < 100


def touching_labels(sheet) -> list[bool]:
    """Per printed lead: does its label share a connected component with a trace?"""
    cls = sheet.canvas.classes
    ink = np.isin(cls, (TRACE, TEXT)).astype(np.uint8)
    _, lab = cv2.connectedComponents(ink, connectivity=8)
    trace_ids = set(np.unique(lab[cls == TRACE]).tolist())
    out = []
    for lead in sheet.groundtruth["leads"]:
        b = lead["label_box_px"]
        if b is None:
            out.append(False)
            continue
        sl = (slice(int(b[1]), int(np.ceil(b[3])) + 1), slice(int(b[0]), int(np.ceil(b[2])) + 1))
        ids = set(np.unique(lab[sl][cls[sl] == TEXT]).tolist())
        out.append(bool(ids & trace_ids))
    return out


def match(hits, sheet, touching):
    """(correct hits, false positives, printed labels, missed labels with their touch flag)."""
    labels = [(lead["label_text"], lead["label_box_px"], t)
              for lead, t in zip(sheet.groundtruth["leads"], touching, strict=True)
              if lead["label_text"]]
    used: set[int] = set()
    correct, false = [], []
    for hit in hits:
        cx = (hit.box_px[0] + hit.box_px[2]) / 2
        cy = (hit.box_px[1] + hit.box_px[3]) / 2
        found = None
        for k, (name, b, _) in enumerate(labels):
            m = 0.5 * (b[3] - b[1])
            if (k not in used and name == hit.name and b[0] - m <= cx <= b[2] + m
                    and b[1] - m <= cy <= b[3] + m):
                found = k
                break
        if found is None:
            false.append(hit)
        else:
            used.add(found)
            correct.append(hit)
    missed = [labels[k] for k in range(len(labels)) if k not in used]
    return correct, false, labels, missed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="sheets (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="first sheet seed (default 0)")
    ap.add_argument("--mask", choices=("classes", "dark"), default="classes")
    ap.add_argument("--timing-runs", type=int, default=20)
    ap.add_argument("-v", "--verbose", action="store_true", help="list every error")
    args = ap.parse_args()

    read_label(np.ones((10, 2), bool))  # render the templates before timing anything
    n_hits = n_correct = n_labels = n_free = n_free_found = 0
    by_font: dict[str, list[int]] = {}
    by_layout: dict[str, list[int]] = {}
    for seed in range(args.seed, args.seed + args.n):
        sheet, opts = make_sheet(seed)
        touching = touching_labels(sheet)
        hits = find_labels(ink_mask(sheet, args.mask), sheet.groundtruth["px_per_mm"])
        correct, false, labels, missed = match(hits, sheet, touching)
        n_hits += len(hits)
        n_correct += len(correct)
        n_labels += len(labels)
        free = sum(1 for lab in labels if not lab[2])
        n_free += free
        n_free_found += free - sum(1 for m in missed if not m[2])
        for table, key in ((by_font, opts.font), (by_layout, opts.layout)):
            row = table.setdefault(key, [0, 0, 0])
            row[0] += len(correct)
            row[1] += len(hits)
            row[2] += len(labels)
        if args.verbose and (false or missed):
            print(f"seed {seed} {opts.layout} {opts.font} {opts.dpi:g} dpi "
                  f"{opts.label_height_mm:.2f} mm {opts.label_position}: "
                  f"false {[(h.name, round(h.confidence, 2)) for h in false]} "
                  f"missed {[(m[0], 'touching' if m[2] else 'free') for m in missed]}")

    print(f"sheets: {args.n} (seeds {args.seed}-{args.seed + args.n - 1}), mask: {args.mask}")
    print(f"printed labels: {n_labels} ({n_labels - n_free} touch a trace)")
    print(f"hits: {n_hits}, correct: {n_correct}")
    print(f"precision: {n_correct / max(n_hits, 1):.3f}")
    print(f"recall: {n_correct / max(n_labels, 1):.3f}")
    print(f"recall, labels not touching a trace: {n_free_found / max(n_free, 1):.3f}")
    for title, table in (("font", by_font), ("layout", by_layout)):
        print(f"by {title}: " + ", ".join(
            f"{k} P={v[0] / max(v[1], 1):.3f} R={v[0] / max(v[2], 1):.3f}"
            for k, v in sorted(table.items())))

    sheet, _ = make_sheet(0, dpi=200)
    ink = ink_mask(sheet, args.mask)
    ppm = sheet.groundtruth["px_per_mm"]
    times = []
    for _ in range(args.timing_runs):
        t0 = time.perf_counter()
        find_labels(ink, ppm)
        times.append(time.perf_counter() - t0)
    print(f"find_labels on {ink.shape[1]}x{ink.shape[0]} px: median "
          f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
          f"({args.timing_runs} runs)")


if __name__ == "__main__":
    main()
