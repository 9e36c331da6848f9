"""Tests of the task framework: environments, predicates, disturbances, the catalogue."""

import numpy as np
import pytest

from resem3d_sim.catalog import TASKS, UnknownTaskError, get_task
from resem3d_sim.errors import SimInputError
from resem3d_sim.scenes import SCENES
from resem3d_sim.tasks import Disturbance, TaskEnv


@pytest.fixture(scope='module')
def env():
    return TaskEnv.build(get_task('household_mug_to_plate'), seed=3)


@pytest.mark.parametrize('name', sorted(TASKS))
def test_task_is_well_formed(name):
    """Distinct paraphrases, a scene object to disturb, a program over the scene's parts."""
    task = TASKS[name]
    assert task.name.startswith(task.scene + '_')
    assert len(task.paraphrases) >= 2
    assert len({task.instruction, *task.paraphrases}) == len(task.paraphrases) + 1
    assert 0 < task.time_limit_s <= 300
    scene = SCENES[task.scene](0)
    assert task.moved_object in {p.name for p in scene.placements}
    program = task.reference_program()
    assert program.name == name and program.stages
    missing = sorted(set(program.regions) - set(scene.labels))
    assert not missing, f'regions not in the scene: {missing}'


@pytest.mark.parametrize('name', sorted(TASKS))
def test_success_needs_work_in_the_initial_state(name):
    env = TaskEnv.build(TASKS[name], seed=0)
    assert not env.success().success, env.success().reason


def test_unknown_task_and_bad_seed_are_typed_errors():
    with pytest.raises(UnknownTaskError, match="unknown task 'juggle'; known: household_"):
        get_task('juggle')
    for seed in (-1, 1.5, True):
        with pytest.raises(SimInputError, match='seed'):
            TaskEnv.build(get_task('household_mug_to_plate'), seed)


def test_success_needs_work_and_sees_the_physical_state(env):
    result = env.success()
    assert not result.success and 'from the centre of plate' in result.reason
    # Put the mug on the plate by hand: the predicate now holds.
    T = env.pose('plate').copy()
    T[2, 3] += 0.012
    env.world.set_body_pose(env.object_info('mug').body_name, T)
    for _ in range(300):
        env.world.step(np.zeros(7))
    assert env.success().success, env.success().reason


def test_move_object_disturbance_moves_the_object(env):
    before = env.pose('plate')[:3, 3].copy()
    env.apply(Disturbance(0.0, 'move_object', 'plate', (0.05, -0.02, 0.0)))
    np.testing.assert_allclose(env.pose('plate')[:3, 3] - before, [0.05, -0.02, 0.0], atol=1e-9)


@pytest.mark.parametrize('kwargs', [
    {'at_s': 1.0, 'kind': 'teleport', 'target': 'mug', 'vector': (0, 0, 0)},
    {'at_s': -1.0, 'kind': 'move_object', 'target': 'mug', 'vector': (0, 0, 0)},
    {'at_s': 1.0, 'kind': 'push_arm', 'target': 'panda_link7', 'vector': (0, float('nan'), 0)},
])
def test_bad_disturbances_are_refused(kwargs):
    with pytest.raises(SimInputError, match='disturbance'):
        Disturbance(**kwargs)


def test_camera_sees_the_labelled_parts_of_the_task(env):
    with env.camera() as camera:
        frame = camera.render()
    visible = {frame.labels[i] for i in np.unique(frame.part_mask) if i}
    assert {'mug/handle', 'mug/body', 'plate/top'} <= visible
