"""Tests of the safe JSON loader and the nesting pre-scan."""

import math

import numpy as np
import pytest

from resem3d_constraints import ProgramError
from resem3d_constraints.jsonio import (load_json, MAX_CONTAINERS, MAX_INPUT_BYTES,
                                        scan_nesting)


@pytest.mark.parametrize('text,depth,containers', [
    ('{}', 1, 1), ('[[[]]]', 3, 3),
    ('[' * 40 + ']' * 40, 40, 40),
    ('{"a":' * 35 + '1' + '}' * 35, 35, 35),
    ('["' + '[' * 50 + '"]', 1, 1),                          # brackets inside a string
    ('["\\"' + '[' * 50 + '"]', 1, 1),                       # an escaped quote does not end it
    ('["\\\\"' + ',[' * 40 + ']' * 40 + ']', 41, 41),       # an escaped backslash does
    ('[' * 20 + ']' * 20 + '[' * 20 + ']' * 20, 20, 40),    # siblings do not add up
    (']' * 50 + '[' * 10, 10, 10),
    ('[' + '{},' * 99 + '{}]', 2, 101),
    # Few brackets: the true depth, not the bracket count.
    ('[[],[],[]]', 2, 4),
    ('{"a":[1],"b":{"c":[]},"d":[]}', 3, 5),
    ('[{}, {}, {}, {}, {}]', 2, 6),
    ('{"a": "[[[{{{"}', 1, 1),                             # few brackets, most in a string
    ('["]]]", [[]]]', 3, 3),
    (']]][', 1, 1),                                         # unmatched closers are ignored
    ('[]]][[', 2, 3),
])
def test_scan_nesting(text, depth, containers):
    assert scan_nesting(text.encode()) == (depth, containers)


def test_scan_nesting_without_brackets():
    assert scan_nesting(b'"' * 100) == (0, 0)
    assert scan_nesting(b'') == (0, 0)
    assert scan_nesting(b'"[{"') == (0, 0)
    assert scan_nesting(b']}]') == (0, 0)


@pytest.mark.parametrize('seed', range(20))
def test_scan_nesting_matches_a_reference_scanner(seed):
    rng = np.random.default_rng(seed)
    text = ''.join(rng.choice(list('[]{}"\\a, '), size=int(rng.integers(0, 60))))
    depth = max_depth = containers = backslashes = 0
    inside = False
    for char in text:                      # the documented rules, one character at a time
        if char == '"' and backslashes % 2 == 0:
            inside = not inside
        elif not inside and char in '[{':
            depth, containers = depth + 1, containers + 1
            max_depth = max(max_depth, depth)
        elif not inside and char in ']}':
            depth = max(0, depth - 1)
        backslashes = backslashes + 1 if char == '\\' else 0
    assert scan_nesting(text.encode()) == (max_depth, containers)


@pytest.mark.parametrize('data,reason', [
    (b'', 'empty input'),
    ('  \n\t', 'empty input'),
    (b'\xff\xfe{}', 'input is not UTF-8 text'),
    (b'[' * 33 + b']' * 33, 'nesting deeper than 32 levels'),
    (b'[' + b'[],' * MAX_CONTAINERS + b'[]]', 'more than 100000 arrays and objects'),
    (b' ' * (MAX_INPUT_BYTES + 1), 'input larger than 10 MB'),
    (b'{"a": 1,\n  "b": }', 'not valid JSON (line 2 column 8)'),
    (b'{"a": 1} x', 'not valid JSON (line 1 column 10): Extra data'),
    (b'1' * 5000, 'not valid JSON: Exceeds the limit'),
])
def test_load_json_rejects(data, reason):
    with pytest.raises(ProgramError) as info:
        load_json(data)
    assert info.value.path == '$'
    assert info.value.reason.startswith(reason)


def test_load_json_accepts():
    assert load_json(b'\xef\xbb\xbf{"a": [1, 2.5]}') == {'a': [1, 2.5]}
    assert load_json('[' * 32 + ']' * 32) is not None
    assert len(load_json('[' + '[],' * (MAX_CONTAINERS - 2) + '[]]')) == MAX_CONTAINERS - 1
    value = load_json('[NaN, Infinity, -Infinity, 1e999]')
    assert math.isnan(value[0]) and value[1:] == [math.inf, -math.inf, math.inf]
