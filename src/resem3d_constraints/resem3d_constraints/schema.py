"""JSON Schema (draft 2020-12) of constraint programs, generated from :mod:`.spec`.

The schema tells a model what to write (e.g. as a structured-output format); the parser in
:mod:`.parser` is the authority and also checks what a schema cannot say (anchor features per
owner, ``min <= max``, references to listed regions, offset norms, unique names).

The shipped file ``program.schema.json`` is this module's output; regenerate it with
``python -m resem3d_constraints schema > resem3d_constraints/program.schema.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .spec import (ANCHOR_TIMES, condition_fields, CONDITION_KINDS, constraint_fields,
                   CONSTRAINT_KINDS, Field, FRAME_AXIS_FEATURES, GRIPPER_FIELDS, KIND_DOCS,
                   MAX_CONDITIONS_PER_LIST, MAX_CONSTRAINTS_PER_STAGE, MAX_LENGTH_M,
                   MAX_REGIONS, MAX_STAGES, NAME_MAX_LENGTH, NAME_PATTERN, PROGRAM_VERSION,
                   REGION_AXIS_FEATURES, REGION_PATTERN, REGION_POINT_FEATURES,
                   STAGE_FIELDS, TOOL_POINT_FEATURES, WORLD_POINT_FEATURES)

SCHEMA_PATH = Path(__file__).with_name('program.schema.json')
_REF = '#/$defs/'


def _property(spec: Field) -> dict[str, Any]:
    refs = {'region': 'region_name', 'object': 'name', 'name': 'name', 'vector3': 'vector3',
            'point': 'point_anchor', 'axis': 'axis_anchor', 'gripper': 'gripper'}
    if spec.value_type in refs:
        out: dict[str, Any] = {'$ref': _REF + refs[spec.value_type]}
    elif spec.value_type == 'number':
        out = {'type': 'number'}
        if spec.minimum is not None:
            out['exclusiveMinimum' if spec.exclusive_minimum else 'minimum'] = spec.minimum
        if spec.maximum is not None:
            out['maximum'] = spec.maximum
    elif spec.value_type == 'boolean':
        out = {'type': 'boolean'}
    elif spec.value_type == 'choice':
        out = {'enum': list(spec.choices)}
    else:
        raise ValueError(f'no schema for field type {spec.value_type!r}')
    if spec.nullable:
        out = {'anyOf': [out, {'type': 'null'}]}
    if spec.default is not None:
        out['default'] = spec.default
    out['description'] = spec.doc
    return out


def _object(fields: tuple[Field, ...], extra: dict[str, Any] | None = None,
            description: str = '') -> dict[str, Any]:
    properties = dict(extra or {})
    properties.update({f.name: _property(f) for f in fields})
    required = list(extra or {}) + [f.name for f in fields if f.required]
    out = {'type': 'object', 'additionalProperties': False, 'required': required,
           'properties': properties}
    if description:
        out = {'description': description, **out}
    return out


def _list(item: str, limit: int, doc: str) -> dict[str, Any]:
    return {'type': 'array', 'items': {'$ref': _REF + item}, 'maxItems': limit, 'default': [],
            'description': doc}


def build_schema() -> dict[str, Any]:
    """Build the program schema from the vocabulary tables."""
    owner = {'anyOf': [{'enum': ['tool', 'world']}, {'$ref': _REF + 'region_name'}],
             'description': 'Owner: the tool, the world (base frame) or a region object/part.'}
    at = {'enum': list(ANCHOR_TIMES), 'default': 'live',
          'description': 'live: current object pose; init: pose at the stage start (regions '
                         'only).'}
    defs: dict[str, Any] = {
        'name': {'type': 'string', 'pattern': NAME_PATTERN, 'maxLength': NAME_MAX_LENGTH},
        'region_name': {'type': 'string', 'pattern': REGION_PATTERN,
                        'maxLength': NAME_MAX_LENGTH,
                        'description': 'Region name object/part, e.g. kettle/spout.'},
        'vector3': {'type': 'array', 'minItems': 3, 'maxItems': 3,
                    'items': {'type': 'number', 'minimum': -MAX_LENGTH_M,
                              'maximum': MAX_LENGTH_M}},
        'point_anchor': {
            'type': 'object', 'additionalProperties': False, 'required': ['of'],
            'description': 'A point. Features: tool: tcp (default); world: origin (default); '
                           'region: centroid, center, top, bottom (required).',
            'properties': {
                'of': owner,
                'point': {'enum': list(dict.fromkeys(TOOL_POINT_FEATURES + WORLD_POINT_FEATURES
                                                     + REGION_POINT_FEATURES))},
                'offset_m': {'$ref': _REF + 'vector3', 'default': [0.0, 0.0, 0.0],
                             'description': "Offset [m] in the owner's frame (tool, object; "
                                            'base for the world), at most 2 m long.'},
                'at': at,
            },
        },
        'axis_anchor': {
            'type': 'object', 'additionalProperties': False, 'required': ['of', 'axis'],
            'description': 'A unit direction. Features: tool and world: x, y, z; region: '
                           "normal, major, middle, minor (the region's axes), x, y, z (its "
                           "object frame's axes); a '-' prefix negates.",
            'properties': {
                'of': owner,
                'axis': {'enum': list(dict.fromkeys(FRAME_AXIS_FEATURES
                                                    + REGION_AXIS_FEATURES))},
                'at': at,
            },
        },
    }
    for kind in CONSTRAINT_KINDS:
        defs[f'constraint_{kind}'] = _object(constraint_fields(kind), {'kind': {'const': kind}},
                                             KIND_DOCS[kind])
    for kind in CONDITION_KINDS:
        defs[f'condition_{kind}'] = _object(condition_fields(kind), {'kind': {'const': kind}},
                                            KIND_DOCS[kind])
    defs['constraint'] = {'oneOf': [{'$ref': f'{_REF}constraint_{k}'} for k in CONSTRAINT_KINDS]}
    defs['condition'] = {'oneOf': [{'$ref': f'{_REF}condition_{k}'} for k in CONDITION_KINDS]}
    defs['gripper'] = _object(GRIPPER_FIELDS, description='Gripper action.')
    stage = _object(tuple(f for f in STAGE_FIELDS if f.value_type != 'list'),
                    description='A stage: reach the subgoal while holding the path '
                                'constraints, then run the gripper action; done when every '
                                'post condition holds.')
    docs = {f.name: f.doc for f in STAGE_FIELDS}
    stage['properties'].update({
        'subgoal': _list('constraint', MAX_CONSTRAINTS_PER_STAGE, docs['subgoal']),
        'path': _list('constraint', MAX_CONSTRAINTS_PER_STAGE, docs['path']),
        'pre': _list('condition', MAX_CONDITIONS_PER_LIST, docs['pre']),
        'post': _list('condition', MAX_CONDITIONS_PER_LIST, docs['post']),
    })
    defs['stage'] = stage
    return {
        '$schema': 'https://json-schema.org/draft/2020-12/schema',
        '$id': 'urn:resem3d:constraint-program:1',
        'title': 'resem3d constraint program',
        'description': 'Stages of 3D spatial constraints for a robot arm. Base frame = robot '
                       'base; lengths in metres (fields ending _m), angles in radians '
                       '(_rad).',
        'type': 'object',
        'additionalProperties': False,
        'required': ['version', 'name', 'regions', 'stages'],
        'properties': {
            'version': {'const': PROGRAM_VERSION},
            'name': {'$ref': _REF + 'name'},
            'regions': {'type': 'array', 'items': {'$ref': _REF + 'region_name'},
                        'maxItems': MAX_REGIONS, 'uniqueItems': True,
                        'description': 'Every region the program refers to.'},
            'stages': {'type': 'array', 'items': {'$ref': _REF + 'stage'}, 'minItems': 1,
                       'maxItems': MAX_STAGES},
        },
        '$defs': defs,
    }


def program_schema() -> dict[str, Any]:
    """Return the shipped JSON Schema of constraint programs (a fresh dict per call)."""
    return json.loads(SCHEMA_PATH.read_text(encoding='utf-8'))


def schema_text() -> str:
    """Return :func:`build_schema` as the text of the shipped file."""
    return json.dumps(build_schema(), indent=2) + '\n'
