"""The server's view of verification: an engine `Verdict` in the domain's words, and the protocols
the media code verifies through.

`models/` speaks `Verdict`s; `proctor/` speaks `Reason`s. This module is the only place the two
meet, so neither wing imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from models.embedder import Embeddings
from models.engine import Verdict
from models.enroll import Enrollment
from models.images import RGBImage
from models.pose import yaw_ratio
from proctor.credit import Reason

_REASONS = {r.value: r for r in Reason}


@dataclass(frozen=True)
class Outcome:
    """A verdict in the domain's words, plus what evidence needs."""

    reason: Reason
    score: float | None
    faces: int
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    yaw: float | None = None  # head-yaw ratio of the one face (models.pose), for liveness challenges


def outcome_from_verdict(verdict: Verdict) -> Outcome:
    reason = _REASONS.get(verdict.reason, Reason.VERIFIER_UNAVAILABLE)
    if reason is Reason.OK and not verdict.match:
        reason = Reason.MISMATCH  # never let an inconsistent verdict credit time
    yaw = yaw_ratio(verdict.boxes[0].landmarks) if len(verdict.boxes) == 1 else None
    return Outcome(reason, verdict.score, verdict.faces, tuple(b.box for b in verdict.boxes), yaw)


class FrameVerifier(Protocol):
    """What a live session needs from verification."""

    model_name: str
    dim: int

    async def verify(self, frame: RGBImage, references: Embeddings, timeout_s: float, *,
                     session_id: str = "", student_id: str | None = None) -> Outcome: ...


class NodeVerifier(FrameVerifier, Protocol):
    """What the whole media node needs: the in-process `LocalVerifier` or the Redis-backed one."""

    async def start(self) -> None: ...

    async def ping(self) -> bool | None:
        """Whether the verifier's backend answers; None when it has none to ask (in-process)."""
        ...

    async def stream_stats(self) -> tuple[int, int | None] | None:
        """(jobs queued, jobs not yet delivered) in scale-out mode; None in-process."""
        ...

    async def aclose(self) -> None: ...

    async def enroll(self, photos: list[bytes]) -> Enrollment: ...

    def references_from_blobs(self, blobs: list[bytes]) -> Embeddings: ...
