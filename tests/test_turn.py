"""The TURN credential is not public: ICE servers only for signed-in users, and with `turn_secret`
short-lived TURN REST credentials that a TURN server (coturn `use-auth-secret`) can check."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import numpy as np

from proctor.clock import FakeClock
from server.app import create_app
from server.turn import ice_servers_for

from .helpers import enroll_student, login, settings_for

STUN = {"urls": ["stun:stun.example.org:3478"]}
TURN = {"urls": ["turn:turn.example.org:3478?transport=udp"], "username": "proctor", "credential": "static"}
NOW = 1_800_000_000.0


async def _client(aiohttp_client: Any, engine: Any, tmp_path: Path, **kw: Any) -> Any:
    settings = settings_for(tmp_path, ice_servers=[STUN, TURN], **kw)
    app = create_app(settings, clock=FakeClock(NOW), engine_factory=lambda s: engine)
    client = await aiohttp_client(app)
    await enroll_student(app, "MAD001", np.ones((1, 128), np.float32))
    return client


async def test_ice_servers_only_for_signed_in_users(aiohttp_client: Any, engine: Any, tmp_path: Path) -> None:
    client = await _client(aiohttp_client, engine, tmp_path)
    anonymous = await (await client.get("/api/config")).json()
    assert anonymous["ice_servers"] == [] and anonymous["password_policy"]  # the login page still works
    await login(client)
    signed_in = await (await client.get("/api/config")).json()
    assert signed_in["ice_servers"] == [STUN, TURN]  # no turn_secret: the static entries, as configured


async def test_turn_rest_credentials_are_short_lived_hmacs(aiohttp_client: Any, engine: Any, tmp_path: Path) -> None:
    client = await _client(aiohttp_client, engine, tmp_path, turn_secret="shared-with-coturn", turn_ttl_s=600.0)
    await login(client)
    stun, turn = (await (await client.get("/api/config")).json())["ice_servers"]
    assert stun == STUN  # no credential for STUN
    expiry, who = turn["username"].split(":")
    assert int(expiry) == int(NOW + 600) and who.isdigit()
    expected = base64.b64encode(hmac.new(b"shared-with-coturn", turn["username"].encode(), hashlib.sha1).digest())
    assert turn["credential"] == expected.decode() != "static"
    assert turn["urls"] == TURN["urls"]


def test_every_turn_entry_gets_its_own_credential(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, ice_servers=[STUN, TURN, {"urls": "turns:turn.example.org:5349"}],
                            turn_secret="s", turn_ttl_s=60.0)
    servers = ice_servers_for(settings, "node", NOW)
    assert "username" not in servers[0]
    assert servers[1]["username"] == servers[2]["username"] == f"{int(NOW + 60)}:node"
    assert settings.ice_servers[1]["credential"] == "static"  # the settings are not changed
