"""Stage 2 of the digitizer: separate trace, grid and text pixels.

The classical separator works on colour and intensity. After the paper
background is flattened (a large-scale estimate of the paper brightness
divides the image, which removes uneven lighting), each pixel gets two
measures:

- *ink darkness* ``1 - max(R, G, B) / paper``: high only where all three
  channels are dark, i.e. for black, grey or blue pen ink. A red, pink or
  green grid keeps one channel high and stays low on this measure;
- *grid darkness* ``1 - mean(R, G, B) / paper``: any mark on the paper.

The trace threshold on ink darkness is chosen per image (Otsu's method over
the marked pixels, clamped to a safe range). Where the grid is printed in the
same ink as the trace (black-and-white scans, grey or black grids) the grid
lines remain in the trace mask; :func:`remove_grid_lines` takes them out once
the grid pitch is known.

Text is separated from the trace later, by shape (small components off the
traced path); this module gives the stages a common interface,
:class:`Separation`, which a learned segmenter can fill instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .gridscale import comb_phase

#: Fraction of the ink threshold above which a pixel next to strong ink is trace.
HYSTERESIS_LOW = 0.6

__all__ = ["Separation", "separate", "ink_mask", "paper_level", "remove_grid_lines",
           "scene_mask", "without_scene"]


@dataclass
class Separation:
    """Per-pixel class evidence of one image.

    Parameters
    ----------
    ink : ndarray, shape (H, W), float32
        Trace ink coverage in [0, 1] (0 paper, 1 full ink).
    trace : ndarray, shape (H, W), bool
        Pixels taken as pen ink (traces and printed text).
    grid : ndarray, shape (H, W), float32
        Grid evidence in [0, 1] (any mark on the paper that is not pen ink,
        or every mark where the grid has the ink's colour).
    grid_is_ink : bool
        True if the grid is printed in the same colour as the trace (its lines
        are then part of `trace` until removed).
    ink_threshold : float
        Threshold applied to `ink` to make `trace`.
    """

    ink: np.ndarray
    trace: np.ndarray
    grid: np.ndarray
    grid_is_ink: bool
    ink_threshold: float


def paper_level(grey: np.ndarray) -> np.ndarray:
    """Large-scale paper brightness of a grey image (same shape, float32, > 0).

    Computed on a downscaled copy: a grey-level closing removes ink and grid
    lines (both thinner than the kernel), then a blur smooths the result.
    """
    h, w = grey.shape
    scale = max(1, int(round(max(h, w) / 400)))
    small = cv2.resize(grey, (max(w // scale, 8), max(h // scale, 8)),
                       interpolation=cv2.INTER_AREA if scale < 4 else cv2.INTER_NEAREST)
    k = 9
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    closed = cv2.GaussianBlur(closed.astype(np.float32), (0, 0), 6)
    level = cv2.resize(closed, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.maximum(level, 20.0)


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    hist = hist.astype(float)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1e-9)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1e-9)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def ink_mask(ink: np.ndarray, threshold: float) -> np.ndarray:
    """Pen-ink mask with hysteresis.

    Pixels above `threshold` are ink; so are pixels above
    ``HYSTERESIS_LOW * threshold`` that touch them (thin or downscaled strokes
    have anti-aliased pixels below the threshold).

    Parameters
    ----------
    ink : ndarray, shape (H, W), float
        Ink coverage in [0, 1].
    threshold : float
        Threshold on `ink`.

    Returns
    -------
    ndarray, shape (H, W), bool
    """
    strong = (ink > threshold).astype(np.uint8)
    near = cv2.dilate(strong, np.ones((3, 3), np.uint8)) > 0
    return near & (ink > HYSTERESIS_LOW * threshold)


def separate(image: np.ndarray) -> Separation:
    """Separate pen ink from grid and paper in an RGB image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        RGB image.

    Returns
    -------
    Separation
    """
    r, g, b = cv2.split(np.ascontiguousarray(image))
    vmax = cv2.max(cv2.max(r, g), b)
    vmin = cv2.min(cv2.min(r, g), b)
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    inv_paper = 1.0 / paper_level(vmax)
    # Pen ink is dark on every channel; a coloured grid keeps one channel bright.
    dark_max = np.clip(1.0 - vmax * inv_paper, 0.0, 1.0)
    marked = np.clip(1.0 - grey * inv_paper, 0.0, 1.0)
    ink = 0.5 * (dark_max + marked)
    chroma = cv2.subtract(vmax, vmin)

    # A coloured grid: most marked pixels are chromatic. A neutral grid (grey, black or a
    # black-and-white scan): its lines stay in the ink mask until removed by shape.
    marks = marked > 0.12
    n_marks = int(np.count_nonzero(marks))
    chromatic = float(np.count_nonzero(marks & (chroma > 30))) / max(n_marks, 1)
    sample = _thinned(ink[marks])
    thr = _otsu(sample) if sample.size else 0.5
    grid_is_ink = chromatic < 0.3
    thr = float(np.clip(thr, _least_threshold(ink, marks, chroma, grid_is_ink), 0.7))
    trace = ink_mask(ink, thr)
    # Grid evidence leaves out pen ink (traces and text would mislead the period search),
    # unless the grid itself is mostly ink (black grids, black-and-white scans): then
    # every mark is evidence. A coloured grid is never pen ink, however faint its lines
    # (a pink grid at 200 dpi leaves fewer marked pixels than the traces do).
    without_ink = np.where(trace, 0.0, marked)
    kept = np.count_nonzero(without_ink > 0.12)
    grid = without_ink if (not grid_is_ink or kept >= 0.5 * n_marks) else marked
    return Separation(ink=ink.astype(np.float32), trace=trace, grid=grid.astype(np.float32),
                      grid_is_ink=grid_is_ink, ink_threshold=thr)


def _least_threshold(ink: np.ndarray, marks: np.ndarray, chroma: np.ndarray,
                     grid_is_ink: bool) -> float:
    """Lowest ink threshold that keeps a coloured grid out of the trace mask.

    The default floor of 0.4 keeps a neutral grid (grey, black, a
    black-and-white scan) and paper texture out. Under a coloured grid the
    floor can be lower: the grid's own ink darkness is known from its
    chromatic pixels, and a faint grey trace (a screen grab of a thin
    anti-aliased line, ink darkness 0.2–0.35) lies above it. The floor is
    then the 95th percentile of the chromatic pixels' ink plus 0.05, at
    least 0.15.
    """
    if grid_is_ink:
        return 0.4
    coloured = marks & (chroma > 30)
    if np.count_nonzero(coloured) < 100:
        return 0.4
    return float(np.clip(np.percentile(_thinned(ink[coloured]), 95) + 0.05, 0.15, 0.4))


def _thinned(values: np.ndarray, most: int = 200_000) -> np.ndarray:
    """Every k-th of `values`, so that at most about `most` are left (for statistics)."""
    return values[:: values.size // most + 1] if values.size > most else values


#: Length of the stretches of a sheet over which grid lines are also matched to a comb of
#: their own, in grid pitches (mm).
LOCAL_COMB_MM = 25.0


def _line_positions(count: np.ndarray, pitch_px: float, min_frac: float) -> np.ndarray:
    """Boolean mask of the indices where periodic grid lines lie.

    `count` is the number of thin ink runs centred at each index. The phase of
    a comb with the grid pitch is fitted to it; an index is a line position
    if it is within about 0.25 mm of a comb tooth and its count reaches
    `min_frac` of the high counts. Where the teeth of one phase in five (the
    5 mm lines) count far more than the other four in general, the grid has
    no 1 mm lines and only those teeth are lines: the few 1 mm teeth that
    still count high hold something else (the calibration pulses of a column
    of rows, stacked at the same x).
    """
    n = count.size
    idx = np.arange(n)
    if n < 3 or count.max() <= 0:
        return np.zeros(n, bool)
    best = comb_phase(count, pitch_px)
    dist = np.abs(((idx - best + pitch_px / 2) % pitch_px) - pitch_px / 2)
    tol = 1.0 + 0.05 * pitch_px
    near = dist <= tol
    high = float(np.percentile(count[near], 90)) if near.any() else 0.0
    counted = count >= min_frac * max(high, 1.0)
    lines = near & counted
    tooth = np.round((idx - best) / pitch_px).astype(np.int64)
    n_teeth = int(tooth.max()) + 1
    comb = pitch_px
    if n_teeth >= 10:
        per_tooth = np.zeros(n_teeth)
        np.maximum.at(per_tooth, tooth[near & (tooth >= 0)], count[near & (tooth >= 0)])
        phase_median = np.array([np.median(per_tooth[p::5]) for p in range(5)])
        major = int(np.argmax(phase_median))
        others = np.delete(phase_median, major)
        if np.median(others) < min_frac * phase_median[major]:
            lines &= (tooth % 5) == major
            comb = 5.0 * pitch_px
    # A photo's rectified grid is not quite even (the paper's corners are found to a few
    # px): one comb drifts off the lines far from where it fits best. A comb is also fitted
    # over each stretch of the sheet, each of its teeth moved to the highest count within
    # 0.4 mm (of a comb of 5 mm lines; a 1 mm comb's teeth barely move, or they would
    # reach a flat trace between the lines), and the positions around those are lines too.
    span = int(round(LOCAL_COMB_MM * pitch_px))
    if n > 2 * span:
        local = np.zeros(n, bool)
        reach = max(min(0.4 * pitch_px, 0.15 * comb), 1.0)
        for a in range(0, n - span // 2, span // 2):
            b = min(a + span, n)
            if count[a:b].max() <= 0:
                continue
            for t in np.arange(a + comb_phase(count[a:b], comb), b, comb):
                lo, hi = int(max(t - reach, a)), int(min(t + reach, b - 1)) + 1
                peak = lo + int(np.argmax(count[lo:hi]))
                local[max(int(peak - tol), 0):int(peak + tol) + 1] = True
        lines |= local & counted
    return lines


def _thin_run_mask(mask: np.ndarray, max_thick: int, pitch_px: float, min_frac: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of thin vertical runs centred on periodic horizontal grid lines, and the
    rows of those lines."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w), np.int8)
    padded[1:-1] = mask
    d = np.diff(padded, axis=0)
    sc, sr = np.nonzero(d.T == 1)
    _, er = np.nonzero(d.T == -1)
    length = er - sr
    thin = length <= max_thick
    centre = (sr + er - 1) // 2
    count = np.bincount(centre[thin], minlength=h).astype(float)
    lines = _line_positions(count, pitch_px, min_frac)
    pick = thin & lines[centre]
    # The lines' own thickness (runs of a pen that lies along a line for a while are few
    # among them): thicker runs there are a trace on the line and stay.
    if np.count_nonzero(pick) >= 100:
        pick &= length <= int(np.percentile(length[pick], 90))
    out = np.zeros((h + 1, w), np.int32)
    np.add.at(out, (sr[pick], sc[pick]), 1)
    np.add.at(out, (er[pick], sc[pick]), -1)
    removed = np.cumsum(out, axis=0)[:h] > 0
    # Every row the lines occupy (a line is several px thick; `lines` holds its centre).
    cover = removed.sum(axis=1)
    if lines.any():
        lines = lines | (cover >= min_frac * float(np.percentile(cover[lines], 90)))
    return removed, lines


def remove_grid_lines(trace: np.ndarray, pitch_x_px: float, pitch_y_px: float,
                      min_frac: float = 0.3) -> np.ndarray:
    """Remove grid lines printed in trace ink from a trace mask.

    A grid line crosses every column (row) of the sheet as a thin run of
    ink at a position that repeats with the grid pitch. Thin runs (at most
    about 0.4 mm thick) are counted per position; positions on the fitted
    grid comb with many thin runs are line positions, and the runs there no
    thicker than the lines themselves (the 90th percentile of the runs
    there) are removed. A trace crossing a line is thicker there (or runs
    along it for a short stretch only) and is kept, apart from holes of a
    pixel or two that the tracer bridges.

    Parameters
    ----------
    trace : ndarray, shape (H, W), bool
        Ink mask of an upright (deskewed) sheet.
    pitch_x_px, pitch_y_px : float
        Grid pitch (1 mm) along x and y, in px.
    min_frac : float
        Fraction of the typical line count a position needs to be a line.

    Returns
    -------
    ndarray, shape (H, W), bool
        The mask without grid lines.
    """
    tk_y = max(int(round(0.4 * pitch_y_px)), 2)
    tk_x = max(int(round(0.4 * pitch_x_px)), 2)
    horiz, line_rows = _thin_run_mask(trace, tk_y, pitch_y_px, min_frac)
    vert_t, line_cols = _thin_run_mask(np.ascontiguousarray(trace.T), tk_x, pitch_x_px, min_frac)
    # Where two lines cross, neither run is thin; drop the crossing itself (all the rows and
    # columns the two lines occupy).
    crossings = line_rows[:, None] & line_cols[None, :]
    cleaned = trace & ~horiz & ~vert_t.T & ~crossings
    # A trace passing through a crossing (along one of the lines, or across both) has ink
    # on both sides of it: give it back its pixels there.
    dx, dy = tk_x + 1, tk_y + 1
    left = np.zeros_like(cleaned)
    right = np.zeros_like(cleaned)
    left[:, dx:], right[:, :-dx] = cleaned[:, :-dx], cleaned[:, dx:]
    above = np.zeros_like(cleaned)
    below = np.zeros_like(cleaned)
    above[dy:], below[:-dy] = cleaned[:-dy], cleaned[dy:]
    through = (left & right) | (above & below)
    return cleaned | (trace & crossings & through)


def scene_mask(trace: np.ndarray, thick_frac: float = 0.004) -> np.ndarray:
    """Dark scene around the paper that touches the image border (a scanner bed, a table).

    A scan of a sheet that is not square on the glass has wedges of the
    (dark) scanner lid at its edges, and a black-and-white scan turns them
    solid black. Their inner edge is a long straight line parallel to the
    grid, which the row finder would take for a flat trace. A wedge is the
    only ink that is both thick (it survives an opening with a square of
    `thick_frac` of the image's longer side; pen strokes and text do not) and
    connected to the border. For every border pixel of such a component, the
    run of ink from the border inwards is scene, down to the wedge's thin tip;
    a trace running off the edge of the image is left alone.

    Parameters
    ----------
    trace : ndarray, shape (H, W), bool
        Ink mask of the image as loaded.
    thick_frac : float
        Side of the opening square as a fraction of the longer image side.

    Returns
    -------
    ndarray, shape (H, W), bool
        True on scene pixels.
    """
    h, w = trace.shape
    out = np.zeros((h, w), bool)
    if h < 3 or w < 3 or not (trace[0].any() or trace[-1].any() or trace[:, 0].any()
                              or trace[:, -1].any()):
        return out
    m8 = trace.astype(np.uint8)
    k = max(int(round(thick_frac * max(h, w))), 5)
    core = cv2.morphologyEx(m8, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)) > 0
    if not core.any():
        return out
    _, labels = cv2.connectedComponents(m8, connectivity=8)
    thick = np.zeros(int(labels.max()) + 1, bool)
    thick[np.unique(labels[core])] = True
    thick[0] = False
    # Runs from each border inwards, in the columns (rows) where the border pixel is scene.
    for flip_rows, transpose in ((False, False), (True, False), (False, True), (True, True)):
        lab = labels.T if transpose else labels
        msk = trace.T if transpose else trace
        dst = out.T if transpose else out
        if flip_rows:
            lab, msk, dst = lab[::-1], msk[::-1], dst[::-1]
        start = thick[lab[0]] & msk[0]
        if not start.any():
            continue
        # Length of the ink run from row 0 in each column: index of the first paper pixel.
        run = np.argmin(msk, axis=0)
        run[msk.all(axis=0)] = msk.shape[0]
        rows = np.arange(msk.shape[0])[:, None]
        dst |= (rows < run[None, :]) & start[None, :]
    return out


def without_scene(sep: Separation) -> Separation:
    """A separation with the dark scene at the image border (:func:`scene_mask`) removed."""
    scene = scene_mask(sep.trace)
    if not scene.any():
        return sep
    return Separation(ink=np.where(scene, 0.0, sep.ink).astype(np.float32),
                      trace=sep.trace & ~scene,
                      grid=np.where(scene, 0.0, sep.grid).astype(np.float32),
                      grid_is_ink=sep.grid_is_ink, ink_threshold=sep.ink_threshold)
