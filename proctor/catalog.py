"""Course catalog: modules (with required verified hours) and their topics, read from TOML.

The packaged default mirrors ICAI's SPOM for CA Final (`catalog_default.toml`); an institute can
point the server at its own file. Ids are stored in the ledger, so they must stay stable.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CATALOG = "catalog_default.toml"

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TOP_KEYS = {"title", "modules"}
_MODULE_KEYS = {"id", "set", "title", "hours", "mandatory", "topics"}
_TOPIC_KEYS = {"id", "title"}


class CatalogError(ValueError):
    """The catalog file is missing, not TOML, or not a valid catalog (the message says where)."""


@dataclass(frozen=True)
class Topic:
    id: str
    title: str


@dataclass(frozen=True)
class Module:
    id: str
    set: str
    title: str
    required_seconds: int
    mandatory: bool
    topics: list[Topic]

    @property
    def required_hours(self) -> float:
        return self.required_seconds / 3600


@dataclass(frozen=True)
class Catalog:
    modules: list[Module]
    title: str = ""
    _topics: dict[str, tuple[Module, Topic]] = field(default_factory=dict, repr=False, compare=False)
    _modules: dict[str, Module] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for m in self.modules:
            self._modules[m.id] = m
            for t in m.topics:
                self._topics[t.id] = (m, t)

    def topic(self, topic_id: str) -> tuple[Module, Topic] | None:
        """The module and topic for a topic id, or None."""
        return self._topics.get(topic_id)

    def module(self, module_id: str) -> Module | None:
        return self._modules.get(module_id)

    @property
    def sets(self) -> list[str]:
        """Set names in catalog order, without repeats."""
        return list(dict.fromkeys(m.set for m in self.modules))


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog; `None` loads the packaged default. Raises CatalogError."""
    if path is None:
        where = f"<packaged {DEFAULT_CATALOG}>"
        # Next to this module rather than importlib.resources: on Python 3.11, setuptools' editable
        # finder makes `files("proctor")` a MultiplexedPath that raises NotADirectoryError.
        text = (Path(__file__).resolve().parent / DEFAULT_CATALOG).read_text(encoding="utf-8")
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise CatalogError(f"{where}: cannot read catalog: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise CatalogError(f"{where}: catalog is not UTF-8 text: {e}") from e
    return parse_catalog(text, where)


def parse_catalog(text: str, where: str = "<catalog>") -> Catalog:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{where}: invalid TOML: {e}") from e

    def fail(msg: str) -> CatalogError:
        return CatalogError(f"{where}: {msg}")

    _no_unknown_keys(data, _TOP_KEYS, "top level", fail)
    title = data.get("title", "")
    if not isinstance(title, str):
        raise fail("'title' must be a string")
    raw_modules = data.get("modules")
    if not isinstance(raw_modules, list) or not raw_modules:
        raise fail("needs at least one [[modules]] table")

    modules: list[Module] = []
    module_ids: set[str] = set()
    topic_ids: dict[str, str] = {}
    for i, rm in enumerate(raw_modules, 1):
        if not isinstance(rm, dict):
            raise fail(f"modules entry #{i} must be a table")
        label = f"module #{i}" + (f" ({rm['id']!r})" if isinstance(rm.get("id"), str) else "")
        _no_unknown_keys(rm, _MODULE_KEYS, label, fail)
        mid = _require_id(rm, label, fail)
        if mid in module_ids:
            raise fail(f"duplicate module id {mid!r}")
        module_ids.add(mid)
        set_name = _require_str(rm, "set", label, fail)
        mtitle = _require_str(rm, "title", label, fail)
        hours = rm.get("hours")
        if hours is None:
            raise fail(f"{label}: missing required field 'hours'")
        if isinstance(hours, bool) or not isinstance(hours, int | float):
            raise fail(f"{label}: 'hours' must be a number, got {hours!r}")
        if not math.isfinite(hours) or hours <= 0:
            raise fail(f"{label}: 'hours' must be positive, got {hours!r}")
        mandatory = rm.get("mandatory", False)
        if not isinstance(mandatory, bool):
            raise fail(f"{label}: 'mandatory' must be true or false, got {mandatory!r}")
        raw_topics = rm.get("topics")
        if not isinstance(raw_topics, list) or not raw_topics:
            raise fail(f"{label}: needs at least one [[modules.topics]] table")
        topics: list[Topic] = []
        for j, rt in enumerate(raw_topics, 1):
            tlabel = f"{label}, topic #{j}"
            if not isinstance(rt, dict):
                raise fail(f"{tlabel} must be a table")
            _no_unknown_keys(rt, _TOPIC_KEYS, tlabel, fail)
            tid = _require_id(rt, tlabel, fail)
            if tid in topic_ids:
                raise fail(f"duplicate topic id {tid!r} (in {topic_ids[tid]!r} and {mid!r})")
            topic_ids[tid] = mid
            topics.append(Topic(id=tid, title=_require_str(rt, "title", tlabel, fail)))
        modules.append(
            Module(
                id=mid,
                set=set_name,
                title=mtitle,
                required_seconds=round(hours * 3600),
                mandatory=mandatory,
                topics=topics,
            )
        )
    return Catalog(modules=modules, title=title)


def _no_unknown_keys(table: dict[str, Any], allowed: set[str], label: str, fail: Any) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise fail(f"{label}: unknown field(s) {', '.join(map(repr, unknown))}")


def _require_str(table: dict[str, Any], key: str, label: str, fail: Any) -> str:
    value = table.get(key)
    if value is None:
        raise fail(f"{label}: missing required field {key!r}")
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{label}: {key!r} must be a non-empty string, got {value!r}")
    return value.strip()


def _require_id(table: dict[str, Any], label: str, fail: Any) -> str:
    value = _require_str(table, "id", label, fail)
    if not _ID.match(value):
        raise fail(f"{label}: id {value!r} must be lower-case letters, digits and hyphens")
    return value
