"""The in-memory ECG record used throughout the package."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import RecordError
from .leads import STANDARD_LEADS, lead_signal, normalize_lead_name

__all__ = ["EcgRecord"]


@dataclass
class EcgRecord:
    """A multi-lead ECG time series.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_leads)
        Amplitudes in mV. NaN marks samples that are unknown.
    fs : float
        Sampling rate in Hz.
    lead_names : list of str
        Canonical lead names, one per column of `signals`.
    name : str
        Record name (used for output file names).
    comments : list of str
        Free-text comments (e.g. from a WFDB header).
    """

    signals: np.ndarray
    fs: float
    lead_names: list[str]
    name: str = "record"
    comments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.signals = np.asarray(self.signals, dtype=float)
        if self.signals.ndim == 1:
            self.signals = self.signals[:, None]
        if self.signals.ndim != 2:
            raise RecordError(f"signals must be 2-D (samples, leads), got {self.signals.shape}")
        self.lead_names = [normalize_lead_name(n) for n in self.lead_names]
        if len(self.lead_names) != self.signals.shape[1]:
            raise RecordError(
                f"{len(self.lead_names)} lead names for {self.signals.shape[1]} signal columns"
            )
        if not (self.fs > 0 and np.isfinite(self.fs)):
            raise RecordError(f"sampling rate must be positive, got {self.fs}")

    @property
    def n_samples(self) -> int:
        """Number of samples per lead."""
        return int(self.signals.shape[0])

    @property
    def duration_s(self) -> float:
        """Record length in s."""
        return self.n_samples / self.fs

    def as_dict(self) -> dict[str, np.ndarray]:
        """Return the signals as a dict of lead name to 1-D array in mV."""
        return {n: self.signals[:, i] for i, n in enumerate(self.lead_names)}

    def lead(self, name: str) -> np.ndarray:
        """Return one lead in mV (``-aVR`` style inverted names are allowed)."""
        return lead_signal(self.as_dict(), name)

    def has_standard_leads(self) -> bool:
        """True if all twelve standard leads are present."""
        return all(n in self.lead_names for n in STANDARD_LEADS)

    def standard12(self) -> EcgRecord:
        """Return a record with exactly the twelve standard leads, in standard order.

        Missing limb leads are derived from I and II when both are present.

        Raises
        ------
        RecordError
            If a standard lead is missing and cannot be derived.
        """
        from .leads import limb_leads_from_i_ii

        have = self.as_dict()
        if "I" in have and "II" in have:
            for k, v in limb_leads_from_i_ii(have["I"], have["II"]).items():
                have.setdefault(k, v)
        missing = [n for n in STANDARD_LEADS if n not in have]
        if missing:
            raise RecordError(f"record {self.name!r} lacks standard leads {missing}")
        sig = np.stack([have[n] for n in STANDARD_LEADS], axis=1)
        return EcgRecord(sig, self.fs, list(STANDARD_LEADS), self.name, list(self.comments))
