"""Tests of the chemistry-lab tasks: wording, reference programs, predicates, one closed-loop
run."""

import pytest

from resem3d_sim.lab_tasks import LAB_TASKS
from resem3d_sim.reference import run_reference
from resem3d_sim.scenes import SCENES
from resem3d_sim.tasks import TaskEnv, standing_in

TASK_NAMES = [task.name for task in LAB_TASKS]
QUICKEST_TASK = 'lab_flask_to_stirrer'


def task_named(name):
    """The lab task called ``name``."""
    return next(task for task in LAB_TASKS if task.name == name)


def test_lab_tasks_have_unique_names_in_the_lab_scene():
    """At least five tasks, all in the lab scene, each named once."""
    assert len(TASK_NAMES) == len(set(TASK_NAMES)) >= 5
    assert all(task.scene == 'lab' for task in LAB_TASKS)


@pytest.mark.parametrize('name', TASK_NAMES)
def test_task_has_paraphrases_and_a_moved_object_of_the_scene(name):
    """At least two distinct paraphrases; the disturbed object exists in the scene."""
    task = task_named(name)
    assert len(task.paraphrases) >= 2
    assert len({task.instruction, *task.paraphrases}) == len(task.paraphrases) + 1
    scene = SCENES[task.scene](0)
    assert task.moved_object in {p.name for p in scene.placements}


@pytest.mark.parametrize('name', TASK_NAMES)
def test_reference_program_parses_and_names_only_parts_of_the_scene(name):
    """The program parses and every region it lists is a part label of the scene."""
    task = task_named(name)
    program = task.reference_program()
    assert program.name == name
    labels = set(SCENES[task.scene](0).labels)
    missing = sorted(set(program.regions) - labels)
    assert not missing, f'{name}: regions not in the scene: {missing}'


@pytest.mark.parametrize('name', TASK_NAMES)
def test_success_is_false_in_the_initial_state(name):
    """The success predicate needs work: it does not hold right after the build."""
    env = TaskEnv.build(task_named(name), seed=0)
    result = env.success()
    assert not result.success, result.reason


def test_standing_in_holds_for_the_tube_in_its_initial_slot():
    """The tube starts in slot 1: ``standing_in`` holds there and not for the other slots."""
    env = TaskEnv.build(task_named('lab_tube_to_slot_2'), seed=1)
    assert standing_in('tube', 'rack/slot_1', 0.012, 0.03)(env).success
    for slot in ('slot_2', 'slot_3', 'slot_4'):
        assert not standing_in('tube', f'rack/{slot}', 0.012, 0.03)(env).success
    assert not standing_in('tube', 'rack/slot_1', 0.012, 0.005)(env).success


def test_quickest_task_succeeds_in_closed_loop():
    """The reference program of the quickest lab task succeeds at seed 0."""
    run = run_reference(QUICKEST_TASK, 0)
    assert run.success, run.reason
    assert run.stages_reached == run.stages
