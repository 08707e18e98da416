"""Score digitized sheets against their ground truth, one sheet or a whole set.

Ground truth is either a sidecar JSON written by ``ecgdigitize synth``
(schema ``ecgdigitize.groundtruth/1``, see ``docs/groundtruth.md``) or a WFDB
record. A sidecar holds only the samples printed on the sheet, so the
reference of each lead is NaN outside its printed window(s) and every score is
computed over the printed window only; a lead printed in several segments
(e.g. lead II in a cell and in a rhythm strip) is the union of them.

A reconstruction is a WFDB record or the project's JSON output
``{"fs_hz": float, "leads": {name: [value or null, ...]}}`` (null = NaN), whose
sample 0 is time 0 of the record. It is resampled (linearly) to the
reference's rate when the rates differ.

Aggregates follow the Challenge's order: scores are averaged over the leads
of a sheet first, then over sheets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RecordError
from ..leads import STANDARD_LEADS, normalize_lead_name
from .intervals import INTERVAL_KEYS, Intervals, compare_intervals, delineate
from .metrics import LeadScore, score_record

__all__ = [
    "Reference",
    "SheetScore",
    "Aggregate",
    "SetScore",
    "load_reference",
    "load_reconstruction",
    "resample_linear",
    "score_sheet",
    "score_set",
    "find_pairs",
]

_SIDECAR_SCHEMA_PREFIX = "ecgdigitize.groundtruth/"


# --------------------------------------------------------------------------- loading


@dataclass
class Reference:
    """Reference leads of one record over its whole duration.

    Attributes
    ----------
    leads : dict of str to ndarray
        Canonical lead name to signal in mV, NaN where not printed/known.
    fs : float
        Sampling rate in Hz.
    name : str
        Record or sheet name.
    condition : str
        Generator preset of the sheet (``"unknown"`` when not recorded).
    path : str
        File the reference was read from.
    """

    leads: dict[str, np.ndarray]
    fs: float
    name: str
    condition: str = "unknown"
    path: str = ""


def _finite_positive(value: Any, what: str, path: Path) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{path}: {what} is not a number ({value!r})") from None
    if not (math.isfinite(out) and out > 0):
        raise RecordError(f"{path}: {what} must be positive, got {value!r}")
    return out


def _values(seq: Any, what: str, path: Path) -> np.ndarray:
    if not isinstance(seq, list):
        raise RecordError(f"{path}: {what} must be a list of numbers")
    try:
        return np.array([np.nan if v is None else float(v) for v in seq], dtype=float)
    except (TypeError, ValueError):
        raise RecordError(f"{path}: {what} holds a value that is not a number") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"cannot read {path}: {exc}") from None


def _is_sidecar(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("leads"), list)
            and str(doc.get("schema", _SIDECAR_SCHEMA_PREFIX)).startswith(
                _SIDECAR_SCHEMA_PREFIX))


def _merge_lead(leads: dict[str, np.ndarray], name: str, values: np.ndarray,
                start: int) -> None:
    """Write `values` at sample `start` of lead `name`, keeping finite samples already there.

    A ``-X`` (inverted) name is stored as ``X`` with the sign flipped.
    """
    canonical = normalize_lead_name(name)
    if canonical.startswith("-"):
        canonical, values = canonical[1:], -values
    if start < 0:
        values, start = values[-start:], 0
    stop = start + values.size
    cur = leads.get(canonical, np.full(0, np.nan))
    if cur.size < stop:
        cur = np.concatenate([cur, np.full(stop - cur.size, np.nan)])
    part = cur[start:stop]
    cur[start:stop] = np.where(np.isfinite(part), part, values)
    leads[canonical] = cur


def _load_sidecar(path: Path, doc: dict[str, Any]) -> Reference:
    record = doc.get("record") if isinstance(doc.get("record"), dict) else {}
    segments = doc["leads"]
    if not segments:
        raise RecordError(f"{path}: ground truth lists no printed lead")
    for seg in segments:
        if not isinstance(seg, dict) or not {"lead", "t_start_s", "signal_mv"} <= set(seg):
            raise RecordError(f"{path}: lead entry lacks lead/t_start_s/signal_mv")
    fs_raw = record.get("fs_hz") or segments[0].get("fs_hz")
    fs = _finite_positive(fs_raw, "fs_hz", path)
    leads: dict[str, np.ndarray] = {}
    for seg in segments:
        values = _values(seg["signal_mv"], f"signal_mv of lead {seg['lead']!r}", path)
        t0 = float(seg["t_start_s"])
        seg_fs = _finite_positive(seg.get("fs_hz", fs), "lead fs_hz", path)
        if seg_fs != fs and values.size:
            values = resample_linear(values, seg_fs, fs)
        # Samples printed are those with t_start_s <= t (see docs/groundtruth.md).
        start = int(math.ceil(t0 * fs - 1e-6))
        _merge_lead(leads, str(seg["lead"]), values, start)
    duration = record.get("duration_s")
    n_total = max(a.size for a in leads.values())
    if duration is not None:
        n_total = max(n_total, int(round(_finite_positive(duration, "duration_s", path) * fs)))
    for k, v in leads.items():
        if v.size < n_total:
            leads[k] = np.concatenate([v, np.full(n_total - v.size, np.nan)])
    return Reference(leads=leads, fs=fs, name=path.stem,
                     condition=str(doc.get("preset") or "unknown"), path=str(path))


def _wfdb_base(path: Path) -> Path | None:
    """The WFDB record path (no extension) if `path` names one, else None."""
    if path.suffix.lower() in (".hea", ".dat", ".mat"):
        path = path.with_suffix("")
    return path if path.with_suffix(".hea").is_file() else None


def _read_wfdb(path: Path) -> tuple[dict[str, np.ndarray], float]:
    from ..io.wfdbio import read_record

    record = read_record(path)
    leads: dict[str, np.ndarray] = {}
    for j, name in enumerate(record.lead_names):
        _merge_lead(leads, name, record.signals[:, j].copy(), 0)
    return leads, float(record.fs)


def load_reference(path: str | Path) -> Reference:
    """Load ground truth: a sidecar JSON or a WFDB record.

    Parameters
    ----------
    path : str or Path
        ``NAME.json`` sidecar, or a WFDB record (``NAME.hea`` or ``NAME``).

    Returns
    -------
    Reference
        Per-lead signals over the whole record in mV (NaN where not printed),
        condition = sidecar ``preset`` (``"unknown"`` for WFDB).

    Raises
    ------
    RecordError
        If the file is missing, unreadable or not a ground-truth file.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        doc = _read_json(path)
        if not _is_sidecar(doc):
            raise RecordError(f"{path} is not a ground-truth sidecar "
                              f"({_SIDECAR_SCHEMA_PREFIX}1)")
        return _load_sidecar(path, doc)
    base = _wfdb_base(path)
    if base is None:
        raise RecordError(f"{path}: neither a sidecar JSON nor a WFDB record")
    leads, fs = _read_wfdb(base)
    return Reference(leads=leads, fs=fs, name=base.name, condition="unknown", path=str(path))


def load_reconstruction(path: str | Path) -> tuple[dict[str, np.ndarray], float]:
    """Load a digitized record: WFDB or the project's JSON output.

    Parameters
    ----------
    path : str or Path
        ``NAME.json`` (``{"fs_hz": float, "leads": {name: [value or null]}}``)
        or a WFDB record.

    Returns
    -------
    leads : dict of str to ndarray
        Canonical lead name to signal in mV (NaN where unknown); an inverted
        ``-X`` lead is stored as ``X`` with its sign flipped.
    fs : float
        Sampling rate in Hz.

    Raises
    ------
    RecordError
        If the file is missing, unreadable or malformed.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        doc = _read_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("leads"), dict):
            raise RecordError(f"{path}: expected {{'fs_hz': ..., 'leads': {{name: [...]}}}}")
        fs = _finite_positive(doc.get("fs_hz"), "fs_hz", path)
        leads: dict[str, np.ndarray] = {}
        # Plain names first, so that a '-X' lead only fills in for a missing 'X'.
        items = sorted(doc["leads"].items(), key=lambda kv: str(kv[0]).strip().startswith("-"))
        for name, seq in items:
            _merge_lead(leads, str(name), _values(seq, f"lead {name!r}", path), 0)
        return leads, fs
    base = _wfdb_base(path)
    if base is None:
        raise RecordError(f"{path}: neither a JSON reconstruction nor a WFDB record")
    return _read_wfdb(base)


def resample_linear(x: Any, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample a signal by linear interpolation, keeping NaN.

    Output sample ``j`` is at time ``j / fs_out`` (same origin as the input);
    it is NaN if either neighbouring input sample is NaN (unless it falls
    exactly on a finite one).

    Parameters
    ----------
    x : array_like, shape (n,)
        Signal in mV sampled at `fs_in` Hz.
    fs_in, fs_out : float
        Input and output rates in Hz.

    Returns
    -------
    ndarray
        Resampled signal, covering the input's time span.
    """
    x = np.asarray(x, dtype=float).ravel()
    if fs_in == fs_out or x.size == 0:
        return x.copy()
    n_out = int(math.floor((x.size - 1) * fs_out / fs_in + 1e-9)) + 1
    pos = np.arange(n_out) * (fs_in / fs_out)
    i0 = np.clip(np.floor(pos).astype(int), 0, x.size - 1)
    i1 = np.minimum(i0 + 1, x.size - 1)
    frac = pos - i0
    on0 = frac < 1e-9
    on1 = frac > 1.0 - 1e-9
    mix = (1.0 - frac) * x[i0] + frac * x[i1]
    return np.where(on0, x[i0], np.where(on1, x[i1], mix))


# --------------------------------------------------------------------------- sheets


def _nanmean(values: Iterable[float]) -> float:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def _nanmedian(values: Iterable[float]) -> float:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(np.median(arr)) if arr.size else float("nan")


@dataclass
class SheetScore:
    """Scores of one digitized sheet.

    Attributes
    ----------
    name : str
        Sheet name (ground-truth file stem).
    condition : str
        Generator preset (``"unknown"`` when not recorded).
    truth_path : str
        Ground-truth file.
    pred_path : str or None
        Reconstruction file (None when missing).
    fs : float
        Sampling rate of the comparison, Hz (the reference's).
    leads : dict of str to LeadScore
        Per-lead scores (both SNR conventions), over each lead's printed window.
    intervals : dict of str to float
        Absolute interval differences (``rr_ms``, ``qrs_ms``, ``qt_ms`` in ms,
        ``hr_bpm`` in bpm).
    ref_intervals, rec_intervals : Intervals
        Delineation of the reference and of the reconstruction (the latter
        restricted to the reference's printed samples).
    missing : bool
        True if there was no usable reconstruction (every lead scored all-NaN).
    error : str or None
        Why the reconstruction was unusable, if it was.
    """

    name: str
    condition: str
    truth_path: str
    pred_path: str | None
    fs: float
    leads: dict[str, LeadScore]
    intervals: dict[str, float] = field(default_factory=dict)
    ref_intervals: Intervals | None = None
    rec_intervals: Intervals | None = None
    missing: bool = False
    error: str | None = None

    def lead_values(self, convention: str, key: str) -> list[float]:
        """One metric of every lead, e.g. ``lead_values("reference", "snr_db")``."""
        return [float(getattr(getattr(s, convention), key)) for s in self.leads.values()]

    @property
    def snr_reference_db(self) -> float:
        """Mean over leads of the reference-paper-convention SNR, dB."""
        return _nanmean(self.lead_values("reference", "snr_db"))

    @property
    def snr_challenge_db(self) -> float:
        """Mean over leads of the Challenge-2024-convention SNR, dB."""
        return _nanmean(self.lead_values("challenge", "snr_db"))

    @property
    def pearson(self) -> float:
        """Mean over leads of Pearson r (reference-paper alignment)."""
        return _nanmean(self.lead_values("reference", "pearson"))

    @property
    def rmse_uv(self) -> float:
        """Mean over leads of RMSE in µV (reference-paper alignment)."""
        return _nanmean(self.lead_values("reference", "rmse_uv"))

    @property
    def nan_fraction(self) -> float:
        """Mean over leads of the NaN fraction (reference-paper alignment)."""
        return _nanmean(self.lead_values("reference", "nan_fraction"))

    def summary(self) -> dict[str, Any]:
        """Sheet-level means (leads averaged) and interval differences."""
        out: dict[str, Any] = {
            "name": self.name,
            "condition": self.condition,
            "n_leads": len(self.leads),
            "missing": self.missing,
            "snr_reference_db": self.snr_reference_db,
            "snr_challenge_db": self.snr_challenge_db,
            "pearson": self.pearson,
            "rmse_uv": self.rmse_uv,
            "nan_fraction": self.nan_fraction,
        }
        out.update({f"d_{k}": self.intervals.get(k, float("nan")) for k in INTERVAL_KEYS})
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain data (NaN kept as float NaN)."""
        return {
            **self.summary(),
            "truth_path": self.truth_path,
            "pred_path": self.pred_path,
            "fs_hz": self.fs,
            "error": self.error,
            "intervals_abs_diff": dict(self.intervals),
            "ref_intervals": self.ref_intervals.to_dict() if self.ref_intervals else None,
            "rec_intervals": self.rec_intervals.to_dict() if self.rec_intervals else None,
            "leads": {k: v.to_dict() for k, v in self.leads.items()},
        }


def _score_loaded(ref: Reference, rec: Mapping[str, np.ndarray], *, truth_path: str,
                  pred_path: str | None, missing: bool, error: str | None,
                  max_shift_s: float, challenge_max_shift_s: float,
                  challenge_max_offset_mv: float, levels: int,
                  intervals: bool) -> SheetScore:
    leads = score_record(ref.leads, rec, ref.fs, max_shift_s=max_shift_s,
                         challenge_max_shift_s=challenge_max_shift_s,
                         challenge_max_offset_mv=challenge_max_offset_mv, levels=levels)
    diffs = {k: float("nan") for k in INTERVAL_KEYS}
    ref_iv = rec_iv = None
    if intervals:
        ref_m = {k: v for k, v in ref.leads.items() if np.isfinite(v).any()}
        rec_m = {}
        for k, y in ref_m.items():
            r = np.full(y.size, np.nan)
            if k in rec:
                src = np.asarray(rec[k], dtype=float)
                m = min(src.size, y.size)
                r[:m] = src[:m]
            rec_m[k] = np.where(np.isfinite(y), r, np.nan)
        ref_iv = delineate(ref_m, ref.fs) if ref_m else None
        rec_iv = delineate(rec_m, ref.fs) if ref_m else None
        if ref_iv is not None and rec_iv is not None:
            diffs = compare_intervals(ref_iv, rec_iv)
    return SheetScore(name=ref.name, condition=ref.condition, truth_path=truth_path,
                      pred_path=pred_path, fs=ref.fs, leads=leads, intervals=diffs,
                      ref_intervals=ref_iv, rec_intervals=rec_iv, missing=missing,
                      error=error)


def _load_at(path: str | Path, fs: float) -> dict[str, np.ndarray]:
    """Load a reconstruction resampled to `fs` Hz."""
    rec, fs_rec = load_reconstruction(path)
    if fs_rec != fs:
        rec = {k: resample_linear(v, fs_rec, fs) for k, v in rec.items()}
    return rec


def score_sheet(truth_path: str | Path, pred_path: str | Path | None, *,
                max_shift_s: float = 0.1, challenge_max_shift_s: float = 0.5,
                challenge_max_offset_mv: float = 1.0, levels: int = 256,
                intervals: bool = True) -> SheetScore:
    """Score one reconstruction against its ground truth.

    Parameters
    ----------
    truth_path : str or Path
        Sidecar JSON or WFDB reference record.
    pred_path : str or Path or None
        Reconstruction (WFDB or JSON). None scores every lead as all-NaN
        (a missing output counts, it is not skipped).
    max_shift_s : float
        Reference-paper convention shift bound, s.
    challenge_max_shift_s, challenge_max_offset_mv : float
        Challenge convention bounds (s, mV).
    levels : int
        Challenge convention quantisation levels.
    intervals : bool
        Also delineate both and compare RR / HR / QRS / QT.

    Returns
    -------
    SheetScore

    Raises
    ------
    RecordError
        If either file is missing or unreadable.
    """
    ref = load_reference(truth_path)
    rec = {} if pred_path is None else _load_at(pred_path, ref.fs)
    return _score_loaded(ref, rec, truth_path=str(truth_path),
                         pred_path=None if pred_path is None else str(pred_path),
                         missing=pred_path is None, error=None, max_shift_s=max_shift_s,
                         challenge_max_shift_s=challenge_max_shift_s,
                         challenge_max_offset_mv=challenge_max_offset_mv, levels=levels,
                         intervals=intervals)


# --------------------------------------------------------------------------- sets


@dataclass(frozen=True)
class Aggregate:
    """Summary statistics of a group of scores.

    For a group of sheets (overall, per condition) the leads of each sheet are
    averaged first, then the sheet values are averaged (mean) or their median
    taken; for a lead (per-lead table) the values are that lead's scores over
    the sheets. NaN values are left out of every statistic.

    Attributes
    ----------
    n_sheets : int
        Sheets in the group.
    n_leads : int
        Lead scores in the group.
    n_missing : int
        Sheets (or, per lead, lead scores) without a reconstruction.
    snr_ref_mean_db, snr_ref_median_db : float
        SNR, reference-paper convention, dB.
    snr_chal_mean_db, snr_chal_median_db : float
        SNR, PhysioNet Challenge 2024 convention, dB.
    pearson_mean : float
        Pearson r (reference-paper alignment).
    rmse_uv_mean : float
        RMSE in µV (reference-paper alignment).
    nan_fraction_mean : float
        Fraction of printed samples without a value.
    d_rr_ms, d_hr_bpm, d_qrs_ms, d_qt_ms : float
        Mean absolute interval differences (ms; bpm), over sheets.
    """

    n_sheets: int
    n_leads: int
    n_missing: int
    snr_ref_mean_db: float
    snr_ref_median_db: float
    snr_chal_mean_db: float
    snr_chal_median_db: float
    pearson_mean: float
    rmse_uv_mean: float
    nan_fraction_mean: float
    d_rr_ms: float = float("nan")
    d_hr_bpm: float = float("nan")
    d_qrs_ms: float = float("nan")
    d_qt_ms: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dict(self.__dict__)


def _aggregate_sheets(sheets: Sequence[SheetScore]) -> Aggregate:
    ref = [s.snr_reference_db for s in sheets]
    chal = [s.snr_challenge_db for s in sheets]
    return Aggregate(
        n_sheets=len(sheets),
        n_leads=sum(len(s.leads) for s in sheets),
        n_missing=sum(1 for s in sheets if s.missing),
        snr_ref_mean_db=_nanmean(ref),
        snr_ref_median_db=_nanmedian(ref),
        snr_chal_mean_db=_nanmean(chal),
        snr_chal_median_db=_nanmedian(chal),
        pearson_mean=_nanmean(s.pearson for s in sheets),
        rmse_uv_mean=_nanmean(s.rmse_uv for s in sheets),
        nan_fraction_mean=_nanmean(s.nan_fraction for s in sheets),
        d_rr_ms=_nanmean(s.intervals.get("rr_ms", np.nan) for s in sheets),
        d_hr_bpm=_nanmean(s.intervals.get("hr_bpm", np.nan) for s in sheets),
        d_qrs_ms=_nanmean(s.intervals.get("qrs_ms", np.nan) for s in sheets),
        d_qt_ms=_nanmean(s.intervals.get("qt_ms", np.nan) for s in sheets),
    )


def _aggregate_lead(scores: Sequence[tuple[SheetScore, LeadScore]]) -> Aggregate:
    ref = [ls.reference.snr_db for _, ls in scores]
    chal = [ls.challenge.snr_db for _, ls in scores]
    return Aggregate(
        n_sheets=len({id(s) for s, _ in scores}),
        n_leads=len(scores),
        n_missing=sum(1 for s, ls in scores if s.missing or ls.missing),
        snr_ref_mean_db=_nanmean(ref),
        snr_ref_median_db=_nanmedian(ref),
        snr_chal_mean_db=_nanmean(chal),
        snr_chal_median_db=_nanmedian(chal),
        pearson_mean=_nanmean(ls.reference.pearson for _, ls in scores),
        rmse_uv_mean=_nanmean(ls.reference.rmse_uv for _, ls in scores),
        nan_fraction_mean=_nanmean(ls.reference.nan_fraction for _, ls in scores),
    )


def _lead_order(names: Iterable[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(STANDARD_LEADS)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


@dataclass
class SetScore:
    """Scores of a set of sheets with their aggregates.

    Attributes
    ----------
    sheets : list of SheetScore
        Every sheet, missing reconstructions included.
    overall : Aggregate
        All sheets.
    per_condition : dict of str to Aggregate
        Sheets grouped by condition (generator preset), sorted by name.
    per_lead : dict of str to Aggregate
        Lead scores grouped by lead, standard lead order first.
    settings : dict
        Scoring options used (shift and offset bounds, levels).
    """

    sheets: list[SheetScore]
    overall: Aggregate
    per_condition: dict[str, Aggregate]
    per_lead: dict[str, Aggregate]
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_sheets(cls, sheets: Sequence[SheetScore],
                    settings: Mapping[str, Any] | None = None) -> SetScore:
        """Build the aggregates of a list of sheet scores."""
        sheets = list(sheets)
        by_cond: dict[str, list[SheetScore]] = {}
        for s in sheets:
            by_cond.setdefault(s.condition, []).append(s)
        by_lead: dict[str, list[tuple[SheetScore, LeadScore]]] = {}
        for s in sheets:
            for name, ls in s.leads.items():
                by_lead.setdefault(name, []).append((s, ls))
        return cls(
            sheets=sheets,
            overall=_aggregate_sheets(sheets),
            per_condition={c: _aggregate_sheets(by_cond[c]) for c in sorted(by_cond)},
            per_lead={n: _aggregate_lead(by_lead[n]) for n in _lead_order(by_lead)},
            settings=dict(settings or {}),
        )

    @property
    def per_sheet(self) -> list[dict[str, Any]]:
        """Sheet-level summaries (see :meth:`SheetScore.summary`)."""
        return [s.summary() for s in self.sheets]

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain data (NaN kept as float NaN)."""
        return {
            "settings": dict(self.settings),
            "overall": self.overall.to_dict(),
            "per_condition": {k: v.to_dict() for k, v in self.per_condition.items()},
            "per_lead": {k: v.to_dict() for k, v in self.per_lead.items()},
            "per_sheet": self.per_sheet,
            "sheets": [s.to_dict() for s in self.sheets],
        }


def score_set(pairs: Iterable[tuple[str | Path, str | Path | None]], *,
              max_shift_s: float = 0.1, challenge_max_shift_s: float = 0.5,
              challenge_max_offset_mv: float = 1.0, levels: int = 256,
              intervals: bool = True,
              progress: Callable[[int, SheetScore], None] | None = None) -> SetScore:
    """Score many sheets and aggregate them.

    Parameters
    ----------
    pairs : iterable of (truth_path, pred_path or None)
        E.g. from :func:`find_pairs`. A None or unreadable reconstruction is
        scored as all-NaN (``missing=True``, the reason in ``error``).
    max_shift_s, challenge_max_shift_s, challenge_max_offset_mv, levels, intervals
        As in :func:`score_sheet`.
    progress : callable, optional
        Called as ``progress(index, sheet_score)`` after each sheet.

    Returns
    -------
    SetScore

    Raises
    ------
    RecordError
        If a ground-truth file is unreadable (the yardstick itself must be sound).
    """
    opts: dict[str, Any] = dict(
        max_shift_s=max_shift_s, challenge_max_shift_s=challenge_max_shift_s,
        challenge_max_offset_mv=challenge_max_offset_mv, levels=levels, intervals=intervals)
    sheets = []
    for i, (truth, pred) in enumerate(pairs):
        ref = load_reference(truth)
        rec: dict[str, np.ndarray] = {}
        error = None
        if pred is not None:
            try:
                rec = _load_at(pred, ref.fs)
            except RecordError as exc:
                rec, error = {}, str(exc)
        sheet = _score_loaded(ref, rec, truth_path=str(truth),
                              pred_path=None if pred is None else str(pred),
                              missing=pred is None or error is not None, error=error,
                              **opts)
        sheets.append(sheet)
        if progress is not None:
            progress(i, sheet)
    return SetScore.from_sheets(sheets, settings=opts)


def find_pairs(truth_dir: str | Path, pred_dir: str | Path) -> list[tuple[Path, Path | None]]:
    """Match ground-truth files with reconstructions by file stem.

    Ground truth: ``*.json`` sidecars (other JSON files are ignored) or
    ``*.hea`` WFDB records in `truth_dir` (a sidecar wins over a record of
    the same stem). Reconstruction: ``STEM.json`` or else ``STEM.hea`` in
    `pred_dir`. A truth without a reconstruction is returned with None, to be
    scored as missing.

    Parameters
    ----------
    truth_dir, pred_dir : str or Path
        Folders (not searched recursively).

    Returns
    -------
    list of (Path, Path or None)
        Sorted by stem.

    Raises
    ------
    RecordError
        If either folder does not exist or `truth_dir` holds no ground truth.
    """
    truth_dir, pred_dir = Path(truth_dir), Path(pred_dir)
    if not truth_dir.is_dir():
        raise RecordError(f"ground-truth folder {truth_dir} does not exist")
    if not pred_dir.is_dir():
        raise RecordError(f"reconstruction folder {pred_dir} does not exist")
    truths: dict[str, Path] = {}
    for p in sorted(truth_dir.glob("*.hea")):
        truths[p.stem] = p
    for p in sorted(truth_dir.glob("*.json")):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if _is_sidecar(doc) and "schema" in doc:
            truths[p.stem] = p
    if not truths:
        raise RecordError(f"no ground truth (sidecar .json or .hea) in {truth_dir}")
    pairs: list[tuple[Path, Path | None]] = []
    for stem in sorted(truths):
        pred: Path | None = None
        for ext in (".json", ".hea"):
            cand = pred_dir / f"{stem}{ext}"
            if cand.is_file() and cand.resolve() != truths[stem].resolve():
                pred = cand
                break
        pairs.append((truths[stem], pred))
    return pairs
