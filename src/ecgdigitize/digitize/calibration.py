"""Stage 5 of the digitizer: calibration pulse, gain and paper speed.

The calibration pulse is a 1 mV rectangle, 0.2 s wide, printed at the
start (or end) of a row: on the traced centre line it is a plateau that
rises abruptly from the baseline, stays flat for 5 mm (25 mm/s) or 10 mm
(50 mm/s) and drops back. Its height in mm is the gain in mm/mV (5, 10 or
20) and its width gives the paper speed.

Without a pulse the paper speed is estimated from the width of the QRS
complexes (80-120 ms: 2-3 mm at 25 mm/s, 4-6 mm at 50 mm/s), and the gain
is assumed to be 10 mm/mV; both are reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..evaluate.intervals import delineate
from ..paper import GAINS_MM_MV, PAPER_SPEEDS_MM_S

__all__ = ["Pulse", "find_pulse", "locate_pulse", "snap_gain", "speed_from_qrs_width",
           "speed_from_qt"]

#: Median full width (mm) at 30 % of the tallest QRS excursions that separates 25 mm/s
#: from 50 mm/s. On the 115 sheets of ``bench_digitize.py`` (seed 0) with three or more
#: widths the median is 0.86 mm at 25 mm/s (95th percentile 1.45 mm) and 1.68 mm at
#: 50 mm/s (10th percentile 1.12 mm); 1.4 mm reads 71 of 75 and 32 of 40 sheets right
#: (1.55 mm: 71 and 25). Kept above the middle, as 25 mm/s is by far the commoner speed.
QRS_WIDTH_SPLIT_MM = 1.4

#: QT interval (ms), measured with the time axis read at 25 mm/s, above which the paper
#: ran at 50 mm/s (a QT of 0.3-0.5 s then reads as 0.6-1.0 s). On the 116 sheets of
#: ``bench_digitize.py`` (seed 0) the median over a sheet's rows is 276-513 ms at 25 mm/s
#: (95th percentile 458 ms) and 291-777 ms at 50 mm/s (5th percentile 507 ms); 490 ms
#: reads 113 of 116 sheets right, where the QRS width read 103 of 115.
QT_SPLIT_MS = 490.0

#: Width of the calibration pulse in s.
PULSE_WIDTH_S = 0.2


@dataclass
class Pulse:
    """A calibration pulse found on a traced row.

    Parameters
    ----------
    side : str
        ``left`` or ``right``.
    x_start_px, x_end_px : int
        Rising and falling edge columns (indices into the traced row).
    height_mm : float
        Plateau height above the baseline in mm.
    width_mm : float
        Plateau width in mm.
    base_px : float
        Image row of the pulse's foot (0 mV), px.
    """

    side: str
    x_start_px: int
    x_end_px: int
    height_mm: float
    width_mm: float
    base_px: float

    @property
    def gain_mm_mv(self) -> float | None:
        """The standard gain the height matches (within 20 %), else None."""
        return snap_gain(self.height_mm)

    @property
    def speed_mm_s(self) -> float | None:
        """Paper speed from the plateau width (0.2 s), if it matches a standard one."""
        speed = self.width_mm / PULSE_WIDTH_S
        best = min(PAPER_SPEEDS_MM_S, key=lambda s: abs(np.log(speed / s)))
        return float(best) if abs(np.log(speed / best)) < np.log(1.35) else None


def snap_gain(height_mm: float, tolerance: float = 0.2) -> float | None:
    """Standard gain (mm/mV) nearest to a 1 mV pulse height, or None if none is close."""
    if not np.isfinite(height_mm) or height_mm <= 0:
        return None
    best = min(GAINS_MM_MV, key=lambda g: abs(np.log(height_mm / g)))
    return float(best) if abs(height_mm / best - 1.0) <= tolerance else None


def _plateau(y: np.ndarray, base: float, px_per_mm_x: float, px_per_mm_y: float,
             from_left: bool) -> Pulse | None:
    """Look for a pulse within the first (or last) 18 mm of a traced row."""
    n = y.size
    span = int(18 * px_per_mm_x)
    seg = y[:span] if from_left else y[::-1][:span]
    if seg.size < 4 * px_per_mm_x or np.isfinite(seg).sum() < 0.5 * seg.size:
        return None
    rise = (base - seg) / px_per_mm_y          # height above the row's baseline, mm
    up = np.where(np.isfinite(rise), np.abs(rise) > 3.5, False)
    if not up.any():
        return None
    start = int(np.argmax(up))
    if start > 6 * px_per_mm_x or start < 0.3 * px_per_mm_x:
        return None
    # A pulse rises from a flat foot (its own 0 mV level), within about half a mm.
    foot = seg[max(start - int(1.0 * px_per_mm_x), 0): max(start - int(0.3 * px_per_mm_x), 1)]
    foot = foot[np.isfinite(foot)]
    if foot.size == 0 or float(np.ptp(foot)) > 1.0 * px_per_mm_y:
        return None
    base = float(np.median(foot))
    rise = (base - seg) / px_per_mm_y
    up = np.where(np.isfinite(rise), rise > 3.5, False)
    if not up[start]:
        return None
    # The plateau ends where it drops for good; dropouts up to 0.6 mm (a column where the
    # tracer dipped to a grid line) are bridged.
    stop, gap, max_gap = start, 0, max(int(0.6 * px_per_mm_x), 1)
    i = start
    while i < seg.size and gap <= max_gap:
        if up[i]:
            stop, gap = i + 1, 0
        else:
            gap += 1
        i += 1
    width_mm = (stop - start) / px_per_mm_x
    if not 3.0 <= width_mm <= 12.5:
        return None
    core = rise[start + (stop - start) // 5: stop - (stop - start) // 5]
    core = core[np.isfinite(core) & (core > 3.5)]
    if core.size < 3:
        return None
    height = float(np.median(core))
    if float(np.std(core)) > 0.06 * height + 0.15:
        return None   # not flat: a wave, not a pulse
    if from_left:
        xs, xe = start, stop - 1
    else:
        xs, xe = n - stop, n - 1 - start
    return Pulse("left" if from_left else "right", xs, xe, height, width_mm, base)


def find_pulse(y_px: np.ndarray, base_px: float, px_per_mm_x: float, px_per_mm_y: float
               ) -> Pulse | None:
    """Find a calibration pulse at either end of a traced row.

    Parameters
    ----------
    y_px : ndarray
        Traced centre line of the row (image row per column, NaN allowed).
    base_px : float
        Image row of the row's baseline (the pulse's foot), px.
    px_per_mm_x, px_per_mm_y : float
        Scale in px/mm.

    Returns
    -------
    Pulse or None
    """
    y = np.asarray(y_px, float)
    for left in (True, False):
        p = _plateau(y, base_px, px_per_mm_x, px_per_mm_y, left)
        if p is not None and p.gain_mm_mv is not None:
            return p
    return None


def _runs_of(flags: np.ndarray) -> list[tuple[int, int]]:
    """First and last index of each run of True in a 1-D boolean array."""
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), (np.flatnonzero(d == -1) - 1).tolist(),
                    strict=True))


def _crossed_by_wave(block: np.ndarray) -> bool:
    """True if the space under a pulse's top holds partly inked rows (a wave, a QRS).

    Between a pulse's baseline and its top there is nothing, or whole rows of
    ink (another row's pulse); a row inked over part of the width is a wave.
    """
    if block.size == 0:
        return False
    cover = block.mean(axis=1)
    return bool(((cover > 0.1) & (cover < 0.8)).mean() > 0.2)


def locate_pulse(mask: np.ndarray, baseline_px: float, x_lo: int, x_hi: int,
                 px_per_mm_x: float, px_per_mm_y: float, side: str = "left",
                 hanging: bool = False) -> Pulse | None:
    """Find a calibration pulse in the ink mask as a rectangle standing on a row's baseline.

    The traced centre line cannot always show the pulse: at 20 mm/mV the
    pulses of neighbouring rows interleave (on a 12-row sheet their sides even
    merge into two long vertical lines), and a tracer that follows the nearest
    ink may run along the wrong one. Here the pulse is found as a shape
    instead. For each standard gain ``g`` (5, 10, 20 mm/mV): two vertical
    strokes covering the rows from this row's baseline to ``g`` mm above it,
    4-12.5 mm apart, joined by a flat stroke at that height, with no partial
    ink (a wave) in between; the height is then measured from the baseline to
    the centre of the flat stroke. Where no side is found (a grid printed in
    trace ink takes the sides away with its lines), the top stroke with a foot
    on the baseline beyond each end is the pulse.

    Parameters
    ----------
    mask : ndarray, shape (H, W), bool
        Pen ink of the upright sheet.
    baseline_px : float
        Image row of the row's baseline (the pulse's foot), px.
    x_lo, x_hi : int
        First and last column of the row, px.
    px_per_mm_x, px_per_mm_y : float
        Scale in px/mm.
    side : str
        ``left`` (search the first 22 mm of the row) or ``right`` (the last 22 mm).
    hanging : bool
        Look for a pulse hanging down from the baseline (a sheet upside down).

    Returns
    -------
    Pulse or None
        The tallest pulse found, with `x_start_px` and `x_end_px` relative to
        `x_lo`.
    """
    h, w = mask.shape
    x_lo, x_hi = max(int(x_lo), 0), min(int(x_hi), w - 1)
    span = int(round(22.0 * px_per_mm_x))
    a, b = (x_lo, min(x_lo + span, x_hi)) if side == "left" else (max(x_hi - span, x_lo), x_hi)
    if b - a < 4 * px_per_mm_x:
        return None
    # Work in a window where "up" is increasing row index from the baseline.
    if not hanging:
        ya = int(max(np.floor(baseline_px - 24 * px_per_mm_y), 0))
        yb = int(min(np.ceil(baseline_px + 2 * px_per_mm_y), h - 1))
        sub = mask[ya:yb + 1, a:b + 1][::-1]
        base = yb - baseline_px
    else:
        ya = int(max(np.floor(baseline_px - 2 * px_per_mm_y), 0))
        yb = int(min(np.ceil(baseline_px + 24 * px_per_mm_y), h - 1))
        sub = mask[ya:yb + 1, a:b + 1]
        base = baseline_px - ya
    n_rows = sub.shape[0]
    for gain in sorted(GAINS_MM_MV, reverse=True):
        height = gain * px_per_mm_y
        top = base + height
        if top + 1.5 * px_per_mm_y >= n_rows:
            continue
        # Sides: columns inked over (nearly) all rows between the baseline and the top.
        lo, hi = int(np.ceil(base + 0.8 * px_per_mm_y)), int(np.floor(top - 0.8 * px_per_mm_y))
        if hi - lo < 2:
            continue
        side_cols = sub[lo:hi + 1].mean(axis=0) >= 0.9
        sides_ = _runs_of(side_cols)
        tol = max(1.0 * px_per_mm_y, 0.1 * height)
        t0, t1 = int(max(top - tol, 0)), int(min(top + tol, n_rows - 1))
        for i, (a0, a1) in enumerate(sides_):
            for b0, b1 in sides_[i + 1:]:
                width_mm = (0.5 * (b0 + b1) - 0.5 * (a0 + a1)) / px_per_mm_x
                if width_mm > 12.5:
                    break
                if width_mm < 4.0 or b0 - a1 < 3:
                    continue
                inner = sub[:, a1 + 1:b0]
                band = inner[t0:t1 + 1]
                has = band.any(axis=0)
                if has.mean() < 0.85:
                    continue
                # Between the baseline and the top: empty or whole rows (another row's pulse),
                # never a partly inked row (a wave or a QRS complex).
                if _crossed_by_wave(inner[int(base + 0.25 * height): int(base + 0.75 * height)]):
                    continue
                # The top stroke ends at the sides: a line running on beyond them (a grid
                # line left in the ink of a photo or a black grid) makes a grid cell, no pulse.
                reach = int(round(2.5 * px_per_mm_x))
                outside = [sub[t0:t1 + 1, max(a0 - reach, 0):max(a0 - 1, 0)],
                           sub[t0:t1 + 1, b1 + 2:b1 + 1 + reach]]
                if any(o.shape[1] >= reach // 2 and o.any(axis=0).mean() > 0.6
                       for o in outside):
                    continue
                rows_idx = np.arange(t0, t1 + 1)[:, None]
                # The flat stroke nearest the expected top in each inner column.
                first = np.where(band, rows_idx, np.inf).min(axis=0)[has]
                last = np.where(band, rows_idx, -np.inf).max(axis=0)[has]
                centre = float(np.median(0.5 * (first + last)))
                height_mm = (centre - base) / px_per_mm_y
                if snap_gain(height_mm) != gain:
                    continue
                # The sides' centre lines, as a tracer would place the rising and falling edge.
                xs = int(round(0.5 * (a0 + a1))) + a - x_lo
                xe = int(round(0.5 * (b0 + b1))) + a - x_lo
                return Pulse(side, xs, xe, float(height_mm), float((xe - xs) / px_per_mm_x),
                             float(baseline_px))
    return _sideless_pulse(sub, base, a - x_lo, px_per_mm_x, px_per_mm_y, side,
                           float(baseline_px))


def _sideless_pulse(sub: np.ndarray, base: float, offset: int, px_per_mm_x: float,
                    px_per_mm_y: float, side: str, baseline_px: float) -> Pulse | None:
    """A pulse whose vertical sides are missing from the mask: its top and its feet.

    A pulse drawn on a grid printed in trace ink (black or grey paper grids) has
    its sides on grid lines, and removing the grid from the ink mask removes
    them too. What is left is a flat stroke, 4-12.5 mm long, at a standard
    gain's height above the baseline, with short feet on the baseline just
    beyond both of its ends, nothing on the baseline between them and no wave
    crossing the space below it.

    `sub` is the search window with row 0 at the bottom ("up" is increasing
    row index) and `base` the baseline's row in it; columns are returned
    relative to the row's first column (`offset` is the window's).
    """
    n_rows = sub.shape[0]
    foot_lo = int(max(np.floor(base - 1.0 * px_per_mm_y), 0))
    foot_hi = int(min(np.ceil(base + 1.0 * px_per_mm_y), n_rows - 1))
    at_base = sub[foot_lo:foot_hi + 1].any(axis=0)
    reach = max(int(round(2.5 * px_per_mm_x)), 2)
    thick_max = 1.0 * px_per_mm_y
    for gain in sorted(GAINS_MM_MV, reverse=True):
        height = gain * px_per_mm_y
        top = base + height
        tol = max(1.0 * px_per_mm_y, 0.1 * height)
        t0, t1 = int(max(top - tol, 0)), int(min(top + tol, n_rows - 1))
        if t1 - t0 < 2 or top + 1.0 * px_per_mm_y >= n_rows:
            continue
        band = sub[t0:t1 + 1]
        has = band.any(axis=0)
        for c0, c1 in _runs_of(has):
            width_mm = (c1 - c0 + 1) / px_per_mm_x
            if not 4.0 <= width_mm <= 13.0:
                continue
            cols = band[:, c0:c1 + 1]
            rows_idx = np.arange(t0, t1 + 1)[:, None]
            first = np.where(cols, rows_idx, np.inf).min(axis=0)
            last = np.where(cols, rows_idx, -np.inf).max(axis=0)
            if float(np.median(last - first + 1)) > thick_max:
                continue          # not a thin flat stroke
            centre = 0.5 * (first + last)
            if float(np.ptp(centre)) > 1.0 * px_per_mm_y:
                continue          # not flat
            height_mm = (float(np.median(centre)) - base) / px_per_mm_y
            if snap_gain(height_mm) != gain:
                continue
            # Feet on the baseline just outside both ends, none under the middle.
            left_foot = at_base[max(c0 - reach, 0):c0 + 1].any()
            right_foot = at_base[c1:c1 + reach + 1].any()
            k = max((c1 - c0) // 5, 1)
            under = at_base[c0 + k:c1 - k + 1]
            if not (left_foot and right_foot) or (under.size and under.mean() > 0.1):
                continue
            inner = sub[:, c0 + k:c1 - k + 1]
            if _crossed_by_wave(inner[int(base + 0.15 * height): int(base + 0.85 * height)]):
                continue
            # The sides' centre lines lie one pen radius inside the top stroke's ends.
            r = 0.5 * float(np.median(last - first + 1))
            xs = int(round(c0 + r - 0.5)) + offset
            xe = int(round(c1 - r + 0.5)) + offset
            return Pulse(side, xs, xe, float(height_mm), float((xe - xs) / px_per_mm_x),
                         baseline_px)
    return None


def speed_from_qrs_width(qrs_widths_mm: np.ndarray) -> float | None:
    """Paper speed (mm/s) from measured QRS widths in mm, or None if unclear.

    The widths are full widths at 30 % of the tallest excursions of each
    row (see the pipeline); a median under :data:`QRS_WIDTH_SPLIT_MM` points
    to 25 mm/s, over it to 50 mm/s.
    """
    w = np.asarray(qrs_widths_mm, float)
    w = w[np.isfinite(w)]
    if w.size < 3:
        return None
    return 25.0 if float(np.median(w)) < QRS_WIDTH_SPLIT_MM else 50.0


def speed_from_qt(rows_y_px: list[np.ndarray], px_per_mm_x: float, px_per_mm_y: float,
                  fs: float = 500.0) -> float | None:
    """Paper speed (mm/s) from the QT interval of traced rows, or None if none is measured.

    Each row's centre line (px, NaN where unread) is read as a signal with
    its columns at 25 mm/s and resampled at `fs` (Hz); its QT is measured
    (:func:`ecgdigitize.evaluate.intervals.delineate`). A median over the
    rows above :data:`QT_SPLIT_MS` means the paper ran at 50 mm/s. The QT
    (0.3-0.5 s) is long next to the pen's width and the blur of a photo,
    which make the QRS width (0.06-0.12 s) an unsure guide.

    Parameters
    ----------
    rows_y_px : list of ndarray
        Centre row of each traced row per column, px.
    px_per_mm_x, px_per_mm_y : float
        Scale in px/mm.
    fs : float
        Sampling rate of the signals measured, Hz.

    Returns
    -------
    float or None
        25.0 or 50.0.
    """
    qts = []
    for y in rows_y_px:
        ok = np.isfinite(y)
        if np.count_nonzero(ok) < 50:
            continue
        cols = np.arange(y.size)
        t_s = cols / (25.0 * px_per_mm_x)
        ts = np.arange(0.0, t_s[-1], 1.0 / fs)
        mv = -np.interp(ts, t_s[ok], y[ok]) / (10.0 * px_per_mm_y)
        qt = delineate(mv, fs).qt_ms
        if np.isfinite(qt):
            qts.append(qt)
    if not qts:
        return None
    return 50.0 if float(np.median(qts)) > QT_SPLIT_MS else 25.0
