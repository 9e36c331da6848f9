"""Tests of the exception types and the field-path helpers."""

import pytest

from resem3d_constraints import ConstraintError, ProgramError, RegionError, SceneError
from resem3d_constraints.exceptions import describe, join_path, key_path


def test_program_error_message_and_attributes():
    error = ProgramError('stages[1].subgoal[0].a.of', 'region "x/y" is not listed')
    assert str(error) == 'stages[1].subgoal[0].a.of: region "x/y" is not listed'
    assert error.path == 'stages[1].subgoal[0].a.of' and error.reason.startswith('region')
    assert isinstance(error, ConstraintError) and isinstance(error, ValueError)
    assert str(error.under('stages[2]')) == 'stages[2].stages[1].subgoal[0].a.of: ' \
        'region "x/y" is not listed'


def test_hierarchy():
    assert issubclass(RegionError, ConstraintError) and issubclass(RegionError, ValueError)
    assert issubclass(SceneError, ConstraintError) and issubclass(SceneError, LookupError)


@pytest.mark.parametrize('prefix,path,joined', [
    ('', 'name', 'name'), ('$', 'name', 'name'), ('stages[0]', '$', 'stages[0]'),
    ('stages[0]', '', 'stages[0]'), ('stages', '[3]', 'stages[3]'),
    ('stages[0]', 'a.of', 'stages[0].a.of'), ('', '', '$'),
])
def test_join_path(prefix, path, joined):
    assert join_path(prefix, path) == joined


@pytest.mark.parametrize('key,shown', [
    ('timeout_s', 'timeout_s'), ('bad key\n', '["bad key\\n"]'), (3, '[<int key>]'),
    ('é', '["\\u00e9"]'), ('x' * 100, '["' + 'x' * 40 + '..."]'),
])
def test_key_path_is_one_printable_line(key, shown):
    assert key_path(key) == shown


@pytest.mark.parametrize('value,shown', [
    (None, 'null'), (True, 'true'), (3, '3'), (10**100, 'a very large integer'),
    (float('nan'), 'NaN'), (float('-inf'), '-Infinity'), (0.5, '0.5'),
    ('a\nb', 'the string "a\\nb"'), ({}, 'an object'), ([1] * 10**6, 'a list'),
    (object(), 'a object'),
])
def test_describe(value, shown):
    assert describe(value) == shown


def test_message_conversion_error():
    from resem3d_constraints.exceptions import MessageConversionError, StatusError
    error = MessageConversionError('a.kind', 'unknown anchor kind 9')
    assert str(error) == 'a.kind: unknown anchor kind 9'
    assert (error.path, error.reason) == ('a.kind', 'unknown anchor kind 9')
    assert str(error.under('stages[0].subgoal[1]')) == \
        'stages[0].subgoal[1].a.kind: unknown anchor kind 9'
    assert isinstance(error, ConstraintError) and isinstance(error, ValueError)
    assert issubclass(StatusError, ConstraintError) and issubclass(StatusError, ValueError)
