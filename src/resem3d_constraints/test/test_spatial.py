"""Tests of the rigid-body helpers."""

import numpy as np
import pytest

from resem3d_constraints.spatial import (perpendicular, rigid_axis_jacobian,
                                         rigid_point_jacobian, skew, so3_exp)


def test_skew_is_the_cross_product():
    rng = np.random.default_rng(0)
    for _ in range(10):
        v, w = rng.normal(size=(2, 3))
        np.testing.assert_allclose(skew(v) @ w, np.cross(v, w))


def test_rigid_jacobians_are_the_velocities_of_tool_fixed_vectors():
    rng = np.random.default_rng(1)
    r = rng.normal(size=3)
    v, w = rng.normal(size=(2, 3))
    xi = np.concatenate([v, w])
    np.testing.assert_allclose(rigid_point_jacobian(r) @ xi, v + np.cross(w, r))
    np.testing.assert_allclose(rigid_axis_jacobian(r) @ xi, np.cross(w, r))


@pytest.mark.parametrize('a', [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.6, 0.8, 0.0],
                               [1 / 3**0.5] * 3])
def test_perpendicular(a):
    a = np.array(a)
    n = perpendicular(a)
    assert np.linalg.norm(n) == pytest.approx(1.0)
    assert n @ a == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize('omega', [[0.0, 0.0, 0.0], [1e-10, 0.0, 0.0], [0.3, -1.2, 2.0],
                                   [np.pi, 0.0, 0.0]])
def test_so3_exp_is_a_rotation_about_omega(omega):
    omega = np.array(omega)
    R = so3_exp(omega)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R @ omega, omega, atol=1e-12)
    theta = np.linalg.norm(omega)
    assert np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)) == pytest.approx(theta, abs=1e-7)


def test_quaternion_round_trip_covers_every_branch_of_the_conversion():
    from resem3d_constraints.spatial import quaternion_xyzw, rotation_from_quaternion
    rng = np.random.default_rng(11)
    rotations = [so3_exp(rng.normal(size=3) * 2.0) for _ in range(200)]
    rotations += [np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]),
                  np.diag([-1.0, -1.0, 1.0]), np.eye(3)]               # trace <= 0 branches
    for R in rotations:
        q = quaternion_xyzw(R)
        assert q[3] >= 0.0 and abs(np.linalg.norm(q) - 1.0) < 1e-12
        np.testing.assert_allclose(rotation_from_quaternion(*q), R, atol=1e-12)
