"""JSON form of constraint programs: parsing with exact error paths, and serialisation.

The parser checks the structure (objects, lists, known and required fields, kinds, anchor
shapes) and builds the dataclasses, whose own checks cover values and ranges; either way an
invalid input raises :class:`ProgramError` naming the field, e.g.
``stages[1].subgoal[0].a.of: region "mug/lid" is not listed in "regions"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .anchors import AxisAnchor, PointAnchor
from .conditions import Condition
from .constraint import Constraint
from .exceptions import describe, join_path, key_path, ProgramError, quote
from .jsonio import load_json
from .program import ConstraintProgram, GripperAction, Stage
from .spec import (check_length, condition_fields, CONDITION_KINDS, CONDITION_ONLY_KINDS,
                   constraint_fields, CONSTRAINT_KINDS, GRIPPER_FIELDS, MAX_CONDITIONS_PER_LIST,
                   MAX_CONSTRAINTS_PER_STAGE, MAX_REGIONS, MAX_STAGES, PROGRAM_FIELDS,
                   PROGRAM_VERSION, STAGE_FIELDS)

_STAGE_KEYS = tuple(f.name for f in STAGE_FIELDS)
_GRIPPER_KEYS = tuple(f.name for f in GRIPPER_FIELDS)
_ARTICLE = {'point': 'a point', 'axis': 'an axis'}
_ANCHOR_KEYS = {'point': ('of', 'point', 'offset_m', 'at'), 'axis': ('of', 'axis', 'at')}
_LISTS = (('subgoal', MAX_CONSTRAINTS_PER_STAGE, 'constraints'),
          ('path', MAX_CONSTRAINTS_PER_STAGE, 'constraints'),
          ('pre', MAX_CONDITIONS_PER_LIST, 'conditions'),
          ('post', MAX_CONDITIONS_PER_LIST, 'conditions'))


def parse_program(obj_or_text: Any, *, known_regions: Iterable[str] | None = None
                  ) -> ConstraintProgram:
    """Parse and validate a constraint program.

    Args:
        obj_or_text: The program as JSON text (``str``, ``bytes``) or as parsed JSON values
            (a ``dict``).
        known_regions: Region names that exist (e.g. in the perception store); when given,
            every listed region must be one of them.

    Returns:
        The validated program.

    Raises:
        ProgramError: For any invalid input, with the path of the offending field.
    """
    if isinstance(obj_or_text, (str, bytes, bytearray)):
        obj_or_text = load_json(obj_or_text)
    data = _fields(obj_or_text, '$', PROGRAM_FIELDS, PROGRAM_FIELDS)
    version = data['version']
    if isinstance(version, bool) or version != PROGRAM_VERSION:
        raise ProgramError('version', f'unsupported version {describe(version)}; expected '
                                      f'{PROGRAM_VERSION}')
    regions = data['regions']
    check_length('regions', regions, MAX_REGIONS, 'regions')
    stages = data['stages']
    check_length('stages', stages, MAX_STAGES, 'stages')
    program = _build('', ConstraintProgram, name=data['name'], regions=tuple(regions),
                     stages=tuple(_stage(s, f'stages[{i}]') for i, s in enumerate(stages)))
    if known_regions is not None:
        known = set(known_regions)
        for i, region in enumerate(program.regions):
            if region not in known:
                shown = ', '.join(sorted(known)[:16]) + (', ...' if len(known) > 16 else '')
                raise ProgramError(f'regions[{i}]', f'unknown region {quote(region)}; known '
                                                    f'regions: {shown or "none"}')
    return program


def _fields(obj: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]
            ) -> dict:
    """Check that ``obj`` is an object with only ``allowed`` and all ``required`` keys."""
    if not isinstance(obj, dict):
        raise ProgramError(path, f'expected an object, got {describe(obj)}')
    for key in obj:
        if key not in allowed:
            raise ProgramError(join_path(path, key_path(key)),
                               'unknown field; expected one of ' + ', '.join(allowed))
    for key in required:
        if obj.get(key) is None:
            raise ProgramError(join_path(path, key), 'missing required field')
    return obj


def _build(path: str, cls: type, /, **kwargs: Any) -> Any:
    """Construct a dataclass, placing the path of any error under ``path``."""
    try:
        return cls(**kwargs)
    except ProgramError as error:
        raise error.under(path) from None


def _stage(obj: Any, path: str) -> Stage:
    _fields(obj, path, _STAGE_KEYS, ('name', 'timeout_s'))
    items = {}
    for key, limit, what in _LISTS:
        raw = obj.get(key)
        raw = [] if raw is None else raw
        try:
            check_length(key, raw, limit, what)
        except ProgramError as error:
            raise error.under(path) from None
        parse = _constraint if what == 'constraints' else _condition
        items[key] = tuple(parse(item, f'{path}.{key}[{i}]') for i, item in enumerate(raw))
    gripper = obj.get('gripper')
    if gripper is not None:
        gripper_path = join_path(path, 'gripper')
        _fields(gripper, gripper_path, _GRIPPER_KEYS, ('action',))
        gripper = _build(gripper_path, GripperAction, **gripper)
    return _build(path, Stage, name=obj['name'], gripper=gripper, timeout_s=obj['timeout_s'],
                  hold_s=obj.get('hold_s', 0.0), **items)


def _kind(obj: Any, path: str, kinds: tuple[str, ...], what: str) -> str:
    if not isinstance(obj, dict):
        raise ProgramError(path, f'expected an object, got {describe(obj)}')
    kind = obj.get('kind')
    if kind is None:
        raise ProgramError(join_path(path, 'kind'), 'missing required field')
    if kind in kinds:
        return kind
    path = join_path(path, 'kind')
    if not isinstance(kind, str):
        raise ProgramError(path, f'expected a string, got {describe(kind)}')
    if kind in CONDITION_ONLY_KINDS:
        raise ProgramError(path, f'"{kind}" is a condition kind: use it in "pre" or "post"')
    raise ProgramError(path, f'unknown {what} kind {quote(kind)}; expected one of '
                             + ', '.join(kinds))


def _arguments(obj: dict, path: str, kind: str, fields: tuple) -> dict[str, Any]:
    """Check the keys of a constraint or condition object and convert its anchors."""
    _fields(obj, path, ('kind',) + tuple(f.name for f in fields), ())
    arguments = {}
    for spec in fields:
        value = obj.get(spec.name)
        if spec.value_type in _ANCHOR_KEYS and value is not None:
            value = _anchor(value, join_path(path, spec.name), spec.value_type)
        arguments[spec.name] = value
    return arguments


def _constraint(obj: Any, path: str) -> Constraint:
    kind = _kind(obj, path, CONSTRAINT_KINDS, 'constraint')
    return _build(path, Constraint, kind=kind,
                  **_arguments(obj, path, kind, constraint_fields(kind)))


def _condition(obj: Any, path: str) -> Condition:
    kind = _kind(obj, path, CONDITION_KINDS, 'condition')
    arguments = _arguments(obj, path, kind, condition_fields(kind))
    if kind in CONDITION_ONLY_KINDS:
        return _build(path, Condition, kind=kind, **arguments)
    return Condition(kind=kind, constraint=_build(path, Constraint, kind=kind, **arguments))


def _anchor(obj: Any, path: str, kind: str) -> PointAnchor | AxisAnchor:
    if not isinstance(obj, dict):
        raise ProgramError(path, f'expected {_ARTICLE[kind]} anchor object, got '
                                 f'{describe(obj)}')
    wrong = 'axis' if kind == 'point' else 'point'
    if wrong in obj:
        raise ProgramError(join_path(path, wrong),
                           f'{_ARTICLE[wrong]} where {_ARTICLE[kind]} is needed: give '
                           f'"{kind}" instead of "{wrong}"')
    _fields(obj, path, _ANCHOR_KEYS[kind], ('of',))
    if kind == 'point':
        return _build(path, PointAnchor, of=obj['of'], feature=obj.get('point'),
                      offset_m=obj.get('offset_m'), at=obj.get('at'))
    return _build(path, AxisAnchor, of=obj['of'], feature=obj.get('axis'), at=obj.get('at'))


# ------------------------------------------------------------------------- serialisation
def program_to_json(program: ConstraintProgram) -> dict:
    """Return the JSON form (plain dicts and lists) of a program; ``parse_program`` inverts it."""
    return {
        'version': PROGRAM_VERSION,
        'name': program.name,
        'regions': list(program.regions),
        'stages': [_stage_to_json(stage) for stage in program.stages],
    }


def _stage_to_json(stage: Stage) -> dict:
    gripper = None
    if stage.gripper is not None:
        gripper = {f.name: getattr(stage.gripper, f.name) for f in GRIPPER_FIELDS}
    return {
        'name': stage.name,
        'subgoal': [_constraint_to_json(c, constraint_fields(c.kind)) for c in stage.subgoal],
        'path': [_constraint_to_json(c, constraint_fields(c.kind)) for c in stage.path],
        'gripper': gripper,
        'pre': [_condition_to_json(c) for c in stage.pre],
        'post': [_condition_to_json(c) for c in stage.post],
        'timeout_s': stage.timeout_s,
        'hold_s': stage.hold_s,
    }


def _condition_to_json(condition: Condition) -> dict:
    source = condition if condition.constraint is None else condition.constraint
    return _constraint_to_json(source, condition_fields(condition.kind))


def _constraint_to_json(source: Any, fields: tuple) -> dict:
    out: dict[str, Any] = {'kind': source.kind}
    for spec in fields:
        value = getattr(source, spec.name)
        if isinstance(value, (PointAnchor, AxisAnchor)):
            value = _anchor_to_json(value)
        elif isinstance(value, tuple):
            value = list(value)
        if value is not None:
            out[spec.name] = value
    return out


def _anchor_to_json(anchor: PointAnchor | AxisAnchor) -> dict:
    if isinstance(anchor, AxisAnchor):
        out = {'of': anchor.of, 'axis': anchor.feature}
    else:
        out = {'of': anchor.of, 'point': anchor.feature}
        if any(anchor.offset_m):
            out['offset_m'] = list(anchor.offset_m)
    if anchor.at != 'live':
        out['at'] = anchor.at
    return out
