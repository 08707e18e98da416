"""Realistic artifacts for synthetic paper-ECG sheets, keeping ground truth pixel-exact.

Each function takes a :class:`~ecgdigitize.synth.canvas.SheetCanvas`, an
explicit :class:`numpy.random.Generator` and an ``intensity`` in [0, 1] (0:
no effect), modifies the canvas in place where convenient and returns it. The
result depends only on the inputs and the generator state.

Two groups:

* overlays on the flat sheet, applied before the geometric warp:
  :func:`add_handwriting`, :func:`add_stamp` (both label their ink ``TEXT``),
  :func:`add_stains`, :func:`add_creases` (image only) and
  :func:`add_torn_corners` (removes paper);
* photometric effects on the final image, after the warp (image only):
  :func:`fill_background`, :func:`add_lighting`, :func:`add_blur`,
  :func:`add_sensor_noise`, :func:`jpeg_compress` and :func:`to_bw`.

A sensible order is: overlays (handwriting, stamp, stains, creases, torn
corners), ``apply_warp``, ``fill_background``, ``add_lighting``, ``add_blur``,
``add_sensor_noise``, then ``to_bw`` or ``jpeg_compress``.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from scipy.special import ndtri

from .canvas import BACKGROUND, TEXT, TRACE, SheetCanvas

__all__ = [
    "add_handwriting",
    "add_stamp",
    "add_stains",
    "add_creases",
    "add_torn_corners",
    "add_lighting",
    "fill_background",
    "add_blur",
    "add_sensor_noise",
    "jpeg_compress",
    "to_bw",
]

_HANDWRITTEN_WORDS = (
    "Sinus rhythm", "AF", "ok", "normal", "STEMI?", "repeat", "Dr. K", "LBBB", "old MI",
    "HR 72", "review", "seen", "12/03", "copy", "pt stable", "QT long?", "compare", "urgent",
    "MS", "JB", "no change", "RBBB", "ST dep", "cf prev", "V2?", "ischemia", "done", "10:45",
    "NSR", "LVH", "bed 4", "ok to d/c", "pre-op", "?artefact",
)
_STAMP_WORDS = (
    "RECEIVED", "REVIEWED", "COPY", "CONFIDENTIAL", "SCANNED", "VERIFIED", "ARCHIVE",
    "CARDIOLOGY", "ECG LAB", "MEDICAL RECORDS", "ORIGINAL", "FILED", "APPROVED",
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_STAMP_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                cv2.FONT_HERSHEY_TRIPLEX)
_SCENE_RGB = (72, 70, 68)


# ---------------------------------------------------------------- helpers
def _odd(n: float) -> int:
    k = max(1, int(round(n)))
    return k if k % 2 else k + 1


def _blend_patch(canvas: SheetCanvas, cov: np.ndarray, x0: int, y0: int,
                 rgb: tuple[float, float, float] | np.ndarray, label: int | None,
                 opacity: float = 1.0, threshold: float = 0.5) -> None:
    """Alpha-blend ink with float coverage patch `cov` placed with its top-left at (x0, y0).

    Only the part of the patch inside the canvas is used. Pixels whose ink
    coverage (before `opacity`) exceeds `threshold` take class `label`.
    """
    h, w = canvas.shape
    ph, pw = cov.shape
    ax0, ay0 = max(0, x0), max(0, y0)
    ax1, ay1 = min(w, x0 + pw), min(h, y0 + ph)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    c = cov[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    roi = canvas.image[ay0:ay1, ax0:ax1]
    a = (c * np.float32(opacity))[..., None]
    ink = np.asarray(rgb, np.float32)
    roi[:] = np.clip(roi.astype(np.float32) * (1.0 - a) + ink * a + 0.5, 0, 255).astype(np.uint8)
    if label is not None:
        canvas.classes[ay0:ay1, ax0:ax1][c > threshold] = label


def _smooth_noise(rng: np.random.Generator, cells_hw: tuple[int, int], out_hw: tuple[int, int],
                  interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Smooth float32 noise of shape `out_hw`, about unit amplitude, from a coarse Gaussian grid."""
    gh, gw = max(2, int(cells_hw[0])), max(2, int(cells_hw[1]))
    g = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(g, (max(1, int(out_hw[1])), max(1, int(out_hw[0]))),
                      interpolation=interpolation)


def _smooth_walk(rng: np.random.Generator, n: int, sigma: float, smooth: int) -> np.ndarray:
    """A smoothed 1-D random walk of length `n` (box-filtered increments)."""
    inc = rng.normal(0.0, sigma, n + smooth)
    if smooth > 1:
        inc = np.convolve(inc, np.ones(smooth) / smooth, mode="valid")[:n]
    else:
        inc = inc[:n]
    return np.cumsum(inc)


def _trace_points(canvas: SheetCanvas, stride: int = 4) -> np.ndarray:
    """(N, 2) ``(x, y)`` of trace pixels on a sub-sampled grid (may be empty)."""
    ys, xs = np.nonzero(canvas.classes[::stride, ::stride] == TRACE)
    return np.stack([xs * stride, ys * stride], axis=1)


def _pick_ink(rng: np.random.Generator) -> np.ndarray:
    """A ballpoint/felt-pen ink colour: blue or black, with jitter."""
    if rng.random() < 0.6:
        base = np.array([25.0, 45.0, 150.0]) + rng.normal(0, [8, 12, 25])
    else:
        base = np.array([28.0, 28.0, 35.0]) + rng.normal(0, 6, 3)
    return np.clip(base, 0, 255)


# ------------------------------------------------------------ handwriting
def _render_word(rng: np.random.Generator, ppm: float) -> np.ndarray:
    """A handwritten-looking word as a float32 coverage patch (wobbled, slanted, rotated)."""
    text = str(rng.choice(_HANDWRITTEN_WORDS))
    font = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX
    cap_px = rng.uniform(3.0, 7.0) * ppm
    (_, base_h), _ = cv2.getTextSize("H", font, 1.0, 1)
    scale = cap_px / max(base_h, 1)
    thick = max(1, int(round(rng.uniform(0.25, 0.5) * ppm)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = int(thick + 0.4 * cap_px) + 2
    ph, pw = th + base + 2 * pad, tw + 2 * pad
    patch = np.zeros((ph, pw), np.uint8)
    cv2.putText(patch, text, (pad, pad + th), font, scale, 255, thick, cv2.LINE_AA)
    # Smooth wobble so the glyphs look less like a font.
    amp = 0.06 * cap_px
    cells = (2, max(2, int(pw / max(cap_px, 1.0)) + 2))
    dx = _smooth_noise(rng, cells, (ph, pw)) * amp
    dy = _smooth_noise(rng, cells, (ph, pw)) * amp
    gx, gy = np.meshgrid(np.arange(pw, dtype=np.float32), np.arange(ph, dtype=np.float32))
    patch = cv2.remap(patch, gx + dx, gy + dy, cv2.INTER_LINEAR)
    angle = rng.normal(0.0, 6.0) + (rng.uniform(-40, 40) if rng.random() < 0.15 else 0.0)
    shear = rng.uniform(-0.35, 0.1)
    return _affine_patch(patch, angle, shear).astype(np.float32) * (1.0 / 255.0)


def _affine_patch(patch: np.ndarray, angle_deg: float, shear: float = 0.0) -> np.ndarray:
    """Rotate (counter-clockwise on screen) and x-shear a patch about its centre, expanding it."""
    ph, pw = patch.shape
    th = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
    a = rot @ np.array([[1.0, shear], [0.0, 1.0]])
    corners = np.array([[0, 0], [pw, 0], [0, ph], [pw, ph]], float) - [pw / 2, ph / 2]
    tc = corners @ a.T
    ow, oh = (int(np.ceil(v)) + 2 for v in (tc.max(0) - tc.min(0)))
    m = np.zeros((2, 3))
    m[:, :2] = a
    m[:, 2] = np.array([ow / 2, oh / 2]) - a @ np.array([pw / 2, ph / 2])
    return cv2.warpAffine(patch, m, (ow, oh), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _curve_points(rng: np.random.Generator, kind: str, ppm: float) -> list[np.ndarray]:
    """Polylines (lists of (N, 2) float arrays, centred near 0) of a pen stroke of `kind`."""
    if kind == "scribble":
        n = int(rng.integers(40, 120))
        length = rng.uniform(10, 45) * ppm
        heading = rng.uniform(0, 2 * np.pi) + _smooth_walk(rng, n, 0.25, 5)
        pts = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * length / n, axis=0)
        if rng.random() < 0.5:  # zig-zag crossing-out
            t = np.arange(n)
            normal = np.stack([-np.sin(heading), np.cos(heading)], 1)
            amp = rng.uniform(1.5, 4.0) * ppm
            pts = pts + normal * (amp * np.sin(t * rng.uniform(0.5, 1.2)))[:, None]
        return [pts - pts.mean(0)]
    if kind == "loop":
        n = 90
        turns = rng.uniform(1.02, 1.25)
        t = np.linspace(0, 2 * np.pi * turns, n) + rng.uniform(0, 2 * np.pi)
        rx, ry = rng.uniform(8, 30) * ppm, rng.uniform(5, 18) * ppm
        jitter = 1.0 + 0.05 * _smooth_walk(rng, n, 0.5, 9)
        pts = np.stack([rx * np.cos(t) * jitter, ry * np.sin(t) * jitter], 1)
        th = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        return [pts @ rot.T]
    if kind == "arrow":
        length = rng.uniform(10, 35) * ppm
        n = 30
        bend = rng.uniform(-0.2, 0.2) * length
        t = np.linspace(0, 1, n)
        pts = np.stack([t * length, bend * np.sin(np.pi * t)], 1)
        d = pts[-1] - pts[-3]
        d /= max(np.linalg.norm(d), 1e-6)
        head = rng.uniform(2.5, 5.0) * ppm
        polys = [pts]
        for s in (-1, 1):
            a = np.deg2rad(180 + s * rng.uniform(20, 35))
            r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            polys.append(np.stack([pts[-1], pts[-1] + head * (r @ d)]))
        th = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        c = pts.mean(0)
        return [(p - c) @ rot.T for p in polys]
    # "mark": a check mark or an underline
    if rng.random() < 0.5:
        s = rng.uniform(3, 8) * ppm
        pts = np.array([[-s, 0], [-0.3 * s, 0.8 * s], [1.4 * s, -1.2 * s]])
        pts += rng.normal(0, 0.08 * s, pts.shape)
        return [pts]
    length = rng.uniform(15, 60) * ppm
    n = 25
    t = np.linspace(-0.5, 0.5, n)
    pts = np.stack([t * length, rng.normal(0, 0.01 * length) + _smooth_walk(rng, n, 0.3, 4)], 1)
    return [pts]


def add_handwriting(canvas: SheetCanvas, rng: np.random.Generator, intensity: float,
                    ink_rgb: tuple[int, int, int] | None = None) -> SheetCanvas:
    """Add pen annotations: script words, scribbles, loops, arrows, check marks, underlines.

    Parameters
    ----------
    canvas : SheetCanvas
        Flat sheet, modified in place.
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        0: nothing. Otherwise ``1 + Poisson(7 * intensity)`` items (about 8 at
        1), each 3-7 mm tall (words) or 10-60 mm long (strokes), pen width
        0.25-0.5 mm; about 40 % of them are placed over a trace.
    ink_rgb : tuple of int, optional
        Ink colour; by default blue or black ballpoint (a second pen with
        probability 0.3).

    Returns
    -------
    SheetCanvas
        `canvas`, with ``classes`` set to ``TEXT`` where the ink coverage
        exceeds one half (``instances`` untouched).
    """
    if intensity <= 0:
        return canvas
    ppm = canvas.px_per_mm
    h, w = canvas.shape
    n_items = 1 + int(rng.poisson(7.0 * min(float(intensity), 1.0)))
    inks = [np.asarray(ink_rgb, float) if ink_rgb is not None else _pick_ink(rng)]
    if ink_rgb is None and rng.random() < 0.3:
        inks.append(_pick_ink(rng))
    traces: np.ndarray | None = None
    for _ in range(n_items):
        kind = str(rng.choice(["word", "scribble", "loop", "arrow", "mark"],
                              p=[0.45, 0.15, 0.15, 0.1, 0.15]))
        ink = inks[int(rng.integers(0, len(inks)))]
        pressure = rng.uniform(0.8, 1.0)
        near_trace = rng.random() < 0.4
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if near_trace:
            if traces is None:
                traces = _trace_points(canvas)
            if len(traces):
                cx, cy = traces[int(rng.integers(0, len(traces)))] + rng.normal(0, 2 * ppm, 2)
        if kind == "word":
            cov = _render_word(rng, ppm)
        else:
            thick = max(1, int(round(rng.uniform(0.25, 0.5) * ppm)))
            polys = _curve_points(rng, kind, ppm)
            allp = np.concatenate(polys)
            lo = np.floor(allp.min(0)) - thick - 2
            hi = np.ceil(allp.max(0)) + thick + 2
            pw, ph = int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1
            patch = np.zeros((ph, pw), np.uint8)
            shift = 3  # 1/8 px sub-pixel precision
            pl = [np.round((p - lo) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)
                  for p in polys]
            cv2.polylines(patch, pl, False, 255, thick, cv2.LINE_AA, shift)
            cov = patch.astype(np.float32) * (1.0 / 255.0)
        cov *= np.float32(pressure)
        ph, pw = cov.shape
        _blend_patch(canvas, cov, int(round(cx - pw / 2)), int(round(cy - ph / 2)), ink, TEXT)
    return canvas


# ------------------------------------------------------------------ stamp
def _stamp_date(rng: np.random.Generator) -> str:
    return (f"{int(rng.integers(1, 29)):02d} {rng.choice(_MONTHS)} "
            f"{int(rng.integers(1995, 2026))}")


def _stamp_lines(rng: np.random.Generator) -> list[str]:
    date = _stamp_date(rng)
    words = list(rng.choice(_STAMP_WORDS, size=2, replace=False))
    n = int(rng.integers(1, 4))
    return [str(words[0]), date, str(words[1])][:n]


def _fit_text(text: str, font: int, max_w: float, max_h: float, thick: int) -> float:
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
    return max(0.1, min(max_w / max(tw, 1), max_h / max(th, 1)))


def _render_stamp(rng: np.random.Generator, ppm: float) -> np.ndarray:
    """Binary-ish uint8 stamp artwork (outline and text), unrotated."""
    font = int(rng.choice(_STAMP_FONTS))
    line = max(1, int(round(rng.uniform(0.4, 0.8) * ppm)))
    thin = max(1, line // 2)
    if rng.random() < 0.55:  # rectangle
        sw, sh = int(rng.uniform(35, 60) * ppm), int(rng.uniform(14, 28) * ppm)
        patch = np.zeros((sh, sw), np.uint8)
        cv2.rectangle(patch, (line // 2, line // 2), (sw - 1 - line // 2, sh - 1 - line // 2),
                      255, line, cv2.LINE_AA)
        inset = line + thin + int(0.8 * ppm)
        if rng.random() < 0.5:
            cv2.rectangle(patch, (inset, inset), (sw - 1 - inset, sh - 1 - inset), 255, thin,
                          cv2.LINE_AA)
        lines = _stamp_lines(rng)
        row_h = (sh - 2 * inset) / len(lines)
        for i, text in enumerate(lines):
            t = max(1, int(round(0.35 * ppm)))
            scale = _fit_text(text, font, 0.85 * (sw - 2 * inset), 0.6 * row_h, t)
            (tw, th), _ = cv2.getTextSize(text, font, scale, t)
            org = (int((sw - tw) / 2), int(inset + row_h * (i + 0.5) + th / 2))
            cv2.putText(patch, text, org, font, scale, 255, t, cv2.LINE_AA)
        return patch
    # round stamp: double ring with text along the upper and lower arcs
    r = rng.uniform(12, 20) * ppm
    size = int(2 * r + 2 * line + 4)
    c = size / 2.0
    patch = np.zeros((size, size), np.uint8)
    cv2.circle(patch, (int(c * 8), int(c * 8)), int(r * 8), 255, line, cv2.LINE_AA, 3)
    r_in = 0.68 * r
    cv2.circle(patch, (int(c * 8), int(c * 8)), int(r_in * 8), 255, thin, cv2.LINE_AA, 3)
    glyph_h = 0.5 * (r - r_in)
    r_text = 0.5 * (r + r_in)
    t = max(1, int(round(0.3 * ppm)))
    texts = list(rng.choice(_STAMP_WORDS, size=2, replace=False))
    for text, top in ((str(texts[0]), True), (str(texts[1]), False)):
        scale = _fit_text("H", font, 1e9, glyph_h, t)
        widths = [cv2.getTextSize(ch, font, scale, t)[0][0] for ch in text]
        gap = 0.15 * glyph_h
        total = (sum(widths) + gap * (len(text) - 1)) / r_text
        if total > 0.9 * np.pi:  # shrink to fit half a turn
            f = 0.9 * np.pi / total
            scale *= f
            widths = [w * f for w in widths]
            gap *= f
            total = 0.9 * np.pi
        phi = -total / 2.0
        for ch, wch in zip(text, widths, strict=True):
            a = phi + (wch / 2.0) / r_text
            phi += (wch + gap) / r_text
            if ch == " ":
                continue
            (gw, gh), gb = cv2.getTextSize(ch, font, scale, t)
            glyph = np.zeros((gh + gb + 2 * t + 2, gw + 2 * t + 2), np.uint8)
            cv2.putText(glyph, ch, (t + 1, gh + t + 1), font, scale, 255, t, cv2.LINE_AA)
            gcx, gcy = glyph.shape[1] / 2.0, (gh + 2 * t + 2) / 2.0
            if top:  # reading clockwise along the top, glyph tops outwards
                ang = a
                tx, ty = c + r_text * np.sin(ang), c - r_text * np.cos(ang)
                rot_deg = -np.rad2deg(ang)
            else:  # reading left to right along the bottom, glyph tops inwards
                ang = a
                tx, ty = c + r_text * np.sin(ang), c + r_text * np.cos(ang)
                rot_deg = np.rad2deg(ang)
            m = cv2.getRotationMatrix2D((gcx, gcy), rot_deg, 1.0)
            m[:, 2] += (tx - gcx, ty - gcy)
            warped = cv2.warpAffine(glyph, m, (size, size), flags=cv2.INTER_LINEAR)
            np.maximum(patch, warped, out=patch)
    centre = _stamp_date(rng) if rng.random() < 0.8 else "*"
    scale = _fit_text(centre, font, 1.6 * r_in * 0.85, 0.4 * r_in, t)
    (tw, th), _ = cv2.getTextSize(centre, font, scale, t)
    cv2.putText(patch, centre, (int(c - tw / 2), int(c + th / 2)), font, scale, 255, t,
                cv2.LINE_AA)
    return patch


def add_stamp(canvas: SheetCanvas, rng: np.random.Generator, intensity: float) -> SheetCanvas:
    """Add a rubber-stamp impression (rectangular or round outline with text).

    Parameters
    ----------
    canvas : SheetCanvas
        Flat sheet, modified in place.
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        0: nothing. Otherwise one stamp (two with probability ``0.3 *
        intensity``), 35-60 mm wide or 24-40 mm across, rotated by up to 30
        degrees, in red, blue or purple ink of opacity ``0.35 + 0.55 *
        intensity`` (times 0.75-1), with uneven inking and small voids.

    Returns
    -------
    SheetCanvas
        `canvas`, with ``classes`` set to ``TEXT`` where the (textured) ink
        coverage, before opacity, exceeds one half.
    """
    if intensity <= 0:
        return canvas
    intensity = min(float(intensity), 1.0)
    ppm = canvas.px_per_mm
    h, w = canvas.shape
    n = 1 + int(rng.random() < 0.3 * intensity)
    palette = np.array([[200, 35, 45], [40, 60, 170], [115, 45, 145]], float)
    for _ in range(n):
        art = _render_stamp(rng, ppm)
        art = _affine_patch(art, rng.uniform(-30, 30))
        ph, pw = art.shape
        cov = art.astype(np.float32) * (1.0 / 255.0)
        level = _smooth_noise(rng, (max(2, ph // 40), max(2, pw // 40)), (ph, pw))
        cov *= np.clip(0.85 + 0.25 * level, 0.3, 1.0)
        voids = rng.random((ph, pw), dtype=np.float32) < 0.06
        cov[cv2.dilate(voids.view(np.uint8), np.ones((2, 2), np.uint8)) > 0] *= 0.3
        colour = np.clip(palette[int(rng.integers(0, 3))] + rng.normal(0, 12, 3), 0, 255)
        opacity = (0.35 + 0.55 * intensity) * rng.uniform(0.75, 1.0)
        x0 = int(rng.uniform(-0.1 * pw, max(1.0, w - 0.9 * pw)))
        y0 = int(rng.uniform(-0.1 * ph, max(1.0, h - 0.9 * ph)))
        _blend_patch(canvas, cov, x0, y0, colour, TEXT, opacity=opacity)
    return canvas


# ----------------------------------------------------------------- stains
def add_stains(canvas: SheetCanvas, rng: np.random.Generator, intensity: float) -> SheetCanvas:
    """Add translucent coffee/water stains and cup rings (image only).

    Parameters
    ----------
    canvas : SheetCanvas
        Flat sheet, modified in place.
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        0: nothing. Otherwise ``1 + Poisson(2.5 * intensity)`` stains of radius
        6-30 mm with irregular outlines and a darker drying ring; peak
        darkening grows with `intensity` (about 10-25 % at 0.5, 20-50 % at 1).

    Returns
    -------
    SheetCanvas
        `canvas`; the masks are unchanged (stains tint, the ink stays visible).
    """
    if intensity <= 0:
        return canvas
    intensity = min(float(intensity), 1.0)
    ppm = canvas.px_per_mm
    h, w = canvas.shape
    n = 1 + int(rng.poisson(2.5 * intensity))
    for _ in range(n):
        kind = str(rng.choice(["coffee", "water", "ring"], p=[0.5, 0.25, 0.25]))
        radius = rng.uniform(6, 30) * ppm
        ds = max(1, int(radius / 48))  # low-resolution factor (radius ~ 48 px low-res)
        rl = radius / ds
        size = int(2.8 * rl) + 4
        c = size / 2.0
        nv = 96
        th = np.linspace(0, 2 * np.pi, nv, endpoint=False)
        rad = np.ones(nv)
        for k in range(2, 7):
            rad += rng.normal(0, 0.12 / k) * np.cos(k * th + rng.uniform(0, 2 * np.pi))
        rad += 0.015 * _smooth_walk(rng, nv, 1.0, 3)
        rad -= np.linspace(0, 1, nv) * (rad[-1] - rad[0])  # close the outline smoothly
        pts = np.stack([c + rl * rad * np.cos(th), c + rl * rad * np.sin(th)], 1)
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [np.round(pts * 8).astype(np.int32)], 255, cv2.LINE_AA, 3)
        m = mask.astype(np.float32) * (1.0 / 255.0)
        soft = cv2.GaussianBlur(m, (0, 0), max(0.6, 0.012 * rl))
        k = _odd(0.15 * rl)
        deep = cv2.GaussianBlur(cv2.erode(m, np.ones((k, k), np.uint8)), (0, 0), 0.06 * rl)
        ring = np.clip(soft - deep, 0.0, 1.0)
        mottle = 0.75 + 0.25 * np.clip(_smooth_noise(rng, (5, 5), (size, size)), -1, 1)
        if kind == "coffee":
            tint = np.array([150.0, 100.0, 55.0]) + rng.normal(0, 10, 3)
            fill, edge = rng.uniform(0.35, 0.7), rng.uniform(0.6, 1.0)
            strength = rng.uniform(0.4, 1.0)
        elif kind == "water":
            tint = np.array([205.0, 195.0, 165.0]) + rng.normal(0, 8, 3)
            fill, edge = rng.uniform(0.2, 0.5), rng.uniform(0.7, 1.0)
            strength = rng.uniform(0.5, 1.0)
        else:  # cup ring: mostly the rim, often an incomplete arc
            tint = np.array([140.0, 90.0, 50.0]) + rng.normal(0, 10, 3)
            fill, edge = rng.uniform(0.0, 0.1), 1.0
            strength = rng.uniform(0.5, 1.0)
            yy, xx = np.mgrid[0:size, 0:size]
            ang = np.arctan2(yy - c, xx - c)
            a0 = rng.uniform(-np.pi, np.pi)
            span = rng.uniform(0.6, 1.0) * np.pi
            da = np.abs(np.angle(np.exp(1j * (ang - a0))))
            ring *= np.clip((span - da) / 0.4 + 0.5, 0, 1).astype(np.float32)
        alpha = (fill * soft + edge * ring) * mottle * (0.5 * intensity * strength)
        alpha = np.clip(alpha, 0.0, 0.9).astype(np.float32)
        if ds > 1:
            alpha = cv2.resize(alpha, (size * ds, size * ds), interpolation=cv2.INTER_LINEAR)
        fh, fw = alpha.shape
        x0 = int(rng.uniform(0, w) - fw / 2)  # centre anywhere on the sheet
        y0 = int(rng.uniform(0, h) - fh / 2)
        ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(w, x0 + fw), min(h, y0 + fh)
        if ax1 <= ax0 or ay1 <= ay0:
            continue
        a = alpha[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0][..., None]
        roi = canvas.image[ay0:ay1, ax0:ax1]
        absorb = (1.0 - np.clip(tint, 0, 255) / 255.0).astype(np.float32)
        roi[:] = np.clip(roi.astype(np.float32) * (1.0 - a * absorb) + 0.5, 0, 255).astype(
            np.uint8)
    return canvas


# ---------------------------------------------------------------- creases
def _shade_band(image: np.ndarray, y_of_x: np.ndarray, cos_t: float, half: int,
                profile: Callable[[np.ndarray], np.ndarray], mod: np.ndarray) -> None:
    """Multiply pixels within `half` px (vertically) of the curve ``y(x)`` by ``1 + profile(d)``.

    `d` is the perpendicular signed distance (vertical offset times `cos_t`),
    `mod` a per-column amplitude modulation.
    """
    hh, ww = image.shape[:2]
    offs = np.arange(-half, half + 1)
    yi = np.round(y_of_x).astype(np.intp)
    rows = yi[None, :] + offs[:, None]
    cols = np.broadcast_to(np.arange(ww)[None, :], rows.shape)
    ok = (rows >= 0) & (rows < hh)
    if not ok.any():
        return
    d = (rows - y_of_x[None, :]) * cos_t
    gain = 1.0 + profile(d) * mod[None, :]
    r, c, g = rows[ok], cols[ok], gain[ok].astype(np.float32)
    pix = image[r, c].astype(np.float32) * g[:, None]
    image[r, c] = np.clip(pix + 0.5, 0, 255).astype(np.uint8)


def add_creases(canvas: SheetCanvas, rng: np.random.Generator, intensity: float) -> SheetCanvas:
    """Shade fold lines across the sheet: a light/dark ridge pair with a thin dark core.

    Parameters
    ----------
    canvas : SheetCanvas
        Flat sheet, modified in place.
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        0: nothing. Otherwise ``1 + Binomial(2, intensity / 2)`` nearly
        straight folds (horizontal or vertical, near a third or the half of the
        sheet, tilted by ~1.5 degrees), ridge half-width 0.6-1.6 mm, peak
        brightness change ``intensity * (6-14) %`` varying along the fold.

    Returns
    -------
    SheetCanvas
        `canvas`; only the image changes. To make the paper also bend at the
        folds, use ``make_warp(..., folds=...)``.
    """
    if intensity <= 0:
        return canvas
    intensity = min(float(intensity), 1.0)
    ppm = canvas.px_per_mm
    n = 1 + int(rng.binomial(2, 0.5 * intensity))
    for _ in range(n):
        horizontal = rng.random() < 0.5
        img = canvas.image if horizontal else canvas.image.transpose(1, 0, 2)
        hh, ww = img.shape[:2]
        frac = rng.choice([1 / 3, 1 / 2, 2 / 3]) + rng.normal(0, 0.02)
        slope = np.tan(np.deg2rad(rng.normal(0, 1.5)))
        x = np.arange(ww, dtype=np.float64)
        bow = rng.normal(0, 0.002) * hh * np.sin(np.pi * x / max(ww - 1, 1))
        y_of_x = frac * (hh - 1) + slope * (x - ww / 2) + bow
        cos_t = 1.0 / np.sqrt(1.0 + slope**2)
        wid = max(1.0, rng.uniform(0.6, 1.6) * ppm)
        core = max(0.6, 0.2 * ppm)
        amp = intensity * rng.uniform(0.06, 0.14) * rng.choice([-1.0, 1.0])
        amp_core = intensity * rng.uniform(0.04, 0.12)
        mod = np.clip(0.75 + 0.35 * _smooth_noise(rng, (1, 10), (1, ww))[0], 0.3, 1.2)

        def profile(d: np.ndarray, wid: float = wid, core: float = core, amp: float = amp,
                    amp_core: float = amp_core) -> np.ndarray:
            u = d / wid
            return (amp * u * np.exp(0.5 * (1.0 - u * u))
                    - amp_core * np.exp(-((d / core) ** 2)))

        _shade_band(img, y_of_x, cos_t, int(np.ceil(3.5 * wid)) + 1, profile, mod)
    return canvas


# ----------------------------------------------------------- torn corners
def add_torn_corners(canvas: SheetCanvas, rng: np.random.Generator, intensity: float,
                     scene_rgb: tuple[int, int, int] | None = None) -> SheetCanvas:
    """Tear irregular pieces off the sheet's corners.

    Parameters
    ----------
    canvas : SheetCanvas
        Flat sheet, modified in place.
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        0: nothing. Otherwise ``1 + Binomial(3, 0.3 * intensity)`` corners,
        each torn along a jagged line whose ends lie ``(1 + intensity * (3-12))
        %`` of the short side from the corner.
    scene_rgb : tuple of int, optional
        Plain colour shown where the paper is gone (default a dark grey; the
        warp and :func:`fill_background` treat those pixels as scene).

    Returns
    -------
    SheetCanvas
        `canvas` with ``paper`` False, class ``BACKGROUND`` and instance 0 on
        the torn pieces, and a whitish fibrous rim (image only) along the tear.
    """
    if intensity <= 0:
        return canvas
    intensity = min(float(intensity), 1.0)
    h, w = canvas.shape
    ppm = canvas.px_per_mm
    scene = np.asarray(scene_rgb if scene_rgb is not None else _SCENE_RGB, np.uint8)
    m = min(h, w)
    n = 1 + int(rng.binomial(3, 0.3 * intensity))
    for corner in rng.permutation(4)[:n]:
        a = m * (0.01 + intensity * rng.uniform(0.03, 0.12))
        b = m * (0.01 + intensity * rng.uniform(0.03, 0.12))
        a, b = min(a, w - 2.0), min(b, h - 2.0)
        chord = float(np.hypot(a, b))
        k = max(8, int(chord / max(0.4 * ppm, 1.0)))
        t = np.linspace(0.0, 1.0, k)
        base = np.stack([a * (1 - t), b * t], 1)
        normal = np.array([b, a]) / chord  # points away from the corner
        off = (rng.uniform(-0.2, 0.25) * chord * np.sin(np.pi * t)
               + 0.04 * chord * np.sin(np.pi * t) * _smooth_walk(rng, k, 1.0, 3)
               + rng.normal(0, 0.15 * ppm, k) * np.sin(np.pi * t))
        tear = base + off[:, None] * normal
        tear[:, 0] = np.clip(tear[:, 0], -1.0, w + 1.0)
        tear[:, 1] = np.clip(tear[:, 1], -1.0, h + 1.0)
        poly = np.concatenate([[[-2.0, -2.0], [a, -2.0]], tear, [[-2.0, b]]])
        # local (inwards from the corner) -> image coordinates
        if corner in (1, 3):
            poly[:, 0] = (w - 1) - poly[:, 0]
        if corner in (2, 3):
            poly[:, 1] = (h - 1) - poly[:, 1]
        pad = int(np.ceil(0.5 * ppm)) + 2
        x0 = max(0, int(np.floor(poly[:, 0].min())) - pad)
        y0 = max(0, int(np.floor(poly[:, 1].min())) - pad)
        x1 = min(w, int(np.ceil(poly[:, 0].max())) + pad + 1)
        y1 = min(h, int(np.ceil(poly[:, 1].max())) + pad + 1)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(poly - [x0, y0]).astype(np.int32)], 1)
        torn = mask.astype(bool)
        r = max(1, int(round(0.25 * ppm)))
        rim = cv2.dilate(mask, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool) & ~torn
        sl = (slice(y0, y1), slice(x0, x1))
        rim &= canvas.paper[sl] & (canvas.classes[sl] == BACKGROUND)
        roi = canvas.image[sl]
        roi[rim] = (roi[rim].astype(np.float32) * 0.45 + 0.55 * 252.0).astype(np.uint8)
        roi[torn] = scene
        canvas.paper[sl][torn] = False
        canvas.classes[sl][torn] = BACKGROUND
        canvas.instances[sl][torn] = 0
    return canvas


# --------------------------------------------------------- photometric
def add_lighting(canvas: SheetCanvas, rng: np.random.Generator, intensity: float) -> SheetCanvas:
    """Uneven illumination: gradient, vignette, soft shadow, exposure and white balance.

    Parameters
    ----------
    canvas : SheetCanvas
        Image modified in place (masks untouched).
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        0: nothing. At 1: a linear gradient of 8-30 % across the image, a
        vignette of up to 30 % in the corners, with probability 0.7 a soft
        shadow (an edge or a blob) darkening by 15-45 %, exposure and per-channel
        white-balance changes of a few percent.

    Returns
    -------
    SheetCanvas
        `canvas`.
    """
    if intensity <= 0:
        return canvas
    s = min(float(intensity), 1.0)
    h, w = canvas.shape
    gh = 48
    gw = max(2, int(round(gh * w / h)))
    aspect = w / h
    u, v = np.meshgrid(np.linspace(-aspect, aspect, gw), np.linspace(-1, 1, gh))
    d = rng.uniform(0, 2 * np.pi)
    gain = 1.0 + s * rng.uniform(0.08, 0.3) * 0.5 * (np.cos(d) * u / aspect + np.sin(d) * v)
    vcx, vcy = rng.uniform(-0.3, 0.3, 2)
    r2 = ((u / aspect - vcx) ** 2 + (v - vcy) ** 2) / 2.0
    gain *= 1.0 - s * rng.uniform(0.0, 0.3) * r2
    shadow = rng.random() < 0.7
    kind = rng.random() < 0.6
    depth = s * rng.uniform(0.15, 0.45)
    if kind:  # soft edge of a half-plane shadow
        a = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(0.2, 0.9) * aspect
        soft = rng.uniform(0.05, 0.35)
        dist = (np.cos(a) * u + np.sin(a) * v - off) / soft
        sh = 1.0 / (1.0 + np.exp(-np.clip(dist, -30, 30)))
    else:  # blob
        bx, by = rng.uniform(-aspect, aspect), rng.uniform(-1, 1)
        rx, ry = rng.uniform(0.2, 0.7, 2)
        sh = np.exp(-(((u - bx) / rx) ** 2 + ((v - by) / ry) ** 2))
    if shadow:
        gain *= 1.0 - depth * sh
    gain = np.clip(gain, 0.0, 1.99)
    exposure = 1.0 + s * rng.normal(0, 0.06)
    tint = 1.0 + s * rng.normal(0, 0.03, 3)
    tint /= tint.mean()
    # Global exposure and white balance by a per-channel look-up table ...
    lut = np.clip(np.rint(np.arange(256.0)[:, None] * (exposure * tint)[None, :]), 0, 255)
    img = cv2.LUT(canvas.image, lut.astype(np.uint8).reshape(256, 1, 3))
    # ... and the spatial gain in 1/128 fixed point, dithered against banding.
    g = cv2.resize(gain.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    dither = cv2.LUT(np.frombuffer(rng.bytes(h * w), np.uint8).reshape(h, w),
                     np.linspace(0.0, 1.0, 256, endpoint=False, dtype=np.float32).reshape(256, 1))
    g8 = cv2.scaleAdd(g, 128.0, dither).astype(np.uint8)  # floor(128 g + u), g < 2
    canvas.image = cv2.multiply(img, cv2.cvtColor(g8, cv2.COLOR_GRAY2RGB), scale=1.0 / 128.0)
    return canvas


_BG_PALETTES = {
    "wood": [(120, 80, 50), (150, 105, 65), (95, 62, 40), (170, 130, 90)],
    "desk": [(200, 200, 195), (60, 62, 66), (35, 35, 38), (150, 150, 155), (40, 70, 60)],
    "fabric": [(40, 50, 90), (120, 30, 40), (80, 80, 80), (190, 180, 160)],
}


def fill_background(canvas: SheetCanvas, rng: np.random.Generator, intensity: float = 0.5,
                    rgb: tuple[int, int, int] | None = None) -> SheetCanvas:
    """Paint a textured scene (wood, desk or fabric) where ``paper`` is False.

    Parameters
    ----------
    canvas : SheetCanvas
        Image modified in place (masks untouched); nothing happens when the
        whole image is paper.
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        Texture strength: 0 a plain colour, 1 strong brightness variation
        (about +-20 grey levels) plus wood grain or fabric noise.
    rgb : tuple of int, optional
        Base scene colour (default: drawn from a palette of the chosen kind).

    Returns
    -------
    SheetCanvas
        `canvas`.
    """
    off = ~np.ascontiguousarray(canvas.paper)
    if not off.any():
        return canvas
    s = float(np.clip(intensity, 0.0, 1.0))
    h, w = canvas.shape
    kind = str(rng.choice(["wood", "desk", "fabric"], p=[0.4, 0.4, 0.2]))
    pal = _BG_PALETTES[kind]
    base = np.asarray(rgb if rgb is not None else pal[int(rng.integers(0, len(pal)))], float)
    base = np.clip(base + rng.normal(0, 8, 3), 0, 255)
    lh, lw = max(2, h // 4), max(2, w // 4)
    lum = 20.0 * s * np.clip(_smooth_noise(rng, (4, 5), (lh, lw)), -1.5, 1.5)
    if kind == "wood":
        along_x = rng.random() < 0.5
        gh_, gw_ = (max(2, lh // 2), 6) if along_x else (6, max(2, lw // 2))
        streak = _smooth_noise(rng, (gh_, gw_), (lh, lw), cv2.INTER_LINEAR)
        fine = _smooth_noise(rng, (max(2, lh // (1 if along_x else 40)),
                                   max(2, lw // (40 if along_x else 1))), (lh, lw),
                             cv2.INTER_LINEAR)
        lum += 25.0 * s * (0.6 * np.sin(3.0 * streak) + 0.4 * fine)
    elif kind == "fabric":
        lum += 10.0 * s * rng.standard_normal((lh, lw)).astype(np.float32)
    else:
        lum += 4.0 * s * rng.standard_normal((lh, lw)).astype(np.float32)
    low = np.clip(base[None, None, :] * (1.0 + lum[..., None] / 128.0), 0, 255)
    tex = cv2.resize(low.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    canvas.image = cv2.copyTo(tex, off.view(np.uint8), canvas.image)
    return canvas


def _motion_blur(img: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Average of ``2**k`` copies shifted along a line of `length` px at `angle` radians.

    Built by recursive doubling (average the image with a copy shifted by
    ``v``, then by ``2 v``, ``4 v``, ...) on integer shifts, so it costs ``k``
    cheap passes instead of a large 2-D convolution. The kernel is centred
    (the image does not move) and borders are reflected.
    """
    k = max(1, int(np.ceil(np.log2(max(length, 2.0)))))
    v = np.array([np.cos(angle), np.sin(angle)]) * length / (2**k - 1)
    shifts = np.round(v[None, :] * (2 ** np.arange(k))[:, None]).astype(int)
    for ax in range(2):  # make the total even so the kernel is centred on a pixel
        if shifts[:, ax].sum() % 2:
            shifts[-1, ax] += 1 if v[ax] >= 0 else -1
    shifts = [sh for sh in shifts if sh.any()]
    if not shifts:
        return img
    pad = int(np.abs(np.array(shifts)).sum(0).max()) + 1
    buf = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    ox = oy = -pad  # image coordinate of buf[0, 0]
    for sx, sy in shifts:
        bh, bw = buf.shape[:2]
        ax, ay = max(0, -sx), max(0, -sy)
        nw, nh = bw - abs(sx), bh - abs(sy)
        a = buf[ay:ay + nh, ax:ax + nw]
        b = buf[ay + sy:ay + sy + nh, ax + sx:ax + sx + nw]
        buf = cv2.addWeighted(a, 0.5, b, 0.5, 0.0)
        ox, oy = ox + ax, oy + ay
    cx, cy = (int(c) // 2 for c in np.sum(shifts, axis=0))
    h, w = img.shape[:2]
    x0, y0 = -cx - ox, -cy - oy
    return np.ascontiguousarray(buf[y0:y0 + h, x0:x0 + w])


def add_blur(canvas: SheetCanvas, rng: np.random.Generator, intensity: float,
             kind: str | None = None) -> SheetCanvas:
    """Defocus or motion blur.

    Parameters
    ----------
    canvas : SheetCanvas
        Image modified (masks untouched).
    rng : numpy.random.Generator
        Source of randomness (kind and motion direction).
    intensity : float
        0: nothing. Gaussian blur of sigma ``2 * intensity`` px, or motion blur
        along a random direction over ``1 + 9 * intensity`` px (box kernel).
    kind : {"gaussian", "motion"}, optional
        Default: Gaussian with probability 0.7.

    Returns
    -------
    SheetCanvas
        `canvas`.
    """
    angle = rng.uniform(0, np.pi)
    if kind is None:
        kind = "gaussian" if rng.random() < 0.7 else "motion"
    if intensity <= 0:
        return canvas
    s = min(float(intensity), 1.0)
    if kind == "gaussian":
        canvas.image = cv2.GaussianBlur(canvas.image, (0, 0), 2.0 * s)
    elif kind == "motion":
        canvas.image = _motion_blur(canvas.image, 1.0 + 9.0 * s, angle)
    else:
        raise ValueError(f"unknown blur kind {kind!r}")
    return canvas


# Inverse normal CDF at the centres of 256 equiprobable bins: maps uniform bytes
# to (quantised) standard normal samples.
_NORMAL_LUT = ndtri((np.arange(256) + 0.5) / 256.0).astype(np.float32)


def add_sensor_noise(canvas: SheetCanvas, rng: np.random.Generator,
                     intensity: float) -> SheetCanvas:
    """Camera/scanner noise: signal-dependent luminance noise plus weaker colour noise.

    Parameters
    ----------
    canvas : SheetCanvas
        Image modified (masks untouched).
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        0: nothing. Luminance noise of standard deviation
        ``intensity * sqrt(8**2 + 0.15 * I)`` grey levels at grey level ``I``
        (read plus shot noise: about 10 at white for intensity 1), shared by
        the three channels, plus per-channel colour noise of standard deviation
        about ``3.2 * intensity``, correlated over ~2 px.

    Returns
    -------
    SheetCanvas
        `canvas`.
    """
    if intensity <= 0:
        return canvas
    s = min(float(intensity), 1.0)
    h, w = canvas.shape
    img = canvas.image
    # Luminance: quantised normal samples from uniform bytes, scaled per pixel.
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    sigma_lut = (s * np.sqrt(64.0 + 0.15 * np.arange(256.0))).astype(np.float32)
    sigma = cv2.LUT(grey, sigma_lut.reshape(256, 1))
    z = np.frombuffer(rng.bytes(h * w), np.uint8).reshape(h, w)
    lum = cv2.multiply(cv2.LUT(z, _NORMAL_LUT.reshape(256, 1)), sigma)
    lum8 = cv2.add(lum, 128.0, dtype=cv2.CV_8U)  # offset binary, saturating
    # Colour noise, slightly blotchy (drawn at half resolution, as after demosaicing).
    hh, hw = (h + 1) // 2, (w + 1) // 2
    zc = np.frombuffer(rng.bytes(hh * hw * 3), np.uint8).reshape(hh, hw, 3)
    clut = np.clip(np.rint(128.0 + 4.5 * s * _NORMAL_LUT), 0, 255).astype(np.uint8)
    chroma = cv2.resize(cv2.LUT(zc, clut.reshape(256, 1)), (w, h),
                        interpolation=cv2.INTER_LINEAR)
    noise = cv2.addWeighted(chroma, 1.0, cv2.cvtColor(lum8, cv2.COLOR_GRAY2RGB), 1.0, -128.0)
    canvas.image = cv2.addWeighted(img, 1.0, noise, 1.0, -128.0)
    return canvas


def jpeg_compress(canvas: SheetCanvas, quality: int) -> SheetCanvas:
    """JPEG round trip (encode and decode) at the given quality.

    Parameters
    ----------
    canvas : SheetCanvas
        Image replaced (masks untouched).
    quality : int
        JPEG quality, 1-100 (30 heavy blocking and ringing, 95 nearly
        invisible).

    Returns
    -------
    SheetCanvas
        `canvas`.
    """
    q = int(np.clip(int(quality), 1, 100))
    bgr = cv2.cvtColor(canvas.image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:  # pragma: no cover - encoder failure
        raise RuntimeError("JPEG encoding failed")
    canvas.image = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return canvas


def to_bw(canvas: SheetCanvas, rng: np.random.Generator, intensity: float) -> SheetCanvas:
    """Black-and-white (1-bit) scan: grey conversion, threshold, back to 3-channel RGB.

    The grey conversion (luma, channel mean or a red-dropout-like green
    channel) and the threshold (global Otsu or local mean) are drawn at
    random. Pale grid ink usually turns white, as on real B&W scans; its
    ``GRID`` labels are kept.

    Parameters
    ----------
    canvas : SheetCanvas
        Image replaced by one whose pixels are all (0, 0, 0) or (255, 255, 255).
    rng : numpy.random.Generator
        Source of randomness.
    intensity : float
        Harshness in [0, 1]: 0 a clean threshold, 1 a threshold lowered by
        up to 45 grey levels (faint ink drops out) with scanner speckle on
        about 0.2 % of the pixels.

    Returns
    -------
    SheetCanvas
        `canvas`.
    """
    s = float(np.clip(intensity, 0.0, 1.0))
    img = canvas.image
    mode = int(rng.integers(0, 3))
    if mode == 0:
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    elif mode == 1:
        grey = cv2.transform(img, np.full((1, 3), 1.0 / 3.0, np.float32))
    else:
        grey = np.ascontiguousarray(img[..., 1])
    drop = s * rng.uniform(15.0, 45.0)
    if rng.random() < 0.5:
        t, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        _, bw = cv2.threshold(grey, max(1.0, t - drop), 255, cv2.THRESH_BINARY)
    else:
        block = _odd(max(3.0, 4.0 * canvas.px_per_mm))
        bw = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                   block, 10.0 + drop)
    if s > 0:  # scanner speckle: isolated flipped pixels
        k = int(rng.binomial(bw.size, 0.002 * s))
        flat = bw.reshape(-1)
        idx = rng.integers(0, bw.size, k)
        flat[idx] = 255 - flat[idx]
    canvas.image = cv2.cvtColor(bw, cv2.COLOR_GRAY2RGB)
    return canvas
