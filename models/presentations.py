"""Presentations for the liveness evaluation (ISO/IEC 30107-3), built from labelled photos.

Bona fide presentations are pose pairs of one person (a frontal photo, then a turned one, mirrored
images included). Attacks are made from the same photos: a still photo moved about, a printed card
turned in 3D, a frozen frame, a replayed turn in the wrong direction, another person turning.

This module measures (faces, yaw ratio, embedding, face-region change); the decision is
`proctor.liveness`'s, applied by `proctor eval liveness` (server/cli/liveness_eval.py).
Measurements are cached by content hash, backend and detector settings, so a rerun only measures what
changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .engine import Engine
from .frames import photo_to_frame
from .images import RGBImage
from .pose import face_change, yaw_ratio

CARD_ANGLES = (-45.0, -30.0, -20.0, 20.0, 30.0, 45.0)  # a printed card turned about its vertical axis
FOCAL_FACTOR = 2.7  # the camera's focal length in image widths (a laptop camera's ≈ 65° field of view)
STILL_MOVES = ((-30, -10, 0.9), (0, 0, 1.0), (30, 10, 1.1))  # dx, dy, scale: moved about, nearer and further
SAVE_EVERY = 25  # new measurements between saves: a long run that is stopped keeps most of its work


@dataclass(frozen=True)
class Measure:
    """What the engine saw in one image."""

    faces: int
    yaw: float | None  # yaw ratio of the single face; None unless exactly one face
    embedding: tuple[float, ...] | None  # L2-normalised, of the single face

    def to_json(self) -> dict[str, object]:
        return {"faces": self.faces, "yaw": self.yaw, "embedding": self.embedding}

    @staticmethod
    def from_json(d: dict[str, object]) -> Measure:
        emb = d.get("embedding")
        yaw = d.get("yaw")
        return Measure(int(d["faces"]), float(yaw) if isinstance(yaw, int | float) else None,  # type: ignore[call-overload]
                       tuple(float(x) for x in emb) if isinstance(emb, list) else None)


class MeasureCache:
    """Measurements by image content hash, kept in one JSON file between runs."""

    def __init__(self, engine: Engine, path: Path | None) -> None:
        self.engine = engine
        self.path = path
        self._data: dict[str, dict[str, object]] = {}
        if path is not None and path.is_file():
            try:
                self._data = json.loads(path.read_text())
            except (OSError, ValueError):
                self._data = {}  # a damaged cache is only lost time
        self.hits = 0
        self.misses = 0

    def _key(self, image: RGBImage) -> str:
        h = hashlib.sha256(np.ascontiguousarray(image).tobytes())
        h.update(repr(image.shape).encode())
        # What was measured depends on the backend and the detector's settings as well as the image:
        # a torch run must not reuse onnxruntime's landmarks, nor a min_face_px change old detections.
        h.update(f"{self.engine.backend.name}:{self.engine.detector.config!r}".encode())
        return f"{self.engine.model_name}:{h.hexdigest()[:32]}"

    def measure(self, image: RGBImage, embed: bool = True) -> Measure:
        key = self._key(image)
        cached = self._data.get(key)
        if cached is not None and (not embed or cached.get("embedding") is not None or cached["faces"] != 1):
            self.hits += 1
            return Measure.from_json(cached)
        self.misses += 1
        faces = self.engine.detect([image])[0]
        yaw = yaw_ratio(faces[0].landmarks) if len(faces) == 1 else None
        emb = None
        if embed and len(faces) == 1:
            emb = tuple(float(x) for x in self.engine.embed_faces([image], faces)[0])
        m = Measure(len(faces), yaw, emb)
        self._data[key] = m.to_json()
        if self.misses % SAVE_EVERY == 0:
            self.save()
        return m

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._data))
            tmp.replace(self.path)


def mirrored(image: RGBImage) -> RGBImage:
    return np.ascontiguousarray(image[:, ::-1])


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """PIL PERSPECTIVE coefficients mapping output points `dst` back to input points `src`."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return [float(c) for c in np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float))]


def card(photo: RGBImage, degrees: float, focal_factor: float = FOCAL_FACTOR, fill: int = 40) -> RGBImage:
    """The photo as a flat printed card turned `degrees` about its vertical axis, seen by a pinhole camera."""
    h, w = photo.shape[:2]
    f = focal_factor * w
    t = math.radians(degrees)

    def project(x: float, y: float) -> tuple[float, float]:
        X, Y = x - w / 2, y - h / 2  # card plane, centred on the optical axis at distance f
        z = f + X * math.sin(t)
        return f * X * math.cos(t) / z + w / 2, f * Y / z + h / 2

    corners = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    coeffs = _perspective_coeffs(corners, [project(x, y) for x, y in corners])
    img = Image.fromarray(photo).transform((w, h), Image.Transform.PERSPECTIVE, coeffs,
                                           Image.Resampling.BILINEAR, fillcolor=(fill, fill, fill))
    return np.asarray(img, dtype=np.uint8).copy()


def still_moves(photo: RGBImage) -> list[RGBImage]:
    """A still photo held up and moved about: shifted and brought nearer or further, in a webcam frame."""
    return [photo_to_frame(photo, shift=(dx, dy), scale=s) for dx, dy, s in STILL_MOVES]


def frozen_change(photo: RGBImage) -> float | None:
    """Face-region change between two frames of a frozen source: the same webcam frame twice."""
    frame = photo_to_frame(photo)
    h, w = frame.shape[:2]
    return face_change(frame, frame.copy(), (w / 4, h / 4, 3 * w / 4, 3 * h / 4))
