"""Value, bounds and tool Jacobian of each constraint kind in a scene.

For a constraint with value ``y`` (m,), :func:`linearize` returns ``y``, its bounds
``lower <= y <= upper`` and ``J = dy/dxi`` (m, 6) wrt the tool twist ``xi = [v; omega]``
(base-frame axes). The controller drives :func:`violation` to zero (within ``tolerance``).
Outputs are finite for finite inputs; bounds may be infinite (an absent upper bound).
Returned bounds may be shared read-only arrays.

Kinds, with ``t`` the tool origin and ``J_rigid(p) = [I, -skew(p - t)]`` the Jacobian of a
tool-fixed point at ``p``:

- ``distance``: ``y = |p_a - p_b|``, ``J = u^T (J_a - J_b)`` with ``u`` the unit difference;
  ``J = 0`` when the points coincide (below 1e-12 m).
- ``offset``: ``y = p_a - (p_b + R o)``, ``R`` the identity (``frame: world``) or the rotation
  of the frame owning ``b`` (``frame: object``: the object, or the tool). When that frame moves
  with the tool the target is a tool-fixed point: ``J = J_a - J_rigid(p_b + R o)``; otherwise
  ``J = J_a - J_b``.
- ``align``, ``angle``: ``y = theta = atan2(|a x b|, a . b)``, with
  ``dtheta = (a.b a - b)/|a x b| . da + (a.b b - a)/|a x b| . db``; every factor is a unit
  vector, so ``J`` stays bounded as ``theta -> 0`` or ``pi``. When ``|a x b| < 1e-12`` the
  direction is undefined: a deterministic unit ``n`` orthogonal to ``a`` stands in for it
  (``J = -n^T J_a -/+ n^T J_b``, which lets the controller leave ``theta = pi``, or ``0`` for
  ``angle``); ``align`` at ``theta = 0`` (its minimum) gets ``J = 0``.
- ``above``: ``y = [horizontal distance of p from the region centroid (base xy), p_z - z_top]``
  with ``z_top`` the highest base-frame z over the region's 8 box corners (live pose);
  bounds ``[0, radius_m]`` and ``[min_height_m, max_height_m]``. The horizontal row is 0 when
  p is exactly over the centroid. If the region's object is held, the centroid and the top
  corner move with the tool.
- ``inside``: ``y = R_box^T (p - c_box)``, bounds ``+-max(extent/2 - margin_m, 0)``.
- ``keep_away``: ``y = signed distance from p to the region's box`` (negative inside),
  bounds ``[margin_m, inf]``; ``J = grad^T J_q`` with ``J_q`` the Jacobian of p in box axes.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import NamedTuple

import numpy as np

from .anchors import locate_axis, locate_point, LocatedPoint
from .constraint import Constraint
from .geometry import box_signed_distance_local
from .scene import SceneState
from .spatial import perpendicular, rigid_point_jacobian

_EPS = 1e-12
_INF = math.inf


class Linearization(NamedTuple):
    """A constraint linearised at the current scene.

    Attributes:
        value: Current value (m,) in the kind's unit.
        lower: Lower bounds (m,); may be ``-inf``.
        upper: Upper bounds (m,); may be ``+inf``.
        jacobian: ``d value / d xi`` (m, 6) wrt the tool twist ``[v; omega]`` (base axes).
    """

    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    jacobian: np.ndarray


def linearize(constraint: Constraint, scene: SceneState) -> Linearization:
    """Evaluate a constraint's value, bounds and tool Jacobian in a scene.

    Args:
        constraint: The constraint.
        scene: Scene with the tool pose, object poses and regions it refers to.

    Returns:
        The linearisation; see the module docstring for each kind's formula.

    Raises:
        SceneError: If the scene lacks a region or object pose the constraint refers to.
    """
    return _LINEARIZERS[constraint.kind](constraint, scene)


def violation(lin: Linearization) -> np.ndarray:
    """Residual the controller drives to zero: ``value - clip(value, lower, upper)`` (m,)."""
    # Two ufuncs instead of np.clip: this runs per constraint at 1 kHz and np.clip's Python
    # wrapper costs several microseconds.
    return lin.value - np.minimum(np.maximum(lin.value, lin.lower), lin.upper)


def _distance(c: Constraint, scene: SceneState) -> Linearization:
    a = locate_point(c.a, scene)
    b = locate_point(c.b, scene)
    d = a.p_base - b.p_base
    norm = math.sqrt(float(d @ d))
    if norm > _EPS:
        J = ((d / norm) @ (a.jacobian - b.jacobian)).reshape(1, 6)
    else:
        J = np.zeros((1, 6))
    return Linearization(np.array([norm]), c._lower, c._upper, J)


def _offset(c: Constraint, scene: SceneState) -> Linearization:
    a = locate_point(c.a, scene)
    b = locate_point(c.b, scene)
    if c.frame == 'object':
        target = b.p_base + b.R_base_owner @ c._offset
        if b.moving:
            J_target = rigid_point_jacobian(target - scene.T_base_tool[:3, 3])
            return Linearization(a.p_base - target, c._lower, c._upper, a.jacobian - J_target)
    else:
        target = b.p_base + c._offset
    return Linearization(a.p_base - target, c._lower, c._upper, a.jacobian - b.jacobian)


def angle_between(a: np.ndarray, J_a: np.ndarray, b: np.ndarray, J_b: np.ndarray,
                  escape_zero: bool) -> tuple[float, np.ndarray]:
    """Angle between two unit vectors and its Jacobian (6,) (see the module docstring).

    Args:
        a: First unit vector (3,).
        J_a: Its Jacobian (3, 6).
        b: Second unit vector (3,).
        J_b: Its Jacobian (3, 6).
        escape_zero: At ``theta = 0`` exactly, return a non-zero row (True) or zeros (False).

    Returns:
        ``(theta, J)`` with ``theta`` in [0, pi] [rad].
    """
    ax, ay, az = a.tolist()
    bx, by, bz = b.tolist()
    s = math.sqrt((ay * bz - az * by) ** 2 + (az * bx - ax * bz) ** 2
                  + (ax * by - ay * bx) ** 2)
    co = ax * bx + ay * by + az * bz
    theta = math.atan2(s, co)
    if s > _EPS:
        return theta, ((co * a - b) / s) @ J_a + ((co * b - a) / s) @ J_b
    if co > 0.0 and not escape_zero:
        return theta, np.zeros(6)
    n = perpendicular(a)
    return theta, -(n @ J_a) + (n @ J_b if co > 0.0 else -(n @ J_b))


def _angle(c: Constraint, scene: SceneState) -> Linearization:
    a, J_a = locate_axis(c.a, scene)
    b, J_b = locate_axis(c.b, scene)
    theta, J = angle_between(a, J_a, b, J_b, escape_zero=c.kind == 'angle')
    return Linearization(np.array([theta]), c._lower, c._upper, J.reshape(1, 6))


def _above(c: Constraint, scene: SceneState) -> Linearization:
    p = locate_point(c.point, scene)
    region = scene.region(c.region)
    T = scene.object_pose(region.frame)
    R, t = T[:3, :3], T[:3, 3]
    corners_z = region.corners_obj @ R[2] + t[2]
    k = int(corners_z.argmax())
    centroid = R @ region.centroid_obj + t
    dx, dy = (p.p_base[:2] - centroid[:2]).tolist()
    horizontal = math.hypot(dx, dy)
    J = np.empty((2, 6))
    J_p = p.jacobian
    if region.frame in scene.held:
        t_tool = scene.T_base_tool[:3, 3]
        J_xy = J_p[:2] - rigid_point_jacobian(centroid - t_tool)[:2]
        J[1] = J_p[2] - rigid_point_jacobian(R @ region.corners_obj[k] + t - t_tool)[2]
    else:
        J_xy = J_p[:2]
        J[1] = J_p[2]
    if horizontal > _EPS:
        J[0] = (dx * J_xy[0] + dy * J_xy[1]) / horizontal
    else:
        J[0] = 0.0
    radius = region.half_width_xy_m if c.radius_m is None else c.radius_m
    max_height = _INF if c.max_height_m is None else c.max_height_m
    return Linearization(np.array([horizontal, p.p_base[2] - corners_z[k]]),
                         np.array([0.0, c.min_height_m]), np.array([radius, max_height]), J)


def _box_coordinates(c: Constraint, scene: SceneState
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the point in the region's box axes, its Jacobian, and the half extents."""
    p: LocatedPoint = locate_point(c.point, scene)
    region = scene.region(c.region)
    T = scene.object_pose(region.frame)
    R_obj = T[:3, :3]
    R_box = R_obj @ region.axes_obj
    q = R_box.T @ (p.p_base - (R_obj @ region.center_obj + T[:3, 3]))
    if region.frame in scene.held:
        J_rel = p.jacobian - rigid_point_jacobian(p.p_base - scene.T_base_tool[:3, 3])
    else:
        J_rel = p.jacobian
    return q, R_box.T @ J_rel, 0.5 * region.extent_m


def _inside(c: Constraint, scene: SceneState) -> Linearization:
    q, J_q, half = _box_coordinates(c, scene)
    bound = np.maximum(half - c.margin_m, 0.0)
    return Linearization(q, -bound, bound, J_q)


def _keep_away(c: Constraint, scene: SceneState) -> Linearization:
    q, J_q, half = _box_coordinates(c, scene)
    distance, gradient = box_signed_distance_local(q, half)
    return Linearization(np.array([distance]), c._lower, c._upper,
                         (gradient @ J_q).reshape(1, 6))


_LINEARIZERS: dict[str, Callable[[Constraint, SceneState], Linearization]] = {
    'distance': _distance,
    'offset': _offset,
    'align': _angle,
    'angle': _angle,
    'above': _above,
    'inside': _inside,
    'keep_away': _keep_away,
}
