# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Approximate-time pairing of colour, depth (and part labels) into RGB-D frames."""

from __future__ import annotations

import numpy as np
import pytest

from resem3d_perception import Intrinsics
from resem3d_perception.errors import PerceptionInputError
from resem3d_perception.frame_sync import FrameSync

K = Intrinsics(width=8, height=6, fx=8.0, fy=8.0, cx=3.5, cy=2.5)
MS = 1_000_000


def rgb(value: int = 0) -> np.ndarray:
    return np.full((6, 8, 3), value, dtype=np.uint8)


def depth(value: float = 1.0) -> np.ndarray:
    return np.full((6, 8), value, dtype=np.float32)


def test_pairs_within_tolerance_in_either_order():
    sync = FrameSync(tolerance_s=0.01)
    sync.set_intrinsics(K)
    assert sync.add_color(100 * MS, rgb(1), 'cam') is None
    frame = sync.add_depth(105 * MS, depth(0.5))
    assert frame is not None and frame.stamp_ns == 100 * MS
    assert frame.camera_frame == 'cam' and frame.color[0, 0, 0] == 1
    assert frame.depth_m.dtype == np.float32 and frame.depth_m[0, 0] == 0.5
    assert frame.stamp_s == pytest.approx(0.1) and frame.intrinsics == K
    assert sync.add_depth(200 * MS, depth(0.7)) is None       # depth first this time
    frame = sync.add_color(197 * MS, rgb(2))
    assert frame is not None and frame.stamp_ns == 197 * MS and frame.depth_m[0, 0] == 0.7
    assert sync.latest is frame


def test_stamps_too_far_apart_do_not_pair_and_the_nearest_partner_wins():
    sync = FrameSync(tolerance_s=0.01)
    sync.set_intrinsics(K)
    sync.add_color(100 * MS, rgb())
    assert sync.add_depth(120 * MS, depth()) is None
    assert sync.latest is None
    sync.add_depth(128 * MS, depth(0.2))
    sync.add_depth(131 * MS, depth(0.3))
    frame = sync.add_color(129 * MS, rgb())
    assert frame is not None and frame.depth_m[0, 0] == 0.2


def test_needs_camera_info_and_matching_sizes():
    sync = FrameSync()
    sync.add_color(1 * MS, rgb())
    assert sync.add_depth(1 * MS, depth()) is None
    assert sync.last_error == 'no camera info yet'
    sync.set_intrinsics(K)
    sync.add_color(2 * MS, np.zeros((4, 8, 3), np.uint8))
    assert sync.add_depth(2 * MS, depth()) is None
    assert 'does not match the camera info' in sync.last_error


def test_older_frames_are_not_taken_and_full_queues_count_drops():
    sync = FrameSync(tolerance_s=0.005, queue_size=2)
    sync.set_intrinsics(K)
    sync.add_color(50 * MS, rgb())
    assert sync.add_depth(50 * MS, depth()) is not None
    sync.add_color(40 * MS, rgb())
    assert sync.add_depth(40 * MS, depth()) is None
    assert 'older' in sync.last_error
    for i in range(3):
        sync.add_color((60 + 20 * i) * MS, rgb())
    assert sync.dropped == 1


def test_labels_stream_is_paired_too():
    sync = FrameSync(tolerance_s=0.01, with_labels=True)
    sync.set_intrinsics(K)
    sync.add_color(10 * MS, rgb())
    assert sync.add_depth(10 * MS, depth()) is None           # waits for the labels
    part = np.ones((6, 8), dtype=np.int32)
    frame = sync.add_labels(11 * MS, part, ['', 'box/body'])
    assert frame is not None and frame.labels == ('', 'box/body')
    np.testing.assert_array_equal(frame.part_mask, part)


def test_bad_parameters():
    with pytest.raises(PerceptionInputError, match='tolerance'):
        FrameSync(tolerance_s=-1.0)
    with pytest.raises(PerceptionInputError, match='queue_size'):
        FrameSync(queue_size=0)
