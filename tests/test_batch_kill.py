"""``ecgdigitize batch`` killed with SIGKILL (parent and workers) mid-run, then resumed.

A real ``python -m ecgdigitize batch`` on small synthetic sheets, run in its
own process group, is killed with SIGKILL once the manifest shows pages done;
the same command then runs to the end. Every page must then have exactly
its five output files, each complete, and nothing else may be left.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import wfdb

from ecgdigitize.leads import STANDARD_LEADS

N_SHEETS = 8
SUFFIXES = (".csv", ".dat", ".hea", ".json", "_overlay.png")
KEEP = {"manifest.sqlite", "manifest.csv", ".batch.lock"}

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


@pytest.fixture(scope="module")
def sheets(tmp_path_factory) -> Path:
    from ecgdigitize.simulator import random_params, simulate_ecg
    from ecgdigitize.synth.sheet import SheetSpec, generate_sheet

    folder = tmp_path_factory.mktemp("sheets")
    for i in range(N_SHEETS):
        rng = np.random.default_rng(100 + i)
        rec = simulate_ecg(rng, 10.0, 500.0, random_params(rng), name="s")
        spec = SheetSpec()
        spec.render.dpi = 100.0
        spec.render.layout = ("3x4+1", "6x2", "12x1", "3x4")[i % 4]
        sheet = generate_sheet(rec, spec, rng=rng, seed=i)
        assert cv2.imwrite(str(folder / f"sheet{i}.png"), sheet.canvas.image[:, :, ::-1])
    return folder


def _command(inp: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "ecgdigitize", "batch", str(inp), "-o", str(out),
            "--workers", "2", "--quiet"]


def _n_done(manifest: Path) -> int:
    if not manifest.is_file():
        return 0
    try:
        db = sqlite3.connect(f"file:{manifest}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM pages WHERE status = 'done'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:   # not created yet
        return 0


def _check_file(path: Path) -> None:
    """Raise if `path`, an output file, is not complete."""
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        assert set(doc["leads"]) == set(STANDARD_LEADS)
    elif path.suffix == ".png":
        img = cv2.imread(str(path))
        assert img is not None and img.ndim == 3
    elif path.suffix == ".csv":
        lines = path.read_text().splitlines()
        assert lines[0].startswith("time_s,") and len(lines) > 1000
        assert all(line.count(",") == 12 for line in lines)
    elif path.suffix in (".hea", ".dat"):
        if path.with_suffix(".hea").is_file() and path.with_suffix(".dat").is_file():
            rec = wfdb.rdrecord(str(path.with_suffix("")))
            assert rec.p_signal.shape[1] == 12 and rec.p_signal.shape[0] > 1000
        else:   # only one of the pair moved in yet (killed mid-way): the header at least reads
            if path.suffix == ".hea":
                wfdb.rdheader(str(path.with_suffix("")))
            else:
                size = path.stat().st_size
                assert size > 0 and size % (12 * 2) == 0
    else:
        raise AssertionError(f"unexpected file {path.name}")


def _kill_then_resume(inp: Path, out: Path, after_done: int) -> None:
    manifest = out / "manifest.sqlite"
    proc = subprocess.Popen(_command(inp, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _n_done(manifest) < after_done:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no page done in time"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert _n_done(manifest) < N_SHEETS, "killed too late to test anything"
    # Whatever is in place right after the kill is complete, file by file.
    for path in out.iterdir():
        if path.is_file() and path.name not in KEEP and not path.name.startswith("manifest"):
            _check_file(path)

    done = subprocess.run(_command(inp, out), capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()


def _check_complete(out: Path) -> None:
    db = sqlite3.connect(out / "manifest.sqlite")
    try:
        rows = db.execute("SELECT name, status, outputs, commit_dir FROM pages").fetchall()
    finally:
        db.close()
    assert len(rows) == N_SHEETS
    assert {r[0] for r in rows} == {f"sheet{i}" for i in range(N_SHEETS)}
    assert all(r[1] == "done" and r[3] is None for r in rows)
    expected = {f"{r[0]}{s}" for r in rows for s in SUFFIXES}
    assert all(set(json.loads(r[2])) == {f"{r[0]}{s}" for s in SUFFIXES} for r in rows)
    present = {p.name for p in out.iterdir()}
    assert present == expected | KEEP, sorted(present ^ (expected | KEEP))
    for name in expected:
        _check_file(out / name)


def _cycle(sheets: Path, out: Path, after_done: int) -> None:
    _kill_then_resume(sheets, out, after_done)
    _check_complete(out)


def test_sigkill_mid_run_then_resume(sheets: Path, tmp_path: Path):
    # Two cycles, run side by side (each in its own output folder) to save time: a batch
    # spends its first seconds starting up on one core.
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_cycle, sheets, tmp_path / f"out{k}", after_done)
                   for k, after_done in enumerate((1, 3))]
        for f in futures:
            f.result()
