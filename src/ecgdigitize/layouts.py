"""Sheet layouts: which lead is printed where, and for which time window.

A layout is a grid of ``n_rows`` x ``n_cols`` cells plus optional rhythm
strips that span the whole width. The sheet shows ``T`` seconds across its
width (e.g. 10 s at 25 mm/s); column ``c`` of an ``n_cols`` layout shows the
window ``[c T / n_cols, (c + 1) T / n_cols)`` of the record, and a rhythm
strip shows ``[0, T)``.

Layouts can be added from a TOML or YAML file::

    [layouts.my-2x6]
    rows = [["I", "V1"], ["II", "V2"], ["III", "V3"],
            ["aVR", "V4"], ["aVL", "V5"], ["aVF", "V6"]]
    rhythm = ["II"]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomllib

from .errors import LayoutError
from .leads import STANDARD_LEADS, normalize_lead_name

__all__ = [
    "LeadCell",
    "Layout",
    "STANDARD_LAYOUTS",
    "get_layout",
    "make_layout",
    "load_layouts",
    "layout_names",
]


@dataclass(frozen=True)
class LeadCell:
    """One printed lead segment of a layout.

    Parameters
    ----------
    lead : str
        Canonical lead name; ``-aVR`` denotes the inverted lead.
    row : int
        Row index from the top, 0-based (rhythm strips come after the grid rows).
    col : int
        First column index, 0-based.
    col_span : int
        Number of columns covered (``n_cols`` for a rhythm strip).
    """

    lead: str
    row: int
    col: int
    col_span: int = 1

    @property
    def is_rhythm(self) -> bool:
        """True for a segment spanning more than one column."""
        return self.col_span > 1


@dataclass(frozen=True)
class Layout:
    """A sheet layout.

    Parameters
    ----------
    name : str
        Layout identifier.
    n_rows : int
        Number of printed rows, rhythm strips included.
    n_cols : int
        Number of time columns.
    cells : tuple of LeadCell
        The printed segments.
    """

    name: str
    n_rows: int
    n_cols: int
    cells: tuple[LeadCell, ...]

    def window_s(self, cell: LeadCell, sheet_duration_s: float) -> tuple[float, float]:
        """Time window of the record shown by `cell`.

        Parameters
        ----------
        cell : LeadCell
            A cell of this layout.
        sheet_duration_s : float
            Time shown across the full width of the sheet, in s.

        Returns
        -------
        (float, float)
            Start and end time in s.
        """
        step = sheet_duration_s / self.n_cols
        return cell.col * step, (cell.col + cell.col_span) * step

    @property
    def leads(self) -> list[str]:
        """Lead names in reading order (row by row)."""
        return [c.lead for c in sorted(self.cells, key=lambda c: (c.row, c.col))]

    def normalized_positions(self) -> list[tuple[str, float, float]]:
        """Label anchor of each cell in [0, 1]^2 (x: start of the cell, y: row centre).

        Used by layout matching: a detected label position is compared to these.
        """
        out = []
        for c in self.cells:
            x = c.col / self.n_cols
            y = (c.row + 0.5) / self.n_rows
            out.append((c.lead, x, y))
        return out


def make_layout(
    name: str, rows: Sequence[Sequence[str]], rhythm: Sequence[str] = ()
) -> Layout:
    """Build a layout from rows of lead names and a list of rhythm leads.

    Parameters
    ----------
    name : str
        Layout name.
    rows : sequence of sequence of str
        Each inner sequence lists the leads of one row, left to right; every
        row must have the same number of columns.
    rhythm : sequence of str
        Leads printed as full-width rhythm strips below the rows.

    Returns
    -------
    Layout

    Raises
    ------
    LayoutError
        If rows are empty or ragged or a lead name is not a standard lead.
    """
    rows = [list(r) for r in rows]
    if not rows and not rhythm:
        raise LayoutError(f"layout {name!r} has no rows")
    n_cols = len(rows[0]) if rows else 1
    if any(len(r) != n_cols for r in rows) or n_cols == 0:
        raise LayoutError(f"layout {name!r}: every row must have the same, non-zero length")
    cells: list[LeadCell] = []

    def check(lead: str) -> str:
        canonical = normalize_lead_name(str(lead))
        if canonical.lstrip("-") not in STANDARD_LEADS:
            raise LayoutError(f"layout {name!r}: {lead!r} is not a standard lead name")
        return canonical

    for i, row in enumerate(rows):
        for j, lead in enumerate(row):
            cells.append(LeadCell(check(lead), i, j, 1))
    for k, lead in enumerate(rhythm):
        cells.append(LeadCell(check(lead), len(rows) + k, 0, n_cols))
    if n_cols == 1:
        cells = [LeadCell(c.lead, c.row, 0, 1) for c in cells]
    return Layout(name, len(rows) + len(rhythm), n_cols, tuple(cells))


_ROWS_3X4 = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]]
_ROWS_3X4_CABRERA = [["aVL", "II", "V1", "V4"], ["I", "aVF", "V2", "V5"],
                     ["-aVR", "III", "V3", "V6"]]
_ROWS_6X2 = [["I", "V1"], ["II", "V2"], ["III", "V3"], ["aVR", "V4"], ["aVL", "V5"], ["aVF", "V6"]]
_ROWS_6X2_CABRERA = [["aVL", "V1"], ["I", "V2"], ["-aVR", "V3"], ["II", "V4"], ["aVF", "V5"],
                     ["III", "V6"]]
_DEFAULT_RHYTHM = {1: ["II"], 2: ["II", "V1"], 3: ["V1", "II", "V5"]}


def _standard_layouts() -> dict[str, Layout]:
    lay = {
        "3x4": make_layout("3x4", _ROWS_3X4),
        "6x2": make_layout("6x2", _ROWS_6X2),
        "6x2+1": make_layout("6x2+1", _ROWS_6X2, ["II"]),
        "12x1": make_layout("12x1", [[n] for n in STANDARD_LEADS]),
        "3x4-cabrera": make_layout("3x4-cabrera", _ROWS_3X4_CABRERA),
        "3x4-cabrera+1": make_layout("3x4-cabrera+1", _ROWS_3X4_CABRERA, ["II"]),
        "6x2-cabrera": make_layout("6x2-cabrera", _ROWS_6X2_CABRERA),
        "12x1-cabrera": make_layout(
            "12x1-cabrera",
            [[n] for n in ["aVL", "I", "-aVR", "II", "aVF", "III", "V1", "V2", "V3", "V4", "V5",
                           "V6"]],
        ),
        "6x1-limb": make_layout("6x1-limb", [[n] for n in STANDARD_LEADS[:6]]),
        "6x1-precordial": make_layout("6x1-precordial", [[n] for n in STANDARD_LEADS[6:]]),
        "1x1": make_layout("1x1", [["II"]]),
    }
    for k, rhythm in _DEFAULT_RHYTHM.items():
        lay[f"3x4+{k}"] = make_layout(f"3x4+{k}", _ROWS_3X4, rhythm)
    return lay


STANDARD_LAYOUTS: dict[str, Layout] = _standard_layouts()


def layout_names() -> list[str]:
    """Names of the built-in layouts."""
    return sorted(STANDARD_LAYOUTS)


def get_layout(
    name: str,
    rhythm_leads: Iterable[str] | None = None,
    extra: dict[str, Layout] | None = None,
) -> Layout:
    """Look up a layout by name, optionally replacing its rhythm leads.

    Parameters
    ----------
    name : str
        A built-in layout name (see :func:`layout_names`) or one in `extra`.
    rhythm_leads : iterable of str, optional
        Leads for the rhythm strips; their number must match the layout's
        (``3x4+2`` takes two). For ``1x1`` it names the single lead.
    extra : dict, optional
        User layouts, e.g. from :func:`load_layouts`.

    Raises
    ------
    LayoutError
        If the name is unknown or the rhythm leads do not fit the layout.
    """
    table = dict(STANDARD_LAYOUTS)
    if extra:
        table.update(extra)
    if name not in table:
        raise LayoutError(f"unknown layout {name!r}; known layouts: {', '.join(sorted(table))}")
    layout = table[name]
    if rhythm_leads is None:
        return layout
    rhythm_leads = list(rhythm_leads)
    if name == "1x1":
        if len(rhythm_leads) != 1:
            raise LayoutError("layout '1x1' takes exactly one lead")
        return make_layout("1x1", [[rhythm_leads[0]]])
    grid_cells = [c for c in layout.cells if not c.is_rhythm]
    n_rhythm = len(layout.cells) - len(grid_cells)
    if len(rhythm_leads) != n_rhythm:
        raise LayoutError(
            f"layout {name!r} has {n_rhythm} rhythm strip(s), got {len(rhythm_leads)} lead(s)"
        )
    n_grid_rows = layout.n_rows - n_rhythm
    rows = [[""] * layout.n_cols for _ in range(n_grid_rows)]
    for c in grid_cells:
        rows[c.row][c.col] = c.lead
    return make_layout(name, rows, rhythm_leads)


def load_layouts(path: str | Path) -> dict[str, Layout]:
    """Read user-defined layouts from a TOML or YAML file.

    The file holds a table ``layouts`` whose keys are layout names and whose
    values have ``rows`` (list of lists of lead names) and optionally
    ``rhythm`` (list of lead names).

    Raises
    ------
    LayoutError
        If the file cannot be read or a layout is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LayoutError(f"cannot read layout file {path}: {exc.strerror}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise LayoutError(
                "reading YAML layout files needs PyYAML: pip install 'ecgdigitize[yaml]'"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LayoutError(f"{path}: invalid YAML: {exc}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LayoutError(f"{path}: invalid TOML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("layouts"), dict):
        raise LayoutError(f"{path}: expected a table 'layouts' of named layouts")
    out: dict[str, Layout] = {}
    for name, spec in data["layouts"].items():
        if not isinstance(spec, dict) or "rows" not in spec:
            raise LayoutError(f"{path}: layout {name!r} needs 'rows'")
        out[str(name)] = make_layout(str(name), spec["rows"], spec.get("rhythm", []))
    return out
