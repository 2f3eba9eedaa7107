"""Every kind of bad or unusual image gets a clear error or correct handling, never a crash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.images import ImageError, check_frame, decode_image


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _gradient(w: int = 64, h: int = 48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)
    arr = np.stack([np.tile(x, (h, 1)), np.full((h, w), 100, np.uint8), np.full((h, w), 200, np.uint8)], axis=2)
    return Image.fromarray(arr)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"hello, this is not an image at all" * 10, "not a recognised image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a recognised image|cannot read"),
    ],
)
def test_unusable_bytes_get_a_clear_error(data: bytes, needle: str) -> None:
    with pytest.raises(ImageError, match=needle):
        decode_image(data)


def test_truncated_jpeg_is_refused() -> None:
    data = _encode(_gradient(640, 480), "JPEG", quality=90)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_decompression_bomb_png_is_refused_before_decoding() -> None:
    # A tiny file that claims 30000×30000 pixels: rewrite the IHDR of a 1-bit PNG.
    data = bytearray(_encode(Image.new("1", (16, 16)), "PNG"))
    import struct
    import zlib

    ihdr = data[12:29]
    new = ihdr[:4] + struct.pack(">II", 30000, 30000) + ihdr[12:]
    data[12:29] = new
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(new)))
    with pytest.raises(ImageError, match=r"too large|megapixels"):
        decode_image(bytes(data))


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    arr = np.full((40, 40), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    out = decode_image(_encode(Image.fromarray(arr), "PNG"))
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    assert 120 <= int(out.mean()) <= 135  # clipping would give 255


def test_cmyk_jpeg_becomes_rgb() -> None:
    rgb = Image.new("RGB", (64, 64), (200, 30, 30))
    out = decode_image(_encode(rgb.convert("CMYK"), "JPEG", quality=95))
    r, g, b = out.reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 80 and b < 80


def test_rgba_transparency_becomes_white() -> None:
    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    out = decode_image(_encode(img, "PNG"))
    assert out.min() == 255


def test_grayscale_becomes_three_channels() -> None:
    out = decode_image(_encode(Image.new("L", (32, 32), 77), "PNG"))
    assert out.shape == (32, 32, 3) and (out == 77).all()


def test_exif_rotation_is_applied() -> None:
    img = _gradient(80, 40)  # landscape; orientation 6 = rotate 90° clockwise to display
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode_image(_encode(img, "JPEG", exif=exif.tobytes()))
    assert out.shape[:2] == (80, 40)  # displayed as portrait


def test_8000_square_photo_is_decoded_downscaled() -> None:
    big = Image.new("RGB", (8000, 8000), (10, 120, 200))
    out = decode_image(_encode(big, "JPEG", quality=70))
    assert max(out.shape[:2]) <= 1920
    assert abs(int(out[..., 2].mean()) - 200) < 6


def test_over_8000_square_is_refused() -> None:
    with pytest.raises(ImageError, match="megapixels"):
        decode_image(_encode(Image.new("1", (8001, 8001)), "PNG"))


@pytest.mark.parametrize(
    "frame",
    [np.zeros((480, 640), np.uint8), np.zeros((480, 640, 3), np.float32), np.zeros((4, 4, 3), np.uint8), "frame"],
)
def test_bad_frames_are_rejected(frame: object) -> None:
    with pytest.raises(ImageError):
        check_frame(frame)
