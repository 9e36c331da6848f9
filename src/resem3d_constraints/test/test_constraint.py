"""Tests of the Constraint dataclass: defaults, validation and references."""

import math

import numpy as np
import pytest

from resem3d_constraints import AxisAnchor, Constraint, PointAnchor, ProgramError

TCP = PointAnchor('tool')
HANDLE = PointAnchor('mug/handle', 'centroid')
Z = AxisAnchor('tool', 'z')
UP = AxisAnchor('world', 'z')


def test_defaults_per_kind():
    distance = Constraint('distance', a=TCP, b=HANDLE, max_m=0.1)
    assert (distance.min_m, distance.weight, distance.hard, distance.gain) == (0.0, 1.0, False,
                                                                               None)
    assert distance.tolerance == 0.005 and distance.unit == 'm'
    align = Constraint('align', a=Z, b=UP)
    assert align.tolerance == 0.05 and align.unit == 'rad'
    offset = Constraint('offset', a=TCP, b=HANDLE, offset_m=np.array([0, 0, 0.1]))
    assert offset.frame == 'world' and offset.offset_m == (0.0, 0.0, 0.1)
    above = Constraint('above', point=TCP, region='bowl/rim')
    assert above.min_height_m == 0.0 and above.max_height_m is None and above.radius_m is None
    assert Constraint('inside', point=TCP, region='bowl/rim').margin_m == 0.0


def test_equality_and_hash_ignore_derived_arrays():
    first = Constraint('offset', a=TCP, b=HANDLE, offset_m=(0.0, 0.0, 0.1), weight=2)
    second = Constraint('offset', a=TCP, b=HANDLE, offset_m=[0, 0, 0.1], weight=2.0)
    assert first == second and hash(first) == hash(second)
    assert first != Constraint('offset', a=TCP, b=HANDLE, offset_m=(0.0, 0.0, 0.2))


@pytest.mark.parametrize('kwargs,path,reason', [
    ({'kind': 'reach'}, 'kind', 'unknown constraint kind "reach"'),
    ({'kind': 'grasped'}, 'kind', 'is a condition kind'),
    ({'kind': None}, 'kind', 'expected a string'),
    ({'kind': 'distance', 'a': TCP}, 'b', 'missing required field'),
    ({'kind': 'distance', 'a': TCP, 'b': HANDLE, 'angle_rad': 1.0}, 'angle_rad',
     'not a field of kind "distance"'),
    ({'kind': 'distance', 'a': TCP, 'b': HANDLE, 'min_m': 0.2, 'max_m': 0.1}, 'max_m',
     'must be >= min_m'),
    ({'kind': 'distance', 'a': Z, 'b': HANDLE}, 'a',
     'expected a point anchor, got an axis anchor'),
    ({'kind': 'align', 'a': Z, 'b': TCP}, 'b', 'expected an axis anchor, got a point anchor'),
    ({'kind': 'align', 'a': Z, 'b': 'tool'}, 'b', 'expected an axis anchor, got a str'),
    ({'kind': 'angle', 'a': Z, 'b': UP}, 'angle_rad', 'missing required field'),
    ({'kind': 'angle', 'a': Z, 'b': UP, 'angle_rad': 4.0}, 'angle_rad', 'must be <= 3.14159'),
    ({'kind': 'align', 'a': Z, 'b': UP, 'tolerance': 3.2}, 'tolerance', '<= 3.14159'),
    ({'kind': 'inside', 'point': TCP, 'region': 'r/s', 'tolerance': 1.5}, 'tolerance', '<= 1'),
    ({'kind': 'align', 'a': Z, 'b': UP, 'weight': 0}, 'weight', 'must be > 0'),
    ({'kind': 'align', 'a': Z, 'b': UP, 'weight': 1001}, 'weight', 'must be <= 1000'),
    ({'kind': 'align', 'a': Z, 'b': UP, 'gain': 0.0}, 'gain', 'must be > 0'),
    ({'kind': 'align', 'a': Z, 'b': UP, 'hard': 1}, 'hard', 'expected true or false'),
    ({'kind': 'offset', 'a': TCP, 'b': HANDLE, 'offset_m': (2.0, 1.0, 0.0)}, 'offset_m',
     'longer than 2 m'),
    ({'kind': 'offset', 'a': TCP, 'b': HANDLE, 'offset_m': (0, 0, 0), 'frame': 'tool'},
     'frame', 'unknown value "tool"'),
    ({'kind': 'above', 'point': TCP, 'region': 'bowl'}, 'region', 'object/part'),
    ({'kind': 'above', 'point': TCP, 'region': 'bowl/rim', 'min_height_m': 0.3,
      'max_height_m': 0.2}, 'max_height_m', 'must be >= min_height_m'),
    ({'kind': 'above', 'point': TCP, 'region': 'bowl/rim', 'radius_m': 0.0}, 'radius_m',
     'must be > 0'),
    ({'kind': 'keep_away', 'point': TCP, 'region': 'bowl/rim'}, 'margin_m', 'missing'),
    ({'kind': 'keep_away', 'point': TCP, 'region': 'bowl/rim', 'margin_m': 2.5}, 'margin_m',
     '<= 2'),
])
def test_rejects(kwargs, path, reason):
    with pytest.raises(ProgramError) as info:
        Constraint(**kwargs)
    assert info.value.path == path
    assert reason in info.value.reason


def test_references():
    constraint = Constraint('distance', a=HANDLE, b=PointAnchor('bowl/rim', 'top', at='init'))
    assert constraint.references() == (('a.of', 'mug/handle'), ('b.of', 'bowl/rim'))
    keep_away = Constraint('keep_away', point=TCP, region='table/top', margin_m=0.01)
    assert keep_away.references() == (('region', 'table/top'),)


def test_angle_accepts_the_full_range():
    for angle in (0.0, math.pi / 2, math.pi):
        assert Constraint('angle', a=Z, b=UP, angle_rad=angle).angle_rad == angle
