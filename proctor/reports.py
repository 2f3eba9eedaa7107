"""The proctors' CSV export: per student and topic, what was credited, voided and flagged in a range.

A row counts, in [start, end): credited intervals by their end time, adjustments by the time the
proctor made them, flags by the time they were raised (`flags_confirmed`: those of them confirmed
since). Credited seconds are gross (the intervals); subtract `voided_seconds` for the net.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select

from proctor.db import Database
from proctor.tables import adjustments as _ADJ
from proctor.tables import credited_intervals as _CI
from proctor.tables import flags as _FL
from proctor.tables import live_sessions as _LS
from proctor.tables import users as _USERS

CSV_HEADER = (
    "srn",
    "name",
    "module_id",
    "topic_id",
    "credited_seconds",
    "voided_seconds",
    "flags_raised",
    "flags_confirmed",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportRow:
    srn: str
    name: str
    module_id: str
    topic_id: str
    credited_seconds: float
    voided_seconds: float
    flags_raised: int
    flags_confirmed: int


@dataclass
class _Acc:
    credited: float = 0.0
    voided: float = 0.0
    raised: int = 0
    confirmed: int = 0


async def export_rows(db: Database, start: float, end: float) -> list[ExportRow]:
    """One row per student × (module, topic) with anything in [start, end); sorted by srn, topic."""
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError("start and end must be finite epoch seconds")
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")
    start, end = float(start), float(end)
    credited_q = (
        select(_LS.c.user_id, _LS.c.module_id, _LS.c.topic_id, func.sum(_CI.c.seconds))
        .select_from(_CI.join(_LS, _CI.c.session_id == _LS.c.id))
        .where(_CI.c.end_at >= start, _CI.c.end_at < end)
        .group_by(_LS.c.user_id, _LS.c.module_id, _LS.c.topic_id)
    )
    voided_q = (
        select(_ADJ.c.user_id, _ADJ.c.module_id, _ADJ.c.topic_id, func.sum(_ADJ.c.seconds))
        .where(_ADJ.c.at >= start, _ADJ.c.at < end)
        .group_by(_ADJ.c.user_id, _ADJ.c.module_id, _ADJ.c.topic_id)
    )
    flags_q = (
        select(
            _LS.c.user_id,
            _LS.c.module_id,
            _LS.c.topic_id,
            func.count(),
            func.sum(case((_FL.c.review == "confirmed", 1), else_=0)),
        )
        .select_from(_FL.join(_LS, _FL.c.session_id == _LS.c.id))
        .where(_FL.c.started_at >= start, _FL.c.started_at < end)
        .group_by(_LS.c.user_id, _LS.c.module_id, _LS.c.topic_id)
    )
    acc: dict[tuple[int, str, str], _Acc] = {}

    def bucket(user_id: int, module_id: str, topic_id: str) -> _Acc:
        return acc.setdefault((int(user_id), str(module_id), str(topic_id)), _Acc())

    async with db.engine.connect() as conn:
        for user_id, module_id, topic_id, seconds in (await conn.execute(credited_q)).all():
            bucket(user_id, module_id, topic_id).credited += float(seconds)
        for user_id, module_id, topic_id, seconds in (await conn.execute(voided_q)).all():
            bucket(user_id, module_id, topic_id).voided += float(seconds)
        for user_id, module_id, topic_id, raised, confirmed in (await conn.execute(flags_q)).all():
            a = bucket(user_id, module_id, topic_id)
            a.raised += int(raised)
            a.confirmed += int(confirmed or 0)
        people: dict[int, tuple[str, str]] = {}
        user_ids = sorted({key[0] for key in acc})
        if user_ids:
            found = await conn.execute(
                select(_USERS.c.id, _USERS.c.srn, _USERS.c.name).where(_USERS.c.id.in_(user_ids))
            )
            people = {int(r.id): (r.srn or "", str(r.name)) for r in found.all()}
    rows = [
        ExportRow(
            srn=people.get(user_id, ("", ""))[0],
            name=people.get(user_id, ("", ""))[1],
            module_id=module_id,
            topic_id=topic_id,
            credited_seconds=a.credited,
            voided_seconds=a.voided,
            flags_raised=a.raised,
            flags_confirmed=a.confirmed,
        )
        for (user_id, module_id, topic_id), a in acc.items()
    ]
    rows.sort(key=lambda r: (r.srn, r.topic_id, r.module_id, r.name))
    return rows


def safe_cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula: a leading = + - @ (tab, CR) gets an apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _seconds(x: float) -> str:
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def to_csv(rows: Iterable[ExportRow]) -> str:
    """RFC 4180 CSV (CRLF line ends) with the header `CSV_HEADER`; seconds to the millisecond."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow(
            [
                safe_cell(r.srn),
                safe_cell(r.name),
                safe_cell(r.module_id),
                safe_cell(r.topic_id),
                _seconds(r.credited_seconds),
                _seconds(r.voided_seconds),
                str(r.flags_raised),
                str(r.flags_confirmed),
            ]
        )
    return out.getvalue()
