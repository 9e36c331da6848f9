"""resem3d plan end to end: the oracle in process, the openai backend over loopback against the
oracle server, replay of what it recorded, and the failures (refused connection, replay miss,
invalid replies) as one line each."""

import json
import shutil
import socket
import time
from pathlib import Path

import pytest
import yaml

import resem3d_constraints as rc
from resem3d.cli import main
from resem3d.plan import summary
from resem3d_reasoning.oracle_server import OracleServer

REPO = Path(__file__).resolve().parents[3]
TASK = 'lab_pour_beaker'


def run_cli(capsys, *argv):
    """``main(argv)`` -> (exit status, stdout, stderr lines)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def programs_text(report) -> str:
    return json.dumps([sub['program'] for sub in report['subtasks']], sort_keys=True)


@pytest.fixture(scope='module')
def fast_config(tmp_path_factory) -> Path:
    """A config directory whose openai backend gives up fast (one retry, short waits)."""
    directory = tmp_path_factory.mktemp('config')
    for name in ('reasoning.yaml', 'perception.yaml'):
        shutil.copy(REPO / 'config' / name, directory / name)
    path = directory / 'reasoning.yaml'
    document = yaml.safe_load(path.read_text())
    document['resem3d_reasoning']['ros__parameters']['mllm']['openai'].update(
        timeout_s=5.0, max_retries=1, backoff_s=0.01, backoff_max_s=0.02, total_budget_s=10.0)
    path.write_text(yaml.safe_dump(document))
    return directory


@pytest.fixture(scope='module')
def server():
    with OracleServer(log=None) as running:
        yield running


def test_plan_with_the_oracle(capsys):
    code, out, err = run_cli(capsys, 'plan', '--task', TASK, '--mllm', 'oracle', '--json')
    assert code == 0 and err == []
    report = json.loads(out)
    mllm = report['mllm']
    assert (report['command'], report['task'], report['seed']) == ('plan', TASK, 0)
    assert (mllm['backend'], mllm['answered_by'], mllm['model']) == \
        ('oracle', 'oracle', 'resem3d-oracle')
    assert mllm['from_oracle'] is True and 'simulator oracle' in mllm['note']
    assert mllm['calls']['plan'] == 1 and mllm['total_calls'] == sum(mllm['calls'].values())
    assert set(mllm['latency_s']) == set(mllm['calls']) == set(mllm['invalid_replies'])
    assert report['subtasks'] and report['command_s'] >= report['wall_s'] > 0
    for sub in report['subtasks']:
        program = rc.parse_program(sub['program'])
        assert program.name == f'oracle.{TASK}.{sub["name"]}'
    text = summary(report)
    assert 'ORACLE' in text and f'{len(report["subtasks"])} subtask(s)' in text


def test_openai_over_loopback_then_replay_gives_the_same_programs(capsys, server, tmp_path,
                                                                  fast_config):
    transcript = tmp_path / 'transcript'
    code, out, err = run_cli(capsys, 'plan', '--task', TASK, '--mllm', 'openai', '--base-url',
                             server.url, '--model', 'resem3d-oracle', '--transcript',
                             str(transcript), '--config', str(fast_config), '--json')
    assert code == 0, err
    recorded = json.loads(out)
    mllm = recorded['mllm']
    assert (mllm['backend'], mllm['answered_by'], mllm['base_url']) == \
        ('openai', 'openai', server.url)
    assert mllm['from_oracle'] is True                 # the server labels its answers
    assert mllm['transcript'] == {'dir': str(transcript), 'mode': 'record'}
    assert server.chat_count == mllm['total_calls']
    assert (transcript / 'transcript.jsonl').is_file()

    code, out, err = run_cli(capsys, 'plan', '--task', TASK, '--mllm', 'replay',
                             '--transcript', str(transcript), '--json')
    assert code == 0, err
    replayed = json.loads(out)
    assert replayed['mllm']['backend'] == 'replay' and replayed['mllm']['from_oracle'] is True
    assert programs_text(replayed) == programs_text(recorded)
    assert server.chat_count == mllm['total_calls']   # the replay never went to the server
    for sub in replayed['subtasks']:
        rc.parse_program(sub['program'])

    # A request the transcript does not hold (another seed): a replay miss.
    code, out, err = run_cli(capsys, 'plan', '--task', TASK, '--seed', '1', '--mllm', 'replay',
                             '--transcript', str(transcript))
    assert code == 1 and out == ''
    assert len(err) == 1 and err[0].startswith(
        'error: plan: the model call failed: replay: no recorded answer for step plan'), err


def test_connection_refused_fails_after_the_bounded_retries(capsys, fast_config):
    with socket.socket() as probe:          # a port nothing listens on
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    code, out, err = run_cli(capsys, 'plan', '--task', TASK, '--mllm', 'openai', '--base-url',
                             f'http://127.0.0.1:{port}/v1', '--model', 'm', '--config',
                             str(fast_config))
    assert time.monotonic() - start < 20
    assert code == 1 and out == ''
    assert len(err) == 1, err
    assert err[0].startswith('error: plan: the model call failed: gave up after 2 attempt(s)')
    assert f'cannot reach http://127.0.0.1:{port}/v1' in err[0]


def test_invalid_replies_exhausted(capsys, server, fast_config):
    server.inject('malformed', 3)           # 1 + engine.max_retries (2) invalid plan replies
    code, out, err = run_cli(capsys, 'plan', '--task', TASK, '--mllm', 'openai', '--base-url',
                             server.url, '--model', 'resem3d-oracle', '--config',
                             str(fast_config))
    assert code == 1 and out == ''
    assert len(err) == 1, err
    assert err[0].startswith('error: plan: no valid reply in 3 attempts; last error: ')
