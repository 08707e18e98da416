"""Tests of the delineator on synthetic beats with known intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from ecgdigitize.evaluate import delineate, interval_agreement

R_AMP = 1.2


@dataclass
class Truth:
    hr_bpm: float
    qrs_ms: float
    qt_ms: float


def gauss(t: np.ndarray, mu: float, sigma: float, amp: float) -> np.ndarray:
    return amp * np.exp(-((t - mu) ** 2) / (2 * sigma**2))


def synthetic_ecg(fs: float = 500.0, duration_s: float = 10.0, rr_s: float = 0.8,
                  q_sigma: float = 0.008, r_sigma: float = 0.010, t_delay: float = 0.26,
                  t_sigma: float = 0.04, t_sign: float = 1.0, gain: float = 1.0,
                  noise_mv: float = 0.0, wander_mv: float = 0.1,
                  seed: int = 0) -> tuple[np.ndarray, Truth]:
    """Sum-of-Gaussians ECG with known R times, QRS extent and T end.

    Each beat: P (0.15 mV), Q (-0.1 mV), R (1.2 mV), S (-0.25 mV), T (0.3 mV).
    Truth: QRS = span where the Q+R+S component exceeds 1 % of the R amplitude;
    T end = tangent-method end of the Gaussian T, ``mu + 2 sigma``.
    """
    t = np.arange(int(round(duration_s * fs))) / fs
    y = np.zeros_like(t)
    r_times = np.arange(0.3, duration_s, rr_s)
    for tr in r_times:
        y += gauss(t, tr - 0.16, 0.02, 0.15)
        y += gain * (gauss(t, tr - 0.025, q_sigma, -0.1) + gauss(t, tr, r_sigma, R_AMP)
                     + gauss(t, tr + 0.025, q_sigma, -0.25))
        y += gauss(t, tr + t_delay, t_sigma, 0.3 * t_sign)
    y += wander_mv * np.sin(2 * np.pi * 0.3 * t)
    y += np.random.default_rng(seed).normal(0.0, noise_mv, t.size)
    # Analytic QRS extent of one beat, on a fine grid.
    tt = np.linspace(-0.15, 0.15, 30001)
    qrs = (gauss(tt, -0.025, q_sigma, -0.1) + gauss(tt, 0.0, r_sigma, R_AMP)
           + gauss(tt, 0.025, q_sigma, -0.25))
    active = tt[np.abs(qrs) > 0.01 * R_AMP]
    onset, offset = active[0], active[-1]
    truth = Truth(hr_bpm=60.0 / rr_s, qrs_ms=1000 * (offset - onset),
                  qt_ms=1000 * (t_delay + 2 * t_sigma - onset))
    return y, truth


def check(measured, truth: Truth) -> None:
    assert measured.hr_bpm == pytest.approx(truth.hr_bpm, abs=2.0)
    assert measured.qrs_ms == pytest.approx(truth.qrs_ms, abs=15.0)
    assert measured.qt_ms == pytest.approx(truth.qt_ms, abs=30.0)


@pytest.mark.parametrize("kwargs", [
    {},
    {"rr_s": 1.0},
    {"rr_s": 0.55, "t_delay": 0.21, "t_sigma": 0.032},
    {"rr_s": 1.2, "t_delay": 0.29, "t_sigma": 0.045},
    {"t_sign": -1.0},
    {"q_sigma": 0.012, "r_sigma": 0.016},
    {"noise_mv": 0.03, "seed": 3},
    {"gain": 0.3},
    {"fs": 250.0},
    {"fs": 1000.0},
])
def test_single_lead(kwargs: dict) -> None:
    y, truth = synthetic_ecg(**kwargs)
    iv = delineate(y, kwargs.get("fs", 500.0))
    check(iv, truth)
    assert iv.n_beats == len(np.arange(0.3, 10.0, kwargs.get("rr_s", 0.8)))


def test_short_printed_window() -> None:
    y, truth = synthetic_ecg()
    check(delineate(y[:1250], 500.0), truth)  # 2.5 s, three beats


def test_multi_lead_windows_like_a_3x4_sheet() -> None:
    fs = 500.0
    signs = [1.0, 0.5, -0.7, 0.3, 1.5, -1.0, 0.8, -0.4]
    leads = {}
    truth = None
    for i, s in enumerate(signs):
        y, truth = synthetic_ecg(noise_mv=0.01, seed=i)
        y = y * s
        col = i % 4
        masked = np.full_like(y, np.nan)
        masked[col * 1250:(col + 1) * 1250] = y[col * 1250:(col + 1) * 1250]
        leads[f"L{i}"] = masked
    assert truth is not None
    check(delineate(leads, fs), truth)
    # Same through a (n_samples, n_leads) array.
    check(delineate(np.stack(list(leads.values()), axis=1), fs), truth)


@pytest.mark.parametrize("signal", [
    np.zeros(5000),
    np.full(5000, np.nan),
    np.full(5000, 0.3),
    np.random.default_rng(1).normal(0.0, 0.1, 5000),
])
def test_nan_when_it_cannot_tell(signal: np.ndarray) -> None:
    iv = delineate(signal, 500.0)
    for k, v in iv.summary().items():
        assert math.isnan(v), k


def test_too_short_or_too_slow() -> None:
    y, _ = synthetic_ecg()
    assert math.isnan(delineate(y[:150], 500.0).hr_bpm)
    assert math.isnan(delineate(y[::20], 25.0).qrs_ms)


def test_interval_agreement() -> None:
    y, _ = synthetic_ecg(seed=5)
    noisy = y + np.random.default_rng(6).normal(0.0, 0.02, y.size)
    same = interval_agreement(y, noisy, 500.0)
    assert same["hr_bpm"] < 0.5 and same["rr_ms"] < 5.0
    assert same["qrs_ms"] < 10.0 and same["qt_ms"] < 15.0
    longer, _ = synthetic_ecg(t_delay=0.30, seed=5)  # T 40 ms later -> QT +40 ms
    diff = interval_agreement({"II": y}, {"II": longer}, 500.0)
    assert diff["qt_ms"] == pytest.approx(40.0, abs=10.0)
    assert diff["rr_ms"] == pytest.approx(0.0, abs=1.0)
    missing = interval_agreement({"II": y}, {"V1": y}, 500.0)
    assert all(math.isnan(v) for v in missing.values())
