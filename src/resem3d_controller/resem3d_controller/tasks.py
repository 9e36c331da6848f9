"""Tasks: what the QP tracks. Each yields rows ``J dq ~= v_desired`` with per-row weights.

A task's desired velocity is ``-gain * error`` (first-order convergence of the error), with the
Cartesian rate capped so that large errors give straight, speed-limited motion.
"""

from __future__ import annotations

import abc
import math
from typing import NamedTuple

import numpy as np
import pinocchio as pin

import resem3d_constraints as rc

ANGULAR_KINDS = frozenset({'align', 'angle'})


class TaskRows(NamedTuple):
    """Linearised task: minimise ``sum(weight * (jacobian @ dq - velocity)**2)``."""

    jacobian: np.ndarray   # (m, n)
    velocity: np.ndarray   # (m,)
    weight: np.ndarray     # (m,)


class Task(abc.ABC):
    """A tracking objective expressed through the tool Jacobian."""

    @abc.abstractmethod
    def rows(self, T_base_tool: np.ndarray, J_tool: np.ndarray, gain_per_s: float,
             max_linear_m_s: float, max_angular_rad_s: float) -> TaskRows:
        """Rows of the task at the current tool pose.

        Args:
            T_base_tool: Tool pose (4, 4) in the base frame.
            J_tool: Tool Jacobian (6, n), twist [v; w] in base axes at the TCP.
            gain_per_s: Default convergence gain [1/s].
            max_linear_m_s: Cap on tracked linear rates [m/s].
            max_angular_rad_s: Cap on tracked angular rates [rad/s].
        """

    @abc.abstractmethod
    def error(self, T_base_tool: np.ndarray) -> np.ndarray:
        """Current error of the task (zero when achieved)."""


def _cap(vector: np.ndarray, limit: float) -> np.ndarray:
    """Scale ``vector`` down so that its Euclidean norm is at most ``limit``."""
    norm = math.sqrt(float(vector @ vector))
    return vector * (limit / norm) if norm > limit else vector


class PoseTask(Task):
    """Bring the tool to a full pose T_base_target.

    Error: e = [p - p_target; log3(R R_target^T)] (orientation error in base axes). Commanding
    w = -k log3(R R_target^T) rotates along the geodesic, so the Jacobian of the error wrt the
    twist is the identity here.

    Args:
        T_base_target: Target pose (4, 4).
        position_weight: Weight of the position rows [1/m^2 scale].
        orientation_weight: Weight of the orientation rows.
    """

    def __init__(self, T_base_target: np.ndarray, position_weight: float = 1.0,
                 orientation_weight: float = 1.0) -> None:
        self.T_base_target = np.asarray(T_base_target, dtype=float)
        self._weight = np.array([position_weight] * 3 + [orientation_weight] * 3)

    def error(self, T_base_tool: np.ndarray) -> np.ndarray:
        e = np.empty(6)
        e[:3] = T_base_tool[:3, 3] - self.T_base_target[:3, 3]
        e[3:] = pin.log3(T_base_tool[:3, :3] @ self.T_base_target[:3, :3].T)
        return e

    def rows(self, T_base_tool, J_tool, gain_per_s, max_linear_m_s, max_angular_rad_s):
        e = self.error(T_base_tool)
        e *= -gain_per_s
        e[:3] = _cap(e[:3], max_linear_m_s)
        e[3:] = _cap(e[3:], max_angular_rad_s)
        return TaskRows(J_tool, e, self._weight)


class ConstraintTask(Task):
    """Track one :class:`resem3d_constraints.Constraint` softly through the tool Jacobian.

    The constraint is linearised on ``scene`` (whose tool pose this task refreshes each tick);
    its violation (value outside [lower, upper]) is driven to zero at the constraint's gain (or
    the controller's default).
    """

    def __init__(self, constraint: rc.Constraint, scene: rc.SceneState) -> None:
        self.constraint = constraint
        self.scene = scene
        self._angular = constraint.kind in ANGULAR_KINDS
        self.last_violation = math.inf   # max |violation| at the last rows() call

    def linearize(self, T_base_tool: np.ndarray) -> rc.Linearization:
        """Linearisation of the constraint with the scene's tool pose set to ``T_base_tool``."""
        self.scene.T_base_tool = T_base_tool
        return rc.linearize(self.constraint, self.scene)

    def error(self, T_base_tool: np.ndarray) -> np.ndarray:
        return rc.violation(self.linearize(T_base_tool))

    def rows(self, T_base_tool, J_tool, gain_per_s, max_linear_m_s, max_angular_rad_s):
        lin = self.linearize(T_base_tool)
        gain = self.constraint.gain or gain_per_s
        limit = max_angular_rad_s if self._angular else max_linear_m_s
        residual = rc.violation(lin)
        self.last_violation = float(np.abs(residual).max())
        velocity = _cap(-gain * residual, limit)
        weight = np.full(len(velocity), self.constraint.weight)
        return TaskRows(lin.jacobian @ J_tool, velocity, weight)


def hard_constraint_rows(constraint: rc.Constraint, scene: rc.SceneState, T_base_tool: np.ndarray,
                         J_tool: np.ndarray, gain_per_s: float
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Velocity-damper rows keeping a hard constraint inside its band.

    ``gain * (lower - value) <= J dq <= gain * (upper - value)``: inside the band the rows let
    the value move towards either bound at most at the rate that reaches it asymptotically; a
    violated row pulls the value back at rate ``gain * violation``.

    Returns:
        (jacobian (m, n), lower (m,), upper (m,), max |violation|); infinite bounds stay
        infinite.
    """
    scene.T_base_tool = T_base_tool
    lin = rc.linearize(constraint, scene)
    gain = constraint.gain or gain_per_s
    with np.errstate(invalid='ignore'):
        lower = np.where(np.isfinite(lin.lower), gain * (lin.lower - lin.value), -np.inf)
        upper = np.where(np.isfinite(lin.upper), gain * (lin.upper - lin.value), np.inf)
    return (lin.jacobian @ J_tool, lower, upper,
            float(np.abs(rc.violation(lin)).max()))
