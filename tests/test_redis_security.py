"""Redis that is not trusted blindly: a worker and a media node over TLS (`rediss://`), logged in as
an ACL user, against a real redis-server that refuses anyone else."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError

from bench.redis_server import RedisServer, free_port
from models.engine import Engine
from models.frames import photo_to_frame
from models.worker import Worker, WorkerConfig, redis_client
from proctor.credit import Reason
from server.config import ConfigError, load_settings
from server.verify.remote import RedisVerifier

from .helpers import REDIS_SECRET

PASSWORD = "acl-user-password"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "redis.crt", tmp / "redis.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """redis-server with the default user off, one ACL user `proctor` limited to proctor:* keys, and TLS."""
    cert, key = _self_signed(tmp_path)
    tls_port = free_port()
    server = RedisServer(tmp_path, args=(
        "--user", "default", "off",
        "--user", "proctor", "on", f">{PASSWORD}", "~proctor:*", "&proctor:*", "+@all", "-@dangerous",
        "--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"))
    await asyncio.to_thread(server.start)
    try:
        yield f"rediss://proctor:{PASSWORD}@127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}", server.port
    finally:
        await asyncio.to_thread(server.stop)


async def test_node_and_worker_verify_over_tls_as_an_acl_user(secured: tuple[str, int], engine: Engine,
                                                              photos: Any, references: Any) -> None:
    url, plain_port = secured
    anonymous = aioredis.Redis(host="127.0.0.1", port=plain_port)
    try:
        with pytest.raises((AuthenticationError, ResponseError, ConnectionError)):
            await anonymous.xlen("proctor:jobs")  # the default user is off: no login, no access
    finally:
        await anonymous.aclose()
    node = RedisVerifier(url, secret=REDIS_SECRET, model_name=engine.model_name, dim=engine.spec.dim)
    worker = Worker(engine, engine.model_name, engine.spec.dim, redis_client(url), WorkerConfig(consumer="w1"),
                    secret=REDIS_SECRET)
    await node.start()
    await worker.start()
    try:
        owner = await node.verify(photo_to_frame(photos["madonna"][0]), references["madonna"], 30.0,
                                  student_id="MAD001")
        assert owner.reason is Reason.OK
        await worker.wait_until(lambda st: st.verdicts >= 1, 10)  # counted just after the node sees it
    finally:
        await worker.aclose()
        await node.aclose()


def test_redis_needs_the_shared_secret() -> None:
    with pytest.raises(ConfigError, match="redis_secret"):
        load_settings(env={"PROCTOR_REDIS_URL": "redis://127.0.0.1:6379/0"})
    settings = load_settings(env={"PROCTOR_REDIS_URL": "redis://127.0.0.1:6379/0", "PROCTOR_REDIS_SECRET": "s"})
    assert settings.redis_secret == "s"
    with pytest.raises(ValueError, match="redis_secret"):
        RedisVerifier("redis://127.0.0.1:1/0", secret="", model_name="m", dim=4)


def test_a_worker_without_the_secret_exits_2_with_one_line() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PROCTOR_REDIS_SECRET"}
    done = subprocess.run([sys.executable, "-m", "server.cli", "worker", "--redis-url", "redis://127.0.0.1:1/0"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "PROCTOR_REDIS_SECRET" in lines[0]
