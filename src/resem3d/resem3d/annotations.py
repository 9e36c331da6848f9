"""What the recorder draws on a camera frame: the active constraints and regions of a stage.

The values come from the constraint scene the controller uses (tracked object poses, the tool
pose now), so the video shows what the controller tracks, not the simulator's truth.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import resem3d_constraints as rc
from resem3d_constraints.anchors import locate_point

__all__ = ['constraint_overlays', 'region_overlays']


def _label(index: int, constraint: rc.Constraint, role: str) -> str:
    return f'{role}[{index}] {constraint.kind}'


def constraint_overlays(stage: rc.Stage, scene: rc.SceneState) -> list[Any]:
    """One :class:`resem3d.record.ConstraintOverlay` per subgoal and path constraint of
    ``stage``: the point it moves (the tool's, or a held object's), its target point where it
    has one, and its residual now."""
    from .record import ConstraintOverlay
    out = []
    for role, constraints in (('subgoal', stage.subgoal), ('path', stage.path)):
        for i, c in enumerate(constraints):
            try:
                residual = float(np.max(np.abs(rc.violation(rc.linearize(c, scene)))))
                if c.kind in ('offset', 'distance'):
                    a, b = locate_point(c.a, scene), locate_point(c.b, scene)
                    anchor, target = a.p_base, b.p_base
                    if c.kind == 'offset':
                        offset = np.asarray(c.offset_m, dtype=float)
                        target = target + (b.R_base_owner @ offset if c.frame == 'object'
                                           else offset)
                elif c.kind in ('above', 'inside', 'keep_away'):
                    anchor = locate_point(c.point, scene).p_base
                    region = scene.region(c.region)
                    T = scene.object_pose(region.frame)
                    target = T[:3, :3] @ region.centroid_obj + T[:3, 3]
                else:                            # align, angle: about the tool
                    anchor, target = scene.T_base_tool[:3, 3], None
                out.append(ConstraintOverlay(_label(i, c, role), anchor, target, residual,
                                             c.tolerance, c.unit))
            except (rc.SceneError, ValueError):
                continue
    return out


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
