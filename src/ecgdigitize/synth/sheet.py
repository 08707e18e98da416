"""One synthetic sheet, end to end: render, overlay artifacts, warp, photometric
effects, ground truth.

Order of the stages (each optional, each driven by the same seeded
generator so that a seed reproduces the image exactly):

1. flat rendering (:func:`ecgdigitize.synth.render.render_sheet`);
2. ink and paper damage on the flat sheet: stains, handwriting, stamps,
   creases, torn corners;
3. geometry: wrinkles, page curl, rotation, perspective (one composed warp);
4. scene background around the paper, lighting and shadows, blur, sensor
   noise, black-and-white thresholding, JPEG compression.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import OptionError
from ..evaluate.intervals import delineate
from ..record import EcgRecord
from . import artifacts as art
from .canvas import SheetCanvas
from .geometry import apply_warp, make_warp
from .groundtruth import build_groundtruth
from .render import RenderOptions, render_sheet

__all__ = ["ArtifactOptions", "SheetSpec", "SyntheticSheet", "generate_sheet", "measure_record"]


def measure_record(record: EcgRecord) -> dict[str, float]:
    """Heart rate (bpm), QRS and QT (ms) of a record, for the printed measurement block.

    Uses the evaluation delineator on the whole record; values it cannot
    measure are left out (the header then shows plausible invented values).
    """
    iv = delineate(record.as_dict(), record.fs)
    values = {"rate_bpm": iv.hr_bpm, "qrs_ms": iv.qrs_ms, "qt_ms": iv.qt_ms}
    return {k: float(v) for k, v in values.items() if np.isfinite(v)}


# Stages run in this order; each is called as stage(canvas, rng, intensity).
_FLAT_STAGES = (("stains", art.add_stains), ("creases", art.add_creases),
                ("handwriting", art.add_handwriting), ("stamp", art.add_stamp),
                ("torn_corners", art.add_torn_corners))
_PHOTO_STAGES = (("lighting", art.add_lighting), ("blur", art.add_blur),
                 ("noise", art.add_sensor_noise))


@dataclass
class ArtifactOptions:
    """Intensities of the image artifacts; 0 switches one off.

    Parameters
    ----------
    stains, handwriting, stamp, creases, torn_corners : float
        Paper and ink damage, intensity in [0, 1].
    wrinkles, curl, folds : float
        Paper deformation, intensity in [0, 1]: smooth wrinkles, page curl,
        and fold lines that bend the sheet (``creases`` only shades it).
    rotation_deg : float
        In-plane rotation in degrees (counter-clockwise positive).
    perspective : float
        Camera tilt in [0, 1] (1 is about 30 degrees).
    upside_down : bool
        Rotate the sheet by a further 180 degrees.
    background : float
        Margin of scene around the paper, as a fraction of the sheet size.
    lighting, blur, noise : float
        Photometric effects, intensity in [0, 1].
    bw : bool
        Black-and-white thresholded scan.
    jpeg_quality : int or None
        JPEG quality 5-100 of a compression round trip (None: none).
    """

    stains: float = 0.0
    handwriting: float = 0.0
    stamp: float = 0.0
    creases: float = 0.0
    torn_corners: float = 0.0
    wrinkles: float = 0.0
    curl: float = 0.0
    folds: float = 0.0
    rotation_deg: float = 0.0
    perspective: float = 0.0
    upside_down: bool = False
    background: float = 0.0
    lighting: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    bw: bool = False
    jpeg_quality: int | None = None

    def validate(self) -> None:
        """Raise :class:`OptionError` for an intensity out of range."""
        for name in ("stains", "handwriting", "stamp", "creases", "torn_corners", "wrinkles",
                     "curl", "folds", "perspective", "lighting", "blur", "noise"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise OptionError(f"artifact {name} must be within 0-1, got {v}")
        if not -180.0 <= self.rotation_deg <= 180.0:
            raise OptionError(f"rotation must be within +-180 degrees, got {self.rotation_deg}")
        if not 0.0 <= self.background <= 0.5:
            raise OptionError(f"background margin must be within 0-0.5, got {self.background}")
        if self.jpeg_quality is not None and not 5 <= int(self.jpeg_quality) <= 100:
            raise OptionError(f"jpeg quality must be within 5-100, got {self.jpeg_quality}")


@dataclass
class SheetSpec:
    """Everything needed to reproduce a sheet from its record and seed."""

    render: RenderOptions = field(default_factory=RenderOptions)
    artifacts: ArtifactOptions = field(default_factory=ArtifactOptions)
    preset: str = "custom"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of all options."""
        return {"render": self.render.to_dict(), "artifacts": asdict(self.artifacts),
                "preset": self.preset}


@dataclass
class SyntheticSheet:
    """A generated sheet: final image and masks, and the sidecar document."""

    canvas: SheetCanvas
    groundtruth: dict[str, Any]


def generate_sheet(record: EcgRecord, spec: SheetSpec | None = None,
                   rng: np.random.Generator | None = None, seed: int | None = None,
                   source: str = "simulator",
                   measurements: dict[str, float] | None = None) -> SyntheticSheet:
    """Generate one synthetic paper ECG with its ground truth.

    Parameters
    ----------
    record : EcgRecord
        Source signals in mV.
    spec : SheetSpec, optional
        Render and artifact options (default: a clean 3x4+1 sheet).
    rng : numpy.random.Generator, optional
        Random source for every random choice (default: from `seed`, or 0).
    seed : int, optional
        Recorded in the sidecar; also seeds `rng` when `rng` is None.
    source : str
        Where the record came from (recorded in the sidecar).
    measurements : dict, optional
        Values for the printed measurement block (``rate_bpm``, ``pr_ms``,
        ``qrs_ms``, ``qt_ms``). By default the rate, QRS and QT are measured
        on the record itself, as an ECG machine would print them.

    Returns
    -------
    SyntheticSheet
    """
    spec = spec or SheetSpec()
    spec.render.validate()
    spec.artifacts.validate()
    if rng is None:
        rng = np.random.default_rng(seed if seed is not None else 0)
    a = spec.artifacts
    if measurements is None:
        measurements = measure_record(record)
    rendered = render_sheet(record, spec.render, rng, measurements)
    canvas = rendered.canvas

    for name, stage in _FLAT_STAGES:
        if getattr(a, name) > 0:
            canvas = stage(canvas, rng, getattr(a, name))

    warp = make_warp(rng, canvas.shape, rotation_deg=a.rotation_deg, perspective=a.perspective,
                     wrinkles=a.wrinkles, curl=a.curl, margin_frac=a.background,
                     upside_down=a.upside_down, folds=a.folds)
    canvas = apply_warp(canvas, warp)

    if not canvas.paper.all():
        canvas = art.fill_background(canvas, rng)
    for name, stage in _PHOTO_STAGES:
        if getattr(a, name) > 0:
            canvas = stage(canvas, rng, getattr(a, name))
    if a.bw:
        canvas = art.to_bw(canvas, rng, 1.0)
    if a.jpeg_quality is not None:
        canvas = art.jpeg_compress(canvas, int(a.jpeg_quality))

    meta = {
        "record": {"name": record.name, "source": source, "fs_hz": record.fs,
                   "duration_s": record.duration_s},
        "preset": spec.preset,
        "seed": seed,
        "options": spec.to_dict(),
        "warp": warp.to_dict(),
    }
    gt = build_groundtruth(rendered, canvas, warp.map_points, meta)
    return SyntheticSheet(canvas, gt)
