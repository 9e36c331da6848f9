"""The controller node's tick without ROS: latest inputs in, one joint velocity command out.

:class:`CommandLoop` holds the latest joint state, constraint program and tracked region poses,
each with the time it was received, and turns them into a command at every :meth:`tick` of the
node's timer (``rate_hz`` of ``config/controller.yaml``):

* **joint state**: names are mapped to the model's arm joints by name (any order, extra joints
  ignored; a missing arm joint raises :class:`MissingJointError`); the finger joints, when
  present, give the gripper width;
* **program**: run stage by stage as :mod:`.executor` does (preconditions at the stage start,
  subgoal and path tracked by the QP, post conditions checked every
  :data:`~.executor.CHECK_EVERY_TICKS` ticks and held for ``hold_s``, ``timeout_s``), but one
  tick at a time, so a ROS timer can drive it;
* **watchdog**: no joint state yet, a joint state older than ``max_input_age_s``, region poses
  older than ``max_target_age_s``, or a non-finite value in any input → the command
  decelerates to zero within the acceleration limits (never a jump); a non-finite command
  (never expected) is replaced by zeros.

Times are seconds on one clock (the node's clock: ROS time, or simulated time with
``use_sim_time``). The command lists joint velocities [rad/s] in ``joint_names`` order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
from dataclasses import dataclass
import enum
import math

import numpy as np

import resem3d_constraints as rc
from resem3d_constraints.scene import check_pose
from resem3d_constraints.status import TaskState, TaskStatus

from .config import ControllerConfig
from .controller import ControlCommand, ControlStatus, JointVelocityController
from .exceptions import InputError
from .executor import CHECK_EVERY_TICKS, largest_residual, unmet_conditions
from .gripper import GripperCommand, MAX_WIDTH_M

#: Grasp tolerances of the Franka ``Grasp`` goal [m]: a grasp succeeds when the final width
#: lies in ``(width - inner, width + outer)``. A program's width is the planner's estimate of
#: the object's, so wider objects are accepted.
GRASP_EPSILON_INNER_M = 0.005
GRASP_EPSILON_OUTER_M = 0.08
#: A successful grasp holds the object with a region point this close to the TCP [m].
GRASP_SEARCH_M = 0.04
#: Fingers closer than this [m] hold nothing (the Franka Hand closed on air).
GRASP_MIN_WIDTH_M = 0.003


class MissingJointError(InputError):
    """A joint state lacks one of the arm joints the controller needs."""


class Watchdog(enum.Enum):
    """Whether the inputs allow tracking, and if not, why the arm is stopping."""

    OK = 'ok'
    NO_JOINT_STATE = 'no_joint_state'
    STALE_JOINT_STATE = 'stale_joint_state'
    STALE_TARGETS = 'stale_targets'
    INVALID_INPUT = 'invalid_input'


class ProgramState(enum.Enum):
    """Where the loop is in its program."""

    NO_PROGRAM = 'no_program'
    WAITING = 'waiting'          # the scene lacks a region of the program, or no joint state
    RUNNING = 'running'
    DONE = 'done'
    FAILED = 'failed'


@dataclass(frozen=True)
class GripperRequest:
    """A Franka gripper action goal (``franka_msgs/action/Move`` or ``Grasp``).

    Attributes:
        action: ``move`` (go to ``width_m``) or ``grasp`` (close on an object of ``width_m``
            with ``force_n``; succeeds within ``(width - epsilon_inner, width +
            epsilon_outer)``).
        width_m: Target or object width [m].
        speed_m_s: Finger speed [m/s].
        force_n: Grasp force [N] (``grasp`` only).
        epsilon_inner_m: Grasp tolerance below the width [m].
        epsilon_outer_m: Grasp tolerance above the width [m].
    """

    action: str
    width_m: float
    speed_m_s: float
    force_n: float = 0.0
    epsilon_inner_m: float = GRASP_EPSILON_INNER_M
    epsilon_outer_m: float = GRASP_EPSILON_OUTER_M

    @classmethod
    def from_command(cls, command: GripperCommand) -> GripperRequest:
        """Franka goal of a stage's gripper command: open and move are Moves, close and grasp
        Grasps (close: on whatever is there, any width above zero)."""
        if command.action in ('open', 'move'):
            width = MAX_WIDTH_M if command.action == 'open' else command.width_m
            return cls('move', width, command.speed_m_s, 0.0, 0.0, 0.0)
        width = 0.0 if command.action == 'close' else command.width_m
        return cls('grasp', width, command.speed_m_s, command.force_n,
                   min(width, GRASP_EPSILON_INNER_M), GRASP_EPSILON_OUTER_M)


@dataclass(frozen=True)
class TickOutput:
    """What one tick commands, and why.

    Attributes:
        dq_rad_s: Joint velocities [rad/s] in ``joint_names`` order.
        gripper: A gripper goal to send now, or None.
        watchdog: Input health this tick.
        status: What the QP controller did.
        program: Where the program stands.
        stage: Name of the active (or last) stage; '' without a program.
        stage_index: Its index in the program (-1 without a program).
        detail: One line on a non-tracking tick, a finished or failed program.
    """

    dq_rad_s: tuple[float, ...]
    gripper: GripperRequest | None
    watchdog: Watchdog
    status: ControlStatus
    program: ProgramState
    stage: str
    stage_index: int
    detail: str = ''


_WATCHDOG = {ControlStatus.STALE_JOINT_STATE: Watchdog.STALE_JOINT_STATE,
             ControlStatus.STALE_TARGET: Watchdog.STALE_TARGETS,
             ControlStatus.INVALID_INPUT: Watchdog.INVALID_INPUT}


class JointMap:
    """Maps named joint states onto the model's arm joints.

    Args:
        joint_names: Names of the arm joints in the model's (and the command's) order, as the
            joint states and the velocity controller call them (``fr3_joint1..7``).
        finger_joints: Names of the two finger joints; their sum is the gripper width [m].
    """

    def __init__(self, joint_names: Sequence[str], finger_joints: Sequence[str] = ()) -> None:
        self.joint_names = tuple(joint_names)
        self.finger_joints = tuple(finger_joints)
        if len(set(self.joint_names)) != len(self.joint_names) or not self.joint_names:
            raise InputError(f'joint_names: expected distinct names, got {self.joint_names}')

    def arm(self, names: Sequence[str], values: Sequence[float], what: str = 'position'
            ) -> np.ndarray:
        """Values (n,) of the arm joints from a joint state's names and one of its columns.

        Raises:
            MissingJointError: If an arm joint is not among ``names``.
            InputError: If ``values`` is not as long as ``names``.
        """
        if len(values) != len(names):
            raise InputError(f'joint state: {len(names)} names but {len(values)} {what} values')
        index = {name: i for i, name in enumerate(names)}
        missing = [name for name in self.joint_names if name not in index]
        if missing:
            raise MissingJointError(f'joint state lacks {", ".join(missing)} (has '
                                    f'{", ".join(names) or "no joints"})')
        return np.array([values[index[name]] for name in self.joint_names], dtype=float)

    def gripper_width(self, names: Sequence[str], positions: Sequence[float]) -> float | None:
        """Finger opening [m] (the sum of the finger joints), or None if they are absent."""
        if not self.finger_joints:
            return None
        index = {name: i for i, name in enumerate(names)}
        if any(name not in index for name in self.finger_joints):
            return None
        return float(sum(positions[index[name]] for name in self.finger_joints))


def with_robot_names(config: ControllerConfig, base_frame: str = '', tool_frame: str = '',
                     joint_prefix: str = '', urdf_path: str = '') -> ControllerConfig:
    """``config`` with the robot's ROS names, which are its URDF's (franka_ros2 names them so).

    Args:
        config: The controller configuration (``config/controller.yaml``).
        base_frame: Base frame (``fr3_link0``); '' keeps ``config.base_frame``.
        tool_frame: TCP frame (``fr3_hand_tcp``); '' keeps ``config.tool_frame``.
        joint_prefix: Arm joints become ``<joint_prefix>joint1..N``; '' keeps
            ``config.arm_joints``.
        urdf_path: The robot's URDF file (for an FR3, franka_description's xacro output);
            '' keeps ``config.urdf_path``.

    The URDF (``config.urdf_path``) must have these frames and joints: a Panda model is not
    silently used for an FR3 (building the model raises ``RobotModelError``).
    """
    changes: dict[str, object] = {}
    if base_frame:
        changes['base_frame'] = base_frame
    if tool_frame:
        changes['tool_frame'] = tool_frame
    if urdf_path:
        changes['urdf_path'] = urdf_path
        changes['srdf_path'] = ''
    if joint_prefix:
        changes['arm_joints'] = tuple(f'{joint_prefix}joint{i}'
                                      for i in range(1, len(config.arm_joints) + 1))
    return dataclasses.replace(config, **changes)


def finger_joints_for(joint_names: Sequence[str]) -> tuple[str, str]:
    """The finger joints franka_ros2 names next to arm joints: ``fr3_joint1`` ->
    ``fr3_finger_joint1``, ``fr3_finger_joint2`` (``panda_`` likewise)."""
    prefix = joint_names[0][:-len('joint1')] if joint_names and \
        joint_names[0].endswith('joint1') else ''
    return f'{prefix}finger_joint1', f'{prefix}finger_joint2'


class CommandLoop:
    """Latest inputs → one velocity command per tick; runs a constraint program stage by stage.

    Args:
        controller: The QP controller (its config gives the rate and the watchdog ages).
        joint_map: Joint names of the joint states and of the command.
        grasp_search_m: A successful grasp attaches the object with a region point this close
            to the TCP [m].
    """

    def __init__(self, controller: JointVelocityController, joint_map: JointMap,
                 grasp_search_m: float = GRASP_SEARCH_M) -> None:
        if len(joint_map.joint_names) != controller.n:
            raise InputError(f'joint_names: the model has {controller.n} arm joints, got '
                             f'{len(joint_map.joint_names)} names')
        self.controller = controller
        self.joint_map = joint_map
        self.grasp_search_m = grasp_search_m
        self.scene = rc.SceneState(T_base_tool=np.eye(4), gripper_width_m=MAX_WIDTH_M)
        self.q_rad: np.ndarray | None = None
        self.q_stamp_s = -math.inf
        self.regions_stamp_s = -math.inf
        self.program: rc.ConstraintProgram | None = None
        self.task_id = ''                 # the task the running program belongs to
        self.dropped_task_id = ''         # the last task that ended while its program ran
        self.state = ProgramState.NO_PROGRAM
        self.stage_index = -1
        self.detail = ''
        self._invalid = ''
        self._stage_started = False
        self._stage_start_s = 0.0
        self._held_since_s: float | None = None
        self._ticks = 0
        self._gripper_issued = False
        self._gripper_pending = False

    # ------------------------------------------------------------------ inputs
    def set_joint_state(self, names: Sequence[str], positions: Sequence[float],
                        velocities: Sequence[float] = (), received_s: float = 0.0) -> None:
        """Take a joint state (``sensor_msgs/JointState`` columns) received at ``received_s``.

        The finger joints, when present, update the gripper width even if the arm joints are
        not in this message (franka's gripper publishes its own). Non-finite arm values are
        kept: the next tick sees them and stops the arm.

        Raises:
            MissingJointError: If an arm joint is missing (the arm state is not taken).
            InputError: If a column's length does not match the names.
        """
        if len(positions) == len(names):
            width = self.joint_map.gripper_width(names, positions)
            if width is not None and math.isfinite(width):
                self.scene.gripper_width_m = width
        q = self.joint_map.arm(names, positions)
        if len(velocities):
            dq = self.joint_map.arm(names, velocities, 'velocity')
            if not np.all(np.isfinite(dq)):
                q = np.full_like(q, math.nan)
        self.q_rad, self.q_stamp_s = q, received_s

    def set_program(self, program: rc.ConstraintProgram | None, task_id: str = '') -> None:
        """Run ``program`` (of task ``task_id``) from its first stage (None: stop and drop the
        current one).

        The same program (equal by value) received again, as a transient-local topic
        re-delivers it, does not restart it; nor does a program of a task that ended in
        failure (:meth:`task_ended`).
        """
        if program is not None and (program == self.program
                                    or (task_id and task_id == self.dropped_task_id)):
            return
        self.program = program
        self.task_id = task_id if program is not None else ''
        self.controller.clear_targets()
        self.stage_index = 0 if program is not None else -1
        self.state = ProgramState.WAITING if program is not None else ProgramState.NO_PROGRAM
        self.detail = ''
        self._stage_started = False

    def task_ended(self, task_id: str, failed: bool) -> bool:
        """The reasoning reports that task ``task_id`` ended: when it failed (or was
        cancelled) and the running program is that task's, stop and drop the program (the arm
        decelerates to rest within its limits; the program is not resumed when its
        transient-local message is delivered again). Returns whether it was dropped."""
        if not failed or self.program is None or task_id != self.task_id:
            return False
        self.set_program(None)
        self.dropped_task_id = task_id
        return True

    def set_regions(self, regions: Mapping[str, rc.Region],
                    T_base_obj: Mapping[str, np.ndarray], received_s: float) -> None:
        """Take tracked regions (object frame) and object poses (base frame) received at
        ``received_s``; they refresh the targets' age.

        A non-finite or malformed pose makes the whole update invalid: it is dropped and the
        arm stops until a valid one arrives. The pose of an object the gripper holds is not
        taken: it moves with the tool from the grasp on (the perception node, told of no
        grasp, keeps the pose it had next to the hand, which would re-anchor the grasp there
        at every update and leave the carried object behind).
        """
        try:
            poses = {frame: check_pose(f'pose of {frame!r}', T)
                     for frame, T in T_base_obj.items()}
        except rc.SceneError as error:
            self._invalid = str(error)
            return
        self._invalid = ''
        scene = self.scene
        new_regions = {name: r for name, r in regions.items() if scene.regions.get(name) is not r}
        if new_regions:
            scene.regions = {**scene.regions, **new_regions}
        for frame, T in poses.items():
            if frame not in scene.held:
                scene.set_object_pose(frame, T)
        self.regions_stamp_s = received_s

    def set_gripper_width(self, width_m: float) -> None:
        """Take the finger opening [m] from elsewhere than the joint states (action feedback)."""
        if math.isfinite(width_m):
            self.scene.gripper_width_m = float(width_m)

    def gripper_result(self, success: bool, action: str) -> None:
        """Report the result of the last gripper goal (a ``move`` or ``grasp``).

        A successful grasp with the fingers apart attaches the object with a region nearest
        the TCP to the tool; a move releases whatever was held.
        """
        self._gripper_pending = False
        scene = self.scene
        if action == 'grasp':
            grasping = success and scene.gripper_width_m > GRASP_MIN_WIDTH_M
            scene.gripper_grasping = grasping
            held = self._object_at_tool() if grasping else None
            if held is not None:
                scene.grasp(held)
        else:
            scene.gripper_grasping = False
            scene.held = frozenset()

    # ------------------------------------------------------------------ the tick
    def tick(self, now_s: float) -> TickOutput:
        """Compute this tick's command from the latest inputs."""
        if self.q_rad is None:
            return self._stop(now_s, Watchdog.NO_JOINT_STATE, 'no joint state yet')
        if self._invalid:
            return self._stop(now_s, Watchdog.INVALID_INPUT, self._invalid)
        q = self.q_rad
        valid = bool(np.all(np.isfinite(q)))
        if valid:
            self.scene.T_base_tool = self.controller.robot.forward_tool_pose(q)
        if valid and (self.state == ProgramState.WAITING or (
                self.state == ProgramState.RUNNING and not self._stage_started)):
            self._begin_stage(now_s)
        running = self.state == ProgramState.RUNNING
        if running:
            # A program without regions has only tool and world anchors: nothing to go stale.
            self.controller.refresh_targets(self.regions_stamp_s if self.program.regions
                                            else now_s)
        command = self.controller.step(q, now_s, self.q_stamp_s)
        if command.gripper is not None:
            self._gripper_issued = True
            self._gripper_pending = True
        if running:
            self._advance(command, now_s)
        return self._output(command, _WATCHDOG.get(command.status, Watchdog.OK))

    # ------------------------------------------------------------------ stages
    @property
    def stage(self) -> rc.Stage | None:
        """The active stage, or None."""
        if self.program is None or not 0 <= self.stage_index < len(self.program.stages):
            return None
        return self.program.stages[self.stage_index]

    def _begin_stage(self, now_s: float) -> None:
        stage = self.stage
        missing = [r for r in self.program.regions if r not in self.scene.regions
                   or r.split('/')[0] not in self.scene.T_base_obj]
        if missing:
            self.state, self.detail = ProgramState.WAITING, f'waiting for region {missing[0]}'
            return
        self.scene.freeze_init_poses()
        unmet = [r for r in (rc.check(c, self.scene) for c in stage.pre) if not r.satisfied]
        if unmet:
            self._fail(f'stage {stage.name}: precondition: {unmet[0].detail}')
            return
        try:
            self.controller.set_stage(stage, self.scene, self.regions_stamp_s
                                      if self.program.regions else now_s)
        except (InputError, rc.ConstraintError) as error:
            self._fail(f'stage {stage.name}: {error}')
            return
        self.state, self.detail = ProgramState.RUNNING, ''
        self._stage_started = True
        self._stage_start_s = now_s
        self._held_since_s = None
        self._ticks = 0
        self._gripper_issued = False

    def _advance(self, command: ControlCommand, now_s: float) -> None:
        """Post conditions, dwell and timeout of the running stage (see :mod:`.executor`).

        Post conditions are checked only on ticks the controller tracked (not while the
        watchdog stops the arm). A stage with a gripper action and no post condition ends
        with the action's result.
        """
        stage = self.stage
        tracked = command.status in (ControlStatus.TRACKING, ControlStatus.IDLE)
        self._ticks += 1
        if tracked and (self._ticks - 1) % CHECK_EVERY_TICKS == 0:
            held = command.subgoal_reached and all(rc.check(c, self.scene).satisfied
                                                   for c in stage.post)
            if held and not stage.post and stage.gripper is not None:
                held = self._gripper_issued and not self._gripper_pending
            if not held:
                self._held_since_s = None
            elif self._held_since_s is None:
                self._held_since_s = now_s
            if held and now_s - self._held_since_s >= stage.hold_s:
                self._next_stage()
                return
        if now_s - self._stage_start_s > stage.timeout_s:
            self._fail(f'stage {stage.name}: timeout after {stage.timeout_s:g} s: '
                       + unmet_conditions(stage, self.scene))

    def _next_stage(self) -> None:
        self.stage_index += 1
        self._stage_started = False
        if self.stage_index >= len(self.program.stages):
            self.stage_index = len(self.program.stages) - 1
            self.state, self.detail = ProgramState.DONE, 'program done'
            self.controller.clear_targets()

    def _fail(self, reason: str) -> None:
        self.state, self.detail = ProgramState.FAILED, reason
        self.controller.clear_targets()

    def largest_residual(self) -> float:
        """Largest subgoal violation of the active stage (m or rad), nan without one."""
        stage = self.stage
        if stage is None or not self._stage_started:
            return math.nan
        return largest_residual(stage, self.scene)

    # ------------------------------------------------------------------ helpers
    def _object_at_tool(self) -> str | None:
        """The object with a region point nearest the TCP, within ``grasp_search_m``."""
        scene = self.scene
        p_tool = scene.T_base_tool[:3, 3]
        best, best_d = None, self.grasp_search_m
        for region in scene.regions.values():
            if region.frame not in scene.T_base_obj:
                continue
            T = scene.object_pose(region.frame)
            d = float(np.min(np.linalg.norm(region.points_obj @ T[:3, :3].T + T[:3, 3]
                                            - p_tool, axis=1)))
            if d < best_d:
                best, best_d = region.frame, d
        return best

    def _stop(self, now_s: float, watchdog: Watchdog, detail: str) -> TickOutput:
        """Decelerate within the acceleration limits (the controller's own stop path)."""
        command = self.controller.step(np.full(self.controller.n, math.nan), now_s)
        command.detail = detail
        return self._output(command, watchdog)

    def _output(self, command: ControlCommand, watchdog: Watchdog) -> TickOutput:
        dq = command.dq_rad_s
        detail = (command.detail if watchdog != Watchdog.OK else self.detail or command.detail)
        if not np.all(np.isfinite(dq)):
            dq = np.zeros(self.controller.n)
            self.controller.reset()
            watchdog, detail = Watchdog.INVALID_INPUT, 'non-finite command replaced by zeros'
        gripper = None
        if command.gripper is not None:
            gripper = GripperRequest.from_command(command.gripper)
            if gripper.action == 'move':
                self.scene.gripper_grasping = False
        stage = self.stage
        return TickOutput(tuple(float(v) for v in dq), gripper, watchdog, command.status,
                          self.state, stage.name if stage is not None else '',
                          self.stage_index, detail)


_TASK_STATES = {ProgramState.NO_PROGRAM: TaskState.IDLE, ProgramState.WAITING: TaskState.EXECUTING,
                ProgramState.RUNNING: TaskState.EXECUTING, ProgramState.DONE: TaskState.SUCCEEDED,
                ProgramState.FAILED: TaskState.FAILED}


def task_status(output: TickOutput, stamp_ns: int, task_id: str = '',
                subtask_index: int = -1) -> TaskStatus:
    """The controller's progress as a :class:`~resem3d_constraints.status.TaskStatus`: idle
    without a program, executing while it runs (``stage`` is the active stage), succeeded or
    failed at its end; ``message`` is the tick's detail, prefixed by the watchdog state when
    the arm is being stopped."""
    message = output.detail
    if output.watchdog != Watchdog.OK:
        message = f'{output.watchdog.value}: {message}'
    return TaskStatus(state=_TASK_STATES[output.program], task_id=task_id,
                      subtask_index=max(int(subtask_index), -1), stage=output.stage,
                      message=message, stamp_ns=stamp_ns)
