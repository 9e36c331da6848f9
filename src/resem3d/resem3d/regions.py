"""How the run sets up the grounded regions it hands to the controller.

* :func:`reframe`: a region moved from one object frame into another (the regions of an object
  follow its frame when the run redefines it).
* :func:`amodal_centre`: the centre of a round part from its visible surface. The camera sees
  one side of a part, so the mean of its points (a region's ``centroid``) lies towards the
  camera by up to the part's radius (measured on the 12 tasks: 1-6 cm for bodies, about 1 cm
  for a flask's neck), and a grasp centred there closes one finger first and pushes, or
  tips, the object. For a part whose visible points fit a vertical circular cylinder well (a
  body of revolution standing upright: mug, kettle, flask, bottle, beaker), the cylinder's
  axis is a far better estimate of its centre (0.1-0.4 cm on the same parts); parts that do
  not fit (handles, boxes' faces, drawers, plates, thin tubes) keep their centroid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import resem3d_constraints as rc

__all__ = ['AmodalConfig', 'amodal_centre', 'reframe']


def reframe(region: rc.Region, T_new_old: np.ndarray) -> rc.Region:  # noqa: N803
    """``region`` moved from one object frame into another (``T_new_old``: the old frame in
    the new one), keeping its centroid and box centre; its principal axes follow the new
    frame's sign conventions (``Region.from_points``)."""
    R, t = T_new_old[:3, :3], T_new_old[:3, 3]
    moved = rc.Region.from_points(region.name, region.points_obj @ R.T + t, frame=region.frame,
                                  normal_obj=R @ region.normal_obj)
    return _with_centres(moved, R @ region.centroid_obj + t, R @ region.center_obj + t)


def _with_centres(region: rc.Region, centroid_obj: np.ndarray,
                  center_obj: np.ndarray) -> rc.Region:
    return rc.Region(name=region.name, frame=region.frame, points_obj=region.points_obj,
                     centroid_obj=centroid_obj, axes_obj=region.axes_obj,
                     normal_obj=region.normal_obj, extent_m=region.extent_m,
                     center_obj=center_obj)


@dataclass(frozen=True)
class AmodalConfig:
    """When a part counts as round (see :func:`amodal_centre`).

    Attributes:
        min_arc_deg: Smallest angle the visible points span around the fitted axis.
        max_radius_m: Largest fitted radius.
        max_rms_ratio: Largest RMS distance of the points to the cylinder, over its radius
            (a cone, such as a flask's body, has a larger spread than a cylinder).
        small_radius_m: Below this radius the fit must be tighter ...
        small_rms_ratio: ... at most this RMS ratio (a thin tube half hidden in its rack
            fits a wrong circle).
    """

    min_arc_deg: float = 120.0
    max_radius_m: float = 0.08
    max_rms_ratio: float = 0.2
    small_radius_m: float = 0.02
    small_rms_ratio: float = 0.1


def amodal_centre(region: rc.Region, T_base_obj: np.ndarray,  # noqa: N803
                  config: AmodalConfig = AmodalConfig()) -> tuple[rc.Region, float] | None:
    """The region with its centroid and box centre moved onto the axis of the vertical
    cylinder its points fit, if they fit one well (see the module docstring).

    Args:
        region: A grounded region (object frame).
        T_base_obj: Its object's pose at grounding (base frame, z up).
        config: The fit's acceptance bounds.

    Returns:
        ``(the corrected region, the horizontal shift of its centroid [m])``, or None when the
        part is not round.
    """
    from resem3d_perception import EmptyRegionError
    from resem3d_perception.parts import fit_circle_2d
    P = region.points_obj @ T_base_obj[:3, :3].T + T_base_obj[:3, 3]
    if len(P) < 20:
        return None
    try:
        centre, radius, rms = fit_circle_2d(P[:, :2])
    except EmptyRegionError:
        return None
    angles = np.sort(np.arctan2(P[:, 1] - centre[1], P[:, 0] - centre[0]))
    gaps = np.diff(np.concatenate([angles, [angles[0] + 2.0 * math.pi]]))
    arc_deg = math.degrees(2.0 * math.pi - float(gaps.max()))
    ratio = rms / radius if radius > 0 else math.inf
    if (arc_deg < config.min_arc_deg or radius > config.max_radius_m
            or ratio > config.max_rms_ratio
            or (radius < config.small_radius_m and ratio > config.small_rms_ratio)):
        return None
    R, t = T_base_obj[:3, :3], T_base_obj[:3, 3]

    def onto_axis(p_obj: np.ndarray) -> np.ndarray:
        p = R @ p_obj + t
        p[:2] = centre
        return R.T @ (p - t)

    corrected = _with_centres(region, onto_axis(region.centroid_obj),
                              onto_axis(region.center_obj))
    shift = float(np.linalg.norm(R @ (corrected.centroid_obj - region.centroid_obj)))
    return corrected, shift
