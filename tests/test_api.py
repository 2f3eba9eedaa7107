"""HTTP API contract: JSON errors for bad input, login cookie and CSRF, ownership, no leaked peers."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection
from PIL import Image

from models.frames import blank_frame, photo_to_frame
from proctor.passwords import hash_password
from server.api.auth import COOKIE
from server.app import create_app
from server.keys import LIVE, SERVICES

from .helpers import PASSWORD, enroll_student, login, settings_for, topic


@pytest.fixture
async def client(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> Any:
    app = create_app(settings_for(tmp_path, demo=True), engine_factory=lambda s: engine)
    c = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    await enroll_student(app, "BEN001", references["ben_afflek"])
    return c


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"} and isinstance(body["error"]["code"], str) and body["error"]["message"]
    return dict(body["error"])


async def test_login_errors_are_json(client: Any) -> None:
    assert (await error_of(await client.post("/api/auth/login", json={"srn": "MAD001", "password": "nope"}),
                           401))["code"] == "invalid_credentials"
    assert (await error_of(await client.post("/api/auth/login", json={"srn": "NOBODY", "password": "x"}),
                           401))["code"] == "invalid_credentials"
    assert (await error_of(await client.post("/api/auth/login", data=b"{not json",
                                             headers={"Content-Type": "application/json"}), 400))["code"] == "bad_json"
    assert (await error_of(await client.post("/api/auth/login", json=["srn"]), 400))["code"] == "bad_json"
    assert (await error_of(await client.post("/api/auth/login", json={"srn": "MAD001"}), 400))["code"] == \
        "missing_field"
    assert (await error_of(await client.post("/api/auth/login", json={"srn": 5, "password": "x"}), 400))["code"] \
        == "bad_field"


async def test_login_sets_a_strict_httponly_cookie_and_rotates_it(client: Any) -> None:
    resp = await client.post("/api/auth/login", json={"srn": "mad001", "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["user"] == {"srn": "MAD001", "username": None, "name": "Student MAD001", "role": "student",
                            "staff": False, "totp_enabled": False,
                            "time_zone": None}
    morsel = resp.cookies[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and not morsel["max-age"]
    first = morsel.value
    resp = await client.post("/api/auth/login", json={"srn": "MAD001", "password": PASSWORD, "remember": True})
    second = resp.cookies[COOKIE]
    assert second.value != first and int(second["max-age"]) == 30 * 24 * 3600
    accounts = client.app[SERVICES].accounts
    assert await accounts.web_sessions.resolve(first) is None  # the replaced session id no longer works
    assert await accounts.web_sessions.resolve(second.value) is not None


async def test_state_changing_requests_need_the_csrf_header(client: Any) -> None:
    csrf = await login(client)
    assert (await error_of(await client.post("/api/auth/logout"), 403))["code"] == "csrf"
    assert (await error_of(await client.post("/api/auth/logout", headers={"X-CSRF-Token": "forged"}), 403))[
        "code"] == "csrf"
    assert (await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})).status == 200
    assert (await error_of(await client.get("/api/me"), 401))["code"] == "unauthorized"


async def test_api_needs_login(client: Any) -> None:
    for path in ("/api/me", "/api/catalog", "/api/progress", "/api/sessions/x"):
        await error_of(await client.get(path), 401)
    await error_of(await client.post("/api/webrtc/offer", json={}), 401)


async def test_catalog_mirrors_spom(client: Any) -> None:
    await login(client)
    modules = (await (await client.get("/api/catalog")).json())["modules"]
    by_set = {m["set"] for m in modules}
    assert {"A", "B", "C", "D"} <= by_set
    a = next(m for m in modules if m["set"] == "A")
    assert a["title"] == "Corporate and Economic Laws" and a["required_seconds"] == 40 * 3600 and a["topics"]


def sdp_with(kind: str) -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
            f"m={kind} 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n")


async def audio_only_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return str(sdp)


async def test_bad_offers_get_4xx_and_leave_no_peer_connection(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[RTCPeerConnection] = []

    class Recorded(RTCPeerConnection):  # the real class, remembered so the test can check it closed
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            created.append(self)

    monkeypatch.setattr("server.media.peer.RTCPeerConnection", Recorded)
    csrf = await login(client)
    h = {"X-CSRF-Token": csrf}
    t = topic(client)
    cases = [
        (b"{oops", 400, "bad_json"),
        ({"type": "offer", "topic_id": t}, 400, "missing_field"),
        ({"sdp": sdp_with("video"), "type": "answer", "topic_id": t}, 400, "bad_field"),
        ({"sdp": sdp_with("video"), "type": "offer", "topic_id": "no-such-topic"}, 404, "unknown_topic"),
        ({"sdp": "hello, I am not SDP", "type": "offer", "topic_id": t}, 400, "bad_sdp"),
        ({"sdp": sdp_with("video") + "a=x:" + "y" * 70_000 + "\r\n", "type": "offer", "topic_id": t}, 413,
         "sdp_too_large"),
        ({"sdp": await audio_only_offer(), "type": "offer", "topic_id": t}, 400, "no_video"),
        ({"sdp": sdp_with("video"), "type": "offer", "topic_id": t}, 400, "bad_sdp"),  # parses, then fails
        (b'{"sdp": "' + b"v" * (1024 * 1024 + 10) + b'"}', 413, "body_too_large"),
    ]
    for body, status, code in cases:
        kw: dict[str, Any] = ({"data": io.BytesIO(body), "headers": {**h, "Content-Type": "application/json"}}
                              if isinstance(body, bytes) else {"json": body, "headers": h})
        err = await error_of(await client.post("/api/webrtc/offer", **kw), status)
        assert err["code"] == code, (body if isinstance(body, dict) else body[:40], err)
    assert len(client.app[LIVE]) == 0
    assert len(created) == 1  # only the offer that parsed got as far as a peer connection…
    assert created[0].connectionState == "closed"  # …and it was closed before the 400


async def test_students_cannot_see_each_others_sessions(client: Any, photos: Any) -> None:
    from bench.clients import StreamClient, moving_frames

    stream = StreamClient(client, await login(client, "MAD001"))
    face = photos["madonna"][1]
    try:
        await stream.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), topic(client))
        await stream.samples(1)
        sid = stream.session_id
        assert (await client.get(f"/api/sessions/{sid}")).status == 200
        await login(client, "BEN001")
        await error_of(await client.get(f"/api/sessions/{sid}"), 404)
        await error_of(await client.get("/api/sessions/00000000-0000-0000-0000-000000000000"), 404)
        csrf = await login(client, "BEN001")
        await error_of(await client.post(f"/api/sessions/{sid}/end", headers={"X-CSRF-Token": csrf}), 404)
        assert len(client.app[LIVE]) == 1  # still streaming
    finally:
        await stream.close()


def data_url(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


async def test_webcam_enrollment_checks_each_capture(client: Any, photos: Any) -> None:
    students = client.app[SERVICES].students
    await students.add_student("NEW001", "New Student", None, hash_password(PASSWORD))
    csrf = await login(client, "NEW001")
    h = {"X-CSRF-Token": csrf}
    me = await (await client.get("/api/me")).json()
    assert me["enrollment"] == "none"
    good = [data_url(photo_to_frame(photos["mindy_kaling"][i])) for i in range(2)]
    err = await error_of(await client.post("/api/enrollment", headers=h, json={"photos": [good[0], data_url(
        blank_frame())]}), 422)
    assert err["code"] == "bad_photo" and err["message"].startswith("photo 2: no face") and err["photo"] == 2
    await error_of(await client.post("/api/enrollment", headers=h, json={"photos": ["%%%"]}), 400)
    await error_of(await client.post("/api/enrollment", headers=h, json={"photos": []}), 400)
    resp = await client.post("/api/enrollment", headers=h, json={"photos": good})
    assert resp.status == 200 and (await resp.json())["enrollment"] == "approved"  # demo mode approves
    assert (await (await client.get("/api/me")).json())["enrollment"] == "approved"
    user = await students.get_by_srn("NEW001")
    assert len(await students.references(user.id, "facenet-msceleb-128")) == 2


async def test_security_headers(client: Any) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["X-Content-Type-Options"] == "nosniff"
    html = await resp.text()
    assert "<script>" not in html and " onclick=" not in html  # no inline script for the CSP to allow
    assert json.loads(await (await client.get("/api/config")).text())["sample_interval_s"] == 1.0


async def test_config_carries_the_password_rules_the_pages_list(client: Any) -> None:
    policy = (await (await client.get("/api/config")).json())["password_policy"]
    assert policy["min_length"] == 10 and policy["max_length"] == 1024
    assert [r["id"] for r in policy["rules"]] == ["length", "common", "login"]
    assert policy["rules"][0]["text"] == "At least 10 characters"


async def test_staff_logins_say_so_in_the_user_object(client: Any) -> None:
    await client.app[SERVICES].students.add_staff("pat", "Pat", "proctor", hash_password(PASSWORD))
    resp = await client.post("/api/auth/login", json={"username": "pat", "password": PASSWORD})
    assert resp.status == 200
    assert (await resp.json())["user"] == {"srn": None, "username": "pat", "name": "Pat", "role": "proctor",
                                           "staff": True, "totp_enabled": False, "time_zone": None}


async def test_openapi_describes_every_api_route(client: Any) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routed = {(r.resource.canonical, r.method) for r in client.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    assert routed == described
