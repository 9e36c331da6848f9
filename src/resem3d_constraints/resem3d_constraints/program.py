"""Programs: ordered stages of constraints, conditions and gripper actions."""

from __future__ import annotations

from dataclasses import dataclass

from .conditions import Condition
from .constraint import Constraint
from .exceptions import join_path, ProgramError, quote
from .spec import (check_length, check_name, check_region_name, DEFAULT_GRASP_FORCE_N,
                   GRIPPER_FIELDS, GRIPPER_MAX_WIDTH_M, MAX_CONDITIONS_PER_LIST,
                   MAX_CONSTRAINTS_PER_STAGE, MAX_REGIONS, MAX_STAGES, STAGE_FIELDS)

_DEFAULT_WIDTH_M = {'open': GRIPPER_MAX_WIDTH_M, 'close': 0.0, 'grasp': 0.0}


@dataclass(frozen=True)
class GripperAction:
    """A gripper command (Franka Hand semantics).

    Attributes:
        action: ``open`` (to ``width_m``, default 0.08 m), ``close`` (close until contact),
            ``grasp`` (close on an object of ``width_m`` with ``force_n``) or ``move`` (to
            ``width_m``, required).
        width_m: Finger width [m] in [0, 0.08]; default 0.08 for open, 0 for close and grasp.
        force_n: Grasp force [N] in [0, 70]; default 20 for grasp and close, 0 otherwise.
        speed_mps: Finger speed [m/s] in (0, 0.1]; default 0.05.
    """

    action: str
    width_m: float | None = None
    force_n: float | None = None
    speed_mps: float | None = None

    def __post_init__(self) -> None:
        for spec in GRIPPER_FIELDS:
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))
        if self.width_m is None:
            if self.action not in _DEFAULT_WIDTH_M:
                raise ProgramError('width_m', f'required for action "{self.action}"')
            object.__setattr__(self, 'width_m', _DEFAULT_WIDTH_M[self.action])
        if self.force_n is None:
            force = DEFAULT_GRASP_FORCE_N if self.action in ('grasp', 'close') else 0.0
            object.__setattr__(self, 'force_n', force)


def _check_items(name: str, items: object, cls: type, limit: int, what: str) -> tuple:
    check_length(name, items, limit, what)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise ProgramError(f'{name}[{i}]', f'expected a {cls.__name__}, got '
                                               f'{type(item).__name__}')
    return tuple(items)


@dataclass(frozen=True)
class Stage:
    """One step of a program.

    The controller tracks ``subgoal`` and ``path`` together; once the subgoal holds (within
    tolerances) it runs the gripper action, if any (at once when there is no subgoal). The
    stage succeeds when every ``post`` condition holds, and fails when a ``pre`` condition
    stops holding or after ``timeout_s``.

    Attributes:
        name: Unique name in the program (letters, digits, ``_.-``; at most 64 chars).
        subgoal: Constraints to reach.
        path: Constraints held throughout the stage (e.g. keep upright, keep away).
        gripper: Gripper action or None.
        pre: Conditions that must hold before and during the stage.
        post: Conditions that end the stage; may be empty only with a gripper action (the
            action's own result then ends the stage).
        timeout_s: Time limit [s] in (0, 120].
        hold_s: Dwell [s] in [0, timeout_s): the post conditions must hold continuously this
            long before the stage ends (pouring, letting an object settle); 0 by default.

    A stage needs a subgoal or a gripper action, and at most 32 constraints (subgoal and path
    together), 32 ``pre`` and 32 ``post`` conditions.
    """

    name: str
    subgoal: tuple[Constraint, ...] = ()
    path: tuple[Constraint, ...] = ()
    gripper: GripperAction | None = None
    pre: tuple[Condition, ...] = ()
    post: tuple[Condition, ...] = ()
    timeout_s: float | None = None
    hold_s: float = 0.0

    def __post_init__(self) -> None:
        check_name('name', self.name, 'stage name')
        subgoal = _check_items('subgoal', self.subgoal, Constraint, MAX_CONSTRAINTS_PER_STAGE,
                               'constraints in this stage')
        path = _check_items('path', self.path, Constraint, MAX_CONSTRAINTS_PER_STAGE,
                            'constraints in this stage')
        if len(subgoal) + len(path) > MAX_CONSTRAINTS_PER_STAGE:
            raise ProgramError(f'path[{MAX_CONSTRAINTS_PER_STAGE - len(subgoal)}]',
                               f'too many constraints in this stage: {len(subgoal)} in subgoal '
                               f'+ {len(path)} in path > {MAX_CONSTRAINTS_PER_STAGE}')
        pre = _check_items('pre', self.pre, Condition, MAX_CONDITIONS_PER_LIST, 'conditions')
        post = _check_items('post', self.post, Condition, MAX_CONDITIONS_PER_LIST, 'conditions')
        if self.gripper is not None and not isinstance(self.gripper, GripperAction):
            raise ProgramError('gripper', f'expected a GripperAction or None, got '
                                          f'{type(self.gripper).__name__}')
        timeout = next(f for f in STAGE_FIELDS if f.name == 'timeout_s').check(self.timeout_s)
        hold = next(f for f in STAGE_FIELDS if f.name == 'hold_s').check(self.hold_s)
        if hold >= timeout:
            raise ProgramError('hold_s', f'the dwell ({hold:g} s) must be shorter than '
                                         f'timeout_s ({timeout:g} s)')
        if not subgoal and self.gripper is None:
            raise ProgramError('subgoal', 'a stage needs a subgoal or a gripper action')
        if not post and self.gripper is None:
            raise ProgramError('post', 'a stage without a gripper action needs at least one '
                                       'post condition')
        for name, value in (('subgoal', subgoal), ('path', path), ('pre', pre), ('post', post),
                            ('timeout_s', timeout), ('hold_s', hold)):
            object.__setattr__(self, name, value)

    def constraints(self) -> tuple[Constraint, ...]:
        """Return the subgoal constraints followed by the path constraints."""
        return self.subgoal + self.path

    def references(self) -> tuple[tuple[str, str], ...]:
        """Return the region (and ``grasped`` object) names used, with their field paths."""
        return tuple((join_path(f'{name}[{i}]', path), ref)
                     for name in ('subgoal', 'path', 'pre', 'post')
                     for i, item in enumerate(getattr(self, name))
                     for path, ref in item.references())


@dataclass(frozen=True)
class ConstraintProgram:
    """A validated constraint program: what the planner asks the robot to do.

    Attributes:
        name: Program name (letters, digits, ``_.-``; at most 64 chars).
        regions: Region names ``object/part`` the program refers to (at most 64, unique);
            every region anchor and region field must name one of them, and a ``grasped``
            object must own one of them.
        stages: Stages in execution order (1 to 32, unique names).
    """

    name: str
    regions: tuple[str, ...]
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        check_name('name', self.name, 'program name')
        check_length('regions', self.regions, MAX_REGIONS, 'regions')
        for i, region in enumerate(self.regions):
            check_region_name(f'regions[{i}]', region)
            if region in self.regions[:i]:
                raise ProgramError(f'regions[{i}]', f'duplicated region {quote(region)}')
        stages = _check_items('stages', self.stages, Stage, MAX_STAGES, 'stages')
        if not stages:
            raise ProgramError('stages', 'a program needs at least one stage')
        names = set()
        for i, stage in enumerate(stages):
            if stage.name in names:
                raise ProgramError(f'stages[{i}].name', f'duplicated stage name '
                                                        f'{quote(stage.name)}')
            names.add(stage.name)
        object.__setattr__(self, 'regions', tuple(self.regions))
        object.__setattr__(self, 'stages', stages)
        objects = set(self.objects)
        for i, stage in enumerate(stages):
            for path, ref in stage.references():
                if '/' in ref and ref not in self.regions:
                    raise ProgramError(f'stages[{i}].{path}', f'region {quote(ref)} is not '
                                                              'listed in "regions"')
                if '/' not in ref and ref not in objects:
                    raise ProgramError(f'stages[{i}].{path}', f'object {quote(ref)} owns no '
                                                              'region listed in "regions"')

    @property
    def objects(self) -> tuple[str, ...]:
        """Names of the objects owning the listed regions, in order of first appearance."""
        return tuple(dict.fromkeys(region.split('/', 1)[0] for region in self.regions))

    def constraints(self) -> tuple[Constraint, ...]:
        """Return every constraint of every stage, in order (each subgoal, then path)."""
        return tuple(c for stage in self.stages for c in stage.constraints())

    def conditions(self) -> tuple[Condition, ...]:
        """Return every condition of every stage, in order (each pre, then post)."""
        return tuple(c for stage in self.stages for c in stage.pre + stage.post)

    def stage(self, name: str) -> Stage:
        """Return the stage called ``name``.

        Raises:
            KeyError: If there is none.
        """
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)
