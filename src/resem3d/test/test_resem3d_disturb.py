"""--disturb: spec parsing and its errors, seeded times and directions that land clear, the
drawer that moves for a welded cabinet, and the follow measurement."""

import math

import numpy as np
import pytest

from resem3d.cli import main
from resem3d.disturb import (FALLBACK_S, FOLLOW_FRACTION, RANDOM_AFTER_GRASP_S,
                             RANDOM_BEFORE_GRASP_S, RANDOM_DISTANCE_M, DisturbSpec,
                             DisturbSpecError, FollowMeter, PlannedDisturbance, disturbance_time,
                             held_object_clear, moved_on_approach, parse_disturb,
                             plan_disturbance)


@pytest.mark.parametrize('text, distance, at_s', [
    ('random', None, None),
    (' random ', None, None),
    ('target:0.1@3.0', 0.1, 3.0),
    ('target:.05@0', 0.05, 0.0),
    ('target:0.3', 0.3, None),
])
def test_specs_parse(text, distance, at_s):
    spec = parse_disturb(text)
    assert (spec.distance_m, spec.at_s) == (distance, at_s)


@pytest.mark.parametrize('text, match', [
    ('', 'expected "random" or "target:D@T"'),
    ('sideways', 'expected "random" or "target:D@T"'),
    ('target:', 'expected'),
    ('target:abc@1', 'expected'),
    ('target:0.1@-1', 'expected'),
    ('target:0.1@1s', 'expected'),
    ('target:0@1', r'distance 0 m must be in \(0, 0.3\]'),
    ('target:0.5@1', r'distance 0.5 m must be in \(0, 0.3\]'),
])
def test_bad_specs_are_one_line_errors(text, match):
    with pytest.raises(DisturbSpecError, match=match) as info:
        parse_disturb(text)
    assert '\n' not in str(info.value)


def test_a_bad_spec_on_the_command_line_is_exit_2(capsys, tmp_path):
    code = main(['run', '--task', 'lab_flask_to_stirrer', '--disturb', 'target:1@2', '--out',
                 str(tmp_path / 'x')])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith('error: disturb: '), err
    assert not (tmp_path / 'x').exists()


def test_random_times_and_distances_are_seeded_and_in_their_windows():
    spec = parse_disturb('random')
    draws = {seed: disturbance_time(spec, seed, grasped=True) for seed in range(20)}
    assert draws == {seed: disturbance_time(spec, seed, grasped=True) for seed in range(20)}
    assert len(set(draws.values())) == 20
    for timing in draws.values():
        assert RANDOM_BEFORE_GRASP_S[0] <= timing.at_s <= RANDOM_BEFORE_GRASP_S[1]
        assert timing.after_grasp_s is None
        assert RANDOM_DISTANCE_M[0] <= timing.distance_m <= RANDOM_DISTANCE_M[1]
    carried = disturbance_time(spec, 3, grasped=False)         # a target: while carrying to it
    assert RANDOM_AFTER_GRASP_S[0] <= carried.after_grasp_s <= RANDOM_AFTER_GRASP_S[1]
    assert carried.at_s == FALLBACK_S
    fixed = disturbance_time(parse_disturb('target:0.1@3.0'), 7, True)
    assert (fixed.at_s, fixed.after_grasp_s, fixed.distance_m) == (3.0, None, 0.1)


def _env(task):
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv
    return TaskEnv.build(get_task(task), 0)


def test_a_free_object_moves_horizontally_to_a_clear_spot():
    env = _env('lab_flask_to_stirrer')
    planned = plan_disturbance(DisturbSpec('target:0.1@3.0', 0.1, 3.0), env, 0, 3.0, 0.1)
    assert planned.target == 'flask' and planned.at_s == 3.0
    assert math.isclose(planned.distance_m, 0.1) and planned.vector_m[2] == 0.0
    assert 'no clear direction' not in planned.note
    assert planned == plan_disturbance(DisturbSpec('target:0.1@3.0', 0.1, 3.0), env, 0, 3.0, 0.1)
    before = env.pose('flask')[:3, 3].copy()
    env.apply(planned.disturbance())
    np.testing.assert_allclose(env.pose('flask')[:3, 3] - before, planned.vector_m, atol=1e-9)


def test_a_welded_cabinet_moves_its_drawer_along_the_slide():
    env = _env('household_open_drawer')          # the drawer starts closed: it slides out
    planned = plan_disturbance(DisturbSpec('target:0.08', 0.08, None), env, 0, 1.0, 0.08)
    assert planned.target == 'drawer' and 'cabinet is welded' in planned.note
    env.apply(planned.disturbance())
    assert math.isclose(env.slide_opening_m('drawer'), 0.08, abs_tol=1e-9)


def test_a_welded_rack_moves_as_a_whole_once_the_carried_tube_is_out_of_it():
    env = _env('lab_tube_to_slot_2')             # the tube stands in the rack's slot 1
    assert env.task.moved_object == 'rack' and not env.object_info('rack').movable
    assert not held_object_clear(env, 'rack', {'tube'})
    T = env.pose('tube')
    T[2, 3] += 0.25                              # lifted well above the rack
    env.world.set_body_pose(env.object_info('tube').body_name, T)
    assert held_object_clear(env, 'rack', {'tube'}) and held_object_clear(env, 'rack', set())
    planned = plan_disturbance(DisturbSpec('target:0.1', 0.1, None), env, 0, 1.0, 0.1,
                               held={'tube'})
    assert planned.target == 'rack' and 'no clear direction' not in planned.note
    before = env.pose('rack')[:3, 3].copy()
    env.apply(planned.disturbance())
    np.testing.assert_allclose(env.pose('rack')[:3, 3] - before, planned.vector_m, atol=1e-9)


def test_follow_meter_counts_frames_until_80_percent():
    planned = PlannedDisturbance('target:0.1@1.0', 1.0, 'flask', (0.1, 0.0, 0.0))
    meter = FollowMeter(planned, 'flask')
    meter.frame(0.9, np.zeros(3))                 # before the disturbance: ignored
    meter.applied(1.0, np.array([0.1, 0.0, 0.0]), np.zeros(3), held=False)
    meter.frame(1.0667, np.array([0.0, 0.0, 0.0]), stamp_s=0.9333)   # in flight: old
    meter.frame(1.1333, np.array([FOLLOW_FRACTION * 0.1 + 1e-4, 0.0, 0.0]), stamp_s=1.0667)
    meter.frame(1.2, np.array([0.1, 0.0, 0.0]), stamp_s=1.1333)
    report = meter.to_json()
    assert report['applied'] and report['follow_frames'] == 2
    assert report['follow_frames_showing'] == 1    # the first frame captured after the move
    assert math.isclose(report['follow_s'], 0.1333, abs_tol=1e-4)
    backwards = FollowMeter(planned, 'flask')      # moved as far, the other way: not followed
    backwards.applied(1.0, np.array([0.1, 0.0, 0.0]), np.zeros(3), held=False)
    backwards.frame(1.1333, np.array([-0.2, 0.0, 0.0]), stamp_s=1.0667)
    assert backwards.to_json()['follow_s'] is None
    same_ms = FollowMeter(planned, 'flask')        # rendered in the same ms, before the move
    same_ms.applied(1.0, np.array([0.1, 0.0, 0.0]), np.zeros(3), held=False)
    same_ms.frame(1.0667, np.zeros(3), stamp_s=1.0)
    same_ms.frame(1.1333, np.array([0.1, 0.0, 0.0]), stamp_s=1.0667)
    assert same_ms.to_json()['follow_frames_showing'] == 1
    untracked = FollowMeter(planned, None)
    untracked.applied(1.0, np.array([0.1, 0.0, 0.0]), None, held=False)
    untracked.frame(1.1, None)
    assert untracked.to_json()['follow_s'] is None


def test_a_target_moves_on_approach_when_grasped_or_pushed():
    # The drawer of a moved cabinet is grasped: moved while the arm approaches it.
    assert moved_on_approach({'cabinet', 'drawer'}, {'drawer'})
    # A push program grasps nothing: same.
    assert moved_on_approach({'cabinet', 'drawer'}, set())
    # The mug is grasped and carried to the moved plate: moved while carrying.
    assert not moved_on_approach({'plate'}, {'mug'})
