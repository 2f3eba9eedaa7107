"""Yaw ratio and face-region change (models/pose.py), and the card warp of the liveness eval."""

from __future__ import annotations

import numpy as np

from models.pose import face_change, yaw_ratio
from models.presentations import card, mirrored


def test_yaw_ratio_rises_when_the_nose_moves_toward_the_image_right() -> None:
    eyes = ((40.0, 50.0), (80.0, 50.0))
    mouth = ((45.0, 90.0), (75.0, 90.0))
    assert yaw_ratio((*eyes, (60.0, 70.0), *mouth)) == 0.0
    assert yaw_ratio((*eyes, (70.0, 70.0), *mouth)) == 0.25  # the student's own left: r rises
    assert yaw_ratio((*eyes, (50.0, 70.0), *mouth)) == -0.25
    assert yaw_ratio(()) is None and yaw_ratio(((50.0, 0.0), (50.0, 0.0), (50.0, 9.0))) is None


def test_face_change_is_zero_for_a_frozen_frame_and_not_for_sensor_noise() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    box = (100.0, 60.0, 220.0, 200.0)
    assert face_change(frame, frame.copy(), box) == 0.0
    noisy = np.clip(frame.astype(np.int16) + rng.normal(0, 2, frame.shape).round().astype(np.int16), 0, 255)
    change = face_change(frame, noisy.astype(np.uint8), box)
    assert change is not None and change > 0.35  # a real camera's noise alone clears the static threshold
    assert face_change(frame, frame[:100], box) is None


def test_a_card_turned_in_3d_narrows_one_side_and_mirroring_flips_it() -> None:
    photo = np.full((200, 160, 3), 200, np.uint8)
    warped = card(photo, 45.0, fill=0)
    filled = (warped.sum(axis=2) > 0).sum(axis=0)  # rows covered, per column
    cols = np.flatnonzero(filled)
    assert len(cols) < 160 * 0.8  # foreshortened: narrower than the flat card
    assert abs(int(filled[cols[0]]) - int(filled[cols[-1]])) > 20  # perspective: the near edge is taller
    assert np.array_equal(mirrored(mirrored(photo)), photo)
