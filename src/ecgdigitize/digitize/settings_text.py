"""Read the printed paper speed and gain (``25 mm/s``, ``10 mm/mV``) of an ECG sheet.

ECG machines print their acquisition settings as text, e.g.
``25 mm/s  10 mm/mV  0.5-40 Hz  50 Hz`` or ``Speed: 25mm/s  Gain: 10.0 mm/mV``.
No OCR engine is used; the shape classifier and template bank of
:mod:`ecgdigitize.digitize.labels` (whole printable alphabet, many fonts)
read the characters.

Method
------
1. **Characters.** Connected components of the ink mask of text size (cap
   height about 1.5-7 mm) are grouped into words and split into characters
   with the lead-name reader's helpers; large components (traces) are
   ignored. Words are chained into text lines (gaps up to a few character
   heights, shared rows).
2. **Units.** The unit is the anchor: two equal characters of x-height
   sitting on one baseline (``mm``), a slash, then ``s`` / ``sec`` (speed) or
   ``mV`` (gain). A slash is looked for first by shape alone.
3. **Number.** The characters just left of the unit that sit on its
   baseline and have digit height (or are dots) are the number. Their
   height gives the line's cap height, with which every character of the
   candidate is scored by shape, relative height and vertical position;
   the probability of the reading is the product over its characters.
4. **Values.** Only standard values are accepted (speed 25 or 50 mm/s, gain
   5, 10 or 20 mm/mV, with an optional ``.0``); anything else, or two
   confident readings that disagree, gives None. A wrong confident value is
   worse than none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from . import labels as _lab

__all__ = ["PrintedSettings", "read_printed_settings"]

SPEEDS_MM_S: tuple[float, ...] = (25.0, 50.0)
GAINS_MM_MV: tuple[float, ...] = (5.0, 10.0, 20.0)

_MIN_CAP_MM, _MAX_CAP_MM = 1.5, 7.0   # cap height of printed text, mm
_LINE_GAP = 3.0        # largest gap between words of a text line, in character heights
_NUMBER_GAP = 2.0      # largest gap between the number and its unit, in cap heights
_DIGIT_GAP = 0.8       # largest gap between the characters of a number, in cap heights
_MIN_SPLIT_ASPECT = 0.8  # characters at least this many heights wide may be split
_WELL_READ = 0.9       # characters matching a coarse template this well are not split
_CUT_OPTIONS = 1       # cut columns tried per character
_COARSE_CORR = 0.85    # templates this close to a kept one are left out of the coarse bank
_SPLIT_GAIN = 0.02     # least gain in template correlation of a split
_JOIN_INK = 0.35       # most ink (in heights) of a column where touching letters are split
_BASE_TOL = 0.2        # baseline tolerance, in x-heights
_MIN_LINE_CHARS = 3    # text lines with fewer characters (before splitting) are skipped
_SLASH_RANK = 3        # a slash candidate has '/' among its best classes by shape
# Character scoring, as in the lead-name reader: softmax temperature, reject-class score and
# penalties per |log height ratio|, per cap height of centre offset and for unlike pieces.
_TEMPERATURE, _REJECT_SCORE = 0.03, 0.62
_HEIGHT_WEIGHT, _CENTRE_WEIGHT, _PIECES_WEIGHT = 0.5, 0.4, 0.08
_MIN_CONFIDENCE = 0.3  # least probability of a reported field
_CONFLICT_RATIO = 0.5  # a second reading with a different value above this share -> None
# Classes that are read as digits in a number.
_AS_DIGIT = {"O": "0", "o": "0", "D": "0", "I": "1", "i": "1"}
_SPEED_UNITS = ("s", "sec", "S")
_GAIN_UNITS = ("mV", "mv", "MV")


@dataclass
class PrintedSettings:
    """Acquisition settings read from the text printed on a sheet.

    Parameters
    ----------
    speed_mm_s : float or None
        Paper speed in mm/s (25.0 or 50.0), None if not read.
    gain_mm_mv : float or None
        Gain in mm/mV (5.0, 10.0 or 20.0), None if not read.
    confidence : float
        Probability in [0, 1] that the values read are right: the product of
        the probabilities of the fields read (0 when none was read).
    box_px : tuple of float or None
        ``(x0, y0, x1, y1)`` in px of the input mask: the union of the boxes
        of the texts read (x1, y1 one past the last ink pixel); None if none.
    """

    speed_mm_s: float | None
    gain_mm_mv: float | None
    confidence: float
    box_px: tuple[float, float, float, float] | None


@dataclass
class _Char:
    """One character of a text line (absolute coordinates in px)."""

    x0: int
    y0: int
    x1: int
    y1: int
    mask: np.ndarray   # tight boolean crop
    pieces: int
    feature: np.ndarray | None = None  # normalised glyph (labels' features)
    scores: np.ndarray | None = None   # correlation with the coarse template bank
    full: np.ndarray | None = None     # correlation with every template

    @property
    def h(self) -> int:
        return self.y1 - self.y0


@dataclass
class _Reading:
    """One ``<number> <unit>`` candidate."""

    kind: str           # "speed" or "gain"
    value: float
    probability: float
    box: tuple[int, int, int, int]


# --------------------------------------------------------------------------------------------
# Characters and lines
# --------------------------------------------------------------------------------------------

def _text_lines(ink: np.ndarray, px_per_mm: float) -> list[list[_Char]]:
    """Text lines of character-sized components, each a left-to-right list of characters.

    Only lines of at least ``_MIN_LINE_CHARS`` characters are returned.
    """
    mask = np.ascontiguousarray(ink.astype(bool)).view(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return []
    min_cap = 0.8 * _MIN_CAP_MM * px_per_mm
    max_cap = 1.2 * _MAX_CAP_MM * px_per_mm
    h = stats[:, cv2.CC_STAT_HEIGHT]
    w = stats[:, cv2.CC_STAT_WIDTH]
    small = (h <= 1.3 * max_cap) & (w <= 2.0 * max_cap) & (stats[:, cv2.CC_STAT_AREA] >= 2)
    small[0] = False
    ids = np.flatnonzero(small & ((h >= 0.45 * min_cap) | (w <= 0.45 * min_cap)))
    if ids.size == 0:
        return []
    ids = ids[np.argsort(stats[ids, cv2.CC_STAT_LEFT], kind="stable")]
    # Characters: components stacked in one column (the dot of an 'i', a colon).
    groups: list[list[int]] = []   # [x0, y0, x1, y1, label...]
    for i in ids.tolist():
        x0, y0, cw, ch = (int(v) for v in stats[i, :4])
        box = [x0, y0, x0 + cw, y0 + ch]
        for g in reversed(groups[-4:]):
            overlap = min(g[2], box[2]) - max(g[0], box[0])
            v_gap = max(g[1], box[1]) - min(g[3], box[3])
            if overlap > 0.5 * min(g[2] - g[0], cw) and v_gap >= -1 and v_gap < max(
                    g[3] - g[1], ch):
                g[0], g[1] = min(g[0], box[0]), min(g[1], box[1])
                g[2], g[3] = max(g[2], box[2]), max(g[3], box[3])
                g.append(i)
                break
        else:
            groups.append(box + [i])
    chars = []
    members: dict[int, list[int]] = {}   # component labels of each character, by id()
    empty = np.zeros((0, 0), bool)
    for g in groups:
        x0, y0, x1, y1 = g[:4]
        if y1 - y0 < 0.45 * min_cap and x1 - x0 > 0.45 * min_cap:
            continue   # a flat mark (dash) is no part of the fields read
        chars.append(_Char(x0, y0, x1, y1, empty, 0))
        members[id(chars[-1])] = g[4:]
    lines = [line for line in _chain(chars, min_cap) if len(line) >= _MIN_LINE_CHARS]
    # Glyph crops only for the characters of lines long enough to be read (a speckled scan
    # has thousands of lone specks).
    for line in lines:
        for c in line:
            c.mask = np.isin(lab[c.y0:c.y1, c.x0:c.x1], members[id(c)])
            c.pieces = _lab._n_pieces(c.mask)
    return lines


def _chain(chars: list[_Char], min_cap: float) -> list[list[_Char]]:
    """Chain characters (sorted by left edge) into text lines.

    A character joins the line whose last character is nearest on its left,
    within `_LINE_GAP` heights, sharing half the smaller height of rows; dots
    (shorter than ``0.45 * min_cap``) join a line whose rows hold them and
    are dropped where there is none.
    """
    lines: list[list[_Char]] = []
    # Lines a character could still join, as arrays over the open lines (in the order they
    # were opened) of their last character's box. Characters come by left edge, so a line
    # whose last character ends more than the largest allowed gap to the left is finished.
    # (A fixed window of recent lines loses a text line once specks elsewhere on the page
    # have opened many lines in between.)
    max_h = max((c.h for c in chars), default=0)
    reach = _LINE_GAP * max_h
    cap = 64
    ids = np.zeros(cap, np.int64)
    lx1 = np.zeros(cap)
    ly0 = np.zeros(cap)
    ly1 = np.zeros(cap)
    n_open = 0
    for c in chars:
        dot = c.h < 0.45 * min_cap
        if n_open:
            live = lx1[:n_open] >= c.x0 - reach
            if not live.all():
                k = int(live.sum())
                ids[:k], lx1[:k] = ids[:n_open][live], lx1[:n_open][live]
                ly0[:k], ly1[:k] = ly0[:n_open][live], ly1[:n_open][live]
                n_open = k
        if n_open:
            y0, y1, x1 = ly0[:n_open], ly1[:n_open], lx1[:n_open]
            last_h = y1 - y0
            href = np.maximum(c.h, last_h)
            gap = c.x0 - x1
            ok = (gap >= -0.3 * href) & (gap <= _LINE_GAP * href)
            if dot:
                ok &= (c.y0 >= y0 - 1) & (c.y1 <= y1 + 0.3 * last_h) & (gap <= last_h)
            else:
                ok &= (np.minimum(c.y1, y1) - np.maximum(c.y0, y0)) >= 0.5 * np.minimum(c.h,
                                                                                        last_h)
            if ok.any():
                best = int(np.argmin(np.where(ok, gap, np.inf)))   # first of the nearest
                lines[int(ids[best])].append(c)
                lx1[best], ly0[best], ly1[best] = c.x1, c.y0, c.y1
                continue
        if dot:
            continue   # a dot starts no line (speckle on a scan would open thousands)
        lines.append([c])
        if n_open == cap:
            cap *= 2
            ids, lx1, ly0, ly1 = (np.resize(a, cap) for a in (ids, lx1, ly0, ly1))
        ids[n_open], lx1[n_open], ly0[n_open], ly1[n_open] = len(lines) - 1, c.x1, c.y0, c.y1
        n_open += 1
    return lines


@lru_cache(maxsize=1)
def _coarse_bank() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smaller template bank for finding candidates: (features, classes, class starts).

    Per class, templates that correlate above `_COARSE_CORR` with one kept
    before are dropped (the full bank, used for the final reading, keeps all).
    """
    tpl = _lab._templates()
    keep: list[int] = []
    for c in np.unique(tpl.classes):
        kept: list[int] = []
        for i in np.flatnonzero(tpl.classes == c):
            if not kept or float((tpl.features[kept] @ tpl.features[i]).max()) <= _COARSE_CORR:
                kept.append(int(i))
        keep += kept
    idx = np.asarray(keep)
    classes = tpl.classes[idx]
    starts = np.flatnonzero(np.r_[True, classes[1:] != classes[:-1]])
    return np.ascontiguousarray(tpl.features[idx]), classes, starts


def _features(chars: list[_Char]) -> None:
    """Fill in the normalised glyph features of characters that lack them."""
    for c in chars:
        if c.feature is None:
            c.feature = _lab._normalise(c.mask)


def _score(chars: list[_Char]) -> None:
    """Fill in the coarse-bank correlations of characters that lack them (one product)."""
    todo = [c for c in chars if c.scores is None]
    if not todo:
        return
    _features(todo)
    feats = np.stack([c.feature for c in todo])  # type: ignore[misc]
    rows = np.einsum("ik,jk->ij", feats, _coarse_bank()[0], optimize=False)
    for c, row in zip(todo, rows, strict=True):
        c.scores = row


def _score_full(chars: list[_Char]) -> np.ndarray:
    """Correlation of characters with every template of the full bank (n, n_templates)."""
    todo = [c for c in chars if c.full is None]
    if todo:
        _features(todo)
        feats = np.stack([c.feature for c in todo])  # type: ignore[misc]
        rows = np.einsum("ik,jk->ij", feats, _lab._templates().features, optimize=False)
        for c, row in zip(todo, rows, strict=True):
            c.full = row
    return np.stack([c.full for c in chars])  # type: ignore[misc]


def _tight(c: _Char, a: int, b: int) -> _Char | None:
    """The ink of columns a:b of a character, as a tight character; None if empty."""
    sub = c.mask[:, a:b]
    box = _lab._bbox(sub)
    if box is None:
        return None
    bx0, by0, bx1, by1 = box
    piece = np.ascontiguousarray(sub[by0:by1, bx0:bx1])
    return _Char(c.x0 + a + bx0, c.y0 + by0, c.x0 + a + bx1, c.y0 + by1, piece,
                 _lab._n_pieces(piece))


def _split_options(c: _Char) -> list[tuple[_Char, _Char]]:
    """Ways to cut a character made of touching letters (``mm``, ``m/``) in two.

    Cut columns are local minima of the column ink (at most `_JOIN_INK`
    heights) away from the ends; least ink first, at most `_CUT_OPTIONS`.
    """
    h, w = c.mask.shape
    margin = max(2, int(np.ceil(0.2 * h)))
    if w < _MIN_SPLIT_ASPECT * h or w <= 2 * margin + 1:
        return []
    counts = c.mask.sum(axis=0)
    cols = [x for x in range(margin, w - margin)
            if counts[x] <= _JOIN_INK * h and counts[x] <= counts[x - 1]
            and counts[x] <= counts[x + 1]]
    options = []
    for x in sorted(cols, key=lambda x: (counts[x], abs(2 * x - w)))[:_CUT_OPTIONS]:
        left, right = _tight(c, 0, x), _tight(c, x + 1, w)
        if left is not None and right is not None and min(left.h, right.h) >= 0.3 * h:
            options.append((left, right))
    return options


def _split_touching(lines: list[list[_Char]]) -> list[list[_Char]]:
    """Split characters made of touching letters where the pieces read better.

    Only wide characters that match no template well are tried. A cut is
    kept when both pieces resemble some template better than the whole does;
    pieces are tried again (up to three rounds).
    """
    for _ in range(3):
        trials: list[tuple[int, int, list[tuple[_Char, _Char]]]] = []
        for li, line in enumerate(lines):
            for ci, c in enumerate(line):
                assert c.scores is not None
                if float(c.scores.max()) < _WELL_READ and c.mask.shape[1] >= (
                        _MIN_SPLIT_ASPECT * c.h):
                    options = _split_options(c)
                    if options:
                        trials.append((li, ci, options))
        if not trials:
            break
        _score([m for _, _, options in trials for pair in options for m in pair])
        changed = False
        for li, ci, options in reversed(trials):
            whole = float(lines[li][ci].scores.max())  # type: ignore[union-attr]
            gains = [min(float(a.scores.max()), float(b.scores.max()))  # type: ignore[union-attr]
                     for a, b in options]
            k = int(np.argmax(gains))
            if gains[k] >= whole + _SPLIT_GAIN:
                lines[li][ci:ci + 1] = list(options[k])
                changed = True
        if not changed:
            break
    return lines


def _chain_words(words: list[tuple[tuple[int, int, int, int], list[_Char]]]
                 ) -> list[list[_Char]]:
    """Chain words into text lines: each word joins the nearest word on its left."""
    order = sorted(range(len(words)), key=lambda k: words[k][0][0])
    line_of: dict[int, int] = {}
    lines: list[list[int]] = []
    for pos, k in enumerate(order):
        x0, y0, x1, y1 = words[k][0]
        best, best_gap = None, np.inf
        for j in order[:pos]:
            a0, b0, a1, b1 = words[j][0]
            gap = x0 - a1
            href = max(y1 - y0, b1 - b0)
            overlap = min(y1, b1) - max(y0, b0)
            if (-0.2 * href <= gap <= _LINE_GAP * href and overlap >= 0.5 * min(y1 - y0, b1 - b0)
                    and gap < best_gap and lines[line_of[j]][-1] == j):
                best, best_gap = j, gap
        if best is None:
            line_of[k] = len(lines)
            lines.append([k])
        else:
            line_of[k] = line_of[best]
            lines[line_of[k]].append(k)
    return [[c for k in line for c in words[k][1]] for line in lines]


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------

def _coarse_class_best(chars: list[_Char]) -> np.ndarray:
    """Per-class best coarse-bank correlation (n, n_classes); -inf for absent classes."""
    _score(chars)
    _, classes, starts = _coarse_bank()
    scores = np.stack([c.scores for c in chars])  # type: ignore[misc]
    out = np.full((len(chars), len(_lab._CLASSES)), -np.inf, np.float32)
    out[:, classes[starts]] = np.maximum.reduceat(scores, starts, axis=1)
    return out


def _probabilities(chars: list[_Char], cap_top: float, cap: float) -> np.ndarray:
    """Class probabilities (n, n_classes + 1; last: reject) given the line's cap line (px).

    Shape correlation minus penalties for a relative height, vertical centre
    and number of pieces unlike the template's, turned into probabilities by
    a softmax with a reject class (the lead-name reader's weights).
    """
    tpl = _lab._templates()
    scores = _score_full(chars)
    rel_h = np.array([max(c.h / cap, 1e-3) for c in chars], np.float32)
    rel_c = np.array([((c.y0 + c.y1) / 2 - cap_top) / cap for c in chars], np.float32)
    pieces = np.array([min(c.pieces, 3) for c in chars])
    s = scores - _HEIGHT_WEIGHT * np.abs(np.log(rel_h[:, None] / tpl.rel_height[None, :]))
    s -= _CENTRE_WEIGHT * np.abs(rel_c[:, None] - tpl.rel_centre[None, :])
    s -= _PIECES_WEIGHT * (pieces[:, None] != tpl.pieces[None, :])
    best = np.full((len(chars), len(_lab._CLASSES)), -np.inf, np.float32)
    best[:, tpl.classes[tpl.starts]] = np.maximum.reduceat(s, tpl.starts, axis=1)
    z = np.concatenate([best, np.full((len(chars), 1), _REJECT_SCORE,
                                                 np.float32)], axis=1) / _TEMPERATURE
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _p(probs: np.ndarray, chars: str) -> float:
    """Probability of a character given class probabilities, summing spellings in `chars`."""
    return float(sum(probs[_lab._CLASS_INDEX[ch]] for ch in chars if ch in _lab._CLASS_INDEX))


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------

def _number_chars(line: list[_Char], start: int, base: float, xh: float) -> list[int]:
    """Indices of the number's characters left of `line[start]` (left to right)."""
    out: list[int] = []
    k = start - 1
    while k >= 0 and len(out) < 5:
        c = line[k]
        right = line[out[0]].x0 if out else line[start].x0
        cap = max((line[i].h for i in out if line[i].h > xh), default=1.5 * xh)
        gap = right - c.x1
        limit = _NUMBER_GAP * cap if not out else _DIGIT_GAP * cap
        if gap > limit or abs(c.y1 - base) > _BASE_TOL * xh + 1:
            break
        digit = 1.05 * xh <= c.h <= 2.3 * xh and c.x1 - c.x0 <= 1.2 * c.h
        dot = c.h <= 0.45 * xh and c.x1 - c.x0 <= 2.0 * c.h + 1
        if not (digit or (dot and out)):
            break
        out.insert(0, k)
        k -= 1
    while out and line[out[0]].h <= 0.45 * xh:   # a number does not start with a dot
        out.pop(0)
    return out


def _candidates(line: list[_Char], best: np.ndarray) -> list[_Reading]:
    """Every ``<number> mm/<unit>`` reading of a text line."""
    slash = _lab._CLASS_INDEX["/"]
    out: list[_Reading] = []
    for k in range(2, len(line) - 1):
        rank = int((best[k] > best[k, slash]).sum())
        if rank >= _SLASH_RANK:
            continue
        m1, m2 = line[k - 2], line[k - 1]
        xh = 0.5 * (m1.h + m2.h)
        base = 0.5 * (m1.y1 + m2.y1)
        if abs(m1.h - m2.h) > 0.15 * xh + 1 or abs(m1.y1 - m2.y1) > _BASE_TOL * xh + 1:
            continue
        if line[k].h < 1.1 * xh:
            continue
        num = _number_chars(line, k - 2, base, xh)
        digits = [i for i in num if line[i].h > 0.45 * xh]
        if not digits:
            continue
        cap = float(np.median([line[i].h for i in digits]))
        cap_top = base - cap
        for kind, units in (("speed", _SPEED_UNITS), ("gain", _GAIN_UNITS)):
            for unit in units:
                idx = list(range(k + 1, k + 1 + len(unit)))
                if idx[-1] >= len(line):
                    continue
                reading = _read(line, num, (k - 2, k - 1, k, *idx), unit, cap_top, cap, xh,
                                kind)
                if reading is not None:
                    out.append(reading)
    return out


def _read(line: list[_Char], num: list[int], unit_idx: tuple[int, ...], unit: str,
          cap_top: float, cap: float, xh: float, kind: str
          ) -> _Reading | None:
    """Probability and value of one hypothesis; None if the number is not standard."""
    unit_chars = [line[i] for i in unit_idx]
    last = unit_chars[-1]
    # The unit's characters are close together (one word) and sit on the line.
    for a, b in zip(unit_chars[:-1], unit_chars[1:], strict=True):
        if b.x0 - a.x1 > _DIGIT_GAP * cap:
            return None
    if last.y1 < cap_top + 0.5 * cap or last.y0 > cap_top + cap:
        return None
    idx = num + list(unit_idx)
    probs = _probabilities([line[i] for i in idx], cap_top, cap)
    text, p = "", 1.0
    for row, i in zip(probs[:len(num)], num, strict=True):
        c = line[i]
        if c.h <= 0.45 * xh:
            text += "."
            continue
        digit_p = {d: _p(row, d + "".join(k for k, v in _AS_DIGIT.items() if v == d))
                   for d in "0123456789"}
        d = max(digit_p, key=digit_p.__getitem__)
        text += d
        p *= digit_p[d]
    for row, ch in zip(probs[len(num):], "mm/" + unit, strict=True):
        spellings = ch + ch.swapcase() if ch in "vV" else ch
        p *= _p(row, spellings)
    value = _value(text, SPEEDS_MM_S if kind == "speed" else GAINS_MM_MV)
    if value is None:
        return None
    x0 = min(line[i].x0 for i in idx)
    y0 = min(line[i].y0 for i in idx)
    x1 = max(line[i].x1 for i in idx)
    y1 = max(line[i].y1 for i in idx)
    return _Reading(kind, value, p, (x0, y0, x1, y1))


def _value(text: str, allowed: tuple[float, ...]) -> float | None:
    """Numeric value of a printed number if it is a standard one (``10``, ``10.0``)."""
    if text.count(".") > 1 or text.startswith(".") or text.endswith("."):
        return None
    whole, _, frac = text.partition(".")
    if len(whole) > 1 and whole.startswith("0") or frac.strip("0"):
        return None
    value = float(text)
    return value if value in allowed else None


def _pick(readings: list[_Reading], min_confidence: float) -> _Reading | None:
    """The most probable reading, unless a different value is nearly as probable."""
    if not readings:
        return None
    readings = sorted(readings, key=lambda r: -r.probability)
    top = readings[0]
    if top.probability < min_confidence:
        return None
    if any(r.value != top.value and r.probability > _CONFLICT_RATIO * top.probability
           for r in readings[1:]):
        return None
    return top


def read_printed_settings(ink: np.ndarray, px_per_mm: float,
                          min_confidence: float = _MIN_CONFIDENCE) -> PrintedSettings:
    """Find and read the printed paper speed and gain on an upright sheet.

    Recognised forms: ``25 mm/s``, ``25mm/s``, ``25 mm/sec``, ``Speed: 25 mm/s``
    for the speed and ``10 mm/mV``, ``10mm/mV``, ``Gain 10 mm/mV``,
    ``5.0 mm/mV`` for the gain.

    Parameters
    ----------
    ink : ndarray, shape (H, W), bool
        True where the pixel is dark pen ink (traces and text) of an upright,
        deskewed sheet with the grid removed.
    px_per_mm : float
        Scale of the sheet in px/mm (from the grid).
    min_confidence : float
        Least probability in [0, 1] of a reported field; fields read with
        less are None.

    Returns
    -------
    PrintedSettings
        Speed in mm/s (25 or 50) and gain in mm/mV (5, 10 or 20), each None
        when not found, not a standard value, read with less than
        `min_confidence`, or read twice with different values of similar
        probability.

    Raises
    ------
    OptionError
        If `ink` is not 2-D or `px_per_mm` is not positive.
    """
    ink = _lab._check_ink(ink, px_per_mm)
    readings: list[_Reading] = []
    lines = _text_lines(ink, px_per_mm)
    if lines:
        _score([c for line in lines for c in line])
        lines = _split_touching(lines)
        best = _coarse_class_best([c for line in lines for c in line])
        start = 0
        for line in lines:
            readings += _candidates(line, best[start:start + len(line)])
            start += len(line)
    speed = _pick([r for r in readings if r.kind == "speed"], min_confidence)
    gain = _pick([r for r in readings if r.kind == "gain"], min_confidence)
    found = [r for r in (speed, gain) if r is not None]
    if not found:
        return PrintedSettings(None, None, 0.0, None)
    box = (float(min(r.box[0] for r in found)), float(min(r.box[1] for r in found)),
           float(max(r.box[2] for r in found)), float(max(r.box[3] for r in found)))
    return PrintedSettings(speed.value if speed else None, gain.value if gain else None,
                           float(np.prod([r.probability for r in found])), box)
