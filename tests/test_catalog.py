"""Course catalog: the packaged SPOM default and validation of custom files."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.catalog import CatalogError, load_catalog

HOURS_40 = 40 * 3600


def test_default_catalog_mirrors_spom() -> None:
    cat = load_catalog(None)
    assert cat.sets == ["A", "B", "C", "D"]
    by_set: dict[str, list[str]] = {}
    for m in cat.modules:
        by_set.setdefault(m.set, []).append(m.title)
        assert m.required_seconds == HOURS_40 == 144000
        assert 3 <= len(m.topics) <= 6
        assert m.mandatory == (m.set in ("A", "B"))
    assert by_set["A"] == ["Corporate and Economic Laws"]
    assert by_set["B"] == ["Strategic Cost and Performance Management"]
    assert 2 <= len(by_set["C"]) <= 3 and "Risk Management" in by_set["C"]
    assert 2 <= len(by_set["D"]) <= 3 and "Multidisciplinary Case Study" in by_set["D"]

    ids = [m.id for m in cat.modules] + [t.id for m in cat.modules for t in m.topics]
    assert len(ids) == len(set(ids))
    found = cat.topic("a-companies-act-2013")
    assert found is not None
    module, topic = found
    assert module.set == "A" and module.mandatory and topic.title.startswith("Companies Act")
    assert cat.topic("nope") is None
    assert cat.module(module.id) is module


GOOD = """
title = "Mini"
[[modules]]
id = "m1"
set = "A"
title = "Module One"
hours = 1.5
mandatory = true
  [[modules.topics]]
  id = "t1"
  title = "Topic One"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "catalog.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_custom_catalog(tmp_path: Path) -> None:
    cat = load_catalog(_write(tmp_path, GOOD))
    assert cat.title == "Mini"
    assert [(m.id, m.required_seconds, m.mandatory) for m in cat.modules] == [("m1", 5400, True)]
    assert cat.topic("t1") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modules = [", "invalid TOML"),
        ("title = 'x'", "at least one"),
        (GOOD.replace("hours = 1.5", "hours = 0"), "'hours' must be positive"),
        (GOOD.replace("hours = 1.5", "hours = -3"), "'hours' must be positive"),
        (GOOD.replace("hours = 1.5", 'hours = "40"'), "'hours' must be a number"),
        (GOOD.replace("hours = 1.5\n", ""), "missing required field 'hours'"),
        (GOOD.replace('title = "Module One"\n', ""), "missing required field 'title'"),
        (GOOD.replace('set = "A"\n', ""), "missing required field 'set'"),
        (GOOD.replace('id = "m1"', 'id = "M 1"'), "lower-case"),
        (GOOD.replace("mandatory = true", 'mandatory = "yes"'), "'mandatory'"),
        (GOOD.replace("hours = 1.5", "hours = 1.5\nhour = 2"), "unknown field(s) 'hour'"),
        (GOOD.split("  [[modules.topics]]")[0], "at least one [[modules.topics]]"),
        (
            GOOD + GOOD.replace('title = "Mini"', "").replace('id = "t1"', 'id = "t2"'),
            "duplicate module id 'm1'",
        ),
        (
            GOOD + GOOD.replace('title = "Mini"', "").replace('id = "m1"', 'id = "m2"'),
            "duplicate topic id 't1'",
        ),
    ],
)
def test_bad_catalogs(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "absent.toml")
