"""Lead-label reader: words rendered in many fonts, generated sheets, traps, real sheets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import SHARED_DATA
from ecgdigitize.digitize.labels import LEAD_LABELS, LabelHit, find_labels, read_label
from ecgdigitize.simulator import simulate_ecg
from ecgdigitize.synth.canvas import TEXT, TRACE
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import SheetSpec, generate_sheet

HERSHEY = {"simplex": cv2.FONT_HERSHEY_SIMPLEX, "plain": cv2.FONT_HERSHEY_PLAIN,
           "duplex": cv2.FONT_HERSHEY_DUPLEX, "complex": cv2.FONT_HERSHEY_COMPLEX,
           "triplex": cv2.FONT_HERSHEY_TRIPLEX,
           "italic": cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC}
HEADER_WORDS = ["Rate", "72", "bpm", "QRS", "96", "ms", "mm/s", "mm/mV", "ID:", "Sex:", "M", "F",
                "10", "25", "PR", "QT", "QTc", "Hz", "50", "Vent.", "axes", "Room", "12A",
                "DOE,", "JANE", "P-R-T", "H", "T", "V", "A", "a", "R", "L", "1", "2", "3", "11",
                "IV", "VI", "VR", "aV", "V0", "V7", "V8", "aVX", "E", "P", "N", "U", "H1"]


def hershey_word(text: str, face: int, cap_px: int, thickness: int | None = None) -> np.ndarray:
    """`text` drawn like the generator draws labels; boolean mask with a margin."""
    (_, th), _ = cv2.getTextSize("H", face, 1.0, 1)
    scale = cap_px / th
    thickness = thickness or max(1, round(cap_px / 12))
    (tw, _), _ = cv2.getTextSize(text, face, scale, thickness)
    img = np.zeros((3 * cap_px, tw + 2 * cap_px), np.uint8)
    cv2.putText(img, text, (cap_px, 2 * cap_px), face, scale, 255, thickness, cv2.LINE_AA)
    return img > 102


def sans_word(text: str, size: int, stroke: int) -> np.ndarray:
    """`text` in Pillow's built-in sans-serif font (`stroke` emboldens it)."""
    font = ImageFont.load_default(size=size)
    img = Image.new("L", (size * (len(text) + 2), 3 * size), 0)
    ImageDraw.Draw(img).text((size, 2 * size), text, fill=255, font=font, anchor="ls",
                             stroke_width=stroke, stroke_fill=255)
    return np.asarray(img) > 102


def sheet(seed: int, **render):
    rng = np.random.default_rng(seed)
    rec = simulate_ecg(rng)
    return generate_sheet(rec, SheetSpec(render=RenderOptions(**render)), rng=rng, seed=seed)


def score(hits: list[LabelHit], groundtruth: dict) -> tuple[int, list[LabelHit]]:
    """(labels found, wrong hits): a hit is right if its centre is in a box of its name."""
    labels = [(lead["label_text"], lead["label_box_px"]) for lead in groundtruth["leads"]]
    found: set[int] = set()
    wrong = []
    for hit in hits:
        cx, cy = (hit.box_px[0] + hit.box_px[2]) / 2, (hit.box_px[1] + hit.box_px[3]) / 2
        match = [k for k, (name, b) in enumerate(labels)
                 if name == hit.name and k not in found
                 and b[0] - 5 <= cx <= b[2] + 5 and b[1] - 5 <= cy <= b[3] + 5]
        if match:
            found.add(match[0])
        else:
            wrong.append(hit)
    return len(found), wrong


# --- read_label ---------------------------------------------------------------------------

@pytest.mark.parametrize("font", sorted(HERSHEY))
def test_read_label_reads_every_name_in_every_generator_font(font):
    for name in LEAD_LABELS:
        for cap in (10, 18, 32):
            got, conf = read_label(hershey_word(name, HERSHEY[font], cap))
            assert got == name, (font, cap, name, got, conf)
            assert 0.5 <= conf <= 1.0


@pytest.mark.parametrize("stroke", [0, 1])
def test_read_label_reads_sans_serif_regular_and_bold(stroke):
    for name in LEAD_LABELS:
        if name == "-aVR" and stroke:
            continue  # the bold dash runs into the 'a' (see known weaknesses)
        got, conf = read_label(sans_word(name, 32, stroke))
        assert got == name and conf >= 0.5, (name, stroke, got, conf)


def test_read_label_accepts_capital_avr_spelling():
    assert read_label(hershey_word("AVR", HERSHEY["simplex"], 24))[0] == "aVR"
    assert read_label(hershey_word("AVF", HERSHEY["duplex"], 24))[0] == "aVF"


def test_read_label_rejects_header_words():
    for word in HEADER_WORDS:
        for face in HERSHEY.values():
            name, conf = read_label(hershey_word(word, face, 20))
            assert name is None or conf < 0.5, (word, name, conf)
        name, conf = read_label(sans_word(word, 32, 1))
        assert name is None or conf < 0.5, (word, name, conf)


def test_read_label_rejects_non_text_shapes():
    assert read_label(np.zeros((20, 20), bool)) == (None, 0.0)
    assert read_label(np.ones((20, 20), bool))[0] is None       # a blob
    assert read_label(np.ones((3, 60), bool))[0] is None        # a flat line
    circle = np.zeros((40, 40), np.uint8)
    cv2.circle(circle, (20, 20), 15, 1, 2)
    assert read_label(circle.astype(bool))[0] is None
    with pytest.raises(ValueError):
        read_label(np.zeros((4, 4, 3), bool))


def test_read_label_is_deterministic_and_accepts_uint8():
    word = hershey_word("aVL", HERSHEY["complex"], 20)
    assert read_label(word) == read_label(word.astype(np.uint8))


# --- find_labels on generated sheets ----------------------------------------------------------

@pytest.mark.parametrize("seed, render", [
    (0, dict(layout="3x4+1", dpi=200, font="duplex", label_height_mm=3.0)),
    (1, dict(layout="6x2", dpi=150, font="triplex", label_height_mm=3.5)),
    (2, dict(layout="3x4-cabrera", dpi=300, font="simplex", label_height_mm=2.5)),
    (3, dict(layout="12x1", dpi=100, font="italic", label_height_mm=4.0)),
])
def test_find_labels_on_generated_sheets(seed, render):
    s = sheet(seed, **render)
    gt = s.groundtruth
    ink = np.isin(s.canvas.classes, (TRACE, TEXT))
    hits = find_labels(ink, gt["px_per_mm"])
    found, wrong = score(hits, gt)
    assert wrong == []  # header text, traces, ticks and pulses are never read as names
    assert found >= 0.7 * len(gt["leads"])
    assert hits == sorted(hits, key=lambda h: (h.box_px[1], h.box_px[0]))
    h, w = ink.shape
    for hit in hits:
        assert 0.5 <= hit.confidence <= 1.0
        x0, y0, x1, y1 = hit.box_px
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_find_labels_reads_cabrera_minus_avr():
    s = sheet(4, layout="3x4-cabrera", dpi=200, font="simplex", label_height_mm=3.5,
              header=False)
    hits = find_labels(np.isin(s.canvas.classes, (TRACE, TEXT)), s.groundtruth["px_per_mm"])
    names = [hit.name for hit in hits]
    assert "-aVR" in names and "aVR" not in names


def test_find_labels_on_a_darkness_threshold_of_the_image():
    s = sheet(5, layout="3x4+1", dpi=200, font="complex", label_height_mm=3.0)
    grey = cv2.cvtColor(s.canvas.image, cv2.COLOR_RGB2GRAY)
    hits = find_labels(grey < 100, s.groundtruth["px_per_mm"])
    found, wrong = score(hits, s.groundtruth)
    assert wrong == [] and found >= 8


def test_min_confidence_filters_hits():
    s = sheet(0, layout="3x4+1", dpi=200, font="duplex", label_height_mm=3.0)
    ink = np.isin(s.canvas.classes, (TRACE, TEXT))
    ppm = s.groundtruth["px_per_mm"]
    strict = find_labels(ink, ppm, min_confidence=0.95)
    loose = find_labels(ink, ppm, min_confidence=0.5)
    assert {(h.name, h.box_px) for h in strict} <= {(h.name, h.box_px) for h in loose}
    assert all(h.confidence >= 0.95 for h in strict)


def test_find_labels_input_checks():
    assert find_labels(np.zeros((50, 80), bool), 5.0) == []
    with pytest.raises(ValueError):
        find_labels(np.zeros((5, 5, 3), bool), 5.0)
    with pytest.raises(ValueError):
        find_labels(np.zeros((5, 5), bool), 0.0)


# --- traps ----------------------------------------------------------------------------------

def _place(canvas: np.ndarray, word: np.ndarray, x: int, y: int) -> None:
    h, w = word.shape
    canvas[y:y + h, x:x + w] |= word


def test_a_trace_swallowing_a_stroke_does_not_turn_iii_into_ii():
    # 8 px/mm; III with its third stroke crossed by a long trace line.
    canvas = np.zeros((300, 900), bool)
    word = hershey_word("III", HERSHEY["simplex"], 24)
    _place(canvas, word, 100, 100)
    ys, xs = np.nonzero(canvas)
    third = xs.max() - 2
    cv2.line(canvas.view(np.uint8), (third, 130), (880, 130), 1, 2)  # trace through stroke 3
    cv2.line(canvas.view(np.uint8), (third, 130), (third, 290), 1, 2)
    hits = find_labels(canvas, 8.0)
    assert all(hit.name != "II" for hit in hits)


def test_a_qrs_stroke_through_the_middle_stroke_does_not_leave_ii():
    canvas = np.zeros((400, 900), bool)
    word = hershey_word("III", HERSHEY["complex"], 30)
    _place(canvas, word, 100, 150)
    ys, xs = np.nonzero(canvas)
    middle = int(np.median(xs))
    cv2.line(canvas.view(np.uint8), (middle, 20), (middle, 380), 1, 3)   # R wave
    cv2.line(canvas.view(np.uint8), (middle, 380), (880, 380), 1, 2)
    hits = find_labels(canvas, 8.0)
    assert all(hit.name not in ("I", "II") for hit in hits)


def test_a_trace_through_the_dash_does_not_turn_minus_avr_into_avr():
    canvas = np.zeros((300, 900), bool)
    word = hershey_word("-aVR", HERSHEY["simplex"], 24)
    _place(canvas, word, 100, 100)
    ys, xs = np.nonzero(canvas)
    dash_y = int(np.median(ys[xs < xs.min() + 5]))
    cv2.line(canvas.view(np.uint8), (10, dash_y), (xs.min() + 3, dash_y), 1, 2)
    cv2.line(canvas.view(np.uint8), (10, dash_y), (10, 290), 1, 2)
    cv2.line(canvas.view(np.uint8), (10, 290), (880, 290), 1, 2)
    hits = find_labels(canvas, 8.0)
    assert all(hit.name != "aVR" for hit in hits)


def test_pieces_of_a_broken_trace_are_not_read_as_strokes():
    rng = np.random.default_rng(0)
    canvas = np.zeros((800, 1600), bool)
    for _ in range(40):  # short vertical dashes: a thresholded QRS-rich trace
        x, y = int(rng.integers(20, 1580)), int(rng.integers(20, 700))
        length = int(rng.integers(15, 40))
        canvas[y:y + length, x:x + 2] = True
    assert find_labels(canvas, 8.0) == []


def test_large_components_are_not_read():
    canvas = np.zeros((400, 1200), bool)
    word = hershey_word("V1", HERSHEY["duplex"], 24)
    _place(canvas, word, 100, 50)
    canvas[200:203, 20:1180] = True                 # a flat trace
    canvas[100:380, 600:603] = True                 # a tall stroke
    hits = find_labels(canvas, 8.0)
    assert [hit.name for hit in hits] == ["V1"]


# --- real sheets ------------------------------------------------------------------------------

def _real_ink(name: str) -> np.ndarray:
    path = SHARED_DATA / "real-images-dev" / name
    if not path.is_file():
        pytest.skip("shared development data not present")
    grey = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
    otsu, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return grey < min(100, otsu)


@pytest.mark.parametrize("name, px_per_mm, expected", [
    ("ecg00001.png", 12.4, {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3"}),
    ("ecg00004.png", 5.6, {"I", "II", "aVR", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"}),
])
def test_real_sheets(name, px_per_mm, expected):
    hits = find_labels(_real_ink(name), px_per_mm)
    names = [hit.name for hit in hits]
    assert expected <= set(names)
    assert all(names.count(n) == 1 for n in set(names) - {"II"})  # only II repeats
