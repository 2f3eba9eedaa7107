"""Payments: the provider interface, the `test` provider, and gateway webhook verification.

Amounts are integers in paise. A provider creates an order for a booking and refunds a payment;
it never decides that something was paid. That comes from one of two places. The `test` provider
is confirmed by `POST /api/payments/{order_id}/test-pay`, which exists only while it is the
configured provider, as the SMS outbox stands in for a gateway. A real gateway (Razorpay's shape)
confirms through a signed webhook, checked here.

Webhook rules (`verify_webhook`):
- the signature header is HMAC-SHA256 of the raw body with the webhook secret, hex; a missing or
  wrong one is refused (`unsigned`, `bad_signature`), compared in constant time;
- the event's `created_at` must be within `tolerance_s` of now (`stale`), so a captured event
  cannot be replayed later once its id has been forgotten;
- the event id header must be present (`unsigned`); the caller stores it, and a second delivery of
  the same id is a replay and is refused without effect (`proctor.spmt.Spmt.settle`);
- settling is idempotent by payment id: a second event for an already settled payment changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

CURRENCY = "INR"
SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "X-Razorpay-Event-Id"
PAID_EVENTS = frozenset({"payment.captured", "order.paid"})
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class Order:
    """What the page needs to pay: the order at the provider, the amount and who takes it."""

    order_id: str
    amount_paise: int
    currency: str
    provider: str

    def to_json(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "amount_paise": self.amount_paise, "currency": self.currency,
                "provider": self.provider}


class ProviderError(Exception):
    """The provider could not create an order or refund a payment."""


class PaymentProvider(Protocol):
    """A payment gateway, as the bookings see it."""

    name: str

    async def create_order(self, receipt: str, amount_paise: int, currency: str) -> str:
        """Create an order at the gateway and return its id; ProviderError if refused or unreachable."""
        ...

    async def refund(self, payment_id: str, amount_paise: int) -> None:
        """Refund a captured payment in full; ProviderError if refused or unreachable."""
        ...


class TestProvider:
    """The default provider: orders are local, and `test-pay` confirms them. No money moves."""

    name = "test"

    async def create_order(self, receipt: str, amount_paise: int, currency: str) -> str:
        return "order_test_" + secrets.token_hex(8)

    async def refund(self, payment_id: str, amount_paise: int) -> None:
        return None


def new_test_payment_id() -> str:
    return "pay_test_" + secrets.token_hex(8)


class WebhookRejected(ValueError):
    """A webhook that is not applied; `code` names why (unsigned, bad_signature, stale, bad_event, replayed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WebhookEvent:
    """A verified payment event."""

    event_id: str
    event: str
    order_id: str
    payment_id: str
    amount_paise: int
    currency: str
    created_at: float

    @property
    def paid(self) -> bool:
        return self.event in PAID_EVENTS


def sign(secret: str, body: bytes) -> str:
    """The signature a gateway sends for `body`: HMAC-SHA256 with the webhook secret, hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise WebhookRejected("bad_event", f"{name} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


def verify_webhook(body: bytes, signature: str | None, event_id: str | None, *, secret: str, now: float,
                   tolerance_s: float) -> WebhookEvent:
    """Check a webhook delivery and read it; WebhookRejected says why it is refused."""
    if not secret:
        raise WebhookRejected("unsigned", "no webhook secret is configured: every event is refused")
    if not signature:
        raise WebhookRejected("unsigned", f"the {SIGNATURE_HEADER} header is missing")
    if not hmac.compare_digest(sign(secret, body).encode(), signature.strip().lower().encode()):
        raise WebhookRejected("bad_signature", "the signature does not match the body")
    if not event_id or len(event_id) > 128:
        raise WebhookRejected("unsigned", f"the {EVENT_ID_HEADER} header is missing")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookRejected("bad_event", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected("bad_event", "the body is not a JSON object")
    created = data.get("created_at")
    if isinstance(created, bool) or not isinstance(created, int | float) or not math.isfinite(created):
        raise WebhookRejected("bad_event", "created_at must be epoch seconds")
    if abs(now - float(created)) > tolerance_s:
        raise WebhookRejected("stale", f"the event was created {now - float(created):.0f} s ago; "
                                       f"at most {tolerance_s:.0f} s is accepted")
    event = data.get("event")
    try:
        entity = data["payload"]["payment"]["entity"]
    except (KeyError, TypeError):
        raise WebhookRejected("bad_event", "payload.payment.entity is missing") from None
    if not isinstance(entity, dict):
        raise WebhookRejected("bad_event", "payload.payment.entity must be an object")
    amount = entity.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise WebhookRejected("bad_event", "amount must be a positive integer of paise")
    return WebhookEvent(event_id, _str(event, "event"), _str(entity.get("order_id"), "order_id"),
                        _str(entity.get("id"), "payment id"), amount, _str(entity.get("currency"), "currency"),
                        float(created))
