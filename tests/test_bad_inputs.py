"""A corpus of bad inputs, through the API and the command line, and fuzzing.

Every bad input must end in an :class:`~ecgdigitize.errors.EcgDigitizeError`
subclass (on the command line: one ``ecgdigitize: error:`` line per file and
exit status 2, the good files of the same run still written), never in another
exception. Everything is generated here, in temporary folders.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import smooth_record
from ecgdigitize.cli import main
from ecgdigitize.digitize.load import load_image
from ecgdigitize.digitize.pipeline import digitize
from ecgdigitize.errors import EcgDigitizeError, ImageError, NotAnEcgError, OptionError
from ecgdigitize.evaluate.scoring import load_reconstruction
from ecgdigitize.io.pages import list_pages, load_page
from ecgdigitize.leads import STANDARD_LEADS
from ecgdigitize.synth.sheet import SheetSpec, generate_sheet
from test_pages import encrypted_pdf, pages_pdf, pdf_bytes

NON_ASCII = "électrocardiogramme_心电图"


@pytest.fixture(scope="module")
def sheet() -> np.ndarray:
    """A clean synthetic 3x4+1 sheet at 100 dpi, RGB uint8."""
    spec = SheetSpec(preset="custom")
    spec.render.dpi = 100
    spec.render.layout = "3x4+1"
    return generate_sheet(smooth_record(), spec, seed=2).canvas.image


def _encode(arr: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def huge_png(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` px RGB, with no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def huge_jpeg(width: int, height: int) -> bytes:
    """A JPEG whose frame header declares `width` x `height` px, with no scan."""
    sof = struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8\xff\xc0" + sof + b"\xff\xd9"


def _smooth_noise(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 12)


def _gradient() -> np.ndarray:
    y, x = np.mgrid[0:700, 0:900]
    return np.stack([x * 255 // 899, y * 255 // 699, (x + y) * 255 // 1598],
                    axis=2).astype(np.uint8)


def _empty_pdf() -> bytes:
    buf = io.BytesIO()
    doc = pdfium.PdfDocument.new()
    doc.save(buf)
    doc.close()
    return buf.getvalue()


# --------------------------------------------------------------------------- the corpus

#: name -> (bytes of the file, given the good sheet; what load_page/load_image raise:
#: an ImageError whose message holds this text, or None when the file loads).
CORPUS: dict[str, tuple[Callable[[np.ndarray], bytes], str | None]] = {
    "truncated.png": (lambda s: _encode(s, "PNG")[: len(_encode(s, "PNG")) // 2],
                      "corrupt or truncated"),
    "truncated.jpg": (lambda s: _encode(s, "JPEG")[:3000], "corrupt or truncated"),
    "zero.png": (lambda s: b"", "empty file"),
    "text.png": (lambda s: b"Dear doctor, please find the ECG attached.\n" * 10,
                 "not an image file"),
    "png-named.jpg": (lambda s: _encode(s, "PNG"), None),
    "bomb.png": (lambda s: huge_png(100_000, 100_000), "too large"),
    "bomb.jpg": (lambda s: huge_jpeg(65_000, 65_000), "too large"),
    "over-limit.png": (lambda s: huge_png(12_000, 12_000), "exceeds the limit"),
    "noise.png": (lambda s: _encode(_smooth_noise(), "PNG"), None),
    "gradient.jpg": (lambda s: _encode(_gradient(), "JPEG"), None),
    "blank.png": (lambda s: _encode(np.full((850, 1100, 3), 255, np.uint8), "PNG"), None),
    "empty.pdf": (lambda s: _empty_pdf(), "PDF has no pages"),
    "encrypted.pdf": (lambda s: encrypted_pdf(b"secret", b"owner"), "encrypted"),
    "garbage.pdf": (lambda s: bytes(range(256)) * 8, "not a PDF file"),
    "truncated.pdf": (lambda s: pdf_bytes(pages_pdf(b"0 0 612 792"))[:60],
                      "corrupt or truncated PDF"),
}
#: Files of the corpus that load but are no ECG: digitize raises NotAnEcgError.
NOT_ECG = ("noise.png", "gradient.jpg", "blank.png")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sheet: np.ndarray) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for name, (make, _) in CORPUS.items():
        (folder / name).write_bytes(make(sheet))
    (folder / "folder.png").mkdir()
    Image.fromarray(sheet).save(folder / f"{NON_ASCII}.png")
    return folder


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_api_on_each_bad_input(corpus: Path, name: str):
    path = corpus / name
    expected = CORPUS[name][1]
    if expected is None:
        (ref,) = list_pages(path)
        assert load_page(ref).shape[2] == 3
        if not path.suffix == ".pdf":
            assert load_image(path).ndim == 3
        if name in NOT_ECG:
            with pytest.raises(NotAnEcgError):
                digitize(path)
        return
    with pytest.raises(ImageError, match=expected) as exc:
        for ref in list_pages(path):
            load_page(ref)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ImageError):
        load_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("name", sorted(n for n, (_, err) in CORPUS.items() if err is not None))
def test_digitize_a_bad_file(corpus: Path, name: str):
    with pytest.raises(ImageError):
        digitize(corpus / name)


def test_png_bytes_named_jpg_load_as_png(corpus: Path, sheet: np.ndarray):
    assert np.array_equal(load_image(corpus / "png-named.jpg"), sheet)


@pytest.mark.parametrize("data", [huge_png(100_000, 100_000), huge_jpeg(65_000, 65_000),
                                  huge_png(12_000, 12_000)], ids=["png", "jpeg", "over-limit"])
def test_huge_declared_dimensions_fail_fast(tmp_path: Path, data: bytes):
    path = tmp_path / "bomb.img"
    path.write_bytes(data)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ImageError):
            load_page(list_pages(path)[0])
        with pytest.raises(ImageError):
            load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0
    assert peak < 5_000_000


def test_folder_and_missing_file(corpus: Path, tmp_path: Path):
    folder = corpus / "folder.png"
    for call in (lambda: list_pages(folder), lambda: load_image(folder), lambda: digitize(folder)):
        with pytest.raises(ImageError, match="is a folder"):
            call()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(ImageError, match="is a folder"):
            list_pages(locked)
        with pytest.raises(ImageError):
            list_pages(locked / "inside.png")
    finally:
        locked.chmod(0o755)


def test_non_ascii_path(corpus: Path, sheet: np.ndarray):
    path = corpus / f"{NON_ASCII}.png"
    (ref,) = list_pages(path)
    assert ref.name == NON_ASCII
    assert np.array_equal(load_page(ref), sheet)
    pdf = corpus / f"{NON_ASCII}.pdf"
    Image.fromarray(sheet).save(pdf, "PDF", resolution=100, save_all=True,
                                append_images=[Image.fromarray(sheet)])
    assert [r.name for r in list_pages(pdf)] == [f"{NON_ASCII}_p001", f"{NON_ASCII}_p002"]
    assert load_page(list_pages(pdf)[1], dpi=100).shape == sheet.shape


def test_cli_on_the_whole_corpus(corpus: Path, tmp_path: Path, capsys):
    """Real pipeline: every bad file is one error line, the good sheet is written."""
    bad = sorted(n for n, (_, err) in CORPUS.items() if err is not None) + list(NOT_ECG)
    files = [corpus / n for n in bad] + [corpus / "folder.png", corpus / f"{NON_ASCII}.png"]
    out = tmp_path / "out"
    assert main(["digitize", *map(str, files), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == len(files) - 1
    for line, path in zip(err, files[:-1], strict=True):
        assert line.startswith(f"ecgdigitize: error: {path}")
    assert captured.out.splitlines()[0].startswith(f"{NON_ASCII}: layout 3x4+1")
    assert captured.out.splitlines()[-1] == f"1 of {len(files)} sheets digitized -> {out}"
    leads, fs = load_reconstruction(out / f"{NON_ASCII}.json")
    assert set(leads) == set(STANDARD_LEADS)
    assert (out / f"{NON_ASCII}.hea").is_file() and (out / f"{NON_ASCII}_overlay.png").is_file()


def test_cli_output_folder_that_is_a_file(corpus: Path, tmp_path: Path, capsys):
    target = tmp_path / "results"
    target.write_text("not a folder")
    assert main(["digitize", str(corpus / f"{NON_ASCII}.png"), "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ecgdigitize: error: output folder {target} is a file"]
    assert target.read_text() == "not a folder"


def test_cli_output_disk_full(corpus: Path, tmp_path: Path, capsys, monkeypatch):
    """The disk fills up while a sheet is written: one error line, no partial or temporary
    file of that sheet, and the next sheet is still written once space is back."""
    import errno
    import os as _os

    from ecgdigitize.io import atomic

    src = corpus / f"{NON_ASCII}.png"
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    first.write_bytes(src.read_bytes())
    second.write_bytes(src.read_bytes())
    real_replace = _os.replace

    def replace(a, b, *args, **kwargs):
        if Path(b).name.startswith("first.") or Path(b).name.startswith("first_"):
            raise OSError(errno.ENOSPC, _os.strerror(errno.ENOSPC))
        return real_replace(a, b, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", replace)
    out = tmp_path / "out"
    assert main(["digitize", str(first), str(second), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and str(first) in err[0]
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(("first", ".first"))]
    assert {"second.hea", "second.dat", "second.csv", "second.json",
            "second_overlay.png"} <= set(names)
    assert not [n for n in names if n.startswith(".")]


# --------------------------------------------------------------------------- fuzzing



def fuzz(max_examples: int) -> settings:
    """Deterministic Hypothesis settings: same examples on every run, no database."""
    return settings(derandomize=True, max_examples=max_examples, deadline=None,
                    database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                          HealthCheck.too_slow])


def _read_all(path: Path) -> None:
    """list_pages + load_page of (at most 3) pages; only EcgDigitizeError may escape."""
    try:
        refs = list_pages(path)
    except EcgDigitizeError:
        return
    for ref in refs[:3]:
        try:
            page = load_page(ref, dpi=72, max_pixels=4_000_000)
        except EcgDigitizeError:
            continue
        assert page.ndim == 3 and page.shape[2] == 3 and page.dtype == np.uint8


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    """Small valid files to mutate, one per format."""
    rng = np.random.default_rng(5)
    arr = np.clip(rng.normal(190, 50, (40, 56, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    tiff = io.BytesIO()
    img.save(tiff, "TIFF", save_all=True, append_images=[img], compression="tiff_lzw")
    return {
        ".png": _encode(arr, "PNG"),
        ".jpg": _encode(arr, "JPEG", quality=80),
        ".pdf": _encode(arr, "PDF", resolution=72),
        ".tif": tiff.getvalue(),
        ".webp": _encode(arr, "WEBP"),
        ".bmp": _encode(arr, "BMP"),
    }


@fuzz(200)
@given(data=st.binary(max_size=600),
       prefix=st.sampled_from([b"", b"%PDF-1.4\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff",
                               b"II*\x00", b"RIFF\x00\x00\x00\x00WEBP"]),
       ext=st.sampled_from([".png", ".jpg", ".pdf", ".tif", ""]))
def test_fuzz_random_bytes(tmp_path: Path, data: bytes, prefix: bytes, ext: str):
    path = tmp_path / f"random{ext}"
    path.write_bytes(prefix + data)
    _read_all(path)


@fuzz(600)
@given(ext=st.sampled_from([".png", ".jpg", ".pdf", ".tif", ".webp", ".bmp"]),
       flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), max_size=6),
       cut=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_fuzz_mutated_files(tmp_path: Path, seeds: dict[str, bytes], ext: str,
                            flips: list[tuple[int, int]], cut: float | None):
    data = bytearray(seeds[ext])
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / f"mutated{ext}"
    path.write_bytes(bytes(data))
    _read_all(path)


def _pattern(kind: int, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == 0:                                    # noise
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == 1:                                    # one colour
        return np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    img = np.full((h, w, 3), 255, np.uint8)
    step = int(rng.integers(2, 9))
    img[::step, :] = (250, 140, 140)                 # a pink grid...
    img[:, ::step] = (250, 140, 140)
    if kind == 3:                                    # ... with a random trace
        ys = np.clip(h // 2 + np.cumsum(rng.integers(-2, 3, w)), 0, h - 1)
        img[ys, np.arange(w)] = 0
    return img


@fuzz(80)
@given(h=st.integers(1, 160), w=st.integers(1, 200), kind=st.integers(0, 3),
       seed=st.integers(0, 2**16), channels=st.sampled_from([3, 3, 1, 4]))
def test_fuzz_digitize_small_arrays(h: int, w: int, kind: int, seed: int, channels: int):
    # Arrays without pixels (a side of 0) crash the digitizer: see test_digitize_empty_arrays.
    img = _pattern(kind, h, w, seed)
    if channels == 1:
        img = img[:, :, 1]
    elif channels == 4:
        img = np.dstack([img, np.full((h, w), 255, np.uint8)])
    try:
        digitize(img)
    except EcgDigitizeError:
        pass


@fuzz(20)
@given(shape=st.sampled_from([(5,), (4, 4, 2), (2, 3, 4, 3), (20, 20, 5)]),
       dtype=st.sampled_from([np.uint8, np.float64, np.int16, bool]))
@example(shape=(20, 20, 3), dtype=np.float64)
def test_digitize_rejects_bad_arrays(shape: tuple[int, ...], dtype):
    with pytest.raises(OptionError):
        digitize(np.zeros(shape, dtype))


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 0), (0, 5, 3), (5, 0, 3), (1, 1, 3),
                                   (20, 4000, 3)])
def test_digitize_empty_and_tiny_arrays(shape: tuple[int, ...]):
    """An array without pixels or too small for a sheet is refused (found by fuzzing)."""
    with pytest.raises(NotAnEcgError, match="too small"):
        digitize(np.zeros(shape, np.uint8))
