"""The controller node's core: joint mapping, watchdog, gripper goals, stage progression."""

import math
from pathlib import Path

import numpy as np
import pytest

from conftest import Q_HOME_RAD
import resem3d_constraints as rc
from resem3d_constraints.status import TaskState
from resem3d_controller import (ControllerConfig, ControlStatus, InputError,
                                JointVelocityController, KinematicArm, RobotModelError)
from resem3d_controller.command_loop import (CommandLoop, finger_joints_for, GripperRequest,
                                             JointMap, MissingJointError, ProgramState,
                                             task_status, Watchdog, with_robot_names)
from resem3d_controller.demo import synthetic_scene
from resem3d_controller.gripper import GripperCommand

JOINTS = tuple(f'fr3_joint{i}' for i in range(1, 8))
FINGERS = ('fr3_finger_joint1', 'fr3_finger_joint2')
PROGRAMS = Path(__file__).resolve().parents[2] / 'resem3d_sim' / 'resem3d_sim' / 'programs'


class Rig:
    """A command loop closed over a kinematic arm and an ideal gripper, at 1 kHz."""

    def __init__(self, robot, q0=Q_HOME_RAD, width_m=0.08):
        self.controller = JointVelocityController(ControllerConfig(), robot=robot)
        self.loop = CommandLoop(self.controller, JointMap(JOINTS, FINGERS))
        self.arm = KinematicArm(q0, self.controller.limits, self.controller.config.dt_s)
        self.width_m = width_m
        self.t_s = 0.0
        self.outputs = []

    def joint_state(self, positions=None):
        q = self.arm.q_rad if positions is None else positions
        # Shuffled, with the fingers first: the loop maps by name.
        names = list(FINGERS) + list(reversed(JOINTS))
        values = [self.width_m / 2, self.width_m / 2] + list(reversed(list(q)))
        self.loop.set_joint_state(names, values, received_s=self.t_s)

    def tick(self, joints=True, apply=True):
        if joints:
            self.joint_state()
        out = self.loop.tick(self.t_s)
        self.outputs.append(out)
        if out.gripper is not None:              # an ideal gripper: done at once
            self.width_m = out.gripper.width_m if out.gripper.action == 'move' else 0.02
            self.joint_state()
            self.loop.gripper_result(True, out.gripper.action)
        if apply:
            self.arm.apply(np.array(out.dq_rad_s))
        self.t_s += self.controller.config.dt_s
        return out


def _reach_program(x=0.45, z=0.3):
    return rc.parse_program({'version': 1, 'name': 'reach', 'regions': [], 'stages': [{
        'name': 'reach', 'timeout_s': 10.0,
        'subgoal': [{'kind': 'offset', 'a': {'of': 'tool', 'point': 'tcp'},
                     'b': {'of': 'world', 'point': 'origin', 'offset_m': [x, 0.0, z]},
                     'offset_m': [0, 0, 0], 'tolerance': 0.005}],
        'post': [{'kind': 'offset', 'a': {'of': 'tool', 'point': 'tcp'},
                  'b': {'of': 'world', 'point': 'origin', 'offset_m': [x, 0.0, z]},
                  'offset_m': [0, 0, 0], 'tolerance': 0.005}]}]})


def _moving_rig(robot):
    """A rig whose arm is moving fast towards a far target."""
    rig = Rig(robot)
    rig.loop.set_program(_reach_program(0.6, 0.1))
    for _ in range(300):
        rig.tick()
    assert np.max(np.abs(rig.outputs[-1].dq_rad_s)) > 0.1
    assert rig.outputs[-1].watchdog == Watchdog.OK
    return rig


def _assert_ramps_to_zero(rig, outputs, start):
    a_dt = rig.controller.limits.a_max_rad_s2 * rig.controller.config.dt_s
    previous = np.array(start)
    for out in outputs:
        dq = np.array(out.dq_rad_s)
        assert np.all(np.isfinite(dq))
        assert np.all(np.abs(dq - previous) <= a_dt * (1 + 1e-9) + 1e-12)   # never a jump
        previous = dq
    assert np.all(previous == 0.0)                                           # exactly zero


def test_joint_states_are_mapped_by_name_and_a_missing_joint_is_a_typed_error():
    joint_map = JointMap(JOINTS, FINGERS)
    names = ['fr3_finger_joint2', *reversed(JOINTS), 'fr3_finger_joint1', 'other']
    values = [0.01, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.02, 9.0]
    np.testing.assert_array_equal(joint_map.arm(names, values), [1, 2, 3, 4, 5, 6, 7])
    assert joint_map.gripper_width(names, values) == pytest.approx(0.03)
    with pytest.raises(MissingJointError, match='fr3_joint3'):
        joint_map.arm([n for n in names if n != 'fr3_joint3'], values[:-1])
    assert issubclass(MissingJointError, InputError)
    with pytest.raises(InputError, match='2 names but 1'):
        joint_map.arm(['a', 'b'], [1.0])
    assert JointMap(JOINTS).gripper_width(names, values) is None


def test_a_joint_state_without_an_arm_joint_is_rejected_and_not_taken(robot):
    rig = Rig(robot)
    with pytest.raises(MissingJointError):
        rig.loop.set_joint_state(list(JOINTS[:6]), [0.0] * 6, received_s=0.0)
    assert rig.loop.q_rad is None
    out = rig.tick(joints=False)
    assert out.watchdog == Watchdog.NO_JOINT_STATE and out.dq_rad_s == (0.0,) * 7


def test_stale_joint_states_ramp_the_command_to_exactly_zero(robot):
    rig = _moving_rig(robot)
    start = rig.outputs[-1].dq_rad_s
    outs = [rig.tick(joints=False) for _ in range(400)]
    assert outs[-1].watchdog == Watchdog.STALE_JOINT_STATE
    assert outs[-1].status == ControlStatus.STALE_JOINT_STATE
    # Within max_input_age_s (50 ms) the loop still tracks the last state.
    assert outs[10].watchdog == Watchdog.OK
    _assert_ramps_to_zero(rig, outs, start)
    assert rig.arm.violations.total == 0


@pytest.mark.parametrize('where', ['position', 'velocity'])
def test_a_nan_in_the_joint_state_ramps_the_command_to_zero(robot, where):
    rig = _moving_rig(robot)
    start = rig.outputs[-1].dq_rad_s
    outs = []
    for _ in range(400):
        q = rig.arm.q_rad.copy()
        dq = np.zeros(7)
        (q if where == 'position' else dq)[3] = math.nan
        rig.loop.set_joint_state(list(JOINTS), list(q), list(dq), received_s=rig.t_s)
        outs.append(rig.tick(joints=False))
    assert {o.watchdog for o in outs} == {Watchdog.INVALID_INPUT}
    _assert_ramps_to_zero(rig, outs, start)


def test_a_nan_region_pose_stops_the_arm_until_a_valid_pose_arrives(robot):
    rig = _moving_rig(robot)
    start = rig.outputs[-1].dq_rad_s
    region = rc.Region.from_points('mug/body', np.random.default_rng(0).random((20, 3)))
    T_bad = np.eye(4)
    T_bad[0, 3] = math.nan
    rig.loop.set_regions({'mug/body': region}, {'mug': T_bad}, rig.t_s)
    outs = [rig.tick() for _ in range(400)]
    assert {o.watchdog for o in outs} == {Watchdog.INVALID_INPUT}
    _assert_ramps_to_zero(rig, outs, start)
    rig.loop.set_regions({'mug/body': region}, {'mug': np.eye(4)}, rig.t_s)
    assert rig.tick().watchdog == Watchdog.OK


def test_stale_region_poses_stop_the_arm(robot):
    rig = Rig(robot)
    layout = synthetic_scene('pick_and_place_mug')
    regions = {n: rc.Region.from_points(n, p) for n, p in layout.parts.items()}
    program = rc.parse_program({'version': 1, 'name': 'p', 'regions': ['plate/top'],
                                'stages': [{'name': 'over_plate', 'timeout_s': 20.0, 'subgoal': [
                                    {'kind': 'above', 'point': {'of': 'tool', 'point': 'tcp'},
                                     'region': 'plate/top', 'min_height_m': 0.05,
                                     'max_height_m': 0.06, 'radius_m': 0.005}],
                                    'post': [{'kind': 'gripper_open', 'min_width_m': 0.0}]}]})
    rig.loop.set_program(program)
    for _ in range(200):
        rig.loop.set_regions(regions, layout.poses, rig.t_s)
        out = rig.tick()
    assert out.watchdog == Watchdog.OK and out.program == ProgramState.RUNNING
    start = out.dq_rad_s
    assert np.max(np.abs(start)) > 0.05
    outs = [rig.tick() for _ in range(600)]                 # no more region updates
    assert outs[100].watchdog == Watchdog.OK                # < max_target_age_s (0.25 s)
    assert outs[-1].watchdog == Watchdog.STALE_TARGETS
    _assert_ramps_to_zero(rig, outs, start)


def test_a_non_finite_command_is_replaced_by_zeros(robot, monkeypatch):
    rig = _moving_rig(robot)
    original = rig.controller.step

    def broken(*args, **kwargs):
        command = original(*args, **kwargs)
        command.dq_rad_s = np.full(7, math.nan)
        return command

    monkeypatch.setattr(rig.controller, 'step', broken)
    out = rig.tick()
    assert out.dq_rad_s == (0.0,) * 7 and out.watchdog == Watchdog.INVALID_INPUT
    assert np.all(rig.controller.dq_prev_rad_s == 0.0)


def test_gripper_requests_follow_the_franka_actions():
    assert GripperRequest.from_command(GripperCommand('open', speed_m_s=0.05)) == \
        GripperRequest('move', 0.08, 0.05, 0.0, 0.0, 0.0)
    move = GripperRequest.from_command(GripperCommand('move', width_m=0.03, speed_m_s=0.02))
    assert (move.action, move.width_m, move.speed_m_s) == ('move', 0.03, 0.02)
    grasp = GripperRequest.from_command(GripperCommand('grasp', width_m=0.01, force_n=20.0))
    assert (grasp.action, grasp.width_m, grasp.force_n) == ('grasp', 0.01, 20.0)
    assert grasp.epsilon_inner_m == 0.005 and grasp.epsilon_outer_m == 0.08
    close = GripperRequest.from_command(GripperCommand('close', width_m=0.0, force_n=30.0))
    assert (close.action, close.width_m, close.epsilon_inner_m) == ('grasp', 0.0, 0.0)


def test_a_reference_program_runs_through_its_first_stages_on_the_kinematic_arm(robot):
    """The sim's mug program: open the gripper, then move above the handle (stages 0 and 1)."""
    program = rc.parse_program((PROGRAMS / 'household_mug_to_plate.json').read_text())
    layout = synthetic_scene('pick_and_place_mug')
    regions = {n: rc.Region.from_points(n, p) for n, p in layout.parts.items()}
    rig = Rig(robot, width_m=0.0)
    rig.loop.set_program(program)
    out = rig.tick()
    assert out.program == ProgramState.WAITING and 'waiting for region' in out.detail
    gripper_goals = []
    stages = []
    for tick in range(20000):
        if tick % 66 == 0:                                 # tracked poses at 15 Hz
            rig.loop.set_regions(regions, layout.poses, rig.t_s)
        out = rig.tick()
        if out.gripper is not None:
            gripper_goals.append(out.gripper)
        if not stages or stages[-1] != out.stage:
            stages.append(out.stage)
        if out.stage_index >= 2 or out.program == ProgramState.FAILED:
            break
    assert out.program == ProgramState.RUNNING, out.detail
    assert stages == ['open_gripper', 'pregrasp', 'grasp_handle']
    assert gripper_goals == [GripperRequest('move', 0.08, 0.05, 0.0, 0.0, 0.0)]
    handle = regions['mug/handle']
    p_handle = layout.poses['mug'][:3, :3] @ handle.centroid_obj + layout.poses['mug'][:3, 3]
    p_tool = robot.forward_tool_pose(rig.arm.q_rad)[:3, 3]
    np.testing.assert_allclose(p_tool, p_handle + [0.0, 0.0, 0.1], atol=0.011)
    assert rig.arm.violations.total == 0


def test_the_same_program_again_does_not_restart_and_a_new_one_does(robot):
    rig = Rig(robot)
    program = _reach_program()
    rig.loop.set_program(program)
    for _ in range(20000):
        out = rig.tick()
        if out.program == ProgramState.DONE:
            break
    assert out.program == ProgramState.DONE and out.detail == 'program done'
    rig.loop.set_program(_reach_program())               # equal by value: kept
    assert rig.tick().program == ProgramState.DONE
    rig.loop.set_program(_reach_program(0.4))
    assert rig.tick().program == ProgramState.RUNNING
    rig.loop.set_program(None)
    out = rig.tick()
    assert out.program == ProgramState.NO_PROGRAM and out.stage == '' and out.stage_index == -1


def test_a_failed_or_cancelled_task_stops_its_program_for_good(robot):
    rig = _moving_rig(robot)
    rig.loop.set_program(None)                          # (the rig's program has no task id)
    rig.loop.set_program(_reach_program(0.6, 0.1), 'task-1')
    for _ in range(50):
        rig.tick()
    assert rig.outputs[-1].program == ProgramState.RUNNING
    assert not rig.loop.task_ended('task-2', failed=True)       # another task: ignored
    assert not rig.loop.task_ended('task-1', failed=False)      # succeeded: not stopped
    assert np.max(np.abs(rig.outputs[-1].dq_rad_s)) > 0.1       # moving when it fails
    assert rig.loop.task_ended('task-1', failed=True)
    first = len(rig.outputs)
    for _ in range(400):
        rig.tick()
    assert rig.outputs[-1].program == ProgramState.NO_PROGRAM
    _assert_ramps_to_zero(rig, rig.outputs[first:], rig.outputs[first - 1].dq_rad_s)
    rig.loop.set_program(_reach_program(0.6, 0.1), 'task-1')   # re-delivered: not resumed
    assert rig.tick().program == ProgramState.NO_PROGRAM
    rig.loop.set_program(_reach_program(0.5, 0.2), 'task-2')   # a new task runs
    assert rig.tick().program == ProgramState.RUNNING


def test_an_unmet_precondition_fails_the_program_with_its_reason(robot):
    program = rc.parse_program({'version': 1, 'name': 'p', 'regions': [], 'stages': [{
        'name': 'needs_open', 'timeout_s': 5.0, 'gripper': {'action': 'close'},
        'pre': [{'kind': 'gripper_open', 'min_width_m': 0.07}], 'post': []}]})
    rig = Rig(robot, width_m=0.01)
    rig.loop.set_program(program)
    out = rig.tick()
    assert out.program == ProgramState.FAILED
    assert 'needs_open: precondition: gripper_open' in out.detail


def test_a_grasp_attaches_the_object_at_the_tool_and_a_move_releases_it(robot):
    rig = Rig(robot)
    rig.tick()
    T_tool = rig.loop.scene.T_base_tool
    region = rc.Region.from_points('cup/body', np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]]))
    T_cup = np.eye(4)
    T_cup[:3, 3] = T_tool[:3, 3] + [0.01, 0.0, 0.0]
    rig.loop.set_regions({'cup/body': region}, {'cup': T_cup}, rig.t_s)
    rig.loop.set_gripper_width(0.03)
    rig.loop.gripper_result(True, 'grasp')
    assert rig.loop.scene.held == frozenset({'cup'}) and rig.loop.scene.gripper_grasping
    # Carried 10 cm up: perception still reports the pose it kept next to the hand; the held
    # cup moves with the tool all the same.
    lifted = T_tool.copy()
    lifted[2, 3] += 0.1
    rig.loop.scene.T_base_tool = lifted
    rig.loop.set_regions({'cup/body': region}, {'cup': T_cup}, rig.t_s)
    np.testing.assert_allclose(rig.loop.scene.object_pose('cup')[:3, 3],
                               T_cup[:3, 3] + [0.0, 0.0, 0.1], atol=1e-9)
    rig.loop.gripper_result(True, 'move')
    assert rig.loop.scene.held == frozenset() and not rig.loop.scene.gripper_grasping
    rig.loop.set_regions({'cup/body': region}, {'cup': T_cup}, rig.t_s)   # released: taken
    np.testing.assert_allclose(rig.loop.scene.object_pose('cup'), T_cup, atol=1e-9)
    rig.loop.set_gripper_width(0.001)                     # closed on air: no grasp
    rig.loop.gripper_result(True, 'grasp')
    assert rig.loop.scene.held == frozenset() and not rig.loop.scene.gripper_grasping


def test_a_gripper_only_joint_state_updates_the_width_but_not_the_arm(robot):
    rig = Rig(robot)
    with pytest.raises(MissingJointError):
        rig.loop.set_joint_state(list(FINGERS), [0.01, 0.015], received_s=0.0)
    assert rig.loop.scene.gripper_width_m == pytest.approx(0.025)
    assert rig.loop.q_rad is None
    assert finger_joints_for(JOINTS) == FINGERS
    assert finger_joints_for([f'panda_joint{i}' for i in range(1, 8)]) == (
        'panda_finger_joint1', 'panda_finger_joint2')


def test_the_progress_reads_as_a_task_status(robot):
    rig = Rig(robot)
    status = task_status(rig.tick(), 5, 'task-1', 0)
    assert status.state == TaskState.IDLE and status.stage == '' and status.stamp_ns == 5
    rig.loop.set_program(_reach_program())
    out = rig.tick()
    status = task_status(out, 6, 'task-1', 2)
    assert (status.state, status.stage, status.task_id, status.subtask_index) == (
        TaskState.EXECUTING, 'reach', 'task-1', 2)
    out = rig.tick(joints=False)
    for _ in range(100):
        out = rig.tick(joints=False)
    assert task_status(out, 7).message.startswith('stale_joint_state: joint state')


def test_the_robot_names_of_the_graph_override_the_config(robot):
    config = with_robot_names(ControllerConfig(), 'panda_link0', 'panda_hand_tcp', 'panda_')
    assert config.arm_joints == tuple(f'panda_joint{i}' for i in range(1, 8))
    assert (config.base_frame, config.tool_frame) == ('panda_link0', 'panda_hand_tcp')
    assert with_robot_names(ControllerConfig()) == ControllerConfig()
    fr3 = with_robot_names(ControllerConfig(), 'fr3_link0', 'fr3_hand_tcp', 'fr3_')
    assert fr3.arm_joints[6] == 'fr3_joint7' and fr3.base_frame == 'fr3_link0'
    with pytest.raises(RobotModelError):                 # the Panda URDF has no FR3 frames
        JointVelocityController(fr3)
    own = with_robot_names(ControllerConfig(srdf_path='/x.srdf'), urdf_path='/robots/fr3.urdf')
    assert (own.urdf_path, own.srdf_path) == ('/robots/fr3.urdf', '')
    with pytest.raises(RobotModelError, match='fr3.urdf'):
        JointVelocityController(own)
