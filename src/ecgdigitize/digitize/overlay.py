"""Overlay of a digitized sheet on its image, for checking a result at a glance.

The input image is desaturated and lightened, then drawn on it:

- every traced centre line (:attr:`LeadTrace.x_px`, :attr:`LeadTrace.y_px`,
  input-image px; a NaN breaks the line) in saturated blue, or in orange
  when the segment's quality is below :data:`LOW_QUALITY`, anti-aliased, with
  the lead name (and the quality of a poor segment) at its start;
- a box in the top-left corner with the detected layout (and the learned
  segmenter, where its reading was used), paper speed, gain, scale, rotation
  and mean quality;
- beside it, the detected scale: a 10 mm x 10 mm square, a 1 mV ruler
  (gain x px/mm tall) and a 0.2 s bar (speed x 0.2 s long), to compare with
  the printed grid (5 mm big squares) and calibration pulse. They are drawn
  axis-aligned with the px/mm of the deskewed sheet, which is right for the
  small rotations of a scan.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..io.atomic import write_bytes_atomic
from ..io.outputs import mean_quality
from .result import LeadTrace, Result

__all__ = ["LOW_QUALITY", "TRACE_RGB", "WARNING_RGB", "SCALE_RGB", "draw_overlay",
           "save_overlay"]

#: Segments with a quality below this are drawn in :data:`WARNING_RGB`.
LOW_QUALITY = 0.5
TRACE_RGB = (0, 70, 255)
WARNING_RGB = (255, 120, 0)
SCALE_RGB = (0, 150, 60)
_TEXT_RGB = (25, 25, 25)
_PANEL_RGB = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_SHIFT = 4                      # fixed-point bits of sub-pixel polyline coordinates
_ONE = 1 << _SHIFT


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"overlay needs a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay needs an RGB image of shape (H, W, 3), got {image.shape}")
    return image


def _background(image: np.ndarray) -> np.ndarray:
    """Desaturate (35 % colour) and lighten (ink at about 50 % grey) the image."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    mixed = cv2.addWeighted(image, 0.35, cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), 0.65, 0.0)
    return cv2.convertScaleAbs(mixed, alpha=0.5, beta=127.5)


def _runs(trace: LeadTrace) -> list[np.ndarray]:
    """Fixed-point (x, y) point runs of a centre line, split at NaN."""
    x = np.asarray(trace.x_px, dtype=float).ravel()
    y = np.asarray(trace.y_px, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"lead {trace.lead}: x_px has {x.size} points but y_px {y.size}")
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    pts = np.round(np.clip(np.stack([x, y], axis=1), -1e6, 1e6) * _ONE)
    pts = np.nan_to_num(pts).astype(np.int32)
    return [pts[a:b] for a, b in zip(edges[0::2], edges[1::2], strict=True)]


class _Style:
    """Line widths and font sizes for an image of a given size."""

    def __init__(self, height: int, width: int) -> None:
        side = min(height, width)
        self.line = max(1, int(round(side / 1000)))
        self.font = float(np.clip(side / 1700 * 0.6, 0.35, 2.5))
        self.text = max(1, int(round(self.font * 1.6)))
        self.pad = max(2, int(round(self.font * 10)))

    def size(self, text: str) -> tuple[int, int, int]:
        (w, h), base = cv2.getTextSize(text, _FONT, self.font, self.text)
        return w, h, base


def _label(canvas: np.ndarray, text: str, x: float, y: float, colour: tuple[int, int, int],
           st: _Style) -> None:
    """Text with a light box, its lower-left corner near (x, y), kept inside the image."""
    h_img, w_img = canvas.shape[:2]
    w, h, base = st.size(text)
    p = max(1, st.pad // 3)
    x0 = int(np.clip(x, 0, max(w_img - w - 2 * p, 0)))
    y0 = int(np.clip(y, h + 2 * p, h_img - base - p))
    cv2.rectangle(canvas, (x0, y0 - h - p), (x0 + w + 2 * p, y0 + base), _PANEL_RGB, -1)
    cv2.putText(canvas, text, (x0 + p, y0), _FONT, st.font, colour, st.text, cv2.LINE_AA)


def _info_lines(result: Result) -> list[str]:
    d = result.detected
    cost = (f" (cost {d.layout_cost:.3g})" if d.layout_cost is not None
            and math.isfinite(d.layout_cost) else "")
    px, py = float(d.px_per_mm_x), float(d.px_per_mm_y)
    if math.isfinite(px) and math.isfinite(py):
        scale = f"{px:.2f} x {py:.2f} px/mm ({d.scale_source})"
    else:
        scale = f"px/mm unknown ({d.scale_source})"
    rot = f"rotation {d.rotation_deg:.1f} deg" + (", upside down" if d.upside_down else "")
    q = mean_quality(result)
    n_low = sum(1 for t in result.traces if t.quality < LOW_QUALITY)
    quality = f"mean quality {q:.2f}" if math.isfinite(q) else "mean quality n/a"
    if n_low:
        quality += f" ({n_low} segment{'s' if n_low > 1 else ''} < {LOW_QUALITY:g})"
    seg = ", learned segmenter" if d.segmenter == "learned" else ""
    return [f"layout {d.layout}{cost}{seg}",
            f"{d.speed_mm_s:g} mm/s ({d.speed_source}), {d.gain_mm_mv:g} mm/mV "
            f"({d.gain_source})",
            scale, rot, quality]


def _info_box(canvas: np.ndarray, result: Result, st: _Style) -> tuple[int, int, int]:
    """Draw the settings box in the top-left corner; return its right, top and bottom."""
    lines = _info_lines(result)
    sizes = [st.size(s) for s in lines]
    line_h = max(h + b for _, h, b in sizes) + st.pad // 2
    x0 = y0 = st.pad
    x1 = x0 + max(w for w, _, _ in sizes) + 2 * st.pad
    y1 = y0 + line_h * len(lines) + st.pad
    h_img, w_img = canvas.shape[:2]
    xa, ya, xb, yb = min(x0, w_img), min(y0, h_img), min(x1, w_img), min(y1, h_img)
    if xb > xa and yb > ya:
        roi = canvas[ya:yb, xa:xb]
        roi[:] = cv2.addWeighted(roi, 0.15, np.full_like(roi, 255), 0.85, 0.0)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), _TEXT_RGB, 1, cv2.LINE_AA)
    for i, (text, (_, h, _)) in enumerate(zip(lines, sizes, strict=True)):
        y = y0 + st.pad // 2 + line_h * i + h + st.pad // 2
        cv2.putText(canvas, text, (x0 + st.pad, y), _FONT, st.font, _TEXT_RGB, st.text,
                    cv2.LINE_AA)
    return x1, y0, y1


def _scale_glyphs(canvas: np.ndarray, result: Result, x: int, top: int, st: _Style) -> None:
    """10 mm square, 1 mV ruler and 0.2 s bar from the detected scale, from (x, top)."""
    d = result.detected
    px, py = float(d.px_per_mm_x), float(d.px_per_mm_y)
    if not (math.isfinite(px) and math.isfinite(py) and px > 0 and py > 0):
        return
    lw = st.line
    gap = 2 * st.pad
    side_w, side_h = 10.0 * px, 10.0 * py
    mv_h = float(d.gain_mm_mv) * py
    t_w = 0.2 * float(d.speed_mm_s) * px
    tick = max(3.0, 1.0 * px)
    bottom = top + max(side_h, mv_h)
    label_y = bottom + st.pad + st.size("0")[1]

    def place(left: float, width: float, text: str) -> float:
        """Label the glyph spanning [left, left + width]; return where the next may start."""
        _label(canvas, text, left, label_y, SCALE_RGB, st)
        return max(left + width, left + st.size(text)[0] + st.pad) + gap

    # 10 mm x 10 mm square, bottom-aligned with the ruler.
    xs = x + gap
    _rect(canvas, xs, bottom - side_h, xs + side_w, bottom, lw)
    nxt = place(xs, side_w, "10 mm")
    # 1 mV ruler: vertical bar with end ticks.
    xr = nxt + tick
    _seg(canvas, xr, bottom - mv_h, xr, bottom, lw)
    _seg(canvas, xr - tick, bottom - mv_h, xr + tick, bottom - mv_h, lw)
    _seg(canvas, xr - tick, bottom, xr + tick, bottom, lw)
    nxt = place(xr - tick, 2 * tick, "1 mV")
    # 0.2 s bar along the bottom, with end ticks.
    _seg(canvas, nxt, bottom, nxt + t_w, bottom, lw)
    _seg(canvas, nxt, bottom - tick, nxt, bottom, lw)
    _seg(canvas, nxt + t_w, bottom - tick, nxt + t_w, bottom, lw)
    place(nxt, t_w, "0.2 s")


def _fixed(v: float) -> int:
    return int(round(float(np.clip(v, -1e6, 1e6)) * _ONE))


def _seg(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, lw: int) -> None:
    cv2.line(canvas, (_fixed(x0), _fixed(y0)), (_fixed(x1), _fixed(y1)), SCALE_RGB, lw,
             cv2.LINE_AA, _SHIFT)


def _rect(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, lw: int) -> None:
    cv2.rectangle(canvas, (_fixed(x0), _fixed(y0)), (_fixed(x1), _fixed(y1)), SCALE_RGB, lw,
                  cv2.LINE_AA, _SHIFT)


def draw_overlay(image: np.ndarray, result: Result) -> np.ndarray:
    """Draw the traced centre lines, lead names, settings and scale on the image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        The input image (RGB) the result was read from (a grey (H, W) image
        is accepted too).
    result : Result
        Digitized sheet; its traces are in the coordinates of `image`, in px.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        New RGB image; `image` is not modified.

    Raises
    ------
    ValueError
        If `image` is not uint8 RGB/grey, its size differs from
        ``result.image_shape`` (when that is set), or a trace's x and y
        lengths differ.
    """
    image = _as_rgb(image)
    h, w = image.shape[:2]
    shape = tuple(int(v) for v in result.image_shape)
    if shape != (0, 0) and shape != (h, w):
        raise ValueError(f"the result was read from an image of {shape[1]}x{shape[0]} px, "
                         f"not {w}x{h} px")
    st = _Style(h, w)
    canvas = _background(image)
    starts: list[tuple[LeadTrace, np.ndarray]] = []
    for low in (False, True):   # poor segments last, so they stay visible
        colour = WARNING_RGB if low else TRACE_RGB
        runs: list[np.ndarray] = []
        for tr in result.traces:
            if (float(tr.quality) < LOW_QUALITY) != low:
                continue
            tr_runs = _runs(tr)
            if not tr_runs:
                continue
            starts.append((tr, tr_runs[0][0]))
            runs += [r for r in tr_runs if len(r) > 1]
            for r in tr_runs:
                if len(r) == 1:
                    cv2.circle(canvas, tuple(int(v) for v in r[0]), st.line * _ONE // 2 or 1,
                               colour, -1, cv2.LINE_AA, _SHIFT)
        if runs:
            cv2.polylines(canvas, runs, False, colour, st.line, cv2.LINE_AA, _SHIFT)
    for tr, p in starts:
        low = float(tr.quality) < LOW_QUALITY
        text = f"{tr.lead} q{float(tr.quality):.2f}" if low else tr.lead
        x0, y0 = p[0] / _ONE, p[1] / _ONE
        _label(canvas, text, x0, y0 - 3 * st.line - st.pad, WARNING_RGB if low else TRACE_RGB,
               st)
    right, top, _ = _info_box(canvas, result, st)
    _scale_glyphs(canvas, result, right, top, st)
    return canvas


def save_overlay(path: str | Path, image: np.ndarray, result: Result) -> Path:
    """Draw the overlay (:func:`draw_overlay`) and write it as PNG atomically.

    Parameters
    ----------
    path : str or Path
        Output PNG file (its folder is created if needed).
    image : ndarray, shape (H, W, 3), uint8
        The input image (RGB).
    result : Result
        Digitized sheet.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    OutputError
        If the PNG cannot be encoded or written.
    """
    path = Path(path)
    canvas = draw_overlay(image, result)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(canvas[:, :, ::-1]),
                           [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OutputError(f"cannot encode {path} as PNG")
    write_bytes_atomic(path, buf.tobytes())
    return path
