# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""SceneTracker on ray-cast frames of a box: following a move, lost tracks, gating,
hysteresis."""

from __future__ import annotations

import numpy as np
import pytest

from resem3d_perception import depth_to_cloud, estimate_object_frame
from resem3d_perception.errors import PerceptionInputError
from resem3d_perception.scene_tracker import SceneTracker, SceneTrackingConfig
from resem3d_perception.testing import box_scene
from resem3d_perception.tracking import TrackStatus


def box_pose(x: float = 0.5, y: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (x, y, 0.0)
    return T


def frame_cloud(T_base_box: np.ndarray, *, hide_box: bool = False):  # noqa: N803
    scene = box_scene(T_base_box)
    depth = scene.depth_m
    if hide_box:
        depth = box_scene(box_pose(5.0)).depth_m            # the box left the view
    return depth_to_cloud(depth, scene.intrinsics, scene.T_base_cam), scene


def grounded(config: SceneTrackingConfig | None = None):
    cloud, scene = frame_cloud(box_pose())
    points = cloud.points_base[scene.part_mask.ravel()[cloud.pixel_index] == 1]
    T0 = estimate_object_frame(points)
    tracker = SceneTracker(config=config)
    tracker.ground('box', points, T0, stamp_s=0.0, camera_base=cloud.camera_position_base)
    return tracker, T0


def test_follows_a_moving_box():
    tracker, T0 = grounded(SceneTrackingConfig(keep_pose_margin=0.0))
    assert tracker.names == ['box']
    for i in range(1, 7):
        cloud, _ = frame_cloud(box_pose(0.5 + 0.006 * i))
        result = tracker.update(cloud, stamp_s=i / 15.0)['box']
        assert result.status == TrackStatus.TRACKING
    moved = tracker.pose('box')[:3, 3] - T0[:3, 3]
    np.testing.assert_allclose(moved, (0.036, 0.0, 0.0), atol=0.005)


def test_a_clear_move_is_taken_at_once_despite_the_hysteresis():
    tracker, T0 = grounded()
    cloud, _ = frame_cloud(box_pose(0.52))
    result = tracker.update(cloud, stamp_s=0.1)['box']
    assert result.ok and result.reason == ''
    assert tracker.pose('box')[0, 3] - T0[0, 3] > 0.012


def test_static_box_keeps_its_pose():
    tracker, T0 = grounded()
    for i in range(3):
        cloud, _ = frame_cloud(box_pose())
        tracker.update(cloud, stamp_s=i / 15.0)
    assert np.linalg.norm(tracker.pose('box')[:3, 3] - T0[:3, 3]) < 0.002
    assert tracker.results_by_status() == {'box': 'tracking'}


def test_lost_box_keeps_its_last_pose():
    tracker, T0 = grounded()
    cloud, _ = frame_cloud(box_pose(), hide_box=True)
    result = tracker.update(cloud, stamp_s=0.1)['box']
    assert result.status == TrackStatus.LOST and not result.ok
    np.testing.assert_array_equal(result.T_base_obj, tracker.pose('box'))
    np.testing.assert_allclose(tracker.pose('box'), T0, atol=1e-9)


def test_box_next_to_the_gripper_keeps_its_pose():
    tracker, T0 = grounded()
    T_tool = np.eye(4)
    T_tool[:3, :3] = np.diag([1.0, -1.0, -1.0])                  # pointing down
    T_tool[:3, 3] = (0.5, 0.0, 0.09)                              # just above the box
    cloud, _ = frame_cloud(box_pose(0.515))
    result = tracker.update(cloud, stamp_s=0.1, T_base_tool=T_tool)['box']
    assert 'gripper' in result.reason
    np.testing.assert_allclose(tracker.pose('box'), T0, atol=1e-12)
    far = T_tool.copy()
    far[:3, 3] = (0.5, 0.0, 0.5)
    tracker.update(cloud, stamp_s=0.2, T_base_tool=far)
    assert tracker.pose('box')[0, 3] - T0[0, 3] > 0.01          # no gate: it moves


def test_coverage_scores_poses():
    tracker, T0 = grounded()
    cloud, _ = frame_cloud(box_pose())
    assert tracker.coverage('box', cloud, T0) > 0.8
    away = T0.copy()
    away[0, 3] += 0.1
    assert tracker.coverage('box', cloud, away) < 0.2


def test_hysteresis_can_be_disabled_and_config_is_checked():
    tracker, _ = grounded(SceneTrackingConfig(keep_pose_margin=0.0, gripper_gate_m=0.0))
    cloud, _ = frame_cloud(box_pose(0.51))
    assert tracker.update(cloud, stamp_s=0.1)['box'].ok
    tracker.remove('box')
    tracker.remove('box')
    assert tracker.names == []
    with pytest.raises(PerceptionInputError, match='keep_pose_margin'):
        SceneTrackingConfig(keep_pose_margin=-0.1)
