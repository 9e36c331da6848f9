import numpy as np
import pinocchio as pin

import resem3d_constraints as rc
from conftest import Q_HOME_RAD
from resem3d_controller import ConstraintTask, PoseTask
from resem3d_controller.tasks import hard_constraint_rows


def _constraint(spec):
    program = rc.parse_program({'version': 1, 'name': 't', 'regions': ['cup/rim'], 'stages': [{
        'name': 's', 'timeout_s': 1.0, 'gripper': {'action': 'open'}, 'subgoal': [spec]}]})
    return program.stages[0].subgoal[0]


def _scene(robot, q):
    robot.update(q)
    rim = rc.Region.from_points('cup/rim', np.array([[0.04, 0, 0], [-0.04, 0, 0], [0, 0.04, 0],
                                                     [0, -0.04, 0.0]]), frame='cup')
    T_cup = np.eye(4)
    T_cup[:3, 3] = [0.5, 0.2, 0.1]
    return rc.SceneState(T_base_tool=robot.tool_pose().copy(), T_base_obj={'cup': T_cup},
                         regions={'cup/rim': rim})


def test_pose_error_is_zero_at_the_target_and_rotation_error_is_the_geodesic(robot):
    robot.update(Q_HOME_RAD)
    T = robot.tool_pose().copy()
    task = PoseTask(T)
    np.testing.assert_allclose(task.error(T), 0.0, atol=1e-12)
    T_rot = T.copy()
    T_rot[:3, :3] = pin.exp3(np.array([0.0, 0.0, 0.3])) @ T[:3, :3]
    np.testing.assert_allclose(task.error(T_rot)[3:], [0.0, 0.0, 0.3], atol=1e-12)


def test_pose_task_rates_are_capped(robot):
    robot.update(Q_HOME_RAD)
    T = robot.tool_pose().copy()
    far = T.copy()
    far[:3, 3] += [1.0, 0.0, 0.0]
    rows = PoseTask(far).rows(T, robot.tool_jacobian(), 5.0, 0.5, 1.5)
    assert np.linalg.norm(rows.velocity[:3]) == np.float64(0.5)
    np.testing.assert_allclose(rows.velocity[:3] / 0.5, [1.0, 0.0, 0.0])


def test_constraint_rows_are_the_chain_rule_through_the_tool_jacobian(robot):
    constraint = _constraint({'kind': 'offset', 'a': {'of': 'tool', 'point': 'tcp'},
                              'b': {'of': 'cup/rim', 'point': 'centroid'},
                              'offset_m': [0.0, 0.0, 0.1], 'tolerance': 0.01})
    scene = _scene(robot, Q_HOME_RAD)
    task = ConstraintTask(constraint, scene)
    rng = np.random.default_rng(2)
    q = Q_HOME_RAD + rng.uniform(-0.2, 0.2, 7)
    robot.update(q)
    T, J_tool = robot.tool_pose().copy(), robot.tool_jacobian().copy()
    rows = task.rows(T, J_tool, 5.0, 10.0, 10.0)
    value0 = task.linearize(T).value
    dq = rng.normal(size=7) * 1e-7
    value1 = task.linearize(robot.forward_tool_pose(q + dq)).value
    np.testing.assert_allclose(value1 - value0, rows.jacobian @ dq, atol=1e-11)
    # Desired rate drives the violation to zero at the gain.
    np.testing.assert_allclose(rows.velocity, -5.0 * rc.violation(task.linearize(T)))
    assert task.last_violation == np.abs(rc.violation(task.linearize(T))).max()


def test_hard_rows_are_velocity_dampers_towards_the_band(robot):
    constraint = _constraint({'kind': 'distance', 'a': {'of': 'tool', 'point': 'tcp'},
                              'b': {'of': 'cup/rim', 'point': 'centroid'}, 'min_m': 0.3,
                              'max_m': 0.4, 'tolerance': 0.0, 'hard': True})
    scene = _scene(robot, Q_HOME_RAD)
    robot.update(Q_HOME_RAD)
    T, J_tool = robot.tool_pose().copy(), robot.tool_jacobian()
    scene.T_base_tool = T
    lin = rc.linearize(constraint, scene)
    A, lower, upper, worst = hard_constraint_rows(constraint, scene, T, J_tool, 20.0)
    np.testing.assert_allclose(lower, 20.0 * (0.3 - lin.value))
    np.testing.assert_allclose(upper, 20.0 * (0.4 - lin.value))
    np.testing.assert_allclose(A, lin.jacobian @ J_tool)
    assert worst == np.abs(rc.violation(lin)).max()
