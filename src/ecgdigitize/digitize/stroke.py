"""Centre line of a thick pen stroke from its per-column vertical extent.

A printed trace is the centre line drawn with a round pen. In a column where
the trace is flat or slopes steadily, the centre is the mid-point of the
ink's vertical extent. At the apex of a narrow peak (an R wave), the extent
runs from the apex down the two flanks, so the mid-point would cut the peak
short; there the centre is one pen radius below the top edge (and one radius
above the bottom edge at a trough). This keeps the full height of QRS peaks
that a per-column centroid flattens.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stroke_centre", "pen_radius_px"]


def pen_radius_px(top: np.ndarray, bottom: np.ndarray) -> float:
    """Estimate the pen radius in px from the thinnest columns of a stroke.

    Flat parts of a trace are about one pen width tall; the 5th percentile
    of the per-column extent (5th percentile) is taken as that width.
    """
    extent = np.asarray(bottom, float) - np.asarray(top, float)
    extent = extent[np.isfinite(extent)]
    if extent.size == 0:
        return 0.5
    return max(float(np.percentile(extent, 5)) / 2.0, 0.5)


def stroke_centre(top: np.ndarray, bottom: np.ndarray, radius_px: float | None = None
                  ) -> np.ndarray:
    """Centre-line row of a stroke in each of consecutive columns.

    Parameters
    ----------
    top, bottom : ndarray, shape (n,)
        First and last ink row of each column in px (NaN where the column has
        no ink).
    radius_px : float, optional
        Pen radius in px (estimated with :func:`pen_radius_px` when None).

    Returns
    -------
    ndarray, shape (n,)
        Centre row of each column in px (NaN where the column has no ink).
    """
    top = np.asarray(top, float)
    bottom = np.asarray(bottom, float)
    n = top.size
    if n == 0:
        return top.copy()
    r = pen_radius_px(top, bottom) if radius_px is None else max(float(radius_px), 0.5)
    mid = (top + bottom) / 2.0
    k = int(np.ceil(r)) + 1
    pad_top = np.pad(np.nan_to_num(top, nan=np.inf), k, constant_values=np.inf)
    pad_bot = np.pad(np.nan_to_num(bottom, nan=-np.inf), k, constant_values=-np.inf)
    win_top = np.lib.stride_tricks.sliding_window_view(pad_top, 2 * k + 1).min(axis=1)
    win_bot = np.lib.stride_tricks.sliding_window_view(pad_bot, 2 * k + 1).max(axis=1)
    wide = (bottom - top) > 2.0 * r + 1.0
    # At the apex of a peak the top edge is lowest in its neighbourhood and the
    # centre lies one pen radius below it; likewise at the bottom of a trough.
    peak = wide & (top <= win_top)
    trough = wide & (bottom >= win_bot) & ~peak
    out = mid.copy()
    out[peak] = top[peak] + r
    out[trough] = bottom[trough] - r
    return np.where(np.isfinite(top) & np.isfinite(bottom), out, np.nan)


def _disk_profile(radius_px: float) -> np.ndarray:
    """Half-height of a pen disk swept across one pixel column, at integer offsets (px).

    A column spans ``[x - 0.5, x + 0.5]``, so the ink it holds is the disk swept
    over that width: flat over the middle pixel, a disk profile beyond.
    """
    k = int(np.floor(radius_px + 0.5))
    u = np.abs(np.arange(-k, k + 1, dtype=float))
    reach = np.maximum(u - 0.5, 0.0)
    return np.sqrt(np.maximum(radius_px ** 2 - reach ** 2, 0.0))


def _dilate(f: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Grey dilation ``max_u f(x - u) + b(u)`` (``-inf`` entries contribute nothing)."""
    k = b.size // 2
    pad = np.pad(f, k, constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(pad, b.size)
    return (win + b[::-1]).max(axis=1)


def _erode(f: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Grey erosion ``min_u f(x + u) - b(u)`` (``+inf`` entries constrain nothing)."""
    k = b.size // 2
    pad = np.pad(f, k, constant_values=np.inf)
    win = np.lib.stride_tricks.sliding_window_view(pad, b.size)
    return (win - b).min(axis=1)


def stroke_centre_morph(top_edge: np.ndarray, bottom_edge: np.ndarray, radius_px: float,
                        tolerance_px: float = 0.35) -> np.ndarray:
    """Centre line of a round-pen stroke from the continuous edges of each column.

    A pen of radius ``R`` drawing the centre line ``c(x)`` (image rows, y
    down) inks, in column ``x``, from ``top(x) = min_u c(x+u) - b(u)`` to
    ``bottom(x) = max_u c(x+u) + b(u)`` with the disk profile
    ``b(u) = sqrt(R² - u²)``: the edges are the grey erosion and dilation of
    the centre line. Dilating the top edge gives the *opening* of ``c``,
    exact everywhere except at narrow downward excursions (S waves), where
    eroding the bottom edge (the *closing*) is exact instead. A column is
    taken from the closing where the opening fails to explain the bottom
    edge. Unlike the mid-point of the extent, this keeps the timing of steep
    QRS strokes and the height of narrow peaks and troughs.

    Parameters
    ----------
    top_edge, bottom_edge : ndarray, shape (n,)
        Continuous top and bottom edge of the ink in each column, in px
        (NaN where the column has no ink).
    radius_px : float
        Pen radius in px.
    tolerance_px : float
        How far the dilated opening may fall short of the bottom edge before
        the closing is used, in px.

    Returns
    -------
    ndarray, shape (n,)
        Centre row in px (NaN where the column has no ink).
    """
    top = np.asarray(top_edge, float)
    bottom = np.asarray(bottom_edge, float)
    ok = np.isfinite(top) & np.isfinite(bottom)
    if not ok.any():
        return np.full(top.shape, np.nan)
    b = _disk_profile(max(float(radius_px), 0.5))
    t = np.where(ok, top, -np.inf)
    bt = np.where(ok, bottom, np.inf)
    opening = _dilate(t, b)
    closing = _erode(bt, b)
    explained = _dilate(opening, b)
    use_closing = explained < bottom - tolerance_px
    out = np.where(use_closing & np.isfinite(closing), closing, opening)
    # Where the disk is wider than the inked stretch (ends of a segment), fall back to the mid.
    bad = ~np.isfinite(out)
    out[bad] = 0.5 * (top[bad] + bottom[bad])
    # The apex of a peak narrower than the (estimated) pen is cut by the opening: there the
    # centre is one radius inside the extreme edge (the rule of stroke_centre).
    r = max(float(radius_px), 0.5)
    k = int(np.ceil(r)) + 1
    win_top = _erode(np.where(ok, top, np.inf), np.zeros(2 * k + 1))
    win_bot = _dilate(np.where(ok, bottom, -np.inf), np.zeros(2 * k + 1))
    wide = (bottom - top) > 2.0 * r + 1.0
    peak = ok & wide & (top <= win_top)
    trough = ok & wide & (bottom >= win_bot) & ~peak
    out[peak] = np.minimum(out[peak], top[peak] + r)
    out[trough] = np.maximum(out[trough], bottom[trough] - r)
    return np.where(ok, out, np.nan)
