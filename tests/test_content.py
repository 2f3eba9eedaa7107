"""Content packs: the manifest's checks, installing and listing from the CLI, sanitised reading lessons."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.catalog import load_catalog
from proctor.content import ContentError, install_pack, load_pack, parse_manifest, reading_html
from server.cli.main import main

TOPIC = "a-companies-act-2013"


def write_pack(root: Path, manifest: str, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "content.toml").write_text(manifest, encoding="utf-8")
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


GOOD = f"""title = "t"
[[lessons]]
id = "intro"
topic = "{TOPIC}"
title = "Intro"
kind = "video"
duration_s = 12
file = "v/intro.webm"

[[lessons]]
id = "note"
topic = "{TOPIC}"
title = "Note"
kind = "reading"
duration_s = 60
file = "n/note.md"
"""


@pytest.mark.parametrize(("manifest", "message"), [
    ("lessons = [", "invalid TOML"),
    ('title = "x"', "needs at least one [[lessons]] table"),
    (GOOD.replace('id = "intro"', 'id = "Intro!"'), "id 'Intro!' must be lower-case"),
    (GOOD.replace('id = "note"', 'id = "intro"'), "duplicate lesson id 'intro'"),
    (GOOD.replace('kind = "video"', 'kind = "podcast"'), "kind must be 'video' or 'reading'"),
    (GOOD.replace("duration_s = 12", "duration_s = -1"), "'duration_s' must be a positive number"),
    (GOOD.replace('"v/intro.webm"', '"../secret.webm"'), "must be a path inside the pack"),
    (GOOD.replace('"v/intro.webm"', '"/etc/passwd.webm"'), "must be a path inside the pack"),
    (GOOD.replace('"v/intro.webm"', '"v/intro.exe"'), "must end in .mp4 or .webm"),
    (GOOD.replace(f'topic = "{TOPIC}"', 'topic = "no-such-topic"', 1), "topic 'no-such-topic' is not in the catalog"),
    (GOOD.replace('title = "Intro"', 'title = "Intro"\nextra = 1'), "unknown field(s) 'extra'"),
])
def test_a_bad_manifest_is_refused_with_a_one_line_error(manifest: str, message: str) -> None:
    topics = {t.id for m in load_catalog().modules for t in m.topics}
    with pytest.raises(ContentError) as info:
        parse_manifest(manifest, "pack/content.toml", topics)
    text = str(info.value)
    assert message in text and text.startswith("pack/content.toml: ") and "\n" not in text


def test_a_pack_with_a_missing_file_is_refused_and_nothing_is_replaced(tmp_path: Path) -> None:
    good = write_pack(tmp_path / "good", GOOD, {"v/intro.webm": b"x" * 100, "n/note.md": b"# hi"})
    installed = install_pack(good, tmp_path / "content")
    assert [x.id for x in installed.for_topic(TOPIC)] == ["intro", "note"]
    bad = write_pack(tmp_path / "bad", GOOD.replace("n/note.md", "n/other.md"), {"v/intro.webm": b"x"})
    with pytest.raises(ContentError, match=r"file 'n/other\.md' is missing"):
        install_pack(bad, tmp_path / "content")
    assert load_pack(tmp_path / "content").lesson("note") is not None  # the old pack is untouched


def test_a_link_out_of_the_pack_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("secret")
    pack = write_pack(tmp_path / "p", GOOD, {"v/intro.webm": b"x"})
    (pack / "n").mkdir()
    (pack / "n" / "note.md").symlink_to(secret)
    with pytest.raises(ContentError, match="leads outside the pack"):
        load_pack(pack)


def test_reading_lessons_are_sanitised(tmp_path: Path) -> None:
    md = b"## Title\n\n<script>alert(1)</script> **bold** [x](javascript:alert(1)) [ok](https://icai.org)\n"
    pack = load_pack(write_pack(tmp_path / "p", GOOD, {"v/intro.webm": b"x", "n/note.md": md}))
    lesson = pack.lesson("note")
    assert lesson is not None
    html = reading_html(pack, lesson)
    assert "<h2>Title</h2>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html and 'href="javascript' not in html and 'href="https://icai.org"' in html
    assert "<script>" not in html  # raw HTML in Markdown is text, not markup
    raw = b'<p onclick="x()">hi</p><img src=x onerror=alert(1)><iframe></iframe><style>*{}</style>'
    pack = load_pack(write_pack(tmp_path / "h", GOOD.replace("n/note.md", "n/note.html"),
                                {"v/intro.webm": b"x", "n/note.html": raw}))
    lesson = pack.lesson("note")
    assert lesson is not None
    html = reading_html(pack, lesson)
    assert html.startswith("<p>hi</p>")
    assert "onclick" not in html and "<img" not in html and "<iframe" not in html and "<style" not in html


def test_cli_imports_lists_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_CONTENT_DIR", str(tmp_path / "installed"))
    good = write_pack(tmp_path / "good", GOOD, {"v/intro.webm": b"x", "n/note.md": b"hi"})
    assert main(["content", "import", str(good)]) == 0
    assert "installed 2 lessons (1 videos, 1 readings)" in capsys.readouterr().out
    assert main(["content", "list"]) == 0
    out = capsys.readouterr().out
    assert "intro" in out and "note" in out
    bad = write_pack(tmp_path / "bad", GOOD.replace('kind = "video"', 'kind = "film"'), {})
    assert main(["content", "import", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("proctor: error: ") and "kind must be 'video' or 'reading'" in err and "\n" not in err
