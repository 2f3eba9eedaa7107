"""Settings: embedded defaults, overridden by a TOML file, then `PROCTOR_*` variables, then flags.

Every field is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from models.backends import CHOICES as BACKEND_CHOICES
from models.paths import proctor_home
from proctor.liveness import DEFAULT_MIN_TURN
from proctor.study import time_zone


class ConfigError(ValueError):
    """A setting that cannot be used, named with its source."""


@dataclass(frozen=True)
class Settings:
    """Everything the server reads at start-up."""

    host: str = "127.0.0.1"
    port: int = 8080
    db: str = ""  # database URL; "" = sqlite file under PROCTOR_HOME
    certfile: str = ""  # TLS certificate (PEM); with keyfile, serve https
    keyfile: str = ""
    catalog: str = ""  # modules/topics TOML; "" = the packaged SPOM-like default
    model: str = "facenet-msceleb-128"  # weights registry name
    device: str = ""  # "" = automatic (CUDA if present), or cpu / cuda / cuda:N
    backend: str = "auto"  # inference backend: auto (ONNX Runtime where it runs), torch or onnxruntime
    min_face_px: float = 32.0  # smallest face the detector looks for, in a 640×480 frame (scales with the frame)
    sample_interval_s: float = 3.0  # how often a live stream is verified
    max_gap_factor: float = 2.5  # max_gap_s = factor × interval: longer gaps are never credited
    flag_after: int = 3  # consecutive failed samples before a flag is raised
    verify_timeout_s: float = 2.5  # a verdict later than this counts as verifier_unavailable
    max_batch_size: int = 16  # dynamic batcher: flush at this many frames…
    max_wait_ms: float = 20.0  # …or when the oldest waited this long
    ice_servers: list[dict[str, Any]] = field(default_factory=list)  # RTCIceServer dicts (STUN/TURN)
    turn_secret: str = ""  # TURN REST shared secret: short-lived TURN credentials instead of the static one
    turn_ttl_s: float = 3600.0  # how long such a credential is valid
    demo: bool = True  # first run creates a demo student; webcam enrollments are auto-approved
    max_body_bytes: int = 1024 * 1024  # larger request bodies get 413
    max_viewers_per_student: int = 3  # proctors watching one student's live video at once
    drain_timeout_s: float = 10.0  # on shutdown, how long pages get to reconnect elsewhere; 0 = end at once
    snapshot_retention_days: float = 7.0  # flag evidence is deleted after this
    trusted_proxies: list[str] = field(default_factory=list)  # reverse proxies whose X-Forwarded-* we believe
    redis_url: str = ""  # scale-out: jobs to GPU workers over Redis Streams, events shared between nodes
    node_id: str = ""  # this media node's name in the cluster; "" = hostname-pid
    # Liveness (docs/liveness.md): head-turn challenges, provisional credit, passive checks.
    liveness: bool = True
    liveness_interval_s: float = 300.0  # mean time between challenges after the first
    liveness_timeout_s: float = 6.0  # how long the student has to turn
    liveness_min_turn: float = DEFAULT_MIN_TURN  # yaw-ratio change that counts as a turn (proctor eval liveness)
    liveness_static_check: bool = True  # a frozen face region earns nothing (static_image)
    liveness_virtual_camera_check: bool = True  # a virtual camera's label raises an informational flag
    # Study (lessons, electives, history)
    content_dir: str = ""  # the installed content pack; "" = PROCTOR_HOME/content
    demo_content: bool = True  # `proctor serve` generates the demo pack when no pack is installed
    activity_stale_s: float = 20.0  # lesson mode: a "playing" report vouches for this long
    time_zone: str = "Asia/Kolkata"  # the students' time zone: history's days
    code_requests_per_ip: int = 10  # "send me a code" requests one address (IPv6: one /64) may make…
    code_request_window_s: float = 3600.0  # …within this sliding window
    enroll_decode_workers: int = 2  # threads that decode enrollment photos, apart from the inference thread
    enroll_max_decoded_mb: int = 48  # a photo that would decode to more memory than this is refused unread
    enrollments_per_student: int = 5  # enrollment posts one student may make…
    enrollment_window_s: float = 3600.0  # …within this sliding window
    offers_per_student: int = 20  # WebRTC offers (stream starts) one student may make…
    offer_window_s: float = 300.0  # …within this sliding window
    stream_connect_timeout_s: float = 30.0  # a stream with no video frame by then ends (never_connected)
    control_messages_per_s: float = 2.0  # writes a page's control channel may cause per second, on average…
    control_burst: int = 10  # …and at once
    max_pending_control_writes: int = 4  # control-channel writes in flight per stream
    export_max_days: int = 366  # the longest date range one export.csv may span
    allowed_origins: list[str] = field(default_factory=list)  # other origins whose pages may open our WebSockets
    redis_secret: str = ""  # shared with the workers: verdicts are HMAC-signed with it; required with redis_url
    # SPMT (module tests) and payments
    spmt_late_entry_min: float = 15.0  # booking and starting stay open this long after a slot starts
    spmt_cancel_cutoff_min: float = 60.0  # cancel or reschedule only until this long before the start
    spmt_payment_hold_min: float = 15.0  # an unpaid booking keeps its seat this long
    spmt_questions: int = 20  # questions drawn per test (fewer if the bank is smaller)
    spmt_demo_bank: bool = True  # install the packaged demo questions for modules with an empty bank
    payment_provider: str = "test"  # test (no money moves; test-pay confirms) or razorpay
    razorpay_key_id: str = ""
    razorpay_key_secret: str = ""
    razorpay_api_url: str = "https://api.razorpay.com/v1"  # orders and refunds go here
    payment_webhook_secret: str = ""  # HMAC-SHA256 key of the gateway's webhooks; "" refuses them all
    payment_webhook_tolerance_s: float = 300.0  # older (or future) webhook events are refused as stale

    @property
    def max_gap_s(self) -> float:
        return self.max_gap_factor * self.sample_interval_s

    @property
    def https(self) -> bool:
        return bool(self.certfile and self.keyfile)

    def content_path(self) -> Path:
        return Path(self.content_dir).expanduser() if self.content_dir else proctor_home() / "content"

    def db_url(self) -> str:
        return self.db or f"sqlite:///{proctor_home() / 'proctor.db'}"

    def validate(self) -> Settings:
        if not 0.2 <= self.sample_interval_s <= 600:
            raise ConfigError("sample_interval_s must be between 0.2 and 600")
        if self.max_gap_factor < 1:
            raise ConfigError("max_gap_factor must be at least 1")
        if self.flag_after < 1 or self.max_batch_size < 1 or self.max_wait_ms < 0:
            raise ConfigError("flag_after and max_batch_size must be ≥ 1, max_wait_ms ≥ 0")
        if not 0 < self.verify_timeout_s:
            raise ConfigError("verify_timeout_s must be positive")
        if not (self.liveness_interval_s >= 10 and self.liveness_timeout_s >= 1 and 0 < self.liveness_min_turn < 2):
            raise ConfigError("liveness_interval_s must be ≥ 10, liveness_timeout_s ≥ 1, 0 < liveness_min_turn < 2")
        if bool(self.certfile) != bool(self.keyfile):
            raise ConfigError("certfile and keyfile go together")
        if self.backend not in BACKEND_CHOICES:
            raise ConfigError(f"backend {self.backend!r} is unknown (use {', '.join(BACKEND_CHOICES)})")
        if not 12 <= self.min_face_px <= 480:
            raise ConfigError("min_face_px must be between 12 and 480")
        if not 0 < self.activity_stale_s <= 3600:
            raise ConfigError("activity_stale_s must be between 0 and 3600")
        try:
            time_zone(self.time_zone)
        except ValueError as exc:
            raise ConfigError(f"time_zone: {exc}") from None
        if self.code_requests_per_ip < 1 or self.code_request_window_s <= 0:
            raise ConfigError("code_requests_per_ip must be ≥ 1 and code_request_window_s positive")
        if min(self.enroll_decode_workers, self.enroll_max_decoded_mb, self.enrollments_per_student,
               self.offers_per_student) < 1 or min(self.enrollment_window_s, self.offer_window_s) <= 0:
            raise ConfigError("enrollment and offer limits must be ≥ 1, their windows positive")
        if (self.stream_connect_timeout_s <= 0 or self.control_messages_per_s <= 0 or self.control_burst < 1
                or self.max_pending_control_writes < 1):
            raise ConfigError("stream_connect_timeout_s and control_messages_per_s must be positive, "
                              "control_burst and max_pending_control_writes ≥ 1")
        if self.export_max_days < 1:
            raise ConfigError("export_max_days must be at least 1")
        if self.drain_timeout_s < 0:
            raise ConfigError("drain_timeout_s must not be negative")
        if self.turn_ttl_s <= 0:
            raise ConfigError("turn_ttl_s must be positive")
        if self.redis_url and not self.redis_secret:
            raise ConfigError("redis_secret is required when redis_url is set (workers sign verdicts with it)")
        if self.spmt_late_entry_min < 0 or self.spmt_cancel_cutoff_min < 0 or self.spmt_payment_hold_min <= 0:
            raise ConfigError("spmt_late_entry_min and spmt_cancel_cutoff_min must be ≥ 0, spmt_payment_hold_min > 0")
        if not 1 <= self.spmt_questions <= 500:
            raise ConfigError("spmt_questions must be between 1 and 500")
        if self.payment_provider not in ("test", "razorpay"):
            raise ConfigError("payment_provider must be test or razorpay")
        if self.payment_provider == "razorpay" and not (
                self.razorpay_key_id and self.razorpay_key_secret and self.payment_webhook_secret):
            raise ConfigError("payment_provider razorpay needs razorpay_key_id, razorpay_key_secret and "
                              "payment_webhook_secret")
        if self.payment_webhook_tolerance_s <= 0:
            raise ConfigError("payment_webhook_tolerance_s must be positive")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range")
        return self


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = type(getattr(Settings(), name))
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return value.lower() in ("1", "true", "yes", "on")
        if kind is list and isinstance(value, str):
            parsed = json.loads(value)
            if not isinstance(parsed, list):
                raise ValueError("expected a JSON list")
            return parsed
        if kind in (int, float, str, bool) and not isinstance(value, kind | (int if kind is float else kind)):
            return kind(value)
        return value
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{source}: {name} = {value!r} is not a valid {kind.__name__}") from exc


def load_settings(config_file: Path | None = None, env: dict[str, str] | None = None,
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{config_file}: no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: {exc}") from exc
        section = data.get("server", data)
        for key, value in section.items():
            if key not in _FIELDS:
                raise ConfigError(f"{config_file}: unknown setting {key!r}")
            values[key] = _coerce(key, value, str(config_file))
    env = dict(os.environ) if env is None else env
    for name in _FIELDS:
        raw = env.get(f"PROCTOR_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, f"PROCTOR_{name.upper()}")
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    return replace(Settings(), **values).validate()
