"""A kinematic arm: integrates joint velocity commands exactly (q += dq * dt).

Used by the demo, the benchmark and the tests to close the loop without a physics engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .limits import JointLimits


@dataclass
class LimitViolations:
    """Count of ticks at which a command or state exceeded a limit."""

    position: int = 0
    velocity: int = 0
    acceleration: int = 0

    @property
    def total(self) -> int:
        return self.position + self.velocity + self.acceleration


class KinematicArm:
    """Integrates commanded joint velocities and audits every tick against the limits.

    Args:
        q0_rad: Initial joint positions (n,) [rad].
        limits: Limits to audit against (position limits without the margin).
        dt_s: Integration step [s].
        tolerance: Slack allowed by the audit for floating-point rounding.
    """

    def __init__(self, q0_rad: np.ndarray, limits: JointLimits, dt_s: float,
                 tolerance: float = 1e-9) -> None:
        self.q_rad = np.array(q0_rad, dtype=float)
        self.dq_rad_s = np.zeros_like(self.q_rad)
        self.limits = limits
        self.dt_s = dt_s
        self.t_s = 0.0
        self.tolerance = tolerance
        self.violations = LimitViolations()

    def apply(self, dq_rad_s: np.ndarray) -> None:
        """Apply one command for one step and audit it."""
        lim, tol = self.limits, self.tolerance
        accel = np.abs(dq_rad_s - self.dq_rad_s) / self.dt_s
        if np.any(accel > lim.a_max_rad_s2 * (1 + 1e-9) + tol / self.dt_s):
            self.violations.acceleration += 1
        if np.any(np.abs(dq_rad_s) > lim.v_max_rad_s + tol):
            self.violations.velocity += 1
        self.q_rad = self.q_rad + dq_rad_s * self.dt_s
        self.dq_rad_s = np.array(dq_rad_s, dtype=float)
        if np.any(self.q_rad < lim.q_min_rad - tol) or np.any(self.q_rad > lim.q_max_rad + tol):
            self.violations.position += 1
        self.t_s += self.dt_s
