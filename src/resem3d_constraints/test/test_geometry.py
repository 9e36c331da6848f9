"""Tests of box_signed_distance: values outside, on and inside a box, and its gradient."""

import numpy as np
import pytest

from resem3d_constraints import box_signed_distance, box_signed_distances
from resem3d_constraints.spatial import so3_exp

HALF = np.array([0.2, 0.1, 0.05])


@pytest.mark.parametrize('q,distance,gradient', [
    ([0.5, 0.0, 0.0], 0.3, [1.0, 0.0, 0.0]),
    ([0.0, -0.4, 0.0], 0.3, [0.0, -1.0, 0.0]),
    ([0.5, 0.5, 0.0], np.hypot(0.3, 0.4), [0.6, 0.8, 0.0]),
    ([0.2, 0.0, 0.0], 0.0, [1.0, 0.0, 0.0]),
    ([0.0, 0.0, 0.0], -0.05, [0.0, 0.0, 1.0]),
    ([0.15, 0.0, -0.01], -0.04, [0.0, 0.0, -1.0]),
    ([0.19, 0.0, 0.0], -0.01, [1.0, 0.0, 0.0]),
])
def test_axis_aligned_values(q, distance, gradient):
    d, g = box_signed_distance(np.array(q), np.zeros(3), np.eye(3), HALF)
    assert d == pytest.approx(distance)
    np.testing.assert_allclose(g, gradient, atol=1e-12)


def test_oriented_box_and_gradient_by_finite_differences():
    rng = np.random.default_rng(3)
    R = so3_exp(np.array([0.4, -0.3, 1.1]))
    center = np.array([0.3, -0.2, 0.5])
    for _ in range(200):
        p = center + rng.normal(scale=0.2, size=3)
        d, g = box_signed_distance(p, center, R, HALF)
        # Same distance as the axis-aligned computation in box coordinates.
        d_local, _ = box_signed_distance(R.T @ (p - center), np.zeros(3), np.eye(3), HALF)
        assert d == pytest.approx(d_local)
        assert np.linalg.norm(g) == pytest.approx(1.0)
        h = 1e-7
        fd = [(box_signed_distance(p + h * e, center, R, HALF)[0]
               - box_signed_distance(p - h * e, center, R, HALF)[0]) / (2 * h)
              for e in np.eye(3)]
        np.testing.assert_allclose(g, fd, atol=1e-6)


def test_flat_box_has_zero_thickness():
    d, g = box_signed_distance(np.array([0.0, 0.0, 0.3]), np.zeros(3), np.eye(3),
                               np.array([0.5, 0.5, 0.0]))
    assert d == pytest.approx(0.3)
    np.testing.assert_allclose(g, [0.0, 0.0, 1.0])


def test_batch_form_matches_the_scalar_form_inside_outside_and_on_edges():
    rng = np.random.default_rng(4)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    R *= np.linalg.det(R)                                  # a rotation
    center = np.array([0.3, -0.1, 0.2])
    points = np.vstack([center + rng.normal(scale=0.15, size=(200, 3)),
                        center + R @ np.array([0.1, 0.2, 0.0]),     # on an edge
                        center])                                     # the centre
    d, g = box_signed_distances(points, center, R, HALF)
    for k, p in enumerate(points):
        d_k, g_k = box_signed_distance(p, center, R, HALF)
        assert d[k] == pytest.approx(d_k, abs=1e-12)
        np.testing.assert_allclose(g[k], g_k, atol=1e-12)
    assert (d < 0).any() and (d > 0).any()
