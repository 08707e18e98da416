"""``ecgdigitize batch --scheduler ADDRESS`` on a real Dask cluster (loopback only).

The same sheets are digitized by the local process pool and by a
``LocalCluster`` of two worker processes; outputs and manifest must agree,
the signals to the last bit.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from ecgdigitize.cli import main

distributed = pytest.importorskip("distributed")

N_SHEETS = 3
#: Manifest columns that depend on the run, not on the page.
RUN_COLUMNS = {"id", "worker", "started_at", "finished_at", "elapsed_s", "timings_json",
               "peak_rss_mb"}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


def _sheets(folder: Path) -> Path:
    from ecgdigitize.simulator import random_params, simulate_ecg
    from ecgdigitize.synth.sheet import SheetSpec, generate_sheet

    folder.mkdir()
    for i in range(N_SHEETS):
        rng = np.random.default_rng(200 + i)
        rec = simulate_ecg(rng, 10.0, 500.0, random_params(rng), name="s")
        spec = SheetSpec()
        spec.render.dpi = 100.0
        spec.render.layout = ("3x4+1", "6x2", "12x1")[i]
        sheet = generate_sheet(rec, spec, rng=rng, seed=i)
        assert cv2.imwrite(str(folder / f"d{i}.png"), sheet.canvas.image[:, :, ::-1])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


def _manifest(out: Path) -> dict[str, dict]:
    db = sqlite3.connect(out / "manifest.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["name"]: {k: r[k] for k in r.keys() if k not in RUN_COLUMNS}
                for r in db.execute("SELECT * FROM pages")}
    finally:
        db.close()


def _json_without_timings(path: Path) -> dict:
    doc = json.loads(path.read_text())
    doc.pop("timings_s")
    return doc


def test_dask_cluster_gives_the_local_results(cluster, tmp_path: Path, capsys):
    inp = _sheets(tmp_path / "in")
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert main(["batch", str(inp), "-o", str(local), "--workers", "2", "--quiet"]) == 2
    assert main(["batch", str(inp), "-o", str(remote), "--quiet",
                 "--scheduler", cluster.scheduler_address]) == 2
    capsys.readouterr()

    m_local, m_dask = _manifest(local), _manifest(remote)
    diff = {(name, k): (row.get(k), m_dask.get(name, {}).get(k))
            for name, row in m_local.items() for k in row
            if row.get(k) != m_dask.get(name, {}).get(k)}
    assert m_local == m_dask, diff
    assert [m_dask[f"d{i}"]["status"] for i in range(N_SHEETS)] == ["done"] * N_SHEETS
    assert m_dask["broken"]["status"] == "failed"
    db = sqlite3.connect(remote / "manifest.sqlite")
    try:
        workers = {r[0] for r in db.execute("SELECT worker FROM pages WHERE status = 'done'")}
    finally:
        db.close()
    assert workers and all(w.rsplit(":", 1)[1].isdigit() for w in workers)

    files = sorted(p.name for p in local.iterdir())
    assert files == sorted(p.name for p in remote.iterdir()), (
        set(files) ^ {p.name for p in remote.iterdir()})
    outputs = [n for n in files if n.startswith("d")]
    assert len(outputs) == 5 * N_SHEETS
    for name in outputs:
        a, b = local / name, remote / name
        if name.endswith(".json"):
            assert _json_without_timings(a) == _json_without_timings(b), name
        else:   # .dat, .hea, .csv, _overlay.png
            assert a.read_bytes() == b.read_bytes(), name
    assert not (remote / ".tmp").exists()

    # Resuming on the cluster skips what is done.
    stamps = {p.name: p.stat().st_mtime_ns for p in remote.iterdir() if p.suffix == ".dat"}
    assert main(["batch", str(inp), "-o", str(remote), "--quiet",
                 "--scheduler", cluster.scheduler_address]) == 2
    assert stamps == {p.name: p.stat().st_mtime_ns for p in remote.iterdir()
                      if p.suffix == ".dat"}
