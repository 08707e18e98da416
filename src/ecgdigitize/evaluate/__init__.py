"""Evaluation yardstick: score digitized ECGs against ground truth.

Per-lead SNR in two conventions (reference-paper and PhysioNet Challenge 2024),
Pearson r, RMSE in µV and NaN fraction (:mod:`.metrics`); clinical-interval
agreement from our own delineator (:mod:`.intervals`); loading, matching and
aggregating sheets (:mod:`.scoring`); and the JSON / Markdown / HTML report
(:mod:`.report`).
"""

from .intervals import (
    INTERVAL_KEYS,
    Intervals,
    compare_intervals,
    delineate,
    interval_agreement,
)
from .metrics import (
    SNR_CAP_DB,
    AlignedScore,
    LeadScore,
    nan_fraction,
    pearson,
    rmse_uv,
    score_record,
    snr_challenge,
    snr_reference,
)
from .report import SUMMARY_SCHEMA, to_jsonable, write_report
from .scoring import (
    Aggregate,
    Reference,
    SetScore,
    SheetScore,
    find_pairs,
    load_reconstruction,
    load_reference,
    resample_linear,
    score_set,
    score_sheet,
)

__all__ = [
    "INTERVAL_KEYS",
    "Intervals",
    "compare_intervals",
    "delineate",
    "interval_agreement",
    "SNR_CAP_DB",
    "AlignedScore",
    "LeadScore",
    "nan_fraction",
    "pearson",
    "rmse_uv",
    "score_record",
    "snr_challenge",
    "snr_reference",
    "SUMMARY_SCHEMA",
    "to_jsonable",
    "write_report",
    "Aggregate",
    "Reference",
    "SetScore",
    "SheetScore",
    "find_pairs",
    "load_reconstruction",
    "load_reference",
    "resample_linear",
    "score_set",
    "score_sheet",
]
