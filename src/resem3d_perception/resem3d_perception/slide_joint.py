# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""A prismatic joint between two tracked objects (a drawer in its cabinet).

:class:`~resem3d_perception.scene_tracker.SceneTracker` keeps a sliding object on its joint:
ICP of a drawer front slides it within its own plane or tilts it, which a drawer cannot do.
Frames: ``base`` (robot base), ``parent`` (the object the child slides in), ``child``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ['SlideJoint']


@dataclass(frozen=True)
class SlideJoint:
    """A prismatic joint between two tracked objects.

    Attributes:
        parent: The object the child slides in.
        T_parent_child_zero: (4, 4) pose of the child in the parent's frame at opening 0 [m].
        axis_parent: Unit slide axis (3,) in the parent's frame.
        range_m: Lowest and highest opening [m].
    """

    parent: str
    T_parent_child_zero: np.ndarray
    axis_parent: np.ndarray
    range_m: tuple[float, float]

    def pose_at(self, T_base_parent: np.ndarray, opening_m: float) -> np.ndarray:  # noqa: N803
        """The child's pose (4, 4) at ``opening_m`` (not clipped) with the parent at
        ``T_base_parent``."""
        T = T_base_parent @ self.T_parent_child_zero
        T[:3, 3] += opening_m * (T_base_parent[:3, :3] @ self.axis_parent)
        return T

    def project(self, T_base_child: np.ndarray,  # noqa: N803
                T_base_parent: np.ndarray) -> np.ndarray:  # noqa: N803
        """The pose on the joint nearest ``T_base_child``: the opening is the child's
        displacement from its zero pose along the axis, clipped to the range; rotation and
        the other two directions are the joint's."""
        T_zero = T_base_parent @ self.T_parent_child_zero
        axis = T_base_parent[:3, :3] @ self.axis_parent
        low, high = self.range_m
        opening = float(axis @ (T_base_child[:3, 3] - T_zero[:3, 3]))
        return self.pose_at(T_base_parent, min(max(opening, low), high))

    def openings(self, step_m: float) -> np.ndarray:
        """Openings [m] every ``step_m`` across the range (ends included)."""
        low, high = self.range_m
        count = max(2, int(math.ceil((high - low) / step_m)) + 1)
        return np.linspace(low, high, count)
