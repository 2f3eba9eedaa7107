"""Hardening of webcam enrollment (issue 10), over HTTP against a real server with the real engine:
decompression bombs refused from the header on the decode pool, a per-student limit, and an
approval that pins the photos the proctor saw."""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import server.verify.local as local_verifier
from models.frames import photo_to_frame
from models.images import ImageError, decode_image
from proctor.passwords import hash_password
from proctor.students import EnrollmentChanged, EnrollmentLocked, Students
from server.app import create_app
from server.keys import SERVICES

from .databases import OpenDb
from .helpers import PASSWORD, login, settings_for


def data_url(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def bomb_png() -> bytes:
    """8000×8000 16-bit grayscale: 124 KB of PNG, 122 MiB decoded (and far more on the way to RGB)."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8000, 8000), dtype=np.uint16)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
async def rig(aiohttp_client: Any, engine: Any, tmp_path: Path) -> Any:
    app = create_app(settings_for(tmp_path, enrollments_per_student=3), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    students = app[SERVICES].students
    await students.add_student("NEW001", "New Student", None, hash_password(PASSWORD))
    await students.add_staff("pat", "Pat", "proctor", hash_password(PASSWORD))
    client.csrf = await login(client, "NEW001")
    return client


async def enroll(client: Any, photos: list[str]) -> Any:
    return await client.post("/api/enrollment", headers={"X-CSRF-Token": client.csrf}, json={"photos": photos})


def test_a_16_bit_bomb_is_refused_from_its_header() -> None:
    data = bomb_png()
    assert len(data) < 200_000
    with pytest.raises(ImageError, match="MiB to decode"):
        decode_image(data)


async def test_enrollment_refuses_a_bomb_on_the_decode_pool_and_is_limited_per_student(
        rig: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    decode = local_verifier.decode_photos

    def watched(photos: list[bytes], max_decoded_bytes: int) -> Any:
        threads.append(threading.current_thread().name)
        return decode(photos, max_decoded_bytes)

    monkeypatch.setattr(local_verifier, "decode_photos", watched)
    bomb = "data:image/png;base64," + base64.b64encode(bomb_png()).decode()
    resp = await enroll(rig, [bomb])
    assert resp.status == 422, await resp.text()
    body = (await resp.json())["error"]
    assert body["code"] == "bad_photo" and "MiB to decode" in body["message"]
    # Decoded on the decode pool, not on the inference thread every live verification needs.
    assert threads and all(t.startswith("decode") for t in threads)
    assert [(await enroll(rig, [bomb])).status for _ in range(3)] == [422, 422, 429]  # 3 per student


async def test_approval_pins_the_photos_the_proctor_saw(rig: Any, aiohttp_client: Any, photos: Any) -> None:
    face = photos["mindy_kaling"]
    assert (await enroll(rig, [data_url(photo_to_frame(face[0]))])).status == 200
    proctor = await aiohttp_client(rig.server)
    h = {"X-CSRF-Token": await login_staff(proctor)}

    async def pending_ids() -> list[int]:
        listed = (await (await proctor.get("/api/proctor/enrollments")).json())["enrollments"]
        return [p["id"] for e in listed for p in e["photos"]]

    seen = await pending_ids()
    assert len(seen) == 1
    # The student (or a stand-in at their keyboard) posts again while it is pending: a replacement.
    assert (await enroll(rig, [data_url(photo_to_frame(face[1]))])).status == 200
    now = await pending_ids()
    assert len(now) == 1 and now != seen
    stale = await proctor.post(f"/api/proctor/enrollments/{await user_id(rig)}", headers=h,
                               json={"action": "approve", "photo_ids": seen})
    assert stale.status == 409 and (await stale.json())["error"]["code"] == "enrollment_changed"
    missing = await proctor.post(f"/api/proctor/enrollments/{await user_id(rig)}", headers=h,
                                 json={"action": "approve"})
    assert missing.status == 400
    ok = await proctor.post(f"/api/proctor/enrollments/{await user_id(rig)}", headers=h,
                            json={"action": "approve", "photo_ids": now})
    assert ok.status == 200 and (await ok.json())["enrollment"] == "approved"
    students = rig.app[SERVICES].students
    uid = await user_id(rig)
    assert len(await students.references(uid, "facenet-msceleb-128")) == 1
    # After approval nothing is appended without a new approval: not over HTTP, not in the domain.
    assert (await enroll(rig, [data_url(photo_to_frame(face[2]))])).status == 409
    with pytest.raises(EnrollmentLocked):
        await students.add_reference(uid, b"stand-in", "facenet-msceleb-128", [b"\0" * 512], 128)
    assert len(await students.references(uid, "facenet-msceleb-128")) == 1


async def login_staff(client: Any) -> str:
    resp = await client.post("/api/auth/login", json={"username": "pat", "password": PASSWORD})
    assert resp.status == 200
    return str((await resp.json())["csrf_token"])


async def user_id(client: Any) -> int:
    user = await client.app[SERVICES].students.get_by_srn("NEW001")
    assert user is not None
    return int(user.id)


async def test_photo_ids_are_never_reused_after_a_rejection(open_db: OpenDb) -> None:
    """SQLite would give max(id) + 1: the rejected photos' ids would pass to the next photos, and a
    stale approval naming them would approve photos no proctor saw."""
    db = await open_db()
    students = Students(db)
    uid = await students.add_student("REJ001", "Asha", None, None)
    staff = await students.add_staff("pat2", "Pat", "proctor", "not-a-login")
    vec = [b"\0" * 512]
    seen = await students.replace_pending_references(uid, [(b"photo-1", vec)], "m", 128, "pending")
    assert await students.reject_enrollment(uid, actor=staff) == 1
    again = await students.replace_pending_references(uid, [(b"photo-2", vec)], "m", 128, "pending")
    assert min(again) > max(seen)
    with pytest.raises(EnrollmentChanged):
        await students.approve_enrollment(uid, seen, actor=staff)  # what the proctor saw is gone
    await students.approve_enrollment(uid, again, actor=staff)
    # Another student's photo also gets a fresh id, after every id handed out so far.
    other = await students.add_student("REJ002", "Ravi", None, None)
    assert await students.add_reference(other, b"photo-3", "m", vec, 128) > max(again)
