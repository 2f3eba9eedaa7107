"""schemathesis against the running server: no 5xx, every status and body as the spec says."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from proctor.passwords import hash_password
from server.app import create_app
from server.keys import SERVICES

from .helpers import PASSWORD, enroll_student, settings_for

ST = str(Path(sys.executable).with_name("st"))


# Every operation is fuzzed, the study routes (lessons, electives, history) included: a loaded machine needs longer.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("who", ["student", "proctor"])
async def test_schemathesis_finds_no_server_error_or_schema_violation(engine: Any, references: Any,
                                                                     tmp_path: Path, who: str) -> None:
    app = create_app(settings_for(tmp_path), engine_factory=lambda s: engine)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        await enroll_student(app, "MAD001", references["madonna"])
        await app[SERVICES].students.add_staff("pat", "Pat", "proctor", hash_password(PASSWORD))
        import aiohttp

        login = {"srn": "MAD001"} if who == "student" else {"username": "pat"}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"http://127.0.0.1:{port}/api/auth/login",
                                 json={**login, "password": PASSWORD}) as resp:
                csrf = (await resp.json())["csrf_token"]
                cookie = resp.cookies["proctor_session"].value
        proc = await asyncio.create_subprocess_exec(
            ST, "run", f"http://127.0.0.1:{port}/api/openapi.json",
            "-H", f"Cookie: proctor_session={cookie}", "-H", f"X-CSRF-Token: {csrf}",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                        "response_schema_conformance",
            "--exclude-path", "/api/auth/logout",  # would end the login the other operations use
            "--phases", "examples,coverage,fuzzing", "--max-examples", "25", "-w", "1", "--seed", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
    finally:
        await runner.cleanup()
    text = out.decode()
    assert proc.returncode == 0, text[-4000:]
    summary = text.split("SUMMARY")[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ (failed|errored)", summary), summary
