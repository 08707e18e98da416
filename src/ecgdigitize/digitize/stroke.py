"""Centre line of a thick pen stroke from its per-column vertical extent.

A printed trace is the centre line drawn with a round pen. In a column where
the trace is flat or slopes steadily, the centre is the mid-point of the
ink's vertical extent. At the apex of a narrow peak (an R wave), the extent
runs from the apex down the two flanks, so the mid-point would cut the peak
short; there the centre is one pen radius below the top edge (and one radius
above the bottom edge at a trough). This keeps the full height of QRS peaks
that a per-column centroid flattens.

Where the trace is steep (a QRS flank spans tens of px in one column), the
vertical extent says little about where the centre line crosses the column:
the up- and downstrokes of a narrow R wave merge into one blob of ink. There
the row-wise extent is exact instead (:func:`refine_steep`): in each image
row, the left edge of the blob lies one pen radius before the upstroke and
the right edge one radius after the downstroke.
"""

from __future__ import annotations

import numpy as np

from ..runs import true_runs

__all__ = ["centre_line", "stroke_centre", "stroke_centre_morph", "pen_radius_px",
           "refine_steep"]

#: Pen radius (px) from which the centre line is reconstructed by grey opening/closing
#: (:func:`stroke_centre_morph`); thinner pens use the apex rule of
#: :func:`stroke_centre`, which is more accurate for them.
THICK_PEN_RADIUS_PX = 1.2

#: A column is steep where its run is this many px taller than the pen's diameter.
STEEP_EXTRA_PX = 2.0

#: Half-width of the window of crossings a steep column's value is fitted to, px.
CROSSING_HALF_WINDOW_PX = 0.75


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


def _level_crossings(own: np.ndarray, cov: np.ndarray | None, radius_px: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points ``(x, y)`` where a stroke's centre line crosses each image row.

    `own` holds one trace's ink (bool, rows x columns). In each row, a run of
    ink about one pen wide is one crossing, at its middle; a run up to two pens
    wide is two crossings merged (the up- and downstroke of a peak narrower than
    the pen), one radius inside each end. Wider runs (the trace running along
    the row) and runs touching the window's sides are not used.
    """
    h, m = own.shape
    pad = np.zeros((h, m + 2), np.int8)
    pad[:, 1:-1] = own
    d = np.diff(pad, axis=1)
    row, left = np.nonzero(d == 1)
    _, end = np.nonzero(d == -1)
    right = end - 1
    if cov is None:
        le = left - 0.5
        re = right + 0.5
    else:
        # Sub-pixel ends from the coverage of the end pixel and its outer neighbour.
        # (An outer neighbour is below the ink threshold, so it holds under half a pixel
        # of this stroke; more is another trace's ink.)
        c = np.pad(np.clip(cov, 0.0, 1.0), ((0, 0), (1, 1)))
        le = left + 0.5 - (c[row, left + 1] + np.minimum(c[row, left], 0.5))
        re = right - 0.5 + (c[row, right + 1] + np.minimum(c[row, right + 2], 0.5))
    width = re - le
    inner = (left > 0) & (right < m - 1)
    one = inner & (width <= 2.0 * radius_px + 1.0)
    two = inner & ~one & (width <= 4.0 * radius_px + 3.0)
    xs = np.concatenate([0.5 * (le[one] + re[one]), le[two] + radius_px, re[two] - radius_px])
    ys = np.concatenate([row[one], row[two], row[two]]).astype(float)
    side = np.concatenate([np.zeros(int(one.sum()), np.int8), np.ones(int(two.sum()), np.int8),
                           np.full(int(two.sum()), 2, np.int8)])
    return xs, ys, side


def _fit_at(px: np.ndarray, py: np.ndarray, x: float, straddle: bool = False
            ) -> float | None:
    """Least-squares line through crossings ``(px, py)``, evaluated at column `x`.

    None for fewer than two points, or, with `straddle`, where the points do
    not reach both sides of `x`.
    """
    if px.size < 2 or (straddle and not (px.min() <= x <= px.max())):
        return None
    dx = px - px.mean()
    vx = float(np.dot(dx, dx))
    y = float(py.mean())
    if vx > 1e-9:
        y += float(np.dot(dx, py - y)) / vx * (x - float(px.mean()))
    return min(max(y, float(py.min())), float(py.max()))


def refine_steep(cols: np.ndarray, tops: np.ndarray, bottoms: np.ndarray,
                 centre: np.ndarray, radius_px: float, cov: np.ndarray | None = None,
                 full_ink: float = 1.0, skip: np.ndarray | None = None) -> np.ndarray:
    """Centre line of steep columns from where the stroke crosses each image row.

    In a steep column (its run is more than :data:`STEEP_EXTRA_PX` taller than
    the pen) the centre line passes the column's middle at one height, which
    the column's vertical extent does not give. The rows do: each image row the
    stroke crosses holds a run of ink whose middle (or, where the up- and
    downstroke of a narrow peak merge, whose ends less one pen radius) is where
    the centre line crosses that row. The column's value is the least-squares
    line through the crossings within :data:`CROSSING_HALF_WINDOW_PX` of its
    middle, evaluated there. At the apex of a peak or trough (a local extreme
    of `centre`), the crossings of the up- and downstroke are fitted apart: a
    column that one of them reaches on both sides takes its height (the apex
    of a peak narrower than the pen lies between columns); other apex columns
    keep their value.

    Parameters
    ----------
    cols : ndarray of int, shape (k,)
        Columns (0 .. n-1, increasing) of the trace's runs, one run per column.
    tops, bottoms : ndarray of int, shape (k,)
        First and last row of each run, px.
    centre : ndarray, shape (n,)
        Centre line from the columns' vertical extent, px (NaN where unread).
    radius_px : float
        Pen radius, px.
    cov : ndarray, shape (H, n), optional
        Ink of the same rows and columns, for sub-pixel run ends (binary ends
        without it).
    full_ink : float
        Value of `cov` in a fully inked pixel (coverage is ``cov / full_ink``).
    skip : ndarray of bool, shape (n,), optional
        Columns to leave as they are (e.g. where another trace crosses).

    Returns
    -------
    ndarray, shape (n,)
        The centre line in px, refined in steep columns.
    """
    centre = np.asarray(centre, float)
    out = centre.copy()
    n = centre.size
    r = max(float(radius_px), 0.5)
    if cols.size == 0:
        return out
    top = np.full(n, -1, np.int64)
    bottom = np.full(n, -1, np.int64)
    top[cols] = tops
    bottom[cols] = bottoms
    steep = (top >= 0) & (bottom - top > 2.0 * r + STEEP_EXTRA_PX) & np.isfinite(centre)
    if skip is not None:
        steep &= ~skip
    if not steep.any():
        return out
    # Local extremes of the column reading (apexes) keep their value.
    ok = np.isfinite(centre)
    lo = _erode(np.where(ok, centre, np.inf), np.zeros(5))
    hi = _dilate(np.where(ok, centre, -np.inf), np.zeros(5))
    apex = (lo >= centre - 0.5) | (hi <= centre + 0.5)
    half = CROSSING_HALF_WINDOW_PX
    for a, b in true_runs(steep):
        xa, xb = max(a - 3, 0), min(b + 3, n)
        inked = top[xa:xb] >= 0
        ya = int(top[xa:xb][inked].min())
        yb = int(bottom[xa:xb][inked].max()) + 1
        own = np.zeros((yb - ya, xb - xa), bool)
        for j in np.flatnonzero(inked):
            own[top[xa + j] - ya:bottom[xa + j] - ya + 1, j] = True
        sub_cov = None if cov is None else cov[ya:yb, xa:xb] / max(full_ink, 1e-6)
        xs, ys, side = _level_crossings(own, sub_cov, r)
        if xs.size < 2:
            continue
        xs = xs + xa
        ys = ys + ya
        order = np.argsort(xs, kind="stable")
        xs, ys, side = xs[order], ys[order], side[order]
        for x in range(a, b):
            if not steep[x]:
                continue
            i, j = np.searchsorted(xs, [x - half, x + half + 1e-9])
            px, py, ps = xs[i:j], ys[i:j], side[i:j]
            inside = (py >= top[x]) & (py <= bottom[x])
            px, py, ps = px[inside], py[inside], ps[inside]
            if not apex[x]:
                y = _fit_at(px, py, x)
                if y is not None:
                    out[x] = y
                continue
            # An apex column: the up- and downstroke of a peak narrower than the pen each
            # pass it at their own height, below the apex, which lies between columns.
            fits = [_fit_at(px[ps == k], py[ps == k], x, straddle=True) for k in (1, 2)]
            fits = [f for f in fits if f is not None]
            if fits:
                peak = lo[x] >= centre[x] - 0.5
                out[x] = min(fits) if peak else max(fits)
    return out


def centre_line(cols: np.ndarray, tops: np.ndarray, bottoms: np.ndarray,
                top_edge: np.ndarray, bottom_edge: np.ndarray, radius_px: float,
                cov: np.ndarray | None = None, full_ink: float = 1.0,
                skip: np.ndarray | None = None) -> np.ndarray:
    """Centre line of one trace from its run in each column: the digitizer's reading rule.

    The column's vertical extent gives the centre (grey opening and closing for
    pens of radius :data:`THICK_PEN_RADIUS_PX` or more, the apex rule for
    thinner ones); steep columns are then read from the image rows the stroke
    crosses (:func:`refine_steep`).

    Parameters
    ----------
    cols, tops, bottoms : ndarray of int, shape (k,)
        Column (0 .. n-1, increasing), first and last row of the trace's run in
        each inked column, px.
    top_edge, bottom_edge : ndarray, shape (n,)
        Continuous top and bottom edge of the ink in every column, px (NaN
        where the column is not read).
    radius_px : float
        Pen radius, px.
    cov, full_ink, skip
        As for :func:`refine_steep`.

    Returns
    -------
    ndarray, shape (n,)
        Centre row of each column in px (NaN where unread).
    """
    r = float(radius_px)
    if r >= THICK_PEN_RADIUS_PX:
        y = stroke_centre_morph(top_edge, bottom_edge, r)
    else:
        y = stroke_centre(top_edge + 0.5, bottom_edge - 0.5, max(r - 0.5, 0.5))
    return refine_steep(cols, tops, bottoms, y, r, cov=cov, full_ink=full_ink, skip=skip)
