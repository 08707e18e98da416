"""Writers of a digitized sheet: WFDB, CSV, JSON, and their atomicity."""

from __future__ import annotations

import csv
import json
import pathlib
from pathlib import Path

import numpy as np
import pytest

from ecgdigitize.digitize.result import Detected, LeadTrace, Result
from ecgdigitize.errors import OptionError, OutputError
from ecgdigitize.evaluate.scoring import load_reconstruction
from ecgdigitize.io import atomic
from ecgdigitize.io.outputs import (
    describe_result,
    mean_quality,
    output_stem,
    parse_formats,
    write_csv,
    write_json,
    write_outputs,
    write_wfdb,
)
from ecgdigitize.io.wfdbio import read_record
from ecgdigitize.leads import STANDARD_LEADS

FS = 500.0


def make_result(n_seconds: float = 10.0) -> Result:
    """12 leads of sines (0.2-1.3 mV) at 500 Hz, with NaN gaps and an unread lead V6."""
    t = np.arange(int(n_seconds * FS)) / FS
    sig = np.stack([(0.2 + 0.1 * k) * np.sin(2 * np.pi * (1.0 + 0.1 * k) * t)
                    for k in range(12)], axis=1)
    sig[100:150, 0] = np.nan          # a gap in lead I
    sig[:, 11] = np.nan               # V6 not read
    sig[-7:, 4] = np.nan              # end of aVL
    traces = []
    for k, lead in enumerate(STANDARD_LEADS[:11]):
        row, col = k % 3, k // 3
        x = np.linspace(100 + 200 * col, 290 + 200 * col, 120)
        y = 100 + 150 * row + 20 * np.sin(x / 15)
        y[50:55] = np.nan
        traces.append(LeadTrace(lead, row, col, 1, 2.5 * col, 2.5 * col + 2.5, x, y,
                                quality=0.3 if lead == "V5" else 0.9, label_found=k % 2 == 0))
    quality = {n: (0.0 if n == "V6" else 0.3 if n == "V5" else 0.9) for n in STANDARD_LEADS}
    detected = Detected(layout="3x4", layout_cost=float("nan"),
                        layout_candidates={"3x4": 0.1, "6x2": float("inf")},
                        speed_mm_s=25.0, speed_source="pulse", gain_mm_mv=10.0,
                        gain_source="pulse", px_per_mm_x=11.81, px_per_mm_y=11.78,
                        scale_source="grid", rotation_deg=0.4, pulse="left")
    return Result(signals=sig, fs=FS, lead_names=list(STANDARD_LEADS), quality=quality,
                  detected=detected, traces=traces, timings_s={"load": np.float64(0.01)},
                  source="scans/sheet 01.png", image_shape=(600, 900),
                  warnings=["lead V6 unreadable"])


@pytest.fixture
def result() -> Result:
    return make_result()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- WFDB


def test_wfdb_round_trip(tmp_path: Path, result: Result):
    base = write_wfdb(result, tmp_path, "sheet")
    assert base == tmp_path / "sheet"
    assert _listing(tmp_path) == ["sheet.dat", "sheet.hea"]
    rec = read_record(base)
    assert rec.lead_names == list(STANDARD_LEADS)
    assert rec.fs == FS and rec.n_samples == result.signals.shape[0]
    assert np.array_equal(np.isnan(rec.signals), np.isnan(result.signals))
    ok = np.isfinite(result.signals)
    assert np.max(np.abs(rec.signals[ok] - result.signals[ok])) < 1e-3  # 1 µV steps
    assert "mV" in (tmp_path / "sheet.hea").read_text()


def test_wfdb_comments_name_source_and_settings(tmp_path: Path, result: Result):
    rec = read_record(write_wfdb(result, tmp_path, "sheet"))
    pairs = {}
    for line in rec.comments:
        key, sep, value = line.partition(": ")
        assert sep and key and " " not in key, line
        pairs.setdefault(key, value)
    assert pairs["source_image"] == "scans/sheet 01.png"
    assert pairs["layout"] == "3x4"
    assert pairs["speed_mm_s"] == "25" and pairs["speed_source"] == "pulse"
    assert pairs["gain_mm_mv"] == "10" and pairs["gain_source"] == "pulse"
    assert float(pairs["px_per_mm_x"]) == pytest.approx(11.81, abs=1e-3)
    assert pairs["scale_source"] == "grid"
    assert pairs["segmenter"] == "classical"
    assert pairs["layout_cost"] == "n/a"
    assert pairs["warning"] == "lead V6 unreadable"


def test_wfdb_name_is_made_safe(tmp_path: Path, result: Result):
    base = write_wfdb(result, tmp_path, "scan 01.v2")
    assert base.name == "scan_01_v2" and (tmp_path / "scan_01_v2.hea").is_file()
    assert output_stem("a/b:c") == "a_b_c" and output_stem("  ") == "ecg"


def test_wfdb_rejects_mismatched_leads(tmp_path: Path, result: Result):
    result.lead_names = result.lead_names[:5]
    with pytest.raises(OutputError, match="lead names"):
        write_wfdb(result, tmp_path, "sheet")
    assert _listing(tmp_path) == []


def test_wfdb_failed_rename_leaves_nothing(tmp_path: Path, result: Result, monkeypatch):
    def fail(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        write_wfdb(result, tmp_path, "sheet")
    assert _listing(tmp_path) == []


# --------------------------------------------------------------------------- CSV


def test_csv_round_trip(tmp_path: Path, result: Result):
    path = write_csv(result, tmp_path / "sheet.csv")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["time_s", *STANDARD_LEADS]
    body = rows[1:]
    assert len(body) == result.signals.shape[0]
    t = np.array([float(r[0]) for r in body])
    assert np.allclose(t, np.arange(len(body)) / FS, atol=1e-6)
    values = np.array([[float(c) if c != "" else np.nan for c in r[1:]] for r in body])
    assert np.array_equal(np.isnan(values), np.isnan(result.signals))
    ok = np.isfinite(result.signals)
    assert np.max(np.abs(values[ok] - result.signals[ok])) <= 5e-5
    assert body[120][1] == "" and all(r[12] == "" for r in body)
    assert _listing(tmp_path) == ["sheet.csv"]


# --------------------------------------------------------------------------- JSON


def _strict_json(path: Path) -> dict:
    def bad(token: str):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=bad)


def test_json_is_read_by_evaluate(tmp_path: Path, result: Result):
    path = write_json(result, tmp_path / "sheet.json")
    leads, fs = load_reconstruction(path)
    assert fs == FS and list(leads) == list(STANDARD_LEADS)
    for j, name in enumerate(STANDARD_LEADS):
        ref = result.signals[:, j]
        assert np.array_equal(np.isnan(leads[name]), np.isnan(ref))
        ok = np.isfinite(ref)
        if ok.any():
            assert np.max(np.abs(leads[name][ok] - ref[ok])) <= 5e-5


def test_json_holds_summary_and_segments(tmp_path: Path, result: Result):
    doc = _strict_json(write_json(result, tmp_path / "sheet.json"))
    assert doc["schema"].startswith("ecgdigitize.digitized/")
    assert doc["source"] == "scans/sheet 01.png" and doc["fs_hz"] == FS
    assert doc["lead_names"] == list(STANDARD_LEADS)
    assert doc["detected"]["layout"] == "3x4" and doc["detected"]["speed_source"] == "pulse"
    assert doc["detected"]["layout_cost"] is None                  # NaN -> null
    assert doc["detected"]["layout_candidates"]["6x2"] is None     # inf -> null
    assert doc["quality"]["V6"] == 0.0 and doc["nan_fraction"]["V6"] == 1.0
    assert doc["mean_quality"] == pytest.approx(mean_quality(result))
    assert doc["warnings"] == ["lead V6 unreadable"]
    assert len(doc["segments"]) == len(result.traces)
    seg = doc["segments"][0]
    assert set(seg) == {"lead", "row", "col", "col_span", "t_start_s", "t_end_s", "quality",
                        "label_found"}
    assert seg["lead"] == "I" and seg["label_found"] is True
    assert doc["leads"]["I"][120] is None and doc["leads"]["I"][0] == 0.0


# --------------------------------------------------------------------------- write_outputs


def test_write_outputs_all_formats_and_overlay(tmp_path: Path, result: Result):
    image = np.full((600, 900, 3), 255, np.uint8)
    paths = write_outputs(result, tmp_path / "out", "sheet 01", image=image)
    assert set(paths) == {"wfdb", "csv", "json", "overlay"}
    assert _listing(tmp_path / "out") == ["sheet_01.csv", "sheet_01.dat", "sheet_01.hea",
                                          "sheet_01.json", "sheet_01_overlay.png"]
    assert paths["wfdb"] == tmp_path / "out" / "sheet_01.hea"
    assert all(p.is_file() for p in paths.values())


def test_write_outputs_chosen_formats(tmp_path: Path, result: Result):
    image = np.full((600, 900, 3), 255, np.uint8)
    paths = write_outputs(result, tmp_path, "s", formats="json, CSV", image=image,
                          overlay=False)
    assert set(paths) == {"csv", "json"}
    assert _listing(tmp_path) == ["s.csv", "s.json"]


def test_unknown_format_writes_nothing(tmp_path: Path, result: Result):
    with pytest.raises(OptionError) as exc:
        write_outputs(result, tmp_path, "s", formats=("wfdb", "xml"))
    msg = str(exc.value)
    assert "'xml'" in msg and "wfdb, csv, json" in msg and "\n" not in msg
    assert _listing(tmp_path) == []


def test_parse_formats():
    assert parse_formats("csv,wfdb,csv") == ("wfdb", "csv")
    assert parse_formats(["JSON"]) == ("json",)
    with pytest.raises(OptionError, match="no output format"):
        parse_formats(" , ")


@pytest.mark.parametrize("fmt", ["wfdb", "csv", "json"])
def test_parent_is_a_file_gives_output_error(tmp_path: Path, result: Result, fmt: str):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        write_outputs(result, blocker / "out", "s", formats=fmt)
    assert _listing(tmp_path) == ["file"]


@pytest.mark.parametrize("writer", [write_csv, write_json])
def test_failed_rename_leaves_no_partial_file(tmp_path: Path, result: Result, writer,
                                              monkeypatch):
    (tmp_path / "keep.txt").write_text("x")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        writer(result, tmp_path / "sheet.out")
    assert _listing(tmp_path) == ["keep.txt"]


def test_existing_output_is_replaced_whole(tmp_path: Path, result: Result):
    write_outputs(result, tmp_path, "s", formats="csv,json")
    short = make_result(n_seconds=2.0)
    write_outputs(short, tmp_path, "s", formats="csv,json")
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 1 + 1000
    leads, _ = load_reconstruction(tmp_path / "s.json")
    assert leads["II"].size == 1000
    assert _listing(tmp_path) == ["s.csv", "s.json"]


def test_ground_truth_sidecar_is_never_overwritten(tmp_path: Path, result: Result):
    sidecar = tmp_path / "s.json"
    sidecar.write_text(json.dumps({"schema": "ecgdigitize.groundtruth/1", "leads": []}))
    before = sidecar.read_text()
    with pytest.raises(OutputError, match="ground-truth"):
        write_outputs(result, tmp_path, "s")
    assert sidecar.read_text() == before
    assert _listing(tmp_path) == ["s.json"]


def test_describe_result(result: Result):
    line = describe_result(result)
    assert line.startswith("layout 3x4, 25 mm/s (pulse), 10 mm/mV (pulse), ")
    assert "11.81 px/mm (grid)" in line and "mean quality 0.78" in line   # 9.3 / 12
    assert "\n" not in line
    result.detected.px_per_mm_y = 11.0                                     # not square
    assert "11.81 x 11.00 px/mm (grid)" in describe_result(result)
