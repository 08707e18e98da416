"""Stage 6 of the digitizer: choose the sheet's layout and name each lead.

Every candidate layout (the built-in ones and any user-defined ones) is
scored against what was seen on the sheet:

- the number of trace rows (a layout with another row count is penalised by
  :data:`ROW_PENALTY` per row of difference);
- the column breaks of each row: a 3x4 row has breaks at 1/4, 1/2 and 3/4 of
  its width, a 6x2 row at 1/2, a rhythm strip none. Break evidence in [0, 1]
  comes from separator ticks and printed lead names at those positions; the
  cost is the absolute difference from the layout's expectation;
- the printed lead names recognised: each name at the start of a cell of the
  layout that holds that lead earns :data:`NAME_REWARD`, each name that
  contradicts the layout costs :data:`NAME_PENALTY`.

The cheapest layout wins; all costs are reported. Names found at the start
of rhythm strips replace the layout's default rhythm leads. Layouts that
print their segments in the same places with other leads (standard and
Cabrera orders) tie where no name was read; :func:`tied_layouts` lists them,
and the digitizer keeps the one whose limb leads agree with each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..layouts import STANDARD_LAYOUTS, Layout, get_layout

__all__ = ["NameHit", "LayoutMatch", "match_layout", "tied_layouts", "BREAK_FRACTIONS",
           "expected_breaks"]

ROW_PENALTY = 6.0
NAME_REWARD = 1.0
NAME_PENALTY = 1.5
#: Cost difference within which layouts with the same cells count as tied.
TIE_MARGIN = 1.0
#: Fractions of the row width where a column break may be.
BREAK_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75)
#: Small tie-breaker: how common each layout is (lower cost for the common ones).
_PRIOR = {"3x4+1": 0.0, "3x4": 0.02, "6x2": 0.03, "12x1": 0.04, "3x4+3": 0.05, "3x4+2": 0.06,
          "6x2+1": 0.07, "3x4-cabrera": 0.08, "6x2-cabrera": 0.09, "12x1-cabrera": 0.1,
          "3x4-cabrera+1": 0.1, "6x1-limb": 0.12, "6x1-precordial": 0.13, "1x1": 0.0}


@dataclass
class NameHit:
    """A printed lead name assigned to a row.

    Parameters
    ----------
    name : str
        Canonical lead name.
    row : int
        Index of the trace row the name belongs to.
    frac : float
        Horizontal position of the name's left edge as a fraction of the row
        width from the time origin (may be slightly negative).
    confidence : float
        Reader's confidence in [0, 1].
    """

    name: str
    row: int
    frac: float
    confidence: float


@dataclass
class LayoutMatch:
    """The chosen layout and the evidence.

    Parameters
    ----------
    layout : Layout
        Chosen layout (rhythm leads replaced by printed names where read).
    cost : float
        Its matching cost.
    costs : dict of str to float
        Cost of every candidate.
    named_cells : int
        Number of cells whose printed name was read and agrees.
    """

    layout: Layout
    cost: float
    costs: dict[str, float]
    named_cells: int


def expected_breaks(layout: Layout) -> np.ndarray:
    """Expected break indicator (n_rows, len(BREAK_FRACTIONS)) of a layout."""
    out = np.zeros((layout.n_rows, len(BREAK_FRACTIONS)))
    for cell in layout.cells:
        if cell.col == 0:
            continue
        start = cell.col / layout.n_cols
        for j, f in enumerate(BREAK_FRACTIONS):
            if abs(start - f) < 1e-6:
                out[cell.row, j] = 1.0
    return out


def _cell_at(layout: Layout, row: int, frac: float):
    best = None
    for cell in layout.cells:
        if cell.row != row:
            continue
        start = cell.col / layout.n_cols
        if frac >= start - 0.04 and (best is None or cell.col > best.col):
            best = cell
    return best


def _score(layout: Layout, n_rows: int, breaks: np.ndarray, names: Sequence[NameHit]
           ) -> tuple[float, int]:
    cost = ROW_PENALTY * abs(layout.n_rows - n_rows)
    exp = expected_breaks(layout)
    k = min(layout.n_rows, n_rows)
    cost += float(np.abs(breaks[:k] - exp[:k]).sum())
    # Rows of the sheet the layout does not have: their breaks are unexplained.
    cost += float(breaks[k:].sum())
    agreed = 0
    for hit in names:
        if hit.row >= layout.n_rows:
            continue
        cell = _cell_at(layout, hit.row, hit.frac)
        if cell is None:
            continue
        if cell.lead == hit.name or (cell.is_rhythm and cell.col == 0 and hit.frac < 0.1):
            cost -= NAME_REWARD * hit.confidence
            agreed += 1
        else:
            cost += NAME_PENALTY * hit.confidence
    return cost + _PRIOR.get(layout.name, 0.15), agreed


def _candidates(extra: Mapping[str, Layout] | None) -> dict[str, Layout]:
    """The built-in layouts and the user's, by name."""
    table: dict[str, Layout] = dict(STANDARD_LAYOUTS)
    if extra:
        table.update(extra)
    return table


def match_layout(n_rows: int, breaks: np.ndarray, names: Sequence[NameHit],
                 extra: Mapping[str, Layout] | None = None,
                 only: str | None = None) -> LayoutMatch:
    """Choose the layout that best explains the rows, breaks and names seen.

    Parameters
    ----------
    n_rows : int
        Number of trace rows found.
    breaks : ndarray, shape (n_rows, len(BREAK_FRACTIONS))
        Break evidence in [0, 1] per row and break position.
    names : sequence of NameHit
        Printed lead names read on the sheet.
    extra : mapping of str to Layout, optional
        User-defined layouts to consider besides the built-in ones.
    only : str, optional
        Consider only this layout (a user's ``--layout`` choice); its cost is
        still computed and reported.

    Returns
    -------
    LayoutMatch
    """
    table = _candidates(extra)
    if only is not None:
        table = {only: get_layout(only, extra=dict(extra) if extra else None)}
    costs: dict[str, float] = {}
    agreed: dict[str, int] = {}
    for name, lay in table.items():
        costs[name], agreed[name] = _score(lay, n_rows, breaks, names)
    best = min(costs, key=lambda k: costs[k])
    layout = _with_printed_rhythm(table[best], names)
    return LayoutMatch(layout, costs[best], costs, agreed[best])


def tied_layouts(match: LayoutMatch, names: Sequence[NameHit],
                 extra: Mapping[str, Layout] | None = None,
                 margin: float = TIE_MARGIN) -> list[Layout]:
    """Layouts the evidence cannot tell from the chosen one.

    Those whose cost is within `margin` of the chosen layout's and that print
    their segments in the same places (same rows, columns and spans), only
    with other leads in them: a 3x4 sheet and a Cabrera 3x4 sheet without
    printed names look the same. The signals have to settle it (see
    :func:`ecgdigitize.digitize.redundancy.limb_inconsistency`).

    Parameters
    ----------
    match : LayoutMatch
        The result of :func:`match_layout`.
    names : sequence of NameHit
        Printed lead names read on the sheet (for the rhythm leads).
    extra : mapping of str to Layout, optional
        User-defined layouts that took part in the match.
    margin : float
        Largest cost difference to the chosen layout.

    Returns
    -------
    list of Layout
        The tied layouts, cheapest first, the chosen one not included.
    """
    table = _candidates(extra)

    def places(lay: Layout) -> list[tuple[int, int, int]]:
        return sorted((c.row, c.col, c.col_span) for c in lay.cells)

    chosen = match.layout
    out = []
    for name, cost in sorted(match.costs.items(), key=lambda kv: kv[1]):
        lay = table.get(name)
        if (lay is None or name == chosen.name or cost > match.cost + margin
                or places(lay) != places(chosen)):
            continue
        out.append(_with_printed_rhythm(lay, names))
    return out


def _with_printed_rhythm(layout: Layout, names: Sequence[NameHit]) -> Layout:
    """Replace rhythm leads by the names printed at the start of rhythm rows.

    A printed name that is another rhythm strip's default lead (and that strip's
    own name was not read) swaps the two: a 3x4+2 sheet whose second strip is
    labelled II has V1 above it, not a second II.
    """
    rhythm = sorted((c for c in layout.cells if c.is_rhythm), key=lambda c: c.row)
    if not rhythm:
        return layout
    leads = [c.lead for c in rhythm]
    printed = [False] * len(rhythm)
    changed = False
    for i, cell in enumerate(rhythm):
        hits = [h for h in names if h.row == cell.row and h.frac < 0.1]
        if hits:
            best = max(hits, key=lambda h: h.confidence)
            if best.name != leads[i] and not best.name.startswith("-"):
                for j, lead in enumerate(leads):
                    if j != i and lead == best.name and not printed[j]:
                        leads[j] = leads[i]
                leads[i] = best.name
                changed = True
            printed[i] = True
    if not changed or layout.name not in STANDARD_LAYOUTS:
        return layout
    return get_layout(layout.name, leads)
