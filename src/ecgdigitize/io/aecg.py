"""HL7 v3 annotated ECG (aECG) XML output of a digitized sheet, and a reader for it.

The document follows the structure of the HL7 aECG Implementation Guide (the
form the FDA accepts for ECG waveforms), in the ``urn:hl7-org:v3`` namespace::

    AnnotatedECG
      id                      new UUID for every file
      code                    93000 (CPT-4, routine 12-lead ECG)
      text                    "Digitized from the paper ECG image SOURCE by ecgdigitize
                              VERSION", the detected settings (one line) and every
                              setting as ``key: value`` (see wfdb_comments)
      effectiveTime           low/high with nullFlavor UNK: the acquisition time of a
                              paper ECG is not known
      componentOf/timepointEvent/componentOf/subjectAssignment
                              trialSubject and clinicalTrial, anonymous (ids UNK)
      component/series        code RHYTHM; author: the software (ecgdigitize)
        component/sequenceSet
          sequence TIME_RELATIVE   GLIST_PQ, head 0 s, increment 1/fs s
          sequence MDC_ECG_LEAD_I ... MDC_ECG_LEAD_V6
                                   SLIST_PQ, origin 0 uV, scale 1 uV, integer digits
        controlVariable       ECGDIGITIZE_DIGITIZATION: one relatedObservation (ST) per
                              setting (source_image, layout, speed_mm_s, gain_mm_mv, ...)
        subjectOf/annotationSet    one ECGDIGITIZE_UNREADABLE annotation per run of
                                   unknown samples of a lead (see below)

Lead sequences use the MDC codes of ISO/IEEE 11073 (code system
2.16.840.1.113883.6.24); RHYTHM, TIME_RELATIVE and ROIPS are HL7 ActCodes
(2.16.840.1.113883.5.4). Codes of our own (the controlVariable and the
annotation) are in the code system :data:`ECGDIGITIZE_CODE_SYSTEM` (a fixed
UUID, name ``ecgdigitize``), which a standard reader ignores.

Unknown samples (NaN)
---------------------
aECG has no missing value. A NaN sample is written as digit ``0``, i.e. the
origin, 0 uV: a reader that ignores the annotations draws a flat line at
0 mV there, never a spike. The runs of unknown samples are listed in the
series' annotation set: one annotation coded ``ECGDIGITIZE_UNREADABLE`` per
run and lead, supported by a partially specified region of interest (ROIPS)
whose boundaries are the lead (its MDC code) and the closed time interval
``[first / fs, last / fs]`` in s (TIME_RELATIVE, IVL_PQ). :func:`read_aecg`
sets those samples back to NaN. A lead that was not read at all is written
as zeros with one annotation covering the whole record.

Amplitudes are quantised to 1 uV (half a uV error at most), as in the WFDB
output.
"""

from __future__ import annotations

import math
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..digitize.result import Result
from ..errors import OutputError, RecordError
from ..leads import normalize_lead_name
from .atomic import write_bytes_atomic
from .outputs import _signals, describe_result, wfdb_comments
from .wfdbio import UNIT_TO_MV

__all__ = [
    "HL7_NS",
    "XSI_NS",
    "MDC_CODE_SYSTEM",
    "ACT_CODE_SYSTEM",
    "ECGDIGITIZE_CODE_SYSTEM",
    "UNREADABLE_CODE",
    "MDC_LEAD_CODES",
    "SCALE_UV",
    "check_aecg",
    "aecg_document",
    "write_aecg",
    "read_aecg",
]

#: Namespace of HL7 v3 (and of every element of an aECG document).
HL7_NS = "urn:hl7-org:v3"
#: Namespace of ``xsi:type``.
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
#: OID of the ISO/IEEE 11073 MDC nomenclature.
MDC_CODE_SYSTEM = "2.16.840.1.113883.6.24"
#: OID of the HL7 ActCode vocabulary (RHYTHM, TIME_RELATIVE, ROIPS).
ACT_CODE_SYSTEM = "2.16.840.1.113883.5.4"
#: OID of CPT-4 (code of the AnnotatedECG).
CPT4_CODE_SYSTEM = "2.16.840.1.113883.6.12"
#: Code system of the codes of ecgdigitize: a fixed UUID,
#: ``uuid.uuid5(uuid.NAMESPACE_URL, "urn:ecgdigitize:hl7-codes")``.
ECGDIGITIZE_CODE_SYSTEM = "0c411547-e87b-5fc2-820e-3bdf9c875e6c"
#: Annotation code of a run of samples that could not be read on the image.
UNREADABLE_CODE = "ECGDIGITIZE_UNREADABLE"
#: controlVariable code of the digitization settings.
DIGITIZATION_CODE = "ECGDIGITIZE_DIGITIZATION"
#: Amplitude of one digit, in uV.
SCALE_UV = 1.0

#: MDC code of each standard lead.
MDC_LEAD_CODES: dict[str, str] = {
    "I": "MDC_ECG_LEAD_I", "II": "MDC_ECG_LEAD_II", "III": "MDC_ECG_LEAD_III",
    "aVR": "MDC_ECG_LEAD_AVR", "aVL": "MDC_ECG_LEAD_AVL", "aVF": "MDC_ECG_LEAD_AVF",
    "V1": "MDC_ECG_LEAD_V1", "V2": "MDC_ECG_LEAD_V2", "V3": "MDC_ECG_LEAD_V3",
    "V4": "MDC_ECG_LEAD_V4", "V5": "MDC_ECG_LEAD_V5", "V6": "MDC_ECG_LEAD_V6",
}
_LEAD_OF_CODE = {code: name for name, code in MDC_LEAD_CODES.items()}
_LEAD_PREFIX = "MDC_ECG_LEAD_"
_TIME_CODES = ("TIME_ABSOLUTE", "TIME_RELATIVE")
_TIME_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}
_NS = {"hl7": HL7_NS}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --------------------------------------------------------------------------- writing


def _el(parent: ET.Element | None, tag: str, text: str | None = None,
        **attrs: str) -> ET.Element:
    """A new element (below `parent` if given); ``xsi_type`` sets ``xsi:type``.

    The tree is built with plain names and the root declares the HL7 namespace
    as the default one (ElementTree would otherwise write ``ns0:`` prefixes).
    """
    if "xsi_type" in attrs:
        attrs["xsi:type"] = attrs.pop("xsi_type")
    el = ET.Element(tag, attrs) if parent is None else ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold (control characters)."""
    return _XML_INVALID.sub("\ufffd", str(text))


def _num(value: float) -> str:
    """Shortest text that reads back as the same float."""
    return repr(float(value))


def _lead_code(name: str) -> str:
    code = MDC_LEAD_CODES.get(normalize_lead_name(name))
    if code is None:
        raise OutputError(f"lead {name!r} has no MDC code; aECG output needs standard leads")
    return code


def check_aecg(result: Result) -> None:
    """Check that `result` can be written as aECG.

    Raises
    ------
    OutputError
        If the signals do not match the lead names, hold no sample, a lead is
        not a standard lead, or the sampling rate is not a positive number of Hz.
    """
    _signals(result)
    for name in result.lead_names:
        _lead_code(name)
    fs = float(result.fs)
    if not (math.isfinite(fs) and fs > 0):
        raise OutputError(f"sampling rate {result.fs!r} Hz is not a positive number")


def _nan_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) sample indices (inclusive) of every run of True in `mask`."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _unreadable_annotation(parent: ET.Element, lead_code: str, t0_s: float,
                           t1_s: float) -> None:
    ann = _el(_el(parent, "component"), "annotation")
    _el(ann, "code", code=UNREADABLE_CODE, codeSystem=ECGDIGITIZE_CODE_SYSTEM,
        codeSystemName="ecgdigitize",
        displayName="not readable on the paper image; the samples are placeholders (0 uV)")
    roi = _el(_el(ann, "support"), "supportingROI")
    _el(roi, "code", code="ROIPS", codeSystem=ACT_CODE_SYSTEM, codeSystemName="ActCode")
    time_b = _el(_el(roi, "component"), "boundary")
    _el(time_b, "code", code="TIME_RELATIVE", codeSystem=ACT_CODE_SYSTEM,
        codeSystemName="ActCode")
    ivl = _el(time_b, "value", xsi_type="IVL_PQ")
    _el(ivl, "low", value=_num(t0_s), unit="s")
    _el(ivl, "high", value=_num(t1_s), unit="s")
    lead_b = _el(_el(roi, "component"), "boundary")
    _el(lead_b, "code", code=lead_code, codeSystem=MDC_CODE_SYSTEM, codeSystemName="MDC")


def _settings(result: Result) -> list[tuple[str, str]]:
    pairs = []
    for line in wfdb_comments(result):
        key, _, value = line.partition(": ")
        pairs.append((key, value))
    return pairs


def aecg_document(result: Result) -> ET.Element:
    """The aECG document of `result` as an XML element tree (see the module docstring).

    Parameters
    ----------
    result : Result
        Digitized sheet.

    Returns
    -------
    xml.etree.ElementTree.Element
        The ``AnnotatedECG`` root element, built with unqualified names; it
        declares ``xmlns="urn:hl7-org:v3"`` (and ``xmlns:xsi``) as attributes,
        so the serialised document is in the HL7 namespace.

    Raises
    ------
    OutputError
        See :func:`check_aecg`.
    """
    from .. import __version__

    check_aecg(result)
    sig = _signals(result)
    fs = float(result.fs)
    settings = _settings(result)

    root = _el(None, "AnnotatedECG", classCode="OBS", moodCode="EVN")
    root.set("xmlns", HL7_NS)
    root.set("xmlns:xsi", XSI_NS)
    _el(root, "id", root=str(uuid.uuid4()))
    _el(root, "code", code="93000", codeSystem=CPT4_CODE_SYSTEM, codeSystemName="CPT-4",
        displayName="Routine ECG with at least 12 leads")
    text = [f"Digitized from the paper ECG image {result.source} by ecgdigitize "
            f"{__version__}: {describe_result(result)}. Acquisition time and subject "
            "unknown. Unreadable samples are written as 0 uV and listed as "
            f"{UNREADABLE_CODE} annotations."]
    text += [f"{k}: {v}" for k, v in settings]
    _el(root, "text", _xml_text("\n".join(text)))
    eff = _el(root, "effectiveTime")
    _el(eff, "low", nullFlavor="UNK")
    _el(eff, "high", nullFlavor="UNK")

    event = _el(_el(root, "componentOf"), "timepointEvent")
    _el(event, "code", nullFlavor="UNK")
    assignment = _el(_el(event, "componentOf"), "subjectAssignment")
    subject = _el(_el(assignment, "subject"), "trialSubject")
    _el(subject, "id", nullFlavor="UNK")
    trial = _el(_el(assignment, "componentOf"), "clinicalTrial")
    _el(trial, "id", nullFlavor="UNK")

    series = _el(_el(root, "component"), "series")
    _el(series, "id", root=str(uuid.uuid4()))
    _el(series, "code", code="RHYTHM", codeSystem=ACT_CODE_SYSTEM, codeSystemName="ActCode")
    s_eff = _el(series, "effectiveTime")
    _el(s_eff, "low", nullFlavor="UNK")
    _el(s_eff, "high", nullFlavor="UNK")
    author = _el(_el(series, "author"), "seriesAuthor")
    device = _el(author, "manufacturedSeriesDevice")
    _el(device, "manufacturerModelName", "ecgdigitize")
    _el(device, "softwareName", f"ecgdigitize {__version__}")
    _el(_el(author, "manufacturerOrganization"), "name", "ecgdigitize")

    seq_set = _el(_el(series, "component"), "sequenceSet")
    time_seq = _el(_el(seq_set, "component"), "sequence")
    _el(time_seq, "code", code="TIME_RELATIVE", codeSystem=ACT_CODE_SYSTEM,
        codeSystemName="ActCode")
    glist = _el(time_seq, "value", xsi_type="GLIST_PQ")
    _el(glist, "head", value="0", unit="s")
    _el(glist, "increment", value=_num(1.0 / fs), unit="s")

    finite = np.isfinite(sig)
    digits = np.where(finite, np.rint(np.where(finite, sig, 0.0) * 1000.0 / SCALE_UV), 0.0)
    digits = digits.astype(np.int64)
    runs: list[tuple[str, int, int]] = []
    for j, name in enumerate(result.lead_names):
        code = _lead_code(name)
        seq = _el(_el(seq_set, "component"), "sequence")
        _el(seq, "code", code=code, codeSystem=MDC_CODE_SYSTEM, codeSystemName="MDC")
        value = _el(seq, "value", xsi_type="SLIST_PQ")
        _el(value, "origin", value="0", unit="uV")
        _el(value, "scale", value=_num(SCALE_UV), unit="uV")
        _el(value, "digits", " ".join(map(str, digits[:, j].tolist())))
        runs += [(code, a, b) for a, b in _nan_runs(~finite[:, j])]

    control = _el(_el(series, "controlVariable"), "controlVariable")
    _el(control, "code", code=DIGITIZATION_CODE, codeSystem=ECGDIGITIZE_CODE_SYSTEM,
        codeSystemName="ecgdigitize", displayName="digitized from a paper ECG image")
    for key, value in settings:
        obs = _el(_el(control, "component"), "relatedObservation")
        _el(obs, "code", code=key, codeSystem=ECGDIGITIZE_CODE_SYSTEM,
            codeSystemName="ecgdigitize")
        _el(obs, "value", _xml_text(value), xsi_type="ST")

    if runs:
        ann_set = _el(_el(series, "subjectOf"), "annotationSet")
        for code, a, b in runs:
            _unreadable_annotation(ann_set, code, a / fs, b / fs)
    return root


def write_aecg(result: Result, path: str | Path) -> Path:
    """Write the signals as an HL7 v3 annotated ECG (aECG) XML file.

    See the module docstring for the content; amplitudes are integers of
    1 uV, unknown (NaN) samples are 0 uV and listed as
    ``ECGDIGITIZE_UNREADABLE`` annotations. The file appears at once or not at all.

    Parameters
    ----------
    result : Result
        Digitized sheet (signals in mV, `fs` in Hz, standard lead names).
    path : str or Path
        Output file, usually ``NAME.xml`` (its folder is created if needed).

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    OutputError
        If the file cannot be written, or `result` cannot be stored as aECG
        (see :func:`check_aecg`).
    """
    path = Path(path)
    root = aecg_document(result)
    ET.indent(root, space=" ")
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    write_bytes_atomic(path, (text + "\n").encode("utf-8"))
    return path


# --------------------------------------------------------------------------- reading


def _find(el: ET.Element, path: str, where: Path) -> ET.Element:
    found = el.find(path, _NS)
    if found is None:
        raise RecordError(f"{where}: no {path.replace('hl7:', '')} in the aECG document")
    return found


def _pq(el: ET.Element, units: dict[str, float], where: Path) -> float:
    """Value of a PQ element in the unit of `units` (factor of each unit)."""
    unit = (el.get("unit") or "1").strip()
    factor = units.get(unit, units.get(unit.lower()))
    if factor is None:
        raise RecordError(f"{where}: unknown unit {unit!r} in the aECG document")
    try:
        return float(el.get("value", "")) * factor
    except ValueError:
        raise RecordError(f"{where}: bad number {el.get('value')!r} in the aECG "
                          "document") from None


def _lead_name(code: str) -> str:
    if code in _LEAD_OF_CODE:
        return _LEAD_OF_CODE[code]
    return normalize_lead_name(code[len(_LEAD_PREFIX):])


def read_aecg(path: str | Path) -> tuple[np.ndarray, float, list[str]]:
    """Read the rhythm waveforms of an HL7 aECG file.

    Reads the first series' first sequence set: the sampling interval of its
    TIME_ABSOLUTE or TIME_RELATIVE sequence and every ``MDC_ECG_LEAD_*``
    sequence (SLIST_PQ ``origin + scale * digits``, converted to mV). Samples
    inside an ``ECGDIGITIZE_UNREADABLE`` annotation (written by
    :func:`write_aecg`) become NaN.

    Parameters
    ----------
    path : str or Path
        aECG XML file.

    Returns
    -------
    signals : ndarray, shape (n_samples, n_leads)
        Amplitudes in mV, NaN where unknown.
    fs : float
        Sampling rate in Hz.
    lead_names : list of str
        Lead names in file order (``MDC_ECG_LEAD_AVR`` -> ``aVR``).

    Raises
    ------
    RecordError
        If the file is missing, not well-formed XML, not an aECG document, or
        holds no lead, or its leads differ in length.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise RecordError(f"{path}: not well-formed XML ({exc})") from None
    except OSError as exc:
        raise RecordError(f"{path}: cannot read ({exc.strerror})") from None
    if root.tag != f"{{{HL7_NS}}}AnnotatedECG":
        raise RecordError(f"{path}: not an HL7 aECG document (root {root.tag})")
    series = _find(root, "hl7:component/hl7:series", path)
    seq_set = _find(series, "hl7:component/hl7:sequenceSet", path)

    fs = float("nan")
    names: list[str] = []
    columns: list[np.ndarray] = []
    for seq in seq_set.findall("hl7:component/hl7:sequence", _NS):
        code = _find(seq, "hl7:code", path).get("code", "")
        value = _find(seq, "hl7:value", path)
        if code in _TIME_CODES:
            step_s = _pq(_find(value, "hl7:increment", path), _TIME_TO_S, path)
            if not step_s > 0:
                raise RecordError(f"{path}: sampling interval {step_s} s is not positive")
            fs = round(1.0 / step_s, 6)
        elif code.startswith(_LEAD_PREFIX):
            origin_mv = _pq(_find(value, "hl7:origin", path), UNIT_TO_MV, path)
            scale_mv = _pq(_find(value, "hl7:scale", path), UNIT_TO_MV, path)
            text = _find(value, "hl7:digits", path).text or ""
            try:
                digits = np.array(text.split(), dtype=float)
            except ValueError:
                raise RecordError(f"{path}: digits of {code} are not numbers") from None
            names.append(_lead_name(code))
            columns.append(origin_mv + scale_mv * digits)
    if not columns:
        raise RecordError(f"{path}: no lead sequence in the aECG document")
    if not math.isfinite(fs):
        raise RecordError(f"{path}: no TIME_ABSOLUTE or TIME_RELATIVE sequence")
    if len({c.size for c in columns}) != 1:
        raise RecordError(f"{path}: the lead sequences differ in length")
    signals = np.stack(columns, axis=1)
    _restore_nan(series, signals, names, fs, path)
    return signals, fs, names


def _restore_nan(series: ET.Element, signals: np.ndarray, names: list[str], fs: float,
                 where: Path) -> None:
    column = {name: j for j, name in enumerate(names)}
    n = signals.shape[0]
    for ann in series.iterfind("hl7:subjectOf/hl7:annotationSet/hl7:component/"
                               "hl7:annotation", _NS):
        code = ann.find("hl7:code", _NS)
        if code is None or code.get("code") != UNREADABLE_CODE:
            continue
        lead, t0, t1 = None, None, None
        for boundary in ann.iterfind("hl7:support/hl7:supportingROI/hl7:component/"
                                     "hl7:boundary", _NS):
            b_code = _find(boundary, "hl7:code", where).get("code", "")
            if b_code.startswith(_LEAD_PREFIX):
                lead = _lead_name(b_code)
            elif b_code == "TIME_RELATIVE":
                t0 = _pq(_find(boundary, "hl7:value/hl7:low", where), _TIME_TO_S, where)
                t1 = _pq(_find(boundary, "hl7:value/hl7:high", where), _TIME_TO_S, where)
        if lead not in column or t0 is None or t1 is None:
            continue
        i0 = max(0, int(round(t0 * fs)))
        i1 = min(n - 1, int(round(t1 * fs)))
        signals[i0:i1 + 1, column[lead]] = np.nan
