"""Digitizer benchmark (issue 3): accuracy on synthetic scans, speed, memory, real images.

Run: ``.venv/bin/python benchmarks/bench_digitize.py [--n-clean 24] [--n-scan 12]
[--n-photo 0] [--n-degraded 0] [--n-overlap 0] [--option KEY=VALUE] [--workers 2]
[--write-results]``

Two sets of sheets are generated with fixed seeds (one
:class:`numpy.random.SeedSequence` child per sheet) from the real records in
``../shared/data/records`` when present, else from the built-in simulator:

- ``clean``: ``sample_spec("clean-scan")`` (rotation <= 1 degree, light
  noise), with the layout, paper speed, gain, dpi, grid colour and pulse side
  overridden by index so that every built-in layout, 25/50 mm/s,
  5/10/20 mm/mV, 150-600 dpi, six grid colours and left/right/no pulse appear;
- ``scan``: half ``bw-scan``, half ``clean-scan``, both with a rotation of
  up to +-5 degrees, scanner noise, handwriting 0-0.4, a printed header and a
  JPEG round trip (quality 60-95).

With ``--n-photo``, ``--n-degraded`` and ``--n-overlap`` (issue 4; 0 by default)
sets of the generator's ``photo``, ``degraded`` and ``overlap`` presets are
added, drawn unchanged from the preset, and scored against issue 4's targets.
``--option KEY=VALUE`` passes a keyword to ``digitize()`` (e.g.
``perspective=false``) to compare a variant on the same sheets.

Each sheet is written (image + ground-truth sidecar), digitized with
``digitize(path)`` (the time measured is that call only: decoding the file
and reading it), written with ``write_json`` and scored with ``score_sheet``.
A sheet whose digitizing raises is a failure (exception type and message
kept) and is scored as an empty reconstruction (0 dB).

A separate process then digitizes Letter sheets at 200 dpi (2200 x 1700 px)
one after the other to measure the time per sheet and the peak resident
memory of the whole process (``--speed-only`` is that mode). When
``../shared/data/real-images-dev`` is present its images are digitized too
(no ground truth: settings found, warnings, errors; the heart rate of
``ecg00005`` against the 80 bpm printed on it) and downscaled overlays are
written to ``benchmarks/overlays/``.

Prints Markdown tables with the targets of issues 3 and 4; ``--write-results``
writes them as a dated section of ``benchmarks/RESULTS.md`` in place of the
previous run's, which moves to ``benchmarks/HISTORY.md`` (see
:func:`file_results`); a run with ``--option`` is added as a section of its own.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ecgdigitize.digitize.load import load_image
from ecgdigitize.digitize.overlay import draw_overlay
from ecgdigitize.digitize.pipeline import WORKING_MAX_SIDE_PX, digitize, working_scale
from ecgdigitize.errors import EcgDigitizeError
from ecgdigitize.evaluate.intervals import delineate
from ecgdigitize.evaluate.scoring import score_sheet
from ecgdigitize.io.outputs import write_json
from ecgdigitize.io.wfdbio import read_record
from ecgdigitize.layouts import layout_names
from ecgdigitize.leads import STANDARD_LEADS
from ecgdigitize.simulator import random_params, simulate_ecg
from ecgdigitize.synth.dataset import SIMULATOR, list_record_sources
from ecgdigitize.synth.presets import sample_spec
from ecgdigitize.synth.sheet import SheetSpec, generate_sheet

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"
RECORDS = SHARED / "records"
REAL = SHARED / "real-images-dev"
OVERLAYS = HERE / "overlays"

LAYOUTS = tuple(layout_names())
SPEEDS = (25.0, 50.0)
GAINS = (5.0, 10.0, 20.0)
GRID_COLOURS = ("red", "pink", "green", "blue", "grey", "black")
PULSES = ("left", "right", "none")
DPIS = tuple(range(150, 601, 50))  # 10 values

# Targets of issue 3.
T_CLEAN_LEAD_DB = 20.0
T_SHEET_MIN_DB = 10.0
T_LAYOUT = 0.98
T_PXMM = 0.01
T_SCAN_LEAD_DB = 15.0
T_TIME_S = 2.0
T_MEM_MB = 1024.0
# Targets of issue 4 (median SNR per lead, reference convention; layout rate for photos).
T_ISSUE4_DB = {"photo": 10.0, "degraded": 12.0, "overlap": 12.0}
T_PHOTO_LAYOUT = 0.95

# Printed on ecg00005: ventricular rate 80 bpm.
PRINTED_HR = {"ecg00005": 80.0}


# --------------------------------------------------------------------------- sheets


def clean_spec(i: int, rng: np.random.Generator) -> SheetSpec:
    """``clean-scan`` with the settings overridden by index (every layout appears)."""
    spec = sample_spec("clean-scan", rng)
    r = spec.render
    n = len(LAYOUTS)
    r.layout = LAYOUTS[i % n]
    r.speed_mm_s = SPEEDS[(i + i // n) % 2]
    r.gain_mm_mv = GAINS[i % 3]
    r.dpi = float(DPIS[(7 * i) % len(DPIS)])
    r.grid_colour = GRID_COLOURS[i % len(GRID_COLOURS)]
    r.calibration_pulse = PULSES[(i // 3) % 3]
    spec.preset = "clean-scan"
    return spec


def scan_spec(i: int, rng: np.random.Generator) -> SheetSpec:
    """``bw-scan`` (even i) or ``clean-scan`` (odd i) with scanner artifacts."""
    base = "bw-scan" if i % 2 == 0 else "clean-scan"
    spec = sample_spec(base, rng)
    a = spec.artifacts
    a.rotation_deg = float(rng.uniform(-5.0, 5.0))
    a.noise = float(rng.uniform(0.05, 0.3))
    a.handwriting = float(rng.uniform(0.0, 0.4))
    a.jpeg_quality = int(rng.integers(60, 96))
    spec.render.header = True
    spec.preset = "bw-scan" if a.bw else "clean-scan+artifacts"
    return spec


def preset_spec(preset: str):
    """Spec maker drawing from a generator preset unchanged (issue 4's conditions)."""
    def make(i: int, rng: np.random.Generator) -> SheetSpec:
        return sample_spec(preset, rng)
    return make


SPEC_MAKERS = {"clean": clean_spec, "scan": scan_spec, "photo": preset_spec("photo"),
               "degraded": preset_spec("degraded"), "overlap": preset_spec("overlap")}
#: Sets, in report order, with the key of the tasks' seed sequence (never reuse a key).
SET_KEYS = {"clean": 1, "scan": 2, "photo": 3, "degraded": 4, "overlap": 5}


def _load_record(source: str, rng: np.random.Generator, index: int):
    if source == SIMULATOR:
        return simulate_ecg(rng, duration_s=10.0, fs=500.0, params=random_params(rng),
                            name=f"sim{index:04d}")
    return read_record(source)


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    last = tb[-1]
    return f" ({Path(last.filename).name}:{last.lineno})"


def _error(exc: BaseException) -> str:
    msg = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, EcgDigitizeError):
        msg += _where(exc)
    return msg


def _f(v: Any) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def run_sheet(task: tuple) -> dict[str, Any]:
    """Generate, digitize and score one sheet. Never raises."""
    set_name, i, source, seed_seq, out_dir, options = task
    out = Path(out_dir) / set_name
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed_seq)
    name = "sim" if source == SIMULATOR else Path(source).name
    stem = f"{set_name}_{i:03d}_{name}"
    row: dict[str, Any] = {"set": set_name, "index": i, "stem": stem, "record": name}
    try:
        record = _load_record(source, rng, i)
        spec = SPEC_MAKERS[set_name](i, rng)
        seed_id = int(seed_seq.generate_state(1)[0])
        sheet = generate_sheet(record, spec, rng=rng, seed=seed_id, source=name)
        gt = sheet.groundtruth
        jq = spec.artifacts.jpeg_quality
        img_path = out / f"{stem}.{'jpg' if jq is not None else 'png'}"
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jq)] if jq is not None else []
        cv2.imwrite(str(img_path), np.ascontiguousarray(sheet.canvas.image[:, :, ::-1]), params)
        truth_path = out / f"{stem}_truth.json"
        gt = dict(gt, image=img_path.name)
        truth_path.write_text(json.dumps(gt, separators=(",", ":")), encoding="utf-8")
        h, w = sheet.canvas.image.shape[:2]
        del sheet
    except Exception as exc:  # a generator bug is recorded, not fatal
        row["gen_error"] = f"{type(exc).__name__}: {exc}{_where(exc)}"
        return row
    r = spec.render
    row.update(condition=spec.preset, layout_true=gt["layout"], speed_true=gt["speed_mm_s"],
               gain_true=gt["gain_mm_mv"], pulse_true=gt["calibration_pulse"], dpi=r.dpi,
               paper=r.paper, grid_colour=r.grid_colour,
               rotation_true=spec.artifacts.rotation_deg, bw=spec.artifacts.bw,
               jpeg=spec.artifacts.jpeg_quality, handwriting=spec.artifacts.handwriting,
               shape=[h, w], pxmm_true=float(gt["px_per_mm"]),
               duration_true=float(gt["sheet_duration_s"]), photographed=_photographed(gt))
    pred_path: Path | None = None
    t0 = time.perf_counter()
    try:
        res = digitize(img_path, **options)
        row["time_s"] = time.perf_counter() - t0
        det = res.detected
        # The digitizer works on a resized copy (working_scale); px/mm are the input's.
        scale = working_scale(max(h, w))
        row.update(layout_det=det.layout, speed_det=det.speed_mm_s, speed_src=det.speed_source,
                   gain_det=det.gain_mm_mv, gain_src=det.gain_source, pulse_det=det.pulse,
                   scale_src=det.scale_source, rotation_det=det.rotation_deg, work_scale=scale,
                   duration_det=det.sheet_duration_s,
                   pxmm_det_x=_f(det.px_per_mm_x), pxmm_det_y=_f(det.px_per_mm_y),
                   warnings=list(res.warnings))
        for ax in ("x", "y"):
            v = row[f"pxmm_det_{ax}"]
            # A photographed sheet is read at the scale of its rectified copy, which the
            # flat render's px/mm does not give; only its aspect (x against y) is checked.
            row[f"pxmm_err_{ax}"] = None if v is None or row["photographed"] \
                else v / row["pxmm_true"] - 1.0
        if row["pxmm_det_x"] is not None and row["pxmm_det_y"] is not None:
            row["aspect_err"] = row["pxmm_det_x"] / row["pxmm_det_y"] - 1.0
        pred_path = out / f"{stem}_digitized.json"
        write_json(res, pred_path)
        del res
    except Exception as exc:
        row["time_s"] = time.perf_counter() - t0
        row["error"] = _error(exc)
        pred_path = None
    try:
        sc = score_sheet(truth_path, pred_path)
        row["leads"] = {k: {"ref": _f(v.reference.snr_db), "chal": _f(v.challenge.snr_db),
                            "pearson": _f(v.reference.pearson)} for k, v in sc.leads.items()}
        row["snr_ref"] = _f(sc.snr_reference_db)
        row["snr_chal"] = _f(sc.snr_challenge_db)
        row["pearson"] = _f(sc.pearson)
        row["d_hr_bpm"] = _f(sc.intervals.get("hr_bpm"))
    except Exception as exc:
        row["score_error"] = f"{type(exc).__name__}: {exc}{_where(exc)}"
    return row


def record_sources() -> tuple[list[str], str]:
    """The real records of ``../shared/data/records`` (else the simulator), and their name
    for a report."""
    if RECORDS.is_dir():
        sources = sorted(list_record_sources(RECORDS))
        return sources, f"the {len(sources)} real records of `../shared/data/records`"
    return [SIMULATOR], "the built-in simulator"


def _photographed(gt: dict[str, Any]) -> bool:
    """True if a sheet's image is a perspective view of it (a photo), not a scan."""
    params = (gt.get("warp") or {}).get("params") or {}
    return bool(params.get("perspective") or params.get("tilt_deg"))


def append_results(text: str) -> None:
    """Append a section to benchmarks/RESULTS.md."""
    with open(HERE / "RESULTS.md", "a", encoding="utf-8") as f:
        f.write("\n" + text)


#: Title prefix of the main digitizer run's section in RESULTS.md.
MAIN_TITLE = "## Digitizer on synthetic"

#: Header of benchmarks/HISTORY.md.
HISTORY_HEAD = ("# Benchmark history\n\nEarlier runs of `benchmarks/bench_digitize.py`, oldest "
                "first, as each was recorded in RESULTS.md at the time; the latest run is in "
                "[RESULTS.md](RESULTS.md).\n\n")

_SETS = ("clean", "scan", "photo", "degraded", "overlap")


def _sections(text: str) -> tuple[str, list[str]]:
    """Split Markdown at its level-2 headings: (text before the first, sections)."""
    parts = re.split(r"(?m)^(?=## )", text)
    return parts[0], [p for p in parts[1:] if p.strip()]


def _run_line(section: str) -> str:
    """A table row of an earlier run: title, code commit and the median SNR per set."""
    title = section.splitlines()[0][3:]
    commit = re.search(r"Code: ecgdigitize at commit `([0-9a-f]+)`", section)
    medians = re.search(r"(?m)^\| median SNR over all lead scores, reference convention, dB "
                        r"\|(.*)$", section)
    cells = [c.strip() for c in medians.group(1).strip(" |").split("|")] if medians else []
    cells += ["—"] * (len(_SETS) - len(cells))
    code = f"`{commit.group(1)}`" if commit else "—"
    return f"| {title} | {code} | " + " | ".join(cells[:len(_SETS)]) + " |"


def file_results(section: str, results: Path, history: Path) -> None:
    """Put a main run's section into RESULTS.md in place of the previous one.

    The previous main section (``## Digitizer on synthetic ...``) moves to the
    end of `history`, and the new section gets an "Earlier runs" table with
    one line per run kept there (its title, commit and median SNR per set).
    Both files are written through a temporary file and a rename.

    Parameters
    ----------
    section : str
        The new section, starting with its ``## `` heading.
    results, history : Path
        RESULTS.md and HISTORY.md.
    """
    head, sections = _sections(results.read_text(encoding="utf-8")
                               if results.exists() else "# Benchmark results\n\n")
    old = [k for k, sec in enumerate(sections) if sec.startswith(MAIN_TITLE)]
    hist_text = history.read_text(encoding="utf-8") if history.exists() else HISTORY_HEAD
    hist_head, hist_secs = _sections(hist_text)
    hist_secs += [sections[k] for k in old]
    runs = [_run_line(sec) for sec in hist_secs if sec.startswith(MAIN_TITLE)]
    table = ""
    if runs:
        table = ("### Earlier runs\n\nThe full tables of each run are in "
                 "[HISTORY.md](HISTORY.md). Median SNR over all lead scores, reference "
                 "convention, dB.\n\n| run | code | " + " | ".join(_SETS) + " |\n|---|---|"
                 + "---|" * len(_SETS) + "\n" + "\n".join(runs) + "\n\n")
    k = section.find("### Real images")
    new = section[:k] + table + section[k:] if k >= 0 else section.rstrip() + "\n\n" + table
    keep = [sec for j, sec in enumerate(sections) if j not in old]
    at = old[0] if old else len(keep)
    keep.insert(at, new)
    body = head.rstrip() + "\n\n" + "".join(sec.rstrip() + "\n\n" for sec in keep)
    for path, text in ((history, hist_head.rstrip() + "\n\n"
                        + "".join(sec.rstrip() + "\n\n" for sec in hist_secs)),
                       (results, body)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text.rstrip() + "\n", encoding="utf-8")
        os.replace(tmp, path)


def make_tasks(n: int, set_name: str, sources: list[str], seed: int, out_dir: str,
               key: int, options: dict[str, Any] | None = None) -> list[tuple]:
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, key))) \
        .permutation(len(sources))
    children = np.random.SeedSequence(seed, spawn_key=(key,)).spawn(n)
    return [(set_name, i, sources[order[i % len(sources)]], children[i], out_dir,
             dict(options or {})) for i in range(n)]


def parse_options(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs for ``digitize()`` (``true``/``false`` and numbers converted)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--option wants KEY=VALUE, got {item!r}")
        low = value.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
            continue
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


# --------------------------------------------------------------------------- real images


def run_real(path_str: str) -> dict[str, Any]:
    """Digitize one real image, write its downscaled overlay. Never raises."""
    path = Path(path_str)
    row: dict[str, Any] = {"image": path.name}
    try:
        image = load_image(path)
        row["shape"] = list(image.shape[:2])
        t0 = time.perf_counter()
        res = digitize(path)
        row["time_s"] = time.perf_counter() - t0
    except Exception as exc:
        row["error"] = _error(exc)
        return row
    det = res.detected
    row.update(layout=det.layout, layout_cost=_f(det.layout_cost), speed=det.speed_mm_s,
               speed_src=det.speed_source, gain=det.gain_mm_mv, gain_src=det.gain_source,
               pxmm_x=_f(det.px_per_mm_x), pxmm_y=_f(det.px_per_mm_y),
               scale_src=det.scale_source, rotation=det.rotation_deg, pulse=det.pulse,
               warnings=list(res.warnings),
               leads_read=sum(1 for q in res.quality.values() if q > 0))
    ii = res.lead_names.index("II")
    try:
        iv = delineate({"II": res.signals[:, ii]}, res.fs)
        row["hr_bpm_II"] = _f(iv.hr_bpm)
    except Exception as exc:
        row["hr_error"] = _error(exc)
    try:
        canvas = draw_overlay(image, res)
        h, w = canvas.shape[:2]
        f = min(1.0, 1200.0 / max(h, w))
        if f < 1.0:
            canvas = cv2.resize(canvas, (round(w * f), round(h * f)),
                                interpolation=cv2.INTER_AREA)
        OVERLAYS.mkdir(parents=True, exist_ok=True)
        for q in (80, 70, 60, 50):
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(canvas[:, :, ::-1]),
                                   [cv2.IMWRITE_JPEG_QUALITY, q])
            if ok and buf.size < 300_000:
                break
        dst = OVERLAYS / f"{path.stem}_overlay.jpg"
        dst.write_bytes(buf.tobytes())
        row["overlay"] = f"benchmarks/overlays/{dst.name}"
        row["overlay_kb"] = round(buf.size / 1024)
    except Exception as exc:
        row["overlay_error"] = _error(exc)
    return row


# --------------------------------------------------------------------------- speed


def make_speed_sheets(out_dir: Path, n: int, seed: int, sources: list[str]) -> list[Path]:
    """``n`` + 1 clean-scan Letter sheets at 200 dpi, 3x4+1 (the first warms up)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    children = np.random.SeedSequence(seed, spawn_key=(9,)).spawn(n + 1)
    paths = []
    for i, ss in enumerate(children):
        rng = np.random.default_rng(ss)
        rec = _load_record(sources[i % len(sources)], rng, i)
        spec = sample_spec("clean-scan", rng)
        spec.render.layout, spec.render.dpi, spec.render.paper = "3x4+1", 200.0, "letter"
        sheet = generate_sheet(rec, spec, rng=rng, seed=i)
        p = out_dir / f"speed_{i:02d}.png"
        cv2.imwrite(str(p), np.ascontiguousarray(sheet.canvas.image[:, :, ::-1]))
        paths.append(p)
    return paths


def speed_only(folder: Path) -> None:
    """Digitize every PNG of `folder` in order; print times and peak RSS as JSON."""
    times, shapes, errors = [], [], []
    for p in sorted(folder.glob("*.png")):
        t0 = time.perf_counter()
        try:
            res = digitize(p)
            shapes.append(list(res.image_shape))
        except Exception as exc:
            errors.append(f"{p.name}: {_error(exc)}")
        times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"times_s": times, "shapes": shapes, "errors": errors,
                      "peak_rss_mb": peak_mb}))


# --------------------------------------------------------------------------- summary


def _med(values) -> float:
    a = np.array([v for v in values if v is not None], float)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else float("nan")


def _min(values) -> float:
    a = np.array([v for v in values if v is not None], float)
    a = a[np.isfinite(a)]
    return float(a.min()) if a.size else float("nan")


def _fmt(v: float, d: int = 1) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{d}f}"


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.0f} % ({k}/{n})" if n else "n/a"


def _ok(flag: bool) -> str:
    return "**met**" if flag else "**not met**"


def lead_medians(rows: list[dict], conv: str) -> dict[str, float]:
    out = {}
    for lead in STANDARD_LEADS:
        out[lead] = _med(r["leads"][lead][conv] for r in rows
                         if lead in r.get("leads", {}))
    return out


def set_stats(rows: list[dict]) -> dict[str, Any]:
    ok = [r for r in rows if "gen_error" not in r and "score_error" not in r]
    n = len(ok)
    read = [r for r in ok if "error" not in r]
    all_ref = [v["ref"] for r in ok for v in r["leads"].values()]
    all_chal = [v["chal"] for r in ok for v in r["leads"].values()]
    below = sum(1 for r in ok if r["snr_ref"] is None or r["snr_ref"] < T_SHEET_MIN_DB)
    below_c = sum(1 for r in ok if r["snr_chal"] is None or r["snr_chal"] < T_SHEET_MIN_DB)
    lay = sum(1 for r in read if r["layout_det"] == r["layout_true"])
    spd = sum(1 for r in read if r["speed_det"] == r["speed_true"])
    gain = sum(1 for r in read if r["gain_det"] == r["gain_true"])

    def pxmm_ok(r):
        ex, ey = r.get("pxmm_err_x"), r.get("pxmm_err_y")
        return ex is not None and ey is not None and abs(ex) <= T_PXMM and abs(ey) <= T_PXMM

    px = sum(1 for r in read if pxmm_ok(r))
    # Rates over the sheets whose px/mm can be compared (failed ones count as wrong).
    n_px = sum(1 for r in ok if not r.get("photographed"))
    aspect = sum(1 for r in read if r.get("photographed") and r.get("aspect_err") is not None
                 and abs(r["aspect_err"]) <= T_PXMM)
    n_aspect = sum(1 for r in ok if r.get("photographed"))
    return {
        "n": n, "n_gen_errors": len(rows) - n, "failures": n - len(read),
        "lead_med_ref": _med(all_ref), "lead_med_chal": _med(all_chal),
        "per_lead_ref": lead_medians(ok, "ref"), "per_lead_chal": lead_medians(ok, "chal"),
        "sheet_med_ref": _med(r["snr_ref"] for r in ok),
        "sheet_min_ref": _min(r["snr_ref"] for r in ok),
        "pearson_med": _med(r["pearson"] for r in ok),
        "below": below, "below_chal": below_c, "layout": lay, "speed": spd, "gain": gain,
        "pxmm": px, "n_pxmm": n_px, "aspect": aspect, "n_aspect": n_aspect,
        "time_med": _med(r["time_s"] for r in ok),
        "time_max": max((r["time_s"] for r in ok), default=float("nan")),
        "pxmm_err_med": _med(max(abs(r["pxmm_err_x"]), abs(r["pxmm_err_y"])) for r in read
                             if r.get("pxmm_err_x") is not None
                             and r.get("pxmm_err_y") is not None),
        # Rates count failed sheets as wrong.
        "n_rates": n,
    }


def per_sheet_table(rows: list[dict]) -> list[str]:
    out = ["| sheet | condition | dpi | layout true → found | mm/s true → found (source) "
           "| mm/mV true → found (source) | px/mm err x / y % | mean SNR ref / chal dB "
           "| worst lead (ref dB) | time s | error |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "gen_error" in r:
            out.append(f"| {r['stem']} | | | | | | | | | | generator: {r['gen_error']} |")
            continue
        if "error" in r:
            out.append(f"| {r['stem']} | {r['condition']} | {r['dpi']:g} | {r['layout_true']} "
                       f"→ — | {r['speed_true']:g} → — | {r['gain_true']:g} → — | — | "
                       f"{_fmt(r.get('snr_ref'))} / {_fmt(r.get('snr_chal'))} | — | "
                       f"{r['time_s']:.2f} | {r['error']} |")
            continue
        worst = min(r["leads"].items(), key=lambda kv: kv[1]["ref"]
                    if kv[1]["ref"] is not None else -1e9) if r.get("leads") else None
        ws = f"{worst[0]} {_fmt(worst[1]['ref'])}" if worst else "—"
        lay = r["layout_true"] if r["layout_det"] == r["layout_true"] else \
            f"{r['layout_true']} → **{r['layout_det']}**"
        spd = f"{r['speed_true']:g}" + ("" if r["speed_det"] == r["speed_true"] else
                                        f" → **{r['speed_det']:g}**") + f" ({r['speed_src']})"
        gn = f"{r['gain_true']:g}" + ("" if r["gain_det"] == r["gain_true"] else
                                      f" → **{r['gain_det']:g}**") + f" ({r['gain_src']})"
        ex, ey = r.get("pxmm_err_x"), r.get("pxmm_err_y")
        pe = f"{_fmt(None if ex is None else 100 * ex, 2)} / " \
             f"{_fmt(None if ey is None else 100 * ey, 2)}"
        out.append(f"| {r['stem']} | {r['condition']} | {r['dpi']:g} | {lay} | {spd} | {gn} | "
                   f"{pe} | {_fmt(r.get('snr_ref'))} / {_fmt(r.get('snr_chal'))} | {ws} | "
                   f"{r['time_s']:.2f} | {r.get('score_error', '')} |")
    return out


def build_report(args, sets: dict[str, list[dict]], speed: dict | None,
                 real: list[dict], source_desc: str, wall_s: float) -> list[str]:
    L: list[str] = []
    st = {k: set_stats(v) for k, v in sets.items() if v}
    L.append(f"Records: {source_desc}. Total wall time of the run: {wall_s / 60:.1f} min.")
    L.append("")
    L.append("### Accuracy on synthetic sheets")
    L.append("")
    L.append("| measure | " + " | ".join(st) + " |")
    L.append("|---|" + "---|" * len(st))

    def line(label, fn):
        L.append(f"| {label} | " + " | ".join(fn(s) for s in st.values()) + " |")

    line("sheets (digitizer failures)", lambda s: f"{s['n']} ({s['failures']})")
    line("median SNR over all lead scores, reference convention, dB",
         lambda s: _fmt(s["lead_med_ref"]))
    line("median SNR over all lead scores, Challenge convention, dB",
         lambda s: _fmt(s["lead_med_chal"]))
    line("median / min of sheet-mean SNR (reference), dB",
         lambda s: f"{_fmt(s['sheet_med_ref'])} / {_fmt(s['sheet_min_ref'])}")
    line("median sheet-mean Pearson r", lambda s: _fmt(s["pearson_med"], 3))
    line("sheets with mean SNR < 10 dB (reference)", lambda s: _pct(s["below"], s["n"]))
    line("sheets with mean SNR < 10 dB (Challenge)", lambda s: _pct(s["below_chal"], s["n"]))
    line("layout correct", lambda s: _pct(s["layout"], s["n"]))
    line("paper speed correct", lambda s: _pct(s["speed"], s["n"]))
    line("gain correct", lambda s: _pct(s["gain"], s["n"]))
    line("px/mm within 1 % on both axes (sheets not photographed)",
         lambda s: _pct(s["pxmm"], s["n_pxmm"]) if s["n_pxmm"] else "n/a")
    line("x/y px/mm within 1 % (photos, rectified)",
         lambda s: _pct(s["aspect"], s["n_aspect"]) if s["n_aspect"] else "n/a")
    line("median px/mm error (worse axis), %", lambda s: _fmt(100 * s["pxmm_err_med"], 2))
    line(f"median / max time per sheet, s ({args.workers} workers in parallel)",
         lambda s: f"{_fmt(s['time_med'], 2)} / {_fmt(s['time_max'], 2)}")
    L.append("")
    L.append("Rates are over all sheets (a failed sheet counts as wrong; it is scored as an "
             "empty reconstruction). Detected px/mm (of the input image; the digitizer works "
             f"on a copy of at most {WORKING_MAX_SIDE_PX} px) are compared with the sidecar's "
             "`px_per_mm`, except on photographed sheets (perspective or tilt), which are "
             "read at the scale of their rectified copy: there only the ratio of the x and y "
             "scales is checked (a rectification with the paper's true aspect gives 1).")
    L.append("")
    L.append("Median SNR per lead (over sheets), dB:")
    L.append("")
    hdr = []
    for k in st:
        hdr += [f"{k} ref", f"{k} Challenge"]
    L.append("| lead | " + " | ".join(hdr) + " |")
    L.append("|---|" + "---|" * len(hdr))
    for lead in STANDARD_LEADS:
        vals = []
        for s in st.values():
            vals += [_fmt(s["per_lead_ref"][lead]), _fmt(s["per_lead_chal"][lead])]
        L.append(f"| {lead} | " + " | ".join(vals) + " |")
    L.append("")

    # Breakdown by layout (clean) and condition (scan).
    for set_name, key in (("clean", "layout_true"), ("scan", "condition")):
        rows = [r for r in sets.get(set_name, []) if "gen_error" not in r and "leads" in r]
        if not rows:
            continue
        L.append(f"{set_name} set by {key.replace('_true', '')}:")
        L.append("")
        L.append(f"| {key.replace('_true', '')} | sheets | failures | layout correct | "
                 "median sheet SNR ref dB | min sheet SNR ref dB |")
        L.append("|---|---|---|---|---|---|")
        for g in sorted({r[key] for r in rows}):
            gr = [r for r in rows if r[key] == g]
            fails = sum(1 for r in gr if "error" in r)
            lay = sum(1 for r in gr if r.get("layout_det") == r["layout_true"])
            snrs = [r["snr_ref"] for r in gr]
            mn = _min(snrs)
            L.append(f"| {g} | {len(gr)} | {fails} | {lay}/{len(gr)} | {_fmt(_med(snrs))} | "
                     f"{_fmt(mn)} |")
        L.append("")

    fails = [r for rows in sets.values() for r in rows
             if "error" in r or "gen_error" in r or "score_error" in r]
    L.append(f"Failures ({len(fails)}):" if fails else "Failures: none.")
    for r in fails:
        msg = r.get("error") or r.get("gen_error") or r.get("score_error")
        L.append(f"- `{r['stem']}` ({r.get('condition', '?')}, {r.get('layout_true', '?')}, "
                 f"{r.get('dpi', 0):g} dpi): {msg}")
    L.append("")

    if speed is not None:
        L.append("### Speed and memory (Letter at 200 dpi, one process, sheets in sequence)")
        L.append("")
        L.append("| measure | value | target |")
        L.append("|---|---|---|")
        if speed.get("error"):
            L.append(f"| speed run | failed: {speed['error']} | |")
        else:
            t = speed["times_s"]
            warm = t[1:] if len(t) > 1 else t
            shp = speed["shapes"][0] if speed["shapes"] else ["?", "?"]
            L.append(f"| median `digitize()` time of {len(warm)} sheets ({shp[1]}x{shp[0]} px,"
                     f" first sheet of the process not counted) | {_fmt(_med(warm), 2)} s "
                     f"(max {_fmt(max(warm), 2)} s; first {_fmt(t[0], 2)} s) | ≤ {T_TIME_S:g} s |")
            L.append(f"| peak resident memory of that whole process (ru_maxrss) | "
                     f"{speed['peak_rss_mb']:.0f} MB | ≤ {T_MEM_MB / 1024:g} GB |")
            if speed["errors"]:
                L.append(f"| errors | {'; '.join(speed['errors'])} | |")
        L.append("")

    if "clean" in st or "scan" in st or speed is not None:
        L.append("### Targets of issue 3")
        L.append("")
        L.append("| target | measured | verdict |")
        L.append("|---|---|---|")
    if "clean" in st:
        s = st["clean"]
        worst_ref = min(s["per_lead_ref"].items(), key=lambda kv: kv[1]
                        if np.isfinite(kv[1]) else -1e9)
        worst_ch = min(s["per_lead_chal"].items(), key=lambda kv: kv[1]
                       if np.isfinite(kv[1]) else -1e9)
        L.append(f"| clean: median SNR ≥ {T_CLEAN_LEAD_DB:g} dB for every lead (reference "
                 f"convention) | lowest lead median {worst_ref[0]} {_fmt(worst_ref[1])} dB | "
                 f"{_ok(worst_ref[1] >= T_CLEAN_LEAD_DB)} |")
        L.append(f"| same, Challenge convention | lowest lead median {worst_ch[0]} "
                 f"{_fmt(worst_ch[1])} dB | {_ok(worst_ch[1] >= T_CLEAN_LEAD_DB)} |")
        L.append(f"| clean: no sheet below {T_SHEET_MIN_DB:g} dB (sheet-mean, reference) | "
                 f"{s['below']} of {s['n']} below | {_ok(s['below'] == 0)} |")
        L.append(f"| clean: layout ≥ {100 * T_LAYOUT:g} % | {_pct(s['layout'], s['n'])} | "
                 f"{_ok(s['n'] > 0 and s['layout'] / s['n'] >= T_LAYOUT)} |")
        L.append(f"| clean: px/mm within 1 % (every sheet) | {_pct(s['pxmm'], s['n_pxmm'])} | "
                 f"{_ok(s['pxmm'] == s['n_pxmm'])} |")
    if "scan" in st:
        s = st["scan"]
        worst_ref = min(s["per_lead_ref"].items(), key=lambda kv: kv[1]
                        if np.isfinite(kv[1]) else -1e9)
        L.append(f"| scans: median SNR ≥ {T_SCAN_LEAD_DB:g} dB (reference convention) | all "
                 f"lead scores {_fmt(s['lead_med_ref'])} dB; lowest lead median "
                 f"{worst_ref[0]} {_fmt(worst_ref[1])} dB | "
                 f"{_ok(s['lead_med_ref'] >= T_SCAN_LEAD_DB)} overall, "
                 f"{_ok(worst_ref[1] >= T_SCAN_LEAD_DB)} for every lead |")
        L.append(f"| scans, Challenge convention | all lead scores {_fmt(s['lead_med_chal'])} dB "
                 f"| {_ok(s['lead_med_chal'] >= T_SCAN_LEAD_DB)} |")
    if speed is not None and not speed.get("error"):
        t = speed["times_s"][1:] or speed["times_s"]
        L.append(f"| ≤ {T_TIME_S:g} s per 2200x1700 sheet (median, 2 cores) | "
                 f"{_fmt(_med(t), 2)} s | {_ok(_med(t) <= T_TIME_S)} |")
        L.append(f"| peak memory ≤ 1 GB | {speed['peak_rss_mb']:.0f} MB | "
                 f"{_ok(speed['peak_rss_mb'] <= T_MEM_MB)} |")
    L.append("")

    issue4 = [k for k in T_ISSUE4_DB if k in st]
    if issue4:
        L.append("### Targets of issue 4")
        L.append("")
        L.append("| target | measured | verdict |")
        L.append("|---|---|---|")
        for k in issue4:
            s = st[k]
            L.append(f"| {k}: median SNR per lead ≥ {T_ISSUE4_DB[k]:g} dB (reference "
                     f"convention) | {_fmt(s['lead_med_ref'])} dB ({s['failures']} of {s['n']} "
                     f"sheets failed) | {_ok(s['lead_med_ref'] >= T_ISSUE4_DB[k])} |")
            if k == "photo":
                L.append(f"| photo: layout ≥ {100 * T_PHOTO_LAYOUT:g} % | "
                         f"{_pct(s['layout'], s['n'])} | "
                         f"{_ok(s['n'] > 0 and s['layout'] / s['n'] >= T_PHOTO_LAYOUT)} |")
        L.append("")

    if real:
        L.append("### Real images (`../shared/data/real-images-dev`, no ground truth)")
        L.append("")
        L.append("| image | size px | layout found | mm/s (source) | mm/mV (source) | "
                 "px/mm x / y (source) | rotation ° | leads read | HR lead II bpm | time s | "
                 "warnings or error |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in real:
            shp = f"{r['shape'][1]}x{r['shape'][0]}" if "shape" in r else "?"
            if "error" in r:
                L.append(f"| {r['image']} | {shp} | — | — | — | — | — | — | — | — | "
                         f"**{r['error']}** |")
                continue
            hr = _fmt(r.get("hr_bpm_II"))
            if r["image"].split(".")[0] in PRINTED_HR:
                hr += f" (printed {PRINTED_HR[r['image'].split('.')[0]]:g})"
            warn = "; ".join(r["warnings"]) or "—"
            L.append(f"| {r['image']} | {shp} | {r['layout']} | {r['speed']:g} "
                     f"({r['speed_src']}) | {r['gain']:g} ({r['gain_src']}) | "
                     f"{_fmt(r['pxmm_x'], 2)} / {_fmt(r['pxmm_y'], 2)} ({r['scale_src']}) | "
                     f"{_fmt(r['rotation'])} | {r['leads_read']} | {hr} | {r['time_s']:.2f} | "
                     f"{warn} |")
        L.append("")
        L.append("Overlays (downscaled to 1200 px, JPEG): "
                 + ", ".join(f"`{r['overlay']}`" for r in real if r.get("overlay")) + ".")
        L.append("")
    return L


def machine_line() -> str:
    mem_kb = 0
    model = platform.processor() or "cpu"
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal:"):
                mem_kb = int(ln.split()[1])
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPU cores ({model}), {mem_kb / 2**20:.1f} GiB RAM "
            f"(/proc/meminfo), no GPU used, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}")


def code_line() -> str:
    """Where the ecgdigitize code came from: git commit and uncommitted source files."""
    import ecgdigitize

    pkg = Path(ecgdigitize.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(pkg), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(pkg), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return f"ecgdigitize from `{pkg}` (not a git checkout)"
    dirty = [ln[3:] for ln in dirty if ln.strip()]
    return (f"ecgdigitize at commit `{head}`"
            + (f" with uncommitted changes in {', '.join(dirty)}" if dirty
               else " (clean checkout)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-clean", type=int, default=24, help="clean sheets (default 24)")
    ap.add_argument("--n-scan", type=int, default=12, help="scan sheets (default 12)")
    ap.add_argument("--n-photo", type=int, default=0,
                    help="sheets of the generator's photo preset (issue 4; default 0)")
    ap.add_argument("--n-degraded", type=int, default=0,
                    help="sheets of the degraded preset (issue 4; default 0)")
    ap.add_argument("--n-overlap", type=int, default=0,
                    help="sheets of the overlap preset (issue 4; default 0)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="keyword for digitize(), e.g. perspective=false (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for sheets and outputs (default: a temporary folder)")
    ap.add_argument("--records", default=None,
                    help="WFDB folder or PTB-XL root, or 'simulator' (default: "
                         "../shared/data/records when present, else the simulator)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--speed-sheets", type=int, default=5,
                    help="2200x1700 sheets timed in sequence (default 5)")
    ap.add_argument("--no-real", action="store_true", help="skip the real images")
    ap.add_argument("--write-results", action="store_true",
                    help="write a dated section to benchmarks/RESULTS.md (the previous "
                         "run moves to HISTORY.md)")
    ap.add_argument("--speed-only", type=Path, default=None, metavar="DIR",
                    help=argparse.SUPPRESS)  # internal: the separate timing process
    args = ap.parse_args()

    if args.speed_only is not None:
        speed_only(args.speed_only)
        return

    t_start = time.perf_counter()
    if args.records == "simulator" or (args.records is None and not RECORDS.is_dir()):
        sources, source_desc = [SIMULATOR], "built-in simulator"
    else:
        root = Path(args.records) if args.records else RECORDS
        sources = sorted(list_record_sources(root))
        source_desc = f"{len(sources)} real records from `{root}` (WFDB)" \
            if args.records else f"the {len(sources)} real records of `../shared/data/records`"

    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_digitize_")
        out = Path(tmp.name)
    else:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)

    options = parse_options(args.option)
    counts = {"clean": args.n_clean, "scan": args.n_scan, "photo": args.n_photo,
              "degraded": args.n_degraded, "overlap": args.n_overlap}
    tasks = [t for name, key in SET_KEYS.items()
             for t in make_tasks(counts[name], name, sources, args.seed, str(out), key, options)]
    real_paths = [] if args.no_real or not REAL.is_dir() else \
        [str(p) for p in sorted(REAL.iterdir()) if p.suffix.lower() in
         (".png", ".jpg", ".jpeg")]
    rows: list[dict] = []
    real: list[dict] = []
    done = 0
    total = len(tasks) + len(real_paths)
    with ProcessPoolExecutor(max_workers=max(args.workers, 1)) as pool:
        futs = [pool.submit(run_sheet, t) for t in tasks]
        rfuts = [pool.submit(run_real, p) for p in real_paths]
        for f in futs:
            rows.append(f.result())
            done += 1
            r = rows[-1]
            print(f"[{done}/{total}] {r['stem']}: "
                  + (r.get("error") or r.get("gen_error") or
                     f"{r.get('layout_det')} SNR {_fmt(r.get('snr_ref'))} dB "
                     f"{r.get('time_s', 0):.2f} s"), file=sys.stderr, flush=True)
        for f in rfuts:
            real.append(f.result())
            done += 1
            print(f"[{done}/{total}] {real[-1]['image']}: "
                  + (real[-1].get("error") or real[-1].get("layout", "")),
                  file=sys.stderr, flush=True)
    (out / "per_sheet.json").write_text(json.dumps({"sheets": rows, "real": real}, indent=1),
                                        encoding="utf-8")

    speed: dict | None = None
    if args.speed_sheets > 0:
        spaths = make_speed_sheets(out / "speed", args.speed_sheets, args.seed, sources)
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--speed-only",
                               str(spaths[0].parent)], capture_output=True, text=True)
        try:
            speed = json.loads(proc.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            speed = {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    wall = time.perf_counter() - t_start

    sets = {name: [r for r in rows if r["set"] == name] for name in SET_KEYS
            if counts[name] > 0}
    report = build_report(args, sets, speed, real, source_desc, wall)
    details = per_sheet_table(rows)
    cmd = ".venv/bin/python benchmarks/bench_digitize.py " + shlex.join(sys.argv[1:])
    code = code_line()
    print(f"machine: {machine_line()}")
    print(f"command: {cmd.strip()}")
    print(f"code: {code}")
    print(f"outputs: {out}" + (" (temporary, removed)" if tmp else ""))
    print()
    print("\n".join(report))
    print("Per sheet:")
    print()
    print("\n".join(details))

    if args.write_results:
        today = datetime.date.today().isoformat()
        which = "issues 3 and 4" if any(k in sets for k in T_ISSUE4_DB) else "issue 3"
        sec = [f"## Digitizer on synthetic sheets ({which}) — {today}", "",
               f"Command: `{cmd.strip()}`", "", f"Code: {code}.", "",
               f"Machine: {machine_line()}.", "",
               *report,
               "<details><summary>Per sheet</summary>", "", *details, "", "</details>", ""]
        results = HERE / "RESULTS.md"
        if options:
            # A variant of the digitizer: its own section, beside the main run's.
            sec[0] = f"## Digitizer variant ({', '.join(args.option)}) — {today}"
            text = results.read_text(encoding="utf-8")
            results.write_text(text.rstrip("\n") + "\n\n" + "\n".join(sec), encoding="utf-8")
            print(f"\nappended to {results}")
        else:
            file_results("\n".join(sec), results, HERE / "HISTORY.md")
            print(f"\nwritten to {results} (the previous run moved to HISTORY.md)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
