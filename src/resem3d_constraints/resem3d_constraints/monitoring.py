"""Residuals of the active stage of a program, from tracked region poses and the tool pose.

The constraints node keeps one :class:`StageMonitor`: perception's regions (object frame) and
their objects' poses (base frame) and the tool pose (a tf lookup ``base_frame`` →
``tool_frame``) update its scene; :meth:`StageMonitor.residuals` evaluates every subgoal and
path constraint of the active stage into a
:class:`~resem3d_constraints.status.ConstraintResiduals` (``/resem3d/residuals``), and
:meth:`StageMonitor.evaluations` gives the same per constraint for the markers.

A constraint's residual is its largest violation beyond its bounds, ``max |violation|`` (m, or
rad for ``align`` and ``angle``; 0 within bounds). Anchors ``at: init`` read the object poses
frozen when the monitor first sees a stage active (the controller freezes them at the stage
start, so the two agree up to one region update).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import math
from typing import Any

import numpy as np

from .constraint import Constraint
from .exceptions import SceneError
from .linearize import linearize, violation
from .program import ConstraintProgram, Stage
from .region import Region
from .scene import SceneState
from .status import ConstraintResiduals

__all__ = ['ConstraintEvaluation', 'constraint_name', 'evaluate_stage', 'stage_constraints',
           'stage_index', 'StageMonitor', 'transform_matrix']


@dataclass(frozen=True)
class ConstraintEvaluation:
    """One constraint of a stage, evaluated in a scene.

    Attributes:
        name: ``<role>[<index>] <kind>``, e.g. ``subgoal[0] offset`` (role ``subgoal`` or
            ``path``, index within that list).
        constraint: The constraint.
        residual: ``max |violation|`` in its unit; NaN when the scene lacks a region or an
            object pose it needs.
        tolerance: Violation below which it counts as met, same unit.
        unit: ``m`` or ``rad``.
    """

    name: str
    constraint: Constraint
    residual: float
    tolerance: float
    unit: str

    @property
    def available(self) -> bool:
        """Whether the scene had what the constraint needs."""
        return math.isfinite(self.residual)

    @property
    def satisfied(self) -> bool | None:
        """Whether it is met (None when not available)."""
        return self.residual <= self.tolerance if self.available else None


def constraint_name(role: str, index: int, constraint: Constraint) -> str:
    """Name of a stage's constraint in reports and markers: ``<role>[<index>] <kind>``."""
    return f'{role}[{index}] {constraint.kind}'


def stage_constraints(stage: Stage) -> list[tuple[str, Constraint]]:
    """``(name, constraint)`` of every subgoal, then path constraint of ``stage``."""
    return [(constraint_name(role, i, c), c)
            for role, constraints in (('subgoal', stage.subgoal), ('path', stage.path))
            for i, c in enumerate(constraints)]


def evaluate_stage(stage: Stage, scene: SceneState) -> list[ConstraintEvaluation]:
    """Evaluate every subgoal, then path constraint of ``stage`` in ``scene``."""
    out = []
    for name, c in stage_constraints(stage):
        try:
            residual = float(np.max(np.abs(violation(linearize(c, scene)))))
        except SceneError:
            residual = math.nan
        out.append(ConstraintEvaluation(name, c, residual, float(c.tolerance), c.unit))
    return out


def stage_index(program: ConstraintProgram, stage_name: str) -> int:
    """Index of the stage called ``stage_name`` in ``program``; 0 for an unknown name."""
    for i, stage in enumerate(program.stages):
        if stage.name == stage_name:
            return i
    return 0


class StageMonitor:
    """A scene kept current from tracked regions and the tool pose, and its residuals.

    Attributes:
        scene: The scene constraints are evaluated in (base frame).
    """

    def __init__(self) -> None:
        self.scene = SceneState(T_base_tool=np.eye(4))
        self.has_tool_pose = False
        self._program: ConstraintProgram | None = None   # the active stage's program ...
        self._index = -1                                 # ... and its index

    def set_regions(self, regions: Mapping[str, Region],
                    T_base_obj: Mapping[str, np.ndarray]) -> None:
        """Take tracked regions (object frame) and their objects' poses (base frame).

        Regions and poses not mentioned keep their last value.

        Raises:
            SceneError: If a pose is not a finite 4x4 transform (nothing is taken).
        """
        checked = SceneState(T_base_tool=np.eye(4), T_base_obj=T_base_obj).T_base_obj
        self.scene.regions = {**self.scene.regions, **regions}
        for frame, T in checked.items():
            self.scene.set_object_pose(frame, T)

    def set_tool_pose(self, T_base_tool: np.ndarray) -> None:
        """Take the tool (TCP) pose (4, 4) in the base frame.

        Raises:
            SceneError: If it is not a finite 4x4 transform.
        """
        self.scene.T_base_tool = SceneState(T_base_tool=T_base_tool).T_base_tool
        self.has_tool_pose = True

    def activate(self, program: ConstraintProgram, index: int) -> Stage:
        """Make stage ``index`` of ``program`` the active one; on a change of stage (or
        program) the object poses are frozen for its ``at: init`` anchors.

        Raises:
            IndexError: If the program has no such stage.
        """
        stage = program.stages[index]
        if program is not self._program or index != self._index:
            self._program, self._index = program, index
            self.scene.freeze_init_poses()
        return stage

    def evaluations(self, program: ConstraintProgram, index: int
                    ) -> list[ConstraintEvaluation]:
        """Evaluate the constraints of stage ``index`` (see :func:`evaluate_stage`)."""
        return evaluate_stage(self.activate(program, index), self.scene)

    def residuals(self, program: ConstraintProgram, index: int, stamp_ns: int,
                  evaluations: Sequence[ConstraintEvaluation] | None = None
                  ) -> ConstraintResiduals:
        """Residuals of stage ``index`` at ``stamp_ns`` [ns]; constraints the scene cannot
        evaluate yet (a region not tracked) are left out.

        Args:
            program: The program.
            index: Index of the active stage.
            stamp_ns: Time of the report [ns].
            evaluations: That stage's :meth:`evaluations`, if already made.
        """
        if evaluations is None:
            evaluations = self.evaluations(program, index)
        evaluated = [e for e in evaluations if e.available]
        return ConstraintResiduals(program.stages[index].name, tuple(e.name for e in evaluated),
                                   tuple(e.residual for e in evaluated),
                                   tuple(e.tolerance for e in evaluated), stamp_ns)


def transform_matrix(transform: Any) -> np.ndarray:
    """(4, 4) matrix of a ``geometry_msgs/Transform`` (``translation``, ``rotation`` x y z w),
    e.g. a tf lookup's ``T_base_tool``.

    Raises:
        SceneError: For a non-finite value or a quaternion of norm not within 1e-6 of 1 (a
            nearly unit one is normalised).
    """
    t, r = transform.translation, transform.rotation
    values = np.array([t.x, t.y, t.z, r.x, r.y, r.z, r.w], dtype=float)
    if not np.all(np.isfinite(values)):
        raise SceneError('transform: not finite')
    x, y, z, w = values[3:]
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if abs(norm - 1.0) > 1e-6:
        raise SceneError(f'transform: rotation quaternion has norm {norm:.6g}, expected 1')
    x, y, z, w = values[3:] / norm
    T = np.eye(4)
    T[:3, :3] = [[1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
                 [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
                 [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)]]
    T[:3, 3] = values[:3]
    return T
