"""Tests of the geometric warps (ecgdigitize.synth.geometry)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ecgdigitize.synth.canvas import GRID, TRACE, SheetCanvas
from ecgdigitize.synth.geometry import Warp, apply_warp, make_warp

H, W = 300, 400
# Centres of isolated 3x3 marker blocks (instance ids 10, 11, ...).
MARKERS = np.array([[200.0, 150.0], [120.0, 90.0], [290.0, 200.0], [90.0, 220.0], [310.0, 80.0]])


def _canvas() -> SheetCanvas:
    c = SheetCanvas.blank(H, W, (250, 245, 240), 4.0)
    grid = np.zeros((H, W), np.uint8)
    for k in range(0, W, 20):
        cv2.line(grid, (k, 0), (k, H - 1), 255, 1)
    for k in range(0, H, 20):
        cv2.line(grid, (0, k), (W - 1, k), 255, 1)
    c.paint(grid, (240, 180, 180), GRID)
    for i, y in enumerate((60, 240)):
        cov = np.zeros((H, W), np.uint8)
        cv2.line(cov, (30, y), (370, y + 15), 255, 2)
        c.paint(cov, (0, 0, 0), TRACE)
        c.instances[cov > 127] = i + 1
    for k, (x, y) in enumerate(MARKERS.astype(int)):
        c.image[y - 1:y + 2, x - 1:x + 2] = (0, 0, 0)
        c.classes[y - 1:y + 2, x - 1:x + 2] = TRACE
        c.instances[y - 1:y + 2, x - 1:x + 2] = 10 + k
    return c


WARPS = {
    "rotation": dict(rotation_deg=7.0),
    "rotation_margin": dict(rotation_deg=-12.0, margin_frac=0.05),
    "perspective": dict(rotation_deg=3.0, perspective=0.9),
    "nonlinear": dict(rotation_deg=-4.0, perspective=0.8, wrinkles=1.0, curl=1.0, folds=1.0),
    "wrinkles_only": dict(wrinkles=1.0),
    "upside_down": dict(upside_down=True, rotation_deg=2.0),
}


def test_identity_warp_is_noop() -> None:
    w = make_warp(np.random.default_rng(0), (H, W))
    assert w.is_identity and not w.nonlinear
    assert w.output_shape == (H, W)
    c = _canvas()
    before = c.copy()
    out = apply_warp(c, w)
    assert out is c
    np.testing.assert_array_equal(out.image, before.image)
    np.testing.assert_array_equal(out.classes, before.classes)
    pts = np.array([[0.0, 0.0], [12.5, 100.25], [399.0, 299.0]])
    np.testing.assert_allclose(w.map_points(pts), pts, atol=1e-12)
    assert Warp.identity((H, W)).is_identity


@pytest.mark.parametrize("name", sorted(WARPS))
def test_deterministic(name: str) -> None:
    a = make_warp(np.random.default_rng(5), (H, W), **WARPS[name])
    b = make_warp(np.random.default_rng(5), (H, W), **WARPS[name])
    np.testing.assert_array_equal(a.homography, b.homography)
    assert a.output_shape == b.output_shape
    if a.nonlinear:
        np.testing.assert_array_equal(a.field, b.field)
    ca, cb = apply_warp(_canvas(), a), apply_warp(_canvas(), b)
    np.testing.assert_array_equal(ca.image, cb.image)
    np.testing.assert_array_equal(ca.classes, cb.classes)
    np.testing.assert_array_equal(ca.instances, cb.instances)
    if name in ("perspective", "nonlinear", "wrinkles_only"):  # random parts differ by seed
        c = make_warp(np.random.default_rng(6), (H, W), **WARPS[name])
        same_h = np.array_equal(a.homography, c.homography)
        same_f = a.field is None or np.array_equal(a.field, c.field)
        assert not (same_h and same_f)


@pytest.mark.parametrize("name", sorted(WARPS))
def test_markers_land_where_mapped(name: str) -> None:
    w = make_warp(np.random.default_rng(11), (H, W), **WARPS[name])
    out = apply_warp(_canvas(), w)
    assert out.shape == w.output_shape
    mapped = w.map_points(MARKERS)
    for k, (mx, my) in enumerate(mapped):
        ys, xs = np.nonzero(out.instances == 10 + k)
        assert len(xs) > 0, f"marker {k} vanished"
        assert abs(xs.mean() - mx) < 1.0 and abs(ys.mean() - my) < 1.0, (k, xs.mean(), mx,
                                                                          ys.mean(), my)
        # the image shows ink there too
        assert out.image[int(round(my)), int(round(mx))].max() < 160


def test_forward_backward_consistency() -> None:
    w = make_warp(np.random.default_rng(3), (H, W), rotation_deg=5.0, perspective=1.0,
                  wrinkles=1.0, curl=1.0, folds=1.0)
    assert w.nonlinear
    s = np.random.default_rng(0).uniform([0, 0], [W - 1, H - 1], (500, 2))
    back = w.unmap_points(w.map_points(s))
    assert np.abs(back - s).max() < 0.05
    # the resampling map agrees with the exact backward mapping
    ho, wo = w.output_shape
    grid = np.stack(np.meshgrid(np.arange(wo, dtype=float), np.arange(ho, dtype=float)), -1)
    assert np.abs(w.backward_map() - w.unmap_points(grid)).max() < 0.25


def test_projective_map_is_exact() -> None:
    w = make_warp(np.random.default_rng(3), (H, W), rotation_deg=-8.0, perspective=0.7)
    assert not w.nonlinear
    ho, wo = w.output_shape
    grid = np.stack(np.meshgrid(np.arange(wo, dtype=float), np.arange(ho, dtype=float)), -1)
    assert np.abs(w.backward_map() - w.unmap_points(grid)).max() < 0.01
    s = np.array([[0.0, 0.0], [W - 1.0, 0.0], [0.0, H - 1.0], [W - 1.0, H - 1.0]])
    hs = np.c_[s, np.ones(4)] @ w.homography.T
    np.testing.assert_allclose(w.map_points(s), hs[:, :2] / hs[:, 2:], atol=1e-9)


@pytest.mark.parametrize("name", sorted(WARPS))
def test_masks_stay_labels(name: str) -> None:
    c = _canvas()
    ids_before = set(np.unique(c.instances).tolist())
    out = apply_warp(c, make_warp(np.random.default_rng(2), (H, W), **WARPS[name]))
    assert out.classes.dtype == np.uint8 and out.instances.dtype == np.uint8
    assert out.paper.dtype == bool
    assert set(np.unique(out.classes).tolist()) <= {0, 1, 2, 3}
    assert set(np.unique(out.instances).tolist()) <= ids_before
    assert not out.classes[~out.paper].any()
    assert not out.instances[~out.paper].any()


def test_perspective_fits_with_margin() -> None:
    w = make_warp(np.random.default_rng(4), (H, W), rotation_deg=10.0, perspective=1.0,
                  curl=1.0)
    ho, wo = w.output_shape
    assert max(ho, wo) == max(H, W)
    out = apply_warp(_canvas(), w, background=(10, 200, 30))
    border = np.concatenate([out.paper[0], out.paper[-1], out.paper[:, 0], out.paper[:, -1]])
    assert not border.any()
    assert out.paper.mean() > 0.4
    np.testing.assert_array_equal(out.image[0, 0], (10, 200, 30))
    corners = w.map_points(np.array([[0.0, 0.0], [W - 1.0, H - 1.0]]))
    assert (corners >= 0).all() and (corners[:, 0] < wo).all() and (corners[:, 1] < ho).all()


def test_background_image_and_torn_paper() -> None:
    c = _canvas()
    c.paper[:40, :40] = False
    c.classes[:40, :40] = 0
    c.instances[:40, :40] = 0
    c.image[:40, :40] = (255, 0, 0)
    w = make_warp(np.random.default_rng(1), (H, W), rotation_deg=3.0, margin_frac=0.05)
    bg = np.full((*w.output_shape, 3), 77, np.uint8)
    out = apply_warp(c, w, background=bg)
    corner = w.map_points(np.array([[15.0, 15.0]]))[0]
    x, y = int(round(corner[0])), int(round(corner[1]))
    assert not out.paper[y, x]
    np.testing.assert_array_equal(out.image[y, x], (77, 77, 77))  # premultiplied: no red
    with pytest.raises(ValueError):
        apply_warp(c, w, background=np.zeros((5, 5, 3), np.uint8))


def test_upside_down_and_to_dict() -> None:
    w = make_warp(np.random.default_rng(0), (H, W), upside_down=True)
    np.testing.assert_allclose(w.map_points(np.array([[0.0, 0.0]]))[0], [W - 1, H - 1],
                               atol=1e-9)
    d = w.to_dict()
    json.dumps(d)
    assert np.shape(d["homography"]) == (3, 3) and d["nonlinear"] is False
    d2 = make_warp(np.random.default_rng(0), (H, W), wrinkles=0.5).to_dict()
    assert d2["nonlinear"] is True and d2["params"]["wrinkles"] == 0.5
    json.dumps(d2)


def test_shape_mismatch_raises() -> None:
    w = make_warp(np.random.default_rng(0), (H + 1, W), rotation_deg=1.0)
    with pytest.raises(ValueError):
        apply_warp(_canvas(), w)
