# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""How a held object has turned in the fingers, from the depth image.

A held object creeps in the fingers by turning about the grasp under its weight while it is
tilted (a beaker pinched by its wall when it pours; measured up to 13 deg over a pour), not by
sliding out of it; carried upright it does not turn. :func:`pivot_held` searches turns about
the TCP that lower the model's projective depth residual (:func:`~.depth_checks.depth_cost`).

Written here rather than with the tracker's ICP: with the hand hiding part of the object, free
6-DoF ICP converged onto the fingers or a neighbour below (3-5 cm, 25-35 deg off, measured in
the pouring and test-tube tasks); a depth residual that ignores what the hand hides, and a turn
about the grasp, do not. Frames: ``base``, ``tool`` (the TCP), ``obj``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.transform import Rotation

from .depth_checks import depth_cost

if TYPE_CHECKING:
    from .scene_tracker import SceneTrackingConfig

__all__ = ['pivot_held', 'rotation_angle_rad']


def rotation_angle_rad(R_a: np.ndarray, R_b: np.ndarray) -> float:  # noqa: N803
    """Angle [rad] of the rotation between two rotation matrices (3, 3)."""
    cos_angle = (float(np.trace(R_a.T @ R_b)) - 1.0) / 2.0
    return math.acos(max(-1.0, min(1.0, cos_angle)))


def pivot_held(model_points_obj: np.ndarray, depth: Any, T_grasp: np.ndarray,  # noqa: N803
               T_base_tool: np.ndarray, R_tool_obj_grasp: np.ndarray,  # noqa: N803
               up_at_grasp_base: np.ndarray, inlier_m: float,
               config: SceneTrackingConfig) -> np.ndarray | None:
    """A better pose of a held object, turned about the TCP, or None to keep ``T_grasp``.

    The search: rounds of turns by +-``held_pivot_step_rad`` about each tool axis through the
    TCP, each kept when it lowers the projective depth residual of the model (capped at
    ``2 inlier_m``) by more than the turn away from the grasp costs (``held_pivot_prior_m``
    per radian). Searched only while the object is tilted by ``held_pivot_min_tilt_rad`` from
    how it was grasped and ``held_pivot_min_seen`` of it is seen.

    Args:
        model_points_obj: (N, 3) the object's model points in its frame [m].
        depth: The frame's depth image (a :class:`~.depth_checks.DepthImage`).
        T_grasp: (4, 4) the object's pose held as it is now (base frame).
        T_base_tool: (4, 4) the TCP's pose now.
        R_tool_obj_grasp: (3, 3) the object's orientation in the tool frame at the grasp.
        up_at_grasp_base: (3,) the object's z axis at the grasp (base frame).
        inlier_m: The tracker's inlier distance [m].
        config: The ``held_pivot_*`` parameters.

    Returns:
        The turned pose (4, 4), or None (not tilted, too little seen, no clear gain, or
        turned more than ``held_pivot_max_rad`` from the grasp).
    """
    c = config
    if float(T_grasp[:3, 2] @ up_at_grasp_base) > math.cos(c.held_pivot_min_tilt_rad):
        return None            # carried as it was grasped: nothing turns it
    model = model_points_obj[::max(1, len(model_points_obj) // 300)]
    tcp, R_tool = T_base_tool[:3, 3], T_base_tool[:3, :3]
    P_tcp = model @ T_grasp[:3, :3].T + T_grasp[:3, 3] - tcp   # about the TCP, base axes
    cap = 2.0 * inlier_m

    def turn(rotvec_tool: np.ndarray) -> np.ndarray:
        return R_tool @ Rotation.from_rotvec(rotvec_tool).as_matrix() @ R_tool.T

    R_now_tool = R_tool.T @ T_grasp[:3, :3]

    def prior(rotvec_tool: np.ndarray) -> float:
        # The grasp is the prior: each radian turned from it costs held_pivot_prior_m, so
        # that a residual's noise does not walk an object that does not turn.
        R = Rotation.from_rotvec(rotvec_tool).as_matrix() @ R_now_tool
        return c.held_pivot_prior_m * rotation_angle_rad(R_tool_obj_grasp, R)

    def cost(rotvec_tool: np.ndarray) -> float | None:
        residual = depth_cost(P_tcp @ turn(rotvec_tool).T + tcp, depth, cap)[0]
        return None if residual is None else residual + prior(rotvec_tool)

    best = np.zeros(3)
    start, seen = depth_cost(P_tcp + tcp, depth, cap)
    if start is None or seen < c.held_pivot_min_seen:
        return None            # mostly hidden by the hand: too little to turn it by
    start += prior(best)
    best_cost = start
    for _ in range(c.held_pivot_rounds):
        moved = False
        for axis in range(3):
            for sign in (1.0, -1.0):
                trial = best.copy()
                trial[axis] += sign * c.held_pivot_step_rad
                value = cost(trial)
                if value is not None and value < best_cost - 1e-9:
                    best, best_cost, moved = trial, value, True
        if not moved:
            break
    if start - best_cost < c.held_pivot_gain_m:
        return None
    R = turn(best)
    T = T_grasp.copy()
    T[:3, :3] = R @ T_grasp[:3, :3]
    T[:3, 3] = R @ (T_grasp[:3, 3] - tcp) + tcp
    turned_rad = rotation_angle_rad(R_tool_obj_grasp, R_tool.T @ T[:3, :3])
    return T if turned_rad <= c.held_pivot_max_rad else None
