"""Decoding untrusted images into RGB uint8 arrays.

Everything a student's browser or an operator's disk can hand us goes through here: empty files,
non-images, truncated JPEGs, decompression bombs, 16-bit, CMYK, RGBA, palette, grayscale and
EXIF-rotated photos. Each either decodes correctly or raises `ImageError` with a message a person
can act on; nothing else escapes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

# 8000×8000 (a large phone or DSLR photo) is the largest we accept; beyond that a small file that
# claims huge dimensions is a decompression bomb. Decoding happens only after this check.
MAX_PIXELS = 8000 * 8000
# Faces are detected on a downscaled copy anyway; keep memory bounded for huge photos.
MAX_SIDE = 1920
MAX_BYTES = 25 * 1024 * 1024
# What decoding may allocate, from the header's size, bands and bit depth: the pixel cap alone let a
# 124 KB 16-bit PNG of 8000×8000 decode into 128 MB (and 1.7 GiB on the way to RGB).
MAX_DECODED_BYTES = 48 * 1024 * 1024

RGBImage = NDArray[np.uint8]


class ImageError(ValueError):
    """An image that cannot be used, with a reason fit to show the person who sent it."""


def decoded_bytes(img: Image.Image) -> int:
    """What decoding `img` (opened, not loaded) will allocate: size × bands × bytes per sample."""
    width, height = img.size
    mode = img.mode
    if mode.startswith("I;16"):
        per_sample = 2
    elif mode in ("I", "F"):
        per_sample = 4
    else:
        # 16-bit colour PNGs open as "RGB"/"RGBA"; their raw mode ("RGB;16B") says the real depth.
        tiles = getattr(img, "tile", None) or []  # ImageFile only
        raw = "".join(str(t[3][0] if isinstance(t[3], tuple) else t[3]) for t in tiles)
        per_sample = 2 if "16" in raw else 1
    return width * height * len(img.getbands()) * per_sample


def decode_image(data: bytes, max_side: int = MAX_SIDE, max_decoded_bytes: int = MAX_DECODED_BYTES) -> RGBImage:
    """Decode bytes into an (H, W, 3) RGB uint8 array, upright and at most `max_side` wide/high.

    Everything is refused from the header, before a pixel is decoded: dimensions, and what the
    decoded image would take in memory (`max_decoded_bytes`, after JPEG's reduced decode)."""
    if not data:
        raise ImageError("the file is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageError(f"the file is {len(data) // (1024 * 1024)} MiB; the limit is {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below is stricter than Pillow's warning threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image dimensions are too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageError("not a recognised image (use JPEG, PNG or WebP)") from exc
    except OSError as exc:
        raise ImageError(f"cannot read the image: {exc}") from exc

    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"image is {width}×{height} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels"
        )
    if width < 16 or height < 16:
        raise ImageError(f"image is only {width}×{height} pixels")
    if img.format == "JPEG":
        # Let libjpeg downscale by 1/2, 1/4 or 1/8 while decoding: cheap for huge photos.
        img.draft("RGB", (max_side, max_side))
    need = decoded_bytes(img)
    if need > max_decoded_bytes:
        raise ImageError(f"image is {width}×{height} pixels in mode {img.mode}: {need // (1024 * 1024)} MiB to "
                         f"decode; the limit is {max_decoded_bytes // (1024 * 1024)} MiB (send a smaller photo)")
    try:
        img.load()
        upright: Image.Image = ImageOps.exif_transpose(img) or img
        rgb = _to_rgb(upright)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the image is truncated or corrupt: {exc}") from exc
    rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).copy()


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale: Pillow's convert("L") clips at 255, turning most photos white.
        arr = np.asarray(img)
        peak = 65535 if mode.startswith("I;16") or arr.max() > 255 else 255
        # Integer arithmetic at 8 bytes a pixel at most, never a float64 copy of a large image.
        gray = ((np.clip(arr, 0, peak).astype(np.int64) * 255 + peak // 2) // peak).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if mode == "F":
        arr = np.asarray(img)
        span = float(arr.max() - arr.min()) or 1.0
        return Image.fromarray(((arr - arr.min()) / span * 255).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Transparent areas become white, the way a viewer shows them, not black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV, RGB


def read_image_file(path: Path, max_side: int = MAX_SIDE) -> RGBImage:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ImageError(f"{path} is a directory") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{path}: {exc.strerror or exc}") from exc
    return decode_image(data, max_side)


def check_frame(frame: object) -> RGBImage:
    """Validate a frame handed to the engine: (H, W, 3) uint8, sensible size."""
    if not isinstance(frame, np.ndarray):
        raise ImageError(f"frame must be a numpy array, not {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ImageError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    h, w = frame.shape[:2]
    if h < 16 or w < 16 or h * w > MAX_PIXELS:
        raise ImageError(f"frame size {w}×{h} is out of range")
    return frame
