"""Stage 4a of the digitizer: smooth dewarping of a curved or wrinkled sheet from its grid.

A photographed sheet that does not lie flat (a curled page, a bulge, a
wrinkle) is not mapped to a rectangle by a homography: after the perspective
correction and the deskew its grid lines still bend, and their spacing grows
and shrinks across the page. Along a trace row that is a time error (a
stretch of 2 % over 100 mm puts the end of the row 2 mm, 80 ms at 25 mm/s,
late) and a bent baseline.

The printed grid says where the page is: its lines are straight and equally
spaced on the paper. This stage measures how far the lines are from where they
should be and resamples the image so that they are straight and evenly spaced
again:

1. The grid map is demodulated at the line pitch (``exp(-2 pi i x / p)`` for
   the vertical lines, the same along y for the horizontal ones) and low-passed
   over a few mm. The phase of the result is ``-2 pi d / p``, with ``d`` the
   lines' displacement (px) from a perfect comb.
2. The phase is wrapped, so its *gradient* is measured instead: the phase step
   between points one pitch apart, along and across the lines, weighted by the
   strength of the grid there. Steps stay well under half a turn for any page
   that is not folded, so there is nothing to unwrap.
   Only places where the grid dominates count: the demodulated amplitude must
   be a good fraction of the local mean level (:data:`SUPPORT_FRACTION`),
   which text, a header or a trace, with their marks spread over all
   frequencies, are not; the rim of the grid is dropped.
3. A smooth displacement field (cubic tensor B-splines, knots every
   :data:`KNOT_MM` mm, with a penalty on curvature that carries it across
   places without grid) is fitted by least squares to those gradients, one
   field per axis. Beyond the grid it holds the nearest measured value.
4. Lines squeezed by more than the low-pass lets through (a sharply curled
   edge) are under-measured, so the grid is straightened with the field and
   measured again, up to :data:`MAX_PASSES` times.
5. Where the field moves the grid by less than :data:`MIN_DISPLACEMENT_PX`
   (at its :data:`SIZE_PERCENTILE` percentile over the grid), or by less than
   :data:`SURE_DISPLACEMENT_PX` when little of the grid could be measured
   (:data:`MIN_MEASURED_FRACTION`), or when hardly any of it could
   (:data:`LEAST_MEASURED_FRACTION`), the sheet is taken as flat and left
   alone; otherwise the image is resampled so that each grid line lands on its
   place. A uniform shear is left to the deskew (see :func:`_without_shear`).

Trace pixels should be taken out of the grid evidence first: on a grid printed
in the pen's colour the tall strokes of QRS complexes look like grid lines.

The field is returned as a :class:`GridWarp`, which maps points of the
dewarped image back to the image it came from (for the overlay and for the
traces' input-image coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import sparse
from scipy.interpolate import BSpline
from scipy.ndimage import binary_erosion, distance_transform_edt, map_coordinates
from scipy.sparse.linalg import spsolve

__all__ = ["GridWarp", "measure_grid_warp", "KNOT_MM", "MIN_DISPLACEMENT_PX"]

#: Spacing (mm of paper) of the B-spline knots of the displacement field: fine enough for a
#: curled edge (a few cm wide), coarse enough that a trace or a label cannot bend it.
KNOT_MM = 12.0

#: Most knot intervals per axis (a sheet of 480 mm at :data:`KNOT_MM`; beyond, the knots
#: spread): the normal equations, dense, then stay under 30 MB whatever pitch was found.
MAX_KNOT_INTERVALS = 40

#: Low-pass of the demodulated grid, in grid pitches (Gaussian sigma). Major lines every fifth
#: pitch put energy at a fifth of the pitch frequency from the carrier; 2.5 pitches of sigma
#: damp it to under 1 %.
SMOOTH_PITCHES = 2.5

#: Carrier frequencies, relative offsets from the grid's: lines squeezed or stretched by
#: about a tenth (a curled edge) are followed by the carrier nearest their spacing, where
#: the nominal one's low-pass would lose them. Farther offsets would meet the harmonics
#: of the 5 mm lines (every fifth of the frequency).
CARRIERS = (-0.1, 0.0, 0.1)

#: Spacing of the gradient samples, in grid pitches.
SAMPLE_PITCHES = 2

#: Fraction of the typical (90th percentile) coherence (demodulated amplitude over mean
#: level) from which a place counts as grid.
SUPPORT_FRACTION = 0.5

#: Samples (every :data:`SAMPLE_PITCHES` pitches) dropped at the rim of the grid.
SUPPORT_ERODE = 2

#: Percentile of the displacement over the grid that tells a flat sheet from a curved one
#: (a high one, not the largest: the rim of the grid is measured least well).
SIZE_PERCENTILE = 90.0

#: Displacement (px, the :data:`SIZE_PERCENTILE` over the grid, less the median) under
#: which the sheet is taken as flat. On the digitizer benchmark's flat sheets (56 clean, 24
#: scanned) it is at most 0.37 px but for three (0.70 px, and 1.0 and 1.4 px measured on
#: little of the grid, see :data:`MIN_MEASURED_FRACTION`); on its curled photos and
#: wrinkled sheets at least 0.97 px.
MIN_DISPLACEMENT_PX = 0.75

#: Weight of the curvature penalty, relative to the total weight of the measurements.
SMOOTHNESS = 1e-4

#: Most measurements of the field, each on the grid straightened by the ones before.
MAX_PASSES = 3

#: Least fraction of the image's lattice nodes measured on the grid for a field of under
#: :data:`SURE_DISPLACEMENT_PX` to be applied. On a noisy black-and-white scan, or one whose
#: traces cover most of the grid, little of it is measured, and biases (the staircase of
#: thresholded lines) can fake a millimetre's drift: on the digitizer benchmark a scan
#: measured at 28 % (1.4 px) and a clean sheet at 16 % (1.0 px), against 50-69 % for all
#: the curled photos and wrinkled sheets but two (24 and 31 %, 6.5 and 3.8 px).
MIN_MEASURED_FRACTION = 0.35

#: Displacement (px) applied with less of the grid measured, down to
#: :data:`LEAST_MEASURED_FRACTION`.
SURE_DISPLACEMENT_PX = 2.0

#: Fraction of the lattice nodes measured on the grid below which no field is applied (a
#: screen grab enlarged from 2 px/mm, its grid a blur, measured on 1 % of them).
LEAST_MEASURED_FRACTION = 0.15

#: A pass that moves the grid by less than this (px, :data:`SIZE_PERCENTILE`) ends the
#: refinement.
REFINE_BELOW_PX = 0.5

#: Step (px) of the lattice on which the fitted field is kept.
LATTICE_STEP_PX = 8


@dataclass
class GridWarp:
    """Displacement of an image's grid from straight, evenly spaced lines.

    Parameters
    ----------
    dx_px, dy_px : ndarray, shape (ny, nx), float32
        Displacement (px) of the grid at the lattice nodes: the point of the
        warped image that belongs at node ``(x, y)`` of the dewarped one lies at
        ``(x + dx, y + dy)``.
    shape_hw : tuple of int
        (height, width) of the image in px; the nodes are evenly spaced from 0
        to ``width - 1`` and from 0 to ``height - 1``, both included.
    measured : ndarray, shape (ny, nx), bool, optional
        Nodes on the grid, where the field was measured (elsewhere it holds
        the nearest measured value). None: all of them.
    """

    dx_px: np.ndarray
    dy_px: np.ndarray
    shape_hw: tuple[int, int]
    measured: np.ndarray | None = None

    def _lattice_coords(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.shape_hw
        ny, nx = self.dx_px.shape
        return (np.asarray(x, np.float64) * (nx - 1) / max(w - 1, 1),
                np.asarray(y, np.float64) * (ny - 1) / max(h - 1, 1))

    def displacement(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Field (px) at points of the dewarped image (bilinear between nodes; NaN stays NaN)."""
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        u, v = self._lattice_coords(x, y)
        ok = np.isfinite(u) & np.isfinite(v)
        coords = np.stack([np.where(ok, v, 0.0).ravel(), np.where(ok, u, 0.0).ravel()])
        dx = map_coordinates(self.dx_px, coords, order=1, mode="nearest").reshape(x.shape)
        dy = map_coordinates(self.dy_px, coords, order=1, mode="nearest").reshape(x.shape)
        return np.where(ok, dx, np.nan), np.where(ok, dy, np.nan)

    def to_source(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map points (px) of the dewarped image to the image the warp was measured on."""
        dx, dy = self.displacement(x, y)
        return np.asarray(x, np.float64) + dx, np.asarray(y, np.float64) + dy

    def maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Full-size ``cv2.remap`` maps (float32, shape ``shape_hw``): source x and y per pixel."""
        h, w = self.shape_hw
        ny, nx = self.dx_px.shape
        u = (np.arange(w, dtype=np.float32) * np.float32((nx - 1) / max(w - 1, 1)))
        v = (np.arange(h, dtype=np.float32) * np.float32((ny - 1) / max(h - 1, 1)))
        uu = np.broadcast_to(u[None, :], (h, w))
        vv = np.broadcast_to(v[:, None], (h, w))
        dx = cv2.remap(self.dx_px, uu, vv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        dy = cv2.remap(self.dy_px, uu, vv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return (np.arange(w, dtype=np.float32)[None, :] + dx,
                np.arange(h, dtype=np.float32)[:, None] + dy)

    def turned(self) -> GridWarp:
        """The warp of the same image turned by 180 degrees."""
        return GridWarp(-self.dx_px[::-1, ::-1].copy(), -self.dy_px[::-1, ::-1].copy(),
                        self.shape_hw,
                        None if self.measured is None else self.measured[::-1, ::-1].copy())

    def displacement_percentile(self, q: float) -> float:
        """Percentile `q` (0-100) of the displacement length (px) over the measured nodes."""
        d = np.sqrt(self.dx_px**2 + self.dy_px**2)
        if self.measured is not None and self.measured.any():
            d = d[self.measured]
        return float(np.percentile(d, q))


def _demodulated(grid: np.ndarray, pitch_px: float, axis: int, step: int,
                 carriers: tuple[float, ...]
                 ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Low-passed grid times ``exp(-2 pi i (1 + e) t / pitch)`` along `axis` (1: x, 0: y).

    One complex field per relative carrier offset ``e`` in `carriers`, sampled
    every `step` px along the other axis (every px along `axis`); the low-passed
    grid itself (same samples); and the sample positions (px) along the other
    axis. The low-pass is (nearly) a Gaussian of :data:`SMOOTH_PITCHES` pitches.
    """
    g = grid.astype(np.float32)
    if axis == 0:
        g = g.T
    h, w = g.shape
    # Lines run along y here: average `step` rows into one (they only smear along the lines).
    n_rows = max(2, h // step)
    g = cv2.resize(g[: n_rows * step], (w, n_rows), interpolation=cv2.INTER_AREA)
    sigma_t = SMOOTH_PITCHES * pitch_px
    sigma_rows = max(SMOOTH_PITCHES * pitch_px / step, 0.5)

    # Three box filters: a Gaussian of the same sigma within a few per cent, at a quarter
    # of the cost of a 150-tap kernel.
    box = tuple(int(round(np.sqrt(12.0 * sg * sg / 3.0 + 1.0))) | 1
                for sg in (sigma_t, sigma_rows))

    def low_pass(a: np.ndarray) -> np.ndarray:
        for _ in range(3):
            a = cv2.blur(a, box, borderType=cv2.BORDER_REFLECT)
        return a

    fields = []
    for e in carriers:
        t = np.arange(w, dtype=np.float64) * (2.0 * np.pi * (1.0 + e) / pitch_px)
        re = low_pass(g * np.cos(t).astype(np.float32)[None, :])
        im = low_pass(-g * np.sin(t).astype(np.float32)[None, :])
        fields.append((re + 1j * im).astype(np.complex64))
    rows_px = (np.arange(n_rows) + 0.5) * step - 0.5
    return fields, low_pass(g), rows_px


def _basis(n_px: int, pxmm: float) -> tuple[np.ndarray, int]:
    """Knot vector (px) of cubic B-splines over [0, n_px - 1] and the number of bases."""
    span = max(n_px - 1, 1)
    n_int = min(max(1, int(round(span / (KNOT_MM * pxmm)))), MAX_KNOT_INTERVALS)
    inner = np.linspace(0.0, span, n_int + 1)
    knots = np.concatenate([[0.0] * 3, inner, [span] * 3])
    return knots, len(knots) - 4


def _design(knots: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Dense B-spline design matrix (len(t), number of bases) at positions `t` (px)."""
    t = np.clip(np.asarray(t, np.float64), knots[0], knots[-1])
    return BSpline.design_matrix(t, knots, 3).toarray()


def _gram(weights: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``K.T @ diag(w) @ K`` for ``K = kron(rows, cols)`` and weights ``w[i, k]`` per sample.

    `rows` (n_i, n_a) and `cols` (n_k, n_b) are the two factors' designs; the result
    is (n_a * n_b) square, ordered like the columns of ``kron(rows, cols)``.
    """
    n_a, n_b = rows.shape[1], cols.shape[1]
    # Each sample touches 4 bases per axis: the outer products are sparse, and sparse
    # products need no BLAS threads (see the solve in _fit_axis).
    cc = sparse.csr_matrix((cols[:, :, None] * cols[:, None, :]).reshape(cols.shape[0], -1))
    rr = sparse.csr_matrix((rows[:, :, None] * rows[:, None, :]).reshape(rows.shape[0], -1))
    t = np.asarray((cc.T @ weights.T).T)                       # (n_i, n_b * n_b)
    g = np.asarray(rr.T @ t).reshape(n_a, n_a, n_b, n_b)
    return g.transpose(0, 2, 1, 3).reshape(n_a * n_b, n_a * n_b)


def _gradients(grid: np.ndarray, pitch_px: float, axis: int) -> tuple[np.ndarray, ...]:
    """Displacement steps (px) of the lines across `axis` between points a pitch apart.

    Works in the frame where the lines run along y (`axis` 1: the vertical lines as
    they are; 0: the horizontal lines, transposed). Returns the sample positions
    along x and y (px; every :data:`SAMPLE_PITCHES` pitches, enough for a field
    low-passed over :data:`SMOOTH_PITCHES`), the lag (px), the steps across the
    lines (x to x + lag) and along them (y to y + lag), their weights, and where
    the grid is (samples whose demodulated amplitude reaches :data:`SUPPORT_FRACTION`
    of the sheet's typical one, relative to the local mean level).
    """
    step = max(1, int(round(pitch_px)))
    fields, mean, rows_px = _demodulated(grid, pitch_px, axis, step, CARRIERS)
    n_rows, n_cols = mean.shape
    cols = np.arange(0, n_cols - step, SAMPLE_PITCHES * step)
    rows = np.arange(0, n_rows - 1, SAMPLE_PITCHES)
    to_px = -pitch_px / (2.0 * np.pi)
    # Per sample, the carrier nearest the lines' local spacing: the strongest response.
    strength = np.stack([np.abs(z[np.ix_(rows, cols)]) * np.abs(z[np.ix_(rows, cols + step)])
                         for z in fields])
    best = np.argmax(strength, axis=0)
    da = np.empty(best.shape)
    db = np.empty(best.shape)
    wa = np.empty(best.shape)
    wb = np.empty(best.shape)
    for k, (e, z) in enumerate(zip(CARRIERS, fields, strict=True)):
        sel = best == k
        z0 = z[np.ix_(rows, cols)][sel]
        a = z[np.ix_(rows, cols + step)][sel] * np.conj(z0)
        b = z[np.ix_(rows + 1, cols)][sel] * np.conj(z0)
        # Against a carrier (1 + e) / pitch the phase also turns by e * lag px per lag.
        da[sel] = np.angle(a) * to_px - e * step
        db[sel] = np.angle(b) * to_px
        wa[sel] = np.abs(a)
        wb[sel] = np.abs(b)
    # A grid puts most of its marks on the comb: the demodulated amplitude is a good part
    # of the mean level. Text, traces and noise spread theirs over all frequencies.
    coherence = np.max([np.abs(z) for z in fields], axis=0) / np.maximum(mean, 1e-6)
    typical = float(np.percentile(coherence, 90)) if coherence.size else 0.0
    on = (coherence >= SUPPORT_FRACTION * typical) & (mean > 1e-4)
    support = on[np.ix_(rows, cols)] & on[np.ix_(rows, cols + step)] & on[np.ix_(rows + 1, cols)]
    # A low-pass window that straddles the grid's edge sees lines on one side only, and
    # whatever lies beyond (labels, the paper's edge) on the other: drop that rim.
    support = binary_erosion(support, np.ones((3, 3), bool), iterations=SUPPORT_ERODE,
                             border_value=1)
    return cols.astype(np.float64), rows_px[rows], float(step), da, wa, db, wb, support


def _fit_axis(grid: np.ndarray, pitch_px: float, axis: int, pxmm_t: float, pxmm_s: float,
              lattice_t: np.ndarray, lattice_s: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """Displacement across the lines (px) on the lattice (shape (len(s), len(t))), and
    the lattice nodes on the grid."""
    cols, rows, lag, da, wa, db, wb, support = _gradients(grid, pitch_px, axis)
    if cols.size < 2 or rows.size < 2 or not support.any():
        return None
    h, w = grid.shape if axis == 1 else grid.shape[::-1]
    kt, nt = _basis(w, pxmm_t)
    ks, ns = _basis(h, pxmm_s)
    bt = _design(kt, cols)
    bs = _design(ks, rows)
    dt = _design(kt, cols + lag) - bt
    ds = _design(ks, rows + lag) - bs
    scale = float(np.percentile(np.concatenate([wa[support], wb[support]]), 90))
    if not np.isfinite(scale) or scale <= 0:
        return None
    # Clip the weights: the strongest lines (a black border, text) must not rule the fit.
    # Beyond the grid (margins, a header) the phase is noise: no weight at all.
    wa = np.minimum(wa / scale, 1.0) ** 2 * support
    wb = np.minimum(wb / scale, 1.0) ** 2 * support
    # Least squares over both kinds of sample: d(x + lag, y) - d(x, y) = da (design
    # kron(bs, dt)) and d(x, y + lag) - d(x, y) = db (design kron(ds, bt)).
    lhs = _gram(wa, bs, dt) + _gram(wb, ds, bt)
    rhs = (bs.T @ (wa * da) @ dt + ds.T @ (wb * db) @ bt).ravel()
    # Curvature penalty (second differences of the coefficients along both axes) and a
    # tiny pull to zero that fixes the free constant.
    d2t = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(max(nt - 2, 1), nt))
    d2s = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(max(ns - 2, 1), ns))
    pen = (sparse.kron(sparse.eye(ns), d2t.T @ d2t) + sparse.kron(d2s.T @ d2s, sparse.eye(nt)))
    total = float(wa.sum() + wb.sum())
    lam = SMOOTHNESS * total / max(nt * ns, 1)
    lhs = sparse.csc_matrix(lhs) + lam * pen + 1e-9 * total * sparse.eye(nt * ns)
    # The system is banded (each B-spline overlaps three neighbours per axis); a sparse
    # solve takes milliseconds and, unlike a dense LAPACK solve, no BLAS threads (which
    # stall for a tenth of a second when other processes hold the cores).
    coef = spsolve(sparse.csc_matrix(lhs), rhs)
    field = _design(ks, lattice_s) @ coef.reshape(ns, nt) @ _design(kt, lattice_t).T
    # Beyond the grid the fit only extrapolates: hold the nearest value measured on the grid.
    i_s = np.clip(np.round((lattice_s - rows[0]) / (rows[1] - rows[0])), 0, rows.size - 1)
    i_t = np.clip(np.round((lattice_t - cols[0]) / (cols[1] - cols[0])), 0, cols.size - 1)
    on = support[np.ix_(i_s.astype(int), i_t.astype(int))]
    if not on.any():
        return None
    _, (near_s, near_t) = distance_transform_edt(~on, return_indices=True)
    field = field[near_s, near_t]
    return field - float(np.median(field[on])), on


def measure_grid_warp(grid: np.ndarray, pxmm_x: float, pxmm_y: float,
                      min_displacement_px: float = MIN_DISPLACEMENT_PX) -> GridWarp | None:
    """Displacement field of a sheet's grid, or None if the grid is straight.

    Parameters
    ----------
    grid : ndarray, shape (H, W)
        Grid evidence of an upright sheet (larger where grid lines are).
    pxmm_x, pxmm_y : float
        Grid pitch (px per mm) along x and y, as measured over the whole sheet.
    min_displacement_px : float
        Fields that move no node by more than this (px) are not returned.

    Returns
    -------
    GridWarp or None
    """
    h, w = grid.shape
    if not (np.isfinite(pxmm_x) and np.isfinite(pxmm_y)) or min(pxmm_x, pxmm_y) < 2.0:
        return None
    nx = max(2, int(np.ceil((w - 1) / LATTICE_STEP_PX)) + 1)
    ny = max(2, int(np.ceil((h - 1) / LATTICE_STEP_PX)) + 1)
    lx = np.linspace(0.0, w - 1.0, nx)
    ly = np.linspace(0.0, h - 1.0, ny)
    gxx, gyy = np.meshgrid(lx, ly)
    warp: GridWarp | None = None
    grid = grid.astype(np.float32, copy=False)
    current = grid
    for it in range(MAX_PASSES):
        fx = _fit_axis(current, pxmm_x, 1, pxmm_x, pxmm_y, lx, ly)
        fy = _fit_axis(current, pxmm_y, 0, pxmm_y, pxmm_x, ly, lx)
        if fx is None or fy is None:
            break
        (dx, on_x), (dy, on_y) = fx, fy
        step = GridWarp(dx.astype(np.float32), dy.T.astype(np.float32), (h, w), on_x & on_y.T)
        if warp is None:
            warp = step
        else:
            # Compose: a point q of the new image comes from q + step(q) of the previous
            # one, which comes from there + warp(there) of the grid as given.
            sx, sy = step.to_source(gxx, gyy)
            wx, wy = warp.displacement(sx, sy)
            warp = GridWarp((sx - gxx + wx).astype(np.float32),
                            (sy - gyy + wy).astype(np.float32), (h, w), warp.measured)
        if step.displacement_percentile(SIZE_PERCENTILE) < REFINE_BELOW_PX \
                or it == MAX_PASSES - 1:
            break
        # Lines squeezed or stretched by more than the low-pass passes (a sharply curled
        # edge) were under-measured: measure again on the grid straightened so far.
        mx, my = warp.maps()
        current = cv2.remap(grid, mx, my, cv2.INTER_LINEAR)
    if warp is None:
        return None
    warp = _without_shear(warp, gxx, gyy)
    size = warp.displacement_percentile(SIZE_PERCENTILE)
    measured = float(warp.measured.mean()) if warp.measured is not None else 1.0
    if size < min_displacement_px or measured < LEAST_MEASURED_FRACTION or (
            measured < MIN_MEASURED_FRACTION and size < SURE_DISPLACEMENT_PX):
        return None
    return warp


def _without_shear(warp: GridWarp, gxx: np.ndarray, gyy: np.ndarray) -> GridWarp:
    """`warp` less its uniform shear (x displacement growing with y, y with x).

    A uniform shear of both families is a rotation, which the deskew measures
    better (to about 0.01 degree, from the sharpness of the lines' projections):
    here it is more likely a bias of the phase steps along the lines, e.g. from
    the staircase of lines thresholded at a slant whose step happens to be near
    the pitch.
    """
    on = warp.measured if warp.measured is not None else np.ones(gxx.shape, bool)
    if on.sum() < 3:
        return warp
    a = np.stack([np.ones(int(on.sum())), gxx[on], gyy[on]], axis=1)
    cx, *_ = np.linalg.lstsq(a, warp.dx_px[on].astype(np.float64), rcond=None)
    cy, *_ = np.linalg.lstsq(a, warp.dy_px[on].astype(np.float64), rcond=None)
    dx = warp.dx_px - cx[2] * gyy
    dy = warp.dy_px - cy[1] * gxx
    return GridWarp((dx - np.median(dx[on])).astype(np.float32),
                    (dy - np.median(dy[on])).astype(np.float32), warp.shape_hw, warp.measured)
