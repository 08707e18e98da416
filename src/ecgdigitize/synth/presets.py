"""Named generator presets: the conditions benchmark sets are made of.

Each preset draws a :class:`SheetSpec` at random (layout, speed, gain,
resolution, colours, artifact intensities) from a seeded generator.
"""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from .render import RenderOptions
from .sheet import ArtifactOptions, SheetSpec

__all__ = ["PRESETS", "sample_spec"]

PRESETS: tuple[str, ...] = ("clean-scan", "bw-scan", "degraded", "photo", "overlap", "mixed")

_LAYOUTS = ("3x4+1", "3x4", "3x4+3", "3x4+2", "6x2", "6x2+1", "12x1", "3x4-cabrera",
            "6x2-cabrera", "6x1-limb", "6x1-precordial", "1x1")
_LAYOUT_P = np.array([8, 4, 2, 1, 2, 1, 1, 1, 1, 0.5, 0.5, 0.5])


def _choice(rng: np.random.Generator, items, p=None):
    p = None if p is None else np.asarray(p, float) / np.sum(p)
    return items[int(rng.choice(len(items), p=p))]


def _render(rng: np.random.Generator, dpi_range=(150, 300)) -> RenderOptions:
    return RenderOptions(
        layout=_choice(rng, _LAYOUTS, _LAYOUT_P),
        speed_mm_s=_choice(rng, (25.0, 50.0), (0.85, 0.15)),
        gain_mm_mv=_choice(rng, (5.0, 10.0, 20.0), (0.1, 0.8, 0.1)),
        dpi=float(rng.integers(dpi_range[0], dpi_range[1] + 1)),
        paper=_choice(rng, ("letter", "a4", "thermal"), (0.5, 0.35, 0.15)),
        paper_colour=_choice(rng, ("white", "cream", "thermal"), (0.7, 0.2, 0.1)),
        grid_colour=_choice(rng, ("red", "pink", "green", "blue", "grey", "black"),
                            (0.45, 0.2, 0.1, 0.05, 0.1, 0.1)),
        grid_style=_choice(rng, ("lines", "dots"), (0.9, 0.1)),
        minor_grid=bool(rng.random() < 0.92),
        ink=_choice(rng, ("black", "blue", "darkgrey"), (0.8, 0.1, 0.1)),
        line_width_mm=float(rng.uniform(0.2, 0.45)),
        calibration_pulse=_choice(rng, ("left", "right", "none"), (0.7, 0.1, 0.2)),
        lead_labels=bool(rng.random() < 0.97),
        label_position=_choice(rng, ("above", "below"), (0.85, 0.15)),
        label_height_mm=float(rng.uniform(2.5, 4.0)),
        font=_choice(rng, ("simplex", "duplex", "plain", "complex", "italic")),
        separators=bool(rng.random() < 0.7),
        header=bool(rng.random() < 0.9),
    )


def sample_spec(preset: str, rng: np.random.Generator) -> SheetSpec:
    """Draw a sheet specification for a preset.

    Parameters
    ----------
    preset : str
        One of :data:`PRESETS`.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    SheetSpec

    Raises
    ------
    OptionError
        If the preset name is unknown.
    """
    if preset not in PRESETS:
        raise OptionError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if preset == "mixed":
        preset = _choice(rng, PRESETS[:-1], (0.3, 0.15, 0.2, 0.2, 0.15))
        spec = sample_spec(preset, rng)
        spec.preset = f"mixed/{preset}"
        return spec
    render = _render(rng)
    a = ArtifactOptions()
    if preset == "clean-scan":
        a.rotation_deg = float(rng.uniform(-1.0, 1.0))
        a.noise = float(rng.uniform(0.0, 0.15))
    elif preset == "bw-scan":
        render.grid_colour = _choice(rng, ("red", "pink", "grey", "black"))
        a.rotation_deg = float(rng.uniform(-3.0, 3.0))
        a.noise = float(rng.uniform(0.0, 0.3))
        a.bw = True
        a.handwriting = float(rng.uniform(0.0, 0.4))
        a.jpeg_quality = int(rng.integers(60, 96)) if rng.random() < 0.5 else None
    elif preset == "degraded":
        a.rotation_deg = float(rng.uniform(-5.0, 5.0))
        a.stains = float(rng.uniform(0.2, 0.8))
        a.handwriting = float(rng.uniform(0.2, 0.9))
        a.stamp = float(rng.uniform(0.0, 0.8))
        a.creases = float(rng.uniform(0.2, 0.9))
        a.folds = float(rng.uniform(0.0, 0.7)) if rng.random() < 0.5 else 0.0
        a.torn_corners = float(rng.uniform(0.0, 0.6))
        a.wrinkles = float(rng.uniform(0.2, 0.8))
        a.lighting = float(rng.uniform(0.0, 0.4))
        a.noise = float(rng.uniform(0.1, 0.5))
        a.blur = float(rng.uniform(0.0, 0.3))
        a.jpeg_quality = int(rng.integers(50, 95))
    elif preset == "photo":
        a.rotation_deg = float(rng.uniform(-10.0, 10.0))
        a.perspective = float(rng.uniform(0.3, 1.0))
        a.curl = float(rng.uniform(0.0, 0.6))
        a.wrinkles = float(rng.uniform(0.0, 0.4))
        a.background = float(rng.uniform(0.05, 0.2))
        a.lighting = float(rng.uniform(0.3, 1.0))
        a.blur = float(rng.uniform(0.1, 0.6))
        a.noise = float(rng.uniform(0.1, 0.6))
        a.jpeg_quality = int(rng.integers(55, 92))
    elif preset == "overlap":
        render.layout = _choice(rng, ("3x4+1", "3x4", "6x2", "12x1", "3x4+3"))
        render.gain_mm_mv = _choice(rng, (10.0, 20.0), (0.4, 0.6))
        render.row_spacing = float(rng.uniform(0.45, 0.75))
        a.rotation_deg = float(rng.uniform(-2.0, 2.0))
        a.noise = float(rng.uniform(0.0, 0.2))
    return SheetSpec(render=render, artifacts=a, preset=preset)
