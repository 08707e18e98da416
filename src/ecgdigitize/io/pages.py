"""Input files as sheets: the one place that turns a file into page images.

A file holds one or more sheets (pages):

- a **PDF** (recognised by its ``%PDF-`` header, whatever its extension):
  each page, rendered with PDFium (:mod:`pypdfium2`) at a chosen resolution
  (:data:`PDF_DEFAULT_DPI` by default) on white;
- a **multi-page TIFF**: each image of the file, except the reduced-resolution
  copies (thumbnails, ``NewSubfileType`` bit 0) when there are full ones;
- any **other image** (PNG, JPEG, BMP, WebP, single-page TIFF, ...): one page,
  read exactly as :func:`ecgdigitize.digitize.load.load_image` reads it. Only
  the first frame of an animated WebP/PNG or of an MPO (a camera's stereo or
  preview frames) is read: those frames are not pages.

:func:`list_pages` names the pages of a file cheaply (it opens the file and
counts, rendering nothing); :func:`load_page` reads one of them as an RGB
array; :func:`iter_pages` reads them all, keeping the file open in between.
:func:`page_dpi` gives the physical scale of a page for
``digitize(..., dpi=...)``.

Every failure (missing, empty, corrupt or truncated file; encrypted PDF; PDF
without pages; page over the pixel limit) raises
:class:`~ecgdigitize.errors.ImageError` with one line naming the file, and the
page when the file has several. PDFium is not thread-safe: every call into it
holds a lock of this module, so threads may share it.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from ..digitize.load import (
    DEFAULT_MAX_PIXELS,
    MIN_SIDE_PX,
    check_file,
    decode_error,
    frame_to_rgb,
    is_pdf,
    open_image,
    plausible_dpi,
)
from ..errors import ImageError, OptionError
from ..paper import check_dpi
from .outputs import output_stem

__all__ = ["PDF_DEFAULT_DPI", "PageRef", "list_pages", "load_page", "iter_pages",
           "iter_page_results", "page_dpi"]

#: Resolution at which PDF pages are rendered unless told otherwise, in dpi.
PDF_DEFAULT_DPI = 200.0
#: PDF canvas units (points) per inch.
_POINTS_PER_INCH = 72.0
#: Serialises every call into PDFium (one library state per process).
_PDFIUM_LOCK = threading.RLock()
#: Bit 0 of the TIFF NewSubfileType tag (254): a reduced-resolution copy.
_TIFF_REDUCED = 1


@dataclass(frozen=True)
class PageRef:
    """One sheet inside one input file.

    Parameters
    ----------
    path : Path
        The input file (a ``str`` is turned into a ``Path``).
    index : int
        0-based page number.
    count : int
        Number of pages in the file (1 for an ordinary image).

    Raises
    ------
    OptionError
        If `index` is not within ``0 .. count - 1``.
    """

    path: Path
    index: int
    count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not (isinstance(self.count, int) and isinstance(self.index, int)
                and 0 <= self.index < self.count):
            raise OptionError(f"page index {self.index!r} is not within 0..{self.count!r} - 1")

    @property
    def suffix(self) -> str:
        """``""`` for a one-page file, else ``"_p001"``, ``"_p002"``, ... (wider past 999)."""
        if self.count == 1:
            return ""
        width = max(3, len(str(self.count)))
        return f"_p{self.index + 1:0{width}d}"

    @property
    def name(self) -> str:
        """Output stem of the page: ``output_stem(path.stem + suffix)``."""
        return output_stem(self.path.stem + self.suffix)

    @property
    def label(self) -> str:
        """How messages name the page: ``"FILE"`` or ``"FILE page N"`` (1-based)."""
        return str(self.path) if self.count == 1 else f"{self.path} page {self.index + 1}"


def _refs(path: Path, count: int) -> list[PageRef]:
    return [PageRef(path, k, count) for k in range(count)]


# --------------------------------------------------------------------------- PDF

_PDF_LOAD_ERRORS = {
    pdfium_c.FPDF_ERR_PASSWORD: "PDF is encrypted (password-protected); remove the password "
                                "and try again",
    pdfium_c.FPDF_ERR_SECURITY: "PDF is encrypted with an unsupported security handler",
    pdfium_c.FPDF_ERR_FORMAT: "corrupt or truncated PDF (PDFium cannot parse it)",
    pdfium_c.FPDF_ERR_FILE: "PDF cannot be read",
}


@contextmanager
def _open_pdf(path: Path) -> Iterator[pdfium.PdfDocument]:
    """Open a PDF with at least one page; closed on exit.

    The file is read into memory (PDFium keeps no file handle), and loaded with
    PDFium's own call rather than ``PdfDocument(path)``, which leaves a
    document without pages open and reports a stale error code for it.
    """
    check_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with _PDFIUM_LOCK:
        raw = pdfium_c.FPDF_LoadMemDocument64(data, len(data), None)
        if not raw:
            code = int(pdfium_c.FPDF_GetLastError())
            reason = _PDF_LOAD_ERRORS.get(code, f"PDF cannot be opened (PDFium error {code})")
            raise ImageError(f"{path}: {reason}")
        try:
            doc = pdfium.PdfDocument(raw)
        except BaseException:
            pdfium_c.FPDF_CloseDocument(raw)
            raise
    try:
        with _PDFIUM_LOCK:
            n = len(doc)
        if n < 1:
            raise ImageError(f"{path}: PDF has no pages")
        yield doc
    finally:
        with _PDFIUM_LOCK:
            doc.close()
        del data   # PDFium reads from this buffer until the document is closed


def _render_pdf_page(doc: pdfium.PdfDocument, ref: PageRef, dpi: float,
                     max_pixels: int) -> np.ndarray:
    """Render one page of an open PDF on white, as RGB, at `dpi`."""
    # PdfPage.render sizes its bitmap as ceil(size * scale): take a hair off the scale
    # so that float error (216 pt at 150 dpi = 450.00000000000006 px) does not add a pixel.
    scale = dpi / _POINTS_PER_INCH * (1.0 - 1e-9)
    label = ref.label
    with _PDFIUM_LOCK:
        try:
            page = doc[ref.index]
        except (pdfium.PdfiumError, IndexError) as exc:
            raise ImageError(f"{label}: page cannot be loaded ({exc})") from None
        try:
            w_pt, h_pt = (float(v) for v in page.get_size())
            if not (math.isfinite(w_pt) and math.isfinite(h_pt) and w_pt > 0 and h_pt > 0):
                raise ImageError(f"{label}: page has no area ({w_pt:g} x {h_pt:g} pt)")
            # The size PdfPage.render gives its bitmap, checked before allocating it.
            w_px, h_px = math.ceil(w_pt * scale), math.ceil(h_pt * scale)
            if w_px * h_px > max_pixels:
                raise ImageError(
                    f"{label}: page of {w_pt:g} x {h_pt:g} pt at {dpi:g} dpi would be "
                    f"{w_px}x{h_px} px, over the limit of {max_pixels} px (lower the dpi)")
            if w_px < MIN_SIDE_PX or h_px < MIN_SIDE_PX:
                raise ImageError(f"{label}: page of {w_pt:g} x {h_pt:g} pt at {dpi:g} dpi is "
                                 f"{w_px}x{h_px} px, too small to be an ECG")
            try:
                bitmap = page.render(scale=scale, rev_byteorder=True)
            except (pdfium.PdfiumError, MemoryError, ValueError) as exc:
                raise ImageError(f"{label}: page cannot be rendered ({exc})") from None
            try:
                arr = np.asarray(bitmap.to_numpy())
                if arr.ndim == 2:
                    rgb = np.repeat(arr[:, :, None], 3, axis=2)
                else:
                    rgb = np.array(arr[:, :, :3], dtype=np.uint8, copy=True)
            finally:
                bitmap.close()
        finally:
            page.close()
    return np.ascontiguousarray(rgb, dtype=np.uint8)


# --------------------------------------------------------------------------- images


def _page_frames(img: Image.Image) -> list[int]:
    """Frames of an open image that are pages (all of a TIFF but its thumbnails)."""
    n = int(getattr(img, "n_frames", 1) or 1)
    if img.format != "TIFF" or n <= 1:
        return [0]
    frames = []
    for k in range(n):
        img.seek(k)
        try:
            subfile = int(img.tag_v2.get(254, 0))
        except (TypeError, ValueError):
            subfile = 0
        if not subfile & _TIFF_REDUCED:
            frames.append(k)
    img.seek(0)
    return frames or list(range(n))


def _decode_frame(img: Image.Image, frame: int, label: str, max_pixels: int) -> np.ndarray:
    try:
        img.seek(frame)
        return frame_to_rgb(img, label, max_pixels)
    except Exception as exc:
        err = decode_error(label, exc)
        if err is None:
            raise
        raise err from None


def _check_args(dpi: float, max_pixels: int) -> float:
    if not (isinstance(max_pixels, (int, np.integer)) and max_pixels > 0):
        raise OptionError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    return check_dpi(dpi)


def _not_a_pdf(path: Path) -> ImageError | None:
    """The error for a ``.pdf`` file without a PDF header that is no image either."""
    if path.suffix.lower() != ".pdf":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path):
                return None
    except Exception:
        return ImageError(f"{path}: not a PDF file (no %PDF- header)")


# --------------------------------------------------------------------------- public API


def list_pages(path: str | Path) -> list[PageRef]:
    """The pages of an input file, without rendering or decoding any.

    Parameters
    ----------
    path : str or Path
        A PDF, a (multi-page) TIFF or another image file.

    Returns
    -------
    list of PageRef
        One per page, in order; a single one for an ordinary image.

    Raises
    ------
    ImageError
        If the file is missing, empty, neither a PDF nor an image Pillow can
        read, a corrupt or encrypted PDF, or a PDF without pages.
    """
    path = Path(path)
    if is_pdf(path):
        with _open_pdf(path) as doc, _PDFIUM_LOCK:
            return _refs(path, len(doc))
    check_file(path)
    err = _not_a_pdf(path)
    if err is not None:
        raise err
    with open_image(path) as img:
        return _refs(path, len(_page_frames(img)))


def load_page(ref: PageRef, dpi: float = PDF_DEFAULT_DPI,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read one page as an upright RGB array.

    Parameters
    ----------
    ref : PageRef
        The page, from :func:`list_pages`.
    dpi : float
        Resolution a PDF page is rendered at, in dots per inch (50 to 1200);
        ignored for images, whose pixels are read as they are.
    max_pixels : int
        Refuse a page with more pixels than this; a PDF page's rendered size
        (page size in inches x `dpi`) is checked before rendering.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        RGB image. For an ordinary image, exactly what
        :func:`~ecgdigitize.digitize.load.load_image` returns.

    Raises
    ------
    ImageError
        If the file or the page cannot be read, the page is over
        `max_pixels`, or the file no longer has `ref.count` pages.
    OptionError
        If `dpi` or `max_pixels` is invalid.
    """
    dpi = _check_args(dpi, max_pixels)
    path = ref.path
    if is_pdf(path):
        with _open_pdf(path) as doc:
            with _PDFIUM_LOCK:
                n = len(doc)
            _check_count(ref, n)
            return _render_pdf_page(doc, ref, dpi, max_pixels)
    err = _not_a_pdf(path) if path.is_file() else None
    if err is not None:
        raise err
    with open_image(path, ref.label) as img:
        frames = _page_frames(img)
        _check_count(ref, len(frames))
        return _decode_frame(img, frames[ref.index], ref.label, max_pixels)


def _check_count(ref: PageRef, n: int) -> None:
    if n != ref.count:
        raise ImageError(f"{ref.label}: the file now has {n} page(s), not {ref.count}")


def iter_page_results(path: str | Path, dpi: float, max_pixels: int
                  ) -> Iterator[tuple[PageRef, np.ndarray | ImageError]]:
    """Every page of a file, or the error that page raised; the file stays open.

    Unlike :func:`iter_pages`, a bad page does not end the iteration: its
    :class:`~ecgdigitize.errors.ImageError` is yielded in place of the image,
    so a caller can report it and go on with the next page.

    Parameters
    ----------
    path : str or Path
        A PDF, a (multi-page) TIFF or another image file.
    dpi : float
        Resolution PDF pages are rendered at, in dots per inch (50 to 1200).
    max_pixels : int
        Largest page accepted, in px.

    Yields
    ------
    PageRef
        The page.
    ndarray, shape (H, W, 3), uint8, or ImageError
        Its RGB image, or why it could not be read.

    Raises
    ------
    ImageError
        Before the first page, if the file itself cannot be opened.
    OptionError
        If `dpi` or `max_pixels` is invalid.
    """
    dpi = _check_args(dpi, max_pixels)
    path = Path(path)
    if is_pdf(path):
        with _open_pdf(path) as doc:
            with _PDFIUM_LOCK:
                refs = _refs(path, len(doc))
            for ref in refs:
                try:
                    page: np.ndarray | ImageError = _render_pdf_page(doc, ref, dpi, max_pixels)
                except ImageError as exc:
                    page = exc
                yield ref, page
        return
    check_file(path)
    err = _not_a_pdf(path)
    if err is not None:
        raise err
    with open_image(path) as img:
        frames = _page_frames(img)
        for ref, frame in zip(_refs(path, len(frames)), frames, strict=True):
            try:
                page = _decode_frame(img, frame, ref.label, max_pixels)
            except ImageError as exc:
                page = exc
            yield ref, page


def iter_pages(path: str | Path, dpi: float = PDF_DEFAULT_DPI,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[tuple[PageRef, np.ndarray]]:
    """Read every page of a file, in order, keeping the file open in between.

    Parameters
    ----------
    path : str or Path
        A PDF, a (multi-page) TIFF or another image file.
    dpi : float
        Resolution PDF pages are rendered at, in dots per inch (50 to 1200).
    max_pixels : int
        Largest page accepted, in px (see :func:`load_page`).

    Yields
    ------
    PageRef
        The page.
    ndarray, shape (H, W, 3), uint8
        Its RGB image, as :func:`load_page` returns it.

    Raises
    ------
    ImageError
        If the file cannot be opened, or at the first page that cannot be
        read (the pages before it have been yielded). To go on past a bad
        page, use :func:`list_pages` and :func:`load_page`.
    OptionError
        If `dpi` or `max_pixels` is invalid.
    """
    for ref, page in iter_page_results(path, dpi, max_pixels):
        if isinstance(page, ImageError):
            raise page
        yield ref, page


def page_dpi(ref: PageRef, dpi: float = PDF_DEFAULT_DPI) -> float | None:
    """Physical resolution of a page as :func:`load_page` returns it, in dpi.

    Pass it as ``digitize(..., dpi=...)``, the scale used when the grid
    cannot be measured.

    Parameters
    ----------
    ref : PageRef
        The page.
    dpi : float
        Resolution the page is (or will be) rendered at if it is a PDF page.

    Returns
    -------
    float or None
        For a PDF page, `dpi` (PDF pages have a physical size, in points of
        1/72 in). For an image, the resolution in its metadata, or None when
        there is none or it is the meaningless default of 72 dpi (or 50 dpi
        or less); also None when the file cannot be read.
    """
    if is_pdf(ref.path):
        return float(dpi)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(ref.path) as img:
                frames = _page_frames(img)
                if ref.index < len(frames):
                    img.seek(frames[ref.index])
                return plausible_dpi(img.info.get("dpi"))
    except Exception:   # metadata only: an unreadable file is reported by load_page
        return None
