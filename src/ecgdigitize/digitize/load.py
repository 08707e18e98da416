"""Stage 1 of the digitizer: read an image file into an RGB array.

Accepts PNG, JPEG, TIFF, BMP and WebP (whatever Pillow decodes among them),
with alpha (composited on white), palette, grey, 16-bit and CMYK modes, and
applies the EXIF orientation tag so a phone photo is upright. Anything else
(a missing, empty, truncated or corrupt file, another format, an image over
the pixel limit) raises :class:`~ecgdigitize.errors.ImageError` with a
one-line reason.

:func:`load_image` reads the first image of a file. PDF files and the pages
of a multi-page TIFF are read by :mod:`ecgdigitize.io.pages`, which uses the
helpers here (:func:`open_image`, :func:`frame_to_rgb`) so that every page is
converted exactly like a single image.
"""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

__all__ = ["SUPPORTED_FORMATS", "DEFAULT_MAX_PIXELS", "MIN_SIDE_PX", "load_image",
           "open_image", "frame_to_rgb", "decode_error", "is_pdf", "check_file",
           "plausible_dpi"]

SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "MPO")
#: Largest accepted image in pixels (a 600 dpi A3 scan is about 70 Mpx).
DEFAULT_MAX_PIXELS = 120_000_000
#: Smallest accepted side of an image, in px.
MIN_SIDE_PX = 16
#: Magic bytes of a PDF file; the header may follow up to 1024 bytes of junk.
PDF_MAGIC = b"%PDF-"

#: What Pillow raises, besides its own classes, on a corrupt file (its decoders
#: are not consistent: a truncated or mutated file may give any of these).
#: MemoryError and DecompressionBombError are reported apart (:func:`decode_error`).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  KeyError, TypeError, ZeroDivisionError, OverflowError)


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 0.0
        scale = 255.0 / (65535.0 if hi > 255 else 255.0)
        grey = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        arr = np.nan_to_num(arr, nan=lo, posinf=hi, neginf=lo)
        grey = (np.clip((arr - lo) / max(hi - lo, 1e-12), 0, 1) * 255 + 0.5).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def is_pdf(path: str | Path) -> bool:
    """Whether a file starts like a PDF (``%PDF-`` within its first 1024 bytes).

    Parameters
    ----------
    path : str or Path
        File to look at; only its first 1 KiB is read.

    Returns
    -------
    bool
        False as well when the file cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        return False
    return PDF_MAGIC in head


def check_file(path: Path) -> None:
    """Check that `path` is an existing, non-empty file.

    Parameters
    ----------
    path : Path
        File to check.

    Raises
    ------
    ImageError
        If it is missing, a folder, unreadable or empty.
    """
    if not path.is_file():
        raise ImageError(f"{path}: is a folder, not an image file" if path.is_dir()
                         else f"{path}: no such file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise ImageError(f"{path}: empty file")


@contextmanager
def open_image(path: str | Path, label: str | None = None) -> Iterator[Image.Image]:
    """Open an image file with Pillow, turning every failure into :class:`ImageError`.

    The file is checked (it exists, is not empty, is of one of
    :data:`SUPPORTED_FORMATS`) but not decoded. Errors raised inside the
    ``with`` block by Pillow while decoding are reported as a corrupt file.

    Parameters
    ----------
    path : str or Path
        Image file.
    label : str, optional
        How messages name what failed (default: the path), e.g.
        ``"scan.tif page 2"``.

    Yields
    ------
    PIL.Image.Image
        The open image, positioned on its first frame; closed on exit.

    Raises
    ------
    ImageError
        If the file is missing, empty, not an image, of an unsupported
        format or corrupt.
    """
    path = Path(path)
    check_file(path)
    what = str(path) if label is None else label
    try:
        with warnings.catch_warnings():
            # Sizes are checked against max_pixels (frame_to_rgb), before decoding; the
            # warnings Pillow gives about damaged metadata would be noise on stderr.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            with Image.open(path) as img:
                fmt = img.format or "unknown"
                if fmt not in SUPPORTED_FORMATS:
                    raise ImageError(f"{what}: unsupported image format {fmt}")
                yield img
    except ImageError:
        raise
    except UnidentifiedImageError:
        if is_pdf(path):
            raise ImageError(f"{what}: is a PDF; read its pages with "
                             "ecgdigitize.io.pages.iter_pages") from None
        raise ImageError(f"{what}: not an image file Pillow can read") from None
    except Exception as exc:
        err = decode_error(what, exc)
        if err is None:
            raise
        raise err from None


def decode_error(label: str, exc: BaseException) -> ImageError | None:
    """The :class:`ImageError` that reports `exc`, raised by Pillow on a bad file.

    Parameters
    ----------
    label : str
        How the message names what failed (e.g. a path).
    exc : BaseException
        What Pillow raised while opening or decoding.

    Returns
    -------
    ImageError or None
        None when `exc` is not one of the errors a corrupt file causes.
    """
    if isinstance(exc, ImageError):
        return exc
    if isinstance(exc, Image.DecompressionBombError):
        return ImageError(f"{label}: image dimensions too large (decompression bomb)")
    if isinstance(exc, MemoryError):
        return ImageError(f"{label}: not enough memory to decode the image")
    if isinstance(exc, PermissionError):
        return ImageError(f"{label}: cannot be read ({exc.strerror or exc})")
    if isinstance(exc, _DECODE_ERRORS):
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return ImageError(f"{label}: corrupt or truncated image ({reason})")
    return None


def frame_to_rgb(img: Image.Image, label: str, max_pixels: int = DEFAULT_MAX_PIXELS
                 ) -> np.ndarray:
    """Decode the current frame of an open image as an upright RGB array.

    Call inside :func:`open_image`, which reports decoding errors.

    Parameters
    ----------
    img : PIL.Image.Image
        Open image, positioned on the wanted frame (``img.seek(k)``).
    label : str
        How messages name the frame (e.g. its path).
    max_pixels : int
        Refuse frames with more pixels than this (checked before decoding).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        RGB image, EXIF orientation applied, transparency composited on white.

    Raises
    ------
    ImageError
        If the frame is larger than `max_pixels` or smaller than
        :data:`MIN_SIDE_PX` on a side.
    """
    w, h = img.size
    if w * h > max_pixels:
        raise ImageError(f"{label}: image of {w}x{h} px exceeds the limit of {max_pixels} px")
    if w < MIN_SIDE_PX or h < MIN_SIDE_PX:
        raise ImageError(f"{label}: image of {w}x{h} px is too small to be an ECG")
    img.load()
    return _to_rgb(ImageOps.exif_transpose(img))


def plausible_dpi(info_dpi: object) -> float | None:
    """The horizontal resolution of an image's ``dpi`` metadata, if it means anything.

    Parameters
    ----------
    info_dpi : object
        Pillow's ``img.info.get("dpi")`` (a pair of dpi values, or None).

    Returns
    -------
    float or None
        The first value in dpi, or None when there is none, it is not a finite
        number, or it is 50 dpi or less or the meaningless default of 72 dpi.
    """
    try:
        x = float(info_dpi[0]) if info_dpi else None  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return None
    if x is None or not math.isfinite(x) or x <= 50 or abs(x - 72.0) <= 0.5:
        return None
    return x


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as an upright RGB array.

    Only the first image of a multi-page file is read; see
    :mod:`ecgdigitize.io.pages` for every page, and for PDF files.

    Parameters
    ----------
    path : str or Path
        Image file.
    max_pixels : int
        Refuse images with more pixels than this (decompression bombs).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        RGB image, EXIF orientation applied, transparency composited on white.

    Raises
    ------
    ImageError
        If the file is missing, empty, truncated, corrupt, of an unsupported
        format (a PDF included) or larger than `max_pixels`.
    """
    path = Path(path)
    with open_image(path) as img:
        return frame_to_rgb(img, str(path), max_pixels)
