"""How the run moves grounded regions between object frames.

:func:`reframe`: a region moved from one object frame into another (the regions of an object
follow its frame when the run redefines it). Centring a part's region on its amodal centre is
perception's job: :mod:`resem3d_perception.amodal`.
"""

from __future__ import annotations

import numpy as np

import resem3d_constraints as rc
from resem3d_perception.amodal import with_centres

__all__ = ['reframe']


def reframe(region: rc.Region, T_new_old: np.ndarray) -> rc.Region:  # noqa: N803
    """``region`` moved from one object frame into another (``T_new_old``: the old frame in
    the new one), keeping its centroid and box centre; its principal axes follow the new
    frame's sign conventions (``Region.from_points``)."""
    R, t = T_new_old[:3, :3], T_new_old[:3, 3]
    moved = rc.Region.from_points(region.name, region.points_obj @ R.T + t, frame=region.frame,
                                  normal_obj=R @ region.normal_obj)
    return with_centres(moved, R @ region.centroid_obj + t, R @ region.center_obj + t)
