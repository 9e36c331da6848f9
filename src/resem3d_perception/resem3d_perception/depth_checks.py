# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""What a depth image says about model points placed in the base frame.

A tracked pose can be checked against the depth image, not only against the cloud's nearest
points: where the measured surface lies *behind* a model point, the camera sees through the
place the object is supposed to occupy (it has moved away); where it lies in front, the point
is hidden (by the hand, a neighbour, the object's own other side). ICP's inlier count cannot
tell these apart; the projective residual can.

Frames: ``base`` (robot base), ``cam`` (the camera's optical frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .cloud import project_base_points

__all__ = ['DepthImage', 'depth_cost', 'depth_fit', 'measured_depth', 'see_through_mask']


@dataclass(frozen=True, eq=False)
class DepthImage:
    """A depth image with what places it in the base frame (any object with these attributes
    does, e.g. the simulator's ``RgbdFrame``).

    Attributes:
        depth_m: (H, W) depth along the optical axis [m]; 0 or NaN where invalid.
        intrinsics: The camera model (``Intrinsics`` or an object with its fields).
        T_base_cam: (4, 4) pose of the optical frame in the base frame at ``stamp_s``.
        stamp_s: Time of the image [s].
    """

    depth_m: np.ndarray
    intrinsics: Any
    T_base_cam: np.ndarray
    stamp_s: float


def measured_depth(points_base: np.ndarray, depth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each point's depth in the camera [m] and the image's measured depth at its pixel [m]
    (NaN where the point falls off the image or behind the camera).

    Args:
        points_base: (N, 3) points in the base frame [m].
        depth: A :class:`DepthImage` (or an object with its attributes).
    """
    image = depth.depth_m
    uv, z = project_base_points(points_base, depth.intrinsics, depth.T_base_cam)
    h, w = image.shape
    u = np.rint(uv[:, 0]).astype(int, copy=False)
    v = np.rint(uv[:, 1]).astype(int, copy=False)
    inside = (z > 1e-3) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    measured = np.full(len(z), np.nan)
    measured[inside] = image[v[inside], u[inside]]
    return z, measured


def see_through_mask(points_base: np.ndarray, depth: Any, margin_m: float) -> np.ndarray:
    """(N,) bool: which points (base frame) the camera sees through: projected into the depth
    image, the measured surface lies more than ``margin_m`` [m] behind them (points off the
    image or on invalid depth are not)."""
    z, measured = measured_depth(points_base, depth)
    with np.errstate(invalid='ignore'):
        return np.isfinite(measured) & (measured - z > margin_m)


def depth_cost(points_base: np.ndarray, depth: Any, cap_m: float
               ) -> tuple[float | None, float]:
    """Mean projective depth residual [m] of model points placed in the base frame, and the
    fraction of them seen (the measured surface within ``cap_m`` of the point).

    Each point is projected into the depth image: where the measured surface lies within
    ``cap_m`` of the point, it costs the depth difference; where it lies further behind, the
    point should have been seen (free space): it costs ``cap_m``; where something lies in
    front (the hand, the object's other side), it is hidden and costs ``cap_m / 2``, whatever
    the pose. None (and 0.0) when no point falls on a valid depth pixel.
    """
    return _cost(*measured_depth(points_base, depth), cap_m)


def depth_fit(points_base: np.ndarray, depth: Any, margin_m: float, cap_m: float
              ) -> tuple[float, float | None]:
    """``(the fraction of the points the camera sees through`` (:func:`see_through_mask`),
    ``their mean depth residual [m]`` (:func:`depth_cost`)``)`` from one projection."""
    z, measured = measured_depth(points_base, depth)
    with np.errstate(invalid='ignore'):
        through = np.isfinite(measured) & (measured - z > margin_m)
    return (float(through.mean()) if len(through) else 0.0), _cost(z, measured, cap_m)[0]


def _cost(z: np.ndarray, measured: np.ndarray, cap_m: float) -> tuple[float | None, float]:
    """:func:`depth_cost` from the points' depths and the measured ones at their pixels."""
    valid = np.isfinite(measured) & (measured > 0.0)
    if not np.any(valid):
        return None, 0.0
    residual = measured[valid] - z[valid]          # > 0: the surface is behind the point
    costs = np.where(residual < -cap_m, 0.5 * cap_m, np.minimum(np.abs(residual), cap_m))
    seen = float(np.count_nonzero(np.abs(residual) <= cap_m)) / len(z)
    return float((costs.sum() + 0.5 * cap_m * np.count_nonzero(~valid)) / len(z)), seen
