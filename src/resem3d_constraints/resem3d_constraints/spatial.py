"""Small rigid-body helpers for 3-vectors, rotations and tool-twist Jacobians.

The tool twist is ``xi = [v; omega]`` (6,): the tool frame origin's linear velocity and the
tool's angular velocity, both in base-frame axes (pinocchio's LOCAL_WORLD_ALIGNED). A point
``p_base`` rigidly attached to the tool moves as ``dp = v + omega x (p - t)`` where ``t`` is
the tool origin, so its Jacobian is ``[I, -skew(p - t)]``; a tool-fixed axis ``a`` moves as
``da = omega x a``, with Jacobian ``[0, -skew(a)]``.
"""

from __future__ import annotations

import math

import numpy as np

ZERO_JACOBIAN_3 = np.zeros((3, 6))
ZERO_JACOBIAN_3.setflags(write=False)


def skew(v: np.ndarray) -> np.ndarray:
    """Return the (3, 3) cross-product matrix ``[v]x`` of ``v``: ``[v]x @ w == v x w``."""
    x, y, z = (float(c) for c in v)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def rigid_point_jacobian(r_base: np.ndarray) -> np.ndarray:
    """Jacobian (3, 6) of a point rigidly attached to the tool, wrt the tool twist.

    Args:
        r_base: Point minus tool origin, ``p_base - t_base_tool`` (3,) [m], base axes.

    Returns:
        ``[I, -skew(r_base)]``.
    """
    x, y, z = r_base.tolist()
    return np.array([[1.0, 0.0, 0.0, 0.0, z, -y],
                     [0.0, 1.0, 0.0, -z, 0.0, x],
                     [0.0, 0.0, 1.0, y, -x, 0.0]])


def rigid_axis_jacobian(a_base: np.ndarray) -> np.ndarray:
    """Jacobian (3, 6) of a direction rigidly attached to the tool: ``[0, -skew(a_base)]``."""
    x, y, z = a_base.tolist()
    return np.array([[0.0, 0.0, 0.0, 0.0, z, -y],
                     [0.0, 0.0, 0.0, -z, 0.0, x],
                     [0.0, 0.0, 0.0, y, -x, 0.0]])


def perpendicular(a: np.ndarray) -> np.ndarray:
    """Return a unit vector orthogonal to the unit vector ``a``, chosen deterministically.

    The result is ``a x e`` normalised, with ``e`` the base axis least aligned with ``a``.
    """
    e = np.zeros(3)
    e[int(np.argmin(np.abs(a)))] = 1.0
    n = np.cross(a, e)
    return n / math.sqrt(float(n @ n))


def so3_exp(omega: np.ndarray) -> np.ndarray:
    """Rotation matrix ``exp([omega]x)`` (Rodrigues), exact for any rotation vector [rad]."""
    theta = math.sqrt(float(omega @ omega))
    K = skew(omega)
    if theta < 1e-8:
        return np.eye(3) + K + 0.5 * K @ K
    return (np.eye(3) + (math.sin(theta) / theta) * K
            + ((1.0 - math.cos(theta)) / theta**2) * K @ K)


def quaternion_xyzw(R: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion ``(x, y, z, w)`` with ``w >= 0`` of a rotation matrix (3, 3) (Shepperd's
    method: the largest of the four squared components is taken first)."""
    R = np.asarray(R, dtype=float)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = ((R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4)
    elif R[0, 0] >= R[1, 1] and R[0, 0] >= R[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + R[0, 0] - R[1, 1] - R[2, 2], 1e-300))
        q = (s / 4, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s)
    elif R[1, 1] >= R[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + R[1, 1] - R[0, 0] - R[2, 2], 1e-300))
        q = ((R[0, 1] + R[1, 0]) / s, s / 4, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(max(1.0 + R[2, 2] - R[0, 0] - R[1, 1], 1e-300))
        q = ((R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, s / 4, (R[1, 0] - R[0, 1]) / s)
    v = np.array(q) / np.linalg.norm(q)
    if v[3] < 0.0:
        v = -v
    return float(v[0]), float(v[1]), float(v[2]), float(v[3])


def rotation_from_quaternion(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Rotation matrix (3, 3) of the unit quaternion ``(x, y, z, w)``."""
    return np.array([
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
        [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
        [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
    ])
