"""The Redis wire format between media nodes and verification workers.

Media nodes XADD one *job* per sample to the shared stream `proctor:jobs`; workers read it through
the consumer group `workers` and XADD one *verdict* to the job's reply stream
`proctor:verdicts:<node_id>`. Every field is a flat bytes value (a stream entry is a flat hash).

Job fields (wire version "1"):
    v           "1"
    job         job id (hex); the verdict echoes it so the node can resolve the right waiter
    session     live session id (logs, metrics)
    student     student id; with `model` and `refs` it names the cached reference embeddings
    model       registry model name the references were made with
    refs        reference version (a content hash of the vectors: re-enrollment changes it)
    deadline    epoch seconds (float); past it the node has already failed the sample closed
    reply       the node's verdict stream; always `proctor:verdicts:<node_id>` (workers refuse any
                other key, so a job cannot make a worker write to or expire an arbitrary key)
    frame       JPEG (quality 85) of the RGB frame, at most 640 px wide

Reference hash `proctor:refs:<model>:<student>`: field `version` (= the job's `refs`) and field
`vectors` (little-endian float32, k × dim). Workers cache it by (student, model, version).

Verdict fields:
    sig         hex HMAC-SHA256, under the cluster's shared secret, of every other verdict field
                (job id, reason, match, faces, score, boxes, error): a process that can write to
                Redis but lacks the secret cannot forge a verdict, and a node drops unsigned ones
    job         the job id
    reason      ok | no_face | multiple_faces | mismatch | low_quality, or "" when `error` is set
    match       "1" | "0"
    faces       int
    score       float, or "" for none
    boxes       JSON [[x1, y1, x2, y2, prob, (lx1, ly1, … lx5, ly5)], ...] in the *sent* frame's pixels;
                the ten landmark coordinates are optional (older workers send five numbers)
    error       "" or a short code (refs_missing, wrong_model, bad_job, engine_error): fail closed

This module is pure (no Redis client): encoding and decoding only, so both sides and the tests agree.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .detector import FaceBox
from .embedder import Embeddings
from .engine import Verdict
from .images import RGBImage, decode_image

WIRE_VERSION = b"1"
JOBS_STREAM = "proctor:jobs"
GROUP = "workers"
STREAM_MAXLEN = 10_000  # approximate (MAXLEN ~): trimming whole radix nodes is cheap
MAX_WIDTH = 640  # the detector downscales anyway; a smaller frame keeps Redis memory and network low
JPEG_QUALITY = 85

# Error codes a worker may answer instead of a verdict; the node fails the sample closed on any.
REFS_MISSING = "refs_missing"
WRONG_MODEL = "wrong_model"
BAD_JOB = "bad_job"
ENGINE_ERROR = "engine_error"

Fields = dict[bytes, bytes]


class JobError(ValueError):
    """A stream entry that is not a well-formed job or verdict."""


REPLY_PREFIX = "proctor:verdicts:"
_SIGNED = (b"job", b"reason", b"match", b"faces", b"score", b"boxes", b"error")


def reply_stream(node_id: str) -> str:
    return f"{REPLY_PREFIX}{node_id}"


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the Redis shared secret (redis_secret) must not be empty")
    return key


def sign_fields(secret: str | bytes, fields: dict[bytes, bytes]) -> bytes:
    """Hex HMAC-SHA256 of the verdict's fields, each length-prefixed so no two verdicts collide."""
    mac = hmac.new(_key(secret), digestmod=hashlib.sha256)
    for name in _SIGNED:
        value = fields.get(name, b"")
        mac.update(len(value).to_bytes(4, "big") + value)
    return mac.hexdigest().encode()


def refs_key(model: str, student_id: str) -> str:
    return f"proctor:refs:{model}:{student_id}"


def refs_version(references: Embeddings) -> str:
    """A content hash: equal vectors share a version, and any re-enrollment yields a new one."""
    data = np.ascontiguousarray(references, dtype="<f4").tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def refs_to_fields(references: Embeddings) -> dict[str, bytes]:
    return {"version": refs_version(references).encode(),
            "vectors": np.ascontiguousarray(references, dtype="<f4").tobytes()}


def refs_from_fields(fields: Fields, dim: int) -> tuple[str, Embeddings]:
    """(version, (k, dim) float32) from the reference hash; JobError if it is malformed."""
    try:
        version = fields[b"version"].decode()
        flat = np.frombuffer(fields[b"vectors"], dtype="<f4")
    except (KeyError, UnicodeDecodeError, ValueError) as exc:
        raise JobError(f"malformed reference hash: {exc}") from exc
    if flat.size == 0 or flat.size % dim:
        raise JobError(f"reference vectors of {flat.size} floats do not fit dim {dim}")
    return version, flat.reshape(-1, dim).astype(np.float32)


def encode_frame(frame: RGBImage) -> tuple[bytes, float]:
    """JPEG bytes of the frame at most MAX_WIDTH wide, and the factor sent/original for the boxes."""
    img = Image.fromarray(np.ascontiguousarray(frame))
    scale = 1.0
    if img.width > MAX_WIDTH:
        scale = MAX_WIDTH / img.width
        img = img.resize((MAX_WIDTH, max(16, round(img.height * scale))), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), scale


@dataclass(frozen=True)
class Job:
    job_id: str
    session_id: str
    student_id: str
    model: str
    refs_version: str
    deadline: float  # epoch seconds
    reply: str
    frame_jpeg: bytes

    def to_fields(self) -> dict[str, bytes]:
        return {"v": WIRE_VERSION, "job": self.job_id.encode(), "session": self.session_id.encode(),
                "student": self.student_id.encode(), "model": self.model.encode(),
                "refs": self.refs_version.encode(), "deadline": repr(self.deadline).encode(),
                "reply": self.reply.encode(), "frame": self.frame_jpeg}

    @classmethod
    def from_fields(cls, fields: Fields) -> Job:
        try:
            if fields[b"v"] != WIRE_VERSION:
                raise JobError(f"unsupported job wire version {fields[b'v']!r}")
            return cls(job_id=fields[b"job"].decode(), session_id=fields[b"session"].decode(),
                       student_id=fields[b"student"].decode(), model=fields[b"model"].decode(),
                       refs_version=fields[b"refs"].decode(), deadline=float(fields[b"deadline"]),
                       reply=_reply(fields[b"reply"].decode()), frame_jpeg=fields[b"frame"])
        except (KeyError, UnicodeDecodeError, ValueError) as exc:
            if isinstance(exc, JobError):
                raise
            raise JobError(f"malformed job: {exc!r}") from exc

    def decode_frame(self) -> RGBImage:
        return decode_image(self.frame_jpeg, max_side=MAX_WIDTH)


def _reply(key: str) -> str:
    suffix = key.removeprefix(REPLY_PREFIX)
    if suffix == key or not suffix or any(c in suffix for c in "*?[]{} \r\n"):
        raise JobError(f"reply stream {key[:80]!r} is not a {REPLY_PREFIX}<node> stream")
    return key


def deadline_of(fields: Fields) -> float | None:
    """The deadline alone, so an expired job is dropped without decoding its JPEG."""
    try:
        return float(fields[b"deadline"])
    except (KeyError, ValueError):
        return None


def verdict_fields(job_id: str, verdict: Verdict | None, error: str = "", *, secret: str | bytes) -> dict[str, bytes]:
    """The verdict's stream fields, signed with the cluster's shared secret."""
    out: dict[str, bytes]
    if verdict is None:
        out = {"job": job_id.encode(), "reason": b"", "match": b"0", "faces": b"0", "score": b"",
               "boxes": b"[]", "error": (error or ENGINE_ERROR).encode()}
    else:
        boxes = [[*(round(v, 2) for v in b.box), round(b.prob, 4), *(round(c, 2) for p in b.landmarks for c in p)]
                 for b in verdict.boxes]
        score = b"" if verdict.score is None else repr(verdict.score).encode()
        out = {"job": job_id.encode(), "reason": verdict.reason.encode(), "match": b"1" if verdict.match else b"0",
               "faces": str(verdict.faces).encode(), "score": score, "boxes": json.dumps(boxes).encode(),
               "error": b""}
    out["sig"] = sign_fields(secret, {k.encode(): v for k, v in out.items()})
    return out


@dataclass(frozen=True)
class WireVerdict:
    job_id: str
    verdict: Verdict | None  # None when the worker answered an error
    error: str


def verdict_from_fields(fields: Fields, scale: float = 1.0, *, secret: str | bytes) -> WireVerdict:
    """Decode a verdict whose signature holds; `scale` (sent/original) maps the boxes back to the
    original frame. JobError for a malformed, unsigned or forged verdict."""
    if not hmac.compare_digest(fields.get(b"sig", b""), sign_fields(secret, fields)):
        raise JobError("verdict signature does not match (forged, or signed with another secret)")
    try:
        job_id = fields[b"job"].decode()
        error = fields.get(b"error", b"").decode()
        if error:
            return WireVerdict(job_id, None, error)
        score_raw = fields[b"score"]
        boxes = tuple(FaceBox((b[0] / scale, b[1] / scale, b[2] / scale, b[3] / scale), float(b[4]),
                              tuple((b[k] / scale, b[k + 1] / scale) for k in range(5, 15, 2)) if len(b) >= 15 else ())
                      for b in json.loads(fields[b"boxes"]))
        verdict = Verdict(faces=int(fields[b"faces"]), score=float(score_raw) if score_raw else None,
                          match=fields[b"match"] == b"1", reason=fields[b"reason"].decode(), boxes=boxes)
    except (KeyError, UnicodeDecodeError, ValueError, TypeError, IndexError) as exc:
        raise JobError(f"malformed verdict: {exc!r}") from exc
    return WireVerdict(job_id, verdict, "")
