"""Helpers the test modules share: settings for a throwaway server, an enrolled student, a login.

Plain functions with plain imports; fixtures live in conftest.py (and the plugins it names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.enroll import vectors_to_bytes
from proctor.passwords import hash_password
from server.config import Settings
from server.keys import SERVICES

INTERVAL = 1.0
PASSWORD = "correct horse battery"
REDIS_SECRET = "test-cluster-secret"  # verdicts between nodes and workers are signed with it


def settings_for(tmp_path: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {"db": f"sqlite:///{tmp_path / 'proctor.db'}", "sample_interval_s": INTERVAL,
                            "verify_timeout_s": 5.0, "max_wait_ms": 5, "demo": False,
                            # Liveness changes what is credited; its own tests turn it on.
                            "liveness": False, "liveness_static_check": False,
                            "content_dir": str(tmp_path / "content"), "demo_content": False,
                            "redis_secret": REDIS_SECRET,  # used only where a test sets redis_url
                            "drain_timeout_s": 0.0}  # test servers shut down at once; the drain has its own test
    return Settings(**{**base, **kw})


async def enroll_student(app: Any, srn: str, refs: np.ndarray, mobile: str | None = None) -> None:
    students = app[SERVICES].students
    uid = await students.add_student(srn, f"Student {srn}", mobile, hash_password(PASSWORD))
    for vec in vectors_to_bytes(refs):
        await students.add_reference(uid, b"photo", "facenet-msceleb-128", [vec], 128)
    await students.set_enrollment_status(uid, "approved")


async def login(client: Any, srn: str = "MAD001") -> str:
    resp = await client.post("/api/auth/login", json={"srn": srn, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["csrf_token"])


def topic(client: Any) -> str:
    return str(client.app[SERVICES].catalog.modules[0].topics[0].id)


async def session_json(client: Any, sid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/sessions/{sid}")
    assert resp.status == 200
    return dict(await resp.json())
