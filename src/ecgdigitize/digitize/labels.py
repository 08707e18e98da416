"""Find and read the printed lead names of an ECG sheet.

Lead names (``I``, ``II``, ``III``, ``aVR``, ``aVL``, ``aVF``, ``V1`` ...
``V6`` and the ``-aVR`` of Cabrera sheets) are short words printed near the
start of each lead segment. No OCR engine is used: a small shape classifier,
whose templates are rendered at first use, reads them.

Method
------
1. **Characters.** Connected components of the ink mask whose height fits
   printed text (cap height about 1.5-7 mm) are kept; traces, which span
   many mm, are set aside. Smaller marks (the dash of ``-aVR``, dots) are
   kept as attachments of neighbouring characters.
2. **Text touching a trace.** Where a trace component has more than one
   vertical run in a column, something touches it. Around such places the
   trace is followed column by column (dynamic programming over the runs,
   paying for jumps and bends) and erased; strokes it cut are bridged again
   and what is left becomes extra components. Names read from them must be
   more confident, may not be stroke-only, and a decisive last character
   that touched the trace is not trusted where losing ink turns one name
   into another (``R`` -> ``F``, ``4`` -> ``1``, ``6`` -> ``5``).
3. **Words.** Characters are chained into words left to right when they
   share rows and the gap between them is below about one character height.
4. **Reading.** Each character of a word is normalised (padded to a square
   and stretched to a square, both 16 x 16 and blurred) and compared by
   normalised correlation with templates of the whole printable alphabet,
   rendered at first use from many fonts: every OpenCV Hershey face, upright
   and italic, at several stroke weights, Pillow's built-in scalable
   sans-serif font (regular, emboldened, slanted) at a small and a large
   size, and drawn slab-serif ``I`` and ``1``. Reading header letters as what
   they are, instead of forcing them onto the nearest lead-name letter, keeps
   header text from being read as names. Character heights and vertical
   positions relative to the word's cap height separate ``a``/``A``,
   ``v``/``V`` and ``-``/``_``. Class scores become probabilities with a
   softmax that includes a reject class; the probability of a name is the
   product over its characters. Touching letters are split at thin columns
   (never into bare strokes); words whose aspect ratio does not fit the name
   are rejected.
5. **Checks.** A name that is the truncation of another (``I`` of ``II``,
   ``II`` of ``III``, ``aVR`` of ``-aVR``) is dropped when a trace holds the
   missing character's place. Stroke-only names (``I``, ``II``, ``III``: the
   shape of separator ticks and of pieces of a broken trace) need strokes of
   equal height, width and pitch, and must line up (row or column) with the
   sheet's other names and share their cap height; on a sheet without other
   names they need clear space above and below, and at most four are kept.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import OptionError

__all__ = ["LabelHit", "LEAD_LABELS", "read_label", "find_labels"]

#: Lead names that :func:`find_labels` reports, canonical spelling.
LEAD_LABELS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "-aVR",
)
# Printed spellings accepted for each canonical name.
_SPELLINGS: dict[str, tuple[str, ...]] = {name: (name,) for name in LEAD_LABELS}
for _n in ("aVR", "aVL", "aVF", "-aVR"):
    _SPELLINGS[_n] = (_n, _n.replace("a", "A"))
_STROKE_NAMES = ("I", "II", "III")
# Names that lose a character to become another name: name -> sides ('l', 'r') where
# the missing character would be.
_TRUNCATIONS = {"I": "lr", "II": "lr", "aVR": "l"}
# Names whose last character is what remains of another name's when ink is lost
# (R -> F, 4 -> 1, 6 -> 5): not trusted when that character touched a peeled trace.
_FRAGILE = ("aVF", "V1", "V5")

# Characters the classifier knows. 'l' and '|' are drawn like 'I' in most
# fonts and are read as 'I'.
_ALPHABET = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ" "abcdefghijkmnopqrstuvwxyz" "0123456789"
             "-:/.()%+,*#_=")
_SAME_AS = {"l": "I", "|": "I"}
_CLASSES: tuple[str, ...] = tuple(_ALPHABET)
_CLASS_INDEX = {c: i for i, c in enumerate(_CLASSES)}

_SIDE = 16                 # side of each normalised view of a character in px
_BLUR_SIGMA = 0.8          # blur of the normalised views in px
_TEMPERATURE = 0.03        # softmax temperature on correlation scores
_REJECT_SCORE = 0.62       # score of the reject class (no known character)
_HEIGHT_WEIGHT = 0.5       # score penalty per unit of |log(relative height ratio)|
_CENTRE_WEIGHT = 0.4       # score penalty per cap height of vertical centre offset
_PIECES_WEIGHT = 0.08      # score penalty when the number of separate pieces differs
_CUT_FACTOR = 0.85         # probability factor of a reading that splits touching letters
_MIN_PROBABILITY = 0.05    # read_label returns None below this
_DUPLICATE_CORR = 0.98     # templates closer than this to a kept one are dropped
_MIN_CAP_MM, _MAX_CAP_MM = 1.5, 7.0
_MAX_GAP = 1.0             # largest gap inside a word, in character heights
_BAR_HEIGHT_TOL = 0.22     # allowed relative cap-height deviation of stroke-only words
_MAX_UNANCHORED_STROKES = 4  # stroke-only names kept on a sheet without other names
_BEND_COST = 0.2          # trace following: cost per px of change in run-edge slope
_PEELED_MIN_CONFIDENCE = 0.6  # least confidence of a name that needed a trace peeled off
_ANCHOR_CONFIDENCE = 0.5   # least confidence of a name that stroke-only names line up with
_STROKE_CLEARANCE = 0.15  # free space above and below a stroke-only word (caps)
_SWALLOWED_COVER = 0.6     # share of a word's rows a trace band must cover to hide a stroke
_TRUNCATION_REACH = 0.35   # gap (caps) beside a lone stroke where a swallowed one is looked for


@dataclass
class LabelHit:
    """One printed lead name found on a sheet.

    Parameters
    ----------
    name : str
        Canonical lead name, e.g. ``"aVR"``, ``"V1"``, ``"-aVR"``.
    confidence : float
        Probability in [0, 1] that the word is this lead name.
    box_px : tuple of float
        ``(x0, y0, x1, y1)``: bounding box of the word's ink in px of the input
        mask (x0, y0: first ink column and row; x1, y1: one past the last).
    """

    name: str
    confidence: float
    box_px: tuple[float, float, float, float]


# --------------------------------------------------------------------------------------------
# Character normalisation
# --------------------------------------------------------------------------------------------

def _normalise(glyph: np.ndarray) -> np.ndarray:
    """Feature vector (unit norm, float32) of a tight boolean glyph crop.

    Two views of the glyph, each 16 x 16, blurred, zero-mean and of norm
    1/sqrt(2): padded to a square (keeps the aspect ratio) and stretched to
    the square (shows the inside of thin glyphs such as ``I`` or ``-``).
    """
    h, w = glyph.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)
    oy, ox = (side - h) // 2, (side - w) // 2
    square[oy:oy + h, ox:ox + w] = glyph
    interp = cv2.INTER_AREA if side > _SIDE else cv2.INTER_LINEAR
    padded = cv2.resize(square, (_SIDE, _SIDE), interpolation=interp)
    inner = _SIDE - 2
    interp = cv2.INTER_AREA if min(h, w) > inner else cv2.INTER_LINEAR
    stretched = np.zeros((_SIDE, _SIDE), np.float32)
    stretched[1:-1, 1:-1] = cv2.resize(glyph.astype(np.float32), (inner, inner),
                                       interpolation=interp)
    parts = []
    for view in (padded, stretched):
        flat = cv2.GaussianBlur(view, (5, 5), _BLUR_SIGMA).ravel()
        flat = flat - flat.mean()
        norm = float(np.linalg.norm(flat))
        parts.append(flat / (norm * np.sqrt(2.0)) if norm > 1e-9 else flat)
    return np.concatenate(parts).astype(np.float32)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the True pixels (x1, y1 exclusive), None if there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _check_ink(ink: np.ndarray, px_per_mm: float) -> np.ndarray:
    """The ink mask as an array, after checking the arguments of a text reader.

    Raises
    ------
    OptionError
        If `ink` is not 2-D or `px_per_mm` is not positive.
    """
    ink = np.asarray(ink)
    if ink.ndim != 2:
        raise OptionError("ink must be a 2-D mask")
    if not px_per_mm > 0:
        raise OptionError(f"px_per_mm must be positive, got {px_per_mm}")
    return ink


def _n_pieces(glyph: np.ndarray) -> int:
    """Number of 8-connected pieces of a glyph."""
    return cv2.connectedComponents(glyph.astype(np.uint8), connectivity=8)[0] - 1


# --------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Templates:
    """Template bank, sorted by class."""

    features: np.ndarray     # (n, feature size) float32, unit norm
    classes: np.ndarray      # (n,) class index
    rel_height: np.ndarray   # (n,) glyph height / cap height
    rel_centre: np.ndarray   # (n,) (glyph centre - cap line) / cap height
    pieces: np.ndarray       # (n,) number of separate pieces of the glyph
    starts: np.ndarray       # index of the first template of each class present
    word_aspect: dict[str, tuple[float, float]]  # lead name -> (min, max) width / cap height


_Renderer = Callable[[str], np.ndarray]


def _hershey(face: int, cap_px: int, thickness: int) -> tuple[_Renderer, int, int]:
    """Renderer of a Hershey face with its cap line and baseline rows."""
    (_, th), _ = cv2.getTextSize("H", face, 1.0, thickness)
    scale = cap_px / max(th, 1)
    pad = cap_px + 4 * thickness + 4
    org = (pad, pad + 2 * cap_px)

    def render(text: str) -> np.ndarray:
        (tw, _), _ = cv2.getTextSize(text, face, scale, thickness)
        canvas = np.zeros((3 * cap_px + 2 * pad, int(tw) + 2 * pad), np.uint8)
        cv2.putText(canvas, text, org, face, scale, 255, thickness, cv2.LINE_AA)
        return canvas > 102

    ref = _bbox(render("H"))
    assert ref is not None
    return render, ref[1], ref[3]


def _pillow(size: int, stroke: int, slant: float) -> tuple[_Renderer, int, int]:
    """Renderer of Pillow's built-in scalable font with its cap line and baseline rows."""
    font = ImageFont.load_default(size=size)
    pad = size + 4 * stroke + 4
    base_y = pad + 2 * size

    def render(text: str) -> np.ndarray:
        x0, _, x1, _ = font.getbbox(text, stroke_width=stroke)
        w, h = int(x1 - x0) + 2 * pad, 3 * size + 2 * pad
        img = Image.new("L", (w, h), 0)
        ImageDraw.Draw(img).text((pad, base_y), text, fill=255, font=font, anchor="ls",
                                 stroke_width=stroke, stroke_fill=255)
        arr = np.asarray(img, np.uint8)
        if slant:
            m = np.float32([[1, -slant, slant * base_y], [0, 1, 0]])
            arr = cv2.warpAffine(arr, m, (w, h), flags=cv2.INTER_LINEAR)
        return arr > 102

    ref = _bbox(render("H"))
    assert ref is not None
    return render, ref[1], ref[3]


def _font_variants() -> list[tuple[_Renderer, int, int]]:
    """Every template font: (renderer, cap line row, baseline row)."""
    variants = []
    faces = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
             cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL]
    for face in faces:
        for italic in (0, cv2.FONT_ITALIC):
            for cap, thick in ((12, 1), (12, 2), (28, 1), (28, 2), (28, 4)):
                variants.append(_hershey(face | italic, cap, thick))
    try:
        ImageFont.load_default(size=20)
    except (TypeError, ValueError, OSError, ImportError):  # Pillow without FreeType
        return variants
    for size, strokes in ((17, (0, 1)), (40, (0, 1, 2))):
        for stroke in strokes:
            for slant in (0.0, 0.2):
                variants.append(_pillow(size, stroke, slant))
    return variants


def _serif_glyphs(cap: int = 28) -> list[tuple[str, np.ndarray]]:
    """Slab-serif ``I`` and ``1`` (Verdana, Tahoma, Times style), which no template font has.

    ``I`` is an I-beam (serifs may sit off-centre after thresholding); ``1`` is a
    stem with a flag to the upper left and a foot serif.
    """
    out = []
    for stem in (3, 5, 7):
        for reach in (0.12, 0.2, 0.28):
            ext = max(1, int(round(reach * cap)))
            t = max(2, stem - 2)
            for shift in (-2, 0, 2):
                glyph = np.zeros((cap, stem + 2 * ext + 4), np.uint8)
                x = 2 + ext + shift
                glyph[:, x:x + stem] = 1
                glyph[:t, 2:2 + stem + 2 * ext] = 1
                glyph[-t:, 2:2 + stem + 2 * ext] = 1
                out.append(("I", glyph.astype(bool)))
            glyph = np.zeros((cap, stem + 2 * ext + int(0.35 * cap) + 4), np.uint8)
            x = glyph.shape[1] - 2 - ext - stem
            glyph[:, x:x + stem] = 1
            cv2.line(glyph, (x + stem // 2, stem // 2), (x - int(0.22 * cap), int(0.22 * cap)), 1,
                     max(2, int(0.7 * stem)))
            glyph[-t:, x - ext:x + stem + ext] = 1
            out.append(("1", glyph.astype(bool)))
    return [(ch, g[:, g.any(axis=0)]) for ch, g in out]


@lru_cache(maxsize=1)
def _templates() -> _Templates:
    """Render the template bank (once per process)."""
    feats, classes, rel_h, rel_c, pieces = [], [], [], [], []
    aspect: dict[str, list[float]] = {name: [] for name in LEAD_LABELS}
    for render, cap_top, base in _font_variants():
        cap = max(base - cap_top, 1)
        for ch in list(_ALPHABET) + list(_SAME_AS):
            mask = render(ch)
            box = _bbox(mask)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            glyph = mask[y0:y1, x0:x1]
            n_pieces = _n_pieces(glyph)
            if ch in "ij" and n_pieces < 2:
                continue  # the dot ran into the stem: a bare stroke, not an 'i'
            feats.append(_normalise(glyph))
            classes.append(_CLASS_INDEX[_SAME_AS.get(ch, ch)])
            rel_h.append((y1 - y0) / cap)
            rel_c.append(((y0 + y1) / 2 - cap_top) / cap)
            pieces.append(min(n_pieces, 3))
        for name in LEAD_LABELS:
            for spelling in _SPELLINGS[name]:
                box = _bbox(render(spelling))
                if box is not None:
                    aspect[name].append((box[2] - box[0]) / max(box[3] - box[1], 1))
    for ch, glyph in _serif_glyphs():
        feats.append(_normalise(glyph))
        classes.append(_CLASS_INDEX[ch])
        rel_h.append(1.0)
        rel_c.append(0.5)
        pieces.append(1)
    ranges = {name: (min(v) * 0.7, max(v) * 1.35) for name, v in aspect.items()}
    for name, widest in (("I", 0.75), ("II", 1.8), ("III", 2.8)):  # slab serifs
        ranges[name] = (ranges[name][0], max(ranges[name][1], widest))
    feats_a = np.asarray(feats, np.float32)
    classes_a = np.asarray(classes, np.int32)
    rel_h_a = np.asarray(rel_h, np.float32)
    rel_c_a = np.asarray(rel_c, np.float32)
    pieces_a = np.asarray(pieces, np.int32)
    # Drop near-duplicates (same class, shape, height, centre and pieces).
    keep: list[int] = []
    for c in np.unique(classes_a):
        kept: list[int] = []
        for i in np.flatnonzero(classes_a == c):
            if kept:
                k = np.asarray(kept)
                same = ((feats_a[k] @ feats_a[i] > _DUPLICATE_CORR)
                        & (np.abs(rel_h_a[k] - rel_h_a[i]) < 0.05)
                        & (np.abs(rel_c_a[k] - rel_c_a[i]) < 0.05)
                        & (pieces_a[k] == pieces_a[i]))
                if same.any():
                    continue
            kept.append(int(i))
        keep.extend(kept)
    idx = np.asarray(keep)
    starts = np.flatnonzero(np.r_[True, classes_a[idx][1:] != classes_a[idx][:-1]])
    return _Templates(feats_a[idx], classes_a[idx], rel_h_a[idx], rel_c_a[idx], pieces_a[idx],
                      starts, ranges)


# --------------------------------------------------------------------------------------------
# Reading one word
# --------------------------------------------------------------------------------------------

@dataclass
class _Glyph:
    """One character candidate of a word (coordinates in the word patch)."""

    x0: int
    y0: int
    x1: int
    y1: int
    mask: np.ndarray   # tight boolean crop
    pieces: int


def _characters(patch: np.ndarray) -> list[_Glyph]:
    """Characters of a tight word patch, left to right."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(patch.view(np.uint8), connectivity=8)
    hp = patch.shape[0]
    comps = []
    for i in range(1, n):
        x, y, w, h = (int(v) for v in stats[i, :4])
        if h < 0.08 * hp and w < 0.15 * hp:
            continue  # speck
        comps.append([x, y, x + w, y + h, [i]])
    comps.sort(key=lambda c: c[0])
    merged: list[list] = []
    for c in comps:
        if merged:
            p = merged[-1]
            overlap = min(p[2], c[2]) - max(p[0], c[0])
            v_overlap = min(p[3], c[3]) - max(p[1], c[1])
            # Pieces stacked vertically (the dot of an 'i', a broken stroke) form one
            # character; side by side (italic letters overlap in x) they do not.
            if (overlap > 0.5 * min(p[2] - p[0], c[2] - c[0])
                    and v_overlap < 0.5 * min(p[3] - p[1], c[3] - c[1])):
                p[0], p[1] = min(p[0], c[0]), min(p[1], c[1])
                p[2], p[3] = max(p[2], c[2]), max(p[3], c[3])
                p[4] = p[4] + c[4]
                continue
        merged.append(c)
    return [_Glyph(x0, y0, x1, y1, (lab[y0:y1, x0:x1] == ids[0]) if len(ids) == 1
                   else np.isin(lab[y0:y1, x0:x1], ids), len(ids))
            for x0, y0, x1, y1, ids in merged]


def _cut_columns(glyph: _Glyph, cap: int) -> list[int]:
    """Columns (relative to the glyph) where touching letters may be split."""
    w = glyph.x1 - glyph.x0
    if w < 0.75 * cap:
        return []
    counts = glyph.mask.sum(axis=0)
    margin = max(2, int(np.ceil(0.2 * cap)))
    limit = max(2.0, 0.3 * cap)
    cands = []
    for c in range(margin, w - margin):
        if counts[c] <= limit and counts[c] <= counts[c - 1] and counts[c] <= counts[c + 1]:
            cands.append((int(counts[c]), c))
    cands.sort()
    chosen: list[int] = []
    for _, c in cands:
        if all(abs(c - o) > margin for o in chosen):
            chosen.append(c)
        if len(chosen) == 3:
            break
    return sorted(chosen)


def _cut(glyph: _Glyph, cols: tuple[int, ...]) -> list[_Glyph] | None:
    """Split a glyph at columns (the cut columns are dropped); None if a piece is empty."""
    out = []
    edges = (-1, *cols, glyph.x1 - glyph.x0)
    for a, b in itertools.pairwise(edges):
        sub = glyph.mask[:, a + 1:b]
        box = _bbox(sub)
        if box is None:
            return None
        bx0, by0, bx1, by1 = box
        out.append(_Glyph(glyph.x0 + a + 1 + bx0, glyph.y0 + by0, glyph.x0 + a + 1 + bx1,
                          glyph.y0 + by1, sub[by0:by1, bx0:bx1], 1))
    return out


@dataclass
class _Word:
    """A word ready for classification: its glyphs and ways to read them."""

    glyphs: list[_Glyph]                          # every distinct glyph candidate
    readings: list[tuple[tuple[int, ...], int]]   # (glyph indices, number of cuts)
    cap: int                                      # cap height in px
    aspect: float                                 # width / cap height
    origin: tuple[int, int]                       # (x, y) of the word's ink in the patch


def _prepare(patch: np.ndarray) -> _Word | None:
    """Split a word patch into characters; None if it cannot be a lead name."""
    box = _bbox(patch)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    chars = _characters(np.ascontiguousarray(patch[y0:y1, x0:x1]))
    if not 1 <= len(chars) <= 4:
        return None
    cap = max(g.y1 - g.y0 for g in chars)
    glyphs = list(chars)
    # Alternatives per character: itself, or split at one or two cut columns.
    options: list[list[tuple[tuple[int, ...], int]]] = []
    for k, g in enumerate(chars):
        alts = [((k,), 0)]
        cols = _cut_columns(g, cap) if len(chars) < 4 else []
        for n_cuts in (1, 2):
            for combo in itertools.combinations(cols, n_cuts):
                pieces = _cut(g, combo)
                if pieces is None:
                    continue
                first = len(glyphs)
                glyphs.extend(pieces)
                alts.append((tuple(range(first, first + len(pieces))), n_cuts))
        options.append(alts)
    readings = []
    for combo in itertools.product(*options):
        idx = tuple(i for alt in combo for i in alt[0])
        if len(idx) <= 4:
            readings.append((idx, sum(alt[1] for alt in combo)))
    return _Word(glyphs, readings, cap, (x1 - x0) / cap, (x0, y0))


def _class_probabilities(words: list[_Word]) -> np.ndarray:
    """Class probabilities of every glyph of `words` (n, n_classes + 1; last: reject)."""
    tpl = _templates()
    feats, rel_h, rel_c, pieces = [], [], [], []
    for w in words:
        base = max(g.y1 for g in w.glyphs)  # lead names have no descenders
        for g in w.glyphs:
            feats.append(_normalise(g.mask))
            rel_h.append((g.y1 - g.y0) / w.cap)
            rel_c.append(((g.y0 + g.y1) / 2 - (base - w.cap)) / w.cap)
            pieces.append(min(g.pieces, 3))
    rh = np.maximum(np.asarray(rel_h, np.float32), 1e-3)
    feats_a = np.stack(feats)
    if len(feats_a) >= 256:  # BLAS (multi-threaded) pays off for large batches only
        scores = feats_a @ tpl.features.T
    else:
        scores = np.einsum("ik,jk->ij", feats_a, tpl.features, optimize=False)
    scores -= _HEIGHT_WEIGHT * np.abs(np.log(rh[:, None] / tpl.rel_height[None, :]))
    scores -= _CENTRE_WEIGHT * np.abs(np.asarray(rel_c, np.float32)[:, None]
                                      - tpl.rel_centre[None, :])
    scores -= _PIECES_WEIGHT * (np.asarray(pieces)[:, None] != tpl.pieces[None, :])
    per_class = np.full((len(feats), len(_CLASSES) + 1), -np.inf, np.float32)
    per_class[:, tpl.classes[tpl.starts]] = np.maximum.reduceat(scores, tpl.starts, axis=1)
    per_class[:, -1] = _REJECT_SCORE
    z = per_class / _TEMPERATURE
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p


def _decode(word: _Word, probs: np.ndarray) -> tuple[str | None, float, tuple[int, ...]]:
    """Most probable lead name of a word, its probability and the glyphs read."""
    ranges = _templates().word_aspect
    best, best_p, best_idx = None, 0.0, ()
    for idx, n_cuts in word.readings:
        n = len(idx)
        rows = probs[list(idx)]
        for name in LEAD_LABELS:
            lo, hi = ranges[name]
            if not lo <= word.aspect <= hi or (n_cuts and name in _STROKE_NAMES):
                continue
            for spelling in _SPELLINGS[name]:
                if len(spelling) != n:
                    continue
                cls = [_CLASS_INDEX[ch] for ch in spelling]
                p = float(np.prod(rows[np.arange(n), cls])) * _CUT_FACTOR ** n_cuts
                if p > best_p:
                    best, best_p, best_idx = name, p, idx
    if best is None or best_p < _MIN_PROBABILITY:
        return None, 0.0, ()
    return best, best_p, best_idx


def _read_words(words: list[_Word | None]
                ) -> list[tuple[str | None, float, tuple[int, ...]]]:
    """Read many words with one template comparison: (name, probability, glyphs read)."""
    valid = [w for w in words if w is not None]
    if not valid:
        return [(None, 0.0, ())] * len(words)
    probs = _class_probabilities(valid)
    out: list[tuple[str | None, float, tuple[int, ...]]] = []
    k = 0
    for w in words:
        if w is None:
            out.append((None, 0.0, ()))
            continue
        n = len(w.glyphs)
        out.append(_decode(w, probs[k:k + n]))
        k += n
    return out


def read_label(patch: np.ndarray) -> tuple[str | None, float]:
    """Read one printed word as a lead name.

    Parameters
    ----------
    patch : ndarray, shape (h, w), bool
        Crop of one printed word (True = ink), ideally tight. Any size; the
        cap height should be at least about 8 px for a reliable reading.

    Returns
    -------
    name : str or None
        Canonical lead name (``"I"`` ... ``"V6"``, ``"-aVR"``), or None when the
        word is not a lead name: wrong number of characters (1-4 are read) or
        aspect ratio, or no name with a probability of at least 0.05.
    confidence : float
        Probability in [0, 1] of the returned name (0 when None).
    """
    patch = np.asarray(patch)
    if patch.ndim != 2:
        raise OptionError("patch must be a 2-D mask")
    name, p, _ = _read_words([_prepare(patch.astype(bool))])[0]
    return name, p


# --------------------------------------------------------------------------------------------
# Finding words on a sheet
# --------------------------------------------------------------------------------------------

def _group_words(stats: np.ndarray, seeds: np.ndarray, extras: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain character components into words: (component labels, word of each, is seed).

    Two components join when they share rows (by half the smaller height)
    and the gap between them is at most `_MAX_GAP` times the taller one's
    height, or when they overlap in columns and nearly touch vertically (the
    dot of an ``i``, a broken stroke). Extras (dashes, dots) only join seeds.
    """
    ids = np.concatenate([seeds, extras])
    is_seed = np.concatenate([np.ones(seeds.size, bool), np.zeros(extras.size, bool)])
    order = np.argsort(stats[ids, cv2.CC_STAT_LEFT], kind="stable")
    ids, is_seed = ids[order], is_seed[order]
    x0 = stats[ids, cv2.CC_STAT_LEFT].astype(float)
    y0 = stats[ids, cv2.CC_STAT_TOP].astype(float)
    x1 = x0 + stats[ids, cv2.CC_STAT_WIDTH]
    y1 = y0 + stats[ids, cv2.CC_STAT_HEIGHT]
    h = y1 - y0
    n = ids.size
    max_h = float(h[is_seed].max())
    reach = x1 + _MAX_GAP * np.where(is_seed, h, max_h)
    counts = np.maximum(np.searchsorted(x0, reach, side="right") - np.arange(1, n + 1), 0)
    a = np.repeat(np.arange(n), counts)
    b = a + 1 + np.arange(a.size) - np.repeat(np.cumsum(counts) - counts, counts)
    href = np.maximum(h[a], h[b])
    gap = np.maximum(x0[a], x0[b]) - np.minimum(x1[a], x1[b])
    v_overlap = np.minimum(y1[a], y1[b]) - np.maximum(y0[a], y0[b])
    side_by_side = (gap > 0) & (v_overlap > 0) & (v_overlap >= 0.5 * np.minimum(h[a], h[b]))
    stacked = (gap <= 0) & (v_overlap > -0.4 * href)
    ok = (is_seed[a] | is_seed[b]) & (gap <= _MAX_GAP * href) & (side_by_side | stacked)
    graph = coo_matrix((np.ones(int(ok.sum()), np.int8), (a[ok], b[ok])), shape=(n, n))
    _, word = connected_components(graph, directed=False)
    return ids, word, is_seed


def _stroke_layout(word: np.ndarray) -> tuple[int, int]:
    """(width, pitch) in px of the strokes of a stroke-only word patch (pitch 0 if one stroke)."""
    cols = word.any(axis=0)
    d = np.diff(np.r_[0, cols.view(np.int8), 0])
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    width = int((stops - starts).max())
    pitch = int(round(float(np.median(np.diff(starts))))) if starts.size > 1 else 0
    return width, pitch


def _swallowed_stroke(zone: np.ndarray, top: int, bottom: int, width: int) -> bool:
    """True if `zone` (trace mask) holds a band `width` columns wide over the word's rows.

    Such a band is either a stroke of the word merged into a trace or a
    steep trace stroke (a QRS complex) right where a stroke would be; the
    two cannot be told apart, so both count.
    """
    for x in range(0, max(zone.shape[1] - width + 1, 1)):
        if zone[top:bottom, x:x + width].any(axis=1).mean() >= _SWALLOWED_COVER:
            return True
    return False


def _truncated(name: str, box: tuple[int, int, int, int], lab: np.ndarray,
               swallowing: np.ndarray, word: np.ndarray) -> bool:
    """True if a trace may have swallowed a character of the word.

    ``III`` with a stroke merged into a trace reads as ``II``, and ``-aVR``
    whose dash touches a trace as ``aVR``. For stroke names, a band of trace
    ink as wide as a stroke and covering the word's rows, between the
    strokes or where a further stroke would be (one stroke pitch beside the
    word), may be such a swallowed stroke; for ``aVR``, a flat horizontal
    piece of trace where the dash would be.

    Parameters
    ----------
    name : str
        Name read.
    box : tuple of int
        Word box (x0, y0, x1, y1) in px.
    lab : ndarray
        Component labels of the sheet.
    swallowing : ndarray of bool
        Per component label: may it have swallowed a character (traces)?
    word : ndarray of bool
        The word's own pixels inside `box`.
    """
    sides = _TRUNCATIONS.get(name, "")
    if not sides:
        return False
    x0, y0, x1, y1 = box
    cap = y1 - y0
    height, width = lab.shape
    if name not in _STROKE_NAMES:  # the dash of -aVR, at about mid height, left of the 'a'
        zone = swallowing[lab[y0 + int(0.4 * cap):y1 - int(0.15 * cap),
                              max(x0 - int(0.7 * cap), 0):x0]]
        if not zone.any():
            return False
        # A dash is horizontal: a row of pixels whose vertical extent is small
        # (a QRS stroke passing by is a vertical band, not a dash).
        flat = np.zeros_like(zone)
        for c, runs in enumerate(_column_runs(zone)):
            for a, b in runs:
                if b - a <= 0.25 * cap:
                    flat[a:b, c] = True
        return any(b - a >= 0.2 * cap for runs in _column_runs(flat.T) for a, b in runs)
    stroke_w, pitch = _stroke_layout(word)
    tol = max(2, int(round(0.15 * cap)))
    if pitch:
        gap_lo, gap_hi = pitch - stroke_w - tol, pitch - stroke_w + tol
    else:
        gap_lo, gap_hi = 0, int(np.ceil(_TRUNCATION_REACH * cap))
    ya, yb = max(y0 - cap // 2, 0), min(y1 + cap // 2, height)
    spans = [(x0, x1)]  # between the strokes
    if "l" in sides:
        spans.append((max(x0 - gap_hi - stroke_w, 0), max(x0 - max(gap_lo, 0), 0)))
    if "r" in sides:
        spans.append((min(x1 + max(gap_lo, 0), width), min(x1 + gap_hi + stroke_w, width)))
    for xa, xb in spans:
        if xb - xa < 1:
            continue
        zone = swallowing[lab[ya:yb, xa:xb]]
        if zone.any() and _swallowed_stroke(zone, y0 - ya, y1 - ya, min(stroke_w, xb - xa)):
            return True
    return False


def _plausible_strokes(name: str, box: tuple[int, int, int, int], word: np.ndarray,
                       lab: np.ndarray) -> tuple[bool, bool]:
    """Whether a stroke-only word looks printed rather than like pieces of a broken trace.

    Returns (shape, clear). Printed ``II``/``III`` strokes share their top and
    bottom rows, width and pitch (shape). A printed name usually stands clear
    of other ink just above and below, whereas a fragment of a broken trace
    continues a little beyond its ends (clear).
    """
    x0, y0, x1, y1 = box
    cap = y1 - y0
    tol = max(2, int(round(0.1 * cap)))
    n, _, st, _ = cv2.connectedComponentsWithStats(word.view(np.uint8), connectivity=8)
    strokes = sorted((st[i] for i in range(1, n) if st[i, cv2.CC_STAT_HEIGHT] >= 0.5 * cap),
                     key=lambda r: r[0])
    if len(strokes) != len(name):
        return False, False
    tops = [r[1] for r in strokes]
    bottoms = [r[1] + r[3] for r in strokes]
    widths = [r[2] for r in strokes]
    if max(tops) - min(tops) > tol or max(bottoms) - min(bottoms) > tol:
        return False, False
    if max(widths) > 1.6 * min(widths) + 1:
        return False, False
    if len(strokes) == 3:
        gaps = [strokes[i + 1][0] - strokes[i][0] for i in range(2)]
        if abs(gaps[1] - gaps[0]) > tol:
            return False, False
    clear = max(2, int(round(_STROKE_CLEARANCE * cap)))
    xa, xb = max(x0 - clear, 0), min(x1 + clear, lab.shape[1])
    above = lab[max(y0 - clear, 0):y0, xa:xb]
    below = lab[y1:y1 + clear, xa:xb]
    return True, not (above.any() or below.any())


def _check_strokes(hits: list[LabelHit], clear: set[int]) -> list[LabelHit]:
    """Keep stroke-only names (I, II, III) that fit the sheet's other labels.

    A bare stroke is also what a piece of a broken trace looks like, so when
    the sheet has at least two other names read with confidence 0.5 or more,
    a stroke name must have their cap height and share a row (top edge) or a
    column (left edge) with one of them, or share a column with a stroke name
    that shares a row. Without such names, only stroke names with clear space
    above and below (`clear`: ids of those hits) are kept, and none if there
    are more than a sheet prints (4).
    """
    others = [hit for hit in hits if hit.name not in _STROKE_NAMES]
    strokes = [hit for hit in hits if hit.name in _STROKE_NAMES]
    if not strokes:
        return hits
    anchors = [hit for hit in others if hit.confidence >= _ANCHOR_CONFIDENCE]
    if len(anchors) < 2:
        strokes = [hit for hit in strokes if id(hit) in clear]
        return others + (strokes if len(strokes) <= _MAX_UNANCHORED_STROKES else [])
    cap = float(np.median([hit.box_px[3] - hit.box_px[1] for hit in anchors]))

    def same_row(a: LabelHit, b: LabelHit) -> bool:
        return abs(a.box_px[1] - b.box_px[1]) <= 0.3 * cap

    def same_column(a: LabelHit, b: LabelHit) -> bool:
        return abs(a.box_px[0] - b.box_px[0]) <= 0.6 * cap

    sized = [hit for hit in strokes
             if abs((hit.box_px[3] - hit.box_px[1]) / cap - 1.0) <= _BAR_HEIGHT_TOL]
    in_row = [hit for hit in sized if any(same_row(hit, o) for o in anchors)]
    kept = [hit for hit in sized if hit in in_row
            or any(same_column(hit, o) for o in anchors + in_row if o is not hit)]
    return others + kept


def _column_runs(sub: np.ndarray) -> list[list[tuple[int, int]]]:
    """Vertical runs ``(start, stop)`` of True pixels in each column of a mask."""
    padded = np.zeros((sub.shape[0] + 2, sub.shape[1]), np.int8)
    padded[1:-1] = sub
    d = np.diff(padded, axis=0).T
    sc, sr = np.nonzero(d == 1)
    _, er = np.nonzero(d == -1)
    runs: list[list[tuple[int, int]]] = [[] for _ in range(sub.shape[1])]
    for c, a, b in zip(sc.tolist(), sr.tolist(), er.tolist(), strict=True):
        runs[c].append((a, b))
    return runs


def _trace_path(runs: list[list[tuple[int, int]]]) -> list[int]:
    """Index of the run of each column that continues the trace (-1 where none).

    Dynamic programming over columns: the trace is the one structure that
    crosses the whole window; a path pays for vertical jumps between the runs
    of neighbouring columns and for bends (changes of the slope of the run
    edges).
    """
    n = len(runs)
    back: list[list[int]] = []
    cost: list[float] = []
    slope: list[tuple[int, int]] = []
    prev: list[tuple[int, int]] = []
    for c in range(n):
        cur = runs[c]
        new_cost, new_back, new_slope = [], [], []
        for a, b in cur:
            best, arg, sl = 0.0, -1, (0, 0)
            if prev:
                best = np.inf
                for k, (pa, pb) in enumerate(prev):
                    sa, sb = slope[k]
                    bend = abs(a - pa - sa) + abs(b - pb - sb)
                    v = cost[k] + max(0, a - pb, pa - b) + _BEND_COST * min(bend, 20)
                    if v < best:
                        best, arg, sl = v, k, (a - pa, b - pb)
            new_cost.append(best)
            new_back.append(arg)
            new_slope.append(sl)
        back.append(new_back)
        if cur:
            cost, prev, slope = new_cost, cur, new_slope
    path = [-1] * n
    k = int(np.argmin(cost)) if cost else -1
    for c in range(n - 1, -1, -1):
        if not runs[c]:
            continue
        if k < 0:
            k = 0
        path[c] = k
        k = back[c][k]
    return path


def _trace_pixels(chosen: list[tuple[int, int] | None], shape: tuple[int, int]
                  ) -> tuple[np.ndarray, float]:
    """Mask of the runs a followed trace path takes, and the pen width (median run, px)."""
    erased = np.zeros(shape, bool)
    lengths = []
    for c, run in enumerate(chosen):
        if run is not None:
            erased[run[0]:run[1], c] = True
            lengths.append(run[1] - run[0])
    return erased, float(np.median(lengths)) if lengths else 1.0


def _fill_gaps(residual: np.ndarray, erased: np.ndarray, max_len: int) -> np.ndarray:
    """Fill erased row segments bounded by residual ink on both sides (strokes cut by a trace)."""
    out = residual.copy()
    padded = np.zeros((erased.shape[0], erased.shape[1] + 2), np.int8)
    padded[:, 1:-1] = erased
    d = np.diff(padded, axis=1)
    ys, xa = np.nonzero(d == 1)
    _, xb = np.nonzero(d == -1)
    w = residual.shape[1]
    for y, a, b in zip(ys.tolist(), xa.tolist(), xb.tolist(), strict=True):
        if b - a <= max_len and a > 0 and b < w and residual[y, a - 1] and residual[y, b]:
            out[y, a:b] = True
    return out


def _peel_traces(mask: np.ndarray, lab: np.ndarray, stats: np.ndarray, large: np.ndarray,
                 px_per_mm: float) -> tuple[np.ndarray, int]:
    """Separate text that touches traces.

    Columns where a large component has more than one vertical run hold
    something besides the trace (text, a separator tick). Around them the
    trace is followed by :func:`_trace_path` and erased; strokes it cut are
    bridged again, and what is left becomes new components: their labels
    are written into `lab` (in place) and their stats are returned appended
    to `stats`, with the number of original components.
    """
    n0 = len(stats)
    width = lab.shape[1]
    # First pixel of every vertical run (row 0 holds no text worth reading).
    ys, xs = np.nonzero(np.greater(mask[1:], mask[:-1]))
    ys += 1
    ids = lab[ys, xs]
    keep = large[ids]
    key = ids[keep].astype(np.int64) * width + xs[keep]
    uniq, counts = np.unique(key, return_counts=True)
    busy = uniq[counts >= 2]
    if busy.size == 0:
        return stats, n0
    bid, bx = np.divmod(busy, width)
    join = int(np.ceil(3.0 * px_per_mm))
    margin = int(np.ceil(1.5 * px_per_mm))
    max_window = 30.0 * px_per_mm
    breaks = np.flatnonzero((np.diff(bid) != 0) | (np.diff(bx) > join)) + 1
    new_stats = [stats]
    next_id = n0
    for grp in np.split(np.arange(busy.size), breaks):
        cid = int(bid[grp[0]])
        cx0 = int(stats[cid, cv2.CC_STAT_LEFT])
        cy0 = int(stats[cid, cv2.CC_STAT_TOP])
        cx1 = cx0 + int(stats[cid, cv2.CC_STAT_WIDTH])
        cy1 = cy0 + int(stats[cid, cv2.CC_STAT_HEIGHT])
        xa = max(int(bx[grp[0]]) - margin, cx0)
        xb = min(int(bx[grp[-1]]) + margin + 1, cx1)
        if xb - xa > max_window:
            continue
        view = lab[cy0:cy1, xa:xb]
        sub = view == cid
        runs = _column_runs(sub)
        path = _trace_path(runs)
        chosen = [runs[c][k] if k >= 0 else None for c, k in enumerate(path)]
        erased, pen = _trace_pixels(chosen, sub.shape)
        residual = sub & ~erased
        if not residual.any():
            continue
        max_len = int(np.ceil(3 * pen)) + 3
        residual = _fill_gaps(residual, erased, max_len)
        residual = _fill_gaps(residual.T, erased.T, max_len).T
        m, rl, rs, _ = cv2.connectedComponentsWithStats(residual.view(np.uint8), connectivity=8)
        for k in range(1, m):
            if rs[k, cv2.CC_STAT_AREA] < 2:
                continue
            view[rl == k] = next_id
            row = rs[k].copy()
            row[cv2.CC_STAT_LEFT] += xa
            row[cv2.CC_STAT_TOP] += cy0
            new_stats.append(row[None, :])
            next_id += 1
    return np.concatenate(new_stats), n0


def _words_to_read(stats: np.ndarray, seeds: np.ndarray, extras: np.ndarray, lab: np.ndarray,
                   min_cap: float, max_cap: float
                   ) -> tuple[list[tuple[int, int, int, int]], list[_Word | None],
                              list[list[int]]]:
    """Group components into words and prepare those of a plausible size."""
    boxes: list[tuple[int, int, int, int]] = []
    prepared: list[_Word | None] = []
    members_out: list[list[int]] = []
    if seeds.size == 0:
        return boxes, prepared, members_out
    ids, word, is_seed = _group_words(stats, seeds, extras)
    order = np.argsort(word, kind="stable")
    ids, word, is_seed = ids[order], word[order], is_seed[order]
    starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
    gx0 = np.minimum.reduceat(stats[ids, cv2.CC_STAT_LEFT], starts)
    gy0 = np.minimum.reduceat(stats[ids, cv2.CC_STAT_TOP], starts)
    gx1 = np.maximum.reduceat(stats[ids, cv2.CC_STAT_LEFT] + stats[ids, cv2.CC_STAT_WIDTH],
                              starts)
    gy1 = np.maximum.reduceat(stats[ids, cv2.CC_STAT_TOP] + stats[ids, cv2.CC_STAT_HEIGHT],
                              starts)
    cap = gy1 - gy0
    lo = min(v[0] for v in _templates().word_aspect.values())
    hi = max(v[1] for v in _templates().word_aspect.values())
    ok = ((cap >= min_cap) & (cap <= max_cap) & (gx1 - gx0 >= lo * cap)
          & (gx1 - gx0 <= hi * cap) & np.logical_or.reduceat(is_seed, starts))
    ends = np.r_[starts[1:], ids.size]
    word_of = np.full(len(stats), -1, np.int64)
    for k in np.flatnonzero(ok):
        members = ids[starts[k]:ends[k]]
        x0, y0, x1, y1 = int(gx0[k]), int(gy0[k]), int(gx1[k]), int(gy1[k])
        word_of[members] = k
        boxes.append((x0, y0, x1, y1))
        prepared.append(_prepare(word_of[lab[y0:y1, x0:x1]] == k))
        members_out.append([int(m) for m in members])
    return boxes, prepared, members_out


def find_labels(ink: np.ndarray, px_per_mm: float, min_confidence: float = 0.5
                ) -> list[LabelHit]:
    """Find printed lead names in a binary ink mask.

    Parameters
    ----------
    ink : ndarray, shape (H, W), bool
        True where the pixel is dark ink (traces and text) of an upright,
        deskewed sheet with the grid already removed.
    px_per_mm : float
        Scale of the sheet in px/mm.
    min_confidence : float
        Smallest confidence in [0, 1] of a reported name.

    Returns
    -------
    list of LabelHit
        Lead names read with at least `min_confidence`, sorted by the top and
        then the left edge of their boxes (px). Character-sized components
        (cap height about 1.5-7 mm) are grouped into words (gaps below about
        one character height); large components such as traces are not read,
        but text touching them is peeled off where that can be done safely
        (see the module description). A name touching a trace is more often
        missed than found; it is not meant to be misread.

    Raises
    ------
    OptionError
        If `ink` is not 2-D or `px_per_mm` is not positive.
    """
    ink = _check_ink(ink, px_per_mm)
    mask = np.ascontiguousarray(ink.astype(bool)).view(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return []
    min_cap = 0.8 * _MIN_CAP_MM * px_per_mm
    max_cap = 1.2 * _MAX_CAP_MM * px_per_mm

    def is_large(st: np.ndarray) -> np.ndarray:
        return (st[:, cv2.CC_STAT_HEIGHT] > max_cap) | (st[:, cv2.CC_STAT_WIDTH] > 5 * max_cap)

    large = is_large(stats)
    large[0] = False
    stats, n0 = _peel_traces(mask, lab, stats, large, px_per_mm)
    large = np.r_[large, is_large(stats[n0:])]
    h = stats[:, cv2.CC_STAT_HEIGHT]
    area = stats[:, cv2.CC_STAT_AREA]
    small = ~large & (np.arange(len(stats)) > 0)
    # Seeds: letters at least about x-height tall; extras: dashes and dots.
    is_seed = small & (h >= 0.45 * min_cap)
    is_extra = small & (h < 0.45 * min_cap) & (area >= 2)
    peeled = np.arange(len(stats)) >= n0
    # Words of untouched components, then words that need a peeled component.
    plain = _words_to_read(stats, np.flatnonzero(is_seed & ~peeled),
                           np.flatnonzero(is_extra & ~peeled), lab, min_cap, max_cap)
    boxes, prepared, members_all = plain
    n_plain = len(boxes)
    if n0 < len(stats):
        more = _words_to_read(stats, np.flatnonzero(is_seed), np.flatnonzero(is_extra), lab,
                              min_cap, max_cap)
        for box, word, members in zip(*more, strict=True):
            if peeled[members].any():
                boxes.append(box)
                prepared.append(word)
                members_all.append(members)
    hits: list[LabelHit] = []
    swallowing = large | peeled  # peeled pieces were part of a trace
    # The sheet-level checks use every name read with at least the default
    # confidence, so that `min_confidence` only filters the result.
    floor = min(min_confidence, _ANCHOR_CONFIDENCE)
    clear: set[int] = set()
    for k, (box, (name, conf, idx)) in enumerate(zip(boxes, _read_words(prepared),
                                                       strict=True)):
        if name is None or conf < floor:
            continue
        word = np.isin(lab[box[1]:box[3], box[0]:box[2]], members_all[k])
        if _truncated(name, box, lab, swallowing, word):
            continue
        is_clear = True
        if name in _STROKE_NAMES:
            shape_ok, is_clear = _plausible_strokes(name, box, word, lab)
            if not shape_ok:
                continue
        if k >= n_plain:
            if name in _STROKE_NAMES or conf < _PEELED_MIN_CONFIDENCE:
                continue
            if any(_overlaps(box, hit.box_px) for hit in hits):
                continue
            w = prepared[k]
            assert w is not None
            if name in _FRAGILE and _damaged(w.glyphs[idx[-1]], (box[0] + w.origin[0],
                                                                  box[1] + w.origin[1]),
                                             lab, large):
                continue
        hit = LabelHit(name, conf, (float(box[0]), float(box[1]), float(box[2]), float(box[3])))
        hits.append(hit)
        if is_clear:
            clear.add(id(hit))
    hits = [hit for hit in _check_strokes(hits, clear) if hit.confidence >= min_confidence]
    hits.sort(key=lambda hit: (hit.box_px[1], hit.box_px[0]))
    return hits


def _damaged(glyph: _Glyph, origin: tuple[int, int], lab: np.ndarray, large: np.ndarray
             ) -> bool:
    """True if a glyph touches a trace's pixels (part of it may have been peeled off)."""
    gx0, gy0 = origin[0] + glyph.x0, origin[1] + glyph.y0
    h, w = glyph.mask.shape
    ya, xa = max(gy0 - 1, 0), max(gx0 - 1, 0)
    yb, xb = min(gy0 + h + 1, lab.shape[0]), min(gx0 + w + 1, lab.shape[1])
    grown = np.zeros((h + 2, w + 2), np.uint8)
    grown[1:-1, 1:-1] = glyph.mask
    grown = cv2.dilate(grown, np.ones((3, 3), np.uint8)).astype(bool)
    grown = grown[ya - (gy0 - 1):yb - (gy0 - 1), xa - (gx0 - 1):xb - (gx0 - 1)]
    return bool((large[lab[ya:yb, xa:xb]] & grown).any())


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """True if two (x0, y0, x1, y1) boxes intersect."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
