"""The real `proctor` processes: students add, serve, and a kill -9 that loses at most one interval."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bench.clients import StreamClient, moving_frames
from models.dataset import people
from models.frames import blank_frame, photo_to_frame

PROCTOR = str(Path(sys.executable).with_name("proctor"))
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_") or k == "PROCTOR_HOME"}
    env.update(PROCTOR_DB=f"sqlite:///{tmp_path / 'proctor.db'}", PROCTOR_SAMPLE_INTERVAL_S="1",
               PROCTOR_VERIFY_TIMEOUT_S="5", PROCTOR_DEMO="false", PROCTOR_DEVICE="cpu",
               PROCTOR_LIVENESS="false",  # a streamed photo cannot answer a head-turn challenge
               PROCTOR_CONTENT_DIR=str(tmp_path / "content"), PROCTOR_DEMO_CONTENT="false")
    return env


def add_student(tmp_path: Path, srn: str, photo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROCTOR, "students", "add", "--srn", srn, "--name", "Madonna", "--photo", str(photo),
                           "--password-stdin", "--json", *extra], input=PASSWORD + "\n", capture_output=True,
                          text=True, env=env_for(tmp_path), timeout=180, check=False)


def test_students_add_enrolls_or_explains(dataset_root: Path, tmp_path: Path) -> None:
    photo = people(dataset_root / "train")["madonna"][0]
    ok = add_student(tmp_path, "mad001", photo)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"id": 1, "srn": "MAD001", "name": "Madonna", "enrollment": "approved",
                                     "photos": 1}
    again = add_student(tmp_path, "MAD001", photo)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "MAD001" in again.stderr
    empty = tmp_path / "empty.png"
    Image.fromarray(blank_frame()).save(empty)
    bad = add_student(tmp_path, "NEW002", empty)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "proctor: error: photo 1: no face found; use a clear, front-facing photo")
    assert "Traceback" not in bad.stderr


class Server:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            PROCTOR, "serve", "--port", str(self.port), env=env_for(self.tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert self.proc.stdout is not None
        async with asyncio.timeout(120):  # the server says when it is listening
            while b"proctor is running at" not in (line := await self.proc.stdout.readline()):
                assert line, "server exited before it was ready"
        self._drain = asyncio.create_task(self._discard_output())

    async def _discard_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._drain

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
            await self._drain


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        await s.stop()


async def login(http: aiohttp.ClientSession, url: str) -> str:
    async with http.post(f"{url}/api/auth/login", json={"srn": "MAD001", "password": PASSWORD}) as resp:
        assert resp.status == 200
        return str((await resp.json())["csrf_token"])


async def test_kill_9_loses_at_most_the_interval_in_flight(dataset_root: Path, photos: Any, tmp_path: Path,
                                                           servers: list[Server]) -> None:
    photo = people(dataset_root / "train")["madonna"][0]
    assert (await asyncio.to_thread(add_student, tmp_path, "MAD001", photo)).returncode == 0
    first = Server(tmp_path)
    servers.append(first)
    await first.start()
    face = photos["madonna"][1]
    async with aiohttp.ClientSession(base_url=first.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        client = StreamClient(http, await login(http, first.url))
        try:
            await client.start(moving_frames(lambda s: photo_to_frame(face, shift=s)), "a-companies-act-2013")
            await client.wait_for(lambda st: bool(st) and st[-1]["credited_seconds"] >= 3)
            seen = client.statuses[-1]["credited_seconds"]
            await first.kill9()
        finally:
            await client.close()

    second = Server(tmp_path)
    servers.append(second)
    await second.start()
    async with aiohttp.ClientSession(base_url=second.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, second.url)
        async with http.get("/api/progress") as resp:
            modules = {m["id"]: m for m in (await resp.json())["modules"]}
        credited = modules["a-corporate-economic-laws"]["credited_seconds"]
        async with http.get(f"/api/sessions/{client.session_id}") as resp:
            session = await resp.json()
    assert seen <= credited <= seen + 1.0 + 1e-6  # everything shown survived; at most one interval more
    assert session["live"] is False and session["end_reason"] == "server_restart"


def test_audit_verify_names_the_first_tampered_row(dataset_root: Path, tmp_path: Path) -> None:
    import sqlite3

    photo = people(dataset_root / "train")["madonna"][0]
    assert add_student(tmp_path, "MAD001", photo).returncode == 0
    env = env_for(tmp_path)
    from proctor.audit import Audit  # record a few real rows through the domain

    async def record() -> None:
        from proctor.clock import SystemClock
        from proctor.db import Database

        db = Database.from_url(f"sqlite:///{tmp_path / 'proctor.db'}")
        try:
            audit = Audit(db, SystemClock())
            for i in range(3):
                await audit.record("login_ok", None, f"user:{i}", {"ip": "127.0.0.1"})
        finally:
            await db.aclose()

    asyncio.run(record())
    ok = subprocess.run([PROCTOR, "audit", "verify", "--json"], env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    with sqlite3.connect(tmp_path / "proctor.db") as conn:
        second = conn.execute("select id from audit_log order by id limit 1 offset 1").fetchone()[0]
        conn.execute("update audit_log set details = '{\"ip\":\"10.0.0.1\"}' where id = ?", (second,))
    bad = subprocess.run([PROCTOR, "audit", "verify"], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and f"row {second}" in bad.stderr
