"""The student page in a real Chromium: log in, pick a topic, stream a webcam, watch the status.

The server runs in this test's event loop on a free port; Chromium (Debian's, driven by
Playwright) plays a `.y4m` clip made from a dataset photo as its webcam. What the page shows is
checked against what the server's ledger says.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, async_playwright, expect

from models.frames import motion_path, photo_to_frame
from proctor.credit_adjust import adjust
from proctor.progress import credited_by_module
from proctor.spmt_attempts import demo_banks
from server.app import create_app
from server.config import Settings
from server.keys import SERVICES, SPMT

from .browser import FAKE_CAMERA, WAIT_S, Server, api_json, launch, refused_me, screenshot, serve, watch_page
from .helpers import PASSWORD, enroll_student
from .y4m import rgb_to_yuv420, write_y4m

SRN = "MAD001"
MISMATCH = "Face doesn't match your profile photo"


@pytest.fixture
async def live_server(engine: Any, references: Any, tmp_path: Path) -> AsyncIterator[Server]:
    settings = Settings(db=f"sqlite:///{tmp_path / 'p.db'}", content_dir=str(tmp_path / "content"),
                        sample_interval_s=1.0, verify_timeout_s=5.0, max_wait_ms=5, demo=False, liveness=False)
    app = create_app(settings, engine_factory=lambda s: engine)
    async with serve(app) as base:
        await enroll_student(app, SRN, references["madonna"])
        yield app, base


@pytest.fixture
async def camera_page(chromium: str, tmp_path: Path) -> AsyncIterator[Callable[[np.ndarray], Awaitable[Page]]]:
    """Opens a Chromium page whose webcam shows `photo`, moving a little, in a loop."""
    errors: list[str] = []  # script errors and CSP violations on any page, checked at the end
    async with contextlib.AsyncExitStack() as stack:
        pw = await stack.enter_async_context(async_playwright())

        async def open_page(photo: np.ndarray) -> Page:
            frames = [photo_to_frame(photo, shift=s) for s in motion_path(8)]
            clip = await asyncio.to_thread(write_y4m, tmp_path / "camera.y4m", frames)
            # One browser per page: the fake camera's clip is a launch flag.
            browser = await launch(pw, chromium, (*FAKE_CAMERA, f"--use-file-for-fake-video-capture={clip}"))
            stack.push_async_callback(browser.close)
            # A student abroad: the history card offers this zone instead of the course's.
            context = await browser.new_context(timezone_id="Europe/London")
            stack.push_async_callback(context.close)
            return watch_page(await context.new_page(), errors, refused_me)

        yield open_page
        assert not errors, "the page logged errors:\n" + "\n".join(errors)


async def wait_for_server(page: Page, base: str, path: str, done: Callable[[dict[str, Any]], bool],
                          what: str) -> dict[str, Any]:
    """Poll an API path until `done` holds for its JSON, or fail saying what never happened."""
    last: dict[str, Any] = {}
    try:
        async with asyncio.timeout(WAIT_S):
            # The server's state is only visible over HTTP: there is no event here to wait on.
            while not done(last := await api_json(page, base, path)):  # noqa: ASYNC110
                await asyncio.sleep(0.25)
    except TimeoutError:
        pytest.fail(f"timed out after {WAIT_S:.0f} s waiting for {what}; last {path}: {last}")
    return last


async def log_in_and_start(page: Page, server: Server) -> str:
    """Log in as the enrolled student, choose the first topic, press Start; returns the session id."""
    app, base = server
    await page.goto(base + "/")
    await page.locator("#srn").fill(SRN)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#login-btn").click()
    await expect(page.locator("#app-view")).to_be_visible()
    first_topic = app[SERVICES].catalog.modules[0].topics[0].id
    await page.locator("#topic").select_option(value=first_topic)  # waits for the catalog to load
    return await press_start(page)


async def press_start(page: Page) -> str:
    """Press Start on a logged-in page; returns the new session's id once the offer is answered."""
    async with page.expect_response(lambda r: r.url.endswith("/api/webrtc/offer")) as offer:
        await page.locator("#start-btn").click()
    resp = await offer.value
    assert resp.ok, f"offer refused: {resp.status} {await resp.text()}"
    await expect(page.locator("#stop-btn")).to_be_visible()
    return str((await resp.json())["session_id"])


def clock_seconds(text: str | None) -> int:
    """'1:02:03' → 3723."""
    h, m, s = (int(part) for part in (text or "").strip().split(":"))
    return h * 3600 + m * 60 + s


@pytest.mark.browser
async def test_enrolled_student_sees_verified_and_is_credited(live_server: Server, camera_page: Any,
                                                              photos: Any) -> None:
    _, base = live_server
    page = await camera_page(photos["madonna"][1])
    sid = await log_in_and_start(page, live_server)

    await expect(page.locator("#status")).to_have_text("Verified")
    await expect(page.locator("#status")).to_have_attribute("data-state", "verified")
    await expect(page.locator("#credited")).not_to_have_text("0:00:00")
    shown = clock_seconds(await page.locator("#credited").text_content())
    await screenshot(page, "browser-verified.png")

    # The page only shows what the server persisted first: the ledger holds at least as much.
    session = await api_json(page, base, f"/api/sessions/{sid}")
    assert session["live"] is True and session["samples"]["verified"] >= 1
    assert session["credited_seconds"] >= shown > 0
    progress = await api_json(page, base, "/api/progress")
    first = progress["modules"][0]
    assert first["topics"][0]["credited_seconds"] >= shown
    assert first["credited_seconds"] == pytest.approx(first["topics"][0]["credited_seconds"], abs=1e-3)

    # History's days: the course's zone, until the student takes this device's.
    await expect(page.locator("#history-tz")).to_have_text("Days are counted in Asia/Kolkata.")
    await page.get_by_role("button", name="Use this device's time zone (Europe/London)").click()
    await expect(page.locator("#history-tz")).to_have_text("Days are counted in Europe/London (your choice).")
    assert (await api_json(page, base, "/api/me"))["user"]["time_zone"] == "Europe/London"


@pytest.mark.browser
async def test_impostor_sees_mismatch_and_earns_nothing(live_server: Server, camera_page: Any,
                                                        photos: Any) -> None:
    _, base = live_server
    page = await camera_page(photos["ben_afflek"][0])  # logs in as Madonna's account
    sid = await log_in_and_start(page, live_server)
    path = f"/api/sessions/{sid}"

    await expect(page.locator("#status")).to_have_text(MISMATCH)
    seen = (await api_json(page, base, path))["samples"]["total"]
    # Three more samples after the mismatch was shown (and at least four in all, ≥ 4 s of video).
    await wait_for_server(page, base, path, lambda s: bool(s) and s["samples"]["total"] >= max(seen + 3, 4),
                          "three more samples after the mismatch was shown")

    assert await page.locator("#credited").text_content() == "0:00:00"
    await expect(page.locator("#status")).to_have_attribute("data-state", "unverified")
    await screenshot(page, "browser-mismatch.png")
    session = await api_json(page, base, path)
    assert session["credited_seconds"] == 0 and session["samples"]["verified"] == 0
    progress = await api_json(page, base, "/api/progress")
    assert progress["modules"][0]["credited_seconds"] == 0
    assert progress["modules"][0]["topics"][0]["credited_seconds"] == 0


def test_y4m_clip_is_what_chromium_expects(tmp_path: Path) -> None:
    grey, red = np.full((480, 640, 3), 128, np.uint8), np.zeros((480, 640, 3), np.uint8)
    red[..., 0] = 255
    clip = write_y4m(tmp_path / "c.y4m", [grey, red])
    data = clip.read_bytes()
    header = b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n"
    plane_bytes = 640 * 480 * 3 // 2
    assert data.startswith(header) and len(data) == len(header) + 2 * (len(b"FRAME\n") + plane_bytes)
    assert data[len(header):len(header) + 6] == b"FRAME\n"
    y, cb, cr = rgb_to_yuv420(red)  # full-range BT.601: red is Y 76, Cb 85, Cr 255
    assert (y.shape, cb.shape, cr.shape) == ((480, 640), (240, 320), (240, 320))
    assert (int(y[0, 0]), int(cb[0, 0]), int(cr[0, 0])) == (76, 85, 255)
    assert {int(v) for p in rgb_to_yuv420(grey) for v in np.unique(p)} == {128}


@pytest.mark.browser
async def test_student_books_pays_sits_and_passes_a_module_test(live_server: Server, camera_page: Any,
                                                                photos: Any) -> None:
    app, base = live_server
    services, spmt = app[SERVICES], app[SPMT]
    module = "a-corporate-economic-laws"
    mad = await services.students.get_by_srn(SRN)
    assert mad is not None
    await adjust(services.db, services.clock, user_id=mad.id, module_id=module, seconds=40 * 3600,
                 reason="Hours transferred from SPOM v1", by_user_id=None)
    now_slot = await spmt.bookings.add_slot(module, time.time() - 60, 30, 5)  # started a minute ago: late entry
    later = await spmt.bookings.add_slot(module, time.time() + 2 * 86400, 30, 5)
    page = await camera_page(photos["madonna"][1])
    await page.goto(base + "/")
    await page.locator("#srn").fill(SRN)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#login-btn").click()
    card = page.locator(f'#tests-modules li[data-module="{module}"]')
    await expect(card).to_contain_text("Eligible")
    await expect(page.locator("#adjustments-list")).to_contain_text("Hours transferred from SPOM v1")
    # Booked for the day after tomorrow, then moved to the slot that is open now.
    await card.locator('[data-part="slot"]').select_option(value=str(later.id))
    await card.locator('[data-action="book"]').click()
    await expect(card.locator(".booking")).to_contain_text("awaiting payment")
    await card.locator('[data-part="move-slot"]').select_option(value=str(now_slot.id))
    await card.locator('[data-action="reschedule"]').click()
    await expect(card.locator('[data-part="move-slot"] option')).to_have_attribute("value", str(later.id))
    await card.locator('[data-action="pay"]').click()
    await card.locator('[data-action="start"]').click()
    await expect(page.locator("#test-screen")).to_be_visible()
    await expect(page.locator("#test-webcam")).to_have_text("Webcam: verified")

    bank = {q.text: q.choices[q.answer] for q in demo_banks()[module]}
    total = await page.locator("#test-navigator button").count()
    assert total == 20
    for i in range(total):
        await page.locator("#test-navigator button").nth(i).click()
        text = await page.locator("#test-q-text").text_content()
        await page.locator("#test-choices").get_by_label(bank[str(text)], exact=True).check()
        await expect(page.locator("#test-navigator button").nth(i)).to_have_attribute("data-answered", "true")
    await expect(page.locator("#test-save-state")).to_contain_text("Saved")
    await page.locator("#test-submit").click()
    await expect(page.locator("#test-result")).to_contain_text("Passed: 100% (20 of 20)")
    await screenshot(page, "browser-spmt-passed.png")

    attempts = await spmt.attempts.find(user_id=mad.id)
    assert [(a.passed, a.correct, a.submit_reason) for a in attempts] == [(True, 20, "submitted")]
    # The test's proctoring stream was sampled but earned no learning credit.
    assert (await credited_by_module(services.db, mad.id))[module] == 40 * 3600
