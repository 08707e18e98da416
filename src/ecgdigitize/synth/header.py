"""Printed header text: fake patient fields, acquisition settings and the
machine's measurement block.

All patient-like values are invented from the random generator; nothing
resembles a real person on purpose.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fake_patient_fields", "settings_line", "measurement_lines"]

_SURNAMES = ("DOE", "ROE", "SMITH", "NGUYEN", "GARCIA", "MULLER", "ROSSI", "KOWALSKI", "TANAKA",
             "OKAFOR", "SILVA", "JOHANSSON", "PETROV", "HASSAN", "DUBOIS", "MARTIN")
_GIVEN = ("JANE", "JOHN", "ALEX", "MARIA", "LI", "SAM", "ANA", "OMAR", "EVA", "KENJI", "ZOE",
          "NOAH", "IRIS", "TOMAS", "LENA", "ARUN")


def fake_patient_fields(rng: np.random.Generator) -> list[str]:
    """Invented patient and acquisition fields, one string per printed item."""
    year = int(rng.integers(1930, 2005))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    sex = str(rng.choice(["M", "F"]))
    return [
        f"{rng.choice(_SURNAMES)}, {rng.choice(_GIVEN)}",
        f"ID: {int(rng.integers(10**7, 10**8))}",
        f"DOB: {year:04d}-{month:02d}-{day:02d}",
        f"Sex: {sex}",
        f"{int(rng.integers(2001, 2026)):04d}-{int(rng.integers(1, 13)):02d}-"
        f"{int(rng.integers(1, 29)):02d} {int(rng.integers(0, 24)):02d}:"
        f"{int(rng.integers(0, 60)):02d}",
        f"Room {int(rng.integers(1, 40))}{rng.choice(list('ABCD'))}",
    ]


def settings_line(speed_mm_s: float, gain_mm_mv: float, rng: np.random.Generator,
                  powerline_hz: float = 50.0) -> str:
    """The acquisition settings line, e.g. ``25 mm/s  10 mm/mV  0.05-150 Hz  50 Hz``."""
    low = rng.choice(["0.05", "0.15", "0.5"])
    high = rng.choice(["40", "100", "150"])
    return (f"{speed_mm_s:g} mm/s   {gain_mm_mv:g} mm/mV   {low}-{high} Hz   "
            f"{powerline_hz:g} Hz")


def measurement_lines(measurements: dict[str, float] | None, rng: np.random.Generator
                      ) -> list[str]:
    """The machine's measurement block.

    Parameters
    ----------
    measurements : dict, optional
        Measured values: ``rate_bpm``, ``pr_ms``, ``qrs_ms``, ``qt_ms``.
        Missing or non-finite values are drawn at random in normal ranges.
    rng : numpy.random.Generator

    Returns
    -------
    list of str
    """
    m = dict(measurements or {})

    def get(key: str, low: float, high: float) -> float:
        v = m.get(key)
        return float(v) if v is not None and np.isfinite(v) else float(rng.uniform(low, high))

    rate = get("rate_bpm", 55, 95)
    pr = get("pr_ms", 130, 190)
    qrs = get("qrs_ms", 78, 106)
    qt = get("qt_ms", 340, 420)
    qtc = qt / np.sqrt(60.0 / rate)
    axes = rng.integers(-20, 90, size=3)
    return [
        f"Vent. rate {rate:.0f} BPM",
        f"PR interval {pr:.0f} ms",
        f"QRS duration {qrs:.0f} ms",
        f"QT/QTc {qt:.0f}/{qtc:.0f} ms",
        f"P-R-T axes {axes[0]} {axes[1]} {axes[2]}",
    ]
