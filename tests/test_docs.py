"""What the docs claim, checked against the code: a claim the code does not keep is a bug in one of them."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from proctor.credit import Reason
from proctor.flags import FLAG_KINDS
from server.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _text(name: str) -> str:
    return (DOCS / name).read_text()


def test_every_setting_is_documented() -> None:
    table = _text("configuration.md")
    missing = [f.name for f in fields(Settings) if not re.search(rf"^\|[^|]*`{f.name}`[^|]*\|", table, re.M)]
    assert missing == []


def test_losing_the_workers_is_not_said_to_raise_a_flag() -> None:
    assert Reason.VERIFIER_UNAVAILABLE not in FLAG_KINDS  # our outage never blames the student
    operations = _text("operations.md")
    assert not re.search(r"`verifier_unavailable`\s+flag", operations)


def test_start_up_closing_other_nodes_sessions_is_no_longer_listed_as_a_limit() -> None:
    assert "Start-up closes every open session" not in _text("operations.md")


def test_turn_and_rollout_claims_match_what_the_code_does() -> None:
    operations = _text("operations.md")
    assert "returns ICE servers only to signed-in pages" in operations  # tests/test_turn.py shows it
    assert "drain_timeout_s" in operations and "reconnect" in operations  # test_live_session shows it
    assert "it does not yet" not in operations


def test_the_per_stream_cpu_figure_agrees_with_the_benchmarks() -> None:
    measured = re.search(r"media node needs ([\d.]+) %\s+of a core per stream", _text("benchmarks.md"))
    assert measured is not None
    assert f"{measured.group(1)} % on a media node" in _text("operations.md")
    assert "≤ 4 % of a core per stream" not in _text("operations.md")
