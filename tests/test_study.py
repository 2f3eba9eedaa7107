"""Study over HTTP and in the domain: lesson files with Range, lesson-mode credit, electives, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from proctor.activity import ActivityGate
from proctor.clock import FakeClock
from proctor.credit import CreditPolicy, Reason, Sample
from proctor.ledger import Ledger
from proctor.passwords import hash_password
from proctor.session import LiveSession
from proctor.study import history
from server.app import create_app
from server.keys import SERVICES

from .helpers import PASSWORD, enroll_student, login, settings_for
from .test_content import GOOD, TOPIC, write_pack

VIDEO = bytes(range(256)) * 40  # 10240 bytes: what the file holds does not matter to HTTP
IST = ZoneInfo("Asia/Kolkata")
C_RISK, C_FSCM = "c-risk-management", "c-financial-services-capital-markets"
C_TOPIC = "c-rm-introduction-to-risk"


@pytest.fixture
async def client(aiohttp_client: Any, engine: Any, tmp_path: Path) -> Any:
    write_pack(tmp_path / "content", GOOD, {"v/intro.webm": VIDEO, "n/note.md": b"## Note\n\n<b>x</b>",
                                            "v/unlisted.webm": VIDEO})
    (tmp_path / "proctor-secret.txt").write_text("secret")
    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    c = await aiohttp_client(app)
    await enroll_student(app, "MAD001", np.eye(1, 128, dtype=np.float32))
    return c


async def logged_in(client: Any) -> dict[str, str]:
    return {"X-CSRF-Token": await login(client)}


# -- lesson files ------------------------------------------------------------------------------------


async def test_lesson_files_need_a_login(client: Any) -> None:
    resp = await client.get("/api/content/v/intro.webm")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    assert (await client.get("/api/lessons/note")).status == 401


async def test_range_requests(client: Any) -> None:
    await logged_in(client)
    whole = await client.get("/api/content/v/intro.webm")
    assert whole.status == 200 and await whole.read() == VIDEO
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Content-Type"] == "video/webm"
    assert "private" in whole.headers["Cache-Control"] and whole.headers.get("ETag")

    first = await client.get("/api/content/v/intro.webm", headers={"Range": "bytes=0-99"})
    assert first.status == 206 and await first.read() == VIDEO[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{len(VIDEO)}"

    suffix = await client.get("/api/content/v/intro.webm", headers={"Range": "bytes=-10"})
    assert suffix.status == 206 and await suffix.read() == VIDEO[-10:]
    assert suffix.headers["Content-Range"] == f"bytes {len(VIDEO) - 10}-{len(VIDEO) - 1}/{len(VIDEO)}"

    past = await client.get("/api/content/v/intro.webm", headers={"Range": f"bytes={len(VIDEO)}-"})
    assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{len(VIDEO)}"
    assert (await past.json())["error"]["code"] == "range_not_satisfiable"
    garbage = await client.get("/api/content/v/intro.webm", headers={"Range": "bytes=abc"})
    assert garbage.status == 416


@pytest.mark.parametrize("path", ["../proctor-secret.txt", "..%2Fproctor-secret.txt", "%2e%2e/proctor-secret.txt",
                                  "v/../../proctor-secret.txt", "content.toml", "v/unlisted.webm", "/etc/passwd"])
async def test_nothing_but_listed_lesson_files_is_served(client: Any, path: str) -> None:
    await logged_in(client)
    resp = await client.get("/api/content/" + path)
    assert resp.status in (403, 404), path
    assert b"secret" not in await resp.read()


async def test_catalog_lists_lessons_and_reading_is_sanitised(client: Any) -> None:
    await logged_in(client)
    catalog = await (await client.get("/api/catalog")).json()
    topic = next(t for m in catalog["modules"] for t in m["topics"] if t["id"] == TOPIC)
    assert topic["lessons"] == [
        {"id": "intro", "title": "Intro", "kind": "video", "duration_s": 12, "url": "/api/content/v/intro.webm"},
        {"id": "note", "title": "Note", "kind": "reading", "duration_s": 60, "url": "/api/lessons/note"}]
    note = await (await client.get("/api/lessons/note")).json()
    assert note["html"].startswith("<h2>Note</h2>") and "<b>" not in note["html"]


# -- lesson mode in the domain -----------------------------------------------------------------------


def lesson_session(clock: FakeClock) -> LiveSession:
    return LiveSession("s", CreditPolicy(sample_interval_s=3.0), clock, activity=ActivityGate(["intro", "note"]))


def sample(session: LiveSession, clock: FakeClock) -> float:
    update = session.record_sample(Sample(clock.now(), Reason.OK))
    return update.credited.seconds if update.credited else 0.0


def test_lesson_mode_credits_only_while_a_lesson_plays() -> None:
    clock = FakeClock(1000.0)
    s = lesson_session(clock)
    sample(s, clock)
    clock.advance(3)
    assert sample(s, clock) == 0  # verified, but nothing plays: nothing earned
    clock.advance(1)
    s.report_activity("intro", True)
    clock.advance(2)
    assert sample(s, clock) == 0  # it started playing inside this interval
    clock.advance(3)
    assert sample(s, clock) == 3
    clock.advance(1.5)
    s.report_activity("intro", False)  # paused half-way: the whole interval is lost
    clock.advance(1.5)
    assert sample(s, clock) == 0
    for _ in range(5):  # a paused video earns 0 s however long the student is verified
        clock.advance(3)
        assert sample(s, clock) == 0
    assert s.credited_seconds == 3


def test_a_silent_page_stops_earning_and_unknown_lessons_are_ignored() -> None:
    clock = FakeClock(0.0)
    s = lesson_session(clock)
    assert not s.report_activity("other-topic-lesson", True)
    sample(s, clock)
    s.report_activity("note", True)
    earned = []
    for _ in range(12):  # 36 s without a single further report: vouched for 20 s only
        clock.advance(3)
        earned.append(sample(s, clock))
    assert sum(earned) == 18 and earned[:6] == [3] * 6 and earned[7:] == [0] * 5
    clock.advance(1)
    s.report_activity("note", True)  # a fresh report starts a new stretch
    clock.advance(2)
    assert sample(s, clock) == 0
    clock.advance(3)
    assert sample(s, clock) == 3


def test_topic_mode_credits_on_verification_alone() -> None:
    clock = FakeClock(0.0)
    s = LiveSession("s", CreditPolicy(sample_interval_s=3.0), clock)
    sample(s, clock)
    clock.advance(3)
    update = s.record_sample(Sample(clock.now(), Reason.OK))
    assert update.credited is not None and update.credited.seconds == 3 and update.credited.lesson_id is None


# -- electives ---------------------------------------------------------------------------------------


async def offer(client: Any, headers: dict[str, str], topic_id: str, **extra: str) -> Any:
    return await client.post("/api/webrtc/offer", headers=headers,
                             json={"sdp": "v=0\r\nm=video 9 UDP 96\r\n", "type": "offer", "topic_id": topic_id,
                                   **extra})


async def test_elective_topics_are_refused_until_chosen(client: Any) -> None:
    h = await logged_in(client)
    resp = await offer(client, h, C_TOPIC)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "elective_not_chosen"
    progress = await (await client.get("/api/progress")).json()
    assert progress["electives"] == {"C": None, "D": None} and progress["electives_pending"] == ["C", "D"]
    assert progress["required_seconds"] == 2 * 40 * 3600

    resp = await client.post("/api/electives", headers=h, json={"set": "C", "module_id": C_RISK})
    assert resp.status == 200
    sets = {s["set"]: s for s in (await resp.json())["sets"]}
    assert sets["C"]["module_id"] == C_RISK and sets["C"]["locked"] is False and sets["D"]["module_id"] is None
    progress = await (await client.get("/api/progress")).json()
    assert progress["required_seconds"] == 3 * 40 * 3600
    chosen = {m["id"]: m["chosen"] for m in progress["modules"]}
    assert chosen[C_RISK] and not chosen[C_FSCM] and chosen["a-corporate-economic-laws"]
    # Past the elective check: the fake SDP is what is refused now.
    assert (await (await offer(client, h, C_TOPIC)).json())["error"]["code"] != "elective_not_chosen"
    assert (await (await offer(client, h, "c-fscm-primary-market")).json())["error"]["code"] == "elective_not_chosen"
    resp = await offer(client, h, TOPIC, lesson_id="no-such-lesson")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "unknown_lesson"

    bad = await client.post("/api/electives", headers=h, json={"set": "A", "module_id": "a-corporate-economic-laws"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "not_elective"
    bad = await client.post("/api/electives", headers=h, json={"set": "C", "module_id": "d-economic-laws"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "unknown_module"


async def test_an_elective_changes_until_credit_then_only_an_admin_may(client: Any) -> None:
    h = await logged_in(client)
    services = client.app[SERVICES]
    uid = (await services.students.get_by_srn("MAD001")).id
    assert (await client.post("/api/electives", headers=h, json={"set": "C", "module_id": C_RISK})).status == 200
    assert (await client.post("/api/electives", headers=h, json={"set": "C", "module_id": C_FSCM})).status == 200
    ledger: Ledger = services.ledger
    sid = await ledger.start_session(uid, "c-fscm-primary-market", C_FSCM, 100.0)
    assert await ledger.append_interval(sid, 1, 100.0, 103.0)
    resp = await client.post("/api/electives", headers=h, json={"set": "C", "module_id": C_RISK})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "elective_locked"
    assert (await (await client.get("/api/electives")).json())["sets"][0]["locked"] is True

    await services.students.add_staff("boss", "Admin", "admin", hash_password(PASSWORD))
    admin = await client.post("/api/auth/login", json={"username": "boss", "password": PASSWORD})
    ah = {"X-CSRF-Token": (await admin.json())["csrf_token"]}
    resp = await client.post(f"/api/students/{uid}/electives", headers=ah, json={"set": "C", "module_id": C_RISK})
    assert resp.status == 200 and (await resp.json())["sets"][0]["module_id"] == C_RISK


async def test_only_admins_change_someone_elses_elective(client: Any) -> None:
    h = await logged_in(client)
    resp = await client.post("/api/students/1/electives", headers=h, json={"set": "C", "module_id": C_RISK})
    assert resp.status == 403


# -- history -----------------------------------------------------------------------------------------


def ist(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=IST).timestamp()


async def test_history_days_are_local_and_match_the_ledger(client: Any) -> None:
    services = client.app[SERVICES]
    uid = (await services.students.get_by_srn("MAD001")).id
    ledger: Ledger = services.ledger
    s1 = await ledger.start_session(uid, TOPIC, "a-corporate-economic-laws", ist("2026-03-09T23:59:50"),
                                    lesson_id="intro")
    # Across midnight in India (18:30 UTC): 6 s on the 9th, 4 s on the 10th.
    assert await ledger.append_interval(s1, 1, ist("2026-03-09T23:59:54"), ist("2026-03-10T00:00:04"),
                                        lesson_id="intro")
    assert await ledger.append_interval(s1, 2, ist("2026-03-10T00:00:04"), ist("2026-03-10T00:00:07"),
                                        lesson_id="intro")
    await ledger.end_session(s1, ist("2026-03-10T00:01:00"), "ended_by_student")
    s2 = await ledger.start_session(uid, TOPIC, "a-corporate-economic-laws", ist("2026-03-11T10:00:00"))
    assert await ledger.append_interval(s2, 1, ist("2026-03-11T10:00:00"), ist("2026-03-11T10:00:03"))
    old = await ledger.start_session(uid, TOPIC, "a-corporate-economic-laws", ist("2026-01-01T10:00:00"))
    assert await ledger.append_interval(old, 1, ist("2026-01-01T10:00:00"), ist("2026-01-01T10:00:05"))
    await ledger.end_session(old, ist("2026-01-01T10:10:00"), "ended_by_student")

    result = await history(services.db, uid, 3, ist("2026-03-11T12:00:00"), IST)
    assert [(d.isoformat(), round(s, 6)) for d, s in result.days] == [
        ("2026-03-09", 6.0), ("2026-03-10", 7.0), ("2026-03-11", 3.0)]
    assert [s.session_id for s in result.sessions] == [s2, s1]
    assert result.sessions[1].lesson_id == "intro" and result.sessions[1].credited_seconds == pytest.approx(13)
    # The same figures as the ledger's progress, when the range covers everything.
    longer = await history(services.db, uid, 366, ist("2026-03-11T12:00:00"), IST)
    from proctor.progress import credited_by_topic
    assert sum(s for _, s in longer.days) == pytest.approx((await credited_by_topic(services.db, uid))[TOPIC])

    await logged_in(client)
    body = await (await client.get("/api/history?days=14")).json()
    assert body["time_zone"] == "Asia/Kolkata" and len(body["days"]) == 14
    assert set(body["sessions"][0]) == {"session_id", "topic_id", "lesson_id", "started_at", "ended_at",
                                        "credited_seconds", "samples"}
    for bad in ("0", "367", "x"):
        assert (await client.get(f"/api/history?days={bad}")).status == 400
    progress = await (await client.get("/api/progress")).json()
    topic = next(t for m in progress["modules"] for t in m["topics"] if t["id"] == TOPIC)
    intro = next(x for x in topic["lessons"] if x["id"] == "intro")
    assert intro["credited_seconds"] == pytest.approx(13) and intro["complete"] is True  # ≥ 90 % of 12 s


async def test_a_student_chooses_their_own_time_zone_for_history(client: Any) -> None:
    h = await logged_in(client)
    services = client.app[SERVICES]
    uid = (await services.students.get_by_srn("MAD001")).id
    ledger: Ledger = services.ledger
    # 20:00 UTC yesterday: the same evening in London, already tomorrow (01:30) in India.
    at = (datetime.now(UTC) - timedelta(days=1)).replace(hour=20, minute=0, second=0, microsecond=0).timestamp()
    sid = await ledger.start_session(uid, TOPIC, "a-corporate-economic-laws", at)
    assert await ledger.append_interval(sid, 1, at, at + 5)
    await ledger.end_session(sid, at + 10, "ended_by_student")
    london, india = (datetime.fromtimestamp(at, ZoneInfo(z)).date().isoformat() for z in ("Europe/London", IST.key))
    assert london != india

    async def credited_days() -> tuple[str, str | None, dict[str, float]]:
        body = await (await client.get("/api/history?days=14")).json()
        return body["time_zone"], body["own_time_zone"], {d["date"]: d["credited_seconds"]
                                                          for d in body["days"] if d["credited_seconds"]}

    assert await credited_days() == ("Asia/Kolkata", None, {india: 5.0})  # the server's setting
    resp = await client.put("/api/me/time-zone", headers=h, json={"time_zone": "Europe/London"})
    assert resp.status == 200 and await resp.json() == {"time_zone": "Europe/London", "own_time_zone": "Europe/London"}
    assert await credited_days() == ("Europe/London", "Europe/London", {london: 5.0})
    assert (await (await client.get("/api/me")).json())["user"]["time_zone"] == "Europe/London"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", 5, "x" * 100):
        resp = await client.put("/api/me/time-zone", headers=h, json={"time_zone": bad})
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_field", bad
    assert (await client.put("/api/me/time-zone", json={"time_zone": None})).status == 403  # no CSRF token
    resp = await client.put("/api/me/time-zone", headers=h, json={"time_zone": None})
    assert resp.status == 200 and await credited_days() == ("Asia/Kolkata", None, {india: 5.0})
