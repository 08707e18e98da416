"""Stage 2a of the digitizer: perspective correction and crop to the paper.

A phone photo shows the sheet as a quadrilateral on some background (a desk,
wood, fabric), seen at an angle. This stage finds the paper's four corners and
maps them to an upright rectangle with a homography, so that the later stages
(deskew, grid scale, rows) see a flat, axis-parallel sheet.

How the paper is found:

1. On a copy of about :data:`WORK_SIDE_PX` px a side (median-blurred, so the
   grid and the traces are gone), GrabCut separates the paper from the scene,
   seeded with the image border as probable scene and the centre as paper.
   Its colour models cope with any background colour, textured or plain, and
   with uneven light across the paper.
2. The largest paper component is reduced to a quadrilateral (the polygon
   approximation of its convex hull), and each side is refitted as a straight
   line through the contour points along its middle part, so a torn or curled
   corner does not move the corner point.
3. The rectangle's aspect ratio is recovered from the quadrilateral by the
   pinhole-camera relation of a rectangle's corners (principal point at the
   image centre, unknown focal length): under perspective the lengths of the
   sides alone would stretch one axis by up to 20 % at 30 degrees of tilt.

A scan (paper filling the frame, corners at the image corners), a paper that
already lies upright, and any shape that is not clearly a quadrilateral are
left alone: :func:`find_paper` returns
``None`` and the image goes on unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Rectification", "find_paper", "rectangle_aspect", "paper_homography",
           "rectify", "map_points", "WORK_SIDE_PX"]

#: Longer side (px) of the copy the paper is segmented on.
WORK_SIDE_PX = 320

#: Corners closer than this fraction of the image size to the image corners mean "no
#: background around the paper" (a scan or a tight crop).
CORNER_MARGIN = 0.03

#: Colour difference (CIE76 delta E) within which a border pixel has the paper's colour.
PAPER_DELTA_E = 8.0

#: Fraction of a border band with the paper's colour that makes that side "paper".
PAPER_SIDE_FRACTION = 0.3

#: Least colour difference (delta E) between the scene just outside a side of the paper
#: and the paper just inside it.
EDGE_DELTA_E = 8.0

#: Largest corner offset (fraction of the image size) from an upright rectangle for which
#: nothing is corrected.
UPRIGHT_TOLERANCE = 0.01

#: Least fraction of the image the paper must cover to be trusted.
MIN_PAPER_FRACTION = 0.12

#: Least ratio of the component's area to its quadrilateral's area, and of the
#: quadrilateral's to the component's (a paper is a quadrilateral, a disc is not).
MIN_QUAD_FILL = 0.93


@dataclass
class Rectification:
    """A perspective correction of one image.

    Parameters
    ----------
    homography : ndarray, shape (3, 3)
        Map from input-image px to rectified-image px.
    shape_out : tuple of int
        (height, width) of the rectified image in px.
    corners_px : ndarray, shape (4, 2)
        Paper corners in input-image px (x, y), in the order top-left,
        top-right, bottom-right, bottom-left.
    aspect : float
        Width over height of the paper as recovered (dimensionless).
    """

    homography: np.ndarray
    shape_out: tuple[int, int]
    corners_px: np.ndarray
    aspect: float

    def to_input(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map rectified-image points (px) back to input-image px."""
        return map_points(np.linalg.inv(self.homography), x, y)


def map_points(homography: np.ndarray, x: np.ndarray, y: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 3x3 homography to point coordinates (px); NaN stays NaN."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    h = np.asarray(homography, float)
    d = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    return ((h[0, 0] * x + h[0, 1] * y + h[0, 2]) / d,
            (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / d)


def _small_copy(rgb: np.ndarray, side_px: int) -> tuple[np.ndarray, float]:
    """Downscaled, median-blurred copy (grid and traces gone) and its scale."""
    h, w = rgb.shape[:2]
    s = min(1.0, side_px / max(h, w))
    small = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    return cv2.medianBlur(small, 5), s


def _lab(small: np.ndarray) -> np.ndarray:
    """CIE Lab of an RGB uint8 image, float32 (L in 0-100)."""
    return cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _border_is_paper(lab: np.ndarray) -> bool:
    """True if the image border has the colour of the paper at the centre (a scan).

    A side counts as paper where at least :data:`PAPER_SIDE_FRACTION` of a thin
    band along it is within :data:`PAPER_DELTA_E` of the paper's colour; a
    photo of a sheet on a desk has scene along at least two sides.
    """
    h, w = lab.shape[:2]
    centre = lab[h // 4:3 * h // 4, w // 4:3 * w // 4].reshape(-1, 3)
    # The paper is the bright mode of the centre (the grid and ink are darker).
    paper = np.median(centre[centre[:, 0] >= np.percentile(centre[:, 0], 60)], axis=0)
    b = max(2, int(0.02 * min(h, w)))
    sides = (lab[:b], lab[-b:], lab[:, :b], lab[:, -b:])
    papery = [float(np.mean(np.linalg.norm(x.reshape(-1, 3) - paper, axis=1) < PAPER_DELTA_E))
              for x in sides]
    return sum(f >= PAPER_SIDE_FRACTION for f in papery) >= 3


def _sides_contrast(lab: np.ndarray, quad: np.ndarray) -> tuple[int, int]:
    """Sides of `quad` with the scene outside clearly unlike the paper inside.

    Returns
    -------
    contrasted, open_sides : int
        Number of sides whose outside differs from their inside by at least
        :data:`EDGE_DELTA_E`, and number of sides with no scene outside them
        (on the image border).
    """
    h, w = lab.shape[:2]
    off = max(2.0, 0.025 * min(h, w))
    centre = quad.mean(axis=0)
    contrasted = open_sides = 0
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        t = np.linspace(0.15, 0.85, 24)[:, None]
        pts = a + t * (b - a)
        d = b - a
        normal = np.array([d[1], -d[0]]) / max(np.hypot(*d), 1e-9)
        if np.dot(normal, pts.mean(axis=0) - centre) < 0:
            normal = -normal
        out = np.round(pts + off * normal).astype(int)
        inn = np.round(pts - off * normal).astype(int)
        ok = (out[:, 0] >= 0) & (out[:, 0] < w) & (out[:, 1] >= 0) & (out[:, 1] < h)
        ok &= (inn[:, 0] >= 0) & (inn[:, 0] < w) & (inn[:, 1] >= 0) & (inn[:, 1] < h)
        if ok.mean() < 0.5:
            open_sides += 1
            continue
        lo = np.median(lab[out[ok, 1], out[ok, 0]], axis=0)
        li = np.median(lab[inn[ok, 1], inn[ok, 0]], axis=0)
        if np.linalg.norm(lo - li) >= EDGE_DELTA_E:
            contrasted += 1
    return contrasted, open_sides


def _paper_mask(small: np.ndarray) -> np.ndarray:
    """Foreground (paper) mask of the small copy, by GrabCut."""
    sh, sw = small.shape[:2]
    seed = np.full((sh, sw), cv2.GC_PR_FGD, np.uint8)
    b = max(2, int(0.03 * min(sh, sw)))
    seed[:b] = seed[-b:] = cv2.GC_PR_BGD
    seed[:, :b] = seed[:, -b:] = cv2.GC_PR_BGD
    seed[:1] = seed[-1:] = cv2.GC_BGD
    seed[:, :1] = seed[:, -1:] = cv2.GC_BGD
    cy, cx = sh // 2, sw // 2
    seed[cy - sh // 8:cy + sh // 8, cx - sw // 8:cx + sw // 8] = cv2.GC_FGD
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    # GrabCut's colour models are fitted with OpenCV's own k-means, which draws from the
    # global RNG: seed it so that a sheet gives the same corners every time.
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(small[:, :, ::-1]), seed, None, bgd, fgd, 4,
                cv2.GC_INIT_WITH_MASK)
    return ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).astype(np.uint8)


def _order_corners(quad: np.ndarray) -> np.ndarray:
    """Order four points top-left, top-right, bottom-right, bottom-left."""
    c = quad.mean(axis=0)
    ang = np.arctan2(quad[:, 1] - c[1], quad[:, 0] - c[0])
    q = quad[np.argsort(ang)]  # clockwise in image coordinates (y down), from -pi
    start = int(np.argmin(q[:, 0] + q[:, 1]))
    return np.roll(q, -start, axis=0)


def _line_through(points: np.ndarray) -> np.ndarray | None:
    """Homogeneous line (a, b, c) with a x + b y + c = 0 fitted robustly to points."""
    if len(points) < 2:
        return None
    vx, vy, x0, y0 = cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01,
                                 0.01).ravel()
    return np.array([vy, -vx, vx * y0 - vy * x0], float)


def _refine_sides(contour: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Refit each side of `quad` to the contour points near its middle 70 %."""
    pts = contour.reshape(-1, 2).astype(float)
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        d = b - a
        length = float(np.hypot(*d))
        if length < 4:
            return quad
        u = d / length
        rel = pts - a
        along = rel @ u
        across = np.abs(rel[:, 0] * u[1] - rel[:, 1] * u[0])
        near = (along > 0.15 * length) & (along < 0.85 * length) & (across < 0.03 * length + 2)
        line = _line_through(pts[near])
        if line is None:
            return quad
        lines.append(line)
    out = np.empty_like(quad)
    for i in range(4):
        p = np.cross(lines[(i - 1) % 4], lines[i])
        if abs(p[2]) < 1e-9:
            return quad
        out[i] = p[:2] / p[2]
    # A refit that moves a corner far (a side that was not straight) is not trusted.
    if np.max(np.hypot(*(out - quad).T)) > 0.08 * np.ptp(quad[:, 0]):
        return quad
    return out


def find_paper(rgb: np.ndarray, side_px: int = WORK_SIDE_PX) -> np.ndarray | None:
    """Corners of the paper in a photo, or None if there is no clear paper outline.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        The image.
    side_px : int
        Longer side of the working copy in px.

    Returns
    -------
    ndarray, shape (4, 2), or None
        Corners (x, y) in px of `rgb`, top-left, top-right, bottom-right,
        bottom-left; None for a scan (paper filling the frame) or when the
        paper is not a clear quadrilateral.
    """
    h, w = rgb.shape[:2]
    if min(h, w) < 64:
        return None
    small, s = _small_copy(rgb, side_px)
    lab_img = _lab(small)
    if _border_is_paper(lab_img):
        return None  # paper all round the border: a scan, nothing to correct
    fg = _paper_mask(small)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    if n < 2:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    comp = (labels == k).astype(np.uint8)
    if comp.mean() < MIN_PAPER_FRACTION:
        return None
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(contour)
    peri = cv2.arcLength(hull, True)
    quad = None
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(float)
            break
    if quad is None:
        return None
    quad = _order_corners(quad)
    ratio = cv2.contourArea(contour) / max(cv2.contourArea(quad.astype(np.float32)), 1.0)
    if not MIN_QUAD_FILL <= ratio <= 1.0 / MIN_QUAD_FILL:
        return None
    quad = _refine_sides(contour, quad)
    sh, sw = comp.shape
    frame = np.array([[0, 0], [sw - 1, 0], [sw - 1, sh - 1], [0, sh - 1]], float)
    gap = np.abs(quad - frame) / np.array([sw, sh])
    if np.all(np.max(gap, axis=1) < CORNER_MARGIN):
        return None  # paper fills the frame: a scan
    # An upright rectangle needs no correction (a screen capture whose white margin
    # frames a full-bleed grid would otherwise be cropped to its grid).
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    if np.max(np.abs(quad - box) / np.array([sw, sh])) < UPRIGHT_TOLERANCE:
        return None
    # The corners lie in the image (a quad reaching far out of it is no paper outline),
    # and the scene outside the sides looks unlike the paper inside them.
    if np.any((quad < -CORNER_MARGIN * np.array([sw, sh]))
              | (quad > (1 + CORNER_MARGIN) * np.array([sw, sh]))):
        return None
    contrasted, open_sides = _sides_contrast(lab_img, quad)
    if contrasted < 2 or contrasted + open_sides < 4:
        return None
    # Back to full-resolution px (pixel centres of the small copy).
    return (quad + 0.5) / s - 0.5


def rectangle_aspect(corners: np.ndarray, image_shape: tuple[int, int]) -> float:
    """Width over height of the rectangle whose perspective image is `corners`.

    Uses the pinhole relation of a rectangle's four corners with the principal
    point at the image centre and an unknown focal length (the focal length
    follows from the orthogonality of the rectangle's sides). Where the view
    is too close to frontal for the focal length to be defined, the mean side
    lengths are used.

    Parameters
    ----------
    corners : ndarray, shape (4, 2)
        Corners in px: top-left, top-right, bottom-right, bottom-left.
    image_shape : tuple of int
        (height, width) of the image in px.

    Returns
    -------
    float
        Width / height.
    """
    tl, tr, br, bl = (np.array([p[0], p[1], 1.0]) for p in np.asarray(corners, float))
    m1, m2, m3, m4 = tl, tr, bl, br
    k2 = np.dot(np.cross(m1, m4), m3) / np.dot(np.cross(m2, m4), m3)
    k3 = np.dot(np.cross(m1, m4), m2) / np.dot(np.cross(m3, m4), m2)
    n2 = k2 * m2 - m1
    n3 = k3 * m3 - m1
    sides = np.asarray(corners, float)
    side_w = 0.5 * (np.hypot(*(sides[1] - sides[0])) + np.hypot(*(sides[2] - sides[3])))
    side_h = 0.5 * (np.hypot(*(sides[3] - sides[0])) + np.hypot(*(sides[2] - sides[1])))
    fallback = side_w / max(side_h, 1e-9)
    u0, v0 = (image_shape[1] - 1) / 2.0, (image_shape[0] - 1) / 2.0
    denom = n2[2] * n3[2]
    if abs(denom) < 1e-12:
        return fallback
    f2 = -((n2[0] * n3[0] - (n2[0] * n3[2] + n2[2] * n3[0]) * u0 + n2[2] * n3[2] * u0 ** 2)
           + (n2[1] * n3[1] - (n2[1] * n3[2] + n2[2] * n3[1]) * v0 + n2[2] * n3[2] * v0 ** 2)
           ) / denom
    # A focal length far outside what cameras have (or imaginary) means the perspective
    # is too weak to say: the side lengths are then as good.
    diag = float(np.hypot(*image_shape))
    if not (f2 > 0 and 0.3 * diag < np.sqrt(f2) < 20 * diag):
        return fallback
    # |A^-1 n|^2 with A = [[f, 0, u0], [0, f, v0], [0, 0, 1]].
    f = np.sqrt(f2)

    def norm2(n: np.ndarray) -> float:
        return ((n[0] - u0 * n[2]) / f) ** 2 + ((n[1] - v0 * n[2]) / f) ** 2 + n[2] ** 2

    aspect = float(np.sqrt(norm2(n2) / norm2(n3)))
    if not np.isfinite(aspect) or not (0.5 * fallback < aspect < 2.0 * fallback):
        return fallback
    return aspect


def paper_homography(corners: np.ndarray, image_shape: tuple[int, int]
                     ) -> tuple[np.ndarray, tuple[int, int], float]:
    """Homography taking the paper's corners to an upright rectangle.

    The rectangle keeps the resolution of the paper's longer side in the image
    and the aspect ratio from :func:`rectangle_aspect`.

    Returns
    -------
    homography : ndarray, shape (3, 3)
        Input px to rectified px.
    shape_out : tuple of int
        (height, width) of the rectified image in px.
    aspect : float
        Width / height used.
    """
    c = np.asarray(corners, float)
    aspect = rectangle_aspect(c, image_shape)
    side_w = max(np.hypot(*(c[1] - c[0])), np.hypot(*(c[2] - c[3])))
    side_h = max(np.hypot(*(c[3] - c[0])), np.hypot(*(c[2] - c[1])))
    # Keep the finer of the two sampled resolutions.
    if side_w / aspect >= side_h:
        w_out, h_out = side_w, side_w / aspect
    else:
        w_out, h_out = side_h * aspect, side_h
    w_i, h_i = max(int(round(w_out)), 8), max(int(round(h_out)), 8)
    dst = np.array([[0, 0], [w_i - 1, 0], [w_i - 1, h_i - 1], [0, h_i - 1]], np.float32)
    hom = cv2.getPerspectiveTransform(c.astype(np.float32), dst)
    return hom, (h_i, w_i), float(aspect)


def rectify(rgb: np.ndarray, max_side_px: int | None = None
            ) -> tuple[np.ndarray, Rectification | None]:
    """Undo the perspective of a photographed sheet and crop it to the paper.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        The image.
    max_side_px : int, optional
        Upper bound on the longer side of the output in px (the homography
        is scaled down to meet it).

    Returns
    -------
    image : ndarray
        The rectified image, or `rgb` itself when no paper outline was found.
    rectification : Rectification or None
        The correction applied, or None.
    """
    corners = find_paper(rgb)
    if corners is None:
        return rgb, None
    hom, (h_o, w_o), aspect = paper_homography(corners, rgb.shape[:2])
    if max_side_px is not None and max(h_o, w_o) > max_side_px:
        f = max_side_px / max(h_o, w_o)
        hom = np.diag([f, f, 1.0]) @ hom
        h_o, w_o = max(int(round(h_o * f)), 8), max(int(round(w_o * f)), 8)
    out = cv2.warpPerspective(rgb, hom, (w_o, h_o), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return out, Rectification(hom, (h_o, w_o), corners, aspect)
