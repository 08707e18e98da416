"""Overlay of a digitized sheet on its image."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ecgdigitize.digitize.overlay import LOW_QUALITY, draw_overlay, save_overlay
from ecgdigitize.digitize.result import Detected, LeadTrace, Result
from ecgdigitize.errors import OutputError
from ecgdigitize.leads import STANDARD_LEADS


def sheet_image(h: int = 850, w: int = 1100, px_per_mm: float = 4.0) -> np.ndarray:
    """White sheet with a pink 5 mm grid and a dark squiggle near row 1."""
    img = np.full((h, w, 3), 255, np.uint8)
    step = 5 * px_per_mm
    for x in np.arange(0, w, step):
        img[:, int(x)] = (240, 150, 150)
    for y in np.arange(0, h, step):
        img[int(y), :] = (240, 150, 150)
    return img


def make_result(h: int = 850, w: int = 1100, px_per_mm: float = 4.0,
                low_lead: str = "V2") -> Result:
    """Three rows of four segments, each a sine line; one low-quality segment with a gap."""
    traces = []
    for k, lead in enumerate(STANDARD_LEADS):
        row, col = k % 3, k // 3
        x = np.linspace(300 + 190 * col, 470 + 190 * col, 300)
        y = 330 + 160 * row + 25 * np.sin((x - x[0]) / 12)
        quality = 0.2 if lead == low_lead else 0.95
        if lead == "I":
            y[100:150] = np.nan
        traces.append(LeadTrace(lead, row, col, 1, 2.5 * col, 2.5 * (col + 1), x, y, quality))
    detected = Detected(layout="3x4", layout_cost=0.05, speed_mm_s=25.0, speed_source="pulse",
                        gain_mm_mv=10.0, gain_source="assumed", px_per_mm_x=px_per_mm,
                        px_per_mm_y=px_per_mm, scale_source="grid", rotation_deg=-0.7)
    n = 5000
    return Result(signals=np.zeros((n, 12)), fs=500.0, lead_names=list(STANDARD_LEADS),
                  quality={tr.lead: tr.quality for tr in traces}, detected=detected,
                  traces=traces, source="sheet.png", image_shape=(h, w))


def _pixels(img: np.ndarray, tr: LeadTrace) -> np.ndarray:
    ok = np.isfinite(tr.y_px)
    return img[np.round(tr.y_px[ok]).astype(int), np.round(tr.x_px[ok]).astype(int)]


def test_shape_dtype_and_input_untouched():
    img = sheet_image()
    before = img.copy()
    out = draw_overlay(img, make_result())
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(img, before)


def test_traces_drawn_in_trace_and_warning_colours():
    img = sheet_image()
    res = make_result()
    out = draw_overlay(img, res).astype(int)
    for tr in res.traces:
        px = _pixels(out, tr)
        assert np.any(px != img[0, 0].astype(int), axis=1).mean() > 0.95
        if tr.quality < LOW_QUALITY:
            # orange: red high, blue low
            assert np.median(px[:, 0] - px[:, 2]) > 100, tr.lead
        else:
            # blue: blue high, red low
            assert np.median(px[:, 2] - px[:, 0]) > 100, tr.lead


def test_nan_breaks_the_line():
    img = sheet_image()
    res = make_result()
    out = draw_overlay(img, res).astype(int)
    tr = res.traces[0]
    # Mid-gap columns (the line is not drawn across the NaN run): no blue there.
    mid = slice(115, 135)
    xs = np.round(tr.x_px[mid]).astype(int)
    ys = np.round(np.interp(tr.x_px[mid], tr.x_px[np.isfinite(tr.y_px)],
                            tr.y_px[np.isfinite(tr.y_px)])).astype(int)
    band = np.stack([out[ys + d, xs] for d in range(-3, 4)])
    assert np.max(band[..., 2] - band[..., 0]) < 60


def test_background_is_lightened_and_desaturated():
    img = np.zeros((400, 500, 3), np.uint8)
    img[:, :, 0] = 200          # saturated red
    res = make_result(400, 500)
    res.traces = []
    out = draw_overlay(img, res)
    corner = out[-50:, -50:].astype(int)           # far from the info box
    assert corner.min() >= 120                       # lighter
    spread = corner.max(axis=2) - corner.min(axis=2)
    assert spread.max() < 200 * 0.5                  # less saturated


def test_info_box_and_scale_are_drawn():
    img = sheet_image()
    res = make_result()
    out = draw_overlay(img, res).astype(int)
    top = out[:200, :700]
    green = (top[..., 1] - top[..., 0] > 60) & (top[..., 1] - top[..., 2] > 30)
    assert green.sum() > 100                         # the scale glyphs
    dark = top.max(axis=2) < 80
    assert dark.sum() > 200                          # text of the info box
    # Without a scale there is no glyph, and nothing fails.
    res.detected.px_per_mm_x = res.detected.px_per_mm_y = float("nan")
    res.detected.layout_cost = float("nan")
    top2 = draw_overlay(img, res).astype(int)[:200, :700]
    green2 = (top2[..., 1] - top2[..., 0] > 60) & (top2[..., 1] - top2[..., 2] > 30)
    assert green2.sum() == 0


def test_scale_square_matches_px_per_mm():
    img = np.full((900, 1200, 3), 255, np.uint8)
    small = make_result(900, 1200, px_per_mm=4.0)
    large = make_result(900, 1200, px_per_mm=8.0)
    small.traces = large.traces = []

    def green_extent(res: Result) -> int:
        out = draw_overlay(img, res).astype(int)
        g = (out[..., 1] - out[..., 0] > 60) & (out[..., 1] - out[..., 2] > 30)
        rows = np.flatnonzero(g.any(axis=1))
        return int(rows.max() - rows.min())

    # The glyphs are 10 mm tall (plus labels): twice the px/mm, about 40 px taller.
    assert green_extent(large) - green_extent(small) == pytest.approx(40, abs=4)


def test_grey_image_and_edge_cases():
    grey = np.full((300, 400), 200, np.uint8)
    res = make_result(300, 400)
    res.traces.append(LeadTrace("V6", 0, 0, 1, 0, 1, np.array([5.0]), np.array([5.0]), 0.9))
    res.traces.append(LeadTrace("V6", 0, 0, 1, 0, 1, np.full(5, np.nan), np.full(5, np.nan),
                                0.9))
    res.traces.append(LeadTrace("V6", 0, 0, 1, 0, 1, np.array([1e9, -1e9]),
                                np.array([1e9, 5.0]), 0.9))
    out = draw_overlay(grey, res)
    assert out.shape == (300, 400, 3)


def test_bad_inputs_raise():
    res = make_result()
    with pytest.raises(ValueError, match="uint8"):
        draw_overlay(np.zeros((850, 1100, 3), np.float32), res)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        draw_overlay(np.zeros((850, 1100, 4), np.uint8), res)
    with pytest.raises(ValueError, match="1100x850"):
        draw_overlay(np.zeros((100, 100, 3), np.uint8), res)
    res.traces[0].y_px = res.traces[0].y_px[:10]
    with pytest.raises(ValueError, match="lead I"):
        draw_overlay(sheet_image(), res)


def test_fast_on_a_letter_sheet_at_200_dpi():
    h, w = 1700, 2200
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    res = make_result(h, w, px_per_mm=7.87)
    for tr in res.traces:                       # 2.5 s segments at 500 Hz
        tr.x_px = np.linspace(tr.x_px[0] * 2, tr.x_px[-1] * 2, 1250)
        tr.y_px = np.interp(np.linspace(0, 1, 1250), np.linspace(0, 1, tr.y_px.size),
                            np.nan_to_num(tr.y_px, nan=400.0)) * 2
    draw_overlay(img, res)
    best = min(_timed(lambda: draw_overlay(img, res)) for _ in range(3))
    assert best < 0.2


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_save_overlay_png(tmp_path: Path):
    img = sheet_image()
    res = make_result()
    path = save_overlay(tmp_path / "sub" / "s_overlay.png", img, res)
    back = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(back, draw_overlay(img, res))
    assert sorted(p.name for p in path.parent.iterdir()) == ["s_overlay.png"]


def test_save_overlay_parent_is_a_file(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        save_overlay(tmp_path / "file" / "s_overlay.png", sheet_image(), make_result())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_info_box_names_the_learned_segmenter():
    from ecgdigitize.digitize.overlay import _info_lines
    res = make_result()
    assert "segmenter" not in _info_lines(res)[0]
    res.detected.segmenter = "learned"
    assert _info_lines(res)[0].endswith(", learned segmenter")
    # The box grows to hold the longer line.
    img = sheet_image()
    wide = (draw_overlay(img, res).astype(int)[:60, :700].max(axis=2) < 80).sum()
    res.detected.segmenter = "classical"
    assert wide > (draw_overlay(img, res).astype(int)[:60, :700].max(axis=2) < 80).sum()
