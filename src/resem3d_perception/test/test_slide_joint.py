# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""SlideJoint: poses along a drawer's slide, projection onto it, openings across its range."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from resem3d_perception.slide_joint import SlideJoint


def test_slide_joint_projects_onto_its_axis_within_its_range():
    T_parent = np.eye(4)
    T_parent[:3, :3] = np.array([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    T_parent[:3, 3] = [0.8, 0.2, 0.0]
    T_zero = np.eye(4)
    T_zero[:3, 3] = [0.14, 0.0, 0.09]
    joint = SlideJoint('cabinet', T_zero, np.array([1.0, 0.0, 0.0]), (0.0, 0.3))
    # 5 cm open (the parent's +x is the base's -x), tilted, 2 cm off to the side and 1 cm up.
    T_seen = joint.pose_at(T_parent, 0.05)
    T_seen[:3, :3] = T_seen[:3, :3] @ Rotation.from_rotvec([0.0, 0.0, 0.2]).as_matrix()
    T_seen[:3, 3] += [0.0, 0.02, 0.01]
    T = joint.project(T_seen, T_parent)
    np.testing.assert_allclose(T[:3, 3], [0.8 - 0.14 - 0.05, 0.2, 0.09], atol=1e-9)
    np.testing.assert_allclose(T[:3, :3], T_parent[:3, :3], atol=1e-9)
    # Beyond either end it stops there.
    far = joint.pose_at(T_parent, 0.5)
    assert joint.project(far, T_parent)[0, 3] == pytest.approx(0.8 - 0.14 - 0.3)
    inside = joint.pose_at(T_parent, -0.1)
    assert joint.project(inside, T_parent)[0, 3] == pytest.approx(0.8 - 0.14)
    assert list(joint.openings(0.1)) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert list(joint.openings(1.0)) == pytest.approx([0.0, 0.3])
