"""Liveness end to end over real aiortc: challenges on the control channel, provisional credit, voids.

The client is `bench.clients.StreamClient` (a browser minus the browser). A live person is a
frontal photo that switches to a turned photo of the same person when challenged; an attacker is a
photo that cannot turn, or a frozen frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.clients import StreamClient, moving_frames
from models.dataset import people
from models.frames import photo_to_frame
from models.images import read_image_file
from models.presentations import card
from server.app import create_app
from server.keys import SERVICES

from .helpers import enroll_student, login, session_json, settings_for, topic

TIMEOUT_S = 2.0


@pytest.fixture
async def server(aiohttp_client: Any, engine: Any, references: Any, tmp_path: Path) -> AsyncIterator[Any]:
    settings = settings_for(tmp_path, liveness=True, liveness_static_check=True, liveness_timeout_s=TIMEOUT_S)
    app = create_app(settings, engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", references["madonna"])
    yield client


@pytest.fixture
async def streamer(server: Any) -> AsyncIterator[Callable[[list[np.ndarray]], Any]]:
    clients: list[StreamClient] = []

    async def start(frames: list[np.ndarray], on_challenge: Any = None) -> StreamClient:
        c = StreamClient(server, await login(server))
        c.on_challenge = on_challenge
        clients.append(c)
        await c.start(frames, topic(server))
        return c

    yield start
    for c in clients:
        await c.close()


@pytest.fixture(scope="session")
def turned(dataset_root: Path) -> dict[str, np.ndarray]:
    """Madonna turned to her own left (yaw ratio ≈ +0.38 in the unmirrored frame) and, mirrored, to her
    right (≈ −0.41); the frontal photo streamed before is ≈ −0.03."""
    photo = read_image_file(people(dataset_root / "train")["madonna"][8])
    return {"turn_left": photo, "turn_right": np.ascontiguousarray(photo[:, ::-1])}


def clip(photo: np.ndarray) -> list[np.ndarray]:
    return moving_frames(lambda s: photo_to_frame(photo, shift=s))


def results(messages: list[dict[str, Any]]) -> list[bool]:
    return [m["passed"] for m in messages if m["type"] == "challenge_result"]


async def end(server: Any, c: StreamClient) -> dict[str, Any]:
    csrf = await login(server)
    resp = await server.post(f"/api/sessions/{c.session_id}/end", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    return await session_json(server, c.session_id)


async def test_a_live_person_who_turns_is_credited_after_the_pass(server: Any, streamer: Any, photos: Any,
                                                                   turned: dict[str, np.ndarray]) -> None:
    frontal = photos["madonna"][1]
    box: dict[str, StreamClient] = {}

    def answer(challenge: dict[str, Any]) -> None:
        assert challenge["timeout_s"] == TIMEOUT_S and challenge["action"] in ("turn_left", "turn_right")
        box["c"].track.show(clip(turned[challenge["action"]]))  # type: ignore[union-attr]

    c = await streamer(clip(frontal), answer)
    box["c"] = c
    await c.wait_message(lambda ms: any(m["type"] == "challenge_result" for m in ms))
    assert results(c.messages) == [True]
    assert c.track is not None
    c.track.show(clip(frontal))
    await c.wait_for(lambda st: st[-1]["credited_seconds"] > 0 and st[-1]["provisional_seconds"] > 0)
    stored = await end(server, c)
    assert stored["credited_seconds"] > 0 and stored["provisional_seconds"] == 0 and stored["voided_seconds"] == 0
    assert "liveness_failed" not in [f["kind"] for f in stored["flags"]]
    progress = await (await server.get("/api/progress")).json()
    assert progress["modules"][0]["credited_seconds"] == pytest.approx(stored["credited_seconds"], abs=1e-3)


async def test_a_still_photo_fails_twice_earns_nothing_and_is_flagged_with_evidence(
        server: Any, streamer: Any, photos: Any) -> None:
    c = await streamer(clip(photos["madonna"][1]))  # moved about, but it cannot turn its head
    await c.wait_message(lambda ms: any(m["type"] == "credit_voided" for m in ms))
    assert results(c.messages) == [False, False]  # the failed challenge and its retry
    challenges = [m for m in c.messages if m["type"] == "challenge"]
    assert len(challenges) == 2 and challenges[0]["challenge_id"] != challenges[1]["challenge_id"]
    void = next(m for m in c.messages if m["type"] == "credit_voided")
    assert void["reason"] == "liveness_failed" and "turn your head, not the laptop" in void["message"]
    await c.wait_for(lambda st: st[-1]["voided_seconds"] > 0)
    stored = await end(server, c)
    assert stored["credited_seconds"] == 0 and stored["provisional_seconds"] == 0 and stored["voided_seconds"] > 0
    assert "liveness_failed" in [f["kind"] for f in stored["flags"]]
    views = await server.app[SERVICES].review.list_flags("all")
    failed = [v for v in views if v.kind == "liveness_failed"]
    assert len(failed) == 1 and failed[0].has_snapshot  # the frame that failed the retry, for the proctor


async def test_a_frozen_frame_is_static_image_and_earns_nothing(server: Any, streamer: Any, photos: Any) -> None:
    frame = photo_to_frame(photos["madonna"][1])
    c = await streamer([frame])  # the same frame forever: a still played through a virtual camera
    await c.wait_for(lambda st: sum(1 for x in st if x["reason"] == "static_image") >= 3)
    stored = await end(server, c)
    assert stored["credited_seconds"] == 0
    assert "static_image" in [f["kind"] for f in stored["flags"]]


async def test_a_printed_card_turned_as_asked_fails_and_earns_nothing(server: Any, streamer: Any, photos: Any) -> None:
    """The attacker turns a printed photo 35° the asked way: the card skews, but the nose does not
    move against the eyes as a turning head's does."""
    photo = photos["madonna"][1]
    box: dict[str, StreamClient] = {}
    asked: list[str] = []

    def answer(challenge: dict[str, Any]) -> None:
        asked.append(challenge["action"])
        # Turning to one's own left turns the card's right edge away from the camera.
        degrees = 35.0 if challenge["action"] == "turn_left" else -35.0
        box["c"].track.show(clip(card(photo, degrees)))  # type: ignore[union-attr]

    c = await streamer(clip(photo), answer)
    box["c"] = c
    await c.wait_message(lambda ms: any(m["type"] == "credit_voided" for m in ms))
    assert len(asked) == 2 and results(c.messages) == [False, False]
    await c.wait_for(lambda st: st[-1]["voided_seconds"] > 0)
    stored = await end(server, c)
    assert stored["credited_seconds"] == 0 and stored["provisional_seconds"] == 0 and stored["voided_seconds"] > 0
    assert "liveness_failed" in [f["kind"] for f in stored["flags"]]
