"""Geometric distortions of a rendered sheet: rotation, perspective, wrinkles, curl, folds.

A :class:`Warp` maps flat-sheet pixel coordinates ``s`` (x right, y down, the
centre of the top-left pixel at (0, 0)) to output-image coordinates ``o`` in
two steps::

    s  --(nonlinear displacement)-->  p  --(homography H)-->  o

The nonlinear part is stored as a *backward* displacement field ``B`` sampled
on a regular grid of nodes over the sheet and interpolated bilinearly, so that
``s = p + B(p)``. Resampling an image only needs the backward direction
(output -> sheet), which is explicit; the forward direction used for ground-truth
points (:meth:`Warp.map_points`) inverts ``p = s - B(p)`` by fixed-point
iteration, which converges because the field is built with a Jacobian norm
below 0.5.

:func:`make_warp` draws a random warp and :func:`apply_warp` resamples a
:class:`~ecgdigitize.synth.canvas.SheetCanvas` (image bilinearly, label masks
by nearest neighbour) so its ground truth stays pixel-exact.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .canvas import SheetCanvas

__all__ = ["Warp", "make_warp", "apply_warp", "DEFAULT_SCENE_RGB"]

#: Scene colour used outside the sheet by :func:`apply_warp` when no background is given.
DEFAULT_SCENE_RGB: tuple[int, int, int] = (72, 70, 68)

_MAX_TILT_DEG = 30.0  # camera tilt at perspective=1
_PERSPECTIVE_MIN_MARGIN = 0.03  # margin fraction used with perspective when none is asked
_MAX_JACOBIAN = 0.45  # bound on the Frobenius norm of the displacement Jacobian
_MAP_STRIDE = 4  # output px between exactly evaluated nodes of the resampling map


def _translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _apply_h(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply homography `h` to points of shape (..., 2)."""
    x = xy[..., 0]
    y = xy[..., 1]
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    return np.stack([u, v], axis=-1)


class Warp:
    """A mapping from flat-sheet pixel coordinates to output-image coordinates.

    Use :func:`make_warp` to draw one at random, or :meth:`identity`.

    Parameters
    ----------
    sheet_shape_hw : tuple of int
        ``(height, width)`` of the flat sheet in px.
    output_shape_hw : tuple of int
        ``(height, width)`` of the output image in px.
    homography : ndarray, shape (3, 3)
        Projective map from the (displaced) sheet plane to output px.
    field : ndarray, shape (ny, nx, 2), float32, or None
        Backward displacement ``B`` (x and y components, px); ``field[j, i]``
        sits at sheet point ``x = i * step, y = j * step``. None for a purely
        projective warp.
    field_step : float
        Node spacing of `field` in px.
    params : dict, optional
        The parameters the warp was drawn with (recorded by :meth:`to_dict`).
    """

    def __init__(self, sheet_shape_hw: tuple[int, int], output_shape_hw: tuple[int, int],
                 homography: np.ndarray, field: np.ndarray | None = None,
                 field_step: float = 1.0, params: dict[str, Any] | None = None) -> None:
        self.sheet_shape: tuple[int, int] = (int(sheet_shape_hw[0]), int(sheet_shape_hw[1]))
        self.output_shape: tuple[int, int] = (int(output_shape_hw[0]), int(output_shape_hw[1]))
        h = np.asarray(homography, np.float64).reshape(3, 3)
        self.homography: np.ndarray = h / h[2, 2]
        self._inv_h = np.linalg.inv(self.homography)
        if field is not None:
            field = np.ascontiguousarray(field, np.float32)
            if field.ndim != 3 or field.shape[2] != 2 or min(field.shape[:2]) < 2:
                raise ValueError("field must have shape (ny >= 2, nx >= 2, 2)")
        self.field: np.ndarray | None = field
        # x and y components as flat contiguous planes for fast look-ups
        self._planes = () if field is None else tuple(
            np.ascontiguousarray(field[..., c]).ravel() for c in range(2))
        self.field_step = float(field_step)
        self.params: dict[str, Any] = dict(params or {})

    # ------------------------------------------------------------------ basics
    @classmethod
    def identity(cls, sheet_shape_hw: tuple[int, int]) -> Warp:
        """The warp that leaves a sheet of the given ``(height, width)`` unchanged."""
        return cls(sheet_shape_hw, sheet_shape_hw, np.eye(3))

    @property
    def nonlinear(self) -> bool:
        """True when a nonlinear displacement (wrinkles, curl, folds) is part of the warp."""
        return self.field is not None

    @property
    def is_identity(self) -> bool:
        """True when the warp maps every pixel onto itself."""
        return (not self.nonlinear and self.output_shape == self.sheet_shape
                and bool(np.allclose(self.homography, np.eye(3), rtol=0.0, atol=1e-12)))

    def __repr__(self) -> str:
        return (f"Warp(sheet_shape={self.sheet_shape}, output_shape={self.output_shape}, "
                f"nonlinear={self.nonlinear})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description for the ground-truth sidecar.

        Returns
        -------
        dict
            ``homography`` (3x3 nested lists, flat-sheet px -> image px; only
            approximate when ``nonlinear``), ``nonlinear``, ``sheet_shape_hw``,
            ``output_shape_hw`` and ``params`` (the drawing parameters).
        """
        return {
            "homography": [[float(v) for v in row] for row in self.homography],
            "nonlinear": self.nonlinear,
            "sheet_shape_hw": list(self.sheet_shape),
            "output_shape_hw": list(self.output_shape),
            "params": {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                       for k, v in self.params.items()},
        }

    # ------------------------------------------------------- nonlinear part
    def displacement(self, p: np.ndarray) -> np.ndarray:
        """Backward displacement ``B(p)`` in px at points `p` of shape (..., 2).

        Bilinear interpolation of the node field, constant beyond the sheet
        border; zeros for a purely projective warp.
        """
        p = np.asarray(p, np.float64)
        if self.field is None:
            return np.zeros_like(p)
        return self._field_at(p[..., 0], p[..., 1])

    def _field_at(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Bilinear field lookup at coordinate arrays `px`, `py` (computed in their dtype)."""
        assert self.field is not None
        ny, nx = self.field.shape[:2]
        dt = np.result_type(px.dtype, np.float32)
        inv = dt.type(1.0 / self.field_step)
        gx = np.clip(px * inv, 0, nx - 1)
        gy = np.clip(py * inv, 0, ny - 1)
        x0 = np.minimum(gx.astype(np.int32), nx - 2)
        y0 = np.minimum(gy.astype(np.int32), ny - 2)
        fx = gx - x0.astype(dt)
        fy = gy - y0.astype(dt)
        idx = y0 * nx + x0
        out = np.empty((*px.shape, 2), dt)
        for c, plane in enumerate(self._planes):
            f00 = np.take(plane, idx)
            f01 = np.take(plane, idx + 1)
            f10 = np.take(plane, idx + nx)
            f11 = np.take(plane, idx + (nx + 1))
            top = f00 + fx * (f01 - f00)
            bot = f10 + fx * (f11 - f10)
            out[..., c] = top + fy * (bot - top)
        return out

    def _undisplace(self, s: np.ndarray, tol: float = 1e-4, max_iter: int = 100) -> np.ndarray:
        """Solve ``p + B(p) = s`` for `p` by fixed-point iteration."""
        p = s.copy()
        if self.field is None:
            return p
        for _ in range(max_iter):
            p_new = s - self.displacement(p)
            err = float(np.max(np.abs(p_new - p))) if p.size else 0.0
            p = p_new
            if err < tol:
                break
        return p

    # ------------------------------------------------------------- mapping
    def map_points(self, xy: np.ndarray) -> np.ndarray:
        """Forward-map flat-sheet points to output-image points.

        Parameters
        ----------
        xy : array_like, shape (N, 2)
            Sheet coordinates ``(x, y)`` in px.

        Returns
        -------
        ndarray, shape (N, 2), float64
            Output coordinates in px. The nonlinear part is inverted to better
            than 1e-4 px (the iteration tolerance).
        """
        s = np.asarray(xy, np.float64).reshape(-1, 2)
        return _apply_h(self.homography, self._undisplace(s))

    def unmap_points(self, xy: np.ndarray) -> np.ndarray:
        """Backward-map output-image points to flat-sheet points (inverse of :meth:`map_points`).

        Parameters
        ----------
        xy : array_like, shape (..., 2)
            Output coordinates in px.

        Returns
        -------
        ndarray, shape (..., 2), float64
            Sheet coordinates in px (possibly outside the sheet).
        """
        o = np.asarray(xy, np.float64)
        p = _apply_h(self._inv_h, o)
        return p + self.displacement(p)

    def backward_map(self) -> np.ndarray:
        """Per-output-pixel sheet coordinates, the map for :func:`cv2.remap`.

        The backward mapping (:meth:`unmap_points`) is evaluated in float32 on
        nodes every 4 output px and interpolated linearly in between. The error
        is below 0.01 px for a projective warp and about 0.1 px at worst on the
        sharpest folds.

        Returns
        -------
        ndarray, shape (H_out, W_out, 2), float32
            A view into a slightly larger array.
        """
        ho, wo = self.output_shape
        f = _MAP_STRIDE
        ny, nx = ho // f + 3, wo // f + 3
        # With cv2.resize's pixel-centre convention, coarse node j lands on
        # up-sampled px f*j + (f-1)/2; after cropping f px, output px
        # x = f*(j-1) + (f-1)/2. The padding keeps every output px interior.
        xs = (f * (np.arange(nx) - 1.0) + (f - 1) / 2.0).astype(np.float32)
        ys = (f * (np.arange(ny) - 1.0) + (f - 1) / 2.0).astype(np.float32)[:, None]
        hi = self._inv_h.astype(np.float32)
        wgt = hi[2, 0] * xs + (hi[2, 1] * ys + hi[2, 2])
        coarse = np.empty((ny, nx, 2), np.float32)
        coarse[..., 0] = (hi[0, 0] * xs + (hi[0, 1] * ys + hi[0, 2])) / wgt
        coarse[..., 1] = (hi[1, 0] * xs + (hi[1, 1] * ys + hi[1, 2])) / wgt
        if self.field is not None:
            coarse += self._field_at(coarse[..., 0], coarse[..., 1])
        fine = cv2.resize(coarse, (nx * f, ny * f), interpolation=cv2.INTER_LINEAR)
        return fine[f:f + ho, f:f + wo]


# ---------------------------------------------------------------- drawing
def _perspective(tilt_deg: float, axis_deg: float, dist: float) -> np.ndarray:
    """Homography of a camera at distance `dist` tilted by `tilt_deg` about an in-plane axis.

    Maps sheet coordinates centred on the optical axis to image coordinates
    centred the same way, with unit scale at the centre.
    """
    t = np.deg2rad(tilt_deg)
    a = np.deg2rad(axis_deg)
    k = np.array([np.cos(a), np.sin(a), 0.0])
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    r = np.eye(3) + np.sin(t) * kx + (1.0 - np.cos(t)) * (kx @ kx)
    m = np.column_stack([r[:, 0], r[:, 1], [0.0, 0.0, dist]])
    return np.diag([dist, dist, 1.0]) @ m


def _octave_noise(rng: np.random.Generator, cells_hw: tuple[int, int],
                  nodes_hw: tuple[int, int]) -> np.ndarray:
    """Smooth 2-channel random field on the node grid, from Gaussian noise on a coarse grid."""
    gh, gw = max(2, cells_hw[0]), max(2, cells_hw[1])
    noise = rng.standard_normal((gh, gw, 2)).astype(np.float32)
    return cv2.resize(noise, (nodes_hw[1], nodes_hw[0]), interpolation=cv2.INTER_CUBIC)


def _build_field(rng: np.random.Generator, shape_hw: tuple[int, int], step: float,
                 wrinkles: float, curl: float, folds: float) -> np.ndarray | None:
    """Backward displacement nodes for the given intensities (None when all are 0)."""
    h, w = shape_hw
    m = float(min(h, w))
    nx = int(np.ceil((w - 1) / step)) + 1
    ny = int(np.ceil((h - 1) / step)) + 1
    nx, ny = max(nx, 2), max(ny, 2)
    xs = np.arange(nx) * step
    ys = np.arange(ny) * step
    gx, gy = np.meshgrid(xs, ys)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    field = np.zeros((ny, nx, 2), np.float64)
    # One child generator per component, always drawn, so that each component's
    # shape does not depend on the intensities of the others.
    r_wr, r_curl, r_fold = (np.random.default_rng(int(s)) for s in rng.integers(0, 2**63, 3))

    if wrinkles > 0:
        c1 = (round(4 * h / m), round(4 * w / m))
        c2 = (round(11 * h / m), round(11 * w / m))
        n = 0.65 * _octave_noise(r_wr, c1, (ny, nx)) + 0.35 * _octave_noise(r_wr, c2, (ny, nx))
        n /= max(float(np.abs(n).max()), 1e-6)
        field += wrinkles * 0.006 * m * n

    if curl > 0:
        amp = curl * 0.02 * m
        u = (gx - cx) / max(cx, 1.0)
        v = (gy - cy) / max(cy, 1.0)
        across_x = r_curl.random() < 0.5
        a, b = (u, v) if across_x else (v, u)
        ia, ib = (0, 1) if across_x else (1, 0)
        c1 = r_curl.uniform(0.3, 1.0) * r_curl.choice([-1.0, 1.0])
        c2 = r_curl.uniform(-0.6, 0.6)
        field[..., ia] += amp * c1 * a**3
        field[..., ib] += amp * c2 * b * (1.0 - a**2)
        edge = int(r_curl.integers(0, 4))  # left, right, top, bottom
        t0 = r_curl.uniform(0.55, 0.8)
        c3 = r_curl.uniform(0.5, 1.2) * r_curl.choice([-1.0, 1.0])
        c4 = r_curl.uniform(-0.8, 0.8)
        t = [(1 - u) / 2, (1 + u) / 2, (1 - v) / 2, (1 + v) / 2][edge]
        along = v if edge < 2 else u
        normal = [(-1, 0), (1, 0), (0, -1), (0, 1)][edge]
        ramp = np.clip((t - t0) / (1 - t0), 0.0, 1.0) ** 3
        field[..., 0] += amp * ramp * (c3 * normal[0] + c4 * along * normal[1])
        field[..., 1] += amp * ramp * (c3 * normal[1] + c4 * along * normal[0])

    if folds > 0:
        count_u = r_fold.random(2)
        n_folds = 1 + int(count_u[0] < 0.6 * folds) + int(count_u[1] < 0.3 * folds)
        for k in range(3):
            horizontal = r_fold.random() < 0.5
            frac = r_fold.choice([1 / 3, 1 / 2, 2 / 3]) + r_fold.normal(0.0, 0.03)
            ang = np.deg2rad(r_fold.normal(0.0, 2.0) + (0.0 if horizontal else 90.0))
            amp = folds * 0.004 * m * r_fold.uniform(0.6, 1.0) * r_fold.choice([-1.0, 1.0])
            width = r_fold.uniform(0.012, 0.02) * m
            ridge = r_fold.uniform(0.3, 1.0)
            if k >= n_folds:
                continue
            px, py = (cx, frac * (h - 1)) if horizontal else (frac * (w - 1), cy)
            nvec = np.array([-np.sin(ang), np.cos(ang)])  # normal to the fold line
            d = ((gx - px) * nvec[0] + (gy - py) * nvec[1]) / width
            prof = amp * (ridge * np.exp(-(d**2)) + (1.0 - ridge) * np.tanh(d))
            field[..., 0] += prof * nvec[0]
            field[..., 1] += prof * nvec[1]

    if not np.any(field):
        return None
    # Keep the map invertible and the fixed-point iteration contracting.
    jx = np.diff(field, axis=1) / step
    jy = np.diff(field, axis=0) / step
    jnorm = np.sqrt((jx[:-1] ** 2).sum(-1) + (jy[:, :-1] ** 2).sum(-1))
    jmax = float(jnorm.max()) if jnorm.size else 0.0
    if jmax > _MAX_JACOBIAN:
        field *= _MAX_JACOBIAN / jmax
    return field.astype(np.float32)


def make_warp(rng: np.random.Generator, sheet_shape_hw: tuple[int, int],
              rotation_deg: float = 0.0, perspective: float = 0.0, wrinkles: float = 0.0,
              curl: float = 0.0, margin_frac: float = 0.0, upside_down: bool = False,
              folds: float = 0.0) -> Warp:
    """Draw a random geometric distortion of a flat sheet.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same state gives the same warp.
    sheet_shape_hw : tuple of int
        ``(height, width)`` of the flat sheet in px.
    rotation_deg : float
        In-plane rotation about the sheet centre in degrees, counter-clockwise
        as seen on screen.
    perspective : float
        Camera tilt in [0, 1]: 0 a scanner (orthographic), 1 a phone photo
        tilted by 21-30 degrees about a random in-plane axis.
    wrinkles : float
        In [0, 1]: random smooth displacement, up to 0.6 % of the short sheet
        side at 1 (about 10 px on a 1700 px sheet).
    curl : float
        In [0, 1]: page curvature (cylindrical bulge plus one curled edge), up
        to about 2 % of the short side at 1.
    margin_frac : float
        Scene margin around the sheet as a fraction of its bounding box. With
        0 and no perspective, the output keeps the sheet's shape and a rotated
        sheet is cropped at its corners (a skewed scan); otherwise the whole
        sheet is fitted into an output whose long side equals the sheet's,
        with at least 3 % margin when `perspective` > 0.
    upside_down : bool
        Add 180 degrees of rotation.
    folds : float
        In [0, 1]: 1 to 3 fold lines (near the thirds or the half of the
        sheet) with a narrow ridge/step displacement of up to 0.4 % of the short
        side.

    Returns
    -------
    Warp
        The total field is scaled so its Jacobian norm stays below 0.45; all
        intensities 0 and no rotation give an identity warp.
    """
    h, w = int(sheet_shape_hw[0]), int(sheet_shape_hw[1])
    perspective = float(np.clip(perspective, 0.0, 1.0))
    wrinkles = float(np.clip(wrinkles, 0.0, 1.0))
    curl = float(np.clip(curl, 0.0, 1.0))
    folds = float(np.clip(folds, 0.0, 1.0))
    margin_frac = max(0.0, float(margin_frac))
    # Draw everything unconditionally so the structure is stable across options.
    tilt_axis = float(rng.uniform(0.0, 180.0))
    tilt_scale = float(rng.uniform(0.7, 1.0))
    dist_factor = float(rng.uniform(1.0, 1.6))
    step = float(np.clip(min(h, w) / 256.0, 1.0, 16.0))
    field = _build_field(rng, (h, w), step, wrinkles, curl, folds)

    angle = float(rotation_deg) + (180.0 if upside_down else 0.0)
    tilt = perspective * _MAX_TILT_DEG * tilt_scale
    params: dict[str, Any] = {
        "rotation_deg": float(rotation_deg), "upside_down": bool(upside_down),
        "perspective": perspective, "tilt_deg": tilt, "tilt_axis_deg": tilt_axis,
        "camera_distance_px": dist_factor * max(h, w), "wrinkles": wrinkles, "curl": curl,
        "folds": folds, "margin_frac": margin_frac,
    }
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    th = np.deg2rad(angle)
    rot = np.array([[np.cos(th), np.sin(th), 0.0], [-np.sin(th), np.cos(th), 0.0], [0, 0, 1.0]])
    centre = _translate(-cx, -cy)
    if perspective == 0.0 and margin_frac == 0.0:
        homography = _translate(cx, cy) @ rot @ centre
        if abs(angle % 360.0) < 1e-12:
            homography = np.eye(3)
        return Warp((h, w), (h, w), homography, field, step, params)

    persp = _perspective(tilt, tilt_axis, dist_factor * max(h, w)) if tilt > 0 else np.eye(3)
    pre = persp @ rot @ centre
    # Outline of the sheet (pixel edges) in the displaced plane, then through `pre`.
    n = 64
    t = np.linspace(0.0, 1.0, n)
    x0, x1, y0, y1 = -0.5, w - 0.5, -0.5, h - 0.5
    outline = np.concatenate([
        np.stack([x0 + t * (x1 - x0), np.full(n, y0)], 1),
        np.stack([x0 + t * (x1 - x0), np.full(n, y1)], 1),
        np.stack([np.full(n, x0), y0 + t * (y1 - y0)], 1),
        np.stack([np.full(n, x1), y0 + t * (y1 - y0)], 1),
    ])
    tmp = Warp((h, w), (h, w), np.eye(3), field, step)
    pts = _apply_h(pre, tmp.map_points(outline))
    xmin, ymin = pts.min(0)
    xmax, ymax = pts.max(0)
    margin = max(margin_frac, _PERSPECTIVE_MIN_MARGIN if perspective > 0 else 0.0)
    bw, bh = (xmax - xmin) * (1 + 2 * margin), (ymax - ymin) * (1 + 2 * margin)
    scale = max(h, w) / max(bw, bh)
    wo, ho = max(1, int(round(bw * scale))), max(1, int(round(bh * scale)))
    fit = (_translate((wo - 1) / 2.0, (ho - 1) / 2.0) @ np.diag([scale, scale, 1.0])
           @ _translate(-(xmin + xmax) / 2.0, -(ymin + ymax) / 2.0))
    params["scale"] = float(scale)
    return Warp((h, w), (ho, wo), fit @ pre, field, step, params)


def apply_warp(canvas: SheetCanvas, warp: Warp,
               background: tuple[int, int, int] | np.ndarray | None = None) -> SheetCanvas:
    """Resample a canvas through a warp.

    The image is resampled bilinearly with the sheet's ``paper`` mask as
    premultiplied alpha, so the sheet edge is anti-aliased against the scene;
    ``classes`` and ``instances`` are resampled by nearest neighbour. Output
    pixels whose paper coverage is below one half have ``paper`` False and
    class ``BACKGROUND`` and instance 0 (torn-off parts included).

    Parameters
    ----------
    canvas : SheetCanvas
        Flat sheet of shape ``warp.sheet_shape``.
    warp : Warp
        The distortion; an identity warp returns `canvas` itself untouched.
    background : tuple of int or ndarray, optional
        Scene outside the sheet: an RGB colour or an (H_out, W_out, 3) uint8
        image. Default :data:`DEFAULT_SCENE_RGB`.

    Returns
    -------
    SheetCanvas
        A new canvas of shape ``warp.output_shape`` with the same ``px_per_mm``.
    """
    if canvas.shape != warp.sheet_shape:
        raise ValueError(f"canvas shape {canvas.shape} != warp sheet shape {warp.sheet_shape}")
    if warp.is_identity:
        return canvas
    ho, wo = warp.output_shape
    maps = warp.backward_map()
    paper = canvas.paper
    if paper.all():
        rgba = cv2.cvtColor(canvas.image, cv2.COLOR_RGB2RGBA)  # alpha 255
    else:  # paper mask as alpha, colour premultiplied
        p255 = np.ascontiguousarray(paper).view(np.uint8) * np.uint8(255)
        rgb = cv2.bitwise_and(canvas.image, cv2.cvtColor(p255, cv2.COLOR_GRAY2RGB))
        rgba = cv2.merge([rgb, p255])
    out = cv2.remap(rgba, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=(0, 0, 0, 0))
    labels = cv2.remap(cv2.merge([canvas.classes, canvas.instances]), maps, None,
                       cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0))
    alpha = cv2.extractChannel(out, 3)
    image = cv2.cvtColor(out, cv2.COLOR_RGBA2RGB)
    inv3 = cv2.cvtColor(cv2.subtract(255, alpha), cv2.COLOR_GRAY2RGB)
    if background is None:
        background = DEFAULT_SCENE_RGB
    if isinstance(background, np.ndarray) and background.ndim == 3:
        if background.shape != (ho, wo, 3):
            raise ValueError("background image must have the output shape (H_out, W_out, 3)")
        term = cv2.multiply(inv3, background.astype(np.uint8), scale=1.0 / 255.0)
    else:
        bg = np.asarray(background, np.float64).reshape(3)
        lut = np.rint(np.arange(256.0)[:, None] * bg[None, :] / 255.0)
        term = cv2.LUT(inv3, lut.astype(np.uint8).reshape(256, 1, 3))
    image = cv2.add(image, term)
    _, p255_out = cv2.threshold(alpha, 127, 255, cv2.THRESH_BINARY)
    classes, instances = cv2.split(labels)
    classes = cv2.bitwise_and(classes, p255_out)  # BACKGROUND == 0 off the paper
    instances = cv2.bitwise_and(instances, p255_out)
    paper_out = p255_out > 0
    return SheetCanvas(image=image, classes=classes, instances=instances, paper=paper_out,
                       px_per_mm=canvas.px_per_mm)
