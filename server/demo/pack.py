"""Builds the demo content pack: per module, a slide video (VP8 in WebM, which Chromium plays) shown in
each of its topics, and per topic a reading note (`notes.toml`).

Videos are rendered at set-up, never committed: `proctor content demo` (run by `make setup`) and
`proctor serve` build the pack when none is installed.
"""

from __future__ import annotations

import functools
import shutil
import tomllib
import uuid
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from proctor.catalog import Catalog, Module
from proctor.content import ContentPack, install_pack

NOTES = Path(__file__).resolve().parent / "notes.toml"
WIDTH, HEIGHT, FPS = 640, 360, 10
SECONDS_PER_SLIDE = 4
READING_S = 180  # what a reading note is expected to take
BG, FG, ACCENT = (21, 45, 84), (245, 245, 245), (242, 169, 0)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
          width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def slides(module: Module) -> list[tuple[str, list[str]]]:
    """(heading, lines) of each slide of a module's overview video."""
    return [
        (f"Set {module.set}: {module.title}",
         [f"{module.required_hours:g} hours of verified study",
          "Mandatory" if module.mandatory else "Elective: choose one module of the set"]),
        ("Topics", [t.title for t in module.topics]),
        ("How your time is credited", ["Sit facing the camera: you are verified every few seconds.",
                                        "The lesson must be playing or being read.",
                                        "The video pauses by itself when you are not verified."]),
    ]


def render_slide(heading: str, lines: list[str]) -> Image.Image:
    img = Image.new("RGB", (WIDTH, HEIGHT), BG)
    draw = ImageDraw.Draw(img)
    y = 28
    for line in _wrap(draw, heading, _font(28), WIDTH - 64)[:2]:
        draw.text((32, y), line, font=_font(28), fill=ACCENT)
        y += 36
    y += 10
    body = _font(18)
    for item in lines:
        for i, line in enumerate(_wrap(draw, item, body, WIDTH - 88)):
            if y > HEIGHT - 70:
                break
            draw.text((44 if i else 32, y), ("" if i else "• ") + line, font=body, fill=FG)
            y += 24
    return img


def render_frame(slide: Image.Image, progress: float, footer: str) -> np.ndarray:
    img = slide.copy()
    draw = ImageDraw.Draw(img)
    # A moving bar and a clock: the clip is visibly playing, never a still.
    draw.rectangle((32, HEIGHT - 40, 32 + int((WIDTH - 64) * progress), HEIGHT - 32), fill=ACCENT)
    draw.text((32, HEIGHT - 28), footer, font=_font(14), fill=FG)
    return np.asarray(img)


def write_video(module: Module, path: Path, *, seconds_per_slide: int = SECONDS_PER_SLIDE, fps: int = FPS) -> float:
    """Render a module's overview as a VP8 WebM; returns its duration in seconds."""
    deck = [render_slide(heading, lines) for heading, lines in slides(module)]
    total = len(deck) * seconds_per_slide * fps
    with av.open(str(path), mode="w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"deadline": "realtime", "cpu-used": "8"}
        stream.bit_rate = 400_000
        for n in range(total):
            slide = deck[n // (seconds_per_slide * fps)]
            clock = f"{module.title} — {n // fps // 60}:{n // fps % 60:02d}"
            frame = av.VideoFrame.from_ndarray(render_frame(slide, (n + 1) / total, clock), format="rgb24")
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return total / fps


def build_demo_pack(dest: Path, catalog: Catalog) -> ContentPack:
    """Render the pack into a scratch folder next to `dest`, check it, then install it at `dest`."""
    notes = tomllib.loads(NOTES.read_text(encoding="utf-8"))
    scratch = dest.with_name(f"{dest.name}.build-{uuid.uuid4().hex[:8]}")
    (scratch / "video").mkdir(parents=True)
    (scratch / "notes").mkdir()
    try:
        entries: list[str] = []
        for module in catalog.modules:
            video = f"video/{module.id}.webm"
            seconds = write_video(module, scratch / video)
            for topic in module.topics:
                entries.append(_entry(f"{topic.id}-overview", topic.id, f"Module overview: {module.title}", "video",
                                      seconds, video))
                note = notes.get(topic.id)
                if note is not None:
                    (scratch / "notes" / f"{topic.id}.md").write_text(
                        f"## {note['title']}\n{note['body']}", encoding="utf-8")
                    entries.append(_entry(f"{topic.id}-note", topic.id, f"Reading: {note['title']}", "reading",
                                          READING_S, f"notes/{topic.id}.md"))
        (scratch / "content.toml").write_text(
            f'title = "Demo course: {catalog.title}"\n\n' + "\n".join(entries), encoding="utf-8")
        topics = {t.id for m in catalog.modules for t in m.topics}
        return install_pack(scratch, dest, topics)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _entry(lesson_id: str, topic: str, title: str, kind: str, seconds: float, file: str) -> str:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (f"[[lessons]]\nid = {q(lesson_id)}\ntopic = {q(topic)}\ntitle = {q(title)}\nkind = {q(kind)}\n"
            f"duration_s = {seconds:g}\nfile = {q(file)}\n")
