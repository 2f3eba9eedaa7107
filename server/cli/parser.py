"""Every `proctor` subcommand's arguments, and the handler that runs it, named as "module:function".

Handlers are imported only when their command runs (server/cli/main.py): the engine's modules load
torch and facenet-pytorch (seconds), which `proctor --help` or `proctor students unlock` should not
pay for. Keeping the arguments here, apart from the handlers, is what lets every handler module
import what it needs at its top.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from proctor.liveness import DEFAULT_MIN_TURN
from proctor.users import STAFF_ROLES

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints usage plus the error; our contract is one line.
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> Parser:
    parser = Parser(prog="proctor", description="Real-time proctoring: verified learning time.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _engine(sub)
    _serve(sub)
    _students(sub)
    _admin(sub)
    _spmt(sub)
    _worker(sub)
    _content(sub)
    return parser


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database URL: sqlite:///path or postgresql://… (default: PROCTOR_DB or a "
                                "SQLite file under PROCTOR_HOME)")
    p.add_argument("--config", type=Path, help="TOML settings file (see docs/configuration.md)")


def _backend_arg(p: argparse.ArgumentParser, default: str | None = None) -> None:
    # Checked by the handler (models.backends.select), so the error is our one line, not argparse's.
    p.add_argument("--backend", default=default,
                   help="inference backend: auto, torch or onnxruntime (default: PROCTOR_BACKEND or auto, "
                        "which is ONNX Runtime where it runs)")


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="registry name (default: facenet-msceleb-128)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: automatic; PROCTOR_DEVICE)")
    _backend_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _engine(sub: Any) -> None:
    models = sub.add_parser("models", help="list and fetch face-recognition weights")
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=type(models))
    p = msub.add_parser("list", help="show the registry and what is fetched")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler="server.cli.faces:cmd_models_list")
    p = msub.add_parser("fetch", help="fetch (once) and verify weights, and the evaluation photos")
    p.add_argument("name", nargs="?", default=None, help="model name (default: the default model)")
    p.add_argument("--file", type=Path, help="install this local weights file instead of downloading")
    p.add_argument("--sha256", help="expected sha256 of --file")
    p.add_argument("--no-dataset", action="store_true", help="skip the labelled evaluation photos")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler="server.cli.faces:cmd_models_fetch")

    faces = sub.add_parser("faces", help="detect and compare faces in image files")
    fsub = faces.add_subparsers(dest="faces_command", required=True, parser_class=type(faces))
    p = fsub.add_parser("detect", help="find faces in images")
    p.add_argument("images", nargs="+", type=Path)
    _engine_args(p)
    p.set_defaults(handler="server.cli.faces:cmd_faces_detect")
    p = fsub.add_parser("compare", help="does PROBE show the person in REF?")
    p.add_argument("reference", type=Path)
    p.add_argument("probe", type=Path)
    _engine_args(p)
    p.set_defaults(handler="server.cli.faces:cmd_faces_compare")

    p = sub.add_parser("eval", help="ROC figures on a labelled tree (one folder per person); "
                                    "`eval liveness [DIR]`: APCER/BPCER of the liveness check")
    p.add_argument("dir", type=Path)
    p.add_argument("liveness_dir", type=Path, nargs="?", default=None,
                   help="with `eval liveness`: the labelled tree (default: the bundled photos)")
    p.add_argument("--references", type=Path, help="score DIR as probes against this tree, best-of-k")
    p.add_argument("--min-turn", type=float, default=None,
                   help=f"eval liveness: yaw-ratio threshold (default {DEFAULT_MIN_TURN})")
    p.add_argument("--limit", type=int, default=None, help="eval liveness: at most this many photos per person")
    p.add_argument("--no-cache", action="store_true", help="eval liveness: measure everything again")
    _engine_args(p)
    p.set_defaults(handler="server.cli.faces:cmd_eval")

    bench = sub.add_parser("bench", help="benchmarks (results belong in docs/benchmarks.md)")
    bsub = bench.add_subparsers(dest="bench_command", required=True, parser_class=type(bench))
    p = bsub.add_parser("inference", help="naive per-frame loop vs the dynamic batcher, for every backend")
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=50.0)
    p.add_argument("--size", default="640x480", help="frame size WxH")
    _engine_args(p)
    p.set_defaults(handler="bench.inference:cmd_bench_inference")
    _bench_streams(bsub)


def _bench_streams(sub: Any) -> None:
    p = sub.add_parser("streams", help="N loopback WebRTC clients against a live in-process server")
    p.add_argument("--clients", type=int, default=8, help="concurrent streams (default 8)")
    p.add_argument("--seconds", type=float, default=30.0, help="measurement window once all are connected")
    p.add_argument("--interval", type=float, default=None, help="sample_interval_s (default: the server's, 3)")
    p.add_argument("--max-batch-size", type=int, default=None, help="batcher flush size (default: the server's)")
    p.add_argument("--max-wait-ms", type=float, default=None, help="batcher max wait (default: the server's)")
    p.add_argument("--device", default="cpu", help="inference device: cpu (default), cuda or cuda:N")
    _backend_arg(p)
    p.add_argument("--workers", type=int, default=0,
                   help="0 = in-process batcher (default); K >= 1 = K `proctor worker` processes over Redis")
    p.add_argument("--redis-url", default=None,
                   help="Redis for --workers >= 1 (default: a private redis-server on a free port, stopped after)")
    p.add_argument("--liveness", action="store_true",
                   help="liveness challenges on (off by default, so figures compare with earlier runs)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler="bench.streams:cmd_bench_streams")


def _serve(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--certfile", help="TLS certificate (PEM); needed for a camera on any host but localhost")
    p.add_argument("--keyfile", help="TLS private key (PEM)")
    _backend_arg(p)
    p.add_argument("--redis-url", help="scale out: send samples to `proctor worker` processes through this Redis "
                                       "(default: PROCTOR_REDIS_URL, else none: the in-process batcher)")
    p.add_argument("--node-id", help="this media node's name in the cluster (default: PROCTOR_NODE_ID or host-pid)")
    _db_args(p)
    p.set_defaults(handler="server.cli.serve:cmd_serve")


def _students(sub: Any) -> None:
    students = sub.add_parser("students", help="manage students")
    ssub = students.add_subparsers(dest="students_command", required=True, parser_class=type(students))
    p = ssub.add_parser("add", help="add a student and enroll their reference photo(s)")
    p.add_argument("--srn", required=True, help="Student Registration Number")
    p.add_argument("--name", required=True)
    p.add_argument("--mobile")
    p.add_argument("--photo", type=Path, action="append", default=[], help="reference photo (repeatable)")
    p.add_argument("--password-stdin", action="store_true", help="read the initial password from stdin")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.students:cmd_students_add")
    p = ssub.add_parser("unlock", help="lift a lockout after too many failed attempts")
    p.add_argument("srn")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.students:cmd_students_unlock")


def _admin(sub: Any) -> None:
    staff = sub.add_parser("staff", help="manage proctors and admins")
    ssub = staff.add_subparsers(dest="staff_command", required=True, parser_class=type(staff))
    p = ssub.add_parser("add", help="create a proctor or admin account")
    p.add_argument("--username", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=[r.value for r in STAFF_ROLES])
    p.add_argument("--password-stdin", action="store_true", required=True)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.admin:cmd_staff_add")

    p = sub.add_parser("outbox", help="SMS messages the default sender stored (stands in for a gateway)")
    p.add_argument("--srn")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.admin:cmd_outbox")

    audit = sub.add_parser("audit", help="the hash-chained audit trail")
    asub = audit.add_subparsers(dest="audit_command", required=True, parser_class=type(audit))
    p = asub.add_parser("verify", help="exit 0 if the chain is intact, 1 naming the first bad row")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.admin:cmd_audit_verify")

    maint = sub.add_parser("maintenance", help="announce maintenance windows (logins and streams pause)")
    msub = maint.add_subparsers(dest="maintenance_command", required=True, parser_class=type(maint))
    p = msub.add_parser("add", help="add a window")
    p.add_argument("--start", required=True, help="ISO 8601, e.g. 2027-04-11T10:00+05:30")
    p.add_argument("--end", required=True)
    p.add_argument("--message", required=True)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.admin:cmd_maintenance_add")
    p = msub.add_parser("list", help="list windows")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.admin:cmd_maintenance_list")


def _spmt(sub: Any) -> None:
    credit = sub.add_parser("credit", help="explicit credit adjustments (audited; the student sees the reason)")
    csub = credit.add_subparsers(dest="credit_command", required=True, parser_class=type(credit))
    p = csub.add_parser("adjust", help="add (seconds > 0) or remove (< 0) a module's credited time")
    p.add_argument("--srn", required=True)
    p.add_argument("--module", required=True, help="module id (see the catalog)")
    p.add_argument("--seconds", required=True, type=float, help="e.g. 144000 for 40 h; negative removes")
    p.add_argument("--reason", required=True, help="shown to the student")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.spmt:cmd_credit_adjust")

    spmt = sub.add_parser("spmt", help="module tests: slots and question banks")
    ssub = spmt.add_subparsers(dest="spmt_command", required=True, parser_class=type(spmt))
    slots = ssub.add_parser("slots", help="test slots")
    slsub = slots.add_subparsers(dest="slots_command", required=True, parser_class=type(slots))
    p = slsub.add_parser("add", help="add a slot")
    p.add_argument("--module", required=True)
    p.add_argument("--start", required=True, help="ISO 8601, e.g. 2027-04-11T10:00+05:30 (no offset: local time)")
    p.add_argument("--minutes", required=True, type=int)
    p.add_argument("--capacity", required=True, type=int)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.spmt:cmd_slots_add")
    p = slsub.add_parser("list", help="list slots with seats left")
    p.add_argument("--module")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.spmt:cmd_slots_list")
    p = slsub.add_parser("cancel", help="cancel a slot: bookers are refunded and told by SMS")
    p.add_argument("slot_id", type=int)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.spmt:cmd_slots_cancel")
    questions = ssub.add_parser("questions", help="question banks")
    qsub = questions.add_subparsers(dest="questions_command", required=True, parser_class=type(questions))
    p = qsub.add_parser("import", help='import FILE: [{"text", "choices": [...], "answer": INDEX}]')
    p.add_argument("--module", required=True)
    p.add_argument("--replace", action="store_true", help="retire the module's current questions first")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler="server.cli.spmt:cmd_questions_import")


def _worker(sub: Any) -> None:
    p = sub.add_parser("worker", help="verify frames from media nodes through Redis Streams (one per GPU)",
                       description="Needs PROCTOR_REDIS_SECRET, the secret the media nodes share: verdicts are "
                                   "signed with it.")
    p.add_argument("--redis-url", default=os.environ.get("PROCTOR_REDIS_URL", DEFAULT_REDIS_URL),
                   help=f"Redis to consume from (default: PROCTOR_REDIS_URL or {DEFAULT_REDIS_URL})")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: automatic; PROCTOR_DEVICE)")
    p.add_argument("--model", default=None, help="registry name (default: facenet-msceleb-128)")
    _backend_arg(p, os.environ.get("PROCTOR_BACKEND"))
    p.add_argument("--batch-size", type=int, default=16, help="jobs per XREADGROUP and per inference batch")
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="how long a partial batch waits to fill")
    p.add_argument("--claim-idle-ms", type=int, default=10_000,
                   help="reclaim jobs pending this long on a dead worker (about 2× the verify timeout)")
    p.add_argument("--consumer", default=None, help="consumer name in the group (default: host-pid)")
    p.set_defaults(handler="server.cli.worker:cmd_worker")


def _content(sub: Any) -> None:
    content = sub.add_parser("content", help="lessons: install a content pack, list it, build the demo pack")
    csub = content.add_subparsers(dest="content_command", required=True, parser_class=type(content))
    p = csub.add_parser("import", help="check a content pack (DIR/content.toml and its files) and install it")
    p.add_argument("dir", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", type=Path, help="TOML settings file (content_dir, catalog)")
    p.set_defaults(handler="server.cli.content:cmd_content_import", db=None)
    p = csub.add_parser("list", help="the installed lessons")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", type=Path, help="TOML settings file (content_dir, catalog)")
    p.set_defaults(handler="server.cli.content:cmd_content_list", db=None)
    p = csub.add_parser("demo", help="build the demo pack (slide videos, reading notes) unless a pack is installed")
    p.add_argument("--force", action="store_true", help="rebuild it over the installed pack")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", type=Path, help="TOML settings file (content_dir, catalog)")
    p.set_defaults(handler="server.cli.content:cmd_content_demo", db=None)
