"""Joint velocity bounds that keep position, velocity and acceleration limits.

The bounds of one tick are the intersection of
  * the velocity limit:            |dq| <= v_max,
  * the acceleration limit:        |dq - dq_prev| <= a_max * dt (relative to the last command),
  * the position limit (one step): q + dq * dt stays inside [q_min + margin, q_max - margin],
  * a braking-distance bound:      |dq| <= sqrt(2 * a_brake * distance_to_limit), so the joint
    can always stop before its limit. ``a_brake = a_max / 2`` makes this bound shrink by at most
    ``a_max * dt / 2`` per tick (its time derivative is ``-a_brake`` at the bound), so it never
    leaves the acceleration window of the next tick.

If rounding ever empties the intersection, the acceleration window wins and the command moves
as fast as allowed towards the position-safe side (see :func:`joint_velocity_bounds`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class JointLimits(NamedTuple):
    """Per-joint limits used by the controller (arrays of shape (n,))."""

    q_min_rad: np.ndarray
    q_max_rad: np.ndarray
    v_max_rad_s: np.ndarray
    a_max_rad_s2: np.ndarray
    margin_rad: float


def joint_velocity_bounds(limits: JointLimits, q_rad: np.ndarray, dq_prev_rad_s: np.ndarray,
                          dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper joint-velocity bounds [rad/s] for the next command.

    Args:
        limits: Joint limits.
        q_rad: Current joint positions (n,) [rad].
        dq_prev_rad_s: Last commanded joint velocities (n,) [rad/s].
        dt_s: Control period [s].

    Returns:
        (lower, upper), each (n,), with lower <= upper element-wise.
    """
    # Both sides are computed at once on (2, n) arrays, the lower side mirrored (-lower is an
    # upper bound of -dq): this runs every tick, and each numpy call costs ~1 us at n = 7.
    room = np.empty((2, len(q_rad)))
    np.subtract(limits.q_max_rad - limits.margin_rad, q_rad, out=room[0])
    np.subtract(q_rad, limits.q_min_rad + limits.margin_rad, out=room[1])
    np.maximum(room, 0.0, out=room)
    a_dt = limits.a_max_rad_s2 * dt_s
    bound = np.sqrt(limits.a_max_rad_s2 * room)      # braking: sqrt(2 * (a_max / 2) * room)
    np.minimum(bound, room * (1.0 / dt_s), out=bound)
    np.minimum(bound, limits.v_max_rad_s, out=bound)
    window = np.empty_like(room)                       # acceleration window around dq_prev
    np.add(dq_prev_rad_s, a_dt, out=window[0])
    np.subtract(a_dt, dq_prev_rad_s, out=window[1])
    np.minimum(bound, window, out=bound)
    upper, lower = bound[0], -bound[1]
    empty = lower > upper
    if empty.any():
        # Decelerate as hard as allowed: the acceleration window is never violated.
        toward_safe = np.minimum(np.maximum(0.0, dq_prev_rad_s - a_dt), dq_prev_rad_s + a_dt)
        lower = np.where(empty, toward_safe, lower)
        upper = np.where(empty, toward_safe, upper)
    return lower, upper


def decelerate(dq_prev_rad_s: np.ndarray, a_max_rad_s2: np.ndarray, dt_s: float) -> np.ndarray:
    """One tick of stopping: move each joint velocity towards zero by at most a_max * dt."""
    a_dt = a_max_rad_s2 * dt_s
    return np.minimum(np.maximum(0.0, dq_prev_rad_s - a_dt), dq_prev_rad_s + a_dt)
