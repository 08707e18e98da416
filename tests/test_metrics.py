"""Tests of the per-lead SNR conventions and companion metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecgdigitize.errors import OptionError
from ecgdigitize.evaluate import (
    SNR_CAP_DB,
    nan_fraction,
    pearson,
    rmse_uv,
    score_record,
    snr_challenge,
    snr_reference,
)

FS = 500.0


def smooth_noise(n: int, seed: int, cutoff_hz: float = 15.0, fs: float = FS) -> np.ndarray:
    """Band-limited, non-periodic test signal of unit-ish amplitude (mV)."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spec[(freqs > cutoff_hz) | (freqs < 0.5)] = 0.0
    x = np.fft.irfft(spec, n)
    return x / np.std(x) * 0.4


def windowed(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Copy of `x` that is NaN outside [start, stop) (a printed window)."""
    out = np.full_like(x, np.nan)
    out[start:stop] = x[start:stop]
    return out


def brute_force_shift(y: np.ndarray, yhat: np.ndarray, max_k: int) -> tuple[int, float]:
    """Straightforward per-shift evaluation of the reference-paper convention."""
    win = np.isfinite(y)
    y0 = np.where(win, y - np.mean(y[win]), 0.0)
    best = (0, -np.inf)
    for k in sorted(range(-max_k, max_k + 1), key=abs):
        p = np.full(y.size, np.nan)
        idx = np.arange(y.size) + k
        ok = (idx >= 0) & (idx < yhat.size)
        p[ok] = yhat[idx[ok]]
        fin = win & np.isfinite(p)
        pc = np.where(fin, p - (np.mean(p[fin]) if fin.any() else 0.0), 0.0)
        err = np.sum((y0 - pc)[win] ** 2)
        snr = 10 * np.log10(np.sum(y0[win] ** 2) / err)
        if snr > best[1] + 1e-9:
            best = (k, snr)
    return best


def test_identical_signals_are_capped() -> None:
    y = smooth_noise(5000, 1)
    for score in (snr_reference(y, y, FS), snr_challenge(y, y, FS)):
        assert score.snr_db == SNR_CAP_DB
        assert score.shift_s == 0.0
        assert score.pearson == pytest.approx(1.0)
        assert score.rmse_uv == pytest.approx(0.0, abs=1e-9)
        assert score.nan_fraction == 0.0
        assert score.n_samples == 5000


def test_hand_computed_reference_convention() -> None:
    y = np.array([1.0, -1.0, 1.0, -1.0])
    yhat = np.array([1.0, -1.0, np.nan, np.nan])
    s = snr_reference(y, yhat, FS, max_shift_s=0.0)
    # Centred: y0 = y, p = [1, -1, 0, 0] -> error energy 2, signal energy 4.
    assert s.snr_db == pytest.approx(10 * math.log10(2.0))
    assert s.nan_fraction == 0.5
    assert s.rmse_uv == pytest.approx(0.0)


@pytest.mark.parametrize("k", [0, 7, -20, 50, -50])
def test_reference_shift_recovered_exactly_within_bound(k: int) -> None:
    full = smooth_noise(6000, 2)
    y = windowed(full, 1500, 4500)
    yhat = np.roll(full, k)  # yhat(t) = y(t - k/fs): delayed by k samples
    s = snr_reference(y, yhat, FS, max_shift_s=0.1)
    assert s.shift_s == pytest.approx(k / FS)
    assert s.snr_db == SNR_CAP_DB
    assert s.nan_fraction == 0.0


def test_reference_shift_beyond_bound_not_recovered() -> None:
    full = smooth_noise(6000, 3)
    y = windowed(full, 1500, 4500)
    yhat = np.roll(full, 90)  # 180 ms > 100 ms
    s = snr_reference(y, yhat, FS, max_shift_s=0.1)
    assert abs(s.shift_s) <= 0.1 + 1e-12
    assert s.snr_db < 3.0


def test_reference_fft_search_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    for trial in range(5):
        full = smooth_noise(3000, 10 + trial)
        y = windowed(full, 600, 2300)
        y[rng.choice(np.arange(600, 2300), 100, replace=False)] = np.nan
        yhat = np.roll(full, int(rng.integers(-30, 31))) + rng.normal(0, 0.2, full.size)
        yhat[rng.choice(full.size, 300, replace=False)] = np.nan
        yhat = yhat[: 2800 - trial * 100]  # shorter than the reference
        k, snr = brute_force_shift(y, yhat, 50)
        s = snr_reference(y, yhat, FS, max_shift_s=0.1)
        assert s.shift_s * FS == pytest.approx(k)
        assert s.snr_db == pytest.approx(snr, abs=1e-9)


@pytest.mark.parametrize("k", [0, 60, -125, 250])
def test_challenge_shift_recovered_within_bound(k: int) -> None:
    full = smooth_noise(8000, 5)
    y = windowed(full, 2500, 5500)
    yhat = np.roll(full, k)
    s = snr_challenge(y, yhat, FS)
    assert s.shift_s == pytest.approx(k / FS)
    assert s.offset_mv == 0.0
    assert s.snr_db == SNR_CAP_DB


def test_challenge_shift_beyond_bound_not_applied() -> None:
    full = smooth_noise(8000, 6)
    y = windowed(full, 2500, 5500)
    yhat = np.roll(full, 350)  # 0.7 s > 0.5 s
    s = snr_challenge(y, yhat, FS)
    assert s.shift_s == 0.0
    expected = 10 * np.log10(np.sum(full[2500:5500] ** 2)
                             / np.sum((full[2500:5500] - yhat[2500:5500]) ** 2))
    assert s.snr_db == pytest.approx(expected)


def test_white_noise_level() -> None:
    rng = np.random.default_rng(7)
    n = int(30 * FS)
    y = smooth_noise(n, 8)
    sigma = 0.1
    noise = rng.normal(0.0, sigma, n)
    expected = 10 * np.log10(np.var(y) / sigma**2)
    assert snr_reference(y, y + noise, FS).snr_db == pytest.approx(expected, abs=0.3)
    assert snr_challenge(y, y + noise, FS).snr_db == pytest.approx(expected, abs=0.3)
    assert rmse_uv(y, y + noise, FS) == pytest.approx(1000 * sigma, rel=0.02)
    assert pearson(y, y + noise, FS) == pytest.approx(
        np.sqrt(np.var(y) / (np.var(y) + sigma**2)), abs=0.01)


def test_all_nan_reconstruction() -> None:
    y = smooth_noise(2000, 9) + 0.3
    empty = np.full(2000, np.nan)
    r = snr_reference(y, empty, FS)
    assert r.snr_db == 0.0
    assert math.isnan(r.pearson) and math.isnan(r.rmse_uv)
    assert r.nan_fraction == 1.0
    c = snr_challenge(y, empty, FS)
    assert c.snr_db == 0.0
    assert math.isnan(c.pearson)
    assert c.nan_fraction == 1.0
    assert nan_fraction(y, empty, FS) == 1.0


def test_empty_or_all_nan_reference() -> None:
    for y in (np.array([]), np.full(100, np.nan)):
        for s in (snr_reference(y, np.ones(100), FS), snr_challenge(y, np.ones(100), FS)):
            assert math.isnan(s.snr_db)
            assert s.n_samples == 0


def test_constant_offset() -> None:
    y = smooth_noise(5000, 11)
    small, large = y + 0.5, y + 1.5
    r = snr_reference(y, large, FS)
    assert r.snr_db == SNR_CAP_DB
    assert r.offset_mv == pytest.approx(1.5)
    c_small = snr_challenge(y, small, FS)
    step = (small.max() - y.min()) / 255
    assert c_small.offset_mv == pytest.approx(0.5, abs=step)
    assert c_small.snr_db > 30.0
    c_large = snr_challenge(y, large, FS)
    assert c_large.offset_mv == 0.0
    assert c_large.snr_db == pytest.approx(10 * np.log10(np.sum(y**2) / (1.5**2 * y.size)))
    assert c_large.snr_db < 0.0


def test_challenge_nan_fraction_scales_score() -> None:
    rng = np.random.default_rng(12)
    y = smooth_noise(5000, 12)
    noisy = y + rng.normal(0, 0.05, y.size)
    holed = noisy.copy()
    holed[1000:2500] = np.nan  # 30 % missing
    fin = np.isfinite(holed)
    full_snr = 10 * np.log10(np.sum(y[fin] ** 2) / np.sum((y[fin] - noisy[fin]) ** 2))
    s = snr_challenge(y, holed, FS, max_shift_s=0.0, max_offset_mv=0.0)
    assert s.nan_fraction == pytest.approx(0.3)
    assert s.snr_db == pytest.approx(0.7 * full_snr)
    exact = y.copy()
    exact[1000:2500] = np.nan
    assert snr_challenge(y, exact, FS).snr_db == pytest.approx(0.7 * SNR_CAP_DB)


def test_only_printed_window_is_scored() -> None:
    full = smooth_noise(5000, 13)
    y = windowed(full, 1250, 2500)
    yhat = full.copy()
    yhat[:1000] = 50.0  # garbage outside the printed window (beyond any shift)
    yhat[3000:] = np.nan
    assert snr_reference(y, yhat, FS).snr_db == SNR_CAP_DB
    assert snr_challenge(y, yhat, FS, max_shift_s=0.2).snr_db == SNR_CAP_DB


def test_score_record_counts_missing_leads() -> None:
    a, b = smooth_noise(2000, 14), smooth_noise(2000, 15)
    ref = {"I": windowed(a, 0, 1000), "II": b, "III": np.full(2000, np.nan)}
    rec = {"I": a, "aVR": b}
    scores = score_record(ref, rec, FS)
    assert list(scores) == ["I", "II"]
    assert scores["I"].reference.snr_db == SNR_CAP_DB
    assert not scores["I"].missing
    assert scores["I"].t_start_s == 0.0 and scores["I"].t_end_s == pytest.approx(2.0)
    assert scores["II"].missing
    assert scores["II"].reference.snr_db == 0.0
    assert scores["II"].challenge.snr_db == 0.0


def test_invalid_options() -> None:
    y = np.zeros(10)
    with pytest.raises(OptionError):
        snr_reference(y, y, 0.0)
    with pytest.raises(OptionError):
        snr_challenge(y, y, FS, levels=1)
    with pytest.raises(OptionError):
        snr_reference(np.zeros((3, 3)), y, FS)
