"""The World API: composition, state, commands, disturbances, typed errors."""

import mujoco
import numpy as np
import pytest

from resem3d_controller import ControllerConfig, GripperCommand, RobotModel
from resem3d_sim.robot import PandaConfig, RobotDescriptionError, SimError, SimInputError
from resem3d_sim.world import (Q_HOME_RAD, NotAFreeBodyError, SimulationDivergedError,
                               UnknownBodyError, World, WorldBuildError, WorldConfig)


def _add_cube(spec: mujoco.MjSpec) -> None:
    body = spec.worldbody.add_body(name='cube', pos=[0.5, 0.2, 0.03])
    body.add_freejoint(name='cube_free')
    body.add_geom(name='cube_geom', type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.03] * 3, mass=0.2)
    spec.worldbody.add_body(name='shelf', pos=[0.6, -0.3, 0.1]).add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.1, 0.05, 0.01])


def _add_many(spec: mujoco.MjSpec) -> None:
    kinds = (mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CYLINDER,
             mujoco.mjtGeom.mjGEOM_SPHERE)
    for i in range(15):
        body = spec.worldbody.add_body(name=f'obj{i}',
                                       pos=[0.3 + 0.1 * (i % 5), -0.3 + 0.2 * (i // 5), 0.05])
        body.add_freejoint()
        body.add_geom(type=kinds[i % 3], size=[0.03, 0.04, 0.03], mass=0.2)


@pytest.fixture(scope='module')
def world() -> World:
    return World.build(_add_cube, seed=7)


@pytest.fixture(autouse=True)
def _fresh(request):
    if 'world' in request.fixturenames:
        request.getfixturevalue('world').reset()


def test_layout_base_frame_is_the_table_surface(world):
    m, d = world.model, world.data
    np.testing.assert_allclose(world.body_pose('panda_link0'), np.eye(4), atol=1e-12)
    table_top = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, 'table_top')
    assert d.geom_xpos[table_top][2] + m.geom_size[table_top][2] == pytest.approx(0.0)
    floor = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, 'floor')
    assert d.geom_xpos[floor][2] == pytest.approx(-world.config.table_height_m)
    assert m.opt.timestep == pytest.approx(0.001)
    assert world.seed == 7 and isinstance(world.rng, np.random.Generator)


def test_reset_state_is_home_at_rest_without_contacts(world):
    np.testing.assert_allclose(world.q_rad, Q_HOME_RAD)
    np.testing.assert_allclose(world.dq_rad_s, 0.0)
    assert world.t_s == 0.0
    assert world.gripper_width_m == pytest.approx(0.08)
    assert not world.gripper_grasping
    robot_bodies = {mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_BODY, f'panda_link{i}')
                    for i in range(1, 8)}
    for c in world.data.contact[:world.data.ncon]:
        assert world.model.geom_bodyid[c.geom1] not in robot_bodies
        assert world.model.geom_bodyid[c.geom2] not in robot_bodies


def test_tool_pose_matches_pinocchio_in_the_world(world):
    robot = RobotModel(ControllerConfig(self_collision=False))
    q = np.array([0.3, -0.2, 0.4, -2.0, 0.2, 1.9, -0.4])
    world.reset(q)
    np.testing.assert_allclose(world.T_base_tool(), robot.forward_tool_pose(q), atol=1e-6)


def test_step_advances_one_millisecond(world):
    for _ in range(10):
        world.step(np.zeros(7))
    assert world.t_s == pytest.approx(0.010)


def test_objects_added_by_the_hook_rest_on_the_table(world):
    for _ in range(300):
        world.step(np.zeros(7))
    T = world.body_pose('cube')
    assert T[2, 3] == pytest.approx(0.03, abs=1e-3)
    np.testing.assert_allclose(world.body_pose('shelf')[:3, 3], [0.6, -0.3, 0.1])


def test_bodies_touching_names_what_a_body_rests_on(world):
    """The cube at rest touches the table only; placed on the shelf it touches the shelf."""
    for _ in range(300):
        world.step(np.zeros(7))
    assert world.bodies_touching('cube') == {'table'}
    T = np.eye(4)
    T[:3, 3] = [0.6, -0.3, 0.141]                  # on the shelf's top face (z = 0.11)
    world.set_body_pose('cube', T)
    for _ in range(50):
        world.step(np.zeros(7))
    assert world.bodies_touching('cube') == {'shelf'}
    assert 'cube' in world.bodies_touching('shelf')
    with pytest.raises(UnknownBodyError):
        world.bodies_touching('no_such_body')


def test_set_body_pose_moves_a_free_body_and_reset_restores_it(world):
    T = np.eye(4)
    T[:3, :3] = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    T[:3, 3] = [0.4, -0.1, 0.2]
    world.set_body_pose('cube', T)
    np.testing.assert_allclose(world.body_pose('cube'), T, atol=1e-12)
    for _ in range(10):
        world.step(np.zeros(7))
    assert world.body_pose('cube')[2, 3] < 0.2 - 1e-4            # released at rest: it falls
    world.reset()
    np.testing.assert_allclose(world.body_pose('cube')[:3, 3], [0.5, 0.2, 0.03])


def test_gripper_moves_to_a_width_and_closes_on_nothing(world):
    world.step(np.zeros(7), GripperCommand('move', width_m=0.03, speed_m_s=0.1))
    for _ in range(700):
        world.step(np.zeros(7))
    assert world.gripper_width_m == pytest.approx(0.03, abs=1e-3)
    world.step(np.zeros(7), GripperCommand('grasp', width_m=0.02, force_n=30.0))
    for _ in range(800):
        world.step(np.zeros(7))
    assert world.gripper_width_m < 1e-3
    assert not world.gripper_grasping                            # nothing between the fingers
    world.step(np.zeros(7), GripperCommand('open', speed_m_s=0.1))
    for _ in range(1000):
        world.step(np.zeros(7))
    assert world.gripper_width_m == pytest.approx(0.08, abs=1e-3)


def test_arm_push_deflects_the_arm_which_then_recovers(world):
    q0 = world.q_rad
    world.apply_arm_push(np.array([0.0, 60.0, 0.0]), 0.2, link='panda_hand')
    deflection = 0.0
    for _ in range(200):
        world.step(np.zeros(7))
        deflection = max(deflection, float(np.abs(world.q_rad - q0).max()))
    for _ in range(800):
        world.step(np.zeros(7))
    assert deflection > 2e-3
    assert np.abs(world.q_rad - q0).max() < 1e-3
    np.testing.assert_allclose(world.data.xfrc_applied, 0.0)


def test_nan_or_misshapen_command_is_refused_and_changes_nothing(world):
    t0, q0 = world.t_s, world.q_rad
    for bad in (np.full(7, np.nan), np.array([0.0, np.inf, 0, 0, 0, 0, 0]), np.zeros(6), 'fast',
                None):
        with pytest.raises(SimInputError):
            world.step(bad)
    assert world.t_s == t0
    np.testing.assert_array_equal(world.q_rad, q0)
    with pytest.raises(SimInputError, match='action'):
        world.step(np.zeros(7), type('Cmd', (), {'action': 'crush', 'width_m': 0.0,
                                                 'force_n': 1.0, 'speed_m_s': 0.1})())


def test_diverged_physics_is_a_typed_error(world):
    world.data.qvel[0] = np.nan                                  # corrupted state, e.g. by a hook
    with pytest.raises(SimulationDivergedError, match='reset'):
        world.step(np.zeros(7))
    world.reset()
    world.step(np.zeros(7))


def test_unknown_body_is_a_typed_error(world):
    with pytest.raises(UnknownBodyError, match='no_such_body'):
        world.body_pose('no_such_body')
    with pytest.raises(UnknownBodyError):
        world.set_body_pose('no_such_body', np.eye(4))
    with pytest.raises(UnknownBodyError, match='robot link'):
        world.apply_arm_push(np.zeros(3), 0.1, link='cube')
    assert issubclass(UnknownBodyError, LookupError) and issubclass(UnknownBodyError, SimError)


def test_bad_poses_and_states_are_refused(world):
    with pytest.raises(NotAFreeBodyError, match='shelf'):
        world.set_body_pose('shelf', np.eye(4))
    with pytest.raises(NotAFreeBodyError):
        world.set_body_pose('panda_link3', np.eye(4))
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    with pytest.raises(SimInputError, match='rigid'):
        world.set_body_pose('cube', sheared)
    with pytest.raises(SimInputError, match='joint range'):
        world.reset(np.zeros(7))                                 # joint 4 must be negative
    with pytest.raises(SimInputError, match='gripper_width_m'):
        world.reset(gripper_width_m=0.2)
    with pytest.raises(SimInputError, match='duration_s'):
        world.apply_arm_push(np.zeros(3), float('nan'))


def test_missing_robot_description_names_the_file(tmp_path):
    missing = tmp_path / 'panda.urdf'
    config = WorldConfig(robot=PandaConfig(urdf_path=missing))
    with pytest.raises(RobotDescriptionError, match=str(missing)):
        World.build(config=config)


def test_a_hook_that_breaks_the_model_is_a_build_error():
    def add_bad(spec: mujoco.MjSpec) -> None:
        spec.worldbody.add_body(name='table')                    # duplicate name

    def add_unresolved(spec: mujoco.MjSpec) -> None:
        spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname='no_such_mesh')

    with pytest.raises(WorldBuildError, match='add_objects.*repeated name'):
        World.build(add_bad)
    with pytest.raises(WorldBuildError, match='does not compile.*no_such_mesh'):
        World.build(add_unresolved)


def test_move_welded_body_moves_a_static_body_and_reset_restores_it(world):
    T = np.eye(4)
    T[:3, 3] = [0.5, -0.25, 0.1]
    world.move_welded_body('shelf', T)
    np.testing.assert_allclose(world.body_pose('shelf'), T, atol=1e-12)
    for _ in range(10):
        world.step(np.zeros(7))
    np.testing.assert_allclose(world.body_pose('shelf')[:3, 3], T[:3, 3], atol=1e-12)  # welded
    world.reset()
    np.testing.assert_allclose(world.body_pose('shelf')[:3, 3], [0.6, -0.3, 0.1])
    with pytest.raises(NotAFreeBodyError, match='not welded'):
        world.move_welded_body('cube', T)                     # a free body: set_body_pose
    with pytest.raises(UnknownBodyError):
        world.move_welded_body('no_such_body', T)
