"""A live stream's liveness side: measures for the domain, messages for the page and the dashboard.

The domain (`proctor.provisional`) decides; this relay measures each sample (head yaw from the
verdict's landmarks, how much the face region changed since the previous sample) and announces
what the domain decided on the data channel `control` and as dashboard events:

    server → page  {"type": "challenge", "challenge_id", "action": "turn_left" | "turn_right", "timeout_s"}
                   {"type": "challenge_result", "challenge_id", "passed": bool}
                   {"type": "credit_voided", "seconds", "reason", "message"}
    page → server  {"type": "camera", "label": str}  (the video track's label)
"""

from __future__ import annotations

from collections.abc import Callable

from models.images import RGBImage
from models.pose import face_change
from proctor.provisional import (
    VOID_FAILED,
    VOID_FLAG_OPEN,
    VOID_NO_PASS,
    VOID_UNANSWERED,
    LivenessUpdate,
    ProvisionalCredit,
)

from .sampler import Taken

# What the student reads when provisional time is voided: why, and how to avoid it.
VOID_MESSAGES = {
    VOID_FAILED: "The head-turn check was missed twice, so the time since the last passed check was not "
                 "credited. When the arrow appears, turn your head, not the laptop.",
    VOID_UNANSWERED: "The session ended during a head-turn check, so the time since the last passed check "
                     "was not credited.",
    VOID_NO_PASS: "No head-turn check was passed in this session, so its time was not credited.",
    VOID_FLAG_OPEN: "A head-turn check was missed and not passed since, so the time since was not credited.",
}


class ChallengeRelay:
    """Measures samples for liveness and announces its decisions."""

    def __init__(self, gate: ProvisionalCredit, send: Callable[[dict[str, object]], None],
                 publish: Callable[..., None]) -> None:
        self.gate = gate
        self._send = send
        self._publish = publish
        self._prev: tuple[RGBImage, tuple[float, float, float, float]] | None = None

    def measure(self, taken: Taken) -> tuple[float | None, float | None]:
        """(yaw ratio, face-region change since the previous sample's face) for one sample."""
        change: float | None = None
        if taken.rgb is not None and self._prev is not None:
            change = face_change(self._prev[0], taken.rgb, self._prev[1])
        boxes = taken.outcome.boxes
        self._prev = (taken.rgb, boxes[0]) if taken.rgb is not None and len(boxes) == 1 else None
        return taken.outcome.yaw, change

    def announce(self, live: LivenessUpdate) -> None:
        timeout = self.gate.policy.timeout_s
        for r in live.resolved:
            ch = r.challenge
            self._send({"type": "challenge_result", "challenge_id": ch.challenge_id, "passed": r.passed})
            self._publish("challenge_result", challenge_id=ch.challenge_id, action=ch.action.value,
                          attempt=ch.attempt, passed=r.passed, decided_at=r.at)
        if live.void is not None:
            v = live.void
            self._send({"type": "credit_voided", "seconds": round(v.seconds, 3), "reason": v.reason,
                        "message": VOID_MESSAGES.get(v.reason, "")})
            self._publish("credit_voided", seconds=round(v.seconds, 3), reason=v.reason, voided_at=v.at)
        if live.issued is not None:
            ch = live.issued
            self._send(ch.to_json(timeout))
            self._publish("challenge_issued", challenge_id=ch.challenge_id, action=ch.action.value,
                          attempt=ch.attempt, issued_at=ch.issued_at, deadline=ch.deadline)

    def status(self) -> dict[str, object]:
        """The liveness fields of the page's status message."""
        g = self.gate
        void = g.last_void
        open_ = g.schedule.open
        return {"provisional_seconds": round(g.provisional_seconds, 3),
                "voided_seconds": round(g.voided_seconds, 3),
                "void_reason": void.reason if void is not None else None,
                "void_message": VOID_MESSAGES.get(void.reason, "") if void is not None else None,
                "challenge": open_.to_json(g.policy.timeout_s) if open_ is not None else None}
