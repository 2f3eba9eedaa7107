"""`proctor eval liveness` on a small subset of the bundled photos, in-process with the shared engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.dataset import people
from models.detector import DetectorConfig
from models.engine import Engine
from models.images import read_image_file
from models.presentations import MeasureCache
from server.cli.liveness_eval import ATTACKS, evaluate_liveness


@pytest.fixture(scope="module")
def subset(dataset_root: Path) -> dict[str, list[Path]]:
    """Two people: a frontal and a turned photo of one (r ≈ +0.06 and +0.34), a turned photo of the other.

    Small on purpose (every photo becomes a dozen detections); the full figures come from
    `proctor eval liveness --json` (docs/benchmarks.md).
    """
    train = people(dataset_root / "train")
    return {"madonna": [train["madonna"][i] for i in (0, 8)], "jerry_seinfeld": [train["jerry_seinfeld"][6]]}


def test_attacks_are_rejected_and_a_rerun_is_served_from_the_cache(engine: Any, subset: dict[str, list[Path]],
                                                                   tmp_path: Path) -> None:
    cache_file = tmp_path / "measures.json"
    cache = MeasureCache(engine, cache_file)
    report = evaluate_liveness(cache, subset, 0.17, engine.threshold, None)
    cache.save()
    bona = report["bona_fide"]
    attacks = report["attacks"]
    assert isinstance(bona, dict) and isinstance(attacks, dict)
    assert bona["attempts"] > 0 and bona["bpcer"] is not None  # no gallery is left here: identity decides it
    for kind in ATTACKS:
        assert attacks[kind]["attempts"] > 0, kind
        assert attacks[kind]["apcer"] == 0, (kind, attacks[kind])
    # The turn a flat card or a moved photo makes stays below the threshold, a real turn above it.
    assert isinstance(report["max_attack_turn"], float) and report["max_attack_turn"] < 0.17
    again = MeasureCache(engine, cache_file)
    assert evaluate_liveness(again, subset, 0.17, engine.threshold, None)["attacks"] == attacks
    assert again.misses == 0 and again.hits > 0


def test_the_cache_is_kept_apart_per_backend_and_detector_settings(engine: Any, subset: dict[str, list[Path]],
                                                                    tmp_path: Path) -> None:
    """Landmarks depend on the detector: a cache filled under one setting must not answer for another."""
    image = read_image_file(subset["madonna"][0])
    cache_file = tmp_path / "measures.json"
    first = MeasureCache(engine, cache_file)
    first.measure(image)
    first.save()
    other_detector = Engine(device="cpu", backend=engine.backend.name, detector=DetectorConfig(min_face_px=40.0))
    other_backend = Engine(device="cpu", backend="torch" if engine.backend.name != "torch" else "onnxruntime")
    for other in (other_detector, other_backend):
        second = MeasureCache(other, cache_file)
        second.measure(image)
        assert (second.hits, second.misses) == (0, 1), other.backend.name
    same = MeasureCache(engine, cache_file)
    same.measure(image)
    assert (same.hits, same.misses) == (1, 0)
