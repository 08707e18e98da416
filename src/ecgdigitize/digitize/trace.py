"""Stage 7 of the digitizer: rows of trace and the centre line of each.

Rows
    Connected components of pen ink at least ~20 mm wide are traces (text
    characters, ticks and specks are far smaller). Summed along x, their
    pixels pile up at each row's baseline, where the trace spends most of its
    time; the peaks of that profile are the rows.

Centre line
    Within a row's band, every image column holds a few vertical *runs* of
    ink (the trace, perhaps a neighbour's wave, a letter, a speck). A
    dynamic programme picks one run per column so that consecutive runs
    touch or nearly touch (a steep QRS stroke is one long run that overlaps
    its neighbours) and stay close to the row's baseline when in doubt.
    Columns without ink are skipped and become NaN. Specks of paper enclosed
    by a stroke would split its run in two; they are filled first
    (:func:`fill_small_holes`). The chosen run's extent,
    refined to sub-pixel precision from the anti-aliased coverage of the
    pixels just outside it, gives the stroke centre through
    :func:`ecgdigitize.digitize.stroke.stroke_centre`, which keeps the full
    height of narrow peaks.

Crossings
    Where another row's stroke passes straight through the trace, the column's
    run is the stroke's whole height; such stretches are recognised by their
    shape (:func:`_crossings`), bridged from the trace on either side and
    marked ambiguous. A row's band stops 1 mm short of its neighbours'
    baselines; rows whose first path reached an edge of it (a QRS complex at
    20 mm/mV, rows printed close together) are traced a second time in a wider
    band, where the ink the other rows' first paths ran through costs extra
    (:func:`trace_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.signal import find_peaks

from ..runs import true_runs
from .stroke import centre_line

#: Grid evidence above which a gap in a trace is taken to be a grid line crossing it.
GRID_GAP_LEVEL = 0.05

#: Largest hole in the pen ink that :func:`fill_small_holes` fills, as the side of a square,
#: in mm: 0.25 mm² of paper enclosed by ink, a quarter of a 1 mm grid cell, so that the cells
#: of a grid left in the mask (one that was not found, printed in the pen's ink) stay open.
MAX_HOLE_MM = 0.5

__all__ = ["Row", "TracedRow", "trace_components", "find_rows", "column_runs", "trace_row",
           "trace_rows", "fill_small_holes", "MAX_HOLE_MM"]


@dataclass
class Row:
    """A row of trace on an upright sheet.

    Parameters
    ----------
    baseline_px : float
        Image row of the densest trace level (about the isoelectric line), px.
    top_px, bottom_px : int
        Band searched for this row's trace, px (up to the neighbouring baselines).
    x0_px, x1_px : int
        First and last column to follow, px (the trace, widened to a separate
        calibration pulse by the pipeline).
    trace_x0_px, trace_x1_px : int
        First and last column of the row's wide trace components, px.
    """

    baseline_px: float
    top_px: int
    bottom_px: int
    x0_px: int
    x1_px: int
    trace_x0_px: int = -1
    trace_x1_px: int = -1

    def __post_init__(self) -> None:
        if self.trace_x0_px < 0:
            self.trace_x0_px = self.x0_px
        if self.trace_x1_px < 0:
            self.trace_x1_px = self.x1_px


@dataclass
class TracedRow:
    """Centre line of one row.

    Parameters
    ----------
    x0_px : int
        Column of ``y_px[0]``.
    y_px : ndarray
        Centre row (sub-pixel) of the trace in each column, NaN where unread.
    ambiguous : ndarray of bool
        Columns where another run of ink competed closely with the chosen one,
        or another trace crossed this one.
    pen_radius_px : float
        Estimated pen radius in px.
    claims : ndarray, shape (N, 3), int
        The runs the path ran through, except where another trace crossed it:
        column, top and bottom row, px.
    """

    x0_px: int
    y_px: np.ndarray
    ambiguous: np.ndarray
    pen_radius_px: float
    claims: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))

    @property
    def x_px(self) -> np.ndarray:
        """Column of every sample of `y_px`."""
        return self.x0_px + np.arange(self.y_px.size)


def trace_components(mask: np.ndarray, px_per_mm: float, min_width_mm: float = 20.0,
                     grid: np.ndarray | None = None) -> np.ndarray:
    """Keep the connected components of `mask` at least `min_width_mm` wide and sparse.

    Parameters
    ----------
    mask : ndarray, shape (H, W), bool
        Pen-ink mask.
    px_per_mm : float
        Horizontal scale in px/mm.
    min_width_mm : float
        Least width of a trace component, in mm.
    grid : ndarray, shape (H, W), float, optional
        Grid evidence in [0, 1]. Where given, horizontal gaps of up to 1 mm in
        the ink whose pixels are grid (a faint trace crossing a grid line) are
        bridged when components are formed; gaps over paper (between words of
        text) are not.

    Returns
    -------
    ndarray, shape (H, W), bool
    """
    # Bridge gaps as wide as a grid line (a thin trace printed under the grid, faint
    # anti-aliased strokes) before labelling.
    m8 = mask.astype(np.uint8)
    if grid is not None:
        # A faint trace breaks where it crosses a coloured grid line, over the line's width
        # and its anti-aliased edges: close such gaps along the trace, where they are grid.
        kx = 2 * max(int(round(0.5 * px_per_mm)), 1) + 1
        closed = cv2.morphologyEx(m8, cv2.MORPH_CLOSE, np.ones((1, kx), np.uint8))
        m8 = np.where((closed > 0) & (grid > GRID_GAP_LEVEL), 1, m8).astype(np.uint8)
    k = 2 * max(int(round(0.25 * px_per_mm)), 1) + 1
    bridged = cv2.dilate(m8, np.ones((k, k), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bridged, connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, bool)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    # A solid wedge of scene at a corner of a rotated scan is wide but filled: dense, and
    # either at the image border or thicker on average than a pen. A flat trace is dense
    # too, but only a pen width thick.
    inked = np.bincount(labels[mask], minlength=n)
    fill = inked / np.maximum(w * h, 1)
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    hh, ww = mask.shape
    border = (x0 <= 0) | (y0 <= 0) | (x0 + w >= ww) | (y0 + h >= hh)
    thick = inked / np.maximum(w, 1) > 0.6 * px_per_mm
    keep = (w >= min_width_mm * px_per_mm) & ~((fill >= 0.3) & (border | thick))
    keep[0] = False
    return keep[labels] & mask


def find_rows(traces: np.ndarray, px_per_mm_y: float, min_pitch_mm: float = 5.0) -> list[Row]:
    """Rows of trace from a mask of trace components.

    Parameters
    ----------
    traces : ndarray, shape (H, W), bool
        Trace components of an upright sheet (see :func:`trace_components`).
    px_per_mm_y : float
        Vertical scale in px/mm.
    min_pitch_mm : float
        Least distance between two row baselines, in mm.

    Returns
    -------
    list of Row
        Top to bottom.
    """
    h, w = traces.shape
    prof = traces.sum(axis=1).astype(np.float32)
    if prof.max() <= 0:
        return []
    sigma = max(0.4 * px_per_mm_y, 1.0)
    prof = cv2.GaussianBlur(prof.reshape(-1, 1), (1, 0), sigma).ravel()
    peaks, props = find_peaks(prof, distance=max(int(min_pitch_mm * px_per_mm_y), 1),
                              prominence=0.15 * float(prof.max()))
    if peaks.size == 0:
        return []
    peaks = _merge_wandering_peaks(traces, peaks, prof, px_per_mm_y)
    strip_peaks = _strip_baselines(traces, px_per_mm_y, min_pitch_mm)
    from_strips = False
    if strip_peaks is not None and strip_peaks.size > peaks.size:
        peaks, from_strips = strip_peaks, True
    # A row's trace spans most of the width; drop peaks with little ink around them.
    rows: list[Row] = []
    cols = np.flatnonzero(traces.any(axis=0))
    gx0, gx1 = int(cols[0]), int(cols[-1])
    _, labels = cv2.connectedComponents(traces.astype(np.uint8), connectivity=8)
    for k, p in enumerate(peaks):
        top = int((peaks[k - 1] + p) // 2) if k > 0 else max(int(p - 12 * px_per_mm_y), 0)
        bottom = (int((p + peaks[k + 1]) // 2) if k + 1 < peaks.size
                  else min(int(p + 12 * px_per_mm_y), h - 1))
        lo, hi = max(int(p - 2 * px_per_mm_y), 0), int(p + 2 * px_per_mm_y) + 1
        inked = np.flatnonzero(traces[lo:hi].any(axis=0))
        if inked.size < 0.25 * (gx1 - gx0 + 1) and not (from_strips and inked.size):
            continue
        x0, x1 = _row_extent(labels, slice(lo, hi), slice(top, bottom + 1), int(inked[0]),
                             int(inked[-1]), 5.0 * px_per_mm_y)
        rows.append(Row(float(p), top, bottom, x0, x1))
    # Bands reach the neighbouring baselines: tall waves cross the half-way line, and the
    # tracer's continuity keeps it on its own trace.
    margin = 1.0 * px_per_mm_y
    for k, r in enumerate(rows):
        r.top_px = (int(rows[k - 1].baseline_px + margin) if k > 0
                    else max(int(r.baseline_px - 30 * px_per_mm_y), 0))
        r.bottom_px = (int(rows[k + 1].baseline_px - margin) if k + 1 < len(rows)
                       else min(int(r.baseline_px + 30 * px_per_mm_y), h - 1))
    return rows


def _strip_baselines(traces: np.ndarray, px_per_mm_y: float, min_pitch_mm: float,
                     n_strips: int = 12) -> np.ndarray | None:
    """Row baselines (px) found strip by strip, for rows whose baselines wander.

    A row whose baseline drifts by more than the rows' spacing across the sheet
    smears its ink over the levels of its neighbours in the whole sheet's
    profile, and the profile then shows one peak too few. Over a narrow
    vertical strip the drift is small: the sheet's width is cut into
    `n_strips` strips, the peaks of each strip's profile are found, and where
    most strips (at least half, and at least 4) agree on their number, rows
    are read in order from top to bottom (traces keep their order) and each
    row's baseline is the median of its peak over those strips.

    Returns
    -------
    ndarray or None
        Baselines, top to bottom, or None where the strips do not agree.
    """
    cols = np.flatnonzero(traces.any(axis=0))
    if cols.size < n_strips:
        return None
    edges = np.linspace(cols[0], cols[-1] + 1, n_strips + 1).astype(int)
    sigma = max(0.4 * px_per_mm_y, 1.0)
    found: list[np.ndarray] = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        prof = traces[:, a:b].sum(axis=1).astype(np.float32)
        if prof.max() <= 0:
            found.append(np.zeros(0, np.int64))
            continue
        prof = cv2.GaussianBlur(prof.reshape(-1, 1), (1, 0), sigma).ravel()
        pk, _ = find_peaks(prof, distance=max(int(min_pitch_mm * px_per_mm_y), 1),
                           prominence=0.15 * float(prof.max()))
        found.append(pk)
    counts = np.array([f.size for f in found])
    values, freq = np.unique(counts[counts > 0], return_counts=True)
    if values.size == 0:
        return None
    n = int(values[np.argmax(freq)])
    agree = [f for f in found if f.size == n]
    if len(agree) < max(4, n_strips // 2):
        return None
    return np.median(np.stack(agree), axis=0)


def _row_extent(labels: np.ndarray, near: slice, band: slice, x0: int, x1: int,
                min_run_px: float) -> tuple[int, int]:
    """First and last column of a row: its ink near the baseline, widened to the
    ink within its band of the trace components that run along the baseline.

    A trace that ends (or starts) far from its baseline (a step, a wave cut off by
    the end of the window) leaves the baseline's neighbourhood before its last
    column; the connected component it belongs to still reaches that column. A
    component counts as the row's where it inks at least `min_run_px` columns of
    the rows `near` the baseline: a neighbour's wave that merely dips into them
    does not. Only the component's ink within the row's `band` counts, as a wave
    crossing from a neighbour joins the two rows into one component.
    """
    near_labels = labels[near]
    band_labels = labels[band]
    for lab in np.unique(near_labels[near_labels > 0]):
        if np.count_nonzero((near_labels == lab).any(axis=0)) < min_run_px:
            continue
        cols = np.flatnonzero((band_labels == lab).any(axis=0))
        x0, x1 = min(x0, int(cols[0])), max(x1, int(cols[-1]))
    return x0, x1


def _merge_wandering_peaks(traces: np.ndarray, peaks: np.ndarray, prof: np.ndarray,
                           px_per_mm_y: float, max_apart_mm: float = 15.0,
                           n_bins: int = 10) -> np.ndarray:
    """Merge neighbouring profile peaks that are one row whose baseline wanders.

    A trace drifting by a few mm across the sheet piles its ink up at two
    levels: one where its left part runs, one where its right part runs. The
    sheet's width is cut into `n_bins` stretches; a row's level is *present*
    in a stretch where ink lies within 2 mm of it in a fifth of the columns.
    Two rows are each present nearly everywhere (large waves take a row away
    from its level only here and there); the two levels of one wandering row
    take turns: present together in at most 3 stretches, and between them in
    at least 7. Of two such peaks closer than `max_apart_mm` the lower one of
    the profile is dropped.
    """
    if peaks.size < 2:
        return peaks
    reach = max(int(round(2.0 * px_per_mm_y)), 1)
    h = traces.shape[0]
    cols = np.flatnonzero(traces.any(axis=0))
    edges = np.linspace(cols[0], cols[-1] + 1, n_bins + 1).astype(int)

    def presence(inked: np.ndarray) -> np.ndarray:
        return np.array([inked[a:b].mean() >= 0.2 if b > a else False
                         for a, b in zip(edges[:-1], edges[1:], strict=True)])

    present = [presence(traces[max(int(p) - reach, 0): min(int(p) + reach + 1, h)].any(axis=0))
               for p in peaks]
    keep = list(range(peaks.size))
    k = 0
    while k + 1 < len(keep):
        a, b = keep[k], keep[k + 1]
        if (peaks[b] - peaks[a]) / px_per_mm_y < max_apart_mm:
            both = int(np.count_nonzero(present[a] & present[b]))
            either = int(np.count_nonzero(present[a] | present[b]))
            if both <= 3 and either >= 7:
                kept, drop = (a, b) if prof[peaks[a]] >= prof[peaks[b]] else (b, a)
                present[kept] = present[a] | present[b]
                keep.remove(drop)
                continue
        k += 1
    return peaks[keep]


def fill_small_holes(mask: np.ndarray, max_area_px: float) -> np.ndarray:
    """`mask` with the small holes in its ink filled.

    A thick stroke thresholded from a JPEG or a black-and-white scan (and the
    ink where strokes cross or run side by side) encloses specks of paper a few
    pixels across. In a column through one, the stroke falls apart into two
    runs, and the tracer reads only one of them: an R wave gets a notch, a
    flank a step. A hole is a 4-connected region of paper that does not touch
    the image border and holds at most `max_area_px` pixels; the paper inside
    an R wave, or between two rows, is open to the rest of the sheet or far
    larger.

    Parameters
    ----------
    mask : ndarray, shape (H, W), bool
        Pen-ink mask.
    max_area_px : float
        Largest hole filled, in px² (see :data:`MAX_HOLE_MM`).

    Returns
    -------
    ndarray, shape (H, W), bool
    """
    if max_area_px < 1 or not mask.any():
        return mask.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8),
                                                           connectivity=4)
    h, w = mask.shape
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    x1 = x0 + stats[:, cv2.CC_STAT_WIDTH]
    y1 = y0 + stats[:, cv2.CC_STAT_HEIGHT]
    border = (x0 == 0) | (y0 == 0) | (x1 >= w) | (y1 >= h)
    small = (stats[:, cv2.CC_STAT_AREA] <= max_area_px) & ~border
    small[0] = False  # label 0 is the ink itself
    return mask | small[labels]


def column_runs(band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical runs of True in each column of a boolean band.

    Returns
    -------
    cols, tops, bottoms : ndarray of int
        Column, first and last row (inclusive) of every run, sorted by column
        then row.
    """
    padded = np.zeros((band.shape[0] + 2, band.shape[1]), np.int8)
    padded[1:-1] = band
    d = np.diff(padded, axis=0)
    sc, sr = np.nonzero(d.T == 1)
    _, er = np.nonzero(d.T == -1)
    return sc, sr, er - 1


def _subpixel_edges(ink: np.ndarray, cols: np.ndarray, tops: np.ndarray, bottoms: np.ndarray,
                    core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuous top and bottom edge (px) of each run from anti-aliased coverage.

    Ink from a continuous edge ``e`` downwards covers pixel ``p`` (spanning
    ``[p - 0.5, p + 0.5]``) by ``clip(p + 0.5 - e, 0, 1)``; the coverage of the
    run's first pixel and of the one above it therefore add up to
    ``top + 0.5 - e``, whatever pixel the edge falls in. Likewise at the bottom.
    Coverage is ink normalised by the run's core value.
    """
    h = ink.shape[0]

    def cov(rows: np.ndarray) -> np.ndarray:
        inside = (rows >= 0) & (rows < h)
        vals = ink[np.clip(rows, 0, h - 1), cols] / core
        return np.where(inside, np.clip(vals, 0.0, 1.0), 0.0)

    top_edge = tops + 0.5 - (cov(tops) + cov(tops - 1))
    bottom_edge = bottoms - 0.5 + (cov(bottoms) + cov(bottoms + 1))
    return top_edge, bottom_edge


def trace_row(mask: np.ndarray, ink: np.ndarray, row: Row, x0: int | None = None,
              x1: int | None = None, baseline_weight: float = 0.005,
              neighbour_weight: float = 0.1,
              max_gap_fill_px: int = 4, skip_cost: float = 6.0,
              band_px: tuple[int, int] | None = None,
              claimed: np.ndarray | None = None, claim_cost: float = 3.0,
              own_claim: int = -1) -> TracedRow:
    """Follow the trace of one row, column by column.

    Parameters
    ----------
    mask : ndarray, shape (H, W), bool
        Pen-ink mask of the upright sheet (grid removed).
    ink : ndarray, shape (H, W), float
        Ink coverage in [0, 1] (for sub-pixel edges).
    row : Row
        The row to follow.
    x0, x1 : int, optional
        Column range (default: the row's inked extent).
    baseline_weight : float
        Cost per px of distance from the baseline (relative to 1 per px of
        gap between consecutive runs); breaks ties towards the own row.
    neighbour_weight : float
        Cost per px by which a run is nearer to an edge of the band (the
        neighbouring baselines) than to this row's baseline. Not used with
        `claimed`.
    max_gap_fill_px : int
        Gaps of at most this many columns between read columns are filled by
        linear interpolation (grid-line removal and separator ticks leave
        such holes); longer ones stay NaN.
    skip_cost : float
        Cost of leaving a column that has ink unread (in px of gap): the
        trace may skip columns where only other rows' ink is present.
    band_px : (int, int), optional
        First and last image row searched (default: the row's band).
    claimed : ndarray, shape (H, W), int, optional
        Owner of each pixel of trace (index of the row whose first-pass path
        ran through it, -1 for none). A run that holds more of other rows'
        pixels than of `own_claim`'s costs `claim_cost`: it is their trace.
        This replaces the band-edge penalty, so that a tall wave may reach
        past the neighbouring baselines.
    claim_cost : float
        Cost of a run claimed by another row. It is below `skip_cost`: where
        the strokes of two rows merge into one (a deep S wave running down
        the neighbour's R wave), the row follows the shared ink rather than
        leaving a gap, and its own unclaimed ink is still preferred.
    own_claim : int
        Index of this row in `claimed`.

    Returns
    -------
    TracedRow
    """
    x0 = row.x0_px if x0 is None else x0
    x1 = row.x1_px if x1 is None else x1
    y0, y_last = (row.top_px, row.bottom_px) if band_px is None else band_px
    y1 = y_last + 1
    band = mask[y0:y1, x0:x1 + 1]
    n = band.shape[1]
    cols, tops, bottoms = column_runs(band)
    # A run across nearly the whole band (from one neighbouring baseline to the other) is a
    # vertical line (grid, border), never this row's trace.
    keep = (bottoms - tops + 1) < 0.9 * band.shape[0]
    cols, tops, bottoms = cols[keep], tops[keep], bottoms[keep]
    y_out = np.full(n, np.nan)
    amb = np.zeros(n, bool)
    if cols.size == 0:
        return TracedRow(x0, y_out, amb, 0.5)
    base = row.baseline_px - y0
    # Distance from the baseline to the nearest pixel of each run: a QRS spike rising from
    # the baseline costs nothing more than the flat trace beside it.
    d_own = np.maximum(np.maximum(tops - base, base - bottoms), 0.0)
    node = baseline_weight * d_own
    heights = bottoms - tops + 1
    # Of two runs that join equally well, the shorter is preferred (a tiny cost per px of
    # height): where another row's wave crosses this trace, the path stays on the flat
    # trace rather than climbing the crossing stroke.
    node = node + 0.002 * heights
    if claimed is None:
        # A run nearer to a neighbouring row's baseline (the band's edges lie next to them)
        # than to this one's is probably the neighbour's trace and costs more.
        centre = (tops + bottoms) / 2.0
        d_nb = np.minimum(centre, (y1 - y0 - 1) - centre)
        node = node + neighbour_weight * np.maximum(d_own - d_nb, 0.0)
    else:
        # Ink another row's first pass ran through is that row's trace.
        owner = claimed[y0:y1, x0:x1 + 1]
        other = np.vstack([np.zeros((1, n), np.int32),
                           np.cumsum((owner >= 0) & (owner != own_claim), axis=0)])
        own = np.vstack([np.zeros((1, n), np.int32), np.cumsum(owner == own_claim, axis=0)])
        n_other = other[bottoms + 1, cols] - other[tops, cols]
        n_own = own[bottoms + 1, cols] - own[tops, cols]
        node = node + claim_cost * (n_other > n_own)
    chosen = _best_path(cols, n, tops, bottoms, node, skip_cost)
    c_cols = cols[chosen]
    # Ambiguity: another run in the same column within a few pen widths of the chosen one
    # (a crossing neighbour, a letter); runs are sorted by column then row.
    near = max(4.0 * float(np.percentile(bottoms[chosen] - tops[chosen] + 1, 25)), 6.0)
    nxt = np.minimum(chosen + 1, cols.size - 1)
    prv = np.maximum(chosen - 1, 0)
    below = (nxt != chosen) & (cols[nxt] == c_cols) & (tops[nxt] - bottoms[chosen] < near)
    above = (prv != chosen) & (cols[prv] == c_cols) & (tops[chosen] - bottoms[prv] < near)
    amb[c_cols] = below | above
    band_ink = ink[y0:y1, x0:x1 + 1]
    core = np.maximum(_run_max(band_ink, c_cols, tops[chosen], bottoms[chosen]), 0.2)
    te, be = _subpixel_edges(band_ink, c_cols, tops[chosen], bottoms[chosen], core)
    top_edge = np.full(n, np.nan)
    bottom_edge = np.full(n, np.nan)
    top_edge[c_cols] = te
    bottom_edge[c_cols] = be
    extent = (be - te) / 2.0
    # A pen inks at least its diameter in every column, more where the trace slopes: the
    # thinnest columns give the radius. (A higher percentile overestimates it badly on noisy
    # or high-gain traces, and the opening then shaves QRS spikes into combs.)
    r = float(np.percentile(extent, 2)) if extent.size else 0.5
    crossed = _crossings(top_edge, bottom_edge, max(2.0 * r, 1.0))
    top_edge[crossed] = np.nan
    bottom_edge[crossed] = np.nan
    y_out = centre_line(c_cols, tops[chosen], bottoms[chosen], top_edge, bottom_edge, r,
                        cov=band_ink, full_ink=float(np.median(core)), skip=crossed) + y0
    y_out = _bridge(y_out, crossed)
    amb |= crossed
    y_out = _fill_short_gaps(y_out, max_gap_fill_px)
    keep_claim = ~crossed[c_cols]
    claims = np.stack([c_cols[keep_claim] + x0, tops[chosen][keep_claim] + y0,
                       bottoms[chosen][keep_claim] + y0], axis=1)
    return TracedRow(x0, y_out, amb, r, claims)


def _best_path(cols: np.ndarray, n: int, tops: np.ndarray, bottoms: np.ndarray,
               node: np.ndarray, skip_cost: float) -> np.ndarray:
    """Viterbi over the runs of each column: indices of the runs of the cheapest path.

    Consecutive runs cost the gap between them (px; 0 where they touch) plus the
    node cost of each run. Besides its runs, every column has a "skip" state that
    keeps the position of its best predecessor at a cost of `skip_cost`: where
    this row's trace has a gap, skipping is cheaper than a detour along another's.
    """
    starts = np.searchsorted(cols, np.arange(n + 1))
    n_runs = cols.size
    n_cols_inked = int(np.count_nonzero(np.diff(starts)))
    # State ids: run i is state i; the skip state of the k-th inked column is n_runs + k.
    state_back = np.full(n_runs + n_cols_inked, -1, np.int64)
    ft = fb = fc = fid = None          # frontier: geometry, cost and id of the live states
    k_col = 0
    for c in range(n):
        a, b = starts[c], starts[c + 1]
        if a == b:
            continue
        m = b - a
        t, bt, nd = tops[a:b], bottoms[a:b], node[a:b]
        if ft is None:
            ft, fb, fc = t.astype(float), bt.astype(float), nd.astype(float)
            fid = np.arange(a, b)
            k_col += 1
            continue
        gap = np.maximum(np.maximum(t[None, :] - fb[:, None], ft[:, None] - bt[None, :]) - 1, 0)
        total = fc[:, None] + gap
        k = np.argmin(total, axis=0)
        best = int(np.argmin(fc))
        skip_id = n_runs + k_col
        state_back[a:b] = fid[k]
        state_back[skip_id] = fid[best]
        new_t = np.empty(m + 1)
        new_b = np.empty(m + 1)
        new_c = np.empty(m + 1)
        new_id = np.empty(m + 1, np.int64)
        new_t[:m], new_t[m] = t, ft[best]
        new_b[:m], new_b[m] = bt, fb[best]
        new_c[:m], new_c[m] = total[k, np.arange(m)] + nd, fc[best] + skip_cost
        new_id[:m], new_id[m] = np.arange(a, b), skip_id
        ft, fb, fc, fid = new_t, new_b, new_c, new_id
        k_col += 1
    assert fid is not None and fc is not None
    node_id = int(fid[int(np.argmin(fc))])
    chosen = []
    while node_id >= 0:
        if node_id < n_runs:
            chosen.append(node_id)
        node_id = int(state_back[node_id])
    return np.array(chosen[::-1], np.int64)


def _crossings(top: np.ndarray, bottom: np.ndarray, margin_px: float) -> np.ndarray:
    """Columns where another trace's stroke crosses the path (bool per column).

    A stretch of tall runs is a crossing where the path leaves it at the level
    it entered, every run holds that level, the runs reach past it on both
    sides, and either its first and last runs each do (a vertical bar: a
    separator tick) or their top and bottom edges both travel one way, by more
    than a pen width (a straight stroke passing through). The trace's own waves
    leave the level and come back: an R wave's top rises and falls, a small QRS
    merged into one blob at low resolution keeps its top while its bottom
    moves, and an RS complex's downstroke runs between two different levels.
    Only stretches with a read, pen-thin column on each side are judged.
    """
    n = top.size
    out = np.zeros(n, bool)
    h = bottom - top
    ok = np.isfinite(h)
    if np.count_nonzero(ok) < 3:
        return out
    thin = float(np.percentile(h[ok], 25))
    tall = ok & (h > thin + 2.0 * margin_px)
    centre = 0.5 * (top + bottom)
    half = 0.5 * thin + 1.0
    for a, b in true_runs(tall):
        if a == 0 or b >= n or not ok[a - 1] or not ok[b] or tall[a - 1] or tall[b]:
            continue
        if abs(centre[a - 1] - centre[b]) > 2.0 * margin_px:
            continue
        level = 0.5 * (centre[a - 1] + centre[b])
        holds = np.all(top[a:b] <= level + half) and np.all(bottom[a:b] >= level - half)
        both = (top[a:b].min() < level - half - margin_px
                and bottom[a:b].max() > level + half + margin_px)
        # A vertical bar (a separator tick, a grid line left in the mask): its first and
        # last runs both reach past the level on both sides.
        bar = all(top[c] < level - half - margin_px and bottom[c] > level + half + margin_px
                  for c in (a, b - 1))
        if bar:
            one_way = True
        elif b - a > 1:
            # A straight stroke: both edges travel the same way, steadily and far.
            dt, db = np.diff(top[a:b]), np.diff(bottom[a:b])
            travel_t, travel_b = top[b - 1] - top[a], bottom[b - 1] - bottom[a]
            down = np.all(dt >= -thin) and np.all(db >= -thin) and min(travel_t, travel_b) > thin
            up = np.all(dt <= thin) and np.all(db <= thin) and max(travel_t, travel_b) < -thin
            one_way = bool(down or up)
        else:
            one_way = True
        if holds and both and one_way:
            out[a:b] = True
    return out


def _bridge(y: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """`y` with the columns `cols` (bool) linearly interpolated from their neighbours."""
    if not cols.any():
        return y
    out = y.copy()
    good = np.flatnonzero(np.isfinite(y) & ~cols)
    if good.size < 2:
        return out
    idx = np.flatnonzero(cols)
    out[idx] = np.interp(idx, good, y[good])
    return out


def _paint_runs(image: np.ndarray, runs: np.ndarray, value: int) -> None:
    """Set the pixels of vertical runs ``(column, top, bottom)`` of `image` to `value`."""
    if runs.size == 0:
        return
    length = runs[:, 2] - runs[:, 1] + 1
    cols = np.repeat(runs[:, 0], length)
    rows = np.repeat(runs[:, 1] - np.cumsum(np.r_[0, length[:-1]]), length) + np.arange(
        int(length.sum()))
    image[rows, cols] = value


def trace_rows(mask: np.ndarray, ink: np.ndarray, rows: list[Row], px_per_mm_y: float,
               reach_mm: float = 30.0, first: list[TracedRow] | None = None,
               retrace: list[bool] | None = None) -> list[TracedRow]:
    """Follow every row, letting tall waves reach past their neighbours.

    A first pass follows each row within its band (to 1 mm short of the
    neighbouring baselines). Rows whose path touched an edge of the band may
    have been cut off where a tall wave (a QRS complex at 20 mm/mV, rows printed
    close together) crosses a neighbour; they are traced again within
    `reach_mm` of their baseline, where the ink the other rows' first passes ran
    through counts as theirs (except where a trace crossed them).

    Parameters
    ----------
    mask, ink : ndarray, shape (H, W)
        Pen-ink mask and coverage of the upright sheet.
    rows : list of Row
        Rows, top to bottom.
    px_per_mm_y : float
        Vertical scale in px/mm.
    reach_mm : float
        How far from its baseline a row is searched in the second pass, mm.
    first : list of TracedRow, optional
        The first passes of `rows`, if already traced.
    retrace : list of bool, optional
        Rows that may be traced again (default: all); the others keep their
        first pass but still claim their ink.

    Returns
    -------
    list of TracedRow
    """
    if first is None:
        first = [trace_row(mask, ink, r) for r in rows]
    if len(rows) < 2:
        return list(first)
    if retrace is None:
        retrace = [True] * len(rows)
    out = list(first)
    todo = [k for k, (r, tr) in enumerate(zip(rows, first, strict=True))
            if retrace[k] and _touches_band(tr, r)]
    if not todo:
        return out
    h = mask.shape[0]
    claimed = np.full(mask.shape, -1, np.int16)
    for k, tr in enumerate(first):
        _paint_runs(claimed, tr.claims, k)
    reach = int(round(reach_mm * px_per_mm_y))
    for k in todo:
        r = rows[k]
        band = (max(int(r.baseline_px) - reach, 0), min(int(r.baseline_px) + reach, h - 1))
        second = trace_row(mask, ink, r, band_px=band, claimed=claimed, own_claim=k)
        out[k] = _checked_excursions(first[k], second, r, claimed, k)
    return out


def _touches_band(tr: TracedRow, row: Row) -> bool:
    """True if a row's centre line comes within a pen radius and 2 px of its band's edge."""
    y = tr.y_px[np.isfinite(tr.y_px)]
    edge = 2.0 + tr.pen_radius_px
    return bool(y.size) and (y.min() - row.top_px <= edge or row.bottom_px - y.max() <= edge)


def _checked_excursions(first: TracedRow, second: TracedRow, row: Row, claimed: np.ndarray,
                        own: int) -> TracedRow:
    """The second pass of a row, where its excursions beyond the first band hold up.

    An excursion (a stretch of columns where the second pass's centre line lies
    outside the row's band) whose centre line runs over ink another row's first
    pass claimed has followed that row's stroke: there the first pass's values
    are kept.
    """
    y = second.y_px.copy()
    x = second.x_px
    outside = np.isfinite(y) & ((y < row.top_px) | (y > row.bottom_px))
    if not outside.any():
        return second
    h = claimed.shape[0]
    reach = int(np.ceil(second.pen_radius_px))
    for a, b in true_runs(outside):
        yc = np.clip(np.round(y[a:b]).astype(int), 0, h - 1)
        owners = np.stack([claimed[np.clip(yc + d, 0, h - 1), x[a:b]]
                           for d in range(-reach, reach + 1)])
        if np.any((owners >= 0) & (owners != own)):
            y[a:b] = first.y_px[a:b]
    return TracedRow(second.x0_px, y, second.ambiguous, second.pen_radius_px, second.claims)


def _run_max(band_ink: np.ndarray, cols: np.ndarray, tops: np.ndarray, bottoms: np.ndarray
             ) -> np.ndarray:
    """Largest ink value of each run (a run's core coverage)."""
    # Runs are short; sample the middle and both ends, which include the core.
    mid = (tops + bottoms) // 2
    return np.maximum.reduce([band_ink[tops, cols], band_ink[mid, cols], band_ink[bottoms, cols]])


def _fill_short_gaps(y: np.ndarray, max_gap: int) -> np.ndarray:
    ok = np.isfinite(y)
    if ok.sum() < 2 or max_gap <= 0:
        return y
    idx = np.flatnonzero(ok)
    gaps = np.diff(idx) - 1
    out = y.copy()
    for k in np.flatnonzero((gaps > 0) & (gaps <= max_gap)):
        a, b = idx[k], idx[k + 1]
        out[a + 1:b] = np.interp(np.arange(a + 1, b), [a, b], [y[a], y[b]])
    return out
