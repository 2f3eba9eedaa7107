"""Operator commands: staff, unlock, the SMS outbox, the audit chain and maintenance windows."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from proctor.audit import verify_chain
from proctor.clock import SystemClock
from proctor.maintenance import Maintenance
from proctor.outbox import list_outbox
from proctor.passwords import WeakPassword, check_password, hash_password
from proctor.students import Students, UserExists

from .base import CliError, emit_json, with_db


def cmd_staff_add(args: argparse.Namespace) -> int:
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

    uid = with_db(args, add)
    out = {"id": uid, "username": args.username.strip().lower(), "role": args.role}
    emit_json(out) if args.json else print(f"added {args.role} {out['username']}")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    rows = with_db(args, lambda db: list_outbox(db, args.srn, limit=args.limit))
    if args.json:
        emit_json({"messages": [{"id": m.id, "srn": m.srn, "mobile": m.mobile, "text": m.text,
                                 "created_at": m.created_at} for m in rows]})
    else:
        for m in rows:
            print(f"{_iso(m.created_at)}  {m.srn or '-':<10} {m.mobile}: {m.text}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    check = with_db(args, verify_chain)
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
    start, end = _parse_time(args.start, "start"), _parse_time(args.end, "end")

    async def add(db: Any) -> Any:
        try:
            return await Maintenance(db, SystemClock()).add(start, end, args.message)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    w = with_db(args, add)
    out = {"id": w.id, "start": _iso(w.start_at), "end": _iso(w.end_at), "message": w.message}
    emit_json(out) if args.json else print(f"maintenance {out['start']} → {out['end']}: {w.message}")
    return 0


def cmd_maintenance_list(args: argparse.Namespace) -> int:
    rows = with_db(args, lambda db: Maintenance(db, SystemClock()).list_all())
    out = [{"id": w.id, "start": _iso(w.start_at), "end": _iso(w.end_at), "message": w.message} for w in rows]
    if args.json:
        emit_json({"windows": out})
    else:
        for w in out:
            print(f"#{w['id']} {w['start']} → {w['end']}: {w['message']}")
    return 0
