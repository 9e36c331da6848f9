"""resem3d bench: one task x one seed with a disturbance, in a worker process, -> the report's
keys; and its argument checks."""

import json

import pytest

from resem3d.cli import main


def test_one_task_one_seed_with_a_disturbance_gives_the_report(capsys, tmp_path):
    code = main(['bench', '--tasks', 'lab_flask_to_stirrer', '--seeds', '1', '--disturb',
                 '--jobs', '1', '--out', str(tmp_path / 'bench'), '--json'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert {'per_task', 'totals', 'runs', 'wall_s', 'tasks', 'seeds', 'jobs'} <= set(report)
    assert report['tasks'] == ['lab_flask_to_stirrer'] and report['seeds'] == 1
    task = report['per_task']['lab_flask_to_stirrer']
    for key in ('runs', 'successes', 'success_rate', 'mean_time_to_success_s',
                'controller_step_us_p50', 'controller_step_us_p99', 'tracking_ms_p50',
                'tracking_ms_p95', 'mllm_calls_per_run', 'from_oracle', 'failures',
                'disturbance'):
        assert key in task, key
    assert task['runs'] == 1 and task['from_oracle'] is True
    assert task['controller_step_us_p50'] > 0 and task['tracking_ms_p50'] > 0
    assert task['mllm_calls_per_run'] >= 5
    (run,) = report['runs']
    assert run['disturbance']['applied'] is True
    assert 0.05 <= run['disturbance']['actual_distance_m'] <= 0.15
    assert (tmp_path / 'bench' / 'lab_flask_to_stirrer-s0-disturb' / 'metrics.json').is_file()
    assert report['totals']['runs'] == 1
    assert '[1/1] lab_flask_to_stirrer seed 0' in captured.err


@pytest.mark.parametrize('argv, step', [
    (['--tasks', 'nope'], 'tasks'),
    (['--tasks', ','], 'tasks'),
    (['--seeds', '0'], 'seeds'),
    (['--jobs', 'x'], 'jobs'),
])
def test_bad_arguments(capsys, argv, step):
    code = main(['bench', *argv])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f'error: {step}: '), err
