"""Hardening of the HTTP surface (issue 10): JSON-only bodies, the WebSocket's Origin, export ranges,
2FA state and TOTP errors, and TOTP set-up behind the password."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest

from proctor.clock import FakeClock
from proctor.passwords import hash_password
from server.app import create_app
from server.keys import SERVICES

from .helpers import PASSWORD, enroll_student, login, settings_for


@pytest.fixture
async def rig(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> Any:
    clock = FakeClock(time.time())
    app = create_app(settings_for(tmp_path, export_max_days=31), clock=clock, engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"], mobile="+919800000002")
    await app[SERVICES].students.add_staff("pat", "Pat", "proctor", hash_password(PASSWORD))
    client.clock = clock
    return client


async def err(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    return dict((await resp.json())["error"])


async def staff_login(client: Any) -> str:
    resp = await client.post("/api/auth/login", json={"username": "pat", "password": PASSWORD})
    assert resp.status == 200
    return str((await resp.json())["csrf_token"])


async def test_a_plain_html_form_cannot_log_in(rig: Any) -> None:
    # What a cross-site <form method=post enctype=text/plain> can send: a JSON-looking body.
    body = '{"srn": "MAD001", "password": "' + PASSWORD + '", "x": "="}'
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        e = await err(await rig.post("/api/auth/login", data=body, headers={"Content-Type": kind}), 415)
        assert e["code"] == "unsupported_media_type"
    assert (await rig.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD})).status == 200


async def test_the_events_socket_refuses_other_sites(rig: Any) -> None:
    await staff_login(rig)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await rig.ws_connect("/api/proctor/events", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    own = f"http://{rig.server.host}:{rig.server.port}"
    async with rig.ws_connect("/api/proctor/events", headers={"Origin": own}) as ws:
        assert not ws.closed


@pytest.mark.parametrize(("query", "status"), [
    ("to=9999-12-31", 400),  # once an OverflowError and a 500
    ("from=9999-12-31&to=9999-12-31", 400),
    ("from=2027-01-01&to=2027-12-31", 400),  # longer than export_max_days
    ("from=2027-02-01&to=2027-01-01", 400),
    ("from=2027-01-01&to=2027-01-31", 200),
])
async def test_export_date_ranges_are_validated_and_capped(rig: Any, query: str, status: int) -> None:
    await staff_login(rig)
    resp = await rig.get(f"/api/proctor/export.csv?{query}")
    assert resp.status == status, await resp.text()
    if status == 400:
        assert (await resp.json())["error"]["code"] == "bad_field"


async def test_me_reports_2fa_and_every_totp_error_is_a_409(rig: Any) -> None:
    h = {"X-CSRF-Token": await login(rig)}
    assert (await (await rig.get("/api/me")).json())["user"]["totp_enabled"] is False
    setup = await (await rig.post("/api/auth/totp/setup", headers=h, json={"password": PASSWORD})).json()
    totp = pyotp.TOTP(setup["secret"])
    assert (await err(await rig.post("/api/auth/totp/enable", headers=h, json={"code": "abcdef"}), 409))["code"] \
        == "invalid_code"
    assert (await rig.post("/api/auth/totp/enable", headers=h, json={"code": totp.at(rig.clock.now())})).status == 200
    assert (await (await rig.get("/api/me")).json())["user"]["totp_enabled"] is True
    # "Turn on" again after a reload was an uncaught TotpAlreadyEnabled: a 500.
    e = await err(await rig.post("/api/auth/totp/setup", headers=h, json={"password": PASSWORD}), 409)
    assert e["code"] == "totp_already_enabled"
    assert (await err(await rig.post("/api/auth/totp/enable", headers=h, json={"code": "123456"}), 409))["code"] \
        == "totp_already_enabled"
    assert (await rig.post("/api/auth/totp/disable", headers=h, json={"password": PASSWORD})).status == 200
    assert (await (await rig.get("/api/me")).json())["user"]["totp_enabled"] is False
    assert (await err(await rig.post("/api/auth/totp/enable", headers=h, json={"code": "123456"}), 409))["code"] \
        == "totp_not_pending"


async def test_totp_setup_asks_for_the_password_again(rig: Any) -> None:
    h = {"X-CSRF-Token": await login(rig)}
    assert (await err(await rig.post("/api/auth/totp/setup", headers=h, json={}), 400))["code"] == "missing_field"
    e = await err(await rig.post("/api/auth/totp/setup", headers=h, json={"password": "not it"}), 401)
    assert e["code"] == "invalid_credentials"
    ok = await (await rig.post("/api/auth/totp/setup", headers=h, json={"password": PASSWORD})).json()
    assert ok["secret"] and ok["otpauth_uri"].startswith("otpauth://")
