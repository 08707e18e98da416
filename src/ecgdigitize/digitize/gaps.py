"""Stage 8a of the digitizer, after the limb leads' filling: short unread stretches bridged.

The tracer leaves a few samples of a lead unread (NaN) where it cannot tell
the trace apart from something else: next to a break between two cells of a
row (the neighbouring segment's pen cap and a separator tick share those
columns, so the assembler drops them), where another row's stroke crosses the
trace, where a speck or a grid line interrupts a faint trace. Such stretches
are short, a pen width or two (10-20 ms at 25 mm/s), and the trace runs on at
the same level on both sides of them.

A stretch of at most `max_gap_s` inside a lead's printed window is bridged:
by linear interpolation between the readings on either side, or, where it
touches the window's start or end, by holding the nearest reading. Longer
stretches, and windows with nothing read, stay NaN. Bridged samples are
marked in ``Result.filled`` like the samples filled from the other limb leads
(:mod:`~.redundancy`), which run first and fill what they can from the
signal itself.
"""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from ..runs import true_runs
from .redundancy import printed_mask
from .result import Result

__all__ = ["DEFAULT_MAX_GAP_S", "MAX_GAP_LIMIT_S", "bridge_gaps", "apply_bridging"]

#: Longest unread stretch bridged by default, in s.
DEFAULT_MAX_GAP_S = 0.04

#: Longest stretch the digitizer's option (``max_gap_ms``, ``--max-gap-ms``) accepts, in s.
MAX_GAP_LIMIT_S = 1.0


def bridge_gaps(signals: np.ndarray, printed: np.ndarray, fs: float,
                max_gap_s: float = DEFAULT_MAX_GAP_S) -> tuple[np.ndarray, np.ndarray]:
    """Bridge short unread stretches inside the printed windows of each lead.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_leads)
        Amplitudes in mV, NaN where unread or not printed.
    printed : ndarray of bool, shape (n_samples, n_leads)
        True where a lead was printed (see :func:`~.redundancy.printed_mask`).
    fs : float
        Sampling rate in Hz.
    max_gap_s : float
        Longest stretch bridged, in s (0 bridges nothing).

    Returns
    -------
    signals : ndarray, shape (n_samples, n_leads)
        A copy with the bridged samples set, in mV.
    bridged : ndarray of bool, shape (n_samples, n_leads)
        True where a sample was bridged.

    Raises
    ------
    OptionError
        If `max_gap_s` is negative or not finite, `fs` is not positive, or the
        shapes differ.
    """
    if not (np.isfinite(max_gap_s) and max_gap_s >= 0):
        raise OptionError(f"the longest gap to bridge must be >= 0 s, got {max_gap_s}")
    if not (np.isfinite(fs) and fs > 0):
        raise OptionError(f"sampling rate must be positive, got {fs}")
    sig = np.array(signals, dtype=float, copy=True)
    if np.shape(printed) != sig.shape:
        raise OptionError(f"printed mask of shape {np.shape(printed)} does not match signals "
                          f"of shape {sig.shape}")
    bridged = np.zeros(sig.shape, bool)
    max_n = int(np.floor(max_gap_s * fs + 1e-9))
    if max_n <= 0:
        return sig, bridged
    for j in range(sig.shape[1]):
        y = sig[:, j]
        for wa, wb in true_runs(printed[:, j]):
            unread = ~np.isfinite(y[wa:wb])
            if not unread.any() or unread.all():
                continue
            for a, b in true_runs(unread):
                if b - a > max_n:
                    continue
                a, b = a + wa, b + wa
                if a > wa and b < wb:
                    y[a:b] = np.interp(np.arange(a, b), [a - 1, b], [y[a - 1], y[b]])
                else:
                    y[a:b] = y[b] if a == wa else y[a - 1]
                bridged[a:b, j] = True
    return sig, bridged


def apply_bridging(result: Result, max_gap_s: float = DEFAULT_MAX_GAP_S) -> int:
    """Apply :func:`bridge_gaps` to a digitized sheet, in place.

    The printed windows come from ``result.traces``. Bridged samples are added
    to ``result.filled`` (created if absent).

    Parameters
    ----------
    result : Result
        Digitized sheet.
    max_gap_s : float
        Longest stretch bridged, in s.

    Returns
    -------
    int
        Number of samples bridged, over all leads.
    """
    n = result.signals.shape[0]
    printed = printed_mask(result.traces, result.lead_names, n, result.fs)
    result.signals, bridged = bridge_gaps(result.signals, printed, result.fs, max_gap_s)
    if result.filled is None or np.shape(result.filled) != bridged.shape:
        result.filled = bridged
    else:
        result.filled = result.filled | bridged
    return int(np.count_nonzero(bridged))
