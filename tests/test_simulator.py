"""Tests of the built-in 12-lead ECG simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.signal import find_peaks

from ecgdigitize.errors import OptionError
from ecgdigitize.leads import STANDARD_LEADS
from ecgdigitize.record import EcgRecord
from ecgdigitize.simulator import (
    SimulatorParams,
    random_params,
    simulate_ecg,
    simulate_ecg_with_annotations,
)

FS_HZ = 500.0

ALL_OPTIONS = SimulatorParams(
    baseline_wander_mv=0.4,
    noise_mv=0.05,
    powerline_hz=50.0,
    powerline_mv=0.1,
    morphology_jitter=0.1,
    hrv_std_s=0.05,
    rsa_fraction=0.1,
)


def _steady(**kw: float) -> SimulatorParams:
    """Parameters without beat-to-beat variation."""
    return SimulatorParams(hrv_std_s=0.0, rsa_fraction=0.0, morphology_jitter=0.0, **kw)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _r_peak_times_s(lead_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """R-peak times in s of a clean lead with upright QRS complexes."""
    peaks, _ = find_peaks(lead_mv, prominence=0.5 * np.ptp(lead_mv), distance=int(0.2 * fs_hz))
    return peaks / fs_hz


def _qrs_areas_mv_s(lead_mv: np.ndarray, ann: dict[str, np.ndarray], fs_hz: float) -> np.ndarray:
    """QRS area (mV s) of each fully recorded beat."""
    areas = []
    for on, off in zip(ann["qrs_onset_s"], ann["qrs_offset_s"], strict=True):
        i0, i1 = int(np.floor(on * fs_hz)), int(np.ceil(off * fs_hz)) + 1
        if i0 >= 0 and i1 <= lead_mv.size:
            areas.append(lead_mv[i0:i1].sum() / fs_hz)
    return np.asarray(areas)


# ---------------------------------------------------------------------------- structure


def test_shape_lead_order_and_metadata() -> None:
    rec = simulate_ecg(_rng(), duration_s=10.0, fs=FS_HZ, name="sim01")
    assert isinstance(rec, EcgRecord)
    assert rec.lead_names == list(STANDARD_LEADS)
    assert rec.signals.shape == (5000, 12)
    assert rec.fs == FS_HZ
    assert rec.name == "sim01"
    assert np.isfinite(rec.signals).all()
    assert rec.has_standard_leads()


@pytest.mark.parametrize(("duration_s", "fs_hz"), [(2.5, 250.0), (10.0, 1000.0), (0.01, 100.0)])
def test_sample_count(duration_s: float, fs_hz: float) -> None:
    rec = simulate_ecg(_rng(), duration_s=duration_s, fs=fs_hz)
    assert rec.n_samples == round(duration_s * fs_hz)


# ---------------------------------------------------------------------------- determinism


def test_same_seed_same_output() -> None:
    a = simulate_ecg(_rng(7), params=ALL_OPTIONS)
    b = simulate_ecg(_rng(7), params=ALL_OPTIONS)
    np.testing.assert_array_equal(a.signals, b.signals)
    pa, pb = random_params(_rng(3)), random_params(_rng(3))
    assert pa == pb


def test_different_seed_different_output() -> None:
    a = simulate_ecg(_rng(1))
    b = simulate_ecg(_rng(2))
    assert not np.allclose(a.signals, b.signals)
    assert random_params(_rng(1)) != random_params(_rng(2))


def test_record_starts_at_random_phase() -> None:
    first_r = [simulate_ecg_with_annotations(_rng(s))[1]["r_peak_s"][0] for s in range(12)]
    assert np.std(first_r) > 0.1
    assert min(first_r) < 0.3 < max(first_r)


# ---------------------------------------------------------------------------- limb leads


@pytest.mark.parametrize(
    "params",
    [
        SimulatorParams(),
        ALL_OPTIONS,
        dataclasses.replace(ALL_OPTIONS, powerline_hz=60.0, qrs_axis_deg=-30.0),
        random_params(_rng(11)),
        random_params(_rng(12)),
    ],
)
def test_limb_lead_relations_hold(params: SimulatorParams) -> None:
    rec = simulate_ecg(_rng(5), params=params)
    d = rec.as_dict()
    tol = 1e-9
    np.testing.assert_allclose(d["III"], d["II"] - d["I"], rtol=0, atol=tol)
    np.testing.assert_allclose(d["aVR"], -(d["I"] + d["II"]) / 2, rtol=0, atol=tol)
    np.testing.assert_allclose(d["aVL"], d["I"] - d["II"] / 2, rtol=0, atol=tol)
    np.testing.assert_allclose(d["aVF"], d["II"] - d["I"] / 2, rtol=0, atol=tol)


# ---------------------------------------------------------------------------- rhythm


@pytest.mark.parametrize("hr_bpm", [50.0, 72.0, 100.0, 125.0])
def test_heart_rate_matches_request(hr_bpm: float) -> None:
    params = SimulatorParams(heart_rate_bpm=hr_bpm)
    rec = simulate_ecg(_rng(int(hr_bpm)), duration_s=20.0, params=params)
    r = _r_peak_times_s(rec.lead("II"), rec.fs)
    measured_bpm = 60.0 / np.mean(np.diff(r))
    assert abs(measured_bpm - hr_bpm) < 3.0


def test_heart_rate_variability() -> None:
    steady = simulate_ecg_with_annotations(_rng(4), 30.0, params=_steady())[1]
    variable = simulate_ecg_with_annotations(
        _rng(4), 30.0, params=SimulatorParams(hrv_std_s=0.03, rsa_fraction=0.05)
    )[1]
    assert np.std(np.diff(steady["r_peak_s"])) < 1e-9
    assert np.std(np.diff(variable["r_peak_s"])) > 0.02


def test_qt_follows_rate() -> None:
    qt = {}
    for hr in (50.0, 120.0):
        _, ann = simulate_ecg_with_annotations(_rng(), params=_steady(heart_rate_bpm=hr))
        qt[hr] = np.mean(ann["t_end_s"] - ann["qrs_onset_s"])
        np.testing.assert_allclose(qt[hr], 0.40 * np.cbrt(60.0 / hr), rtol=1e-9)
    assert qt[50.0] > qt[120.0] + 0.05


# ---------------------------------------------------------------------------- morphology


def test_amplitudes_are_plausible() -> None:
    rec, ann = simulate_ecg_with_annotations(_rng(), params=_steady())
    ii = rec.lead("II")
    fs = rec.fs
    r_amp = ii[np.rint(ann["r_peak_s"] * fs).astype(int)]
    assert np.all((r_amp > 0.8) & (r_amp < 1.6))
    for p_on, p_end, off, t_end in zip(
        ann["p_onset_s"], ann["p_end_s"], ann["qrs_offset_s"], ann["t_end_s"], strict=True
    ):
        if p_on >= 0:
            p_amp = ii[int(p_on * fs) : int(p_end * fs)].max()
            assert 0.08 < p_amp < 0.25
        if t_end * fs < ii.size:
            t_amp = ii[int((off + 0.04) * fs) : int(t_end * fs)].max()
            assert 0.2 < t_amp < 0.5
    assert np.abs(rec.signals).max() < 3.0


def test_random_params_give_plausible_records() -> None:
    rng = _rng(21)
    for _ in range(20):
        p = random_params(rng)
        assert 45.0 <= p.heart_rate_bpm <= 130.0
        assert -30.0 <= p.qrs_axis_deg <= 100.0
        assert 0.12 <= p.pr_interval_s <= 0.20
        rec = simulate_ecg(rng, params=p)
        assert np.isfinite(rec.signals).all()
        assert 0.3 < np.ptp(rec.lead("II")) < 5.0
        assert np.abs(rec.signals).max() < 5.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_precordial_r_wave_progression(seed: int) -> None:
    rng = _rng(seed)
    params = SimulatorParams() if seed == 0 else random_params(rng, artifacts=False)
    rec, ann = simulate_ecg_with_annotations(rng, params=params)
    v1 = rec.lead("V1")
    v6 = rec.lead("V6")
    assert np.all(_qrs_areas_mv_s(v1, ann, rec.fs) < 0)
    assert np.all(_qrs_areas_mv_s(v6, ann, rec.fs) > 0)
    assert -v1.min() > 2 * v1.max()  # rS
    assert v6.max() > 2 * -v6.min()  # qR


def test_transition_zone_default() -> None:
    rec, ann = simulate_ecg_with_annotations(_rng(), params=_steady())
    area = {n: np.mean(_qrs_areas_mv_s(rec.lead(n), ann, rec.fs)) for n in STANDARD_LEADS[6:]}
    assert area["V1"] < 0 and area["V2"] < 0 and area["V3"] < 0
    assert area["V4"] > 0 and area["V5"] > 0 and area["V6"] > 0


def test_qrs_axis_moves_the_frontal_plane() -> None:
    def net_qrs(axis_deg: float, lead: str) -> float:
        rec, ann = simulate_ecg_with_annotations(_rng(), params=_steady(qrs_axis_deg=axis_deg))
        return float(np.mean(_qrs_areas_mv_s(rec.lead(lead), ann, rec.fs)))

    assert net_qrs(0.0, "I") > 0 and abs(net_qrs(0.0, "aVF")) < 0.3 * net_qrs(0.0, "I")
    assert net_qrs(90.0, "aVF") > 0 and abs(net_qrs(90.0, "I")) < 0.3 * net_qrs(90.0, "aVF")
    assert net_qrs(-30.0, "II") < 0.3 * net_qrs(-30.0, "I")


# ---------------------------------------------------------------------------- annotations


def test_annotations_are_consistent() -> None:
    params = SimulatorParams()
    rec, ann = simulate_ecg_with_annotations(_rng(9), params=params)
    n = ann["r_peak_s"].size
    assert n >= 10
    assert all(v.shape == (n,) for v in ann.values())
    assert np.all((ann["r_peak_s"] >= 0) & (ann["r_peak_s"] < rec.duration_s))
    np.testing.assert_allclose(ann["qrs_offset_s"] - ann["qrs_onset_s"], params.qrs_duration_s)
    order = ["p_onset_s", "p_end_s", "qrs_onset_s", "r_peak_s"]
    order += ["qrs_offset_s", "t_peak_s", "t_end_s"]
    for a, b in zip(order[:-1], order[1:], strict=True):
        assert np.all(ann[a] < ann[b]), (a, b)
    np.testing.assert_allclose(ann["qrs_onset_s"] - ann["p_onset_s"], params.pr_interval_s)


def test_annotated_r_peaks_match_lead_ii() -> None:
    rec, ann = simulate_ecg_with_annotations(_rng(13), fs=1000.0)
    found = _r_peak_times_s(rec.lead("II"), rec.fs)
    # Beats cut by the record edges are not found by the peak detector.
    truth = ann["r_peak_s"]
    truth = truth[(truth > 0.05) & (truth < rec.duration_s - 0.05)]
    found = found[(found > 0.05) & (found < rec.duration_s - 0.05)]
    assert found.size == truth.size
    np.testing.assert_allclose(found, truth, atol=0.006)


def test_signal_is_flat_outside_the_waves() -> None:
    # Between T end and the next P onset the clean lead II is at the baseline.
    rec, ann = simulate_ecg_with_annotations(_rng(), params=_steady(heart_rate_bpm=50.0))
    ii = rec.lead("II")
    for t_end, p_next in zip(ann["t_end_s"][:-1], ann["p_onset_s"][1:], strict=True):
        seg = ii[int((t_end + 0.05) * rec.fs) : int(p_next * rec.fs)]
        assert seg.size > 0 and np.abs(seg).max() < 0.01


# ---------------------------------------------------------------------------- artefacts


def test_baseline_wander_is_slow_and_changes_signal() -> None:
    clean = simulate_ecg(_rng(3))
    wander = simulate_ecg(_rng(3), params=SimulatorParams(baseline_wander_mv=0.3))
    diff = wander.signals - clean.signals
    assert np.abs(diff).max() > 0.05
    # Only frequencies below 0.5 Hz: the sample-to-sample change is tiny.
    max_step_mv = 2 * np.pi * 0.5 * 3 * 0.3 / wander.fs
    assert np.abs(np.diff(diff, axis=0)).max() < max_step_mv
    spectrum = np.abs(np.fft.rfft(diff[:, 0]))
    freqs = np.fft.rfftfreq(diff.shape[0], 1 / wander.fs)
    assert spectrum[freqs > 1.0].max() < 0.05 * spectrum.max()


def test_noise_changes_signal_with_requested_size() -> None:
    clean = simulate_ecg(_rng(3))
    noisy = simulate_ecg(_rng(3), params=SimulatorParams(noise_mv=0.05))
    diff = noisy.signals - clean.signals
    assert 0.04 < np.std(diff[:, 0]) < 0.06
    assert np.all(np.std(diff, axis=0) > 0.02)


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_powerline_interference(mains_hz: float) -> None:
    clean = simulate_ecg(_rng(3))
    hum = simulate_ecg(_rng(3), params=SimulatorParams(powerline_hz=mains_hz, powerline_mv=0.1))
    diff = hum.signals[:, 1] - clean.signals[:, 1]
    spectrum = np.abs(np.fft.rfft(diff))
    freqs = np.fft.rfftfreq(diff.size, 1 / hum.fs)
    assert freqs[np.argmax(spectrum)] == pytest.approx(mains_hz, abs=0.2)
    assert 0.02 < np.ptp(diff) / 2 < 0.3


def test_powerline_above_nyquist_is_left_out() -> None:
    clean = simulate_ecg(_rng(3), fs=100.0)
    hum = simulate_ecg(_rng(3), fs=100.0, params=SimulatorParams(powerline_hz=60.0))
    np.testing.assert_array_equal(clean.signals, hum.signals)


def test_artefacts_do_not_move_the_heart() -> None:
    # Each artefact has its own random stream: the cardiac part is unchanged.
    _, clean = simulate_ecg_with_annotations(_rng(8))
    _, noisy = simulate_ecg_with_annotations(_rng(8), params=ALL_OPTIONS)
    _, jittered = simulate_ecg_with_annotations(
        _rng(8), params=dataclasses.replace(ALL_OPTIONS, baseline_wander_mv=0.0, noise_mv=0.0)
    )
    for k in clean:
        np.testing.assert_array_equal(noisy[k], jittered[k])


# ---------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration_s": -1.0},
        {"duration_s": 0.0},
        {"duration_s": float("nan")},
        {"duration_s": 0.001, "fs": 100.0},
        {"fs": 0.0},
        {"fs": -500.0},
        {"fs": float("inf")},
        {"params": {"heart_rate_bpm": 80}},
    ],
)
def test_invalid_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(OptionError):
        simulate_ecg(_rng(), **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"heart_rate_bpm": 10.0},
        {"heart_rate_bpm": 19.9},
        {"heart_rate_bpm": 301.0},
        {"heart_rate_bpm": float("nan")},
        {"heart_rate_bpm": "fast"},
        {"hrv_std_s": -0.01},
        {"noise_mv": -0.1},
        {"baseline_wander_mv": -1.0},
        {"powerline_hz": 0.0},
        {"powerline_mv": -0.1},
        {"qrs_axis_deg": 270.0},
        {"amplitude_scale": -1.0},
        {"qtc_s": 1.0},
    ],
)
def test_invalid_params_raise(kwargs: dict) -> None:
    with pytest.raises(OptionError):
        SimulatorParams(**kwargs)


def test_option_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        SimulatorParams(heart_rate_bpm=400.0)


@pytest.mark.parametrize("hr_bpm", [20.0, 300.0])
def test_extreme_rates_are_accepted(hr_bpm: float) -> None:
    rec = simulate_ecg(_rng(), params=SimulatorParams(heart_rate_bpm=hr_bpm))
    assert np.isfinite(rec.signals).all()


def test_params_are_frozen_and_coerced() -> None:
    p = SimulatorParams(heart_rate_bpm=80)
    assert isinstance(p.heart_rate_bpm, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.heart_rate_bpm = 90.0  # type: ignore[misc]
