"""Tests of the test helpers: twist perturbations and numeric Jacobians."""

import numpy as np
import pytest

from resem3d_constraints import Region, SceneState
from resem3d_constraints.testing import apply_tool_twist, numeric_jacobian, random_pose


@pytest.fixture
def scene():
    rng = np.random.default_rng(5)
    region = Region.from_points('mug/handle', rng.normal(size=(5, 3)))
    return SceneState(T_base_tool=random_pose(rng),
                      T_base_obj={'mug': random_pose(rng), 'bowl': random_pose(rng)},
                      regions={'mug/handle': region}, held=frozenset({'mug'}))


def test_apply_tool_twist_moves_the_tool_and_held_objects_rigidly(scene):
    xi = np.array([0.1, -0.2, 0.05, 0.3, 0.1, -0.2])
    moved = apply_tool_twist(scene, xi)
    np.testing.assert_allclose(moved.T_base_tool[:3, 3], scene.T_base_tool[:3, 3] + xi[:3])
    # The held object's pose relative to the tool is unchanged; the other object stays put.
    relative = np.linalg.inv(scene.T_base_tool) @ scene.T_base_obj['mug']
    np.testing.assert_allclose(np.linalg.inv(moved.T_base_tool) @ moved.T_base_obj['mug'],
                               relative, atol=1e-12)
    np.testing.assert_array_equal(moved.T_base_obj['bowl'], scene.T_base_obj['bowl'])
    assert moved.T_base_obj_init is moved.T_base_obj  # the default is kept
    np.testing.assert_array_equal(scene.T_base_tool, apply_tool_twist(scene, np.zeros(6))
                                  .T_base_tool)


def test_numeric_jacobian_of_the_tool_origin(scene):
    J = numeric_jacobian(lambda s: s.T_base_tool[:3, 3], scene)
    np.testing.assert_allclose(J, np.hstack([np.eye(3), np.zeros((3, 3))]), atol=1e-9)
