"""ROC figures for a model on a labelled tree (one folder per person): EER, TAR at fixed FAR.

Two protocols:
- `pairs`: every pair of photos, genuine if same person — the usual face-verification ROC.
- `gallery` (with a separate reference tree): each probe against each person's references,
  scored best-of-k like the live verifier, so the threshold it suggests fits production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .dataset import people
from .embedder import Embeddings
from .engine import Engine
from .images import ImageError, read_image_file


@dataclass(frozen=True)
class RocReport:
    """Verification accuracy figures for one score set."""

    model: str
    protocol: str
    images: int
    skipped: list[str]  # images with no usable face
    genuine: int
    impostor: int
    genuine_mean: float
    impostor_mean: float
    eer: float
    eer_threshold: float
    tar_at_far_1e2: float
    threshold_at_far_1e2: float
    tar_at_far_1e3: float
    threshold_at_far_1e3: float
    suggested_threshold: float  # the EER threshold: balances false rejects (lost time) and false accepts
    balanced_accuracy_at_suggested: float
    stored_threshold: float
    balanced_accuracy_at_stored: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def embed_tree(engine: Engine, root: Path, on_image: Callable[[], None] | None = None
               ) -> tuple[list[str], Embeddings, list[str]]:
    """Embed the most confident face of each photo. Returns (labels, embeddings, skipped paths)."""
    labels: list[str] = []
    vectors: list[Embeddings] = []
    skipped: list[str] = []
    for person, photos in people(root).items():
        for photo in photos:
            if on_image:
                on_image()
            try:
                frame = read_image_file(photo)
            except ImageError:
                skipped.append(str(photo))
                continue
            faces = engine.detect([frame])[0]
            if not faces:
                skipped.append(str(photo))
                continue
            vectors.append(engine.embed_faces([frame], [faces[0]]))
            labels.append(person)
    if not vectors:
        raise ValueError(f"{root}: no usable faces (expected one folder per person with photos)")
    return labels, np.concatenate(vectors), skipped


def roc(genuine: NDArray[np.float64], impostor: NDArray[np.float64]) -> dict[str, float]:
    thresholds = np.unique(np.concatenate([genuine, impostor, [1.01]]))
    tar = np.array([(genuine >= t).mean() for t in thresholds])
    far = np.array([(impostor >= t).mean() for t in thresholds])
    frr = 1 - tar
    gap = np.abs(far - frr)
    # When genuine and impostor scores separate cleanly many thresholds tie; take the middle one
    # rather than the edge hugging the weakest genuine score.
    ties = np.where(gap == gap.min())[0]
    i = int(ties[len(ties) // 2])

    def at_far(target: float) -> tuple[float, float]:
        ok = np.where(far <= target)[0]
        j = int(ok[np.argmax(tar[ok])])  # best TAR among thresholds meeting the FAR target
        return float(tar[j]), float(thresholds[j])

    tar2, thr2 = at_far(1e-2)
    tar3, thr3 = at_far(1e-3)
    return {"eer": float((far[i] + frr[i]) / 2), "eer_threshold": float(thresholds[i]),
            "tar_at_far_1e2": tar2, "threshold_at_far_1e2": thr2,
            "tar_at_far_1e3": tar3, "threshold_at_far_1e3": thr3}


def balanced_accuracy(genuine: NDArray[np.float64], impostor: NDArray[np.float64], threshold: float) -> float:
    return float(((genuine >= threshold).mean() + (impostor < threshold).mean()) / 2)


def evaluate(engine: Engine, probes: Path, references: Path | None = None,
             on_image: Callable[[], None] | None = None) -> RocReport:
    labels, embs, skipped = embed_tree(engine, probes, on_image)
    if references is None:
        protocol = "pairs"
        sims = embs @ embs.T
        same = np.equal.outer(labels, labels)
        upper = np.triu(np.ones_like(same, dtype=bool), k=1)
        genuine = sims[same & upper].astype(np.float64)
        impostor = sims[~same & upper].astype(np.float64)
        n_images = len(labels)
    else:
        protocol = "gallery"
        ref_labels, ref_embs, ref_skipped = embed_tree(engine, references, on_image)
        skipped += ref_skipped
        people_ = sorted(set(ref_labels))
        ref_arr = np.array(ref_labels)
        gen: list[float] = []
        imp: list[float] = []
        for label, emb in zip(labels, embs, strict=True):
            for person in people_:
                score = float(np.max(ref_embs[ref_arr == person] @ emb))
                (gen if person == label else imp).append(score)
        genuine, impostor = np.array(gen), np.array(imp)
        n_images = len(labels) + len(ref_labels)
    if genuine.size == 0 or impostor.size == 0:
        raise ValueError("need at least two people with two photos each")
    figures = roc(genuine, impostor)
    suggested = figures["eer_threshold"]
    return RocReport(
        model=engine.model_name, protocol=protocol, images=n_images, skipped=skipped,
        genuine=int(genuine.size), impostor=int(impostor.size),
        genuine_mean=float(genuine.mean()), impostor_mean=float(impostor.mean()),
        suggested_threshold=suggested,
        balanced_accuracy_at_suggested=balanced_accuracy(genuine, impostor, suggested),
        stored_threshold=engine.threshold,
        balanced_accuracy_at_stored=balanced_accuracy(genuine, impostor, engine.threshold),
        **figures,
    )
