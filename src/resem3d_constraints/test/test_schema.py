"""Tests of the JSON Schema: shipped file up to date, consistent with the parser's tables."""

import json
import re

import pytest

from resem3d_constraints import program_schema
from resem3d_constraints.examples import example_names, example_path
from resem3d_constraints.schema import build_schema, SCHEMA_PATH, schema_text
from resem3d_constraints.spec import (condition_fields, CONDITION_KINDS, constraint_fields,
                                      CONSTRAINT_KINDS)


def test_shipped_schema_is_up_to_date():
    assert SCHEMA_PATH.read_text(encoding='utf-8') == schema_text(), (
        'regenerate: python -m resem3d_constraints schema > '
        'resem3d_constraints/program.schema.json')
    assert program_schema() == build_schema()
    assert program_schema() is not program_schema()


def test_schema_header():
    schema = program_schema()
    assert schema['$schema'] == 'https://json-schema.org/draft/2020-12/schema'
    assert schema['required'] == ['version', 'name', 'regions', 'stages']
    assert schema['additionalProperties'] is False


@pytest.mark.parametrize('kind', CONSTRAINT_KINDS)
def test_constraint_definitions_match_the_tables(kind):
    definition = program_schema()['$defs'][f'constraint_{kind}']
    fields = constraint_fields(kind)
    assert set(definition['properties']) == {'kind'} | {f.name for f in fields}
    assert definition['required'] == ['kind'] + [f.name for f in fields if f.required]
    assert definition['properties']['kind'] == {'const': kind}


@pytest.mark.parametrize('kind', CONDITION_KINDS)
def test_condition_definitions_match_the_tables(kind):
    definition = program_schema()['$defs'][f'condition_{kind}']
    assert set(definition['properties']) == {'kind'} | {f.name for f in condition_fields(kind)}


def resolve(schema, root):
    while '$ref' in schema:
        target = root
        for part in schema['$ref'][2:].split('/'):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != '$ref'}}
    return schema


def validates(value, schema, root) -> bool:
    """Validate ``value`` with the keywords the program schema uses (a small validator)."""
    schema = resolve(schema, root)
    checks = {
        'const': lambda c: value == c and type(value) is type(c),
        'enum': lambda e: value in e,
        'type': lambda t: any(validates(value, {'type': x}, root) for x in t)
        if isinstance(t, list) else {
            'object': isinstance(value, dict), 'array': isinstance(value, list),
            'string': isinstance(value, str), 'boolean': isinstance(value, bool),
            'null': value is None,
            'number': isinstance(value, (int, float)) and not isinstance(value, bool)}[t],
        'anyOf': lambda s: any(validates(value, x, root) for x in s),
        'oneOf': lambda s: sum(validates(value, x, root) for x in s) == 1,
    }
    for key, check in checks.items():
        if key in schema and not check(schema[key]):
            return False
    if isinstance(value, dict):
        properties = schema.get('properties', {})
        if any(k not in value for k in schema.get('required', [])):
            return False
        if schema.get('additionalProperties') is False and set(value) - set(properties):
            return False
        return all(validates(v, properties[k], root) for k, v in value.items()
                   if k in properties)
    if isinstance(value, list):
        if not schema.get('minItems', 0) <= len(value) <= schema.get('maxItems', 1e9):
            return False
        return all(validates(v, schema['items'], root) for v in value) if 'items' in schema \
            else True
    if isinstance(value, str):
        return (len(value) <= schema.get('maxLength', 1e9)
                and re.search(schema.get('pattern', ''), value) is not None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value >= schema.get('minimum', -1e300) and value <= schema.get('maximum', 1e300)
                and value > schema.get('exclusiveMinimum', -1e300))
    return True


@pytest.mark.parametrize('name', example_names())
def test_examples_validate_against_the_schema(name):
    schema = program_schema()
    assert validates(json.loads(example_path(name).read_text()), schema, schema)


@pytest.mark.parametrize('edit', [
    lambda p: p.update(version=2),
    lambda p: p['stages'][1]['subgoal'][0].update(kind='reach'),
    lambda p: p['stages'][1]['subgoal'][0].update(weight=-1),
    lambda p: p['stages'][1]['subgoal'][0].update(extra=1),
    lambda p: p['stages'][1]['subgoal'][0]['a'].update(axis='z'),
    lambda p: p['stages'][1].pop('timeout_s'),
    lambda p: p['regions'].append('no_slash'),
])
def test_schema_rejects_what_the_parser_rejects(edit):
    schema = program_schema()
    program = json.loads(example_path('pick_and_place_mug').read_text())
    assert validates(program, schema, schema)
    edit(program)
    assert not validates(program, schema, schema)
