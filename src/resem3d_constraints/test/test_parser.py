"""Tests of parse_program and program_to_json: exact error paths, round trips, robustness."""

import copy
import json

from hypothesis import given, HealthCheck, settings, strategies as st
import pytest

from resem3d_constraints import (Constraint, ConstraintProgram, parse_program, PointAnchor,
                                 program_to_json, ProgramError)
from resem3d_constraints.examples import example_names, load_example

DELETE = object()
TCP = {'of': 'tool', 'point': 'tcp'}
HANDLE = {'of': 'mug/handle', 'point': 'centroid'}
REACH = {'kind': 'distance', 'a': TCP, 'b': HANDLE, 'max_m': 0.01}


def base() -> dict:
    return copy.deepcopy({
        'version': 1, 'name': 'demo', 'regions': ['mug/handle', 'mug/body', 'table/top'],
        'stages': [
            {'name': 'open', 'gripper': {'action': 'open'}, 'timeout_s': 5},
            {'name': 'reach',
             'subgoal': [REACH, {'kind': 'align', 'a': {'of': 'tool', 'axis': 'z'},
                                 'b': {'of': 'world', 'axis': '-z'}}],
             'path': [{'kind': 'keep_away', 'point': {'of': 'tool'}, 'region': 'table/top',
                       'margin_m': 0.02, 'hard': True}],
             'pre': [{'kind': 'gripper_open', 'min_width_m': 0.07}],
             'post': [{**REACH, 'tolerance': 0.005}],
             'timeout_s': 10}]})


def edited(path: tuple, value) -> dict:
    program = base()
    target = program
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return program


def test_base_program_parses():
    program = parse_program(base())
    assert isinstance(program, ConstraintProgram)
    reach = program.stages[1].subgoal[0]
    assert reach == Constraint('distance', a=PointAnchor('tool'),
                               b=PointAnchor('mug/handle', 'centroid'), max_m=0.01)
    assert program.stages[0].gripper.width_m == 0.08
    assert program.stages[1].path[0].hard is True


S = ('stages', 1)
SUB = S + ('subgoal', 0)
CASES = [
    # (edit path, value, error path, reason substring)
    (SUB + ('kind',), 'reach', 'stages[1].subgoal[0].kind', 'unknown constraint kind "reach"'),
    (SUB + ('kind',), 'grasped', 'stages[1].subgoal[0].kind', 'is a condition kind'),
    (SUB + ('kind',), 3, 'stages[1].subgoal[0].kind', 'expected a string, got 3'),
    (SUB + ('kind',), DELETE, 'stages[1].subgoal[0].kind', 'missing required field'),
    (S + ('post', 0, 'kind'), 'near', 'stages[1].post[0].kind', 'unknown condition kind'),
    (SUB + ('foo',), 1, 'stages[1].subgoal[0].foo', 'unknown field; expected one of kind, a,'),
    (SUB + ('bad key\n',), 1, 'stages[1].subgoal[0]["bad key\\n"]', 'unknown field'),
    (('extra',), 1, 'extra', 'unknown field; expected one of version, name, regions, stages'),
    (S + ('timeout_s',), DELETE, 'stages[1].timeout_s', 'missing required field'),
    (S + ('name',), DELETE, 'stages[1].name', 'missing required field'),
    (('stages',), DELETE, 'stages', 'missing required field'),
    (('version',), 2, 'version', 'unsupported version 2; expected 1'),
    (('version',), True, 'version', 'unsupported version true'),
    (SUB + ('b',), DELETE, 'stages[1].subgoal[0].b', 'missing required field'),
    (SUB + ('b', 'of'), 'mug/lid', 'stages[1].subgoal[0].b.of',
     'region "mug/lid" is not listed in "regions"'),
    (SUB + ('b', 'of'), 'robot', 'stages[1].subgoal[0].b.of', 'unknown anchor owner "robot"'),
    (SUB + ('b', 'of'), DELETE, 'stages[1].subgoal[0].b.of', 'missing required field'),
    (SUB + ('b',), 'tool', 'stages[1].subgoal[0].b', 'expected a point anchor object'),
    (SUB + ('b',), {'of': 'mug/handle', 'axis': 'normal'}, 'stages[1].subgoal[0].b.axis',
     'an axis where a point is needed'),
    (S + ('subgoal', 1, 'a'), TCP, 'stages[1].subgoal[1].a.point',
     'a point where an axis is needed'),
    (SUB + ('b', 'point'), 'normal', 'stages[1].subgoal[0].b.point',
     '"normal" is an axis feature of a region, not a point feature'),
    (S + ('subgoal', 1, 'a', 'axis'), 'tcp', 'stages[1].subgoal[1].a.axis',
     '"tcp" is a point feature of the tool'),
    (SUB + ('b', 'point'), 'tip', 'stages[1].subgoal[0].b.point', 'unknown point feature "tip"'),
    (SUB + ('a', 'at'), 'init', 'stages[1].subgoal[0].a.at', 'region anchors only'),
    (SUB + ('b', 'at'), 'then', 'stages[1].subgoal[0].b.at', 'unknown value "then"'),
    (SUB + ('b', 'offset_m'), [0, 0], 'stages[1].subgoal[0].b.offset_m', 'got 2 items'),
    (SUB + ('b', 'offset_m'), [0, 'x', 0], 'stages[1].subgoal[0].b.offset_m[1]',
     'expected a number, got the string "x"'),
    (SUB + ('b', 'offset_m'), [0, 0, 2.5], 'stages[1].subgoal[0].b.offset_m',
     'longer than 2 m'),
    (S + ('subgoal', 1, 'a', 'offset_m'), [0, 0, 1], 'stages[1].subgoal[1].a.offset_m',
     'unknown field; expected one of of, axis, at'),
    (SUB + ('weight',), True, 'stages[1].subgoal[0].weight', 'expected a number, got true'),
    (SUB + ('max_m',), '0.1', 'stages[1].subgoal[0].max_m', 'expected a number, got the str'),
    (SUB + ('weight',), 0, 'stages[1].subgoal[0].weight', 'must be > 0'),
    (SUB + ('weight',), 1e4, 'stages[1].subgoal[0].weight', 'must be <= 1000'),
    (SUB + ('tolerance',), 1.5, 'stages[1].subgoal[0].tolerance', 'must be <= 1'),
    (S + ('subgoal', 1, 'tolerance'), 4, 'stages[1].subgoal[1].tolerance', '<= 3.14159'),
    (SUB + ('tolerance',), -0.1, 'stages[1].subgoal[0].tolerance', 'must be >= 0'),
    (SUB + ('max_m',), 3, 'stages[1].subgoal[0].max_m', 'must be <= 2'),
    (SUB + ('min_m',), 0.5, 'stages[1].subgoal[0].max_m', 'must be >= min_m'),
    (SUB + ('hard',), 'yes', 'stages[1].subgoal[0].hard', 'expected true or false'),
    (SUB + ('gain',), 0, 'stages[1].subgoal[0].gain', 'must be > 0'),
    (S + ('subgoal', 1, 'kind'), 'angle', 'stages[1].subgoal[1].angle_rad', 'missing'),
    (S + ('path', 0, 'region'), 'table', 'stages[1].path[0].region', 'object/part'),
    (S + ('path', 0, 'region'), 'bowl/rim', 'stages[1].path[0].region', 'not listed'),
    (S + ('path', 0, 'margin_m'), DELETE, 'stages[1].path[0].margin_m', 'missing'),
    (S + ('path', 0, 'margin_m'), None, 'stages[1].path[0].margin_m', 'missing'),
    (S + ('post', 0, 'weight'), 2, 'stages[1].post[0].weight', 'unknown field'),
    (S + ('pre', 0), {'kind': 'grasped', 'object': 'kettle'}, 'stages[1].pre[0].object',
     'object "kettle" owns no region'),
    (S + ('pre', 0, 'min_width_m'), 0.09, 'stages[1].pre[0].min_width_m', '<= 0.08'),
    (S + ('post',), [], 'stages[1].post', 'needs at least one post condition'),
    (S + ('subgoal',), [], 'stages[1].subgoal', 'needs a subgoal or a gripper action'),
    (S + ('subgoal',), {}, 'stages[1].subgoal', 'expected a list, got an object'),
    (S + ('subgoal',), [REACH] * 33, 'stages[1].subgoal[32]', 'too many constraints'),
    (S + ('path',), [REACH] * 31, 'stages[1].path[30]', '2 in subgoal + 31 in path > 32'),
    (S + ('post',), [REACH] * 40, 'stages[1].post[32]', 'too many conditions'),
    (S + ('timeout_s',), 0, 'stages[1].timeout_s', 'must be > 0'),
    (S + ('timeout_s',), 600, 'stages[1].timeout_s', 'must be <= 120'),
    (S + ('name',), 'open', 'stages[1].name', 'duplicated stage name "open"'),
    (S + ('name',), 'has space', 'stages[1].name', 'must match'),
    (('stages', 0, 'gripper', 'action'), 'squeeze', 'stages[0].gripper.action',
     'unknown value "squeeze"; expected one of open, close, grasp, move'),
    (('stages', 0, 'gripper', 'action'), 'move', 'stages[0].gripper.width_m',
     'required for action "move"'),
    (('stages', 0, 'gripper', 'width_m'), 0.1, 'stages[0].gripper.width_m', '<= 0.08'),
    (('stages', 0, 'gripper', 'force_n'), 80, 'stages[0].gripper.force_n', '<= 70'),
    (('stages', 0, 'gripper', 'colour'), 'red', 'stages[0].gripper.colour', 'unknown field'),
    (('stages', 0, 'gripper'), 'open', 'stages[0].gripper', 'expected an object'),
    (('stages', 0, 'post'), [{**REACH, 'b': {'of': 'cup/rim', 'point': 'top'}}],
     'stages[0].post[0].b.of', 'region "cup/rim" is not listed'),
    (('stages',), [], 'stages', 'at least one stage'),
    (('stages',), [{}] * 33, 'stages[32]', 'too many stages: 33 > 32'),
    (('stages', 0), [], 'stages[0]', 'expected an object, got a list'),
    (('regions',), ['mug/handle'] * 2, 'regions[1]', 'duplicated region "mug/handle"'),
    (('regions',), [f'o/p{i}' for i in range(65)], 'regions[64]', 'too many regions'),
    (('regions', 0), 'mug', 'regions[0]', 'must look like object/part'),
    (('regions', 0), 'tool/x', 'regions[0]', 'reserved'),
    (('regions', 0), 'mug/handle\n', 'regions[0]', 'must look like object/part'),
    (('regions', 0), 5, 'regions[0]', 'expected a string'),
    (('regions',), 'mug/handle', 'regions', 'expected a list'),
    (('name',), 'x' * 65, 'name', 'longer than 64 characters'),
    (('name',), 'my program!', 'name', 'must match'),
    (('name',), 'demo\n', 'name', 'must match'),
    (('name',), None, 'name', 'missing required field'),
]


@pytest.mark.parametrize('edit,value,path,reason', CASES,
                         ids=[f'{p}:{r[:30]}' for _, _, p, r in CASES])
def test_rejects_with_exact_path(edit, value, path, reason):
    with pytest.raises(ProgramError) as info:
        parse_program(edited(edit, value))
    assert info.value.path == path
    assert reason in info.value.reason
    assert '\n' not in str(info.value)


@pytest.mark.parametrize('token,shown', [('NaN', 'NaN'), ('Infinity', 'Infinity'),
                                         ('-Infinity', '-Infinity'), ('1e999', 'Infinity')])
def test_non_finite_numbers_are_rejected_with_their_path(token, shown):
    text = json.dumps(base()).replace('"max_m": 0.01', f'"max_m": {token}', 1)
    with pytest.raises(ProgramError) as info:
        parse_program(text)
    assert str(info.value) == f'stages[1].subgoal[0].max_m: expected a finite number, got {shown}'


@pytest.mark.parametrize('value', [[], '"text"', 3, None, b'[1]'])
def test_root_must_be_an_object(value):
    with pytest.raises(ProgramError) as info:
        parse_program(value)
    assert info.value.path == '$' and 'expected an object' in info.value.reason


def test_text_and_bytes_input():
    text = json.dumps(base())
    assert parse_program(text) == parse_program(text.encode()) == parse_program(base())
    with pytest.raises(ProgramError, match=r'^\$: not valid JSON \(line 1 column 2\)'):
        parse_program('{,}')


def test_known_regions():
    parse_program(base(), known_regions={'mug/handle', 'mug/body', 'table/top', 'x/y'})
    with pytest.raises(ProgramError) as info:
        parse_program(base(), known_regions=['mug/handle', 'mug/body'])
    assert info.value.path == 'regions[2]'
    assert 'unknown region "table/top"; known regions: mug/body, mug/handle' in str(info.value)


@pytest.mark.parametrize('name', example_names())
def test_examples_round_trip(name):
    program = load_example(name)
    data = program_to_json(program)
    assert parse_program(data) == program
    assert parse_program(json.dumps(data)) == program
    assert program_to_json(parse_program(data)) == data


def test_round_trip_keeps_every_field():
    data = base()
    data['stages'][1]['subgoal'].append(
        {'kind': 'offset', 'a': TCP, 'b': {**HANDLE, 'at': 'init', 'offset_m': [0, 0, 0.1]},
         'offset_m': [0.1, 0, 0], 'frame': 'object', 'gain': 5, 'weight': 3, 'tolerance': 0.01})
    program = parse_program(data)
    out = program_to_json(program)
    offset = out['stages'][1]['subgoal'][2]
    assert offset['b'] == {'of': 'mug/handle', 'point': 'centroid', 'offset_m': [0.0, 0.0, 0.1],
                           'at': 'init'}
    assert (offset['gain'], offset['weight'], offset['frame']) == (5.0, 3.0, 'object')
    assert 'gain' not in out['stages'][1]['subgoal'][0]
    assert parse_program(out) == program


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)
KEYS = st.sampled_from(['version', 'name', 'regions', 'stages', 'subgoal', 'path', 'pre',
                        'post', 'kind', 'a', 'b', 'of', 'point', 'axis', 'timeout_s',
                        'gripper', 'max_m', 'region', 'offset_m', 'at', 'object'])


def expect_program_error_or_program(value, **kwargs):
    try:
        program = parse_program(value, **kwargs)
    except ProgramError as error:
        assert error.path and error.reason and '\n' not in str(error)
        return None
    assert isinstance(program, ConstraintProgram)
    assert parse_program(program_to_json(program)) == program
    return program


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_random_json_values_raise_only_program_errors(value):
    expect_program_error_or_program(value)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_random_text_raises_only_program_errors(data):
    expect_program_error_or_program(data)


def mutate(value, path, replacement):
    """Replace (or delete, for DELETE) the value at ``path`` inside a deep copy."""
    value = copy.deepcopy(value)
    target = value
    for step in path[:-1]:
        target = target[step]
    if replacement is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = replacement
    return value


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, prefix + (i,))


EXAMPLES = {name: program_to_json(load_example(name)) for name in example_names()}
EXAMPLES['base'] = base()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(EXAMPLES)), st.data())
def test_mutated_programs_raise_only_program_errors(name, data):
    program = EXAMPLES[name]
    all_paths = [p for p in paths(program) if p]
    path = data.draw(st.sampled_from(all_paths))
    replacement = data.draw(st.one_of(JSON, KEYS, st.just(DELETE)))
    mutated = mutate(program, path, replacement)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and data.draw(st.booleans()):
        # Also add (or overwrite) a field next to the mutated one.
        mutated = mutate(mutated, path[:-1] + (data.draw(KEYS),), data.draw(JSON))
    expect_program_error_or_program(mutated)
