"""Write a digitized sheet (:class:`~ecgdigitize.digitize.result.Result`) to disk.

Five signal formats, each written atomically (temporary file in the target
folder, then renamed), so a reader never sees a half-written file:

- **WFDB** (``NAME.hea`` + ``NAME.dat``): 16-bit, units mV, NaN stored as the
  WFDB missing value; the header comments record the source image and the
  detected settings, one ``key: value`` per line.
- **CSV** (``NAME.csv``): a ``time_s`` column, then one column per lead in mV
  (4 decimals, i.e. 0.1 µV); an empty cell where a sample is unknown.
- **JSON** (``NAME.json``): :meth:`Result.summary` (detected settings, quality,
  filled fraction and flagged limb leads, timings, warnings), the lead segments
  read (without their pixel lines), the sample ranges filled (from other leads,
  or bridged across a short unread stretch) and
  ``{"fs_hz": ..., "leads": {name: [value or null, ...]}}``, the form that
  ``ecgdigitize evaluate --pred`` reads
  (:func:`ecgdigitize.evaluate.scoring.load_reconstruction`).
- **aECG** (``NAME.xml``): HL7 v3 annotated ECG, integer digits of 1 µV; NaN
  samples are 0 µV and listed as annotations (:mod:`ecgdigitize.io.aecg`).
- **DICOM** (``NAME.dcm``): 12-Lead ECG Waveform Storage, 16-bit samples with a
  per-lead sensitivity in µV; NaN samples hold the waveform padding value
  (:mod:`ecgdigitize.io.dicom`).

WFDB, CSV and JSON are written by default (:data:`DEFAULT_FORMATS`).
:func:`write_outputs` writes any of them and the overlay PNG
(``NAME_overlay.png``, see :mod:`ecgdigitize.digitize.overlay`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..digitize.result import Result
from ..errors import OptionError, OutputError, RecordError
from ..runs import true_runs
from .atomic import write_text_atomic
from .jsonable import to_jsonable
from .wfdbio import write_record

__all__ = [
    "OUTPUT_FORMATS",
    "DEFAULT_FORMATS",
    "JSON_SCHEMA",
    "parse_formats",
    "output_stem",
    "mean_quality",
    "describe_result",
    "wfdb_comments",
    "json_document",
    "write_wfdb",
    "write_csv",
    "write_json",
    "refuse_groundtruth",
    "write_outputs",
]

#: Signal formats :func:`write_outputs` can write, in the order they are written.
OUTPUT_FORMATS: tuple[str, ...] = ("wfdb", "csv", "json", "aecg", "dicom")
#: Formats written when none are chosen.
DEFAULT_FORMATS: tuple[str, ...] = ("wfdb", "csv", "json")
#: Schema tag of the JSON output.
JSON_SCHEMA = "ecgdigitize.digitized/1"
#: Decimals of a value in mV in the CSV and JSON outputs (0.1 µV).
VALUE_DECIMALS = 4
_GROUNDTRUTH_SCHEMA_PREFIX = "ecgdigitize.groundtruth/"


# --------------------------------------------------------------------------- helpers


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Validate output format names.

    Parameters
    ----------
    formats : str or iterable of str
        Names such as ``("wfdb", "csv")`` or a comma-separated string
        ``"wfdb,csv"`` (case-insensitive, blanks ignored).

    Returns
    -------
    tuple of str
        The distinct formats, in the order of :data:`OUTPUT_FORMATS`.

    Raises
    ------
    OptionError
        If a name is unknown or no format is given.
    """
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = [str(f).strip().lower() for f in items if str(f).strip()]
    valid = ", ".join(OUTPUT_FORMATS)
    unknown = [n for n in names if n not in OUTPUT_FORMATS]
    if unknown:
        raise OptionError(f"unknown output format {unknown[0]!r}; choose from {valid}")
    if not names:
        raise OptionError(f"no output format given; choose from {valid}")
    return tuple(f for f in OUTPUT_FORMATS if f in names)


def output_stem(name: str) -> str:
    """File stem usable for every output, WFDB included.

    WFDB record names may hold only letters, digits, ``-`` and ``_``; every
    other character becomes ``_`` (``"scan 01.v2"`` -> ``"scan_01_v2"``).

    Parameters
    ----------
    name : str
        Wanted stem (e.g. the input image's stem).

    Returns
    -------
    str
        The safe stem (``"ecg"`` if nothing is left).
    """
    stem = re.sub(r"[^-\w]", "_", str(name).strip())
    return stem or "ecg"


def mean_quality(result: Result) -> float:
    """Mean of the per-lead quality of `result` (NaN when there is none), in [0, 1]."""
    values = [float(v) for v in result.quality.values() if v is not None]
    values = [v for v in values if math.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _num(value: float, fmt: str = ".4g") -> str:
    return "n/a" if value is None or not math.isfinite(float(value)) else format(value, fmt)


def _px_per_mm_text(result: Result) -> str:
    d = result.detected
    x, y = float(d.px_per_mm_x), float(d.px_per_mm_y)
    if math.isfinite(x) and math.isfinite(y) and abs(x - y) > 0.005 * max(x, y):
        return f"{x:.2f} x {y:.2f} px/mm ({d.scale_source})"
    v = x if math.isfinite(x) else y
    return f"{_num(v, '.2f')} px/mm ({d.scale_source})"


def describe_result(result: Result) -> str:
    """One line describing the detected settings of a sheet.

    Returns
    -------
    str
        E.g. ``layout 3x4+1, 25 mm/s (pulse), 10 mm/mV (pulse), 11.81 px/mm (grid),
        mean quality 0.93``.
    """
    d = result.detected
    return (f"layout {d.layout}, {d.speed_mm_s:g} mm/s ({d.speed_source}), "
            f"{d.gain_mm_mv:g} mm/mV ({d.gain_source}), {_px_per_mm_text(result)}, "
            f"mean quality {_num(mean_quality(result), '.2f')}")


def _comment_line(key: str, value: Any) -> str:
    # WFDB comments may not hold tabs or newlines.
    return f"{key}: {' '.join(str(value).split())}"


def _signals(result: Result) -> np.ndarray:
    sig = np.asarray(result.signals, dtype=float)
    if sig.ndim != 2 or sig.shape[1] != len(result.lead_names):
        raise OutputError(f"signals of shape {sig.shape} do not match "
                          f"{len(result.lead_names)} lead names")
    if sig.shape[0] == 0:
        raise OutputError("the result holds no samples")
    return sig


def _filled_runs(result: Result) -> dict[str, list[list[int]]]:
    """Per lead with filled samples, their ``[start, stop)`` sample ranges."""
    counts = result.filled_counts()
    out: dict[str, list[list[int]]] = {}
    if not counts:
        return out
    for j, name in enumerate(result.lead_names):
        if counts[name]:
            out[name] = [[a, b] for a, b in true_runs(result.filled[:, j])]
    return out


# --------------------------------------------------------------------------- writers


def wfdb_comments(result: Result) -> list[str]:
    """Header comments of the WFDB output, one ``key: value`` per line.

    Parameters
    ----------
    result : Result
        Digitized sheet.

    Returns
    -------
    list of str
        Source image, detected layout, speed, gain, scale, rotation and how
        each was found, mean and per-lead quality, the number of samples of
        each lead reconstructed from the other limb leads or bridged
        (``filled_samples``, when either step ran), the limb leads flagged as disagreeing
        with the others (``flagged_leads``, if any) and the warnings.
    """
    from .. import __version__

    d = result.detected
    q = mean_quality(result)
    items: list[tuple[str, Any]] = [
        ("digitized_by", f"ecgdigitize {__version__}"),
        ("source_image", result.source),
        ("image_shape_px", f"{result.image_shape[0]}x{result.image_shape[1]}"),
        ("layout", d.layout),
        ("layout_cost", _num(d.layout_cost)),
        ("speed_mm_s", f"{d.speed_mm_s:g}"),
        ("speed_source", d.speed_source),
        ("gain_mm_mv", f"{d.gain_mm_mv:g}"),
        ("gain_source", d.gain_source),
        ("px_per_mm_x", _num(d.px_per_mm_x)),
        ("px_per_mm_y", _num(d.px_per_mm_y)),
        ("scale_source", d.scale_source),
        ("segmenter", d.segmenter),
        ("rotation_deg", _num(d.rotation_deg)),
        ("upside_down", str(bool(d.upside_down)).lower()),
        ("calibration_pulse", d.pulse),
        ("sheet_duration_s", _num(d.sheet_duration_s)),
        ("mean_quality", _num(q, ".3f")),
        ("quality", " ".join(f"{k}={_num(v, '.3f')}" for k, v in result.quality.items())),
    ]
    counts = result.filled_counts()
    if counts is not None:
        items.append(("filled_samples", " ".join(f"{k}={v}" for k, v in counts.items())))
    if result.flagged_leads:
        items.append(("flagged_leads", " ".join(result.flagged_leads)))
    items += [("warning", w) for w in result.warnings]
    return [_comment_line(k, v) for k, v in items]


def write_wfdb(result: Result, out_dir: str | Path, name: str) -> Path:
    """Write the signals as a WFDB record (``.hea`` + 16-bit ``.dat``, units mV).

    NaN samples are stored as the WFDB missing value; the header comments
    are :func:`wfdb_comments`. Both files appear at once or not at all.

    Parameters
    ----------
    result : Result
        Digitized sheet.
    out_dir : str or Path
        Folder (created if needed).
    name : str
        Record name; characters WFDB does not allow become ``_``
        (see :func:`output_stem`).

    Returns
    -------
    Path
        Path of the record without extension (``out_dir / name``).

    Raises
    ------
    OutputError
        If the folder cannot be written or the result cannot be stored as WFDB.
    """
    _signals(result)
    stem = output_stem(name)
    try:
        record = result.to_record(stem)
    except RecordError as exc:  # lead names and signals disagree, or a bad rate
        raise OutputError(f"cannot write WFDB record {Path(out_dir) / stem}: {exc}") from None
    try:
        return write_record(record, out_dir, comments=wfdb_comments(result), name=stem)
    except ValueError as exc:  # wfdb's checks of names and fields
        raise OutputError(f"cannot write WFDB record {Path(out_dir) / stem}: {exc}") from None


def write_csv(result: Result, path: str | Path) -> Path:
    """Write the signals as CSV: ``time_s`` then one column per lead, in mV.

    Times have 6 decimals (1 µs), values 4 decimals (0.1 µV); an unknown
    (NaN) sample is an empty cell. The first row holds the column names.

    Parameters
    ----------
    result : Result
        Digitized sheet.
    path : str or Path
        Output file (its folder is created if needed).

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    path = Path(path)
    sig = _signals(result)
    t = np.arange(sig.shape[0]) / float(result.fs)
    cells = np.char.mod(f"%.{VALUE_DECIMALS}f", sig)
    cells = np.where(np.isfinite(sig), cells, "")
    time_cells = np.char.mod("%.6f", t)
    table = np.column_stack([time_cells, cells])
    lines = [",".join(["time_s", *[_csv_field(n) for n in result.lead_names]])]
    lines += [",".join(row) for row in table.tolist()]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _csv_field(text: str) -> str:
    text = str(text)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _segments(result: Result) -> list[dict[str, Any]]:
    return [{
        "lead": tr.lead,
        "row": int(tr.row),
        "col": int(tr.col),
        "col_span": int(tr.col_span),
        "t_start_s": float(tr.t_start_s),
        "t_end_s": float(tr.t_end_s),
        "quality": round(float(tr.quality), 4),
        "label_found": bool(tr.label_found),
    } for tr in result.traces]


def json_document(result: Result) -> dict[str, Any]:
    """The JSON output as a dict (see :func:`write_json`).

    Parameters
    ----------
    result : Result
        Digitized sheet.

    Returns
    -------
    dict
        JSON-ready (no NaN: unknown values are None).
    """
    sig = _signals(result)
    doc: dict[str, Any] = {"schema": JSON_SCHEMA}
    doc.update(result.summary())
    doc["lead_names"] = doc.pop("leads")
    doc["fs_hz"] = float(result.fs)
    doc["mean_quality"] = mean_quality(result)
    doc["segments"] = _segments(result)
    doc["filled_samples"] = _filled_runs(result)
    doc = to_jsonable(doc)
    rounded = np.round(sig, VALUE_DECIMALS)
    doc["leads"] = {
        name: [v if math.isfinite(v) else None for v in rounded[:, j].tolist()]
        for j, name in enumerate(result.lead_names)
    }
    return doc


def write_json(result: Result, path: str | Path) -> Path:
    """Write the summary, the segments read and the signals as JSON.

    The document holds ``schema`` (``ecgdigitize.digitized/1``), everything of
    :meth:`Result.summary` (the lead list as ``lead_names``), ``fs_hz`` (Hz),
    ``mean_quality``, ``segments`` (lead, row, col, col_span, t_start_s,
    t_end_s in s, quality, label_found of every segment read),
    ``filled_samples`` (lead name -> ``[start, stop)`` sample ranges
    reconstructed from the other limb leads, leads without any left out; the
    summary's ``filled_fraction`` and ``flagged_leads`` sum it up) and ``leads``
    (lead name -> values in mV, ``null`` where unknown; sample ``i`` is at
    ``i / fs_hz`` s), which
    :func:`ecgdigitize.evaluate.scoring.load_reconstruction` reads.
    Non-finite numbers of the summary are written as ``null``.

    Parameters
    ----------
    result : Result
        Digitized sheet.
    path : str or Path
        Output file (its folder is created if needed).

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    path = Path(path)
    doc = json_document(result)
    leads = doc.pop("leads")
    try:
        head = json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False)
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
                          for k, v in leads.items())
    except (TypeError, ValueError) as exc:
        raise OutputError(f"cannot encode {path} as JSON: {exc}") from None
    # One line per lead keeps the settings at the top readable.
    text = head[:-1].rstrip() + (",\n" if doc else "\n") + ' "leads": {\n' + body + "\n }\n}\n"
    write_text_atomic(path, text)
    return path


def refuse_groundtruth(path: Path) -> None:
    """Raise OutputError if `path` is a ground-truth sidecar written by ``synth``."""
    if not path.is_file():
        return
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return
    if _GROUNDTRUTH_SCHEMA_PREFIX in head:
        raise OutputError(f"{path} is a ground-truth sidecar; write the digitized "
                          "outputs to another folder")


def write_outputs(result: Result, out_dir: str | Path, name: str,
                  formats: str | Sequence[str] = DEFAULT_FORMATS,
                  image: np.ndarray | None = None, overlay: bool = True) -> dict[str, Path]:
    """Write a digitized sheet in the chosen formats, and its overlay.

    Parameters
    ----------
    result : Result
        Digitized sheet.
    out_dir : str or Path
        Output folder (created if needed).
    name : str
        Stem of every file (made safe with :func:`output_stem`).
    formats : str or sequence of str
        Any of ``wfdb``, ``csv``, ``json``, ``aecg`` (``NAME.xml``), ``dicom``
        (``NAME.dcm``), or a comma-separated string; default ``wfdb,csv,json``.
    image : ndarray, shape (H, W, 3), uint8, optional
        The input image (RGB); with `overlay`, ``NAME_overlay.png`` is written.
    overlay : bool
        Write the overlay PNG when `image` is given.

    Returns
    -------
    dict of str to Path
        ``wfdb`` (the ``.hea`` file), ``csv``, ``json``, ``aecg``, ``dicom``
        and ``overlay``, for those written.

    Raises
    ------
    OptionError
        If a format name is unknown (nothing is written).
    OutputError
        If a file cannot be written, ``NAME.json`` in `out_dir` is a
        ground-truth sidecar (it is never overwritten), or the result does not
        fit the aECG or DICOM format (checked before anything is written).
    """
    fmts = parse_formats(formats)
    out_dir = Path(out_dir)
    stem = output_stem(name)
    if "json" in fmts:
        refuse_groundtruth(out_dir / f"{stem}.json")
    if "aecg" in fmts:
        from .aecg import check_aecg

        check_aecg(result)
    if "dicom" in fmts:
        from .dicom import check_dicom

        check_dicom(result)
    paths: dict[str, Path] = {}
    if "wfdb" in fmts:
        base = write_wfdb(result, out_dir, stem)
        paths["wfdb"] = base.parent / f"{base.name}.hea"
    if "csv" in fmts:
        paths["csv"] = write_csv(result, out_dir / f"{stem}.csv")
    if "json" in fmts:
        paths["json"] = write_json(result, out_dir / f"{stem}.json")
    if "aecg" in fmts:
        from .aecg import write_aecg

        paths["aecg"] = write_aecg(result, out_dir / f"{stem}.xml")
    if "dicom" in fmts:
        from .dicom import write_dicom

        paths["dicom"] = write_dicom(result, out_dir / f"{stem}.dcm")
    if image is not None and overlay:
        from ..digitize.overlay import save_overlay

        paths["overlay"] = save_overlay(out_dir / f"{stem}_overlay.png", image, result)
    return paths
