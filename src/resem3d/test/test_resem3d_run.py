"""resem3d run: one closed-loop run with the oracle that succeeds and leaves its metrics, and the
failures that are results (a model outage) or refusals (an unknown task, bad options)."""

import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from resem3d.cli import main
from resem3d.run import METRIC_KEYS

REPO = Path(__file__).resolve().parents[3]
TASK = 'lab_flask_to_stirrer'


def run_cli(capsys, *argv):
    """``main(argv)`` -> (exit status, stdout, stderr lines)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


@pytest.fixture(scope='module')
def flask_run(tmp_path_factory):
    """One closed-loop run of the flask task with the oracle (shared by the tests below)."""
    out = tmp_path_factory.mktemp('run') / 'flask'
    code = main(['run', '--task', TASK, '--mllm', 'oracle', '--out', str(out), '--json'])
    return code, out


def test_a_closed_loop_run_succeeds_and_writes_its_metrics(flask_run):
    code, out = flask_run
    assert code == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics['success'] is True and metrics['task'] == TASK
    assert 'rests on stirrer/plate' in metrics['reason']
    assert metrics['from_oracle'] is True and metrics['mllm']['backend'] == 'oracle'
    assert metrics['mllm']['calls']['plan'] == 1
    assert metrics['mllm']['total_calls'] == sum(metrics['mllm']['calls'].values())
    # Every stage of both subtasks ran and was reached.
    assert [s['stage'] for s in metrics['stages']] == [
        'open_gripper', 'pregrasp', 'grasp', 'lift', 'carry', 'place', 'retreat']
    assert all(s['reached'] for s in metrics['stages'])
    assert 0 < metrics['sim_s'] < 60
    c = metrics['controller']
    assert c['rate_hz'] == 1000.0 and c['ticks'] > 1000
    assert 0 < c['step_us_p50'] <= c['step_us_p99']
    # Object poses came from the tracker, at 15 Hz, one frame per camera period.
    t = metrics['tracking']
    assert sorted(t['objects']) == ['flask', 'stirrer']
    assert t['frames'] == metrics['camera']['frames'] >= int(14 * (metrics['sim_s'] - 0.5))
    assert 0 < t['ms_p50'] <= t['ms_p95']
    assert t['error_vs_simulator_mm']['stirrer']['max'] < 10
    kinds = [e['kind'] for e in metrics['events']]
    assert 'grasp' in kinds and 'release' in kinds
    assert metrics['disturbance'] is None
    # The model exchanges were recorded, and the recorder's outputs were written.
    assert (out / 'transcript' / 'transcript.jsonl').is_file()
    outputs = metrics['outputs']
    assert outputs['metrics'] == str(out / 'metrics.json')
    for name in ('video', 'report'):
        if name in outputs:
            assert Path(outputs[name]).is_file()


def test_unknown_task_is_one_line_and_exit_2(capsys, tmp_path):
    code, out, err = run_cli(capsys, 'run', '--task', 'no_such_task', '--out',
                             str(tmp_path / 'x'))
    assert code == 2 and out == ''
    assert len(err) == 1 and err[0].startswith("error: task: unknown task 'no_such_task'")
    assert not (tmp_path / 'x').exists()


@pytest.mark.parametrize('argv, step', [
    (['--seed', '-1'], 'seed'),
    (['--instruction', '  '], 'instruction'),
    (['--mllm', 'replay'], 'mllm'),                  # replay needs --transcript
    (['--model', 'm', '--mllm', 'oracle'], 'mllm'),
])
def test_bad_options_are_refused_before_the_run(capsys, tmp_path, argv, step):
    code, out, err = run_cli(capsys, 'run', '--task', TASK, '--out', str(tmp_path / 'x'), *argv)
    assert code == 2 and out == ''
    assert len(err) == 1 and err[0].startswith(f'error: {step}: '), err


@pytest.fixture()
def fast_config(tmp_path) -> Path:
    """A config directory whose openai backend gives up at once."""
    directory = tmp_path / 'config'
    directory.mkdir()
    for name in ('reasoning.yaml', 'perception.yaml', 'controller.yaml'):
        shutil.copy(REPO / 'config' / name, directory / name)
    path = directory / 'reasoning.yaml'
    document = yaml.safe_load(path.read_text())
    document['resem3d_reasoning']['ros__parameters']['mllm']['openai'].update(
        timeout_s=2.0, max_retries=0, backoff_s=0.01, backoff_max_s=0.02, total_budget_s=4.0)
    path.write_text(yaml.safe_dump(document))
    return directory


def test_a_model_outage_ends_the_run_with_a_reason(capsys, tmp_path, fast_config):
    with socket.socket() as probe:           # a port nothing listens on
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    out = tmp_path / 'outage'
    code, stdout, err = run_cli(capsys, 'run', '--task', TASK, '--mllm', 'openai',
                                '--base-url', f'http://127.0.0.1:{port}/v1', '--model', 'm',
                                '--config', str(fast_config), '--out', str(out), '--json')
    assert code == 1
    assert err[-1].startswith('failed: plan: plan: the model call failed'), err
    assert not any('Traceback' in line for line in err)
    metrics = json.loads(stdout)
    assert metrics == json.loads((out / 'metrics.json').read_text())
    assert metrics['success'] is False and metrics['failed_step'] == 'plan'
    assert f'cannot reach http://127.0.0.1:{port}/v1' in metrics['reason']
    assert metrics['stages'] == [] and metrics['mllm']['total_calls'] == 1


def test_a_drawer_slid_while_the_arm_approaches_is_followed_and_pushed_shut(capsys, tmp_path):
    """The push program grasps nothing: its disturbance comes while the arm approaches; the
    drawer, tracked on its slide joint, is found on the first frame that shows the move."""
    out = tmp_path / 'drawer'
    code = main(['run', '--task', 'household_close_drawer', '--seed', '3', '--mllm', 'oracle',
                 '--disturb', 'random', '--out', str(out), '--json'])
    capsys.readouterr()
    metrics = json.loads((out / 'metrics.json').read_text())
    assert code == 0 and metrics['success'] is True, metrics['reason']
    assert [s['stage'] for s in metrics['stages']] == [
        'close_fingers', 'above_handle', 'fingers_closed', 'lower_in_front', 'push_closed',
        'retreat']
    d = metrics['disturbance']
    assert d['applied'] is True and d['object'] == 'drawer'
    assert 0.3 <= d['applied_s'] <= 1.0
    assert 'slides in' in d['note'] and d['actual_distance_m'] >= 0.05
    assert d['follow_frames_showing'] == 1
    error = metrics['tracking']['error_vs_simulator_mm']
    # Mostly exact; while the fingers push it shut, the drawer keeps its pose (next to the hand).
    assert error['drawer']['p50'] < 5 and error['cabinet']['max'] < 10
