"""Stage 1 of the digitizer: read an image file into an RGB array.

Accepts PNG, JPEG, TIFF, BMP and WebP (whatever Pillow decodes among them),
with alpha (composited on white), palette, grey, 16-bit and CMYK modes, and
applies the EXIF orientation tag so a phone photo is upright. Anything else
(a missing, empty, truncated or corrupt file, another format, an image over
the pixel limit) raises :class:`~ecgdigitize.errors.ImageError` with a
one-line reason.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

__all__ = ["SUPPORTED_FORMATS", "DEFAULT_MAX_PIXELS", "load_image"]

SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "MPO")
#: Largest accepted image in pixels (a 600 dpi A3 scan is about 70 Mpx).
DEFAULT_MAX_PIXELS = 120_000_000


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 0.0
        scale = 255.0 / (65535.0 if hi > 255 else 255.0)
        grey = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        grey = ((arr - lo) / max(hi - lo, 1e-12) * 255 + 0.5).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as an upright RGB array.

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
        format or larger than `max_pixels`.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            # The size is checked against max_pixels below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format or "unknown"
                if fmt not in SUPPORTED_FORMATS:
                    raise ImageError(f"{path}: unsupported image format {fmt}")
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageError(
                        f"{path}: image of {w}x{h} px exceeds the limit of {max_pixels} px"
                    )
                if w < 16 or h < 16:
                    raise ImageError(f"{path}: image of {w}x{h} px is too small to be an ECG")
                img.load()
                img = ImageOps.exif_transpose(img)
                return _to_rgb(img)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file Pillow can read") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: image dimensions too large (decompression bomb)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: corrupt or truncated image ({exc})") from None
