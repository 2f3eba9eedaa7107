"""SPMT records: settings, the refusal, slots and bookings as read back, and seat counting.

Shared by `proctor.spmt` (bookings and payments) and `proctor.spmt_attempts` (the tests themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor.payments import Order
from proctor.tables import payments as _PAY
from proctor.tables import spmt_attempts as _AT
from proctor.tables import spmt_bookings as _BK
from proctor.tables import spmt_slots as _SL

FEE_PAISE = 50_000  # ₹500 per module
MAX_SLOT_MINUTES = 600
MAX_CAPACITY = 10_000
# Statuses that may still hold a seat (awaiting_payment only until its hold runs out).
HOLDING = ("awaiting_payment", "paid", "used")
EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0  # 2000-01-01 and 2100-01-01 UTC


@dataclass(frozen=True)
class SpmtConfig:
    """The operator's SPMT settings (docs/configuration.md)."""

    late_entry_s: float = 15 * 60  # booking and starting stay open this long after a slot starts
    cancel_cutoff_s: float = 60 * 60  # cancel or reschedule only until this long before the start
    payment_hold_s: float = 15 * 60  # an unpaid booking keeps its seat this long
    fee_paise: int = FEE_PAISE
    questions_per_test: int = 20


class Refused(Exception):
    """A request the rules refuse; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Slot:
    id: int
    module_id: str
    start_at: float
    minutes: int
    capacity: int
    seats_left: int
    cancelled_at: float | None

    @property
    def end_at(self) -> float:
        return self.start_at + 60 * self.minutes

    def to_json(self) -> dict[str, Any]:
        return {"slot_id": self.id, "module_id": self.module_id, "start": iso(self.start_at),
                "minutes": self.minutes, "seats_left": self.seats_left, "capacity": self.capacity,
                "cancelled": self.cancelled_at is not None}


@dataclass(frozen=True)
class Booking:
    id: str
    user_id: int
    module_id: str
    slot_id: int
    status: str  # as stored, except an unpaid booking past its hold reads 'expired'
    fee_paise: int
    hold_until: float
    created_at: float
    slot_start: float
    slot_minutes: int
    order: Order | None
    payment_status: str | None
    payment_id: str | None
    attempt_id: str | None

    def to_json(self) -> dict[str, Any]:
        payment = None if self.order is None else {**self.order.to_json(), "status": self.payment_status,
                                                    "receipt_url": f"/receipt/{self.order.order_id}"}
        return {"booking_id": self.id, "module_id": self.module_id, "slot_id": self.slot_id, "status": self.status,
                "start": iso(self.slot_start), "minutes": self.slot_minutes, "fee_paise": self.fee_paise,
                "hold_until": iso(self.hold_until), "payment": payment, "attempt_id": self.attempt_id}


def booking_query() -> Any:
    return (
        select(_BK, _SL.c.start_at.label("slot_start"), _SL.c.minutes.label("slot_minutes"),
               _PAY.c.order_id, _PAY.c.amount_paise, _PAY.c.currency, _PAY.c.provider,
               _PAY.c.status.label("payment_status"), _PAY.c.payment_id, _AT.c.id.label("attempt_id"))
        .select_from(_BK.join(_SL, _BK.c.slot_id == _SL.c.id).outerjoin(_PAY, _PAY.c.booking_id == _BK.c.id)
                     .outerjoin(_AT, _AT.c.booking_id == _BK.c.id))
    )


def booking_row(r: Any, now: float) -> Booking:
    status = str(r.status)
    if status == "awaiting_payment" and float(r.hold_until) <= now:
        status = "expired"
    order = None if r.order_id is None else Order(str(r.order_id), int(r.amount_paise), str(r.currency),
                                                  str(r.provider))
    return Booking(str(r.id), int(r.user_id), str(r.module_id), int(r.slot_id), status, int(r.fee_paise),
                   float(r.hold_until), float(r.created_at), float(r.slot_start), int(r.slot_minutes), order,
                   None if r.payment_status is None else str(r.payment_status),
                   None if r.payment_id is None else str(r.payment_id),
                   None if r.attempt_id is None else str(r.attempt_id))


async def seats_taken(conn: AsyncConnection, slot_id: int, now: float, *, besides: str | None = None) -> int:
    rows = (await conn.execute(
        select(_BK.c.id, _BK.c.status, _BK.c.hold_until).where(_BK.c.slot_id == slot_id, _BK.c.status.in_(HOLDING))
    )).all()
    return sum(1 for r in rows if r.id != besides and (r.status != "awaiting_payment" or float(r.hold_until) > now))
