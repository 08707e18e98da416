"""Colours and fonts of printed ECG sheets."""

from __future__ import annotations

import cv2

from ..errors import OptionError

__all__ = ["GRID_COLOURS", "PAPER_COLOURS", "INK_COLOURS", "FONTS", "grid_colours", "ink_colour",
           "paper_colour", "font_face"]

#: Grid colour schemes: (minor line RGB, major line RGB).
GRID_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "red": ((246, 184, 184), (232, 112, 112)),
    "pink": ((250, 212, 220), (240, 158, 176)),
    "green": ((186, 226, 190), (100, 182, 116)),
    "blue": ((196, 214, 244), (118, 158, 222)),
    "grey": ((212, 212, 212), (150, 150, 150)),
    "black": ((175, 175, 175), (70, 70, 70)),
}
PAPER_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "cream": (251, 247, 236),
    "thermal": (238, 238, 233),
}
INK_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (10, 10, 10),
    "blue": (25, 40, 150),
    "darkgrey": (60, 60, 60),
    "darkred": (120, 10, 10),
}
FONTS: dict[str, int] = {
    "simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "plain": cv2.FONT_HERSHEY_PLAIN,
    "duplex": cv2.FONT_HERSHEY_DUPLEX,
    "complex": cv2.FONT_HERSHEY_COMPLEX,
    "triplex": cv2.FONT_HERSHEY_TRIPLEX,
    "italic": cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
}


def _lookup(table: dict, name: str, what: str):
    try:
        return table[name]
    except KeyError:
        raise OptionError(f"unknown {what} {name!r}; choose one of {sorted(table)}") from None


def grid_colours(name: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(minor, major) RGB of a grid colour scheme."""
    return _lookup(GRID_COLOURS, name, "grid colour")


def ink_colour(name: str) -> tuple[int, int, int]:
    """RGB of a trace/text ink."""
    return _lookup(INK_COLOURS, name, "ink colour")


def paper_colour(name: str) -> tuple[int, int, int]:
    """RGB of a paper colour."""
    return _lookup(PAPER_COLOURS, name, "paper colour")


def font_face(name: str) -> int:
    """OpenCV Hershey font id of a font name."""
    return _lookup(FONTS, name, "font")
