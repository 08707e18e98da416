"""Stage 3 of the digitizer: rotation of the grid, and turning the sheet upright.

The grid's two line families are straight and perpendicular. For a trial
angle, every grid pixel is projected onto the axis across one family; when
the angle is right the lines fall into narrow bins and the sum of squared
bin counts (the "sharpness" of the projection) peaks. Both families vote:
horizontal lines through ``y - x tan(a)``, vertical lines through
``x + y tan(a)``. A coarse-to-fine search over ±45° with a parabolic fit at
the end gives the angle to a few thousandths of a degree on a clean grid.

Whether the sheet lies turned by a quarter is decided from the trace (rows
of trace are wide components, see :func:`quarter_turns`); a half turn is
recognised later, by a calibration pulse that hangs down from its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Rotation", "estimate_skew", "rotate_image", "rotation_of", "rotate_points",
           "quarter_turns"]


@dataclass
class Rotation:
    """An in-plane rotation about the image centre.

    Parameters
    ----------
    angle_deg : float
        Counter-clockwise rotation that was undone, in degrees.
    matrix : ndarray, shape (2, 3)
        Affine map from input-image px to the upright image px.
    shape_in, shape_out : tuple of int
        (height, width) before and after, in px.
    """

    angle_deg: float
    matrix: np.ndarray
    shape_in: tuple[int, int]
    shape_out: tuple[int, int]

    def to_input(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map upright-image points (px) back to input-image px."""
        inv = cv2.invertAffineTransform(self.matrix)
        return rotate_points(inv, x, y)


def rotate_points(matrix: np.ndarray, x: np.ndarray, y: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 2x3 affine matrix to point coordinates (px)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    return (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2],
            matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2])


def _sharpness(xs: np.ndarray, ys: np.ndarray, w: np.ndarray, angles_deg: np.ndarray,
               bin_px: float) -> np.ndarray:
    out = np.empty(angles_deg.size)
    for i, a in enumerate(np.deg2rad(angles_deg)):
        t = np.tan(a)
        score = 0.0
        for proj in (ys - xs * t, xs + ys * t):
            idx = np.floor((proj - proj.min()) / bin_px).astype(np.int64)
            h = np.bincount(idx, weights=w)
            score += float(np.dot(h, h))
        out[i] = score
    return out


def estimate_skew(grid: np.ndarray, max_angle_deg: float = 45.0, max_points: int = 150_000
                  ) -> tuple[float, float]:
    """Angle of the grid lines to the image axes.

    Parameters
    ----------
    grid : ndarray, shape (H, W)
        Grid evidence (float in [0, 1] or bool).
    max_angle_deg : float
        Search range, ± in degrees.
    max_points : int
        Grid pixels used (a regular subsample of the strongest ones).

    Returns
    -------
    angle_deg : float
        Counter-clockwise angle of the grid in the image, in degrees, within
        ±45° (a quarter turn cannot be told from the grid alone).
    confidence : float
        Peak sharpness over the median sharpness of the coarse search
        (about 1 for no grid, well above 1.5 for a clear grid).
    """
    g = np.asarray(grid, np.float32)
    thr = max(float(np.percentile(g, 97)) * 0.5, 0.05)
    ys, xs = np.nonzero(g > thr)
    if xs.size < 100:
        return 0.0, 0.0
    w = g[ys, xs].astype(float)
    step = max(1, xs.size // max_points)
    xs, ys, w = xs[::step].astype(float), ys[::step].astype(float), w[::step]
    h, wd = g.shape
    bin_px = max(1.0, max(h, wd) / 2000.0)
    coarse = np.arange(-max_angle_deg, max_angle_deg + 1e-9, 1.0)
    # The coarse search needs only a sample of the points; the fine steps use them all.
    s = _sharpness(xs[::3], ys[::3], w[::3], coarse, bin_px * 2)
    best = float(coarse[int(np.argmax(s))])
    confidence = float(s.max() / max(np.median(s), 1e-12))
    for span, stepdeg in ((1.0, 0.1), (0.12, 0.01)):
        fine = np.arange(best - span, best + span + 1e-9, stepdeg)
        s = _sharpness(xs, ys, w, fine, bin_px)
        k = int(np.argmax(s))
        best = float(fine[k])
        if 0 < k < fine.size - 1:
            denom = s[k - 1] - 2 * s[k] + s[k + 1]
            if denom < 0:
                best += float(0.5 * (s[k - 1] - s[k + 1]) / denom * stepdeg)
    # The projection above is for image y pointing down: a line going up to the right
    # (counter-clockwise on screen) has y - x tan(a) constant with a < 0.
    return -best, confidence


def rotation_of(shape_hw: tuple[int, int], angle_deg: float, expand: bool = True) -> Rotation:
    """The rotation :func:`rotate_image` applies to an image of `shape_hw` px.

    Parameters
    ----------
    shape_hw : tuple of int
        (height, width) of the image in px.
    angle_deg : float
        Skew to undo, in degrees (counter-clockwise positive).
    expand : bool
        Enlarge the output so no corner is cut off.

    Returns
    -------
    Rotation
    """
    h, w = int(shape_hw[0]), int(shape_hw[1])
    m = cv2.getRotationMatrix2D((w / 2.0 - 0.5, h / 2.0 - 0.5), -angle_deg, 1.0)
    if expand:
        c, s = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
        m[0, 2] += nw / 2.0 - w / 2.0
        m[1, 2] += nh / 2.0 - h / 2.0
    else:
        nw, nh = w, h
    return Rotation(float(angle_deg), m, (h, w), (nh, nw))


def rotate_image(image: np.ndarray, angle_deg: float, border: float | tuple = 0,
                 interpolation: int = cv2.INTER_LINEAR, expand: bool = True
                 ) -> tuple[np.ndarray, Rotation]:
    """Rotate an image clockwise by `angle_deg` (undoing a counter-clockwise skew).

    Parameters
    ----------
    image : ndarray
        2-D or 3-D image.
    angle_deg : float
        Skew to undo, in degrees (counter-clockwise positive).
    border : float or tuple
        Fill value outside the input.
    interpolation : int
        OpenCV interpolation flag.
    expand : bool
        Enlarge the output so no corner is cut off.

    Returns
    -------
    rotated : ndarray
    rotation : Rotation
    """
    rotation = rotation_of(image.shape[:2], angle_deg, expand)
    nh, nw = rotation.shape_out
    if isinstance(border, tuple):
        border_value = border
    else:
        border_value = (border,) * (image.shape[2] if image.ndim == 3 else 1)
    out = cv2.warpAffine(image, rotation.matrix, (nw, nh), flags=interpolation,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    return out, rotation


def _peakiness(profile: np.ndarray) -> float:
    """Share of a (smoothed) ink profile held by its densest tenth of positions."""
    p = profile.astype(np.float32).reshape(-1, 1)
    sigma = max(1.0, 0.003 * p.shape[0])
    p = cv2.GaussianBlur(p, (1, 0), sigma).ravel()
    total = float(p.sum())
    if total <= 0:
        return 0.0
    k = max(1, p.size // 10)
    return float(np.sort(p)[-k:].sum()) / total


def quarter_turns(trace: np.ndarray) -> int:
    """0 if trace rows run along x, 1 if they run along y (sheet turned a quarter).

    Three cues vote (+1 turned, -1 upright, 0 undecided); the sheet is turned
    if their sum is positive:

    - Ink profiles: rows of trace put most of their ink near their baselines,
      so the profile across the rows is peaked and the one along them flat;
      the clearly (by a quarter) more peaked axis is taken as the one across
      the rows. On 12x1 sheets at 20 mm/mV the QRS complexes of all rows,
      aligned in time, peak the other profile too.
    - Elongated large components (longer than a tenth of the image and at
      least twice as long as wide), mostly rows of trace, vote with their areas
      and orientation. Blocks of rows joined by tall QRS complexes are not
      elongated and do not vote.
    - The image's shape: 12-lead sheets are landscape.
    """
    ink = trace.astype(bool)
    hh, ww = ink.shape
    across_y = _peakiness(ink.sum(axis=1))     # profile over y: peaked if rows run along x
    across_x = _peakiness(ink.sum(axis=0))
    profile = 1 if across_x > 1.25 * across_y else (-1 if across_y > 1.25 * across_x else 0)
    shape = 1 if hh > 1.1 * ww else (-1 if ww > 1.1 * hh else 0)
    comps = 0
    m = cv2.dilate(trace.astype(np.uint8), np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n > 1:
        w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
        area = stats[1:, cv2.CC_STAT_AREA].astype(float)
        big = (np.maximum(w, h) >= 0.1 * max(hh, ww)) & (np.maximum(w, h) >= 2 * np.minimum(w, h))
        vote = float(np.sum(np.sign(w - h)[big] * area[big]))
        total = float(np.sum(area[big]))
        if total > 0:
            comps = 1 if vote < -0.3 * total else (-1 if vote > 0.3 * total else 0)
    return 1 if profile + comps + shape > 0 else 0
