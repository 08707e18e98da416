"""Read and write ECG records in the WFDB format.

Reading accepts any WFDB record that :func:`wfdb.rdrecord` reads (``.dat``,
MATLAB v4 ``.mat`` signal files, any sampling rate), normalises lead names
(``AVR``/``avr`` → ``aVR``) and converts units (``mV``, ``mv``, ``uV``, ``µV``, ``V``)
to mV.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import OutputError, RecordError
from ..record import EcgRecord

__all__ = ["read_record", "write_record", "iter_record_paths", "UNIT_TO_MV"]

UNIT_TO_MV: dict[str, float] = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "v": 1e3, "volt": 1e3, "volts": 1e3,
    "nu": 1.0, "": 1.0,
}


def _record_base(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() in (".hea", ".dat", ".mat"):
        path = path.with_suffix("")
    return path


def read_record(path: str | Path) -> EcgRecord:
    """Read a WFDB record into an :class:`EcgRecord` in mV.

    Parameters
    ----------
    path : str or Path
        Record path with or without the ``.hea`` extension.

    Returns
    -------
    EcgRecord

    Raises
    ------
    RecordError
        If the header or signal file is missing or unreadable, or a unit is unknown.
    """
    import wfdb

    base = _record_base(path)
    header = base.with_suffix(".hea")
    if not header.is_file():
        raise RecordError(f"no WFDB header {header}")
    try:
        rec = wfdb.rdrecord(str(base))
    except Exception as exc:  # wfdb raises many types for malformed input
        raise RecordError(f"cannot read WFDB record {base}: {exc}") from None
    if rec.p_signal is None or rec.p_signal.size == 0:
        raise RecordError(f"WFDB record {base} holds no signal")
    signals = np.array(rec.p_signal, dtype=float)
    units = rec.units or [""] * signals.shape[1]
    for j, unit in enumerate(units):
        key = (unit or "").strip().lower()
        if key not in UNIT_TO_MV:
            raise RecordError(f"{base}: unknown unit {unit!r} for signal {rec.sig_name[j]!r}")
        signals[:, j] *= UNIT_TO_MV[key]
    return EcgRecord(
        signals=signals,
        fs=float(rec.fs),
        lead_names=list(rec.sig_name),
        name=base.name,
        comments=list(rec.comments or []),
    )


def write_record(record: EcgRecord, out_dir: str | Path, comments: list[str] | None = None,
                 name: str | None = None) -> Path:
    """Write a record as WFDB (``.hea`` + 16-bit ``.dat``, units mV) atomically.

    NaN samples are stored as the WFDB missing value. The files are written
    in a temporary folder and renamed into `out_dir` (data file first, header
    last, so a header never points at a missing data file).

    Returns
    -------
    Path
        Path of the record without extension.

    Raises
    ------
    OutputError
        If the folder cannot be written.
    """
    import wfdb

    out_dir = Path(out_dir)
    name = name or record.name
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir))
    except OSError as exc:
        raise OutputError(f"cannot write to {out_dir}: {exc.strerror}") from None
    try:
        sig = np.asarray(record.signals, dtype=float)
        finite = sig[np.isfinite(sig)]
        peak = float(np.max(np.abs(finite))) if finite.size else 1.0
        # 16-bit with a gain that keeps 1 µV resolution where the range allows.
        adc_gain = float(min(1000.0, 32000.0 / max(peak, 1e-6)))
        wfdb.wrsamp(
            name,
            fs=float(record.fs),
            units=["mV"] * sig.shape[1],
            sig_name=list(record.lead_names),
            p_signal=sig,
            fmt=["16"] * sig.shape[1],
            adc_gain=[adc_gain] * sig.shape[1],
            baseline=[0] * sig.shape[1],
            comments=list(comments or record.comments),
            write_dir=str(tmp_dir),
        )
        (tmp_dir / f"{name}.dat").replace(out_dir / f"{name}.dat")
        (tmp_dir / f"{name}.hea").replace(out_dir / f"{name}.hea")
    except OSError as exc:
        raise OutputError(f"cannot write WFDB record {out_dir / name}: {exc.strerror}") from None
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir / name


def iter_record_paths(folder: str | Path) -> Iterator[Path]:
    """Yield every WFDB record (path without extension) under `folder`, sorted.

    Raises
    ------
    RecordError
        If `folder` is not a directory or holds no ``.hea`` file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordError(f"record folder {folder} does not exist")
    headers = sorted(folder.rglob("*.hea"))
    if not headers:
        raise RecordError(f"no WFDB records (.hea files) under {folder}")
    for h in headers:
        yield h.with_suffix("")
