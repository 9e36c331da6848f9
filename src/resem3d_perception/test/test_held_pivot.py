# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""pivot_held: a held object followed as it turns in the fingers (a rendered lab scene; the
beaker is "held" at its rim by a tool pose placed there)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from resem3d_perception import depth_to_cloud
from resem3d_perception.config import PerceptionConfig
from resem3d_perception.held_pivot import pivot_held, rotation_angle_rad
from resem3d_perception.scene_tracker import SceneTrackingConfig
from resem3d_perception.tracking import ObjectTrack

CONFIG_FILE = Path(__file__).resolve().parents[3] / 'config' / 'perception.yaml'
ANY_TILT = SceneTrackingConfig(held_pivot_min_tilt_rad=0.0)   # searched even as it was grasped


def _rotation_deg(R_a, R_b):  # noqa: N803
    return math.degrees(rotation_angle_rad(R_a, R_b))


def _turn_about(T_base_obj, T_base_tool, axis_tool, angle_rad):  # noqa: N803
    """``T_base_obj`` turned by ``angle_rad`` about a tool axis through the TCP."""
    R_tool = T_base_tool[:3, :3]
    R = R_tool @ Rotation.from_rotvec(angle_rad * np.asarray(axis_tool, float)).as_matrix() \
        @ R_tool.T
    T = T_base_obj.copy()
    T[:3, :3] = R @ T_base_obj[:3, :3]
    T[:3, 3] = R @ (T_base_obj[:3, 3] - T_base_tool[:3, 3]) + T_base_tool[:3, 3]
    return T


@pytest.fixture(scope='module')
def beaker_scene():
    """(the beaker's model points, inlier distance, the frame, true pose, a tool pose at its
    rim)."""
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv
    env = TaskEnv.build(get_task('lab_pour_beaker'), 0)
    with env.camera() as camera:
        frame = camera.render()
    labels = [i for i, label in enumerate(frame.labels) if label.startswith('beaker/')]
    seen = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                          mask=np.isin(frame.part_mask, labels))
    tracker = PerceptionConfig.from_yaml(CONFIG_FILE).tracker
    T_true = env.pose('beaker')
    track = ObjectTrack.from_points_base('beaker', seen.points_base.astype(float), T_true,
                                         tracker, camera_base=frame.T_base_cam[:3, 3])
    # A top-down grasp on the beaker's wall, fingers closing across it (tool y along x_obj).
    T_tool = np.eye(4)
    T_tool[:3, :3] = T_true[:3, :3] @ np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0],
                                                 [0.0, 0.0, -1.0]])
    rim = track.model_points_obj[:, 2].max()
    T_tool[:3, 3] = T_true[:3, :3] @ np.array([-0.038, 0.0, rim - 0.01]) + T_true[:3, 3]
    return track.model_points_obj, tracker.inlier_m, frame, T_true, T_tool


def _pivot(scene, T_now, T_grasp, config=ANY_TILT, T_tool=None):  # noqa: N803
    """pivot_held for the beaker held as it is now at ``T_now``, grasped at ``T_grasp``."""
    model, inlier_m, frame, _, T_tool_scene = scene
    T_tool = T_tool_scene if T_tool is None else T_tool
    R_tool_obj_grasp = (np.linalg.inv(T_tool) @ T_grasp)[:3, :3]
    return pivot_held(model, frame, T_now, T_tool, R_tool_obj_grasp, T_grasp[:3, 2].copy(),
                      inlier_m, config)


@pytest.mark.parametrize('axis', [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)])
def test_a_held_object_turned_in_the_fingers_is_turned_back(beaker_scene, axis):
    _, _, _, T_true, T_tool = beaker_scene
    T_believed = _turn_about(T_true, T_tool, axis, math.radians(6.0))
    before = _rotation_deg(T_believed[:3, :3], T_true[:3, :3])
    T_found = _pivot(beaker_scene, T_believed, T_believed)
    assert T_found is not None                     # at most 3 x 1.5 deg per frame:
    first = _rotation_deg(T_found[:3, :3], T_true[:3, :3])
    T_again = _pivot(beaker_scene, T_found, T_believed)      # the next frame
    T_found = T_found if T_again is None else T_again
    after = _rotation_deg(T_found[:3, :3], T_true[:3, :3])
    assert before == pytest.approx(6.0, abs=1e-6) and first < 4.0 and after < 2.0
    # A turn about the TCP: the TCP stays where it was in the object's frame.
    p_obj_before = np.linalg.solve(T_believed, np.append(T_tool[:3, 3], 1.0))
    p_obj_after = np.linalg.solve(T_found, np.append(T_tool[:3, 3], 1.0))
    np.testing.assert_allclose(p_obj_after, p_obj_before, atol=1e-9)


def test_a_held_object_where_the_grasp_puts_it_is_kept(beaker_scene):
    T_true = beaker_scene[3]
    assert _pivot(beaker_scene, T_true, T_true) is None


def test_a_turn_beyond_the_limit_since_the_grasp_is_not_taken(beaker_scene):
    _, _, _, T_true, T_tool = beaker_scene
    T_believed = _turn_about(T_true, T_tool, (1.0, 0.0, 0.0), math.radians(6.0))
    strict = dataclasses.replace(ANY_TILT, held_pivot_max_rad=math.radians(1.0))
    assert _pivot(beaker_scene, T_believed, T_believed, strict) is None
    assert _pivot(beaker_scene, T_believed, T_believed) is not None


def test_an_object_carried_as_it_was_grasped_is_not_searched(beaker_scene):
    _, _, _, T_true, T_tool = beaker_scene
    T_believed = _turn_about(T_true, T_tool, (1.0, 0.0, 0.0), math.radians(6.0))
    # Tilted less than 20 deg since the grasp (the default): nothing turned it.
    assert _pivot(beaker_scene, T_believed, T_believed, SceneTrackingConfig()) is None
    assert _pivot(beaker_scene, T_believed, T_believed) is not None


def test_without_points_near_the_object_the_grasp_is_kept(beaker_scene):
    _, _, _, T_true, T_tool = beaker_scene
    far = np.eye(4)
    far[:3, 3] = [0.0, 0.0, 5.0]                   # nothing of the frame there
    assert _pivot(beaker_scene, far @ T_true, far @ T_true, T_tool=far @ T_tool) is None


def test_rotation_angle_between_matrices():
    R = Rotation.from_rotvec([0.0, 0.0, 0.3]).as_matrix()
    assert rotation_angle_rad(np.eye(3), R) == pytest.approx(0.3)
    assert rotation_angle_rad(R, R) == pytest.approx(0.0, abs=1e-7)
