"""Tests of the dewarping stage: a curled page's grid is measured and straightened."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import smooth_record
from ecgdigitize.digitize.dewarp import GridWarp, measure_grid_warp
from ecgdigitize.digitize.gridscale import grid_scale
from ecgdigitize.digitize.pipeline import digitize
from ecgdigitize.digitize.separate import remove_grid_lines, separate
from ecgdigitize.evaluate.scoring import score_sheet
from ecgdigitize.io.outputs import write_json
from ecgdigitize.synth.canvas import GRID
from ecgdigitize.synth.geometry import apply_warp, make_warp
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import ArtifactOptions, SheetSpec, generate_sheet


def _sheet(curl: float, wrinkles: float = 0.0, seed: int = 3, grid_colour: str = "red",
           upside_down: bool = False):
    spec = SheetSpec(render=RenderOptions(dpi=150, layout="3x4+1", grid_colour=grid_colour),
                     artifacts=ArtifactOptions(curl=curl, wrinkles=wrinkles,
                                               upside_down=upside_down))
    return generate_sheet(smooth_record(), spec, rng=np.random.default_rng(seed), seed=seed)


def _curled(curl: float, grid_colour: str):
    """A flat sheet, then the generator's page curl applied to it: (canvas, warp)."""
    flat = _sheet(curl=0.0, grid_colour=grid_colour).canvas
    warp = make_warp(np.random.default_rng(11), flat.shape, curl=curl)
    return apply_warp(flat, warp), warp


def _detrended(values: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """`values` less their least-squares plane (a uniform scale and shear, which the grid
    pitch and the deskew take up)."""
    a = np.stack([np.ones(xs.size), xs, ys], 1)
    coef, *_ = np.linalg.lstsq(a, values, rcond=None)
    return values - a @ coef


@pytest.mark.parametrize("grid_colour", ["red", "black"])
def test_measured_field_matches_the_generated_curl(grid_colour):
    """Inside the grid, the measured displacement follows the generator's page curl (the
    photo preset's strongest) to under a pixel, on a coloured grid and on one in the
    pen's colour."""
    canvas, warp = _curled(0.6, grid_colour)
    sep = separate(canvas.image)
    px, py = grid_scale(sep.grid)
    # As the digitizer does: the grid evidence without the traces.
    mask = remove_grid_lines(sep.trace, px.px_per_mm, py.px_per_mm) if sep.grid_is_ink \
        else sep.trace
    pen = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8))
    field = measure_grid_warp(np.where(pen > 0, 0.0, sep.grid).astype(np.float32),
                              px.px_per_mm, py.px_per_mm)
    assert field is not None
    gy, gx = np.nonzero(canvas.classes == GRID)
    margin = 5 * px.px_per_mm
    ys, xs = np.mgrid[int(gy.min() + margin):int(gy.max() - margin):8,
                      int(gx.min() + margin):int(gx.max() - margin):8]
    xs, ys = xs.ravel().astype(float), ys.ravel().astype(float)
    mx, my = field.displacement(xs, ys)
    # The image shows sheet point p + B(p) at p. The dewarped image shows the image's
    # point q + D(q) at q, which is right (sheet point q) when D(q) = -B(q + D(q)).
    truth = -warp.displacement(np.stack([xs + mx, ys + my], 1))
    for measured, true in ((mx, truth[:, 0]), (my, truth[:, 1])):
        t = _detrended(true, xs, ys)
        err = _detrended(measured, xs, ys) - t
        assert np.ptp(t) > 5.0                      # the curl is there to be measured
        assert np.percentile(np.abs(err), 95) < 0.75


def test_a_flat_sheet_is_left_alone():
    sheet = _sheet(curl=0.0)
    sep = separate(sheet.canvas.image)
    px, py = grid_scale(sep.grid)
    assert measure_grid_warp(sep.grid, px.px_per_mm, py.px_per_mm) is None


def test_grid_warp_maps_turned_and_points_agree():
    rng = np.random.default_rng(0)
    h, w = 60, 90
    warp = GridWarp(rng.normal(0, 2, (7, 10)).astype(np.float32),
                    rng.normal(0, 2, (7, 10)).astype(np.float32), (h, w))
    mx, my = warp.maps()
    x = np.array([0.0, 13.0, 44.0, 89.0])
    y = np.array([0.0, 27.0, 59.0, 30.0])
    sx, sy = warp.to_source(x, y)
    xi, yi = x.astype(int), y.astype(int)
    assert np.allclose(mx[yi, xi], sx, atol=1e-3) and np.allclose(my[yi, xi], sy, atol=1e-3)
    # Turning the image by 180 degrees: the turned warp's source of the turned point is
    # the turned source point.
    tx, ty = warp.turned().to_source(w - 1 - x, h - 1 - y)
    assert np.allclose(tx, w - 1 - sx, atol=1e-4) and np.allclose(ty, h - 1 - sy, atol=1e-4)
    nx, ny = warp.to_source(np.array([np.nan]), np.array([3.0]))
    assert np.isnan(nx[0]) and np.isnan(ny[0])


@pytest.mark.parametrize("upside_down", [False, True])
def test_digitize_straightens_a_curled_page(tmp_path, upside_down):
    """A strongly curled page: the dewarped reading scores higher than the one without,
    and its traces still map back onto the trace pixels of the input image (also through
    the half turn of an upside-down sheet)."""
    sheet = _sheet(curl=1.0, wrinkles=0.5, seed=7, upside_down=upside_down)
    img = tmp_path / "curl.png"
    cv2.imwrite(str(img), sheet.canvas.image[:, :, ::-1])
    truth = tmp_path / "curl_truth.json"
    truth.write_text(json.dumps(dict(sheet.groundtruth, image=img.name)), encoding="utf-8")
    scores = {}
    for dewarp in (True, False):
        res = digitize(img, dewarp=dewarp)
        assert any(w.startswith("page curvature corrected") for w in res.warnings) == dewarp
        pred = tmp_path / f"curl_{dewarp}.json"
        write_json(res, pred)
        scores[dewarp] = score_sheet(truth, pred, intervals=False).snr_reference_db
        if dewarp:
            trace = cv2.dilate((sheet.canvas.classes != 0).astype(np.uint8) *
                               (sheet.canvas.instances > 0), np.ones((5, 5), np.uint8))
            x = np.concatenate([s.x_px for s in res.traces])
            y = np.concatenate([s.y_px for s in res.traces])
            ok = np.isfinite(x) & np.isfinite(y)
            xi = np.clip(np.round(x[ok]).astype(int), 0, trace.shape[1] - 1)
            yi = np.clip(np.round(y[ok]).astype(int), 0, trace.shape[0] - 1)
            assert trace[yi, xi].mean() > 0.9
    assert scores[True] > scores[False] + 3.0
