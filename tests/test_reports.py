"""The CSV export: rows per student × topic in a time range, and cells a spreadsheet will not run.

On SQLite and PostgreSQL (PROCTOR_TEST_PG, one private schema per test).
"""

from __future__ import annotations

import csv
import io

import pytest

from proctor.clock import FakeClock
from proctor.ledger import Ledger
from proctor.reports import CSV_HEADER, ExportRow, export_rows, safe_cell, to_csv
from proctor.review import Review
from proctor.students import Students

from .databases import OpenDb

DAY = 86400.0
D0 = 1_700_006_400.0  # 2023-11-15 00:00 UTC
MOD_A, MOD_B = "a-corporate-economic-laws", "b-strategic"


async def test_export_rows_in_range(open_db: OpenDb) -> None:
    db = await open_db()
    students = Students(db)
    ledger = Ledger(db)
    zed = await students.add_student("CRO9", "Zed", None, None)
    asha = await students.add_student("CRO1", "=cmd|' /C calc'!A0", None, None)
    idle = await students.add_student("CRO5", "Idle", None, None)
    t = D0 + DAY  # the exported day is [t, t + DAY)

    # Asha, fema: intervals ending before, inside and at the end of the range (half-open).
    s1 = await ledger.start_session(asha, "a-fema-1999", MOD_A, t - 10)
    await ledger.append_interval(s1, 0, t - 10, t - 5)  # ends before the range
    await ledger.append_interval(s1, 1, t - 5, t + 1)  # ends inside: 6 s counted
    await ledger.append_interval(s1, 2, t + 1, t + 4)  # 3 s
    await ledger.append_interval(s1, 3, t + DAY - 2, t + DAY)  # ends at `end`: not counted
    f1 = await ledger.record_flag_ended(s1, "mismatch", t + 2, t + 3)  # raised in range, confirmed
    await ledger.record_flag_raised(s1, "no_face", t + 50)  # raised in range, open
    await ledger.record_flag_raised(s1, "tab_hidden", t - 1)  # raised before the range
    # Asha, b-topic: only a flag.
    s2 = await ledger.start_session(asha, "b-divisional-transfer-pricing", MOD_B, t + 100)
    await ledger.record_flag_raised(s2, "camera_lost", t + 101)
    # Zed: credit the day before, voided (adjustment made) inside the range.
    s3 = await ledger.start_session(zed, "a-fema-1999", MOD_A, t - 100)
    await ledger.append_interval(s3, 0, t - 100, t - 90)
    f3 = await ledger.record_flag_ended(s3, "no_face", t - 98, t - 95)
    # Idle: a session with nothing in the range.
    s4 = await ledger.start_session(idle, "a-fema-1999", MOD_A, t - 50)
    await ledger.append_interval(s4, 0, t - 50, t - 40)

    await Review(db, FakeClock(t + 10), margin_s=0.0).review(f1, "confirm", "not her", 99)  # voids 1 s of 1–4
    await Review(db, FakeClock(t + 20), margin_s=0.0).review(f3, "confirm", None, 99)  # voids 3 s

    rows = await export_rows(db, t, t + DAY)
    assert rows == [
        ExportRow("CRO1", "=cmd|' /C calc'!A0", MOD_A, "a-fema-1999", pytest.approx(9.0), pytest.approx(1.0), 2, 1),
        ExportRow("CRO1", "=cmd|' /C calc'!A0", MOD_B, "b-divisional-transfer-pricing", 0.0, 0.0, 1, 0),
        ExportRow("CRO9", "Zed", MOD_A, "a-fema-1999", 0.0, pytest.approx(3.0), 0, 0),
    ]
    # The day before: Zed's and Idle's credit, the interval ending at t - 5, the flags then.
    before = await export_rows(db, t - DAY, t)
    assert [
        (r.srn, r.topic_id, r.credited_seconds, r.voided_seconds, r.flags_raised, r.flags_confirmed) for r in before
    ] == [
        ("CRO1", "a-fema-1999", 5.0, 0.0, 1, 0),
        ("CRO5", "a-fema-1999", 10.0, 0.0, 0, 0),
        ("CRO9", "a-fema-1999", 10.0, 0.0, 1, 1),
    ]
    assert await export_rows(db, t + 2 * DAY, t + 3 * DAY) == []
    for start, end in ((t, t), (t, t - 1), (float("nan"), t), (t, float("inf"))):
        with pytest.raises(ValueError):
            await export_rows(db, start, end)

    text = to_csv(rows)
    lines = text.split("\r\n")
    assert lines[0] == "srn,name,module_id,topic_id,credited_seconds,voided_seconds,flags_raised,flags_confirmed"
    assert lines[1] == f"CRO1,'=cmd|' /C calc'!A0,{MOD_A},a-fema-1999,9,1,2,1"
    assert lines[3] == f"CRO9,Zed,{MOD_A},a-fema-1999,0,3,0,0"
    assert lines[4] == "" and len(lines) == 5


def test_csv_cells_never_start_a_formula() -> None:
    for bad in ("=1+1", "+44 20", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(bad) == "'" + bad
    for fine in ("CRO1", "Asha Rao", "", "1=1", "a-fema-1999", "'quoted"):
        assert safe_cell(fine) == fine
    rows = [
        ExportRow("+CRO1", '=HYPERLINK("http://x","y")', "@m", "-t", 1.23456, 0.0, 0, 0),
        ExportRow("CRO2", 'Rao, "Asha"\nNew line', "m", "t", 12.5, 2.0, 3, 1),
    ]
    parsed = list(csv.reader(io.StringIO(to_csv(rows), newline="")))
    assert parsed[0] == list(CSV_HEADER)
    assert parsed[1] == ["'+CRO1", '\'=HYPERLINK("http://x","y")', "'@m", "'-t", "1.235", "0", "0", "0"]
    assert parsed[2] == ["CRO2", 'Rao, "Asha"\nNew line', "m", "t", "12.5", "2", "3", "1"]
    assert to_csv([]) == ",".join(CSV_HEADER) + "\r\n"
