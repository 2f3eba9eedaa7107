"""Operator commands: staff, unlock, the SMS outbox, the audit chain and maintenance windows."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from proctor.users import STAFF_ROLES

from .cli_base import CliError, emit_json
from .cli_serve import _db_args, _open_db, settings_from

T = TypeVar("T")


def register(sub: Any) -> None:
    staff = sub.add_parser("staff", help="manage proctors and admins")
    ssub = staff.add_subparsers(dest="staff_command", required=True, parser_class=type(staff))
    p = ssub.add_parser("add", help="create a proctor or admin account")
    p.add_argument("--username", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=[r.value for r in STAFF_ROLES])
    p.add_argument("--password-stdin", action="store_true", required=True)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler=cmd_staff_add)

    p = sub.add_parser("outbox", help="SMS messages the default sender stored (stands in for a gateway)")
    p.add_argument("--srn")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler=cmd_outbox)

    audit = sub.add_parser("audit", help="the hash-chained audit trail")
    asub = audit.add_subparsers(dest="audit_command", required=True, parser_class=type(audit))
    p = asub.add_parser("verify", help="exit 0 if the chain is intact, 1 naming the first bad row")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler=cmd_audit_verify)

    maint = sub.add_parser("maintenance", help="announce maintenance windows (logins and streams pause)")
    msub = maint.add_subparsers(dest="maintenance_command", required=True, parser_class=type(maint))
    p = msub.add_parser("add", help="add a window")
    p.add_argument("--start", required=True, help="ISO 8601, e.g. 2027-04-11T10:00+05:30")
    p.add_argument("--end", required=True)
    p.add_argument("--message", required=True)
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler=cmd_maintenance_add)
    p = msub.add_parser("list", help="list windows")
    p.add_argument("--json", action="store_true")
    _db_args(p)
    p.set_defaults(handler=cmd_maintenance_list)


def _with_db(args: argparse.Namespace, fn: Callable[[Any], Awaitable[T]]) -> T:
    settings = settings_from(args)

    async def run() -> T:
        db = await _open_db(settings.db_url())
        try:
            return await fn(db)
        finally:
            await db.aclose()

    return asyncio.run(run())


def cmd_staff_add(args: argparse.Namespace) -> int:
    from proctor.passwords import WeakPassword, check_password, hash_password
    from proctor.students import Students, UserExists

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_password(password, args.username)
    except WeakPassword as exc:
        raise CliError(exc.message) from None

    async def add(db: Any) -> int:
        try:
            return await Students(db).add_staff(args.username, args.name, args.role, hash_password(password))
        except UserExists as exc:
            raise CliError(str(exc)) from None

    uid = _with_db(args, add)
    out = {"id": uid, "username": args.username.strip().lower(), "role": args.role}
    emit_json(out) if args.json else print(f"added {args.role} {out['username']}")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from proctor.outbox import list_outbox

    rows = _with_db(args, lambda db: list_outbox(db, args.srn, limit=args.limit))
    if args.json:
        emit_json({"messages": [{"id": m.id, "srn": m.srn, "mobile": m.mobile, "text": m.text,
                                 "created_at": m.created_at} for m in rows]})
    else:
        for m in rows:
            print(f"{_iso(m.created_at)}  {m.srn or '-':<10} {m.mobile}: {m.text}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from proctor.audit import verify_chain

    check = _with_db(args, verify_chain)
    if args.json:
        emit_json({"ok": check.ok, "rows": check.rows, "first_bad_id": check.first_bad_id, "problem": check.problem})
    elif check.ok:
        print(f"audit chain intact: {check.rows} rows")
    else:
        print(f"audit chain broken at row {check.first_bad_id}: {check.problem}", file=sys.stderr)
    return 0 if check.ok else 1


def _parse_time(value: str, name: str) -> float:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--{name} {value!r} is not an ISO 8601 time (e.g. 2027-04-11T10:00+05:30)") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # a time without offset is the operator's local time
    return dt.timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def cmd_maintenance_add(args: argparse.Namespace) -> int:
    from proctor.clock import SystemClock
    from proctor.maintenance import Maintenance

    start, end = _parse_time(args.start, "start"), _parse_time(args.end, "end")

    async def add(db: Any) -> Any:
        try:
            return await Maintenance(db, SystemClock()).add(start, end, args.message)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    w = _with_db(args, add)
    out = {"id": w.id, "start": _iso(w.start_at), "end": _iso(w.end_at), "message": w.message}
    emit_json(out) if args.json else print(f"maintenance {out['start']} → {out['end']}: {w.message}")
    return 0


def cmd_maintenance_list(args: argparse.Namespace) -> int:
    from proctor.clock import SystemClock
    from proctor.maintenance import Maintenance

    rows = _with_db(args, lambda db: Maintenance(db, SystemClock()).list_all())
    out = [{"id": w.id, "start": _iso(w.start_at), "end": _iso(w.end_at), "message": w.message} for w in rows]
    if args.json:
        emit_json({"windows": out})
    else:
        for w in out:
            print(f"#{w['id']} {w['start']} → {w['end']}: {w['message']}")
    return 0
