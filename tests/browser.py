"""Browser-test plumbing, loaded as a pytest plugin (see `pytest_plugins` in conftest.py).

Fixtures: `chromium` (the binary; missing fails, never skips), `page_rules` (how a module's pages
are opened; a module overrides it) and `new_page` (pages in one Chromium whose script errors, CSP
violations and unexpected failed requests fail the test). Helpers: `serve` runs an app on a free
port, `watch_page` collects a page's errors, `api_json` and `screenshot`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

CHROMIUM = os.environ.get("PROCTOR_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_S = 60.0  # generous: FaceNet on two shared CPU cores, plus Chromium itself
QUIET = ("--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-gpu")
FAKE_CAMERA = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")

Server = tuple[web.Application, str]
NewPage = Callable[..., Awaitable[Page]]


def refused_me(msg: ConsoleMessage) -> bool:
    """Before login the page asks /api/me and gets 401 by design; Chromium logs every 4xx."""
    return "status of 401" in msg.text and str(msg.location.get("url", "")).endswith("/api/me")


def refused_api(msg: ConsoleMessage) -> bool:
    """Any refusal a test provokes on purpose (wrong password, weak password, lockout, rate limit,
    maintenance, the 401 from /api/me), which Chromium logs as a failed resource."""
    url = str(msg.location.get("url", ""))
    return "/api/" in url and bool(re.search(r"status of (400|401|423|429|503)\b", msg.text))


@dataclass(frozen=True)
class PageRules:
    """How a test module's pages are opened, and which console errors are that module's own doing."""

    args: tuple[str, ...] = ()
    """Chromium flags beyond QUIET."""
    context: dict[str, Any] = field(default_factory=dict)
    """Default options for each page's browser context (a page may override them)."""
    expected: Callable[[ConsoleMessage], bool] = refused_me
    """Console errors that do not fail the test."""


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free port of 127.0.0.1; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"  # the port the OS picked for port 0
    finally:
        await runner.cleanup()


async def launch(pw: Playwright, chromium: str, args: tuple[str, ...]) -> Browser:
    try:
        return await pw.chromium.launch(executable_path=chromium, headless=True, args=[*QUIET, *args])
    except PlaywrightError as exc:
        pytest.fail(f"could not launch Chromium at {chromium}: {exc}")


def watch_page(page: Page, errors: list[str], expected: Callable[[ConsoleMessage], bool]) -> Page:
    """Collect `page`'s uncaught errors and unexpected console errors (CSP violations are these) into `errors`."""
    page.set_default_timeout(WAIT_S * 1000)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text} ({msg.location.get('url')})")
            if msg.type == "error" and not expected(msg) else None)
    return page


@pytest.fixture
def chromium() -> str:
    """The Chromium binary; a missing one fails the test (CI installs it), it never skips."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
                    "(or point PROCTOR_CHROMIUM at a Chromium binary); browser tests are not optional")
    return CHROMIUM


@pytest.fixture
def page_rules() -> PageRules:
    return PageRules()


@pytest.fixture
async def new_page(chromium: str, page_rules: PageRules) -> AsyncIterator[NewPage]:
    """Opens pages, each in its own browser context (its own cookies), in one Chromium."""
    errors: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        pw = await stack.enter_async_context(async_playwright())
        browser = await launch(pw, chromium, page_rules.args)
        stack.push_async_callback(browser.close)

        async def open_page(**context_options: Any) -> Page:
            context = await browser.new_context(**{**page_rules.context, **context_options})
            stack.push_async_callback(context.close)
            return watch_page(await context.new_page(), errors, page_rules.expected)

        yield open_page
        assert not errors, "the page logged errors:\n" + "\n".join(errors)


async def api_json(page: Page, base: str, path: str) -> dict[str, Any]:
    """GET an API path with the page's own login cookie."""
    resp = await page.request.get(base + path)
    assert resp.ok, f"GET {path}: {resp.status} {await resp.text()}"
    return dict(await resp.json())


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / name)
