"""Tests of the limb-lead redundancy: filling gaps and flagging a lead that disagrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import smooth_record
from ecgdigitize.digitize.redundancy import (
    FLAGGED_QUALITY_FACTOR,
    apply_redundancy,
    limb_inconsistency,
    limb_redundancy,
    printed_mask,
)
from ecgdigitize.digitize.result import Detected, LeadTrace, Result
from ecgdigitize.errors import OptionError
from ecgdigitize.io.wfdbio import read_record
from ecgdigitize.leads import LIMB_LEADS, STANDARD_LEADS, limb_leads_from_i_ii

FS = 500.0


def _smooth_noise(rng: np.random.Generator, n: int, amp_mv: float) -> np.ndarray:
    """Low-pass random signal of RMS about `amp_mv` (mV)."""
    x = np.convolve(rng.standard_normal(n + 40), np.hanning(41), mode="valid")[:n]
    return amp_mv * x / np.std(x)


def _limb(rng: np.random.Generator, n: int, smooth: bool = True) -> np.ndarray:
    """Six consistent limb leads (n, 6) in mV from random I and II."""
    if smooth:
        i, ii = _smooth_noise(rng, n, 0.4), _smooth_noise(rng, n, 0.5)
    else:
        i, ii = rng.standard_normal(n), rng.standard_normal(n)
    d = limb_leads_from_i_ii(i, ii)
    return np.stack([d[name] for name in LIMB_LEADS], axis=1)


def _windows(n: int, spans: dict[str, list[tuple[float, float]]]) -> np.ndarray:
    """Printed mask (n, 6) from time windows in s per limb lead."""
    t = np.arange(n) / FS
    mask = np.zeros((n, 6), bool)
    for name, wins in spans.items():
        for a, b in wins:
            mask[:, LIMB_LEADS.index(name)] |= (t >= a) & (t < b)
    return mask


def _printed_limb(seed: int, spans: dict[str, list[tuple[float, float]]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ten seconds of limb leads from a seed, printed in `spans`: the truth, the printed
    mask and the truth where printed (NaN elsewhere)."""
    n = int(10 * FS)
    truth = _limb(np.random.default_rng(seed), n)
    printed = _windows(n, spans)
    return truth, printed, np.where(printed, truth, np.nan)


ALL_5S = {name: [(0.0, 5.0)] for name in LIMB_LEADS}          # 6x2: all six in 0-5 s
LAYOUT_3X4 = {"I": [(0.0, 2.5)], "II": [(0.0, 2.5)], "III": [(0.0, 2.5)],
              "aVR": [(2.5, 5.0)], "aVL": [(2.5, 5.0)], "aVF": [(2.5, 5.0)]}
LAYOUT_3X4_1 = {**LAYOUT_3X4, "II": [(0.0, 10.0)]}             # with a lead II rhythm strip


# --------------------------------------------------------------------------- filling


def test_exact_reconstruction_of_gaps() -> None:
    rng = np.random.default_rng(0)
    n = 2500
    truth = _limb(rng, n, smooth=False)
    printed = np.ones((n, 6), bool)
    sig = truth.copy()
    gaps = np.zeros_like(printed)
    for k in range(6):
        a = 100 + 300 * k
        gaps[a:a + 50, k] = True
    sig[gaps] = np.nan
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    np.testing.assert_array_equal(red.filled, gaps)
    np.testing.assert_allclose(red.signals, truth, atol=1e-9)
    assert red.flagged == [] and red.unresolved == []
    for name in LIMB_LEADS:
        assert red.residual_mv[name] < 1e-9
    assert np.isnan(sig[gaps]).all()            # the input is not modified


def test_every_pair_determines_the_rest() -> None:
    rng = np.random.default_rng(1)
    n = 200
    truth = _limb(rng, n, smooth=False)
    for a in range(6):
        for b in range(a + 1, 6):
            sig = np.full_like(truth, np.nan)
            sig[:, [a, b]] = truth[:, [a, b]]
            red = limb_redundancy(sig, list(LIMB_LEADS), np.ones((n, 6), bool), FS)
            np.testing.assert_allclose(red.signals, truth, atol=1e-9)
            assert red.filled.sum() == 4 * n


def test_filled_gaps_join_offset_readings() -> None:
    """Each lead carries its own constant offset: a filled gap follows the lead's own."""
    rng = np.random.default_rng(2)
    n = 2500
    truth = _limb(rng, n)
    offsets = rng.uniform(-0.2, 0.2, 6)
    sig = truth + offsets + 0.005 * rng.standard_normal((n, 6))
    sig[1000:1100, 3] = np.nan                # a gap in aVR
    red = limb_redundancy(sig, list(LIMB_LEADS), np.ones((n, 6), bool), FS)
    assert red.filled[1000:1100, 3].all() and red.filled.sum() == 100
    err = red.signals[1000:1100, 3] - (truth[1000:1100, 3] + offsets[3])
    assert np.max(np.abs(err)) < 0.03
    # Without the join, the filled stretch would carry the others' offsets instead.
    assert red.flagged == [] and red.unresolved == []


def test_no_filling_outside_printed_windows_by_default() -> None:
    truth, printed, sig = _printed_limb(3, LAYOUT_3X4_1)
    sig[200:260, 0] = np.nan                  # a gap in I (printed)
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert red.filled[200:260, 0].all()
    assert red.filled.sum() == 60
    assert not (red.filled & ~printed).any()
    np.testing.assert_allclose(red.signals[200:260, 0], truth[200:260, 0], atol=1e-9)
    outside = ~printed
    assert np.isnan(red.signals[outside]).all()


def test_fill_all_reconstructs_where_not_printed() -> None:
    truth, printed, sig = _printed_limb(4, LAYOUT_3X4_1)
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS, fill="all")
    t = np.arange(len(truth)) / FS
    first = t < 5.0                           # two or more limb leads known only in 0-5 s
    assert (red.filled == (~printed & first[:, None])).all()
    np.testing.assert_allclose(red.signals[first], truth[first], atol=1e-9)
    assert np.isnan(red.signals[~first, 0]).all()   # 5-10 s: only II, nothing to fill from


def test_fill_none_changes_nothing() -> None:
    truth, printed, sig = _printed_limb(5, LAYOUT_3X4_1)
    sig[300:400, 2] = np.nan
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS, fill="none")
    np.testing.assert_array_equal(red.signals, sig)
    assert not red.filled.any()


def test_bad_fill_option() -> None:
    sig = np.zeros((10, 6))
    with pytest.raises(OptionError):
        limb_redundancy(sig, list(LIMB_LEADS), np.ones((10, 6), bool), FS, fill="some")
    with pytest.raises(OptionError):
        limb_redundancy(sig, list(LIMB_LEADS), np.ones((10, 5), bool), FS)


def test_missing_limb_leads_and_too_few_known() -> None:
    rng = np.random.default_rng(6)
    n = 1000
    truth = _limb(rng, n)
    # Only I and V1 in the record: nothing to do.
    sig = np.stack([truth[:, 0], rng.standard_normal(n)], axis=1)
    sig[10:20, 0] = np.nan
    red = limb_redundancy(sig, ["I", "V1"], np.ones((n, 2), bool), FS)
    np.testing.assert_array_equal(red.signals, sig)
    assert not red.filled.any() and red.flagged == []
    # I and II known, III printed but unread everywhere: filled; only I known: not.
    sig = np.full((n, 3), np.nan)
    sig[:, :2] = truth[:, :2]
    sig[500:, 1] = np.nan
    red = limb_redundancy(sig, ["I", "II", "III"], np.ones((n, 3), bool), FS)
    assert red.filled[:500, 2].all() and not red.filled[500:].any()
    np.testing.assert_allclose(red.signals[:500, 2], truth[:500, 2], atol=1e-9)
    assert np.isnan(red.residual_mv["I"]) and red.flagged == []
    # Everything unknown.
    red = limb_redundancy(np.full((n, 6), np.nan), list(LIMB_LEADS), np.ones((n, 6), bool), FS)
    assert not red.filled.any() and red.flagged == [] and red.unresolved == []
    # No samples at all.
    red = limb_redundancy(np.zeros((0, 6)), list(LIMB_LEADS), np.zeros((0, 6), bool), FS)
    assert red.signals.shape == (0, 6)


def test_precordial_leads_pass_through() -> None:
    rng = np.random.default_rng(7)
    n = 1000
    limb = _limb(rng, n)
    prec = rng.standard_normal((n, 6))
    prec[5:50, 2] = np.nan
    sig = np.concatenate([limb, prec], axis=1)
    sig[100:150, 4] = np.nan
    red = limb_redundancy(sig, list(STANDARD_LEADS), np.ones((n, 12), bool), FS)
    np.testing.assert_array_equal(red.signals[:, 6:], prec)
    assert red.filled[100:150, 4].all() and red.filled.sum() == 50


# --------------------------------------------------------------------------- checking


def _noisy(rng: np.random.Generator, truth: np.ndarray, printed: np.ndarray) -> np.ndarray:
    """Truth with 0.02 mV noise and a constant offset per lead, NaN where not printed."""
    offsets = rng.uniform(-0.3, 0.3, truth.shape[1])
    sig = truth + offsets + 0.02 * rng.standard_normal(truth.shape)
    return np.where(printed, sig, np.nan)


@pytest.mark.parametrize("spans", [ALL_5S, LAYOUT_3X4, LAYOUT_3X4_1])
@pytest.mark.parametrize("seed", [10, 11, 12])
def test_clean_leads_are_not_flagged(spans: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(10 * FS)
    printed = _windows(n, spans)
    red = limb_redundancy(_noisy(rng, _limb(rng, n), printed), list(LIMB_LEADS), printed, FS)
    assert red.flagged == [] and red.unresolved == []
    for name in LIMB_LEADS:
        assert red.residual_mv[name] < 0.05


@pytest.mark.parametrize("bad", LIMB_LEADS)
@pytest.mark.parametrize("kind", ["scaled", "noise"])
def test_corrupted_lead_is_flagged(bad: str, kind: str) -> None:
    rng = np.random.default_rng(20 + LIMB_LEADS.index(bad))
    n = int(10 * FS)
    printed = _windows(n, ALL_5S)
    sig = _noisy(rng, _limb(rng, n), printed)
    k = LIMB_LEADS.index(bad)
    if kind == "scaled":
        sig[:, k] *= 2.0
    else:
        sig[:, k] = np.where(printed[:, k], _smooth_noise(rng, n, 0.4), np.nan)
    sig[1000:1050, k] = np.nan                       # a gap in the bad lead
    sig[1500:1550, (k + 1) % 6] = np.nan             # and one in a good lead
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert red.flagged == [bad]
    assert red.unresolved == []
    assert red.residual_mv[bad] > 0.1
    assert red.residual_mv[LIMB_LEADS[(k + 3) % 6]] < 0.05
    # The flagged lead's samples are as read; its gap is filled from the others only.
    read = np.isfinite(sig[:, k])
    np.testing.assert_array_equal(red.signals[read, k], sig[read, k])
    assert red.filled[1000:1050, k].all()
    assert any(bad in w and "mV" in w for w in red.warnings())
    # The good lead's gap is filled from the good leads, not the flagged one.
    j = (k + 1) % 6
    good = np.isfinite(sig[1450:1500, j])
    assert red.filled[1500:1550, j].all() and good.all()


def test_rhythm_lead_scaled_is_flagged_on_3x4_1() -> None:
    """II (rhythm) meets aVR, aVL, aVF in 2.5-5 s: four leads, so a fault can be pinned."""
    rng = np.random.default_rng(30)
    n = int(10 * FS)
    printed = _windows(n, LAYOUT_3X4_1)
    sig = _noisy(rng, _limb(rng, n), printed)
    sig[:, 1] *= 1.8
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert red.flagged == ["II"]


def test_three_leads_at_a_time_cannot_be_pinned() -> None:
    rng = np.random.default_rng(31)
    n = int(10 * FS)
    printed = _windows(n, LAYOUT_3X4)
    sig = _noisy(rng, _limb(rng, n), printed)
    sig[:, 2] *= 2.0                                  # III wrong; I, II, III all look alike
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert red.flagged == []
    assert set(red.unresolved) == {"I", "II", "III"}
    assert any("cannot be told" in w for w in red.warnings())


# --------------------------------------------------------------------------- repairing


def _six_at_once(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ten seconds of noisy limb leads, all six printed in 0-5 s: truth plus each lead's
    offset, the printed mask and the reading."""
    rng = np.random.default_rng(seed)
    n = int(10 * FS)
    printed = _windows(n, ALL_5S)
    truth = _limb(rng, n)
    sig = _noisy(rng, truth, printed)
    offsets = np.nanmedian(sig - truth, axis=0)
    return truth + offsets, printed, sig


def test_a_misread_stretch_is_repaired_from_the_other_limb_leads() -> None:
    # A neighbour's wave taken for aVL's trace, and a stretch of II pulled down.
    expected, printed, sig = _six_at_once(40)
    wrong = np.zeros(sig.shape)
    wrong[1000:1080, 4] = 0.8 * np.hanning(80)
    wrong[1500:1530, 1] = -0.6
    sig += wrong
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    far = np.abs(wrong) > 0.3                     # well beyond the tolerance
    assert red.repaired[far].all()
    assert not (red.repaired & (wrong == 0)).any()
    np.testing.assert_allclose(red.signals[red.repaired], expected[red.repaired], atol=0.08)
    untouched = ~red.repaired
    np.testing.assert_array_equal(red.signals[untouched], sig[untouched])
    assert (red.filled >= red.repaired).all()
    assert any("aVL" in w and "consensus" in w for w in red.warnings(list(LIMB_LEADS)))


def test_two_misread_leads_are_repaired_where_four_agree() -> None:
    expected, printed, sig = _six_at_once(41)
    sig[2000:2030, 0] += 0.7                     # I and II wrong together (neighbouring rows)
    sig[2000:2030, 1] -= 0.7
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert red.repaired[2000:2030, :2].all()
    np.testing.assert_allclose(red.signals[2000:2030, :2], expected[2000:2030, :2], atol=0.08)


def test_no_repair_where_two_readings_find_as_many_supporters() -> None:
    # I = II = 1 mV cut to 0.5 mV: that pair predicts III and an aVL read between the two
    # readings; the true pair predicts III, aVR, aVF and that aVL. Four leads each.
    expected, printed, sig = _six_at_once(44)
    offsets = expected[0] - _limb(np.random.default_rng(44), sig.shape[0])[0]
    read = {"I": 0.5, "II": 0.5, "III": 0.0, "aVR": -1.0, "aVL": 0.375, "aVF": 0.5}
    for k, name in enumerate(LIMB_LEADS):
        sig[1200:1240, k] = read[name] + offsets[k]
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert not red.repaired[1200:1240].any()
    # One reading more on the true side (aVL read right) and I and II are repaired.
    sig[1200:1240, 4] = 0.5 + offsets[4]
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert red.repaired[1200:1240, :2].all()


def test_nothing_is_repaired_with_four_leads_or_fewer_or_when_off() -> None:
    # 3x4+1: in 2.5-5 s only II (rhythm), aVR, aVL and aVF are known together.
    rng = np.random.default_rng(42)
    n = int(10 * FS)
    printed = _windows(n, LAYOUT_3X4_1)
    sig = _noisy(rng, _limb(rng, n), printed)
    sig[1500:1530, 4] += 0.8
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS)
    assert not red.repaired.any()
    _, printed6, sig6 = _six_at_once(43)
    sig6[1000:1030, 4] += 0.8
    red = limb_redundancy(sig6, list(LIMB_LEADS), printed6, FS, repair=False)
    assert not red.repaired.any()
    np.testing.assert_array_equal(red.signals, sig6)


def test_check_off() -> None:
    rng = np.random.default_rng(32)
    n = int(5 * FS)
    printed = np.ones((n, 6), bool)
    sig = _noisy(rng, _limb(rng, n), printed)
    sig[:, 0] *= 3
    red = limb_redundancy(sig, list(LIMB_LEADS), printed, FS, check=False)
    assert red.flagged == [] and red.residual_mv == {}


# --------------------------------------------------------------------------- Result


def _trace(lead: str, a: float, b: float) -> LeadTrace:
    return LeadTrace(lead, 0, 0, 1, a, b, np.zeros(2), np.zeros(2), 1.0)


def test_printed_mask_from_segments() -> None:
    traces = [_trace("I", 0.0, 2.5), _trace("-aVR", 2.5, 5.0), _trace("II", 0.0, 10.0),
              _trace("V1", 5.0, 7.5)]
    mask = printed_mask(traces, list(STANDARD_LEADS), int(10 * FS), FS)
    t = np.arange(int(10 * FS)) / FS
    np.testing.assert_array_equal(mask[:, 0], t < 2.5)
    np.testing.assert_array_equal(mask[:, 3], (t >= 2.5) & (t < 5.0))
    assert mask[:, 1].all()
    np.testing.assert_array_equal(mask[:, 6], (t >= 5.0) & (t < 7.5))
    assert mask[:, [2, 4, 5, 7, 8, 9, 10, 11]].sum() == 0


def _result(fill_gap: bool = True, corrupt: str | None = None) -> Result:
    rec = smooth_record(seed=1)
    n = rec.signals.shape[0]
    traces = [_trace(name, 0.0, 5.0) for name in STANDARD_LEADS[:6]]
    traces += [_trace(name, 5.0, 10.0) for name in STANDARD_LEADS[6:]]
    printed = printed_mask(traces, list(STANDARD_LEADS), n, rec.fs)
    sig = np.where(printed, rec.signals, np.nan)
    if fill_gap:
        sig[100:140, 2] = np.nan
    if corrupt is not None:
        sig[:, STANDARD_LEADS.index(corrupt)] *= 2.0
    return Result(signals=sig, fs=rec.fs, lead_names=list(STANDARD_LEADS),
                  quality={name: 0.9 for name in STANDARD_LEADS}, detected=Detected(),
                  traces=traces)


def test_apply_to_result() -> None:
    result = _result(corrupt="aVR")
    red = apply_redundancy(result, "gaps")
    assert red.flagged == ["aVR"] == result.flagged_leads
    assert result.quality["aVR"] == pytest.approx(0.9 * FLAGGED_QUALITY_FACTOR)
    assert result.quality["I"] == 0.9
    assert any(w.startswith("lead aVR disagrees") for w in result.warnings)
    assert result.filled is not None and result.filled[100:140, 2].all()
    summary = result.summary()
    assert summary["flagged_leads"] == ["aVR"]
    assert summary["filled_fraction"]["III"] == pytest.approx(40 / result.signals.shape[0],
                                                              abs=1e-4)
    assert summary["filled_fraction"]["V1"] == 0.0
    assert summary["limb_residual_mv"]["aVR"] > 0.1


@pytest.mark.parametrize(("fill", "repair", "repaired"), [
    ("gaps", None, True), ("gaps", False, False), ("none", None, False)])
def test_apply_repairs_unless_told_not_to(fill: str, repair: bool | None,
                                          repaired: bool) -> None:
    result = _result(fill_gap=False)
    k = STANDARD_LEADS.index("aVL")
    misread = result.signals[1000:1040, k].copy() + 0.8
    result.signals[1000:1040, k] = misread
    apply_redundancy(result, fill, repair=repair)
    changed = not np.allclose(result.signals[1000:1040, k], misread)
    assert changed == repaired
    assert (result.filled is not None and bool(result.filled[1000:1040, k].any())) == repaired


def test_result_without_filled() -> None:
    result = _result(fill_gap=False)
    summary = result.summary()
    assert all(v == 0.0 for v in summary["filled_fraction"].values())
    assert summary["flagged_leads"] == []


# --------------------------------------------------------------------------- real records


def _real_records(folder: Path) -> list[Path]:
    return sorted(p.with_suffix("") for p in folder.rglob("*.hea"))


def test_true_leads_of_real_records_agree(shared_records: Path) -> None:
    """Recorded limb leads agree with each other to well within the flagging threshold,
    and gaps of a 3x4 sheet are filled to within 0.01 mV of the recorded values."""
    paths = _real_records(shared_records)
    assert paths
    for path in paths:
        rec = read_record(path)
        if not set(LIMB_LEADS) <= set(rec.lead_names):
            continue
        fs = rec.fs
        n = min(rec.signals.shape[0], int(round(10 * fs)))
        sig = rec.signals[:n, [rec.lead_names.index(name) for name in LIMB_LEADS]]
        red = limb_redundancy(sig, list(LIMB_LEADS), np.ones((n, 6), bool), fs)
        assert red.flagged == [] and red.unresolved == [], path.name
        assert max(red.residual_mv.values()) < 0.01, path.name
        # 3x4 with a rhythm strip, a 0.1 s gap in each printed segment.
        t = np.arange(n) / fs
        spans = {"I": (0.0, 2.5), "II": (0.0, 10.0), "III": (0.0, 2.5), "aVR": (2.5, 5.0),
                 "aVL": (2.5, 5.0), "aVF": (2.5, 5.0)}
        printed = np.stack([(t >= a) & (t < b) for a, b in spans.values()], axis=1)
        gappy = np.where(printed, sig, np.nan)
        for k, (a, _) in enumerate(spans.values()):
            i0 = int((a + 1.0 + 0.1 * k) * fs)
            gappy[i0:i0 + int(0.1 * fs), k] = np.nan
        red = limb_redundancy(gappy, list(LIMB_LEADS), printed, fs)
        assert red.filled.sum() == 6 * int(0.1 * fs), path.name
        err = np.abs(red.signals[red.filled] - sig[red.filled])
        assert err.max() < 0.01, path.name


# --------------------------------------------------------------------------- outputs, options


def test_outputs_record_filled_samples(tmp_path: Path) -> None:
    from ecgdigitize.io.outputs import json_document, write_json, write_wfdb

    result = _result(corrupt="aVR")
    apply_redundancy(result, "gaps")
    rec = read_record(write_wfdb(result, tmp_path, "sheet"))
    pairs = dict(line.split(": ", 1) for line in rec.comments)
    counts = dict(item.split("=") for item in pairs["filled_samples"].split())
    assert counts["III"] == "40" and counts["I"] == "0" and counts["V1"] == "0"
    assert pairs["flagged_leads"] == "aVR"
    doc = json_document(result)
    assert doc["filled_samples"] == {"III": [[100, 140]]}
    assert doc["flagged_leads"] == ["aVR"]
    write_json(result, tmp_path / "sheet.json")
    # A result without the step: no filled_samples comment, an empty mapping.
    plain = _result()
    rec = read_record(write_wfdb(plain, tmp_path, "plain"))
    assert not any(line.startswith("filled_samples") for line in rec.comments)
    assert json_document(plain)["filled_samples"] == {}


def test_redundancy_option_is_passed_through() -> None:
    from ecgdigitize.batch import DigitizeOptions
    from ecgdigitize.cli import build_parser
    from ecgdigitize.digitize.pipeline import digitize

    parser = build_parser()
    args = parser.parse_args(["digitize", "a.png", "-o", "out"])
    assert args.redundancy == "gaps"
    args = parser.parse_args(["batch", "a.png", "-o", "out", "--redundancy", "none"])
    assert args.redundancy == "none"
    with pytest.raises(SystemExit):
        parser.parse_args(["digitize", "a.png", "-o", "out", "--redundancy", "some"])
    assert DigitizeOptions(redundancy="all").fingerprint() != DigitizeOptions().fingerprint()
    with pytest.raises(OptionError):
        digitize(np.zeros((64, 64, 3), np.uint8), redundancy="some")


def test_digitize_fills_limb_leads_end_to_end() -> None:
    from ecgdigitize.digitize.pipeline import digitize
    from ecgdigitize.synth.render import RenderOptions
    from ecgdigitize.synth.sheet import ArtifactOptions, SheetSpec, generate_sheet

    rec = smooth_record()
    spec = SheetSpec(render=RenderOptions(layout="3x4+1", dpi=150),
                     artifacts=ArtifactOptions())
    sheet = generate_sheet(rec, spec, rng=np.random.default_rng(3), seed=3)
    image = sheet.canvas.image
    gaps = digitize(image, layout="3x4+1")
    assert gaps.filled is not None and gaps.filled.shape == gaps.signals.shape
    assert gaps.flagged_leads == []
    printed = printed_mask(gaps.traces, gaps.lead_names, gaps.signals.shape[0], gaps.fs)
    assert not (gaps.filled & ~printed).any()
    full = digitize(image, layout="3x4+1", redundancy="all")
    n = full.signals.shape[0]
    t = np.arange(n) / full.fs
    k = STANDARD_LEADS.index("aVR")                # printed in 2.5-5 s only
    assert full.filled[(t < 2.5), k].mean() > 0.9
    assert not full.filled[(t >= 5.0), k].any()    # only II is printed there
    truth = rec.signals[:n, k]
    got = full.signals[:, k]
    first = (t < 2.4) & full.filled[:, k]
    err = got[first] - truth[first]
    assert np.sqrt(np.mean((err - np.median(err)) ** 2)) < 0.05
    none = digitize(image, layout="3x4+1", redundancy="none", max_gap_ms=0.0)
    assert not none.filled.any()
    assert none.summary()["filled_fraction"]["aVR"] == 0.0


# --------------------------------------------------------------------------- layout ties


def test_limb_inconsistency_tells_cabrera_order_from_standard() -> None:
    # A 3x4 sheet: I, II, III in 0-2.5 s and aVR, aVL, aVF in 2.5-5 s, read with a little
    # noise and an offset per segment. Read under Cabrera names (aVL, I, -aVR in the first
    # column; II, aVF, III in the second) the same rows disagree.
    truth, printed, shown = _printed_limb(4, LAYOUT_3X4)
    rng = np.random.default_rng(5)
    read = shown + 0.02 * rng.standard_normal(shown.shape) + rng.uniform(-0.3, 0.3, 6)
    right = {name: read[:, k] for k, name in enumerate(LIMB_LEADS)}
    col = {name: read[:, LIMB_LEADS.index(name)] for name in LIMB_LEADS}
    wrong = {"aVL": col["I"], "I": col["II"], "aVR": -col["III"],
             "II": col["aVR"], "aVF": col["aVL"], "III": col["aVF"]}
    assert limb_inconsistency(right, FS) < 0.02
    assert limb_inconsistency(wrong, FS) > 0.1
    # Fewer than three limb leads at a time: nothing to compare.
    assert np.isnan(limb_inconsistency({"I": col["I"], "II": col["II"]}, FS))
