"""SPMT attempts: question banks, drawing a test, answering under proctoring, and scoring.

An attempt starts from a paid booking inside its slot's window [start, start + late entry) and
always ends at the slot's end. Its questions are drawn from the module's bank and shuffled, choices
included; the page sees only the text and the shuffled choices, and each attempt remembers its own
choice order, so an answer index means nothing outside it.

Answers are accepted only while the student has a live proctoring stream for the attempt: an open
ledger session whose topic is `attempt_topic(attempt_id)` (such a stream earns no credit). Flags of
those sessions are the attempt's flags; a result with open flags is provisional until reviewed.

Scoring is the plain percentage of correct answers (no negative marking); 50 % passes. Submitting,
or any read after the end of time, scores it once.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.spmt_records import Refused, SpmtConfig, iso
from proctor.tables import flags as _FL
from proctor.tables import live_sessions as _LS
from proctor.tables import spmt_attempt_questions as _AQ
from proctor.tables import spmt_attempts as _AT
from proctor.tables import spmt_bookings as _BK
from proctor.tables import spmt_questions as _Q
from proctor.tables import spmt_slots as _SL
from proctor.tables import users as _USERS

PASS_PCT = 50.0
MAX_QUESTIONS = 5000
MAX_TEXT = 2000
MAX_CHOICES = 8
DEMO_BANK = "spmt_demo_bank.json"
TOPIC_PREFIX = "spmt:"


def attempt_topic(attempt_id: str) -> str:
    """The ledger topic of an attempt's proctoring sessions."""
    return TOPIC_PREFIX + attempt_id


def score(correct: int, total: int) -> tuple[float, bool]:
    """(percentage rounded to 2 places, passed). Passing compares the exact ratio: 49.99 % fails."""
    if total <= 0:
        return 0.0, False
    return round(100.0 * correct / total, 2), 2 * correct >= total


class BankError(ValueError):
    """A question file that cannot be imported; the message says where."""


@dataclass(frozen=True)
class Question:
    text: str
    choices: list[str]
    answer: int


def parse_bank(raw: str | bytes, where: str = "<bank>") -> list[Question]:
    """`[{"text", "choices": [...], "answer": INDEX}]` → questions, or BankError naming the first problem."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BankError(f"{where}: not JSON: {exc}") from None
    if not isinstance(data, list) or not data:
        raise BankError(f"{where}: expected a non-empty JSON list of questions")
    if len(data) > MAX_QUESTIONS:
        raise BankError(f"{where}: at most {MAX_QUESTIONS} questions per file")
    out = []
    for i, q in enumerate(data, 1):
        label = f"{where}: question {i}"
        if not isinstance(q, dict) or set(q) != {"text", "choices", "answer"}:
            raise BankError(f"{label}: must be an object with exactly text, choices and answer")
        text, choices, answer = q["text"], q["choices"], q["answer"]
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise BankError(f"{label}: text must be a non-empty string of at most {MAX_TEXT} characters")
        if (not isinstance(choices, list) or not 2 <= len(choices) <= MAX_CHOICES
                or not all(isinstance(c, str) and c.strip() and len(c) <= MAX_TEXT for c in choices)):
            raise BankError(f"{label}: choices must be 2 to {MAX_CHOICES} non-empty strings")
        if len({c.strip() for c in choices}) != len(choices):
            raise BankError(f"{label}: choices must differ")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise BankError(f"{label}: answer must be the index (from 0) of one of its {len(choices)} choices")
        out.append(Question(text.strip(), [c.strip() for c in choices], answer))
    return out


def demo_banks() -> dict[str, list[Question]]:
    """The packaged demo bank: module id → questions."""
    data = json.loads(resources.files("proctor").joinpath(DEMO_BANK).read_text(encoding="utf-8"))
    return {module: parse_bank(json.dumps(qs), f"{DEMO_BANK}:{module}") for module, qs in data.items()}


@dataclass(frozen=True)
class Attempt:
    id: str
    booking_id: str
    user_id: int
    module_id: str
    started_at: float
    ends_at: float
    submitted_at: float | None
    submit_reason: str | None
    correct: int | None
    total: int
    score_pct: float | None
    passed: bool | None
    flags_open: int = 0
    flags_total: int = 0

    @property
    def provisional(self) -> bool:
        return self.submitted_at is not None and self.flags_open > 0

    def result_json(self) -> dict[str, Any]:
        return {"score_pct": self.score_pct, "passed": self.passed, "correct": self.correct, "total": self.total,
                "provisional": self.provisional}

    def to_json(self) -> dict[str, Any]:
        return {"attempt_id": self.id, "booking_id": self.booking_id, "module_id": self.module_id,
                "started_at": iso(self.started_at), "ends_at": iso(self.ends_at),
                "submitted_at": None if self.submitted_at is None else iso(self.submitted_at),
                "submit_reason": self.submit_reason, "flags": {"open": self.flags_open, "total": self.flags_total},
                **self.result_json()}


def _attempt(r: Any, flags_open: int = 0, flags_total: int = 0) -> Attempt:
    return Attempt(str(r.id), str(r.booking_id), int(r.user_id), str(r.module_id), float(r.started_at),
                   float(r.ends_at), None if r.submitted_at is None else float(r.submitted_at),
                   None if r.submit_reason is None else str(r.submit_reason),
                   None if r.correct is None else int(r.correct), int(r.total),
                   None if r.score_pct is None else float(r.score_pct), None if r.passed is None else bool(r.passed),
                   flags_open, flags_total)


class Attempts:
    """Question banks and test attempts."""

    def __init__(self, db: Database, clock: Clock, config: SpmtConfig | None = None,
                 rng: random.Random | None = None) -> None:
        self.db = db
        self.clock = clock
        self.config = config or SpmtConfig()
        self.rng = rng or random.SystemRandom()

    # ---- banks -------------------------------------------------------------------------------

    async def import_bank(self, module_id: str, questions: list[Question], *, replace: bool = False,
                          by_user_id: int | None = None) -> int:
        """Add questions to a module's bank; `replace` retires the current ones first. The bank's size."""
        now = self.clock.now()
        async with audit.write_transaction(self.db) as conn:
            if replace:
                await conn.execute(update(_Q).where(_Q.c.module_id == module_id, _Q.c.retired.is_(False))
                                   .values(retired=True))
            for q in questions:
                await conn.execute(_Q.insert().values(module_id=module_id, text=q.text, choices=json.dumps(q.choices),
                                                      answer=q.answer, retired=False, created_at=now))
            size = (await conn.execute(select(func.count()).select_from(_Q)
                                       .where(_Q.c.module_id == module_id, _Q.c.retired.is_(False)))).scalar_one()
            await audit.append(conn, at=now, action="spmt_questions_imported", actor=by_user_id,
                               subject=f"module:{module_id}",
                               details={"added": len(questions), "replace": replace, "bank_size": int(size)})
        return int(size)

    async def install_demo_banks(self, module_ids: set[str]) -> int:
        """On first run: the packaged demo bank for each of `module_ids` whose bank is empty. Modules filled."""
        async with self.db.engine.connect() as conn:
            have = {str(m) for m in (await conn.execute(select(_Q.c.module_id).distinct())).scalars()}
        filled = 0
        for module, questions in demo_banks().items():
            if module in module_ids and module not in have:
                await self.import_bank(module, questions)
                filled += 1
        return filled

    async def bank_sizes(self) -> dict[str, int]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(_Q.c.module_id, func.count()).where(_Q.c.retired.is_(False))
                                       .group_by(_Q.c.module_id))).all()
        return {str(m): int(n) for m, n in rows}

    # ---- attempts ----------------------------------------------------------------------------

    async def start(self, user_id: int, booking_id: str) -> tuple[Attempt, list[dict[str, Any]]]:
        """Start (or resume) the attempt of a paid booking inside its window; the attempt and its
        questions as the page shows them. Refused: not_found, payment_required, not_open,
        outside_window, no_questions, already_submitted."""
        now = self.clock.now()
        async with audit.write_transaction(self.db) as conn:
            b = (await conn.execute(select(_BK, _SL.c.start_at, _SL.c.minutes, _SL.c.cancelled_at)
                                    .select_from(_BK.join(_SL, _BK.c.slot_id == _SL.c.id))
                                    .where(_BK.c.id == booking_id))).first()
            if b is None or int(b.user_id) != user_id:
                raise Refused("not_found", "no such booking")
            existing = (await conn.execute(select(_AT).where(_AT.c.booking_id == booking_id))).first()
            if existing is not None:
                if existing.submitted_at is not None or now >= float(existing.ends_at):
                    raise Refused("already_submitted", "this booking's attempt is over; a retake is a new booking")
                attempt = _attempt(existing)
            else:
                if b.status == "awaiting_payment":
                    raise Refused("payment_required", "pay the fee before the test")
                if b.status != "paid" or b.cancelled_at is not None:
                    raise Refused("not_open", "that booking is not open")
                start = float(b.start_at)
                if not start <= now < start + self.config.late_entry_s:
                    raise Refused("outside_window", f"the test can be started from {iso(start)} for "
                                                    f"{self.config.late_entry_s / 60:g} minutes")
                attempt = await self._create(conn, b, now, start + 60 * int(b.minutes))
        return attempt, await self.questions(attempt.id)

    async def _create(self, conn: AsyncConnection, b: Any, now: float, ends_at: float) -> Attempt:
        bank = (await conn.execute(select(_Q.c.id, _Q.c.choices)
                                   .where(_Q.c.module_id == b.module_id, _Q.c.retired.is_(False)))).all()
        if not bank:
            raise Refused("no_questions", "this module has no questions yet; ask the administrator")
        drawn = self.rng.sample(list(bank), min(len(bank), self.config.questions_per_test))
        attempt_id = str(uuid.uuid4())
        await conn.execute(_AT.insert().values(id=attempt_id, booking_id=b.id, user_id=b.user_id,
                                               module_id=b.module_id, started_at=now, ends_at=ends_at,
                                               total=len(drawn)))
        for position, q in enumerate(drawn):
            order = list(range(len(json.loads(q.choices))))
            self.rng.shuffle(order)
            await conn.execute(_AQ.insert().values(attempt_id=attempt_id, question_id=q.id, position=position,
                                                   choice_order=json.dumps(order)))
        await conn.execute(update(_BK).where(_BK.c.id == b.id).values(status="used", updated_at=now))
        await audit.append(conn, at=now, action="spmt_attempt_started", actor=int(b.user_id),
                           subject=f"attempt:{attempt_id}", details={"booking_id": str(b.id), "questions": len(drawn)})
        row = (await conn.execute(select(_AT).where(_AT.c.id == attempt_id))).first()
        return _attempt(row)

    async def questions(self, attempt_id: str) -> list[dict[str, Any]]:
        """The attempt's questions in order, choices in its shuffled order, with the saved choice; never answers."""
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(
                select(_AQ.c.question_id, _AQ.c.choice_order, _AQ.c.choice, _Q.c.text, _Q.c.choices)
                .select_from(_AQ.join(_Q, _AQ.c.question_id == _Q.c.id))
                .where(_AQ.c.attempt_id == attempt_id).order_by(_AQ.c.position)
            )).all()
        out = []
        for r in rows:
            choices = json.loads(r.choices)
            out.append({"question_id": int(r.question_id), "text": str(r.text),
                        "choices": [choices[i] for i in json.loads(r.choice_order)], "choice": r.choice})
        return out

    async def _owned(self, conn: AsyncConnection, user_id: int, attempt_id: str) -> Any:
        a = (await conn.execute(select(_AT).where(_AT.c.id == attempt_id))).first()
        if a is None or int(a.user_id) != user_id:
            raise Refused("not_found", "no such attempt")
        return a

    async def live_stream_open(self, conn: AsyncConnection, user_id: int, attempt_id: str) -> bool:
        return (await conn.execute(select(_LS.c.id).where(
            _LS.c.user_id == user_id, _LS.c.topic_id == attempt_topic(attempt_id), _LS.c.ended_at.is_(None)
        ).limit(1))).first() is not None

    async def in_progress(self, user_id: int, attempt_id: str) -> Attempt:
        """The attempt if the student may stream or answer for it now; Refused otherwise."""
        async with self.db.engine.connect() as conn:
            a = await self._owned(conn, user_id, attempt_id)
        if a.submitted_at is not None or self.clock.now() >= float(a.ends_at):
            raise Refused("time_up", "this attempt is over")
        return _attempt(a)

    async def answer(self, user_id: int, attempt_id: str, question_id: int, choice: int) -> None:
        """Save one answer (the shown index). Refused: not_found, time_up, proctoring_required, bad_choice."""
        now = self.clock.now()
        async with self.db.engine.begin() as conn:
            a = await self._owned(conn, user_id, attempt_id)
            if a.submitted_at is not None or now >= float(a.ends_at):
                raise Refused("time_up", "this attempt is over")
            if not await self.live_stream_open(conn, user_id, attempt_id):
                raise Refused("proctoring_required", "answers are accepted only while your webcam is proctored")
            q = (await conn.execute(select(_AQ.c.choice_order).where(_AQ.c.attempt_id == attempt_id,
                                                                     _AQ.c.question_id == question_id))).first()
            if q is None:
                raise Refused("not_found", "no such question in this attempt")
            if not 0 <= choice < len(json.loads(q.choice_order)):
                raise Refused("bad_choice", "choice is not one of the question's choices")
            await conn.execute(update(_AQ).where(_AQ.c.attempt_id == attempt_id, _AQ.c.question_id == question_id)
                               .values(choice=choice, answered_at=now))

    async def submit(self, user_id: int, attempt_id: str) -> Attempt:
        """Score the attempt now (or return its result if already scored)."""
        async with self.db.engine.connect() as conn:
            await self._owned(conn, user_id, attempt_id)
        await self._score(attempt_id, "submitted")
        got = await self.get(attempt_id)
        assert got is not None
        return got

    async def _score(self, attempt_id: str, reason: str) -> None:
        now = self.clock.now()
        async with audit.write_transaction(self.db) as conn:
            a = (await conn.execute(select(_AT).where(_AT.c.id == attempt_id))).first()
            if a is None or a.submitted_at is not None:
                return
            if now >= float(a.ends_at):
                reason, now = "time_up", float(a.ends_at)
            rows = (await conn.execute(select(_AQ.c.choice_order, _AQ.c.choice, _Q.c.answer)
                                       .select_from(_AQ.join(_Q, _AQ.c.question_id == _Q.c.id))
                                       .where(_AQ.c.attempt_id == attempt_id))).all()
            correct = sum(1 for r in rows if r.choice is not None and json.loads(r.choice_order)[r.choice] == r.answer)
            pct, passed = score(correct, int(a.total))
            await conn.execute(update(_AT).where(_AT.c.id == attempt_id).values(
                submitted_at=now, submit_reason=reason, correct=correct, score_pct=pct, passed=passed))
            await audit.append(conn, at=now, action="spmt_attempt_scored", actor=int(a.user_id),
                               subject=f"attempt:{attempt_id}",
                               details={"reason": reason, "correct": correct, "total": int(a.total), "score_pct": pct,
                                        "passed": passed})

    async def finalize_due(self) -> int:
        """Score every attempt whose time ran out unsubmitted; how many."""
        async with self.db.engine.connect() as conn:
            due = list((await conn.execute(select(_AT.c.id).where(
                _AT.c.submitted_at.is_(None), _AT.c.ends_at <= self.clock.now()))).scalars())
        for attempt_id in due:
            await self._score(str(attempt_id), "time_up")
        return len(due)

    async def get(self, attempt_id: str) -> Attempt | None:
        found = await self.find(attempt_id=attempt_id)
        return found[0] if found else None

    async def find(self, *, user_id: int | None = None, attempt_id: str | None = None,
                   limit: int = 1000) -> list[Attempt]:
        """Attempts newest first, with their flag counts (open = not reviewed yet)."""
        query = select(_AT).order_by(_AT.c.started_at.desc()).limit(limit)
        if user_id is not None:
            query = query.where(_AT.c.user_id == user_id)
        if attempt_id is not None:
            query = query.where(_AT.c.id == attempt_id)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            topics = [attempt_topic(str(r.id)) for r in rows]
            counts: dict[str, tuple[int, int]] = {}
            if topics:
                flag_rows = (await conn.execute(
                    select(_LS.c.topic_id, _FL.c.review).select_from(_FL.join(_LS, _FL.c.session_id == _LS.c.id))
                    .where(_LS.c.topic_id.in_(topics)))).all()
                for topic, review in flag_rows:
                    o, t = counts.get(str(topic), (0, 0))
                    counts[str(topic)] = (o + (review == "open"), t + 1)
        return [_attempt(r, *counts.get(attempt_topic(str(r.id)), (0, 0))) for r in rows]

    async def student_names(self, user_ids: list[int]) -> dict[int, tuple[str | None, str]]:
        """user id → (SRN, name), for the staff page and the results CSV."""
        if not user_ids:
            return {}
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(_USERS.c.id, _USERS.c.srn, _USERS.c.name)
                                       .where(_USERS.c.id.in_(user_ids)))).all()
        return {int(r.id): (r.srn, str(r.name)) for r in rows}
