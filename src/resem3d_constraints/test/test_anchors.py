"""Tests of point and axis anchors: validation, values and Jacobians."""

import numpy as np
import pytest

from resem3d_constraints import (AxisAnchor, PointAnchor, ProgramError, Region, resolve_axis,
                                 resolve_point, SceneError, SceneState)
from resem3d_constraints.testing import numeric_jacobian, random_pose


@pytest.fixture
def scene():
    rng = np.random.default_rng(11)
    handle = Region.from_points('mug/handle', rng.normal(size=(30, 3)) * [0.04, 0.02, 0.01])
    rim = Region.from_points('bowl/rim', rng.normal(size=(30, 3)) * [0.08, 0.08, 0.005])
    return SceneState(T_base_tool=random_pose(rng),
                      T_base_obj={'mug': random_pose(rng), 'bowl': random_pose(rng)},
                      regions={'mug/handle': handle, 'bowl/rim': rim}, held=frozenset({'mug'}),
                      T_base_obj_init={'mug': random_pose(rng), 'bowl': random_pose(rng)})


def test_point_anchor_defaults():
    assert PointAnchor('tool').feature == 'tcp'
    assert PointAnchor('world').feature == 'origin'
    anchor = PointAnchor('mug/handle', 'top', offset_m=np.array([0.0, 0.0, 0.1]))
    assert anchor.offset_m == (0.0, 0.0, 0.1) and anchor.at == 'live' and anchor.is_region
    assert anchor == PointAnchor('mug/handle', 'top', (0.0, 0.0, 0.1))
    assert hash(anchor) == hash(PointAnchor('mug/handle', 'top', (0.0, 0.0, 0.1)))
    assert not PointAnchor('tool').is_region


@pytest.mark.parametrize('kwargs,path,reason', [
    ({'of': 'mug/handle'}, 'point', 'missing required field'),
    ({'of': 'robot'}, 'of', 'unknown anchor owner'),
    ({'of': 'mug handle/x'}, 'of', 'must look like object/part'),
    ({'of': 'tool/x', 'feature': 'top'}, 'of', 'reserved'),
    ({'of': 7}, 'of', 'expected a string'),
    ({'of': 'mug/handle', 'feature': 'normal'}, 'point', 'is an axis feature of a region'),
    ({'of': 'tool', 'feature': 'z'}, 'point', 'is an axis feature of the tool'),
    ({'of': 'mug/handle', 'feature': 'tip'}, 'point', 'unknown point feature "tip"'),
    ({'of': 'world', 'feature': 'tcp'}, 'point', 'unknown point feature "tcp" of the world'),
    ({'of': 'tool', 'offset_m': (0.0, 3.0, 0.0)}, 'offset_m', 'longer than 2 m'),
    ({'of': 'tool', 'offset_m': (0.0, 0.0)}, 'offset_m', 'got 2 items'),
    ({'of': 'tool', 'offset_m': (0.0, float('nan'), 0.0)}, 'offset_m[1]', 'finite'),
    ({'of': 'tool', 'at': 'init'}, 'at', 'region anchors only'),
    ({'of': 'mug/handle', 'feature': 'top', 'at': 'later'}, 'at', 'unknown value'),
])
def test_point_anchor_rejects(kwargs, path, reason):
    with pytest.raises(ProgramError) as info:
        PointAnchor(**kwargs)
    assert info.value.path == path
    assert reason in info.value.reason


@pytest.mark.parametrize('kwargs,path,reason', [
    ({'of': 'tool', 'feature': 'tcp'}, 'axis', 'is a point feature of the tool'),
    ({'of': 'mug/handle', 'feature': 'centroid'}, 'axis', 'is a point feature of a region'),
    ({'of': 'world', 'feature': 'normal'}, 'axis', 'unknown axis feature'),
    ({'of': 'mug/handle', 'feature': None}, 'axis', 'missing'),
    ({'of': 'world', 'feature': 'z', 'at': 'init'}, 'at', 'region anchors only'),
])
def test_axis_anchor_rejects(kwargs, path, reason):
    with pytest.raises(ProgramError) as info:
        AxisAnchor(**kwargs)
    assert (info.value.path, reason in info.value.reason) == (path, True)


def test_tool_point_and_axis(scene):
    T = scene.T_base_tool
    p, J = resolve_point(PointAnchor('tool', offset_m=(0.0, 0.0, 0.1)), scene)
    np.testing.assert_allclose(p, T[:3, 3] + 0.1 * T[:3, 2])
    np.testing.assert_allclose(J[:, :3], np.eye(3))
    a, J = resolve_axis(AxisAnchor('tool', '-y'), scene)
    np.testing.assert_allclose(a, -T[:3, 1])
    np.testing.assert_allclose(J[:, :3], np.zeros((3, 3)))


def test_world_anchors_are_fixed(scene):
    p, J = resolve_point(PointAnchor('world', offset_m=(0.1, 0.2, 0.3)), scene)
    np.testing.assert_array_equal(p, [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(J, np.zeros((3, 6)))
    a, J = resolve_axis(AxisAnchor('world', 'z'), scene)
    np.testing.assert_array_equal(a, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(J, np.zeros((3, 6)))
    J[0, 0] = 1.0  # returned arrays are the caller's
    assert resolve_axis(AxisAnchor('world', 'z'), scene)[1][0, 0] == 0.0


def test_region_point_uses_live_or_init_pose(scene):
    region = scene.regions['bowl/rim']
    for at, poses in (('live', scene.T_base_obj), ('init', scene.T_base_obj_init)):
        p, _ = resolve_point(PointAnchor('bowl/rim', 'centroid', (0.0, 0.0, 0.05), at), scene)
        T = poses['bowl']
        np.testing.assert_allclose(p, T[:3, :3] @ (region.centroid_obj + [0, 0, 0.05])
                                   + T[:3, 3])


@pytest.mark.parametrize('anchor', [
    PointAnchor('tool', offset_m=(0.02, 0.03, 0.1)),
    PointAnchor('tool'),
    PointAnchor('mug/handle', 'bottom', offset_m=(0.0, 0.01, 0.0)),
    PointAnchor('mug/handle', 'center', at='init'),
    PointAnchor('bowl/rim', 'top'),
    PointAnchor('world', offset_m=(0.3, 0.0, 0.1)),
])
def test_point_jacobian_matches_finite_differences(scene, anchor):
    _, J = resolve_point(anchor, scene)
    expected = numeric_jacobian(lambda s: resolve_point(anchor, s)[0], scene)
    np.testing.assert_allclose(J, expected, atol=1e-7)


@pytest.mark.parametrize('anchor', [
    AxisAnchor('tool', 'x'), AxisAnchor('mug/handle', '-minor'),
    AxisAnchor('mug/handle', 'z', at='init'), AxisAnchor('bowl/rim', 'normal'),
    AxisAnchor('world', '-x'),
])
def test_axis_jacobian_matches_finite_differences(scene, anchor):
    a, J = resolve_axis(anchor, scene)
    assert np.linalg.norm(a) == pytest.approx(1.0)
    expected = numeric_jacobian(lambda s: resolve_axis(anchor, s)[0], scene)
    np.testing.assert_allclose(J, expected, atol=1e-7)


def test_held_live_anchor_moves_and_init_anchor_does_not(scene):
    _, J_live = resolve_point(PointAnchor('mug/handle', 'top'), scene)
    _, J_init = resolve_point(PointAnchor('mug/handle', 'top', at='init'), scene)
    assert np.abs(J_live).max() > 0.5
    np.testing.assert_array_equal(J_init, np.zeros((3, 6)))


def test_missing_scene_entries_raise_scene_error(scene):
    with pytest.raises(SceneError, match='cup/rim'):
        resolve_point(PointAnchor('cup/rim', 'top'), scene)
    del scene.T_base_obj['bowl']
    with pytest.raises(SceneError, match='bowl'):
        resolve_axis(AxisAnchor('bowl/rim', 'normal'), scene)
