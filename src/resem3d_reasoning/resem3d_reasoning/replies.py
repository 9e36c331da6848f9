"""Strict parsing and validation of model replies, one function per reasoning step.

A reply must be exactly one JSON object, optionally wrapped in one ```json fence, and nothing
else; it is size- and depth-limited, parsed without NaN/Infinity or duplicated keys, checked
against the step's closed JSON Schema (unknown fields are refused, so a reply cannot smuggle in
speeds, limits or free-form commands), then against the facts of the request (the marks, grid
labels and regions that exist, the robot workspace). Every failure raises
:class:`~resem3d_reasoning.errors.ReplyError` with a one-line detail fit to be fed back to the
model. Nothing in a reply is ever executed or used as code or as a format string.

Steps and reply shapes (the schemas below are also sent as structured-output formats):

* ``plan``: ``{"subtasks": [{"name", "goal", "regions": ["object/part", ...]}], "notes"?}``
* ``extract``: ``{"regions": [{"name": "object/part", "marks": [id, ...]}], "notes"?}``
* ``refine_flow``: ``{"regions": [{"name", "flow": "positional"|"geometric"|"none",
  "feature"?: "rim"|"top"|"tip", "direction"?: "+x"|...}], "notes"?}``
* ``refine_grid``: ``{"cells": [label, ...], "notes"?}``
* ``program``: a constraint program (:func:`resem3d_constraints.program_schema`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import resem3d_constraints as rc
from resem3d_constraints.jsonio import scan_nesting
from resem3d_constraints.spec import NAME_PATTERN, REGION_PATTERN, RESERVED_OBJECTS

from .errors import ReplyError
from .schema_check import SchemaViolation, validate

__all__ = [
    'EXTRACT_SCHEMA', 'FLOWS', 'FlowChoice', 'MAX_REPLY_BYTES', 'PLAN_SCHEMA', 'PlanReply',
    'POSITIONAL_FEATURES', 'REFINE_FLOW_SCHEMA', 'REFINE_GRID_SCHEMA', 'RegionPose', 'STEPS',
    'SubtaskSpec', 'TIP_DIRECTIONS', 'Workspace', 'check_workspace', 'extract_json',
    'parse_extract', 'parse_plan', 'parse_program', 'parse_refine_flow', 'parse_refine_grid',
    'program_reply_schema', 'reply_schema',
]

#: Largest reply accepted [bytes of UTF-8], per step.
MAX_REPLY_BYTES: Mapping[str, int] = {'plan': 16_384, 'extract': 16_384, 'refine_flow': 16_384,
                                      'refine_grid': 8_192, 'program': 65_536}
#: Deepest nesting of arrays and objects accepted in a reply (a program needs 7): that of the
#: constraint language's loader, whose linear-time scan is exact above it.
MAX_REPLY_DEPTH = 32
#: Most subtasks a plan may have.
MAX_SUBTASKS = 12
#: Most regions a subtask may name, and most marks or grid cells per region.
MAX_REGIONS_PER_SUBTASK = 16
MAX_MARKS_PER_REGION = 8
MAX_CELLS = 16
FLOWS = ('positional', 'geometric', 'none')
POSITIONAL_FEATURES = ('rim', 'top', 'tip')
TIP_DIRECTIONS = ('+x', '-x', '+y', '-y', '+z', '-z')

# Free text: printable characters only (no control characters, so no hidden line breaks).
_TEXT_PATTERN = r'^[^\x00-\x1f\x7f]*$'
_SUBTASK_NAME = {'type': 'string', 'pattern': NAME_PATTERN, 'maxLength': 48}
_REGION_NAME = {'type': 'string', 'pattern': REGION_PATTERN, 'maxLength': 64}
_NOTES = {'type': 'string', 'maxLength': 1000, 'pattern': _TEXT_PATTERN,
          'description': 'Optional short reasoning; recorded, never acted upon.'}
_MARK_ID = {'type': 'integer', 'minimum': 0, 'maximum': 9999}


def _closed(properties: dict[str, Any], required: list[str], description: str = ''
            ) -> dict[str, Any]:
    out: dict[str, Any] = {'type': 'object', 'additionalProperties': False,
                           'required': required, 'properties': properties}
    if description:
        out['description'] = description
    return out


PLAN_SCHEMA: Mapping[str, Any] = _closed({
    'subtasks': {'type': 'array', 'minItems': 1, 'maxItems': MAX_SUBTASKS, 'items': _closed({
        'name': _SUBTASK_NAME,
        'goal': {'type': 'string', 'minLength': 1, 'maxLength': 240, 'pattern': _TEXT_PATTERN},
        'regions': {'type': 'array', 'maxItems': MAX_REGIONS_PER_SUBTASK, 'uniqueItems': True,
                    'items': _REGION_NAME},
    }, ['name', 'goal', 'regions'])},
    'notes': _NOTES,
}, ['subtasks'], 'Ordered subtasks and the object parts (object/part) each needs.')

EXTRACT_SCHEMA: Mapping[str, Any] = _closed({
    'regions': {'type': 'array', 'minItems': 1, 'maxItems': MAX_REGIONS_PER_SUBTASK,
                'items': _closed({
                    'name': _REGION_NAME,
                    'marks': {'type': 'array', 'minItems': 1, 'maxItems': MAX_MARKS_PER_REGION,
                              'uniqueItems': True, 'items': _MARK_ID},
                }, ['name', 'marks'])},
    'notes': _NOTES,
}, ['regions'], 'The numbered marks that show each requested region.')

REFINE_FLOW_SCHEMA: Mapping[str, Any] = _closed({
    'regions': {'type': 'array', 'minItems': 1, 'maxItems': MAX_REGIONS_PER_SUBTASK,
                'items': _closed({
                    'name': _REGION_NAME,
                    'flow': {'enum': list(FLOWS)},
                    'feature': {'enum': list(POSITIONAL_FEATURES)},
                    'direction': {'enum': list(TIP_DIRECTIONS)},
                }, ['name', 'flow'])},
    'notes': _NOTES,
}, ['regions'], 'How to narrow each extracted part to the region a constraint needs.')

REFINE_GRID_SCHEMA: Mapping[str, Any] = _closed({
    'cells': {'type': 'array', 'minItems': 1, 'maxItems': MAX_CELLS, 'uniqueItems': True,
              'items': {'type': 'integer', 'minimum': 1, 'maximum': 999}},
    'notes': _NOTES,
}, ['cells'], 'The labelled grid cells that cover the wanted region.')


def program_reply_schema() -> dict[str, Any]:
    """The JSON Schema of a ``program`` reply: the constraint-program schema."""
    return rc.program_schema()


_STEP_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    'plan': PLAN_SCHEMA, 'extract': EXTRACT_SCHEMA, 'refine_flow': REFINE_FLOW_SCHEMA,
    'refine_grid': REFINE_GRID_SCHEMA,
}
STEPS = ('plan', 'extract', 'refine_flow', 'refine_grid', 'program')


def reply_schema(step: str) -> dict[str, Any]:
    """The JSON Schema (a fresh copy) of the reply of ``step``.

    Raises:
        KeyError: For an unknown step.
    """
    if step == 'program':
        return program_reply_schema()
    return json.loads(json.dumps(_STEP_SCHEMAS[step]))

_FENCE = re.compile(r'\A```(?:json)?[ \t]*\r?\n(.*?)\r?\n[ \t]*```\Z', re.DOTALL)


# --------------------------------------------------------------------------- JSON extraction

def _no_constant(name: str) -> None:
    raise ValueError(f'{name} is not a JSON number')


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f'duplicated key {json.dumps(key[:40], ensure_ascii=True)}')
        out[key] = value
    return out


def _describe_start(text: str) -> str:
    head = text[:24]
    return json.dumps(head + ('...' if len(text) > 24 else ''), ensure_ascii=True)


def extract_json(text: Any, step: str, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The one JSON object of a reply.

    Accepted forms (surrounding whitespace ignored): ``{...}`` or exactly one fence
    ```` ```json\\n{...}\\n``` ```` (the ``json`` tag optional). Anything else (prose around
    the object, a second fence, an array, trailing text) is refused.

    Args:
        text: The reply text.
        step: The step name, for the error.
        max_bytes: Size limit [bytes]; default :data:`MAX_REPLY_BYTES` of the step (64 kB for
            unknown steps).

    Raises:
        ReplyError: Naming what is wrong in one line.
    """
    if not isinstance(text, str):
        raise ReplyError(step, f'the reply must be text, got {type(text).__name__}')
    limit = max_bytes if max_bytes is not None else MAX_REPLY_BYTES.get(step, 65_536)
    size = len(text.encode('utf-8', 'surrogatepass'))
    if size > limit:
        raise ReplyError(step, f'the reply is {size} bytes, more than the limit of {limit}')
    body = text.strip()
    if not body:
        raise ReplyError(step, 'the reply is empty; answer with one JSON object')
    if body.startswith('```'):
        match = _FENCE.match(body)
        if match is None:
            raise ReplyError(step, 'a fenced reply must be exactly one ```json fence holding '
                                   'the JSON object, with nothing before or after it')
        body = match.group(1).strip()
        if '```' in body:
            raise ReplyError(step, 'the reply holds more than one ``` fence; send one JSON '
                                   'object')
    if body.startswith('['):
        raise ReplyError(step, 'the reply must be one JSON object, got an array')
    if not body.startswith('{'):
        raise ReplyError(step, f'the reply must be one JSON object and nothing else; it '
                               f'starts with {_describe_start(body)}')
    depth, _ = scan_nesting(body.encode('utf-8', 'surrogatepass'))
    if depth > MAX_REPLY_DEPTH:
        raise ReplyError(step, f'the JSON is nested deeper than {MAX_REPLY_DEPTH} levels')
    try:
        value = json.loads(body, parse_constant=_no_constant, object_pairs_hook=_pairs)
    except json.JSONDecodeError as error:
        if error.msg == 'Extra data':
            raise ReplyError(step, f'text after the JSON object (line {error.lineno} column '
                                   f'{error.colno}); send the object alone') from None
        raise ReplyError(step, f'not valid JSON (line {error.lineno} column {error.colno}): '
                               f'{error.msg}') from None
    except (ValueError, RecursionError) as error:
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise ReplyError(step, f'not valid JSON: {reason}') from None
    if not isinstance(value, dict):
        raise ReplyError(step, f'the reply must be one JSON object, got '
                               f'{type(value).__name__}')
    return value


def _schema(step: str, value: Any, schema: Mapping[str, Any]) -> None:
    try:
        validate(value, schema)
    except SchemaViolation as error:
        raise ReplyError(step, f'{error.path}: {error.reason}') from None


def _quote(text: str) -> str:
    return json.dumps(text[:48] + ('...' if len(text) > 48 else ''), ensure_ascii=True)


def _ids(values: Iterable[int]) -> str:
    """Compact list of ids for an error message (at most 24 shown)."""
    ordered = sorted(set(values))
    shown = ', '.join(str(v) for v in ordered[:24])
    return (shown + (', ...' if len(ordered) > 24 else '')) or 'none'


def _same_names(step: str, items: Sequence[Mapping[str, Any]], requested: Sequence[str],
                field: str = 'regions') -> None:
    """The items' names are exactly ``requested``, each once."""
    seen: set[str] = set()
    wanted = set(requested)
    for i, item in enumerate(items):
        name = item['name']
        if name in seen:
            raise ReplyError(step, f'{field}[{i}].name: region {_quote(name)} is listed twice')
        if name not in wanted:
            raise ReplyError(step, f'{field}[{i}].name: region {_quote(name)} was not asked '
                                   f'for; answer exactly: {", ".join(requested)}')
        seen.add(name)
    missing = [name for name in requested if name not in seen]
    if missing:
        raise ReplyError(step, f'{field}: no answer for region {_quote(missing[0])}; answer '
                               f'exactly: {", ".join(requested)}')


# --------------------------------------------------------------------------- plan

@dataclass(frozen=True)
class SubtaskSpec:
    """One subtask of a plan.

    Attributes:
        name: Identifier (letters, digits, ``_.-``).
        goal: One sentence of what the subtask achieves (data; never executed).
        regions: Region names ``object/part`` the subtask's constraints need.
    """

    name: str
    goal: str
    regions: tuple[str, ...]


@dataclass(frozen=True)
class PlanReply:
    """A validated plan: the subtasks in execution order."""

    subtasks: tuple[SubtaskSpec, ...]

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region named by a subtask, in order of first use."""
        return tuple(dict.fromkeys(r for s in self.subtasks for r in s.regions))


def parse_plan(text: str, *, max_subtasks: int = MAX_SUBTASKS) -> PlanReply:
    """Validate a ``plan`` reply.

    Checks beyond the schema: unique subtask names, no region of the reserved objects ``tool``
    and ``world``, at most ``max_subtasks`` subtasks.

    Raises:
        ReplyError: On any violation.
    """
    step = 'plan'
    obj = extract_json(text, step)
    _schema(step, obj, PLAN_SCHEMA)
    subtasks = obj['subtasks']
    if len(subtasks) > max_subtasks:
        raise ReplyError(step, f'subtasks: too many subtasks: {len(subtasks)} > {max_subtasks}')
    names: set[str] = set()
    out = []
    for i, item in enumerate(subtasks):
        if item['name'] in names:
            raise ReplyError(step, f'subtasks[{i}].name: subtask {_quote(item["name"])} is '
                                   'listed twice')
        names.add(item['name'])
        for j, region in enumerate(item['regions']):
            if region.split('/', 1)[0] in RESERVED_OBJECTS:
                raise ReplyError(step, f'subtasks[{i}].regions[{j}]: "tool" and "world" are '
                                       'reserved and cannot name an object')
        out.append(SubtaskSpec(item['name'], item['goal'], tuple(item['regions'])))
    return PlanReply(tuple(out))


# --------------------------------------------------------------------------- extract

def parse_extract(text: str, *, requested: Sequence[str], mark_ids: Collection[int]
                  ) -> dict[str, tuple[int, ...]]:
    """Validate an ``extract`` reply: marks per requested region.

    Args:
        text: The reply.
        requested: The region names asked for; the reply must name exactly these.
        mark_ids: The ids of the marks drawn on the image.

    Returns:
        Region name -> mark ids, in the order of ``requested``.

    Raises:
        ReplyError: On any violation (e.g. a mark that does not exist).
    """
    step = 'extract'
    obj = extract_json(text, step)
    _schema(step, obj, EXTRACT_SCHEMA)
    items = obj['regions']
    _same_names(step, items, requested)
    existing = set(mark_ids)
    for i, item in enumerate(items):
        for j, mark in enumerate(item['marks']):
            if mark not in existing:
                raise ReplyError(step, f'regions[{i}].marks[{j}]: mark {mark} does not exist; '
                                       f'the marks are {_ids(existing)}')
    by_name = {item['name']: tuple(item['marks']) for item in items}
    return {name: by_name[name] for name in requested}


# --------------------------------------------------------------------------- refine

@dataclass(frozen=True)
class FlowChoice:
    """How one part is refined.

    Attributes:
        flow: ``positional`` (from geometry: ``feature``), ``geometric`` (grid cells picked by
            the model) or ``none`` (the whole part).
        feature: For ``positional``: ``rim`` (centre of an opening), ``top`` (top surface) or
            ``tip`` (one end along the part's long axis).
        direction: For a ``tip``: the base-frame direction of the wanted end.
    """

    flow: str
    feature: str | None = None
    direction: str | None = None


def parse_refine_flow(text: str, *, requested: Sequence[str]) -> dict[str, FlowChoice]:
    """Validate a ``refine_flow`` reply: a flow per requested region.

    ``feature`` is required with, and only with, ``positional``; ``direction`` with, and only
    with, the ``tip`` feature.

    Raises:
        ReplyError: On any violation.
    """
    step = 'refine_flow'
    obj = extract_json(text, step)
    _schema(step, obj, REFINE_FLOW_SCHEMA)
    items = obj['regions']
    _same_names(step, items, requested)
    out: dict[str, FlowChoice] = {}
    for i, item in enumerate(items):
        flow, feature, direction = item['flow'], item.get('feature'), item.get('direction')
        where = f'regions[{i}]'
        if flow == 'positional' and feature is None:
            raise ReplyError(step, f'{where}.feature: required with the positional flow (one '
                                   f'of {", ".join(POSITIONAL_FEATURES)})')
        if flow != 'positional' and feature is not None:
            raise ReplyError(step, f'{where}.feature: only the positional flow takes a feature')
        if feature == 'tip' and direction is None:
            raise ReplyError(step, f'{where}.direction: required with the tip feature (one of '
                                   f'{", ".join(TIP_DIRECTIONS)})')
        if feature != 'tip' and direction is not None:
            raise ReplyError(step, f'{where}.direction: only the tip feature takes a direction')
        out[item['name']] = FlowChoice(flow, feature, direction)
    return {name: out[name] for name in requested}


def parse_refine_grid(text: str, *, labels: Collection[int]) -> tuple[int, ...]:
    """Validate a ``refine_grid`` reply: the picked cell labels, which must exist.

    Raises:
        ReplyError: On any violation.
    """
    step = 'refine_grid'
    obj = extract_json(text, step)
    _schema(step, obj, REFINE_GRID_SCHEMA)
    existing = set(labels)
    for i, label in enumerate(obj['cells']):
        if label not in existing:
            raise ReplyError(step, f'cells[{i}]: cell {label} does not exist; the labelled '
                                   f'cells are {_ids(existing)}')
    return tuple(obj['cells'])


# --------------------------------------------------------------------------- program

@dataclass(frozen=True)
class Workspace:
    """The box [m] in the robot base frame that every target point must lie in.

    The defaults cover a Franka Panda's reach over a table at z = 0 in front of it.
    """

    x_m: tuple[float, float] = (-0.3, 1.1)
    y_m: tuple[float, float] = (-0.9, 0.9)
    z_m: tuple[float, float] = (-0.05, 1.2)

    def __post_init__(self) -> None:
        for name in ('x_m', 'y_m', 'z_m'):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f'Workspace.{name}: need finite low < high, got {low}, {high}')

    def contains(self, p_base: np.ndarray) -> bool:
        """Whether the point (3,) [m] lies in the box (bounds included)."""
        return all(lo <= float(v) <= hi for v, (lo, hi) in
                   zip(p_base, (self.x_m, self.y_m, self.z_m)))

    def describe(self) -> str:
        """The box in one line."""
        return ', '.join(f'{axis} in [{lo:g}, {hi:g}]' for axis, (lo, hi) in
                         zip('xyz', (self.x_m, self.y_m, self.z_m)))

    def to_json(self) -> dict[str, list[float]]:
        """``{"x_m": [lo, hi], "y_m": ..., "z_m": ...}``."""
        return {'x_m': list(self.x_m), 'y_m': list(self.y_m), 'z_m': list(self.z_m)}


@dataclass(frozen=True)
class RegionPose:
    """A grounded region and the pose of its object frame when it was grounded.

    Attributes:
        region: The region, in its object frame.
        T_base_obj: (4, 4) pose of the object frame in the base frame [m].
    """

    region: rc.Region
    T_base_obj: np.ndarray

    def point_base(self, feature: str, offset_obj: Sequence[float] = (0.0, 0.0, 0.0)
                   ) -> np.ndarray:
        """A named point of the region plus an object-frame offset, in the base frame [m]."""
        p_obj = self.region.feature_point_obj(feature) + np.asarray(offset_obj, dtype=float)
        return self.T_base_obj[:3, :3] @ p_obj + self.T_base_obj[:3, 3]


def _anchor_point(anchor: rc.PointAnchor, regions: Mapping[str, RegionPose]
                  ) -> np.ndarray | None:
    """Base-frame point of a world or region anchor (None for the moving tool)."""
    if anchor.of == 'tool':
        return None
    if anchor.of == 'world':
        return np.asarray(anchor.offset_m, dtype=float)
    return regions[anchor.of].point_base(anchor.feature, anchor.offset_m)


def _targets(constraint: rc.Constraint, regions: Mapping[str, RegionPose]
             ) -> list[tuple[str, np.ndarray]]:
    """The base-frame points a constraint places or refers to, with a field name each."""
    out = []
    for name in ('a', 'b', 'point'):
        anchor = getattr(constraint, name)
        if isinstance(anchor, rc.PointAnchor):
            p = _anchor_point(anchor, regions)
            if p is not None:
                out.append((name, p))
    if constraint.kind == 'offset':
        b = constraint.b
        p_b = _anchor_point(b, regions)
        if p_b is not None:
            offset = np.asarray(constraint.offset_m, dtype=float)
            if constraint.frame == 'object' and b.of != 'world':
                offset = regions[b.of].T_base_obj[:3, :3] @ offset
            out.append(('offset_m', p_b + offset))
    if constraint.kind == 'above':
        top = regions[constraint.region].point_base('top')
        out.append(('min_height_m', top + np.array([0.0, 0.0, constraint.min_height_m])))
    return out


def check_workspace(program: rc.ConstraintProgram, regions: Mapping[str, RegionPose],
                    workspace: Workspace, step: str = 'program') -> None:
    """Every point a program's constraints and conditions refer to or aim at lies in the
    workspace (evaluated with the object poses at grounding time).

    Raises:
        ReplyError: Naming the first stage, list and field whose point is outside.
    """
    for i, stage in enumerate(program.stages):
        items: list[tuple[str, rc.Constraint]] = []
        for list_name in ('subgoal', 'path'):
            items += [(f'{list_name}[{j}]', c) for j, c in enumerate(getattr(stage, list_name))]
        for list_name in ('pre', 'post'):
            items += [(f'{list_name}[{j}]', c.constraint)
                      for j, c in enumerate(getattr(stage, list_name)) if c.constraint]
        for where, constraint in items:
            for field_name, p in _targets(constraint, regions):
                if not (np.all(np.isfinite(p)) and workspace.contains(p)):
                    shown = ', '.join(f'{v:.2f}' for v in p)
                    raise ReplyError(step, f'stages[{i}].{where}.{field_name}: the point '
                                           f'({shown}) m is outside the robot workspace '
                                           f'({workspace.describe()})')


def parse_program(text: str, *, regions: Mapping[str, RegionPose],
                  workspace: Workspace | None = None, max_stages: int = 24
                  ) -> rc.ConstraintProgram:
    """Validate a ``program`` reply into a :class:`resem3d_constraints.ConstraintProgram`.

    Checks, in order: one JSON object; the closed program schema; the constraint language's
    parser with ``known_regions`` = the grounded regions (so every region it lists and uses is
    grounded); at most ``max_stages`` stages; every referred or targeted point inside the
    workspace.

    Args:
        text: The reply.
        regions: The grounded (and system-provided) regions with their object poses.
        workspace: The reachable box; default :class:`Workspace`.
        max_stages: Most stages a subtask's program may have.

    Raises:
        ReplyError: On any violation, with the offending field's path.
    """
    step = 'program'
    obj = extract_json(text, step)
    _schema(step, obj, program_reply_schema())
    try:
        program = rc.parse_program(obj, known_regions=regions.keys())
    except rc.ProgramError as error:
        raise ReplyError(step, str(error)) from None
    if len(program.stages) > max_stages:
        raise ReplyError(step, f'stages: too many stages for one subtask: '
                               f'{len(program.stages)} > {max_stages}')
    check_workspace(program, regions, workspace if workspace is not None else Workspace(), step)
    return program
