# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""depth_checks: measured depth at model points, what the camera sees through, and the
projective depth cost, on a flat wall 1 m in front of a camera at the base origin."""

from __future__ import annotations

import numpy as np
import pytest

from resem3d_perception.cloud import Intrinsics
from resem3d_perception.depth_checks import (DepthImage, depth_cost, depth_fit, measured_depth,
                                             see_through_mask)


@pytest.fixture()
def wall():
    intrinsics = Intrinsics(width=21, height=21, fx=100.0, fy=100.0, cx=10.0, cy=10.0)
    depth = np.full((21, 21), 1.0)                 # a wall 1 m in front of the camera
    depth[0, 0] = np.nan                           # one invalid pixel
    return DepthImage(depth, intrinsics, np.eye(4), 0.5)


def test_measured_depth_is_the_pixel_the_point_projects_to(wall):
    points = np.array([[0.0, 0.0, 0.8], [5.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    z, measured = measured_depth(points, wall)
    np.testing.assert_allclose(z, [0.8, 1.0, -1.0])
    assert measured[0] == 1.0 and np.isnan(measured[1]) and np.isnan(measured[2])


def test_the_camera_sees_through_points_in_front_of_the_surface(wall):
    points = np.array([[0.0, 0.0, 0.9],            # 10 cm in front of the wall: seen through
                       [0.0, 0.0, 0.996],          # within the margin
                       [0.0, 0.0, 1.2],            # behind the wall: hidden
                       [-0.1, -0.1, 1.0]])         # on the invalid pixel
    np.testing.assert_array_equal(see_through_mask(points, wall, 0.006),
                                  [True, False, False, False])


def test_depth_cost_counts_fits_free_space_and_hidden_points(wall):
    on_wall = np.array([[0.0, 0.0, 1.0], [0.01, 0.0, 1.002]])
    cost, seen = depth_cost(on_wall, wall, 0.01)
    assert cost == pytest.approx(0.001) and seen == 1.0
    in_front = np.array([[0.0, 0.0, 0.5]])        # the wall is behind it: it should be seen
    assert depth_cost(in_front, wall, 0.01) == (pytest.approx(0.01), 0.0)
    behind = np.array([[0.0, 0.0, 1.5]])           # hidden by the wall: a neutral cost
    assert depth_cost(behind, wall, 0.01) == (pytest.approx(0.005), 0.0)
    off_image = np.array([[5.0, 0.0, 1.0], [-0.1, -0.1, 1.0]])   # outside, and the NaN pixel
    assert depth_cost(off_image, wall, 0.01) == (None, 0.0)


def test_depth_fit_is_the_seen_through_fraction_and_the_depth_cost_in_one(wall):
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(-0.12, 0.12, 200), rng.uniform(-0.12, 0.12, 200),
                              rng.uniform(0.8, 1.2, 200)])       # some off the image
    through, residual = depth_fit(points, wall, 0.006, 0.012)
    assert through == pytest.approx(see_through_mask(points, wall, 0.006).mean())
    assert residual == pytest.approx(depth_cost(points, wall, 0.012)[0])
    assert 0.2 < through < 0.8
    assert depth_fit(np.array([[5.0, 0.0, 1.0]]), wall, 0.006, 0.012) == (0.0, None)
