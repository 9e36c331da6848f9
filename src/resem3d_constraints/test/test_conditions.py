"""Tests of conditions: validation and the predicates' outcome and margin."""

import numpy as np
import pytest

from resem3d_constraints import (AxisAnchor, check, Condition, Constraint, PointAnchor,
                                 ProgramError, Region, SceneState)
from resem3d_constraints.spatial import so3_exp


@pytest.fixture
def scene():
    region = Region.from_points('mug/handle', [[0.0, 0.0, 0.0]])
    T_obj = np.eye(4)
    T_obj[:3, 3] = [0.5, 0.0, 0.2]
    T_tool = np.eye(4)
    T_tool[:3, 3] = [0.5, 0.0, 0.23]
    return SceneState(T_base_tool=T_tool, T_base_obj={'mug': T_obj},
                      regions={'mug/handle': region}, gripper_width_m=0.03)


def reach(max_m, tolerance):
    return Condition.from_constraint(Constraint(
        'distance', a=PointAnchor('tool'), b=PointAnchor('mug/handle', 'centroid'),
        max_m=max_m, tolerance=tolerance))


def test_distance_condition_margin(scene):
    result = check(reach(0.02, 0.005), scene)
    assert not result.satisfied
    assert result.margin == pytest.approx(0.005 - 0.01)
    assert 'distance' in result.detail and 'm' in result.detail
    result = check(reach(0.02, 0.015), scene)
    assert result.satisfied and result.margin == pytest.approx(0.005)
    result = check(reach(0.05, 0.0), scene)
    assert result.satisfied and result.margin == 0.0


def test_align_condition_margin_in_radians(scene):
    scene.T_base_tool[:3, :3] = so3_exp(np.array([0.1, 0.0, 0.0]))
    condition = Condition('align', constraint=Constraint(
        'align', a=AxisAnchor('tool', 'z'), b=AxisAnchor('world', 'z'), tolerance=0.15))
    result = check(condition, scene)
    assert result.satisfied and result.margin == pytest.approx(0.05)
    assert condition.unit == 'rad' and 'rad' in result.detail


def test_multi_row_condition_uses_the_worst_row(scene):
    condition = Condition.from_constraint(Constraint(
        'offset', a=PointAnchor('tool'), b=PointAnchor('mug/handle', 'centroid'),
        offset_m=(0.01, 0.0, 0.0), tolerance=0.01))
    result = check(condition, scene)  # offsets (-0.01, 0, 0.03): worst 0.03
    assert result.margin == pytest.approx(0.01 - 0.03)


def test_gripper_open(scene):
    condition = Condition('gripper_open', min_width_m=0.07)
    result = check(condition, scene)
    assert not result.satisfied and result.margin == pytest.approx(-0.04)
    scene.gripper_width_m = 0.08
    result = check(condition, scene)
    assert result.satisfied and result.margin == pytest.approx(0.01)


def test_grasped(scene):
    condition = Condition('grasped', object='mug', min_width_m=0.01)
    result = check(condition, scene)
    assert not result.satisfied and result.margin == -1.0 and 'no grasp' in result.detail
    scene.gripper_grasping = True
    result = check(condition, scene)
    assert not result.satisfied and 'not held' in result.detail
    scene.held = frozenset({'mug'})
    result = check(condition, scene)
    assert result.satisfied and result.margin == pytest.approx(0.02)
    scene.gripper_width_m = 0.005
    result = check(condition, scene)
    assert not result.satisfied and result.margin == pytest.approx(-0.005)
    assert check(Condition('grasped', object='mug'), scene).satisfied


@pytest.mark.parametrize('kwargs,path,reason', [
    ({'kind': 'touching'}, 'kind', 'unknown condition kind "touching"'),
    ({'kind': 'distance'}, 'constraint', 'expected a Constraint of kind "distance"'),
    ({'kind': 'align', 'constraint': Constraint('distance', a=PointAnchor('tool'),
                                                b=PointAnchor('world'))},
     'constraint', 'of kind "align"'),
    ({'kind': 'grasped'}, 'object', 'missing required field'),
    ({'kind': 'grasped', 'object': 'mug/handle'}, 'object', 'must match'),
    ({'kind': 'gripper_open'}, 'min_width_m', 'missing required field'),
    ({'kind': 'gripper_open', 'min_width_m': 0.1}, 'min_width_m', '<= 0.08'),
    ({'kind': 'gripper_open', 'min_width_m': 0.05, 'object': 'mug'}, 'object',
     'not a field of kind "gripper_open"'),
])
def test_rejects(kwargs, path, reason):
    with pytest.raises(ProgramError) as info:
        Condition(**kwargs)
    assert (info.value.path, reason in info.value.reason) == (path, True)


def test_references():
    assert Condition('grasped', object='mug').references() == (('object', 'mug'),)
    assert reach(0.1, 0.01).references() == (('b.of', 'mug/handle'),)
