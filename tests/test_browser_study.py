"""The study page in a real Chromium: a lesson video plays while the fake camera shows the enrolled
student, pauses itself when the camera shows someone else, and resumes once she is verified again.

The fake camera is a `.y4m` clip that Chromium re-reads each time it loops, so rewriting the file in
place switches who the camera shows. The lesson is a real VP8 WebM rendered by the demo pack's code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, expect

from models.frames import motion_path, photo_to_frame
from proctor.catalog import load_catalog
from server.app import create_app
from server.demo.pack import write_video
from server.keys import LIVE, SERVICES

from .browser import FAKE_CAMERA, WAIT_S, NewPage, PageRules, Server, api_json, screenshot, serve
from .helpers import PASSWORD, enroll_student, settings_for
from .y4m import write_y4m

SRN = "MAD001"
MISMATCH = "Face doesn't match your profile photo"
PLAYING = "() => { const v = document.getElementById('lesson-video'); return !v.paused && v.currentTime > %s; }"


def show_on_camera(clip: Path, photo: np.ndarray) -> None:
    write_y4m(clip, [photo_to_frame(photo, shift=s) for s in motion_path(8)])


@pytest.fixture
def clip(tmp_path: Path, photos: Any) -> Path:
    path = tmp_path / "camera.y4m"
    show_on_camera(path, photos["madonna"][1])
    return path


@pytest.fixture
def page_rules(clip: Path) -> PageRules:
    # No user gesture in a test: resuming by itself is what is tested, and play() needs none here.
    return PageRules(args=(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={clip}",
                           "--autoplay-policy=no-user-gesture-required"))


@pytest.fixture
async def study_server(engine: Any, references: Any, tmp_path: Path) -> AsyncIterator[Server]:
    module = load_catalog().modules[0]
    content = tmp_path / "content"
    (content / "v").mkdir(parents=True)
    # 3 slides × 40 s: long enough that the clip never ends during the test.
    seconds = await asyncio.to_thread(write_video, module, content / "v" / "overview.webm", seconds_per_slide=40,
                                      fps=2)
    (content / "content.toml").write_text(
        f'[[lessons]]\nid = "overview"\ntopic = "{module.topics[0].id}"\ntitle = "Overview"\nkind = "video"\n'
        f'duration_s = {seconds:g}\nfile = "v/overview.webm"\n', encoding="utf-8")
    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    async with serve(app) as base:
        await enroll_student(app, SRN, references["madonna"])
        yield app, base


async def lesson_credit(page: Page, base: str) -> float:
    progress = await api_json(page, base, "/api/progress")
    return float(progress["modules"][0]["topics"][0]["lessons"][0]["credited_seconds"])


@pytest.mark.browser
async def test_the_lesson_pauses_for_another_face_and_resumes(study_server: Server, new_page: NewPage, clip: Path,
                                                               photos: Any) -> None:
    app, base = study_server
    page = await new_page()
    await page.goto(base + "/")
    await page.locator("#srn").fill(SRN)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#login-btn").click()
    await page.locator("#topic").select_option(value=app[SERVICES].catalog.modules[0].topics[0].id)
    await expect(page.locator("#lesson-title")).to_have_text("Overview")
    await expect(page.locator("#lesson-list li")).to_have_count(1)
    async with page.expect_response(lambda r: r.url.endswith("/api/webrtc/offer")) as offer:
        await page.locator("#start-btn").click()
    resp = await offer.value
    assert resp.ok, await resp.text()
    sid = str((await resp.json())["session_id"])
    stream = app[LIVE].get_session(sid)
    assert stream is not None and stream.ctx.lesson_id == "overview"  # lesson mode

    await expect(page.locator("#status")).to_have_text("Verified")
    await page.locator("#lesson-video").evaluate("v => v.play()")
    await page.wait_for_function(PLAYING % 1)
    # Credit follows the playing lesson, on the server's confirmed ledger.
    async with asyncio.timeout(WAIT_S):
        while await lesson_credit(page, base) <= 0:  # noqa: ASYNC110  (server state is only visible over HTTP)
            await asyncio.sleep(0.25)

    await asyncio.to_thread(show_on_camera, clip, photos["ben_afflek"][0])
    await expect(page.locator("#status")).to_have_text(MISMATCH)
    await page.wait_for_function("() => document.getElementById('lesson-video').paused")
    await expect(page.locator("#lesson-why")).to_be_visible()
    await expect(page.locator("#lesson-why")).to_contain_text(MISMATCH)
    await screenshot(page, "study-paused.png")
    paused_at = float(await page.locator("#lesson-video").evaluate("v => v.currentTime"))
    assert paused_at > 1

    await asyncio.to_thread(show_on_camera, clip, photos["madonna"][1])
    await expect(page.locator("#status")).to_have_text("Verified")
    await page.wait_for_function(PLAYING % (paused_at + 0.5))  # it resumed by itself and moves on
    await expect(page.locator("#lesson-why")).to_be_hidden()
    await screenshot(page, "study-resumed.png")
