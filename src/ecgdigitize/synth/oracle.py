"""Read signals back from the ground-truth instance mask (a fidelity check).

If the ground truth is exact, reading each lead's mask column by column and
converting px to mV and s with the sheet's known scale must reproduce the
source signal closely. This "oracle digitizer" is what the rendering-fidelity
benchmark scores; it is not a digitizer of real images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..digitize.stroke import centre_line
from ..errors import OptionError
from ..record import EcgRecord

__all__ = ["read_leads_from_mask", "oracle_record"]


def read_leads_from_mask(instances: np.ndarray, groundtruth: dict[str, Any]
                         ) -> dict[int, np.ndarray]:
    """Recover each printed segment's samples from the instance mask.

    For every column of a segment, the centre line is found from the segment's
    mask pixels with the digitizer's reading rule
    (:func:`ecgdigitize.digitize.stroke.centre_line`: the column's vertical
    extent, and the rows the stroke crosses where it is steep); it is
    converted to mV with the baseline and gain, and the column positions to s
    with the paper speed, then interpolated at the segment's sample times.

    Parameters
    ----------
    instances : ndarray, shape (H, W), uint8
        Lead-instance mask of an unwarped sheet.
    groundtruth : dict
        The sheet's sidecar document.

    Returns
    -------
    dict of int to ndarray
        Instance id to samples in mV at the segment's ``fs_hz`` (NaN where
        the mask has no pixel).

    Raises
    ------
    OptionError
        If the sheet was geometrically warped.
    """
    warp = groundtruth.get("warp", {})
    if warp.get("nonlinear") or not np.allclose(warp.get("homography", np.eye(3)), np.eye(3)):
        raise OptionError("the mask oracle reads only unwarped sheets")
    pxmm = float(groundtruth["px_per_mm"])
    px_per_s = float(groundtruth["speed_mm_s"]) * pxmm
    px_per_mv = float(groundtruth["gain_mm_mv"]) * pxmm
    h, w = instances.shape
    out: dict[int, np.ndarray] = {}
    for lead in groundtruth["leads"]:
        k = int(lead["instance_id"])
        n = len(lead["signal_mv"])
        fs = float(lead["fs_hz"])
        (bx0, by0), (bx1, _) = lead["baseline_px"]
        box = lead["trace_box_px"]
        if box is None or n == 0:
            out[k] = np.full(n, np.nan)
            continue
        x0, y0 = max(int(np.floor(box[0])) - 2, 0), max(int(np.floor(box[1])) - 2, 0)
        x1, y1 = min(int(np.ceil(box[2])) + 3, w), min(int(np.ceil(box[3])) + 3, h)
        sub = instances[y0:y1, x0:x1] == k
        has = sub.any(axis=0)
        rows = np.arange(y0, y1)[:, None]
        top = np.where(sub, rows, np.inf).min(axis=0)
        bottom = np.where(sub, rows, -np.inf).max(axis=0)
        cols = np.arange(x0, x1)[has]
        if cols.size < 2:
            out[k] = np.full(n, np.nan)
            continue
        local = np.flatnonzero(has)
        top_px = np.where(has, top, np.nan) - y0
        bottom_px = np.where(has, bottom, np.nan) - y0
        top_edge, bottom_edge = top_px - 0.5, bottom_px + 0.5
        radius = float(np.percentile((bottom_edge - top_edge)[has], 2)) / 2.0
        ys = centre_line(local, top_px[has].astype(int), bottom_px[has].astype(int), top_edge,
                         bottom_edge, radius)[has] + y0
        # x of the sample at t is x_start + (t - t_start) * px_per_s; the baseline starts
        # at the cell's left edge, which is the position of time col * duration / cols.
        t_cols = (cols - bx0) / px_per_s
        t_cell0 = float(lead["col"]) * float(groundtruth["sheet_duration_s"]) / groundtruth["cols"]
        t = t_cell0 + t_cols
        v = (by0 - ys) / px_per_mv
        t_samples = float(lead["t_start_s"]) + np.arange(n) / fs
        vals = np.interp(t_samples, t, v)
        # Samples more than a pixel beyond the inked columns are unknown.
        one_px_s = 1.0 / px_per_s
        vals[(t_samples < t[0] - one_px_s) | (t_samples > t[-1] + one_px_s)] = np.nan
        out[k] = vals
    return out


def oracle_record(instances: np.ndarray, groundtruth: dict[str, Any]) -> EcgRecord:
    """The whole record as read back from the mask: one column per printed lead.

    Samples of a lead outside its printed windows are NaN; a lead printed in
    several segments (e.g. II in a cell and in the rhythm strip) takes the
    later segment where they overlap. A lead printed inverted (``-aVR`` on a
    Cabrera sheet) is turned back: the record holds ``aVR``.

    Parameters
    ----------
    instances : ndarray, shape (H, W), uint8
        Lead-instance mask of an unwarped sheet.
    groundtruth : dict
        The sheet's sidecar document.

    Returns
    -------
    EcgRecord
        Signals in mV at the record's sampling rate.
    """
    per_segment = read_leads_from_mask(instances, groundtruth)
    rec_info = groundtruth.get("record") or {}
    fs = float(rec_info.get("fs_hz") or groundtruth["leads"][0]["fs_hz"])
    n = int(round(float(rec_info.get("duration_s") or groundtruth["sheet_duration_s"]) * fs))
    leads: dict[str, np.ndarray] = {}
    for seg in groundtruth["leads"]:
        # A Cabrera sheet prints -aVR: its segment holds the printed (negated) samples.
        name = seg["lead"]
        sign = 1.0
        if name.startswith("-"):
            name, sign = name[1:], -1.0
        arr = leads.setdefault(name, np.full(n, np.nan))
        i0 = int(round(float(seg["t_start_s"]) * fs))
        vals = sign * per_segment[int(seg["instance_id"])]
        i1 = min(i0 + vals.size, n)
        arr[i0:i1] = np.where(np.isfinite(vals[: i1 - i0]), vals[: i1 - i0], arr[i0:i1])
    names = list(leads)
    return EcgRecord(np.stack([leads[k] for k in names], axis=1), fs, names,
                     name=str(rec_info.get("name", "oracle")))
