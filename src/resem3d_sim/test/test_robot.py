"""The simulated Panda: structure, kinematics against pinocchio, servo tracking, the grasp."""

import math

import mujoco
import numpy as np
import pinocchio as pin
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resem3d_controller import (ControllerConfig, GripperCommand, JointVelocityController,
                                RobotModel)
from resem3d_sim.robot import (ARM_ACTUATORS, ARM_JOINTS, FINGER_PADS, GRIPPER_ACTUATOR,
                               GRIPPER_TENDON, TCP_NAME, TCP_OFFSET_M, ArmServo, ArmServoGains,
                               GripperParams, GripperServo, PandaConfig, RobotDescriptionError,
                               SimError, SimInputError, build_panda_spec, panda_urdf_path)
from resem3d_sim.world import World

# Franka datasheet joint acceleration limits [rad/s^2] (the controller uses half by default).
PANDA_ACCEL_RAD_S2 = np.array([15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])
BOX_HALF_M = 0.025
BOX_MASS_KG = 0.5
BOX_P_BASE = np.array([0.5, 0.0, BOX_HALF_M])
R_DOWN = np.diag([1.0, -1.0, -1.0])          # TCP z pointing down, fingers along base y


@pytest.fixture(scope='module')
def panda_model() -> mujoco.MjModel:
    return build_panda_spec().compile()


@pytest.fixture(scope='module')
def pin_robot() -> RobotModel:
    return RobotModel(ControllerConfig(self_collision=False))


# --- structure -------------------------------------------------------------------------------

def test_names_follow_the_urdf(panda_model):
    m = panda_model
    for name in ARM_JOINTS + ('panda_finger_joint1', 'panda_finger_joint2'):
        assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name) >= 0, name
    for name in [f'panda_link{i}' for i in range(8)] + ['panda_hand', TCP_NAME]:
        assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name) >= 0, name
    for name in ARM_ACTUATORS + (GRIPPER_ACTUATOR,):
        assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, name) >= 0, name
    for name in FINGER_PADS:
        assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name) >= 0, name
    assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_TENDON, GRIPPER_TENDON) >= 0
    assert m.nu == 8 and m.neq == 1                     # 7 joint servos + 1 gripper; coupling
    site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, TCP_NAME)
    hand = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, 'panda_hand')
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    p_hand_site = d.xmat[hand].reshape(3, 3).T @ (d.site_xpos[site] - d.xpos[hand])
    np.testing.assert_allclose(p_hand_site, [0.0, 0.0, TCP_OFFSET_M], atol=1e-9)
    assert TCP_OFFSET_M == 0.1034


def test_arm_dynamics_are_configured(panda_model):
    m = panda_model
    gains = ArmServoGains()
    dofs = [m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)] for j in ARM_JOINTS]
    np.testing.assert_allclose(m.dof_damping[dofs], gains.damping_nm_s_rad)
    np.testing.assert_allclose(m.dof_armature[dofs], gains.armature_kg_m2)
    moving = [b for b in range(m.nbody) if m.body_weldid[b] != 0]
    assert moving and all(m.body_gravcomp[b] == 1.0 for b in moving)
    servo = m.actuator(ARM_ACTUATORS[0])
    assert servo.gainprm[0] == gains.kp_nm_rad[0]
    np.testing.assert_allclose(servo.biasprm[:3],
                               [0.0, -gains.kp_nm_rad[0], -gains.kv_nm_s_rad[0]])
    np.testing.assert_allclose(m.actuator(GRIPPER_ACTUATOR).forcerange, [-70.0, 70.0])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7))
def test_tcp_pose_agrees_with_pinocchio(panda_model, pin_robot, fractions):
    m = panda_model
    q = pin_robot.q_min_rad + np.array(fractions) * (pin_robot.q_max_rad - pin_robot.q_min_rad)
    d = mujoco.MjData(m)
    for name, value in zip(ARM_JOINTS, q):
        d.qpos[m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)]] = value
    mujoco.mj_kinematics(m, d)
    site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, TCP_NAME)
    T_pin = pin_robot.forward_tool_pose(q)
    R_mj = d.site_xmat[site].reshape(3, 3)
    assert np.linalg.norm(d.site_xpos[site] - T_pin[:3, 3]) < 1e-3
    assert np.linalg.norm(pin.log3(R_mj.T @ T_pin[:3, :3])) < math.radians(0.5)


# --- errors ------------------------------------------------------------------------------------

def test_missing_urdf_names_the_file(tmp_path):
    missing = tmp_path / 'nowhere' / 'panda.urdf'
    with pytest.raises(RobotDescriptionError, match=str(missing)):
        build_panda_spec(PandaConfig(urdf_path=missing))
    assert issubclass(RobotDescriptionError, SimError)


def test_missing_mesh_names_the_mesh(tmp_path):
    text = panda_urdf_path().read_text().replace('collision/link3.stl', 'collision/gone3.stl')
    urdf = tmp_path / 'panda.urdf'
    urdf.write_text(text)
    with pytest.raises(RobotDescriptionError, match='gone3.stl'):
        build_panda_spec(PandaConfig(urdf_path=urdf))


def test_unloadable_collision_mesh_is_refused(tmp_path):
    text = panda_urdf_path().read_text().replace('collision/link3.stl', 'visual/link3.dae')
    urdf = tmp_path / 'panda.urdf'
    urdf.write_text(text)
    with pytest.raises(RobotDescriptionError, match='cannot load'):
        build_panda_spec(PandaConfig(urdf_path=urdf))


def test_invalid_xml_is_a_description_error(tmp_path):
    urdf = tmp_path / 'panda.urdf'
    urdf.write_text('<robot name="x"><link')
    with pytest.raises(RobotDescriptionError, match='not valid XML'):
        build_panda_spec(PandaConfig(urdf_path=urdf))


def test_bad_parameters_are_rejected():
    with pytest.raises(SimInputError, match='kp_nm_rad'):
        ArmServoGains(kp_nm_rad=(1.0,) * 6)
    with pytest.raises(SimInputError, match='damping'):
        ArmServoGains(damping_nm_s_rad=(float('nan'),) * 7)
    with pytest.raises(SimInputError, match='max_force_n'):
        GripperParams(max_force_n=-1.0)


# --- servos (no physics) ---------------------------------------------------------------------

def test_arm_servo_integrates_commands_and_stops_at_limits():
    gains = ArmServoGains()
    servo = ArmServo(gains, np.full(7, -1.0), np.full(7, 1.0))
    servo.reset(np.zeros(7))
    dq = np.full(7, 0.5)
    u = servo.control(np.zeros(7), dq, 0.001)
    ff = (np.array(gains.kv_nm_s_rad) + np.array(gains.damping_nm_s_rad)) / gains.kp_nm_rad
    np.testing.assert_allclose(u, ff * 0.5)                      # setpoint 0 + feed-forward
    np.testing.assert_allclose(servo.q_des_rad, 0.0005)
    servo.reset(np.full(7, 1.0))
    u = servo.control(np.full(7, 1.0), dq, 0.001)                # pushing into the limit
    np.testing.assert_allclose(u, 1.0)
    np.testing.assert_allclose(servo.q_des_rad, 1.0)


def test_arm_servo_setpoint_does_not_wind_up():
    servo = ArmServo(ArmServoGains(), np.full(7, -3.0), np.full(7, 3.0))
    servo.reset(np.zeros(7))
    for _ in range(1000):                                        # arm blocked at q = 0
        servo.control(np.zeros(7), np.full(7, 1.0), 0.001)
    assert np.all(servo.q_des_rad <= ArmServoGains().max_error_rad + 1e-3)


def test_gripper_servo_limits_the_grasp_force():
    params = GripperParams()
    servo = GripperServo(params)
    servo.reset(0.08)
    servo.command(GripperCommand('grasp', width_m=0.05, force_n=15.0, speed_m_s=0.1))
    for _ in range(1000):                                        # fingers blocked at 5 cm
        u = servo.control(0.05, 0.0, 0.001)
    force = params.kp_n_m * (u - 0.05)
    assert force == pytest.approx(-15.0)
    assert servo.grasping(0.05)
    assert not servo.grasping(0.001)                             # closed on nothing
    assert not servo.grasping(0.05, -0.04)                       # still closing: no stall
    assert servo.holding                                         # stalled for 1 s


def test_gripper_servo_reports_a_grasp_only_after_the_stall_settles():
    params = GripperParams()
    servo = GripperServo(params)
    servo.reset(0.08)
    servo.command(GripperCommand('grasp', width_m=0.0, force_n=15.0, speed_m_s=0.1))
    servo.width_ref_m = 0.03                                     # fingers blocked at 5 cm
    steps = round(params.grasp_settle_s / 0.001)
    for _ in range(steps - 5):
        servo.control(0.05, 0.0, 0.001)
    assert servo.grasping(0.05) and not servo.holding            # stalled, not yet settled
    for _ in range(10):
        servo.control(0.05, 0.0, 0.001)
    assert servo.holding
    for _ in range(3 * steps):                                   # the object turns: kept
        servo.control(0.045, -0.05, 0.001)
    assert servo.holding
    for _ in range(steps + 5):                                   # closed on nothing: lost
        servo.control(0.002, -0.05, 0.001)
    assert not servo.holding
    servo.command(GripperCommand('open', width_m=0.08, force_n=0.0, speed_m_s=0.1))
    assert not servo.holding


@pytest.mark.parametrize('command, match', [
    (GripperCommand('move', width_m=0.02), None),
    (type('Cmd', (), {'action': 'squeeze', 'width_m': 0.0, 'force_n': 1.0,
                      'speed_m_s': 0.1})(), 'action'),
    (type('Cmd', (), {'action': 'move', 'width_m': float('nan'), 'force_n': 1.0,
                      'speed_m_s': 0.1})(), 'width_m'),
    (type('Cmd', (), {'action': 'grasp', 'width_m': 0.0, 'force_n': 500.0,
                      'speed_m_s': 0.1})(), 'force_n'),
])
def test_gripper_commands_are_validated(command, match):
    servo = GripperServo(GripperParams())
    if match is None:
        servo.command(command)
        assert servo.target_width_m == 0.02
    else:
        with pytest.raises(SimInputError, match=match):
            servo.command(command)


# --- physics ---------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def world() -> World:
    return World.build()


def test_velocity_commands_are_tracked_at_1_rad_s(world):
    world.reset()
    q_ref = world.q_rad
    dq = np.zeros(7)
    worst = 0.0
    # Ramp every joint at once to +1 rad/s at the datasheet accelerations, cruise, ramp to -1,
    # cruise back and stop: the measured position must follow the integrated command.
    profile = [(1.0, 400), (-1.0, 600), (0.0, 300)]
    for target, ticks in profile:
        for _ in range(ticks):
            dq = dq + np.clip(target - dq, -PANDA_ACCEL_RAD_S2 * 1e-3, PANDA_ACCEL_RAD_S2 * 1e-3)
            world.step(dq)
            q_ref = q_ref + dq * 1e-3
            worst = max(worst, float(np.abs(world.q_rad - q_ref).max()))
    assert np.abs(dq).max() == 0.0
    assert worst < 1e-3


def test_position_is_held_under_gravity(world):
    for q in ([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785],     # home
              [0.8, 0.9, -0.5, -1.2, 0.6, 2.4, -0.3]):            # stretched forward
        world.reset(np.array(q))
        for _ in range(2000):
            world.step(np.zeros(7))
        assert np.abs(world.q_rad - q).max() < 1e-3
        assert np.abs(world.dq_rad_s).max() < 1e-3


def _add_box(spec: mujoco.MjSpec) -> None:
    box = spec.worldbody.add_body(name='box', pos=BOX_P_BASE.tolist())
    box.add_freejoint(name='box_free')
    box.add_geom(name='box_geom', type=mujoco.mjtGeom.mjGEOM_BOX, size=[BOX_HALF_M] * 3,
                 mass=BOX_MASS_KG, friction=[0.6, 0.005, 0.0001])    # plastic-like


def _ik(robot: RobotModel, q0: np.ndarray, T_goal: np.ndarray) -> np.ndarray:
    """Damped least squares inside the joint range (test helper)."""
    q = q0.copy()
    for _ in range(200):
        robot.update(q)
        T = robot.tool_pose()
        err = np.concatenate([T_goal[:3, 3] - T[:3, 3], pin.log3(T_goal[:3, :3] @ T[:3, :3].T)])
        if np.linalg.norm(err) < 1e-9:
            break
        J = robot.tool_jacobian()
        q = q + 0.3 * J.T @ np.linalg.solve(J @ J.T + 1e-4 * np.eye(6), err)
        q = np.clip(q, robot.q_min_rad + 0.05, robot.q_max_rad - 0.05)
    return q


class _GraspRun:
    """Drives the arm with the project's controller and records the object's slip."""

    def __init__(self, force_n: float) -> None:
        self.ctrl = JointVelocityController(ControllerConfig(self_collision=False,
                                                             velocity_scale=1.0))
        self.world = World.build(_add_box)
        T_grasp = np.eye(4)
        T_grasp[:3, :3], T_grasp[:3, 3] = R_DOWN, BOX_P_BASE       # TCP at the box centre
        self.world.reset(_ik(self.ctrl.robot, self.world.q_rad, T_grasp))
        for _ in range(100):
            self.world.step(np.zeros(7))
        self.world.step(np.zeros(7), GripperCommand('grasp', width_m=0.05, force_n=force_n,
                                                    speed_m_s=0.1))
        for _ in range(400):
            self.world.step(np.zeros(7))
        self.T_tool_box0 = self._T_tool_box()
        self.max_slip_m = 0.0
        self.max_speed_m_s = 0.0

    def _T_tool_box(self) -> np.ndarray:
        return np.linalg.inv(self.world.T_base_tool()) @ self.world.body_pose('box')

    def move_to(self, T_target: np.ndarray, duration_s: float) -> None:
        world = self.world
        self.ctrl.set_pose_target(T_target, world.t_s)
        for _ in range(round(duration_s / world.timestep_s)):
            t = world.t_s
            self.ctrl.refresh_targets(t)
            p_before = world.T_base_tool()[:3, 3]
            world.step(self.ctrl.step(world.q_rad, t).dq_rad_s)
            speed = np.linalg.norm(world.T_base_tool()[:3, 3] - p_before) / world.timestep_s
            self.max_speed_m_s = max(self.max_speed_m_s, speed)
            slip = np.linalg.norm(self._T_tool_box()[:3, 3] - self.T_tool_box0[:3, 3])
            self.max_slip_m = max(self.max_slip_m, slip)


def test_grasp_holds_a_half_kilo_box_through_lift_tilt_and_fast_moves():
    run = _GraspRun(force_n=20.0)
    world = run.world
    assert world.gripper_grasping
    assert world.gripper_width_m == pytest.approx(2 * BOX_HALF_M, abs=1e-3)
    T_lift = world.T_base_tool()
    T_lift[2, 3] += 0.2
    run.move_to(T_lift, 1.0)
    assert world.body_pose('box')[2, 3] > BOX_P_BASE[2] + 0.19
    R_tilt = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])   # 90 deg about y
    T_tilt = T_lift.copy()
    T_tilt[:3, :3] = R_tilt @ T_lift[:3, :3]                     # about the grasp axis
    run.move_to(T_tilt, 1.6)
    assert abs(world.T_base_tool()[2, 2]) < math.sin(math.radians(5))   # tool z horizontal
    T_side = T_tilt.copy()
    T_side[1, 3] += 0.4
    run.move_to(T_side, 1.6)
    assert run.max_speed_m_s > 0.45                              # the 0.5 m/s speed cap
    assert world.gripper_grasping
    assert run.max_slip_m < 0.01
    assert world.body_pose('box')[2, 3] > 0.15


def test_a_weak_grasp_lets_the_box_slip():
    # Friction is physical: 2 N per pad (mu = 1) cannot carry 0.5 kg (needs 2.45 N).
    run = _GraspRun(force_n=2.0)
    T_lift = run.world.T_base_tool()
    T_lift[2, 3] += 0.2
    run.move_to(T_lift, 0.8)
    assert run.max_slip_m > 0.05
    assert run.world.body_pose('box')[2, 3] < 0.1
