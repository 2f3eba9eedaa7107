"""Payment routes: the `test` provider's confirmation, the gateway webhook, and a receipt page per payment.

`POST /api/payments/{order_id}/test-pay` is routed only while `payment_provider` is `test`, so on a
real gateway it is a 404 like any unknown path. The webhook needs no login: its signature is its
authentication (`proctor.payments.verify_webhook`).
"""

from __future__ import annotations

import html
import logging

from aiohttp import web

from proctor.payments import (
    CURRENCY,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookRejected,
    new_test_payment_id,
    verify_webhook,
)
from proctor.spmt import Refused, iso
from proctor.users import Role

from ..http import ApiError
from ..keys import SERVICES, SETTINGS, SPMT
from .auth import COOKIE, USER, current_user
from .spmt import refused

log = logging.getLogger("proctor.payments")
MAX_WEBHOOK_BYTES = 64 * 1024


async def test_pay(request: web.Request) -> web.Response:
    """The `test` provider's stand-in for a gateway: the student confirms their own order."""
    user = current_user(request, Role.STUDENT)
    spmt = request.app[SPMT].bookings
    order_id = request.match_info["order_id"]
    owner = await spmt.order_owner(order_id)
    if owner is None or owner[0] != user.id:
        raise ApiError(404, "not_found", "no such order")
    try:
        settled = await spmt.settle(order_id, new_test_payment_id(), owner[1], CURRENCY)
    except Refused as exc:
        raise refused(exc) from None
    booking = await spmt.get_booking(settled.booking_id)
    assert booking is not None
    return web.json_response({"outcome": settled.outcome, "booking": booking.to_json()})


async def webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = await request.content.read(MAX_WEBHOOK_BYTES + 1)
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "body_too_large", "webhook body too large")
    try:
        event = verify_webhook(body, request.headers.get(SIGNATURE_HEADER), request.headers.get(EVENT_ID_HEADER),
                               secret=settings.payment_webhook_secret, now=request.app[SERVICES].clock.now(),
                               tolerance_s=settings.payment_webhook_tolerance_s)
    except WebhookRejected as exc:
        log.warning("webhook refused: %s", exc)
        raise ApiError(401 if exc.code in ("unsigned", "bad_signature") else 400, exc.code, str(exc)) from None
    if not event.paid:
        return web.json_response({"outcome": "ignored", "event": event.event})
    try:
        settled = await request.app[SPMT].bookings.settle(event.order_id, event.payment_id, event.amount_paise,
                                                          event.currency, event.event_id)
    except Refused as exc:
        raise refused(exc) from None
    return web.json_response({"outcome": settled.outcome, "booking_id": settled.booking_id})


_RECEIPT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Receipt {order}</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main class="receipt"><h1>Payment receipt</h1><dl>
<dt>Order</dt><dd>{order}</dd><dt>Payment</dt><dd>{payment}</dd><dt>Student</dt><dd>{student}</dd>
<dt>Module test</dt><dd>{module}</dd><dt>Slot</dt><dd>{slot} (UTC)</dd><dt>Amount</dt><dd>₹{rupees} ({paise} paise)</dd>
<dt>Payment status</dt><dd>{status}</dd><dt>Booking</dt><dd>{booking}</dd></dl>
<p><a href="/">Back</a></p></main></body></html>
"""


async def receipt(request: web.Request) -> web.Response:
    """A printable receipt; the payer's own, or any for staff. Every value is escaped."""
    user = request.get(USER)
    if user is None:
        token = request.cookies.get(COOKIE)  # the auth middleware resolves cookies for /api/ paths only
        resolved = await request.app[SERVICES].accounts.web_sessions.resolve(token) if token else None
        user = None if resolved is None else resolved[0]
    if user is None:
        raise ApiError(401, "unauthorized", "log in first")
    spmt = request.app[SPMT].bookings
    found = next((b for b in await spmt.bookings(None if user.role.is_staff else user.id)
                  if b.order is not None and b.order.order_id == request.match_info["order_id"]), None)
    if found is None or found.order is None or found.payment_status == "created":
        raise ApiError(404, "not_found", "no such payment")
    module = spmt.catalog.module(found.module_id)
    e = html.escape
    page = _RECEIPT.format(order=e(found.order.order_id), payment=e(found.payment_id or "-"),
                           student=e(f"{user.srn or ''} {user.name}" if not user.role.is_staff else str(found.user_id)),
                           module=e(module.title if module else found.module_id), slot=e(iso(found.slot_start)),
                           rupees=f"{found.order.amount_paise / 100:.2f}", paise=found.order.amount_paise,
                           status=e(found.payment_status or ""), booking=e(found.status))
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "private, no-store"})


def setup_routes(app: web.Application) -> None:
    if app[SETTINGS].payment_provider == "test":
        app.router.add_post("/api/payments/{order_id}/test-pay", test_pay)
    app.router.add_post("/api/payments/webhook", webhook)
    app.router.add_get("/receipt/{order_id}", receipt)
