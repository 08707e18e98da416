"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgdigitize.digitize.result import Detected, Result
from ecgdigitize.leads import STANDARD_LEADS, limb_leads_from_i_ii
from ecgdigitize.record import EcgRecord

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def smooth_record(seed: int = 0, duration_s: float = 10.0, fs: float = 500.0) -> EcgRecord:
    """A smooth, deterministic 12-lead record (sums of Gaussian beats) for tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * fs)) / fs
    beats = np.arange(0.3, duration_s, 0.85)

    def wave(amps: tuple[float, float, float]) -> np.ndarray:
        out = np.zeros_like(t)
        for b in beats:
            out += amps[0] * np.exp(-((t - b + 0.16) / 0.025) ** 2)   # P
            out += amps[1] * np.exp(-((t - b) / 0.02) ** 2)           # R
            out += amps[2] * np.exp(-((t - b - 0.28) / 0.05) ** 2)    # T
        return out

    lead_i = wave((0.1, 0.7, 0.2))
    lead_ii = wave((0.15, 1.1, 0.3))
    sig = limb_leads_from_i_ii(lead_i, lead_ii)
    for k, name in enumerate(STANDARD_LEADS[6:]):
        sig[name] = wave((0.08, -0.9 + 0.35 * k, 0.15 + 0.03 * k)) + 0.01 * rng.standard_normal()
    arr = np.stack([sig[n] for n in STANDARD_LEADS], axis=1)
    return EcgRecord(arr, fs, list(STANDARD_LEADS), name=f"smooth{seed}")


@pytest.fixture
def record() -> EcgRecord:
    return smooth_record()


@pytest.fixture
def shared_records() -> Path:
    path = SHARED_DATA / "records"
    if not path.is_dir():
        pytest.skip("shared development data not present")
    return path


def sine_result(n_seconds: float, fs: float, source: str) -> Result:
    """A digitized sheet for output-format tests: 12 leads of sines (0.2-2.4 mV, some
    offset) at `fs` Hz, with NaN gaps (lead I), a missing first sample (II), a NaN end
    (aVL) and an unread lead V6."""
    t = np.arange(int(n_seconds * fs)) / fs
    sig = np.stack([(0.2 * (k + 1)) * np.sin(2 * np.pi * (1.0 + 0.3 * k) * t) - 0.05 * k
                    for k in range(12)], axis=1)
    sig[100:150, 0] = np.nan          # a gap in lead I
    sig[0, 1] = np.nan                # first sample of II
    sig[-7:, 4] = np.nan              # end of aVL
    sig[:, 11] = np.nan               # V6 not read
    detected = Detected(layout="3x4", speed_mm_s=25.0, speed_source="pulse", gain_mm_mv=10.0,
                        gain_source="printed", px_per_mm_x=11.81, px_per_mm_y=11.81,
                        scale_source="grid", pulse="left")
    return Result(signals=sig, fs=fs, lead_names=list(STANDARD_LEADS),
                  quality={n: (0.0 if n == "V6" else 0.9) for n in STANDARD_LEADS},
                  detected=detected, source=source, image_shape=(600, 900),
                  warnings=["lead V6 unreadable"])
