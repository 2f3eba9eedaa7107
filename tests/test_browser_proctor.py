"""The proctors' dashboard (/proctor) in a real Chromium, against real aiortc student streams.

The server runs in this test's event loop; two students stream from the test itself (aiortc, see
streaming.py): MAD001 shows Madonna's face (genuine), and BEN001's account shows Madonna's face too
(an impostor for BEN001). A proctor logs in through the page and must see, from the live events,
the impostor's tile say "Face doesn't match your profile photo" with a flag and its snapshot in the
flag feed, and the genuine tile say "Verified". Then the drawer: timeline, live video, and a
confirmed flag. Written to the contract in docs/api-proctor.md.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from playwright.async_api import Page, expect

from bench.clients import StreamClient, moving_frames
from models.frames import photo_to_frame
from proctor.passwords import hash_password
from proctor.totp import STEP_S
from server.app import create_app
from server.config import Settings
from server.keys import SERVICES

from .browser import NewPage, api_json, screenshot, serve
from .helpers import PASSWORD, enroll_student

MISMATCH = "Face doesn't match your profile photo"
STAFF_USER = "pat"

Rig = dict[str, Any]


@pytest.fixture
async def rig(engine: Any, references: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    """The real app on a free port with two enrolled students and a proctor; `stream(srn, face)`."""
    settings = Settings(db=f"sqlite:///{tmp_path / 'p.db'}", content_dir=str(tmp_path / "content"),
                        sample_interval_s=1.0, verify_timeout_s=5.0, max_wait_ms=5, demo=False, liveness=False)
    app = create_app(settings, engine_factory=lambda s: engine)
    async with serve(app) as base, contextlib.AsyncExitStack() as stack:
        await enroll_student(app, "MAD001", references["madonna"])
        await enroll_student(app, "BEN001", references["ben_afflek"])
        await app[SERVICES].students.add_staff(STAFF_USER, "Pat", "proctor", hash_password(PASSWORD))

        async def stream(srn: str, face: Any) -> StreamClient:
            # Each student is its own HTTP client (own login cookie); the jar must accept 127.0.0.1.
            http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
            stack.push_async_callback(http.close)
            resp = await http.post("/api/auth/login", json={"srn": srn, "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            client = StreamClient(http, str((await resp.json())["csrf_token"]))
            stack.push_async_callback(client.close)  # runs before its session closes
            first_topic = app[SERVICES].catalog.modules[0].topics[0].id
            await client.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), first_topic)
            return client

        yield {"app": app, "base": base, "stream": stream}


async def log_in(page: Page, base: str, username: str) -> None:
    await page.goto(base + "/proctor")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#login-btn").click()


@pytest.mark.browser
async def test_proctor_sees_the_impostor_flagged_and_the_genuine_student_verified(
        rig: Rig, new_page: NewPage, photos: Any) -> None:
    base = rig["base"]
    page = await new_page()
    await log_in(page, base, STAFF_USER)
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#conn")).to_have_text("Live updates on")  # the event socket is open

    # Both students start after the page is up: their tiles come from the live events.
    genuine = await rig["stream"]("MAD001", photos["madonna"][1])
    impostor = await rig["stream"]("BEN001", photos["madonna"][1])  # Madonna's face on Ben's account
    fake_tile = page.locator(f"#tile-{impostor.session_id}")
    real_tile = page.locator(f"#tile-{genuine.session_id}")

    await expect(fake_tile.locator(".tile-status")).to_have_text(MISMATCH)
    await expect(fake_tile).to_contain_text("BEN001")
    await expect(fake_tile).to_have_attribute("data-level", "flagged")  # flag_after = 3 samples
    await expect(fake_tile).to_contain_text("1 open flag")
    item = page.locator("#flag-feed li", has_text="BEN001")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text(MISMATCH)
    snapshot = item.locator("img.flag-snapshot")
    await expect(snapshot).to_be_visible()
    await expect(snapshot).to_have_attribute("src", re.compile(r"^/api/proctor/flags/\d+/snapshot$"))
    await snapshot.evaluate("img => img.decode()")  # the JPEG really loaded (throws if it can't)
    assert await snapshot.evaluate("img => img.naturalWidth") > 0

    await expect(real_tile.locator(".tile-status")).to_have_text("Verified")
    await expect(real_tile).to_have_attribute("data-level", "verified")
    await expect(real_tile).to_contain_text("MAD001")
    # Needs attention first: the flagged impostor is the first tile.
    await expect(page.locator("#tiles > li").first).to_have_id(f"tile-{impostor.session_id}")
    # The filter narrows by SRN.
    await page.locator("#filter").fill("mad001")
    await expect(fake_tile).to_be_hidden()
    await expect(real_tile).to_be_visible()
    await page.locator("#filter").fill("")
    await expect(fake_tile).to_be_visible()
    await screenshot(page, "dashboard.png")

    # What the page shows is what the server says.
    listed = await api_json(page, base, "/api/proctor/sessions")
    by_id = {s["session_id"]: s for s in listed["sessions"]}
    assert by_id[impostor.session_id]["reason"] == "mismatch" and by_id[impostor.session_id]["open_flags"]
    assert by_id[genuine.session_id]["state"] == "verified"

    # The drawer: timeline, then the student's live video.
    await fake_tile.locator("button").click()
    drawer = page.locator("#drawer")
    await expect(drawer).to_be_visible()
    await expect(page.locator("#drawer-title")).to_have_text("Student BEN001")
    await expect(page.locator("#tl-summary")).to_contain_text(f"× {MISMATCH}")
    await expect(page.locator("#timeline")).to_have_attribute("aria-label", re.compile(r"^Timeline: Credited"))
    await expect(drawer.locator("img.flag-snapshot")).to_have_count(1)
    async with page.expect_response(lambda r: r.url.endswith(f"/api/proctor/sessions/{impostor.session_id}/view")
                                    and r.request.method == "POST") as offered:
        await page.locator("#watch-live").click()
    assert (await offered.value).ok, await (await offered.value).text()
    await expect(page.locator("#live-msg")).to_have_text(re.compile(r"^Watching live"))
    await page.wait_for_function("() => document.getElementById('live-video').videoWidth > 0")
    await screenshot(page, "dashboard-drawer.png")
    async with page.expect_response(lambda r: "/api/proctor/views/" in r.url
                                    and r.request.method == "DELETE") as closed:
        await page.locator("#stop-watching").click()
    assert (await closed.value).ok, f"{(await closed.value).status} {await (await closed.value).text()}"
    await expect(page.locator("#watch-live")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()

    # Confirm the flag with a note: it leaves the feed, and the server has it confirmed.
    await item.get_by_role("button", name="Confirm…").click()
    await expect(item).to_contain_text("voids the credited time of the flagged span")
    await item.locator("textarea").fill("Someone else was studying on this account.")
    async with page.expect_response(lambda r: "/review" in r.url) as reviewed:
        await item.get_by_role("button", name="Confirm and void the time").click()
    assert (await reviewed.value).ok, await (await reviewed.value).text()
    await expect(page.locator("#flag-feed li", has_text="BEN001")).to_have_count(0)
    await expect(page.locator("#flags-done")).to_contain_text("confirmed")
    flags = (await api_json(page, base, "/api/proctor/flags?status=all"))["flags"]
    mine = [f for f in flags if f["session_id"] == impostor.session_id]
    assert mine and mine[0]["review"] == "confirmed" and mine[0]["note"]

    # Undo, right after: the flag is open again, back in the feed.
    async with page.expect_response(lambda r: "/review" in r.url) as undone:
        await page.locator("#flags-done").get_by_role("button", name="Undo").click()
    assert (await undone.value).ok, await (await undone.value).text()
    await expect(page.locator("#flags-done")).to_contain_text("reopened")
    item = page.locator("#flag-feed li", has_text="BEN001").first
    await expect(item).to_be_visible()
    # Confirmed again, this time for the whole session.
    await item.get_by_role("button", name="Confirm…").click()
    await item.locator("textarea").fill("Someone else was studying on this account, all session.")
    await item.get_by_label("Void the whole session’s credit, not just this span").check()
    async with page.expect_response(lambda r: "/review" in r.url) as reviewed:
        await item.get_by_role("button", name="Confirm and void the time").click()
    assert (await reviewed.value).ok and (await reviewed.value).request.post_data_json["scope"] == "session"
    await expect(page.locator("#flags-done")).to_contain_text("whole session")
    flags = (await api_json(page, base, "/api/proctor/flags?status=all"))["flags"]
    mine = [f for f in flags if f["session_id"] == impostor.session_id]
    assert mine and mine[0]["review"] == "confirmed"


@pytest.mark.browser
async def test_a_student_is_told_the_page_is_for_proctors(rig: Rig, new_page: NewPage) -> None:
    page = await new_page()
    await log_in(page, rig["base"], "MAD001")  # a student typing their SRN into the staff form
    await expect(page.locator("#denied-title")).to_have_text("This page is for proctors")
    await expect(page.locator("#app-view")).to_be_hidden()
    await page.locator("#logout-btn").click()
    await expect(page.locator("#login-view")).to_be_visible()


@pytest.mark.browser
async def test_a_proctor_with_two_step_verification_gets_the_code_step(rig: Rig, new_page: NewPage) -> None:
    """The staff page logs in through the same flow as the student page (login.js), TOTP step included."""
    services = rig["app"][SERVICES]
    uid = await services.students.add_staff("sam", "Sam", "admin", hash_password(PASSWORD))
    setup = await services.accounts.totp.begin_setup(uid)
    totp = pyotp.TOTP(setup.secret, interval=STEP_S)
    enabled_step = int(time.time() // STEP_S)
    await services.accounts.totp.enable(uid, totp.at(enabled_step * STEP_S))

    page = await new_page()
    await log_in(page, rig["base"], "sam")
    await expect(page.locator("#totp-step")).to_be_visible()
    await expect(page.locator("#login-form")).to_be_hidden()
    await expect(page.locator("#totp-code")).to_be_focused()
    # A code counts once per step, within a step either side of now (proctor/totp.py): no waiting.
    step = max(enabled_step + 1, int(time.time() // STEP_S))
    await page.locator("#totp-code").fill(totp.at(step * STEP_S))
    await page.locator("#totp-submit").click()
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#user-role")).to_have_text("Admin")
    await expect(page.locator("#conn")).to_have_text("Live updates on")
