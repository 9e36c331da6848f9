"""Tests of ``python -m resem3d_constraints``: outcomes, one-line errors, time on big inputs."""

import json
import os
import subprocess
import sys
import time

import pytest

from resem3d_constraints.examples import example_names, example_path
from resem3d_constraints.jsonio import MAX_INPUT_BYTES

TEN_MB = MAX_INPUT_BYTES


def run(*args, stdin=b''):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, '-m', 'resem3d_constraints', *args], input=stdin,
                            capture_output=True, timeout=60)
    return result, time.perf_counter() - start


def assert_one_error_line(result, elapsed, expected):
    assert result.returncode == 2
    assert result.stdout == b''
    lines = result.stderr.decode('ascii').splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines[0]
    assert 'Traceback' not in lines[0]
    assert elapsed < 2.0, f'{elapsed:.2f} s'


@pytest.mark.parametrize('name', example_names())
def test_examples_are_ok(name):
    result, elapsed = run('validate', str(example_path(name)))
    assert (result.returncode, result.stdout, result.stderr) == (0, b'ok\n', b'')
    assert elapsed < 2.0


def test_stdin():
    result, _ = run('validate', '-', stdin=example_path(example_names()[0]).read_bytes())
    assert (result.returncode, result.stdout) == (0, b'ok\n')
    result, elapsed = run('validate', '-', stdin=b'{"version": 1}')
    assert_one_error_line(result, elapsed, 'error: name: missing required field')


@pytest.mark.parametrize('content,expected', [
    (b'{"version": 1,\n "name": "x",\n "regions": [,]}',
     'error: $: not valid JSON (line 3 column 14)'),
    (b'', 'error: $: empty input'),
    (b' \n ', 'error: $: empty input'),
    (b'{"version": 1, "name": "x", "regions": [], "stages": [{"name": "s", "timeout_s": NaN}]}',
     'error: stages[0].timeout_s: expected a finite number, got NaN'),
    (json.dumps({'bad\nkey': 1}).encode(), 'error: ["bad\\nkey"]: unknown field'),
    ('{"version": 1, "name": "caf\u00e9 \u2603", "regions": [], "stages": []}'.encode(),
     'error: name: program name "caf\\u00e9 \\u2603" must match'),
])
def test_invalid_programs(tmp_path, content, expected):
    path = tmp_path / 'program.json'
    path.write_bytes(content)
    result, elapsed = run('validate', str(path))
    assert_one_error_line(result, elapsed, expected)


BIG_INPUTS = {
    'random bytes': (lambda: os.urandom(TEN_MB), 'error: $: input is not UTF-8 text'),
    'nested arrays': (lambda: b'[' * TEN_MB, 'error: $: nesting deeper than 32 levels'),
    'nested objects': (lambda: b'{"a":' * (TEN_MB // 5),
                       'error: $: nesting deeper than 32 levels'),
    'array of numbers': (lambda: b'[' + b'1,' * (TEN_MB // 2 - 2) + b'1]',
                         'error: $: expected an object, got a list'),
    'array of small arrays': (lambda: b'[' + b'[[1]],' * (TEN_MB // 6 - 1) + b'[]]',
                              'error: $: more than 100000 arrays and objects'),
    'many stages': (lambda: b'{"stages": [' + b'{},' * (TEN_MB // 3 - 10) + b'{}]}',
                    'error: $: more than 100000 arrays and objects'),
    'many numbers in a program': (
        lambda: b'{"version": 1, "name": "x", "regions": [], "stages": [{"name": "s", '
                b'"timeout_s": 1, "subgoal": [' + b'0,' * (TEN_MB // 2 - 100) + b'0]}]}',
        'error: stages[0].subgoal[32]: too many constraints'),
    'string': (lambda: b'"' + b'a' * (TEN_MB - 2) + b'"',
               'error: $: expected an object, got the string "aaaa'),
    'string of escapes': (lambda: b'{"name": "' + b'\\n' * (TEN_MB // 2 - 8) + b'"}',
                          'error: name: missing required field'.replace('name', 'version')),
    'too large': (lambda: b' ' * TEN_MB + b'{}', 'error: $: input larger than 10 MB'),
}


@pytest.mark.parametrize('name', BIG_INPUTS)
def test_big_inputs_fail_fast_with_one_line(tmp_path, name):
    make, expected = BIG_INPUTS[name]
    data = make()
    assert len(data) <= TEN_MB or name == 'too large'
    path = tmp_path / 'big.json'
    path.write_bytes(data)
    result, elapsed = run('validate', str(path))
    assert_one_error_line(result, elapsed, expected)


def test_missing_file(tmp_path):
    result, elapsed = run('validate', str(tmp_path / 'nope.json'))
    assert_one_error_line(result, elapsed, f'error: $: cannot read {tmp_path / "nope.json"}: ')
    result, elapsed = run('validate', str(tmp_path))
    assert_one_error_line(result, elapsed, 'error: $: cannot read ')


@pytest.mark.parametrize('args', [(), ('validate',), ('check', 'x.json'),
                                  ('validate', 'a.json', 'b.json')])
def test_bad_arguments_print_usage(args):
    result, _ = run(*args)
    assert result.returncode == 2 and result.stdout == b''
    assert result.stderr.decode().splitlines() == [
        'usage: python -m resem3d_constraints validate FILE  (FILE may be -)  |  schema']


def test_help_and_schema():
    result, _ = run('--help')
    assert result.returncode == 0 and result.stdout.startswith(b'usage:')
    result, _ = run('schema')
    assert result.returncode == 0
    assert json.loads(result.stdout)['title'] == 'resem3d constraint program'
