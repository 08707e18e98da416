"""``ecgdigitize batch``: inputs, manifest, resume, names, fault isolation.

Most tests give the runner a stand-in work function (module-level, so that
the spawned workers can import it) that acts on the input's name: ``hang*``
sleeps, ``hog*`` allocates far too much at once, ``creep*`` grows slowly past
the memory limit, ``crash*`` kills its process, ``bug*`` raises a ValueError,
``bad*`` an ImageError; anything else writes two small files.
``test_real_pipeline_manifest_resume_and_retry`` runs the real digitizer.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ecgdigitize.batch import DigitizeOptions, Manifest, expand_inputs, run_batch
from ecgdigitize.batch.plan import hashed_name
from ecgdigitize.batch.runner import LOCK_NAME
from ecgdigitize.batch.worker import TMP_DIRNAME, PageTask, execute
from ecgdigitize.cli import main
from ecgdigitize.errors import BatchError, ImageError, OptionError
from ecgdigitize.progress import Progress

# --------------------------------------------------------------------------- helpers


def fake_work(task: PageTask, folder: Path) -> dict:
    """Stand-in work function (see the module description)."""
    stem = Path(task.input).stem
    if stem.startswith("hang"):
        time.sleep(60)
    elif stem.startswith("hog"):
        np.ones(64 * 2**30, dtype=np.uint8)          # 64 GiB at once: over RLIMIT_AS
    elif stem.startswith("creep"):
        chunks = []
        try:
            for _ in range(200):                      # up to 1.6 GB, 8 MB each 10 ms
                chunks.append(np.ones(8 * 2**20, dtype=np.uint8))
                time.sleep(0.01)
        except MemoryError:
            pass
        time.sleep(60)                                # only the parent's RSS check ends it
    elif stem.startswith("crash"):
        os._exit(3)
    elif stem.startswith("bug"):
        raise ValueError("a bug in the work")
    elif stem.startswith("bad"):
        raise ImageError(f"{task.input}: not a good image")
    (folder / f"{task.name}.json").write_text(json.dumps(
        {"input": task.input, "page": task.page, "fs": task.options.fs}))
    (folder / f"{task.name}.csv").write_text("time_s,I\n0,0\n")
    return {"layout": "3x4", "speed_mm_s": 25.0, "gain_mm_mv": 10.0, "px_per_mm": 4.0,
            "mean_quality": 0.5, "n_warnings": 1, "timings_s": {"load_page": 0.001}}


def _png(path: Path, side: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((side, side, 3), 255, np.uint8))
    return path


def _rows(out: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(out / "manifest.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["name"]: r for r in db.execute("SELECT * FROM pages ORDER BY input, page")}
    finally:
        db.close()


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()
            if p.is_file() and not p.name.startswith(("manifest", "."))}


def _run(inputs, out: Path, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return run_batch([str(i) for i in inputs], out, work=fake_work, **kw)


def _group_members(pgid: int) -> list[str]:
    """Live (not zombie) processes of a process group, from /proc (empty elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(stat.parent.name)
    return found


def _sheet(path: Path, seed: int) -> Path:
    """A small synthetic ECG sheet (100 dpi) as PNG."""
    from ecgdigitize.simulator import random_params, simulate_ecg
    from ecgdigitize.synth.sheet import SheetSpec, generate_sheet

    rng = np.random.default_rng(seed)
    rec = simulate_ecg(rng, 10.0, 500.0, random_params(rng), name="s")
    spec = SheetSpec()
    spec.render.dpi = 100.0
    sheet = generate_sheet(rec, spec, rng=rng, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), sheet.canvas.image[:, :, ::-1])
    return path


# --------------------------------------------------------------------------- inputs


def test_expand_folder_glob_list_dedupe_and_order(tmp_path: Path):
    a = _png(tmp_path / "in" / "b.png")
    b = _png(tmp_path / "in" / "a.JPG")
    c = _png(tmp_path / "in" / "sub" / "c.tif")
    (tmp_path / "in" / "notes.txt").write_text("not a list here\n")
    _png(tmp_path / "in" / ".hidden.png")
    other = _png(tmp_path / "other" / "z.bmp")
    lst = tmp_path / "lists" / "todo.txt"
    lst.parent.mkdir()
    lst.write_text("# scans to do\n\n../other/z.bmp\n  ../in/b.png  \n../in/sub\n")
    assert expand_inputs([tmp_path / "in"]) == [b, a]
    assert expand_inputs([tmp_path / "in"], recursive=True) == [b, a, c]
    assert expand_inputs([str(tmp_path / "in" / "*.png")]) == [a]
    assert expand_inputs([str(tmp_path / "**" / "*.png")], recursive=True) == [a]
    # A list: relative to its folder, comments and blanks ignored; duplicates (another
    # spelling of the same file) once; sorted.
    got = expand_inputs([str(lst), str(tmp_path / "in" / ".." / "in" / "b.png"), "b.png"],
                        cwd=tmp_path / "in")
    assert got == [a, c, other]
    # Files named on their own are kept even if missing (they fail later, with a reason).
    assert expand_inputs([tmp_path / "gone.png"]) == [tmp_path / "gone.png"]
    assert expand_inputs([tmp_path / "in"], exclude=[a]) == [b]
    with pytest.raises(OptionError, match="no input files match"):
        expand_inputs([str(tmp_path / "*.pdf")])
    with pytest.raises(OptionError, match="no input files in folder"):
        (tmp_path / "empty").mkdir()
        expand_inputs([tmp_path / "empty"])
    with pytest.raises(OptionError, match="no input given"):
        expand_inputs([])


# --------------------------------------------------------------------------- real pipeline


def test_real_pipeline_manifest_resume_and_retry(tmp_path: Path, capsys):
    inp, out = tmp_path / "in", tmp_path / "out"
    _sheet(inp / "sheet_a.png", 1)
    _sheet(inp / "sheet_b.png", 2)
    (inp / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _png(inp / "white.png", 300)
    args = ["batch", str(inp), "-o", str(out), "--workers", "2", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("ecgdigitize: error: ") for e in err)
    assert any("corrupt.png" in e for e in err) and any("white.png" in e for e in err)

    rows = _rows(out)
    assert sorted(rows) == ["corrupt", "sheet_a", "sheet_b", "white"]
    for name in ("sheet_a", "sheet_b"):
        r = rows[name]
        assert r["status"] == "done" and r["error"] is None and r["attempts"] == 1
        assert r["layout"] == "3x4+1" and r["speed_mm_s"] == 25.0 and r["gain_mm_mv"] == 10.0
        assert 3.5 < r["px_per_mm"] < 4.4 and 0.5 < r["mean_quality"] <= 1.0
        assert r["n_warnings"] >= 0 and r["elapsed_s"] > 0 and r["peak_rss_mb"] > 50
        timings = json.loads(r["timings_json"])
        assert {"load_page", "separate", "trace", "digitize", "write"} <= set(timings)
        assert r["worker"].rsplit(":", 1)[1].isdigit()
        assert r["started_at"] <= r["finished_at"]
        assert r["input"] == str(inp / f"{name}.png") and r["page"] == 0 and r["n_pages"] == 1
        assert json.loads(r["outputs"]) == [f"{name}{s}" for s in (
            ".csv", ".dat", ".hea", ".json", "_overlay.png")]
    assert rows["corrupt"]["status"] == "failed" and rows["corrupt"]["n_pages"] == 0
    assert "corrupt" in rows["corrupt"]["error"] and "\n" not in rows["corrupt"]["error"]
    assert rows["white"]["status"] == "failed" and "ECG" in rows["white"]["error"]
    assert not (out / TMP_DIRNAME).exists()
    with open(out / "manifest.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [t["name"] for t in table] == ["corrupt", "sheet_a", "sheet_b", "white"]
    assert table[1]["status"] == "done" and table[1]["layout"] == "3x4+1"

    # The same command again: nothing is redone, failures are not retried.
    stamps = _stamps(out)
    assert main(args) == 2
    assert _stamps(out) == stamps
    assert {n: r["attempts"] for n, r in _rows(out).items()} == dict.fromkeys(rows, 1)

    # --retry-failed runs the failed pages again, and only those.
    assert main([*args, "--retry-failed"]) == 2
    assert _stamps(out) == stamps
    again = _rows(out)
    assert again["corrupt"]["attempts"] == 2 and again["white"]["attempts"] == 2
    assert again["sheet_a"]["attempts"] == 1 and again["sheet_a"]["status"] == "done"


# --------------------------------------------------------------------------- stand-in work


def test_resume_skips_done_pages_and_redoes_missing_or_changed(tmp_path: Path):
    files = [_png(tmp_path / "in" / f"p{i}.png") for i in range(3)]
    out = tmp_path / "out"
    s = _run(files, out)
    assert s.exit_status == 0 and s.counts["done"] == 3 and s.n_skipped == 0
    stamps = _stamps(out)
    assert sorted(stamps) == sorted(f"p{i}{e}" for i in range(3) for e in (".csv", ".json"))

    s = _run(files, out)
    assert s.n_skipped == 3 and s.n_run == 0 and _stamps(out) == stamps

    (out / "p1.csv").unlink()                                 # an output went missing
    os.utime(files[2], ns=(1, 1))                             # an input changed
    s = _run(files, out)
    assert s.n_skipped == 1 and s.n_run == 2 and s.exit_status == 0
    now = _stamps(out)
    assert now["p0.json"] == stamps["p0.json"]
    assert now["p1.json"] != stamps["p1.json"] and now["p2.json"] != stamps["p2.json"]
    assert {n: r["attempts"] for n, r in _rows(out).items()} == {"p0": 1, "p1": 2, "p2": 2}

    # Other options: every page is redone with them.
    s = _run(files, out, options=DigitizeOptions(fs=250.0))
    assert s.n_run == 3
    assert json.loads((out / "p0.json").read_text())["fs"] == 250.0


def test_output_name_collisions_are_resolved_and_kept(tmp_path: Path):
    a = _png(tmp_path / "a" / "x.png")
    b = _png(tmp_path / "b" / "x.png")
    c = _png(tmp_path / "c" / "X.jpg")
    d = _png(tmp_path / "d" / "manifest.png")
    e = _png(tmp_path / "e" / "y.png")
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    assert _run([tmp_path / "[a-f]" / "*"], out1).exit_status == 0
    rows = _rows(out1)
    want = {hashed_name("x", str(a)): ("x", a), hashed_name("x", str(b)): ("x", b),
            hashed_name("X", str(c)): ("X", c), hashed_name("manifest", str(d)): ("manifest", d),
            "y": (None, e)}
    assert {n: (r["renamed_from"], Path(r["input"])) for n, r in rows.items()} == want
    assert all((out1 / f"{n}.json").is_file() for n in want)
    # The same inputs given in another order and another way: the same names.
    assert _run([e, d, c, b, a], out2).exit_status == 0
    assert sorted(_rows(out2)) == sorted(want)
    # A later run with a new clashing file keeps the names already given.
    f = _png(tmp_path / "f" / "y.png")
    assert _run([tmp_path / "[a-f]" / "*"], out1).exit_status == 0
    rows = _rows(out1)
    assert rows["y"]["input"] == str(e)
    assert rows[hashed_name("y", str(f))]["renamed_from"] == "y"


def test_pages_of_a_multi_page_file_are_units_of_work(tmp_path: Path):
    from PIL import Image

    frames = [Image.new("RGB", (40, 30), (255, 255, 255)) for _ in range(3)]
    tif = tmp_path / "in" / "scan.tif"
    tif.parent.mkdir()
    frames[0].save(tif, save_all=True, append_images=frames[1:])
    png = _png(tmp_path / "in" / "scan_p002.png")
    out = tmp_path / "out"
    s = _run([tmp_path / "in"], out, workers=2)
    assert s.exit_status == 0 and s.n_pages == 4
    rows = _rows(out)
    clash = hashed_name("scan_p002", str(tif))
    assert {n: (Path(r["input"]).name, r["page"], r["n_pages"]) for n, r in rows.items()} == {
        "scan_p001": ("scan.tif", 0, 3), clash: ("scan.tif", 1, 3),
        "scan_p003": ("scan.tif", 2, 3), hashed_name("scan_p002", str(png)): (png.name, 0, 1)}
    assert json.loads((out / f"{clash}.json").read_text())["page"] == 1


def test_faults_are_isolated_and_recorded(tmp_path: Path):
    names = ["ok1", "hang", "hog", "creep", "crash", "bug", "bad", "ok2", "ok3"]
    files = [_png(tmp_path / "in" / f"{n}.png") for n in names]
    out = tmp_path / "out"
    t0 = time.monotonic()
    s = _run(files, out, workers=2, timeout_s=6.0, max_memory_mb=400.0)
    assert time.monotonic() - t0 < 50
    rows = _rows(out)
    status = {n: rows[n]["status"] for n in names}
    assert status == {"ok1": "done", "hang": "timeout", "hog": "oom", "creep": "oom",
                      "crash": "failed", "bug": "failed", "bad": "failed", "ok2": "done",
                      "ok3": "done"}
    assert "longer than 6 s" in rows["hang"]["error"]
    assert "MemoryError" in rows["hog"]["error"]
    assert "over the limit of 400 MB" in rows["creep"]["error"]
    assert "exit code 3" in rows["crash"]["error"]
    assert rows["bug"]["error"].startswith("ValueError: a bug in the work (test_batch.py:")
    assert rows["bad"]["error"] == f"{files[6]}: not a good image"
    assert s.exit_status == 2 and s.counts == {"pending": 0, "done": 3, "failed": 3,
                                               "timeout": 1, "oom": 2}
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".json") == [
        "ok1.json", "ok2.json", "ok3.json"]
    assert not (out / TMP_DIRNAME).exists()


def test_killed_run_is_finished_and_leftovers_removed(tmp_path: Path):
    files = [_png(tmp_path / "in" / f"p{i}.png") for i in range(2)]
    out = tmp_path / "out"
    assert _run(files, out).exit_status == 0
    stamps = _stamps(out)
    # As a run killed while moving p0's outputs into place leaves it: one file moved, one
    # still in its temporary folder, the row pending with commit_dir set; plus a page
    # half-written by a killed worker.
    tmp = out / TMP_DIRNAME / "p0.host.1.abcdef"
    tmp.mkdir(parents=True)
    os.replace(out / "p0.csv", tmp / "p0.csv")
    junk = out / TMP_DIRNAME / "p1.host.2.123456"
    junk.mkdir()
    (junk / "p1.dat").write_bytes(b"half")
    with Manifest(out / "manifest.sqlite") as m:
        row = next(r for r in m.rows() if r.name == "p0")
        m.apply(update=[(row.id, {"status": "pending", "commit_dir": str(tmp)})])
    s = _run(files, out)
    assert s.n_run == 0 and s.n_skipped == 2 and s.exit_status == 0
    assert _stamps(out) == stamps
    assert not (out / TMP_DIRNAME).exists()
    assert _rows(out)["p0"]["status"] == "done" and _rows(out)["p0"]["commit_dir"] is None


def test_ctrl_c_stops_cleanly(tmp_path: Path):
    for n in ("a_ok", "hang1", "hang2", "z_ok"):
        _png(tmp_path / "in" / f"{n}.png")
    out = tmp_path / "out"
    # Ctrl-C reaches a batch started from a terminal; one started in the background of a
    # non-interactive shell (as `make test &` is) inherits SIGINT ignored, so restore the
    # terminal's default in the batch process.
    code = ("import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from ecgdigitize.batch import run_batch\n"
            "from test_batch import fake_work\n"
            f"s = run_batch([{str(tmp_path / 'in')!r}], {str(out)!r}, work=fake_work, "
            "workers=2, progress=False)\n"
            "sys.exit(s.exit_status)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:   # a_ok done, both workers hanging
            assert proc.poll() is None and time.monotonic() < deadline
            try:   # the manifest may exist before its table does
                rows = _rows(out) if (out / "manifest.sqlite").is_file() else {}
            except sqlite3.OperationalError:
                rows = {}
            if (len(rows) == 4 and rows["a_ok"]["status"] == "done"
                    and rows["hang2"]["attempts"] == 1):
                break
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)   # what Ctrl-C in a terminal does
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    rows = _rows(out)
    assert {n: r["status"] for n, r in rows.items()} == {
        "a_ok": "done", "hang1": "pending", "hang2": "pending", "z_ok": "pending"}
    assert (out / "manifest.csv").read_text().count("\n") == 5
    assert not (out / TMP_DIRNAME).exists()
    deadline = time.monotonic() + 10   # no worker or fork server left behind
    while _group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_members(proc.pid) == []


def test_execute_never_raises_and_cleans_up(tmp_path: Path):
    task = PageTask(7, str(tmp_path / "bad.png"), 0, 1, "bad", str(tmp_path))
    o = execute(fake_work, task)
    assert (o.key, o.status, o.tmp_dir, o.files) == (7, "failed", None, [])
    assert o.error == f"{tmp_path / 'bad.png'}: not a good image"
    assert o.metrics["worker"].endswith(f":{os.getpid()}") and o.metrics["elapsed_s"] >= 0
    assert list((tmp_path / TMP_DIRNAME).iterdir()) == []
    good = execute(fake_work, PageTask(8, str(tmp_path / "g.png"), 0, 1, "g", str(tmp_path)))
    assert good.status == "done" and good.files == ["g.csv", "g.json"]
    assert Path(good.tmp_dir).parent == tmp_path / TMP_DIRNAME
    assert json.loads(good.metrics["timings_json"]) == {"load_page": 0.001}
    assert good.metrics["layout"] == "3x4" and good.metrics["n_warnings"] == 1


def test_busy_output_folder_is_refused(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK_NAME, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BatchError, match="in use by another ecgdigitize batch"):
            _run([_png(tmp_path / "a.png")], out)


def test_cli_options_and_messages(tmp_path: Path, capsys):
    for args, message in ([["--timeout-s", "-1"], "must be a number >= 0"],
                          [["--workers", "0"], "must be at least 1"],
                          [["--format", "xml"], "unknown output format"]):
        with pytest.raises(SystemExit) as exc:
            main(["batch", str(tmp_path), "-o", str(tmp_path / "o"), *args])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "*.png"), "-o", str(tmp_path / "o")]) == 2
    assert "no input files match" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--layout", "7x7"]) == 2
    assert "unknown layout" in capsys.readouterr().err


def test_missing_dask_gives_a_clear_error(tmp_path: Path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(BatchError, match=r"pip install 'ecgdigitize\[distributed\]'"):
        _run([_png(tmp_path / "a.png")], tmp_path / "o", scheduler="tcp://127.0.0.1:1")
    assert _rows(tmp_path / "o")["a"]["status"] == "pending"


def test_progress_rate_leaves_out_skipped_items():
    import io

    buf = io.StringIO()
    bar = Progress(4, "batch", stream=buf, unit="sheets", min_interval_s=0.0)
    bar.skip(2, ok=False)
    assert bar.failed == 2 and bar.rate == 0.0
    bar.update()
    bar.update(ok=False)
    bar.close()
    text = buf.getvalue()
    assert "sheets/s" in text and "4/4" in text and "failed 3" in text
    assert text.endswith("\n") and text.count("\n") == 1
