"""Redundancy of the limb leads: fill gaps from the other leads, flag a lead that disagrees.

The six limb leads have two degrees of freedom (see :mod:`ecgdigitize.leads`)::

    III = II - I,  aVR = -(I + II) / 2,  aVL = I - II / 2,  aVF = II - I / 2

so at any sample where two of them are known, the others follow, and where
three or more are known, they can be checked against each other.

- **Filling.** A limb lead that was printed at a sample (the sample lies in
  the time window of a segment read for it) but could not be read (NaN) is
  filled from the least-squares solution of (I, II) over the other limb
  leads known there, when there are at least two. With ``fill="all"`` a limb
  lead is also reconstructed where it was not printed (e.g. aVR at 0-2.5 s of
  a 3x4 sheet); ``fill="none"`` fills nothing. A sample is filled only where
  the limb leads agree nearby (:data:`FILL_TOLERANCE_MV`): the gaps a tracer
  leaves are often where neighbouring traces cross, and there the other leads
  may be wrong too. A filled stretch is shifted so that it joins the lead's
  own readings at its ends (each digitized segment carries its own small
  baseline offset). Filled samples are marked.
- **Repairing.** Where five or more limb leads are known at the same sample
  (6x2, 12x1 and 6x1 sheets print all six at once), one that a tracer misread
  (a neighbouring row's wave taken for its own) disagrees with the others,
  which still agree among themselves. Every pair of those leads fixes (I, II)
  and so predicts the rest; the pair whose prediction most leads match
  (within :data:`REPAIR_TOLERANCE_MV` plus :data:`REPAIR_TOLERANCE_REL` of
  the predicted value) is the consensus, refitted by least squares on the
  leads that match it. Where at least four leads match it and no other
  prediction is matched by as many (a different set of) leads, a lead that
  does not match is replaced by the consensus (plus its segment's median).
  Repaired samples are marked like filled ones. With four leads or fewer the majority is too
  thin to tell which lead is wrong, and nothing is repaired.
- **Checking.** Where three or more limb leads are known at the same samples,
  each lead is compared with the least-squares fit of the others
  (leave-one-out); the root mean square of that residual, in mV, is the lead's
  residual. Constant offsets per segment are removed before comparing (each
  segment's median, then the median of the residual within each stretch
  where the same segments are printed). A lead is *flagged* when its residual
  is large (:data:`RESIDUAL_MIN_MV`, :data:`RESIDUAL_REL`) over enough
  samples (:data:`MIN_OVERLAP_S`) and the disagreement can be pinned on it:
  leaving it out must explain most of the inconsistency while leaving out
  any other lead does not. With only three leads at a time (a 3x4 sheet
  shows I, II, III together and aVR, aVL, aVF together) every lead's
  residual is the same, so a disagreement there cannot be pinned on one lead:
  those leads are reported as *unresolved*. A flagged lead's samples are
  never changed, and it is not used to fill the others.

Everything here works on plain arrays: signals ``(n_samples, n_leads)`` in
mV, their lead names and a boolean *printed* mask of the same shape
(:func:`printed_mask` builds it from the segments of a
:class:`~ecgdigitize.digitize.result.Result`). :func:`apply_redundancy`
applies the whole step to a ``Result``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import OptionError
from ..leads import normalize_lead_name
from ..runs import true_runs
from .result import LeadTrace, Result

__all__ = [
    "FILL_MODES",
    "LIMB_COEFFICIENTS",
    "RESIDUAL_MIN_MV",
    "RESIDUAL_REL",
    "MIN_OVERLAP_S",
    "FLAGGED_QUALITY_FACTOR",
    "FILL_TOLERANCE_MV",
    "REPAIR_MIN_LEADS",
    "REPAIR_TOLERANCE_MV",
    "REPAIR_TOLERANCE_REL",
    "LimbRedundancy",
    "limb_redundancy",
    "limb_inconsistency",
    "printed_mask",
    "apply_redundancy",
]

#: Values of the `fill` option: ``gaps`` (printed but unread samples), ``all``
#: (every sample where two other limb leads are known), ``none``.
FILL_MODES: tuple[str, ...] = ("gaps", "all", "none")

#: Each limb lead as a combination of (I, II).
LIMB_COEFFICIENTS: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}

#: Smallest RMS residual, in mV, that flags a lead (whatever its own amplitude).
RESIDUAL_MIN_MV = 0.15

#: A lead is flagged only if its RMS residual also exceeds this fraction of its own
#: RMS (after removing each segment's median) over the samples compared.
RESIDUAL_REL = 0.35

#: Least time, in s, over which a lead must be compared with the others to be judged.
MIN_OVERLAP_S = 0.5

#: A flagged lead's quality is multiplied by this factor.
FLAGGED_QUALITY_FACTOR = 0.5

#: Leaving out the flagged lead must leave at most this fraction of the inconsistency
#: that leaving out any other lead leaves.
_ATTRIBUTION_RATIO = 0.25

#: Readings of a lead next to a filled stretch used to join it, in s.
_EDGE_S = 0.04

#: Largest RMS disagreement of the limb leads around a sample, in mV, for it to be filled.
FILL_TOLERANCE_MV = 0.1

#: Least number of limb leads known at a sample for the consensus of the others to repair one.
REPAIR_MIN_LEADS = 5

#: A lead matches the consensus within this many mV plus :data:`REPAIR_TOLERANCE_REL` of
#: the consensus value (steep QRS slopes carry small timing differences between rows).
REPAIR_TOLERANCE_MV = 0.1

#: Relative part of the repair tolerance.
REPAIR_TOLERANCE_REL = 0.2

#: Half-width of the neighbourhood over which that disagreement is measured, in s.
_LOCAL_S = 0.1

#: Stretches of constant segments shorter than this (in s) are left out of the check.
_MIN_BLOCK_S = 0.1


@dataclass
class LimbRedundancy:
    """What the limb-lead redundancy found and did.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_leads)
        The input signals in mV with the filled and repaired samples set (a copy).
    filled : ndarray of bool, shape (n_samples, n_leads)
        True where a sample was reconstructed from the other limb leads
        (filled or repaired).
    repaired : ndarray of bool, shape (n_samples, n_leads)
        True where a sample that was read was replaced by the consensus of
        the other limb leads (a subset of `filled`).
    residual_mv : dict of str to float
        Per limb lead present: RMS of its leave-one-out residual in mV over
        the samples where it and at least two other limb leads are known
        (NaN where there are no such samples). Leads already flagged are left
        out of the fit of the others.
    compared_s : dict of str to float
        Per limb lead present: time over which the residual was measured, in s.
    threshold_mv : dict of str to float
        Per limb lead present: residual above which the lead is inconsistent, in mV.
    flagged : list of str
        Leads that disagree with the others, the disagreement pinned on them.
    unresolved : list of str
        Leads whose residual is over their threshold but the disagreement
        cannot be pinned on one lead (e.g. only three leads at a time).
    """

    signals: np.ndarray
    filled: np.ndarray
    repaired: np.ndarray | None = None
    residual_mv: dict[str, float] = field(default_factory=dict)
    compared_s: dict[str, float] = field(default_factory=dict)
    threshold_mv: dict[str, float] = field(default_factory=dict)
    flagged: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    def warnings(self, lead_names: Sequence[str] | None = None) -> list[str]:
        """One line per flagged lead, one for the unresolved leads and, given the
        signals' `lead_names`, one for the leads of which more than 1 % of the known
        samples were repaired."""
        out = [f"lead {name} disagrees with the other limb leads (residual "
               f"{self.residual_mv[name]:.2f} mV over {self.compared_s[name]:.1f} s): its "
               "quality is lowered" for name in self.flagged]
        if lead_names is not None and self.repaired is not None and self.repaired.any():
            known = np.maximum(np.isfinite(self.signals).sum(axis=0), 1)
            frac = self.repaired.sum(axis=0) / known
            parts = [f"{name} {100 * f:.1f} %" for name, f in zip(lead_names, frac, strict=True)
                     if f > 0.01]
            if parts:
                out.append("limb-lead samples that disagreed with the other limb leads were "
                           f"replaced by their consensus: {', '.join(parts)}")
        if self.unresolved:
            worst = max(self.residual_mv[n] for n in self.unresolved)
            out.append(f"limb leads {', '.join(self.unresolved)} disagree (residual up to "
                       f"{worst:.2f} mV); which of them is wrong cannot be told")
        return out


# --------------------------------------------------------------------------- helpers


def _solve(values: np.ndarray, use: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Least-squares (I, II) at each sample from the leads marked in `use`.

    Parameters
    ----------
    values : ndarray, shape (n, m)
        Limb-lead values in mV (anything where `use` is False).
    use : ndarray of bool, shape (n, m)
        Which leads take part at each sample.
    coef : ndarray, shape (m, 2)
        Each lead as a combination of (I, II).

    Returns
    -------
    ndarray, shape (n, 2)
        (I, II) in mV; NaN where fewer than two leads take part.
    """
    n, m = use.shape
    theta = np.full((n, 2), np.nan)
    codes = use.astype(np.int64) @ (1 << np.arange(m, dtype=np.int64))
    for code in np.unique(codes):
        cols = np.flatnonzero((int(code) >> np.arange(m)) & 1)
        if cols.size < 2:
            continue
        rows = codes == code
        pinv = np.linalg.pinv(coef[cols])
        theta[rows] = values[np.ix_(rows, cols)] @ pinv.T
    return theta


def _consensus(xn: np.ndarray, use: np.ndarray, coef: np.ndarray, tol_mv: float,
               tol_rel: float) -> np.ndarray:
    """Leads that match the consensus of the limb leads at each sample.

    Every pair of leads in `use` with independent coefficients fixes (I, II)
    and predicts the other leads; the pair whose prediction most leads match
    (within ``tol_mv + tol_rel * |prediction|``; ties to the smaller sum of
    squared residuals) gives the consensus. It must be unambiguous: where
    another pair's prediction is matched by as many leads, but not the same
    ones (two leads cut short alike, with a small lead that fits both
    readings), there is no consensus.

    Parameters
    ----------
    xn : ndarray, shape (n, m)
        Limb-lead values in mV with each segment's median taken off.
    use : ndarray of bool, shape (n, m)
        Leads that vote at each sample.
    coef : ndarray, shape (m, 2)
        Each lead as a combination of (I, II).
    tol_mv, tol_rel : float
        Tolerance in mV and relative to the predicted value.

    Returns
    -------
    ndarray of bool, shape (n, m)
        True where a voting lead matches the consensus (False everywhere in
        a row without one).
    """
    n, m = use.shape
    best = np.zeros((n, m), dtype=bool)
    best_count = np.full(n, -1)
    best_sse = np.full(n, np.inf)
    votes: list[tuple[np.ndarray, np.ndarray]] = []     # (count, set of leads) per pair
    bits = 1 << np.arange(m)
    vals = np.where(use, xn, 0.0)
    for a in range(m):
        for b in range(a + 1, m):
            pair = coef[[a, b]]
            if abs(np.linalg.det(pair)) < 1e-9:
                continue
            both = use[:, a] & use[:, b]
            pred = (vals[:, [a, b]] @ np.linalg.inv(pair).T) @ coef.T
            err = np.abs(vals - pred)
            match = use & (err <= tol_mv + tol_rel * np.abs(pred)) & both[:, None]
            count = match.sum(axis=1)
            sse = np.where(match, err ** 2, 0.0).sum(axis=1)
            better = both & ((count > best_count) | ((count == best_count) & (sse < best_sse)))
            best[better] = match[better]
            best_count[better] = count[better]
            best_sse[better] = sse[better]
            votes.append((np.where(both, count, -1), match @ bits))
    chosen = best @ bits
    rival = np.full(n, -1)
    for count, leads in votes:
        rival = np.where((leads != chosen) & (count > rival), count, rival)
    best[rival >= best_count] = False
    return best


def _segment_ids(present: np.ndarray) -> np.ndarray:
    """Run number of each sample per column (-1 outside the runs)."""
    ids = np.full(present.shape, -1, dtype=np.int64)
    for j in range(present.shape[1]):
        for k, (a, b) in enumerate(true_runs(present[:, j])):
            ids[a:b, j] = k
    return ids


def _blocks(present: np.ndarray) -> np.ndarray:
    """Block id of each sample: samples share one where the same segments are present."""
    _, ids = np.unique(_segment_ids(present), axis=0, return_inverse=True)
    return ids.reshape(-1)


def _centre_segments(x: np.ndarray, present: np.ndarray) -> np.ndarray:
    """A copy of `x` with the median of each run of `present` (per column) taken off."""
    out = x.copy()
    for j in range(x.shape[1]):
        for a, b in true_runs(present[:, j]):
            v = out[a:b, j]
            if np.isfinite(v).any():
                out[a:b, j] = v - np.nanmedian(v)
    return out


def _remove_block_medians(r: np.ndarray, blocks: np.ndarray, min_block: int,
                          use: np.ndarray | None = None) -> np.ndarray:
    """Subtract the median of `r` within each block; NaN in blocks that are too short.

    With `use` (n, m) the blocks are split further by the set of leads taking
    part at each sample: the offsets left in a residual are constant only
    where both the segments and the least-squares weights are.
    """
    out = np.full_like(r, np.nan)
    ok = np.isfinite(r)
    if use is not None:
        codes = use.astype(np.int64) @ (1 << np.arange(use.shape[1], dtype=np.int64))
        blocks = blocks.astype(np.int64) * (1 << use.shape[1]) + codes
    for b in np.unique(blocks[ok]):
        idx = ok & (blocks == b)
        if idx.sum() >= min_block:
            out[idx] = r[idx] - np.median(r[idx])
    return out


def _loo_residuals(x: np.ndarray, known: np.ndarray, coef: np.ndarray, blocks: np.ndarray,
                   min_block: int) -> np.ndarray:
    """Leave-one-out residual of each lead (NaN where fewer than two others are known)."""
    res = np.full(x.shape, np.nan)
    for k in range(x.shape[1]):
        others = known.copy()
        others[:, k] = False
        valid = known[:, k] & (others.sum(axis=1) >= 2)
        if not valid.any():
            continue
        theta = _solve(x, others & valid[:, None], coef)
        r = np.where(valid, x[:, k] - theta @ coef[k], np.nan)
        res[:, k] = _remove_block_medians(r, blocks, min_block, known)
    return res


def _inconsistency(x: np.ndarray, known: np.ndarray, coef: np.ndarray, blocks: np.ndarray,
                   min_block: int) -> float:
    """Sum of squared residuals (mV^2) of the least-squares fit where >= 3 leads are known."""
    valid = known.sum(axis=1) >= 3
    if not valid.any():
        return 0.0
    use = known & valid[:, None]
    theta = _solve(x, use, coef)
    total = 0.0
    for j in range(x.shape[1]):
        r = np.where(use[:, j], x[:, j] - theta @ coef[j], np.nan)
        r = _remove_block_medians(r, blocks, min_block, use)
        total += float(np.nansum(r ** 2))
    return total


def _local_inconsistency(res: np.ndarray, half: int) -> np.ndarray:
    """RMS of the residuals of all leads within ``half`` samples of each sample, in mV.

    NaN where no residual is known nearby.
    """
    n = res.shape[0]
    sq = np.concatenate([[0.0], np.cumsum((np.where(np.isfinite(res), res, 0.0) ** 2).sum(1))])
    cnt = np.concatenate([[0.0], np.cumsum(np.isfinite(res).sum(axis=1))])
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    s, c = sq[hi] - sq[lo], cnt[hi] - cnt[lo]
    return np.sqrt(np.divide(s, c, out=np.full(n, np.nan), where=c > 0.5))


def _edge_offset(x_k: np.ndarray, fit_k: np.ndarray, idx: np.ndarray) -> float | None:
    """Median of (reading - fit) over the edge samples `idx` where both are finite."""
    d = x_k[idx] - fit_k[idx]
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else None


# --------------------------------------------------------------------------- API


def limb_redundancy(signals: np.ndarray, lead_names: Sequence[str], printed: np.ndarray,
                    fs: float, *, fill: str = "gaps", check: bool = True,
                    repair: bool = True,
                    residual_min_mv: float = RESIDUAL_MIN_MV,
                    residual_rel: float = RESIDUAL_REL,
                    min_overlap_s: float = MIN_OVERLAP_S,
                    fill_tolerance_mv: float = FILL_TOLERANCE_MV,
                    repair_tolerance_mv: float = REPAIR_TOLERANCE_MV,
                    repair_tolerance_rel: float = REPAIR_TOLERANCE_REL) -> LimbRedundancy:
    """Fill limb-lead gaps from the other limb leads, repair and flag leads that disagree.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_leads)
        Amplitudes in mV, NaN where unknown. Not modified.
    lead_names : sequence of str
        Lead name of each column (``-aVR`` counts as aVR with its sign
        already undone, i.e. the column holds aVR). Columns that are not limb
        leads are passed through untouched.
    printed : ndarray of bool, shape (n_samples, n_leads)
        True where a lead was printed on the sheet (inside the time window of
        a segment read for it). Runs of True are taken as segments, each with
        its own constant offset.
    fs : float
        Sampling rate in Hz.
    fill : {"gaps", "all", "none"}
        ``gaps``: fill printed samples that could not be read; ``all``: also
        reconstruct limb leads where they were not printed; ``none``: fill
        nothing (the check still runs).
    check : bool
        Compare the leads with each other and flag those that disagree.
    repair : bool
        Replace the samples of a lead that disagrees with the consensus of
        the others where at least :data:`REPAIR_MIN_LEADS` limb leads are
        known and four of them agree (flagged leads neither vote nor are
        repaired).
    residual_min_mv : float
        Smallest RMS residual that flags a lead, in mV.
    residual_rel : float
        The residual must also exceed this fraction of the lead's own RMS.
    min_overlap_s : float
        Least time over which a lead is compared with the others to be judged, in s.
    fill_tolerance_mv : float
        A sample is filled only if the limb leads agree within this RMS
        residual, in mV, within 0.1 s of it (where they can be compared
        there); ``inf`` fills regardless.
    repair_tolerance_mv, repair_tolerance_rel : float
        A lead matches the consensus within ``repair_tolerance_mv`` plus
        ``repair_tolerance_rel`` times the consensus value, in mV.

    Returns
    -------
    LimbRedundancy
        Filled and repaired signals (a copy), the masks of reconstructed
        samples, per-lead residuals in mV, flagged and unresolved leads.

    Raises
    ------
    OptionError
        If `fill` is not one of :data:`FILL_MODES`, `fs` is not positive, or
        the shapes of `signals`, `lead_names` and `printed` disagree.
    """
    if fill not in FILL_MODES:
        raise OptionError(f"redundancy fill must be one of {', '.join(FILL_MODES)}, got {fill!r}")
    if not (np.isfinite(fs) and fs > 0):
        raise OptionError(f"sampling rate must be positive, got {fs}")
    sig = np.array(signals, dtype=float, copy=True)
    if sig.ndim != 2 or sig.shape[1] != len(lead_names):
        raise OptionError(f"signals of shape {sig.shape} do not match {len(lead_names)} "
                          "lead names")
    printed = np.asarray(printed, dtype=bool)
    if printed.shape != sig.shape:
        raise OptionError(f"printed mask of shape {printed.shape} does not match signals of "
                          f"shape {sig.shape}")
    filled = np.zeros(sig.shape, dtype=bool)
    repaired = np.zeros(sig.shape, dtype=bool)
    out = LimbRedundancy(signals=sig, filled=filled, repaired=repaired)

    canon = [normalize_lead_name(n).lstrip("-") for n in lead_names]
    cols = [j for j, n in enumerate(canon) if n in LIMB_COEFFICIENTS]
    # A lead named twice: only its first column takes part.
    cols = [j for i, j in enumerate(cols) if canon[j] not in [canon[c] for c in cols[:i]]]
    if len(cols) < 2:
        return out
    names = [canon[j] for j in cols]
    coef = np.array([LIMB_COEFFICIENTS[n] for n in names])
    x = sig[:, cols]
    known = np.isfinite(x)
    present = printed[:, cols] | known
    blocks = _blocks(present)
    min_block = max(3, int(round(_MIN_BLOCK_S * fs)))
    min_samples = max(3, int(round(min_overlap_s * fs)))

    # Each segment's median off: the comparisons are blind to constant offsets.
    xn = _centre_segments(x, present)
    trusted = np.ones(len(cols), dtype=bool)
    if check:
        own_rms = {}
        for j in range(len(cols)):
            own_rms[j] = _remove_block_medians(np.where(known[:, j], xn[:, j], np.nan),
                                               blocks, min_block)

        def judge(kn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            res = _loo_residuals(xn, kn, coef, blocks, min_block)
            n_cmp = np.isfinite(res).sum(axis=0)
            rms = np.array([np.sqrt(np.nanmean(res[:, j] ** 2)) if n_cmp[j] else np.nan
                            for j in range(len(cols))])
            thr = np.array([max(residual_min_mv, residual_rel * float(
                np.sqrt(np.nanmean(own_rms[j][np.isfinite(res[:, j])] ** 2))))
                if n_cmp[j] else np.nan for j in range(len(cols))])
            over = (n_cmp >= min_samples) & (rms > thr)
            return rms, thr, n_cmp, over

        for _ in range(len(cols) - 3):
            kn = known & trusted[None, :]
            rms, thr, n_cmp, over = judge(kn)
            if not over.any():
                break
            # Pin the disagreement on the lead whose removal leaves the rest consistent.
            left = np.full(len(cols), np.inf)
            for j in np.flatnonzero(trusted):
                without = kn.copy()
                without[:, j] = False
                left[j] = _inconsistency(xn, without, coef, blocks, min_block)
            order = np.argsort(left)
            best, second = order[0], order[1]
            total = _inconsistency(xn, kn, coef, blocks, min_block)
            if not (over[best] and left[second] > 0.1 * total
                    and left[best] <= _ATTRIBUTION_RATIO * left[second]):
                break
            trusted[best] = False
            out.flagged.append(names[best])
        rms, thr, n_cmp, over = judge(known & trusted[None, :])
        for j, name in enumerate(names):
            if not trusted[j]:
                # A flagged lead: its residual against the trusted leads.
                kn = known & (trusted[None, :] | (np.arange(len(cols)) == j)[None, :])
                r2, t2, n2, _ = judge(kn)
                rms[j], thr[j], n_cmp[j] = r2[j], t2[j], n2[j]
            out.residual_mv[name] = float(rms[j])
            out.threshold_mv[name] = float(thr[j])
            out.compared_s[name] = float(n_cmp[j]) / fs
        out.unresolved = [names[j] for j in range(len(cols)) if trusted[j] and over[j]]

    if repair:
        voters = known & trusted[None, :]
        match = _consensus(xn, voters, coef, repair_tolerance_mv, repair_tolerance_rel)
        agreed = ((voters.sum(axis=1) >= REPAIR_MIN_LEADS)
                  & (match.sum(axis=1) >= REPAIR_MIN_LEADS - 1))
        if agreed.any():
            fit = _solve(xn, match & agreed[:, None], coef) @ coef.T
            offset = x - xn                      # each segment's median
            for k, j_sig in enumerate(cols):
                bad = agreed & voters[:, k] & ~match[:, k]
                sig[bad, j_sig] = fit[bad, k] + offset[bad, k]
                repaired[bad, j_sig] = True
            filled |= repaired
            x = sig[:, cols]
            xn = _centre_segments(x, present)

    if fill == "none":
        return out
    base = known & trusted[None, :]
    edge = max(1, int(round(_EDGE_S * fs)))
    local = _local_inconsistency(_loo_residuals(xn, base, coef, blocks, min_block),
                                 max(1, int(round(_LOCAL_S * fs))))
    for k, j_sig in enumerate(cols):
        others = base.copy()
        others[:, k] = False
        n_others = others.sum(axis=1)
        target = ~known[:, k] & (n_others >= 2)
        if fill == "gaps":
            target &= printed[:, j_sig]
        # Where the leads disagree nearby, the reconstruction is no better than a guess.
        target &= ~(local > fill_tolerance_mv)
        if not target.any():
            continue
        theta = _solve(x, others & (n_others >= 2)[:, None], coef)
        fit = theta @ coef[k]
        for a, b in true_runs(target):
            left = right = None
            if a > 0 and known[a - 1, k]:
                lo = a - 1
                while lo > 0 and known[lo - 1, k] and a - lo < edge:
                    lo -= 1
                left = _edge_offset(x[:, k], fit, np.arange(lo, a))
            if b < len(fit) and known[b, k]:
                hi = b + 1
                while hi < len(fit) and known[hi, k] and hi - b < edge:
                    hi += 1
                right = _edge_offset(x[:, k], fit, np.arange(b, hi))
            if left is not None and right is not None:
                shift = np.interp(np.arange(a, b), [a - 1, b], [left, right])
            else:
                shift = left if left is not None else (right if right is not None else 0.0)
            sig[a:b, j_sig] = fit[a:b] + shift
            filled[a:b, j_sig] = True
    return out


def limb_inconsistency(signals: Mapping[str, np.ndarray], fs: float,
                       min_overlap_s: float = MIN_OVERLAP_S) -> float:
    """How far the limb leads of one reading disagree, relative to their size.

    Over the samples where three or more limb leads are known at once, the sum
    of squared residuals of their least-squares (I, II) fit, divided by the sum
    of their squares (each stretch of a lead with its median removed). About
    0.01-0.05 for limb leads read under their right names; about 0.1-1 where
    the names are wrong (a Cabrera sheet read as a standard one: ``aVL, I,
    -aVR`` taken for ``I, II, III``). Used to choose among layouts that differ
    only in the order of their leads when no printed name settles it.

    Parameters
    ----------
    signals : mapping of str to ndarray, shape (n_samples,)
        Amplitudes in mV by lead name (``aVR`` with any Cabrera sign undone),
        NaN where the lead was not printed or not read; other leads are ignored.
    fs : float
        Sampling rate in Hz.
    min_overlap_s : float
        Least time, in s, with three limb leads known at once.

    Returns
    -------
    float
        The relative inconsistency in [0, 1]; NaN where three limb leads are
        known together for less than `min_overlap_s`.
    """
    names = [n for n in LIMB_COEFFICIENTS if n in signals]
    if len(names) < 3:
        return float("nan")
    x = np.column_stack([np.asarray(signals[n], float) for n in names])
    known = np.isfinite(x)
    valid = known.sum(axis=1) >= 3
    if valid.sum() < max(3, int(round(min_overlap_s * fs))):
        return float("nan")
    x = _centre_segments(x, known)
    coef = np.array([LIMB_COEFFICIENTS[n] for n in names])
    min_block = max(3, int(round(_MIN_BLOCK_S * fs)))
    ssr = _inconsistency(x, known, coef, _blocks(known), min_block)
    energy = float(np.sum(np.where(known & valid[:, None], x, 0.0) ** 2))
    return ssr / energy if energy > 0 else float("nan")


def printed_mask(traces: Sequence[LeadTrace], lead_names: Sequence[str], n_samples: int,
                 fs: float) -> np.ndarray:
    """Where each lead was printed, from the time windows of the segments read.

    Parameters
    ----------
    traces : sequence of LeadTrace
        Segments read (their ``t_start_s``/``t_end_s`` in s; ``-aVR`` marks aVR).
    lead_names : sequence of str
        Lead name of each column.
    n_samples : int
        Samples per lead.
    fs : float
        Sampling rate in Hz (sample ``i`` is at ``i / fs`` s).

    Returns
    -------
    ndarray of bool, shape (n_samples, len(lead_names))
        True where sample ``i`` lies in ``[t_start_s, t_end_s)`` of a segment of that lead.
    """
    canon = [normalize_lead_name(n).lstrip("-") for n in lead_names]
    mask = np.zeros((int(n_samples), len(canon)), dtype=bool)
    t = np.arange(int(n_samples)) / float(fs)
    for tr in traces:
        name = normalize_lead_name(tr.lead).lstrip("-")
        if name not in canon:
            continue
        win = (t >= tr.t_start_s - 1e-9) & (t < tr.t_end_s - 1e-9)
        mask[:, canon.index(name)] |= win
    return mask


def apply_redundancy(result: Result, fill: str = "gaps",
                     repair: bool | None = None) -> LimbRedundancy:
    """Apply :func:`limb_redundancy` to a digitized sheet, in place.

    Leads are repaired unless `repair` is False or, by default, `fill` is
    ``none`` (then they are only checked).
    Sets ``result.signals`` (filled and repaired samples), ``result.filled``,
    ``result.flagged_leads`` and ``result.limb_residual_mv``, lowers the
    quality of flagged leads by :data:`FLAGGED_QUALITY_FACTOR` and adds a
    warning per flagged lead (and one for unresolved ones).

    Parameters
    ----------
    result : Result
        Digitized sheet (its ``traces`` give the printed windows).
    fill : {"gaps", "all", "none"}
        See :func:`limb_redundancy`.
    repair : bool, optional
        Repair leads that disagree with the others' consensus (default: unless
        `fill` is ``none``).

    Returns
    -------
    LimbRedundancy

    Raises
    ------
    OptionError
        If `fill` is not one of :data:`FILL_MODES`.
    """
    n = result.signals.shape[0]
    printed = printed_mask(result.traces, result.lead_names, n, result.fs)
    red = limb_redundancy(result.signals, result.lead_names, printed, result.fs, fill=fill,
                          repair=(fill != "none") if repair is None else repair)
    result.signals = red.signals
    result.filled = red.filled
    result.flagged_leads = list(red.flagged)
    result.limb_residual_mv = {k: v for k, v in red.residual_mv.items() if np.isfinite(v)}
    for name in red.flagged:
        if name in result.quality:
            result.quality[name] = result.quality[name] * FLAGGED_QUALITY_FACTOR
    result.warnings.extend(red.warnings(result.lead_names))
    return red

