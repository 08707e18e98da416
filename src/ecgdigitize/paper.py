"""Paper standards: sizes, paper speeds, gains and resolution.

All lengths are in mm unless a name says otherwise; resolutions in dots per
inch (dpi); paper speed in mm/s; gain in mm/mV.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import OptionError

__all__ = [
    "MM_PER_INCH",
    "PAPER_SPEEDS_MM_S",
    "GAINS_MM_MV",
    "PaperSize",
    "PAPER_SIZES",
    "get_paper_size",
    "px_per_mm",
    "check_speed",
    "check_gain",
    "check_dpi",
]

MM_PER_INCH = 25.4
PAPER_SPEEDS_MM_S: tuple[float, ...] = (25.0, 50.0)
GAINS_MM_MV: tuple[float, ...] = (5.0, 10.0, 20.0)
MIN_DPI, MAX_DPI = 50.0, 1200.0


@dataclass(frozen=True)
class PaperSize:
    """A sheet size in landscape orientation.

    Parameters
    ----------
    name : str
        Identifier used on the command line.
    width_mm, height_mm : float
        Sheet width and height in mm (landscape: width >= height).
    """

    name: str
    width_mm: float
    height_mm: float


PAPER_SIZES: dict[str, PaperSize] = {
    "letter": PaperSize("letter", 279.4, 215.9),
    "a4": PaperSize("a4", 297.0, 210.0),
    # A cut length of a 216 mm thermal roll, as printed by bedside carts.
    "thermal": PaperSize("thermal", 280.0, 216.0),
}


def get_paper_size(name: str) -> PaperSize:
    """Return a paper size by name (``letter``, ``a4``, ``thermal``)."""
    try:
        return PAPER_SIZES[name.lower()]
    except KeyError:
        raise OptionError(
            f"unknown paper size {name!r}; choose one of {sorted(PAPER_SIZES)}"
        ) from None


def px_per_mm(dpi: float) -> float:
    """Convert a resolution in dpi to pixels per mm."""
    return float(dpi) / MM_PER_INCH


def check_speed(speed_mm_s: float) -> float:
    """Validate a paper speed in mm/s (25 or 50)."""
    if float(speed_mm_s) not in PAPER_SPEEDS_MM_S:
        raise OptionError(f"paper speed must be one of {PAPER_SPEEDS_MM_S} mm/s, got {speed_mm_s}")
    return float(speed_mm_s)


def check_gain(gain_mm_mv: float) -> float:
    """Validate a gain in mm/mV (5, 10 or 20)."""
    if float(gain_mm_mv) not in GAINS_MM_MV:
        raise OptionError(f"gain must be one of {GAINS_MM_MV} mm/mV, got {gain_mm_mv}")
    return float(gain_mm_mv)


def check_dpi(dpi: float) -> float:
    """Validate a resolution in dpi (50 to 1200)."""
    if not (MIN_DPI <= float(dpi) <= MAX_DPI):
        raise OptionError(f"resolution must be within {MIN_DPI:g}-{MAX_DPI:g} dpi, got {dpi}")
    return float(dpi)
