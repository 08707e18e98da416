"""Per-lead agreement between a reference ECG lead and its digitized reconstruction.

Two signal-to-noise conventions are implemented; every score says which one
produced it. Both compare a reference ``y`` with a reconstruction ``ŷ`` sampled
at the same rate ``fs`` (Hz) on the same time origin (sample ``i`` of both is
time ``i / fs``), amplitudes in mV, and score only the samples where the
reference is finite (the window printed on the sheet).

Reference-paper convention (:func:`snr_reference`)
    Zero-centre both signals over the scored window, count a missing (NaN)
    reconstruction sample as 0 after centring, and shift ``ŷ`` in time by the
    whole number of samples within ±``max_shift_s`` that gives the best SNR.

PhysioNet Challenge 2024 convention (:func:`snr_challenge`)
    Quantise both signals to 256 levels, draw them as binary time × level
    images, take the peak of their 2-D cross-correlation as a time and a
    vertical offset, apply it only when it is small enough, compute the SNR over
    the samples finite in both and multiply it by the fraction of the
    reference that the reconstruction covers.

In both, ``SNR = 10·log10(Σ y² / Σ (y − ŷ)²)`` in dB, capped at
:data:`SNR_CAP_DB` so that a perfect reconstruction gives a finite number that
can be averaged.

Sign conventions
    ``shift_s`` is the delay of the reconstruction: ``ŷ(t) ≈ y(t − shift_s)``,
    so the aligned reconstruction is ``ŷ[i + round(shift_s·fs)]``.
    ``offset_mv`` is the vertical offset removed from the reconstruction
    (``ŷ − y``, in mV).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import signal as sps

from ..errors import OptionError

__all__ = [
    "SNR_CAP_DB",
    "AlignedScore",
    "LeadScore",
    "snr_reference",
    "snr_challenge",
    "pearson",
    "rmse_uv",
    "nan_fraction",
    "score_record",
]

#: Upper bound of every SNR (dB). An exact reconstruction would otherwise score +inf.
SNR_CAP_DB: float = 100.0

# Error energies below this fraction of the signal energy count as "exact" (10^-10 = 100 dB).
_EXACT = 10.0 ** (-SNR_CAP_DB / 10.0)


@dataclass(frozen=True)
class AlignedScore:
    """Scores of one lead after alignment.

    Attributes
    ----------
    snr_db : float
        Signal-to-noise ratio in dB (capped at :data:`SNR_CAP_DB`); NaN when the
        reference has no finite sample or no energy.
    shift_s : float
        Time shift applied, in s (the reconstruction's delay, see the module notes).
    offset_mv : float
        Vertical offset removed from the reconstruction, in mV (NaN if unknown).
    pearson : float
        Pearson correlation over the samples finite in both after alignment
        (NaN with fewer than 2 such samples or a constant signal).
    rmse_uv : float
        Root-mean-square difference in µV over the samples finite in both after
        alignment (NaN if there are none).
    nan_fraction : float
        Fraction of the scored reference samples with no finite aligned
        reconstruction sample (shifted-out samples count as missing).
    n_samples : int
        Number of reference samples scored (finite reference samples).
    """

    snr_db: float
    shift_s: float
    offset_mv: float
    pearson: float
    rmse_uv: float
    nan_fraction: float
    n_samples: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict."""
        return asdict(self)


def _empty_score() -> AlignedScore:
    nan = float("nan")
    return AlignedScore(nan, nan, nan, nan, nan, nan, 0)


@dataclass(frozen=True)
class LeadScore:
    """Both conventions' scores of one lead of one record.

    Attributes
    ----------
    lead : str
        Canonical lead name.
    reference : AlignedScore
        Reference-paper convention.
    challenge : AlignedScore
        PhysioNet Challenge 2024 convention.
    t_start_s, t_end_s : float
        First finite reference sample and one sample past the last one, in s
        (the scored window; NaN when the reference is empty).
    missing : bool
        True if the reconstruction has no such lead (scored as all-NaN).
    """

    lead: str
    reference: AlignedScore
    challenge: AlignedScore
    t_start_s: float
    t_end_s: float
    missing: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain (nested) dict."""
        return {
            "lead": self.lead,
            "reference": self.reference.to_dict(),
            "challenge": self.challenge.to_dict(),
            "t_start_s": self.t_start_s,
            "t_end_s": self.t_end_s,
            "missing": self.missing,
        }


# --------------------------------------------------------------------------- helpers


def _as_1d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise OptionError(f"{name} must be 1-D, got shape {np.shape(x)}")
    return arr


def _check_fs(fs: float) -> float:
    fs = float(fs)
    if not (math.isfinite(fs) and fs > 0):
        raise OptionError(f"sampling rate must be positive, got {fs}")
    return fs


def _take(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Return ``x[start:stop]`` with NaN where the range leaves ``x``."""
    out = np.full(stop - start, np.nan)
    lo, hi = max(start, 0), min(stop, x.size)
    if hi > lo:
        out[lo - start:hi - start] = x[lo:hi]
    return out


def _reference_window(y: np.ndarray) -> tuple[np.ndarray, int, int, int] | None:
    """Finite mask of the reference, its count and the span [a, b) it covers (None if empty)."""
    win = np.isfinite(y)
    n_w = int(win.sum())
    if n_w == 0:
        return None
    idx = np.flatnonzero(win)
    return win, n_w, int(idx[0]), int(idx[-1]) + 1


def _snr_db(signal_energy: float, error_energy: float) -> float:
    if not signal_energy > 0:
        return float("nan")
    if error_energy <= _EXACT * signal_energy:
        return SNR_CAP_DB
    return float(min(SNR_CAP_DB, 10.0 * math.log10(signal_energy / error_energy)))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if not den > 0:
        return float("nan")
    return float(np.clip(np.dot(a, b) / den, -1.0, 1.0))


def _rmse_uv(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return float("nan")
    return float(1000.0 * math.sqrt(float(np.mean((a - b) ** 2))))


def _best_lag(cost: np.ndarray, lags: np.ndarray, scale: float) -> int:
    """Index of the lowest cost; near-ties (FFT round-off) go to the smallest |lag|."""
    best = float(np.min(cost))
    tol = 1e-9 * max(scale, abs(best), 1e-300)
    candidates = np.flatnonzero(cost <= best + tol)
    return int(candidates[np.argmin(np.abs(lags[candidates]))])


# --------------------------------------------------------------------------- reference-paper


def snr_reference(y: Any, yhat: Any, fs: float, max_shift_s: float = 0.1) -> AlignedScore:
    """SNR of a reconstruction, reference-paper convention.

    Only the samples where the reference is finite (the window ``W``) are
    scored. For every integer shift ``k`` with ``|k| ≤ round(max_shift_s·fs)``
    the aligned reconstruction is ``p[i] = ŷ[i + k]`` for ``i`` in ``W``
    (NaN where ``i + k`` falls outside ``ŷ``). Both ``y`` and ``p`` are
    zero-centred by their mean over the finite samples of ``W`` (a missing
    reconstruction has no baseline to remove), then missing ``p`` samples are
    set to 0, and

    ``SNR(k) = 10·log10(Σ_W y_c² / Σ_W (y_c − p_c)²)``.

    The shift with the highest SNR is kept (ties go to the smallest ``|k|``).
    The search evaluates every shift at once with FFT correlations of the
    window's running sums; the kept shift is then rescored exactly.

    Parameters
    ----------
    y : array_like, shape (n,)
        Reference in mV; NaN outside the scored window.
    yhat : array_like, shape (m,)
        Reconstruction in mV on the same time origin and rate; NaN where unknown.
        ``m`` may differ from ``n``.
    fs : float
        Sampling rate of both, in Hz.
    max_shift_s : float
        Largest time shift searched, in s (default 0.1 s = ±100 ms).

    Returns
    -------
    AlignedScore
        ``snr_db`` capped at :data:`SNR_CAP_DB`; an all-NaN reconstruction
        scores 0 dB (``Σ(y − 0)² = Σ y²``) with Pearson and RMSE NaN and
        ``offset_mv`` NaN; an empty, all-NaN or constant reference gives NaN
        SNR. ``offset_mv`` is ``mean(p) − mean(y)`` over the window, the offset
        the centring removed. Pearson, RMSE and NaN fraction are computed on the
        centred, aligned signals (Pearson and RMSE over samples finite in both).

    Raises
    ------
    OptionError
        If `fs` or `max_shift_s` is invalid or an input is not 1-D.
    """
    fs = _check_fs(fs)
    if not (math.isfinite(max_shift_s) and max_shift_s >= 0):
        raise OptionError(f"max_shift_s must be >= 0, got {max_shift_s}")
    y = _as_1d(y, "y")
    yhat = _as_1d(yhat, "yhat")
    window = _reference_window(y)
    if window is None:
        return _empty_score()
    win, n_w, a, b = window
    yw = y[a:b]
    ww = win[a:b].astype(float)
    y_mean = float(np.mean(y[win]))
    y0 = np.where(win[a:b], yw - y_mean, 0.0)
    sig = float(np.dot(y0, y0))
    max_k = int(round(max_shift_s * fs))

    ext = _take(yhat, a - max_k, b + max_k)
    fin = np.isfinite(ext)
    p0 = np.where(fin, ext, 0.0)
    fin_f = fin.astype(float)
    lags = np.arange(-max_k, max_k + 1)
    if max_k > 0 and fin.any():
        # Sums over W of y0·p, y0·f, p², p, f for every lag at once ("valid" correlations).
        stack_p = np.stack([p0, fin_f, p0 * p0, p0, fin_f])
        stack_y = np.stack([y0, y0, ww, ww, ww])[:, ::-1]
        corr = sps.fftconvolve(stack_p, stack_y, mode="valid", axes=1)
        s_yp, s_yf, s_pp, s_p, s_f = corr
        s_f = np.maximum(np.rint(s_f), 0.0)
        mu = np.divide(s_p, s_f, out=np.zeros_like(s_p), where=s_f > 0.5)
        cross = s_yp - mu * s_yf
        power = s_pp - mu * s_p
        err = sig - 2.0 * cross + power
        k = int(lags[_best_lag(err, lags, sig)])
    else:
        k = 0

    p = ext[max_k + k:max_k + k + (b - a)]
    ok = win[a:b] & np.isfinite(p)
    n_ok = int(ok.sum())
    if n_ok:
        p_mean = float(np.mean(p[ok]))
        pc = np.where(ok, p - p_mean, 0.0)
        offset = p_mean - y_mean
    else:
        pc = np.zeros_like(y0)
        offset = float("nan")
    err_k = float(np.sum((y0 - pc)[win[a:b]] ** 2))
    snr = _snr_db(sig, err_k) if n_ok else (0.0 if sig > 0 else float("nan"))
    return AlignedScore(
        snr_db=snr,
        shift_s=k / fs,
        offset_mv=float(offset),
        pearson=_pearson(y0[ok], pc[ok]),
        rmse_uv=_rmse_uv(y0[ok], pc[ok]),
        nan_fraction=1.0 - n_ok / n_w,
        n_samples=n_w,
    )


def pearson(y: Any, yhat: Any, fs: float, max_shift_s: float = 0.1) -> float:
    """Pearson correlation after the reference-paper alignment (see :func:`snr_reference`)."""
    return snr_reference(y, yhat, fs, max_shift_s).pearson


def rmse_uv(y: Any, yhat: Any, fs: float, max_shift_s: float = 0.1) -> float:
    """RMSE in µV of the zero-centred signals after the reference-paper alignment."""
    return snr_reference(y, yhat, fs, max_shift_s).rmse_uv


def nan_fraction(y: Any, yhat: Any, fs: float, max_shift_s: float = 0.1) -> float:
    """Fraction of finite reference samples left without a finite aligned reconstruction."""
    return snr_reference(y, yhat, fs, max_shift_s).nan_fraction


# --------------------------------------------------------------------------- challenge


def _trace_image(q: np.ndarray, levels: int) -> np.ndarray:
    """Binary time × level image of a quantised trace drawn as a connected line.

    Column ``t`` is lit from level ``q[t]`` to level ``q[t+1]`` (just ``q[t]``
    when the next sample is missing); missing samples leave their column dark.
    """
    fin = np.isfinite(q)
    nxt = np.empty_like(q)
    nxt[:-1] = q[1:]
    nxt[-1] = np.nan
    nxt = np.where(np.isfinite(nxt), nxt, q)
    lo = np.where(fin, np.minimum(q, nxt), 1.0)
    hi = np.where(fin, np.maximum(q, nxt), 0.0)
    lv = np.arange(levels, dtype=float)[None, :]
    return ((lv >= lo[:, None]) & (lv <= hi[:, None])).astype(float)


def snr_challenge(y: Any, yhat: Any, fs: float, max_shift_s: float = 0.5,
                  max_offset_mv: float = 1.0, levels: int = 256) -> AlignedScore:
    """SNR of a reconstruction, PhysioNet Challenge 2024 convention (our implementation).

    Exactly what is computed:

    1. The scored window ``W`` is the set of finite reference samples; its span
       is ``[a, b)`` (first to one past the last finite sample). The
       reconstruction is taken over ``[a − K, b + K)`` with
       ``K = round(max_shift_s·fs)`` (NaN beyond its ends), so every shift
       within the bound keeps full overlap.
    2. Both are quantised to `levels` levels over their common range
       ``[lo, hi]`` (min and max of all finite samples of both pieces):
       ``q = round((v − lo) / step)``, ``step = (hi − lo) / (levels − 1)``.
    3. Each is drawn as a binary image, time × level; column ``t`` is lit from
       ``q[t]`` to ``q[t+1]`` (a connected trace as on paper), dark where the
       sample is NaN.
    4. The 2-D cross-correlation of the two images (FFT,
       :func:`scipy.signal.fftconvolve`; entries are whole pixel counts); its
       peak gives a time lag ``k`` (samples) and a level lag ``d``. Ties go to
       the smallest ``|k|``, then the smallest ``|d|``.
    5. The alignment is applied only if ``|k| / fs ≤ max_shift_s`` and
       ``|d·step| ≤ max_offset_mv``; otherwise neither part is applied
       (``shift_s = 0``, ``offset_mv = 0``). Applied means
       ``p[i] = ŷ[i + k] − d·step`` (the vertical offset is therefore a whole
       number of quantisation steps). Signals are *not* zero-centred.
    6. ``SNR = 10·log10(Σ y² / Σ (y − p)²)`` over the samples finite in both
       (capped at :data:`SNR_CAP_DB`), multiplied by ``coverage`` = (number of
       those samples) / (number of finite reference samples). No overlap gives 0.

    Parameters
    ----------
    y : array_like, shape (n,)
        Reference in mV; NaN outside the scored window.
    yhat : array_like, shape (m,)
        Reconstruction in mV on the same time origin and rate; NaN where unknown.
    fs : float
        Sampling rate of both, in Hz.
    max_shift_s : float
        Largest time shift applied, in s (default 0.5).
    max_offset_mv : float
        Largest vertical offset applied, in mV (default 1.0).
    levels : int
        Number of quantisation levels (default 256).

    Returns
    -------
    AlignedScore
        ``snr_db`` as in step 6 (an all-NaN reconstruction scores 0); Pearson and
        RMSE over the samples finite in both after this alignment (not
        zero-centred, so RMSE includes any remaining offset); ``nan_fraction``
        = 1 − coverage. An empty or all-NaN reference gives NaN scores.

    Raises
    ------
    OptionError
        If `fs`, `max_shift_s`, `max_offset_mv` or `levels` is invalid.
    """
    fs = _check_fs(fs)
    if not (math.isfinite(max_shift_s) and max_shift_s >= 0):
        raise OptionError(f"max_shift_s must be >= 0, got {max_shift_s}")
    if not (math.isfinite(max_offset_mv) and max_offset_mv >= 0):
        raise OptionError(f"max_offset_mv must be >= 0, got {max_offset_mv}")
    if int(levels) < 2:
        raise OptionError(f"levels must be >= 2, got {levels}")
    levels = int(levels)
    y = _as_1d(y, "y")
    yhat = _as_1d(yhat, "yhat")
    window = _reference_window(y)
    if window is None:
        return _empty_score()
    win, n_w, a, b = window
    max_k = int(round(max_shift_s * fs))
    yw = y[a:b]
    ext = _take(yhat, a - max_k, b + max_k)
    fin_p = np.isfinite(ext)
    k, d_mv = 0, 0.0
    if fin_p.any():
        lo = min(float(np.min(yw[win[a:b]])), float(np.min(ext[fin_p])))
        hi = max(float(np.max(yw[win[a:b]])), float(np.max(ext[fin_p])))
        step = (hi - lo) / (levels - 1) if hi > lo else 1.0
        img_y = _trace_image(np.rint((yw - lo) / step), levels)
        img_p = _trace_image(np.rint((ext - lo) / step), levels)
        corr = sps.fftconvolve(img_p, img_y[::-1, ::-1], mode="full")
        # corr[j1, j2]: time lag j1 - (len(yw) - 1) of the extended piece, level lag j2 - (L - 1).
        t_lags = np.arange(corr.shape[0]) - (yw.size - 1) - max_k
        q_lags = np.arange(corr.shape[1]) - (levels - 1)
        # Entries are whole pixel counts up to FFT round-off: the peak's ties are
        # the entries within half a count of the maximum.
        ti, qi = np.nonzero(corr >= np.rint(corr.max()) - 0.5)
        order = np.lexsort((np.abs(q_lags[qi]), np.abs(t_lags[ti])))
        kk, dd = int(t_lags[ti[order[0]]]), int(q_lags[qi[order[0]]])
        if abs(kk) <= max_k and abs(dd) * step <= max_offset_mv + 1e-12:
            k, d_mv = kk, dd * step
    p = ext[max_k + k:max_k + k + (b - a)] - d_mv
    ok = win[a:b] & np.isfinite(p)
    n_ok = int(ok.sum())
    coverage = n_ok / n_w
    ys, ps = yw[ok], p[ok]
    if n_ok:
        snr = _snr_db(float(np.dot(ys, ys)), float(np.sum((ys - ps) ** 2))) * coverage
    else:
        snr = 0.0 if float(np.dot(yw[win[a:b]], yw[win[a:b]])) > 0 else float("nan")
    return AlignedScore(
        snr_db=float(snr),
        shift_s=k / fs,
        offset_mv=float(d_mv),
        pearson=_pearson(ys, ps),
        rmse_uv=_rmse_uv(ys, ps),
        nan_fraction=1.0 - coverage,
        n_samples=n_w,
    )


# --------------------------------------------------------------------------- records


def _window(y: np.ndarray, fs: float) -> tuple[float, float]:
    idx = np.flatnonzero(np.isfinite(y))
    if idx.size == 0:
        return float("nan"), float("nan")
    return float(idx[0] / fs), float((idx[-1] + 1) / fs)


def score_record(ref: Mapping[str, Any], rec: Mapping[str, Any], fs: float, *,
                 max_shift_s: float = 0.1, challenge_max_shift_s: float = 0.5,
                 challenge_max_offset_mv: float = 1.0,
                 levels: int = 256) -> dict[str, LeadScore]:
    """Score every reference lead of a record with both conventions.

    Parameters
    ----------
    ref : mapping of str to array_like
        Reference leads in mV, NaN outside the printed windows.
    rec : mapping of str to array_like
        Reconstructed leads in mV at the same rate and time origin. A lead
        missing here is scored as an all-NaN reconstruction (not skipped).
    fs : float
        Sampling rate in Hz.
    max_shift_s : float
        Shift bound of the reference-paper convention, s.
    challenge_max_shift_s, challenge_max_offset_mv : float
        Bounds of the Challenge convention (s, mV).
    levels : int
        Quantisation levels of the Challenge convention.

    Returns
    -------
    dict of str to LeadScore
        One entry per reference lead that has at least one finite sample, in
        the order of `ref`.
    """
    fs = _check_fs(fs)
    out: dict[str, LeadScore] = {}
    for name, values in ref.items():
        y = _as_1d(values, f"reference lead {name}")
        if not np.isfinite(y).any():
            continue
        missing = name not in rec
        yhat = np.full(y.size, np.nan) if missing else _as_1d(rec[name], f"lead {name}")
        t0, t1 = _window(y, fs)
        out[name] = LeadScore(
            lead=name,
            reference=snr_reference(y, yhat, fs, max_shift_s),
            challenge=snr_challenge(y, yhat, fs, challenge_max_shift_s,
                                    challenge_max_offset_mv, levels),
            t_start_s=t0,
            t_end_s=t1,
            missing=missing,
        )
    return out
