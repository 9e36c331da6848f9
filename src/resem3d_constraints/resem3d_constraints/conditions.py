"""Conditions: predicates on the scene, checked before (``pre``) and to end (``post``) a stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .constraint import Constraint
from .exceptions import ProgramError, quote
from .linearize import linearize, violation
from .scene import SceneState
from .spec import condition_fields, CONDITION_KINDS, CONSTRAINT_KINDS


@dataclass(frozen=True)
class Condition:
    """A predicate: a geometric constraint used as a test, or a gripper-state test.

    Geometric kinds (those of :class:`Constraint`) carry the constraint in ``constraint``; they
    hold when every component's violation is within the constraint's ``tolerance`` (its
    weight, hardness and gain are ignored). The gripper kinds use the other fields:

    - ``grasped``: the gripper reports a grasp, ``object`` is in ``scene.held`` and, when
      ``min_width_m`` is given, ``min_width_m <= gripper_width_m``;
    - ``gripper_open``: ``min_width_m <= gripper_width_m``.

    Attributes:
        kind: One of :data:`~resem3d_constraints.spec.CONDITION_KINDS`.
        constraint: The constraint of a geometric kind (same ``kind``); None otherwise.
        object: Object frame of ``grasped``.
        min_width_m: Finger width [m] of ``grasped`` (optional) and ``gripper_open``.
    """

    kind: str
    constraint: Constraint | None = None
    object: str | None = None  # noqa: A003 (the JSON field name)
    min_width_m: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in CONDITION_KINDS:
            reason = (f'unknown condition kind {quote(self.kind)}; expected one of '
                      + ', '.join(CONDITION_KINDS)) if isinstance(self.kind, str) else \
                'expected a string'
            raise ProgramError('kind', reason)
        if self.kind in CONSTRAINT_KINDS:
            if not isinstance(self.constraint, Constraint) or self.constraint.kind != self.kind:
                raise ProgramError('constraint', f'expected a Constraint of kind "{self.kind}"')
            for name in ('object', 'min_width_m'):
                if getattr(self, name) is not None:
                    raise ProgramError(name, f'not a field of kind "{self.kind}"')
            return
        if self.constraint is not None:
            raise ProgramError('constraint', f'kind "{self.kind}" takes no constraint')
        used = {f.name for f in condition_fields(self.kind)}
        for name in ('object', 'min_width_m'):
            if name not in used and getattr(self, name) is not None:
                raise ProgramError(name, f'not a field of kind "{self.kind}"')
        for spec in condition_fields(self.kind):
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))

    @classmethod
    def from_constraint(cls, constraint: Constraint) -> Condition:
        """Return the condition that ``constraint`` holds within its tolerance."""
        return cls(kind=constraint.kind, constraint=constraint)

    @property
    def unit(self) -> str:
        """Unit of the margin: ``'m'`` or ``'rad'``."""
        return 'm' if self.constraint is None else self.constraint.unit

    def references(self) -> tuple[tuple[str, str], ...]:
        """Region names (or, for ``grasped``, the object name) this condition refers to."""
        if self.constraint is not None:
            return self.constraint.references()
        return (('object', self.object),) if self.object is not None else ()


class ConditionResult(NamedTuple):
    """Outcome of :func:`check`.

    Attributes:
        satisfied: Whether the condition holds (``margin >= 0``).
        margin: How far inside (positive) or outside (negative) the condition is, in the
            kind's unit: ``tolerance - max |violation|`` for geometric kinds,
            ``gripper_width_m - min_width_m`` for the gripper kinds (``grasped`` without a
            width: the finger width), and -1 for ``grasped`` when nothing is held.
        detail: One line for logs and for feedback to the planner.
    """

    satisfied: bool
    margin: float
    detail: str


def check(condition: Condition, scene: SceneState) -> ConditionResult:
    """Evaluate a condition in a scene.

    Raises:
        SceneError: If the scene lacks a region or object pose the condition refers to.
    """
    kind = condition.kind
    if kind == 'gripper_open':
        margin = scene.gripper_width_m - condition.min_width_m
        return ConditionResult(margin >= 0.0, margin,
                               f'gripper_open: width {scene.gripper_width_m:.4f} m, needs >= '
                               f'{condition.min_width_m:.4f} m')
    if kind == 'grasped':
        if not scene.gripper_grasping or condition.object not in scene.held:
            state = 'no grasp detected' if not scene.gripper_grasping else 'object not held'
            return ConditionResult(False, -1.0, f'grasped {condition.object}: {state}')
        margin = scene.gripper_width_m - (condition.min_width_m or 0.0)
        return ConditionResult(margin >= 0.0, margin,
                               f'grasped {condition.object}: width '
                               f'{scene.gripper_width_m:.4f} m, needs >= '
                               f'{condition.min_width_m or 0.0:.4f} m')
    constraint = condition.constraint
    lin = linearize(constraint, scene)
    worst = float(np.max(np.abs(violation(lin))))
    margin = constraint.tolerance - worst
    values = ', '.join(f'{v:.4g}' for v in lin.value)
    return ConditionResult(margin >= 0.0, margin,
                           f'{kind}: value [{values}] {constraint.unit}, violation '
                           f'{worst:.4g} {constraint.unit}, tolerance '
                           f'{constraint.tolerance:.4g} {constraint.unit}')
