"""A small ECG delineator for clinical-interval agreement (RR / heart rate, QRS, QT).

Digitization quality is also judged by whether the clinical intervals read
from the digitized signal match those of the reference. This module measures
them with one fixed, documented method, applied identically to both signals,
so that the *differences* are meaningful even where the absolute values would
differ slightly from a cardiologist's calipers.

Method
------
Input is one lead or several leads on a common time base (NaN where unknown,
e.g. outside the window printed on a sheet). Each lead is processed on its
finite runs of at least 0.6 s; leads with less than 5 µV standard deviation
are ignored as flat.

1. **Filtering** (per finite run): zero-phase Butterworth high-pass 0.5 Hz
   (baseline wander) then low-pass 40 Hz gives the *delineation signal*; the
   same high-pass then a 5–15 Hz band-pass gives the *detection signal*; the
   unfiltered lead smoothed by a Gaussian of σ = 8 ms (about 16 Hz, no
   ringing) gives the *T-wave signal*.
2. **R-peak detection** (Pan–Tompkins-like). Energy = mean over the available
   leads of the squared time derivative of the detection signal, smoothed by
   a centred 120 ms moving average (the envelope). Envelope peaks at least
   250 ms apart (refractory period) are candidates; those above 20 % of the
   90th percentile of candidate heights are beats, except that a peak within
   360 ms of the previous beat with less than half its height is rejected as
   a T wave. If that percentile is under 8 times the envelope's median there
   is no discernible QRS and no beat at all. The R fiducial is the maximum of the spatial magnitude
   ``sqrt(mean_leads x²)`` of the delineation signal within ±75 ms.
3. **QRS onset / offset** (slope threshold). Slope magnitude
   ``g = sqrt(mean_leads (dx/dt)²)`` of the delineation signal, in mV/s.
   Threshold = max(5 % of the largest ``g`` within ±80 ms of R, twice the
   record's median ``g``). Walking outwards from R (at most 200 ms), onset is
   the first sample that ends a run of at least 12 ms below threshold, offset
   the first sample that starts one. The combined slope makes this the
   earliest onset and latest offset over the leads.
4. **T-wave end** (tangent method on the spatial T magnitude). Each lead's
   T-wave signal minus its baseline (the line through the PR-segment levels,
   medians over 30–5 ms before QRS onset, of this beat and the next) is
   combined as ``m = sqrt(mean_leads v²)`` between QRS offset + 40 ms and
   R + min(0.7·RR, 650 ms). The T apex is the maximum of ``m``; the
   tangent to ``m`` at its steepest descent after the apex is extended down
   to the PR-segment level of ``m``; the crossing is the T end.
5. **Per record**: RR = mean of the intervals between consecutive beats on
   one uninterrupted finite stretch (only 250 ms – 3 s intervals); heart rate
   = 60 000 / RR; QRS duration (offset − onset) and QT (T end − QRS onset) are
   medians over the delineated beats.

A value that cannot be measured (too short, flat, all-NaN, no T apex in its
window, implausible result: QRS outside 30–250 ms, QT outside 150–800 ms) is
NaN, never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from ..errors import OptionError
from ..runs import true_runs

__all__ = ["INTERVAL_KEYS", "Intervals", "delineate", "compare_intervals",
           "interval_agreement"]

#: Keys of the interval summaries (all in ms, except heart rate in bpm).
INTERVAL_KEYS: tuple[str, ...] = ("rr_ms", "hr_bpm", "qrs_ms", "qt_ms")

_MIN_RUN_S = 0.6
_FLAT_MV = 0.005
_REFRACTORY_S = 0.25
_T_REJECT_S = 0.36
_ENV_WIN_S = 0.12
_R_SEARCH_S = 0.075
_QRS_MAX_SLOPE_S = 0.08
_QRS_WALK_S = 0.2
_QRS_QUIET_S = 0.012
_QRS_FRAC = 0.05
_T_SMOOTH_S = 0.008
_MIN_PEAK_RATIO = 8.0


@dataclass(frozen=True)
class Intervals:
    """Clinical intervals of one record (NaN where they cannot be measured).

    Attributes
    ----------
    rr_ms : float
        Mean RR interval in ms.
    hr_bpm : float
        Heart rate in beats per minute (``60000 / rr_ms``).
    qrs_ms : float
        Median QRS duration in ms.
    qt_ms : float
        Median QT interval in ms.
    n_beats : int
        Number of detected beats.
    n_delineated : int
        Number of beats with a QT measurement.
    r_peaks_s : tuple of float
        R fiducial times in s.
    qrs_on_s, qrs_off_s, t_end_s : tuple of float
        Per-beat QRS onset, offset and T end in s (NaN where not found).
    """

    rr_ms: float
    hr_bpm: float
    qrs_ms: float
    qt_ms: float
    n_beats: int = 0
    n_delineated: int = 0
    r_peaks_s: tuple[float, ...] = field(default_factory=tuple)
    qrs_on_s: tuple[float, ...] = field(default_factory=tuple)
    qrs_off_s: tuple[float, ...] = field(default_factory=tuple)
    t_end_s: tuple[float, ...] = field(default_factory=tuple)

    def summary(self) -> dict[str, float]:
        """Return the four interval values keyed by :data:`INTERVAL_KEYS`."""
        return {k: float(getattr(self, k)) for k in INTERVAL_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """Return every field as a plain dict (tuples become lists)."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def _nan_intervals() -> Intervals:
    nan = float("nan")
    return Intervals(nan, nan, nan, nan)


# --------------------------------------------------------------------------- input


def _as_matrix(signals: Any) -> np.ndarray:
    """Return leads as rows of a float matrix, shape (n_leads, n_samples)."""
    if isinstance(signals, Mapping):
        arrays = [np.asarray(v, dtype=float).ravel() for v in signals.values()]
        if not arrays:
            return np.empty((0, 0))
        n = max(a.size for a in arrays)
        out = np.full((len(arrays), n), np.nan)
        for i, a in enumerate(arrays):
            out[i, :a.size] = a
        return out
    arr = np.asarray(signals, dtype=float)
    if arr.ndim == 1:
        return arr[None, :]
    if arr.ndim == 2:
        return arr.T  # (n_samples, n_leads) as in EcgRecord
    raise OptionError(f"signals must be 1-D, 2-D (samples, leads) or a dict, got {arr.shape}")


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    """Column-wise mean over the finite entries (NaN where none)."""
    fin = np.isfinite(x)
    cnt = fin.sum(axis=0)
    tot = np.where(fin, x, 0.0).sum(axis=0)
    return np.divide(tot, cnt, out=np.full(x.shape[1], np.nan), where=cnt > 0)


def _filter_leads(leads: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delineation, T-wave and detection signals of every lead (NaN outside usable runs)."""
    nyq = 0.5 * fs
    sos_hp = sps.butter(2, 0.5, "highpass", fs=fs, output="sos")
    sos_lp = sps.butter(3, min(40.0, 0.8 * nyq), "lowpass", fs=fs, output="sos")
    sos_bp = sps.butter(2, [5.0, min(15.0, 0.8 * nyq)], "bandpass", fs=fs, output="sos")
    min_run = max(int(round(_MIN_RUN_S * fs)), 40)
    shape = leads.shape
    dl, tw, det = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for i, x in enumerate(leads):
        fin = np.isfinite(x)
        if fin.sum() < min_run or float(np.std(x[fin])) < _FLAT_MV:
            continue
        for s, e in true_runs(fin):
            if e - s < min_run:
                continue
            seg = sps.sosfiltfilt(sos_hp, x[s:e])
            dl[i, s:e] = sps.sosfiltfilt(sos_lp, seg)
            # T wave: no high-pass (its slow lobes would bias the T end; the baseline
            # is removed per beat instead) and a Gaussian smoother, whose kernel does
            # not ring, so the QRS does not leak into the PR-segment level.
            tw[i, s:e] = ndimage.gaussian_filter1d(x[s:e], _T_SMOOTH_S * fs, mode="nearest")
            det[i, s:e] = sps.sosfiltfilt(sos_bp, seg)
    return dl, tw, det


def _gradient_rows(x: np.ndarray, fs: float) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for i, row in enumerate(x):
        for s, e in true_runs(np.isfinite(row)):
            if e - s >= 2:
                out[i, s:e] = np.gradient(row[s:e]) * fs
    return out


def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean ignoring NaN (NaN where the input is NaN)."""
    fin = np.isfinite(x)
    box = np.ones(max(width, 1))
    tot = np.convolve(np.where(fin, x, 0.0), box, mode="same")
    cnt = np.convolve(fin.astype(float), box, mode="same")
    out = np.divide(tot, cnt, out=np.full(x.size, np.nan), where=cnt > 0)
    out[~fin] = np.nan
    return out


# --------------------------------------------------------------------------- steps


def _detect_beats(det: np.ndarray, mag: np.ndarray, fs: float) -> np.ndarray:
    """R fiducial sample indices."""
    energy = _nanmean_rows(_gradient_rows(det, fs) ** 2)
    env = _moving_mean(energy, int(round(_ENV_WIN_S * fs)))
    filled = np.where(np.isfinite(env), env, 0.0)
    if not np.any(filled > 0):
        return np.empty(0, dtype=int)
    cand, props = sps.find_peaks(filled, distance=max(1, int(round(_REFRACTORY_S * fs))),
                                 height=0.0)
    if cand.size == 0:
        return np.empty(0, dtype=int)
    heights = props["peak_heights"]
    ref = float(np.percentile(heights, 90))
    # No discernible QRS (e.g. pure noise): beats must stand well above the typical energy.
    if not ref > _MIN_PEAK_RATIO * float(np.nanmedian(env)):
        return np.empty(0, dtype=int)
    keep_idx: list[int] = []
    keep_h: list[float] = []
    for c, h in zip(cand, heights, strict=True):
        if h < 0.2 * ref:
            continue
        if keep_idx and (c - keep_idx[-1]) < _T_REJECT_S * fs and h < 0.5 * keep_h[-1]:
            continue
        keep_idx.append(int(c))
        keep_h.append(float(h))
    half = int(round(_R_SEARCH_S * fs))
    peaks = []
    for c in keep_idx:
        lo, hi = max(0, c - half), min(mag.size, c + half + 1)
        seg = mag[lo:hi]
        if np.isfinite(seg).any():
            peaks.append(lo + int(np.nanargmax(seg)))
    return np.unique(np.asarray(peaks, dtype=int))


def _qrs_bounds(r: int, g: np.ndarray, thr_floor: float, fs: float) -> tuple[float, float]:
    """QRS onset and offset sample indices around the R fiducial ``r`` (NaN if not found)."""
    n = g.size
    half = int(round(_QRS_MAX_SLOPE_S * fs))
    local = g[max(0, r - half):min(n, r + half + 1)]
    if not np.isfinite(local).any():
        return float("nan"), float("nan")
    thr = max(_QRS_FRAC * float(np.nanmax(local)), thr_floor)
    quiet = np.isfinite(g) & (g < thr)
    run = max(2, int(round(_QRS_QUIET_S * fs)))
    walk = int(round(_QRS_WALK_S * fs))
    onset = offset = float("nan")
    for i in range(r, max(r - walk, run - 1) - 1, -1):
        if not np.isfinite(g[i]):
            break
        if quiet[i - run + 1:i + 1].all():
            onset = float(i)
            break
    for i in range(r, min(r + walk, n - run) + 1):
        if not np.isfinite(g[i]):
            break
        if quiet[i:i + run].all():
            offset = float(i)
            break
    return onset, offset


def _pr_window(onset: int, fs: float) -> tuple[int, int]:
    """First and last sample of the PR-segment window (30 to 5 ms before QRS onset)."""
    return onset - int(round(0.03 * fs)), onset - int(round(0.005 * fs))


def _t_end(tw: np.ndarray, onset: int, offset: int, r: int, rr_s: float,
           next_onset: float, fs: float) -> float:
    """T-end sample index by the tangent method on the spatial T magnitude (NaN if none).

    The per-lead baseline is the line through the PR-segment levels of this beat
    and of the next one (``next_onset``; a constant level when that is NaN).
    """
    n = tw.shape[1]
    b0, b1 = _pr_window(onset, fs)
    w0 = offset + int(round(0.04 * fs))
    w1 = r + int(round(min(0.7 * rr_s, 0.65) * fs))
    if b0 < 0 or w1 >= n or w1 - w0 < int(round(0.08 * fs)):
        return float("nan")
    rows = [i for i in range(tw.shape[0])
            if np.isfinite(tw[i, b0:w1 + 1]).all()]
    if not rows:
        return float("nan")
    sub = tw[rows]
    base = np.median(sub[:, b0:b1 + 1], axis=1, keepdims=True)
    slope = np.zeros_like(base)
    if np.isfinite(next_onset):
        c0, c1 = _pr_window(int(next_onset), fs)
        if c0 > w1 and c1 < n and np.isfinite(sub[:, b0:c1 + 1]).all():
            base_next = np.median(sub[:, c0:c1 + 1], axis=1, keepdims=True)
            slope = (base_next - base) / (0.5 * (c0 + c1 - b0 - b1))
    t_mid = 0.5 * (b0 + b1)
    m = np.sqrt(np.mean((sub[:, w0:w1 + 1] - base
                         - slope * (np.arange(w0, w1 + 1) - t_mid)) ** 2, axis=0))
    pr = sub[:, b0:b1 + 1] - base - slope * (np.arange(b0, b1 + 1) - t_mid)
    floor = float(np.median(np.sqrt(np.mean(pr ** 2, axis=0))))
    apex = int(np.argmax(m))
    if apex == 0 or apex >= m.size - 2 or m[apex] < max(0.02, 3.0 * floor):
        return float("nan")
    dm = np.gradient(m)
    steep = apex + int(np.argmin(dm[apex:]))
    if not dm[steep] < 0:
        return float("nan")
    end = steep + (floor - m[steep]) / dm[steep]
    if end > steep + int(round(0.3 * fs)):
        return float("nan")
    return float(w0 + end)


# --------------------------------------------------------------------------- public


def delineate(signals: Any, fs: float) -> Intervals:
    """Measure RR / heart rate, QRS duration and QT of a record.

    Parameters
    ----------
    signals : array_like or mapping of str to array_like
        One lead (1-D, mV), several leads as a 2-D array of shape
        (n_samples, n_leads), or a dict of lead name to 1-D array. NaN marks
        unknown samples; leads may have different finite windows.
    fs : float
        Sampling rate in Hz (at least 50 Hz).

    Returns
    -------
    Intervals
        Values in ms (heart rate in bpm); NaN where they cannot be measured.
        See the module notes for the method.

    Raises
    ------
    OptionError
        If `fs` is not a positive number or `signals` has an unusable shape.
    """
    fs = float(fs)
    if not (math.isfinite(fs) and fs > 0):
        raise OptionError(f"sampling rate must be positive, got {fs}")
    leads = _as_matrix(signals)
    if fs < 50.0 or leads.size == 0 or leads.shape[1] < int(_MIN_RUN_S * fs):
        return _nan_intervals()
    dl, tw, det = _filter_leads(leads, fs)
    if not np.isfinite(dl).any():
        return _nan_intervals()
    mag = np.sqrt(_nanmean_rows(dl ** 2))
    r_peaks = _detect_beats(det, mag, fs)
    if r_peaks.size == 0:
        return _nan_intervals()

    # RR on uninterrupted stretches only (a gap may hide a beat).
    finite_mag = np.isfinite(mag)
    rrs = []
    for r0, r1 in zip(r_peaks[:-1], r_peaks[1:], strict=True):
        rr = (r1 - r0) / fs
        if finite_mag[r0:r1 + 1].all() and _REFRACTORY_S <= rr <= 3.0:
            rrs.append(rr)
    rr_mean = float(np.mean(rrs)) if rrs else float("nan")

    g = np.sqrt(_nanmean_rows(_gradient_rows(dl, fs) ** 2))
    g_floor = 2.0 * float(np.nanmedian(g))
    bounds = [_qrs_bounds(int(r), g, g_floor, fs) for r in r_peaks]
    ons, offs, ends = [], [], []
    qrs_list, qt_list = [], []
    for j, r in enumerate(r_peaks):
        on, off = bounds[j]
        end = float("nan")
        if np.isfinite(on) and np.isfinite(off):
            qrs = (off - on) / fs
            if 0.03 <= qrs <= 0.25:
                qrs_list.append(qrs)
            next_on = float("nan")
            if j + 1 < r_peaks.size and finite_mag[r:r_peaks[j + 1] + 1].all():
                rr_local = (r_peaks[j + 1] - r) / fs
                next_on = bounds[j + 1][0]
            else:
                rr_local = rr_mean if np.isfinite(rr_mean) else 1.0
            end = _t_end(tw, int(on), int(off), int(r), rr_local, next_on, fs)
            if np.isfinite(end):
                qt = (end - on) / fs
                if 0.15 <= qt <= 0.8:
                    qt_list.append(qt)
                else:
                    end = float("nan")
        ons.append(on / fs)
        offs.append(off / fs)
        ends.append(end / fs)
    nan = float("nan")
    return Intervals(
        rr_ms=1000.0 * rr_mean,
        hr_bpm=60.0 / rr_mean if np.isfinite(rr_mean) and rr_mean > 0 else nan,
        qrs_ms=1000.0 * float(np.median(qrs_list)) if qrs_list else nan,
        qt_ms=1000.0 * float(np.median(qt_list)) if qt_list else nan,
        n_beats=int(r_peaks.size),
        n_delineated=len(qt_list),
        r_peaks_s=tuple(float(r / fs) for r in r_peaks),
        qrs_on_s=tuple(ons),
        qrs_off_s=tuple(offs),
        t_end_s=tuple(ends),
    )


def compare_intervals(ref: Intervals, rec: Intervals) -> dict[str, float]:
    """Absolute differences ``|rec − ref|`` of the four interval values.

    Returns
    -------
    dict of str to float
        Keys :data:`INTERVAL_KEYS`: ``rr_ms``, ``qrs_ms``, ``qt_ms`` in ms and
        ``hr_bpm`` in bpm; NaN where either side is NaN.
    """
    a, b = ref.summary(), rec.summary()
    return {k: float(abs(b[k] - a[k])) for k in INTERVAL_KEYS}


def _paired(ref: Any, rec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Reference and reconstruction as matching lead matrices (rows = leads)."""
    if isinstance(ref, Mapping):
        names = [k for k in ref]
        ref_m = _as_matrix({k: ref[k] for k in names})
        if isinstance(rec, Mapping):
            rows = [np.asarray(rec[k], dtype=float).ravel() if k in rec
                    else np.full(ref_m.shape[1], np.nan) for k in names]
            rec_m = _as_matrix(dict(enumerate(rows)))
        else:
            rec_m = _as_matrix(rec)
    else:
        ref_m, rec_m = _as_matrix(ref), _as_matrix(rec)
    if rec_m.shape[0] != ref_m.shape[0]:
        raise OptionError(
            f"reference has {ref_m.shape[0]} leads, reconstruction {rec_m.shape[0]}")
    n = ref_m.shape[1]
    out = np.full(ref_m.shape, np.nan)
    m = min(n, rec_m.shape[1])
    out[:, :m] = rec_m[:, :m]
    return ref_m, out


def interval_agreement(ref: Any, rec: Any, fs: float,
                       mask_to_reference: bool = True) -> dict[str, float]:
    """Absolute differences of RR, heart rate, QRS and QT between two signals.

    Parameters
    ----------
    ref, rec : array_like or mapping of str to array_like
        Reference and reconstruction, in the forms :func:`delineate` accepts
        (dicts are matched by lead name; a lead missing from `rec` is NaN).
        Same sampling rate and time origin.
    fs : float
        Sampling rate in Hz.
    mask_to_reference : bool
        If True (default) the reconstruction is set to NaN wherever the
        reference is, so that both are delineated over the same samples.

    Returns
    -------
    dict of str to float
        ``rr_ms``, ``qrs_ms``, ``qt_ms`` (ms) and ``hr_bpm`` (bpm) absolute
        differences; NaN where either side cannot be measured.
    """
    ref_m, rec_m = _paired(ref, rec)
    if mask_to_reference:
        rec_m = np.where(np.isfinite(ref_m), rec_m, np.nan)
    return compare_intervals(delineate(ref_m.T, fs), delineate(rec_m.T, fs))
