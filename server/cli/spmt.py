"""`proctor credit adjust` and `proctor spmt slots|questions`: operator commands of the module tests."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from proctor.catalog import Catalog, load_catalog
from proctor.clock import SystemClock
from proctor.credit_adjust import UnknownStudent, adjust
from proctor.outbox import OutboxSender
from proctor.payments import TestProvider
from proctor.spmt import Refused, Spmt, iso
from proctor.spmt_attempts import Attempts, BankError, parse_bank
from proctor.students import Students

from .admin import _parse_time
from .base import CliError, emit_json, settings_from, with_db

USER_ERRORS = (BankError,)


def _catalog(args: argparse.Namespace) -> Catalog:
    settings = settings_from(args)
    return load_catalog(Path(settings.catalog) if settings.catalog else None)


def _module(catalog: Catalog, module_id: str) -> str:
    if catalog.module(module_id) is None:
        known = ", ".join(m.id for m in catalog.modules)
        raise CliError(f"no module {module_id!r} in the catalog (known: {known})")
    return module_id


def cmd_credit_adjust(args: argparse.Namespace) -> int:
    module_id = _module(_catalog(args), args.module)
    if not math.isfinite(args.seconds):
        raise CliError("--seconds must be a finite number")

    async def run(db: Any) -> Any:
        student = await Students(db).get_by_srn(args.srn)
        if student is None or student.role.is_staff:
            raise CliError(f"no student with SRN {args.srn!r}")
        try:
            return student.srn, await adjust(db, SystemClock(), user_id=student.id, module_id=module_id,
                                             seconds=args.seconds, reason=args.reason, by_user_id=None)
        except (ValueError, UnknownStudent) as exc:
            raise CliError(str(exc)) from None

    srn, made = with_db(args, run)
    if args.json:
        emit_json({**made.to_json(), "srn": srn})
    else:
        print(f"adjusted {srn} {module_id} by {made.seconds:+g} s ({made.seconds / 3600:+.2f} h): {made.reason}")
    return 0


def _spmt(db: Any, catalog: Catalog) -> Spmt:
    clock = SystemClock()
    return Spmt(db, clock, catalog, TestProvider(), OutboxSender(db, clock))


def cmd_slots_add(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    module_id = _module(catalog, args.module)
    start = _parse_time(args.start, "start")

    async def run(db: Any) -> Any:
        try:
            return await _spmt(db, catalog).add_slot(module_id, start, args.minutes, args.capacity)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    slot = with_db(args, run)
    emit_json(slot.to_json()) if args.json else print(
        f"slot #{slot.id}: {module_id} at {iso(slot.start_at)} for {slot.minutes} min, {slot.capacity} seats")
    return 0


def cmd_slots_list(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    slots = with_db(args, lambda db: _spmt(db, catalog).list_slots(module_id=args.module))
    if args.json:
        emit_json({"slots": [s.to_json() for s in slots]})
    for s in [] if args.json else slots:
        state = " CANCELLED" if s.cancelled_at is not None else ""
        print(f"#{s.id} {s.module_id} {iso(s.start_at)} {s.minutes} min, {s.seats_left}/{s.capacity} seats left{state}")
    return 0


def cmd_slots_cancel(args: argparse.Namespace) -> int:
    catalog = _catalog(args)

    async def run(db: Any) -> int:
        try:
            return await _spmt(db, catalog).cancel_slot(args.slot_id)
        except Refused as exc:
            raise CliError(exc.message) from None

    count = with_db(args, run)
    emit_json({"slot_id": args.slot_id, "bookings_cancelled": count}) if args.json else print(
        f"slot #{args.slot_id} cancelled; {count} booking(s) refunded and told by SMS")
    return 0


def cmd_questions_import(args: argparse.Namespace) -> int:
    module_id = _module(_catalog(args), args.module)
    questions = parse_bank(Path(args.file).read_bytes(), str(args.file))

    async def run(db: Any) -> int:
        return await Attempts(db, SystemClock()).import_bank(module_id, questions, replace=args.replace)

    size = with_db(args, run)
    emit_json({"module_id": module_id, "imported": len(questions), "bank_size": size}) if args.json else print(
        f"imported {len(questions)} question(s) into {module_id}; the bank now has {size}")
    return 0
