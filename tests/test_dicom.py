"""DICOM 12-lead ECG output: read back by pydicom, scaling, padding, atomicity, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.waveforms.numpy_handler import multiplex_array

from conftest import sine_result
from ecgdigitize.cli import main
from ecgdigitize.digitize.result import Result
from ecgdigitize.errors import OutputError, RecordError
from ecgdigitize.io import atomic
from ecgdigitize.io.aecg import read_aecg
from ecgdigitize.io.dicom import (
    PADDING_VALUE,
    SCPECG_LEAD_CODES,
    TWELVE_LEAD_ECG_SOP_CLASS,
    channel_sensitivity_uv,
    read_dicom,
    write_dicom,
)
from ecgdigitize.io.outputs import write_outputs
from ecgdigitize.io.wfdbio import read_record
from ecgdigitize.leads import STANDARD_LEADS

FS = 500.0
SCPECG = ["5.6.3-9-1", "5.6.3-9-2", "5.6.3-9-61", "5.6.3-9-62", "5.6.3-9-63", "5.6.3-9-64",
          "5.6.3-9-3", "5.6.3-9-4", "5.6.3-9-5", "5.6.3-9-6", "5.6.3-9-7", "5.6.3-9-8"]


def make_result(n_seconds: float = 4.0, fs: float = FS) -> Result:
    """12 leads of sines (conftest.sine_result) with a flat V5."""
    res = sine_result(n_seconds, fs, "scans/sheet é 01.png")
    res.signals[:, 10] = 0.0                  # V5 flat
    return res


@pytest.fixture
def result() -> Result:
    return make_result()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _sensitivities(ds) -> np.ndarray:
    return np.array([float(ch.ChannelSensitivity)
                     for ch in ds.WaveformSequence[0].ChannelDefinitionSequence])


# --------------------------------------------------------------------------- read back


def test_round_trip(tmp_path: Path, result: Result):
    path = write_dicom(result, tmp_path / "sheet.dcm")
    assert path == tmp_path / "sheet.dcm" and _listing(tmp_path) == ["sheet.dcm"]
    sig, fs, names = read_dicom(path)
    assert fs == FS and names == list(STANDARD_LEADS)
    assert np.array_equal(np.isnan(sig), np.isnan(result.signals))
    half_step_mv = _sensitivities(pydicom.dcmread(path)) / 2 / 1000
    err = np.abs(sig - result.signals)
    assert np.all(np.nan_to_num(err) <= half_step_mv + 1e-12)


def test_plain_pydicom_reads_it(tmp_path: Path, result: Result):
    path = write_dicom(result, tmp_path / "sheet.dcm")
    assert path.read_bytes()[128:132] == b"DICM"
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == TWELVE_LEAD_ECG_SOP_CLASS
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.Modality == "ECG"
    group = ds.WaveformSequence[0]
    n = result.signals.shape[0]
    assert group.NumberOfWaveformChannels == 12 and group.NumberOfWaveformSamples == n
    assert float(group.SamplingFrequency) == FS
    assert group.WaveformBitsAllocated == 16 and group.WaveformSampleInterpretation == "SS"
    assert float(group.MultiplexGroupTimeOffset) == 0.0
    assert group.WaveformOriginality == "DERIVED"
    assert np.frombuffer(group.WaveformPaddingValue, "<i2")[0] == PADDING_VALUE
    for ch, code, name in zip(group.ChannelDefinitionSequence, SCPECG, STANDARD_LEADS,
                              strict=True):
        src = ch.ChannelSourceSequence[0]
        assert (src.CodeValue, src.CodingSchemeDesignator) == (code, "SCPECG")
        assert src.CodeMeaning == f"Lead {name}" and ch.ChannelLabel == name
        unit = ch.ChannelSensitivityUnitsSequence[0]
        assert (unit.CodeValue, unit.CodingSchemeDesignator) == ("uV", "UCUM")
        assert float(ch.ChannelBaseline) == 0.0 and float(ch.ChannelSampleSkew) == 0.0
        assert float(ch.ChannelSensitivityCorrectionFactor) == 1.0

    # waveform_array applies the sensitivity: values in µV.
    uv = ds.waveform_array(0)
    ok = np.isfinite(result.signals)
    step_uv = np.broadcast_to(_sensitivities(ds), uv.shape)
    assert np.all(np.abs(uv[ok] / 1000 - result.signals[ok]) <= step_uv[ok] / 2000 + 1e-12)
    raw = multiplex_array(ds, 0, as_raw=True)
    assert np.array_equal(raw == PADDING_VALUE, ~ok)          # NaN -> padding, only there


def test_scaling_uses_the_16_bits(tmp_path: Path, result: Result):
    ds = pydicom.dcmread(write_dicom(result, tmp_path / "s.dcm"))
    raw = multiplex_array(ds, 0, as_raw=True).astype(int)
    sens = _sensitivities(ds)
    for j in range(10):                                  # leads with values: full range used
        finite = raw[:, j][raw[:, j] != PADDING_VALUE]
        assert np.max(np.abs(finite)) == 32767
        peak_uv = np.nanmax(np.abs(result.signals[:, j])) * 1000
        assert sens[j] == pytest.approx(peak_uv / 32767, rel=1e-5)
    assert sens[10] == 1.0 and not raw[:, 10].any()     # flat lead
    assert sens[11] == 1.0 and (raw[:, 11] == PADDING_VALUE).all()   # unread lead


def test_channel_sensitivity():
    assert channel_sensitivity_uv(np.array([np.nan, np.nan])) == 1.0
    assert channel_sensitivity_uv(np.zeros(3)) == 1.0
    assert channel_sensitivity_uv(np.array([0.5, -2.0, np.nan])) == pytest.approx(
        2000 / 32767, rel=1e-6)
    assert channel_sensitivity_uv(np.array([1e-9])) == 1e-3             # floor


def test_source_image_settings_and_anonymous_patient(tmp_path: Path, result: Result):
    ds = pydicom.dcmread(write_dicom(result, tmp_path / "s.dcm"))
    assert ds.AcquisitionContextDescription.startswith(
        "Digitized from the paper ECG image scans/sheet é 01.png by ecgdigitize ")
    assert "layout 3x4, 25 mm/s (pulse), 10 mm/mV (printed)" in ds.AcquisitionContextDescription
    notes = [a.UnformattedTextValue for a in ds.WaveformAnnotationSequence]
    assert "source_image: scans/sheet é 01.png" in notes and "speed_mm_s: 25" in notes
    assert all(list(a.ReferencedWaveformChannels) == [1, 0]
               for a in ds.WaveformAnnotationSequence)
    assert ds.PatientName == "" and ds.PatientID == "" and ds.PatientSex == ""
    other = pydicom.dcmread(write_dicom(result, tmp_path / "t.dcm"))
    for uid in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert ds[uid].value != other[uid].value and ds[uid].value.is_valid


def test_rewrites_its_own_output(tmp_path: Path, result: Result):
    """The file survives a pydicom read-write cycle unchanged in content."""
    ds = pydicom.dcmread(write_dicom(result, tmp_path / "s.dcm"))
    ds.save_as(tmp_path / "copy.dcm")
    a, _, _ = read_dicom(tmp_path / "s.dcm")
    b, _, _ = read_dicom(tmp_path / "copy.dcm")
    assert np.array_equal(a, b, equal_nan=True)


# --------------------------------------------------------------------------- limits, errors


@pytest.mark.parametrize("fs, message", [(100.0, "outside the 200-1000 Hz"),
                                          (2000.0, "outside the 200-1000 Hz")])
def test_iod_limits_are_checked_before_writing(tmp_path: Path, fs: float, message: str):
    res = make_result(n_seconds=1.0, fs=fs)
    with pytest.raises(OutputError, match=message):
        write_outputs(res, tmp_path, "s", formats="wfdb,csv,dicom")
    assert _listing(tmp_path) == []


def test_too_many_samples(tmp_path: Path):
    with pytest.raises(OutputError, match="exceed the 16384"):
        write_dicom(make_result(n_seconds=40.0), tmp_path / "s.dcm")


def test_unwritable_folder_gives_output_error(tmp_path: Path, result: Result):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        write_outputs(result, blocker / "out", "s", formats="dicom")
    assert _listing(tmp_path) == ["file"]


def test_failed_rename_leaves_no_partial_file(tmp_path: Path, result: Result, monkeypatch):
    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        write_dicom(result, tmp_path / "s.dcm")
    assert _listing(tmp_path) == []


def test_read_errors(tmp_path: Path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not a dicom file at all")
    with pytest.raises(RecordError, match="not a readable DICOM"):
        read_dicom(bad)
    with pytest.raises(RecordError, match="no such file"):
        read_dicom(tmp_path / "missing.dcm")


def test_codes_cover_the_standard_leads():
    assert list(SCPECG_LEAD_CODES) == list(STANDARD_LEADS)
    assert [c for c, _ in SCPECG_LEAD_CODES.values()] == SCPECG


# --------------------------------------------------------------------------- CLI


def test_cli_digitize_writes_aecg_and_dicom(tmp_path: Path, capsys):
    """A rendered sheet through ``ecgdigitize digitize --format wfdb,aecg,dicom``."""
    sheets, out = tmp_path / "sheets", tmp_path / "out"
    assert main(["synth", "--out", str(sheets), "--layout", "3x4+1", "--seed", "4",
                 "--dpi", "100"]) == 0
    image = next(p for p in sheets.glob("*.png")
                 if not p.stem.endswith(("_classes", "_instances")))
    assert main(["digitize", str(image), "-o", str(out), "--format", "wfdb,aecg,dicom",
                 "--no-overlay", "--quiet"]) == 0
    stem = image.stem
    assert _listing(out) == [f"{stem}.dat", f"{stem}.dcm", f"{stem}.hea", f"{stem}.xml"]
    rec = read_record(out / stem)
    sig_x, fs_x, names_x = read_aecg(out / f"{stem}.xml")
    sig_d, fs_d, names_d = read_dicom(out / f"{stem}.dcm")
    assert fs_x == fs_d == rec.fs == 500.0
    assert names_x == names_d == rec.lead_names
    nan = np.isnan(rec.signals)
    assert np.array_equal(np.isnan(sig_x), nan) and np.array_equal(np.isnan(sig_d), nan)
    assert np.nanmax(np.abs(sig_x - rec.signals)) <= 1.01e-3      # two 1 µV roundings
    assert np.nanmax(np.abs(sig_d - rec.signals)) <= 1e-3
    assert str(image) in (out / f"{stem}.xml").read_text(encoding="utf-8")
    assert str(image) in pydicom.dcmread(out / f"{stem}.dcm").AcquisitionContextDescription
    assert capsys.readouterr().err == ""
