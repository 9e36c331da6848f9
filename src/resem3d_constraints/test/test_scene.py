"""Tests of SceneState: construction checks, cheap updates, init poses and look-ups."""

import numpy as np
import pytest

from resem3d_constraints import Region, SceneError, SceneState


def make_scene(**kwargs):
    region = Region.from_points('mug/handle', [[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])
    return SceneState(T_base_tool=np.eye(4), T_base_obj={'mug': np.eye(4)},
                      regions={'mug/handle': region}, **kwargs)


def test_defaults():
    scene = make_scene()
    assert scene.T_base_obj_init is scene.T_base_obj
    assert scene.held == frozenset() and not scene.gripper_grasping
    assert scene.T_base_tool.dtype == np.float64


def test_held_becomes_a_frozenset():
    assert make_scene(held=['mug']).held == frozenset({'mug'})


def test_freeze_init_poses_copies_the_live_poses():
    scene = make_scene()
    scene.freeze_init_poses()
    scene.T_base_obj['mug'] = np.diag([1.0, 1.0, 1.0, 1.0]) + np.eye(4, k=3)
    assert scene.object_pose('mug', 'init')[0, 3] == 0.0
    assert scene.object_pose('mug')[0, 3] == 1.0


def test_replace_tool_pose_shares_everything_else():
    scene = make_scene()
    T = np.eye(4)
    T[:3, 3] = [0.1, 0.2, 0.3]
    moved = scene.replace_tool_pose(T)
    assert moved is not scene and moved.T_base_obj is scene.T_base_obj
    assert moved.regions is scene.regions
    np.testing.assert_array_equal(moved.T_base_tool[:3, 3], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(scene.T_base_tool, np.eye(4))


def test_tool_pose_is_a_plain_attribute():
    scene = make_scene()
    T = np.eye(4)
    scene.T_base_tool = T
    assert scene.T_base_tool is T


@pytest.mark.parametrize('kwargs,match', [
    ({'T_base_tool': np.eye(3)}, 'T_base_tool'),
    ({'T_base_tool': np.full((4, 4), np.nan)}, 'T_base_tool'),
    ({'T_base_tool': 'pose'}, 'T_base_tool'),
    ({'T_base_tool': np.eye(4), 'T_base_obj': {'mug': np.zeros((4, 3))}}, 'mug'),
    ({'T_base_tool': np.eye(4), 'T_base_obj_init': {'mug': [[np.inf] * 4] * 4}}, 'init'),
])
def test_rejects_bad_poses(kwargs, match):
    with pytest.raises(SceneError, match=match):
        SceneState(**kwargs)
    with pytest.raises(SceneError):
        make_scene().replace_tool_pose(np.eye(5))


def test_lookups_raise_scene_error():
    scene = make_scene()
    assert scene.region('mug/handle').name == 'mug/handle'
    with pytest.raises(SceneError, match='kettle/spout'):
        scene.region('kettle/spout')
    with pytest.raises(SceneError, match="no init pose for object frame 'kettle'"):
        scene.object_pose('kettle', 'init')


def _shifted(T, dx):
    moved = np.array(T, dtype=float)
    moved[0, 3] += dx
    return moved


def test_a_held_object_follows_the_tool_at_every_tool_update():
    T_mug = np.eye(4)
    T_mug[:3, 3] = [0.5, 0.0, 0.1]
    scene = SceneState(T_base_tool=np.eye(4), T_base_obj={'mug': T_mug})
    scene.grasp('mug')
    scene.T_base_tool = _shifted(np.eye(4), 0.2)             # what the controller does per tick
    np.testing.assert_allclose(scene.object_pose('mug')[:3, 3], [0.7, 0.0, 0.1])
    np.testing.assert_allclose(scene.object_pose('mug', 'init')[:3, 3], [0.5, 0.0, 0.1])
    scene.freeze_init_poses()
    np.testing.assert_allclose(scene.object_pose('mug', 'init')[:3, 3], [0.7, 0.0, 0.1])


def test_release_leaves_the_object_where_the_tool_put_it():
    scene = SceneState(T_base_tool=np.eye(4), T_base_obj={'mug': np.eye(4)}, held={'mug'})
    scene.T_base_tool = _shifted(np.eye(4), 0.3)
    scene.release('mug')
    assert scene.held == frozenset()
    scene.T_base_tool = np.eye(4)
    np.testing.assert_allclose(scene.object_pose('mug')[:3, 3], [0.3, 0.0, 0.0])


def test_a_measured_pose_re_anchors_the_grasp():
    scene = SceneState(T_base_tool=np.eye(4), T_base_obj={'mug': np.eye(4)}, held={'mug'})
    scene.set_object_pose('mug', _shifted(np.eye(4), 0.05))   # it slipped 5 cm in the grasp
    scene.T_base_tool = _shifted(np.eye(4), 0.1)
    np.testing.assert_allclose(scene.object_pose('mug')[:3, 3], [0.15, 0.0, 0.0])
    with pytest.raises(SceneError):
        scene.set_object_pose('mug', np.full((4, 4), np.nan))
