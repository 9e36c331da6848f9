"""Tests of Region: PCA, bounding box, features, degenerate point sets and validation."""

import numpy as np
import pytest

from resem3d_constraints import Region, RegionError
from resem3d_constraints.spatial import so3_exp


def assert_rotation(R):
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_from_points_recovers_a_rotated_box():
    rng = np.random.default_rng(0)
    R = so3_exp(np.array([0.3, -0.2, 0.5]))
    local = rng.uniform(-1.0, 1.0, size=(2000, 3)) * [0.10, 0.04, 0.01]
    points = local @ R.T + [0.2, -0.1, 0.3]
    region = Region.from_points('plate/top', points)
    assert region.frame == 'plate' and region.object_name == 'plate'
    assert_rotation(region.axes_obj)
    # Major to minor: the columns match the box's long, middle and short sides.
    for i in range(3):
        assert abs(region.axes_obj[:, i] @ R[:, i]) == pytest.approx(1.0, abs=1e-2)
    np.testing.assert_allclose(region.extent_m, [0.2, 0.08, 0.02], rtol=0.1)
    np.testing.assert_allclose(region.centroid_obj, points.mean(axis=0))
    # The minor axis (and default normal) points towards +z of the object frame.
    assert region.axes_obj[2, 2] > 0.0
    np.testing.assert_allclose(region.normal_obj, region.axes_obj[:, 2], atol=1e-15)
    # Every point lies in the box.
    q = (points - region.center_obj) @ region.axes_obj
    assert np.all(np.abs(q) <= region.extent_m / 2 + 1e-12)


def test_features():
    points = np.array([[x, y, z] for x in (-0.1, 0.1) for y in (-0.05, 0.05)
                       for z in (0.0, 0.02)]) + [0.0, 0.0, 0.5]
    # Extra corners on the +x side move the centroid but keep the axes aligned.
    points = np.vstack([points, points[points[:, 0] > 0.0]])
    region = Region.from_points('box/lid', points)
    np.testing.assert_allclose(region.feature_point_obj('center'), [0.0, 0.0, 0.51], atol=1e-12)
    np.testing.assert_allclose(region.feature_point_obj('top'), [0.0, 0.0, 0.52], atol=1e-12)
    np.testing.assert_allclose(region.feature_point_obj('bottom'), [0.0, 0.0, 0.5], atol=1e-12)
    assert region.feature_point_obj('centroid')[0] > 0.0
    np.testing.assert_allclose(region.feature_axis_obj('major'), [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(region.feature_axis_obj('-minor'), [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_array_equal(region.feature_axis_obj('-y'), [0.0, -1.0, 0.0])
    np.testing.assert_allclose(region.feature_axis_obj('normal'), [0.0, 0.0, 1.0], atol=1e-12)
    assert region.half_width_xy_m == pytest.approx(0.1)
    assert region.corners_obj.shape == (8, 3)
    with pytest.raises(RegionError, match='unknown point feature'):
        region.feature_point_obj('tip')
    with pytest.raises(RegionError, match='unknown axis feature'):
        region.feature_axis_obj('top')


@pytest.mark.parametrize('points', [
    [[0.1, 0.2, 0.3]],
    [[0.1, 0.2, 0.3]] * 5,
    [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]],
    [[0.0, 0.0, 0.0], [0.1, 0.1, 0.1], [0.2, 0.2, 0.2]],
    [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.1, 0.1, 0.0]],
    [[1e6, 1e6, 1e6], [1e6 + 1e-9, 1e6, 1e6]],
], ids=['one', 'coincident', 'two', 'collinear', 'coplanar', 'far-and-close'])
def test_degenerate_point_sets_stay_finite(points):
    region = Region.from_points('thing/part', points)
    for name in ('centroid_obj', 'axes_obj', 'normal_obj', 'extent_m', 'center_obj'):
        assert np.all(np.isfinite(getattr(region, name))), name
    assert_rotation(region.axes_obj)
    assert np.linalg.norm(region.normal_obj) == pytest.approx(1.0)
    assert np.all(region.extent_m >= 0.0)


def test_single_point_gets_object_axes():
    region = Region.from_points('thing/part', [[0.1, 0.2, 0.3]])
    np.testing.assert_array_equal(region.axes_obj, np.eye(3))
    np.testing.assert_array_equal(region.extent_m, np.zeros(3))
    np.testing.assert_array_equal(region.center_obj, [0.1, 0.2, 0.3])


def test_coplanar_points_get_the_plane_normal_upwards():
    rng = np.random.default_rng(1)
    R = so3_exp(np.array([0.2, 0.1, 0.0]))
    points = np.column_stack([rng.normal(size=(50, 2)), np.zeros(50)]) @ R.T
    region = Region.from_points('table/top', points)
    np.testing.assert_allclose(region.normal_obj, R[:, 2], atol=1e-9)
    assert region.extent_m[2] == pytest.approx(0.0, abs=1e-12)


def test_explicit_normal_is_normalised():
    region = Region.from_points('drawer/front', [[0, 0, 0], [1, 0, 0]], normal_obj=[2, 0, 0],
                                frame='drawer_link')
    np.testing.assert_array_equal(region.normal_obj, [1.0, 0.0, 0.0])
    assert region.frame == 'drawer_link'


def test_rebuilding_a_region_from_its_fields_is_exact():
    """A unit normal is kept bit for bit, so messages and copies rebuild the same region."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        region = Region.from_points('cup/rim', rng.normal(size=(9, 3)),
                                    normal_obj=rng.normal(size=3))
        copy = Region(name=region.name, frame=region.frame, points_obj=region.points_obj,
                      centroid_obj=region.centroid_obj, axes_obj=region.axes_obj,
                      normal_obj=region.normal_obj, extent_m=region.extent_m,
                      center_obj=region.center_obj)
        np.testing.assert_array_equal(copy.normal_obj, region.normal_obj)
        assert abs(np.linalg.norm(region.normal_obj) - 1.0) < 1e-15


def test_arrays_are_read_only_copies():
    points = np.zeros((2, 3))
    points[1] = 1.0
    region = Region.from_points('a/b', points)
    points[0] = 5.0
    assert region.points_obj[0, 0] == 0.0
    with pytest.raises(ValueError):
        region.centroid_obj[0] = 1.0


def test_from_points_is_deterministic():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(100, 3))
    first, second = Region.from_points('a/b', points), Region.from_points('a/b', points)
    np.testing.assert_array_equal(first.axes_obj, second.axes_obj)


@pytest.mark.parametrize('name,points,match', [
    ('a/b', np.zeros((0, 3)), 'N >= 1'),
    ('a/b', [[0.0, np.nan, 0.0]], 'not finite'),
    ('a/b', [[0.0, np.inf, 0.0]], 'not finite'),
    ('a/b', [[0.0, 1.0]], r'\(N, 3\)'),
    ('a/b', [['x', 1.0, 2.0]], 'not numeric'),
    ('mug', [[0.0, 0.0, 0.0]], 'object/part'),
    ('world/x', [[0.0, 0.0, 0.0]], 'reserved'),
])
def test_from_points_rejects(name, points, match):
    with pytest.raises(RegionError, match=match):
        Region.from_points(name, points)


def test_constructor_rejects_bad_axes_and_normal():
    good = Region.from_points('a/b', [[0, 0, 0], [1, 0, 0]])
    fields = {'name': 'a/b', 'frame': 'a', 'points_obj': good.points_obj,
              'centroid_obj': good.centroid_obj, 'axes_obj': good.axes_obj,
              'normal_obj': good.normal_obj, 'extent_m': good.extent_m,
              'center_obj': good.center_obj}
    Region(**fields)
    with pytest.raises(RegionError, match='right-handed'):
        Region(**{**fields, 'axes_obj': np.diag([1.0, 1.0, -1.0])})
    with pytest.raises(RegionError, match='normal_obj is zero'):
        Region(**{**fields, 'normal_obj': np.zeros(3)})
    with pytest.raises(RegionError, match='shape'):
        Region(**{**fields, 'extent_m': np.zeros(2)})
    with pytest.raises(RegionError, match='negative'):
        Region(**{**fields, 'extent_m': -np.ones(3)})
    with pytest.raises(RegionError, match='frame'):
        Region(**{**fields, 'frame': ''})
