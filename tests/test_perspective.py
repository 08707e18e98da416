"""Tests of the perspective stage: paper outline, aspect ratio, rectification."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import smooth_record
from ecgdigitize.digitize.perspective import (
    find_paper,
    map_points,
    paper_homography,
    rectangle_aspect,
    rectify,
)
from ecgdigitize.digitize.pipeline import digitize
from ecgdigitize.evaluate.scoring import score_sheet
from ecgdigitize.io.outputs import write_json
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import ArtifactOptions, SheetSpec, generate_sheet


def _camera_view(width_mm: float, height_mm: float, tilt_deg: float, axis_deg: float,
                 f_px: float, image_hw: tuple[int, int]) -> np.ndarray:
    """Image corners (TL, TR, BR, BL) of a rectangle seen by a pinhole camera (px)."""
    a, t = np.radians(axis_deg), np.radians(tilt_deg)
    axis = np.array([np.cos(a), np.sin(a), 0.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k
    corners = np.array([[-width_mm, -height_mm, 0], [width_mm, -height_mm, 0],
                        [width_mm, height_mm, 0], [-width_mm, height_mm, 0]]) / 2
    cam = corners @ rot.T + np.array([0.0, 0.0, 1.6 * max(width_mm, height_mm)])
    u0, v0 = (image_hw[1] - 1) / 2, (image_hw[0] - 1) / 2
    return np.c_[f_px * cam[:, 0] / cam[:, 2] + u0, f_px * cam[:, 1] / cam[:, 2] + v0]


@pytest.mark.parametrize("tilt,axis", [(0.0, 0.0), (15.0, 30.0), (30.0, 100.0), (25.0, -60.0)])
def test_rectangle_aspect_from_a_pinhole_view(tilt, axis):
    hw = (3000, 4000)
    corners = _camera_view(279.4, 215.9, tilt, axis, 3500.0, hw)
    assert rectangle_aspect(corners, hw) == pytest.approx(279.4 / 215.9, rel=0.01)


def _photo(rng: np.random.Generator, corners: np.ndarray, hw=(900, 1200)) -> np.ndarray:
    """A white page with a red grid and a black zig-zag, pasted on a dark textured desk."""
    page_h, page_w = 600, 800
    page = np.full((page_h, page_w, 3), 245, np.uint8)
    for x in range(0, page_w, 20):
        page[:, x] = (230, 140, 140)
    for y in range(0, page_h, 20):
        page[y, :] = (230, 140, 140)
    xs = np.arange(50, 750)
    ys = (300 + 80 * np.sin(xs / 15.0)).astype(int)
    for x, y in zip(xs, ys, strict=True):
        page[y - 1:y + 2, x] = 20
    src = np.array([[0, 0], [page_w - 1, 0], [page_w - 1, page_h - 1], [0, page_h - 1]],
                   np.float32)
    hom = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    desk = np.clip(rng.normal((70, 50, 40), 12, (*hw, 3)), 0, 255).astype(np.uint8)
    desk = cv2.GaussianBlur(desk, (0, 0), 2)
    warped = cv2.warpPerspective(page, hom, (hw[1], hw[0]))
    inside = cv2.warpPerspective(np.full((page_h, page_w), 255, np.uint8), hom,
                                 (hw[1], hw[0])) > 127
    desk[inside] = warped[inside]
    return desk


def test_find_paper_locates_the_corners_of_a_photographed_page():
    rng = np.random.default_rng(0)
    corners = np.array([[180, 140], [1050, 90], [1000, 800], [140, 760]], float)
    found = find_paper(_photo(rng, corners))
    assert found is not None
    assert np.max(np.hypot(*(found - corners).T)) < 6.0


def test_rectify_makes_the_page_upright_and_keeps_points_mappable():
    rng = np.random.default_rng(1)
    corners = np.array([[200, 120], [1020, 160], [1060, 820], [160, 760]], float)
    img = _photo(rng, corners)
    out, rect = rectify(img)
    assert rect is not None
    h, w = out.shape[:2]
    assert rect.shape_out == (h, w)
    assert w / h == pytest.approx(800 / 600, rel=0.08)
    # The output corners map back onto the photographed corners.
    bx, by = rect.to_input(np.array([0, w - 1, w - 1, 0.0]), np.array([0, 0, h - 1, h - 1.0]))
    assert np.max(np.hypot(bx - corners[:, 0], by - corners[:, 1])) < 8.0
    # Grid lines run straight across the rectified page: a red column of the grid is
    # vertical (its x is the same at the top and the bottom).
    red = (out[:, :, 0].astype(int) - out[:, :, 1]) > 50
    cols = red[h // 4:3 * h // 4].mean(axis=0)
    assert cols.max() > 0.8


def test_scans_and_odd_shapes_are_left_alone():
    rng = np.random.default_rng(2)
    scan = np.full((700, 900, 3), 240, np.uint8)
    scan[::20] = (230, 140, 140)
    assert find_paper(scan) is None
    out, rect = rectify(scan)
    assert rect is None and out is scan
    disc = np.clip(rng.normal(60, 10, (700, 900, 3)), 0, 255).astype(np.uint8)
    cv2.circle(disc, (450, 350), 250, (240, 240, 240), -1)
    assert find_paper(disc) is None


def test_map_points_round_trip_and_nan():
    corners = np.array([[10, 20], [500, 40], [480, 390], [30, 370]], float)
    hom, shape, _ = paper_homography(corners, (400, 520))
    x = np.array([15.0, 250.0, np.nan])
    y = np.array([25.0, 200.0, 5.0])
    u, v = map_points(hom, x, y)
    bx, by = map_points(np.linalg.inv(hom), u, v)
    np.testing.assert_allclose(bx[:2], x[:2], atol=1e-6)
    np.testing.assert_allclose(by[:2], y[:2], atol=1e-6)
    assert np.isnan(bx[2])
    assert shape[0] > 300 and shape[1] > 400


def test_digitize_reads_a_photographed_sheet(tmp_path):
    """A generated photo (20 degree tilt, rotation, desk) is read end to end."""
    rng = np.random.default_rng(5)
    spec = SheetSpec(render=RenderOptions(dpi=120, layout="3x4+1"),
                     artifacts=ArtifactOptions(rotation_deg=6.0, perspective=0.7,
                                               background=0.15, lighting=0.4))
    sheet = generate_sheet(smooth_record(), spec, rng=rng, seed=5)
    img = tmp_path / "photo.png"
    cv2.imwrite(str(img), sheet.canvas.image[:, :, ::-1])
    truth = tmp_path / "photo_truth.json"
    truth.write_text(json.dumps(dict(sheet.groundtruth, image=img.name)), encoding="utf-8")
    res = digitize(img)
    assert res.detected.paper_corners_px is not None
    assert res.detected.layout == "3x4+1"
    assert any(w.startswith("perspective corrected") for w in res.warnings)
    pred = tmp_path / "photo_digitized.json"
    write_json(res, pred)
    score = score_sheet(truth, pred, intervals=False)
    assert score.snr_reference_db > 8.0
    # Traced centre lines are mapped back into the photographed paper.
    quad = np.asarray(res.detected.paper_corners_px, np.float32)
    for seg in res.traces[:3]:
        ok = np.isfinite(seg.x_px)
        i = np.flatnonzero(ok)[len(np.flatnonzero(ok)) // 2]
        assert cv2.pointPolygonTest(quad, (float(seg.x_px[i]), float(seg.y_px[i])), False) > 0


def test_an_upright_page_is_not_cropped():
    """A screen capture: white margin around a full-bleed pink grid, nothing to correct."""
    img = np.full((420, 768, 3), 255, np.uint8)
    img[12:397, 13:755] = (250, 215, 210)
    img[12:397, 13:755:8] = (240, 150, 150)
    img[12:397:8, 13:755] = (240, 150, 150)
    assert find_paper(img) is None
