"""Runs of True in a boolean vector (finite stretches of a signal, filled gaps, windows)."""

from __future__ import annotations

import numpy as np

__all__ = ["true_runs"]


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges ``[start, stop)`` of the runs of True in a 1-D mask.

    Parameters
    ----------
    mask : ndarray, shape (n,)
        Boolean (or 0/1) vector.

    Returns
    -------
    list of (int, int)
        In order of position.
    """
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
