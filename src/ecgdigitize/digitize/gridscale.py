"""Stage 4 of the digitizer: grid pitch (pixels per mm) on each axis.

The grid map of an upright sheet is summed into a 1-D profile per axis
(columns for the vertical lines, rows for the horizontal ones). The profile's
autocorrelation has peaks at multiples of the line spacing. A comb template
with a peak every ``d`` px and a stronger one every ``5 d`` (minor 1 mm and
major 5 mm lines) is scored against the autocorrelation for every candidate
``d``; the best ``d`` is then refined to sub-pixel precision from the
autocorrelation peak at the largest reliable multiple of ``5 d`` (an error
of a tenth of a pixel at lag ``L`` is an error of ``0.1 / L`` in the pitch).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import maximum_filter1d

__all__ = ["GridPitch", "profile_pitch", "grid_scale", "reconcile", "comb_phase",
           "line_extent", "straight_line_evidence"]

#: Plausible pitch range: 1.5 px/mm (38 dpi) to 50 px/mm (1270 dpi).
MIN_PX_PER_MM, MAX_PX_PER_MM = 1.5, 50.0


@dataclass
class GridPitch:
    """Grid pitch along one axis.

    Parameters
    ----------
    px_per_mm : float
        Distance of minor (1 mm) lines in px (NaN if no grid was found).
    confidence : float
        Normalised autocorrelation at the major (5 mm) lag, in [-1, 1];
        above about 0.2 for a real grid.
    has_minor : bool
        True if 1 mm lines (or dots) were seen, False if only 5 mm lines.
    """

    px_per_mm: float
    confidence: float
    has_minor: bool


def _autocorr(p: np.ndarray) -> np.ndarray:
    p = p - p.mean()
    n = p.size
    f = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    return ac / max(ac[0], 1e-12)


def _peak_near(ac: np.ndarray, lag: float, radius: float) -> tuple[float, float]:
    lo = max(int(np.floor(lag - radius)), 1)
    hi = min(int(np.ceil(lag + radius)) + 1, ac.size - 1)
    if hi <= lo:
        return lag, -1.0
    k = lo + int(np.argmax(ac[lo:hi]))
    if 0 < k < ac.size - 1:
        a, b, c = ac[k - 1], ac[k], ac[k + 1]
        denom = a - 2 * b + c
        off = 0.5 * (a - c) / denom if denom < 0 else 0.0
        return k + float(np.clip(off, -0.5, 0.5)), float(b)
    return float(k), float(ac[k])


def profile_pitch(profile: np.ndarray, min_px: float = MIN_PX_PER_MM,
                  max_px: float = MAX_PX_PER_MM) -> GridPitch:
    """Minor-line spacing of a periodic grid profile.

    The strongest period ``P`` is found first (peaks at ``P, 2P, 3P``,
    troughs half-way). If the autocorrelation also peaks at ``P/5`` and its
    multiples, ``P`` is the major (5 mm) spacing; if instead it peaks more at
    ``5P`` than at ``4P`` and ``6P``, ``P`` is the minor spacing. With neither
    (a grid of one line weight), ``P`` is taken as 5 mm when that gives a
    plausible sheet size, else as 1 mm.

    Parameters
    ----------
    profile : ndarray, shape (n,)
        Sum of grid evidence along one axis.
    min_px, max_px : float
        Range of px per mm to search.

    Returns
    -------
    GridPitch
    """
    p = np.asarray(profile, float)
    n = p.size
    if n < 50 or not np.any(p > 0):
        return GridPitch(float("nan"), 0.0, False)
    ac = _autocorr(p)
    lags = np.arange(ac.size)

    def at(x: np.ndarray | float) -> np.ndarray:
        return np.interp(x, lags, ac)

    hi = min(5 * max_px, n / 4.0)
    cands = np.arange(min_px, hi, 0.05 if hi < 60 else 0.2)
    if cands.size == 0:
        return GridPitch(float("nan"), 0.0, False)
    peaks = sum(at(k * cands) for k in (1, 2, 3)) / 3.0
    troughs = sum(at((k - 0.5) * cands) for k in (1, 2, 3)) / 3.0
    strength = peaks - troughs
    best = int(np.argmax(strength))
    big = float(cands[best])
    # A comb of equal lines correlates as well at two or three times its period (peaks on
    # lines, troughs half-way, which also fall between lines): take the fundamental.
    for k in (4, 3, 2):
        j = int(np.argmin(np.abs(cands - big / k)))
        if abs(cands[j] * k / big - 1.0) < 0.02 and strength[j] >= 0.8 * strength[best]:
            lo, hi = max(j - 2, 0), min(j + 3, cands.size)
            big = float(cands[lo + int(np.argmax(strength[lo:hi]))])
            break
    big, _ = _peak_near(ac, big, max(0.1 * big, 1.0))
    sub = big / 5.0
    sub_contrast = float(np.mean(at(sub * np.arange(1, 5))) -
                         np.mean(at(sub * (np.arange(1, 5) - 0.5))))
    major_contrast = float(at(5 * big) - 0.5 * (at(4 * big) + at(6 * big))) \
        if 6 * big < ac.size else 0.0
    if sub_contrast > 0.03 and sub >= min_px:
        d, has_minor = sub, True
    elif major_contrast > 0.03:
        d, has_minor = big, True
    else:
        # One line weight: 5 mm lines if that gives a sheet under ~450 mm, else 1 mm lines.
        d, has_minor = (sub, False) if (sub >= min_px and n / sub <= 450.0) else (big, True)
    # Sub-pixel refinement on the largest multiple of 5 d with a clear peak.
    period = 5 * d
    conf = float(_peak_near(ac, period, max(0.3 * d, 1.0))[1])
    est = d
    m = 0
    while (m + 1) * 5 * est < 0.6 * n and m < 200:
        m += 1
        lag, val = _peak_near(ac, m * 5 * est, max(0.3 * est, 1.0))
        if val < 0.1 or abs(lag / (5 * m) - est) > 0.1 * est:
            break
        est = lag / (5 * m)
    if not (min_px <= est <= max_px):
        return GridPitch(float("nan"), conf, has_minor)
    return GridPitch(float(est), conf, has_minor)


def grid_scale(grid: np.ndarray) -> tuple[GridPitch, GridPitch]:
    """Pitch of the grid along x (vertical lines) and y (horizontal lines).

    Parameters
    ----------
    grid : ndarray, shape (H, W)
        Grid evidence of an upright sheet.

    Returns
    -------
    (GridPitch, GridPitch)
        Along x, along y.
    """
    g = np.asarray(grid, np.float32)
    px, py = profile_pitch(g.sum(axis=0)), profile_pitch(g.sum(axis=1))
    return reconcile(px, py, g.shape)


def straight_line_evidence(grid: np.ndarray, min_len_frac: float = 0.25,
                           threshold: float = 0.12) -> np.ndarray:
    """Grid evidence on long straight horizontal or vertical lines only.

    Where the grid is printed in the pen's colour (a black grid), the evidence
    holds the traces too, and on a sheet with only 5 mm lines the rows of
    trace, 25 mm apart, fake the "every fifth line is heavier" pattern of a
    1 mm grid. Grid lines run straight across the sheet; traces do not stay in
    one row or one column for long. A marked pixel is kept where it lies on an
    unbroken vertical or horizontal run at least `min_len_frac` of the image's
    shorter side long (about 54 mm on a letter sheet at any resolution, longer
    than a tall QRS complex). The runs may step sideways by a pixel (a residual
    tilt of the upright sheet).

    Parameters
    ----------
    grid : ndarray, shape (H, W), float
        Grid evidence of an upright sheet, in [0, 1].
    min_len_frac : float
        Least run length as a fraction of the image's shorter side.
    threshold : float
        Evidence above which a pixel is marked.

    Returns
    -------
    ndarray, shape (H, W), float32
        `grid` where a pixel is on a long straight line, else 0.
    """
    g = np.asarray(grid, np.float32)
    marks = (g > threshold).astype(np.uint8)
    n = max(int(round(min_len_frac * min(g.shape))), 3)
    # Vertical lines: widened by a pixel each way so a line leaning by a pixel over the
    # run's length still holds a full column; then a run of `n` must fit (an opening).
    wide = cv2.dilate(marks, np.ones((1, 3), np.uint8))
    vert = cv2.morphologyEx(wide, cv2.MORPH_OPEN, np.ones((n, 1), np.uint8))
    tall = cv2.dilate(marks, np.ones((3, 1), np.uint8))
    horiz = cv2.morphologyEx(tall, cv2.MORPH_OPEN, np.ones((1, n), np.uint8))
    on_line = ((vert | horiz) > 0) & (marks > 0)
    return np.where(on_line, g, 0.0).astype(np.float32)


def reconcile(px: GridPitch, py: GridPitch, shape_hw: tuple[int, int],
              tolerance: float = 0.15) -> tuple[GridPitch, GridPitch]:
    """Make the two axes agree when one of them locked onto a multiple of the pitch.

    Paper grids are square. If the two pitches differ by more than
    `tolerance`, the larger one is usually a harmonic (3 or 5 mm read as
    1 mm, e.g. where the minor lines are faint along one axis); both axes
    then take the smaller pitch, provided the larger is a whole multiple of
    it (within 5 %) and it gives a sheet no larger than about 600 mm.
    Otherwise both are returned as they are (and do not agree).
    """
    a, b = px.px_per_mm, py.px_per_mm
    if not (np.isfinite(a) and np.isfinite(b)) or abs(a / b - 1.0) <= tolerance:
        return px, py
    small = min(a, b)
    ratio = max(a, b) / small
    # Only a whole multiple is a harmonic; pitches 1.3 times apart are not one grid.
    if max(shape_hw) / small > 600.0 or abs(ratio / round(ratio) - 1.0) > 0.05:
        return px, py
    fix = GridPitch(float(small), min(px.confidence, py.confidence), px.has_minor and py.has_minor)
    return (px if a == small else fix), (py if b == small else fix)


def comb_phase(profile: np.ndarray, pitch_px: float, steps_per_px: float = 4.0) -> float:
    """Phase (px) of the comb with teeth every `pitch_px` that collects most of a profile.

    Phases from 0 to the pitch are tried in steps of ``1 / steps_per_px`` px
    (at least four); a tooth reads the profile linearly interpolated.
    """
    p = np.asarray(profile, float)
    idx = np.arange(p.size)
    best, best_score = 0.0, -1.0
    for ph in np.linspace(0.0, pitch_px, max(int(np.ceil(pitch_px * steps_per_px)), 4),
                          endpoint=False):
        score = float(np.interp(np.arange(ph, p.size - 1, pitch_px), idx, p).sum())
        if score > best_score:
            best, best_score = ph, score
    return float(best)


def line_extent(profile: np.ndarray, pitch_px: float, min_frac: float = 0.3
                ) -> tuple[float, float] | None:
    """First and last line of the longest unbroken stretch of a periodic grid, in px.

    A comb with the given pitch is fitted to the profile (its phase); a tooth
    holds a line where the profile near it reaches `min_frac` of the typical
    line (the 90th percentile of the teeth). The longest run of teeth with
    lines, allowing one missing tooth at a time, is the grid's extent; a
    dark page edge or a line of text beyond the grid is cut off by the empty
    teeth between them and the grid.

    Parameters
    ----------
    profile : ndarray, shape (n,)
        Grid evidence summed along the lines.
    pitch_px : float
        Line spacing in px (e.g. 5 mm, the major lines every grid has).
    min_frac : float
        Fraction of the typical line a tooth needs.

    Returns
    -------
    tuple of float or None
        (first, last) line position in px, None without at least three lines.
    """
    p = np.asarray(profile, float)
    n = p.size
    if n < 3 or not np.isfinite(pitch_px) or pitch_px < 2 or p.max() <= 0:
        return None
    r = max(int(round(1.0 + 0.05 * pitch_px)), 1)
    peak = maximum_filter1d(p, size=2 * r + 1, mode="nearest")
    teeth = np.arange(comb_phase(p, pitch_px, steps_per_px=1.0), n - 1, pitch_px)
    vals = peak[np.clip(np.round(teeth).astype(int), 0, n - 1)]
    if vals.size < 3:
        return None
    present = vals >= min_frac * float(np.percentile(vals, 90))
    # Longest run, a single missing tooth bridged.
    filled = present.copy()
    filled[1:-1] |= present[:-2] & present[2:]
    best_run, start = (0, -1, -1), None
    for i, f in enumerate(np.append(filled, False)):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start > best_run[0]:
                best_run = (i - start, start, i - 1)
            start = None
    if best_run[0] < 3:
        return None
    return float(teeth[best_run[1]]), float(teeth[best_run[2]])
