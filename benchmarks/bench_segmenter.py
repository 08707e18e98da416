"""Learned segmenter benchmark: IoU per class on a held-out generated set, and speed.

Run: ``.venv/bin/python benchmarks/bench_segmenter.py [--per-preset 8] [--seed 20261124]
[--append]``

Generates ``per-preset`` sheets of each of the photo, degraded, overlap, clean-scan and
bw-scan presets in memory, from the WFDB records in ``../shared/data/records`` (the
simulator when that folder is absent), with a seed the training data never uses
(training uses seeds 0 and 100000). For each sheet it scores, against the generator's
pixel-exact class mask:

- the learned segmenter (:class:`ecgdigitize.models.Segmenter`, the shipped model):
  IoU of background, trace, grid and text (argmax of the probabilities);
- the classical separator (:func:`ecgdigitize.digitize.separate.separate`): IoU of its
  ``trace`` mask with the trace class.

IoU is pooled per preset (intersections and unions summed over its sheets). It also
times :meth:`Segmenter.segment` on sheets resized to 2200 x 1700 px (Letter at 200 dpi),
median over them after a warm-up. With ``--append`` the report is appended to
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ecgdigitize.digitize.separate import separate
from ecgdigitize.models.segmenter import CLASS_NAMES, DEFAULT_MODEL_PATH, Segmenter
from ecgdigitize.synth.canvas import TRACE
from ecgdigitize.synth.dataset import _load, list_record_sources
from ecgdigitize.synth.presets import sample_spec
from ecgdigitize.synth.sheet import generate_sheet

PRESETS = ("photo", "degraded", "overlap", "clean-scan", "bw-scan")
RECORDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "records"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class PresetScore:
    """Pooled confusion counts of one preset.

    Parameters
    ----------
    cm : ndarray, shape (4, 4), int64
        Learned model's confusion matrix (rows truth, columns prediction), px.
    classical_inter, classical_union : int
        Classical trace mask vs trace class: intersection and union in px.
    seconds : list of float
        Learned inference time per sheet at its native size in s.
    sizes : list of tuple
        Sheet sizes (height, width) in px.
    """

    cm: np.ndarray = field(default_factory=lambda: np.zeros((4, 4), np.int64))
    classical_inter: int = 0
    classical_union: int = 0
    seconds: list[float] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)

    def iou(self) -> dict[str, float]:
        """Learned IoU per class."""
        tp = np.diag(self.cm).astype(float)
        union = self.cm.sum(0) + self.cm.sum(1) - tp
        return {n: float(tp[k] / union[k]) if union[k] else float("nan")
                for k, n in enumerate(CLASS_NAMES)}

    def classical_iou(self) -> float:
        """Classical trace IoU."""
        return self.classical_inter / max(self.classical_union, 1)


def held_out_sheet(source: str, preset: str, seed_seq: np.random.SeedSequence):
    """One generated sheet (image and class mask) from a seed."""
    rng = np.random.default_rng(seed_seq)
    record, origin = _load(source, rng, int(seed_seq.spawn_key[-1]))
    spec = sample_spec(preset, rng)
    sheet = generate_sheet(record, spec, rng=rng, seed=int(seed_seq.generate_state(1)[0]),
                           source=origin)
    return sheet.canvas.image, sheet.canvas.classes


def run(per_preset: int, seed: int, model: Path) -> tuple[dict[str, PresetScore], list[float]]:
    """Score every preset; return the scores and the 2200 x 1700 timings in s."""
    records = RECORDS if RECORDS.is_dir() else None
    sources = list_record_sources(records)
    seg = Segmenter(model).load()
    children = np.random.SeedSequence(seed).spawn(per_preset * len(PRESETS))
    order = np.random.default_rng(seed).permutation(len(sources))
    scores = {p: PresetScore() for p in PRESETS}
    letter: list[np.ndarray] = []
    for i, child in enumerate(children):
        preset = PRESETS[i % len(PRESETS)]
        image, classes = held_out_sheet(sources[order[i % len(sources)]], preset, child)
        t = time.perf_counter()
        labels = seg.segment(image).labels
        s = scores[preset]
        s.seconds.append(time.perf_counter() - t)
        s.sizes.append(image.shape[:2])
        idx = classes.astype(np.int64).ravel() * 4 + labels.ravel()
        s.cm += np.bincount(idx, minlength=16).reshape(4, 4)
        truth = classes == TRACE
        trace = separate(image).trace
        s.classical_inter += int(np.count_nonzero(trace & truth))
        s.classical_union += int(np.count_nonzero(trace | truth))
        if len(letter) < 6 and preset in ("clean-scan", "photo", "degraded"):
            letter.append(cv2.resize(image, (2200, 1700), interpolation=cv2.INTER_AREA))
        print(f"  {i + 1}/{len(children)} {preset} {image.shape[1]}x{image.shape[0]} "
              f"{s.seconds[-1]:.2f}s", file=sys.stderr, flush=True)
    seg.segment(letter[0])  # warm-up
    timings = []
    for img in letter:
        for _ in range(2):
            t = time.perf_counter()
            seg.segment(img)
            timings.append(time.perf_counter() - t)
    return scores, timings


def report(scores: dict[str, PresetScore], timings: list[float], command: str,
           per_preset: int, seed: int, model: Path) -> str:
    """Markdown section of the results."""
    total = PresetScore()
    for s in scores.values():
        total.cm += s.cm
        total.classical_inter += s.classical_inter
        total.classical_union += s.classical_union
        total.seconds += s.seconds
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        "## Learned segmenter (issue 4) — 2026-11-24",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} cores, {mem:.1f} GiB RAM, Python "
        f"{platform.python_version()}, onnxruntime on the CPU (shared with other work). "
        f"Model: `{model.name}` ({model.stat().st_size / 1024:.0f} KiB). Held-out set: "
        f"{per_preset} sheets per preset, seed {seed} (training used seeds 0 and 100000), "
        "records from `../shared/data/records`, 150-300 dpi as the presets draw. IoU pooled "
        "over the sheets of a preset; the classical column is `separate(rgb).trace` vs the "
        "trace class.",
        "",
        "| preset | background | trace | grid | text | classical trace | "
        "learned s/sheet (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in [*scores.items(), ("all", total)]:
        iou = s.iou()
        lines.append(f"| {name} | " + " | ".join(f"{iou[c]:.3f}" for c in CLASS_NAMES)
                     + f" | {s.classical_iou():.3f} | {statistics.median(s.seconds):.2f} |")
    lines += [
        "",
        f"Inference time on a 2200 x 1700 px sheet: median {statistics.median(timings):.2f} s "
        f"(min {min(timings):.2f}, max {max(timings):.2f}, {len(timings)} runs over "
        f"{len(timings) // 2} sheets, after a warm-up), target ≤ 1.5 s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the report (and append it with ``--append``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-preset", type=int, default=8)
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    p.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    command = ".venv/bin/python benchmarks/bench_segmenter.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    scores, timings = run(args.per_preset, args.seed, args.model)
    text = report(scores, timings, command.strip(), args.per_preset, args.seed, args.model)
    print(text)
    if args.append:
        with RESULTS.open("a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
