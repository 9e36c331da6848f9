"""What the recorder draws on a camera frame: the active constraints and regions of a stage.

The values come from the constraint scene the controller uses (tracked object poses, the tool
pose now), so the video shows what the controller tracks, not the simulator's truth.
"""

from __future__ import annotations

import math
from typing import Any

import resem3d_constraints as rc
from resem3d_constraints.markers import constraint_visuals

__all__ = ['constraint_overlays', 'region_overlays']


def constraint_overlays(stage: rc.Stage, scene: rc.SceneState) -> list[Any]:
    """One :class:`resem3d.record.ConstraintOverlay` per subgoal and path constraint of
    ``stage``: the point it moves (the tool's, or a held object's), its target point where it
    has one, and its residual now (the geometry of
    :func:`resem3d_constraints.markers.constraint_visuals`, which the ROS graph's markers use
    too)."""
    from .record import ConstraintOverlay
    return [ConstraintOverlay(v.name, v.anchor_base, v.target_base,
                              v.residual if math.isfinite(v.residual) else None,
                              v.tolerance, v.unit)
            for v in constraint_visuals(stage, scene)]


def region_overlays(stage: rc.Stage, scene: rc.SceneState) -> list[Any]:
    """The regions ``stage`` refers to, at their objects' tracked poses."""
    from .record import RegionOverlay
    names = sorted({ref for _, ref in stage.references() if '/' in ref})
    out = []
    for name in names:
        try:
            region = scene.region(name)
            out.append(RegionOverlay.from_region(region, scene.object_pose(region.frame),
                                                 points=False))
        except (rc.SceneError, ValueError):
            continue
    return out
