"""Helpers to test code that uses tool Jacobians: random poses, twist perturbations, FD.

numpy only; used by this package's tests and usable by the controller's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .scene import SceneState
from .spatial import so3_exp


def random_pose(rng: np.random.Generator, translation_m: float = 0.5) -> np.ndarray:
    """Draw a pose (4, 4): rotation ``exp`` of a normal rotation vector, uniform translation.

    Args:
        rng: Random generator.
        translation_m: Bound of each translation coordinate [m].
    """
    T = np.eye(4)
    T[:3, :3] = so3_exp(rng.normal(size=3))
    T[:3, 3] = rng.uniform(-translation_m, translation_m, size=3)
    return T


def apply_tool_twist(scene: SceneState, xi: np.ndarray) -> SceneState:
    """Return the scene after the tool moved by the twist ``xi = [v; omega]`` for unit time.

    The tool origin moves by ``v`` and the tool rotates by ``exp([omega]x)`` about its origin
    (``R <- exp([omega]x) R``, ``t <- t + v``), both in base axes. Held objects move rigidly
    with the tool; other objects and the frozen ``init`` poses stay put. The input is not
    modified.
    """
    xi = np.asarray(xi, dtype=float)
    E = so3_exp(xi[3:])
    T_tool = scene.T_base_tool
    t_tool = T_tool[:3, 3]
    moved_tool = T_tool.copy()
    moved_tool[:3, :3] = E @ T_tool[:3, :3]
    moved_tool[:3, 3] = t_tool + xi[:3]
    poses = {}
    for frame in scene.T_base_obj:
        T = scene.object_pose(frame)          # live: a held frame follows the tool
        if frame in scene.held:
            T = T.copy()
            T[:3, :3] = E @ T[:3, :3]
            T[:3, 3] = moved_tool[:3, 3] + E @ (T[:3, 3] - t_tool)
        poses[frame] = T
    init = scene.T_base_obj_init
    return SceneState(T_base_tool=moved_tool, T_base_obj=poses, regions=scene.regions,
                      held=scene.held,
                      T_base_obj_init=None if init is scene.T_base_obj else init,
                      gripper_width_m=scene.gripper_width_m,
                      gripper_grasping=scene.gripper_grasping)


def numeric_jacobian(f: Callable[[SceneState], np.ndarray], scene: SceneState,
                     step: float = 1e-6) -> np.ndarray:
    """Return the central finite-difference Jacobian (m, 6) of ``f(scene)`` wrt the twist."""
    columns = []
    for i in range(6):
        xi = np.zeros(6)
        xi[i] = step
        plus = np.asarray(f(apply_tool_twist(scene, xi)), dtype=float)
        minus = np.asarray(f(apply_tool_twist(scene, -xi)), dtype=float)
        columns.append((plus - minus) / (2.0 * step))
    return np.stack(columns, axis=-1)
