from pathlib import Path

import pytest

from ecgdigitize.errors import LayoutError
from ecgdigitize.layouts import get_layout, layout_names, load_layouts, make_layout
from ecgdigitize.leads import STANDARD_LEADS, normalize_lead_name


def test_standard_layouts_cover_twelve_leads():
    for name in layout_names():
        lay = get_layout(name)
        leads = {c.lead.lstrip("-") for c in lay.cells}
        assert leads <= set(STANDARD_LEADS)
        if name.startswith(("3x4", "6x2", "12x1")):
            assert leads == set(STANDARD_LEADS), name


def test_3x4_windows_are_consecutive():
    lay = get_layout("3x4+1")
    wins = {c.lead: lay.window_s(c, 10.0) for c in lay.cells if not c.is_rhythm}
    assert wins["I"] == (0.0, 2.5)
    assert wins["aVR"] == (2.5, 5.0)
    assert wins["V4"] == (7.5, 10.0)
    rhythm = [c for c in lay.cells if c.is_rhythm]
    assert len(rhythm) == 1 and lay.window_s(rhythm[0], 10.0) == (0.0, 10.0)


def test_rhythm_leads_override():
    lay = get_layout("3x4+2", ["V5", "aVF"])
    assert [c.lead for c in lay.cells if c.is_rhythm] == ["V5", "aVF"]
    with pytest.raises(LayoutError):
        get_layout("3x4+2", ["II"])
    assert get_layout("1x1", ["V2"]).leads == ["V2"]


def test_unknown_layout_is_a_clear_error():
    with pytest.raises(LayoutError, match="unknown layout"):
        get_layout("5x5")


def test_bad_layout_definitions():
    with pytest.raises(LayoutError):
        make_layout("x", [["I", "II"], ["III"]])
    with pytest.raises(LayoutError):
        make_layout("x", [["I", "V7"]])


def test_user_layouts_from_toml_and_yaml(tmp_path: Path):
    toml = tmp_path / "l.toml"
    toml.write_text('[layouts.two]\nrows = [["I", "V1"], ["II", "V2"]]\nrhythm = ["avr"]\n')
    lay = load_layouts(toml)["two"]
    assert lay.n_rows == 3 and lay.n_cols == 2 and lay.cells[-1].lead == "aVR"
    yml = tmp_path / "l.yaml"
    yml.write_text("layouts:\n  one:\n    rows: [[II]]\n")
    assert load_layouts(yml)["one"].leads == ["II"]
    bad = tmp_path / "bad.toml"
    bad.write_text("layouts = 3")
    with pytest.raises(LayoutError):
        load_layouts(bad)
    with pytest.raises(LayoutError):
        load_layouts(tmp_path / "missing.toml")


@pytest.mark.parametrize("raw, canon", [("AVR", "aVR"), ("avl", "aVL"), ("v1", "V1"),
                                        ("-avr", "-aVR"), ("D2", "II"), ("vx", "vx")])
def test_lead_name_normalisation(raw, canon):
    assert normalize_lead_name(raw) == canon
