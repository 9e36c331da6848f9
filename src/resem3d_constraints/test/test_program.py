"""Tests of GripperAction, Stage and ConstraintProgram."""

import pytest

from resem3d_constraints import (AxisAnchor, Condition, Constraint, ConstraintProgram,
                                 GripperAction, PointAnchor, ProgramError, Stage)

TCP = PointAnchor('tool')
REACH = Constraint('distance', a=TCP, b=PointAnchor('mug/handle', 'centroid'), max_m=0.01)
UPRIGHT = Constraint('align', a=AxisAnchor('mug/body', 'z'), b=AxisAnchor('world', 'z'))
REACHED = Condition.from_constraint(REACH)
HOLDING = Condition('grasped', object='mug')


def stage(name='reach', **kwargs):
    fields = {'subgoal': (REACH,), 'post': (REACHED,), 'timeout_s': 10.0, **kwargs}
    return Stage(name, **fields)


@pytest.mark.parametrize('action,width,force', [
    ('open', 0.08, 0.0), ('close', 0.0, 20.0), ('grasp', 0.0, 20.0)])
def test_gripper_defaults(action, width, force):
    gripper = GripperAction(action)
    assert (gripper.width_m, gripper.force_n, gripper.speed_mps) == (width, force, 0.05)


@pytest.mark.parametrize('kwargs,path,reason', [
    ({'action': 'squeeze'}, 'action', 'unknown value "squeeze"'),
    ({'action': 'move'}, 'width_m', 'required for action "move"'),
    ({'action': 'move', 'width_m': 0.09}, 'width_m', '<= 0.08'),
    ({'action': 'grasp', 'force_n': 71}, 'force_n', '<= 70'),
    ({'action': 'grasp', 'speed_mps': 0}, 'speed_mps', '> 0'),
    ({'action': 'open', 'speed_mps': 0.2}, 'speed_mps', '<= 0.1'),
])
def test_gripper_rejects(kwargs, path, reason):
    with pytest.raises(ProgramError) as info:
        GripperAction(**kwargs)
    assert (info.value.path, reason in info.value.reason) == (path, True)


def test_stage_normalises_lists_and_lists_constraints():
    s = stage(subgoal=[REACH], path=[UPRIGHT], pre=[HOLDING], post=[REACHED])
    assert s.subgoal == (REACH,) and s.path == (UPRIGHT,) and s.pre == (HOLDING,)
    assert s.constraints() == (REACH, UPRIGHT)
    assert s.references() == (('subgoal[0].b.of', 'mug/handle'), ('path[0].a.of', 'mug/body'),
                              ('pre[0].object', 'mug'), ('post[0].b.of', 'mug/handle'))


def test_stage_dwell_defaults_to_zero_and_is_kept():
    assert stage().hold_s == 0.0
    assert stage(hold_s=2).hold_s == 2.0


def test_gripper_only_stage_needs_no_post():
    s = Stage('open', gripper=GripperAction('open'), timeout_s=5)
    assert s.post == () and s.timeout_s == 5.0


@pytest.mark.parametrize('kwargs,path,reason', [
    ({'name': 'two words'}, 'name', 'stage name'),
    ({'timeout_s': None}, 'timeout_s', 'missing required field'),
    ({'timeout_s': 0}, 'timeout_s', '> 0'),
    ({'timeout_s': 121}, 'timeout_s', '<= 120'),
    ({'subgoal': ()}, 'subgoal', 'needs a subgoal or a gripper action'),
    ({'post': ()}, 'post', 'needs at least one post condition'),
    ({'subgoal': (REACHED,)}, 'subgoal[0]', 'expected a Constraint, got Condition'),
    ({'post': (REACH,)}, 'post[0]', 'expected a Condition'),
    ({'subgoal': (REACH,) * 33}, 'subgoal[32]', 'too many constraints in this stage: 33 > 32'),
    ({'subgoal': (REACH,) * 20, 'path': (UPRIGHT,) * 13}, 'path[12]',
     '20 in subgoal + 13 in path > 32'),
    ({'pre': (HOLDING,) * 33}, 'pre[32]', 'too many conditions'),
    ({'gripper': 'open'}, 'gripper', 'expected a GripperAction'),
    ({'path': REACH}, 'path', 'expected a list'),
    ({'hold_s': -1.0}, 'hold_s', '>= 0'),
    ({'hold_s': 10.0}, 'hold_s', 'must be shorter than timeout_s'),
    ({'hold_s': float('nan')}, 'hold_s', 'finite'),
])
def test_stage_rejects(kwargs, path, reason):
    with pytest.raises(ProgramError) as info:
        stage(**kwargs)
    assert (info.value.path, reason in info.value.reason) == (path, True)


def test_program_accessors():
    program = ConstraintProgram('demo', ('mug/handle', 'mug/body'),
                                (stage('a'), stage('b', path=(UPRIGHT,), pre=(HOLDING,))))
    assert program.objects == ('mug',)
    assert program.constraints() == (REACH, REACH, UPRIGHT)
    assert program.conditions() == (REACHED, HOLDING, REACHED)
    assert program.stage('b').path == (UPRIGHT,)
    with pytest.raises(KeyError):
        program.stage('c')


@pytest.mark.parametrize('regions,stages,path,reason', [
    (('mug/handle',), (), 'stages', 'at least one stage'),
    (('mug/handle',), (stage(),) * 33, 'stages[32]', 'too many stages'),
    (('mug/handle',), (stage(), stage()), 'stages[1].name', 'duplicated stage name "reach"'),
    (('mug/handle', 'mug/handle'), (stage(),), 'regions[1]', 'duplicated region'),
    (('mug',), (stage(),), 'regions[0]', 'object/part'),
    (tuple(f'o/p{i}' for i in range(65)), (stage(),), 'regions[64]', 'too many regions'),
    ((), (stage(),), 'stages[0].subgoal[0].b.of', 'region "mug/handle" is not listed'),
    (('mug/handle',), (stage(path=(UPRIGHT,)),), 'stages[0].path[0].a.of', '"mug/body"'),
    (('cup/handle', 'mug/handle'), (stage(pre=(Condition('grasped', object='cup'),)),
                                    stage('b', pre=(Condition('grasped', object='pan'),))),
     'stages[1].pre[0].object', 'object "pan" owns no region listed in "regions"'),
    (('mug/handle',), (REACH,), 'stages[0]', 'expected a Stage'),
])
def test_program_rejects(regions, stages, path, reason):
    with pytest.raises(ProgramError) as info:
        ConstraintProgram('demo', regions, stages)
    assert (info.value.path, reason in info.value.reason) == (path, True)
