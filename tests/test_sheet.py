"""End-to-end sheet generation: presets, artifacts, ground truth in final coordinates."""

import json

import numpy as np
import pytest

from ecgdigitize.errors import OptionError
from ecgdigitize.synth.canvas import TRACE
from ecgdigitize.synth.groundtruth import read_groundtruth, write_sheet_files
from ecgdigitize.synth.presets import PRESETS, sample_spec
from ecgdigitize.synth.sheet import ArtifactOptions, SheetSpec, generate_sheet


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_generates(record, preset):
    rng = np.random.default_rng(11)
    spec = sample_spec(preset, rng)
    spec.render.dpi = 100.0
    sheet = generate_sheet(record, spec, rng=rng, seed=11)
    gt = sheet.groundtruth
    h, w = sheet.canvas.shape
    assert (gt["width_px"], gt["height_px"]) == (w, h)
    assert len(gt["leads"]) == int(sheet.canvas.instances.max()) or gt["leads"]
    assert set(np.unique(sheet.canvas.classes)) <= {0, 1, 2, 3}
    json.dumps(gt)  # serialisable


def test_same_seed_same_sheet(record):
    def make():
        rng = np.random.default_rng(5)
        return generate_sheet(record, sample_spec("degraded", rng), rng=rng, seed=5)

    a, b = make(), make()
    assert np.array_equal(a.canvas.image, b.canvas.image)
    assert np.array_equal(a.canvas.instances, b.canvas.instances)


def test_trace_boxes_follow_the_warp(record):
    spec = SheetSpec(artifacts=ArtifactOptions(rotation_deg=8.0, perspective=0.5))
    spec.render.dpi = 100.0
    sheet = generate_sheet(record, spec, rng=np.random.default_rng(2))
    inst = sheet.canvas.instances
    for lead in sheet.groundtruth["leads"]:
        ys, xs = np.nonzero(inst == lead["instance_id"])
        if xs.size == 0:
            continue
        x0, y0, x1, y1 = lead["trace_box_px"]
        inside = (xs >= x0 - 3) & (xs <= x1 + 3) & (ys >= y0 - 3) & (ys <= y1 + 3)
        assert inside.mean() > 0.98


def test_write_and_read_back(tmp_path, record):
    sheet = generate_sheet(record, SheetSpec(), rng=np.random.default_rng(0))
    paths = write_sheet_files(tmp_path, "s", sheet.canvas, sheet.groundtruth, "png")
    gt = read_groundtruth(paths["json"])
    assert gt["image"] == "s.png"
    import cv2

    classes = cv2.imread(str(paths["classes"]), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(classes, sheet.canvas.classes)
    assert (classes == TRACE).any()
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_bad_artifact_options(record):
    with pytest.raises(OptionError):
        generate_sheet(record, SheetSpec(artifacts=ArtifactOptions(stains=2.0)))
    with pytest.raises(OptionError):
        sample_spec("sunny", np.random.default_rng(0))
