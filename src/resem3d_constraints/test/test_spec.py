"""Tests of the vocabulary tables and the scalar checks."""

import math

import numpy as np
import pytest

from resem3d_constraints import ProgramError
from resem3d_constraints.spec import (check_choice, check_length, check_name, check_number,
                                      check_region_name, check_vector3, condition_fields,
                                      CONDITION_KINDS, constraint_fields, CONSTRAINT_KINDS,
                                      KIND_DOCS, tolerance_field, unit)


def test_every_kind_is_documented_and_has_fields():
    assert set(KIND_DOCS) == set(CONDITION_KINDS)
    for kind in CONSTRAINT_KINDS:
        names = [f.name for f in constraint_fields(kind)]
        assert len(names) == len(set(names))
        assert {'weight', 'tolerance', 'hard', 'gain'} <= set(names)
        assert all(f.doc for f in constraint_fields(kind))
    for kind in CONDITION_KINDS:
        names = {f.name for f in condition_fields(kind)}
        assert not names & {'weight', 'hard', 'gain'}


def test_units_and_tolerance_bounds():
    assert unit('align') == unit('angle') == 'rad' and unit('distance') == 'm'
    assert tolerance_field('angle').maximum == pytest.approx(math.pi)
    assert tolerance_field('offset').maximum == 1.0


@pytest.mark.parametrize('value,kwargs,reason', [
    (True, {}, 'expected a number, got true'),
    ('1', {}, 'expected a number, got the string "1"'),
    (None, {}, 'expected a number, got null'),
    (float('nan'), {}, 'expected a finite number, got NaN'),
    (float('inf'), {}, 'expected a finite number, got Infinity'),
    (10**400, {}, 'expected a finite number, got a very large integer'),
    (-0.1, {'minimum': 0.0}, 'must be >= 0, got -0.1'),
    (0.0, {'minimum': 0.0, 'exclusive_minimum': True}, 'must be > 0, got 0'),
    (2.5, {'maximum': 2.0}, 'must be <= 2, got 2.5'),
])
def test_check_number_rejects(value, kwargs, reason):
    with pytest.raises(ProgramError) as info:
        check_number('x', value, **kwargs)
    assert info.value.path == 'x' and info.value.reason == reason


def test_check_number_accepts_ints_and_numpy_scalars():
    assert check_number('x', 3) == 3.0 and isinstance(check_number('x', 3), float)
    assert check_number('x', np.float32(0.5), 0.0, 1.0) == 0.5
    assert check_number('x', np.int64(2)) == 2.0


def test_check_vector3():
    assert check_vector3('v', [1, 0.5, 0]) == (1.0, 0.5, 0.0)
    assert check_vector3('v', np.array([0.1, 0.2, 0.3])) == (0.1, 0.2, 0.3)
    for value, path, reason in (('abc', 'v', 'expected a list of 3 numbers'),
                                ([1, 2], 'v', 'got 2 items'),
                                ([1, 'a', 2], 'v[1]', 'expected a number'),
                                ([3, 0, 0], 'v', 'longer than 2 m')):
        with pytest.raises(ProgramError) as info:
            check_vector3('v', value, 2.0)
        assert (info.value.path, reason in info.value.reason) == (path, True)


@pytest.mark.parametrize('check,value,reason', [
    (check_name, 'a' * 65, 'longer than 64'),
    (check_name, 'has space', 'must match'),
    (check_name, '-lead', 'must match'),
    (check_name, 3, 'expected a string'),
    (check_name, 'stage\n', 'must match'),                    # '$' would let this through
    (check_name, 'stage\nx', 'must match'),
    (check_region_name, 'mug/handle\n', 'must look like object/part'),
    (check_region_name, 'mug\n/handle', 'must look like object/part'),
    (check_region_name, 'mug', 'must look like object/part'),
    (check_region_name, 'mug/handle/x', 'must look like object/part'),
    (check_region_name, 'world/x', 'reserved'),
    (check_region_name, 'm/' + 'a' * 63, 'longer than 64'),
    (lambda n, v: check_choice(n, v, ('a', 'b')), 'c', 'unknown value "c"; expected one of a, b'),
])
def test_name_checks_reject(check, value, reason):
    with pytest.raises(ProgramError) as info:
        check('n', value)
    assert reason in info.value.reason


def test_name_checks_accept():
    assert check_name('n', 'Stage_1.a-b') == 'Stage_1.a-b'
    assert check_region_name('n', 'kettle/spout_tip') == 'kettle/spout_tip'


def test_check_length_names_the_first_extra_item():
    check_length('stages', [0] * 32, 32, 'stages')
    with pytest.raises(ProgramError) as info:
        check_length('stages', [0] * 33, 32, 'stages')
    assert str(info.value) == 'stages[32]: too many stages: 33 > 32'
    with pytest.raises(ProgramError, match='expected a list, got an object'):
        check_length('stages', {}, 32, 'stages')
