"""`proctor eval liveness [DIR] --json`: APCER per attack kind and BPCER (ISO/IEC 30107-3).

DIR is a labelled tree (one folder per person; `train/` and `val/` splits are merged), by default
the bundled photos that `proctor models fetch` fetches. Every attempt is a challenge (turn_left or
turn_right) checked exactly as a live session checks it (`proctor.liveness.turned` against a
baseline, identity against the person's gallery, the frozen-source watch):

- bona fide: a frontal photo (|r| < 0.1) then a turned photo (|r| ≥ 0.25) of the same person, mirrored
  images included; the challenge asks the direction of the turn. Identity: the turned photo against
  the person's other photos (never the two of the pair, nor their mirrors).
- still_photo: a photo moved about and nearer/further in a webcam frame; both actions. A frame counts
  only if it still verifies as the victim (three references, as enrollment keeps), as in a session.
- printed_card: a photo as a flat card turned ±20–45° in 3D (perspective, focal ≈ 2.7 × width); both actions.
- frozen_frame: the same frame twice; rejected when the frozen-source watch fires or nothing turns.
- wrong_direction: a bona fide turn replayed while the challenge asks the other direction.
- other_person: another person's frontal→turned pair, against this person's gallery.

Identity is checked as a live session checks it: against three references of the person (their
first other photos, unmirrored), never the photo presented, at the engine's threshold.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.dataset import fetch_dataset, people
from models.engine import Engine
from models.images import ImageError, RGBImage, read_image_file
from models.paths import proctor_home
from models.presentations import CARD_ANGLES, MeasureCache, card, frozen_change, mirrored, still_moves
from proctor.liveness import Action, LivenessPolicy, StaticWatch, turned

from .base import CliError, emit_json, show_progress

FRONTAL = 0.1  # |r| below this is a frontal photo (a baseline)
TURNED = 0.25  # |r| at least this is a clearly turned head
REFS = 3  # references per student, as enrollment keeps
ATTACKS = ("still_photo", "printed_card", "frozen_frame", "wrong_direction", "other_person")


@dataclass(frozen=True)
class Shot:
    """One usable photo (or its mirror) of one person, measured."""

    person: str
    source: str  # the file it came from: a photo and its mirror share it
    image: RGBImage
    yaw: float
    embedding: np.ndarray
    mirror: bool  # the mirror image of the file


def _photos(root: Path, limit: int | None) -> dict[str, list[Path]]:
    trees = [d for d in (root / "train", root / "val") if d.is_dir()] or [root]
    out: dict[str, list[Path]] = {}
    for tree in trees:
        for person, paths in people(tree).items():
            out.setdefault(person, []).extend(paths)
    if limit is not None:
        out = {p: v[:limit] for p, v in out.items()}
    return out


def _best(emb: np.ndarray, gallery: Iterable[np.ndarray]) -> float:
    g = list(gallery)
    return max((float(emb @ x) for x in g), default=-1.0)


def _measure_shots(cache: MeasureCache, photos: dict[str, list[Path]], tick: object) -> list[Shot]:
    shots: list[Shot] = []
    for person, paths in photos.items():
        for path in paths:
            try:
                image = read_image_file(path)
            except ImageError:
                continue
            for img, mirror in ((image, False), (mirrored(image), True)):
                m = cache.measure(img)
                if callable(tick):
                    tick()
                if m.faces == 1 and m.yaw is not None and m.embedding is not None:
                    shots.append(Shot(person, str(path), img, m.yaw, np.asarray(m.embedding, np.float32), mirror))
    return shots


def run_liveness_eval(args: argparse.Namespace, load_engine: Callable[[], Engine]) -> dict[str, object]:
    root = Path(args.liveness_dir) if args.liveness_dir is not None else fetch_dataset()
    if not root.is_dir() or not _photos(root, None):
        raise CliError(f"{root}: expected a directory with one folder of photos per person")
    engine = load_engine()
    photos = _photos(root, args.limit)
    min_turn = args.min_turn if args.min_turn is not None else LivenessPolicy().min_turn
    threshold = engine.threshold
    cache = MeasureCache(engine, None if args.no_cache else proctor_home() / "cache" / "liveness-measures.json")
    bar = tqdm(total=None, unit="img", desc="measuring", file=sys.stderr) if show_progress(args) else None
    tick = (lambda: bar.update(1)) if bar is not None else None
    try:
        return evaluate_liveness(cache, photos, min_turn, threshold, tick)
    finally:
        cache.save()
        if bar is not None:
            bar.close()


def evaluate_liveness(cache: MeasureCache, photos: dict[str, list[Path]], min_turn: float, threshold: float,
              tick: object) -> dict[str, object]:
    shots = _measure_shots(cache, photos, tick)
    by_person: dict[str, list[Shot]] = {}
    for s in shots:
        by_person.setdefault(s.person, []).append(s)

    def gallery(person: str, exclude: set[str]) -> list[np.ndarray]:
        # Like an enrollment: three reference photos (unmirrored), never the photos presented.
        return [s.embedding for s in by_person.get(person, []) if s.source not in exclude and not s.mirror][:REFS]

    pairs = [(a, b) for shots_ in by_person.values() for a in shots_ for b in shots_
             if abs(a.yaw) < FRONTAL and abs(b.yaw) >= TURNED and a.source != b.source]
    bona_deltas: list[float] = []
    bona_fail = 0
    wrong_ok = 0
    for a, b in pairs:
        action = Action.TURN_LEFT if b.yaw > a.yaw else Action.TURN_RIGHT
        same = _best(b.embedding, gallery(a.person, {a.source, b.source})) >= threshold
        bona_deltas.append((b.yaw - a.yaw) * action.sign)
        bona_fail += int(not (same and turned(action, a.yaw, b.yaw, min_turn)))
        other = Action.TURN_RIGHT if action is Action.TURN_LEFT else Action.TURN_LEFT
        wrong_ok += int(same and turned(other, a.yaw, b.yaw, min_turn))

    accepted = dict.fromkeys(ATTACKS, 0)
    attempts = dict.fromkeys(ATTACKS, 0)
    attack_deltas: list[float] = []  # the largest move in the asked direction, per pose attack
    policy = LivenessPolicy(min_turn=min_turn)
    for s in (s for s in shots if not s.mirror):  # a mirror makes no new card or still
        for kind, frames in (("still_photo", still_moves(s.image)),
                             ("printed_card", [card(s.image, a) for a in CARD_ANGLES])):
            base = cache.measure(frames[0] if kind == "still_photo" else s.image, embed=False).yaw
            refs = gallery(s.person, {s.source})
            # A frame only counts if it still verifies as the victim, as in a live session.
            yaws = [m.yaw for m in (cache.measure(f) for f in frames)
                    if m.yaw is not None and m.embedding is not None
                    and _best(np.asarray(m.embedding, np.float32), refs) >= threshold]
            if callable(tick):
                tick()
            if base is None:
                continue
            for action in Action:
                attempts[kind] += 1
                best = max(((y - base) * action.sign for y in yaws), default=0.0)
                attack_deltas.append(best)
                accepted[kind] += int(best > min_turn)
        # Frozen: the watch sees the same face region sample after sample; no frame turns either.
        watch = StaticWatch(policy)
        change = frozen_change(s.image)
        frozen_static = [watch.observe(change) for _ in range(policy.static_samples)][-1]
        for action in Action:
            attempts["frozen_frame"] += 1
            # The same frame every sample: its yaw never leaves the baseline.
            accepted["frozen_frame"] += int(not frozen_static and turned(action, s.yaw, s.yaw, min_turn))
    attempts["wrong_direction"] = len(pairs)
    accepted["wrong_direction"] = wrong_ok
    for a, b in pairs:
        action = Action.TURN_LEFT if b.yaw > a.yaw else Action.TURN_RIGHT
        for victim in by_person:
            if victim == a.person:
                continue
            attempts["other_person"] += 1
            same = _best(b.embedding, gallery(victim, set())) >= threshold
            accepted["other_person"] += int(same and turned(action, a.yaw, b.yaw, min_turn))

    lo = max(attack_deltas, default=0.0)
    hi = min(bona_deltas, default=1.0)
    return {
        "standard": "ISO/IEC 30107-3 (APCER per attack kind, BPCER)",
        "min_turn": min_turn,
        "identity_threshold": threshold,
        "suggested_min_turn": round((lo + hi) / 2, 3) if hi > lo else None,
        "max_attack_turn": round(lo, 3),
        "min_bona_fide_turn": round(hi, 3),
        "people": len(by_person),
        "shots": len(shots),
        "bona_fide": {"attempts": len(pairs), "rejected": bona_fail,
                      "bpcer": round(bona_fail / len(pairs), 4) if pairs else None},
        "attacks": {k: {"attempts": attempts[k], "accepted": accepted[k],
                        "apcer": round(accepted[k] / attempts[k], 4) if attempts[k] else None} for k in ATTACKS},
        "cache": {"hits": cache.hits, "misses": cache.misses},
    }


def cmd_eval_liveness(args: argparse.Namespace, load_engine: Callable[[], Engine]) -> int:
    if args.limit is not None and args.limit < 2:
        raise CliError("--limit must be at least 2 photos per person")
    report = run_liveness_eval(args, load_engine)
    if args.json:
        emit_json(report)
        return 0
    print(f"liveness at min_turn {report['min_turn']} (suggested {report['suggested_min_turn']}): "
          f"{report['people']} people, {report['shots']} photos and mirrors")
    bona = report["bona_fide"]
    assert isinstance(bona, dict)
    print(f"  BPCER {bona['bpcer']} ({bona['rejected']}/{bona['attempts']})")
    attacks = report["attacks"]
    assert isinstance(attacks, dict)
    for kind, a in attacks.items():
        print(f"  APCER {kind}: {a['apcer']} ({a['accepted']}/{a['attempts']})")
    return 0
