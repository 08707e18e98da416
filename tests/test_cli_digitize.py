"""``ecgdigitize digitize``: options, per-image errors, outputs.

Most tests replace the digitizer (``ecgdigitize.digitize.pipeline``) by a
stand-in, so they check the command itself; ``test_digitize_a_synthetic_sheet``
runs the real pipeline end to end.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from ecgdigitize.cli import main
from ecgdigitize.digitize.result import Detected, LeadTrace, Result
from ecgdigitize.errors import NotAnEcgError
from ecgdigitize.evaluate.scoring import load_reconstruction
from ecgdigitize.leads import STANDARD_LEADS


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def _png(path: Path, h: int = 120, w: int = 160) -> Path:
    img = np.full((h, w, 3), 255, np.uint8)
    img[60, 10:150] = 0
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Replace the digitizer by a stand-in; returns the list of calls it received."""
    calls: list[dict] = []

    def digitize(image, **kwargs):
        calls.append({"image": image, **kwargs})
        if isinstance(image, np.ndarray) and image[0, 0, 1] == 0:   # green-less: "not an ECG"
            raise NotAnEcgError("no grid and no trace found")
        h, w = image.shape[:2]
        t = np.arange(1000) / 100.0
        sig = np.stack([np.sin(t + k) for k in range(12)], axis=1)
        sig[:10, 2] = np.nan
        x = np.linspace(10, w - 10, 50)
        traces = [LeadTrace("II", 0, 0, 4, 0.0, 10.0, x, np.full(50, h / 2), 0.8, True)]
        return Result(signals=sig, fs=100.0, lead_names=list(STANDARD_LEADS),
                      quality={n: 0.8 for n in STANDARD_LEADS},
                      detected=Detected(layout="12x1", speed_mm_s=25.0, speed_source="pulse",
                                        gain_mm_mv=10.0, gain_source="option",
                                        px_per_mm_x=4.0, px_per_mm_y=4.0,
                                        scale_source="grid"),
                      traces=traces, image_shape=(h, w))

    module = types.ModuleType("ecgdigitize.digitize.pipeline")
    module.digitize = digitize
    monkeypatch.setitem(sys.modules, "ecgdigitize.digitize.pipeline", module)
    return calls


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("args, message", [
    (["--format", "wfdb,xml"], "unknown output format 'xml'; choose from wfdb, csv, json"),
    (["--format", ""], "no output format"),
    (["--speed", "30"], "paper speed must be 25, 50 mm/s or auto"),
    (["--speed", "fast"], "paper speed must be"),
    (["--gain", "3"], "gain must be 5, 10, 20 mm/mV or auto"),
    (["--fs", "0"], "must be a positive number"),
    (["--fs", "nan"], "must be a positive number"),
    (["--dpi", "10"], "resolution must be within"),
])
def test_bad_option_is_an_argparse_error(tmp_path: Path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["digitize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), *args])
    assert exc.value.code == 2
    err = _err_lines(capsys)
    assert err[-1].startswith("ecgdigitize digitize: error: argument")
    assert message in err[-1]
    assert not (tmp_path / "o").exists()


def test_missing_image_gives_one_line_and_status_2(tmp_path: Path, capsys):
    missing = tmp_path / "nope.png"
    assert main(["digitize", str(missing), "-o", str(tmp_path / "o")]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1
    assert err[0].startswith("ecgdigitize: error:") and "nope.png" in err[0]
    assert "no such file" in err[0]


def test_unreadable_images_are_each_reported(tmp_path: Path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert main(["digitize", str(bad), str(empty), str(tmp_path / "gone.png"),
                 "-o", str(tmp_path / "o"), "--quiet"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 3 and all(e.startswith("ecgdigitize: error:") for e in err)
    assert "bad.png" in err[0] and "empty.jpg" in err[1] and "gone.png" in err[2]


def test_unknown_layout_fails_before_any_image(tmp_path: Path, capsys):
    assert main(["digitize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"),
                 "--layout", "7x7"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "unknown layout '7x7'" in err[0]


def test_missing_layouts_file(tmp_path: Path, capsys):
    assert main(["digitize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"),
                 "--layouts-file", str(tmp_path / "none.toml")]) == 2
    assert "cannot read layout file" in _err_lines(capsys)[0]


def test_output_folder_that_is_a_file(tmp_path: Path, capsys):
    (tmp_path / "o").write_text("x")
    assert main(["digitize", str(_png(tmp_path / "a.png")), "-o", str(tmp_path / "o")]) == 2
    assert "is a file" in _err_lines(capsys)[0]


# --------------------------------------------------------------------------- with a stand-in


def test_writes_outputs_and_one_line_per_sheet(tmp_path: Path, capsys, fake_pipeline):
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "scan b.png", 100, 90)
    out = tmp_path / "out"
    assert main(["digitize", str(a), str(b), "-o", str(out), "--speed", "25", "--gain", "auto",
                 "--fs", "250", "--dpi", "300", "--layout", "12x1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a.csv", "a.dat", "a.hea", "a.json", "a_overlay.png",
        "scan_b.csv", "scan_b.dat", "scan_b.hea", "scan_b.json", "scan_b_overlay.png"]
    call = fake_pipeline[0]
    assert call["image"].shape == (120, 160, 3) and call["image"].dtype == np.uint8
    assert call["layout"] == "12x1" and call["speed_mm_s"] == 25.0
    assert call["gain_mm_mv"] == "auto" and call["fs"] == 250.0 and call["dpi"] == 300.0
    assert call["layouts_extra"] is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("a: layout 12x1, 25 mm/s (pulse), 10 mm/mV (option), "
                               "4.00 px/mm (grid), mean quality 0.80, ")
    assert lines[0].endswith(" s")
    assert lines[1].startswith("scan_b: layout 12x1")
    assert lines[2] == f"2 of 2 sheets digitized -> {out}"
    leads, fs = load_reconstruction(out / "a.json")
    assert fs == 100.0 and np.isnan(leads["III"][:10]).all()
    doc = json.loads((out / "a.json").read_text())
    assert doc["source"] == str(a)
    assert f"source_image: {a}" in (out / "a.hea").read_text()
    overlay = cv2.imread(str(out / "scan_b_overlay.png"))
    assert overlay.shape == (100, 90, 3)


def test_format_and_no_overlay(tmp_path: Path, capsys, fake_pipeline):
    a = _png(tmp_path / "a.png")
    assert main(["digitize", str(a), "-o", str(tmp_path / "o"), "--format", "json",
                 "--no-overlay", "--quiet"]) == 0
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["a.json"]
    assert capsys.readouterr().out == ""


def test_bad_sheet_is_reported_and_the_next_one_read(tmp_path: Path, capsys, fake_pipeline):
    img = np.full((120, 160, 3), 255, np.uint8)
    img[0, 0] = (255, 0, 255)           # the stand-in calls this one "not an ECG"
    cv2.imwrite(str(tmp_path / "blank.png"), img[:, :, ::-1])
    good = _png(tmp_path / "good.png")
    out = tmp_path / "o"
    assert main(["digitize", str(tmp_path / "blank.png"), str(tmp_path / "missing.png"),
                 str(good), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err == [f"ecgdigitize: error: {tmp_path / 'blank.png'}: no grid and no trace found",
                   f"ecgdigitize: error: {tmp_path / 'missing.png'}: no such file"]
    assert captured.out.splitlines()[0].startswith("good: layout 12x1")
    assert "1 of 3 sheets digitized" in captured.out
    assert (out / "good.json").is_file() and not (out / "blank.json").exists()


def test_same_stem_twice_is_an_error(tmp_path: Path, capsys, fake_pipeline):
    (tmp_path / "x").mkdir()
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "x" / "a.png")
    assert main(["digitize", str(a), str(b), "-o", str(tmp_path / "o"), "--quiet"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "already taken" in err[0]
    assert len(fake_pipeline) == 1


def test_ground_truth_in_the_output_folder_is_kept(tmp_path: Path, capsys, fake_pipeline):
    a = _png(tmp_path / "a.png")
    sidecar = tmp_path / "a.json"
    sidecar.write_text(json.dumps({"schema": "ecgdigitize.groundtruth/1", "leads": []}))
    assert main(["digitize", str(a), "-o", str(tmp_path)]) == 2
    assert "ground-truth" in _err_lines(capsys)[0]
    assert json.loads(sidecar.read_text())["schema"] == "ecgdigitize.groundtruth/1"


def test_layouts_file_reaches_the_digitizer(tmp_path: Path, capsys, fake_pipeline):
    lay = tmp_path / "lay.toml"
    lay.write_text('[layouts.mine]\nrows = [["I", "II", "III"]]\n')
    a = _png(tmp_path / "a.png")
    assert main(["digitize", str(a), "-o", str(tmp_path / "o"), "--layouts-file", str(lay),
                 "--layout", "mine", "--quiet"]) == 0
    assert fake_pipeline[0]["layout"] == "mine"
    assert "mine" in fake_pipeline[0]["layouts_extra"]


# --------------------------------------------------------------------------- real pipeline


def test_digitize_a_synthetic_sheet(tmp_path: Path, capsys):
    """End to end with ecgdigitize.digitize.pipeline: synth, digitize, evaluate."""
    sheets, out = tmp_path / "sheets", tmp_path / "out"
    assert main(["synth", "--out", str(sheets), "--layout", "3x4+1", "--seed", "4"]) == 0
    image = next(p for p in sheets.glob("*.png") if not p.stem.endswith(("_classes", "_instances")))
    capsys.readouterr()
    assert main(["digitize", str(image), "-o", str(out)]) == 0
    stem = image.stem
    for suffix in (".hea", ".dat", ".csv", ".json", "_overlay.png"):
        assert (out / f"{stem}{suffix}").is_file(), suffix
    assert capsys.readouterr().out.startswith(f"{stem}: layout ")
    leads, fs = load_reconstruction(out / f"{stem}.json")
    assert fs == 500.0 and set(leads) == set(STANDARD_LEADS)
    assert main(["evaluate", "--truth", str(sheets), "--pred", str(out), "-o",
                 str(tmp_path / "report")]) == 0
