"""Bridging of short unread stretches (ecgdigitize.digitize.gaps)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_record
from ecgdigitize.batch import DigitizeOptions
from ecgdigitize.cli import build_parser
from ecgdigitize.digitize.gaps import apply_bridging, bridge_gaps
from ecgdigitize.digitize.pipeline import digitize
from ecgdigitize.digitize.redundancy import printed_mask
from ecgdigitize.digitize.result import Detected, LeadTrace, Result
from ecgdigitize.errors import OptionError
from ecgdigitize.evaluate.metrics import snr_reference
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import ArtifactOptions, SheetSpec, generate_sheet

FS = 500.0


def _one_lead(y: np.ndarray, printed: np.ndarray | None = None, max_gap_s: float = 0.04
              ) -> tuple[np.ndarray, np.ndarray]:
    printed = np.ones(y.size, bool) if printed is None else printed
    out, bridged = bridge_gaps(y[:, None], printed[:, None], FS, max_gap_s)
    return out[:, 0], bridged[:, 0]


def test_interior_gap_is_interpolated_and_marked() -> None:
    y = np.linspace(0.0, 1.0, 101)
    gap = y.copy()
    gap[40:50] = np.nan
    out, bridged = _one_lead(gap)
    np.testing.assert_allclose(out, y, atol=1e-12)
    assert np.array_equal(np.flatnonzero(bridged), np.arange(40, 50))
    assert np.isnan(gap[40:50]).all()          # the input is not changed


def test_window_edges_hold_the_nearest_reading() -> None:
    y = np.arange(100, dtype=float)
    y[:5] = np.nan
    y[95:] = np.nan
    out, bridged = _one_lead(y)
    assert np.all(out[:5] == 5.0) and np.all(out[95:] == 94.0)
    assert bridged.sum() == 10


def test_long_gaps_unprinted_samples_and_empty_windows_stay_nan() -> None:
    y = np.zeros(400)
    y[100:200] = np.nan                        # 200 ms: longer than 40 ms
    printed = np.ones(400, bool)
    printed[300:] = False
    y[300:] = np.nan                           # not printed: never filled
    out, bridged = _one_lead(y, printed)
    assert np.isnan(out[100:200]).all() and np.isnan(out[300:]).all()
    assert not bridged.any()
    empty = np.full(10, np.nan)                # a window with nothing read
    out, bridged = _one_lead(empty)
    assert np.isnan(out).all() and not bridged.any()


def test_each_printed_window_is_bridged_on_its_own() -> None:
    # Two windows of one lead (0-1 s and 2-3 s) with a gap at the end of the first and
    # the start of the second: each holds its own reading, nothing crosses the unprinted
    # second between them.
    y = np.full(1500, np.nan)
    y[:495] = 1.0
    y[1005:1500] = -1.0
    printed = np.zeros(1500, bool)
    printed[:500] = printed[1000:1500] = True
    out, bridged = _one_lead(y, printed)
    assert np.all(out[495:500] == 1.0) and np.all(out[1000:1005] == -1.0)
    assert np.isnan(out[500:1000]).all()
    assert bridged.sum() == 10


def test_limit_is_inclusive_and_zero_bridges_nothing() -> None:
    y = np.zeros(200)
    y[50:70] = np.nan                          # exactly 40 ms at 500 Hz
    out, bridged = _one_lead(y)
    assert bridged.sum() == 20 and np.isfinite(out).all()
    out, bridged = _one_lead(y, max_gap_s=0.0)
    assert not bridged.any() and np.isnan(out[50:70]).all()


def test_bad_arguments_raise() -> None:
    y = np.zeros((10, 1))
    with pytest.raises(OptionError):
        bridge_gaps(y, np.ones((10, 1), bool), FS, -0.01)
    with pytest.raises(OptionError):
        bridge_gaps(y, np.ones((10, 1), bool), 0.0)
    with pytest.raises(OptionError):
        bridge_gaps(y, np.ones((9, 1), bool), FS)


def test_apply_bridging_adds_to_the_filled_mask() -> None:
    n = 1000
    sig = np.full((n, 2), np.nan)
    sig[:, 0] = 0.5
    sig[10:20, 0] = np.nan
    sig[:500, 1] = 0.2
    sig[490:500, 1] = np.nan
    filled = np.zeros((n, 2), bool)
    filled[700, 0] = True                      # e.g. from the limb leads
    trace = LeadTrace("I", 0, 0, 1, 0.0, 2.0, np.arange(3.0), np.zeros(3), 1.0, False)
    trace_b = LeadTrace("II", 1, 0, 1, 0.0, 1.0, np.arange(3.0), np.zeros(3), 1.0, False)
    res = Result(signals=sig, fs=FS, lead_names=["I", "II"], quality={"I": 1.0, "II": 1.0},
                 detected=Detected(), traces=[trace, trace_b], filled=filled)
    assert apply_bridging(res, 0.04) == 20
    assert np.isfinite(res.signals[:, 0]).all()
    assert np.all(res.signals[490:500, 1] == 0.2) and np.isnan(res.signals[500:, 1]).all()
    assert res.filled is not None
    assert res.filled[700, 0] and res.filled[10:20, 0].all() and res.filled[490:500, 1].all()


def test_digitize_bridges_a_short_gap_in_every_lead() -> None:
    rec = smooth_record()
    spec = SheetSpec(render=RenderOptions(layout="3x4", dpi=150), artifacts=ArtifactOptions())
    sheet = generate_sheet(rec, spec, rng=np.random.default_rng(3), seed=3)
    image = sheet.canvas.image.copy()
    # A 5 px (0.85 mm, 34 ms) strip of paper wiped clean across the sheet, 1 s into the
    # record: wider than the tracer's own gap filling, within the bridging's 40 ms.
    x_cut = int(round(sheet.groundtruth["leads"][0]["baseline_px"][0][0] + 1.0 * 25.0
                      * sheet.groundtruth["px_per_mm"]))
    image[:, x_cut:x_cut + 5] = 255
    raw = digitize(image, layout="3x4", redundancy="none", max_gap_ms=0.0)
    bridged = digitize(image, layout="3x4", redundancy="none")
    n = raw.signals.shape[0]
    printed = printed_mask(raw.traces, raw.lead_names, n, raw.fs)
    unread = printed & np.isnan(raw.signals)
    first_column = [j for j, name in enumerate(raw.lead_names) if name in ("I", "II", "III")]
    assert all(unread[:, j].sum() >= 10 for j in first_column)
    assert bridged.filled is not None
    assert np.array_equal(bridged.filled, unread)
    assert np.isfinite(bridged.signals[printed]).all()
    assert np.isnan(bridged.signals[~printed]).all()
    np.testing.assert_array_equal(bridged.signals[~unread], raw.signals[~unread])
    for j in first_column:
        y = np.where(printed[:, j], rec.signals[:n, j], np.nan)
        assert (snr_reference(y, bridged.signals[:, j], raw.fs).snr_db
                > snr_reference(y, raw.signals[:, j], raw.fs).snr_db)
    # The option everywhere: API, CLI, batch.
    with pytest.raises(OptionError):
        digitize(image, max_gap_ms=-1.0)
    parser = build_parser()
    assert parser.parse_args(["digitize", "a.png", "-o", "o"]).max_gap_ms == 40.0
    assert parser.parse_args(["batch", "a.png", "-o", "o", "--max-gap-ms", "0"]).max_gap_ms == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["digitize", "a.png", "-o", "o", "--max-gap-ms", "-5"])
    assert DigitizeOptions(max_gap_ms=0.0).fingerprint() != DigitizeOptions().fingerprint()
