"""Rate limits on expensive or abusable requests, built from the settings.

Each is a sliding window (`proctor.lockout.IpLimiter`) over a key: the caller's address (an IPv6
client's /64) for requests made before login, the user for requests made after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.clock import Clock
from proctor.lockout import IpLimiter

from .config import Settings


@dataclass(frozen=True)
class Limits:
    code_requests: IpLimiter  # "send me a code", per address: each may send an SMS
    enrollments: IpLimiter  # enrollment posts, per student: each decodes photos and runs the model
    offers: IpLimiter  # WebRTC offers, per student: each starts a peer connection and decoders

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> Limits:
        return cls(IpLimiter(clock, settings.code_requests_per_ip, settings.code_request_window_s),
                   IpLimiter(clock, settings.enrollments_per_student, settings.enrollment_window_s),
                   IpLimiter(clock, settings.offers_per_student, settings.offer_window_s))


def user_key(user_id: int) -> str:
    return f"user:{user_id}"
