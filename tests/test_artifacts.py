"""Tests of the sheet artifacts (ecgdigitize.synth.artifacts)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from ecgdigitize.synth import artifacts as art
from ecgdigitize.synth.canvas import BACKGROUND, GRID, TEXT, TRACE, SheetCanvas
from ecgdigitize.synth.geometry import apply_warp, make_warp

H, W = 300, 400


def _canvas() -> SheetCanvas:
    c = SheetCanvas.blank(H, W, (250, 245, 240), 4.0)
    grid = np.zeros((H, W), np.uint8)
    for k in range(0, W, 20):
        cv2.line(grid, (k, 0), (k, H - 1), 255, 1)
    for k in range(0, H, 20):
        cv2.line(grid, (0, k), (W - 1, k), 255, 1)
    c.paint(grid, (240, 180, 180), GRID)
    for i, y in enumerate((50, 150, 250)):
        cov = np.zeros((H, W), np.uint8)
        cv2.line(cov, (20, y), (380, y - 20), 255, 2, cv2.LINE_AA)
        c.paint(cov, (0, 0, 0), TRACE)
        c.instances[cov > 127] = i + 1
    return c


def _warped() -> SheetCanvas:
    w = make_warp(np.random.default_rng(0), (H, W), rotation_deg=5.0, perspective=0.6)
    return apply_warp(_canvas(), w)


Fn = Callable[[SheetCanvas, np.random.Generator, float], SheetCanvas]
OVERLAYS: dict[str, Fn] = {
    "handwriting": art.add_handwriting,
    "stamp": art.add_stamp,
    "stains": art.add_stains,
    "creases": art.add_creases,
    "torn_corners": art.add_torn_corners,
}
PHOTOMETRIC: dict[str, Fn] = {
    "lighting": art.add_lighting,
    "background": art.fill_background,
    "blur": art.add_blur,
    "noise": art.add_sensor_noise,
    "bw": art.to_bw,
}
ALL = {**OVERLAYS, **PHOTOMETRIC}


def _input(name: str) -> SheetCanvas:
    return _warped() if name in PHOTOMETRIC else _canvas()


def _assert_same(a: SheetCanvas, b: SheetCanvas) -> None:
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.classes, b.classes)
    np.testing.assert_array_equal(a.instances, b.instances)
    np.testing.assert_array_equal(a.paper, b.paper)


@pytest.mark.parametrize("name", sorted(ALL))
def test_deterministic_per_seed(name: str) -> None:
    fn = ALL[name]
    a = fn(_input(name), np.random.default_rng(42), 0.8)
    b = fn(_input(name), np.random.default_rng(42), 0.8)
    _assert_same(a, b)
    assert a.image.shape == (*a.shape, 3) and a.image.dtype == np.uint8
    assert set(np.unique(a.classes).tolist()) <= {0, 1, 2, 3}


@pytest.mark.parametrize("name", sorted(set(ALL) - {"bw", "background"}))
def test_intensity_zero_is_noop(name: str) -> None:
    c = _input(name)
    before = c.copy()
    _assert_same(ALL[name](c, np.random.default_rng(1), 0.0), before)


@pytest.mark.parametrize("name", sorted(PHOTOMETRIC))
def test_photometric_leaves_masks(name: str) -> None:
    c = _input(name)
    before = c.copy()
    out = PHOTOMETRIC[name](c, np.random.default_rng(3), 1.0)
    np.testing.assert_array_equal(out.classes, before.classes)
    np.testing.assert_array_equal(out.instances, before.instances)
    np.testing.assert_array_equal(out.paper, before.paper)
    assert not np.array_equal(out.image, before.image)


def test_handwriting_adds_text() -> None:
    c = _canvas()
    inst = c.instances.copy()
    for seed in range(3):
        art.add_handwriting(c, np.random.default_rng(seed), 1.0)
    assert (c.classes == TEXT).sum() > 100
    np.testing.assert_array_equal(c.instances, inst)
    # some ink crosses a trace: a trace instance now carries the TEXT class
    assert ((c.classes == TEXT) & (inst > 0)).any()


def test_stamp_adds_text() -> None:
    c = _canvas()
    inst = c.instances.copy()
    art.add_stamp(c, np.random.default_rng(0), 1.0)
    assert (c.classes == TEXT).sum() > 100
    np.testing.assert_array_equal(c.instances, inst)


@pytest.mark.parametrize("name", ["stains", "creases"])
def test_image_only_overlays(name: str) -> None:
    c = _canvas()
    before = c.copy()
    OVERLAYS[name](c, np.random.default_rng(7), 1.0)
    np.testing.assert_array_equal(c.classes, before.classes)
    np.testing.assert_array_equal(c.instances, before.instances)
    np.testing.assert_array_equal(c.paper, before.paper)
    assert not np.array_equal(c.image, before.image)


def test_torn_corners_remove_paper() -> None:
    c = _canvas()
    art.add_torn_corners(c, np.random.default_rng(0), 1.0, scene_rgb=(1, 2, 3))
    torn = ~c.paper
    assert torn.any()
    assert torn.sum() < 0.3 * torn.size
    assert (c.classes[torn] == BACKGROUND).all()
    assert not c.instances[torn].any()
    assert (c.image[torn] == (1, 2, 3)).all()
    # only corners: the centre is intact
    assert c.paper[H // 4:3 * H // 4, W // 4:3 * W // 4].all()


def test_to_bw_two_levels() -> None:
    for seed in range(4):
        c = art.to_bw(_warped(), np.random.default_rng(seed), 0.5)
        assert c.image.shape == (*c.shape, 3)
        for ch in range(3):
            assert set(np.unique(c.image[..., ch]).tolist()) <= {0, 255}
        np.testing.assert_array_equal(c.image[..., 0], c.image[..., 2])
        # traces survive as black
        assert (c.image[..., 0][c.classes == TRACE] == 0).mean() > 0.5


def test_jpeg_changes_image_keeps_shape() -> None:
    c = art.add_sensor_noise(_warped(), np.random.default_rng(0), 0.5)
    before = c.image.copy()
    out = art.jpeg_compress(c, 40)
    assert out.image.shape == before.shape and out.image.dtype == np.uint8
    assert not np.array_equal(out.image, before)
    assert np.abs(out.image.astype(int) - before).mean() < 12


def test_fill_background_only_off_paper() -> None:
    c = _warped()
    before = c.image.copy()
    art.fill_background(c, np.random.default_rng(0), 1.0)
    changed = (c.image != before).any(-1)
    assert changed.any()
    assert not changed[c.paper].any()
    flat = _canvas()
    img = flat.image.copy()
    art.fill_background(flat, np.random.default_rng(0), 1.0)  # all paper: nothing to do
    np.testing.assert_array_equal(flat.image, img)


@pytest.mark.parametrize("kind", ["gaussian", "motion"])
def test_blur_kinds(kind: str) -> None:
    c = _warped()
    before = c.image.copy()
    art.add_blur(c, np.random.default_rng(0), 0.7, kind=kind)
    assert c.image.shape == before.shape
    # blurring lowers local contrast
    assert cv2.Laplacian(c.image, cv2.CV_32F).var() < cv2.Laplacian(before, cv2.CV_32F).var()
    with pytest.raises(ValueError):
        art.add_blur(c, np.random.default_rng(0), 0.5, kind="bogus")


def test_full_stack_keeps_valid_ground_truth() -> None:
    rng = np.random.default_rng(123)
    c = _canvas()
    for fn in OVERLAYS.values():
        fn(c, rng, 1.0)
    w = make_warp(rng, (H, W), rotation_deg=4.0, perspective=0.7, wrinkles=0.6, curl=0.5,
                  folds=0.5)
    c = apply_warp(c, w)
    art.fill_background(c, rng, 0.7)
    art.add_lighting(c, rng, 0.7)
    art.add_blur(c, rng, 0.3)
    art.add_sensor_noise(c, rng, 0.5)
    art.jpeg_compress(c, 70)
    assert c.shape == w.output_shape
    assert set(np.unique(c.classes).tolist()) <= {0, 1, 2, 3}
    assert set(np.unique(c.instances).tolist()) <= {0, 1, 2, 3}
    assert not c.classes[~c.paper].any() and not c.instances[~c.paper].any()
    assert (c.classes == TRACE).any() and (c.classes == TEXT).any()
