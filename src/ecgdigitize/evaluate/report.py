"""Write an evaluation report: ``summary.json``, ``report.md`` and ``report.html``.

The HTML report holds the same tables as the Markdown one plus plots drawn as
inline SVG (no plotting library): reference vs digitized overlays of the best,
median and worst lead segments (by reference-paper SNR) and a histogram of
per-lead SNR for each condition. Every file is written atomically (temporary
file in the same folder, then renamed).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EcgDigitizeError
from ..io.atomic import write_text_atomic
from ..io.jsonable import to_jsonable
from .metrics import SNR_CAP_DB, LeadScore
from .scoring import (
    Aggregate,
    SetScore,
    SheetScore,
    load_reconstruction,
    load_reference,
    resample_linear,
)

__all__ = ["SUMMARY_SCHEMA", "write_report", "to_jsonable"]

SUMMARY_SCHEMA = "ecgdigitize.evaluation/1"

_CONVENTIONS = {
    "reference": (
        "Reference-paper convention: both signals zero-centred over the printed window, "
        "missing reconstruction samples count as 0, reconstruction shifted by up to "
        "±max_shift_s (whole samples) to the best SNR."
    ),
    "challenge": (
        "PhysioNet Challenge 2024 convention: both quantised to 256 levels and drawn as "
        "binary time × level images; the 2-D cross-correlation peak gives a time and "
        "vertical offset, applied only within ±challenge_max_shift_s and "
        "±challenge_max_offset_mv; SNR over samples finite in both, times the fraction "
        "of the reference covered."
    ),
    "other": (
        "Pearson r, RMSE (µV) and NaN % use the reference-paper alignment. "
        f"SNR is capped at {SNR_CAP_DB:g} dB. Sheet values average the sheet's leads; "
        "group values average (or take the median of) the sheet values. Interval "
        "columns are mean absolute differences of RR, QRS and QT (ms) from our own "
        "delineator (ecgdigitize.evaluate.intervals)."
    ),
}


# --------------------------------------------------------------------------- tables


def _fmt(v: Any, digits: int = 2, scale: float = 1.0) -> str:
    try:
        f = float(v) * scale
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.{digits}f}" if math.isfinite(f) else "–"


_GROUP_COLS: list[tuple[str, str, str, int, float]] = [
    # (header, unit/convention note, attribute, digits, scale)
    ("SNR ref mean", "dB, reference-paper", "snr_ref_mean_db", 2, 1.0),
    ("SNR ref median", "dB, reference-paper", "snr_ref_median_db", 2, 1.0),
    ("SNR chal mean", "dB, Challenge 2024", "snr_chal_mean_db", 2, 1.0),
    ("SNR chal median", "dB, Challenge 2024", "snr_chal_median_db", 2, 1.0),
    ("Pearson", "reference-paper", "pearson_mean", 3, 1.0),
    ("RMSE", "µV", "rmse_uv_mean", 1, 1.0),
    ("NaN", "%", "nan_fraction_mean", 2, 100.0),
]
_INTERVAL_COLS: list[tuple[str, str, str, int, float]] = [
    ("ΔRR", "ms", "d_rr_ms", 1, 1.0),
    ("ΔQRS", "ms", "d_qrs_ms", 1, 1.0),
    ("ΔQT", "ms", "d_qt_ms", 1, 1.0),
]


def _group_rows(groups: dict[str, Aggregate], first: str,
                intervals: bool) -> tuple[list[str], list[list[str]]]:
    cols = _GROUP_COLS + (_INTERVAL_COLS if intervals else [])
    header = [first, "sheets", "leads", "missing"] + [f"{h} ({u})" for h, u, *_ in cols]
    rows = []
    for name, agg in groups.items():
        row = [name, str(agg.n_sheets), str(agg.n_leads), str(agg.n_missing)]
        row += [_fmt(getattr(agg, attr), d, sc) for _, _, attr, d, sc in cols]
        rows.append(row)
    return header, rows


def _sheet_rows(sheets: Sequence[SheetScore]) -> tuple[list[str], list[list[str]]]:
    header = ["sheet", "condition", "leads", "SNR ref (dB, reference-paper)",
              "SNR chal (dB, Challenge 2024)", "Pearson", "RMSE (µV)", "NaN (%)",
              "ΔRR (ms)", "ΔQRS (ms)", "ΔQT (ms)", "note"]
    rows = []
    for s in sheets:
        note = "missing" if s.missing else ""
        if s.error:
            note = f"missing: {s.error}"
        rows.append([s.name, s.condition, str(len(s.leads)), _fmt(s.snr_reference_db),
                     _fmt(s.snr_challenge_db), _fmt(s.pearson, 3), _fmt(s.rmse_uv, 1),
                     _fmt(s.nan_fraction, 2, 100.0), _fmt(s.intervals.get("rr_ms"), 1),
                     _fmt(s.intervals.get("qrs_ms"), 1), _fmt(s.intervals.get("qt_ms"), 1),
                     note])
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    if not rows:
        lines.append("| " + " | ".join(["(none)"] + [""] * (len(header) - 1)) + " |")
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    if not rows:
        body = f'<tr><td colspan="{len(header)}">(none)</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _settings_text(settings: dict[str, Any]) -> str:
    if not settings:
        return "defaults"
    return ", ".join(f"{k} = {v}" for k, v in settings.items())


def _tables(set_score: SetScore) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    intervals = bool(set_score.settings.get("intervals", True))
    return [
        ("Overall", _group_rows({"all": set_score.overall}, "set", intervals)),
        ("Per condition", _group_rows(set_score.per_condition, "condition", intervals)),
        ("Per lead", _group_rows(set_score.per_lead, "lead", False)),
        ("Per sheet", _sheet_rows(set_score.sheets)),
    ]


def _markdown(set_score: SetScore, title: str) -> str:
    o = set_score.overall
    parts = [
        f"# {title}",
        "",
        f"{o.n_sheets} sheets ({o.n_missing} without a usable reconstruction, scored as "
        f"all-NaN), {o.n_leads} lead segments scored over their printed windows.",
        "",
        "**Which SNR is which.** Columns marked *ref* use the reference-paper convention, "
        "columns marked *chal* the PhysioNet Challenge 2024 convention.",
        "",
        f"- *ref*: {_CONVENTIONS['reference']}",
        f"- *chal*: {_CONVENTIONS['challenge']}",
        f"- {_CONVENTIONS['other']}",
        f"- Settings: {_settings_text(set_score.settings)}.",
    ]
    for heading, (header, rows) in _tables(set_score):
        parts += ["", f"## {heading}", "", _md_table(header, rows)]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- SVG

_W, _H = 720, 240
_ML, _MR, _MT, _MB = 56, 12, 26, 34


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = start
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 10))
        v += step
    return ticks


class _Axes:
    """Maps data coordinates to SVG pixels and draws a framed plot."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float,
                 width: int = _W, height: int = _H) -> None:
        if not x1 > x0:
            x1 = x0 + 1.0
        if not y1 > y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.w, self.h = width, height

    def px(self, x: np.ndarray) -> np.ndarray:
        return _ML + (np.asarray(x, float) - self.x0) / (self.x1 - self.x0) * (
            self.w - _ML - _MR)

    def py(self, y: np.ndarray) -> np.ndarray:
        return self.h - _MB - (np.asarray(y, float) - self.y0) / (self.y1 - self.y0) * (
            self.h - _MT - _MB)

    def frame(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        out = [f'<rect x="{_ML}" y="{_MT}" width="{self.w - _ML - _MR}" '
               f'height="{self.h - _MT - _MB}" fill="#fff" stroke="#999"/>']
        for t in _nice_ticks(self.x0, self.x1):
            x = float(self.px(np.array(t)))
            out.append(f'<line x1="{x:.1f}" y1="{self.h - _MB}" x2="{x:.1f}" '
                       f'y2="{self.h - _MB + 4}" stroke="#666"/>')
            out.append(f'<text x="{x:.1f}" y="{self.h - _MB + 15}" text-anchor="middle">'
                       f'{t:g}</text>')
        for t in _nice_ticks(self.y0, self.y1, 4):
            y = float(self.py(np.array(t)))
            out.append(f'<line x1="{_ML - 4}" y1="{y:.1f}" x2="{self.w - _MR}" y2="{y:.1f}" '
                       f'stroke="#eee"/>')
            out.append(f'<text x="{_ML - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
        out.append(f'<text x="{self.w / 2:.0f}" y="16" text-anchor="middle" '
                   f'font-weight="bold">{html.escape(title)}</text>')
        out.append(f'<text x="{(self.w + _ML) / 2:.0f}" y="{self.h - 4}" '
                   f'text-anchor="middle">{html.escape(xlabel)}</text>')
        out.append(f'<text x="12" y="{self.h / 2:.0f}" text-anchor="middle" '
                   f'transform="rotate(-90 12 {self.h / 2:.0f})">{html.escape(ylabel)}</text>')
        return out

    def svg(self, body: list[str]) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
                f'viewBox="0 0 {self.w} {self.h}" font-family="sans-serif" font-size="11">'
                + "".join(body) + "</svg>")


def _polylines(ax: _Axes, t: np.ndarray, y: np.ndarray, colour: str, width: float) -> list[str]:
    """One SVG polyline per finite run of `y` (NaN breaks the line)."""
    fin = np.isfinite(y) & np.isfinite(t)
    out = []
    padded = np.concatenate([[False], fin, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for s, e in zip(edges[::2], edges[1::2], strict=True):
        xs, ys = ax.px(t[s:e]), ax.py(y[s:e])
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
        if e - s == 1:
            out.append(f'<circle cx="{xs[0]:.1f}" cy="{ys[0]:.1f}" r="1" fill="{colour}"/>')
        else:
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                       f'stroke-width="{width}" stroke-linejoin="round"/>')
    return out


def _overlay_svg(t: np.ndarray, ref: np.ndarray, rec: np.ndarray, title: str) -> str:
    both = np.concatenate([ref[np.isfinite(ref)], rec[np.isfinite(rec)]])
    lo, hi = (float(both.min()), float(both.max())) if both.size else (-1.0, 1.0)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    ax = _Axes(float(t[0]), float(t[-1]), lo - pad, hi + pad)
    body = ax.frame(title, "time (s)", "mV (zero-centred)")
    body += _polylines(ax, t, ref, "#222", 1.4)
    body += _polylines(ax, t, rec, "#d62728", 1.0)
    body.append(f'<text x="{_ML + 8}" y="{_MT + 14}" fill="#222">— reference</text>')
    body.append(f'<text x="{_ML + 100}" y="{_MT + 14}" fill="#d62728">— digitized</text>')
    return ax.svg(body)


def _histogram_svg(values: dict[str, list[float]], edges: np.ndarray, title: str) -> str:
    colours = {"reference-paper": "#1f77b4", "Challenge 2024": "#ff7f0e"}
    counts = {k: np.histogram(np.asarray(v, float), bins=edges)[0] for k, v in values.items()}
    top = max([int(c.max()) for c in counts.values() if c.size] + [4])  # integer ticks
    ax = _Axes(float(edges[0]), float(edges[-1]), 0.0, top * 1.1)
    body = ax.frame(title, "SNR per lead (dB)", "lead segments")
    n_series = max(len(counts), 1)
    for j, (name, c) in enumerate(counts.items()):
        for i, n in enumerate(c):
            if n == 0:
                continue
            x0, x1 = float(ax.px(edges[i])), float(ax.px(edges[i + 1]))
            bw = (x1 - x0) / n_series
            y = float(ax.py(n))
            body.append(f'<rect x="{x0 + j * bw:.1f}" y="{y:.1f}" width="{max(bw - 0.5, 0.5):.1f}" '
                        f'height="{float(ax.py(0)) - y:.1f}" fill="{colours.get(name, "#888")}"/>')
        body.append(f'<text x="{_ML + 8 + 150 * j}" y="{_MT + 14}" '
                    f'fill="{colours.get(name, "#888")}">■ {html.escape(name)}</text>')
    return ax.svg(body)


def _hist_edges(values: list[float], width: float = 2.0) -> np.ndarray:
    arr = np.asarray(values, float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return np.arange(0.0, 2 * width + 0.5 * width, width)
    lo = math.floor(float(arr.min()) / width) * width
    hi = math.ceil(float(arr.max()) / width) * width
    if hi <= lo:
        hi = lo + width
    n = int(round((hi - lo) / width))
    if n > 60:  # keep bars readable
        width = (hi - lo) / 60
        n = 60
    return lo + width * np.arange(n + 1)


def _pick_segments(sheets: Sequence[SheetScore]) -> list[tuple[str, SheetScore, LeadScore]]:
    """Best, median and worst lead segments by reference-paper SNR."""
    items = [(s, ls) for s in sheets for ls in s.leads.values()
             if math.isfinite(ls.reference.snr_db)]
    if not items:
        return []
    items.sort(key=lambda it: it[1].reference.snr_db)
    picks = [("best", items[-1]), ("median", items[(len(items) - 1) // 2]), ("worst", items[0])]
    out, seen = [], set()
    for label, (s, ls) in picks:
        key = (id(s), ls.lead)
        if key in seen:
            continue
        seen.add(key)
        out.append((label, s, ls))
    return out


def _segment_signals(sheet: SheetScore, score: LeadScore,
                     max_points: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time, zero-centred reference and aligned zero-centred reconstruction of a segment."""
    ref = load_reference(sheet.truth_path)
    fs = ref.fs
    y = ref.leads[score.lead]
    idx = np.flatnonzero(np.isfinite(y))
    a, b = int(idx[0]), int(idx[-1]) + 1
    seg = y[a:b] - np.nanmean(y[a:b])
    rec = np.full(b - a, np.nan)
    if sheet.pred_path and not sheet.error:
        leads, fs_rec = load_reconstruction(sheet.pred_path)
        if score.lead in leads:
            x = resample_linear(leads[score.lead], fs_rec, fs)
            k = int(round(score.reference.shift_s * fs)) if math.isfinite(
                score.reference.shift_s) else 0
            lo, hi = a + k, b + k
            part = np.full(b - a, np.nan)
            s0, s1 = max(lo, 0), min(hi, x.size)
            if s1 > s0:
                part[s0 - lo:s1 - lo] = x[s0:s1]
            ok = np.isfinite(part) & np.isfinite(y[a:b])
            if ok.any():
                rec = part - float(np.mean(part[ok]))
    t = (a + np.arange(b - a)) / fs
    step = max(1, int(math.ceil(t.size / max_points)))
    return t[::step], seg[::step], rec[::step]


def _html(set_score: SetScore, title: str, plots: bool) -> str:
    o = set_score.overall
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}"
        "th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
        "figure{margin:0.5em 0 1.5em}figcaption{font-size:12px;color:#555}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{o.n_sheets} sheets ({o.n_missing} without a usable reconstruction, scored as "
        f"all-NaN), {o.n_leads} lead segments scored over their printed windows.</p>",
        "<p><b>Which SNR is which.</b> Columns marked <i>ref</i> use the reference-paper "
        "convention, columns marked <i>chal</i> the PhysioNet Challenge 2024 convention.</p>",
        "<ul>",
        f"<li><i>ref</i>: {html.escape(_CONVENTIONS['reference'])}</li>",
        f"<li><i>chal</i>: {html.escape(_CONVENTIONS['challenge'])}</li>",
        f"<li>{html.escape(_CONVENTIONS['other'])}</li>",
        f"<li>Settings: {html.escape(_settings_text(set_score.settings))}.</li>",
        "</ul>",
    ]
    for heading, (header, rows) in _tables(set_score):
        parts += [f"<h2>{html.escape(heading)}</h2>", _html_table(header, rows)]
    if plots:
        parts.append("<h2>Reference vs digitized (best, median, worst lead segment, "
                     "reference-paper SNR)</h2>")
        picks = _pick_segments(set_score.sheets)
        if not picks:
            parts.append("<p>(no scored lead segment)</p>")
        for label, sheet, ls in picks:
            caption = (f"{label}: sheet {sheet.name}, lead {ls.lead}, "
                       f"SNR ref {_fmt(ls.reference.snr_db)} dB, "
                       f"SNR chal {_fmt(ls.challenge.snr_db)} dB, "
                       f"shift {_fmt(1000 * ls.reference.shift_s, 0)} ms")
            try:
                t, y, r = _segment_signals(sheet, ls)
                svg = _overlay_svg(t, y, r, f"{label}: {sheet.name} / {ls.lead}")
            except (EcgDigitizeError, KeyError, IndexError, OSError) as exc:
                parts.append(f"<p>{html.escape(caption)} — plot unavailable "
                             f"({html.escape(str(exc))})</p>")
                continue
            parts.append(f"<figure>{svg}<figcaption>{html.escape(caption)}"
                         "</figcaption></figure>")
        parts.append("<h2>SNR histograms per condition (per lead segment)</h2>")
        by_cond: dict[str, dict[str, list[float]]] = {}
        for s in set_score.sheets:
            d = by_cond.setdefault(s.condition, {"reference-paper": [], "Challenge 2024": []})
            d["reference-paper"] += s.lead_values("reference", "snr_db")
            d["Challenge 2024"] += s.lead_values("challenge", "snr_db")
        edges = _hist_edges([v for d in by_cond.values() for vs in d.values() for v in vs])
        for cond in sorted(by_cond):
            svg = _histogram_svg(by_cond[cond], edges, f"condition: {cond}")
            parts.append(f"<figure>{svg}</figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- public


def write_report(set_score: SetScore, out_dir: str | Path, *,
                 title: str = "ecgdigitize evaluation", plots: bool = True) -> dict[str, Path]:
    """Write ``summary.json``, ``report.md`` and ``report.html`` into `out_dir`.

    Parameters
    ----------
    set_score : SetScore
        Scores from :func:`ecgdigitize.evaluate.score_set`.
    out_dir : str or Path
        Output folder (created if needed).
    title : str
        Report title.
    plots : bool
        Draw the SVG plots in the HTML report (the overlays re-read the
        ground-truth and reconstruction files of three lead segments).

    Returns
    -------
    dict of str to Path
        Paths of ``summary``, ``markdown`` and ``html``.

    Raises
    ------
    OutputError
        If a file cannot be written.
    """
    out_dir = Path(out_dir)
    summary = {
        "schema": SUMMARY_SCHEMA,
        "title": title,
        "conventions": dict(_CONVENTIONS),
        "snr_cap_db": SNR_CAP_DB,
        **set_score.to_dict(),
    }
    paths = {
        "summary": out_dir / "summary.json",
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
    }
    write_text_atomic(paths["summary"],
                      json.dumps(to_jsonable(summary), indent=1, allow_nan=False) + "\n")
    write_text_atomic(paths["markdown"], _markdown(set_score, title))
    write_text_atomic(paths["html"], _html(set_score, title, plots))
    return paths
