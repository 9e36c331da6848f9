"""The simulated world as a robot and a camera, for the ROS node, without ROS.

:class:`SimBridge` runs a task's :class:`~resem3d_sim.tasks.TaskEnv` the way the real drivers
behave, so that the ROS node (``node.py``) only converts and publishes:

* **arm** (franka_ros2 + a ``JointGroupVelocityController``): joint velocity commands are held
  until ``command_timeout_s`` old, then replaced by zeros (the arm stops); joint states come
  under configurable names (``panda_joint1..7`` by default, ``fr3_joint1..7`` for an FR3
  graph), the two finger joints at half the opening each;
* **gripper** (``franka_gripper``'s ``move`` and ``grasp`` actions): :class:`GripperGoal` runs
  one goal at a time on the world's finger servo and ends with Franka's result semantics;
* **camera** (realsense2_camera with ``align_depth.enable``): frames are rendered on a
  schedule (15 Hz by default) from the scene's RealSense-like camera; the optical frame
  ``camera_color_optical_frame`` (x right, y down, z forward: camera.py's ``cam`` frame) hangs
  below ``camera_link`` (REP 103: x forward, y left, z up), which hangs from the base frame;
* **tf**: the robot's links relative to their parents (as robot_state_publisher would), with
  MuJoCo's ``panda_`` names given the configured prefix.

Time is simulated time [s] (``MjData.time``); the node publishes it on ``/clock``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import math
from typing import NamedTuple

import numpy as np

from .camera import CameraIntrinsics, R_CAM_MJCAM, RgbdFrame
from .errors import SimInputError
from .robot import ARM_JOINTS, FINGER_JOINTS, GRIPPER_TENDON
from .tasks import CAMERA_NAME, TaskEnv

import mujoco  # noqa: E402,I100  (after .tasks: it configures headless GL first)

#: Rotation of the optical frame in camera_link (columns: the optical x, y, z axes in
#: camera_link's axes): optical z = link x (forward), optical x = -link y (right), optical
#: y = -link z (down). Its quaternion (x, y, z, w) is (-0.5, 0.5, -0.5, 0.5), as the
#: RealSense driver publishes.
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
#: A ``move`` succeeds when the fingers end this close to the requested width [m].
MOVE_TOLERANCE_M = 0.005
#: The fingers have stopped when the opening changes slower than this [m/s] ...
FINGERS_STOPPED_M_S = 0.005
#: ... for this long [s].
FINGERS_SETTLE_S = 0.02
#: A gripper goal gives up this long after the fingers should have arrived [s].
GRIPPER_GOAL_MARGIN_S = 2.0
_MUJOCO_PREFIX = 'panda_'
_BASE_BODY = 'panda_link0'


@dataclass(frozen=True)
class BridgeConfig:
    """Names and rates of the simulated drivers.

    Attributes:
        joint_names: Names of the seven arm joints in the joint states and commands
            (MuJoCo's ``panda_joint1..7`` in order).
        finger_joint_names: Names of the two finger joints.
        base_frame: Robot base frame (MuJoCo's ``panda_link0``, the world frame).
        frame_prefix: Prefix that replaces ``panda_`` in the other robot link frames.
        camera_link_frame: The camera's body frame (REP 103).
        camera_frame: The colour optical frame (depth is aligned to it).
        command_timeout_s: A velocity command older than this is replaced by zeros [s].
        camera_hz: Camera frame rate [Hz].
    """

    joint_names: tuple[str, ...] = ARM_JOINTS
    finger_joint_names: tuple[str, ...] = FINGER_JOINTS
    base_frame: str = 'panda_link0'
    frame_prefix: str = _MUJOCO_PREFIX
    camera_link_frame: str = 'camera_link'
    camera_frame: str = 'camera_color_optical_frame'
    command_timeout_s: float = 0.1
    camera_hz: float = 15.0

    def __post_init__(self) -> None:
        if len(self.joint_names) != len(ARM_JOINTS) or len(set(self.joint_names)) != 7:
            raise SimInputError(f'joint_names: expected 7 distinct names, got {self.joint_names}')
        if len(self.finger_joint_names) != 2:
            raise SimInputError(f'finger_joint_names: expected 2 names, got '
                                f'{self.finger_joint_names}')
        for name in ('command_timeout_s', 'camera_hz'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise SimInputError(f'{name}: must be positive and finite, got {value!r}')
        object.__setattr__(self, 'joint_names', tuple(self.joint_names))
        object.__setattr__(self, 'finger_joint_names', tuple(self.finger_joint_names))


class JointStateSample(NamedTuple):
    """One joint state (``sensor_msgs/JointState`` columns).

    Attributes:
        stamp_s: Simulated time [s].
        names: Arm joints, then the two finger joints.
        positions: [rad] for the arm, [m] for each finger (half the opening).
        velocities: [rad/s], [m/s].
    """

    stamp_s: float
    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray


class Transform(NamedTuple):
    """A transform ``T_parent_child`` (4, 4): child-frame coordinates to the parent frame."""

    parent: str
    child: str
    T: np.ndarray


@dataclass(frozen=True)
class GripperGoalSpec:
    """What the world's finger servo reads (``GripperCommandLike`` of :mod:`.robot`)."""

    action: str
    width_m: float
    force_n: float
    speed_m_s: float


@dataclass
class GripperGoal:
    """One Franka gripper goal on the simulated hand, and its outcome.

    ``move``: the fingers go to ``width_m``; success when they stop within
    :data:`MOVE_TOLERANCE_M` of it. ``grasp``: the fingers close (at ``speed_m_s``) until they
    stall on something and squeeze it with ``force_n``; success when something is held and
    the opening ``d`` satisfies ``width - epsilon_inner < d < width + epsilon_outer``
    (libfranka's rule).

    Attributes:
        kind: ``move`` or ``grasp``.
        width_m: Requested width [m].
        speed_m_s: Finger speed [m/s].
        force_n: Grasp force [N].
        epsilon_inner_m: Grasp tolerance below the width [m].
        epsilon_outer_m: Grasp tolerance above the width [m].
        started_s: Simulated time the goal started [s].
        deadline_s: Time after which it ends unsuccessfully [s].
        current_width_m: Latest opening [m] (the action's feedback).
        done: Whether it has ended.
        success: Its result (valid once done).
        error: Why it failed ('' on success).
    """

    kind: str
    width_m: float
    speed_m_s: float
    force_n: float = 0.0
    epsilon_inner_m: float = 0.005
    epsilon_outer_m: float = 0.005
    started_s: float = 0.0
    deadline_s: float = math.inf
    current_width_m: float = math.nan
    done: bool = False
    success: bool = False
    error: str = ''
    _still_since_s: float | None = field(default=None, repr=False)
    _arrive_s: float = field(default=0.0, repr=False)

    def finish(self, success: bool, error: str = '') -> None:
        """End the goal (a later call changes nothing)."""
        if not self.done:
            self.done, self.success, self.error = True, success, error


class VelocityCommandGate:
    """The latest joint velocity command, zero once older than the timeout.

    Args:
        size: Number of joints.
        timeout_s: Age [s] after which the command reads as zeros.
    """

    def __init__(self, size: int, timeout_s: float) -> None:
        self.size = size
        self.timeout_s = timeout_s
        self._dq = np.zeros(size)
        self._received_s = -math.inf

    def set(self, dq_rad_s: Sequence[float], received_s: float) -> None:
        """Take a command received at ``received_s`` [s].

        Raises:
            SimInputError: If it has the wrong length or a non-finite value; the arm then
                stops at once (zeros), as a driver rejecting the command would.
        """
        try:
            dq = np.array(dq_rad_s, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            dq = np.full(0, math.nan)
        if dq.shape != (self.size,) or not np.all(np.isfinite(dq)):
            self._dq = np.zeros(self.size)
            self._received_s = received_s
            raise SimInputError(f'velocity command: expected {self.size} finite values, got '
                                f'{list(np.asarray(dq_rad_s, dtype=object).reshape(-1))!r}')
        self._dq, self._received_s = dq, received_s

    def current(self, now_s: float) -> np.ndarray:
        """The command to apply at ``now_s`` [s]: the latest, or zeros when stale or none."""
        if now_s - self._received_s > self.timeout_s:
            return np.zeros(self.size)
        return self._dq

    def stale(self, now_s: float) -> bool:
        """Whether the command is older than the timeout (or there is none)."""
        return now_s - self._received_s > self.timeout_s


class SimBridge:
    """A task's world, stepped under velocity commands, seen as franka_ros2 and a RealSense.

    Args:
        env: The task environment (its world is stepped by this bridge only).
        config: Names and rates.

    Use :meth:`from_task` to build one from a task name.
    """

    def __init__(self, env: TaskEnv, config: BridgeConfig | None = None) -> None:
        self.env = env
        self.world = env.world
        self.config = config or BridgeConfig()
        self.command = VelocityCommandGate(len(ARM_JOINTS), self.config.command_timeout_s)
        self.gripper_goal: GripperGoal | None = None
        self._pending_gripper: GripperGoalSpec | None = None
        self._tendon = self.world.model.tendon(GRIPPER_TENDON).id
        self._next_frame_s = self.world.t_s
        self._links = _robot_links(self.world.model)
        self.intrinsics: CameraIntrinsics | None = None
        self.T_base_cam: np.ndarray | None = None
        self.camera_name = ''

    @classmethod
    def from_task(cls, task: str, seed: int = 0, config: BridgeConfig | None = None
                  ) -> SimBridge:
        """Build the world of a task (by name, see :mod:`.catalog`) at ``seed``.

        Raises:
            UnknownTaskError: For an unknown task name.
            SimInputError: For a bad seed.
        """
        from .catalog import get_task
        return cls(TaskEnv.build(get_task(task), seed), config)

    @property
    def t_s(self) -> float:
        """Simulated time [s]."""
        return self.world.t_s

    # ------------------------------------------------------------------ stepping
    def set_velocity_command(self, dq_rad_s: Sequence[float]) -> None:
        """Take a joint velocity command [rad/s] (``joint_names`` order) now.

        Raises:
            SimInputError: See :meth:`VelocityCommandGate.set` (the arm stops).
        """
        self.command.set(dq_rad_s, self.t_s)

    def step(self, steps: int = 1) -> None:
        """Advance the physics by ``steps`` steps (1 ms each) under the current commands."""
        for _ in range(steps):
            gripper, self._pending_gripper = self._pending_gripper, None
            self.world.step(self.command.current(self.t_s), gripper)
            self._update_gripper_goal()

    def advance_to(self, t_s: float, max_steps: int = 100) -> int:
        """Step until the simulated time reaches ``t_s`` [s], at most ``max_steps`` steps.

        Returns:
            The number of steps taken (fewer than needed when the physics is slower than
            real time: simulated time then lags, it never jumps).
        """
        dt = self.world.timestep_s
        steps = min(max(int(math.floor((t_s - self.t_s) / dt + 1e-9)), 0), max_steps)
        self.step(steps)
        return steps

    # ------------------------------------------------------------------ gripper
    def start_move(self, width_m: float, speed_m_s: float) -> GripperGoal:
        """Start a ``franka_msgs/action/Move`` goal (it replaces a running goal, which fails).

        Raises:
            SimInputError: For a width outside [0, max], a speed outside (0, max].
        """
        return self._start(GripperGoal('move', width_m, speed_m_s), 'move')

    def start_grasp(self, width_m: float, speed_m_s: float, force_n: float,
                    epsilon_inner_m: float = 0.005, epsilon_outer_m: float = 0.005
                    ) -> GripperGoal:
        """Start a ``franka_msgs/action/Grasp`` goal (see :class:`GripperGoal`).

        Raises:
            SimInputError: For values outside the hand's ranges or negative tolerances.
        """
        if not (_finite(epsilon_inner_m) and _finite(epsilon_outer_m)
                and epsilon_inner_m >= 0.0 and epsilon_outer_m >= 0.0):
            raise SimInputError(f'grasp epsilon: must be finite and >= 0, got inner '
                                f'{epsilon_inner_m!r}, outer {epsilon_outer_m!r}')
        goal = GripperGoal('grasp', width_m, speed_m_s, force_n, epsilon_inner_m,
                           epsilon_outer_m)
        return self._start(goal, 'grasp')

    def _start(self, goal: GripperGoal, action: str) -> GripperGoal:
        params = self.world.config.robot.gripper
        for name, value, high in (('width_m', goal.width_m, params.max_width_m),
                                  ('speed_m_s', goal.speed_m_s, params.max_speed_m_s),
                                  ('force_n', goal.force_n, params.max_force_n)):
            if not (_finite(value) and 0.0 <= value <= high):
                raise SimInputError(f'gripper {name}: must be in [0, {high}], got {value!r}')
        if goal.speed_m_s <= 0.0:
            raise SimInputError(f'gripper speed_m_s: must be positive, got {goal.speed_m_s!r}')
        if self.gripper_goal is not None:
            self.gripper_goal.finish(False, 'preempted by a new goal')
        width = self.world.gripper_width_m
        target = goal.width_m if action == 'move' else 0.0
        goal.started_s = self.t_s
        goal._arrive_s = self.t_s + abs(target - width) / goal.speed_m_s
        goal.deadline_s = goal._arrive_s + GRIPPER_GOAL_MARGIN_S
        goal.current_width_m = width
        self._pending_gripper = GripperGoalSpec(action, goal.width_m, goal.force_n,
                                                goal.speed_m_s)
        self.gripper_goal = goal
        return goal

    def _update_gripper_goal(self) -> None:
        t, width, rate = self.t_s, self.world.gripper_width_m, self._finger_rate()
        goal = self.gripper_goal
        if goal is None or goal.done:
            return
        goal.current_width_m = width
        if abs(rate) > FINGERS_STOPPED_M_S or t < goal._arrive_s and not (
                goal.kind == 'grasp' and self.world.gripper_grasping):
            goal._still_since_s = None
        elif goal._still_since_s is None:
            goal._still_since_s = t
        settled = goal._still_since_s is not None and t - goal._still_since_s >= \
            FINGERS_SETTLE_S
        if not settled:
            if t > goal.deadline_s:
                goal.finish(False, f'the fingers did not settle within '
                                   f'{goal.deadline_s - goal.started_s:.1f} s')
            return
        if goal.kind == 'move':
            ok = abs(width - goal.width_m) <= MOVE_TOLERANCE_M
            goal.finish(ok, '' if ok else f'blocked at {width:.4f} m (asked {goal.width_m:.4f} m)')
            return
        if not self.world.gripper_grasping:
            goal.finish(False, f'nothing grasped (fingers closed to {width:.4f} m)')
            return
        low, high = goal.width_m - goal.epsilon_inner_m, goal.width_m + goal.epsilon_outer_m
        ok = low < width < high
        goal.finish(ok, '' if ok else f'grasped width {width:.4f} m outside ({low:.4f}, '
                                      f'{high:.4f}) m')

    # ------------------------------------------------------------------ robot state
    def joint_state(self) -> JointStateSample:
        """Joint positions and velocities now, under the configured names."""
        world = self.world
        half = world.gripper_width_m / 2.0
        finger_rate = self._finger_rate() / 2.0
        names = self.config.joint_names + self.config.finger_joint_names
        positions = np.concatenate([world.q_rad, [half, half]])
        velocities = np.concatenate([world.dq_rad_s, [finger_rate, finger_rate]])
        return JointStateSample(self.t_s, names, positions, velocities)

    def _finger_rate(self) -> float:
        """Rate of change of the finger opening [m/s]."""
        return float(self.world.data.ten_velocity[self._tendon])

    def frame_name(self, mujoco_name: str) -> str:
        """The tf frame of a MuJoCo robot body (``panda_link0`` is the base frame)."""
        if mujoco_name == _BASE_BODY:
            return self.config.base_frame
        if mujoco_name.startswith(_MUJOCO_PREFIX):
            return self.config.frame_prefix + mujoco_name[len(_MUJOCO_PREFIX):]
        return mujoco_name

    def robot_transforms(self) -> list[Transform]:
        """Every robot link relative to its parent link now (robot_state_publisher's tf)."""
        out = []
        for parent, child in self._links:
            T_base_parent = self.world.body_pose(parent)
            T_base_child = self.world.body_pose(child)
            out.append(Transform(self.frame_name(parent), self.frame_name(child),
                                 invert(T_base_parent) @ T_base_child))
        return out

    # ------------------------------------------------------------------ camera
    def attach_camera(self, name: str = CAMERA_NAME,
                      intrinsics: CameraIntrinsics | None = None) -> None:
        """Use the world's fixed camera ``name``: its optical-frame pose in the base frame
        (read from the model, as :meth:`RgbdCamera.T_base_cam` does) and its intrinsics
        (default: those the task's camera was built with).

        Raises:
            SimInputError: If the model has no camera ``name``.
        """
        model, data = self.world.model, self.world.data
        cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
        if cam < 0:
            raise SimInputError(f'no camera named {name!r} in the world')
        T = np.eye(4)
        T[:3, :3] = data.cam_xmat[cam].reshape(3, 3) @ R_CAM_MJCAM
        T[:3, 3] = data.cam_xpos[cam]
        self.intrinsics = intrinsics or CameraIntrinsics()
        self.T_base_cam = T
        self.camera_name = name

    def camera_transforms(self) -> list[Transform]:
        """The static tf of the camera: base → camera_link → optical frame.

        Raises:
            SimInputError: If no camera is attached.
        """
        if self.T_base_cam is None:
            raise SimInputError('no camera attached (attach_camera)')
        T_link_optical = np.eye(4)
        T_link_optical[:3, :3] = R_LINK_OPTICAL
        c = self.config
        return [Transform(c.base_frame, c.camera_link_frame,
                          self.T_base_cam @ invert(T_link_optical)),
                Transform(c.camera_link_frame, c.camera_frame, T_link_optical)]

    def frame_due(self) -> bool:
        """Whether a camera frame falls due now; if so, the next is scheduled one period on
        (a late frame is taken late, and overdue frames are merged into one)."""
        if self.t_s + 1e-9 < self._next_frame_s:
            return False
        period = 1.0 / self.config.camera_hz
        self._next_frame_s += period
        if self._next_frame_s <= self.t_s:
            self._next_frame_s = self.t_s + period
        return True


def _robot_links(model: object) -> list[tuple[str, str]]:
    """(parent, child) body names of every body below ``panda_link0``, parents first."""
    base = model.body(_BASE_BODY).id
    below = {base}
    links = []
    for body in range(model.nbody):                 # MuJoCo numbers parents before children
        parent = int(model.body_parentid[body])
        if body != base and parent in below:
            below.add(body)
            links.append((model.body(parent).name, model.body(body).name))
    return links


def encode_depth_mm(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) depth [m], 0 or non-finite = invalid → (H, W) little-endian uint16 [mm], 0 =
    invalid (the RealSense ``16UC1`` unit at the D4xx default depth unit), rounded, and
    saturated at 65535 mm."""
    depth = np.asarray(depth_m, dtype=float)
    if depth.ndim != 2:
        raise SimInputError(f'depth_m: expected an (H, W) array, got shape {depth.shape}')
    mm = np.zeros(depth.shape, dtype='<u2')
    valid = np.isfinite(depth) & (depth > 0.0)
    mm[valid] = np.minimum(np.rint(depth[valid] * 1000.0), 65535.0).astype('<u2')
    return mm


def frame_arrays(frame: RgbdFrame) -> tuple[np.ndarray, np.ndarray]:
    """A frame's colour (H, W, 3) uint8 RGB (C-contiguous) and depth (H, W) uint16 [mm]."""
    color = np.ascontiguousarray(frame.color, dtype=np.uint8)
    if color.ndim != 3 or color.shape[2] != 3:
        raise SimInputError(f'color: expected an (H, W, 3) image, got shape {color.shape}')
    return color, encode_depth_mm(frame.depth_m)


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (4, 4)."""
    inverse = np.eye(4)
    inverse[:3, :3] = T[:3, :3].T
    inverse[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inverse


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)
