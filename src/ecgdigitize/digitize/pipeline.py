"""The digitizer, end to end: an image of a paper ECG in, calibrated signals out.

Stages (each in its own module of :mod:`ecgdigitize.digitize`):

1. :mod:`~.load` reads the file;
2. :mod:`~.perspective` finds a photographed sheet's paper outline and undoes
   the perspective; :mod:`~.separate` splits pen ink from grid and paper;
3. :mod:`~.deskew` undoes the rotation of the grid and turns the sheet upright;
4. :mod:`~.gridscale` measures px per mm on each axis, and :mod:`~.dewarp`
   straightens the grid of a curled or wrinkled page;
5. :mod:`~.calibration` finds the 1 mV pulse, the gain and the paper speed, and
   :mod:`~.settings_text` reads the printed "25 mm/s 10 mm/mV";
6. :mod:`~.labels` and :mod:`~.layout` read the printed lead names and
   choose the layout;
7. :mod:`~.trace` finds the rows and follows each trace;
8. this module assembles the segments into a 12-lead record in mV at the
   requested rate, with a quality score per lead; :mod:`~.redundancy` fills
   limb-lead gaps from the other limb leads and :mod:`~.gaps` bridges the
   short unread stretches left.
"""

from __future__ import annotations

import time
import warnings as pywarnings
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from ..errors import EcgDigitizeError, NotAnEcgError, OptionError
from ..layouts import Layout, get_layout
from ..leads import STANDARD_LEADS
from ..paper import GAINS_MM_MV, MM_PER_INCH, PAPER_SPEEDS_MM_S
from ..runs import true_runs
from .calibration import (
    PULSE_WIDTH_S,
    Pulse,
    find_pulse,
    locate_pulse,
    snap_gain,
    speed_from_qrs_width,
    speed_from_qt,
)
from .deskew import (
    Rotation,
    estimate_skew,
    quarter_turns,
    rotate_image,
    rotate_points,
    rotation_of,
)
from .dewarp import GridWarp, measure_grid_warp
from .gaps import DEFAULT_MAX_GAP_S, MAX_GAP_LIMIT_S, apply_bridging
from .gridscale import GridPitch, grid_scale, line_extent, straight_line_evidence
from .labels import find_labels
from .layout import BREAK_FRACTIONS, NameHit, match_layout, tied_layouts
from .load import DEFAULT_MAX_PIXELS, load_image, plausible_dpi
from .perspective import Rectification, rectify
from .redundancy import FILL_MODES, apply_redundancy, limb_inconsistency
from .result import Detected, LeadTrace, Result
from .separate import ink_mask, remove_grid_lines, separate, without_scene
from .settings_text import PrintedSettings, read_printed_settings
from .trace import (
    MAX_HOLE_MM,
    Row,
    TracedRow,
    column_runs,
    fill_small_holes,
    find_rows,
    trace_components,
    trace_row,
    trace_rows,
)

__all__ = ["digitize", "prefer_second_reading", "working_scale", "WORKING_MAX_SIDE_PX",
           "SEGMENTERS"]

#: Pixel separators :func:`digitize` can use (``auto``: see :func:`digitize`).
SEGMENTERS = ("auto", "classical", "learned")

#: Layout cost (:attr:`Detected.layout_cost`) above which the ``auto`` segmenter reads the
#: sheet again with the learned segmenter: one row the layout does not explain
#: (:data:`~.layout.ROW_PENALTY`). On the 116 sheets of ``bench_digitize.py`` (seed 0) the
#: classical reading costs more on 5; on the real ecg00005 it costs 66 (17 rows, most of
#: them grid lines).
AUTO_RETRY_COST = 6.0

#: How much cheaper the learned reading's layout must be for ``auto`` to keep it, and
#: the order of scale sources (:attr:`Detected.scale_source`) from the surest: the second
#: reading must explain at least one more row and measure its scale no less surely.
AUTO_MIN_GAIN = 6.0
SCALE_SOURCE_RANK = ("option", "grid", "pulse", "dpi", "rows", "page", "assumed")

#: Least autocorrelation at the 5 mm lag, on both axes, for the grid to set the scale.
MIN_GRID_CONFIDENCE = 0.15

#: Smallest accepted image side in px (a single 10 s strip at 25 mm/s is 250 mm long; even
#: at a screen-grab 1 px/mm its height is tens of px).
MIN_SIDE_PX = 32

#: Images with a longer side are processed at this size (px); 600 dpi letter is 6600 px.
WORKING_MAX_SIDE_PX = 4200

#: Images with a shorter longer side (screen grabs, thumbnails: under 5 px/mm on a page,
#: strokes a pixel thin) are enlarged to this size (px) first, so that a trace is a few
#: pixels thick and its anti-aliased edges survive separation and grid removal. Sheets
#: of 150 dpi and more (1650 px and longer) are read as they are: enlarging them further
#: lost 1-6 dB on some of the benchmark's clean and scanned sheets.
WORKING_MIN_SIDE_PX = 1400

#: Largest enlargement of a small image.
MAX_UPSCALE = 4.0

#: Sampling rate (Hz) assumed of the printed record where the two ends of a trace place
#: its window: a window of N samples is drawn from its first sample to its last, which
#: lies one sample period before the window's end.
PRINTED_FS_HZ = 500.0


def working_scale(long_side_px: int) -> float:
    """Factor by which an image whose longer side is `long_side_px` is resized before it
    is read: down to :data:`WORKING_MAX_SIDE_PX`, or up to :data:`WORKING_MIN_SIDE_PX`
    (at most :data:`MAX_UPSCALE`); 1 in between."""
    if long_side_px < WORKING_MIN_SIDE_PX:
        return min(WORKING_MIN_SIDE_PX / long_side_px, MAX_UPSCALE)
    return min(1.0, WORKING_MAX_SIDE_PX / long_side_px)


def _check_options(layout: str, speed: float | str, gain: float | str, fs: float,
                   extra: dict[str, Layout] | None) -> tuple[float | None, float | None]:
    if layout != "auto":
        get_layout(layout, extra=extra)
    if not (np.isfinite(fs) and 50.0 <= float(fs) <= 5000.0):
        raise OptionError(f"sampling rate must be within 50-5000 Hz, got {fs}")

    def parse(value: float | str, allowed: tuple[float, ...], what: str) -> float | None:
        if isinstance(value, str):
            if value.strip().lower() == "auto":
                return None
            try:
                value = float(value)
            except ValueError:
                raise OptionError(f"{what} must be 'auto' or one of {allowed}, got {value!r}")\
                    from None
        if float(value) not in allowed:
            raise OptionError(f"{what} must be 'auto' or one of {allowed}, got {value}")
        return float(value)

    return (parse(speed, PAPER_SPEEDS_MM_S, "paper speed (mm/s)"),
            parse(gain, GAINS_MM_MV, "gain (mm/mV)"))


def _standard_duration(measured_s: float) -> float:
    """Snap a measured row duration to a multiple of 0.5 s (2.5 s columns, 10 s rows)
    when it is within 1.5 % of one; otherwise keep the measurement."""
    snapped = 0.5 * round(measured_s / 0.5)
    if snapped > 0 and abs(measured_s / snapped - 1.0) <= 0.015:
        return snapped
    return float(measured_s)


def _file_dpi(path: Path) -> float | None:
    """Resolution stored in an image file (dpi), if any and plausible; called after loading."""
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore")
            with Image.open(path) as img:
                return plausible_dpi(img.info.get("dpi"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine of ``outer(inner(p))``."""
    a = np.vstack([outer, [0, 0, 1]])
    b = np.vstack([inner, [0, 0, 1]])
    return (a @ b)[:2]


def _rotated_dewarped_maps(rotation: Rotation, warp: GridWarp
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (px of the separated image) that rotate, then dewarp."""
    mx, my = warp.maps()
    inv = cv2.invertAffineTransform(rotation.matrix).astype(np.float32)
    return (inv[0, 0] * mx + inv[0, 1] * my + inv[0, 2],
            inv[1, 0] * mx + inv[1, 1] * my + inv[1, 2])


def _corner_text(corners: np.ndarray) -> str:
    return " ".join(f"({x:.0f},{y:.0f})" for x, y in corners)


def _mode(values: np.ndarray, bin_px: float = 0.25) -> float:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan")
    lo = float(v.min())
    idx = np.floor((v - lo) / bin_px).astype(np.int64)
    h = np.bincount(idx).astype(float)
    k = max(int(round(1.0 / bin_px)), 1)
    h = np.convolve(h, np.ones(2 * k + 1), mode="same")
    peak = int(np.argmax(h))
    near = v[np.abs(v - (lo + (peak + 0.5) * bin_px)) <= 1.0]
    return float(np.median(near)) if near.size else lo + (peak + 0.5) * bin_px


def _qrs_widths_mm(y: np.ndarray, base: float, pxmm_x: float, pxmm_y: float) -> list[float]:
    """Full width at 30 % of the largest excursions of a traced row, in mm."""
    d = np.abs(np.nan_to_num(base - y, nan=0.0)) / pxmm_y
    if d.size < 10 or d.max() < 2.0:
        return []
    widths = []
    thr = 0.6 * float(np.percentile(d, 99.5))
    above = d > 0.3 * thr
    peaks = np.flatnonzero((d > thr) & (d >= np.roll(d, 1)) & (d >= np.roll(d, -1)))
    last = -10**9
    for p in peaks:
        if p - last < 5 * pxmm_x:
            continue
        last = p
        a = p
        while a > 0 and above[a - 1]:
            a -= 1
        b = p
        while b < d.size - 1 and above[b + 1]:
            b += 1
        widths.append((b - a + 1) / pxmm_x)
    return widths


class _Sheet:
    """Working state of one orientation of the sheet."""

    def __init__(self, ink: np.ndarray, mask: np.ndarray, grid: np.ndarray, rotation: Rotation,
                 grid_is_ink: bool, warp: GridWarp | None = None) -> None:
        self.ink = ink
        self.mask = mask
        self.grid = grid
        self.rotation = rotation
        self.grid_is_ink = grid_is_ink
        # Applied after the rotation: points of these images map to the rotated sheet's
        # through warp.to_source.
        self.warp = warp

    def to_separated(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map points (px) of these images back to the separated (unrotated) image."""
        if self.warp is not None:
            x, y = self.warp.to_source(x, y)
        return rotate_points(cv2.invertAffineTransform(self.rotation.matrix), x, y)

    def turned(self) -> _Sheet:
        """The same sheet turned by 180 degrees."""
        h, w = self.ink.shape
        flip = np.array([[-1.0, 0.0, w - 1.0], [0.0, -1.0, h - 1.0]])
        r = self.rotation
        rot = Rotation(r.angle_deg + 180.0, _compose(flip, r.matrix), r.shape_in, r.shape_out)
        # The flip is composed into the rotation; the warp, applied after the rotation, is
        # conjugated by it (flip, warp, flip).
        warp = None if self.warp is None else self.warp.turned()
        return _Sheet(self.ink[::-1, ::-1].copy(), self.mask[::-1, ::-1].copy(),
                      self.grid[::-1, ::-1].copy(), rot, self.grid_is_ink, warp)


def _row_pulse(mask: np.ndarray, tr: TracedRow, row: Row, base: float, pxmm_x: float,
               pxmm_y: float, hanging: bool = False) -> Pulse | None:
    """The calibration pulse of a row, if any: as a shape in the mask, else on the trace.

    The shape is found even where the tracer ran along a neighbouring row's pulse
    (tall pulses of neighbouring rows interleave); the traced plateau is the fallback
    for pulses the shape test rejects (e.g. broken strokes). Columns are relative to
    ``tr.x0_px``.
    """
    x1 = tr.x0_px + tr.y_px.size - 1
    y = 2 * base - tr.y_px if hanging else tr.y_px
    traced = find_pulse(y, base, pxmm_x, pxmm_y)
    for side in ("left", "right"):
        p = locate_pulse(mask, base, tr.x0_px, x1, pxmm_x, pxmm_y, side, hanging)
        if p is None or p.gain_mm_mv is None:
            continue
        # Where the traced line shows the same pulse, its edges and foot are the finer
        # measurement (centre line, own foot level).
        if (traced is not None and traced.side == p.side
                and traced.gain_mm_mv == p.gain_mm_mv
                and abs(traced.x_end_px - p.x_end_px) <= 2.0 * pxmm_x):
            return traced
        return p
    return traced


def _row_start(tr: TracedRow, row: Row, pulse: Pulse | None) -> int:
    """Column (image px) of the first trace sample of a row.

    The row's wide trace component starts there; a calibration pulse printed apart
    from the trace is not part of it. Where the pulse runs into the trace, the
    trace starts after the pulse's falling edge.
    """
    start = row.trace_x0_px
    if pulse is not None and pulse.side == "left":
        start = max(start, tr.x0_px + pulse.x_end_px + 1)
    finite = np.flatnonzero(np.isfinite(tr.y_px[max(start - tr.x0_px, 0):]))
    return start + (int(finite[0]) if finite.size else 0)


def _row_edge(ink: np.ndarray, mask: np.ndarray, tr: TracedRow, row: Row, pulse: Pulse | None,
              radius_px: float, first: bool) -> tuple[float, bool]:
    """Column (px) where a row's first (or last) sample was drawn.

    A free end is its ink's continuous edge moved one pen radius inwards; an end
    at a calibration pulse (or one whose edge cannot be measured) is the first
    (last) traced column moved inwards by the radius less half a pixel (the end
    column holds more than half a pixel of cap).

    Returns
    -------
    x : float
        The column, px.
    free : bool
        True if it was measured at a free end.
    """
    x = _row_start(tr, row, pulse) if first else _row_end(tr, row, pulse)
    x = _solid_end(mask, tr, x, radius_px, first)
    step, inwards = (-1, 1.0) if first else (1, -1.0)
    y = tr.y_px[x - tr.x0_px] if 0 <= x - tr.x0_px < tr.y_px.size else np.nan
    if np.isfinite(y):
        edge = _free_end_edge(ink, mask, x, float(y), radius_px, step)
        if edge is not None:
            return edge + inwards * radius_px, True
    return x + inwards * max(radius_px - 0.5, 0.0), False


def _solid_end(mask: np.ndarray, tr: TracedRow, x: int, radius_px: float, first: bool,
               min_solid: float = 0.8, max_trim: float = 0.1) -> int:
    """The row's end column `x` (px) moved inwards past a dotted tail.

    A black-and-white scan breaks a grid line into dots; where one runs on at a
    trace's level past its end, the tracer follows it (it bridges short gaps),
    and the row seems to end millimetres late. A trace is solid ink up to its
    end: the end is the outermost traced column from which, over the next
    ``max(8, 6 radius_px)`` columns inwards, at least `min_solid` of the
    columns hold ink within a pen radius and a pixel of the trace. At most
    `max_trim` of the row's traced columns are cut off.
    """
    h, w = mask.shape
    i = x - tr.x0_px
    if not 0 <= i < tr.y_px.size:
        return x
    win = max(8, int(round(6.0 * radius_px)))
    near = int(np.ceil(radius_px + 1.0))
    n_read = int(np.count_nonzero(np.isfinite(tr.y_px)))
    if n_read < 4 * win:
        return x
    # Candidate ends, outermost first, and the columns their windows reach, inwards.
    n_cand = int(max_trim * n_read)
    cols = np.arange(i, min(i + n_cand + win, tr.y_px.size)) if first else \
        np.arange(i, max(i - n_cand - win, -1), -1)
    if cols.size <= win:
        return x
    y = tr.y_px[cols]
    c = tr.x0_px + cols
    ok = np.isfinite(y) & (c >= 0) & (c < w)
    solid = np.zeros(cols.size, bool)
    for k in np.flatnonzero(ok):
        r = int(round(y[k]))
        solid[k] = bool(mask[max(r - near, 0):min(r + near + 1, h), c[k]].any())
    share = np.convolve(solid.astype(float), np.ones(win) / win, mode="valid")
    good = np.flatnonzero(solid[:share.size] & (share >= min_solid))
    return int(tr.x0_px + cols[good[0]]) if good.size else x


def _free_end_edge(ink: np.ndarray, mask: np.ndarray, x: int, y: float, radius_px: float,
                   step: int) -> float | None:
    """Continuous position (px) where the ink of a trace's free end stops.

    `x` is the end column of the trace (its first with ``step = -1``, its last
    with ``step = +1``) and `y` the trace's row there. A round pen cap covers the
    pixel in its end column (spanning ``[x - 0.5, x + 0.5]``) and the one beyond
    it by together ``x + 0.5 - e`` (first column) or ``e - x + 0.5`` (last
    column), for an ink edge at ``e``; coverage is ink normalised by the
    stroke's core just inside. None where the end is not free (more ink follows
    within two columns, e.g. a pulse's lead-out) or no core is found.
    """
    h, w = ink.shape
    lo = max(int(np.floor(y - radius_px - 1.0)), 0)
    hi = min(int(np.ceil(y + radius_px + 1.0)) + 1, h)
    beyond = x + 2 * step
    if lo >= hi or not 0 <= beyond < w or mask[lo:hi, beyond].any():
        return None
    inner = [x - k * step for k in range(1, 4) if 0 <= x - k * step < w]
    if not inner:
        return None
    core = float(ink[lo:hi, inner].max())
    if core <= 0.2:
        return None
    cov = sum(min(float(ink[lo:hi, c].max()) / core, 1.0) for c in (x, x + step) if 0 <= c < w)
    return x + 0.5 - cov if step < 0 else x - 0.5 + cov


def _consensus_edge(values: np.ndarray, tol_px: float, first: bool) -> float:
    """The first (or last) column on which a third of the rows agree.

    Rows share their first and last column; a row whose first (last) stretch was
    lost reads a later start (an earlier end), and there may be several such
    rows, which would move a median. The earliest start (latest end) that at
    least a third of the rows (two at least) share within `tol_px` is the
    sheet's; the rows sharing it are averaged (median).
    """
    v = np.sort(np.asarray(values, float))
    if v.size < 3:
        return float(np.median(v))
    need = max(2, int(np.ceil(v.size / 3)))
    for x in (v if first else v[::-1]):
        near = v[np.abs(v - x) <= tol_px]
        if near.size >= need:
            return float(np.median(near))
    return float(np.median(v))


def _row_end(tr: TracedRow, row: Row, pulse: Pulse | None) -> int:
    """Column (image px) of the last trace sample of a row (before a right pulse)."""
    end = row.trace_x1_px
    if pulse is not None and pulse.side == "right":
        end = min(end, tr.x0_px + pulse.x_start_px - 1)
    y = tr.y_px[: max(end - tr.x0_px + 1, 0)]
    finite = np.flatnonzero(np.isfinite(y))
    return tr.x0_px + int(finite[-1]) if finite.size else end


def _mask_has_grid(mask: np.ndarray, pxmm_x: float, pxmm_y: float) -> bool:
    """True if the ink mask itself holds the grid (its lines repeat with the grid pitch).

    A neutral grid lighter than the ink threshold stays out of the mask; removing
    "grid lines" from such a mask would only cut thin traces.
    """
    if not (np.isfinite(pxmm_x) and np.isfinite(pxmm_y)):
        return False
    for profile, pitch in ((mask.sum(axis=0), pxmm_x), (mask.sum(axis=1), pxmm_y)):
        p = profile.astype(float) - profile.mean()
        lag = int(round(5 * pitch))
        if lag >= p.size // 2:
            return False
        ac = float(np.dot(p[:-lag], p[lag:])) / max(float(np.dot(p, p)), 1e-12)
        if ac < 0.3:
            return False
    return True


def _median_run_px(mask: np.ndarray) -> float:
    """Median length of the vertical runs of a mask (about the pen width), in px."""
    step = max(1, mask.shape[1] // 400)
    _, tops, bottoms = column_runs(mask[:, ::step])
    return float(np.median(bottoms - tops + 1)) if tops.size else 0.0


def _is_ecg_row(tr: TracedRow, pxmm_x: float, pxmm_y: float, min_range_mm: float = 0.2,
                max_tilt_deg: float = 1.0) -> bool:
    """True unless a traced row is a straight line (left-over grid, a frame, a rule).

    A nearly flat lead (e.g. a small aVL) still moves by a few tenths of a mm or
    carries a calibration pulse; a line moves less than `min_range_mm` (robust
    range) and has no pulse. The edge of a scanner bed or of a page that is not
    square to the grid is a tilted line: a row most of whose samples lie within
    0.3 mm of a straight line tilted by more than `max_tilt_deg` against the
    (deskewed) grid is one, even if the tracer strayed onto text beside it.
    """
    ok = np.isfinite(tr.y_px)
    y = tr.y_px[ok]
    if y.size < 10:
        return False
    x = tr.x_px[ok].astype(float) - float(tr.x_px[ok].mean())
    slope, icpt = np.polyfit(x, y, 1)
    near = np.abs(y - (slope * x + icpt)) < 1.0 * pxmm_y
    if near.sum() >= 10:
        slope, icpt = np.polyfit(x[near], y[near], 1)
    on_line = float(np.mean(np.abs(y - (slope * x + icpt)) < 0.3 * pxmm_y))
    tilt = abs(np.degrees(np.arctan(slope * pxmm_x / pxmm_y)))
    if tilt > max_tilt_deg and on_line > 0.6:
        return False
    lo, hi = np.percentile(y, [1, 99])
    if (hi - lo) / pxmm_y >= min_range_mm:
        return True
    return find_pulse(tr.y_px, float(np.median(y)), pxmm_x, pxmm_y) is not None


def _drop_grid_remnant_rows(rows: list[Row], traced: list[TracedRow], keep: list[bool],
                            pxmm_x: float, pxmm_y: float) -> list[bool]:
    """`keep` without an outermost row that is left-over grid hugging its neighbour.

    Grid lines a photo's lighting darkened past the grid separator, at the foot
    of the grid, are traced as a row of straight pieces joined where the row
    above dips into them. Such a row lies much closer to its neighbour than the
    sheet's row pitch (under 0.35 of it), leaves part of its width unread
    (under 90 %), and is flat (within 0.1 mm over 3 mm) in over 15 % of its
    columns, where a printed trace is so in about 2 %. An outermost row meeting
    all three is not kept.
    """
    idx = [k for k, ok in enumerate(keep) if ok]
    if len(idx) < 4:
        return keep
    bases = np.array([rows[k].baseline_px for k in idx])
    pitch = float(np.median(np.diff(bases)))
    out = list(keep)
    w = max(int(round(3.0 * pxmm_x)), 3)
    for k, gap in ((idx[0], bases[1] - bases[0]), (idx[-1], bases[-1] - bases[-2])):
        y = traced[k].y_px
        ok = np.isfinite(y)
        if gap >= 0.35 * pitch or ok.mean() >= 0.9 or not ok.any():
            continue
        hi = maximum_filter1d(np.where(ok, y, -np.inf), w)
        lo = minimum_filter1d(np.where(ok, y, np.inf), w)
        flat = ok & ((hi - lo) < 0.1 * pxmm_y)
        if flat.sum() > 0.15 * ok.sum():
            out[k] = False
    return out


def _extend_to_pulse(mask: np.ndarray, row: Row, pxmm_x: float, pxmm_y: float) -> None:
    """Widen a row's column range to a calibration pulse printed apart from the trace.

    Such a pulse is too narrow to count as a trace component. Within 16 mm of
    either end of the row, a component standing on the baseline (or hanging from
    it, on a sheet upside down), 2.5-16 mm wide and 3.5-25 mm tall, is taken as
    the pulse; so is a thin stroke 4-13 mm long at a standard gain's height (5,
    10 or 20 mm) above or below the baseline, the top of a pulse whose sides were
    removed with the grid lines they lay on.
    """
    h, w = mask.shape
    ya = int(max(row.baseline_px - 26 * pxmm_y, 0))
    yb = int(min(row.baseline_px + 26 * pxmm_y, h - 1)) + 1
    reach = int(16 * pxmm_x)
    for side in ("left", "right"):
        xa = max(row.x0_px - reach, 0) if side == "left" else row.x1_px + 1
        xb = row.x0_px if side == "left" else min(row.x1_px + 1 + reach, w)
        if xb - xa < 3:
            continue
        sub = mask[ya:yb, xa:xb].astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(sub, connectivity=8)
        for k in range(1, n):
            x, y, cw, ch = stats[k, :4]
            ends = (ya + y, ya + y + ch - 1)
            on_base = min(abs(e - row.baseline_px) for e in ends) <= 1.5 * pxmm_y
            # A pulse's top without its sides (they lay on grid lines printed in trace
            # ink and went with them): a thin stroke at a standard gain's height.
            rise_mm = abs(ya + y + 0.5 * ch - row.baseline_px) / pxmm_y
            top_only = (4.0 * pxmm_x <= cw <= 13 * pxmm_x and ch <= 1.0 * pxmm_y
                        and snap_gain(rise_mm) is not None)
            if (2.5 * pxmm_x <= cw <= 16 * pxmm_x and 3.5 * pxmm_y <= ch <= 25 * pxmm_y
                    and on_base) or top_only:
                if side == "left":
                    row.x0_px = min(row.x0_px, xa + int(x))
                else:
                    row.x1_px = max(row.x1_px, xa + int(x + cw - 1))


def _tall_stroke(column: np.ndarray, baseline_px: float, reach_px: float) -> bool:
    """True if the ink run through `baseline_px` in one column reaches beyond `reach_px`.

    A column separator is a short tick across the baseline (about 2.5 mm each
    way); a QRS complex that happens to stand at a break fraction is inked much
    further (and on a 6x1 sheet it stands there in every row at once).
    """
    b = int(round(baseline_px))
    if not 0 <= b < column.size or not column[b]:
        return False
    top, bottom = _run_at(column, b)
    return b - top > reach_px or bottom - b > reach_px


def _run_at(column: np.ndarray, row: int) -> tuple[int, int]:
    """First and last image row (px) of the ink run of `column` (bool) that holds `row`."""
    off = np.flatnonzero(~column)
    above = off[off < row]
    below = off[off > row]
    top = int(above[-1]) + 1 if above.size else 0
    bottom = int(below[0]) - 1 if below.size else column.size - 1
    return top, bottom


def _off_level_tick(mask: np.ndarray, xa: int, xb: int, baseline_px: float, pxmm_x: float,
                    pxmm_y: float) -> bool:
    """True if columns `xa` to `xb` hold a separator tick away from the row's trace level.

    A separator is printed across the row's nominal baseline; at a high gain a
    record's offset moves the trace's densest level (the found baseline) a few
    mm off it. A tick is then a run of 3.5-7.5 mm within 6 mm of the baseline
    that is truly vertical: a column beside it under the pen holds a run with
    the same ends (a steep QRS stroke slants and its runs shift from column to
    column).
    """
    h = mask.shape[0]
    ya = int(max(baseline_px - 6.0 * pxmm_y, 0))
    yb = int(min(baseline_px + 6.0 * pxmm_y, h - 1)) + 1
    band = mask[ya:yb, max(xa - 1, 0):xb + 1]
    cols, tops, bottoms = column_runs(band)
    length = bottoms - tops + 1
    ok = ((length >= 3.5 * pxmm_y) & (length <= 7.5 * pxmm_y) & (tops > 0)
          & (bottoms < band.shape[0] - 1))
    tol = max(2.0, 0.15 * pxmm_y)
    for k in np.flatnonzero(ok):
        same = 0
        for dc in (-1, 1):
            there = np.flatnonzero(cols == cols[k] + dc)
            same += any(abs(tops[m] - tops[k]) <= tol and abs(bottoms[m] - bottoms[k]) <= tol
                        for m in there)
        if same >= 1:
            return True
    return False


def _gap_at(tr: TracedRow, x_px: float, pxmm_x: float) -> bool:
    """True if a traced row has a short clean gap at column `x_px`: the trace stops and
    starts again there (cells of a sheet printed one after the other, with a blank of
    0.3–3 mm between them), and runs on both sides.

    The gap must lie within 1.5 mm of `x_px`, and the 8 mm of trace on either side of it
    be read in at least 80 % of the columns, so that a faint trace's dropouts do not
    count.
    """
    y = tr.y_px
    read = np.isfinite(y)
    c = int(round(x_px)) - tr.x0_px
    reach = int(round(1.5 * pxmm_x))
    if c - reach < 0 or c + reach >= y.size:
        return False
    lo_len, hi_len = max(2.0, 0.3 * pxmm_x), 3.0 * pxmm_x
    side = int(round(8.0 * pxmm_x))
    for a, b in true_runs(~read[c - reach:c + reach + 1]):
        a, b = a + c - reach, b + c - reach
        if not lo_len <= b - a <= hi_len:
            continue
        left, right = read[max(a - side, 0):a], read[b:b + side]
        if left.size >= side // 2 and right.size >= side // 2 \
                and left.mean() >= 0.8 and right.mean() >= 0.8:
            return True
    return False


def _break_evidence(mask: np.ndarray, rows: list[Row], t0: float, width: float,
                    pxmm_x: float, pxmm_y: float, names: list[NameHit],
                    traced: list[TracedRow] | None = None) -> np.ndarray:
    """Evidence in [0, 1] of a column break per row and break fraction: a separator
    line or tick, a printed name just after the break, or (with the rows' first-pass
    `traced` centre lines) a short clean gap in the trace (:func:`_gap_at`)."""
    out = np.zeros((len(rows), len(BREAK_FRACTIONS)))
    h, w = mask.shape
    for i, r in enumerate(rows):
        for j, f in enumerate(BREAK_FRACTIONS):
            xf = t0 + f * width
            if traced is not None and _gap_at(traced[i], xf, pxmm_x):
                out[i, j] = 1.0
                continue
            xa, xb = int(max(xf - 0.8 * pxmm_x, 0)), int(min(xf + 0.8 * pxmm_x, w - 1)) + 1
            ya = int(max(r.baseline_px - 2.0 * pxmm_y, 0))
            yb = int(min(r.baseline_px + 2.0 * pxmm_y, h - 1)) + 1
            if xb > xa and yb > ya:
                cover = mask[ya:yb, xa:xb].mean(axis=0)
                for c in np.flatnonzero(cover >= 0.9):
                    if not _tall_stroke(mask[:, xa + c], r.baseline_px, 3.5 * pxmm_y):
                        out[i, j] = 1.0
                        break
                else:
                    if _off_level_tick(mask, xa, xb, r.baseline_px, pxmm_x, pxmm_y):
                        out[i, j] = 1.0
            if any(n.row == i and f - 0.015 <= n.frac <= f + 0.06 for n in names):
                out[i, j] = 1.0
    return out


def digitize(image: str | Path | np.ndarray, *, layout: str = "auto",
             speed_mm_s: float | str = "auto", gain_mm_mv: float | str = "auto",
             fs: float = 500.0, layouts_extra: dict[str, Layout] | None = None,
             dpi: float | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
             perspective: bool = True, dewarp: bool = True, redundancy: str = "gaps",
             segmenter: str = "auto", max_gap_ms: float = 1000.0 * DEFAULT_MAX_GAP_S
             ) -> Result:
    """Digitize an image of a paper ECG.

    Parameters
    ----------
    image : str, Path or ndarray
        Image file, or an RGB array (H, W, 3) uint8.
    layout : str
        Layout name, or ``auto`` to choose among the built-in layouts and
        `layouts_extra`.
    speed_mm_s : float or ``"auto"``
        Paper speed (25 or 50 mm/s); ``auto`` reads it from the calibration
        pulse or the QRS width.
    gain_mm_mv : float or ``"auto"``
        Gain (5, 10 or 20 mm/mV); ``auto`` reads it from the calibration pulse.
    fs : float
        Sampling rate of the output in Hz.
    layouts_extra : dict, optional
        User layouts (from :func:`ecgdigitize.layouts.load_layouts`).
    dpi : float, optional
        Resolution of the image in dpi, used only if the grid cannot be
        measured (default: the file's metadata, if any).
    max_pixels : int
        Largest image accepted, in px.
    perspective : bool
        Look for the outline of the paper on a background (a photo) and undo
        its perspective (:mod:`~.perspective`); scans are left as they are.
    dewarp : bool
        Straighten grid lines that bend or are unevenly spaced (a curled or
        wrinkled page, :mod:`~.dewarp`); a flat sheet is left as it is.
    segmenter : {"auto", "classical", "learned"}
        Pixel classes from colour and intensity (:mod:`~.separate`), or from
        the shipped network (:mod:`ecgdigitize.models.segmenter`, needs
        onnxruntime). ``auto`` reads the sheet with the classical separator
        and, where the layout then leaves rows unexplained (its cost above
        :data:`AUTO_RETRY_COST`: typically grid lines taken for trace rows),
        again with the network; the network's reading is kept where its layout
        costs at least :data:`AUTO_MIN_GAIN` less and its scale is measured
        no less surely (:data:`SCALE_SOURCE_RANK`). The one used is
        ``Result.detected.segmenter``; the time of a reading not kept is
        ``Result.timings_s["discarded"]``.
    redundancy : {"gaps", "all", "none"}
        Use the redundancy of the limb leads
        (:mod:`~.redundancy`): ``gaps`` fills limb-lead samples that were
        printed but could not be read from the other limb leads, ``all`` also
        reconstructs limb leads where they were not printed, ``none`` fills
        and repairs nothing. With ``gaps`` and ``all``, where five or more
        limb leads are read at once (6x2, 12x1, 6x1 sheets) and the rows
        found match the layout, samples of a lead that disagree with the
        consensus of the others are replaced by it. Filled and repaired
        samples are marked in ``Result.filled``; in every mode a limb lead
        that disagrees with the others is flagged (quality lowered, a
        warning).
    max_gap_ms : float
        Unread stretches of a printed lead up to this long, in ms, are bridged
        after the limb leads' filling (:mod:`~.gaps`: interpolated, or the
        nearest reading held at a window's end) and marked in
        ``Result.filled``; 0 leaves every unread sample NaN.

    Returns
    -------
    Result

    Raises
    ------
    ImageError
        If the file cannot be read.
    NotAnEcgError
        If no grid scale can be found or no trace rows are seen.
    OptionError, LayoutError
        For invalid options.
    """
    kw = dict(layout=layout, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv, fs=fs,
              layouts_extra=layouts_extra, dpi=dpi, max_pixels=max_pixels,
              perspective=perspective, dewarp=dewarp, redundancy=redundancy,
              max_gap_ms=max_gap_ms)
    if segmenter not in SEGMENTERS:
        raise OptionError(f"segmenter must be one of {', '.join(SEGMENTERS)}, got "
                          f"{segmenter!r}")
    if segmenter != "auto":
        return _digitize_with(image, segmenter=segmenter, **kw)
    first = _digitize_with(image, segmenter="classical", **kw)
    if not first.detected.layout_cost > AUTO_RETRY_COST:
        return first
    t0 = time.perf_counter()
    try:
        second = _digitize_with(image, segmenter="learned", **kw)
    except EcgDigitizeError:
        # No rows at all, or no onnxruntime: the classical reading stands.
        first.timings_s["discarded"] = time.perf_counter() - t0
        return first
    if prefer_second_reading(first.detected, second.detected):
        second.timings_s["discarded"] = first.timings_s["total"]
        second.warnings.insert(0, f"the classical separator's layout left rows unexplained "
                                  f"(cost {first.detected.layout_cost:.1f}); the learned "
                                  f"segmenter's reading (cost "
                                  f"{second.detected.layout_cost:.1f}) is used")
        return second
    first.timings_s["discarded"] = second.timings_s["total"]
    return first


def prefer_second_reading(first: Detected, second: Detected) -> bool:
    """True if the learned segmenter's reading `second` replaces the classical `first`.

    It must explain the sheet's rows better, its layout costing at least
    :data:`AUTO_MIN_GAIN` less, and measure its scale no less surely
    (:data:`SCALE_SOURCE_RANK`).

    Parameters
    ----------
    first, second : Detected
        What each reading found.

    Returns
    -------
    bool
    """
    def rank(source: str) -> int:
        return SCALE_SOURCE_RANK.index(source) if source in SCALE_SOURCE_RANK \
            else len(SCALE_SOURCE_RANK)

    return bool(second.layout_cost <= first.layout_cost - AUTO_MIN_GAIN
                and rank(second.scale_source) <= rank(first.scale_source))


def _digitize_with(image: str | Path | np.ndarray, *, layout: str, speed_mm_s: float | str,
                   gain_mm_mv: float | str, fs: float, layouts_extra: dict[str, Layout] | None,
                   dpi: float | None, max_pixels: int, perspective: bool, dewarp: bool,
                   redundancy: str, segmenter: str, max_gap_ms: float) -> Result:
    """:func:`digitize` with one segmenter, ``classical`` or ``learned``."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    speed_opt, gain_opt = _check_options(layout, speed_mm_s, gain_mm_mv, fs, layouts_extra)
    if redundancy not in FILL_MODES:
        raise OptionError(f"redundancy must be one of {', '.join(FILL_MODES)}, got "
                          f"{redundancy!r}")
    if not (np.isfinite(max_gap_ms) and 0.0 <= float(max_gap_ms) <= 1000.0 * MAX_GAP_LIMIT_S):
        raise OptionError(f"the longest gap to bridge must be within "
                          f"0-{1000.0 * MAX_GAP_LIMIT_S:g} ms, got {max_gap_ms}")
    source = "<array>"
    if isinstance(image, (str, Path)):
        source = str(image)
        # Load first: a bad file (too large, corrupt) gets load_image's clear error.
        rgb = load_image(image, max_pixels=max_pixels)
        if dpi is None:
            dpi = _file_dpi(Path(image))
    else:
        rgb = np.asarray(image)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype != np.uint8:
            raise OptionError(f"image array must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        rgb = np.ascontiguousarray(rgb[:, :, :3])
    in_shape = (int(rgb.shape[0]), int(rgb.shape[1]))
    if min(in_shape) < MIN_SIDE_PX:
        raise NotAnEcgError(f"image of {in_shape[1]} x {in_shape[0]} px is too small to be a "
                            f"paper ECG (at least {MIN_SIDE_PX} px a side)")
    warnings: list[str] = []
    lap("load")

    # Work on a bounded size; coordinates are mapped back to the input at the end.
    scale = working_scale(max(in_shape))
    if scale != 1.0:
        rgb = cv2.resize(rgb, (int(round(in_shape[1] * scale)), int(round(in_shape[0] * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC)
    rect: Rectification | None = None
    if perspective:
        rgb, rect = rectify(rgb, max_side_px=WORKING_MAX_SIDE_PX)
        if rect is not None:
            warnings.append(f"perspective corrected: paper found at corners "
                            f"{_corner_text(rect.corners_px / scale)} px")
            # File dpi says nothing about the rectified image's scale.
            dpi = None
    lap("perspective")
    if segmenter == "learned":
        # Imported here: the model module needs onnxruntime, the classical path does not.
        from ..models.segmenter import Segmenter
        # Printed text stays in the ink mask, as with the classical separator: the lead
        # names and the settings line are read from it.
        sep = Segmenter.default().segment(rgb).to_separation(include_text=True)
        # The network's grid class can paint a texture of its own into the cells of a dotted
        # grid, a finer period than the grid's (ecg00005: 6.5 px/mm for 13.1). The classical
        # separator's grid evidence sets the rotation and scale where its period is surer.
        grid_c = separate(rgb).grid
        if _grid_confidence(grid_c) > _grid_confidence(sep.grid):
            sep = replace(sep, grid=grid_c)
    else:
        sep = separate(rgb)
    sep = without_scene(sep)
    lap("separate")

    angle, conf = estimate_skew(sep.grid)
    if conf < 1.15:
        angle_t, conf_t = estimate_skew(sep.trace.astype(np.float32), max_angle_deg=10.0)
        angle = angle_t if conf_t > 1.15 else 0.0
    def upright(a: float, warp: GridWarp | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Rotation]:
        # The mask is thresholded before rotating and rotated without interpolation: an
        # interpolated one-pixel stroke would fall apart below the threshold.
        if warp is None:
            ink_r, rotation = rotate_image(sep.ink, a)
            mask_r, _ = rotate_image(sep.trace.astype(np.uint8), a,
                                     interpolation=cv2.INTER_NEAREST)
            grid_r, _ = rotate_image(sep.grid, a)
        else:
            # Rotation and dewarping in one resampling of the separated images.
            rotation = rotation_of(sep.ink.shape, a)
            sx, sy = _rotated_dewarped_maps(rotation, warp)
            ink_r = cv2.remap(sep.ink, sx, sy, cv2.INTER_LINEAR)
            mask_r = cv2.remap(sep.trace.astype(np.uint8), sx, sy, cv2.INTER_NEAREST)
            grid_r = cv2.remap(sep.grid, sx, sy, cv2.INTER_LINEAR)
        plain = ink_r > sep.ink_threshold
        # Thick strokes: the plain threshold of the interpolated ink keeps their edges where
        # the sub-pixel edge model expects them. Strokes a pixel or two thin would break
        # apart: hysteresis and the nearest-neighbour mask keep them whole.
        if _median_run_px(plain) <= 2.0:
            plain = ink_mask(ink_r, sep.ink_threshold) | (mask_r > 0)
        return ink_r, plain, grid_r, rotation

    ink, mask, grid, rot = upright(angle)
    lap("deskew")

    px, py = grid_scale(grid)
    grid_ok = _grid_found(px, py)
    # A grid in the pen's colour: the evidence holds the traces, whose rows can fake a period
    # (on a grid of 5 mm lines only, rows 25 mm apart look like its heavier fifth lines).
    # Its long straight lines alone are then read.
    lines_only = False
    if not grid_ok and sep.grid_is_ink:
        lines = straight_line_evidence(grid)
        px_l, py_l = grid_scale(lines)
        if _grid_found(px_l, py_l):
            px, py, grid, grid_ok, lines_only = px_l, py_l, lines, True, True
    # A sheet turned by a quarter: its trace rows run along y. Judge it on the ink without
    # grid lines, then turn and swap the axes. (Lines are only removed with a pitch that
    # passed as a grid: a period the traces faked would cut the traces themselves.)
    grid_in_mask = (grid_ok and sep.grid_is_ink
                    and _mask_has_grid(mask, px.px_per_mm, py.px_per_mm))
    if grid_in_mask:
        mask = remove_grid_lines(mask, px.px_per_mm, py.px_per_mm)

    def prepared(a: float, warp: GridWarp | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Rotation]:
        # upright(), with the grid's lines and the grid lines in the mask taken as above.
        ink_p, mask_p, grid_p, rot_p = upright(a, warp)
        if lines_only:
            grid_p = straight_line_evidence(grid_p)
        if grid_in_mask:
            mask_p = remove_grid_lines(mask_p, px.px_per_mm, py.px_per_mm)
        return ink_p, mask_p, grid_p, rot_p

    if quarter_turns(mask):
        angle += 90.0
        px, py = py, px
        ink, mask, grid, rot = prepared(angle)
    lap("gridscale")

    warp: GridWarp | None = None
    if dewarp and grid_ok:
        # Tall QRS strokes look like grid lines to the comb: measure the grid without them.
        pen = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8))
        warp = measure_grid_warp(np.where(pen > 0, 0.0, grid).astype(np.float32),
                                 px.px_per_mm, py.px_per_mm)
        if warp is not None:
            ink, mask, grid, rot = prepared(angle, warp)
            warnings.append(f"page curvature corrected: grid lines moved by up to "
                            f"{warp.displacement_percentile(99.0) / scale:.1f} px")
    sheet = _Sheet(ink, mask, grid, rot, sep.grid_is_ink, warp)
    scale_source = "grid"
    pxmm_x, pxmm_y = px.px_per_mm, py.px_per_mm
    if not grid_ok:
        if dpi is not None:
            pxmm_x = pxmm_y = dpi * scale / MM_PER_INCH
            scale_source = "dpi"
            warnings.append("no grid found: scale taken from the image's dpi")
        else:
            pxmm_x = pxmm_y = float("nan")
            scale_source = "pulse"  # or "rows"/"page": settled once the rows are traced
    lap("dewarp")

    found_so_far = list(warnings)
    # Each reading starts from the warnings found so far, so a sheet read again after being
    # turned does not report the first reading's findings.
    warnings = list(found_so_far)
    result = _read_sheet(sheet, pxmm_x, pxmm_y, scale_source, layout, speed_opt, gain_opt,
                         fs, layouts_extra, warnings, timings)
    if result["flip"]:
        # Pulses hanging from the baselines: read the sheet turned. The hanging pulses must
        # then stand upright; where fewer are found, they were something else (on a black
        # grid, the cells at the grid's edge once the lines are removed), and the first
        # reading stands.
        first, first_warnings = result, warnings
        warnings = list(found_so_far)
        turned = sheet.turned()
        result = _read_sheet(turned, pxmm_x, pxmm_y, scale_source, layout, speed_opt,
                             gain_opt, fs, layouts_extra, warnings, timings)
        if result["n_pulses"] >= first["n_hanging"]:
            sheet = turned
        else:
            result, warnings = first, first_warnings
    det: Detected = result["detected"]
    det.segmenter = segmenter
    # The stages ran on a copy downscaled by `scale`: report the input image's scale.
    det.px_per_mm_x, det.px_per_mm_y = det.px_per_mm_x / scale, det.px_per_mm_y / scale
    det.rotation_deg = float(((sheet.rotation.angle_deg + 180.0) % 360.0) - 180.0)
    det.upside_down = abs(abs(det.rotation_deg) - 180.0) < 45.0
    if rect is not None:
        det.paper_corners_px = (rect.corners_px / scale).round(1).tolist()

    # Map traced centre lines back to input-image px.
    traces = []
    for seg in result["segments"]:
        x, y = sheet.to_separated(seg.x_px, seg.y_px)
        if rect is not None:
            x, y = rect.to_input(x, y)
        seg.x_px, seg.y_px = x / scale, y / scale
        traces.append(seg)
    out = Result(signals=result["signals"], fs=float(fs), lead_names=list(STANDARD_LEADS),
                 quality=result["quality"], detected=det, traces=traces, timings_s=timings,
                 source=source, image_shape=in_shape, warnings=warnings)
    t_red = time.perf_counter()
    # The consensus of the limb leads presumes each row is the lead the layout says; with
    # more or fewer rows than the layout has, that is in doubt and nothing is repaired.
    apply_redundancy(out, redundancy, repair=redundancy != "none" and result["rows_match"])
    apply_bridging(out, float(max_gap_ms) / 1000.0)
    timings["redundancy"] = time.perf_counter() - t_red
    timings["total"] = float(sum(v for k, v in timings.items()))
    return out


#: Scale sources (:attr:`Detected.scale_source`) less precise than a row's measured width:
#: where a row's duration is a standard one, its width sets the horizontal scale.
ROW_CLOCK_SOURCES = ("pulse", "rows", "page", "assumed")

#: Of layouts tied on the sheet's evidence (same places, other leads), another is chosen
#: where its limb leads' relative inconsistency is below this fraction of the first's.
LIMB_TIE_RATIO = 0.5

#: Relative inconsistency of limb leads (:func:`~.redundancy.limb_inconsistency`) from which
#: rows read as limb leads are taken not to be limb leads. On 24 generated 6x1-limb sheets
#: (five presets, benchmarks/bench_limb_check.py) limb leads gave at most 0.27 save one
#: reading that had failed altogether; 23 of 24 precordial sheets read as limb leads gave
#: 0.5 or more (median 0.75). Correctly named readings of the digitizer benchmark's sets
#: stay under 0.31.
LIMB_MAX_INCONSISTENCY = 0.5


def _limb_reading_preferred(new: float, old: float) -> bool:
    """True if a reading whose limb leads disagree by `new` beats one that disagrees by `old`.

    NaN stands for a reading without limb leads (or too few read together). Plausible limb
    leads (below :data:`LIMB_MAX_INCONSISTENCY`) beat none and implausible ones; of two
    plausible readings, the new one must agree clearly better (:data:`LIMB_TIE_RATIO`).
    Without a plausible one, a reading without limb leads beats one whose rows disagree too
    much to be limb leads.
    """
    ok_new = bool(np.isfinite(new) and new < LIMB_MAX_INCONSISTENCY)
    ok_old = bool(np.isfinite(old) and old < LIMB_MAX_INCONSISTENCY)
    if ok_new and ok_old:
        return new < LIMB_TIE_RATIO * old
    if ok_new != ok_old:
        return ok_new
    return bool(not np.isfinite(new) and np.isfinite(old))


#: Width of the sheet's longer side taken when nothing else gives the scale, in mm
#: (Letter 279 mm, A4 297 mm).
PAGE_LONG_SIDE_MM = 285.0

#: Length of a full-width row of trace on a standard sheet, in mm: 10 s at 25 mm/s, or
#: 5 s at 50 mm/s.
STANDARD_ROW_MM = 250.0


def _scale_without_grid(mask: np.ndarray, traced: list[TracedRow], bases: list[float],
                        est: float, speed_opt: float | None, gain_opt: float | None,
                        warnings: list[str], long_px: float | None = None
                        ) -> tuple[float, str]:
    """Scale in px/mm of a sheet whose grid cannot be seen, from its calibration pulses.

    A pulse is 0.2 s wide and 1 mV tall, so its width and height in px give
    the scale once the speed and gain are known; they agree only for some
    (speed, gain) pairs, and of those pairs (restricted by the options and by
    the printed settings where read) the one whose scale makes the image's
    longer side closest to a page (:data:`PAGE_LONG_SIDE_MM`) is taken. Without
    a pulse, the full-width rows of trace are taken to be
    :data:`STANDARD_ROW_MM` long (:func:`_scale_from_rows`); where they do not
    look like a standard sheet's, the image is taken to span a page.

    Parameters
    ----------
    mask : ndarray, shape (H, W), bool
        Ink mask of the upright sheet.
    traced, bases : list
        Traced rows and their baselines (px).
    est : float
        Rough scale, px/mm (the image's longer side over a page's).
    speed_opt, gain_opt : float or None
        Speed (mm/s) and gain (mm/mV) given as options.
    warnings : list of str
        Appended to: how the scale was found.
    long_px : float, optional
        Longer side of the image as it was before deskewing, px (default: the
        mask's, which a rotation pads).

    Returns
    -------
    scale : float
        Scale in px/mm (both axes).
    source : {"pulse", "rows", "page"}
        What gave it.
    """
    sizes = []
    for tr, base in zip(traced, bases, strict=True):
        p = find_pulse(tr.y_px, base, est, est)
        if p is not None:
            sizes.append((p.width_mm * est, p.height_mm * est))
    long_px = float(max(mask.shape)) if long_px is None else float(long_px)
    if not sizes:
        from_rows = _scale_from_rows(traced, long_px)
        if from_rows is not None:
            warnings.append("no grid and no calibration pulse found: scale assumed from the "
                            f"length of the rows of trace (taken as {STANDARD_ROW_MM:g} mm, "
                            "10 s at 25 mm/s)")
            return from_rows, "rows"
        warnings.append("no grid and no calibration pulse found: scale assumed from the page "
                        f"size (the image's longer side taken as {PAGE_LONG_SIDE_MM:g} mm)")
        return long_px / PAGE_LONG_SIDE_MM, "page"
    width_px, height_px = np.median(np.array(sizes), axis=0)
    printed = read_printed_settings(mask, est) if speed_opt is None or gain_opt is None \
        else PrintedSettings(None, None, 0.0, None)
    speeds = [speed_opt or printed.speed_mm_s] if (speed_opt or printed.speed_mm_s) \
        else list(PAPER_SPEEDS_MM_S)
    gains = [gain_opt or printed.gain_mm_mv] if (gain_opt or printed.gain_mm_mv) \
        else list(GAINS_MM_MV)
    best: tuple[float, float, float, float] | None = None
    for speed in speeds:
        for gain in gains:
            s_w = width_px / (PULSE_WIDTH_S * float(speed))
            s_h = height_px / float(gain)
            if abs(np.log(s_w / s_h)) > np.log(1.3):
                continue
            # The height is measured on the plateau, the width between threshold crossings.
            cost = abs(np.log(long_px / s_h / PAGE_LONG_SIDE_MM))
            if (speed, gain) != (25.0, 10.0):
                cost += 0.05
            if best is None or cost < best[0]:
                best = (cost, s_h, float(speed), float(gain))
    if best is None:
        gain = float(gains[0]) if len(gains) == 1 else 10.0
        warnings.append(f"no grid found: scale taken from the calibration pulse, assuming "
                        f"{gain:g} mm/mV")
        return float(height_px) / gain, "pulse"
    _, scale, speed, gain = best
    warnings.append(f"no grid found: scale taken from the calibration pulse's height and width "
                    f"({speed:g} mm/s, {gain:g} mm/mV)")
    return scale, "pulse"


def _scale_from_rows(traced: list[TracedRow], long_px: float,
                     page_mm: tuple[float, float] = (270.0, 340.0)) -> float | None:
    """Scale in px/mm from the length of a sheet's full-width rows of trace, or None.

    Standard sheets print every row (or the rhythm strip under a grid of
    shorter leads) over :data:`STANDARD_ROW_MM`: 10 s at 25 mm/s, 5 s at
    50 mm/s, so the row length gives the horizontal scale whatever the speed.
    The longest rows are read (the median of those within 5 % of the
    longest); the scale is used only where it makes the image's longer side
    a page (`page_mm`, in mm), i.e. where the rows are plausibly a standard
    sheet's. The lower bound is Letter's 279 mm less a tight crop: rows that
    make the image shorter are longer than 250 mm, most often because an
    undetected calibration pulse or a wrong row joins them (two benchmark
    sheets read rows 6 % too long and the image as 263 mm).
    """
    lengths = []
    for tr in traced:
        cols = np.flatnonzero(np.isfinite(tr.y_px))
        if cols.size >= 2:
            lengths.append(float(cols[-1] - cols[0] + 1))
    if not lengths:
        return None
    lengths_a = np.asarray(lengths)
    row_px = float(np.median(lengths_a[lengths_a >= 0.95 * lengths_a.max()]))
    scale = row_px / STANDARD_ROW_MM
    if not page_mm[0] <= long_px / scale <= page_mm[1]:
        return None
    return scale


def _grid_confidence(grid: np.ndarray) -> float:
    """Confidence of the grid period read from `grid` evidence: the lesser of the two axes'."""
    px, py = grid_scale(grid)
    return float(min(px.confidence, py.confidence))


def _grid_found(px: GridPitch, py: GridPitch) -> bool:
    """True if the two axes' pitches make a grid: the same, clear period on both axes
    (traces alone can fake one axis)."""
    return bool(np.isfinite(px.px_per_mm) and np.isfinite(py.px_per_mm)
                and abs(px.px_per_mm / py.px_per_mm - 1) < 0.15
                and min(px.confidence, py.confidence) >= MIN_GRID_CONFIDENCE)


def _read_sheet(sheet: _Sheet, pxmm_x: float, pxmm_y: float, scale_source: str, layout: str,
                speed_opt: float | None, gain_opt: float | None, fs: float,
                layouts_extra: dict[str, Layout] | None, warnings: list[str],
                timings: dict[str, float]) -> dict:
    t_start = time.perf_counter()
    mask = sheet.mask
    est = pxmm_x if np.isfinite(pxmm_x) else max(sheet.ink.shape) / 280.0
    est_y = pxmm_y if np.isfinite(pxmm_y) else est
    comps = trace_components(mask, est, grid=None if sheet.grid_is_ink else sheet.grid)
    rows = find_rows(comps, est_y)
    if not rows:
        raise NotAnEcgError("no ECG trace rows found (is this a paper ECG?)")
    for r in rows:
        _extend_to_pulse(mask, r, est, est_y)
    # The rows of a sheet start and end in the same columns. A row whose first (or last)
    # stretch fell apart into pieces too short to be trace components (a faint or blurred
    # pen) is traced from the common start to the common end as well; where it starts is
    # still judged on its own trace (`_row_start`).
    if len(rows) >= 3:
        x0_common = int(np.median([r.x0_px for r in rows]))
        x1_common = int(np.median([r.x1_px for r in rows]))
        for r in rows:
            r.x0_px = min(r.x0_px, x0_common)
            r.x1_px = max(r.x1_px, x1_common)
    traced = [trace_row(mask, sheet.ink, r) for r in rows]
    # A straight line (left-over grid, a frame, a ruled line) is not a row of ECG.
    keep = [_is_ecg_row(tr, est, est_y) for tr in traced]
    # Traces are printed on the grid: a "row" beyond the grid's extent is the dark edge of the
    # page or a line of header text.
    if scale_source == "grid":
        span = line_extent(sheet.grid.sum(axis=1), 5.0 * pxmm_y)
        if span is not None:
            lo, hi = span[0] - 5.0 * pxmm_y, span[1] + 5.0 * pxmm_y
            kept_inside = [k and lo <= r.baseline_px <= hi
                           for k, r in zip(keep, rows, strict=True)]
            if any(kept_inside):
                keep = kept_inside
    keep = _drop_grid_remnant_rows(rows, traced, keep, est, est_y)
    # The signals come from a second pass that lets tall waves reach past the neighbouring
    # rows; baselines, pulses and the ends of the rows are read on the first, whose bands
    # keep a pulse or a stray line of one row out of another's. The signals are read with
    # the specks of paper inside the strokes filled (they split a column's run in two and
    # notch the waves); the first pass keeps the mask as separated, since the pulses, which
    # set the scale where there is no grid, are measured on it.
    solid = fill_small_holes(mask, (MAX_HOLE_MM * est) ** 2)
    signal_traces = trace_rows(solid, sheet.ink, rows, est_y,
                               first=[trace_row(solid, sheet.ink, r) for r in rows],
                               retrace=keep)
    signal_traces = [t for t, k in zip(signal_traces, keep, strict=True) if k]
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    traced = [t for t, k in zip(traced, keep, strict=True) if k]
    if not rows:
        raise NotAnEcgError("no ECG trace rows found (only straight lines)")
    timings["trace"] = time.perf_counter() - t_start
    t_cal = time.perf_counter()

    # Baselines and calibration pulses.
    bases = [_mode(tr.y_px) for tr in traced]
    if not np.isfinite(pxmm_x):
        pxmm_x, scale_source = _scale_without_grid(mask, traced, bases, est, speed_opt,
                                                   gain_opt, warnings,
                                                   float(max(sheet.rotation.shape_in)))
        pxmm_y = pxmm_x
    pulses = [_row_pulse(mask, tr, r, b, pxmm_x, pxmm_y)
              for tr, r, b in zip(traced, rows, bases, strict=True)]
    found = [p for p in pulses if p is not None]
    # A calibration pulse hanging down from the baseline shows an upside-down sheet. (The
    # skewness of the traces is no evidence: leads with deep S waves skew the same way.)
    flip = False
    n_hanging = 0
    if not found:
        inverted = [_row_pulse(mask, tr, r, b, pxmm_x, pxmm_y, hanging=True)
                    for tr, r, b in zip(traced, rows, bases, strict=True)]
        n_hanging = sum(p is not None for p in inverted)
        flip = n_hanging >= max(1, len(rows) // 2)

    det = Detected(px_per_mm_x=float(pxmm_x), px_per_mm_y=float(pxmm_y),
                   scale_source=scale_source)
    pulse_speeds = [p.speed_mm_s for p in found if p.speed_mm_s is not None]
    # The printed settings line ("25 mm/s 10 mm/mV") is read only where the pulse leaves
    # something open: it states the speed outright, and stands in for a missing pulse's gain.
    printed = PrintedSettings(None, None, 0.0, None)
    if (speed_opt is None) or (gain_opt is None and not found):
        printed = read_printed_settings(mask, pxmm_x)
    if gain_opt is not None:
        det.gain_mm_mv, det.gain_source = gain_opt, "option"
    elif found:
        gains = [p.gain_mm_mv for p in found]
        det.gain_mm_mv = float(max(set(gains), key=gains.count))
        det.gain_source = "pulse"
        if printed.gain_mm_mv is not None and printed.gain_mm_mv != det.gain_mm_mv:
            warnings.append(f"printed gain {printed.gain_mm_mv:g} mm/mV disagrees with the "
                            f"calibration pulse ({det.gain_mm_mv:g} mm/mV); the pulse is used")
    elif printed.gain_mm_mv is not None:
        det.gain_mm_mv, det.gain_source = printed.gain_mm_mv, "printed"
    else:
        det.gain_mm_mv, det.gain_source = 10.0, "assumed"
        warnings.append("no calibration pulse or printed gain: gain assumed to be 10 mm/mV")
    if speed_opt is not None:
        det.speed_mm_s, det.speed_source = speed_opt, "option"
    elif printed.speed_mm_s is not None:
        det.speed_mm_s, det.speed_source = printed.speed_mm_s, "printed"
    else:
        speeds = pulse_speeds
        if speeds:
            det.speed_mm_s = float(max(set(speeds), key=speeds.count))
            det.speed_source = "pulse"
        else:
            guess = speed_from_qt([tr.y_px for tr in traced], pxmm_x, pxmm_y)
            source, what = "qt", "QT interval"
            if guess is None:
                widths: list[float] = []
                for tr, b in zip(traced, bases, strict=True):
                    widths += _qrs_widths_mm(tr.y_px, b, pxmm_x, pxmm_y)
                guess = speed_from_qrs_width(np.array(widths))
                source, what = "qrs-width", "QRS width"
            if guess is not None:
                det.speed_mm_s, det.speed_source = guess, source
                warnings.append(f"no calibration pulse: paper speed {guess:g} mm/s estimated "
                                f"from the {what}")
            else:
                det.speed_mm_s, det.speed_source = 25.0, "assumed"
                warnings.append("paper speed assumed to be 25 mm/s")
    sides = {p.side for p in found}
    det.pulse = sides.pop() if len(sides) == 1 else ("none" if not sides else "left")
    for i, p in enumerate(pulses):
        if p is not None:
            bases[i] = p.base_px

    # Time origin and row width, shared by all rows (robust to a row that starts late).
    triples = list(zip(traced, rows, pulses, strict=True))
    radius = float(np.median([tr.pen_radius_px for tr in traced]))
    first_edges = [_row_edge(sheet.ink, mask, tr, r, p, radius, first=True)
                   for tr, r, p in triples]
    last_edges = [_row_edge(sheet.ink, mask, tr, r, p, radius, first=False)
                  for tr, r, p in triples]
    starts = np.array([e[0] for e in first_edges], float)
    ends = np.array([e[0] for e in last_edges], float)
    # Both ends measured at free ends on most rows: the row's width is known to a pixel or so.
    free_ends = (np.mean([e[1] for e in first_edges]) >= 0.5
                 and np.mean([e[1] for e in last_edges]) >= 0.5)
    tol = 2.0 + 2.0 * radius
    # A row whose pulse was found starts exactly after it; rows whose first (last) stretch
    # was lost start late (end early), and half the rows may be such.
    left = [s for s, p in zip(starts, pulses, strict=True) if p is not None and p.side == "left"]
    right = [e for e, p in zip(ends, pulses, strict=True) if p is not None and p.side == "right"]
    t0 = float(np.median(left)) if left else _consensus_edge(starts, tol, first=True)
    x_end = float(np.median(right)) if right else _consensus_edge(ends, tol, first=False)
    width = max(x_end - t0, 1.0)
    px_per_s = pxmm_x * det.speed_mm_s
    det.sheet_duration_s = _standard_duration(width / px_per_s)
    if det.sheet_duration_s != width / px_per_s:
        # A standard duration: the printed width is known, and each end also places the
        # other. Free ends are measured to a fraction of a pixel (their ink edge), but a
        # pen's cap may reach a little less or more than the pen's radius past the end,
        # so the width is centred on two free ends. An end at a pulse is less sure:
        # where the pulse's lead-out runs into the trace, the trace may start anywhere
        # along it. It is averaged with the free end's estimate where the two agree, and
        # replaced by it where they do not.
        full = det.sheet_duration_s * px_per_s
        agree = 1.0 + radius
        # A free end is the last sample drawn, one sample period short of the window's end.
        last = px_per_s / PRINTED_FS_HZ
        if scale_source in ROW_CLOCK_SOURCES and free_ends:
            # Without a grid the horizontal scale is an estimate (0.2-0.3 % off from a
            # pulse's width, more from a page), which over a 10 s row moves the last
            # samples by 20-30 ms; the row's two free ends, measured to a pixel, over the
            # standard duration are the better clock. (An end joined to a pulse's
            # lead-out is not: the trace may start anywhere along it.)
            span_s = det.sheet_duration_s - (0.0 if right else 1.0 / PRINTED_FS_HZ)
            px_per_s = (x_end - t0) / span_s
            pxmm_x = px_per_s / det.speed_mm_s
            det.px_per_mm_x = float(pxmm_x)
            full = det.sheet_duration_s * px_per_s
            x_end = t0 + full
        elif left and not right:
            from_end = x_end + last - full
            t0 = 0.5 * (t0 + from_end) if abs(t0 - from_end) <= agree else from_end
            x_end = t0 + full
        elif right and not left:
            from_start = t0 + full
            x_end = 0.5 * (x_end + from_start) if abs(x_end - from_start) <= agree else from_start
            t0 = x_end - full
        else:
            mid = 0.5 * (t0 + x_end + (0.0 if right else last))
            t0, x_end = mid - 0.5 * full, mid + 0.5 * full
        width = full
    timings["calibration"] = time.perf_counter() - t_cal
    t_lay = time.perf_counter()

    # Printed names and the layout.
    label_mask = mask & ~comps
    hits = find_labels(label_mask | comps, pxmm_x)
    names: list[NameHit] = []
    for h in hits:
        cy = 0.5 * (h.box_px[1] + h.box_px[3])
        k = int(np.argmin([abs(r.baseline_px - cy) for r in rows]))
        if not rows[k].top_px - 2 * pxmm_y <= cy <= rows[k].bottom_px + 2 * pxmm_y:
            continue
        names.append(NameHit(h.name, k, (h.box_px[0] - t0) / width, h.confidence))
    breaks = _break_evidence(mask, rows, t0, width, pxmm_x, pxmm_y, names, traced)
    match = match_layout(len(rows), breaks, names, layouts_extra,
                         only=None if layout == "auto" else layout)
    lay = match.layout
    timings["layout"] = time.perf_counter() - t_lay
    t_asm = time.perf_counter()
    signals, quality, segments = _assemble(lay, rows, signal_traces, bases, t0, width, pxmm_y,
                                           px_per_s, det, fs, names, mask)
    if layout == "auto":
        # Layouts that differ only in the order of their leads (standard and Cabrera, with
        # no names printed): the one whose limb leads agree with each other is right.
        # Rows that disagree too much to be limb leads (a 6x1 precordial sheet) go to a
        # layout without them.
        best = limb_inconsistency(dict(zip(STANDARD_LEADS, signals.T, strict=True)), fs)
        for alt in tied_layouts(match, names, layouts_extra):
            alt_out = _assemble(alt, rows, signal_traces, bases, t0, width, pxmm_y, px_per_s,
                                det, fs, names, mask)
            inc = limb_inconsistency(dict(zip(STANDARD_LEADS, alt_out[0].T, strict=True)), fs)
            if _limb_reading_preferred(inc, best):
                why = ("its limb leads agree" if np.isfinite(inc) else
                       f"the rows disagree too much to be limb leads ({best:.2f})")
                lay, best = alt, inc
                signals, quality, segments = alt_out
                warnings.append(f"layout {lay.name} chosen over {match.layout.name} (the same "
                                f"places, no printed names to tell them apart) because {why}")
    det.layout = lay.name
    det.layout_cost = float(match.costs.get(lay.name, match.cost))
    det.layout_candidates = {k: round(float(v), 3) for k, v in sorted(match.costs.items(),
                                                                        key=lambda kv: kv[1])}
    if lay.n_rows != len(rows):
        warnings.append(f"layout {lay.name} has {lay.n_rows} rows but {len(rows)} were found")
    for name, q in quality.items():
        if q == 0.0 and name in lay.leads:
            warnings.append(f"lead {name} could not be read")
    timings["assemble"] = time.perf_counter() - t_asm
    return {"signals": signals, "quality": quality, "segments": segments, "detected": det,
            "flip": flip, "n_pulses": len(found), "n_hanging": n_hanging,
            "rows_match": lay.n_rows == len(rows)}


def _extend_to_break(y: np.ndarray, x: np.ndarray, mask: np.ndarray, inside: np.ndarray,
                     first: bool, radius_px: float, n_fit: int = 4) -> None:
    """Carry a segment's centre line (px) through the unread columns next to a break, in place.

    The columns between a cell's break and its first (`first`) or last read
    column are dropped by the assembler: they hold the neighbouring segment's
    pen cap and the separator tick as well as this trace. The trace is
    followed there column by column through the ink: in each column, the run
    of `mask` that touches the previous column's position (within a pen
    radius `radius_px` and 1 px); within it, the trace lies where the slope of
    the last `n_fit` read columns carries it (a QRS stroke cut by the break
    keeps rising or falling), held a pen radius inside the run's ends. Where
    no run touches, the trace is lost and the remaining columns stay unread.
    The last reading itself is dropped and followed again where it jumps off
    the trace's course (by over 4 pen radii and 4 px, and 3 times the step
    before it): the neighbouring segment's first stroke and the tick reach a
    little past the dropped columns. `inside` marks the columns of the cell.
    """
    idx = np.flatnonzero(np.isfinite(y) & inside)
    for _ in range(2):
        if idx.size < n_fit + 2:
            return
        e = idx[:3] if first else idx[-3:][::-1]
        last, before = abs(y[e[0]] - y[e[1]]), abs(y[e[1]] - y[e[2]])
        if last <= 4.0 * radius_px + 4.0 or last <= 3.0 * before:
            break
        y[e[0]] = np.nan
        idx = idx[1:] if first else idx[:-1]
    ok = np.isfinite(y)
    ends = idx[:n_fit] if first else idx[-n_fit:]
    slope, icpt = np.polyfit(x[ends], y[ends], 1)
    todo = np.flatnonzero(inside & ~ok)
    todo = todo[todo < idx[0]][::-1] if first else todo[todo > idx[-1]]
    h, w = mask.shape
    prev = float(y[idx[0]] if first else y[idx[-1]])
    near = radius_px + 1.0
    for i in todo:
        c = int(round(x[i]))
        if not 0 <= c < w:
            break
        col = mask[:, c]
        lo, hi = max(int(np.floor(prev - near)), 0), min(int(np.ceil(prev + near)), h - 1)
        if lo > hi or not col[lo:hi + 1].any():
            break
        seed = lo + int(np.argmin(np.abs(np.arange(lo, hi + 1) - prev) + 1e9 * ~col[lo:hi + 1]))
        top, bottom = _run_at(col, seed)
        ye = slope * x[i] + icpt
        a, b = top + radius_px, bottom - radius_px
        prev = float(np.clip(ye, a, b)) if a <= b else 0.5 * (top + bottom)
        y[i] = prev


def _assemble(lay: Layout, rows: list[Row], traced: list[TracedRow], bases: list[float],
              t0: float, width: float, pxmm_y: float, px_per_s: float, det: Detected,
              fs: float, names: list[NameHit], mask: np.ndarray
              ) -> tuple[np.ndarray, dict[str, float], list[LeadTrace]]:
    n = int(round(det.sheet_duration_s * fs))
    t_grid = np.arange(n) / fs
    out = {name: np.full(n, np.nan) for name in STANDARD_LEADS}
    written = {name: np.zeros(n, bool) for name in STANDARD_LEADS}
    quality = {name: 0.0 for name in STANDARD_LEADS}
    segments: list[LeadTrace] = []
    # Rhythm strips (longer) are placed last so they win where a lead is printed twice.
    for cell in sorted(lay.cells, key=lambda c: c.col_span):
        if cell.row >= len(rows):
            continue
        tr = traced[cell.row]
        xa = t0 + cell.col / lay.n_cols * width
        xb = t0 + (cell.col + cell.col_span) / lay.n_cols * width
        cols = tr.x_px
        sel = (cols >= np.floor(xa)) & (cols <= np.ceil(xb))
        x = cols[sel].astype(float)
        y = tr.y_px[sel].copy()
        amb = tr.ambiguous[sel]
        # Columns next to a break hold the neighbour's pen cap or a separator tick.
        guard = tr.pen_radius_px + 1.5
        if cell.col > 0:
            y[x < xa + guard] = np.nan
            _extend_to_break(y, x, mask, x >= xa - 0.5, True, tr.pen_radius_px)
        if cell.col + cell.col_span < lay.n_cols:
            y[x > xb - guard] = np.nan
            _extend_to_break(y, x, mask, x <= xb + 0.5, False, tr.pen_radius_px)
        mv = (bases[cell.row] - y) / (pxmm_y * det.gain_mm_mv)
        t = (x - t0) / px_per_s
        ta, tb = cell.col / lay.n_cols * det.sheet_duration_s, \
            (cell.col + cell.col_span) / lay.n_cols * det.sheet_duration_s
        in_win = (t_grid >= ta - 1e-9) & (t_grid < tb - 1e-9)
        vals = np.full(n, np.nan)
        ok = np.isfinite(mv)
        if ok.sum() >= 2:
            idx = np.flatnonzero(in_win)
            tt = t_grid[idx]
            v = np.interp(tt, t[ok], mv[ok])
            # NaN where the nearest traced column is unread.
            near = np.clip(np.round((tt * px_per_s + t0) - x[0]).astype(int), 0, x.size - 1)
            v[~ok[near]] = np.nan
            vals[idx] = v
        lead = cell.lead
        sign = 1.0
        if lead.startswith("-"):
            lead, sign = lead[1:], -1.0
        fill = in_win & np.isfinite(vals)
        out[lead][fill] = sign * vals[fill]
        written[lead] |= in_win
        read = float(np.mean(np.isfinite(vals[in_win]))) if in_win.any() else 0.0
        amb_frac = float(np.mean(amb)) if amb.size else 0.0
        q = read * (1.0 - 0.5 * amb_frac)
        quality[lead] = max(quality[lead], q)
        label = any(h.row == cell.row and h.name == cell.lead and
                    abs(h.frac - cell.col / lay.n_cols) < 0.06 for h in names)
        segments.append(LeadTrace(cell.lead, cell.row, cell.col, cell.col_span, float(ta),
                                  float(tb), x, y, round(q, 4), label))
    signals = np.stack([out[name] for name in STANDARD_LEADS], axis=1)
    return signals, quality, segments
