"""The resem3d command line: subcommands, the one-line error funnel, the console script."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import resem3d_constraints as rc
from resem3d.cli import main
from resem3d.plan import CommandError


def run_cli(capsys, *argv):
    """``main(argv)`` -> (exit status, stdout, stderr lines)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def assert_one_error_line(err, prefix):
    assert len(err) == 1, err
    assert err[0].startswith(prefix), err[0]
    assert 'Traceback' not in err[0]


def test_tasks_lists_every_task(capsys):
    from resem3d_sim.catalog import TASKS
    code, out, err = run_cli(capsys, 'tasks')
    assert code == 0 and err == []
    assert len(out.splitlines()) == len(TASKS)
    assert 'lab_pour_beaker' in out and TASKS['lab_pour_beaker'].instruction in out
    code, out, _ = run_cli(capsys, 'tasks', '--json')
    assert [t['name'] for t in json.loads(out)] == list(TASKS)


def test_unknown_task(capsys):
    code, out, err = run_cli(capsys, 'plan', '--task', 'x', '--mllm', 'oracle', '--json')
    assert code == 2 and out == ''
    assert_one_error_line(err, "error: task: unknown task 'x'; known: household_mug_to_plate, ")


@pytest.mark.parametrize('seed', ['-1', 'abc', '1.5', '1000000', ''])
def test_bad_seed(capsys, seed):
    code, out, err = run_cli(capsys, 'plan', '--task', 'lab_pour_beaker', '--seed', seed,
                             '--mllm', 'oracle')
    assert code == 2 and out == ''
    assert_one_error_line(err, 'error: seed: expected an integer in [0, 999999], got ')


@pytest.mark.parametrize('argv,prefix', [
    ((), 'error: usage: the following arguments are required: command'),
    (('plan',), 'error: usage: the following arguments are required: --task'),
    (('plan', '--task', 't', '--mllm', 'gpt'), "error: usage: argument --mllm: invalid choice"),
    (('fly',), "error: usage: argument command: invalid choice: 'fly'"),
    (('plan', '--task', 'lab_pour_beaker', '--mllm', 'replay'),
     'error: mllm: --mllm replay needs --transcript DIR'),
    (('plan', '--task', 'lab_pour_beaker', '--mllm', 'oracle', '--base-url', 'http://x/v1'),
     'error: mllm: --base-url applies to --mllm openai only'),
    (('plan', '--task', 'lab_pour_beaker', '--mllm', 'oracle', '--model', 'm'),
     'error: mllm: --model does not apply to --mllm oracle'),
    (('plan', '--task', 'lab_pour_beaker', '--mllm', 'oracle', '--instruction', ' '),
     'error: instruction: the instruction is empty'),
    (('plan', '--task', 'lab_pour_beaker', '--mllm', 'oracle', '--config', '/nonexistent'),
     'error: config: /nonexistent: not a directory'),
    (('plan', '--task', 'lab_pour_beaker', '--mllm', 'replay', '--transcript', '/nonexistent'),
     'error: transcript: /nonexistent: not a transcript directory'),
])
def test_usage_errors_are_one_line(capsys, argv, prefix):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ''
    assert_one_error_line(err, prefix)


def test_openai_without_a_key_for_the_openai_api(capsys, monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    code, _, err = run_cli(capsys, 'plan', '--task', 'lab_pour_beaker', '--mllm', 'openai')
    assert code == 2
    assert_one_error_line(err, 'error: mllm: openai backend: environment variable '
                               'OPENAI_API_KEY is not set')


def test_unexpected_errors_are_one_line_unless_debug(capsys, monkeypatch):
    import resem3d.plan

    def broken(options):
        raise KeyError('boom')

    monkeypatch.setattr(resem3d.plan, 'run', broken)
    code, _, err = run_cli(capsys, 'plan', '--task', 'lab_pour_beaker')
    assert code == 1
    assert_one_error_line(err, "error: internal: KeyError: 'boom' (a bug: rerun with --debug")
    with pytest.raises(KeyError):
        main(['--debug', 'plan', '--task', 'lab_pour_beaker'])


def test_command_error_folds_its_reason_to_one_line():
    error = CommandError('plan', 'a\nb   c')
    assert (error.reason, str(error), error.exit_code) == ('a b c', 'plan: a b c', 1)


def _console_script() -> str | None:
    here = Path(sys.executable).parent / 'resem3d'
    return str(here) if here.is_file() else shutil.which('resem3d')


def test_console_script_plans_with_the_oracle(tmp_path):
    script = _console_script()
    if script is None:
        pytest.skip('the resem3d console script is not installed (pip install -e src/resem3d)')
    env = {k: v for k, v in os.environ.items() if not k.startswith('PYTEST')}
    done = subprocess.run([script, 'plan', '--task', 'lab_pour_beaker', '--mllm', 'oracle',
                           '--json'], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ''
    report = json.loads(done.stdout)             # exactly one JSON object
    assert report['mllm']['backend'] == 'oracle' and report['mllm']['from_oracle'] is True
    for sub in report['subtasks']:
        rc.parse_program(sub['program'])
