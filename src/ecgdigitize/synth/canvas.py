"""The raster a sheet is rendered into, with its pixel-exact ground-truth layers.

Every stage of the generator (drawing, overlay artifacts, geometric warps,
photometric effects) takes and returns a :class:`SheetCanvas`, so the ground
truth always stays in the coordinates of the current image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "BACKGROUND",
    "TRACE",
    "GRID",
    "TEXT",
    "CLASS_NAMES",
    "SheetCanvas",
]

#: Class codes of :attr:`SheetCanvas.classes` (and of the ``*_classes.png`` masks).
BACKGROUND, TRACE, GRID, TEXT = 0, 1, 2, 3
CLASS_NAMES: dict[int, str] = {BACKGROUND: "background", TRACE: "trace", GRID: "grid", TEXT: "text"}


@dataclass
class SheetCanvas:
    """An RGB sheet image with its ground-truth label layers.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        RGB image.
    classes : ndarray, shape (H, W), uint8
        Per-pixel class: :data:`BACKGROUND` (paper or scene), :data:`TRACE`,
        :data:`GRID` or :data:`TEXT`. Where inks overlap, the one drawn last wins.
    instances : ndarray, shape (H, W), uint8
        Per-pixel lead instance id: ``k`` for the ``k``-th printed lead segment
        (1-based, the order of the sidecar's ``leads`` list), 0 elsewhere.
        Unlike `classes`, a trace hidden under later ink keeps its id.
    paper : ndarray, shape (H, W), bool
        True where the pixel shows the paper sheet (False for scene background
        around a photographed sheet and for torn-off corners).
    px_per_mm : float
        Nominal resolution of the flat sheet in px/mm (before any warp).
    """

    image: np.ndarray
    classes: np.ndarray
    instances: np.ndarray
    paper: np.ndarray
    px_per_mm: float

    @property
    def shape(self) -> tuple[int, int]:
        """Image height and width in px."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    @classmethod
    def blank(cls, height_px: int, width_px: int, paper_rgb: tuple[int, int, int],
              px_per_mm: float) -> SheetCanvas:
        """A sheet of plain paper of the given size and colour."""
        image = np.empty((height_px, width_px, 3), np.uint8)
        image[:] = np.asarray(paper_rgb, np.uint8)
        return cls(
            image=image,
            classes=np.zeros((height_px, width_px), np.uint8),
            instances=np.zeros((height_px, width_px), np.uint8),
            paper=np.ones((height_px, width_px), bool),
            px_per_mm=float(px_per_mm),
        )

    def copy(self) -> SheetCanvas:
        """A deep copy."""
        return replace(
            self,
            image=self.image.copy(),
            classes=self.classes.copy(),
            instances=self.instances.copy(),
            paper=self.paper.copy(),
        )

    def paint(self, coverage: np.ndarray, rgb: tuple[int, int, int], label: int | None,
              threshold: float = 0.5) -> None:
        """Alpha-blend ink of colour `rgb` with per-pixel `coverage` in [0, 1].

        Pixels whose coverage exceeds `threshold` take class `label` (when
        given). `coverage` may be float in [0, 1] or uint8 in [0, 255].
        """
        if not (self.image.flags.c_contiguous and self.classes.flags.c_contiguous):
            raise ValueError("paint needs contiguous image and class arrays")
        flat_cov = coverage.reshape(-1)
        idx = np.flatnonzero(flat_cov)
        if idx.size == 0:
            return
        cov = flat_cov[idx].astype(np.float32)
        if coverage.dtype == np.uint8:
            cov *= 1.0 / 255.0
        a = cov[:, None]
        img = self.image.reshape(-1, 3)
        blended = img[idx].astype(np.float32) * (1.0 - a) + np.asarray(rgb, np.float32) * a
        img[idx] = (blended + 0.5).astype(np.uint8)
        if label is not None:
            self.classes.reshape(-1)[idx[cov > threshold]] = label
