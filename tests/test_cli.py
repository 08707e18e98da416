"""The command line: main paths and clear errors for bad input."""

import json
from pathlib import Path

import pytest

from ecgdigitize.cli import main


def _err(capsys) -> str:
    return capsys.readouterr().err.strip()


def test_synth_single_sheet_from_simulator(tmp_path: Path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--dpi", "100", "--layout", "6x2",
                 "--seed", "3"]) == 0
    gt = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert gt["layout"] == "6x2" and gt["dpi"] == 100
    assert len(list(tmp_path.glob("*_classes.png"))) == 1


def test_synth_dataset_with_resume(tmp_path: Path, shared_records: Path, capsys):
    args = ["synth", "--records", str(shared_records / "cinc2021"), "--n", "2", "--out",
            str(tmp_path), "--preset", "bw-scan", "--seed", "1", "--workers", "1", "--quiet"]
    assert main(args) == 0
    first = sorted(p.name for p in tmp_path.iterdir())
    assert len([n for n in first if n.endswith(".json")]) == 2
    assert main(args) == 0
    assert "2 already there" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == first


def test_synth_from_record(tmp_path: Path, shared_records: Path):
    rec = shared_records / "ptb" / "s0010_re"
    assert main(["synth", "--record", str(rec), "--out", str(tmp_path), "--dpi", "100"]) == 0
    gt = json.loads((tmp_path / "s0010_re.json").read_text())
    assert gt["record"]["fs_hz"] == 1000.0


@pytest.mark.parametrize("args, message", [
    (["synth", "--out", "X", "--layout", "7x7"], "unknown layout"),
    (["synth", "--out", "X", "--speed", "30"], "paper speed"),
    (["synth", "--out", "X", "--gain", "3"], "gain"),
    (["synth", "--out", "X", "--record", "/nonexistent/rec"], "no WFDB header"),
    (["synth", "--out", "X", "--records", "/nonexistent/dir"], "does not exist"),
    (["synth", "--out", "X", "--layouts-file", "/nonexistent.toml", "--layout", "a"],
     "cannot read layout file"),
])
def test_bad_input_gives_one_line_error(tmp_path: Path, capsys, args, message):
    args = [a.replace("X", str(tmp_path / "o")) for a in args]
    assert main(args) == 2
    err = _err(capsys)
    assert err.startswith("ecgdigitize: error:") and message in err
    assert len(err.splitlines()) == 1


def test_unreadable_header(tmp_path: Path, capsys):
    (tmp_path / "bad.hea").write_text("this is not a header\n")
    assert main(["synth", "--out", str(tmp_path / "o"), "--record", str(tmp_path / "bad")]) == 2
    assert "cannot read WFDB record" in _err(capsys)


def test_invalid_option_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--out", "x", "--n", "0"])
    assert exc.value.code == 2


def test_layouts_lists_every_layout(capsys):
    assert main(["layouts"]) == 0
    out = capsys.readouterr().out
    assert "3x4+1" in out and "12x1-cabrera" in out


def test_simulate_then_synth_from_it(tmp_path: Path):
    assert main(["simulate", "--out", str(tmp_path), "--seed", "2", "--heart-rate", "90"]) == 0
    assert main(["synth", "--record", str(tmp_path / "simulated"), "--out",
                 str(tmp_path / "s"), "--dpi", "100", "--pulse", "right"]) == 0


def test_demo_runs_end_to_end(tmp_path: Path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SNR" in out
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["overall"]["snr_ref_mean_db"] > 10
    assert (tmp_path / "report" / "report.html").stat().st_size > 1000


def test_evaluate_command(tmp_path: Path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert main(["evaluate", "--truth", str(tmp_path / "sheet"), "--pred",
                 str(tmp_path / "digitized"), "--out", str(tmp_path / "r2")]) == 0
    assert (tmp_path / "r2" / "report.md").is_file()


def test_simulator_dataset_in_parallel_is_worker_independent(tmp_path: Path):
    base = ["synth", "--n", "2", "--preset", "clean-scan", "--seed", "4", "--quiet"]
    assert main(base + ["--out", str(tmp_path / "a"), "--workers", "2"]) == 0
    assert main(base + ["--out", str(tmp_path / "b"), "--workers", "1"]) == 0
    a = sorted((tmp_path / "a").glob("*.png"))
    b = sorted((tmp_path / "b").glob("*.png"))
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 6
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
