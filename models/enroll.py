"""Enrollment: 1..k reference photos → reference embeddings, each photo checked like a passport photo.

A reference must show exactly one face, large and clear enough to trust: a poor reference makes
every later verification of that student unreliable, so we refuse it with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embedder import Embeddings
from .engine import Engine
from .images import MAX_DECODED_BYTES, ImageError, RGBImage, decode_image

MIN_REFERENCE_FACE_PX = 80.0  # below this a 160×160 crop is an upscale of too little detail
MAX_PHOTOS = 10


class EnrollmentError(ValueError):
    """A reference photo was refused; `index` is its 0-based position."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"photo {index + 1}: {message}")
        self.index = index


@dataclass(frozen=True)
class Enrollment:
    """What to store for a student: embeddings with their model, and the photos to re-embed later."""

    model: str
    embeddings: Embeddings  # (k, dim) float32, L2-normalised
    photos: list[bytes]  # original bytes, in the same order


def check_reference(engine: Engine, frame: RGBImage, index: int) -> None:
    faces = engine.detect([frame])[0]
    if not faces:
        raise EnrollmentError(index, "no face found; use a clear, front-facing photo")
    if len(faces) > 1:
        raise EnrollmentError(index, f"{len(faces)} faces found; the photo must show only you")
    if faces[0].size < MIN_REFERENCE_FACE_PX:
        raise EnrollmentError(
            index, f"the face is too small to trust ({faces[0].size:.0f} px; at least "
                   f"{MIN_REFERENCE_FACE_PX:.0f} px needed): move closer or crop the photo")
    if engine.low_quality(frame, faces[0]):
        raise EnrollmentError(index, "the face is too dark or too bright; use even lighting")


def decode_photos(photos: list[bytes], max_decoded_bytes: int = MAX_DECODED_BYTES) -> list[RGBImage]:
    """Decode every photo (no model work: this runs on the decode pool, not the inference thread).
    Raises EnrollmentError for the first that cannot be used."""
    if not photos:
        raise EnrollmentError(0, "at least one photo is needed")
    if len(photos) > MAX_PHOTOS:
        raise EnrollmentError(MAX_PHOTOS, f"at most {MAX_PHOTOS} photos are accepted")
    frames: list[RGBImage] = []
    for i, data in enumerate(photos):
        try:
            frames.append(decode_image(data, max_decoded_bytes=max_decoded_bytes))
        except ImageError as exc:
            raise EnrollmentError(i, str(exc)) from exc
    return frames


def enroll_frames(engine: Engine, frames: list[RGBImage], photos: list[bytes]) -> Enrollment:
    """Check each decoded photo like a reference, then embed them all (model work)."""
    for i, frame in enumerate(frames):
        check_reference(engine, frame, i)
    detections = engine.detect(frames)
    embeddings = engine.embed_faces(frames, [faces[0] for faces in detections])
    return Enrollment(model=engine.model_name, embeddings=embeddings.astype(np.float32), photos=list(photos))


def enroll(engine: Engine, photos: list[bytes]) -> Enrollment:
    """Validate every photo, then embed them all. Raises EnrollmentError for the first bad one."""
    return enroll_frames(engine, decode_photos(photos), photos)


def vectors_to_bytes(embeddings: Embeddings) -> list[bytes]:
    """Little-endian float32 bytes per vector, as the ledger stores them."""
    return [np.asarray(v, dtype="<f4").tobytes() for v in embeddings]


def vectors_from_bytes(blobs: list[bytes], dim: int) -> Embeddings:
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    arr = np.stack([np.frombuffer(b, dtype="<f4") for b in blobs]).astype(np.float32)
    if arr.shape[1] != dim:
        raise ValueError(f"stored embeddings are {arr.shape[1]}-d, model expects {dim}")
    return arr
