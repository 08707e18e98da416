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

from ..paper import GAINS_MM_MV, PAPER_SPEEDS_MM_S

__all__ = ["Pulse", "find_pulse", "snap_gain", "speed_from_qrs_width"]

#: Median full width (mm) at 30 % of the tallest QRS excursions that separates 25 mm/s
#: from 50 mm/s; measured on generated sheets (about 1.0 mm at 25 mm/s, 1.7 mm at 50 mm/s)
#: and set nearer the 50 mm/s side, because 25 mm/s is by far the more common speed.
QRS_WIDTH_SPLIT_MM = 1.55

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
