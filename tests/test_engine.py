"""The real engine: trained FaceNet weights, MTCNN, verdicts, enrollment and accuracy."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.batcher import Batcher
from models.engine import Engine, VerifyRequest
from models.enroll import EnrollmentError, enroll
from models.evaluate import evaluate
from models.frames import blank_frame, photo_to_frame, side_by_side
from models.images import ImageError


def jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_val_photos_against_train_references_meet_the_accuracy_bar(engine: Engine, dataset_root) -> None:  # type: ignore[no-untyped-def]
    report = evaluate(engine, dataset_root / "val", dataset_root / "train")
    assert report.protocol == "gallery" and report.genuine >= 20 and report.impostor >= 80
    assert report.balanced_accuracy_at_stored >= 0.93, report
    assert report.genuine_mean - report.impostor_mean > 0.3


def test_verdicts_for_owner_impostor_empty_and_two_faces(engine: Engine, photos, references) -> None:  # type: ignore[no-untyped-def]
    madonna, ben = photos["madonna"][0], photos["ben_afflek"][0]
    requests = [
        VerifyRequest(photo_to_frame(madonna), references["madonna"]),
        VerifyRequest(photo_to_frame(madonna), references["ben_afflek"]),
        VerifyRequest(blank_frame(), references["madonna"]),
        VerifyRequest(side_by_side(madonna, ben), references["madonna"]),
    ]
    owner, impostor, empty, two = engine.verify_batch(requests)
    assert not isinstance(owner, Exception) and owner.reason == "ok" and owner.match and owner.faces == 1
    assert owner.score is not None and owner.score >= engine.threshold
    assert not isinstance(impostor, Exception) and impostor.reason == "mismatch" and not impostor.match
    assert impostor.score is not None and impostor.score < engine.threshold
    assert not isinstance(empty, Exception) and (empty.reason, empty.faces, empty.match) == ("no_face", 0, False)
    assert not isinstance(two, Exception) and two.reason == "multiple_faces" and two.faces == 2 and not two.match


def test_a_faceless_frame_inside_a_same_size_batch_works(engine: Engine, photos) -> None:  # type: ignore[no-untyped-def]
    # Upstream MTCNN.detect breaks on such batches (facenet-pytorch issues 206, 224).
    frames = [photo_to_frame(photos["madonna"][0]), blank_frame(), photo_to_frame(photos["elton_john"][0])]
    faces = engine.detect(frames)
    assert [len(f) for f in faces] == [1, 0, 1]
    box = faces[0][0].box
    assert 0 <= box[0] < box[2] <= 640 and 0 <= box[1] < box[3] <= 480  # full-frame coordinates


def test_frames_of_different_sizes_share_a_batch(engine: Engine, photos) -> None:  # type: ignore[no-untyped-def]
    photo = photos["mindy_kaling"][0]
    faces = engine.detect([photo_to_frame(photo, (640, 480)), photo_to_frame(photo, (320, 240))])
    assert [len(f) for f in faces] == [1, 1]
    big, small = faces[0][0].box, faces[1][0].box
    assert big[2] - big[0] == pytest.approx(2 * (small[2] - small[0]), rel=0.15)


def test_too_dark_face_is_low_quality(engine: Engine, photos, references) -> None:  # type: ignore[no-untyped-def]
    dark = (photo_to_frame(photos["madonna"][0]).astype(np.float32) * 0.12).astype(np.uint8)
    (verdict,) = engine.verify_batch([VerifyRequest(dark, references["madonna"])])
    assert not isinstance(verdict, Exception)
    assert verdict.reason in ("low_quality", "no_face") and not verdict.match


async def test_batcher_with_real_engine_fails_only_the_bad_frame(engine: Engine, photos, references) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    batcher = Batcher(engine, max_batch_size=4, max_wait_ms=200)
    await batcher.start()
    try:
        good = photo_to_frame(photos["jerry_seinfeld"][0])
        results = await asyncio.gather(
            batcher.verify(good, references["jerry_seinfeld"]),
            batcher.verify(np.zeros((480, 640), np.uint8), references["jerry_seinfeld"]),  # type: ignore[arg-type]
            batcher.verify(blank_frame(), references["jerry_seinfeld"]),
            return_exceptions=True,
        )
    finally:
        await batcher.aclose()
    assert not isinstance(results[0], BaseException) and results[0].reason == "ok"
    assert isinstance(results[1], ImageError)
    assert not isinstance(results[2], BaseException) and results[2].reason == "no_face"


def test_enrollment_refuses_bad_reference_photos(engine: Engine, photos) -> None:  # type: ignore[no-untyped-def]
    madonna, ben = photos["madonna"][0], photos["ben_afflek"][0]
    good = jpeg(photo_to_frame(madonna))
    cases = [
        (jpeg(blank_frame()), "no face"),
        (jpeg(side_by_side(madonna, ben)), "2 faces"),
        (jpeg(photo_to_frame(madonna, scale=0.45)), "too small"),  # ~60 px face
        (b"not an image", "not a recognised image"),
    ]
    for bad, reason in cases:
        with pytest.raises(EnrollmentError, match=reason) as info:
            enroll(engine, [good, bad])
        assert info.value.index == 1 and str(info.value).startswith("photo 2:")
    result = enroll(engine, [good, jpeg(photo_to_frame(photos["madonna"][1]))])
    assert result.model == "facenet-msceleb-128" and result.embeddings.shape == (2, 128)
    assert np.allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-4)
    assert result.photos[0] == good
