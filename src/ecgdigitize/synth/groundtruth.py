"""Ground-truth sidecars: build the JSON document and write a sheet's files.

The schema is documented in ``docs/groundtruth.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import OptionError, OutputError
from ..io.atomic import atomic_path, write_text_atomic
from .canvas import CLASS_NAMES, SheetCanvas

__all__ = ["SCHEMA", "build_groundtruth", "write_sheet_files", "read_groundtruth"]

SCHEMA = "ecgdigitize.groundtruth/1"


def _box(points: np.ndarray) -> list[float]:
    return [round(float(points[:, 0].min()), 2), round(float(points[:, 1].min()), 2),
            round(float(points[:, 0].max()), 2), round(float(points[:, 1].max()), 2)]


def _finite_list(values: np.ndarray, decimals: int = 5) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), decimals) for v in values]


def build_groundtruth(rendered: Any, canvas: SheetCanvas, map_points: Any,
                      meta: dict[str, Any]) -> dict[str, Any]:
    """Build the sidecar document of a generated sheet.

    Parameters
    ----------
    rendered : RenderedSheet
        The flat sheet (its leads carry flat-sheet pixel geometry).
    canvas : SheetCanvas
        The final image and masks.
    map_points : callable
        Maps an (n, 2) array of flat-sheet px to final-image px.
    meta : dict
        Extra top-level fields: ``image``, ``record``, ``preset``, ``seed``,
        ``options``, ``warp``.

    Returns
    -------
    dict
        JSON-ready ground truth.
    """
    opts = rendered.options
    h, w = canvas.shape
    leads = []
    for pl in rendered.leads:
        pts = map_points(pl.points_px) if pl.points_px.size else pl.points_px
        entry = {
            "lead": pl.lead,
            "instance_id": pl.instance_id,
            "row": pl.row,
            "col": pl.col,
            "col_span": pl.col_span,
            "t_start_s": round(pl.t_start_s, 6),
            "t_end_s": round(pl.t_end_s, 6),
            "fs_hz": pl.fs_hz,
            "signal_mv": _finite_list(pl.signal_mv),
            "baseline_px": np.round(map_points(pl.baseline_px), 3).tolist(),
            "box_px": _box(map_points(pl.box_px)),
            "trace_box_px": _box(pts) if len(pts) else None,
            "label_box_px": (_box(map_points(pl.label_corners_px))
                             if pl.label_corners_px is not None else None),
            "label_text": pl.label_text,
        }
        leads.append(entry)
    doc = {
        "schema": SCHEMA,
        "image": meta.get("image"),
        "width_px": w,
        "height_px": h,
        "record": meta.get("record"),
        "layout": rendered.layout.name,
        "rows": rendered.layout.n_rows,
        "cols": rendered.layout.n_cols,
        "paper": opts.paper,
        "speed_mm_s": opts.speed_mm_s,
        "gain_mm_mv": opts.gain_mm_mv,
        "dpi": opts.dpi,
        "px_per_mm": canvas.px_per_mm,
        "sheet_duration_s": rendered.sheet_duration_s,
        "calibration_pulse": opts.calibration_pulse,
        "preset": meta.get("preset", "custom"),
        "seed": meta.get("seed"),
        "options": meta.get("options", {}),
        "warp": meta.get("warp", {"homography": np.eye(3).tolist(), "nonlinear": False}),
        "leads": leads,
        "class_codes": {str(k): v for k, v in CLASS_NAMES.items()},
    }
    return doc


def write_sheet_files(out_dir: str | Path, stem: str, canvas: SheetCanvas,
                      groundtruth: dict[str, Any], image_format: str = "png",
                      jpeg_quality: int | None = None) -> dict[str, Path]:
    """Write the image, the two masks and the sidecar, each atomically.

    The sidecar is written last, so its presence means the sheet is complete.
    `image_format` is ``png``, ``jpg`` or ``auto`` (JPEG when the sheet went
    through a JPEG round trip, i.e. `jpeg_quality` is given; else PNG).
    `jpeg_quality` (default 92) is the quality of a JPEG image.

    Returns
    -------
    dict of str to Path
        Paths of ``image``, ``classes``, ``instances`` and ``json``.
    """
    out_dir = Path(out_dir)
    fmt = image_format.lower().lstrip(".")
    if fmt == "auto":
        fmt = "jpg" if jpeg_quality is not None else "png"
    if fmt not in ("png", "jpg", "jpeg"):
        raise OptionError(f"image format must be png, jpg or auto, got {image_format!r}")
    ext = "jpg" if fmt in ("jpg", "jpeg") else "png"
    paths = {
        "image": out_dir / f"{stem}.{ext}",
        "classes": out_dir / f"{stem}_classes.png",
        "instances": out_dir / f"{stem}_instances.png",
        "json": out_dir / f"{stem}.json",
    }
    quality = 92 if jpeg_quality is None else int(jpeg_quality)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == "jpg" else []
    for key, array in (("image", canvas.image[:, :, ::-1]), ("classes", canvas.classes),
                       ("instances", canvas.instances)):
        with atomic_path(paths[key]) as tmp:
            if not cv2.imwrite(str(tmp), np.ascontiguousarray(array), params if key == "image"
                               else []):
                raise OutputError(f"cannot encode {paths[key]}")
    groundtruth = dict(groundtruth, image=paths["image"].name)
    write_text_atomic(paths["json"], json.dumps(groundtruth, separators=(",", ":")))
    return paths


def read_groundtruth(path: str | Path) -> dict[str, Any]:
    """Read a sidecar JSON, checking its schema tag.

    Raises
    ------
    OptionError
        If the file is not a ground-truth sidecar.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OptionError(f"cannot read ground truth {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise OptionError(f"{path} is not an ecgdigitize ground-truth file ({SCHEMA})")
    return doc
