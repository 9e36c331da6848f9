"""Signed distance to an oriented box (for ``keep_away`` and the controller's collision rows)."""

from __future__ import annotations

import math

import numpy as np


def box_signed_distance_local(q_box: np.ndarray, half_extent_m: np.ndarray
                              ) -> tuple[float, np.ndarray]:
    """Signed distance from a point to an axis-aligned box centred at the origin.

    Args:
        q_box: Point (3,) [m] in the box's axes, relative to its centre.
        half_extent_m: Half side lengths (3,) [m], each >= 0.

    Returns:
        ``(distance, gradient)``: the Euclidean distance to the box surface [m], negative
        inside (minus the distance to the nearest face), and its gradient wrt ``q_box`` (3,),
        a unit vector. Inside, the gradient is the outward normal of the nearest face (the
        first of equally near ones); outside, the direction from the nearest surface point.
    """
    q = q_box.tolist()
    excess = [abs(qi) - hi for qi, hi in zip(q, half_extent_m.tolist())]
    outside = [max(e, 0.0) for e in excess]
    distance_sq = outside[0] ** 2 + outside[1] ** 2 + outside[2] ** 2
    if distance_sq > 0.0:
        distance = math.sqrt(distance_sq)
        return distance, np.array([math.copysign(o / distance, qi) for o, qi in zip(outside, q)])
    i = max(range(3), key=excess.__getitem__)
    gradient = np.zeros(3)
    gradient[i] = math.copysign(1.0, q[i])
    return excess[i], gradient


def box_signed_distance(p_base: np.ndarray, center_base: np.ndarray, R_base_box: np.ndarray,
                        half_extent_m: np.ndarray) -> tuple[float, np.ndarray]:
    """Signed distance from a point to an oriented box, and its gradient wrt the point.

    Args:
        p_base: Point (3,) [m], base frame.
        center_base: Box centre (3,) [m], base frame.
        R_base_box: Box axes (3, 3), columns in the base frame (a rotation).
        half_extent_m: Half side lengths (3,) [m] along those axes, each >= 0.

    Returns:
        ``(distance, gradient_wrt_p)``: the distance to the box surface [m], negative inside,
        and its gradient (3,) wrt ``p_base`` in base axes (a unit vector; see
        :func:`box_signed_distance_local` for the choice on edges and inside).
    """
    R = np.asarray(R_base_box, dtype=float)
    q = R.T @ (np.asarray(p_base, dtype=float) - np.asarray(center_base, dtype=float))
    distance, gradient_q = box_signed_distance_local(q, np.asarray(half_extent_m, dtype=float))
    return distance, R @ gradient_q


def box_signed_distances(points_base: np.ndarray, center_base: np.ndarray,
                         R_base_box: np.ndarray, half_extent_m: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Batch form of :func:`box_signed_distance` for many points (same values and gradients).

    Vectorised over the points, for the controller's collision rows; for one point the scalar
    form is several times faster (no numpy call overhead).

    Args:
        points_base: Points (k, 3) [m], base frame.
        center_base: Box centre (3,) [m], base frame.
        R_base_box: Box axes (3, 3), columns in the base frame (a rotation).
        half_extent_m: Half side lengths (3,) [m] along those axes, each >= 0.

    Returns:
        ``(distance (k,), gradient (k, 3))``: distances [m], negative inside, and unit
        gradients wrt each point in base axes.
    """
    local = (points_base - center_base) @ R_base_box
    sign = np.where(local >= 0.0, 1.0, -1.0)
    excess = np.abs(local) - half_extent_m          # per axis, distance outside the face pair
    outside = np.maximum(excess, 0.0)
    out_norm = np.sqrt(np.einsum('ij,ij->i', outside, outside))
    depth = excess.max(axis=1)                      # <= 0 inside: minus the nearest face
    distance = out_norm + np.minimum(depth, 0.0)
    grad_local = sign * outside / np.maximum(out_norm, 1e-300)[:, None]
    inside = np.flatnonzero(out_norm == 0.0)
    if len(inside):                                 # inside: out through the nearest face
        face = excess[inside].argmax(axis=1)
        grad_local[inside] = 0.0
        grad_local[inside, face] = sign[inside, face]
    return distance, grad_local @ R_base_box.T
