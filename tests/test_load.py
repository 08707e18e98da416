"""Digitizer stage 1: image loading and its errors."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecgdigitize.digitize.load import load_image
from ecgdigitize.errors import ImageError


def _sample(h: int = 60, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "bmp", "webp"])
def test_formats(tmp_path: Path, ext: str):
    arr = _sample()
    p = tmp_path / f"a.{ext}"
    Image.fromarray(arr).save(p)
    out = load_image(p)
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8
    if ext in ("png", "tif", "bmp"):
        assert np.array_equal(out, arr)


def test_modes(tmp_path: Path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    assert (load_image(tmp_path / "t.png") == 255).all()
    Image.fromarray(_sample()).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (60, 80, 3)
    grey16 = (np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    assert out.shape == (40, 40, 3) and out.max() > 200


def test_exif_orientation(tmp_path: Path):
    arr = _sample(30, 50)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "o.jpg", exif=exif)
    assert load_image(tmp_path / "o.jpg").shape == (50, 30, 3)


def test_bad_files(tmp_path: Path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "zero.png")
    (tmp_path / "text.png").write_text("hello, not an image")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "text.png")
    Image.fromarray(_sample(200, 200)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="exceeds the limit"):
        load_image(tmp_path / "full.png", max_pixels=1000)
    Image.fromarray(_sample(8, 8)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageError, match="too small"):
        load_image(tmp_path / "tiny.png")
    Image.fromarray(_sample()).save(tmp_path / "a.gif")
    with pytest.raises(ImageError, match="unsupported image format GIF"):
        load_image(tmp_path / "a.gif")


def test_real_images_load():
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-images-dev"
    if not folder.is_dir():
        pytest.skip("shared development data not present")
    for p in sorted(folder.iterdir()):
        img = load_image(p)
        assert img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 400


def test_declared_huge_dimensions(tmp_path: Path):
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data)))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                        + chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="too large"):
        load_image(tmp_path / "bomb.png")
