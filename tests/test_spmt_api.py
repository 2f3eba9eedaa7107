"""SPMT and credit adjustments over HTTP: booking, paying (test provider and a signed webhook), the
attempt under proctoring, maintenance, admin adjustments and the commands."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from proctor.clock import FakeClock
from proctor.credit_adjust import adjust
from proctor.ledger import Ledger
from proctor.passwords import hash_password
from proctor.payments import sign
from proctor.spmt_attempts import attempt_topic
from server.app import create_app
from server.cli.main import main
from server.keys import SERVICES, SPMT

from .helpers import PASSWORD, enroll_student, login, settings_for

MODULE = "a-corporate-economic-laws"
HOURS_40 = 40 * 3600
SECRET = "whsec_test"


async def err(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    return dict((await resp.json())["error"])


async def make(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path, **settings: Any) -> Any:
    clock = FakeClock(time.time())
    app = create_app(settings_for(tmp_path, **settings), clock=clock, engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"], mobile="+919800000002")
    await app[SERVICES].students.add_staff("ada", "Ada", "admin", hash_password(PASSWORD))
    client.clock = clock
    return client


async def staff_login(client: Any, username: str) -> dict[str, str]:
    resp = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert resp.status == 200
    return {"X-CSRF-Token": (await resp.json())["csrf_token"]}


@pytest.fixture
async def rig(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> Any:
    return await make(aiohttp_client, engine, references, tmp_path)


async def test_admin_adjusts_credit_and_the_student_sees_it_books_pays_and_sits(rig: Any,
                                                                              aiohttp_client: Any) -> None:
    admin = await aiohttp_client(rig.server)
    ah = await staff_login(admin, "ada")
    start = rig.clock.now() + 2 * 3600
    slot = await admin.post("/api/proctor/spmt/slots", headers=ah, json={
        "module_id": MODULE, "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)), "minutes": 30,
        "capacity": 2})
    assert slot.status == 201, await slot.text()
    slot_id = (await slot.json())["slot_id"]

    h = {"X-CSRF-Token": await login(rig)}
    e = await err(await rig.post("/api/spmt/bookings", headers=h, json={"module_id": MODULE, "slot_id": slot_id}), 409)
    assert e["code"] == "not_eligible"
    # A student cannot adjust their own credit; an admin can, with a reason the student sees.
    body = {"srn": "MAD001", "module_id": MODULE, "seconds": HOURS_40, "reason": "Hours transferred from SPOM v1"}
    await err(await rig.post("/api/proctor/credit-adjustments", headers=h, json=body), 403)
    made = await admin.post("/api/proctor/credit-adjustments", headers=ah, json=body)
    assert made.status == 201, await made.text()
    adjustments = (await (await rig.get("/api/adjustments")).json())["adjustments"]
    assert [(a["kind"], a["delta_seconds"], a["note"]) for a in adjustments] == [
        ("adjustment", HOURS_40, "Hours transferred from SPOM v1")]
    progress = (await (await rig.get("/api/progress")).json())["modules"]
    assert progress[0]["credited_seconds"] == HOURS_40 and progress[0]["adjusted_seconds"] == HOURS_40

    overview = await (await rig.get("/api/spmt")).json()
    module = next(m for m in overview["modules"] if m["module_id"] == MODULE)
    assert module["eligible"] and module["fee_paise"] == 50000 and module["attempts"] == []
    assert [s["slot_id"] for s in overview["slots"]] == [slot_id]
    booked = await rig.post("/api/spmt/bookings", headers=h, json={"module_id": MODULE, "slot_id": slot_id})
    assert booked.status == 201, await booked.text()
    booking = await booked.json()
    assert booking["status"] == "awaiting_payment"
    assert {k: booking["payment"][k] for k in ("amount_paise", "currency", "provider")} == {
        "amount_paise": 50000, "currency": "INR", "provider": "test"}
    e = await err(await rig.post("/api/spmt/bookings", headers=h, json={"module_id": MODULE, "slot_id": slot_id}), 409)
    assert e["code"] == "already_booked"

    rig.clock.set(start)
    e = await err(await rig.post(f"/api/spmt/bookings/{booking['booking_id']}/attempt", headers=h), 402)
    assert e["code"] == "payment_required"
    paid = await rig.post(f"/api/payments/{booking['payment']['order_id']}/test-pay", headers=h)
    assert paid.status == 200 and (await paid.json())["booking"]["status"] == "paid"
    receipt = await rig.get(f"/receipt/{booking['payment']['order_id']}")
    assert receipt.status == 200 and "₹500.00" in await receipt.text()

    started = await rig.post(f"/api/spmt/bookings/{booking['booking_id']}/attempt", headers=h)
    assert started.status == 201
    attempt = await started.json()
    assert len(attempt["questions"]) == 20 and all("answer" not in q for q in attempt["questions"])
    q = attempt["questions"][0]
    answer_url = f"/api/spmt/attempts/{attempt['attempt_id']}/answers/{q['question_id']}"
    e = await err(await rig.put(answer_url, headers=h, json={"choice": 0}), 409)
    assert e["code"] == "proctoring_required"
    # The page's proctoring stream opens this ledger session (the browser test runs the real one).
    mad = await rig.app[SERVICES].students.get_by_srn("MAD001")
    await Ledger(rig.app[SERVICES].db).start_session(mad.id, attempt_topic(attempt["attempt_id"]), MODULE,
                                                     rig.clock.now())
    saved = await rig.put(answer_url, headers=h, json={"choice": 1})
    assert saved.status == 200 and (await saved.json())["saved"]
    resumed = await (await rig.get(f"/api/spmt/attempts/{attempt['attempt_id']}")).json()
    assert resumed["questions"][0]["choice"] == 1
    result = await rig.post(f"/api/spmt/attempts/{attempt['attempt_id']}/submit", headers=h)
    assert result.status == 200
    scored = await result.json()
    assert scored["total"] == 20 and scored["correct"] in (0, 1) and scored["passed"] is False

    staff_view = await (await admin.get("/api/proctor/spmt")).json()
    assert staff_view["attempts"][0]["student"]["srn"] == "MAD001"
    csv_text = await (await admin.get("/api/proctor/spmt/results.csv")).text()
    assert csv_text.splitlines()[1].startswith("MAD001,Student MAD001," + MODULE)


async def test_booking_is_refused_during_maintenance(rig: Any) -> None:
    spmt = rig.app[SPMT].bookings
    slot = await spmt.add_slot(MODULE, rig.clock.now() + 86400, 30, 5)
    h = {"X-CSRF-Token": await login(rig)}  # logged in before the window: logins are refused during one
    now = rig.clock.now()
    await rig.app[SERVICES].maintenance.add(now - 60, now + 3600, "SPMT portal upgrade")
    resp = await rig.post("/api/spmt/bookings", headers=h, json={"module_id": MODULE, "slot_id": slot.id})
    e = await err(resp, 503)
    assert e["code"] == "maintenance" and "SPMT portal upgrade" in e["message"]
    assert 3500 <= int(resp.headers["Retry-After"]) <= 3600


async def test_razorpay_orders_and_signed_webhooks(aiohttp_client: Any, engine: Any, references: Any,
                                                   tmp_path: Path) -> None:
    # A stand-in for Razorpay's Orders API (the network is not reachable from tests): it records the orders.
    orders: list[dict[str, Any]] = []

    async def create_order(request: web.Request) -> web.Response:
        assert request.headers["Authorization"].startswith("Basic ")
        orders.append(await request.json())
        return web.json_response({"id": f"order_rzp{len(orders)}", "amount": orders[-1]["amount"]})

    fake = web.Application()
    fake.router.add_post("/v1/orders", create_order)
    gateway = await aiohttp_client(fake)
    rig = await make(aiohttp_client, engine, references, tmp_path, payment_provider="razorpay",
                     razorpay_key_id="rzp_test_k", razorpay_key_secret="s", payment_webhook_secret=SECRET,
                     razorpay_api_url=str(gateway.make_url("/v1")))
    spmt = rig.app[SPMT].bookings
    mad = await rig.app[SERVICES].students.get_by_srn("MAD001")
    await rig.post("/api/auth/logout")
    slot = await spmt.add_slot(MODULE, rig.clock.now() + 86400, 30, 5)
    await adjust(spmt.db, rig.clock, user_id=mad.id, module_id=MODULE, seconds=HOURS_40, reason="t", by_user_id=None)
    h = {"X-CSRF-Token": await login(rig)}
    booking = await (await rig.post("/api/spmt/bookings", headers=h,
                                    json={"module_id": MODULE, "slot_id": slot.id})).json()
    assert booking["payment"]["order_id"] == "order_rzp1" and orders[0]["amount"] == 50000
    await err(await rig.post("/api/payments/order_rzp1/test-pay", headers=h), 404)  # only for the test provider

    def event(payment_id: str, created: float) -> bytes:
        return json.dumps({"event": "payment.captured", "created_at": int(created), "payload": {"payment": {
            "entity": {"id": payment_id, "order_id": "order_rzp1", "amount": 50000, "currency": "INR"}}}}).encode()

    gateway_client = await aiohttp_client(rig.server)  # the gateway calls without any login cookie

    async def deliver(body: bytes, event_id: str, signature: str | None) -> Any:
        headers = {"Content-Type": "application/json", "X-Razorpay-Event-Id": event_id}
        if signature is not None:
            headers["X-Razorpay-Signature"] = signature
        return await gateway_client.post("/api/payments/webhook", data=body, headers=headers)

    body = event("pay_1", rig.clock.now())
    assert (await err(await deliver(body, "evt_1", None), 401))["code"] == "unsigned"
    assert (await err(await deliver(body, "evt_1", sign("other", body)), 401))["code"] == "bad_signature"
    stale = event("pay_1", rig.clock.now() - 3600)
    assert (await err(await deliver(stale, "evt_1", sign(SECRET, stale)), 400))["code"] == "stale"
    ok = await deliver(body, "evt_1", sign(SECRET, body))
    assert ok.status == 200 and (await ok.json())["outcome"] == "settled"
    assert (await err(await deliver(body, "evt_1", sign(SECRET, body)), 409))["code"] == "replayed"
    again = await deliver(body, "evt_2", sign(SECRET, body))  # the gateway's second event for the same payment
    assert (await again.json())["outcome"] == "duplicate"
    got = await spmt.get_booking(booking["booking_id"])
    assert got is not None and got.status == "paid" and got.payment_id == "pay_1"


def test_cli_credit_adjust_and_slots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'p.db'}"]
    assert main(["students", "add", "--srn", "CLI001", "--name", "Cli", *db]) == 0
    capsys.readouterr()
    assert main(["credit", "adjust", "--srn", "CLI001", "--module", MODULE, "--seconds", "144000",
                 "--reason", "transfer", "--json", *db]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seconds"] == 144000 and out["srn"] == "CLI001"
    assert main(["credit", "adjust", "--srn", "NOPE", "--module", MODULE, "--seconds", "1", "--reason", "x", *db]) == 2
    assert "no student" in capsys.readouterr().err
    assert main(["credit", "adjust", "--srn", "CLI001", "--module", "nope", "--seconds", "1", "--reason", "x",
                 *db]) == 2
    assert main(["spmt", "slots", "add", "--module", MODULE, "--start", "2030-01-01T10:00Z", "--minutes", "60",
                 "--capacity", "3", "--json", *db]) == 0
    slot = json.loads(capsys.readouterr().out)
    assert slot["start"] == "2030-01-01T10:00:00Z" and slot["seats_left"] == 3
    assert main(["spmt", "slots", "cancel", str(slot["slot_id"]), *db]) == 0
    bad = tmp_path / "bank.json"
    bad.write_text('[{"text": "Q", "choices": ["a", "b"], "answer": 5}]')
    capsys.readouterr()
    assert main(["spmt", "questions", "import", "--module", MODULE, str(bad), *db]) == 2
    err_line = capsys.readouterr().err.strip()
    assert "question 1: answer must be" in err_line and "\n" not in err_line
    bad.write_text('[{"text": "Q", "choices": ["a", "b"], "answer": 1}]')
    assert main(["spmt", "questions", "import", "--module", MODULE, "--replace", str(bad), *db]) == 0
