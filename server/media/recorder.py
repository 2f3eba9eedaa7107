"""Writing one live session down: every sample, credited interval, flag and state change goes to
the ledger before the student is told, so what the page shows survives `kill -9`.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field, replace

from proctor.credit import Sample
from proctor.flags import Flag
from proctor.ledger import Ledger, SessionState
from proctor.liveness_ledger import LivenessLedger
from proctor.session import LiveSession, SessionUpdate


@dataclass(frozen=True)
class Written:
    """What one update wrote, for the stream to announce."""

    credited_s: float = 0.0  # seconds of a newly stored interval (0 when none, or a duplicate)
    raised: list[tuple[Flag, int]] = field(default_factory=list)  # (flag, its ledger id)
    ended: list[tuple[Flag, int | None]] = field(default_factory=list)


class SessionRecorder:
    """The ledger writes of one session. Callers keep updates in order (one at a time)."""

    def __init__(self, session_id: str, ledger: Ledger, liveness: LivenessLedger | None = None, *,
                 earns_credit: bool = True) -> None:
        self.session_id = session_id
        self.ledger = ledger
        self.liveness = liveness
        self.earns_credit = earns_credit  # False: a test's stream, whose intervals are never written
        self._flag_ids: dict[tuple[str, float], int] = {}  # (kind, started_at) → flag id

    async def write(self, update: SessionUpdate, session: LiveSession, sample: Sample | None = None) -> Written:
        sid = self.session_id
        credited_s = 0.0
        if update.credited is not None and self.earns_credit:
            c = update.credited
            if await self.ledger.append_interval(sid, c.seq, c.start, c.end, lesson_id=c.lesson_id):
                credited_s = c.end - c.start
        if update.liveness is not None and self.liveness is not None:  # provisional, confirmed, voided
            live = update.liveness
            if not self.earns_credit:  # a test's stream: challenges and voids are kept, never credit
                live = replace(live, provisional=None, confirmed=[])
            credited_s += await self.liveness.write(sid, live)
        raised: list[tuple[Flag, int]] = []
        for flag in update.raised:
            flag_id = await self.ledger.record_flag_raised(sid, flag.kind.value, flag.started_at)
            self._flag_ids[(flag.kind.value, flag.started_at)] = flag_id
            raised.append((flag, flag_id))
        ended: list[tuple[Flag, int | None]] = []
        for flag in update.ended:
            assert flag.ended_at is not None
            await self.ledger.record_flag_ended(sid, flag.kind.value, flag.started_at, flag.ended_at)
            ended.append((flag, self._flag_ids.get((flag.kind.value, flag.started_at))))
        state = SessionState(session.state, session.reason.value, session.samples_total, session.samples_verified)
        if sample is not None:  # the sample row and the new state commit together
            await self.ledger.record_sample(sid, sample.at, sample.reason.value, sample.score, state=state)
        else:
            await self.ledger.update_session_state(sid, *astuple(state))
        return Written(credited_s, raised, ended)

    async def end(self, at: float, reason: str, *, by: int | None = None) -> None:
        await self.ledger.end_session(self.session_id, at, reason, by=by)
