"""The Franka Panda arm and hand in MuJoCo, built in code from example-robot-data's URDF.

:func:`build_panda_spec` reads the Panda URDF shipped by ``example-robot-data``, resolves its
``package://`` mesh URIs to the absolute paths of the *collision* STL meshes (the visual ``.dae``
meshes are dropped: MuJoCo cannot load them), compiles it with :class:`mujoco.MjSpec` and adds
what the URDF lacks for simulation:

- joint damping and armature (rotor inertia) on the seven arm joints, gravity compensation
  (``gravcomp``) on every moving robot body, as the Franka's own controller does;
- one joint servo per arm joint (``panda_joint<i>_servo``): a MuJoCo position actuator
  ``tau = kp (u - q) - kv dq`` whose input ``u`` is computed by :class:`ArmServo` from the
  commanded joint velocity (the setpoint integrates the command; velocity and inertial
  feed-forward), so the arm accepts the controller's 1 kHz velocity commands and holds position;
- a parallel gripper: the finger joints coupled by an equality, a fixed tendon
  ``panda_gripper_width`` (= finger_joint1 + finger_joint2, the opening width [m]) driven by one
  actuator ``panda_gripper`` (width servo with force limit, see :class:`GripperServo`), and
  rubber finger pads (``panda_leftfinger_pad``, ``panda_rightfinger_pad``) whose contact
  parameters take precedence (geom priority) over those of the grasped object;
- a site ``panda_hand_tcp`` at the TCP body of the same name (0.1034 m along the hand z axis).

Body and joint names are those of the URDF (``panda_link0..8``, ``panda_hand``,
``panda_hand_tcp``, ``panda_leftfinger``, ``panda_rightfinger``, ``panda_joint1..7``,
``panda_finger_joint1..2``). Robot geoms use ``contype=2, conaffinity=1``: they collide with every
geom that keeps MuJoCo's default ``contype=1`` (table, objects) but not with each other (self
collision is avoided by the controller, and the convex hulls of neighbouring links overlap).

The errors of the whole simulator derive from :class:`SimError`, defined here.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .errors import RobotDescriptionError, SimError, SimInputError  # noqa: F401 (re-export)
from .gl import configure_headless_gl

configure_headless_gl()

import mujoco  # noqa: E402  (after configure_headless_gl: mujoco picks its GL backend on import)

ERD_DISTRIBUTION = 'example-robot-data'
ERD_SHARE = 'cmeel.prefix/share'
PANDA_URDF_RELPATH = 'example-robot-data/robots/panda_description/urdf/panda.urdf'

ARM_JOINTS = tuple(f'panda_joint{i}' for i in range(1, 8))
FINGER_JOINTS = ('panda_finger_joint1', 'panda_finger_joint2')
ARM_BODIES = tuple(f'panda_link{i}' for i in range(8))
FINGER_BODIES = ('panda_leftfinger', 'panda_rightfinger')
FINGER_PADS = ('panda_leftfinger_pad', 'panda_rightfinger_pad')
HAND_BODY = 'panda_hand'
TCP_NAME = 'panda_hand_tcp'
TCP_OFFSET_M = 0.1034
ARM_ACTUATORS = tuple(f'{joint}_servo' for joint in ARM_JOINTS)
GRIPPER_TENDON = 'panda_gripper_width'
FINGER_COUPLING = 'panda_finger_coupling'
GRIPPER_ACTUATOR = 'panda_gripper'
GRIPPER_ACTIONS = ('open', 'close', 'grasp', 'move')

ROBOT_CONTYPE = 2
ROBOT_CONAFFINITY = 1
MESH_SUFFIXES = ('.stl', '.obj', '.msh')
# The rubber tips are the collision boxes of a finger centred 45.25 mm along the finger's z.
_PAD_Z_M = 0.04525


@dataclass(frozen=True)
class ArmServoGains:
    """Arm joint dynamics and joint-servo gains, per joint (panda_joint1..7).

    The servo torque is ``tau = kp (q_des - q) + kv (dq_cmd - dq) + damping dq_cmd + M ddq_cmd``
    (see :class:`ArmServo`): a stiff position servo on the integrated velocity command with a
    velocity feed-forward that also cancels the passive joint damping and an inertial
    feed-forward for the commanded acceleration. The kv term is treated implicitly by MuJoCo's
    ``implicitfast`` integrator; kv gives about critical damping with the link + rotor inertia
    (0.1-0.5 kg m^2). Measured: tracking error < 5e-4 rad with all seven joints at 1 rad/s at
    once and the datasheet accelerations (Coriolis torques are not fed forward), about 1e-4 rad
    for random velocity profiles at the controller's accelerations (1e-3 rad without the
    inertial term); no drift in a hold. The torque saturates at the Panda's joint limits.

    Attributes:
        kp_nm_rad: Position gain [N m/rad].
        kv_nm_s_rad: Velocity gain [N m s/rad] (about critical damping with the link inertia).
        damping_nm_s_rad: Passive viscous joint friction [N m s/rad] (order of magnitude of the
            identified Panda viscous friction).
        armature_kg_m2: Reflected rotor inertia [kg m^2] added to each joint.
        torque_limit_nm: Actuator torque limit [N m] (Panda datasheet: 87 / 12 N m).
        max_error_rad: Anti-windup bound [rad]: the setpoint never leads the measured joint
            position by more than this (a blocked arm does not wind up its setpoint).
    """

    kp_nm_rad: tuple[float, ...] = (9000.0,) * 4 + (4000.0,) * 3
    kv_nm_s_rad: tuple[float, ...] = (150.0,) * 4 + (40.0,) * 3
    damping_nm_s_rad: tuple[float, ...] = (1.0,) * 4 + (0.5,) * 3
    armature_kg_m2: tuple[float, ...] = (0.1,) * 7
    torque_limit_nm: tuple[float, ...] = (87.0,) * 4 + (12.0,) * 3
    max_error_rad: float = 0.05

    def __post_init__(self) -> None:
        for name in ('kp_nm_rad', 'kv_nm_s_rad', 'damping_nm_s_rad', 'armature_kg_m2',
                     'torque_limit_nm'):
            values = getattr(self, name)
            if len(values) != len(ARM_JOINTS) or not all(_finite_nonneg(v) for v in values):
                raise SimInputError(f'{name}: needs {len(ARM_JOINTS)} finite values >= 0, '
                                    f'got {values!r}')
        if not all(v > 0 for v in self.kp_nm_rad):
            raise SimInputError(f'kp_nm_rad: every gain must be positive, got {self.kp_nm_rad}')
        if not (_finite_nonneg(self.max_error_rad) and self.max_error_rad > 0):
            raise SimInputError(f'max_error_rad: must be positive, got {self.max_error_rad!r}')


@dataclass(frozen=True)
class GripperParams:
    """Franka Hand model: width servo, force limit and finger-pad contact.

    The actuator acts on the width tendon (``finger_joint1 + finger_joint2``), so a tendon force
    ``f`` pushes each finger with ``f``: the grasp force is the normal force of each pad on the
    object. The pads use friction with torsional and rolling terms (``condim=6``; the world uses
    elliptic cones with a high ``impratio``), rubber-like sliding friction 1.0 and the stiffest
    contact MuJoCo allows at 1 ms (``solref`` time constant 2 ms = two steps, impedance
    0.95-0.99), which keeps a held object's creep below 1 mm over a lift, a 90 deg tilt and a
    0.5 m/s move. The finger armature (a guess of the Franka Hand's reflected drive inertia) and
    damping keep the light fingers stable against that stiff contact.

    Attributes:
        kp_n_m: Width servo stiffness [N/m].
        kv_n_s_m: Width servo damping [N s/m].
        max_force_n: Force limit of the fingers [N] (Franka Hand: 70 N continuous); also the
            force limit of ``move``/``open``/``close``.
        max_width_m: Full opening [m].
        max_speed_m_s: Finger speed limit [m/s].
        finger_armature_kg: Reflected inertia of each finger joint [kg].
        finger_damping_n_s_m: Viscous friction of each finger joint [N s/m].
        pad_friction: Sliding, torsional [m] and rolling [m] friction of the pads.
        pad_solref: Contact time constant [s] and damping ratio of the pads.
        pad_solimp: Contact impedance (d0, dwidth, width [m], midpoint, power) of the pads.
        grasp_min_width_m: A grasp holds something when the fingers stall above this width [m].
        grasp_stall_speed_m_s: ... and close no faster than this [m/s] (while they still
            close, the width lags its reference by more than the stall margin too).
        grasp_settle_s: The stall must last this long before the hand reports a grasp, and the
            fingers must close on past the object this long before it reports losing it [s]:
            with coupled
            fingers off-centre, the first finger to touch a light or sliding object stalls the
            hand for a few ms while it pushes the object against the other finger.
    """

    kp_n_m: float = 2000.0
    kv_n_s_m: float = 40.0
    max_force_n: float = 70.0
    max_width_m: float = 0.08
    max_speed_m_s: float = 0.1
    finger_armature_kg: float = 0.05
    finger_damping_n_s_m: float = 2.0
    pad_friction: tuple[float, float, float] = (1.0, 0.01, 0.0001)
    pad_solref: tuple[float, float] = (0.002, 1.0)
    pad_solimp: tuple[float, float, float, float, float] = (0.95, 0.99, 0.001, 0.5, 2.0)
    grasp_min_width_m: float = 0.003
    grasp_stall_speed_m_s: float = 0.005
    grasp_settle_s: float = 0.05

    def __post_init__(self) -> None:
        for name in ('kp_n_m', 'kv_n_s_m', 'max_force_n', 'max_width_m', 'max_speed_m_s',
                     'finger_armature_kg', 'finger_damping_n_s_m', 'grasp_min_width_m',
                     'grasp_stall_speed_m_s', 'grasp_settle_s'):
            if not _finite_nonneg(getattr(self, name)):
                raise SimInputError(f'{name}: must be finite and >= 0, got '
                                    f'{getattr(self, name)!r}')
        if self.kp_n_m <= 0 or self.max_width_m <= 0 or self.max_speed_m_s <= 0:
            raise SimInputError('kp_n_m, max_width_m and max_speed_m_s must be positive')


@dataclass(frozen=True)
class PandaConfig:
    """Everything :func:`build_panda_spec` needs.

    Attributes:
        urdf_path: Panda URDF; None: the one shipped by example-robot-data.
        arm: Arm joint dynamics and servo gains.
        gripper: Hand model.
    """

    urdf_path: Path | None = None
    arm: ArmServoGains = field(default_factory=ArmServoGains)
    gripper: GripperParams = field(default_factory=GripperParams)


class GripperCommandLike(Protocol):
    """What the simulator reads from a gripper command (``resem3d_controller.GripperCommand``).

    Attributes:
        action: ``open``, ``close``, ``grasp`` or ``move``.
        width_m: Target width [m] (``move``).
        force_n: Grasp force [N] (``grasp``).
        speed_m_s: Finger speed [m/s].
    """

    action: str
    width_m: float
    force_n: float
    speed_m_s: float


def _finite_nonneg(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def example_robot_data_share() -> Path:
    """The ``share`` folder of the installed example-robot-data package.

    Raises:
        RobotDescriptionError: if example-robot-data is not installed.
    """
    try:
        dist = metadata.distribution(ERD_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise RobotDescriptionError(
            'example-robot-data is not installed (pip install example-robot-data), so the Panda '
            'URDF cannot be found; or pass PandaConfig(urdf_path=...)') from None
    return Path(str(dist.locate_file(ERD_SHARE)))


def panda_urdf_path() -> Path:
    """Path of the Panda URDF shipped by example-robot-data (may not exist; see load)."""
    return example_robot_data_share() / PANDA_URDF_RELPATH


def _resolve_mesh(uri: str, urdf_path: Path) -> Path:
    """Absolute path of a URDF mesh reference (``package://pkg/rest``, ``file://``, relative)."""
    if uri.startswith('package://'):
        package, _, rest = uri[len('package://'):].partition('/')
        roots = [parent for parent in urdf_path.resolve().parents if parent.name == package]
        try:
            roots.append(example_robot_data_share() / package)
        except RobotDescriptionError:
            pass
        candidates = [root / rest for root in roots]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise RobotDescriptionError(
            f'{urdf_path}: mesh {uri!r} not found (looked for '
            f'{", ".join(str(c) for c in candidates) or "a folder named " + package})')
    path = Path(uri[len('file://'):] if uri.startswith('file://') else uri)
    if not path.is_absolute():
        path = urdf_path.parent / path
    if not path.is_file():
        raise RobotDescriptionError(f'{urdf_path}: mesh file {path} not found')
    return path


def _urdf_for_mujoco(urdf_path: Path) -> str:
    """The URDF text with visuals dropped, mesh paths absolute and MuJoCo compiler options."""
    if not urdf_path.is_file():
        raise RobotDescriptionError(f'robot description not found: {urdf_path} (install '
                                    'example-robot-data or pass PandaConfig(urdf_path=...))')
    try:
        root = ET.parse(urdf_path).getroot()
    except ET.ParseError as err:
        raise RobotDescriptionError(f'{urdf_path}: not valid XML: {err}') from None
    for link in root.iter('link'):
        for visual in link.findall('visual'):
            link.remove(visual)
    for mesh in root.iter('mesh'):
        path = _resolve_mesh(mesh.get('filename', ''), urdf_path)
        if path.suffix.lower() not in MESH_SUFFIXES:
            raise RobotDescriptionError(f'{urdf_path}: collision mesh {path} has a format '
                                        f'MuJoCo cannot load (use one of {MESH_SUFFIXES})')
        mesh.set('filename', str(path))
    for old in root.findall('mujoco'):
        root.remove(old)
    options = ET.SubElement(root, 'mujoco')
    ET.SubElement(options, 'compiler', {'fusestatic': 'false', 'discardvisual': 'false',
                                        'strippath': 'false', 'angle': 'radian'})
    return ET.tostring(root, encoding='unicode')


def load_panda_urdf(urdf_path: Path | None = None) -> mujoco.MjSpec:
    """Load the Panda URDF as a MuJoCo spec, without the additions of :func:`build_panda_spec`.

    Raises:
        RobotDescriptionError: if the URDF or one of its collision meshes is missing or invalid.
    """
    path = Path(urdf_path) if urdf_path is not None else panda_urdf_path()
    text = _urdf_for_mujoco(path)
    try:
        return mujoco.MjSpec.from_string(text)
    except ValueError as err:
        raise RobotDescriptionError(f'{path}: MuJoCo cannot load it: {err}') from None


def build_panda_spec(config: PandaConfig | None = None) -> mujoco.MjSpec:
    """Build the simulated Panda (arm, hand, servos, gripper) as a spec rooted at panda_link0.

    Args:
        config: Robot description and parameters; None: defaults.

    Returns:
        A spec whose world body holds ``panda_link0`` (fixed, at the spec's origin), ready to be
        attached to a world with :meth:`mujoco.MjSpec.attach`.

    Raises:
        RobotDescriptionError: if the URDF, one of its meshes or a required joint or body is
            missing.
    """
    config = config or PandaConfig()
    spec = load_panda_urdf(config.urdf_path)
    spec.modelname = 'panda'
    _require(spec, ARM_JOINTS + FINGER_JOINTS, ARM_BODIES + FINGER_BODIES + (HAND_BODY, TCP_NAME))
    _configure_arm(spec, config.arm)
    _configure_hand(spec, config.gripper)
    spec.body(TCP_NAME).add_site(name=TCP_NAME, size=[0.005, 0.0, 0.0],
                                 rgba=[1.0, 0.2, 0.2, 0.6], group=3)
    return spec


def _require(spec: mujoco.MjSpec, joints: tuple[str, ...], bodies: tuple[str, ...]) -> None:
    missing = [j for j in joints if spec.joint(j) is None]
    missing += [b for b in bodies if spec.body(b) is None]
    if missing:
        raise RobotDescriptionError(f'robot description lacks {", ".join(missing)}')


def _configure_arm(spec: mujoco.MjSpec, gains: ArmServoGains) -> None:
    for body in spec.worldbody.find_all(mujoco.mjtObj.mjOBJ_BODY):
        body.gravcomp = 1.0
        for geom in body.geoms:
            geom.contype = ROBOT_CONTYPE
            geom.conaffinity = ROBOT_CONAFFINITY
            geom.group = 2
            geom.rgba = [0.92, 0.92, 0.94, 1.0]
    for i, joint_name in enumerate(ARM_JOINTS):
        joint = spec.joint(joint_name)
        joint.damping = [gains.damping_nm_s_rad[i], 0.0, 0.0]  # linear term only
        joint.armature = gains.armature_kg_m2[i]
        joint.frictionloss = 0.0
        act = spec.add_actuator(name=ARM_ACTUATORS[i], target=joint_name,
                                trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=gains.kp_nm_rad[i], kv=gains.kv_nm_s_rad[i])
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        limit = gains.torque_limit_nm[i]
        act.forcerange = [-limit, limit]


def _configure_hand(spec: mujoco.MjSpec, params: GripperParams) -> None:
    for joint_name in FINGER_JOINTS:
        joint = spec.joint(joint_name)
        joint.armature = params.finger_armature_kg
        joint.damping = [params.finger_damping_n_s_m, 0.0, 0.0]
        joint.range = [0.0, params.max_width_m / 2.0]
    # The URDF's <mimic> already becomes a joint equality; make sure there is exactly one.
    couplings = [e for e in spec.equalities if e.type == mujoco.mjtEq.mjEQ_JOINT
                 and {e.name1, e.name2} == set(FINGER_JOINTS)]
    coupling = couplings[0] if couplings else spec.add_equality(type=mujoco.mjtEq.mjEQ_JOINT)
    coupling.name = FINGER_COUPLING
    coupling.name1, coupling.name2 = FINGER_JOINTS[1], FINGER_JOINTS[0]
    coupling.data = [0.0, 1.0, 0.0, 0.0, 0.0] + [0.0] * 7     # q2 = q1
    coupling.solref = [0.002, 1.0]
    coupling.solimp = [0.95, 0.99, 0.001, 0.5, 2.0]
    tendon = spec.add_tendon(name=GRIPPER_TENDON)
    for joint_name in FINGER_JOINTS:
        tendon.wrap_joint(joint_name, 1.0)
    act = spec.add_actuator(name=GRIPPER_ACTUATOR, target=GRIPPER_TENDON,
                            trntype=mujoco.mjtTrn.mjTRN_TENDON)
    act.set_to_position(kp=params.kp_n_m, kv=params.kv_n_s_m)
    act.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
    act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    act.forcerange = [-params.max_force_n, params.max_force_n]
    for body_name, pad_name in zip(FINGER_BODIES, FINGER_PADS):
        pads = [g for g in spec.body(body_name).geoms
                if g.type == mujoco.mjtGeom.mjGEOM_BOX and abs(g.pos[2] - _PAD_Z_M) < 1e-3]
        if len(pads) != 1:
            raise RobotDescriptionError(f'{body_name}: expected one fingertip collision box at '
                                        f'z = {_PAD_Z_M} m, found {len(pads)}')
        pad = pads[0]
        pad.name = pad_name
        pad.friction = list(params.pad_friction)
        pad.condim = 6
        pad.priority = 1
        pad.solref = list(params.pad_solref)
        pad.solimp = list(params.pad_solimp)
        pad.rgba = [0.15, 0.15, 0.15, 1.0]


class ArmServo:
    """Turns joint-velocity commands into inputs of the arm's position actuators.

    Each tick, with setpoint ``q_des`` (the integral of the commanded velocities) and the
    commanded acceleration ``ddq = (dq_cmd - dq_cmd_prev) / dt``, the actuator input is
    ``u = q_des + ((kv + damping) dq_cmd + tau_ff) / kp`` so that MuJoCo's position actuator
    produces ``kp (q_des - q) + kv (dq_cmd - dq) + damping dq_cmd + tau_ff``, with the inertial
    feed-forward ``tau_ff = M ddq`` supplied by the caller (``M``: joint-space inertia); then
    ``q_des += dq_cmd dt``. The setpoint is kept inside the joint range and within
    ``max_error_rad`` of the measured position (anti-windup).

    Args:
        gains: Servo gains and joint dynamics.
        q_min_rad, q_max_rad: Joint range (7,) [rad].
    """

    def __init__(self, gains: ArmServoGains, q_min_rad: np.ndarray,
                 q_max_rad: np.ndarray) -> None:
        self.gains = gains
        self.q_min_rad = np.asarray(q_min_rad, dtype=float).copy()
        self.q_max_rad = np.asarray(q_max_rad, dtype=float).copy()
        self._kp = np.asarray(gains.kp_nm_rad, dtype=float)
        self._kv_total = np.asarray(gains.kv_nm_s_rad) + np.asarray(gains.damping_nm_s_rad)
        self.q_des_rad = np.zeros(len(ARM_JOINTS))
        self._dq_prev = np.zeros(len(ARM_JOINTS))

    def reset(self, q_rad: np.ndarray) -> None:
        """Hold position at ``q_rad`` (7,) [rad], at rest."""
        self.q_des_rad = np.clip(np.asarray(q_rad, dtype=float), self.q_min_rad, self.q_max_rad)
        self._dq_prev = np.zeros(len(ARM_JOINTS))

    def control(self, q_rad: np.ndarray, dq_cmd_rad_s: np.ndarray, dt_s: float,
                inertia: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Actuator inputs for this step (7,) [rad]; advances the setpoint by one step.

        Where the setpoint sits at a joint limit and the command pushes further, that joint's
        command is zeroed.

        Args:
            q_rad: Measured joint positions (7,) [rad].
            dq_cmd_rad_s: Commanded joint velocities (7,) [rad/s], finite.
            dt_s: Step [s].
            inertia: Maps a joint acceleration (7,) [rad/s^2] to the torque (7,) [N m] it
                needs (``M ddq``), for the inertial feed-forward; None: no feed-forward.
        """
        err = self.gains.max_error_rad
        q_des = np.minimum(np.maximum(self.q_des_rad, q_rad - err), q_rad + err)
        at_limit = ((q_des <= self.q_min_rad) & (dq_cmd_rad_s < 0)) | (
            (q_des >= self.q_max_rad) & (dq_cmd_rad_s > 0))
        dq = np.where(at_limit, 0.0, dq_cmd_rad_s)
        tau = self._kv_total * dq
        if inertia is not None:
            tau += inertia((dq - self._dq_prev) / dt_s)
        self.q_des_rad = np.minimum(np.maximum(q_des + dq * dt_s, self.q_min_rad),
                                    self.q_max_rad)
        self._dq_prev = dq
        return q_des + tau / self._kp


class GripperServo:
    """Franka-Hand semantics on the width actuator: ``move``/``open``/``close`` and ``grasp``.

    A width reference ramps at the commanded speed towards the target width (``open``: full
    width, ``close``: 0, ``move``: ``width_m``, ``grasp``: 0). The servo force
    ``kp (w_ref - w) + kv (dw_ref - dw)`` is clipped to ``[-f_close, max_force]`` where
    ``f_close`` is the grasp force for ``grasp`` and ``max_force_n`` otherwise; so a grasp
    closes at the commanded speed and then squeezes the object with exactly the grasp force.
    The force is realised through the position actuator's input (its velocity term stays
    implicit in the integrator). :attr:`holding` is the grasp the hand reports: acquired once
    the fingers have stalled on something for ``grasp_settle_s``, lost once they have closed on
    past it (or the action changed).

    Args:
        params: Hand model.
    """

    def __init__(self, params: GripperParams) -> None:
        self.params = params
        self.action = 'open'
        self.target_width_m = params.max_width_m
        self.speed_m_s = params.max_speed_m_s
        self.close_force_n = params.max_force_n
        self.width_ref_m = params.max_width_m
        self.holding = False
        self._flip_s = 0.0      # how long the stall state has differed from ``holding`` [s]

    def reset(self, width_m: float) -> None:
        """Hold the fingers at ``width_m`` [m]."""
        width = float(np.clip(width_m, 0.0, self.params.max_width_m))
        self.action = 'move'
        self.target_width_m = width
        self.width_ref_m = width
        self.close_force_n = self.params.max_force_n
        self.holding = False
        self._flip_s = 0.0

    def command(self, cmd: GripperCommandLike) -> None:
        """Accept a gripper command (see :class:`GripperCommandLike`).

        Raises:
            SimInputError: for an unknown action or a value out of range or not finite.
        """
        p = self.params
        action = getattr(cmd, 'action', None)
        if action not in GRIPPER_ACTIONS:
            raise SimInputError(f'gripper action: unknown {action!r}, expected one of '
                                f'{GRIPPER_ACTIONS}')
        values = {}
        for name, high in (('width_m', p.max_width_m), ('force_n', p.max_force_n),
                           ('speed_m_s', p.max_speed_m_s)):
            value = getattr(cmd, name, None)
            if not (_finite_nonneg(value) and value <= high + 1e-12):
                raise SimInputError(f'gripper {name}: must be in [0, {high}], got {value!r}')
            values[name] = float(value)
        self.action = action
        self.target_width_m = {'open': p.max_width_m, 'close': 0.0, 'grasp': 0.0}.get(
            action, values['width_m'])
        self.speed_m_s = max(values['speed_m_s'], 1e-3)
        self.close_force_n = values['force_n'] if action == 'grasp' else p.max_force_n
        if action != 'grasp':
            self.holding = False
            self._flip_s = 0.0

    def control(self, width_m: float, dwidth_m_s: float, dt_s: float) -> float:
        """Actuator input for this step [m]; advances the width reference by one step.

        Args:
            width_m: Measured width (tendon length) [m].
            dwidth_m_s: Measured width rate [m/s].
            dt_s: Step [s].
        """
        p = self.params
        delta = self.target_width_m - self.width_ref_m
        max_step = self.speed_m_s * dt_s
        step = min(max(delta, -max_step), max_step)
        self.width_ref_m += step
        dwidth_ref = step / dt_s
        force = p.kp_n_m * (self.width_ref_m - width_m) + p.kv_n_s_m * (dwidth_ref - dwidth_m_s)
        force = min(max(force, -self.close_force_n), p.max_force_n)
        # A grasp is acquired once the fingers stall (not closing any more) and kept while
        # they stay open against their reference (an object turning between the pads moves
        # them without letting go).
        holds = (self.grasping(width_m, dwidth_m_s) if not self.holding
                 else self.grasping(width_m, 0.0))
        if holds != self.holding:
            self._flip_s += dt_s
            if self._flip_s >= p.grasp_settle_s - 1e-12:
                self.holding = not self.holding
                self._flip_s = 0.0
        else:
            self._flip_s = 0.0
        # Input u of the position actuator such that kp (u - w) - kv dw == force.
        return width_m + (force + p.kv_n_s_m * dwidth_m_s) / p.kp_n_m

    def grasping(self, width_m: float, dwidth_m_s: float = 0.0) -> bool:
        """True when a grasp is commanded and the fingers have stalled on something (now;
        :attr:`holding` is the settled state the hand reports).

        Args:
            width_m: Measured width [m].
            dwidth_m_s: Measured width rate [m/s]: fingers still closing have not stalled.
        """
        p = self.params
        return (self.action == 'grasp' and width_m > p.grasp_min_width_m
                and abs(dwidth_m_s) <= p.grasp_stall_speed_m_s
                and self.width_ref_m < width_m - 0.002)
