import cv2
import numpy as np
import pytest

from ecgdigitize.digitize.settings_text import PrintedSettings, _text_lines, read_printed_settings
from ecgdigitize.simulator import simulate_ecg
from ecgdigitize.synth.canvas import TEXT, TRACE
from ecgdigitize.synth.render import RenderOptions
from ecgdigitize.synth.sheet import SheetSpec, generate_sheet
from ecgdigitize.synth.style import font_face

PX_PER_MM = 200 / 25.4


def _sheet(k: int, speed: float, gain: float, dpi: float, font: str, header: bool = True):
    opts = RenderOptions(speed_mm_s=speed, gain_mm_mv=gain, dpi=dpi, font=font, header=header)
    sheet = generate_sheet(simulate_ecg(np.random.default_rng(k)), SheetSpec(render=opts),
                           rng=np.random.default_rng(k), seed=k)
    return np.isin(sheet.canvas.classes, (TRACE, TEXT)), sheet.groundtruth["px_per_mm"]


@pytest.mark.parametrize("k, font, dpi, speed, gain", [
    (1, "simplex", 150, 25.0, 10.0),
    (2, "duplex", 150, 50.0, 5.0),
    (3, "plain", 200, 25.0, 20.0),
    (4, "complex", 250, 50.0, 10.0),
    (5, "italic", 300, 25.0, 5.0),
    (6, "duplex", 600, 50.0, 20.0),
])
def test_reads_generated_sheets(k, font, dpi, speed, gain):
    ink, ppm = _sheet(k, speed, gain, dpi, font)
    res = read_printed_settings(ink, ppm)
    assert res.speed_mm_s == speed and res.gain_mm_mv == gain
    assert 0.3 <= res.confidence <= 1.0
    # The settings line is printed near the bottom of the sheet.
    assert res.box_px is not None and res.box_px[1] > 0.85 * ink.shape[0]


def test_thresholded_image_mask():
    opts = RenderOptions(speed_mm_s=50.0, gain_mm_mv=20.0, dpi=200, font="simplex")
    sheet = generate_sheet(simulate_ecg(np.random.default_rng(7)), SheetSpec(render=opts),
                           rng=np.random.default_rng(7), seed=7)
    grey = cv2.cvtColor(sheet.canvas.image, cv2.COLOR_RGB2GRAY)
    res = read_printed_settings(grey < 100, sheet.groundtruth["px_per_mm"])
    assert (res.speed_mm_s, res.gain_mm_mv) == (50.0, 20.0)


def test_no_header_reads_nothing():
    ink, ppm = _sheet(8, 25.0, 10.0, 200, "simplex", header=False)
    res = read_printed_settings(ink, ppm)
    assert res == PrintedSettings(None, None, 0.0, None)


def _text_mask(lines: list[str], font: str = "simplex", cap_mm: float = 2.6) -> np.ndarray:
    """A blank 200 dpi mask with text lines drawn 12 mm apart."""
    ink = np.zeros((int(14 * PX_PER_MM * len(lines)), 1400), np.uint8)
    face = font_face(font)
    (_, th), _ = cv2.getTextSize("H", face, 1.0, 1)
    scale = cap_mm * PX_PER_MM / th
    for i, text in enumerate(lines):
        cv2.putText(ink, text, (40, int((10 + 14 * i) * PX_PER_MM)), face, scale, 255, 2,
                    cv2.LINE_AA)
    return ink > 102


@pytest.mark.parametrize("text, speed, gain", [
    ("25mm/s 10mm/mV 40Hz", 25.0, 10.0),
    ("Speed: 50 mm/s   Gain: 5.0 mm/mV", 50.0, 5.0),
    ("25 mm/sec   Gain 20 mm/mV", 25.0, 20.0),
    ("Gain 10 mm/mV", None, 10.0),
    ("Speed: 25 mm/s", 25.0, None),
])
def test_printed_forms(text, speed, gain):
    res = read_printed_settings(_text_mask([text]), PX_PER_MM)
    assert (res.speed_mm_s, res.gain_mm_mv) == (speed, gain)


@pytest.mark.parametrize("text", ["30 mm/s  7 mm/mV", "12.5 mm/s  2.5 mm/mV",
                                  "125 mm/s  100 mm/mV", "0.05-150 Hz  50 Hz", "QT/QTc 380/410 ms"])
def test_non_standard_values_give_none(text):
    res = read_printed_settings(_text_mask([text]), PX_PER_MM)
    assert res.speed_mm_s is None and res.gain_mm_mv is None


def test_conflicting_readings_give_none():
    res = read_printed_settings(_text_mask(["25 mm/s  10 mm/mV", "50 mm/s  20 mm/mV"]), PX_PER_MM)
    assert res.speed_mm_s is None and res.gain_mm_mv is None


def test_empty_and_invalid_input():
    assert read_printed_settings(np.zeros((50, 60), bool), 8.0).speed_mm_s is None
    with pytest.raises(ValueError):
        read_printed_settings(np.zeros((5, 5, 3), bool), 8.0)
    with pytest.raises(ValueError):
        read_printed_settings(np.zeros((5, 5), bool), 0.0)


def test_line_is_found_among_many_specks():
    # Specks above and below the settings line, at the columns of its characters, each
    # open a one-character "line"; the settings line must still be chained whole (it was
    # split once more than 64 lines had been opened between two of its characters).
    ink = np.pad(_text_mask(["50 mm/s   20 mm/mV"]), ((400, 400), (0, 0)))
    rng = np.random.default_rng(0)
    rows = np.concatenate([np.arange(5, 380, 5), np.arange(ink.shape[0] - 380,
                                                           ink.shape[0] - 5, 5)])
    for y in rows:
        x = int(rng.integers(42, 56))    # between the first two characters
        ink[y:y + 3, x:x + 3] = True
    res = read_printed_settings(ink, PX_PER_MM)
    assert (res.speed_mm_s, res.gain_mm_mv) == (50.0, 20.0)



def test_lone_specks_open_no_text_lines():
    # A black-and-white scan sprinkles thousands of isolated specks over the page. A speck
    # joins a line beside it but opens none of its own, so a page of specks holds no text
    # lines (each used to open one, and chaining slowed to minutes).
    ink = np.zeros((1200, 1600), bool)
    rng = np.random.default_rng(1)
    for y, x in zip(rng.integers(0, 1198, 5000), rng.integers(0, 1598, 5000), strict=True):
        ink[y:y + 2, x:x + 2] = True
    assert _text_lines(ink, PX_PER_MM) == []
    text = np.pad(_text_mask(["25 mm/s   10 mm/mV"]), ((300, 300), (0, 0)))
    lines = _text_lines(text, PX_PER_MM)
    assert len(lines) == 1 and all(c.mask.size for line in lines for c in line)
