"""Face detection: MTCNN (models/mtcnn.py) on batches of frames, through the chosen backend.

Sizes are given for a 640×480 webcam frame and scale with the frame's short side, so a 320×240
stream and a 640×480 one find the same people. `min_face_px` is the smallest face looked for. Its
default, 32 px, is chosen from where people are in a webcam frame (docs/configuration.md): the
student at the desk is 95–150 px wide and 60–75 px leaning back, and a second person looking over
the shoulder or across the room, the case the multiple-faces flag exists for, is 40–50 px at
1.5–2 m. A minimum above about 40 px would miss that person. 32 px keeps a margin for MTCNN's box
sizes, which vary by ±15 % around the face. The detector never skips frames: every sample gets a
full detection, so a second person entering the view is seen on the next sample.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np

from . import mtcnn
from .backends import Backend
from .images import RGBImage

REFERENCE_SHORT_SIDE = 480.0  # the sizes below are for a 640×480 frame


def scaled_px(px: float, frame: RGBImage) -> float:
    """A size given for a 640×480 frame, in this frame's pixels."""
    return float(px * min(frame.shape[0], frame.shape[1]) / REFERENCE_SHORT_SIDE)


@dataclass(frozen=True)
class FaceBox:
    """One detected face, in the original frame's pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    prob: float  # MTCNN O-Net probability
    landmarks: tuple[tuple[float, float], ...] = ()  # left eye, right eye, nose, mouth left, mouth right

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class DetectorConfig:
    """Knobs that decide what counts as a face."""

    min_face_px: float = 32.0  # smallest face looked for, in a 640×480 frame (see the module docstring)
    # Hands and objects scored 0.86–0.87 here and large real faces ≥ 0.975, but a second person's
    # 22–44 px face (1.5–2 m away) scores 0.89–0.94 (tests/test_backends.py): 0.90 keeps them.
    prob_floor: float = 0.90
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # P/R/O-Net stage thresholds


class Detector:
    """MTCNN on batches of RGB frames of any sizes; returns confident faces per frame."""

    def __init__(self, backend: Backend, config: DetectorConfig | None = None,
                 timings: MutableMapping[str, float] | None = None) -> None:
        self.backend = backend
        self.config = config or DetectorConfig()
        self.timings = timings  # where mtcnn adds its resampling seconds, if anyone asks

    def detect(self, frames: list[RGBImage]) -> list[list[FaceBox]]:
        """Detect faces in every frame; frames of the same size share one pass through the cascade."""
        results: list[list[FaceBox]] = [[] for _ in frames]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            groups.setdefault(tuple(frame.shape), []).append(i)
        for idxs in groups.values():
            first = frames[idxs[0]]
            min_face = scaled_px(self.config.min_face_px, first)
            batch = np.stack([frames[i] for i in idxs]) if len(idxs) > 1 else first[None]
            found = mtcnn.detect(self.backend, batch, min_face, self.config.thresholds, self.timings)
            for i, det in zip(idxs, found, strict=True):
                results[i] = self._keep(det, min_face)
        return results

    def _keep(self, det: mtcnn.Detections, min_face: float) -> list[FaceBox]:
        faces = []
        for box, prob, marks in zip(det.boxes.tolist(), det.probs.tolist(), det.landmarks.tolist(), strict=True):
            face = FaceBox(box=(box[0], box[1], box[2], box[3]), prob=prob,
                           landmarks=tuple((p[0], p[1]) for p in marks))
            if face.prob >= self.config.prob_floor and face.size >= min_face:
                faces.append(face)
        return faces
