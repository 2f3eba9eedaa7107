"""Logins over HTTP: lockout, OTP, activation, reset, sessions, TOTP, maintenance, and who may call what."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyotp
import pytest

from bench.clients import StreamClient, moving_frames
from models.frames import photo_to_frame
from proctor.clock import FakeClock
from proctor.outbox import list_outbox
from proctor.passwords import hash_password
from server.app import create_app
from server.keys import BACKGROUND, LIVE, SERVICES

from .helpers import PASSWORD, enroll_student, login, settings_for, topic

NEW_PASSWORD = "violet submarine orchard"


@pytest.fixture
async def rig(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> Any:
    clock = FakeClock(time.time())
    app = create_app(settings_for(tmp_path), clock=clock, engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"], mobile="+919800000002")
    await app[SERVICES].students.add_student("NEW001", "New Student", "+919800000001", None)  # not activated yet
    client.clock = clock
    return client


async def last_code(client: Any, srn: str) -> str:
    await client.app[BACKGROUND].drain()  # codes are sent after the 202
    messages = await list_outbox(client.app[SERVICES].db, srn)
    match = re.search(r"\b(\d{6})\b", messages[0].text)
    assert match, messages[0].text
    return match.group(1)


async def err(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    return dict((await resp.json())["error"])


async def test_brute_force_locks_the_account_for_15_minutes(rig: Any) -> None:
    for _ in range(4):
        await err(await rig.post("/api/auth/login", json={"srn": "MAD001", "password": "guess"}), 401)
    fifth = await rig.post("/api/auth/login", json={"srn": "MAD001", "password": "guess"})
    assert fifth.status == 423  # the fifth failure locks at once and says so
    resp = await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD})
    locked = await err(resp, 423)
    assert locked["code"] == "account_locked" and 890 <= locked["retry_after_s"] <= 900
    assert int(resp.headers["Retry-After"]) >= 890
    rig.clock.advance(901)
    assert (await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD})).status == 200


async def test_unknown_and_known_srns_answer_alike(rig: Any) -> None:
    for path in ("/api/auth/otp/request", "/api/auth/password/forgot", "/api/auth/activate/request"):
        known = await rig.post(path, json={"srn": "MAD001"})
        unknown = await rig.post(path, json={"srn": "ZZZ999"})
        assert (known.status, await known.json()) == (unknown.status, await unknown.json()) == (202, {"ok": True})
    known = await rig.post("/api/auth/login", json={"srn": "MAD001", "password": "wrong"})
    unknown = await rig.post("/api/auth/login", json={"srn": "ZZZ999", "password": "wrong"})
    assert (known.status, await known.json()) == (unknown.status, await unknown.json())


async def test_otp_login_expiry_and_attempt_limit(rig: Any) -> None:
    assert (await rig.post("/api/auth/otp/request", json={"srn": "MAD001"})).status == 202
    code = await last_code(rig, "MAD001")
    rig.clock.advance(301)  # codes live 5 minutes
    expired = await err(await rig.post("/api/auth/otp/verify", json={"srn": "MAD001", "code": code}), 401)
    assert "expired" in expired["message"]
    assert (await rig.post("/api/auth/otp/request", json={"srn": "MAD001"})).status == 202
    code = await last_code(rig, "MAD001")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):  # with the expired try: 4 failures, one short of the lock
        await err(await rig.post("/api/auth/otp/verify", json={"srn": "MAD001", "code": wrong}), 401)
    resp = await rig.post("/api/auth/otp/verify", json={"srn": "MAD001", "code": code})
    assert resp.status == 200 and (await resp.json())["user"]["srn"] == "MAD001"
    again = await rig.post("/api/auth/otp/verify", json={"srn": "MAD001", "code": code})
    assert again.status == 401  # single use
    rig.clock.advance(31)  # resend cooldown
    assert (await rig.post("/api/auth/otp/request", json={"srn": "MAD001"})).status == 202
    code = await last_code(rig, "MAD001")
    statuses = [(await rig.post("/api/auth/otp/verify", json={"srn": "MAD001", "code": wrong})).status
                for _ in range(5)]
    assert statuses == [401, 401, 401, 423, 423]  # failure 1 was the reused code; the 5th locks
    late = await rig.post("/api/auth/otp/verify", json={"srn": "MAD001", "code": code})
    assert (await err(late, 423))["code"] == "account_locked"  # even the right code now


async def test_activation_with_password_policy(rig: Any) -> None:
    assert (await rig.post("/api/auth/activate/request", json={"srn": "NEW001"})).status == 202
    code = await last_code(rig, "NEW001")
    for weak, why in (("short", "10"), ("password123", "common"), ("new001new001", "SRN")):
        e = await err(await rig.post("/api/auth/activate", json={"srn": "NEW001", "code": code,
                                                                 "new_password": weak}), 400)
        assert e["code"] == "weak_password" and why.lower() in e["message"].lower(), e
    resp = await rig.post("/api/auth/activate", json={"srn": "NEW001", "code": code, "new_password": NEW_PASSWORD})
    assert resp.status == 200 and (await (await rig.get("/api/me")).json())["user"]["srn"] == "NEW001"
    assert (await rig.post("/api/auth/login", json={"srn": "NEW001", "password": NEW_PASSWORD})).status == 200


async def test_reset_revokes_every_session(rig: Any, aiohttp_client: Any) -> None:
    other = await aiohttp_client(rig.server)  # a second browser, logged in
    await login(other)
    assert (await rig.post("/api/auth/password/forgot", json={"srn": "MAD001"})).status == 202
    code = await last_code(rig, "MAD001")
    resp = await rig.post("/api/auth/password/reset", json={"srn": "MAD001", "code": code,
                                                           "new_password": NEW_PASSWORD})
    assert resp.status == 200
    await err(await other.get("/api/me"), 401)
    await err(await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD}), 401)
    assert (await rig.post("/api/auth/login", json={"srn": "MAD001", "password": NEW_PASSWORD})).status == 200


async def test_revoking_the_streaming_login_ends_the_stream(rig: Any, aiohttp_client: Any, photos: Any) -> None:
    phone = await aiohttp_client(rig.server)
    csrf_phone = await login(phone)
    stream = StreamClient(phone, csrf_phone)
    face = photos["madonna"][1]
    try:
        await stream.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(rig))
        await stream.samples(1)
        csrf = await login(rig)
        listed = (await (await rig.get("/api/auth/sessions")).json())["sessions"]
        assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
        target = next(s for s in listed if not s["current"])
        resp = await rig.delete(f"/api/auth/sessions/{target['id']}", headers={"X-CSRF-Token": csrf})
        assert resp.status == 200
        assert (await stream.wait_ended())["reason"] == "session_revoked"
        assert len(rig.app[LIVE]) == 0
        await err(await phone.get("/api/me"), 401)
        await err(await rig.delete(f"/api/auth/sessions/{target['id']}", headers={"X-CSRF-Token": csrf}), 404)
    finally:
        await stream.close()


async def test_totp_two_step_login_and_recovery_code(rig: Any) -> None:
    csrf = await login(rig)
    h = {"X-CSRF-Token": csrf}
    setup = await (await rig.post("/api/auth/totp/setup", headers=h, json={"password": PASSWORD})).json()
    assert setup["qr"].startswith("data:image/svg+xml") and setup["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup["secret"])
    await err(await rig.post("/api/auth/totp/enable", headers=h, json={"code": "000000" if totp.at(
        rig.clock.now()) != "000000" else "111111"}), 409)
    codes = (await (await rig.post("/api/auth/totp/enable", headers=h,
                                   json={"code": totp.at(rig.clock.now())})).json())["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    first = await (await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD})).json()
    assert first["totp_required"] is True and "csrf_token" not in first
    rig.clock.advance(31)  # a fresh time step: a code is never accepted twice
    resp = await rig.post("/api/auth/totp", json={"challenge": first["challenge"], "code": totp.at(rig.clock.now())})
    assert resp.status == 200 and (await resp.json())["user"]["srn"] == "MAD001"
    step = await (await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD})).json()
    assert (await rig.post("/api/auth/totp", json={"challenge": step["challenge"], "code": codes[0]})).status == 200
    step = await (await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD})).json()
    await err(await rig.post("/api/auth/totp", json={"challenge": step["challenge"], "code": codes[0]}), 401)


async def test_maintenance_window_blocks_login_and_streams(rig: Any) -> None:
    csrf = await login(rig)
    now = rig.clock.now()
    await rig.app[SERVICES].maintenance.add(now + 3600, now + 7200, "Portal upgrade, 11–20 April")
    notice = await (await rig.get("/api/maintenance")).json()
    assert notice["active"] is None and notice["upcoming"][0]["message"] == "Portal upgrade, 11–20 April"
    rig.clock.advance(3700)
    resp = await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD})
    e = await err(resp, 503)
    assert e["code"] == "maintenance" and "Portal upgrade" in e["message"]
    assert 3400 <= int(resp.headers["Retry-After"]) <= 3500
    offer = await rig.post("/api/webrtc/offer", headers={"X-CSRF-Token": csrf},
                           json={"sdp": "v=0", "type": "offer", "topic_id": topic(rig)})
    await err(offer, 503)
    assert (await (await rig.get("/api/maintenance")).json())["active"]["message"].startswith("Portal")


# Every API route, classified. A new route fails this test until it is added here.
PUBLIC = {("GET", "/api/config"), ("GET", "/api/openapi.json"), ("GET", "/api/maintenance"),
          ("POST", "/api/payments/webhook")}  # the webhook's signature is its authentication
PRE_LOGIN = {("POST", p) for p in ("/api/auth/login", "/api/auth/totp", "/api/auth/otp/request",
                                   "/api/auth/otp/verify", "/api/auth/activate/request", "/api/auth/activate",
                                   "/api/auth/password/forgot", "/api/auth/password/reset")}
ANY_USER = {("GET", "/api/me"), ("GET", "/api/catalog"), ("GET", "/api/progress"), ("GET", "/api/auth/sessions"),
            ("POST", "/api/auth/password/change"), ("POST", "/api/auth/totp/setup"),
            ("POST", "/api/auth/totp/enable"), ("POST", "/api/auth/totp/disable"), ("POST", "/api/auth/logout"),
            ("DELETE", "/api/auth/sessions/{public_id}"), ("GET", "/api/adjustments"), ("GET", "/api/history"),
            ("GET", "/api/content/{path}"), ("GET", "/api/lessons/{lesson_id}"), ("PUT", "/api/me/time-zone")}
STUDENT_ONLY = {("POST", "/api/enrollment"), ("POST", "/api/webrtc/offer"), ("GET", "/api/spmt"),
                ("POST", "/api/spmt/bookings"), ("POST", "/api/spmt/bookings/{booking_id}/cancel"),
                ("POST", "/api/spmt/bookings/{booking_id}/reschedule"),
                ("POST", "/api/spmt/bookings/{booking_id}/attempt"), ("GET", "/api/spmt/attempts/{attempt_id}"),
                ("PUT", "/api/spmt/attempts/{attempt_id}/answers/{question_id}"),
                ("POST", "/api/spmt/attempts/{attempt_id}/submit"), ("POST", "/api/payments/{order_id}/test-pay"),
                ("GET", "/api/electives"), ("POST", "/api/electives")}
OWNER_OR_STAFF = {("GET", "/api/sessions/{session_id}"), ("POST", "/api/sessions/{session_id}/end")}
STAFF_ONLY = {("GET", "/api/proctor/sessions"), ("GET", "/api/proctor/events"), ("GET", "/api/proctor/flags"),
              ("POST", "/api/proctor/flags/{flag_id}/review"), ("GET", "/api/proctor/flags/{flag_id}/snapshot"),
              ("GET", "/api/proctor/sessions/{session_id}/timeline"),
              ("POST", "/api/proctor/sessions/{session_id}/view"),
              ("DELETE", "/api/proctor/views/{viewer_id}"), ("GET", "/api/proctor/export.csv"),
              ("GET", "/api/proctor/enrollments"), ("GET", "/api/proctor/enrollments/{user_id}/photos/{photo_id}"),
              ("POST", "/api/proctor/enrollments/{user_id}"), ("GET", "/api/proctor/spmt"),
              ("GET", "/api/proctor/spmt/results.csv")}
ADMIN_ONLY = {("POST", "/api/proctor/spmt/slots"), ("POST", "/api/proctor/spmt/slots/{slot_id}/cancel"),
              ("POST", "/api/proctor/credit-adjustments"), ("POST", "/api/students/{user_id}/electives")}


async def test_authorization_matrix(rig: Any, aiohttp_client: Any) -> None:
    routes = {(r.method, r.resource.canonical) for r in rig.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    assert routes == PUBLIC | PRE_LOGIN | ANY_USER | STUDENT_ONLY | OWNER_OR_STAFF | STAFF_ONLY | ADMIN_ONLY
    students = rig.app[SERVICES].students
    for username, role in (("pat", "proctor"), ("ada", "admin")):
        await students.add_staff(username, username.title(), role, hash_password(PASSWORD))
    # A session owned by MAD001 for the ownership rows.
    mad = await students.get_by_srn("MAD001")
    sid = await rig.app[SERVICES].ledger.start_session(mad.id, topic(rig), "a-corporate-economic-laws",
                                                       rig.clock.now())
    await enroll_student(rig.app, "BEN001", np.ones((1, 128), np.float32) / 128**0.5)

    async def as_(who: str | None) -> tuple[Any, dict[str, str]]:
        c = await aiohttp_client(rig.server)
        if who is None:
            return c, {}
        body = {"username": who} if who in ("pat", "ada") else {"srn": who}
        resp = await c.post("/api/auth/login", json={**body, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        return c, {"X-CSRF-Token": (await resp.json())["csrf_token"]}

    for who in (None, "MAD001", "BEN001", "pat", "ada"):
        c, h = await as_(who)
        for method, path in sorted(routes - PUBLIC - PRE_LOGIN, key=lambda r: (r[1], r[0])):
            if path.endswith("/logout"):
                continue  # would end this client's login mid-matrix; covered in test_api
            url = (path.replace("{session_id}", sid).replace("{public_id}", "0000000000000000")
                   .replace("{flag_id}", "1").replace("{viewer_id}", "v").replace("{user_id}", str(mad.id))
                   .replace("{photo_id}", "1").replace("{order_id}", "order_x").replace("{booking_id}", "b")
                   .replace("{attempt_id}", "a").replace("{question_id}", "1").replace("{slot_id}", "1")
                   .replace("{path}", "none.md").replace("{lesson_id}", "none"))
            resp = await c.request(method, url, headers=h, json={})
            status = resp.status
            if who is None:
                assert status == 401, (method, path)
            elif (method, path) in STUDENT_ONLY and who in ("pat", "ada"):
                assert status == 403, (who, method, path, status)
            elif (method, path) in ADMIN_ONLY and who != "ada":
                assert status == 403, (who, method, path, status)
            elif (method, path) in STAFF_ONLY and who not in ("pat", "ada"):
                assert status == 403, (who, method, path, status)  # students never see proctor data
            elif (method, path) in OWNER_OR_STAFF:
                expected_ok = who in ("MAD001", "pat", "ada")
                assert (status < 400) if expected_ok else (status == 404), (who, method, path, status)
            else:
                assert status not in (401, 403), (who, method, path, status)
