"""A small, strict JSON Schema checker for model replies (plain Python, no dependency).

It implements the subset of draft 2020-12 that the reply schemas of this package and the
constraint-program schema of :mod:`resem3d_constraints` use: ``type``, ``properties``,
``required``, ``additionalProperties`` (``false`` only), ``items``, ``minItems``,
``maxItems``, ``uniqueItems``, ``enum``, ``const``, ``pattern``, ``minLength``,
``maxLength``, ``minimum``, ``maximum``, ``exclusiveMinimum``, ``anyOf``, ``oneOf`` and local
``$ref`` (``#/$defs/...``); annotations (``description``, ``default``, ``title``...) are
ignored. A keyword outside the subset raises :class:`SchemaDefinitionError` instead of
being skipped silently.

Differences from a general validator, all on the strict side: ``pattern`` must match the whole
string when it is anchored with ``^...$`` (Python's ``$`` also matches before a final
newline, which would let ``"mug/handle\\n"`` through); a ``oneOf`` whose branches each fix a
``kind`` by ``const`` is checked against the branch of the instance's ``kind`` only, so the
error names the real problem instead of "matches none of the branches".

The first violation found is reported as :class:`SchemaViolation` with a JSON-path-like
location (``stages[2].subgoal[0].weight``) and a one-line reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ['SchemaDefinitionError', 'SchemaViolation', 'check_schema', 'validate']

_KNOWN = frozenset({
    'type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems',
    'uniqueItems', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
    'exclusiveMinimum', 'anyOf', 'oneOf', '$ref', '$defs', '$schema', '$id', 'title',
    'description', 'default', 'examples'})
_IDENTIFIER = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,63}')


class SchemaDefinitionError(ValueError):
    """A schema uses a keyword or form this checker does not implement."""


class SchemaViolation(ValueError):
    """An instance that does not satisfy a schema.

    Attributes:
        path: Where, e.g. ``regions[1].marks[0]`` (``$`` for the whole instance).
        reason: What is wrong, one line.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'{path}: {reason}')
        self.path = path
        self.reason = reason


def _show(value: Any) -> str:
    """A short, one-line, ASCII description of a JSON value for an error message."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else 'a very large integer'
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else 'a non-finite number'
    if isinstance(value, str):
        return 'the string ' + _quote(value)
    if isinstance(value, dict):
        return 'an object'
    if isinstance(value, list):
        return 'an array'
    return f'a {type(value).__name__}'


def _quote(text: str) -> str:
    """``text`` shortened to 40 characters, double-quoted, ASCII-escaped (one line)."""
    short = text[:40] + ('...' if len(text) > 40 else '')
    return json.dumps(short, ensure_ascii=True)


def _key(key: str) -> str:
    return key if _IDENTIFIER.fullmatch(key) else f'[{_quote(key)}]'


def _join(path: str, part: str) -> str:
    if part.startswith('['):
        return ('' if path == '$' else path) + part
    return part if path == '$' else f'{path}.{part}'


def _type_ok(value: Any, name: str) -> bool:
    if name == 'object':
        return isinstance(value, dict)
    if name == 'array':
        return isinstance(value, list)
    if name == 'string':
        return isinstance(value, str)
    if name == 'boolean':
        return isinstance(value, bool)
    if name == 'null':
        return value is None
    if name == 'integer':
        return isinstance(value, int) and not isinstance(value, bool)   # strict: 3.0 is not
    if name == 'number':
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    raise SchemaDefinitionError(f'unknown type {name!r}')


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    if not ref.startswith('#/'):
        raise SchemaDefinitionError(f'only local $ref are supported, got {ref!r}')
    node: Any = root
    for part in ref[2:].split('/'):
        if not isinstance(node, Mapping) or part not in node:
            raise SchemaDefinitionError(f'$ref {ref!r} does not resolve')
        node = node[part]
    if not isinstance(node, Mapping):
        raise SchemaDefinitionError(f'$ref {ref!r} does not name a schema')
    return node


def _kind_branch(root: Mapping[str, Any], branches: list, value: Any) -> Mapping | None:
    """The ``oneOf`` branch whose ``properties.kind.const`` equals ``value['kind']``, if every
    branch is of that form; else None."""
    if not isinstance(value, dict) or not isinstance(value.get('kind'), str):
        return None
    chosen = None
    for branch in branches:
        schema = _resolve(root, branch['$ref']) if '$ref' in branch else branch
        const = schema.get('properties', {}).get('kind', {}).get('const')
        if not isinstance(const, str):
            return None
        if const == value['kind']:
            chosen = schema
    return chosen


def _kinds(root: Mapping[str, Any], branches: list) -> list[str]:
    out = []
    for branch in branches:
        schema = _resolve(root, branch['$ref']) if '$ref' in branch else branch
        const = schema.get('properties', {}).get('kind', {}).get('const')
        if isinstance(const, str):
            out.append(const)
    return out


def _check(root: Mapping[str, Any], schema: Mapping[str, Any], value: Any, path: str) -> None:
    unknown = set(schema) - _KNOWN
    if unknown:
        raise SchemaDefinitionError(f'unsupported schema keywords {sorted(unknown)} at {path}')
    if '$ref' in schema:
        _check(root, _resolve(root, schema['$ref']), value, path)
    if 'type' in schema:
        names = schema['type'] if isinstance(schema['type'], list) else [schema['type']]
        if not any(_type_ok(value, n) for n in names):
            raise SchemaViolation(path, f'expected {" or ".join(names)}, got {_show(value)}')
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaViolation(path, 'NaN and Infinity are not JSON numbers')
    if 'const' in schema and not _equal(value, schema['const']):
        raise SchemaViolation(path, f'must be {_show(schema["const"])}, got {_show(value)}')
    if 'enum' in schema and not any(_equal(value, e) for e in schema['enum']):
        shown = ', '.join(_choice(e) for e in schema['enum'][:12])
        raise SchemaViolation(path, f'{_show(value)} is not one of: {shown}')
    if isinstance(value, str):
        _check_string(schema, value, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, path)
    if isinstance(value, list):
        _check_array(root, schema, value, path)
    if isinstance(value, dict):
        _check_object(root, schema, value, path)
    if 'anyOf' in schema:
        errors = []
        for branch in schema['anyOf']:
            try:
                _check(root, branch, value, path)
                break
            except SchemaViolation as error:
                errors.append(error)
        else:
            raise _closest(errors)
    if 'oneOf' in schema:
        branches = schema['oneOf']
        chosen = _kind_branch(root, branches, value)
        if chosen is not None:
            _check(root, chosen, value, path)
        elif isinstance(value, dict) and _kinds(root, branches) and 'kind' in value:
            raise SchemaViolation(_join(path, 'kind'), f'{_show(value["kind"])} is not one of: '
                                  + ', '.join(_kinds(root, branches)))
        else:
            matches = 0
            errors = []
            for branch in branches:
                try:
                    _check(root, branch, value, path)
                    matches += 1
                except SchemaViolation as error:
                    errors.append(error)
            if matches != 1:
                if matches == 0:
                    raise _closest(errors)
                raise SchemaViolation(path, 'matches more than one of the allowed forms')


def _closest(errors: list[SchemaViolation]) -> SchemaViolation:
    """The error of the branch that got furthest into the instance (the longest path; the
    first such): with ``anyOf: [X, null]`` and a non-null value, X's own error."""
    return max(errors, key=lambda e: (len(e.path), -errors.index(e)))


def _choice(value: Any) -> str:
    """An enum value as it is written in JSON."""
    return json.dumps(value, ensure_ascii=True) if isinstance(value, str) else _show(value)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _check_string(schema: Mapping[str, Any], value: str, path: str) -> None:
    if 'maxLength' in schema and len(value) > schema['maxLength']:
        raise SchemaViolation(path, f'string longer than {schema["maxLength"]} characters '
                                    f'({len(value)})')
    if 'minLength' in schema and len(value) < schema['minLength']:
        raise SchemaViolation(path, f'string shorter than {schema["minLength"]} characters')
    if 'pattern' in schema:
        pattern = schema['pattern']
        match = _compiled(pattern).search(value)
        if match is None or (pattern.endswith('$') and match.end() != len(value)):
            raise SchemaViolation(path, f'{_show(value)} does not match {pattern}')


def _check_number(schema: Mapping[str, Any], value: float, path: str) -> None:
    if 'minimum' in schema and value < schema['minimum']:
        raise SchemaViolation(path, f'must be >= {schema["minimum"]:g}, got {_show(value)}')
    if 'exclusiveMinimum' in schema and value <= schema['exclusiveMinimum']:
        raise SchemaViolation(path, f'must be > {schema["exclusiveMinimum"]:g}, got '
                                    f'{_show(value)}')
    if 'maximum' in schema and value > schema['maximum']:
        raise SchemaViolation(path, f'must be <= {schema["maximum"]:g}, got {_show(value)}')


def _check_array(root: Mapping[str, Any], schema: Mapping[str, Any], value: list,
                 path: str) -> None:
    if 'maxItems' in schema and len(value) > schema['maxItems']:
        raise SchemaViolation(path, f'too many items: {len(value)} > {schema["maxItems"]}')
    if 'minItems' in schema and len(value) < schema['minItems']:
        raise SchemaViolation(path, f'too few items: {len(value)} < {schema["minItems"]}')
    if 'items' in schema:
        for i, item in enumerate(value):
            _check(root, schema['items'], item, _join(path, f'[{i}]'))
    if schema.get('uniqueItems'):
        for i, item in enumerate(value):
            if any(_equal(item, other) for other in value[:i]):
                raise SchemaViolation(_join(path, f'[{i}]'), f'duplicated item {_show(item)}')


def _check_object(root: Mapping[str, Any], schema: Mapping[str, Any], value: dict,
                  path: str) -> None:
    properties = schema.get('properties', {})
    extra = schema.get('additionalProperties', True)
    if extra not in (True, False):
        raise SchemaDefinitionError(f'additionalProperties must be true or false at {path}')
    if extra is False:
        for key in value:
            if key not in properties:
                allowed = ', '.join(properties) or 'none'
                raise SchemaViolation(_join(path, _key(key)), f'unknown field; allowed: '
                                                              f'{allowed}')
    for key in schema.get('required', ()):
        if key not in value:
            raise SchemaViolation(_join(path, _key(key)), 'missing required field')
    for key, sub in properties.items():
        if key in value:
            _check(root, sub, value[key], _join(path, _key(key)))


def validate(instance: Any, schema: Mapping[str, Any]) -> None:
    """Check ``instance`` (parsed JSON) against ``schema``.

    Raises:
        SchemaViolation: At the first violation, with its path and reason.
        SchemaDefinitionError: If the schema uses keywords outside the supported subset.
    """
    _check(schema, schema, instance, '$')


def check_schema(schema: Mapping[str, Any]) -> None:
    """Check that ``schema`` uses only the supported keywords and local references.

    Raises:
        SchemaDefinitionError: Naming the first unsupported keyword or unresolved reference.
    """
    def walk(node: Any, where: str) -> None:
        if not isinstance(node, Mapping):
            raise SchemaDefinitionError(f'{where}: a schema must be an object')
        unknown = set(node) - _KNOWN
        if unknown:
            raise SchemaDefinitionError(f'{where}: unsupported keywords {sorted(unknown)}')
        if '$ref' in node:
            _resolve(schema, node['$ref'])
        for name in ('properties', '$defs'):
            for key, sub in node.get(name, {}).items():
                walk(sub, f'{where}.{name}.{key}')
        if 'items' in node:
            walk(node['items'], f'{where}.items')
        for name in ('anyOf', 'oneOf'):
            for i, sub in enumerate(node.get(name, ())):
                walk(sub, f'{where}.{name}[{i}]')

    walk(schema, '$')
