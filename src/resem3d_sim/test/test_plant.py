"""The simulated plant closes the loop with the project's controller: the mug example runs."""

import numpy as np
import pytest

from resem3d_constraints.examples import load_example
from resem3d_controller import ControllerConfig, JointVelocityController
from resem3d_controller.executor import execute_program
from resem3d_sim import World
from resem3d_sim.plant import SimPlant
from resem3d_sim.scenes import household_scene


@pytest.fixture(scope='module')
def household():
    scene_spec = household_scene(seed=0)
    objects = {}
    world = World.build(add_objects=lambda spec: objects.update(scene_spec.add_objects(spec)),
                        seed=0)
    world.reset()
    return world, objects


def test_scene_for_a_program_has_ground_truth_regions_and_poses(household):
    world, objects = household
    plant = SimPlant(world, objects)
    program = load_example('pick_and_place_mug')
    scene = plant.scene_for(program.regions)
    assert set(scene.regions) == set(program.regions)
    T_mug = world.body_pose(objects['mug'].body_name)
    np.testing.assert_allclose(scene.object_pose('mug'), T_mug)
    handle_base = scene.regions['mug/handle'].centroid_obj @ T_mug[:3, :3].T + T_mug[:3, 3]
    assert np.linalg.norm(handle_base[:2] - T_mug[:2, 3]) > 0.04     # beside the body
    with pytest.raises(KeyError, match='no object'):
        plant.scene_for(['teapot/spout'])


def test_mug_example_picks_the_mug_by_its_handle_and_places_it_on_the_plate(household):
    world, objects = household
    plant = SimPlant(world, objects)
    program = load_example('pick_and_place_mug')
    scene = plant.scene_for(program.regions)
    controller = JointVelocityController(ControllerConfig())
    outcomes = execute_program(program, controller, scene, plant)
    assert [o.stage for o in outcomes] == [s.name for s in program.stages]
    assert all(o.reached for o in outcomes), outcomes[-1].reason
    # Physical result: the mug stands upright on the plate, released.
    T_mug = world.body_pose(objects['mug'].body_name)
    T_plate = world.body_pose(objects['plate'].body_name)
    assert np.linalg.norm(T_mug[:2, 3] - T_plate[:2, 3]) < 0.06
    assert 0.0 < T_mug[2, 3] - T_plate[2, 3] < 0.03
    assert T_mug[2, 2] > np.cos(np.radians(10))
    assert not world.gripper_grasping
