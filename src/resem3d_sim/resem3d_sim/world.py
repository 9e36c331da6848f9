"""The simulated world: a Franka Panda on a table, plus the caller's objects, at 1 kHz.

Frames: the world frame *is* the robot base frame (``panda_link0`` at the origin, z up) and
``z = 0`` is the table surface the robot stands on; every pose and vector in this API is
expressed in it (``T_base_*``). The table top spans ``x in [-0.40, 1.10] m``,
``y in [-0.60, 0.60] m`` (:class:`WorldConfig`), the floor lies ``table_height_m`` below.

:meth:`World.build` composes one :class:`mujoco.MjSpec`: the Panda of :mod:`.robot` (whose spec
becomes the world's, so every name stays the URDF's), a floor, the table, lights, then whatever
``add_objects(spec)`` adds (free bodies, static fixtures; MjSpec angles are in radians; keep
bit 0 in a geom's ``contype``/``conaffinity``, MuJoCo's default, for it to collide with the
robot), and compiles it once. Physics runs with a 1 ms step, the ``implicitfast`` integrator
and elliptic friction cones. :meth:`World.step` advances one physics step with a joint-velocity
command (the controller's output at 1 kHz) and an optional gripper command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .gl import configure_headless_gl
from .robot import (ARM_ACTUATORS, ARM_BODIES, ARM_JOINTS, FINGER_BODIES, FINGER_JOINTS,
                    GRIPPER_ACTUATOR, GRIPPER_TENDON, HAND_BODY, TCP_NAME, ArmServo,
                    GripperCommandLike, GripperServo, PandaConfig, SimError, SimInputError,
                    build_panda_spec)

configure_headless_gl()

import mujoco  # noqa: E402  (after configure_headless_gl: mujoco picks its GL backend on import)

Q_HOME_RAD = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
# MuJoCo warnings after which it has reset the state: the simulation diverged.
_DIVERGED = tuple(int(w) for w in (mujoco.mjtWarning.mjWARN_BADQACC,
                                   mujoco.mjtWarning.mjWARN_BADQVEL,
                                   mujoco.mjtWarning.mjWARN_BADQPOS))
ROBOT_BODIES = ARM_BODIES + (HAND_BODY, TCP_NAME) + FINGER_BODIES

AddObjects = Callable[[mujoco.MjSpec], None]


class WorldBuildError(SimError):
    """The world spec (with the caller's objects) does not compile."""


class UnknownBodyError(SimInputError, LookupError):
    """No body of that name in the world (or not one the operation accepts)."""


class NotAFreeBodyError(SimInputError):
    """The body exists but has no free joint, so its pose cannot be set."""


class SimulationDivergedError(SimError):
    """The physics produced non-finite or unstable values (MuJoCo reset its state)."""


@dataclass(frozen=True)
class WorldConfig:
    """Static layout and physics options of the world.

    Attributes:
        robot: The Panda's description and gains.
        timestep_s: Physics step [s] (1 kHz, the controller's rate).
        table_size_m: Table top extent along x and y [m].
        table_center_xy_m: Centre of the table top in the base frame [m].
        table_thickness_m: Thickness of the table top [m] (its top face is at z = 0).
        table_height_m: Height of the table surface above the floor [m].
        impratio: Ratio of frictional to normal constraint stiffness (elliptic cones); > 1
            keeps grasped objects from creeping in the fingers.
        solver_iterations: Maximum iterations of the constraint solver.
    """

    robot: PandaConfig = field(default_factory=PandaConfig)
    timestep_s: float = 0.001
    table_size_m: tuple[float, float] = (1.5, 1.2)
    table_center_xy_m: tuple[float, float] = (0.35, 0.0)
    table_thickness_m: float = 0.04
    table_height_m: float = 0.75
    impratio: float = 10.0
    solver_iterations: int = 50


@dataclass
class _Push:
    body_id: int
    force_n: np.ndarray
    t_end_s: float


class World:
    """A compiled MuJoCo world with the Panda at the origin, stepped at 1 kHz.

    Create with :meth:`build`. ``model`` and ``data`` are MuJoCo's and may be read freely (e.g.
    by a renderer); change the state only through the methods below.

    Attributes:
        model: Compiled ``mujoco.MjModel``.
        data: ``mujoco.MjData`` (current state).
        spec: The ``mujoco.MjSpec`` it was compiled from.
        config: Layout and physics options.
        seed: Seed of ``rng``.
        rng: Random generator for scene randomisation and disturbances.
    """

    def __init__(self, spec: mujoco.MjSpec, model: mujoco.MjModel, config: WorldConfig,
                 seed: int) -> None:
        self.spec = spec
        self.model = model
        self.data = mujoco.MjData(model)
        self.config = config
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        m = model
        jids = [_id(m, mujoco.mjtObj.mjOBJ_JOINT, name) for name in ARM_JOINTS]
        self._arm_qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self._arm_dofadr = np.array([m.jnt_dofadr[j] for j in jids])
        self._finger_qadr = np.array([m.jnt_qposadr[_id(m, mujoco.mjtObj.mjOBJ_JOINT, name)]
                                      for name in FINGER_JOINTS])
        self._arm_act = np.array([_id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, name)
                                  for name in ARM_ACTUATORS])
        self._grip_act = _id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, GRIPPER_ACTUATOR)
        self._tendon = _id(m, mujoco.mjtObj.mjOBJ_TENDON, GRIPPER_TENDON)
        self._tcp_site = _id(m, mujoco.mjtObj.mjOBJ_SITE, TCP_NAME)
        self.q_min_rad = m.jnt_range[jids, 0].copy()
        self.q_max_rad = m.jnt_range[jids, 1].copy()
        self._arm_servo = ArmServo(config.robot.arm, self.q_min_rad, self.q_max_rad)
        self._gripper = GripperServo(config.robot.gripper)
        self._robot_body_ids = {name: _id(m, mujoco.mjtObj.mjOBJ_BODY, name)
                                for name in ROBOT_BODIES}
        self._pushes: list[_Push] = []
        self._accel = np.zeros(m.nv)
        self._tau = np.zeros(m.nv)
        self._body_pos0 = m.body_pos.copy()      # welded bodies' poses, restored by reset
        self._body_quat0 = m.body_quat.copy()
        self.reset()

    @classmethod
    def build(cls, add_objects: AddObjects | None = None, seed: int = 0,
              config: WorldConfig | None = None) -> World:
        """Compose, compile and reset the world (arm at :data:`Q_HOME_RAD`, gripper open).

        Args:
            add_objects: Called once with the ``mujoco.MjSpec`` before compiling; adds objects
                (e.g. bodies with a free joint under ``spec.worldbody``). Poses in the base
                frame [m], angles in radians.
            seed: Seed of :attr:`rng`.
            config: Layout and physics options; None: defaults.

        Raises:
            RobotDescriptionError: if the Panda description is missing (names the file).
            WorldBuildError: if ``add_objects`` raises ValueError (what MjSpec raises for an
                invalid element) or the composed spec does not compile.
        """
        config = config or WorldConfig()
        # The robot's spec is the root (rather than MjSpec.attach, which in MuJoCo 4.0 warns on
        # every build when the empty prefix that keeps the URDF names is used).
        spec = build_panda_spec(config.robot)
        spec.modelname = 'resem3d_world'
        _set_options(spec, config)
        _add_environment(spec, config)
        if add_objects is not None:
            try:
                add_objects(spec)
            except ValueError as err:           # what MjSpec raises for an invalid element
                raise WorldBuildError(f'add_objects could not add its objects: {err}') from err
        try:
            model = spec.compile()
        except ValueError as err:
            raise WorldBuildError(f'the world does not compile: {err}') from None
        return cls(spec, model, config, seed)

    # --- state ------------------------------------------------------------------------------

    @property
    def timestep_s(self) -> float:
        """Physics step [s]."""
        return float(self.model.opt.timestep)

    @property
    def t_s(self) -> float:
        """Simulated time since the last reset [s]."""
        return float(self.data.time)

    @property
    def q_rad(self) -> np.ndarray:
        """Measured arm joint positions (7,) [rad], panda_joint1..7."""
        return self.data.qpos[self._arm_qadr].copy()

    @property
    def dq_rad_s(self) -> np.ndarray:
        """Measured arm joint velocities (7,) [rad/s], panda_joint1..7."""
        return self.data.qvel[self._arm_dofadr].copy()

    @property
    def q_des_rad(self) -> np.ndarray:
        """Setpoint of the joint servos (7,) [rad] (the integral of the velocity commands)."""
        return self._arm_servo.q_des_rad.copy()

    @property
    def gripper_width_m(self) -> float:
        """Opening between the finger pads [m]."""
        return float(self.data.ten_length[self._tendon])

    @property
    def gripper_grasping(self) -> bool:
        """True when a grasp is commanded and the fingers have stalled on something (width >
        3 mm, not closing any more) for ``GripperParams.grasp_settle_s``."""
        return self._gripper.holding

    def T_base_tool(self) -> np.ndarray:
        """Pose of the TCP (``panda_hand_tcp``) in the base frame, 4x4 homogeneous [m]."""
        return _homogeneous(self.data.site_xpos[self._tcp_site],
                            self.data.site_xmat[self._tcp_site])

    def body_pose(self, name: str) -> np.ndarray:
        """Pose ``T_base_body`` of a body's frame in the base frame, 4x4 homogeneous [m].

        Raises:
            UnknownBodyError: if there is no body ``name``.
        """
        body = self._body_id(name)
        return _homogeneous(self.data.xpos[body], self.data.xmat[body])

    def bodies_touching(self, name: str) -> set[str]:
        """Names of the bodies with a geom in contact with a geom of body ``name`` now (the
        physics' contact list of the last step; the body itself left out).

        Raises:
            UnknownBodyError: if there is no body ``name``.
        """
        body = self._body_id(name)
        touching = set()
        for contact in self.data.contact[:self.data.ncon]:
            b1, b2 = (int(self.model.geom_bodyid[g]) for g in (contact.geom1, contact.geom2))
            if (b1 == body) != (b2 == body):
                other = b2 if b1 == body else b1
                touching.add(mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, other))
        return touching

    # --- commands -----------------------------------------------------------------------------

    def reset(self, q_rad: np.ndarray | None = None, gripper_width_m: float | None = None) -> None:
        """Reset time, objects (to their initial poses, welded ones too) and the robot, at rest.

        Args:
            q_rad: Arm joint positions (7,) [rad]; None: :data:`Q_HOME_RAD`.
            gripper_width_m: Finger opening [m]; None: fully open.

        Raises:
            SimInputError: if ``q_rad`` is malformed, not finite or outside the joint range, or
                the width is outside ``[0, max_width]``.
        """
        q = _vector(Q_HOME_RAD if q_rad is None else q_rad, len(ARM_JOINTS), 'q_rad')
        if np.any(q < self.q_min_rad - 1e-9) or np.any(q > self.q_max_rad + 1e-9):
            raise SimInputError(f'q_rad: outside the joint range [{self.q_min_rad}, '
                                f'{self.q_max_rad}]: {q}')
        max_width = self.config.robot.gripper.max_width_m
        width = max_width if gripper_width_m is None else gripper_width_m
        if not (isinstance(width, (int, float)) and 0.0 <= width <= max_width):
            raise SimInputError(f'gripper_width_m: must be in [0, {max_width}], got {width!r}')
        self.model.body_pos[:] = self._body_pos0
        self.model.body_quat[:] = self._body_quat0
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._arm_qadr] = q
        self.data.qpos[self._finger_qadr] = width / 2.0
        self._arm_servo.reset(q)
        self._gripper.reset(width)
        self._pushes.clear()
        mujoco.mj_forward(self.model, self.data)

    def step(self, dq_cmd_rad_s: np.ndarray, gripper: GripperCommandLike | None = None) -> None:
        """Advance one physics step (1 ms) under a joint-velocity command.

        Args:
            dq_cmd_rad_s: Commanded arm joint velocities (7,) [rad/s], panda_joint1..7.
            gripper: A new gripper command (e.g. ``resem3d_controller.GripperCommand``); None:
                keep executing the last one.

        Raises:
            SimInputError: if the command is malformed or not finite (the state is unchanged).
            SimulationDivergedError: if the physics became unstable.
        """
        dq_cmd = _vector(dq_cmd_rad_s, len(ARM_JOINTS), 'dq_cmd_rad_s')
        if gripper is not None:
            self._gripper.command(gripper)
        m, d = self.model, self.data
        dt = m.opt.timestep
        d.ctrl[self._arm_act] = self._arm_servo.control(d.qpos[self._arm_qadr], dq_cmd, dt,
                                                        self._arm_inertia_times)
        d.ctrl[self._grip_act] = self._gripper.control(
            d.ten_length[self._tendon], d.ten_velocity[self._tendon], dt)
        self._apply_pushes()
        diverged_before = sum(d.warning[w].number for w in _DIVERGED)
        t_s = d.time
        mujoco.mj_step(m, d)
        if sum(d.warning[w].number for w in _DIVERGED) != diverged_before:
            raise SimulationDivergedError(
                f'physics diverged at t = {t_s:.3f} s (non-finite or huge positions, velocities '
                'or accelerations); MuJoCo reset the state: call reset()')

    def apply_arm_push(self, force_n: np.ndarray, duration_s: float,
                       link: str = 'panda_link7') -> None:
        """Push a robot link with a constant force at its centre of mass for a while.

        Args:
            force_n: Force (3,) [N] in the base frame.
            duration_s: How long [s], from now.
            link: A robot body (``panda_link1..7``, ``panda_hand``...).

        Raises:
            UnknownBodyError: if ``link`` is not a body of the robot.
            SimInputError: if the force or duration is malformed or not finite.
        """
        if link not in self._robot_body_ids:
            raise UnknownBodyError(f'apply_arm_push: {link!r} is not a robot link (one of '
                                   f'{", ".join(ROBOT_BODIES)})')
        force = _vector(force_n, 3, 'force_n')
        if not (isinstance(duration_s, (int, float)) and math.isfinite(duration_s)
                and duration_s >= 0):
            raise SimInputError(f'duration_s: must be finite and >= 0, got {duration_s!r}')
        self._pushes.append(_Push(self._robot_body_ids[link], force, self.t_s + duration_s))

    def set_body_pose(self, name: str, T_base_body: np.ndarray) -> None:
        """Teleport a free body to a pose (at rest), e.g. to move an object mid-task.

        Args:
            name: A body with a free joint.
            T_base_body: Its new pose in the base frame, 4x4 homogeneous [m].

        Raises:
            UnknownBodyError: if there is no body ``name``.
            NotAFreeBodyError: if the body has no free joint.
            SimInputError: if the pose is not a finite rigid transform.
        """
        body = self._body_id(name)
        m = self.model
        joint = m.body_jntadr[body]
        if m.body_jntnum[body] != 1 or m.jnt_type[joint] != mujoco.mjtJoint.mjJNT_FREE:
            raise NotAFreeBodyError(f'set_body_pose: body {name!r} has no free joint')
        T = _rigid_transform(T_base_body, 'T_base_body')
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, T[:3, :3].flatten())
        qadr, dofadr = m.jnt_qposadr[joint], m.jnt_dofadr[joint]
        self.data.qpos[qadr:qadr + 3] = T[:3, 3]
        self.data.qpos[qadr + 3:qadr + 7] = quat
        self.data.qvel[dofadr:dofadr + 6] = 0.0
        mujoco.mj_forward(m, self.data)

    def move_welded_body(self, name: str, T_base_body: np.ndarray) -> None:
        """Move a body welded to the world (no joint: a rack, a cabinet) to a new pose, as
        when someone slides it across the table. Its children move with it.

        Args:
            name: A body that is a direct child of the world and has no joint.
            T_base_body: Its new pose in the base frame, 4x4 homogeneous [m].

        Raises:
            UnknownBodyError: if there is no body ``name``.
            NotAFreeBodyError: if the body has a joint or is not a child of the world.
            SimInputError: if the pose is not a finite rigid transform.
        """
        body = self._body_id(name)
        m = self.model
        if m.body_jntnum[body] != 0 or m.body_parentid[body] != 0:
            raise NotAFreeBodyError(f'move_welded_body: body {name!r} is not welded to the '
                                    'world')
        T = _rigid_transform(T_base_body, 'T_base_body')
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, T[:3, :3].flatten())
        m.body_pos[body] = T[:3, 3]
        m.body_quat[body] = quat
        mujoco.mj_forward(m, self.data)

    # --- helpers ------------------------------------------------------------------------------

    def _body_id(self, name: str) -> int:
        body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name) \
            if isinstance(name, str) else -1
        if body < 0:
            raise UnknownBodyError(f'no body named {name!r} in the world')
        return body

    def _arm_inertia_times(self, ddq_rad_s2: np.ndarray) -> np.ndarray:
        """Arm torques (7,) [N m] for arm joint accelerations (7,) [rad/s^2]: ``M ddq``."""
        self._accel[self._arm_dofadr] = ddq_rad_s2
        mujoco.mj_mulM(self.model, self.data, self._tau, self._accel)
        return self._tau[self._arm_dofadr]

    def _apply_pushes(self) -> None:
        xfrc = self.data.xfrc_applied
        for push in self._pushes:
            xfrc[push.body_id, :3] = 0.0
        self._pushes = [p for p in self._pushes if self.t_s < p.t_end_s]
        for push in self._pushes:
            xfrc[push.body_id, :3] += push.force_n


def _id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str) -> int:
    index = mujoco.mj_name2id(model, kind, name)
    if index < 0:
        raise WorldBuildError(f'the compiled world lacks {kind.name[6:].lower()} {name!r}')
    return index


def _vector(value: object, size: int, name: str) -> np.ndarray:
    try:
        vec = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise SimInputError(f'{name}: expected {size} numbers, got {value!r}') from None
    if vec.shape != (size,):
        raise SimInputError(f'{name}: expected shape ({size},), got {vec.shape}')
    if not np.isfinite(vec).all():
        raise SimInputError(f'{name}: not finite: {vec}')
    return vec


def _rigid_transform(value: object, name: str) -> np.ndarray:
    try:
        T = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise SimInputError(f'{name}: expected a 4x4 matrix, got {value!r}') from None
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise SimInputError(f'{name}: expected a finite 4x4 matrix, got shape {T.shape}')
    R = T[:3, :3]
    if (not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9)
            or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0):
        raise SimInputError(f'{name}: not a rigid transform (rotation must be orthonormal, '
                            'last row [0, 0, 0, 1])')
    return T


def _homogeneous(pos: np.ndarray, xmat: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.asarray(xmat).reshape(3, 3)
    T[:3, 3] = pos
    return T


def _set_options(spec: mujoco.MjSpec, config: WorldConfig) -> None:
    opt = spec.option
    opt.timestep = config.timestep_s
    opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    opt.impratio = config.impratio
    opt.iterations = config.solver_iterations
    spec.compiler.degree = False


def _add_environment(spec: mujoco.MjSpec, config: WorldConfig) -> None:
    """Floor, table (top face at z = 0), lights and a neutral look."""
    world = spec.worldbody
    spec.add_texture(name='floor_checker', type=mujoco.mjtTexture.mjTEXTURE_2D,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=256, height=256,
                     rgb1=[0.42, 0.44, 0.46], rgb2=[0.36, 0.38, 0.40])
    floor_mat = spec.add_material(name='floor', texrepeat=[8.0, 8.0])
    floor_mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = 'floor_checker'
    world.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.0, 0.0, 0.05],
                   pos=[0.0, 0.0, -config.table_height_m], material='floor')
    sx, sy = config.table_size_m
    cx, cy = config.table_center_xy_m
    thick = config.table_thickness_m
    table = world.add_body(name='table', pos=[cx, cy, 0.0])
    table.add_geom(name='table_top', type=mujoco.mjtGeom.mjGEOM_BOX,
                   size=[sx / 2, sy / 2, thick / 2], pos=[0.0, 0.0, -thick / 2],
                   rgba=[0.78, 0.68, 0.55, 1.0])
    leg_len = config.table_height_m - thick
    for i, (lx, ly) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        table.add_geom(name=f'table_leg{i}', type=mujoco.mjtGeom.mjGEOM_BOX,
                       size=[0.03, 0.03, leg_len / 2],
                       pos=[lx * (sx / 2 - 0.05), ly * (sy / 2 - 0.05), -thick - leg_len / 2],
                       rgba=[0.45, 0.40, 0.35, 1.0])
    world.add_light(name='key_light', pos=[0.4, -0.6, 2.2], dir=[-0.1, 0.35, -1.0],
                    diffuse=[0.7, 0.7, 0.7], castshadow=True)
    world.add_light(name='fill_light', pos=[-0.8, 0.8, 2.0], dir=[0.5, -0.4, -1.0],
                    diffuse=[0.3, 0.3, 0.3], castshadow=False)
