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

__all__ = ["Separation", "separate", "paper_level", "remove_grid_lines"]


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
    sample = ink[marks]
    if sample.size > 200_000:
        sample = sample[:: sample.size // 200_000 + 1]
    thr = _otsu(sample) if sample.size else 0.5
    thr = float(np.clip(thr, 0.4, 0.7))
    trace = ink > thr
    grid_is_ink = chromatic < 0.3
    grid = marked if grid_is_ink else np.where(trace, 0.0, marked)
    return Separation(ink=ink.astype(np.float32), trace=trace, grid=grid.astype(np.float32),
                      grid_is_ink=grid_is_ink, ink_threshold=thr)


def remove_grid_lines(trace: np.ndarray, pitch_x_px: float, pitch_y_px: float,
                      min_length_mm: float = 4.0, min_cover: float = 0.5) -> np.ndarray:
    """Remove straight grid lines printed in trace ink from a trace mask.

    Candidate line pixels lie on long, thin, exactly horizontal or vertical
    runs of ink (at least `min_length_mm` long, no thicker than about
    0.35 mm). A grid line is such a run across most of the sheet, a flat
    stretch of trace only locally, so candidates are removed only on image
    rows (columns) where they cover at least `min_cover` of the longest line.

    Parameters
    ----------
    trace : ndarray, shape (H, W), bool
        Ink mask of an upright (deskewed) sheet.
    pitch_x_px, pitch_y_px : float
        Grid pitch (1 mm) along x and y, in px.
    min_length_mm : float
        Shortest straight run treated as part of a grid line, in mm.
    min_cover : float
        Fraction of the longest line's coverage a row or column needs to be
        treated as a grid line.

    Returns
    -------
    ndarray, shape (H, W), bool
        The mask without grid lines.
    """
    m = trace.astype(np.uint8)
    out = trace.copy()
    for axis, pitch_along, pitch_across in ((1, pitch_x_px, pitch_y_px),
                                            (0, pitch_y_px, pitch_x_px)):
        length = max(int(round(min_length_mm * pitch_along)), 5)
        thick = max(int(round(0.35 * pitch_across)), 1) + 2
        if axis == 1:   # horizontal lines: long along x, thin along y
            run = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
            fat = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((thick, 1), np.uint8))
        else:
            run = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((length, 1), np.uint8))
            fat = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((1, thick), np.uint8))
        cand = (run > 0) & (fat == 0)
        cover = cand.sum(axis=axis).astype(float)
        if cover.max() <= 0:
            continue
        lines = cover >= min_cover * cover.max()
        if axis == 1:
            out[lines[:, None] & cand] = False
        else:
            out[lines[None, :] & cand] = False
    return out
