"""Tests of the shipped example programs and their accessors."""

import math

import pytest

from resem3d_constraints import ConstraintProgram
from resem3d_constraints.examples import example_names, example_path, load_example


def test_names_and_paths():
    assert example_names() == ('open_drawer', 'pick_and_place_mug', 'pour_kettle')
    assert example_path('pour_kettle') == example_path('pour_kettle.json')
    assert example_path('pour_kettle').is_file()
    with pytest.raises(KeyError, match='no example'):
        example_path('juggle')


@pytest.mark.parametrize('name', ['open_drawer', 'pick_and_place_mug', 'pour_kettle'])
def test_examples_are_rich_programs(name):
    program = load_example(name)
    assert isinstance(program, ConstraintProgram) and program.name == name
    assert len(program.stages) >= 5
    assert any(stage.gripper is not None for stage in program.stages)
    assert any(stage.path for stage in program.stages)
    assert any(stage.pre for stage in program.stages)
    assert all(stage.post for stage in program.stages)
    kinds = {c.kind for c in program.constraints()}
    assert 'keep_away' in kinds
    grasps = [s for s in program.stages if s.gripper and s.gripper.action == 'grasp']
    assert grasps and grasps[0].post[0].kind == 'grasped'


def test_pour_tilts_between_100_and_130_degrees_above_the_bowl():
    tilt = load_example('pour_kettle').stage('tilt_to_pour')
    angle = tilt.subgoal[0]
    assert angle.kind == 'angle' and angle.b.of == 'world' and angle.b.feature == 'z'
    assert math.radians(100) <= angle.angle_rad <= math.radians(130)
    above = tilt.path[0]
    assert (above.kind, above.point.of, above.region) == ('above', 'kettle/spout', 'bowl/rim')


def test_drawer_pulls_0_2_m_from_the_initial_handle_pose():
    pull = load_example('open_drawer').stage('pull_open')
    offset = pull.subgoal[0]
    assert offset.kind == 'offset' and offset.frame == 'object'
    assert offset.b.at == 'init' and offset.offset_m == (0.2, 0.0, 0.0)


def test_mug_lifts_from_init_and_places_on_the_plate():
    program = load_example('pick_and_place_mug')
    assert program.stage('lift').subgoal[0].b.at == 'init'
    place = program.stage('place_on_plate')
    assert place.subgoal[0].region == 'plate/top' and place.gripper.action == 'open'
