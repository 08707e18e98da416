"""HL7 aECG output: structure, round trip, unknown samples, atomicity, write_outputs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import sine_result
from ecgdigitize.digitize.result import Result
from ecgdigitize.errors import OutputError, RecordError
from ecgdigitize.io import atomic
from ecgdigitize.io.aecg import (
    ECGDIGITIZE_CODE_SYSTEM,
    HL7_NS,
    MDC_CODE_SYSTEM,
    UNREADABLE_CODE,
    XSI_NS,
    read_aecg,
    write_aecg,
)
from ecgdigitize.io.dicom import read_dicom
from ecgdigitize.io.outputs import DEFAULT_FORMATS, OUTPUT_FORMATS, parse_formats, write_outputs
from ecgdigitize.leads import STANDARD_LEADS

FS = 500.0
NS = {"hl7": HL7_NS}
XSI_TYPE = f"{{{XSI_NS}}}type"
MDC = ["MDC_ECG_LEAD_I", "MDC_ECG_LEAD_II", "MDC_ECG_LEAD_III", "MDC_ECG_LEAD_AVR",
       "MDC_ECG_LEAD_AVL", "MDC_ECG_LEAD_AVF", "MDC_ECG_LEAD_V1", "MDC_ECG_LEAD_V2",
       "MDC_ECG_LEAD_V3", "MDC_ECG_LEAD_V4", "MDC_ECG_LEAD_V5", "MDC_ECG_LEAD_V6"]


def make_result(n_seconds: float = 4.0, fs: float = FS) -> Result:
    """12 leads of sines (conftest.sine_result) with isolated NaN samples in V2."""
    res = sine_result(n_seconds, fs, "scans/sheet <01> & co.png")
    res.signals[[10, 12, 14], 7] = np.nan     # isolated samples of V2
    return res


@pytest.fixture
def result() -> Result:
    return make_result()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _only(root: ET.Element, path: str) -> ET.Element:
    found = root.findall(path, NS)
    assert len(found) == 1, path
    return found[0]


# --------------------------------------------------------------------------- round trip


def test_round_trip(tmp_path: Path, result: Result):
    path = write_aecg(result, tmp_path / "sheet.xml")
    assert path == tmp_path / "sheet.xml"
    assert _listing(tmp_path) == ["sheet.xml"]          # no temporary file left
    sig, fs, names = read_aecg(path)
    assert fs == FS and names == list(STANDARD_LEADS)
    assert sig.shape == result.signals.shape
    assert np.array_equal(np.isnan(sig), np.isnan(result.signals))
    ok = np.isfinite(result.signals)
    assert np.max(np.abs(sig[ok] - result.signals[ok])) <= 0.5e-3 + 1e-9   # 1 µV digits


@pytest.mark.parametrize("fs", [250.0, 257.0, 1000.0])
def test_round_trip_other_rates(tmp_path: Path, fs: float):
    res = make_result(n_seconds=1.0, fs=fs)
    sig, fs_read, _ = read_aecg(write_aecg(res, tmp_path / "s.xml"))
    assert fs_read == fs
    assert np.array_equal(np.isnan(sig), np.isnan(res.signals))


# --------------------------------------------------------------------------- structure


def test_required_elements(tmp_path: Path, result: Result):
    path = write_aecg(result, tmp_path / "sheet.xml")
    head = path.read_bytes()[:60]
    assert head.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.parse(path).getroot()                        # well-formed
    assert root.tag == f"{{{HL7_NS}}}AnnotatedECG"
    assert _only(root, "hl7:id").get("root")
    assert _only(root, "hl7:code").get("code") == "93000"
    _only(root, "hl7:effectiveTime/hl7:low")
    _only(root, "hl7:componentOf/hl7:timepointEvent/hl7:componentOf/hl7:subjectAssignment/"
          "hl7:subject/hl7:trialSubject/hl7:id")
    _only(root, "hl7:componentOf/hl7:timepointEvent/hl7:componentOf/hl7:subjectAssignment/"
          "hl7:componentOf/hl7:clinicalTrial/hl7:id")
    series = _only(root, "hl7:component/hl7:series")
    assert _only(series, "hl7:code").get("code") == "RHYTHM"
    seqs = series.findall("hl7:component/hl7:sequenceSet/hl7:component/hl7:sequence", NS)
    assert len(seqs) == 13

    time_seq = seqs[0]
    assert _only(time_seq, "hl7:code").get("code") == "TIME_RELATIVE"
    value = _only(time_seq, "hl7:value")
    assert value.get(XSI_TYPE) == "GLIST_PQ"
    inc = _only(value, "hl7:increment")
    assert inc.get("unit") == "s" and float(inc.get("value")) == pytest.approx(1 / FS)
    assert float(_only(value, "hl7:head").get("value")) == 0.0

    n = result.signals.shape[0]
    assert [_only(s, "hl7:code").get("code") for s in seqs[1:]] == MDC
    for seq in seqs[1:]:
        assert _only(seq, "hl7:code").get("codeSystem") == MDC_CODE_SYSTEM
        value = _only(seq, "hl7:value")
        assert value.get(XSI_TYPE) == "SLIST_PQ"
        assert _only(value, "hl7:origin").get("unit") == "uV"
        assert _only(value, "hl7:scale").attrib == {"value": "1.0", "unit": "uV"}
        digits = _only(value, "hl7:digits").text.split()
        assert len(digits) == n and all(d.lstrip("-").isdigit() for d in digits)


def test_source_image_and_settings(tmp_path: Path, result: Result):
    root = ET.parse(write_aecg(result, tmp_path / "sheet.xml")).getroot()
    text = _only(root, "hl7:text").text
    assert "scans/sheet <01> & co.png" in text                # escaped and restored
    assert "layout 3x4, 25 mm/s (pulse), 10 mm/mV (printed)" in text
    control = _only(root, "hl7:component/hl7:series/hl7:controlVariable/hl7:controlVariable")
    assert _only(control, "hl7:code").get("codeSystem") == ECGDIGITIZE_CODE_SYSTEM
    settings = {}
    for obs in control.findall("hl7:component/hl7:relatedObservation", NS):
        value = _only(obs, "hl7:value")
        assert value.get(XSI_TYPE) == "ST"
        settings[_only(obs, "hl7:code").get("code")] = value.text
    assert settings["source_image"] == "scans/sheet <01> & co.png"
    assert settings["layout"] == "3x4" and settings["speed_mm_s"] == "25"
    assert settings["gain_mm_mv"] == "10" and settings["gain_source"] == "printed"
    assert settings["warning"] == "lead V6 unreadable"


def test_unknown_samples_are_zero_and_annotated(tmp_path: Path, result: Result):
    root = ET.parse(write_aecg(result, tmp_path / "sheet.xml")).getroot()
    series = _only(root, "hl7:component/hl7:series")
    seqs = series.findall("hl7:component/hl7:sequenceSet/hl7:component/hl7:sequence", NS)
    lead_i = np.array(_only(seqs[1], "hl7:value/hl7:digits").text.split(), dtype=int)
    v6 = np.array(_only(seqs[12], "hl7:value/hl7:digits").text.split(), dtype=int)
    assert not lead_i[100:150].any() and not v6.any()          # 0 µV, never a spike
    runs = {}
    for ann in series.findall("hl7:subjectOf/hl7:annotationSet/hl7:component/hl7:annotation",
                              NS):
        assert _only(ann, "hl7:code").get("code") == UNREADABLE_CODE
        roi = _only(ann, "hl7:support/hl7:supportingROI")
        assert _only(roi, "hl7:code").get("code") == "ROIPS"
        bounds = roi.findall("hl7:component/hl7:boundary", NS)
        codes = [_only(b, "hl7:code").get("code") for b in bounds]
        assert codes[0] == "TIME_RELATIVE"
        low = _only(bounds[0], "hl7:value/hl7:low")
        high = _only(bounds[0], "hl7:value/hl7:high")
        assert low.get("unit") == high.get("unit") == "s"
        runs.setdefault(codes[1], []).append((round(float(low.get("value")) * FS),
                                              round(float(high.get("value")) * FS)))
    n = result.signals.shape[0]
    assert runs == {"MDC_ECG_LEAD_I": [(100, 149)], "MDC_ECG_LEAD_II": [(0, 0)],
                    "MDC_ECG_LEAD_AVL": [(n - 7, n - 1)],
                    "MDC_ECG_LEAD_V2": [(10, 10), (12, 12), (14, 14)],
                    "MDC_ECG_LEAD_V6": [(0, n - 1)]}


def test_no_annotation_set_without_unknown_samples(tmp_path: Path, result: Result):
    result.signals = np.nan_to_num(result.signals)
    root = ET.parse(write_aecg(result, tmp_path / "s.xml")).getroot()
    assert root.find(".//hl7:annotationSet", NS) is None
    sig, _, _ = read_aecg(tmp_path / "s.xml")
    assert np.isfinite(sig).all()


# --------------------------------------------------------------------------- reading


def test_reads_a_foreign_document(tmp_path: Path):
    """TIME_ABSOLUTE in ms, origin and scale in other units, leads in another order."""
    doc = f"""<?xml version="1.0"?>
<AnnotatedECG xmlns="{HL7_NS}" xmlns:xsi="{XSI_NS}">
 <component><series><code code="RHYTHM"/>
  <component><sequenceSet>
   <component><sequence><code code="TIME_ABSOLUTE"/>
    <value xsi:type="GLIST_TS"><head value="20020509120000.000"/>
     <increment value="2" unit="ms"/></value></sequence></component>
   <component><sequence><code code="MDC_ECG_LEAD_AVF"/>
    <value xsi:type="SLIST_PQ"><origin value="0.1" unit="mV"/><scale value="5" unit="uV"/>
     <digits>0 10
      -20</digits></value></sequence></component>
   <component><sequence><code code="MDC_ECG_LEAD_II"/>
    <value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/><scale value="2.5" unit="uV"/>
     <digits>400 0 4</digits></value></sequence></component>
  </sequenceSet></component>
 </series></component>
</AnnotatedECG>"""
    path = tmp_path / "foreign.xml"
    path.write_text(doc)
    sig, fs, names = read_aecg(path)
    assert fs == 500.0 and names == ["aVF", "II"]
    assert np.allclose(sig[:, 0], [0.1, 0.15, 0.0]) and np.allclose(sig[:, 1], [1.0, 0, 0.01])


@pytest.mark.parametrize("content, message", [
    (b"<AnnotatedECG><unclosed>", "not well-formed"),
    (b"<html/>", "not an HL7 aECG"),
    (f'<AnnotatedECG xmlns="{HL7_NS}"/>'.encode(), "no component/series"),
])
def test_bad_documents_raise_record_error(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(RecordError, match=message):
        read_aecg(path)
    with pytest.raises(RecordError, match="no such file"):
        read_aecg(tmp_path / "missing.xml")


# --------------------------------------------------------------------------- errors, atomicity


def test_unwritable_folder_gives_output_error(tmp_path: Path, result: Result):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        write_aecg(result, blocker / "out" / "s.xml")
    assert _listing(tmp_path) == ["file"]


def test_failed_rename_leaves_no_partial_file(tmp_path: Path, result: Result, monkeypatch):
    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        write_aecg(result, tmp_path / "s.xml")
    assert _listing(tmp_path) == []


def test_non_standard_lead_is_refused_before_writing(tmp_path: Path, result: Result):
    result.lead_names[3] = "-aVR"
    with pytest.raises(OutputError, match="'-aVR' has no MDC code"):
        write_outputs(result, tmp_path, "s", formats="wfdb,aecg")
    assert _listing(tmp_path) == []


# --------------------------------------------------------------------------- write_outputs


def test_formats_and_defaults():
    assert OUTPUT_FORMATS == ("wfdb", "csv", "json", "aecg", "dicom")
    assert DEFAULT_FORMATS == ("wfdb", "csv", "json")
    assert parse_formats("DICOM, aecg,wfdb") == ("wfdb", "aecg", "dicom")


def test_write_outputs_aecg_and_dicom(tmp_path: Path, result: Result):
    paths = write_outputs(result, tmp_path, "sheet 01", formats="aecg,dicom")
    assert paths == {"aecg": tmp_path / "sheet_01.xml", "dicom": tmp_path / "sheet_01.dcm"}
    assert _listing(tmp_path) == ["sheet_01.dcm", "sheet_01.xml"]
    sig_x, fs_x, names_x = read_aecg(paths["aecg"])
    sig_d, fs_d, names_d = read_dicom(paths["dicom"])
    assert fs_x == fs_d == FS and names_x == names_d == list(STANDARD_LEADS)
    nan = np.isnan(result.signals)
    assert np.array_equal(np.isnan(sig_x), nan) and np.array_equal(np.isnan(sig_d), nan)
    assert np.nanmax(np.abs(sig_x - sig_d)) < 1e-3


def test_write_outputs_default_writes_no_clinical_format(tmp_path: Path, result: Result):
    paths = write_outputs(result, tmp_path, "s")
    assert set(paths) == {"wfdb", "csv", "json"}
    assert not list(tmp_path.glob("*.xml")) and not list(tmp_path.glob("*.dcm"))
