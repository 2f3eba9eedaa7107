"""Settings: defaults, TOML, environment and flags, in that order; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, Settings, load_settings


def test_defaults_are_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_HOME", str(tmp_path))
    s = load_settings(env={})
    assert (s.host, s.port, s.sample_interval_s, s.max_gap_s, s.flag_after) == ("127.0.0.1", 8080, 3.0, 7.5, 3)
    assert s.db_url() == f"sqlite:///{tmp_path / 'proctor.db'}"


def test_toml_then_env_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('[server]\nport = 9000\nsample_interval_s = 5\nice_servers = [{urls = "stun:x:3478"}]\n')
    s = load_settings(cfg, env={"PROCTOR_PORT": "9100", "PROCTOR_DEMO": "false"}, host="0.0.0.0")
    assert (s.port, s.sample_interval_s, s.demo, s.host) == (9100, 5.0, False, "0.0.0.0")
    assert s.ice_servers == [{"urls": "stun:x:3478"}]
    assert load_settings(cfg, env={}, port=9200).port == 9200


@pytest.mark.parametrize(
    ("toml", "env", "needle"),
    [
        ("colour = 'blue'", {}, "unknown setting 'colour'"),
        ("port = [", {}, "p.toml"),
        ("", {"PROCTOR_PORT": "eighty"}, "PROCTOR_PORT"),
        ("", {"PROCTOR_DEMO": "maybe"}, "PROCTOR_DEMO"),
        ("", {"PROCTOR_ICE_SERVERS": "{}"}, "PROCTOR_ICE_SERVERS"),
        ("sample_interval_s = 0", {}, "sample_interval_s"),
        ("certfile = 'x.pem'", {}, "certfile and keyfile"),
    ],
)
def test_bad_settings_are_refused_with_their_source(tmp_path: Path, toml: str, env: dict[str, str],
                                                    needle: str) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg, env=env)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(Path("/nonexistent/proctor.toml"), env={})


def test_https_needs_both_files() -> None:
    assert Settings(certfile="c", keyfile="k").validate().https


def test_client_ip_trusts_forwarded_headers_only_from_configured_proxies() -> None:
    from unittest import mock

    from aiohttp.test_utils import make_mocked_request

    from server.http import client_ip, forwarded_https

    def req(peer: str, xff: str = "", proto: str = "") -> object:
        headers = {k: v for k, v in (("X-Forwarded-For", xff), ("X-Forwarded-Proto", proto)) if v}
        transport = mock.Mock()
        transport.get_extra_info.side_effect = (
            lambda name, default=None: (peer, 1234) if name == "peername" else default)
        return make_mocked_request("POST", "/api/auth/login", headers=headers, transport=transport)

    proxies = ["10.0.0.5"]
    # Straight from a client: its own address, whatever it claims.
    assert client_ip(req("203.0.113.7", "198.51.100.1"), proxies) == "203.0.113.7"  # type: ignore[arg-type]
    # Through our proxy: the nearest untrusted hop; a forged left-most entry is ignored.
    assert client_ip(req("10.0.0.5", "1.2.3.4, 198.51.100.9"), proxies) == "198.51.100.9"  # type: ignore[arg-type]
    assert client_ip(req("10.0.0.5"), proxies) == "10.0.0.5"  # type: ignore[arg-type]
    assert forwarded_https(req("10.0.0.5", proto="https"), proxies)  # type: ignore[arg-type]
    assert not forwarded_https(req("203.0.113.7", proto="https"), proxies)  # type: ignore[arg-type]


def test_serve_takes_redis_url_and_node_id_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli.parser import build_parser
    from server.cli.serve import serve_settings

    for name in ("PROCTOR_REDIS_URL", "PROCTOR_NODE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROCTOR_REDIS_SECRET", "s3cret")  # a node with Redis must have the signing secret
    args = build_parser().parse_args(["serve", "--db", f"sqlite:///{tmp_path / 'p.db'}",
                                      "--redis-url", "redis://10.0.0.5:6379/1", "--node-id", "node-a"])
    s = serve_settings(args)
    assert (s.redis_url, s.node_id) == ("redis://10.0.0.5:6379/1", "node-a")
    monkeypatch.setenv("PROCTOR_REDIS_URL", "redis://from-env:6379/0")
    assert serve_settings(build_parser().parse_args(["serve"])).redis_url == "redis://from-env:6379/0"
