"""End-to-end tests: sidecar ground truth -> scoring -> report files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ecgdigitize.errors import RecordError
from ecgdigitize.evaluate import (
    SNR_CAP_DB,
    find_pairs,
    load_reconstruction,
    load_reference,
    resample_linear,
    score_set,
    score_sheet,
    write_report,
)
from ecgdigitize.io.wfdbio import write_record
from ecgdigitize.record import EcgRecord

FS = 500.0
DURATION = 10.0
N = int(FS * DURATION)
# A small 3x1 sheet plus a rhythm strip: (lead, t_start, t_end).
LAYOUT = [("I", 0.0, 2.5), ("II", 2.5, 5.0), ("-aVR", 5.0, 7.5), ("II", 0.0, 10.0)]


def gauss(t: np.ndarray, mu: float, sigma: float, amp: float) -> np.ndarray:
    return amp * np.exp(-((t - mu) ** 2) / (2 * sigma**2))


def record_signals(seed: int) -> dict[str, np.ndarray]:
    """Leads I, II and aVR of a sum-of-Gaussians ECG (mV)."""
    t = np.arange(N) / FS
    beat = np.zeros(N)
    for tr in np.arange(0.4, DURATION, 0.85):
        beat += (gauss(t, tr - 0.16, 0.02, 0.12) + gauss(t, tr - 0.025, 0.008, -0.1)
                 + gauss(t, tr, 0.01, 1.0) + gauss(t, tr + 0.025, 0.008, -0.2)
                 + gauss(t, tr + 0.27, 0.04, 0.25))
    rng = np.random.default_rng(seed)
    lead_i = 0.6 * beat + 0.01 * rng.normal(size=N)
    lead_ii = beat + 0.01 * rng.normal(size=N)
    return {"I": lead_i, "II": lead_ii, "aVR": -(lead_i + lead_ii) / 2}


def write_sidecar(path: Path, signals: dict[str, np.ndarray], preset: str) -> None:
    leads = []
    for k, (name, t0, t1) in enumerate(LAYOUT, start=1):
        sig = -signals["aVR"] if name == "-aVR" else signals[name]
        i0, i1 = int(round(t0 * FS)), int(round(t1 * FS))
        values = [round(float(v), 6) for v in sig[i0:i1]]
        leads.append({"lead": name, "instance_id": k, "row": k - 1, "col": 0, "col_span": 1,
                      "t_start_s": t0, "t_end_s": t1, "fs_hz": FS, "signal_mv": values})
    doc = {"schema": "ecgdigitize.groundtruth/1", "image": path.stem + ".png",
           "record": {"name": path.stem, "source": "simulator", "fs_hz": FS,
                      "duration_s": DURATION},
           "layout": "test", "preset": preset, "leads": leads}
    path.write_text(json.dumps(doc), encoding="utf-8")


def write_prediction(path: Path, signals: dict[str, np.ndarray], fs: float = FS) -> None:
    leads = {}
    for name, sig in signals.items():
        x = resample_linear(sig, FS, fs)
        leads[name] = [None if not np.isfinite(v) else round(float(v), 6) for v in x]
    path.write_text(json.dumps({"fs_hz": fs, "leads": leads}), encoding="utf-8")


@pytest.fixture()
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    truth.mkdir()
    pred.mkdir()
    rng = np.random.default_rng(0)
    # sheet a: clean, good JSON prediction (delayed 10 ms, offset, a little noise)
    sa = record_signals(1)
    write_sidecar(truth / "a.json", sa, "clean")
    write_prediction(pred / "a.json", {
        k: np.roll(v, 5) + 0.2 + 0.01 * rng.normal(size=N) for k, v in sa.items()})
    # sheet b: photo, WFDB prediction at 250 Hz with lead I partly missing
    sb = record_signals(2)
    write_sidecar(truth / "b.json", sb, "photo")
    recon = {k: v + 0.03 * rng.normal(size=N) for k, v in sb.items()}
    recon["I"][: N // 10] = np.nan
    low = {k: resample_linear(v, FS, 250.0) for k, v in recon.items()}
    write_record(EcgRecord(np.stack([low["I"], low["II"], low["aVR"]], axis=1), 250.0,
                           ["I", "II", "aVR"], name="b"), pred)
    # sheet c: photo, no prediction at all
    write_sidecar(truth / "c.json", record_signals(3), "photo")
    # noise that must be ignored
    (truth / "c_classes.png").write_bytes(b"\x89PNG")
    (truth / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    return truth, pred


def test_load_reference_union_and_inverted_lead(dataset: tuple[Path, Path]) -> None:
    truth, _ = dataset
    ref = load_reference(truth / "a.json")
    sig = record_signals(1)
    assert ref.fs == FS and ref.condition == "clean"
    assert set(ref.leads) == {"I", "II", "aVR"}
    assert np.isfinite(ref.leads["II"]).all()  # cell + rhythm strip = whole record
    assert np.isfinite(ref.leads["I"]).sum() == 1250
    avr = ref.leads["aVR"]
    assert np.isfinite(avr).sum() == 1250
    assert np.allclose(avr[2500:3750], sig["aVR"][2500:3750], atol=1e-5)


def test_find_pairs(dataset: tuple[Path, Path]) -> None:
    truth, pred = dataset
    pairs = find_pairs(truth, pred)
    assert [(t.name, p.name if p else None) for t, p in pairs] == [
        ("a.json", "a.json"), ("b.json", "b.hea"), ("c.json", None)]
    with pytest.raises(RecordError):
        find_pairs(truth / "nope", pred)


def test_score_sheet_values(dataset: tuple[Path, Path]) -> None:
    truth, pred = dataset
    a = score_sheet(truth / "a.json", pred / "a.json")
    assert set(a.leads) == {"I", "II", "aVR"}
    for ls in a.leads.values():
        assert ls.reference.shift_s == pytest.approx(0.01)
        assert ls.reference.offset_mv == pytest.approx(0.2, abs=0.01)
        assert ls.reference.snr_db > 15.0
        assert ls.challenge.snr_db > 15.0
    assert a.intervals["hr_bpm"] < 1.0
    assert a.intervals["qrs_ms"] < 15.0
    b = score_sheet(truth / "b.json", pred / "b")  # WFDB at 250 Hz, resampled
    assert b.fs == FS
    assert b.leads["II"].reference.snr_db > 12.0
    assert b.leads["I"].reference.nan_fraction == pytest.approx(0.4, abs=0.01)  # 1 s of 2.5
    c = score_sheet(truth / "c.json", None)
    assert c.missing and c.snr_reference_db == 0.0 and c.snr_challenge_db == 0.0


def test_load_reconstruction_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"leads": {"I": [1, 2]}}', encoding="utf-8")
    with pytest.raises(RecordError):
        load_reconstruction(bad)
    with pytest.raises(RecordError):
        load_reconstruction(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RecordError):
        load_reconstruction(tmp_path / "x.json")
    ok = tmp_path / "ok.json"
    ok.write_text('{"fs_hz": 100, "leads": {"avr": [1, null], "-aVL": [2, 3]}}',
                  encoding="utf-8")
    leads, fs = load_reconstruction(ok)
    assert fs == 100.0 and set(leads) == {"aVR", "aVL"}
    assert leads["aVL"].tolist() == [-2.0, -3.0]
    assert math.isnan(leads["aVR"][1])


def test_score_set_and_report(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    truth, pred = dataset
    (pred / "a.json").write_text(  # keep a, but make an unreadable copy for sheet d
        (pred / "a.json").read_text(encoding="utf-8"), encoding="utf-8")
    write_sidecar(truth / "d.json", record_signals(4), "clean")
    (pred / "d.json").write_text("garbage", encoding="utf-8")
    seen: list[str] = []
    result = score_set(find_pairs(truth, pred), progress=lambda i, s: seen.append(s.name))
    assert seen == ["a", "b", "c", "d"]
    assert result.overall.n_sheets == 4 and result.overall.n_missing == 2
    assert set(result.per_condition) == {"clean", "photo"}
    assert list(result.per_lead) == ["I", "II", "aVR"]
    assert result.per_lead["II"].n_leads == 4
    d = next(s for s in result.sheets if s.name == "d")
    assert d.missing and d.error
    clean = result.per_condition["clean"]
    # mean over sheets of the per-sheet lead means
    a = next(s for s in result.sheets if s.name == "a")
    assert clean.snr_ref_mean_db == pytest.approx((a.snr_reference_db + 0.0) / 2)

    out = tmp_path / "report"
    paths = write_report(result, out, title="test run")
    assert set(paths) == {"summary", "markdown", "html"}
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md",
                                                     "summary.json"]
    text = paths["summary"].read_text(encoding="utf-8")

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in summary.json")

    summary = json.loads(text, parse_constant=no_constants)
    assert summary["overall"]["n_sheets"] == 4
    assert summary["per_condition"]["photo"]["n_missing"] == 1
    assert summary["sheets"][0]["leads"]["II"]["reference"]["snr_db"] > 15
    assert summary["sheets"][2]["leads"]["I"]["reference"]["pearson"] is None
    assert summary["snr_cap_db"] == SNR_CAP_DB
    md = paths["markdown"].read_text(encoding="utf-8")
    for needle in ("# test run", "## Per condition", "## Per lead", "reference-paper",
                   "Challenge 2024", "| clean |", "| photo |"):
        assert needle in md
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count("<svg") == 3 + 2  # best/median/worst overlays + 2 histograms
    assert "<polyline" in page and "<table>" in page
    assert "condition: photo" in page
    assert not list(out.glob(".*"))  # no temporary files left behind
