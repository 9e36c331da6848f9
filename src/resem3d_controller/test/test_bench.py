import json

from resem3d_controller import bench


def test_small_benchmark_run_reports_every_field(capsys):
    assert bench.main(['--json', '--targets', '3', '--window', '5', '--mixed-seeds', '1',
                       '--mixed-ticks', '100']) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ('ours_p50_us', 'ours_p99_us', 'ours_mixed_p99_us', 'pink_osqp_p50_us',
                'pink_best_p50_us', 'ratio_osqp_p50', 'ratio_best_p50', 'reach_rate',
                'limit_violations'):
        assert key in result
    assert result['targets'] == 3
    assert result['mixed_constraints'] >= 6
    assert result['limit_violations'] == 0
    assert 0.0 <= result['reach_rate'] <= 1.0
    assert result['ratio_osqp_p50'] == result['pink_osqp_p50_us'] / result['ours_window_p50_us']


def test_targets_are_reachable_and_seeded():
    first = bench.sample_pose_targets(4, seed=3)
    again = bench.sample_pose_targets(4, seed=3)
    assert all((a == b).all() for a, b in zip(first, again))
    assert all(T[2, 3] >= 0.05 for T in first)


def test_bad_arguments_exit_2(capsys):
    assert bench.main(['--targets', '0']) == 2
    assert 'error:' in capsys.readouterr().err
