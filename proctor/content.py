"""Lessons: the content pack's manifest (TOML), its files, and reading lessons made safe for the page.

A content pack is a directory with `content.toml` and the files it names:

    title = "Demo course"
    [[lessons]]
    id = "a-companies-act-2013-note"   # lower-case letters, digits, hyphens; unique; stored in the ledger
    topic = "a-companies-act-2013"     # a topic of the catalog
    title = "Reading note"
    kind = "reading"                   # "video" (.webm, .mp4) or "reading" (.md, .html)
    duration_s = 300                   # what complete means: 90 % of this, credited while it played
    file = "notes/a-companies-act-2013.md"

Errors are one line naming the file and the entry, like the catalog's. Files are named relative to
the pack and must stay inside it: no absolute paths, no `..`, no links out of it.
"""

from __future__ import annotations

import math
import re
import shutil
import tomllib
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import nh3
from markdown_it import MarkdownIt

MANIFEST = "content.toml"
COMPLETE_FRACTION = 0.9  # a lesson is complete once this share of its duration was credited while it played
KINDS = {"video": {".webm": "video/webm", ".mp4": "video/mp4"},
         "reading": {".md": "text/markdown", ".html": "text/html"}}
MAX_READING_BYTES = 512 * 1024

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TOP_KEYS = {"title", "lessons"}
_LESSON_KEYS = {"id", "topic", "title", "kind", "duration_s", "file"}
# What a reading lesson may contain once sanitised: text structure, no scripts, styles, forms or frames.
_TAGS = {"p", "br", "hr", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "b", "i", "code", "pre",
         "blockquote", "table", "thead", "tbody", "tr", "th", "td", "a", "abbr", "dl", "dt", "dd", "sup", "sub"}
_ATTRS = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"scope"}}


class ContentError(ValueError):
    """A content pack that is missing, not TOML, or not valid (the message says where)."""


@dataclass(frozen=True)
class Lesson:
    """One lesson of one topic."""

    id: str
    topic_id: str
    title: str
    kind: str  # "video" | "reading"
    duration_s: float
    file: str  # relative to the pack, POSIX separators

    @property
    def media_type(self) -> str:
        return KINDS[self.kind][PurePosixPath(self.file).suffix.lower()]


@dataclass(frozen=True)
class ContentPack:
    """The lessons of an installed pack, by topic in manifest order; `root` is None for no pack."""

    lessons: list[Lesson]
    root: Path | None = None
    title: str = ""
    _by_id: dict[str, Lesson] = field(default_factory=dict, repr=False, compare=False)
    _by_topic: dict[str, list[Lesson]] = field(default_factory=dict, repr=False, compare=False)
    _files: set[str] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        for lesson in self.lessons:
            self._by_id[lesson.id] = lesson
            self._by_topic.setdefault(lesson.topic_id, []).append(lesson)
            self._files.add(lesson.file)

    def lesson(self, lesson_id: str) -> Lesson | None:
        return self._by_id.get(lesson_id)

    def for_topic(self, topic_id: str) -> list[Lesson]:
        return list(self._by_topic.get(topic_id, []))

    def file_path(self, relative: str) -> Path | None:
        """The file a lesson names, or None: anything the manifest does not list, or outside the pack."""
        if self.root is None or relative not in self._files:
            return None
        path = (self.root / relative).resolve()
        return path if path.is_relative_to(self.root.resolve()) and path.is_file() else None


EMPTY = ContentPack([])


def parse_manifest(text: str, where: str = "<content>", topics: Collection[str] | None = None) -> ContentPack:
    """Validate a manifest's text; `topics`, when given, are the catalog's topic ids. Raises ContentError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ContentError(f"{where}: invalid TOML: {e}") from e

    def fail(msg: str) -> ContentError:
        return ContentError(f"{where}: {msg}")

    _no_unknown(data, _TOP_KEYS, "top level", fail)
    title = data.get("title", "")
    if not isinstance(title, str):
        raise fail("'title' must be a string")
    raw = data.get("lessons")
    if not isinstance(raw, list) or not raw:
        raise fail("needs at least one [[lessons]] table")
    lessons: list[Lesson] = []
    seen: set[str] = set()
    for i, rl in enumerate(raw, 1):
        if not isinstance(rl, dict):
            raise fail(f"lessons entry #{i} must be a table")
        label = f"lesson #{i}" + (f" ({rl['id']!r})" if isinstance(rl.get("id"), str) else "")
        _no_unknown(rl, _LESSON_KEYS, label, fail)
        lid = _text(rl, "id", label, fail)
        if not _ID.match(lid):
            raise fail(f"{label}: id {lid!r} must be lower-case letters, digits and hyphens")
        if lid in seen:
            raise fail(f"duplicate lesson id {lid!r}")
        seen.add(lid)
        topic = _text(rl, "topic", label, fail)
        if topics is not None and topic not in topics:
            raise fail(f"{label}: topic {topic!r} is not in the catalog")
        kind = _text(rl, "kind", label, fail)
        if kind not in KINDS:
            raise fail(f"{label}: kind must be 'video' or 'reading', got {kind!r}")
        duration = rl.get("duration_s")
        if isinstance(duration, bool) or not isinstance(duration, int | float) or not math.isfinite(duration) \
                or duration <= 0:
            raise fail(f"{label}: 'duration_s' must be a positive number of seconds, got {duration!r}")
        file = _text(rl, "file", label, fail)
        rel = PurePosixPath(file)
        if rel.is_absolute() or "\\" in file or any(p in ("..", ".") for p in rel.parts) or not rel.parts:
            raise fail(f"{label}: 'file' must be a path inside the pack, got {file!r}")
        if rel.suffix.lower() not in KINDS[kind]:
            raise fail(f"{label}: a {kind} lesson's file must end in {' or '.join(sorted(KINDS[kind]))}, got {file!r}")
        lessons.append(Lesson(lid, topic, _text(rl, "title", label, fail), kind, float(duration), str(rel)))
    return ContentPack(lessons, title=title)


def load_pack(root: Path, topics: Collection[str] | None = None) -> ContentPack:
    """Read and check a pack directory: its manifest and that every file it names is there, inside it."""
    manifest = root / MANIFEST
    where = str(manifest)
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(f"{root}: no {MANIFEST} (not a content pack)") from None
    except OSError as e:
        raise ContentError(f"{where}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ContentError(f"{where}: not UTF-8 text: {e}") from e
    parsed = parse_manifest(text, where, topics)
    base = root.resolve()
    for lesson in parsed.lessons:
        path = (root / lesson.file).resolve()
        if not path.is_relative_to(base):
            raise ContentError(f"{where}: lesson {lesson.id!r}: {lesson.file!r} leads outside the pack")
        if not path.is_file():
            raise ContentError(f"{where}: lesson {lesson.id!r}: file {lesson.file!r} is missing")
        if lesson.kind == "reading" and path.stat().st_size > MAX_READING_BYTES:
            raise ContentError(f"{where}: lesson {lesson.id!r}: {lesson.file!r} is larger than "
                               f"{MAX_READING_BYTES // 1024} KiB")
    return ContentPack(parsed.lessons, root=base, title=parsed.title)


def load_installed(root: Path, topics: Collection[str] | None = None) -> ContentPack:
    """The installed pack, or EMPTY when none is installed (a bad one still raises)."""
    return load_pack(root, topics) if (root / MANIFEST).is_file() else EMPTY


def install_pack(source: Path, dest: Path, topics: Collection[str] | None = None) -> ContentPack:
    """Check `source`, then replace `dest` with a copy of it; a refused pack leaves `dest` untouched."""
    load_pack(source, topics)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    staging, old = dest.with_name(f"{dest.name}.new-{tag}"), dest.with_name(f"{dest.name}.old-{tag}")
    shutil.copytree(source, staging, symlinks=False)
    try:
        pack = load_pack(staging, topics)
    except ContentError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return ContentPack(pack.lessons, root=dest.resolve(), title=pack.title)


_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def reading_html(pack: ContentPack, lesson: Lesson) -> str:
    """A reading lesson as HTML safe to put in the page: Markdown rendered, then everything sanitised."""
    path = pack.file_path(lesson.file)
    if path is None:
        raise ContentError(f"lesson {lesson.id!r}: its file is not in the installed pack")
    text = path.read_text(encoding="utf-8", errors="replace")
    html = _MD.render(text) if path.suffix.lower() == ".md" else text
    return sanitise_html(html)


def sanitise_html(html: str) -> str:
    """Allowlist sanitising: scripts, handlers, styles and `javascript:` links are dropped."""
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRS, url_schemes={"https", "http", "mailto"},
                     link_rel="noopener noreferrer")


def _no_unknown(table: dict[str, Any], allowed: set[str], label: str, fail: Callable[[str], ContentError]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise fail(f"{label}: unknown field(s) {', '.join(map(repr, unknown))}")


def _text(table: dict[str, Any], key: str, label: str, fail: Callable[[str], ContentError]) -> str:
    value = table.get(key)
    if value is None:
        raise fail(f"{label}: missing required field {key!r}")
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{label}: {key!r} must be a non-empty string, got {value!r}")
    return value.strip()
