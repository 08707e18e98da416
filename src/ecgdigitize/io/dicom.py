"""DICOM 12-Lead ECG Waveform Storage output of a digitized sheet, and a reader for it.

The file (``NAME.dcm``, Part 10 with Explicit VR Little Endian) is an instance of
the 12-Lead ECG Waveform Storage SOP Class (1.2.840.10008.5.1.4.1.1.9.1.1)
with these modules (DICOM PS3.3 A.34.3):

- **Patient**, **General Study**, **General Series**, **General Equipment**:
  anonymous and empty where unknown (patient name, ID, birth date and sex
  empty; study date and time empty); new study, series and instance UIDs
  (:func:`pydicom.uid.generate_uid`) for every file; modality ``ECG``; the
  series description says the ECG was digitized from a paper image; the
  manufacturer is the software, ``ecgdigitize``, with its version.
- **Waveform Identification**: content date and time, and the acquisition
  date-time, are the time of the digitization (the acquisition time of the
  paper ECG is not known).
- **Acquisition Context**: an empty Acquisition Context Sequence, and an
  Acquisition Context Description naming the source image and the detected
  settings (one line, at most 1024 characters).
- **Waveform**: one multiplex group (``RHYTHM``, Waveform Originality
  ``DERIVED``, Multiplex Group Time Offset 0 ms, Sampling Frequency in Hz,
  16-bit ``SS`` samples) with one channel per lead. Each channel's source is
  coded with the SCP-ECG lead codes of PS3.16 CID 3001 (``5.6.3-9-1`` lead I,
  ``5.6.3-9-61`` lead III, ``5.6.3-9-62`` aVR, ...), its units are µV (UCUM
  ``uV``), baseline 0, sample skew 0, correction factor 1.
- **Waveform Annotation**: one unformatted-text annotation per setting
  (``source_image: ...``, ``layout: ...``, ``speed_mm_s: ...``, the lines of
  :func:`~ecgdigitize.io.outputs.wfdb_comments`), applying to all channels.
- **SOP Common**: UTF-8 character set, SOP Class and Instance UIDs.

Amplitude scaling
-----------------
The Channel Sensitivity (µV per digit) is chosen per lead, so that the largest
absolute value of the lead maps to ±32767: ``sensitivity = max|x| / 32767``
(rounded to 6 significant digits, at least 0.001 µV; 1 µV for a lead without
any value). Nothing is clipped, and the quantisation error is at most half a
sensitivity (e.g. 0.03 µV for a lead peaking at 2 mV). ``value_µV =
digit * ChannelSensitivity * ChannelSensitivityCorrectionFactor +
ChannelBaseline``, which is what :meth:`pydicom.dataset.Dataset.waveform_array`
returns (in µV: divide by 1000 for mV).

Unknown samples (NaN)
---------------------
A NaN sample is stored as the padding value :data:`PADDING_VALUE` (-32768,
which no scaled sample takes since they stay within ±32767), declared in
Waveform Padding Value. :func:`read_dicom` turns it back into NaN;
``waveform_array`` does not know padding and returns ``-32768 *
sensitivity`` there, so a reader of the raw samples must mask them.

Limits of the IOD
-----------------
The 12-Lead ECG IOD allows 1 to 13 channels, sampling rates of 200 to
1000 Hz and at most 16384 samples per channel; :func:`write_dicom` refuses
anything else (:class:`~ecgdigitize.errors.OutputError`).
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..digitize.result import Result
from ..errors import OutputError, RecordError
from ..leads import normalize_lead_name
from .atomic import write_bytes_atomic
from .outputs import _signals, describe_result, wfdb_comments
from .wfdbio import UNIT_TO_MV

if TYPE_CHECKING:  # pydicom is imported when a DICOM file is written or read
    from pydicom.dataset import Dataset

__all__ = [
    "TWELVE_LEAD_ECG_SOP_CLASS",
    "SCPECG_LEAD_CODES",
    "PADDING_VALUE",
    "MAX_DIGIT",
    "FS_RANGE_HZ",
    "MAX_SAMPLES",
    "MAX_CHANNELS",
    "check_dicom",
    "channel_sensitivity_uv",
    "dicom_dataset",
    "write_dicom",
    "read_dicom",
]

#: SOP Class UID of 12-Lead ECG Waveform Storage.
TWELVE_LEAD_ECG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.9.1.1"
#: SCP-ECG code value and meaning of each standard lead (DICOM PS3.16 CID 3001).
SCPECG_LEAD_CODES: dict[str, tuple[str, str]] = {
    "I": ("5.6.3-9-1", "Lead I"),
    "II": ("5.6.3-9-2", "Lead II"),
    "III": ("5.6.3-9-61", "Lead III"),
    "aVR": ("5.6.3-9-62", "Lead aVR"),
    "aVL": ("5.6.3-9-63", "Lead aVL"),
    "aVF": ("5.6.3-9-64", "Lead aVF"),
    "V1": ("5.6.3-9-3", "Lead V1"),
    "V2": ("5.6.3-9-4", "Lead V2"),
    "V3": ("5.6.3-9-5", "Lead V3"),
    "V4": ("5.6.3-9-6", "Lead V4"),
    "V5": ("5.6.3-9-7", "Lead V5"),
    "V6": ("5.6.3-9-8", "Lead V6"),
}
#: The same leads in the MDC codes of later editions of CID 3001 (read only).
_MDC_LEAD_CODES = {"2:1": "I", "2:2": "II", "2:61": "III", "2:62": "aVR", "2:63": "aVL",
                   "2:64": "aVF", "2:3": "V1", "2:4": "V2", "2:5": "V3", "2:6": "V4",
                   "2:7": "V5", "2:8": "V6"}
_LEAD_OF_SCPECG = {code: name for name, (code, _) in SCPECG_LEAD_CODES.items()}
#: Stored value of an unknown (NaN) sample.
PADDING_VALUE = -32768
#: Largest absolute stored value of a known sample.
MAX_DIGIT = 32767
#: Sampling rates the 12-Lead ECG IOD allows, in Hz (inclusive).
FS_RANGE_HZ = (200.0, 1000.0)
#: Most samples per channel the 12-Lead ECG IOD allows.
MAX_SAMPLES = 16384
#: Most channels the 12-Lead ECG IOD allows.
MAX_CHANNELS = 13
#: Smallest channel sensitivity written, in µV per digit.
MIN_SENSITIVITY_UV = 1e-3
_ST_MAX = 1024


def _lead_code(name: str) -> tuple[str, str]:
    code = SCPECG_LEAD_CODES.get(normalize_lead_name(name))
    if code is None:
        raise OutputError(f"lead {name!r} has no SCP-ECG code; DICOM output needs "
                          "standard leads")
    return code


def check_dicom(result: Result) -> None:
    """Check that `result` fits the DICOM 12-Lead ECG IOD.

    Raises
    ------
    OutputError
        If the signals do not match the lead names or hold no sample, a lead
        is not a standard lead, or the number of leads (1-13), the sampling
        rate (200-1000 Hz) or the number of samples (at most 16384) is out of
        the IOD's limits.
    """
    sig = _signals(result)
    for name in result.lead_names:
        _lead_code(name)
    fs = float(result.fs)
    lo, hi = FS_RANGE_HZ
    if not (math.isfinite(fs) and lo <= fs <= hi):
        raise OutputError(f"sampling rate {fs:g} Hz is outside the {lo:g}-{hi:g} Hz of a "
                          "DICOM 12-lead ECG; choose another --fs or output format")
    if sig.shape[0] > MAX_SAMPLES:
        raise OutputError(f"{sig.shape[0]} samples per lead exceed the {MAX_SAMPLES} of a "
                          "DICOM 12-lead ECG")
    if not 1 <= sig.shape[1] <= MAX_CHANNELS:
        raise OutputError(f"{sig.shape[1]} leads exceed the {MAX_CHANNELS} channels of a "
                          "DICOM 12-lead ECG")


def channel_sensitivity_uv(values_mv: np.ndarray) -> float:
    """Channel sensitivity (µV per digit) that maps the largest value of a lead to ±32767.

    Parameters
    ----------
    values_mv : ndarray, shape (n,)
        One lead in mV (NaN ignored).

    Returns
    -------
    float
        ``max|x| / 32767`` in µV, rounded to 6 significant digits (the
        rounding moves the largest digit by less than 0.2, so nothing
        overflows), at least 0.001 µV; 1 µV if the lead has no finite value.
    """
    finite = np.asarray(values_mv, dtype=float)
    finite = finite[np.isfinite(finite)]
    peak_uv = float(np.max(np.abs(finite))) * 1000.0 if finite.size else 0.0
    if peak_uv <= 0.0:
        return 1.0
    return max(float(f"{peak_uv / MAX_DIGIT:.6g}"), MIN_SENSITIVITY_UV)


def _ds(value: float) -> str:
    """Decimal String of at most 16 characters."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.6g}"


def _code_item(value: str, scheme: str, meaning: str, version: str | None = None) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    if version is not None:
        item.CodingSchemeVersion = version
    item.CodeMeaning = meaning
    return item


def _short_text(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _ST_MAX else text[:_ST_MAX - 3] + "..."


def dicom_dataset(result: Result, now: datetime | None = None) -> Dataset:
    """The DICOM 12-lead ECG of `result` as a pydicom dataset (see the module docstring).

    Parameters
    ----------
    result : Result
        Digitized sheet (signals in mV, `fs` in Hz, standard lead names).
    now : datetime, optional
        Time of the digitization (default: now).

    Returns
    -------
    pydicom.dataset.Dataset
        Dataset with its file meta information (Explicit VR Little Endian).

    Raises
    ------
    OutputError
        See :func:`check_dicom`.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    from .. import __version__

    check_dicom(result)
    sig = _signals(result)
    fs = float(result.fs)
    now = now or datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    sop_uid = generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = TWELVE_LEAD_ECG_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta

    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = TWELVE_LEAD_ECG_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    # Patient (anonymous)
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    # General Study
    ds.StudyInstanceUID = generate_uid()
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    # General Series
    ds.Modality = "ECG"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.SeriesDescription = "ECG digitized from a paper image"
    # General Equipment
    ds.Manufacturer = "ecgdigitize"
    ds.ManufacturerModelName = "ecgdigitize"
    ds.SoftwareVersions = __version__
    # Waveform Identification
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = date, time
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    # Acquisition Context
    ds.AcquisitionContextSequence = Sequence()
    ds.AcquisitionContextDescription = _short_text(
        f"Digitized from the paper ECG image {result.source} by ecgdigitize {__version__}: "
        f"{describe_result(result)}. Acquisition date-time is the time of the "
        f"digitization; unreadable samples hold the padding value {PADDING_VALUE}.")

    # Waveform
    finite = np.isfinite(sig)
    digits = np.full(sig.shape, PADDING_VALUE, dtype="<i2")
    channels = Sequence()
    for j, name in enumerate(result.lead_names):
        sens = channel_sensitivity_uv(sig[:, j])
        sens_text = _ds(sens)
        scaled = np.rint(sig[finite[:, j], j] * 1000.0 / float(sens_text))
        digits[finite[:, j], j] = np.clip(scaled, -MAX_DIGIT, MAX_DIGIT).astype("<i2")
        code, meaning = _lead_code(name)
        ch = Dataset()
        ch.ChannelLabel = normalize_lead_name(name)
        ch.ChannelSourceSequence = Sequence([_code_item(code, "SCPECG", meaning, "1.3")])
        ch.ChannelSensitivity = sens_text
        ch.ChannelSensitivityUnitsSequence = Sequence(
            [_code_item("uV", "UCUM", "microvolt", "1.4")])
        ch.ChannelSensitivityCorrectionFactor = "1"
        ch.ChannelBaseline = "0"
        ch.ChannelSampleSkew = "0"
        ch.WaveformBitsStored = 16
        channels.append(ch)

    group = Dataset()
    group.MultiplexGroupTimeOffset = "0"
    group.WaveformOriginality = "DERIVED"
    group.NumberOfWaveformChannels = sig.shape[1]
    group.NumberOfWaveformSamples = sig.shape[0]
    group.SamplingFrequency = _ds(fs)
    group.MultiplexGroupLabel = "RHYTHM"
    group.ChannelDefinitionSequence = channels
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.add_new("WaveformPaddingValue", "OW",
                  np.array([PADDING_VALUE], dtype="<i2").tobytes())
    # Samples interleaved: channel 1 to n of sample 1, then of sample 2, ...
    group.add_new("WaveformData", "OW", digits.tobytes())
    ds.WaveformSequence = Sequence([group])

    # Waveform Annotation: the settings as free text, for all channels of group 1.
    notes = Sequence()
    for line in wfdb_comments(result):
        note = Dataset()
        note.UnformattedTextValue = _short_text(line)
        note.ReferencedWaveformChannels = [1, 0]
        notes.append(note)
    ds.WaveformAnnotationSequence = notes
    return ds


def write_dicom(result: Result, path: str | Path) -> Path:
    """Write the signals as a DICOM 12-Lead ECG Waveform Storage file.

    See the module docstring for the content. Amplitudes are 16-bit digits
    with a per-lead sensitivity in µV; unknown (NaN) samples hold the padding
    value -32768. The file appears at once or not at all.

    Parameters
    ----------
    result : Result
        Digitized sheet (signals in mV, `fs` in Hz, standard lead names).
    path : str or Path
        Output file, usually ``NAME.dcm`` (its folder is created if needed).

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    OutputError
        If the file cannot be written, or `result` does not fit the 12-lead
        ECG IOD (see :func:`check_dicom`).
    """
    from pydicom import dcmwrite

    path = Path(path)
    ds = dicom_dataset(result)
    buffer = io.BytesIO()
    try:
        dcmwrite(buffer, ds, enforce_file_format=True)
    except ValueError as exc:  # pydicom's checks of values
        raise OutputError(f"cannot encode {path} as DICOM: {exc}") from None
    write_bytes_atomic(path, buffer.getvalue())
    return path


# --------------------------------------------------------------------------- reading


def _lead_name(channel: Dataset, index: int) -> str:
    for src in channel.get("ChannelSourceSequence", []):
        code = str(src.get("CodeValue", ""))
        if src.get("CodingSchemeDesignator") == "SCPECG" and code in _LEAD_OF_SCPECG:
            return _LEAD_OF_SCPECG[code]
        if src.get("CodingSchemeDesignator") == "MDC" and code in _MDC_LEAD_CODES:
            return _MDC_LEAD_CODES[code]
    label = str(channel.get("ChannelLabel", "")).strip()
    if label:
        return normalize_lead_name(label.removeprefix("Lead ").removeprefix("LEAD "))
    return f"channel{index + 1}"


def _units_to_mv(channel: Dataset, where: Path) -> float:
    units = channel.get("ChannelSensitivityUnitsSequence", [])
    if not units:
        return 1e-3  # µV is what ECG channels use when the units are missing
    code = str(units[0].get("CodeValue", "")).strip()
    factor = UNIT_TO_MV.get(code.lower())
    if factor is None:
        raise RecordError(f"{where}: unknown channel sensitivity unit {code!r}")
    return factor


def read_dicom(path: str | Path) -> tuple[np.ndarray, float, list[str]]:
    """Read the first multiplex group of a DICOM waveform file.

    Parameters
    ----------
    path : str or Path
        DICOM file (e.g. written by :func:`write_dicom`).

    Returns
    -------
    signals : ndarray, shape (n_samples, n_leads)
        Amplitudes in mV (``digit * sensitivity * correction + baseline``,
        converted from the channel units), NaN where a sample holds the
        Waveform Padding Value.
    fs : float
        Sampling rate in Hz.
    lead_names : list of str
        Lead names from the SCP-ECG (or MDC) channel source codes, else the
        channel labels.

    Raises
    ------
    RecordError
        If the file is missing, not DICOM, or holds no readable waveform.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError
    from pydicom.waveforms.numpy_handler import multiplex_array

    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    try:
        ds = dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise RecordError(f"{path}: not a readable DICOM file ({exc})") from None
    if "WaveformSequence" not in ds or not ds.WaveformSequence:
        raise RecordError(f"{path}: no waveform in the DICOM file")
    group = ds.WaveformSequence[0]
    try:
        raw = multiplex_array(ds, 0, as_raw=True)
        fs = float(group.SamplingFrequency)
        channels = list(group.ChannelDefinitionSequence)
    except (AttributeError, KeyError, ValueError, TypeError) as exc:
        raise RecordError(f"{path}: unreadable waveform ({exc})") from None
    if len(channels) != raw.shape[1]:
        raise RecordError(f"{path}: {len(channels)} channel definitions for "
                          f"{raw.shape[1]} channels")
    signals = raw.astype(float)
    pad = group.get("WaveformPaddingValue")
    if pad is not None and len(pad) >= raw.dtype.itemsize:
        pad_value = np.frombuffer(bytes(pad)[:raw.dtype.itemsize], dtype=raw.dtype)[0]
        signals[raw == pad_value] = np.nan
    names = []
    for j, ch in enumerate(channels):
        sens = float(ch.get("ChannelSensitivity", 1.0))
        corr = float(ch.get("ChannelSensitivityCorrectionFactor", 1.0))
        base = float(ch.get("ChannelBaseline", 0.0))
        signals[:, j] = (signals[:, j] * sens * corr + base) * _units_to_mv(ch, path)
        names.append(_lead_name(ch, j))
    return signals, fs, names
