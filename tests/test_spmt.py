"""SPMT domain on SQLite and PostgreSQL: eligibility, seats, payments, attempts and scoring."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from proctor.catalog import load_catalog
from proctor.clock import FakeClock
from proctor.credit import CreditPolicy, Reason, Sample
from proctor.credit_adjust import adjust, adjustments_of
from proctor.db import Database
from proctor.ledger import Ledger
from proctor.outbox import OutboxSender, list_outbox
from proctor.payments import TestProvider, WebhookRejected, new_test_payment_id, sign, verify_webhook
from proctor.progress import credited_by_module
from proctor.session import LiveSession
from proctor.spmt import Refused, Spmt, SpmtConfig
from proctor.spmt_attempts import Attempts, BankError, Question, attempt_topic, demo_banks, parse_bank, score
from proctor.students import Students
from server.media.recorder import SessionRecorder

T0 = 1_800_000_000.0
MODULE = "a-corporate-economic-laws"
REQUIRED = 40 * 3600
CONFIG = SpmtConfig(late_entry_s=15 * 60, cancel_cutoff_s=60 * 60, payment_hold_s=15 * 60, questions_per_test=10)


class Rig:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = FakeClock(T0)
        self.spmt = Spmt(db, self.clock, load_catalog(), TestProvider(), OutboxSender(db, self.clock), CONFIG)
        self.attempts = Attempts(db, self.clock, CONFIG, random.Random(7))

    async def student(self, srn: str, *, hours: float = 40.0, mobile: str | None = None) -> int:
        uid = await Students(self.db, self.clock).add_student(srn, f"Student {srn}", mobile, None)
        if hours:
            await adjust(self.db, self.clock, user_id=uid, module_id=MODULE, seconds=hours * 3600,
                         reason="transfer of hours", by_user_id=None)
        return uid

    async def paid_booking(self, uid: int, slot_id: int) -> str:
        b = await self.spmt.book(uid, MODULE, slot_id)
        assert b.order is not None
        await self.spmt.settle(b.order.order_id, new_test_payment_id(), b.order.amount_paise, "INR")
        return b.id


@pytest.fixture
async def rig(db: Database) -> Rig:
    r = Rig(db)
    await r.attempts.import_bank(MODULE, demo_banks()[MODULE])
    return r


async def test_eligibility_is_confirmed_credit_plus_adjustments_and_nothing_else(rig: Rig) -> None:
    uid = await rig.student("S1", hours=0)
    slot = await rig.spmt.add_slot(MODULE, T0 + 86400, 60, 10)
    with pytest.raises(Refused) as exc:
        await rig.spmt.book(uid, MODULE, slot.id)
    assert exc.value.code == "not_eligible"
    # 1000 s of confirmed (ledger) credit plus an adjustment 1 s short of the rest: still not eligible.
    ledger = Ledger(rig.db)
    sid = await ledger.start_session(uid, "a-companies-act-2013", MODULE, T0 - 2000)
    await ledger.append_interval(sid, 0, T0 - 2000, T0 - 1000)
    await adjust(rig.db, rig.clock, user_id=uid, module_id=MODULE, seconds=REQUIRED - 1000 - 1, reason="transfer",
                 by_user_id=None)
    assert (await rig.spmt.eligibility(uid))[MODULE][0] is False
    await adjust(rig.db, rig.clock, user_id=uid, module_id=MODULE, seconds=1, reason="rounding", by_user_id=None)
    assert (await rig.spmt.eligibility(uid))[MODULE] == (True, pytest.approx(REQUIRED), REQUIRED)
    assert (await rig.spmt.book(uid, MODULE, slot.id)).status == "awaiting_payment"
    # A negative adjustment takes it away again, and progress never goes below zero.
    await adjust(rig.db, rig.clock, user_id=uid, module_id=MODULE, seconds=-10 * REQUIRED, reason="reversal",
                 by_user_id=None)
    assert (await credited_by_module(rig.db, uid))[MODULE] == 0.0
    assert not (await rig.spmt.eligibility(uid))[MODULE][0]
    assert [a.reason for a in await adjustments_of(rig.db, uid)] == ["reversal", "rounding", "transfer"]


async def test_credit_adjustments_are_checked(rig: Rig) -> None:
    uid = await rig.student("S1", hours=0)
    for seconds, reason in ((0, "x"), (float("nan"), "x"), (5, "  "), (1e12, "x")):
        with pytest.raises(ValueError):
            await adjust(rig.db, rig.clock, user_id=uid, module_id=MODULE, seconds=seconds, reason=reason,
                         by_user_id=None)


@pytest.mark.parametrize("capacity,students", [(1, 8), (2, 6)])
async def test_concurrent_bookings_never_oversell(rig: Rig, capacity: int, students: int) -> None:
    uids = [await rig.student(f"C{i}") for i in range(students)]
    slot = await rig.spmt.add_slot(MODULE, T0 + 86400, 60, capacity)
    results = await asyncio.gather(*(rig.spmt.book(u, MODULE, slot.id) for u in uids), return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == capacity
    assert all(isinstance(e, Refused) and e.code == "slot_full" for e in lost), lost
    assert (await rig.spmt.list_slots())[0].seats_left == 0


async def test_one_open_booking_per_module_and_unpaid_holds_expire(rig: Rig) -> None:
    uid, other = await rig.student("S1"), await rig.student("S2")
    slot = await rig.spmt.add_slot(MODULE, T0 + 86400, 60, 1)
    later = await rig.spmt.add_slot(MODULE, T0 + 2 * 86400, 60, 5)
    first = await rig.spmt.book(uid, MODULE, slot.id)
    with pytest.raises(Refused) as exc:
        await rig.spmt.book(uid, MODULE, later.id)
    assert exc.value.code == "already_booked"
    with pytest.raises(Refused) as exc:
        await rig.spmt.book(other, MODULE, slot.id)
    assert exc.value.code == "slot_full"
    rig.clock.advance(CONFIG.payment_hold_s + 1)  # unpaid: the seat goes back
    assert (await rig.spmt.get_booking(first.id)).status == "expired"  # type: ignore[union-attr]
    taken = await rig.spmt.book(other, MODULE, slot.id)
    # The first student pays late: the seat is gone, so the payment is refunded at once.
    assert first.order is not None
    late = await rig.spmt.settle(first.order.order_id, "pay_late", first.order.amount_paise, "INR")
    assert late.outcome == "refunded"
    assert (await rig.spmt.get_booking(first.id)).payment_status == "refunded"  # type: ignore[union-attr]
    assert taken.status == "awaiting_payment"


async def test_settling_is_idempotent_by_payment_id_and_refuses_replayed_events(rig: Rig) -> None:
    uid = await rig.student("S1")
    slot = await rig.spmt.add_slot(MODULE, T0 + 86400, 60, 5)
    b = await rig.spmt.book(uid, MODULE, slot.id)
    assert b.order is not None and b.order.amount_paise == 50_000 and b.order.currency == "INR"
    with pytest.raises(Refused) as exc:
        await rig.spmt.settle(b.order.order_id, "pay_1", 100, "INR", "evt_0")
    assert exc.value.code == "amount_mismatch"
    assert (await rig.spmt.settle(b.order.order_id, "pay_1", 50_000, "INR", "evt_1")).outcome == "settled"
    with pytest.raises(Refused) as exc:
        await rig.spmt.settle(b.order.order_id, "pay_1", 50_000, "INR", "evt_1")
    assert exc.value.code == "replayed"
    assert (await rig.spmt.settle(b.order.order_id, "pay_1", 50_000, "INR", "evt_2")).outcome == "duplicate"
    assert (await rig.spmt.settle(b.order.order_id, "pay_2", 50_000, "INR", "evt_3")).outcome == "duplicate"
    got = await rig.spmt.get_booking(b.id)
    assert got is not None and got.status == "paid" and got.payment_id == "pay_1"
    with pytest.raises(Refused) as exc:
        await rig.spmt.settle("order_nope", "pay_9", 50_000, "INR")
    assert exc.value.code == "unknown_order"


async def test_cancel_and_reschedule_only_before_the_cutoff(rig: Rig) -> None:
    uid = await rig.student("S1")
    slot = await rig.spmt.add_slot(MODULE, T0 + 2 * 3600, 60, 5)
    other = await rig.spmt.add_slot(MODULE, T0 + 5 * 3600, 60, 5)
    booking_id = await rig.paid_booking(uid, slot.id)
    moved = await rig.spmt.reschedule(uid, booking_id, other.id)
    assert moved.slot_id == other.id and moved.status == "paid"
    cancelled = await rig.spmt.cancel_booking(uid, booking_id)
    assert cancelled.status == "cancelled" and cancelled.payment_status == "refunded"
    second = await rig.paid_booking(uid, slot.id)
    rig.clock.advance(3601)  # now 59 min 59 s before the start: past the one-hour cut-off
    with pytest.raises(Refused) as exc:
        await rig.spmt.cancel_booking(uid, second)
    assert exc.value.code == "cutoff_passed"


async def test_cancelling_a_slot_refunds_and_texts_every_booker(rig: Rig) -> None:
    paid = await rig.student("S1", mobile="+919800000001")
    unpaid = await rig.student("S2", mobile="+919800000002")
    slot = await rig.spmt.add_slot(MODULE, T0 + 86400, 60, 5)
    paid_booking = await rig.paid_booking(paid, slot.id)
    await rig.spmt.book(unpaid, MODULE, slot.id)
    assert await rig.spmt.cancel_slot(slot.id) == 2
    got = await rig.spmt.get_booking(paid_booking)
    assert got is not None and got.status == "slot_cancelled" and got.payment_status == "refunded"
    texts = await list_outbox(rig.db)
    assert sorted(m.mobile for m in texts) == ["+919800000001", "+919800000002"]
    assert all("cancelled" in m.text for m in texts)
    assert await rig.spmt.list_slots(bookable_only=True) == []


@pytest.mark.parametrize("correct,total,pct,passed", [
    (0, 20, 0.0, False), (99, 200, 49.5, False), (1, 3, 33.33, False), (10, 20, 50.0, True), (20, 20, 100.0, True),
])
def test_score_is_the_plain_percentage_and_passes_at_half(correct: int, total: int, pct: float, passed: bool) -> None:
    assert score(correct, total) == (pct, passed)


async def _answer_all(rig: Rig, uid: int, attempt_id: str, right: int) -> None:
    """Answer `right` questions correctly and the rest wrongly, reading the answers from the bank."""
    bank = {q.text: q for q in demo_banks()[MODULE]}
    for i, q in enumerate(await rig.attempts.questions(attempt_id)):
        correct = q["choices"].index(bank[q["text"]].choices[bank[q["text"]].answer])
        choice = correct if i < right else (correct + 1) % len(q["choices"])
        await rig.attempts.answer(uid, attempt_id, q["question_id"], choice)


async def test_attempt_needs_payment_the_window_and_a_live_proctoring_stream(rig: Rig) -> None:
    uid = await rig.student("S1")
    start = T0 + 3 * 3600
    slot = await rig.spmt.add_slot(MODULE, start, 30, 5)
    b = await rig.spmt.book(uid, MODULE, slot.id)
    rig.clock.set(start)
    with pytest.raises(Refused) as exc:
        await rig.attempts.start(uid, b.id)
    assert exc.value.code == "payment_required"
    assert b.order is not None
    rig.clock.set(T0)
    await rig.spmt.settle(b.order.order_id, "pay_1", 50_000, "INR")
    with pytest.raises(Refused) as exc:
        await rig.attempts.start(uid, b.id)
    assert exc.value.code == "outside_window"
    rig.clock.set(start + CONFIG.late_entry_s - 1)
    attempt, questions = await rig.attempts.start(uid, b.id)
    assert attempt.ends_at == start + 30 * 60 and len(questions) == 10
    bank = {q.text: q for q in demo_banks()[MODULE]}
    for q in questions:
        assert set(q) == {"question_id", "text", "choices", "choice"}  # never the answer
        assert sorted(q["choices"]) == sorted(bank[q["text"]].choices)
    with pytest.raises(Refused) as exc:
        await rig.attempts.answer(uid, attempt.id, questions[0]["question_id"], 0)
    assert exc.value.code == "proctoring_required"
    ledger = Ledger(rig.db)
    sid = await ledger.start_session(uid, attempt_topic(attempt.id), MODULE, rig.clock.now())
    await _answer_all(rig, uid, attempt.id, right=5)
    with pytest.raises(Refused) as exc:
        await rig.attempts.answer(uid, attempt.id, questions[0]["question_id"], 9)
    assert exc.value.code == "bad_choice"
    await ledger.end_session(sid, rig.clock.now(), "ended_by_student")
    with pytest.raises(Refused) as exc:
        await rig.attempts.answer(uid, attempt.id, questions[0]["question_id"], 0)
    assert exc.value.code == "proctoring_required"
    result = await rig.attempts.submit(uid, attempt.id)
    assert (result.correct, result.total, result.score_pct, result.passed) == (5, 10, 50.0, True)
    assert result.submit_reason == "submitted" and not result.provisional


async def test_time_out_scores_what_was_saved_and_retakes_keep_history(rig: Rig) -> None:
    uid = await rig.student("S1")
    start = T0 + 3600
    first = await rig.spmt.add_slot(MODULE, start, 20, 5)
    booking = await rig.paid_booking(uid, first.id)
    rig.clock.set(start + 60)
    attempt, _ = await rig.attempts.start(uid, booking)
    await Ledger(rig.db).start_session(uid, attempt_topic(attempt.id), MODULE, rig.clock.now())
    await _answer_all(rig, uid, attempt.id, right=4)
    rig.clock.set(start + 20 * 60 + 5)  # time is up, nobody submitted
    with pytest.raises(Refused) as exc:
        await rig.attempts.answer(uid, attempt.id, 1, 0)
    assert exc.value.code == "time_up"
    assert await rig.attempts.finalize_due() == 1
    timed_out = await rig.attempts.get(attempt.id)
    assert timed_out is not None
    assert (timed_out.submit_reason, timed_out.submitted_at, timed_out.score_pct, timed_out.passed) == (
        "time_up", start + 20 * 60, 40.0, False)
    with pytest.raises(Refused) as exc:
        await rig.attempts.start(uid, booking)
    assert exc.value.code == "already_submitted"
    # A retake is a new booking and a new fee.
    second = await rig.spmt.add_slot(MODULE, rig.clock.now() + 7200, 20, 5)
    retake = await rig.paid_booking(uid, second.id)
    rig.clock.set(rig.clock.now() + 7200)
    again, _ = await rig.attempts.start(uid, retake)
    await Ledger(rig.db).start_session(uid, attempt_topic(again.id), MODULE, rig.clock.now())
    await _answer_all(rig, uid, again.id, right=10)
    assert (await rig.attempts.submit(uid, again.id)).score_pct == 100.0
    history = await rig.attempts.find(user_id=uid)
    assert [(a.id, a.passed) for a in history] == [(again.id, True), (attempt.id, False)]
    bookings = await rig.spmt.bookings(uid)
    assert [b.status for b in bookings] == ["used", "used"]


def test_bank_files_are_checked_with_a_clear_error() -> None:
    good = [{"text": "Q?", "choices": ["a", "b"], "answer": 1}]
    assert parse_bank(json.dumps(good)) == [Question("Q?", ["a", "b"], 1)]
    for bad, words in (("not json", "not JSON"), ("[]", "non-empty"),
                       (json.dumps([{"text": "Q", "choices": ["a"], "answer": 0}]), "question 1: choices"),
                       (json.dumps([{"text": "Q", "choices": ["a", "b"], "answer": 2}]), "answer must be"),
                       (json.dumps([{"text": "Q", "choices": ["a", "a"], "answer": 0}]), "differ"),
                       (json.dumps([{"text": "Q", "choices": ["a", "b"], "answer": True}]), "answer must be"),
                       (json.dumps([{"text": "Q", "choices": ["a", "b"]}]), "exactly")):
        with pytest.raises(BankError, match=words):
            parse_bank(bad, "f.json")


def test_the_demo_bank_has_twenty_questions_for_every_module() -> None:
    banks = demo_banks()
    assert set(banks) == {m.id for m in load_catalog().modules}
    assert all(len(qs) >= 20 for qs in banks.values())


async def test_replacing_a_bank_retires_the_old_questions(rig: Rig) -> None:
    size = await rig.attempts.import_bank(MODULE, [Question("Only?", ["yes", "no"], 0)], replace=True)
    assert size == 1 and (await rig.attempts.bank_sizes())[MODULE] == 1


def _event(**over: Any) -> bytes:
    body = {"event": "payment.captured", "created_at": int(T0),
            "payload": {"payment": {"entity": {"id": "pay_1", "order_id": "order_1", "amount": 50000,
                                               "currency": "INR"}}}}
    body.update(over)
    return json.dumps(body).encode()


def test_webhooks_must_be_signed_fresh_and_named() -> None:
    body = _event()
    ok = verify_webhook(body, sign("s3cret", body), "evt_1", secret="s3cret", now=T0 + 10, tolerance_s=300)
    assert (ok.order_id, ok.payment_id, ok.amount_paise, ok.paid) == ("order_1", "pay_1", 50000, True)
    cases = [
        (body, None, "evt_1", "unsigned"),
        (body, sign("wrong", body), "evt_1", "bad_signature"),
        (body + b" ", sign("s3cret", body), "evt_1", "bad_signature"),  # any change to the body
        (body, sign("s3cret", body), None, "unsigned"),
        (_event(created_at=int(T0) - 301), sign("s3cret", _event(created_at=int(T0) - 301)), "evt_1", "stale"),
        (b"[]", sign("s3cret", b"[]"), "evt_1", "bad_event"),
    ]
    for raw, signature, event_id, code in cases:
        with pytest.raises(WebhookRejected) as exc:
            verify_webhook(raw, signature, event_id, secret="s3cret", now=T0, tolerance_s=300)
        assert exc.value.code == code
    with pytest.raises(WebhookRejected) as exc:  # no secret configured: nothing is trusted
        verify_webhook(body, sign("", body), "evt_1", secret="", now=T0, tolerance_s=300)
    assert exc.value.code == "unsigned"


@pytest.mark.parametrize("earns", [True, False])
async def test_a_test_stream_is_sampled_but_never_credited(rig: Rig, earns: bool) -> None:
    uid = await rig.student("S1", hours=0)
    ledger = Ledger(rig.db)
    topic = "a-companies-act-2013" if earns else attempt_topic("x")
    sid = await ledger.start_session(uid, topic, MODULE, T0)
    session = LiveSession(sid, CreditPolicy(sample_interval_s=1.0, max_gap_s=2.5, flag_after=3), rig.clock)
    recorder = SessionRecorder(sid, ledger, earns_credit=earns)
    for _ in range(4):
        sample = Sample(rig.clock.now(), Reason.OK, 0.9)
        await recorder.write(session.record_sample(sample), session, sample)
        rig.clock.advance(1.0)
    credited = (await credited_by_module(rig.db, uid)).get(MODULE, 0.0)
    assert credited == (pytest.approx(3.0) if earns else 0.0)
