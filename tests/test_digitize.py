"""Tests of the digitizer stages and the end-to-end pipeline on generated sheets."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import smooth_record
from ecgdigitize.digitize import pipeline
from ecgdigitize.digitize.calibration import (
    find_pulse,
    locate_pulse,
    snap_gain,
    speed_from_qrs_width,
    speed_from_qt,
)
from ecgdigitize.digitize.deskew import estimate_skew, quarter_turns, rotate_image
from ecgdigitize.digitize.gridscale import (
    GridPitch,
    grid_scale,
    line_extent,
    profile_pitch,
    reconcile,
    straight_line_evidence,
)
from ecgdigitize.digitize.layout import NameHit, expected_breaks, match_layout, tied_layouts
from ecgdigitize.digitize.pipeline import (
    _consensus_edge,
    _drop_grid_remnant_rows,
    _extend_to_break,
    _free_end_edge,
    _gap_at,
    _limb_reading_preferred,
    _off_level_tick,
    _scale_from_rows,
    _solid_end,
    _tall_stroke,
    digitize,
    prefer_second_reading,
)
from ecgdigitize.digitize.result import Detected, Result
from ecgdigitize.digitize.separate import (
    _least_threshold,
    _line_positions,
    remove_grid_lines,
    scene_mask,
    separate,
)
from ecgdigitize.digitize.stroke import refine_steep, stroke_centre_morph
from ecgdigitize.digitize.trace import (
    Row,
    TracedRow,
    _crossings,
    _run_max,
    _subpixel_edges,
    column_runs,
    fill_small_holes,
    find_rows,
    trace_components,
    trace_row,
    trace_rows,
)
from ecgdigitize.errors import ImageError, LayoutError, NotAnEcgError, OptionError
from ecgdigitize.evaluate.metrics import snr_reference
from ecgdigitize.layouts import get_layout
from ecgdigitize.leads import STANDARD_LEADS
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import ArtifactOptions, SheetSpec, generate_sheet


def _sheet(rotation: float = 0.0, **render) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(3)
    opts = RenderOptions(**{"dpi": 150, **render})
    spec = SheetSpec(render=opts, artifacts=ArtifactOptions(rotation_deg=rotation))
    sheet = generate_sheet(smooth_record(), spec, rng=rng, seed=3)
    return sheet.canvas.image, sheet.groundtruth


@pytest.fixture(scope="module")
def clean_sheet() -> tuple[np.ndarray, dict]:
    return _sheet(rotation=1.3)


# --------------------------------------------------------------------------- stages


def test_separate_finds_the_trace_ink(clean_sheet):
    image, _ = clean_sheet
    sep = separate(image)
    assert not sep.grid_is_ink            # a red grid is told apart by colour
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    # Almost every separated pixel is dark ink, and the red grid is left out.
    assert np.mean(grey[sep.trace] < 140) > 0.9
    assert sep.trace.mean() < 0.05


def test_skew_and_grid_scale_are_precise(clean_sheet):
    image, gt = clean_sheet
    sep = separate(image)
    angle, conf = estimate_skew(sep.grid)
    assert conf > 1.3
    assert abs(angle - 1.3) < 0.05
    grid, _ = rotate_image(sep.grid, angle)
    px, py = grid_scale(grid)
    for pitch in (px, py):
        assert pitch.has_minor
        assert abs(pitch.px_per_mm / gt["px_per_mm"] - 1) < 0.005


def test_grid_evidence_of_a_faint_coloured_grid_leaves_out_the_traces():
    # Thick traces on thermal paper with a pink grid at 200 dpi: the traces mark more
    # pixels than the grid's faint lines, yet only the grid may set the pitch (with the
    # traces in, the period search locked onto the rows, 22 px/mm instead of 7.9).
    image, gt = _sheet(grid_colour="pink", dpi=200, layout="12x1", paper_colour="thermal",
                       line_width_mm=0.42)
    sep = separate(image)
    assert not sep.grid_is_ink
    assert not np.any(sep.grid[sep.trace])
    px, py = grid_scale(sep.grid)
    for pitch in (px, py):
        assert abs(pitch.px_per_mm / gt["px_per_mm"] - 1) < 0.005


def test_profile_pitch_of_major_lines_only():
    pxmm = 7.3
    x = np.arange(2000)
    prof = np.zeros(x.size)
    for c in np.arange(10, 2000, 5 * pxmm):
        prof += np.exp(-((x - c) / 0.8) ** 2)
    p = profile_pitch(prof)
    assert not p.has_minor
    assert p.px_per_mm == pytest.approx(pxmm, rel=0.003)


def test_straight_line_evidence_reads_a_black_grid_of_major_lines_under_dense_traces():
    # A black grid of 5 mm lines only: the evidence holds the traces, whose rows 25 mm apart
    # pass for the heavier fifth lines of a 1 mm grid. Long straight runs leave them out.
    rng = np.random.default_rng(0)
    pxmm, (h, w) = 7.87, (1650, 2340)
    grid = np.zeros((h, w), np.float32)
    for x in np.arange(20, w, 5 * pxmm):
        grid[:, int(round(x))] = 0.6
    for y in np.arange(20, h, 5 * pxmm):
        grid[int(round(y)), :] = 0.6
    traces = np.zeros((h, w), np.uint8)
    for k in range(6):
        y = (250 + 25 * pxmm * k + 0.3 * np.cumsum(rng.normal(0, 1.5, w))
             + 8 * np.sin(np.arange(w) / 40.0))
        y[::60] -= 80                                   # QRS spikes
        cv2.polylines(traces, [np.stack([np.arange(w), y], 1).astype(np.int32)], False, 1,
                      thickness=4)
    evidence = np.maximum(grid, traces.astype(np.float32))
    misled = grid_scale(evidence)
    assert not all(abs(p.px_per_mm / pxmm - 1) < 0.01 for p in misled)
    lines = straight_line_evidence(evidence)
    assert np.mean(lines[traces > 0] > 0) < 0.3
    for pitch in grid_scale(lines):
        assert pitch.px_per_mm == pytest.approx(pxmm, rel=0.002)
        assert not pitch.has_minor


def test_remove_grid_lines_keeps_the_trace():
    h, w, pitch = 300, 600, 8.0
    mask = np.zeros((h, w), bool)
    for k in np.arange(4, h, pitch):
        mask[int(k), :] = True
    for k in np.arange(4, w, pitch):
        mask[:, int(k)] = True
    t = np.arange(w)
    y = (150 + 60 * np.sin(t / 40.0)).astype(int)
    trace = np.zeros_like(mask)
    for dy in range(-2, 3):
        trace[y + dy, t] = True
    cleaned = remove_grid_lines(mask | trace, pitch, pitch)
    assert cleaned[trace].mean() > 0.9
    assert (cleaned & ~trace).sum() < 0.05 * (mask & ~trace).sum()


def test_remove_grid_lines_takes_lines_as_thick_as_they_are_and_keeps_a_trace_along_one():
    # 3 px lines at 7.7 px/mm (0.39 mm, a black grid at 195 dpi, anti-aliased): thicker than
    # 0.3 mm. A 5 px trace runs flat along a line for 20 mm, then away from it.
    h, w, pitch = 400, 800, 7.7
    grid = np.zeros((h, w), bool)
    for k in np.arange(4, h - 3, pitch):
        grid[int(k):int(k) + 3, :] = True
    for k in np.arange(4, w - 3, pitch):
        grid[:, int(k):int(k) + 3] = True
    line = int(4 + 25 * pitch)
    y = np.full(w, line - 1)
    t = np.arange(w)
    wave = t >= 300
    y[wave] = (line - 1 + 40 * np.sin((t[wave] - 300) / 30.0)).astype(int)
    trace = np.zeros_like(grid)
    for dy in range(0, 5):
        trace[y + dy, t] = True
    cleaned = remove_grid_lines(grid | trace, pitch, pitch)
    assert (cleaned & ~trace).sum() < 0.05 * (grid & ~trace).sum()
    assert cleaned[:, :300][trace[:, :300]].mean() > 0.9      # the stretch along the line
    assert cleaned[trace].mean() > 0.9


def test_remove_grid_lines_of_a_major_only_grid_keeps_stacked_pulses():
    # 5 mm lines only, and the calibration pulses of five rows stacked at the same x, their
    # sides 2 mm from a line: counted on a 1 mm comb, each side holds as many thin runs as
    # a grid line and was cut away with the lines (so no pulse and no gain was found).
    h, w, pitch = 700, 400, 8.0
    grid = np.zeros((h, w), bool)
    for k in np.arange(4, h, 5 * pitch):
        grid[int(k), :] = True
    for k in np.arange(4, w, 5 * pitch):
        grid[:, int(k)] = True
    pulses = np.zeros_like(grid)
    x_a, x_b = int(4 + 7 * pitch), int(4 + 12 * pitch)     # 2 mm off the lines at 5 and 10 mm
    for base in range(130, h, 130):
        top = base - int(10 * pitch)
        pulses[top:base, x_a:x_a + 2] = True
        pulses[top:base, x_b:x_b + 2] = True
        pulses[top:top + 2, x_a:x_b + 2] = True
    sides = np.zeros_like(grid)
    sides[:, x_a:x_a + 2] = sides[:, x_b:x_b + 2] = True
    sides &= pulses & ~grid
    cleaned = remove_grid_lines(grid | pulses, pitch, pitch)
    assert cleaned[sides].mean() > 0.95
    assert (cleaned & ~pulses).sum() < 0.05 * (grid & ~pulses).sum()


def test_scene_mask_takes_the_dark_wedge_at_the_border_and_not_a_trace():
    # A black-and-white scan of a sheet turned 2 degrees on the glass: a solid wedge of
    # scanner lid along the top, thinning to nothing; a trace runs off the left edge.
    h, w = 400, 1000
    mask = np.zeros((h, w), bool)
    cols = np.arange(w)
    depth = np.round(30 - 0.035 * cols).astype(int)      # 30 px at the left, 0 at ~860
    for x in cols:
        mask[:max(depth[x], 0), x] = True
    trace = np.zeros_like(mask)
    y = (250 + 20 * np.sin(cols / 30.0)).astype(int)
    for dy in range(-1, 2):
        trace[y + dy, cols] = True
    scene = scene_mask(mask | trace)
    assert scene[mask].all()
    assert not scene[trace].any()
    assert not scene_mask(trace).any()


def test_line_extent_stops_at_the_empty_teeth_before_a_page_edge():
    pitch = 40.0
    prof = np.zeros(1500)
    for k in np.arange(300, 1301, pitch):
        prof[int(k)] = 1000.0
    prof[1200:1300:8] = 100.0                  # traces and text on the grid add a little
    prof[40] = 2000.0                          # the dark edge of the page, far above
    assert line_extent(prof, pitch) == (300.0, 1300.0)
    assert line_extent(np.zeros(100), pitch) is None


def test_find_rows_takes_a_drifting_trace_as_one_row():
    # One trace whose baseline drifts by 6 mm across the sheet, and a second row 25 mm below.
    pxmm = 8.0
    h, w = 500, 1600
    traces = np.zeros((h, w), bool)
    x = np.arange(w)
    base = 150 + 48 * (x > w // 2)              # a step: left half at 150, right half at 198
    spikes = (x % 160) < 4
    for dy in range(-1, 2):
        traces[base + dy, x] = True
        traces[350 + dy, x] = True
    for xx in x[spikes]:
        traces[base[xx] - 60: base[xx], xx] = True
    rows = find_rows(traces, pxmm)
    assert len(rows) == 2
    assert abs(rows[1].baseline_px - 350) < 3


def test_find_rows_finds_a_row_whose_baseline_wanders_across_its_neighbours_levels():
    # Five rows 12 mm apart; the middle one drifts 16 mm down across the sheet, so over
    # the whole width its ink is smeared over the levels between its neighbours and the
    # sheet's profile has no peak for it. Strip by strip it has one.
    pxmm = 8.0
    h, w = 700, 2000
    traces = np.zeros((h, w), bool)
    x = np.arange(w)
    levels = [100.0, 196.0, 260.0 + 128.0 * x / w, 484.0, 580.0]
    for lv in levels:
        y = np.round(np.broadcast_to(lv, x.shape)).astype(int)
        for dy in range(-1, 2):
            traces[y + dy, x] = True
    rows = find_rows(traces, pxmm)
    assert len(rows) == 5
    assert abs(rows[2].baseline_px - 324) < 8
    assert [abs(r.baseline_px - lv) < 3 for r, lv in zip(rows, levels, strict=True)
            if np.ndim(lv) == 0] == [True] * 4


def test_find_rows_extends_to_a_trace_that_ends_far_from_its_baseline():
    # The record ends with a step: the trace climbs 8 mm and runs on for 3 mm up there,
    # beyond the band round the baseline that finds the row. A neighbour's tall wave dipping
    # into that band from below is not the row's.
    pxmm = 8.0
    traces = np.zeros((600, 1800), bool)
    traces[200:203, 100:1500] = True
    traces[136:203, 1500:1503] = True
    traces[136:139, 1500:1524] = True
    traces[440:443, 100:1700] = True
    traces[190:443, 1000:1003] = True
    rows = find_rows(traces, pxmm)
    assert len(rows) == 2
    assert rows[0].x0_px == 100 and rows[0].x1_px == 1523
    assert rows[1].x1_px == 1699

def test_stroke_centre_keeps_steep_qrs():
    # A thick round pen draws a narrow spike; the centre line must keep its height.
    x = np.arange(200, dtype=float)
    c = 100 - 60 * np.exp(-((x - 100) / 3.0) ** 2)
    r = 2.5
    b = np.sqrt(np.maximum(r ** 2 - np.maximum(np.abs(np.arange(-3, 4)) - 0.5, 0) ** 2, 0))
    pad = np.pad(c, 3, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, 7)
    top, bottom = (win - b).min(axis=1), (win + b).max(axis=1)
    est = stroke_centre_morph(top, bottom, r)
    assert abs(est.min() - c.min()) < 1.0
    assert np.sqrt(np.mean((est - c) ** 2)) < 1.5


def test_column_runs_and_trace_row_follow_the_trace_past_a_neighbour():
    h, w = 120, 400
    mask = np.zeros((h, w), bool)
    x = np.arange(w)
    y = (60 + 15 * np.sin(x / 25.0)).round().astype(int)
    mask[y, x] = True
    mask[y + 1, x] = True
    mask[5:12, 150:160] = True          # a letter above the trace
    cols, tops, bottoms = column_runs(mask)
    assert np.all(bottoms >= tops) and cols.size >= w
    tr = trace_row(mask, mask.astype(np.float32), Row(60.0, 0, h - 1, 0, w - 1))
    assert np.all(np.isfinite(tr.y_px))
    assert np.max(np.abs(tr.y_px - (y + 0.5))) < 1.01


def _draw(shape: tuple[int, int], curves: list[np.ndarray], thickness: int = 3
          ) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased polylines (points in px) as an ink image and its mask."""
    img = np.zeros(shape, np.uint8)
    for pts in curves:
        fixed = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [fixed], False, 255, thickness, cv2.LINE_AA, 4)
    ink = img.astype(np.float32) / 255.0
    return ink > 0.5, ink


def _spike(x: np.ndarray, base: float, centre: float, height: float, half_width: float
           ) -> np.ndarray:
    return base - height * np.clip(1.0 - np.abs(x - centre) / half_width, 0.0, None)


def test_trace_row_stays_on_its_trace_where_another_stroke_crosses_it():
    # Row A is flat at y=100; row B's wave from y=200 climbs to y=30: its flanks cross A.
    x = np.arange(10.0, 590.0, 0.25)
    mask, ink = _draw((260, 600), [np.stack([x, np.full_like(x, 100.0)], 1),
                                   np.stack([x, _spike(x, 200.0, 300.0, 170.0, 40.0)], 1)])
    tr = trace_row(mask, ink, Row(100.0, 40, 190, 20, 580))
    assert np.all(np.isfinite(tr.y_px))
    assert np.max(np.abs(tr.y_px - 100.0)) < 1.0
    assert tr.ambiguous[300 - 20 - 16]           # where the rising flank crosses


def test_fill_small_holes_fills_specks_inside_ink_only():
    mask = np.zeros((60, 80), bool)
    mask[10:30, 10:20] = True
    mask[14:16, 13:15] = False                 # a 4 px speck inside a stroke
    mask[40:60, 30:50] = True
    mask[45:52, 35:45] = False                 # a 70 px hole: too large
    mask[0:8, 60:70] = True
    mask[0:3, 63:66] = False                   # a notch open to the image border
    out = fill_small_holes(mask, 10.0)
    assert out[14:16, 13:15].all()
    assert not out[45:52, 35:45].any()
    assert not out[0:3, 63:66].any()
    assert np.array_equal(out & ~mask, np.pad(np.ones((2, 2), bool), ((14, 44), (13, 65))))
    assert np.array_equal(fill_small_holes(mask, 0.0), mask)


def test_trace_row_reads_an_r_wave_with_a_speck_in_its_stroke():
    # A narrow R wave drawn with a thick pen; specks of paper inside it (a thresholded JPEG)
    # split four columns' runs in two. Filled, the wave reads as it does intact.
    x = np.arange(10.0, 390.0, 0.25)
    r = _spike(x, 150.0, 200.0, 100.0, 6.0)
    mask, ink = _draw((220, 400), [np.stack([x, r], 1)], thickness=7)
    row = Row(150.0, 0, 219, 10, 389)
    intact = trace_row(mask, ink, row).y_px
    holed = mask.copy()
    for c in range(195, 199):
        y = int(np.interp(c, x, r))
        holed[y - 1:y + 1, c] = False
    assert np.nanmax(np.abs(trace_row(holed, ink, row).y_px - intact)) > 20.0
    filled = trace_row(fill_small_holes(holed, 25.0), ink, row).y_px
    np.testing.assert_allclose(filled, intact, atol=1e-9)


def test_crossings_are_straight_strokes_through_the_level_not_own_waves():
    flat_t, flat_b = np.full(20, 98.0), np.full(20, 102.0)
    # A straight stroke moving up 4 px per column passes through the level at 100.
    t, b = flat_t.copy(), flat_b.copy()
    t[8:14] = [98, 90, 86, 82, 78, 73]
    b[8:14] = [127, 123, 119, 114, 110, 102]
    assert np.flatnonzero(_crossings(t, b, 3.0)).tolist() == list(range(8, 14))
    # A separator tick: a vertical bar through the level.
    t, b = flat_t.copy(), flat_b.copy()
    t[8:12], b[8:12] = 70, 130
    assert np.flatnonzero(_crossings(t, b, 3.0)).tolist() == list(range(8, 12))
    # A small QRS merged into one blob at low resolution: its top stays, its bottom moves.
    t, b = flat_t.copy(), flat_b.copy()
    t[8:13] = [85, 84, 84, 84, 85]
    b[8:13] = [101, 104, 108, 111, 112]
    assert not _crossings(t, b, 3.0).any()
    # An R wave: the top rises and falls, the bottom stays on the level.
    t, b = flat_t.copy(), flat_b.copy()
    t[8:13] = [80, 60, 50, 62, 85]
    b[8:13] = [102, 102, 103, 102, 102]
    assert not _crossings(t, b, 3.0).any()


def test_trace_rows_lets_a_tall_wave_reach_past_its_neighbour():
    # Row A (y=100) has a spike 150 px tall that reaches 70 px beyond row B's baseline
    # (y=180); the first pass stops it 1 mm short of B, the second follows it up.
    pxmm = 10.0
    x = np.arange(10.0, 790.0, 0.25)
    a = _spike(x, 100.0, 400.0, -150.0, 8.0)          # a downward spike (y grows down)
    b = np.full_like(x, 180.0)
    mask, ink = _draw((330, 800), [np.stack([x, a], 1), np.stack([x, b], 1)])
    rows = find_rows(mask, pxmm)
    assert [round(r.baseline_px) for r in rows] == [100, 180]
    traced = trace_rows(mask, ink, rows, pxmm)
    ya, yb = traced[0].y_px, traced[1].y_px
    assert np.nanmax(ya) > 245.0                      # the spike's apex at y=250
    assert np.max(np.abs(yb[5:-5] - 180.0)) < 1.0     # B undisturbed by A's stroke
    cols = traced[0].x_px
    truth = np.interp(cols, x, a)
    assert np.nanmean(np.abs(ya - truth)) < 1.0


def test_free_end_edge_is_sub_pixel():
    # The measured ink edge follows the drawn end to a fraction of a pixel, whatever the
    # end's phase within its pixel; the cap's reach past the end is the same for all.
    reach_right, reach_left = [], []
    for end in (300.0, 300.3, 300.6, 300.85):
        x = np.arange(50.0 + end - 300.0, end + 1e-9, 0.25)
        mask, ink = _draw((60, 400), [np.stack([x, np.full_like(x, 30.0)], 1)], thickness=5)
        cols = np.flatnonzero(mask[30])
        right = _free_end_edge(ink, mask, int(cols[-1]), 30.0, 3.0, +1)
        left = _free_end_edge(ink, mask, int(cols[0]), 30.0, 3.0, -1)
        assert right is not None and left is not None
        reach_right.append(right - end)
        reach_left.append(x[0] - left)
    assert np.ptp(reach_right) < 0.15 and np.ptp(reach_left) < 0.15
    assert abs(np.mean(reach_right) - np.mean(reach_left)) < 0.15
    # Not a free end: ink continues two columns on.
    mask[30, int(cols[-1]) + 2] = True
    assert _free_end_edge(ink, mask, int(cols[-1]), 30.0, 3.0, +1) is None


@pytest.mark.parametrize("speed", [25.0, 50.0])
def test_speed_from_qt_reads_the_paper_speed_of_simulated_rows(speed):
    # Rows of three simulated leads printed at `speed` on a 8 px/mm sheet at 10 mm/mV.
    from ecgdigitize.simulator import random_params, simulate_ecg

    rng = np.random.default_rng(7)
    rec = simulate_ecg(rng, 10.0, 500.0, random_params(rng, artifacts=False))
    pxmm = 8.0
    cols = np.arange(int(250 * pxmm))                 # a 250 mm row
    rows = []
    for lead in ("II", "V2", "V5"):
        t_s = cols / (speed * pxmm)
        mv = np.interp(t_s, np.arange(rec.signals.shape[0]) / rec.fs, rec.lead(lead))
        rows.append(300.0 - 10.0 * pxmm * mv)
    assert speed_from_qt(rows, pxmm, pxmm) == speed
    assert speed_from_qt([np.full(40, np.nan)], pxmm, pxmm) is None


def test_find_pulse_reads_gain_and_speed():
    pxmm = 8.0
    y = np.full(400, 200.0)
    y[20:60] = 200 - 10 * pxmm        # 10 mm tall, 5 mm wide
    p = find_pulse(y, 200.0, pxmm, pxmm)
    assert p is not None and p.side == "left"
    assert p.gain_mm_mv == 10.0 and p.speed_mm_s == 25.0
    assert find_pulse(np.full(400, 200.0), 200.0, pxmm, pxmm) is None
    assert snap_gain(19.0) == 20.0 and snap_gain(14.0) is None
    assert speed_from_qrs_width(np.array([1.0, 0.9, 1.1])) == 25.0
    assert speed_from_qrs_width(np.array([1.0])) is None


def _draw_rect_pulse(mask: np.ndarray, base: int, x0: int, width: int, height: int) -> None:
    mask[base - height:base + 2, x0:x0 + 2] = True                 # rising side
    mask[base - height:base - height + 2, x0:x0 + width] = True   # top
    mask[base - height:base + 2, x0 + width - 2:x0 + width] = True  # falling side
    mask[base:base + 2, x0 - 8:x0] = True                          # foot


def test_locate_pulse_without_sides():
    # On a grid printed in trace ink the pulse's sides lie on grid lines and leave the mask
    # with them: the top stroke and the feet on the baseline are what remains.
    pxmm = 8.0
    base, x0, width, height = 250, 24, int(10 * pxmm), int(10 * pxmm)
    mask = np.zeros((400, 600), bool)
    mask[base - height - 1:base - height + 2, x0:x0 + width] = True   # top
    mask[base - 1:base + 2, x0 - 12:x0 - 2] = True                   # lead-in foot
    mask[base - 1:base + 2, x0 + width + 2:x0 + width + 12] = True   # lead-out foot
    mask[base - 1:base + 2, x0 + width + 40:600] = True              # the row's trace
    p = locate_pulse(mask, float(base), 0, 599, pxmm, pxmm, "left")
    assert p is not None and p.gain_mm_mv == 10.0 and p.speed_mm_s == 50.0
    assert abs(p.height_mm - 10.0) < 0.3
    assert abs(p.x_start_px - x0) <= 2 and abs(p.x_end_px - (x0 + width)) <= 2
    # A flat stroke with a trace running on the baseline beneath it is no pulse.
    under = mask.copy()
    under[base - 1:base + 2, :] = True
    assert locate_pulse(under, float(base), 0, 599, pxmm, pxmm, "left") is None
    # Nor is one without its feet.
    bare = mask.copy()
    bare[:, : x0 + width + 20] = False
    bare[base - height - 1:base - height + 2, x0:x0 + width] = True
    assert locate_pulse(bare, float(base), 0, 599, pxmm, pxmm, "left") is None


def test_locate_pulse_separates_interleaved_tall_pulses():
    # Three rows 14 mm apart with 20 mm pulses (20 mm/mV): each pulse reaches past the
    # next row's baseline, and their sides overlap those of the neighbours.
    pxmm = 8.0
    bases = [250, 362, 474]
    mask = np.zeros((560, 600), bool)
    for b in bases:
        _draw_rect_pulse(mask, b, 20, int(5 * pxmm), int(20 * pxmm))
        mask[b:b + 2, 80:600] = True                                # the row's trace
    for b in bases:
        p = locate_pulse(mask, float(b) + 0.5, 0, 599, pxmm, pxmm, "left")
        assert p is not None and p.side == "left"
        assert p.gain_mm_mv == 20.0 and p.speed_mm_s == 25.0
        assert abs(p.height_mm - 20.0) < 0.3
    # A QRS-like spike is no pulse; neither is a pulse of another row's baseline.
    spike = np.zeros((300, 400), bool)
    spike[100:200, 40:43] = True
    spike[100:200, 46:49] = True
    spike[198:200, 0:400] = True
    assert locate_pulse(spike, 199.0, 0, 399, pxmm, pxmm, "left") is None
    assert locate_pulse(mask, 300.0, 0, 599, pxmm, pxmm, "left") is None
    # Grid lines left in the ink (a photo, a black grid) form cells, not pulses.
    grid = np.zeros((400, 600), bool)
    grid[:, ::40] = True
    grid[::40, :] = True
    grid[279:281, :] = True                                          # a flat trace
    assert locate_pulse(grid, 280.0, 0, 599, pxmm, pxmm, "left") is None


def test_quarter_turns_not_fooled_by_tall_aligned_qrs():
    # A 6x2 sheet whose right-hand leads have QRS complexes taller than the row pitch:
    # they join those six rows into one tall block (which once outvoted the left-hand
    # rows), yet the landscape sheet is upright.
    h, w = 700, 1000
    mask = np.zeros((h, w), bool)
    for k in range(6):
        base = 120 + 90 * k
        for x0, x1, tall in ((40, 480, False), (520, 960, True)):
            x = np.arange(x0, x1)
            y = (base + 3 * np.sin(x / 13.0 + k)).astype(int)
            mask[y, x] = True
            mask[y + 1, x] = True
            if tall:
                for qx in range(x0 + 30, x1, 70):
                    mask[base - 110:base, qx:qx + 3] = True
                    mask[base:base + 30, qx + 4:qx + 7] = True
    assert quarter_turns(mask) == 0
    # A plain sheet of three rows, turned a quarter (a portrait image of columns).
    plain = np.zeros((1000, 700), bool)
    yy = np.arange(40, 960)
    for k in range(3):
        xs = (150 + 200 * k + 8 * np.sin(yy / 20.0)).astype(int)
        plain[yy, xs] = True
        plain[yy, xs + 1] = True
    assert quarter_turns(plain) == 1


def test_layout_matching_uses_breaks_and_names():
    lay = get_layout("3x4+1")
    m = match_layout(4, expected_breaks(lay), [])
    assert m.layout.name == "3x4+1"
    # Printed Cabrera names move the choice to the Cabrera layout.
    names = [NameHit("aVL", 0, 0.0, 0.9), NameHit("I", 1, 0.0, 0.9), NameHit("-aVR", 2, 0.0, 0.9)]
    cab = match_layout(4, expected_breaks(get_layout("3x4-cabrera+1")), names)
    assert cab.layout.name == "3x4-cabrera+1"
    # A rhythm strip labelled V1 replaces the default lead II.
    rhythm = match_layout(4, expected_breaks(lay), [NameHit("V1", 3, 0.01, 0.9)])
    assert rhythm.layout.cells[-1].lead == "V1"
    # Two strips (default II, V1) whose second is labelled II: the first is V1, not II too.
    two = get_layout("3x4+2")
    swapped = match_layout(5, expected_breaks(two), [NameHit("II", 4, 0.01, 0.9)])
    assert [c.lead for c in swapped.layout.cells if c.is_rhythm] == ["V1", "II"]
    both = match_layout(5, expected_breaks(two), [NameHit("V5", 3, 0.01, 0.9),
                                                  NameHit("II", 4, 0.01, 0.9)])
    assert [c.lead for c in both.layout.cells if c.is_rhythm] == ["V5", "II"]
    assert m.costs["12x1"] > m.cost


# --------------------------------------------------------------------------- end to end


def _score(result, gt) -> list[float]:
    out = []
    sig = dict(zip(result.lead_names, result.signals.T, strict=True))
    for seg in gt["leads"]:
        name = seg["lead"].lstrip("-")
        sign = -1.0 if seg["lead"].startswith("-") else 1.0
        i0 = int(round(seg["t_start_s"] * result.fs))
        ref = np.asarray(seg["signal_mv"], float)
        rec = sign * sig[name][i0:i0 + ref.size]
        out.append(snr_reference(ref[:rec.size], rec, result.fs).snr_db)
    return out


def test_off_level_tick_is_a_straight_separator_not_a_slanted_stroke():
    pxmm, base = 10.0, 200.0
    mask = np.zeros((400, 300), bool)
    # A 5 mm separator 3.5 mm below the trace's level (a record's offset at 20 mm/mV), 3 px
    # wide, with the trace ending above it.
    mask[int(base + 10):int(base + 60), 50:53] = True
    mask[int(base) - 1:int(base) + 2, 0:50] = True
    assert _off_level_tick(mask, 45, 58, base, pxmm, pxmm)
    # A steep QRS stroke of about the same height slants, 1 px across every 20 px down: its
    # longest column run is 6 mm, but the runs beside it end elsewhere.
    for y in range(int(base - 55), int(base + 5)):
        x = 200 + (y - int(base - 55)) // 20
        mask[y, x:x + 3] = True
    assert not _off_level_tick(mask, 195, 212, base, pxmm, pxmm)


def test_tied_layouts_are_those_with_the_same_places():
    breaks = expected_breaks(get_layout("3x4"))
    match = match_layout(3, breaks, [])
    assert match.layout.name == "3x4"
    assert [lay.name for lay in tied_layouts(match, [])] == ["3x4-cabrera"]
    # A printed name settles it: no tie.
    named = match_layout(3, breaks, [NameHit("aVL", 0, 0.0, 1.0), NameHit("I", 1, 0.0, 1.0)])
    assert named.layout.name == "3x4-cabrera"
    assert tied_layouts(named, []) == []


def test_digitize_a_clean_sheet(clean_sheet):
    image, gt = clean_sheet
    result = digitize(image)
    det = result.detected
    assert det.layout == "3x4+1"
    assert det.speed_mm_s == 25.0 and det.speed_source == "printed"   # the settings line
    assert det.gain_mm_mv == 10.0 and det.gain_source == "pulse"
    assert abs(det.px_per_mm_x / gt["px_per_mm"] - 1) < 0.01
    assert abs(det.rotation_deg - 1.3) < 0.1
    assert det.sheet_duration_s == pytest.approx(10.0, abs=0.1)
    assert result.signals.shape == (5000, 12) and result.lead_names == list(STANDARD_LEADS)
    assert np.median(_score(result, gt)) > 12.0
    assert all(q > 0.8 for q in result.quality.values())
    # Traces are mapped back onto the input image: they sit on dark ink.
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    seg = result.traces[0]
    ok = np.isfinite(seg.y_px)
    xs, ys = np.round(seg.x_px[ok]).astype(int), np.round(seg.y_px[ok]).astype(int)
    assert np.mean(grey[ys, xs] < 150) > 0.8
    json.dumps(result.summary())


def _lag_samples(ref: np.ndarray, rec: np.ndarray) -> float:
    """Shift (samples, fractional) that best aligns `rec` to `ref`; > 0: `rec` is late."""
    n = np.arange(ref.size, dtype=float)
    ok_rec = np.isfinite(rec)
    shifts = np.arange(-3.0, 3.001, 0.05)
    err = []
    for s in shifts:
        moved = np.interp(n + s, n[ok_rec], rec[ok_rec], left=np.nan, right=np.nan)
        e = moved - ref
        e = e[np.isfinite(e)]
        err.append(np.mean((e - e.mean()) ** 2))
    return float(shifts[int(np.argmin(err))])


def test_digitized_leads_keep_the_time_of_the_printed_samples():
    # A free trace end is the window's last sample, one sample period short of its end;
    # taking it for the end lagged every lead by half a sample.
    image, gt = _sheet(dpi=300, layout="6x2", calibration_pulse="none")
    result = digitize(image)
    sig = dict(zip(result.lead_names, result.signals.T, strict=True))
    lags = []
    for seg in gt["leads"]:
        i0 = int(round(seg["t_start_s"] * result.fs))
        ref = np.asarray(seg["signal_mv"], float)
        lags.append(_lag_samples(ref, sig[seg["lead"]][i0:i0 + ref.size]))
    assert abs(float(np.median(lags))) < 0.3


def test_unlabelled_cabrera_sheet_is_told_from_a_standard_one_by_its_limb_leads():
    # Without printed names or separators a Cabrera 3x4 sheet and a standard one look
    # alike; only a Cabrera reading makes the limb leads agree.
    image, gt = _sheet(rotation=0.4, layout="3x4-cabrera", lead_labels=False,
                       separators=False)
    result = digitize(image)
    assert result.detected.layout == "3x4-cabrera"
    assert any("limb leads agree" in w for w in result.warnings)
    assert np.median(_score(result, gt)) > 15.0


@pytest.mark.parametrize("layout", ["6x1-precordial", "6x1-limb"])
def test_unlabelled_6x1_sheet_is_read_as_limb_leads_only_where_they_agree(layout):
    # Six rows without names: limb and precordial sheets look alike. Precordial rows read
    # as limb leads disagree far beyond what limb leads ever do.
    image, gt = _sheet(rotation=0.4, layout=layout, lead_labels=False)
    result = digitize(image)
    assert result.detected.layout == layout
    assert (layout == "6x1-precordial") == any("too much to be limb leads" in w
                                                for w in result.warnings)


def test_limb_reading_preference():
    nan = float("nan")
    assert _limb_reading_preferred(0.02, nan)          # plausible limb leads beat none
    assert _limb_reading_preferred(0.02, 0.1)          # and clearly better agreement wins
    assert not _limb_reading_preferred(0.08, 0.1)      # but not a slightly better one
    assert not _limb_reading_preferred(0.7, nan)       # implausible ones do not beat none
    assert _limb_reading_preferred(nan, 0.7)           # none beats implausible ones
    assert not _limb_reading_preferred(nan, 0.1)
    assert not _limb_reading_preferred(nan, nan)


def test_digitize_options_are_used_and_checked(clean_sheet):
    image, _ = clean_sheet
    result = digitize(image, layout="3x4+1", speed_mm_s=25, gain_mm_mv="10", fs=250)
    assert result.detected.speed_source == "option" and result.detected.gain_source == "option"
    assert result.signals.shape[0] == 2500
    with pytest.raises(OptionError):
        digitize(image, speed_mm_s=30)
    with pytest.raises(OptionError):
        digitize(image, gain_mm_mv="big")
    with pytest.raises(LayoutError):
        digitize(image, layout="5x5")
    with pytest.raises(OptionError):
        digitize(image, fs=0)


def test_upside_down_sheet_is_turned():
    image, gt = _sheet(rotation=0.0, layout="6x2")
    result = digitize(np.ascontiguousarray(image[::-1, ::-1]))
    assert result.detected.upside_down
    assert result.detected.layout == "6x2"
    assert np.median(_score(result, gt)) > 10.0


def test_hanging_pulses_that_do_not_stand_once_turned_leave_the_sheet_as_it_is(
        clean_sheet, monkeypatch):
    # Shapes hanging from every baseline (on a black 5 mm grid: the cells at the grid's edge
    # once the lines are gone) that are not upright pulses when the sheet is turned round.
    import ecgdigitize.digitize.pipeline as pipeline

    def fake(mask, tr, row, base, pxmm_x, pxmm_y, hanging=False):
        return pipeline.Pulse("left", 0, int(5 * pxmm_x), 10.0, 5.0, base) if hanging else None

    monkeypatch.setattr(pipeline, "_row_pulse", fake)
    image, gt = clean_sheet
    result = digitize(image)
    assert not result.detected.upside_down
    assert result.detected.layout == gt["layout"]


def test_bad_images_give_clear_errors(tmp_path):
    blank = np.full((800, 1100, 3), 255, np.uint8)
    with pytest.raises(NotAnEcgError):
        digitize(blank)
    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    with pytest.raises(NotAnEcgError):
        digitize(noise)
    bad = tmp_path / "cut.png"
    ok, buf = cv2.imencode(".png", blank)
    bad.write_bytes(buf.tobytes()[:300])
    with pytest.raises(ImageError):
        digitize(bad)
    with pytest.raises(OptionError):
        digitize(np.zeros((10, 10), np.float64))


def test_package_is_callable(clean_sheet):
    import ecgdigitize.digitize as package

    image, _ = clean_sheet
    result = package(image, layout="3x4+1")
    assert result.detected.layout == "3x4+1"


@pytest.mark.parametrize("render", [
    {"layout": "12x1", "dpi": 120},                       # rows 14 mm apart, a flat aVL
    {"grid_colour": "grey", "dpi": 150},                  # neutral grid lighter than the ink
    {"grid_colour": "black", "dpi": 150, "calibration_pulse": "right"},
])
def test_digitize_layout_and_grid_variants(render):
    image, gt = _sheet(rotation=0.6, **render)
    result = digitize(image)
    assert result.detected.layout == gt["layout"]
    assert abs(result.detected.px_per_mm_x / gt["px_per_mm"] - 1) < 0.01
    assert result.detected.gain_source == "pulse"
    assert np.median(_score(result, gt)) > 8.0


def test_sheet_without_grid_takes_scale_from_the_pulse():
    rng = np.random.default_rng(5)
    spec = SheetSpec(render=RenderOptions(dpi=150))
    sheet = generate_sheet(smooth_record(), spec, rng=rng, seed=5)
    image = sheet.canvas.image.copy()
    image[sheet.canvas.classes == 2] = 255          # paint the grid out
    result = digitize(image)
    det = result.detected
    assert det.scale_source == "pulse"
    assert abs(det.px_per_mm_x / sheet.groundtruth["px_per_mm"] - 1) < 0.03
    assert any("calibration pulse" in w for w in result.warnings)
    assert det.layout == "3x4+1"
    # The pulse gives the scale to about half a percent (here -0.07 %); the rows' measured
    # width over their standard 10 s then sets the horizontal one to a few pixels in 1500.
    assert det.sheet_duration_s == 10.0
    assert abs(det.px_per_mm_x / sheet.groundtruth["px_per_mm"] - 1) < 0.0002


@pytest.mark.parametrize(("speed", "gain"), [(25.0, 20.0), (50.0, 10.0)])
def test_sheet_without_grid_takes_speed_and_gain_from_the_pulse_shape(speed, gain):
    # Without a grid the pulse's height alone cannot tell 1 mV at 20 mm/mV from 1 mV at
    # 10 mm/mV on a scan of twice the resolution; its width (0.2 s) and the page size can.
    rng = np.random.default_rng(5)
    spec = SheetSpec(render=RenderOptions(dpi=150, speed_mm_s=speed, gain_mm_mv=gain,
                                          header=False))
    sheet = generate_sheet(smooth_record(), spec, rng=rng, seed=5)
    image = sheet.canvas.image.copy()
    image[sheet.canvas.classes == 2] = 255          # paint the grid out
    det = digitize(image).detected
    assert det.scale_source == "pulse"
    assert abs(det.px_per_mm_x / sheet.groundtruth["px_per_mm"] - 1) < 0.03
    assert (det.speed_mm_s, det.gain_mm_mv) == (speed, gain)


def _sheet_without_grid_or_pulse() -> tuple[np.ndarray, dict]:
    """A 150 dpi 3x4+1 sheet with no calibration pulse, its grid painted out."""
    rng = np.random.default_rng(5)
    spec = SheetSpec(render=RenderOptions(dpi=150, calibration_pulse="none", header=False))
    sheet = generate_sheet(smooth_record(), spec, rng=rng, seed=5)
    image = sheet.canvas.image.copy()
    image[sheet.canvas.classes == 2] = 255
    return image, sheet.groundtruth


def test_sheet_without_grid_or_pulse_takes_scale_from_the_rows():
    # A standard sheet prints its full-width rows over 250 mm (10 s at 25 mm/s).
    image, gt = _sheet_without_grid_or_pulse()
    result = digitize(image)
    assert result.detected.scale_source == "rows"
    assert abs(result.detected.px_per_mm_x / gt["px_per_mm"] - 1) < 0.02
    assert any("length of the rows" in w for w in result.warnings)


def _traced(length_px: int, x0_px: int = 0) -> TracedRow:
    y = np.full(length_px, 50.0)
    return TracedRow(x0_px, y, np.zeros(length_px, bool), 1.0)


def test_scale_from_rows_reads_the_longest_rows_and_wants_a_page():
    # Three short rows and a full-width one of 2500 px: 10 px/mm on a 2900 px page.
    rows = [_traced(600), _traced(610, 620), _traced(605, 1240), _traced(2500)]
    assert _scale_from_rows(rows, 2900.0) == pytest.approx(10.0)
    # The same rows on an image 5000 px long would make it a 500 mm page: not a sheet.
    assert _scale_from_rows(rows, 5000.0) is None
    # Rows that make the image shorter than a page (263 mm) are longer than 250 mm: an
    # undetected pulse or a wrong row has joined them.
    assert _scale_from_rows(rows, 2630.0) is None
    assert _scale_from_rows([], 2900.0) is None


def test_page_size_is_the_last_resort_for_the_scale():
    # Rows that do not make the image a page (a strip cut from a sheet) leave the scale
    # to the page size, and the result says so.
    image, _ = _sheet_without_grid_or_pulse()
    w = image.shape[1]
    image = np.concatenate([image, np.full((image.shape[0], w // 2, 3), 255, np.uint8)], axis=1)
    result = digitize(image)
    assert result.detected.scale_source == "page"
    assert any("page size" in w for w in result.warnings)


def test_gap_at_is_a_short_clean_break_between_read_stretches():
    pxmm = 10.0
    tr = _traced(600)
    tr.y_px[300:310] = np.nan                      # a 1 mm blank between two cells
    assert _gap_at(tr, 305.0, pxmm)
    assert _gap_at(tr, 318.0, pxmm)                # within 1.5 mm of the break
    assert not _gap_at(tr, 340.0, pxmm)
    assert not _gap_at(_traced(600), 305.0, pxmm)  # no gap at all
    long_gap = _traced(600)
    long_gap.y_px[290:330] = np.nan                # 4 mm: a missing stretch, not a blank
    assert not _gap_at(long_gap, 310.0, pxmm)
    faint = _traced(600)
    faint.y_px[220:300:3] = np.nan                 # a faint trace's dropouts before it
    faint.y_px[300:310] = np.nan
    assert not _gap_at(faint, 305.0, pxmm)


def test_least_threshold_sits_above_a_coloured_grids_ink():
    rng = np.random.default_rng(0)
    ink = rng.uniform(0.0, 0.02, (100, 100))
    chroma = np.zeros((100, 100))
    ink[::10, :] = 0.15                            # grid lines, ink 0.15, red
    chroma[::10, :] = 120
    marks = ink > 0.12
    assert _least_threshold(ink, marks, chroma, grid_is_ink=False) == pytest.approx(0.2)
    assert _least_threshold(ink, marks, chroma, grid_is_ink=True) == 0.4
    assert _least_threshold(ink, marks, np.zeros_like(chroma), grid_is_ink=False) == 0.4


def test_line_positions_follow_a_grid_whose_pitch_drifts():
    # A rectified photo: 5 mm lines 30.5 px apart over the upper part of the sheet and
    # 31.5 px apart below (the paper's corners were found to a few px). The comb fitted to
    # the whole sheet drifts off the lower lines; combs fitted stretch by stretch do not.
    rng = np.random.default_rng(0)
    pitch_px = 6.1                                 # 1 mm
    n = 1400
    count = rng.uniform(0, 3, n)
    y, lines = 20.0, []
    while y < n - 5:
        lines.append(int(round(y)))
        count[int(round(y))] += 600
        y += 30.5 if y < 900 else 31.5
    got = _line_positions(count, pitch_px, 0.3)
    assert all(got[k] for k in lines)
    assert got.sum() < 5 * len(lines)
    # A lone high count between two of the lower lines (a flat trace) is not a line.
    mid = (lines[-3] + lines[-2]) // 2
    count[mid] += 600
    assert not _line_positions(count, pitch_px, 0.3)[mid]


def test_separate_keeps_a_faint_grey_trace_on_a_red_grid():
    # A screen grab: a thin anti-aliased trace is light grey, darker than the grid lines'
    # ink but below the 0.4 floor that suits neutral grids.
    image = np.full((200, 400, 3), 250, np.uint8)
    image[::8, :] = (250, 190, 190)
    image[:, ::8] = (250, 190, 190)
    image[100, 20:380] = (160, 160, 160)
    sep = separate(image)
    assert sep.ink_threshold < 0.4
    assert sep.trace[100, 20:380].mean() > 0.95
    assert sep.trace[::8, :].mean() < 0.05


def test_trace_components_bridge_breaks_at_grid_lines_only():
    pxmm = 10.0
    mask = np.zeros((60, 400), bool)
    grid = np.zeros((60, 400))
    grid[:, 195:205] = 0.5                         # a grid line crossing the trace
    mask[20, 20:195] = True                        # the trace, broken where it crosses
    mask[20, 205:380] = True
    mask[45, 20:195] = True                        # text: two words, 1 mm apart over paper
    mask[45, 205:380] = True
    grid[45, 195:205] = 0.0
    kept = trace_components(mask, pxmm, min_width_mm=30.0, grid=grid)
    assert kept[20, 20:380][mask[20, 20:380]].all()
    assert not kept[45].any()
    assert not trace_components(mask, pxmm, min_width_mm=30.0).any()


def test_small_screen_grab_is_enlarged_and_read():
    # A 100 dpi sheet shrunk to 40 % (about 1.6 px/mm, strokes a pixel thin) is enlarged
    # before it is read; the scale is reported for the image as given.
    image, gt = _sheet(rotation=0.0, dpi=100)
    small = cv2.resize(image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    result = digitize(small)
    det = result.detected
    assert det.layout == gt["layout"]
    assert abs(det.px_per_mm_x / (0.4 * gt["px_per_mm"]) - 1) < 0.02
    assert np.median(_score(result, gt)) > 5.0


def test_profile_pitch_takes_the_fundamental_of_equal_lines():
    # A black-and-white scan keeps only the 5 mm lines, one px thick and broken; the
    # autocorrelation then peaks as well at 15 mm as at 5 mm.
    rng = np.random.default_rng(1)
    pitch = 58.65
    prof = rng.uniform(0, 40, 3485)
    for k in np.arange(20, 3485, pitch):
        prof[int(round(k))] += rng.uniform(300, 900)
    got = profile_pitch(prof)
    assert abs(got.px_per_mm * 5 / pitch - 1) < 0.01


def test_reconcile_keeps_pitches_that_are_not_harmonics():
    a, b = GridPitch(22.1, 0.5, False), GridPitch(16.5, 0.3, False)
    assert reconcile(a, b, (1400, 1900)) == (a, b)
    c = GridPitch(3 * 8.0, 0.5, True)
    fixed = reconcile(c, GridPitch(8.0, 0.5, True), (1400, 1900))
    assert fixed[0].px_per_mm == 8.0


@pytest.mark.parametrize("quarters", [1, 3])
def test_sheet_turned_a_quarter_is_read(quarters):
    image, gt = _sheet(rotation=0.0, layout="6x2")
    result = digitize(np.ascontiguousarray(np.rot90(image, quarters)))
    assert result.detected.layout == "6x2"
    assert abs(abs(result.detected.rotation_deg) - 90.0) < 0.5
    assert np.median(_score(result, gt)) > 10.0


def test_segmenter_option_is_checked(clean_sheet):
    image, _ = clean_sheet
    with pytest.raises(OptionError, match="segmenter"):
        digitize(image, segmenter="magic")


def test_auto_segmenter_keeps_the_classical_reading_of_a_clean_sheet(clean_sheet):
    image, _ = clean_sheet
    auto = digitize(image)
    classical = digitize(image, segmenter="classical")
    assert auto.detected.segmenter == "classical"
    assert "discarded" not in auto.timings_s
    np.testing.assert_array_equal(auto.signals, classical.signals)


def test_second_reading_is_preferred_only_when_it_explains_more_rows_as_surely():
    first = Detected(layout="12x1", layout_cost=66.0, scale_source="grid")
    assert prefer_second_reading(first, Detected(layout_cost=1.1, scale_source="grid"))
    # Less than a row's penalty better: the first reading stands.
    assert not prefer_second_reading(first, Detected(layout_cost=61.0, scale_source="grid"))
    # Better rows but a scale from the rows' length instead of the grid: no.
    assert not prefer_second_reading(first, Detected(layout_cost=1.1, scale_source="rows"))
    assert prefer_second_reading(Detected(layout_cost=16.0, scale_source="page"),
                                 Detected(layout_cost=6.0, scale_source="pulse"))


def _fake_reading(cost: float, scale_source: str, value: float) -> Result:
    det = Detected(layout="6x2", layout_cost=cost, scale_source=scale_source)
    return Result(signals=np.full((10, 12), value), fs=500.0, lead_names=list(STANDARD_LEADS),
                  quality={}, detected=det, timings_s={"total": 1.5}, warnings=[])


@pytest.mark.parametrize("second_cost, second_scale, kept", [
    (1.0, "grid", "learned"), (5.0, "grid", "classical"), (1.0, "assumed", "classical"),
    (None, None, "classical")])
def test_auto_segmenter_chooses_between_two_readings(monkeypatch, second_cost, second_scale,
                                                      kept):
    calls = []

    def fake(image, *, segmenter, **kw):
        calls.append(segmenter)
        if segmenter == "classical":
            res = _fake_reading(9.0, "grid", 1.0)
        elif second_cost is None:
            raise NotAnEcgError("no ECG trace rows found")
        else:
            res = _fake_reading(second_cost, second_scale, 2.0)
        res.detected.segmenter = segmenter
        return res

    monkeypatch.setattr(pipeline, "_digitize_with", fake)
    res = digitize(np.zeros((64, 64, 3), np.uint8))
    assert calls == ["classical", "learned"]
    assert res.detected.segmenter == kept
    assert res.signals[0, 0] == (2.0 if kept == "learned" else 1.0)
    assert res.timings_s["discarded"] >= 0.0
    assert any("learned segmenter" in w for w in res.warnings) == (kept == "learned")


def test_auto_segmenter_does_not_read_twice_when_the_layout_fits(monkeypatch):
    calls = []

    def fake(image, *, segmenter, **kw):
        calls.append(segmenter)
        return _fake_reading(6.0, "grid", 1.0)

    monkeypatch.setattr(pipeline, "_digitize_with", fake)
    digitize(np.zeros((64, 64, 3), np.uint8))
    assert calls == ["classical"]


def test_learned_segmenter_reads_a_clean_sheet(clean_sheet):
    pytest.importorskip("onnxruntime")
    from ecgdigitize.models.segmenter import DEFAULT_MODEL_PATH
    if not DEFAULT_MODEL_PATH.exists():
        pytest.skip("no shipped segmentation model")
    image, gt = clean_sheet
    res = digitize(image, segmenter="learned")
    assert res.detected.layout == gt["layout"]
    assert np.mean(np.isfinite(res.signals)) > 0.2


def test_consensus_edge_ignores_rows_that_lost_their_ends():
    # Four rows end at column 4031; three lost their last stretch and end early. A median
    # would move; the latest end a third of the rows share does not.
    ends = np.array([3770.0, 4031.0, 4030.0, 4031.0, 3991.0, 3695.0, 4032.0])
    assert _consensus_edge(ends, 3.0, first=False) == 4031.0
    starts = np.array([108.0, 140.0, 109.0, 108.0, 200.0])
    assert _consensus_edge(starts, 3.0, first=True) == 108.0
    # A lone outlier before the others is no edge.
    assert _consensus_edge(np.array([50.0, 108.0, 109.0, 108.0]), 3.0, first=True) == 108.0


def test_extend_to_break_follows_a_stroke_cut_by_the_break():
    # A QRS upstroke (5 px per column) running into a cell's break at column 60; the
    # assembler dropped columns 57-60, and the tracer's last reading (column 56) already
    # jumped onto the next segment's first stroke, 40 px below.
    h, w = 200, 80
    x = np.arange(w, dtype=float)
    course = 150.0 - 5.0 * np.clip(x - 40, 0, None)
    mask = np.zeros((h, w), bool)
    for c in range(w):
        a, b = sorted((course[c], course[max(c - 1, 0)]))
        mask[int(a) - 1:int(b) + 2, c] = True
    mask[100:140, 58:61] = True                  # the tick and the next segment's stroke
    y = course.copy()
    y[56] = course[56] + 40.0
    y[57:] = np.nan
    inside = x <= 60.5
    _extend_to_break(y, x, mask, inside, first=False, radius_px=1.0)
    assert np.all(np.abs(y[56:61] - course[56:61]) <= 2.0)
    assert np.isnan(y[61:]).all()
    # At a cell's start, a flat trace is carried back at its level; with no ink touching
    # the trace (a gap before the break), the columns stay unread.
    flat = np.full(w, 100.0)
    flat[:6] = np.nan
    mask = np.zeros((h, w), bool)
    mask[99:102, 3:] = True
    _extend_to_break(flat, x, mask, np.ones(w, bool), first=True, radius_px=1.0)
    assert np.allclose(flat[3:6], 100.0, atol=0.6) and np.isnan(flat[:3]).all()


def test_solid_end_drops_a_dotted_tail_past_the_trace():
    # A trace of 600 columns whose baseline runs on as a dotted grid line (every third
    # column inked) for 45 more; the tracer bridged the dots.
    h, w = 100, 700
    mask = np.zeros((h, w), bool)
    mask[49:52, 20:620] = True
    mask[49:52, 620:665:3] = True
    tr = TracedRow(20, np.full(645, 50.0), np.zeros(645, bool), 1.0)
    assert _solid_end(mask, tr, 664, 1.0, first=False) in (619, 620)   # a dot may touch it
    assert _solid_end(mask, tr, 20, 1.0, first=True) == 20
    # A tail longer than a tenth of the row is left alone (it is more than a tail).
    long_tail = mask.copy()
    long_tail[49:52, 300:620] = False
    long_tail[49:52, 300:620:3] = True
    assert _solid_end(long_tail, tr, 664, 1.0, first=False) == 664
    # A solid trace keeps its end; a trace too short to judge keeps it too.
    mask[49:52, 620:665] = True
    assert _solid_end(mask, tr, 664, 1.0, first=False) == 664
    short = TracedRow(20, np.full(20, 50.0), np.zeros(20, bool), 1.0)
    assert _solid_end(mask, short, 39, 1.0, first=False) == 39


def test_tall_stroke_tells_a_qrs_from_a_separator_tick():
    col = np.zeros(200, bool)
    col[90:111] = True                    # a tick 10 px each way of the baseline at 100
    assert not _tall_stroke(col, 100.0, 14.0)
    col[40:90] = True                     # the same column inked far up: a QRS complex
    assert _tall_stroke(col, 100.0, 14.0)
    assert not _tall_stroke(np.zeros(200, bool), 100.0, 14.0)


def test_refine_steep_reads_a_narrow_qrs_from_the_rows():
    # A 4 px pen draws an R wave 6 px wide and an S wave: the up- and downstroke merge
    # into one blob, whose columns' vertical extent misplaces the flanks by tens of px.
    def qrs(t: np.ndarray) -> np.ndarray:
        return (100 - 80 * np.exp(-((t - 60) / 2.2) ** 2)
                + 25 * np.exp(-((t - 65.5) / 1.8) ** 2))

    t = np.arange(0, 120, 0.05)
    mask, ink = _draw((160, 120), [np.stack([t, qrs(t)], 1)], thickness=4)
    cols, tops, bottoms = column_runs(mask)
    core = np.maximum(_run_max(ink, cols, tops, bottoms), 0.2)
    te, be = _subpixel_edges(ink, cols, tops, bottoms, core)
    r = float(np.percentile((be - te) / 2, 2))
    morph = stroke_centre_morph(te, be, r)
    refined = refine_steep(cols, tops, bottoms, morph, r, cov=ink)
    truth = qrs(cols.astype(float))
    qrs_cols = (cols > 50) & (cols < 75)
    rms = lambda e: float(np.sqrt(np.mean(e[qrs_cols] ** 2)))  # noqa: E731
    assert rms(morph - truth) > 8.0
    assert rms(refined - truth) < 2.5
    # Flat stretches and the R apex keep the column reading.
    flat = (cols < 50) | (cols > 75)
    assert np.array_equal(refined[flat], morph[flat])
    apex = int(np.flatnonzero(cols == 60)[0])
    assert refined[apex] == morph[apex]


def test_grid_remnant_row_at_the_foot_of_the_grid_is_dropped():
    # Three rows 40 mm apart at 8 px/mm, and a fourth 8 mm below the last: straight
    # pieces of grid with jumps, 70 % read. A real trace that close is kept.
    pxmm = 8.0
    rng = np.random.default_rng(0)
    x = np.arange(1600)
    rows = [Row(100.0 + 320.0 * k, 0, 0, 0, 1599) for k in range(3)] + [Row(804.0, 0, 0, 0, 1599)]
    wavy = [TracedRow(0, 100.0 + 320.0 * k + 20.0 * np.sin(x / 30.0) + rng.normal(0, 0.3, x.size),
                      np.zeros(x.size, bool), 1.5) for k in range(3)]
    pieces = np.where(x < 700, 800.0, 812.0) + rng.normal(0, 0.1, x.size)
    pieces[(x > 300) & (x < 780)] = np.nan
    remnant = TracedRow(0, pieces, np.zeros(x.size, bool), 1.5)
    assert _drop_grid_remnant_rows(rows, wavy + [remnant], [True] * 4, pxmm, pxmm) == [
        True, True, True, False]
    trace = TracedRow(0, np.where(np.isnan(pieces), np.nan, 804.0 + 10.0 * np.sin(x / 20.0)),
                      np.zeros(x.size, bool), 1.5)
    assert _drop_grid_remnant_rows(rows, wavy + [trace], [True] * 4, pxmm, pxmm) == [True] * 4
    # With all of its width read, the same pieces are kept.
    full = TracedRow(0, np.where(x < 700, 800.0, 812.0), np.zeros(x.size, bool), 1.5)
    assert _drop_grid_remnant_rows(rows, wavy + [full], [True] * 4, pxmm, pxmm) == [True] * 4


def test_real_sheet_with_grey_line_grid_is_read_with_its_printed_layout():
    # ecg00005: a phone photo of a 6x1 limb-lead page whose grey grid lines pass the
    # classical ink threshold in its darker half; read classically they become 17 rows.
    from conftest import SHARED_DATA
    path = SHARED_DATA / "real-images-dev" / "ecg00005.jpg"
    if not path.is_file():
        pytest.skip("shared development data not present")
    pytest.importorskip("onnxruntime")
    res = digitize(path)
    assert res.detected.segmenter == "learned"
    assert res.detected.layout == "6x1-limb"
    assert "discarded" in res.timings_s
    # The network paints a finer texture into the dotted grid's cells; the classical grid
    # evidence sets the scale (major lines 65.7 px apart), so the pulse reads 25 mm/s, 10 mm/mV.
    assert res.detected.px_per_mm_x == pytest.approx(13.14, abs=0.1)
    assert (res.detected.speed_mm_s, res.detected.gain_mm_mv) == (25.0, 10.0)
    read = {name for name, q in res.quality.items() if q > 0.5}
    assert read == {"I", "II", "III", "aVR", "aVL", "aVF"}
