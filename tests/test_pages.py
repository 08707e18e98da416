"""Input files as pages (:mod:`ecgdigitize.io.pages`): PDF, multi-page TIFF, images.

Every PDF is made here: synthetic sheets saved with Pillow, an empty one made
with pypdfium2, and hand-written ones (encrypted, truncated, huge page).
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from conftest import smooth_record
from ecgdigitize.cli import main
from ecgdigitize.digitize.load import load_image
from ecgdigitize.digitize.result import Detected, Result
from ecgdigitize.errors import ImageError, NotAnEcgError, OptionError
from ecgdigitize.evaluate.scoring import load_reconstruction
from ecgdigitize.io.pages import (
    PDF_DEFAULT_DPI,
    PageRef,
    iter_pages,
    list_pages,
    load_page,
    page_dpi,
)
from ecgdigitize.leads import STANDARD_LEADS
from ecgdigitize.synth.sheet import SheetSpec, generate_sheet

SHEET_DPI = 100   # resolution of the synthetic sheets, dpi


# --------------------------------------------------------------------------- builders


@pytest.fixture(scope="module")
def sheet() -> np.ndarray:
    """A clean synthetic 3x4+1 sheet at 100 dpi, RGB uint8 (letter, landscape)."""
    spec = SheetSpec(preset="custom")
    spec.render.dpi = SHEET_DPI
    spec.render.layout = "3x4+1"
    return generate_sheet(smooth_record(), spec, seed=1).canvas.image


def _save_pdf(path: Path, pages: list[np.ndarray], resolution: float = SHEET_DPI) -> Path:
    imgs = [Image.fromarray(p) for p in pages]
    imgs[0].save(path, "PDF", resolution=resolution, save_all=True, append_images=imgs[1:])
    return path


def pdf_bytes(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF file of the given objects (numbered from 1; 1 is the catalogue)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (num, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, trailer, xref)
    return bytes(out)


def pages_pdf(*media_boxes: bytes, extra: bytes = b"", ink: bool = False) -> list[bytes]:
    """Catalogue, page tree and one page per MediaBox (e.g. ``b"0 0 612 792"``).

    The pages are empty, or with `ink` hold a black 50 x 50 pt square.
    """
    n = len(media_boxes)
    kids = b" ".join(b"%d 0 R" % (3 + k) for k in range(n))
    draw = b"0 0 0 rg 10 10 50 50 re f"
    pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] %s%s>>"
             % (box, extra, b"/Contents %d 0 R " % (3 + n + k) if ink else b"")
             for k, box in enumerate(media_boxes)]
    streams = [b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw)] * n if ink else []
    return [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n), *pages, *streams]


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted_pdf(user: bytes, owner: bytes) -> bytes:
    """A one-page PDF encrypted with the standard security handler, RC4 40-bit (R2).

    The /O and /U entries follow the PDF reference (algorithms 3.2 to 3.4);
    the page has no strings or streams, so nothing else needs encrypting.
    """
    file_id, perms = bytes(range(16)), -44

    def pad(password: bytes) -> bytes:
        return (password + _PAD)[:32]

    o_entry = _rc4(hashlib.md5(pad(owner)).digest()[:5], pad(user))
    key = hashlib.md5(pad(user) + o_entry + struct.pack("<i", perms) + file_id).digest()[:5]
    u_entry = _rc4(key, _PAD)
    objs = [*pages_pdf(b"0 0 612 792"),
            b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P %d /O <%s> /U <%s> >>"
            % (perms, o_entry.hex().encode(), u_entry.hex().encode())]
    fid = file_id.hex().encode()
    return pdf_bytes(objs, b"/Encrypt 4 0 R /ID [<%s><%s>] " % (fid, fid))


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


@pytest.fixture
def fake_digitize(monkeypatch):
    """Replace the digitizer by a stand-in that fails on all-white images."""
    calls: list[dict] = []

    def digitize(image, **kwargs):
        calls.append({"image": image, **kwargs})
        if image.min() == 255:
            raise NotAnEcgError("no ECG trace rows found")
        h, w = image.shape[:2]
        sig = np.zeros((500, 12))
        return Result(signals=sig, fs=100.0, lead_names=list(STANDARD_LEADS),
                      quality={n: 0.5 for n in STANDARD_LEADS},
                      detected=Detected(layout="12x1", px_per_mm_x=4.0, px_per_mm_y=4.0),
                      traces=[], image_shape=(h, w))

    module = types.ModuleType("ecgdigitize.digitize.pipeline")
    module.digitize = digitize
    monkeypatch.setitem(sys.modules, "ecgdigitize.digitize.pipeline", module)
    return calls


# --------------------------------------------------------------------------- PageRef


def test_page_ref_names():
    assert PageRef(Path("a/scan.pdf"), 0, 1).suffix == ""
    assert PageRef(Path("a/scan.pdf"), 0, 1).name == "scan"
    ref = PageRef("a/scan 01.v2.pdf", 4, 12)          # a str path is accepted
    assert ref.path == Path("a/scan 01.v2.pdf")
    assert ref.suffix == "_p005" and ref.name == "scan_01_v2_p005"
    assert ref.label == "a/scan 01.v2.pdf page 5"
    assert PageRef(Path("x.tif"), 998, 999).suffix == "_p999"
    assert PageRef(Path("x.tif"), 0, 1000).suffix == "_p0001"
    assert PageRef(Path("x.tif"), 0, 2) == PageRef(Path("x.tif"), 0, 2)
    for index, count in ((1, 1), (-1, 3), (0, 0)):
        with pytest.raises(OptionError):
            PageRef(Path("x.pdf"), index, count)


# --------------------------------------------------------------------------- PDF


def test_pdf_pages_count_size_and_dpi(tmp_path: Path, sheet: np.ndarray):
    blank = np.full_like(sheet, 255)
    small = np.ascontiguousarray(sheet[:400, :300])
    pdf = _save_pdf(tmp_path / "three.pdf", [sheet, blank, small])
    refs = list_pages(pdf)
    assert [r.name for r in refs] == ["three_p001", "three_p002", "three_p003"]
    assert [(r.index, r.count) for r in refs] == [(0, 3), (1, 3), (2, 3)]
    h, w = sheet.shape[:2]
    for dpi in (SHEET_DPI, 150):
        page = load_page(refs[0], dpi=dpi)
        assert page.dtype == np.uint8 and page.shape[2] == 3 and page.flags.c_contiguous
        assert abs(page.shape[0] - h * dpi / SHEET_DPI) <= 1
        assert abs(page.shape[1] - w * dpi / SHEET_DPI) <= 1
        assert page_dpi(refs[0], dpi) == dpi
    assert page_dpi(refs[0]) == PDF_DEFAULT_DPI
    assert load_page(refs[0]).shape[:2] == (2 * h, 2 * w)          # 200 dpi by default
    # At the PDF's own resolution the page is the sheet, as Pillow stored it (JPEG).
    same = load_page(refs[0], dpi=SHEET_DPI)
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, "JPEG")
    assert np.abs(same.astype(int) - np.asarray(Image.open(buf), dtype=int)).mean() < 1
    assert (load_page(refs[1], dpi=SHEET_DPI) >= 250).all()
    assert load_page(refs[2], dpi=SHEET_DPI).shape[:2] == (400, 300)
    # iter_pages gives the same pages, in order.
    got = list(iter_pages(pdf, dpi=SHEET_DPI))
    assert [r for r, _ in got] == refs
    assert np.array_equal(got[0][1], same)


def test_pdf_detected_by_content_not_extension(tmp_path: Path, sheet: np.ndarray):
    pdf = _save_pdf(tmp_path / "a.pdf", [sheet[:200, :200]])
    disguised = tmp_path / "scan.png"
    disguised.write_bytes(pdf.read_bytes())
    (ref,) = list_pages(disguised)
    assert ref.count == 1 and ref.name == "scan"
    assert load_page(ref, dpi=SHEET_DPI).shape == (200, 200, 3)
    with pytest.raises(ImageError, match="is a PDF"):
        load_image(disguised)
    # PNG bytes named .pdf are an image.
    Image.fromarray(sheet[:100, :120]).save(tmp_path / "png.pdf", "PNG")
    (ref,) = list_pages(tmp_path / "png.pdf")
    assert np.array_equal(load_page(ref), sheet[:100, :120])
    assert page_dpi(ref) is None


def test_pdf_page_rotation_is_applied(tmp_path: Path):
    path = tmp_path / "rot.pdf"
    path.write_bytes(pdf_bytes(pages_pdf(b"0 0 612 792", extra=b"/Rotate 90 ")))
    (ref,) = list_pages(path)
    assert load_page(ref, dpi=72).shape == (612, 792, 3)


def test_cli_digitizes_every_pdf_page(tmp_path: Path, capsys, sheet: np.ndarray):
    """Real pipeline: page 1 is a sheet, page 2 blank (reported), the run goes on."""
    pdf = _save_pdf(tmp_path / "ward scan.pdf", [sheet, np.full_like(sheet, 255)])
    out = tmp_path / "out"
    assert main(["digitize", str(pdf), "-o", str(out), "--pdf-dpi", str(SHEET_DPI)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"ecgdigitize: error: {pdf} page 2: ")
    assert "ECG" in err[0]
    assert captured.out.splitlines()[0].startswith("ward_scan_p001: layout 3x4+1")
    assert f"1 of 2 sheets digitized -> {out}" in captured.out
    assert sorted(p.name for p in out.iterdir()) == [
        "ward_scan_p001.csv", "ward_scan_p001.dat", "ward_scan_p001.hea",
        "ward_scan_p001.json", "ward_scan_p001_overlay.png"]
    leads, fs = load_reconstruction(out / "ward_scan_p001.json")
    assert fs == 500.0 and set(leads) == set(STANDARD_LEADS)
    doc = json.loads((out / "ward_scan_p001.json").read_text())
    assert doc["source"] == f"{pdf} page 1"


def test_cli_pdf_dpi_and_dpi_reach_the_digitizer(tmp_path: Path, capsys, sheet: np.ndarray,
                                                 fake_digitize):
    pdf = _save_pdf(tmp_path / "a.pdf", [sheet[:300, :400]] * 2)
    png = tmp_path / "b.png"
    Image.fromarray(sheet[:300, :400]).save(png, dpi=(300, 300))
    out = tmp_path / "o"
    assert main(["digitize", str(pdf), str(png), "-o", str(out), "--pdf-dpi", "150",
                 "--quiet"]) == 0
    assert [c["dpi"] for c in fake_digitize] == [150.0, 150.0, pytest.approx(300.0, abs=0.01)]
    assert fake_digitize[0]["image"].shape == (450, 600, 3)
    assert {p.stem for p in out.glob("*.json")} == {"a_p001", "a_p002", "b"}
    fake_digitize.clear()
    assert main(["digitize", str(pdf), "-o", str(out), "--dpi", "96", "--quiet"]) == 0
    assert [c["dpi"] for c in fake_digitize] == [96.0, 96.0]
    assert fake_digitize[0]["image"].shape == (600, 800, 3)       # --pdf-dpi 200
    with pytest.raises(SystemExit):
        main(["digitize", str(pdf), "-o", str(out), "--pdf-dpi", "5"])
    assert "resolution must be within" in _err_lines(capsys)[-1]


def test_cli_names_of_pages_and_files_must_not_clash(tmp_path: Path, capsys, sheet: np.ndarray,
                                                     fake_digitize):
    pdf = _save_pdf(tmp_path / "a.pdf", [sheet[:300, :400]] * 2)
    Image.fromarray(sheet[:300, :400]).save(tmp_path / "a_p002.png")
    assert main(["digitize", str(pdf), str(tmp_path / "a_p002.png"), "-o",
                 str(tmp_path / "o"), "--quiet"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "already taken by" in err[0] and "a_p002.png" in err[0]
    assert len(fake_digitize) == 2


def test_pdf_bad_page_in_the_middle(tmp_path: Path, capsys, fake_digitize):
    path = tmp_path / "mixed.pdf"
    path.write_bytes(pdf_bytes(pages_pdf(b"0 0 300 200", b"0 0 200000 200000",
                                         b"0 0 200 300", ink=True)))
    refs = list_pages(path)
    assert len(refs) == 3
    seen = []
    with pytest.raises(ImageError, match=r"mixed\.pdf page 2: page of 200000 x 200000 pt"):
        for ref, _ in iter_pages(path, dpi=72):
            seen.append(ref.index)
    assert seen == [0]
    assert load_page(refs[2], dpi=72).shape == (300, 200, 3)
    out = tmp_path / "o"
    assert main(["digitize", str(path), "-o", str(out), "--pdf-dpi", "72"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"ecgdigitize: error: {path} page 2: page of 200000 x 200000 pt "
                             "at 72 dpi would be 200000x200000 px, over the limit")
    assert "2 of 3 sheets digitized" in captured.out
    assert sorted(p.name for p in out.glob("*.json")) == ["mixed_p001.json", "mixed_p003.json"]
    page = load_page(refs[0], dpi=72)
    assert page.shape == (200, 300, 3) and (page[-60:-10, 10:60] == 0).all()


# --------------------------------------------------------------------------- PDF errors


def test_empty_pdf(tmp_path: Path):
    doc = pdfium.PdfDocument.new()
    doc.save(tmp_path / "empty.pdf")
    doc.close()
    with pytest.raises(ImageError, match=r"empty\.pdf: PDF has no pages$"):
        list_pages(tmp_path / "empty.pdf")
    with pytest.raises(ImageError, match="PDF has no pages"):
        load_page(PageRef(tmp_path / "empty.pdf", 0, 1))
    # Also after another document failed (PDFium's error code is process-wide).
    (tmp_path / "enc.pdf").write_bytes(encrypted_pdf(b"secret", b"owner"))
    with pytest.raises(ImageError, match="encrypted"):
        list_pages(tmp_path / "enc.pdf")
    with pytest.raises(ImageError, match="PDF has no pages"):
        list_pages(tmp_path / "empty.pdf")


def test_encrypted_pdf(tmp_path: Path):
    path = tmp_path / "locked.pdf"
    path.write_bytes(encrypted_pdf(b"secret", b"owner"))
    with pdfium.PdfDocument(path, password="secret") as doc:   # a valid encrypted file
        assert len(doc) == 1
    with pytest.raises(ImageError, match=r"locked\.pdf: PDF is encrypted \(password-protected\)"):
        list_pages(path)
    with pytest.raises(ImageError, match="password-protected"):
        load_page(PageRef(path, 0, 1))
    with pytest.raises(ImageError, match="password-protected"):
        list(iter_pages(path))
    # With an owner password only, anyone may open and render it.
    open_ = tmp_path / "owner-only.pdf"
    open_.write_bytes(encrypted_pdf(b"", b"owner"))
    (ref,) = list_pages(open_)
    assert load_page(ref, dpi=72).shape == (792, 612, 3)


def test_truncated_and_garbage_pdf(tmp_path: Path, sheet: np.ndarray):
    data = _save_pdf(tmp_path / "full.pdf", [sheet, sheet]).read_bytes()
    for n in (len(data) // 2, 20, 6):
        (tmp_path / "cut.pdf").write_bytes(data[:n])
        with pytest.raises(ImageError, match=r"cut\.pdf: corrupt or truncated PDF"):
            list_pages(tmp_path / "cut.pdf")
    (tmp_path / "garbage.pdf").write_bytes(b"this is not a PDF at all\n" * 20)
    with pytest.raises(ImageError, match=r"garbage\.pdf: not a PDF file \(no %PDF- header\)"):
        list_pages(tmp_path / "garbage.pdf")
    with pytest.raises(ImageError, match="not a PDF file"):
        load_page(PageRef(tmp_path / "garbage.pdf", 0, 1))


def test_huge_and_degenerate_pages(tmp_path: Path):
    path = tmp_path / "huge.pdf"
    path.write_bytes(pdf_bytes(pages_pdf(b"0 0 200000 200000")))
    (ref,) = list_pages(path)                      # counting renders nothing
    with pytest.raises(ImageError, match="huge.pdf: page of 200000 x 200000 pt at 200 dpi "
                       "would be 555556x555556 px, over the limit of 120000000 px"):
        load_page(ref)
    with pytest.raises(ImageError, match="over the limit of 1000 px"):
        load_page(PageRef(tmp_path / "huge.pdf", 0, 1), dpi=50, max_pixels=1000)
    path.write_bytes(pdf_bytes(pages_pdf(b"0 0 0 0")))   # PDFium falls back to letter size
    assert load_page(list_pages(path)[0], dpi=72).shape == (792, 612, 3)
    path.write_bytes(pdf_bytes(pages_pdf(b"0 0 5 5")))
    with pytest.raises(ImageError, match="too small to be an ECG"):
        load_page(PageRef(path, 0, 1))


def test_bad_arguments(tmp_path: Path, sheet: np.ndarray):
    pdf = _save_pdf(tmp_path / "a.pdf", [sheet[:100, :100]] * 2)
    ref = list_pages(pdf)[0]
    for dpi in (0, -5, float("nan"), 5000):
        with pytest.raises(OptionError):
            load_page(ref, dpi=dpi)
    with pytest.raises(OptionError):
        load_page(ref, max_pixels=0)
    with pytest.raises(ImageError, match="now has 2 page"):
        load_page(PageRef(pdf, 0, 3))
    with pytest.raises(ImageError, match="no such file"):
        list_pages(tmp_path / "missing.pdf")


def test_pdf_documents_are_closed(tmp_path: Path, sheet: np.ndarray, monkeypatch):
    opened: list[pdfium.PdfDocument] = []

    class Tracked(pdfium.PdfDocument):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(pdfium, "PdfDocument", Tracked)
    good = _save_pdf(tmp_path / "good.pdf", [sheet[:100, :100]] * 3)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(pdf_bytes(pages_pdf()))
    huge = tmp_path / "huge.pdf"
    huge.write_bytes(pdf_bytes(pages_pdf(b"0 0 200000 200000")))
    refs = list_pages(good)
    load_page(refs[1])
    list(iter_pages(good))
    partial = iter_pages(good)
    next(partial)
    del partial
    gc.collect()
    for bad in (empty, huge):
        with pytest.raises(ImageError):
            list(iter_pages(bad))
    assert len(opened) == 6
    assert all(doc.raw is None for doc in opened)


# --------------------------------------------------------------------------- TIFF, images


def test_multipage_tiff(tmp_path: Path, capsys, sheet: np.ndarray, fake_digitize):
    pages = [sheet[:300, :400], np.full((200, 250, 3), 255, np.uint8), sheet[300:700, 100:500]]
    thumb = Image.fromarray(sheet[:30, :40])
    thumb.encoderinfo = {"tiffinfo": {254: 1}}        # NewSubfileType: reduced resolution
    imgs = [Image.fromarray(p) for p in pages]
    path = tmp_path / "stack.tif"
    imgs[0].save(path, save_all=True, append_images=[thumb, imgs[1], imgs[2]], dpi=(150, 150))
    refs = list_pages(path)
    assert [r.name for r in refs] == ["stack_p001", "stack_p002", "stack_p003"]
    for ref, want in zip(refs, pages, strict=True):
        assert np.array_equal(load_page(ref), want)
        assert page_dpi(ref) == 150.0
    assert [r for r, _ in iter_pages(path)] == refs
    assert np.array_equal(load_image(path), pages[0])   # load_image: the first page
    out = tmp_path / "o"
    assert main(["digitize", str(path), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"ecgdigitize: error: {path} page 2: no ECG trace rows found"]
    assert "2 of 3 sheets digitized" in captured.out
    assert sorted(p.name for p in out.glob("*.json")) == ["stack_p001.json", "stack_p003.json"]
    assert [c["dpi"] for c in fake_digitize] == [150.0] * 3


def test_tiff_with_a_bad_page(tmp_path: Path):
    imgs = [Image.fromarray(np.full((40, 50, 3), 80, np.uint8)),
            Image.fromarray(np.full((8, 8, 3), 0, np.uint8)),
            Image.fromarray(np.full((60, 50, 3), 160, np.uint8))]
    path = tmp_path / "t.tif"
    imgs[0].save(path, save_all=True, append_images=imgs[1:])
    refs = list_pages(path)
    with pytest.raises(ImageError, match=r"t\.tif page 2: image of 8x8 px is too small"):
        load_page(refs[1])
    assert load_page(refs[2]).shape == (60, 50, 3)


def test_single_images_are_one_page(tmp_path: Path, sheet: np.ndarray):
    arr = sheet[:120, :160]
    for ext, kw in (("png", {"dpi": (300, 300)}), ("jpg", {}), ("bmp", {}), ("webp", {}),
                    ("tif", {"dpi": (72, 72)})):
        path = tmp_path / f"one.{ext}"
        Image.fromarray(arr).save(path, **kw)
        (ref,) = list_pages(path)
        assert (ref.index, ref.count, ref.suffix, ref.name) == (0, 1, "", "one")
        assert np.array_equal(load_page(ref), load_image(path))
        # Pillow writes 96 dpi into a BMP; 72 dpi is taken for "unknown".
        want = {"png": 300.0, "bmp": 96.0}.get(ext)
        assert page_dpi(ref) == (None if want is None else pytest.approx(want, abs=0.02))
    # An animated WebP is one page: its frames are not sheets.
    frames = [Image.fromarray(arr), Image.fromarray(255 - arr)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:])
    assert len(list_pages(tmp_path / "anim.webp")) == 1
