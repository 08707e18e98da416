"""Render ECG time series as a flat paper-ECG sheet with exact ground truth.

The sheet is laid out in mm (paper size, margins, header band, grid area,
rows and columns) and rasterised at a chosen dpi. Grid lines are drawn from
analytic 1-D coverage profiles (so their sub-pixel position is exact), traces
as anti-aliased polylines at 1/16 px precision, text with Hershey fonts.
Each printed lead segment is recorded with its exact samples, its time
window and its pixel geometry (:class:`PrintedLead`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from ..errors import OptionError, RecordError
from ..layouts import Layout, get_layout
from ..leads import lead_signal
from ..paper import check_dpi, check_gain, check_speed, get_paper_size, px_per_mm
from ..record import EcgRecord
from .canvas import GRID, TEXT, TRACE, SheetCanvas
from .header import fake_patient_fields, measurement_lines, settings_line
from .style import font_face, grid_colours, ink_colour, paper_colour

__all__ = ["RenderOptions", "PrintedLead", "RenderedSheet", "render_sheet", "SUBPIXEL_SHIFT"]

#: Fixed-point bits used for sub-pixel polyline coordinates (1/16 px).
SUBPIXEL_SHIFT = 4
_TRACE_LABEL_THRESHOLD = 100  # uint8 coverage above which a pixel is labelled trace


@dataclass
class RenderOptions:
    """Everything that decides how a flat sheet looks.

    Parameters
    ----------
    layout : str
        Layout name (see :func:`ecgdigitize.layouts.layout_names`).
    rhythm_leads : tuple of str, optional
        Leads of the rhythm strips (defaults to the layout's).
    speed_mm_s : float
        Paper speed, 25 or 50 mm/s.
    gain_mm_mv : float
        Gain, 5, 10 or 20 mm/mV.
    dpi : float
        Resolution of the rendered sheet in dots per inch.
    paper : str
        Paper size: ``letter``, ``a4`` or ``thermal``.
    paper_colour, grid_colour, ink : str
        Colour names (see :mod:`ecgdigitize.synth.style`).
    grid_style : str
        ``lines`` (solid minor and major lines) or ``dots`` (minor grid as dots).
    minor_grid : bool
        Draw the 1 mm minor grid.
    line_width_mm : float
        Trace pen width in mm.
    calibration_pulse : str
        ``left``, ``right`` or ``none``: where each row prints a 1 mV pulse.
    lead_labels : bool
        Print lead names.
    label_position : str
        ``above`` or ``below`` the baseline, at the start of each segment.
    label_height_mm : float
        Cap height of lead names in mm.
    font : str
        Font of labels and header.
    separators : bool
        Print short vertical ticks between columns.
    header : bool
        Print patient fields, settings and the measurement block.
    row_spacing : float
        Multiplier of the distance between row baselines (< 1 crowds the rows
        so tall waves cross into neighbouring rows).
    layouts_extra : dict, optional
        User layouts by name (from :func:`ecgdigitize.layouts.load_layouts`).
    """

    layout: str = "3x4+1"
    rhythm_leads: tuple[str, ...] | None = None
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    dpi: float = 200.0
    paper: str = "letter"
    paper_colour: str = "white"
    grid_colour: str = "red"
    grid_style: str = "lines"
    minor_grid: bool = True
    ink: str = "black"
    line_width_mm: float = 0.3
    calibration_pulse: str = "left"
    lead_labels: bool = True
    label_position: str = "above"
    label_height_mm: float = 3.0
    font: str = "simplex"
    separators: bool = True
    header: bool = True
    row_spacing: float = 1.0
    layouts_extra: dict[str, Layout] | None = field(default=None, repr=False)

    def validate(self) -> None:
        """Raise :class:`OptionError` (or LayoutError) for an invalid option."""
        check_speed(self.speed_mm_s)
        check_gain(self.gain_mm_mv)
        check_dpi(self.dpi)
        get_paper_size(self.paper)
        paper_colour(self.paper_colour)
        grid_colours(self.grid_colour)
        ink_colour(self.ink)
        font_face(self.font)
        get_layout(self.layout, self.rhythm_leads, self.layouts_extra)
        choices = {
            "grid_style": ("lines", "dots"),
            "calibration_pulse": ("left", "right", "none"),
            "label_position": ("above", "below"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise OptionError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        if not 0.05 <= self.line_width_mm <= 2.0:
            raise OptionError(f"line_width_mm must be within 0.05-2 mm, got {self.line_width_mm}")
        if not 0.3 <= self.row_spacing <= 1.5:
            raise OptionError(f"row_spacing must be within 0.3-1.5, got {self.row_spacing}")

    def to_dict(self) -> dict:
        """JSON-ready dict of the options (user layouts left out)."""
        d = asdict(self)
        d.pop("layouts_extra", None)
        if d["rhythm_leads"] is not None:
            d["rhythm_leads"] = list(d["rhythm_leads"])
        return d


@dataclass
class PrintedLead:
    """One printed lead segment, in flat-sheet pixel coordinates.

    Parameters
    ----------
    lead : str
        Lead name (``-aVR`` for the inverted lead).
    instance_id : int
        Value of the segment's pixels in the instance mask (1-based).
    row, col, col_span : int
        Cell in the layout.
    t_start_s, t_end_s : float
        Printed window of the record in s.
    fs_hz : float
        Sampling rate of `signal_mv`.
    signal_mv : ndarray
        The printed samples in mV.
    points_px : ndarray, shape (n, 2)
        Polyline vertices (x, y) in px, one per sample.
    baseline_px : ndarray, shape (2, 2)
        Start and end of the 0 mV line in px.
    box_px : ndarray, shape (4, 2)
        Corners of the cell (top-left, top-right, bottom-right, bottom-left) in px.
    label_text : str or None
        Printed lead name.
    label_corners_px : ndarray, shape (4, 2) or None
        Corners of the printed name's box in px.
    """

    lead: str
    instance_id: int
    row: int
    col: int
    col_span: int
    t_start_s: float
    t_end_s: float
    fs_hz: float
    signal_mv: np.ndarray
    points_px: np.ndarray
    baseline_px: np.ndarray
    box_px: np.ndarray
    label_text: str | None
    label_corners_px: np.ndarray | None


@dataclass
class RenderedSheet:
    """A flat rendered sheet and its geometry.

    Parameters
    ----------
    canvas : SheetCanvas
        Image and label layers.
    leads : list of PrintedLead
        One entry per printed segment, in instance-id order.
    layout : Layout
        The layout drawn.
    sheet_duration_s : float
        Time shown across a full row in s.
    options : RenderOptions
        The options used.
    """

    canvas: SheetCanvas
    leads: list[PrintedLead]
    layout: Layout
    sheet_duration_s: float
    options: RenderOptions


def _line_profile(n_px: int, centres_px: np.ndarray, width_px: float) -> np.ndarray:
    """Coverage in [0, 1] along one axis of lines of `width_px` centred at `centres_px`.

    Pixel ``i`` spans ``[i - 0.5, i + 0.5]``; coverage is the overlap length
    with each line, so a line's position is kept to sub-pixel precision.
    Lines thinner than 1 px are drawn 1 px wide with proportionally less ink.
    """
    prof = np.zeros(n_px, np.float32)
    if centres_px.size == 0:
        return prof
    w = max(width_px, 1.0)
    ink = min(1.0, width_px) if width_px < 1.0 else 1.0
    lo = centres_px - w / 2
    hi = centres_px + w / 2
    reach = int(np.ceil(w / 2)) + 1
    base = np.round(centres_px).astype(int)
    for off in range(-reach, reach + 1):
        idx = base + off
        ok = (idx >= 0) & (idx < n_px)
        overlap = np.clip(np.minimum(hi, idx + 0.5) - np.maximum(lo, idx - 0.5), 0.0, 1.0)
        np.maximum.at(prof, idx[ok], (overlap[ok] * ink).astype(np.float32))
    return prof


def _draw_grid(canvas: SheetCanvas, area_px: tuple[float, float, float, float], pxmm: float,
               opts: RenderOptions) -> None:
    h, w = canvas.shape
    x0, y0, x1, y1 = area_px
    minor_rgb, major_rgb = grid_colours(opts.grid_colour)
    xs = x0 + np.arange(0, int(np.floor((x1 - x0) / pxmm + 1e-6)) + 1) * pxmm
    ys = y0 + np.arange(0, int(np.floor((y1 - y0) / pxmm + 1e-6)) + 1) * pxmm
    is_major_x = (np.arange(xs.size) % 5) == 0
    is_major_y = (np.arange(ys.size) % 5) == 0
    minor_w = max(0.08 * pxmm, 0.6)
    major_w = max(0.2 * pxmm, 1.0)
    ix0, iy0 = max(int(np.floor(x0 - major_w)), 0), max(int(np.floor(y0 - major_w)), 0)
    ix1, iy1 = min(int(np.ceil(x1 + major_w)) + 1, w), min(int(np.ceil(y1 + major_w)) + 1, h)
    # Extent mask: lines are only drawn inside the grid area.
    in_x = np.zeros(w, np.float32)
    in_y = np.zeros(h, np.float32)
    in_x[ix0:ix1] = _line_profile(ix1 - ix0, np.array([(x0 + x1) / 2 - ix0]), x1 - x0)
    in_y[iy0:iy1] = _line_profile(iy1 - iy0, np.array([(y0 + y1) / 2 - iy0]), y1 - y0)
    sub_x, sub_y = in_x[ix0:ix1], in_y[iy0:iy1]
    region = (slice(iy0, iy1), slice(ix0, ix1))
    sub = SheetCanvas(canvas.image[region].copy(), canvas.classes[region].copy(),
                      canvas.instances[region].copy(), canvas.paper[region].copy(), pxmm)
    if opts.minor_grid:
        mx = _line_profile(ix1 - ix0, xs[~is_major_x] - ix0, minor_w)
        my = _line_profile(iy1 - iy0, ys[~is_major_y] - iy0, minor_w)
        if opts.grid_style == "dots":
            dot_x = _line_profile(ix1 - ix0, xs - ix0, max(0.25 * pxmm, 1.0))
            dot_y = _line_profile(iy1 - iy0, ys - iy0, max(0.25 * pxmm, 1.0))
            cov = np.outer(dot_y * sub_y, dot_x * sub_x)
        else:
            cov = np.maximum(np.outer(my * sub_y, sub_x), np.outer(sub_y, mx * sub_x))
        sub.paint(cov, minor_rgb, GRID, threshold=0.3)
    jx = _line_profile(ix1 - ix0, xs[is_major_x] - ix0, major_w)
    jy = _line_profile(iy1 - iy0, ys[is_major_y] - iy0, major_w)
    cov = np.maximum(np.outer(jy * sub_y, sub_x), np.outer(sub_y, jx * sub_x))
    sub.paint(cov, major_rgb, GRID, threshold=0.3)
    canvas.image[region] = sub.image
    canvas.classes[region] = sub.classes


def _to_fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << SUBPIXEL_SHIFT)).astype(np.int32).reshape(-1, 1, 2)


class _TraceLayer:
    """Accumulates anti-aliased trace strokes and the instance mask."""

    def __init__(self, shape: tuple[int, int], thickness_px: int) -> None:
        self.cov = np.zeros(shape, np.uint8)
        self.thickness = thickness_px

    def stroke(self, points: np.ndarray, instances: np.ndarray | None, instance_id: int) -> None:
        """Draw a polyline (px) and mark its pixels with `instance_id`."""
        h, w = self.cov.shape
        pad = self.thickness + 3
        x0 = int(max(np.floor(points[:, 0].min()) - pad, 0))
        y0 = int(max(np.floor(points[:, 1].min()) - pad, 0))
        x1 = int(min(np.ceil(points[:, 0].max()) + pad + 1, w))
        y1 = int(min(np.ceil(points[:, 1].max()) + pad + 1, h))
        if x1 <= x0 or y1 <= y0:
            return
        local = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.polylines(local, [_to_fixed(points - [x0, y0])], False, 255, self.thickness,
                      cv2.LINE_AA, SUBPIXEL_SHIFT)
        view = self.cov[y0:y1, x0:x1]
        np.maximum(view, local, out=view)
        if instances is not None:
            inst = instances[y0:y1, x0:x1]
            inst[local > _TRACE_LABEL_THRESHOLD] = instance_id


def _put_text(layer: np.ndarray, text: str, org_px: tuple[float, float], height_px: float,
              face: int, thickness: int = 1) -> np.ndarray:
    """Draw text with its baseline-left corner at `org_px`; return its 4 corners (px)."""
    (tw, th), base = cv2.getTextSize(text, face, 1.0, thickness)
    scale = height_px / max(th, 1)
    (tw, th), base = cv2.getTextSize(text, face, scale, thickness)
    x, y = org_px
    cv2.putText(layer, text, (int(round(x)), int(round(y))), face, scale, 255, thickness,
                cv2.LINE_AA)
    return np.array([[x, y - th], [x + tw, y - th], [x + tw, y + base], [x, y + base]], float)


def render_sheet(record: EcgRecord, options: RenderOptions | None = None,
                 rng: np.random.Generator | None = None,
                 measurements: dict[str, float] | None = None) -> RenderedSheet:
    """Render `record` as a flat paper ECG sheet.

    Parameters
    ----------
    record : EcgRecord
        Source signals in mV; the twelve standard leads are needed (limb leads
        may be derived from I and II). It must be at least as long as the
        sheet shows (10 s at 25 mm/s, 5 s at 50 mm/s); shorter records print
        shorter rows.
    options : RenderOptions, optional
        Defaults to a 3x4 sheet with a lead II rhythm strip at 200 dpi.
    rng : numpy.random.Generator, optional
        Source of the invented header fields (default: seeded with 0).
    measurements : dict, optional
        Values for the printed measurement block (``rate_bpm``, ``pr_ms``,
        ``qrs_ms``, ``qt_ms``).

    Returns
    -------
    RenderedSheet

    Raises
    ------
    OptionError, LayoutError, RecordError
        For invalid options or a record lacking a printed lead.
    """
    opts = options or RenderOptions()
    opts.validate()
    rng = rng if rng is not None else np.random.default_rng(0)
    layout = get_layout(opts.layout, opts.rhythm_leads, opts.layouts_extra)
    try:
        signals = record.standard12().as_dict()
    except RecordError:
        signals = record.as_dict()  # a layout using only the leads present still renders
    paper = get_paper_size(opts.paper)
    pxmm = px_per_mm(opts.dpi)
    width_px = int(round(paper.width_mm * pxmm))
    height_px = int(round(paper.height_mm * pxmm))
    canvas = SheetCanvas.blank(height_px, width_px, paper_colour(opts.paper_colour), pxmm)

    # --- sheet geometry in mm -------------------------------------------------------------
    margin = 5.0
    header_mm = 32.0 if opts.header else 8.0
    footer_mm = 8.0 if opts.header else 0.0
    grid_x0, grid_x1 = margin, paper.width_mm - margin
    grid_y0, grid_y1 = header_mm, paper.height_mm - margin - footer_mm
    # Snap the grid extent to whole 5 mm blocks.
    grid_x1 = grid_x0 + 5.0 * np.floor((grid_x1 - grid_x0) / 5.0)
    grid_y1 = grid_y0 + 5.0 * np.floor((grid_y1 - grid_y0) / 5.0)
    pulse_mm = 10.0 if opts.calibration_pulse != "none" else 0.0
    speed, gain = opts.speed_mm_s, opts.gain_mm_mv
    row_width_mm = min(250.0, grid_x1 - grid_x0 - pulse_mm - 4.0)
    sheet_duration_s = min(row_width_mm / speed, record.duration_s)
    row_width_mm = sheet_duration_s * speed
    if opts.calibration_pulse == "left":
        trace_x0 = grid_x0 + pulse_mm + 2.0
    else:
        trace_x0 = grid_x0 + 2.0
    row_pitch = (grid_y1 - grid_y0) / layout.n_rows * opts.row_spacing
    extra = (grid_y1 - grid_y0) - row_pitch * layout.n_rows
    first_base = grid_y0 + extra / 2 + row_pitch * 0.62
    baselines_mm = first_base + row_pitch * np.arange(layout.n_rows)

    _draw_grid(canvas, (grid_x0 * pxmm, grid_y0 * pxmm, grid_x1 * pxmm, grid_y1 * pxmm), pxmm,
               opts)

    thickness = max(1, int(round(opts.line_width_mm * pxmm)))
    traces = _TraceLayer(canvas.shape, thickness)
    text = np.zeros(canvas.shape, np.uint8)
    face = font_face(opts.font)
    label_h = opts.label_height_mm * pxmm
    text_thick = max(1, int(round(label_h / 12)))

    printed: list[PrintedLead] = []
    col_width_mm = row_width_mm / layout.n_cols
    for k, cell in enumerate(sorted(layout.cells, key=lambda c: (c.row, c.col)), start=1):
        t0, t1 = layout.window_s(cell, sheet_duration_s)
        try:
            full = lead_signal(signals, cell.lead)
        except RecordError as exc:
            raise RecordError(f"record {record.name!r}: {exc}") from None
        i0 = int(np.ceil(t0 * record.fs - 1e-9))
        i1 = min(int(np.ceil(t1 * record.fs - 1e-9)), full.size)
        seg = np.asarray(full[i0:i1], float)
        t = np.arange(i0, i1) / record.fs
        base_mm = baselines_mm[cell.row]
        finite = np.isfinite(seg)
        xs = (trace_x0 + t * speed) * pxmm
        ys = (base_mm - np.where(finite, seg, 0.0) * gain) * pxmm
        pts = np.stack([xs, ys], axis=1)
        # NaN samples are not drawn: split the polyline at them.
        breaks = np.flatnonzero(~finite)
        for run in np.split(np.arange(seg.size), breaks):
            run = run[finite[run]] if run.size else run
            if run.size >= 2:
                traces.stroke(pts[run], canvas.instances, k)
        cx0 = trace_x0 + cell.col * col_width_mm
        cx1 = cx0 + cell.col_span * col_width_mm
        top, bottom = base_mm - row_pitch * 0.62, base_mm + row_pitch * 0.38
        box = np.array([[cx0, top], [cx1, top], [cx1, bottom], [cx0, bottom]]) * pxmm
        baseline = np.array([[cx0, base_mm], [cx1, base_mm]]) * pxmm
        label_corners = None
        label_text = None
        if opts.lead_labels:
            label_text = cell.lead
            dy = -4.0 if opts.label_position == "above" else 4.0 + opts.label_height_mm
            org = ((cx0 + 1.5) * pxmm, (base_mm + dy) * pxmm)
            label_corners = _put_text(text, label_text, org, label_h, face, text_thick)
        printed.append(PrintedLead(
            lead=cell.lead, instance_id=k, row=cell.row, col=cell.col, col_span=cell.col_span,
            t_start_s=i0 / record.fs, t_end_s=i1 / record.fs, fs_hz=record.fs, signal_mv=seg,
            points_px=pts, baseline_px=baseline, box_px=box, label_text=label_text,
            label_corners_px=label_corners,
        ))

    # Calibration pulses (1 mV) and column separators, in trace ink but no lead instance.
    pulse_w_mm = 0.2 * speed
    for row in range(layout.n_rows):
        b = baselines_mm[row]
        if opts.calibration_pulse != "none":
            # Lead-in and lead-out of 1.5 mm; a left pulse must end before the trace starts,
            # so at 50 mm/s (a 10 mm pulse) they shrink to fit the space left of it.
            if opts.calibration_pulse == "left":
                lead = min(1.5, (trace_x0 - grid_x0 - pulse_w_mm - 0.5) / 3.0)
                px0 = grid_x0 + lead
            else:
                lead = 1.5
                px0 = trace_x0 + row_width_mm + 2.0
            xa, xb = px0 + lead, px0 + lead + pulse_w_mm
            p = [[px0, b], [xa, b], [xa, b - gain], [xb, b - gain], [xb, b], [xb + lead, b]]
            if opts.calibration_pulse == "right" and px0 + 3.0 + pulse_w_mm > grid_x1:
                continue
            traces.stroke(np.array(p) * pxmm, None, 0)
        if opts.separators and layout.n_cols > 1:
            row_cells = [c for c in layout.cells if c.row == row]
            if len(row_cells) > 1:
                for c in range(1, layout.n_cols):
                    x = trace_x0 + c * col_width_mm
                    traces.stroke(np.array([[x, b - 2.5], [x, b + 2.5]]) * pxmm, None, 0)

    if opts.header:
        line_h = 2.6 * pxmm
        fields = fake_patient_fields(rng)
        x = margin * pxmm
        for i, item in enumerate(fields[:3]):
            _put_text(text, item, (x, (7 + 4.5 * i) * pxmm), line_h, face, text_thick)
        for i, item in enumerate(fields[3:]):
            _put_text(text, item, (x + 70 * pxmm, (7 + 4.5 * i) * pxmm), line_h, face, text_thick)
        for i, item in enumerate(measurement_lines(measurements, rng)):
            col, r = divmod(i, 3)
            _put_text(text, item, ((120 + 55 * col) * pxmm, (7 + 4.5 * r) * pxmm), line_h, face,
                      text_thick)
        _put_text(text, settings_line(speed, gain, rng), (x, (paper.height_mm - margin - 2) * pxmm),
                  line_h, face, text_thick)

    ink = ink_colour(opts.ink)
    canvas.paint(text, ink, TEXT, threshold=0.4)
    canvas.paint(traces.cov, ink, TRACE, threshold=_TRACE_LABEL_THRESHOLD / 255)
    return RenderedSheet(canvas, printed, layout, sheet_duration_s, opts)
