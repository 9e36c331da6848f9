# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""search_offsets: the grid search proposes the shift of a box moved on its support, best
first, with and without the depth image."""

from __future__ import annotations

import numpy as np
import pytest

from resem3d_perception import depth_to_cloud
from resem3d_perception.depth_checks import DepthImage
from resem3d_perception.object_search import search_offsets
from resem3d_perception.scene_tracker import SceneTrackingConfig
from resem3d_perception.testing import box_scene


def _box(x: float, y: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (x, y, 0.0)
    return T


def _model_base() -> np.ndarray:
    """The box's points seen at (0.5, 0) (base frame)."""
    scene = box_scene(_box(0.5, 0.0))
    cloud = depth_to_cloud(scene.depth_m, scene.intrinsics, scene.T_base_cam)
    points = cloud.points_base[scene.part_mask.ravel()[cloud.pixel_index] == 1]
    return points[::max(1, len(points) // 150)].astype(float)


@pytest.mark.parametrize('with_depth', [True, False])
@pytest.mark.parametrize('shift_m', [(0.0, 0.1), (-0.09, -0.06), (0.15, 0.02)])
def test_the_first_offset_is_the_move(shift_m, with_depth):
    scene = box_scene(_box(0.5 + shift_m[0], shift_m[1]))
    cloud = depth_to_cloud(scene.depth_m, scene.intrinsics, scene.T_base_cam)
    depth = DepthImage(scene.depth_m, scene.intrinsics, scene.T_base_cam, 0.1) \
        if with_depth else None
    offsets = list(search_offsets(_model_base(), cloud, depth, SceneTrackingConfig()))
    assert offsets and len(offsets) <= 6
    assert np.linalg.norm(offsets[0] - shift_m) < 0.01
    assert all(np.linalg.norm(o) >= 0.01 for o in offsets)


def test_beyond_the_search_radius_or_with_an_empty_support_nothing_is_proposed():
    config = SceneTrackingConfig()
    scene = box_scene(_box(0.5, 0.35))                  # 35 cm away: beyond the 20 cm radius
    cloud = depth_to_cloud(scene.depth_m, scene.intrinsics, scene.T_base_cam)
    depth = DepthImage(scene.depth_m, scene.intrinsics, scene.T_base_cam, 0.1)
    for offset in search_offsets(_model_base(), cloud, depth, config):
        assert np.linalg.norm(offset) <= config.redetect_radius_m + 0.02
        assert np.linalg.norm(offset - (0.0, 0.35)) > 0.1
    gone = box_scene(_box(5.0, 0.0))                    # only the table: nothing at its heights
    cloud = depth_to_cloud(gone.depth_m, gone.intrinsics, gone.T_base_cam)
    assert list(search_offsets(_model_base(), cloud, None, config)) == []


def test_a_thin_slab_is_searched_among_the_points_of_its_top():
    """A slab 4 mm thick (a plate's top surface): its model's heights less the support's 5 mm
    left no point of it to score against; at least its top 3 mm are searched among."""
    size = (0.12, 0.12, 0.004)
    seen = box_scene(_box(0.5, 0.0), size)
    cloud = depth_to_cloud(seen.depth_m, seen.intrinsics, seen.T_base_cam)
    model = cloud.points_base[seen.part_mask.ravel()[cloud.pixel_index] == 1].astype(float)
    assert model[:, 2].max() - model[:, 2].min() < 0.005
    moved = box_scene(_box(0.5, 0.1), size)
    cloud = depth_to_cloud(moved.depth_m, moved.intrinsics, moved.T_base_cam)
    depth = DepthImage(moved.depth_m, moved.intrinsics, moved.T_base_cam, 0.1)
    offsets = list(search_offsets(model[::max(1, len(model) // 150)], cloud, depth,
                                  SceneTrackingConfig()))
    assert offsets and np.linalg.norm(offsets[0] - (0.0, 0.1)) < 0.01
