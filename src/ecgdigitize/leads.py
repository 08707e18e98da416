"""Standard lead names, name normalisation and the limb-lead relations.

The six limb leads are linear combinations of two of them (Einthoven and
Goldberger)::

    III = II - I
    aVR = -(I + II) / 2
    aVL = I - II / 2
    aVF = II - I / 2
"""

from __future__ import annotations

import numpy as np

from .errors import RecordError

__all__ = [
    "STANDARD_LEADS",
    "LIMB_LEADS",
    "PRECORDIAL_LEADS",
    "normalize_lead_name",
    "limb_leads_from_i_ii",
    "lead_signal",
]

STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)
LIMB_LEADS: tuple[str, ...] = STANDARD_LEADS[:6]
PRECORDIAL_LEADS: tuple[str, ...] = STANDARD_LEADS[6:]

_CANONICAL = {name.upper(): name for name in STANDARD_LEADS}
_ALIASES = {
    "D1": "I", "D2": "II", "D3": "III", "DI": "I", "DII": "II", "DIII": "III",
    "LEAD I": "I", "LEAD II": "II", "LEAD III": "III",
    "1": "I", "2": "II", "3": "III",
}


def normalize_lead_name(name: str) -> str:
    """Return the canonical spelling of a lead name.

    ``AVR``, ``avr`` and ``aVR`` all become ``aVR``; ``v1`` becomes ``V1``;
    ``-avr`` becomes ``-aVR`` (the inverted lead of the Cabrera display).
    Names that are not standard leads are returned stripped but otherwise
    unchanged (e.g. the Frank leads ``vx``).

    Parameters
    ----------
    name : str
        Lead name as found in a header or printed on a sheet.

    Returns
    -------
    str
        Canonical lead name.
    """
    raw = name.strip()
    sign = ""
    if raw.startswith(("-", "\u2212")):
        sign, raw = "-", raw[1:].strip()
    key = raw.upper()
    key = _ALIASES.get(key, key)
    canonical = _CANONICAL.get(key.upper(), raw)
    return sign + canonical


def limb_leads_from_i_ii(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """Derive the six limb leads from leads I and II.

    Parameters
    ----------
    lead_i, lead_ii : ndarray
        Leads I and II in mV, same shape.

    Returns
    -------
    dict of str to ndarray
        ``I, II, III, aVR, aVL, aVF`` in mV.
    """
    lead_i = np.asarray(lead_i, dtype=float)
    lead_ii = np.asarray(lead_ii, dtype=float)
    return {
        "I": lead_i,
        "II": lead_ii,
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2.0,
        "aVL": lead_i - lead_ii / 2.0,
        "aVF": lead_ii - lead_i / 2.0,
    }


def lead_signal(signals: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Return the signal of a lead, allowing an inverted lead such as ``-aVR``.

    Parameters
    ----------
    signals : dict of str to ndarray
        Signals in mV keyed by canonical lead name.
    name : str
        Lead name, optionally prefixed with ``-``.

    Returns
    -------
    ndarray
        The signal in mV (negated for an inverted lead).

    Raises
    ------
    RecordError
        If the lead is not available.
    """
    canonical = normalize_lead_name(name)
    sign = 1.0
    if canonical.startswith("-"):
        sign, canonical = -1.0, canonical[1:]
    if canonical not in signals:
        raise RecordError(f"lead {name!r} is not in the record (has {sorted(signals)})")
    return sign * np.asarray(signals[canonical], dtype=float)
