"""`proctor content`: check and install a content pack, list what is installed, build the demo pack."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from proctor.catalog import Catalog, CatalogError, load_catalog
from proctor.content import MANIFEST, ContentError, ContentPack, install_pack, load_installed

from ..config import Settings
from ..demo.pack import build_demo_pack
from .base import emit_json, settings_from

USER_ERRORS = (ContentError, CatalogError)


def _catalog(settings: Settings) -> Catalog:
    return load_catalog(Path(settings.catalog) if settings.catalog else None)


def _topics(catalog: Catalog) -> set[str]:
    return {t.id for m in catalog.modules for t in m.topics}


def _summary(pack: ContentPack, where: Path) -> dict[str, object]:
    return {"dir": str(where), "title": pack.title, "lessons": len(pack.lessons),
            "videos": sum(lesson.kind == "video" for lesson in pack.lessons),
            "readings": sum(lesson.kind == "reading" for lesson in pack.lessons)}


def cmd_content_import(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    dest = settings.content_path()
    pack = install_pack(Path(args.dir), dest, _topics(_catalog(settings)))
    out = _summary(pack, dest)
    emit_json(out) if args.json else print(f"installed {out['lessons']} lessons ({out['videos']} videos, "
                                           f"{out['readings']} readings) into {dest}")
    return 0


def cmd_content_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    catalog = _catalog(settings)
    dest = settings.content_path()
    pack = load_installed(dest, _topics(catalog))
    if args.json:
        emit_json({**_summary(pack, dest), "items": [
            {"id": x.id, "topic_id": x.topic_id, "title": x.title, "kind": x.kind, "duration_s": x.duration_s,
             "file": x.file} for x in pack.lessons]})
        return 0
    if not pack.lessons:
        print(f"no content pack installed in {dest} (`proctor content import DIR` or `proctor content demo`)")
        return 0
    print(f"{pack.title or 'content pack'} in {dest}:")
    for module in catalog.modules:
        for topic in module.topics:
            for x in pack.for_topic(topic.id):
                print(f"  {x.kind:<8} {x.duration_s:>6g} s  {x.id}  ({x.title})")
    return 0


def ensure_demo_pack(settings: Settings, *, force: bool = False) -> bool:
    """Build the demo pack when no pack is installed (or `force`); True if it built one."""
    dest = settings.content_path()
    if (dest / MANIFEST).is_file() and not force:
        return False
    print(f"building the demo content pack in {dest} (slide videos, once)…", file=sys.stderr, flush=True)
    build_demo_pack(dest, _catalog(settings))
    return True


def cmd_content_demo(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    built = ensure_demo_pack(settings, force=args.force)
    dest = settings.content_path()
    out = {**_summary(load_installed(dest), dest), "built": built}
    emit_json(out) if args.json else print(
        f"{'built' if built else 'kept'} the content pack in {dest}: {out['lessons']} lessons")
    return 0
