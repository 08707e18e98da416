"""WFDB reading and writing, PTB-XL index, atomic writes."""

from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgdigitize.errors import OutputError, RecordError
from ecgdigitize.io.atomic import write_text_atomic
from ecgdigitize.io.ptbxl import iter_ptbxl_records, read_ptbxl_index
from ecgdigitize.io.wfdbio import iter_record_paths, read_record, write_record
from ecgdigitize.leads import STANDARD_LEADS


def test_round_trip_keeps_signal_and_nan(tmp_path: Path, record):
    rec = record
    rec.signals[100:120, 3] = np.nan
    path = write_record(rec, tmp_path, comments=["source: test"])
    back = read_record(path)
    assert back.lead_names == list(STANDARD_LEADS)
    assert back.fs == 500.0 and "source: test" in back.comments
    ok = np.isfinite(rec.signals)
    assert np.array_equal(ok, np.isfinite(back.signals))
    assert np.max(np.abs(back.signals[ok] - rec.signals[ok])) < 2e-3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_units_and_names_are_normalised(tmp_path: Path):
    sig = np.stack([np.linspace(0, 1000, 50), np.linspace(0, -500, 50)], axis=1)
    wfdb.wrsamp("uv", fs=250, units=["uV", "uV"], sig_name=["AVR", "v1"], p_signal=sig,
                fmt=["16", "16"], write_dir=str(tmp_path))
    rec = read_record(tmp_path / "uv.hea")
    assert rec.lead_names == ["aVR", "V1"]
    assert np.isclose(rec.signals[-1, 0], 1.0, atol=1e-3)  # 1000 uV -> 1 mV


def test_real_records_read(shared_records: Path):
    for sub in ("cinc2021", "ptb", "chapman"):
        first = next(iter_record_paths(shared_records / sub))
        rec = read_record(first)
        assert set(STANDARD_LEADS) <= set(rec.lead_names)
        assert np.nanmax(np.abs(rec.signals)) < 20  # mV, not uV


def test_missing_and_broken_records(tmp_path: Path):
    with pytest.raises(RecordError, match="no WFDB header"):
        read_record(tmp_path / "nope")
    (tmp_path / "bad.hea").write_text("bad 2 500 100\nbad.dat 16 200 16 0 0 0 0 I\n")
    with pytest.raises(RecordError):
        read_record(tmp_path / "bad")
    with pytest.raises(RecordError):
        list(iter_record_paths(tmp_path / "missing"))


def test_ptbxl_index(tmp_path: Path, record):
    (tmp_path / "records500" / "00000").mkdir(parents=True)
    write_record(record, tmp_path / "records500" / "00000", name="00001_hr")
    (tmp_path / "ptbxl_database.csv").write_text(
        "ecg_id,strat_fold,filename_lr,filename_hr\n"
        "1,3,records100/00000/00001_lr,records500/00000/00001_hr\n"
    )
    entries = read_ptbxl_index(tmp_path)
    assert entries[0].ecg_id == 1 and entries[0].strat_fold == 3
    recs = list(iter_ptbxl_records(tmp_path, folds=[3]))
    assert len(recs) == 1 and recs[0].name == "ptbxl00001"
    assert list(iter_ptbxl_records(tmp_path, folds=[1])) == []
    with pytest.raises(RecordError):
        read_ptbxl_index(tmp_path / "records500")


def test_atomic_write_failure_is_clear(tmp_path: Path):
    target = tmp_path / "file.txt"
    target.mkdir()  # a directory where the file should go: rename fails
    with pytest.raises(OutputError):
        write_text_atomic(target, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os

    from ecgdigitize.io.atomic import write_text_atomic

    target = tmp_path / "out.txt"
    write_text_atomic(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)
