"""Liveness in a real Chromium: the page shows the head-turn challenge, and the fake camera answers.

Chromium plays a `.y4m` file as its webcam and reads each frame from the file as it plays, so the
test "turns the head" by overwriting the file in place with a clip of the same size showing the
same person turned the asked way (a mirrored photo for the other direction). A still photo that is
moved about but never turns is the attack: its challenge and the retry fail, its time is voided and
the page says why. One Chromium and one server serve both sessions, one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, async_playwright, expect

from models.dataset import people
from models.frames import motion_path, photo_to_frame
from models.images import read_image_file
from server.app import create_app
from server.keys import SERVICES

from .browser import FAKE_CAMERA, WAIT_S, Server, api_json, launch, refused_me, screenshot, serve, watch_page
from .helpers import enroll_student, settings_for
from .test_browser import log_in_and_start, press_start, wait_for_server
from .y4m import write_y4m

TIMEOUT_S = 6.0  # the default answer time


class Camera:
    """One `.y4m` file Chromium plays; `show` swaps what it shows without relaunching Chromium."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def clip(photo: np.ndarray) -> list[np.ndarray]:
        return [photo_to_frame(photo, shift=s) for s in motion_path(8)]

    async def write(self, photo: np.ndarray) -> Path:
        return await asyncio.to_thread(write_y4m, self.path, self.clip(photo))

    async def show(self, photo: np.ndarray) -> None:
        """Overwrite the file in place (same inode, same size), as a camera's picture changes."""
        staged = await asyncio.to_thread(write_y4m, self.path.with_suffix(".next"), self.clip(photo))
        data = await asyncio.to_thread(staged.read_bytes)

        def overwrite() -> None:
            with self.path.open("r+b") as out:
                assert out.seek(0, 2) == len(data)  # same header and frame count: no torn loop
                out.seek(0)
                out.write(data)

        await asyncio.to_thread(overwrite)


@pytest.fixture(scope="module")
def turned(dataset_root: Path) -> dict[str, np.ndarray]:
    """Madonna turned to her own left and, mirrored, to her right (as in test_liveness_live)."""
    photo = read_image_file(people(dataset_root / "train")["madonna"][8])
    return {"turn_left": photo, "turn_right": np.ascontiguousarray(photo[:, ::-1])}


@pytest.fixture
async def rig(engine: Any, references: Any, tmp_path: Path, chromium: str, photos: Any
              ) -> AsyncIterator[tuple[Server, Page, Camera]]:
    settings = settings_for(tmp_path, liveness=True, liveness_static_check=True, liveness_timeout_s=TIMEOUT_S,
                            sample_interval_s=1.0)
    app = create_app(settings, engine_factory=lambda s: engine)
    camera = Camera(tmp_path / "camera.y4m")
    clip = await camera.write(photos["madonna"][1])
    errors: list[str] = []
    async with serve(app) as base, contextlib.AsyncExitStack() as stack:
        await enroll_student(app, "MAD001", references["madonna"])
        pw = await stack.enter_async_context(async_playwright())
        browser = await launch(pw, chromium, (*FAKE_CAMERA, f"--use-file-for-fake-video-capture={clip}"))
        stack.push_async_callback(browser.close)
        context = await browser.new_context()
        stack.push_async_callback(context.close)
        page = watch_page(await context.new_page(), errors, refused_me)
        yield (app, base), page, camera
    assert not errors, "the page logged errors:\n" + "\n".join(errors)


async def stop(page: Page) -> None:
    await page.locator("#stop-btn").click()
    await expect(page.locator("#start-btn")).to_be_visible()


@pytest.mark.browser
async def test_a_still_photo_is_voided_and_a_live_turn_is_credited_in_chromium(
        rig: tuple[Server, Page, Camera], photos: Any, turned: dict[str, np.ndarray]) -> None:
    server, page, camera = rig
    app, base = server
    box = page.locator("#challenge")

    # 1. A still photo moved about: it cannot turn. The challenge and its retry fail, time is voided.
    sid = await log_in_and_start(page, server)
    await expect(box).to_be_visible()
    assert await box.get_attribute("aria-live") == "assertive"
    action = await box.get_attribute("data-action")
    assert action in ("turn_left", "turn_right")
    # The preview is mirrored: the student's own left is drawn on the left.
    await expect(box.locator(".challenge-arrow")).to_have_text("←" if action == "turn_left" else "→")
    await expect(box.locator(".challenge-countdown")).to_have_text(re.compile(r"^[1-6] s$"))
    voided = page.locator("#voided")
    await expect(voided).to_be_visible(timeout=(4 * TIMEOUT_S + WAIT_S) * 1000)
    await expect(voided).to_contain_text("turn your head, not the laptop")
    await screenshot(page, "browser-liveness-voided.png")
    await stop(page)
    still = await api_json(page, base, f"/api/sessions/{sid}")
    assert still["credited_seconds"] == 0 and still["provisional_seconds"] == 0 and still["voided_seconds"] > 0
    assert "liveness_failed" in [f["kind"] for f in still["flags"]]
    failed = [v for v in await app[SERVICES].review.list_flags("all") if v.kind == "liveness_failed"]
    assert len(failed) == 1 and failed[0].has_snapshot

    # 2. A live person: when asked, the camera shows the head turned that way, then frontal again.
    sid = await press_start(page)  # a new session from the same page
    await expect(box).to_have_attribute("data-state", "open")
    action = await box.get_attribute("data-action")
    assert action in turned
    await camera.show(turned[action])
    await expect(box).to_have_attribute("data-state", "passed", timeout=(TIMEOUT_S + WAIT_S) * 1000)
    await expect(box.locator(".challenge-text")).to_have_text("Thanks — check passed.")
    await camera.show(photos["madonna"][1])
    await expect(page.locator("#provisional")).not_to_have_text("0:00:00")
    await screenshot(page, "browser-liveness-passed.png")
    await stop(page)
    live = await wait_for_server(page, base, f"/api/sessions/{sid}", lambda s: bool(s) and not s["live"],
                                 "the live session to end")
    # A normal end after a passed check confirms the provisional time; nothing is voided.
    assert live["credited_seconds"] > 0 and live["provisional_seconds"] == 0 and live["voided_seconds"] == 0
    progress = await api_json(page, base, "/api/progress")
    assert progress["modules"][0]["credited_seconds"] == pytest.approx(live["credited_seconds"], abs=1e-3)
