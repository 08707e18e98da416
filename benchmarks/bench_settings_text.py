"""Printed-settings reader benchmark: accuracy and speed of ``read_printed_settings``.

Run: ``.venv/bin/python benchmarks/bench_settings_text.py [--n 60] [--seed 0]
[--mask classes|dark] [--real DIR]``

Generates `n` clean sheets of simulated records with seeded random font
(every generator font), dpi (150-600), paper speed (25, 50 mm/s) and gain
(5, 10, 20 mm/mV); one sheet in six has no header (nothing to read, the
right answer is None). The ink mask is the ground-truth class mask (trace +
text, ``--mask classes``) or the image thresholded for darkness (grey < 100,
``--mask dark``). Each field is counted as correct, wrong or None.

Also times the reader on a 2200 x 1700 mask (Letter at 200 dpi; median of
repeated runs after a warm-up), and prints what it reads on the real images
of `--real` (default ``/work/shared/data/real-images-dev``) with an ink mask
from :func:`ecgdigitize.digitize.separate.separate` and the grid scale of
:func:`ecgdigitize.digitize.gridscale.grid_scale`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from ecgdigitize.digitize.settings_text import read_printed_settings
from ecgdigitize.simulator import simulate_ecg
from ecgdigitize.synth.canvas import TEXT, TRACE
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import SheetSpec, generate_sheet
from ecgdigitize.synth.style import FONTS

DPIS = (150, 200, 300, 400, 600)
REAL_DIR = Path("/work/shared/data/real-images-dev")


def make_sheet(seed: int, dpi: float | None = None, header: bool | None = None):
    """A seeded random clean sheet and its render options."""
    rng = np.random.default_rng(20_000 + seed)
    rec = simulate_ecg(rng)
    opts = RenderOptions(
        dpi=float(dpi if dpi is not None else rng.choice(DPIS)),
        font=str(rng.choice(sorted(FONTS))),
        speed_mm_s=float(rng.choice([25.0, 50.0])),
        gain_mm_mv=float(rng.choice([5.0, 10.0, 20.0])),
        header=bool(rng.random() > 1 / 6) if header is None else header,
    )
    return generate_sheet(rec, SheetSpec(render=opts), rng=rng, seed=seed), opts


def ink_mask(sheet, mode: str) -> np.ndarray:
    """Binary ink mask of a generated sheet."""
    if mode == "classes":
        return np.isin(sheet.canvas.classes, (TRACE, TEXT))
    grey = cv2.cvtColor(sheet.canvas.image, cv2.COLOR_RGB2GRAY)
    return grey < 100


def grade(read: float | None, truth: float | None) -> str:
    """'correct', 'wrong' or 'none' for one field."""
    if read is None:
        return "correct" if truth is None else "none"
    return "correct" if truth is not None and read == truth else "wrong"


def synthetic(n: int, seed: int, mode: str) -> None:
    """Accuracy over `n` generated sheets."""
    counts = {f: {"correct": 0, "wrong": 0, "none": 0} for f in ("speed", "gain")}
    wrong: list[str] = []
    for k in range(seed, seed + n):
        sheet, opts = make_sheet(k)
        res = read_printed_settings(ink_mask(sheet, mode), sheet.groundtruth["px_per_mm"])
        truth_s = opts.speed_mm_s if opts.header else None
        truth_g = opts.gain_mm_mv if opts.header else None
        for field, read, truth in (("speed", res.speed_mm_s, truth_s),
                                   ("gain", res.gain_mm_mv, truth_g)):
            g = grade(read, truth)
            counts[field][g] += 1
            if g != "correct":
                wrong.append(f"  seed {k} {opts.font} {opts.dpi:g} dpi header={opts.header}: "
                             f"{field} read {read} truth {truth} (conf {res.confidence:.2f})")
    print(f"synthetic sheets: n={n} seed={seed} mask={mode}")
    for field, c in counts.items():
        print(f"  {field:5s}: correct {c['correct']:3d}  wrong {c['wrong']:3d}  "
              f"None {c['none']:3d}")
    for line in wrong:
        print(line)


def timing(mode: str, repeats: int = 7) -> None:
    """Median time of one call on a Letter sheet at 200 dpi (2200 x 1700 px)."""
    sheet, _ = make_sheet(0, dpi=200, header=True)
    ink = ink_mask(sheet, mode)
    ppm = sheet.groundtruth["px_per_mm"]
    read_printed_settings(ink, ppm)  # warm-up: templates rendered
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        read_printed_settings(ink, ppm)
        times.append(time.perf_counter() - t0)
    print(f"time on {ink.shape[1]}x{ink.shape[0]} mask: median "
          f"{1000 * statistics.median(times):.1f} ms, min {1000 * min(times):.1f} ms")


def real(folder: Path) -> None:
    """What the reader finds on real sheet images."""
    from ecgdigitize.digitize.gridscale import grid_scale
    from ecgdigitize.digitize.separate import separate

    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        print(f"no real images in {folder}")
        return
    print(f"real images ({folder}):")
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        sep = separate(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        try:
            ppm = grid_scale(sep.grid)[0].px_per_mm
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"  {path.name}: no grid scale ({exc})")
            continue
        t0 = time.perf_counter()
        res = read_printed_settings(sep.trace, ppm)
        dt = time.perf_counter() - t0
        box = None if res.box_px is None else tuple(round(v) for v in res.box_px)
        print(f"  {path.name}: speed {res.speed_mm_s} gain {res.gain_mm_mv} "
              f"conf {res.confidence:.2f} box {box} ({ppm:.2f} px/mm, {1000 * dt:.0f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mask", choices=("classes", "dark"), default="classes")
    ap.add_argument("--real", type=Path, default=REAL_DIR)
    args = ap.parse_args()
    synthetic(args.n, args.seed, args.mask)
    timing(args.mask)
    real(args.real)


if __name__ == "__main__":
    main()
