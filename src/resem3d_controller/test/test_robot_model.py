import numpy as np
import pytest

from conftest import Q_HOME_RAD
from resem3d_controller import ControllerConfig, RobotModel, RobotModelError


def test_default_model_is_the_seven_joint_panda(robot):
    assert robot.nq == 7
    assert robot.urdf_path.name == 'panda.urdf'
    assert robot.geometry is not None and len(robot.geometry.geometryObjects) > 8
    assert np.all(robot.q_max_rad > robot.q_min_rad)
    np.testing.assert_allclose(robot.v_max_rad_s[:4], 2.175)


def test_tcp_is_103_mm_beyond_the_hand(robot):
    robot.update(Q_HOME_RAD)
    T_tool = robot.tool_pose()
    T_hand = robot.frame_pose(robot.frame_id('panda_hand'))
    offset_hand = T_hand[:3, :3].T @ (T_tool[:3, 3] - T_hand[:3, 3])
    np.testing.assert_allclose(offset_hand, [0.0, 0.0, 0.1034], atol=1e-9)


def test_tool_jacobian_matches_finite_differences(robot):
    rng = np.random.default_rng(3)
    for _ in range(5):
        q = rng.uniform(robot.q_min_rad, robot.q_max_rad)
        robot.update(q)
        T0 = robot.tool_pose().copy()
        J = robot.tool_jacobian().copy()
        h = 1e-7
        for k in range(robot.nq):
            dq = np.zeros(robot.nq)
            dq[k] = h
            T1 = robot.forward_tool_pose(q + dq)
            v = (T1[:3, 3] - T0[:3, 3]) / h
            dR = (T1[:3, :3] @ T0[:3, :3].T - np.eye(3)) / h   # ~ [w]x in base axes
            w = np.array([dR[2, 1], dR[0, 2], dR[1, 0]])
            np.testing.assert_allclose(v, J[:3, k], atol=1e-5)
            np.testing.assert_allclose(w, J[3:, k], atol=1e-5)


def test_missing_urdf_names_the_file(tmp_path):
    with pytest.raises(RobotModelError, match='URDF not found: .*nothing.urdf'):
        RobotModel(ControllerConfig(urdf_path=str(tmp_path / 'nothing.urdf')))


def test_malformed_urdf_is_a_typed_error(tmp_path):
    path = tmp_path / 'bad.urdf'
    path.write_text('<robot name="x"><link name="a"/><joint name="j" type="revolute">')
    with pytest.raises(RobotModelError):
        RobotModel(ControllerConfig(urdf_path=str(path)))


def test_unknown_tool_frame_is_named():
    with pytest.raises(RobotModelError, match='frame not found: fr3_hand_tcp'):
        RobotModel(ControllerConfig(tool_frame='fr3_hand_tcp'))


def test_unknown_joint_is_named():
    joints = tuple(f'fr3_joint{i}' for i in range(1, 8))
    with pytest.raises(RobotModelError, match='joints not found: fr3_joint1'):
        RobotModel(ControllerConfig(arm_joints=joints))


def test_other_frame_names_select_another_tool(robot):
    hand = RobotModel(ControllerConfig(tool_frame='panda_hand'))
    hand.update(Q_HOME_RAD)
    robot.update(Q_HOME_RAD)
    assert np.linalg.norm(hand.tool_pose()[:3, 3] - robot.tool_pose()[:3, 3]) == pytest.approx(
        0.1034, abs=1e-9)


def test_renamed_description_loads_through_configured_names(tmp_path, robot):
    """An FR3-style description (fr3_* names) loads by configuring path and frame names."""
    text = robot.urdf_path.read_text().replace('panda_', 'fr3_')
    path = tmp_path / 'fr3_like.urdf'
    path.write_text(text)
    config = ControllerConfig(urdf_path=str(path), base_frame='fr3_link0',
                              tool_frame='fr3_hand_tcp',
                              arm_joints=tuple(f'fr3_joint{i}' for i in range(1, 8)))
    fr3 = RobotModel(config)
    fr3.update(Q_HOME_RAD)
    robot.update(Q_HOME_RAD)
    np.testing.assert_allclose(fr3.tool_pose(), robot.tool_pose(), atol=1e-12)
    assert fr3.srdf_path is None and fr3.self_collision_pairs() is None
