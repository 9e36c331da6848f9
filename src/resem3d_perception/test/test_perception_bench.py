"""Tests of resem3d_perception.bench: keys and types of its JSON and its table.

Speed targets live in the bench itself (its ``pass`` flags), not in unit tests: timings
depend on the machine and its load.
"""

from __future__ import annotations

import json

import pytest

from resem3d_perception.bench import TARGETS, format_table, main

FLOAT_KEYS = ('cloud_ms_p50', 'cloud_ms_p95', 'cloud_ms_p50_open3d', 'cloud_speedup_vs_open3d',
              'track_ms_p50', 'track_ms_p95',
              'track_err_mm_max', 'track_err_deg_max')


@pytest.fixture(scope='module')
def bench_json() -> dict:
    """One bench run of 2 frames with --json (the tiny SAM included)."""
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(['--json', '--frames', '2'])
    assert status == 0
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1                 # exactly one JSON object
    return json.loads(lines[0])


def test_json_keys_and_types(bench_json: dict) -> None:
    for key in FLOAT_KEYS:
        assert isinstance(bench_json[key], float) and bench_json[key] >= 0.0, key
    assert bench_json['cloud_ms_p50'] <= bench_json['cloud_ms_p95']
    assert bench_json['track_ms_p50'] <= bench_json['track_ms_p95']
    assert bench_json['frames'] == 2 and bench_json['image'] == [640, 480]
    assert len(bench_json['objects']) == 3 and bench_json['lost_updates'] == 0
    assert bench_json['targets'] == {'track_ms_p95': 15, 'cloud_ms_p50': 5} == TARGETS
    assert set(bench_json['pass']) == set(TARGETS)
    assert all(isinstance(flag, bool) for flag in bench_json['pass'].values())
    for key, target in TARGETS.items():
        assert bench_json['pass'][key] == (bench_json[key] <= target)
    # the tiny SAM's embedding time, or null with the reason
    sam_ms, sam_error = bench_json['sam_embed_ms'], bench_json['sam_error']
    assert (isinstance(sam_ms, float) and sam_ms > 0.0 and sam_error is None) or (
        sam_ms is None and isinstance(sam_error, str) and sam_error)


def test_human_table(bench_json: dict) -> None:
    table = format_table(bench_json)
    assert 'cloud (whole image)' in table and 'track (all objects)' in table
    assert 'sam embed' in table and len(table.splitlines()) >= 6
    assert not table.lstrip().startswith('{')


def test_bad_frame_count_exits_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['--frames', '0']) == 2
    assert 'frames must be >= 1' in capsys.readouterr().err


def test_unknown_task_exits_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    assert main(['--frames', '1', '--task', 'no_such_task', '--no-sam']) == 2
    assert 'no_such_task' in capsys.readouterr().err
