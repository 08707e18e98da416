"""Result of digitizing one sheet: signals, detected settings, quality, geometry.

The digitizer (:func:`ecgdigitize.digitize.pipeline.digitize`) returns a
:class:`Result`. Writers (:mod:`ecgdigitize.io.outputs`) and the overlay
(:mod:`ecgdigitize.digitize.overlay`) read only this class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..record import EcgRecord

__all__ = ["LeadTrace", "Detected", "Result"]


@dataclass
class LeadTrace:
    """One printed lead segment as found on the image.

    Parameters
    ----------
    lead : str
        Canonical lead name as printed (``-aVR`` for the inverted lead).
    row, col, col_span : int
        Cell of the layout the segment was read from.
    t_start_s, t_end_s : float
        Time window of the record the segment covers, in s.
    x_px, y_px : ndarray, shape (n,)
        The traced centre line in the coordinates of the *input* image, in px
        (NaN where the column could not be read). Used by the overlay.
    quality : float
        Confidence in [0, 1] (fraction of columns read, penalised by ambiguity).
    label_found : bool
        True if a printed lead name was recognised at the segment's start.
    """

    lead: str
    row: int
    col: int
    col_span: int
    t_start_s: float
    t_end_s: float
    x_px: np.ndarray
    y_px: np.ndarray
    quality: float
    label_found: bool = False


@dataclass
class Detected:
    """Settings of the sheet as detected (or assumed), and how each was found.

    Parameters
    ----------
    layout : str
        Layout name.
    layout_cost : float
        Matching cost of the chosen layout (lower is better; 0 is a perfect match).
    layout_candidates : dict of str to float
        Cost of every layout considered.
    speed_mm_s : float
        Paper speed in mm/s.
    speed_source : str
        ``option``, ``printed``, ``pulse``, ``qt`` (the QT interval), ``qrs-width`` or
        ``assumed``.
    gain_mm_mv : float
        Gain in mm/mV.
    gain_source : str
        ``option``, ``pulse``, ``printed`` or ``assumed``.
    px_per_mm_x, px_per_mm_y : float
        Scale of the input image along the sheet's (deskewed) axes, in px/mm.
    scale_source : str
        ``grid``, ``dpi``, ``pulse`` (no grid: the calibration pulse), ``rows``
        (no grid or pulse: a full-width row taken as 250 mm), ``page`` (the
        image's longer side taken as a page) or ``assumed``.
    rotation_deg : float
        Rotation that was undone, in degrees (counter-clockwise positive;
        includes 180 for an upside-down sheet).
    upside_down : bool
        True if the sheet was read upside down and turned.
    pulse : str
        Where a calibration pulse was found: ``left``, ``right`` or ``none``.
    sheet_duration_s : float
        Time shown across a full row, in s.
    paper_corners_px : list of [x, y], optional
        Corners of the paper in input-image px (top-left, top-right,
        bottom-right, bottom-left) where a photo's perspective was corrected;
        the px/mm figures are then those of the rectified sheet.
    segmenter : str
        Pixel separator whose reading this is: ``classical`` or ``learned``
        (see the ``segmenter`` option of :func:`~.pipeline.digitize`).
    """

    layout: str = "unknown"
    layout_cost: float = float("nan")
    layout_candidates: dict[str, float] = field(default_factory=dict)
    speed_mm_s: float = 25.0
    speed_source: str = "assumed"
    gain_mm_mv: float = 10.0
    gain_source: str = "assumed"
    px_per_mm_x: float = float("nan")
    px_per_mm_y: float = float("nan")
    scale_source: str = "assumed"
    rotation_deg: float = 0.0
    upside_down: bool = False
    pulse: str = "none"
    sheet_duration_s: float = 10.0
    paper_corners_px: list[list[float]] | None = None
    segmenter: str = "classical"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: (float(v) if isinstance(v, np.floating) else v)
                for k, v in self.__dict__.items()}


@dataclass
class Result:
    """Digitized sheet.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_leads)
        Amplitudes in mV; NaN where a lead was not printed or not readable.
    fs : float
        Sampling rate in Hz.
    lead_names : list of str
        Canonical lead names, one per column of `signals` (the twelve
        standard leads in standard order, whichever were printed).
    quality : dict of str to float
        Per-lead quality in [0, 1] (0 for a lead that was not read).
    detected : Detected
        Detected layout, speed, gain, scale, rotation and their sources.
    traces : list of LeadTrace
        Every segment read, with its centre line in input-image px.
    timings_s : dict of str to float
        Wall time of each stage in s.
    source : str
        Input image path (or ``<array>``).
    image_shape : tuple of int
        (height, width) of the input image in px.
    warnings : list of str
        Things the reader should know (e.g. speed assumed, lead unreadable).
    filled : ndarray of bool, shape (n_samples, n_leads), optional
        True where a sample was not read but reconstructed from the other
        limb leads (see :mod:`ecgdigitize.digitize.redundancy`) or bridged
        across a short unread stretch (:mod:`ecgdigitize.digitize.gaps`);
        None when neither step ran.
    flagged_leads : list of str
        Limb leads that disagree with the other limb leads (their quality is
        lowered; their samples are as read).
    limb_residual_mv : dict of str to float
        Per limb lead compared with the others: RMS of its residual against
        the least-squares fit of the other limb leads, in mV.
    """

    signals: np.ndarray
    fs: float
    lead_names: list[str]
    quality: dict[str, float]
    detected: Detected
    traces: list[LeadTrace] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    source: str = "<array>"
    image_shape: tuple[int, int] = (0, 0)
    warnings: list[str] = field(default_factory=list)
    filled: np.ndarray | None = None
    flagged_leads: list[str] = field(default_factory=list)
    limb_residual_mv: dict[str, float] = field(default_factory=dict)

    @property
    def nan_mask(self) -> np.ndarray:
        """Boolean array, True where a sample is unknown (same shape as `signals`)."""
        return ~np.isfinite(self.signals)

    @property
    def duration_s(self) -> float:
        """Record length in s."""
        return self.signals.shape[0] / self.fs

    def to_record(self, name: str = "digitized") -> EcgRecord:
        """The signals as an :class:`~ecgdigitize.record.EcgRecord`."""
        return EcgRecord(self.signals, self.fs, list(self.lead_names), name=name,
                         comments=[f"digitized from {self.source} by ecgdigitize"])

    def filled_counts(self) -> dict[str, int] | None:
        """Per lead, the number of samples reconstructed from other leads; None if no such
        step ran (or its mask does not match the signals)."""
        if self.filled is None or np.shape(self.filled) != self.signals.shape:
            return None
        return {name: int(np.count_nonzero(self.filled[:, i]))
                for i, name in enumerate(self.lead_names)}

    def filled_fraction(self) -> dict[str, float]:
        """Per lead, the fraction of samples reconstructed from other leads (0 if none)."""
        n = self.signals.shape[0]
        counts = self.filled_counts()
        if counts is None or n == 0:
            return {name: 0.0 for name in self.lead_names}
        return {name: c / n for name, c in counts.items()}

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: detected settings, quality, filled samples, timings, warnings."""
        return {
            "source": self.source,
            "image_shape_px": list(self.image_shape),
            "fs_hz": float(self.fs),
            "n_samples": int(self.signals.shape[0]),
            "leads": list(self.lead_names),
            "quality": {k: round(float(v), 4) for k, v in self.quality.items()},
            "nan_fraction": {n: round(float(np.mean(~np.isfinite(self.signals[:, i]))), 4)
                             for i, n in enumerate(self.lead_names)},
            "filled_fraction": {k: round(v, 4) for k, v in self.filled_fraction().items()},
            "flagged_leads": list(self.flagged_leads),
            "limb_residual_mv": {k: round(float(v), 4)
                                 for k, v in self.limb_residual_mv.items()},
            "detected": self.detected.to_dict(),
            "timings_s": {k: round(float(v), 4) for k, v in self.timings_s.items()},
            "warnings": list(self.warnings),
        }

