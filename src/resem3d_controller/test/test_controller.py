import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resem3d_constraints as rc
from conftest import Q_HOME_RAD
from resem3d_controller import (ControllerConfig, ControlStatus, GripperCommand, InputError,
                                JointVelocityController, KinematicArm, Obstacle, PoseTask)


def _run(controller, arm, ticks, fresh=True):
    commands = []
    for _ in range(ticks):
        if fresh:
            controller.refresh_targets(arm.t_s)
        command = controller.step(arm.q_rad, arm.t_s)
        arm.apply(command.dq_rad_s)
        commands.append(command)
    return commands


def test_pose_target_is_reached_without_limit_violations(controller, robot):
    q_goal = Q_HOME_RAD + np.array([0.4, 0.3, -0.3, 0.4, 0.2, -0.3, 0.5])
    T_goal = robot.forward_tool_pose(q_goal)
    controller.set_pose_target(T_goal, 0.0)
    arm = KinematicArm(Q_HOME_RAD, controller.limits, controller.config.dt_s)
    commands = _run(controller, arm, 3000)
    error = PoseTask(T_goal).error(robot.forward_tool_pose(arm.q_rad))
    assert np.linalg.norm(error[:3]) < 1e-3 and np.linalg.norm(error[3:]) < 1e-2
    assert all(c.status is ControlStatus.TRACKING for c in commands)
    assert arm.violations.total == 0


def test_stale_joint_state_decelerates_to_zero_within_the_acceleration_limit(controller, robot):
    T_goal = robot.forward_tool_pose(Q_HOME_RAD + 0.5)
    controller.set_pose_target(T_goal, 0.0)
    arm = KinematicArm(Q_HOME_RAD, controller.limits, controller.config.dt_s)
    _run(controller, arm, 300)
    moving = np.abs(arm.dq_rad_s).max()
    assert moving > 0.1
    stamp = arm.t_s                                 # the joint state stops arriving
    for _ in range(400):
        command = controller.step(arm.q_rad, arm.t_s, q_stamp_s=stamp)
        if arm.t_s - stamp > controller.config.max_input_age_s:
            assert command.status is ControlStatus.STALE_JOINT_STATE
        arm.apply(command.dq_rad_s)
    assert arm.violations.total == 0                # deceleration respected a_max
    np.testing.assert_array_equal(arm.dq_rad_s, 0.0)


def test_stale_targets_stop_the_arm(controller, robot):
    controller.set_pose_target(robot.forward_tool_pose(Q_HOME_RAD + 0.5), 0.0)
    arm = KinematicArm(Q_HOME_RAD, controller.limits, controller.config.dt_s)
    commands = _run(controller, arm, 600, fresh=False)
    age = controller.config.max_target_age_s
    assert commands[int(age * 1000) - 5].status is ControlStatus.TRACKING
    assert commands[-1].status is ControlStatus.STALE_TARGET
    np.testing.assert_array_equal(commands[-1].dq_rad_s, 0.0)
    assert arm.violations.total == 0


@pytest.mark.parametrize('q_bad', [np.full(7, np.nan), np.ones(6),
                                   np.array([0, 0, 0, np.inf, 0, 0, 0])])
def test_invalid_joint_state_is_not_a_crash(controller, q_bad):
    controller.reset(np.full(7, 0.3))
    command = controller.step(q_bad, 0.0)
    assert command.status is ControlStatus.INVALID_INPUT
    assert np.all(np.abs(command.dq_rad_s) < 0.3)   # decelerating


def test_no_targets_means_idle_and_stopping(controller, q_home):
    controller.reset(np.full(7, 0.01))
    command = controller.step(q_home, 0.0)
    assert command.status is ControlStatus.IDLE
    assert np.all(np.abs(command.dq_rad_s) < 0.01)


def test_singular_configuration_gives_no_velocity_spike(robot):
    """Stretched arm with a straight wrist (q4 at its limit, q6 = 0): no spikes."""
    config = ControllerConfig(self_collision=False)
    controller = JointVelocityController(config, robot=robot)
    q_singular = np.array([0.0, 0.0, 0.0, -0.12, 0.0, 0.1, 0.0])
    T = robot.forward_tool_pose(q_singular)
    T[0, 3] += 0.3                                   # beyond reach, along the singular direction
    controller.set_pose_target(T, 0.0)
    arm = KinematicArm(q_singular, controller.limits, config.dt_s)
    commands = _run(controller, arm, 1500)
    dq = np.array([c.dq_rad_s for c in commands])
    assert arm.violations.total == 0
    assert np.all(np.abs(np.diff(dq, axis=0)) <= controller.limits.a_max_rad_s2 * config.dt_s
                  + 1e-9)
    assert np.abs(dq[-200:]).max() < 0.2             # settles instead of chattering


@settings(max_examples=12, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=7, max_size=7),
       st.lists(st.floats(-1.0, 1.0), min_size=7, max_size=7),
       st.lists(st.floats(-1.0, 1.0), min_size=7, max_size=7),
       st.booleans())
def test_no_tick_ever_exceeds_a_limit_from_random_states_and_targets(robot, start, goal, speed,
                                                                     obstacle):
    """Random start (near limits included), random initial velocity and target, obstacles."""
    config = ControllerConfig()
    controller = JointVelocityController(config, robot=robot)
    lo, hi = robot.q_min_rad + 0.06, robot.q_max_rad - 0.06
    q0 = lo + (np.array(start) + 1) / 2 * (hi - lo)
    # An initial velocity from which stopping before the limit is possible.
    lim = controller.limits
    room_up = np.maximum(lim.q_max_rad - lim.margin_rad - q0, 0)
    room_down = np.maximum(q0 - lim.q_min_rad - lim.margin_rad, 0)
    dq0 = np.clip(np.array(speed) * lim.v_max_rad_s, -np.sqrt(lim.a_max_rad_s2 * room_down),
                  np.sqrt(lim.a_max_rad_s2 * room_up))
    q_goal = np.clip(q0 + 1.5 * np.array(goal), robot.q_min_rad, robot.q_max_rad)
    controller.set_pose_target(robot.forward_tool_pose(q_goal), 0.0)
    if obstacle:
        robot.update(q0)
        centre = robot.tool_pose()[:3, 3] + np.array([0.0, 0.0, -0.25])
        controller.set_obstacles([Obstacle(centre, np.eye(3), np.array([0.1, 0.1, 0.05]))])
    controller.reset(dq0)
    arm = KinematicArm(q0, lim, config.dt_s)
    arm.dq_rad_s = dq0.copy()
    _run(controller, arm, 400)
    assert arm.violations.total == 0, arm.violations


def _tcp_to_point_program(point):
    return rc.parse_program({
        'version': 1, 'name': 'reach', 'regions': [],
        'stages': [{
            'name': 'reach', 'timeout_s': 5.0,
            'gripper': {'action': 'grasp', 'width_m': 0.03, 'force_n': 30.0, 'speed_mps': 0.05},
            'subgoal': [
                {'kind': 'offset', 'a': {'of': 'tool', 'point': 'tcp'},
                 'b': {'of': 'world', 'point': 'origin', 'offset_m': list(point)},
                 'offset_m': [0.0, 0.0, 0.0], 'frame': 'world', 'tolerance': 0.005},
                {'kind': 'align', 'a': {'of': 'tool', 'axis': 'z'},
                 'b': {'of': 'world', 'axis': '-z'}, 'tolerance': 0.05},
            ],
            'path': [], 'pre': [], 'post': [],
        }],
    })


def test_constraint_stage_is_tracked_and_grasps_once_its_subgoal_is_reached(controller, robot):
    program = _tcp_to_point_program([0.45, 0.1, 0.3])
    stage = program.stages[0]
    robot.update(Q_HOME_RAD)
    scene = rc.SceneState(T_base_tool=robot.tool_pose().copy())
    controller.set_stage(stage, scene, 0.0)
    arm = KinematicArm(Q_HOME_RAD, controller.limits, controller.config.dt_s)
    tool_positions = []
    commands = []
    for _ in range(2500):
        commands += _run(controller, arm, 1)
        tool_positions.append(robot.forward_tool_pose(arm.q_rad)[:3, 3])
    issued = [i for i, c in enumerate(commands) if c.gripper is not None]
    first_reached = next(i for i, c in enumerate(commands) if c.subgoal_reached)
    assert len(issued) == 1 and first_reached <= issued[0] < 2000
    assert commands[issued[0]].gripper == GripperCommand('grasp', 0.03, 30.0, 0.05)
    # Issued once the TCP had settled, and the tool holds still from then on.
    speed = np.linalg.norm(np.diff(tool_positions, axis=0), axis=1) / controller.config.dt_s
    assert speed[issued[0] - 1] <= controller.config.gripper_settle_speed_m_s + 1e-3
    drift = np.linalg.norm(np.array(tool_positions[issued[0]:]) - tool_positions[issued[0]],
                           axis=1)
    assert drift.max() < 2e-3
    assert all(c.subgoal_reached for c in commands[issued[0]:])
    scene.T_base_tool = robot.forward_tool_pose(arm.q_rad)
    for constraint in stage.subgoal:
        residual = rc.violation(rc.linearize(constraint, scene))
        assert np.abs(residual).max() <= constraint.tolerance, constraint.kind
    assert arm.violations.total == 0


def test_gripper_only_stage_issues_its_command_at_once(controller, q_home):
    program = rc.parse_program({
        'version': 1, 'name': 'open', 'regions': [], 'stages': [{
            'name': 'open', 'timeout_s': 1.0, 'gripper': {'action': 'open'},
            'post': [{'kind': 'gripper_open', 'min_width_m': 0.07}]}]})
    robot_scene = rc.SceneState(T_base_tool=np.eye(4))
    controller.set_stage(program.stages[0], robot_scene, 0.0)
    first = controller.step(q_home, 0.0)
    assert first.gripper is not None and first.gripper.action == 'open'
    assert first.gripper.width_m == pytest.approx(0.08)
    assert controller.step(q_home, 0.001).gripper is None


def test_hard_rows_beyond_capacity_are_refused(robot):
    controller = JointVelocityController(ControllerConfig(max_hard_rows=2), robot=robot)
    program = rc.parse_program({
        'version': 1, 'name': 'too_many', 'regions': [], 'stages': [{
            'name': 's', 'timeout_s': 1.0, 'gripper': {'action': 'open'}, 'pre': [], 'post': [],
            'path': [],
            'subgoal': [{'kind': 'offset', 'a': {'of': 'tool', 'point': 'tcp'},
                         'b': {'of': 'world', 'point': 'origin', 'offset_m': [0.4, 0, 0.4]},
                         'offset_m': [0, 0, 0], 'frame': 'world', 'tolerance': 0.01,
                         'hard': True}]}]})
    robot.update(Q_HOME_RAD)
    scene = rc.SceneState(T_base_tool=robot.tool_pose().copy())
    with pytest.raises(InputError, match='hard constraints need 3 rows, capacity is 2'):
        controller.set_stage(program.stages[0], scene, 0.0)


def test_bad_pose_target_is_refused(controller):
    with pytest.raises(InputError):
        controller.set_pose_target(np.full((4, 4), np.nan), 0.0)
