"""Self-Paced Module Tests: slots, bookings with atomically counted seats, and their payments.

A module is eligible once its confirmed credit, explicit adjustments included, reaches the module's
required hours (`proctor.progress.credited_by_module`); nothing the client sends can make it so.

A booking holds a seat while it is paid, or while unpaid until `hold_until` (the payment hold, never
past the slot's late-entry limit). Seats are counted inside the booking's write transaction, which
holds the database write lock (SQLite `BEGIN IMMEDIATE`; PostgreSQL the audit chain's advisory lock
plus `FOR UPDATE` on the slot), so concurrent bookings of the last seat never oversell.

The attempt itself (question banks, drawing, answering, scoring) is `proctor.spmt_attempts`; the
records both read back (settings, slots, bookings, seat counting) are `proctor.spmt_records`.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.catalog import Catalog
from proctor.clock import Clock
from proctor.db import Database
from proctor.outbox import SmsSender
from proctor.payments import CURRENCY, PaymentProvider, ProviderError
from proctor.progress import credited_by_module
from proctor.spmt_records import (
    EARLIEST,
    FEE_PAISE,
    HOLDING,
    LATEST,
    MAX_CAPACITY,
    MAX_SLOT_MINUTES,
    Booking,
    Refused,
    Slot,
    SpmtConfig,
    booking_query,
    booking_row,
    iso,
    seats_taken,
)
from proctor.tables import payment_events as _PE
from proctor.tables import payments as _PAY
from proctor.tables import spmt_attempts as _AT
from proctor.tables import spmt_bookings as _BK
from proctor.tables import spmt_slots as _SL
from proctor.tables import users as _USERS

log = logging.getLogger("proctor.spmt")

__all__ = ["FEE_PAISE", "Booking", "Refused", "Settled", "Slot", "Spmt", "SpmtConfig", "iso"]


@dataclass(frozen=True)
class Settled:
    """What a payment did: 'settled' (the booking is paid), 'duplicate' (already settled: no effect)
    or 'refunded' (the booking could no longer take it)."""

    outcome: str
    booking_id: str
    order_id: str


class Spmt:
    """Slots, bookings and payments of the module tests."""

    def __init__(self, db: Database, clock: Clock, catalog: Catalog, provider: PaymentProvider,
                 sender: SmsSender | None = None, config: SpmtConfig | None = None) -> None:
        self.db = db
        self.clock = clock
        self.catalog = catalog
        self.provider = provider
        self.sender = sender
        self.config = config or SpmtConfig()

    # ---- eligibility -------------------------------------------------------------------------

    async def eligibility(self, user_id: int) -> dict[str, tuple[bool, float, float]]:
        """module_id → (eligible, credited seconds with adjustments, required seconds)."""
        credited = await credited_by_module(self.db, user_id)
        out: dict[str, tuple[bool, float, float]] = {}
        for m in self.catalog.modules:
            have = credited.get(m.id, 0.0)
            out[m.id] = (have >= m.required_seconds, have, float(m.required_seconds))
        return out

    # ---- slots -------------------------------------------------------------------------------

    async def add_slot(self, module_id: str, start_at: float, minutes: int, capacity: int,
                       by_user_id: int | None = None) -> Slot:
        if self.catalog.module(module_id) is None:
            raise ValueError(f"no module {module_id!r} in the catalog")
        if not (math.isfinite(start_at) and EARLIEST <= start_at <= LATEST):
            raise ValueError("start must be between the years 2000 and 2100")
        if not 1 <= minutes <= MAX_SLOT_MINUTES:
            raise ValueError(f"minutes must be between 1 and {MAX_SLOT_MINUTES}")
        if not 1 <= capacity <= MAX_CAPACITY:
            raise ValueError(f"capacity must be between 1 and {MAX_CAPACITY}")
        now = self.clock.now()
        async with audit.write_transaction(self.db) as conn:
            slot_id = (await conn.execute(
                _SL.insert().values(module_id=module_id, start_at=float(start_at), minutes=minutes, capacity=capacity,
                                    created_at=now).returning(_SL.c.id))).scalar_one()
            await audit.append(conn, at=now, action="spmt_slot_added", actor=by_user_id, subject=f"slot:{slot_id}",
                               details={"module_id": module_id, "start": float(start_at), "minutes": minutes,
                                        "capacity": capacity})
        return Slot(int(slot_id), module_id, float(start_at), minutes, capacity, capacity, None)

    async def list_slots(self, *, module_id: str | None = None, bookable_only: bool = False) -> list[Slot]:
        """Slots by start time; `bookable_only`: not cancelled and still open for booking."""
        now = self.clock.now()
        query = select(_SL).order_by(_SL.c.start_at, _SL.c.id)
        if module_id is not None:
            query = query.where(_SL.c.module_id == module_id)
        if bookable_only:
            query = query.where(_SL.c.cancelled_at.is_(None), _SL.c.start_at + self.config.late_entry_s > now)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            out = []
            for r in rows:
                taken = await seats_taken(conn, int(r.id), now)
                cancelled = None if r.cancelled_at is None else float(r.cancelled_at)
                out.append(Slot(int(r.id), str(r.module_id), float(r.start_at), int(r.minutes), int(r.capacity),
                                max(0, int(r.capacity) - taken), cancelled))
        return out

    async def cancel_slot(self, slot_id: int, by_user_id: int | None = None) -> int:
        """Cancel a slot: its bookings end, paid ones are refunded, and bookers get an SMS. The count."""
        now = self.clock.now()
        async with audit.write_transaction(self.db) as conn:
            slot = (await conn.execute(select(_SL).where(_SL.c.id == slot_id))).first()
            if slot is None:
                raise Refused("not_found", f"no slot {slot_id}")
            if slot.cancelled_at is not None:
                return 0
            await conn.execute(update(_SL).where(_SL.c.id == slot_id).values(cancelled_at=now))
            rows = (await conn.execute(
                select(_BK.c.id, _BK.c.user_id, _USERS.c.mobile)
                .select_from(_BK.join(_USERS, _BK.c.user_id == _USERS.c.id))
                .where(_BK.c.slot_id == slot_id, _BK.c.status.in_(("awaiting_payment", "paid")))
            )).all()
            refunds = []
            for b in rows:
                await conn.execute(update(_BK).where(_BK.c.id == b.id).values(status="slot_cancelled", updated_at=now))
                refunds += await self._refund_in(conn, str(b.id), now, by_user_id, "slot_cancelled")
            await audit.append(conn, at=now, action="spmt_slot_cancelled", actor=by_user_id, subject=f"slot:{slot_id}",
                               details={"bookings": len(rows)})
        await self._refund_at_provider(refunds)
        if self.sender is not None:
            when = iso(float(slot.start_at))
            for b in rows:
                if b.mobile:
                    try:
                        await self.sender.send(str(b.mobile), f"Your SPMT slot at {when} (UTC) was cancelled. "
                                               "Any fee paid is refunded; please book another slot.", int(b.user_id))
                    except Exception:
                        log.exception("could not tell user %s that slot %s was cancelled", b.user_id, slot_id)
        return len(rows)

    # ---- bookings ----------------------------------------------------------------------------

    async def _open_booking(self, conn: AsyncConnection, user_id: int, module_id: str, now: float) -> str | None:
        rows = (await conn.execute(
            select(_BK.c.id, _BK.c.status, _BK.c.hold_until, _SL.c.start_at, _SL.c.minutes, _AT.c.submitted_at)
            .select_from(_BK.join(_SL, _BK.c.slot_id == _SL.c.id).outerjoin(_AT, _AT.c.booking_id == _BK.c.id))
            .where(_BK.c.user_id == user_id, _BK.c.module_id == module_id, _BK.c.status.in_(HOLDING))
        )).all()
        for r in rows:
            end = float(r.start_at) + 60 * int(r.minutes)
            if r.status == "awaiting_payment" and float(r.hold_until) > now:
                return str(r.id)
            if r.status == "paid" and end > now:
                return str(r.id)
            if r.status == "used" and r.submitted_at is None and end > now:
                return str(r.id)
        return None

    async def _lock_slot(self, conn: AsyncConnection, slot_id: int, module_id: str, now: float) -> Any:
        slot = (await conn.execute(select(_SL).where(_SL.c.id == slot_id).with_for_update())).first()
        if slot is None or slot.module_id != module_id:
            raise Refused("no_such_slot", f"no slot {slot_id} for module {module_id}")
        if slot.cancelled_at is not None:
            raise Refused("slot_cancelled", "that slot was cancelled")
        if now >= float(slot.start_at) + self.config.late_entry_s:
            raise Refused("booking_closed", "booking for that slot has closed")
        if await seats_taken(conn, slot_id, now) >= int(slot.capacity):
            raise Refused("slot_full", "that slot has no seats left")
        return slot

    async def book(self, user_id: int, module_id: str, slot_id: int) -> Booking:
        """Book a seat; the booking awaits payment. Refused: unknown_module, not_eligible, no_such_slot,
        slot_cancelled, booking_closed, already_booked, slot_full, payment_unavailable."""
        if self.catalog.module(module_id) is None:
            raise Refused("unknown_module", f"no module {module_id!r} in the catalog")
        eligible, have, need = (await self.eligibility(user_id))[module_id]
        if not eligible:
            raise Refused("not_eligible", f"this module needs {need / 3600:g} h of credited time; you have "
                                          f"{have / 3600:.2f} h")
        now = self.clock.now()
        booking_id = str(uuid.uuid4())
        fee = self.config.fee_paise
        async with audit.write_transaction(self.db) as conn:
            # Serialise one student's bookings (PostgreSQL; SQLite's write lock already does).
            await conn.execute(select(_USERS.c.id).where(_USERS.c.id == user_id).with_for_update())
            if await self._open_booking(conn, user_id, module_id, now) is not None:
                raise Refused("already_booked", "you already have an open booking for this module")
            slot = await self._lock_slot(conn, slot_id, module_id, now)
            hold = min(now + self.config.payment_hold_s, float(slot.start_at) + self.config.late_entry_s)
            await conn.execute(_BK.insert().values(id=booking_id, user_id=user_id, module_id=module_id, slot_id=slot_id,
                                                   status="awaiting_payment", fee_paise=fee, hold_until=hold,
                                                   created_at=now, updated_at=now))
            await audit.append(conn, at=now, action="spmt_booked", actor=user_id, subject=f"booking:{booking_id}",
                               details={"module_id": module_id, "slot_id": slot_id, "fee_paise": fee})
        try:
            order_id = await self.provider.create_order(booking_id, fee, CURRENCY)
        except ProviderError as exc:
            async with self.db.engine.begin() as conn:
                await conn.execute(update(_BK).where(_BK.c.id == booking_id).values(status="cancelled", updated_at=now))
            raise Refused("payment_unavailable", f"the payment provider could not create an order: {exc}") from None
        async with self.db.engine.begin() as conn:
            await conn.execute(_PAY.insert().values(order_id=order_id, booking_id=booking_id, user_id=user_id,
                                                    provider=self.provider.name, amount_paise=fee, currency=CURRENCY,
                                                    status="created", created_at=now))
        got = await self.get_booking(booking_id)
        assert got is not None
        return got

    async def get_booking(self, booking_id: str) -> Booking | None:
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(booking_query().where(_BK.c.id == booking_id))).first()
        return None if r is None else booking_row(r, self.clock.now())

    async def bookings(self, user_id: int | None = None, limit: int = 500) -> list[Booking]:
        """Newest first; one student's when `user_id` is given."""
        query = booking_query().order_by(_BK.c.created_at.desc()).limit(limit)
        if user_id is not None:
            query = query.where(_BK.c.user_id == user_id)
        now = self.clock.now()
        async with self.db.engine.connect() as conn:
            return [booking_row(r, now) for r in (await conn.execute(query)).all()]

    async def _owned(self, conn: AsyncConnection, user_id: int, booking_id: str) -> Any:
        b = (await conn.execute(select(_BK, _SL.c.start_at).select_from(_BK.join(_SL, _BK.c.slot_id == _SL.c.id))
                                .where(_BK.c.id == booking_id))).first()
        if b is None or int(b.user_id) != user_id:
            raise Refused("not_found", "no such booking")
        return b

    def _check_changeable(self, b: Any, now: float) -> None:
        if b.status not in ("awaiting_payment", "paid") or (b.status == "awaiting_payment" and b.hold_until <= now):
            raise Refused("not_open", "that booking can no longer be changed")
        if now > float(b.start_at) - self.config.cancel_cutoff_s:
            raise Refused("cutoff_passed", f"bookings can be changed only until "
                                           f"{self.config.cancel_cutoff_s / 60:g} minutes before the slot")

    async def cancel_booking(self, user_id: int, booking_id: str) -> Booking:
        """The student cancels before the cut-off; a paid fee is refunded."""
        now = self.clock.now()
        async with audit.write_transaction(self.db) as conn:
            b = await self._owned(conn, user_id, booking_id)
            self._check_changeable(b, now)
            await conn.execute(update(_BK).where(_BK.c.id == booking_id).values(status="cancelled", updated_at=now))
            refunds = await self._refund_in(conn, booking_id, now, user_id, "cancelled")
            await audit.append(conn, at=now, action="spmt_booking_cancelled", actor=user_id,
                               subject=f"booking:{booking_id}", details={"refunded": bool(refunds)})
        await self._refund_at_provider(refunds)
        got = await self.get_booking(booking_id)
        assert got is not None
        return got

    async def reschedule(self, user_id: int, booking_id: str, slot_id: int) -> Booking:
        """Move a booking to another slot of its module, before the cut-off; the payment moves with it."""
        now = self.clock.now()
        async with audit.write_transaction(self.db) as conn:
            b = await self._owned(conn, user_id, booking_id)
            self._check_changeable(b, now)
            if int(b.slot_id) == slot_id:
                raise Refused("same_slot", "the booking is already in that slot")
            await self._lock_slot(conn, slot_id, str(b.module_id), now)
            await conn.execute(update(_BK).where(_BK.c.id == booking_id).values(slot_id=slot_id, updated_at=now))
            await audit.append(conn, at=now, action="spmt_rescheduled", actor=user_id, subject=f"booking:{booking_id}",
                               details={"from_slot": int(b.slot_id), "to_slot": slot_id})
        got = await self.get_booking(booking_id)
        assert got is not None
        return got

    # ---- payments ----------------------------------------------------------------------------

    async def _refund_in(self, conn: AsyncConnection, booking_id: str, now: float, actor: int | None,
                         why: str) -> list[tuple[str, int]]:
        """Mark the booking's captured payment refunded; (payment id, amount) for the provider."""
        rows = (await conn.execute(select(_PAY).where(_PAY.c.booking_id == booking_id, _PAY.c.status == "paid"))).all()
        out = []
        for p in rows:
            await conn.execute(update(_PAY).where(_PAY.c.order_id == p.order_id)
                               .values(status="refunded", refunded_at=now))
            await audit.append(conn, at=now, action="payment_refunded", actor=actor, subject=f"order:{p.order_id}",
                               details={"booking_id": booking_id, "amount_paise": int(p.amount_paise), "why": why})
            out.append((str(p.payment_id), int(p.amount_paise)))
        return out

    async def _refund_at_provider(self, refunds: list[tuple[str, int]]) -> None:
        for payment_id, amount in refunds:
            try:
                await self.provider.refund(payment_id, amount)
            except ProviderError:
                # Recorded as refunded (the student is owed it); the operator retries from the log.
                log.exception("the provider refused the refund of payment %s (%d paise)", payment_id, amount)

    async def order_owner(self, order_id: str) -> tuple[int, int, str] | None:
        """(user id, amount in paise, status) of an order, or None."""
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(_PAY.c.user_id, _PAY.c.amount_paise, _PAY.c.status)
                                    .where(_PAY.c.order_id == order_id))).first()
        return None if r is None else (int(r.user_id), int(r.amount_paise), str(r.status))

    async def settle(self, order_id: str, payment_id: str, amount_paise: int, currency: str,
                     event_id: str | None = None) -> Settled:
        """Apply a captured payment, in one transaction with its booking. Idempotent by payment id;
        an event id seen before is refused as `replayed`. Refused: replayed, unknown_order, amount_mismatch."""
        now = self.clock.now()
        refunds: list[tuple[str, int]] = []
        async with audit.write_transaction(self.db) as conn:
            if event_id is not None:
                if (await conn.execute(select(_PE.c.event_id).where(_PE.c.event_id == event_id))).first():
                    raise Refused("replayed", "this event was already received")
                await conn.execute(_PE.insert().values(event_id=event_id, payment_id=payment_id, received_at=now))
            p = (await conn.execute(select(_PAY).where(_PAY.c.order_id == order_id))).first()
            if p is None:
                raise Refused("unknown_order", "no such order")
            same = (await conn.execute(select(_PAY.c.order_id).where(_PAY.c.payment_id == payment_id))).first()
            if p.status != "created" or same is not None:
                return Settled("duplicate", str(p.booking_id), order_id)
            if int(amount_paise) != int(p.amount_paise) or currency != p.currency:
                raise Refused("amount_mismatch", f"expected {p.amount_paise} {p.currency}")
            await conn.execute(update(_PAY).where(_PAY.c.order_id == order_id)
                               .values(status="paid", payment_id=payment_id, paid_at=now))
            b = (await conn.execute(select(_BK, _SL.c.capacity, _SL.c.cancelled_at)
                                    .select_from(_BK.join(_SL, _BK.c.slot_id == _SL.c.id))
                                    .where(_BK.c.id == p.booking_id))).first()
            assert b is not None
            seat = b.status == "awaiting_payment" and b.cancelled_at is None and (
                float(b.hold_until) > now or await seats_taken(conn, int(b.slot_id), now, besides=str(b.id))
                < int(b.capacity))
            await audit.append(conn, at=now, action="payment_settled", actor=int(b.user_id),
                               subject=f"order:{order_id}",
                               details={"booking_id": str(b.id), "payment_id": payment_id,
                                        "amount_paise": int(amount_paise), "provider": str(p.provider)})
            if seat:
                await conn.execute(update(_BK).where(_BK.c.id == b.id).values(status="paid", updated_at=now))
            else:  # paid too late (hold ran out and the seat was taken, or cancelled): give it back
                if b.status == "awaiting_payment":
                    await conn.execute(update(_BK).where(_BK.c.id == b.id).values(status="expired", updated_at=now))
                refunds = await self._refund_in(conn, str(b.id), now, None, "booking_not_open")
        await self._refund_at_provider(refunds)
        return Settled("refunded" if refunds else "settled", str(p.booking_id), order_id)
