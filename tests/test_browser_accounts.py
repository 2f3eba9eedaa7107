"""The accounts side of the student page in a real Chromium: lockout, SMS codes, activation, password
reset, the sessions list, two-step verification and the maintenance banner.

Like `test_browser.py`, the real server runs in this test's event loop and Debian's Chromium is driven
by Playwright. SMS codes are read back from the server's outbox table, the way a student reads their
phone. The maintenance and rate-limit tests stub those answers with `page.route`: they check what the
page makes of the contract in docs/api-accounts.md, not how the server schedules windows.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import web
from playwright.async_api import Page, Route, expect

from proctor.outbox import list_outbox
from proctor.passwords import hash_password
from proctor.totp import STEP_S
from server.app import create_app
from server.config import Settings
from server.keys import BACKGROUND, SERVICES

from .browser import ARTIFACTS, FAKE_CAMERA, NewPage, PageRules, Server, refused_api, serve
from .helpers import PASSWORD

MOBILE = "+919800000001"
NEW_PASSWORD = "Saffron monsoon ledger 42"
WEAK_PASSWORD = "qwertyuiop"  # 10 characters, but in the common-password list
CODE_SENT = "If this SRN is registered, a 6-digit code was sent to its mobile."
PASSWORD_CHANGED = "Password changed. Sign in with your new password."
WRONG_PASSWORD = "Wrong SRN or password."
LOCKED = re.compile(r"^Too many attempts\. Your account is locked — try again in (\d+) min (\d+) s\.$")


@pytest.fixture
async def server(engine: Any, tmp_path: Path) -> AsyncIterator[Server]:
    settings = Settings(db=f"sqlite:///{tmp_path / 'p.db'}", content_dir=str(tmp_path / "content"),
                        max_wait_ms=5, demo=False)
    app = create_app(settings, engine_factory=lambda s: engine)
    async with serve(app) as base:
        yield app, base


@pytest.fixture
def page_rules() -> PageRules:
    # The fake camera keeps the enrolment card's camera check quiet; the refusals these tests
    # provoke on purpose are logged by Chromium as failed resources.
    return PageRules(args=FAKE_CAMERA, expected=refused_api)


async def add_student(app: web.Application, srn: str, password: str | None = PASSWORD) -> int:
    students = app[SERVICES].students
    return int(await students.add_student(srn, f"Student {srn}", mobile=MOBILE,
                                          password_hash=hash_password(password) if password else None))


async def outbox_texts(app: web.Application, srn: str) -> list[str]:
    """Every SMS the server has "sent" to this student, as text."""
    return [m.text for m in await list_outbox(app[SERVICES].db, srn)]


def new_sms_code(texts: list[str], before: list[str]) -> str:
    """The 6-digit code in the first SMS of `texts` that was not in `before`."""
    for text in (Counter(texts) - Counter(before)).elements():
        if found := re.search(r"(?<!\d)\d{6}(?!\d)", text):
            return found.group(0)
    pytest.fail(f"no new SMS with a 6-digit code; outbox: {texts}")


async def send_code(page: Page, app: web.Application, srn: str, prefix: str) -> str:
    """Type the SRN into `#{prefix}-srn`, press "Send code", check the answer, return the SMS code."""
    await page.locator(f"#{prefix}-srn").fill(srn)
    before = await outbox_texts(app, srn)
    await page.locator(f"#{prefix}-send").click()
    await expect(page.locator(f"#{prefix}-sent")).to_have_text(CODE_SENT)
    # Resting for 30 s, and saying so.
    await expect(page.locator(f"#{prefix}-send")).to_be_disabled()
    await expect(page.locator(f"#{prefix}-send")).to_have_text(re.compile(r"^Send again in ([1-9]|[12]\d|30) s$"))
    # The server answers 202 first and stores the SMS after (the answer's timing must not tell
    # whether the SRN exists): wait for that work, as a student waits for the text.
    await app[BACKGROUND].drain()
    return new_sms_code(await outbox_texts(app, srn), before)


async def log_in(page: Page, base: str, srn: str, password: str = PASSWORD) -> None:
    await page.goto(base + "/")
    await password_login(page, srn, password)
    await expect(page.locator("#app-view")).to_be_visible()


async def password_login(page: Page, srn: str, password: str) -> None:
    await page.locator("#srn").fill(srn)
    await page.locator("#password").fill(password)
    await page.locator("#login-btn").click()


def wait_seconds(text: str | None) -> int:
    found = LOCKED.match((text or "").strip())
    assert found, f"not a lockout message: {text!r}"
    return int(found.group(1)) * 60 + int(found.group(2))


async def no_sideways_scroll(page: Page) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {page.viewport_size}"


@pytest.mark.browser
async def test_five_wrong_passwords_lock_the_account_with_a_live_countdown(server: Server,
                                                                          new_page: NewPage) -> None:
    app, base = server
    await add_student(app, "LOCK001")
    page = await new_page()
    await page.goto(base + "/")
    error = page.locator("#login-error")

    statuses: list[int] = []
    for _ in range(6):
        async with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as answer:
            await password_login(page, "LOCK001", "not my password at all")
        statuses.append((await answer.value).status)
        if statuses[-1] != 401:
            break
        await expect(error).to_have_text(WRONG_PASSWORD)
    # Five wrong passwords lock it: the fifth answer or the one after it is 423.
    assert statuses[-1] == 423 and len(statuses) in (5, 6) and set(statuses[:-1]) == {401}, statuses

    await expect(error).to_have_text(LOCKED)
    first_text = await error.text_content()
    assert 14 * 60 <= wait_seconds(first_text) <= 15 * 60, first_text
    await expect(error).not_to_have_text(first_text or "", timeout=3000)  # it counts down, live
    assert wait_seconds(await error.text_content()) < wait_seconds(first_text)

    # Locked means locked: the right password is refused too, with the same countdown.
    async with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as answer:
        await password_login(page, "LOCK001", PASSWORD)
    assert (await answer.value).status == 423
    await expect(error).to_have_text(LOCKED)
    await expect(page.locator("#app-view")).to_be_hidden()


@pytest.mark.browser
async def test_log_in_with_a_code_sent_by_sms(server: Server, new_page: NewPage) -> None:
    app, base = server
    await add_student(app, "OTP001")
    page = await new_page()
    await page.goto(base + "/")

    # The tabs work from the keyboard (arrow keys), and the SRN typed on one carries to the other.
    await page.locator("#srn").fill("OTP001")
    await page.locator("#tab-password").focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("#tab-otp")).to_be_focused()
    await expect(page.locator("#tab-otp")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#tab-password")).to_have_attribute("aria-selected", "false")
    await expect(page.locator("#panel-otp")).to_be_visible()
    await expect(page.locator("#panel-password")).to_be_hidden()
    await expect(page.locator("#otp-srn")).to_have_value("OTP001")
    await expect(page.locator("#otp-code")).to_have_attribute("inputmode", "numeric")
    await expect(page.locator("#otp-code")).to_have_attribute("autocomplete", "one-time-code")

    # An unknown SRN gets exactly the same answer (checked in another browser: its own cooldown).
    stranger = await new_page()
    await stranger.goto(base + "/")
    await stranger.locator("#tab-otp").click()
    await stranger.locator("#otp-srn").fill("NOBODY99")
    await stranger.locator("#otp-send").click()
    await expect(stranger.locator("#otp-sent")).to_have_text(CODE_SENT)

    code = await send_code(page, app, "OTP001", "otp")
    await page.locator("#otp-code").fill(code)
    await page.locator("#otp-login").click()
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#user-srn")).to_contain_text("OTP001")


@pytest.mark.browser
async def test_first_time_activation_refuses_a_weak_password_then_logs_in(server: Server,
                                                                         new_page: NewPage) -> None:
    app, base = server
    await app[SERVICES].students.add_student("NEW001", "New Student", mobile=MOBILE, password_hash=None)
    page = await new_page(viewport={"width": 320, "height": 740})  # the narrowest phone we support
    await page.goto(base + "/")
    await page.locator("#activate-link").click()
    await expect(page.locator("#activate-view")).to_be_visible()
    await expect(page.locator("#login-view")).to_be_hidden()
    await expect(page.locator("#act-policy")).to_contain_text("At least 10 characters")
    await no_sideways_scroll(page)

    code = await send_code(page, app, "NEW001", "act")
    await page.locator("#act-code").fill(code)

    # The page checks what it can; the mismatch never reaches the server.
    await page.locator("#act-password").fill(NEW_PASSWORD)
    await page.locator("#act-password2").fill(NEW_PASSWORD + "!")
    await page.locator("#act-submit").click()
    await expect(page.locator("#act-password2-error")).to_have_text("The two passwords don't match.")

    # A common password: the server's 400 weak_password is shown next to the field.
    await page.locator("#act-password").fill(WEAK_PASSWORD)
    await page.locator("#act-password2").fill(WEAK_PASSWORD)
    async with page.expect_response(lambda r: r.url.endswith("/api/auth/activate")) as answer:
        await page.locator("#act-submit").click()
    resp = await answer.value
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "weak_password"
    await expect(page.locator("#act-password-error")).not_to_be_empty()
    await expect(page.locator("#act-password")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#app-view")).to_be_hidden()

    # Show/hide works for both fields.
    await page.locator("#act-toggle").click()
    await expect(page.locator("#act-password")).to_have_attribute("type", "text")
    await expect(page.locator("#act-password2")).to_have_attribute("type", "text")

    await page.locator("#act-password").fill(NEW_PASSWORD)
    await page.locator("#act-password2").fill(NEW_PASSWORD)
    await page.locator("#act-submit").click()
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#user-srn")).to_contain_text("NEW001")
    await no_sideways_scroll(page)


@pytest.mark.browser
async def test_forgot_password_reset_then_only_the_new_password_works(server: Server,
                                                                     new_page: NewPage) -> None:
    app, base = server
    await add_student(app, "FGT001")
    page = await new_page()
    await page.goto(base + "/")
    await page.locator("#srn").fill("FGT001")
    await page.locator("#forgot-link").click()
    await expect(page.locator("#forgot-view")).to_be_visible()
    await expect(page.locator("#fp-srn")).to_have_value("FGT001")  # carried over from the login card

    code = await send_code(page, app, "FGT001", "fp")
    await page.locator("#fp-code").fill(code)
    await page.locator("#fp-password").fill(NEW_PASSWORD)
    await page.locator("#fp-password2").fill(NEW_PASSWORD)
    await page.locator("#fp-submit").click()

    await expect(page.locator("#fp-done")).to_have_text(PASSWORD_CHANGED)
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#forgot-view")).to_be_hidden()
    await expect(page.locator("#srn")).to_have_value("FGT001")

    async with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as answer:
        await password_login(page, "FGT001", PASSWORD)
    assert (await answer.value).status == 401
    await expect(page.locator("#login-error")).to_have_text(WRONG_PASSWORD)

    await password_login(page, "FGT001", NEW_PASSWORD)
    await expect(page.locator("#app-view")).to_be_visible()


@pytest.mark.browser
async def test_sessions_list_shows_this_device_and_signs_another_out(server: Server, new_page: NewPage) -> None:
    app, base = server
    await add_student(app, "SES001")
    other = await new_page()  # a second browser (own cookies): "another device"
    await log_in(other, base, "SES001")
    page = await new_page()
    await log_in(page, base, "SES001")

    rows = page.locator("#sessions-list > li")
    await expect(rows).to_have_count(2)
    this_device = rows.filter(has_text=re.compile("this device", re.I))
    await expect(this_device).to_have_count(1)
    await expect(this_device).to_contain_text("Chrome")  # the user agent, shortened
    await expect(this_device).to_contain_text("127.0.0.1")
    await expect(this_device.get_by_role("button")).to_have_count(0)  # no signing yourself out here

    another = rows.filter(has_not_text=re.compile("this device", re.I))
    await expect(another).to_have_count(1)
    async with page.expect_response(lambda r: r.request.method == "DELETE") as answer:
        await another.get_by_role("button", name=re.compile("^Sign out")).click()
    assert (await answer.value).ok
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(re.compile("this device", re.I))

    # The other browser's login is gone: the server refuses its cookie, and its page notices.
    assert (await other.request.get(base + "/api/me")).status == 401
    await other.locator("#sessions-refresh").click()
    await expect(other.locator("#login-view")).to_be_visible()
    await expect(other.locator("#app-view")).to_be_hidden()


@pytest.mark.browser
async def test_two_step_verification_setup_then_login_asks_for_a_code(server: Server, new_page: NewPage) -> None:
    app, base = server
    await add_student(app, "TFA001")
    page = await new_page()
    await log_in(page, base, "TFA001")
    await expect(page.locator("#tfa-state")).to_contain_text("off")

    await page.locator("#totp-setup").click()  # the password is asked for again first
    await expect(page.locator("#totp-setup-error")).to_contain_text("password")
    await expect(page.locator("#totp-qr")).to_be_hidden()
    await page.locator("#totp-setup-password").fill(PASSWORD)
    await page.locator("#totp-setup").click()
    qr = page.locator("#totp-qr")
    await expect(qr).to_be_visible()
    assert (await qr.get_attribute("src") or "").startswith("data:image/")
    await page.wait_for_function("() => { const i = document.getElementById('totp-qr');"
                                 " return i.complete && i.naturalWidth > 0; }")  # it rendered under the CSP
    secret = re.sub(r"\s+", "", await page.locator("#totp-secret").text_content() or "")
    totp = pyotp.TOTP(secret, interval=STEP_S)
    enabled_step = int(time.time() // STEP_S)
    await page.locator("#totp-enable-code").fill(totp.at(enabled_step * STEP_S))
    await page.locator("#totp-enable").click()

    codes = page.locator("#recovery-codes > li")
    await expect(codes).to_have_count(10)
    recovery = [c.strip() for c in await codes.all_text_contents()]
    assert len(set(recovery)) == 10 and all(recovery)
    await expect(page.locator("#recovery-box")).to_contain_text("safe")
    await expect(page.locator("#tfa-state")).to_contain_text("on")
    await expect(page.locator("#totp-disable")).to_be_visible()
    await expect(page.locator("#totp-setup")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator("#security").screenshot(path=ARTIFACTS / "browser-security.png")
    await page.set_viewport_size({"width": 320, "height": 740})
    await no_sideways_scroll(page)
    await page.set_viewport_size({"width": 1280, "height": 720})

    # After a reload the page still knows 2FA is on (/api/me says), so it offers to turn it off.
    await page.reload()
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#tfa-state")).to_contain_text("on")
    await expect(page.locator("#totp-disable")).to_be_visible()
    await expect(page.locator("#totp-setup")).to_be_hidden()

    # Log out and in again: the password alone is no longer enough.
    await page.locator("#logout-btn").click()
    await expect(page.locator("#login-view")).to_be_visible()
    await password_login(page, "TFA001", PASSWORD)
    await expect(page.locator("#totp-step")).to_be_visible()
    await expect(page.locator("#app-view")).to_be_hidden()
    await expect(page.locator("#totp-code")).to_be_focused()

    # A code counts once: the one that turned it on is refused (or, a minute on, simply stale).
    async with page.expect_response(lambda r: r.url.endswith("/api/auth/totp")) as answer:
        await page.locator("#totp-code").fill(totp.at(enabled_step * STEP_S))
        await page.locator("#totp-submit").click()
    assert (await answer.value).status == 401
    await expect(page.locator("#totp-error")).to_contain_text("That code didn't work")
    await expect(page.locator("#app-view")).to_be_hidden()

    # The server takes the steps either side of now, each once (proctor/totp.py): the step after the
    # one that enabled it, or the current step once the clock has passed that, is always accepted.
    step = max(enabled_step + 1, int(time.time() // STEP_S))
    await page.locator("#totp-code").fill(totp.at(step * STEP_S))
    await page.locator("#totp-submit").click()
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#tfa-state")).to_contain_text("on")  # known from how we logged in

    # A recovery code works instead of the app, once.
    await page.locator("#logout-btn").click()
    await password_login(page, "TFA001", PASSWORD)
    await expect(page.locator("#totp-step")).to_be_visible()
    await page.locator("#totp-code").fill(recovery[0])
    await page.locator("#totp-submit").click()
    await expect(page.locator("#app-view")).to_be_visible()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.browser
async def test_maintenance_banner_upcoming_then_active(server: Server, new_page: NewPage) -> None:
    _, base = server
    page = await new_page(timezone_id="Asia/Kolkata")
    schedule: dict[str, Any] = {"active": None, "upcoming": [
        # ISO strings and epoch seconds are both understood; shown in the browser's zone (IST here).
        {"start": "2031-04-11T04:30:00Z", "end": 1934454600, "message": "Server upgrade"}]}

    async def maintenance(route: Route) -> None:
        await route.fulfill(json=schedule)

    await page.route("**/api/maintenance", maintenance)
    await page.goto(base + "/")
    banner = page.locator("#maintenance-banner")
    await expect(banner).to_have_text(
        "Scheduled maintenance from 11 Apr 10:00 to 20 Apr 18:00 (your local time): Server upgrade")
    await expect(page.locator("#login-btn")).to_be_enabled()

    schedule = {"active": {"start": iso(time.time() - 600), "end": "2031-04-20T12:30:00Z", "message": "Back soon"},
                "upcoming": []}
    await page.reload()
    await expect(banner).to_have_text("The portal is under maintenance until 20 Apr 18:00 (your local time): Back soon")
    for button in ("#login-btn", "#otp-send", "#otp-login"):
        await expect(page.locator(button)).to_be_disabled()
    await expect(page.locator("#login-blocked")).to_contain_text("under maintenance")


@pytest.mark.browser
async def test_rate_limit_and_maintenance_answers_to_login(server: Server, new_page: NewPage) -> None:
    _, base = server
    page = await new_page(timezone_id="Asia/Kolkata")
    answer: dict[str, Any] = {"status": 429, "headers": {"Retry-After": "65"}, "json": {"error": {
        "code": "too_many_requests", "message": "too many requests", "retry_after_s": 65}}}

    async def login(route: Route) -> None:
        await route.fulfill(**answer)

    await page.route("**/api/auth/login", login)
    await page.goto(base + "/")
    await password_login(page, "ANY001", PASSWORD)
    error = page.locator("#login-error")
    await expect(error).to_have_text(re.compile(
        r"^Too many attempts from this network — try again in 1 min [0-5] s\.$"))
    first = await error.text_content()
    await expect(error).not_to_have_text(first or "", timeout=3000)

    answer = {"status": 503, "headers": {"Retry-After": "3600"},
              "json": {"error": {"code": "maintenance", "message": "Upgrading the database"}}}
    await password_login(page, "ANY001", PASSWORD)
    await expect(page.locator("#maintenance-banner")).to_have_text(re.compile(
        r"^The portal is under maintenance until \d{1,2} \w{3} \d\d:\d\d \(your local time\): "
        r"Upgrading the database$"))
    await expect(page.locator("#login-btn")).to_be_disabled()
