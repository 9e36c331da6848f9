# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""SceneTracker on ray-cast frames of a box (following a move, lost tracks, gating,
hysteresis, the search for a box moved out of ICP's reach) and on rendered task scenes (a drawer
on its slide joint; plates and a bowl moved by 5-13 cm, as the closed loop's disturbances)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from resem3d_perception import depth_to_cloud, estimate_object_frame
from resem3d_perception.config import PerceptionConfig
from resem3d_perception.depth_checks import DepthImage
from resem3d_perception.errors import PerceptionInputError
from resem3d_perception.scene_tracker import SceneTracker, SceneTrackingConfig
from resem3d_perception.slide_joint import SlideJoint
from resem3d_perception.testing import box_scene
from resem3d_perception.tracking import TrackStatus


def box_pose(x: float = 0.5, y: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (x, y, 0.0)
    return T


def frame_cloud(T_base_box: np.ndarray, *, hide_box: bool = False):  # noqa: N803
    scene = box_scene(T_base_box)
    depth = scene.depth_m
    if hide_box:
        depth = box_scene(box_pose(5.0)).depth_m            # the box left the view
    return depth_to_cloud(depth, scene.intrinsics, scene.T_base_cam), scene


def box_frame(T_base_box: np.ndarray, stamp_s: float, *, hide_box: bool = False  # noqa: N803
              ) -> DepthImage:
    """The depth image of the box at ``T_base_box`` at ``stamp_s``."""
    scene = box_scene(T_base_box if not hide_box else box_pose(5.0))
    return DepthImage(scene.depth_m, scene.intrinsics, scene.T_base_cam, stamp_s)


def grounded(config: SceneTrackingConfig | None = None):
    cloud, scene = frame_cloud(box_pose())
    points = cloud.points_base[scene.part_mask.ravel()[cloud.pixel_index] == 1]
    T0 = estimate_object_frame(points)
    tracker = SceneTracker(config=config)
    tracker.ground('box', points, T0, stamp_s=0.0, camera_base=cloud.camera_position_base)
    return tracker, T0


def test_follows_a_moving_box():
    tracker, T0 = grounded(SceneTrackingConfig(keep_pose_margin=0.0))
    assert tracker.names == ['box']
    for i in range(1, 7):
        result = tracker.update(box_frame(box_pose(0.5 + 0.006 * i), i / 15.0))['box']
        assert result.status == TrackStatus.TRACKING
    moved = tracker.pose('box')[:3, 3] - T0[:3, 3]
    np.testing.assert_allclose(moved, (0.036, 0.0, 0.0), atol=0.005)


def test_a_clear_move_is_taken_at_once_despite_the_hysteresis():
    tracker, T0 = grounded()
    result = tracker.update(box_frame(box_pose(0.52), 0.1))['box']
    assert result.ok and result.reason == ''
    assert tracker.pose('box')[0, 3] - T0[0, 3] > 0.012


def test_static_box_keeps_its_pose():
    tracker, T0 = grounded()
    for i in range(3):
        tracker.update(box_frame(box_pose(), i / 15.0))
    assert np.linalg.norm(tracker.pose('box')[:3, 3] - T0[:3, 3]) < 0.002
    assert tracker.results_by_status() == {'box': 'tracking'}


def test_lost_box_keeps_its_last_pose():
    tracker, T0 = grounded()
    result = tracker.update(box_frame(box_pose(), 0.1, hide_box=True))['box']
    assert result.status == TrackStatus.LOST and not result.ok
    np.testing.assert_array_equal(result.T_base_obj, tracker.pose('box'))
    np.testing.assert_allclose(tracker.pose('box'), T0, atol=1e-9)


def test_box_next_to_the_gripper_keeps_its_pose():
    tracker, T0 = grounded()
    T_tool = np.eye(4)
    T_tool[:3, :3] = np.diag([1.0, -1.0, -1.0])                  # pointing down
    T_tool[:3, 3] = (0.5, 0.0, 0.09)                              # just above the box
    frame = box_frame(box_pose(0.515), 0.1)
    result = tracker.update(frame, T_base_tool=T_tool)['box']
    assert 'gripper' in result.reason
    np.testing.assert_allclose(tracker.pose('box'), T0, atol=1e-12)
    far = T_tool.copy()
    far[:3, 3] = (0.5, 0.0, 0.5)
    tracker.update(dataclasses.replace(frame, stamp_s=0.2), T_base_tool=far)
    assert tracker.pose('box')[0, 3] - T0[0, 3] > 0.01          # no gate: it moves


def test_coverage_scores_poses():
    tracker, T0 = grounded()
    cloud, _ = frame_cloud(box_pose())
    assert tracker.coverage('box', cloud, T0) > 0.8
    away = T0.copy()
    away[0, 3] += 0.1
    assert tracker.coverage('box', cloud, away) < 0.2


def test_hysteresis_can_be_disabled_and_config_is_checked():
    tracker, _ = grounded(SceneTrackingConfig(keep_pose_margin=0.0, gripper_gate_m=0.0))
    assert tracker.update(box_frame(box_pose(0.51), 0.1))['box'].ok
    tracker.remove('box')
    tracker.remove('box')
    assert tracker.names == []
    with pytest.raises(PerceptionInputError, match='keep_pose_margin'):
        SceneTrackingConfig(keep_pose_margin=-0.1)


# --------------------------------------------------------------------- rendered task scenes

CONFIG_FILE = Path(__file__).resolve().parents[3] / 'config' / 'perception.yaml'


def _rotation_deg(R_a, R_b):  # noqa: N803
    cos_angle = (np.trace(R_a.T @ R_b) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, cos_angle))))


@pytest.fixture()
def drawer_scene():
    """(environment, perception tracking the cabinet and its drawer on their slide joint)."""
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv
    env = TaskEnv.build(get_task('household_close_drawer'), 0)
    with env.camera() as camera:
        frame = camera.render()
    perception = SceneTracker(PerceptionConfig.from_yaml(CONFIG_FILE).tracker)
    for obj, parts in (('cabinet', ('cabinet/top', 'cabinet/body')),
                       ('drawer', ('drawer/handle', 'drawer/front'))):
        labels = [i for i, label in enumerate(frame.labels) if label in parts]
        seen = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                              mask=np.isin(frame.part_mask, labels))
        perception.ground(obj, seen.points_base.astype(float), env.pose(obj),
                          stamp_s=frame.stamp_s, camera_base=frame.T_base_cam[:3, 3])
    T_cab = env.pose('cabinet')
    axis_cab = T_cab[:3, :3].T @ env.slide_axis('drawer')
    T_zero = np.linalg.inv(T_cab) @ env.pose('drawer')
    T_zero[:3, 3] -= env.slide_opening_m('drawer') * axis_cab
    perception.add_slide('drawer', SlideJoint('cabinet', T_zero, axis_cab, (0.0, 0.3)))
    return env, perception


def _tool_at(p_base):
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])     # pointing down
    T[:3, 3] = p_base
    return T


def _slide(env, slide_m):
    from resem3d_sim.tasks import Disturbance
    before = env.pose('drawer')
    env.apply(Disturbance(0.0, 'move_object', 'drawer',
                          tuple(slide_m * env.slide_axis('drawer'))))
    moved = env.pose('drawer')
    assert np.linalg.norm(moved[:3, 3] - before[:3, 3]) == pytest.approx(abs(slide_m), abs=1e-6)
    with env.camera() as camera:
        return moved, camera.render()


@pytest.mark.parametrize('slide_m', [0.09, -0.08])
def test_a_drawer_slid_away_from_the_hand_is_found_along_its_slide(drawer_scene, slide_m):
    env, perception = drawer_scene
    T_old = perception.pose('drawer').copy()
    moved, frame = _slide(env, slide_m)
    # The search by itself, from the old pose (where ICP of the handle alone stops short).
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    far = _tool_at([0.3, 0.0, 0.5])
    T = perception._slide_search('drawer', perception.slides['drawer'], cloud, T_old, far)
    assert np.linalg.norm(T[:3, 3] - moved[:3, 3]) < 0.006
    # And in a whole update.
    perception.update(frame, far)
    T = perception.pose('drawer')
    assert np.linalg.norm(T[:3, 3] - moved[:3, 3]) < 0.01
    assert _rotation_deg(T[:3, :3], moved[:3, :3]) < 1.0


def _tool_in_front_of_drawer(env, perception):
    """A tool pose further than the gripper gate from the drawer, within the slide's gate."""
    tool = _tool_at(env.pose('drawer')[:3, 3] + 0.13 * env.slide_axis('drawer') +
                    [0.0, 0.0, 0.08])
    track = perception.tracker.tracks['drawer']
    assert not perception._near_tool(track, tool)
    assert perception._near_tool(track, tool, SceneTrackingConfig().slide_gate_m)
    return tool


def test_a_drawer_next_to_the_hand_keeps_its_pose_where_the_hand_hides_it(drawer_scene):
    env, perception = drawer_scene
    tool = _tool_in_front_of_drawer(env, perception)
    T_before = perception.pose('drawer').copy()
    moved, frame = _slide(env, -0.05)       # pushed in, by the hand in front of it
    # The hand hides the drawer: its pixels show a surface 10 cm nearer the camera.
    labels = [i for i, label in enumerate(frame.labels) if label.startswith('drawer/')]
    depth = frame.depth_m.copy()
    hidden = np.isin(frame.part_mask, labels)
    depth[hidden] -= 0.1
    perception.update(dataclasses.replace(frame, depth_m=depth), tool)
    np.testing.assert_allclose(perception.pose('drawer'), T_before, atol=1e-9)
    with pytest.raises(KeyError, match='not tracked'):
        perception.add_slide('lid', perception.slides['drawer'])


@pytest.mark.parametrize('slide_m', [0.06, -0.05])
def test_a_drawer_moved_next_to_the_hand_is_followed_where_the_camera_sees_through_it(
        drawer_scene, slide_m):
    env, perception = drawer_scene
    tool = _tool_in_front_of_drawer(env, perception)
    T_before = perception.pose('drawer').copy()
    moved, frame = _slide(env, slide_m)     # pulled out towards the hand, or pushed in
    # With a gate no opening passes (the rule before), it keeps its pose ...
    config = perception.config
    perception.config = dataclasses.replace(config, slide_gate_coverage=1.01)
    perception.update(frame, tool)
    np.testing.assert_allclose(perception.pose('drawer'), T_before, atol=1e-9)
    # ... with the default one, it is followed in the same frame.
    perception.config = config
    perception.update(frame, tool)
    T = perception.pose('drawer')
    assert np.linalg.norm(T[:3, 3] - moved[:3, 3]) < 0.01


# --------------------------------------------------------------------- free space

def _move_object(task, seed, obj, shift_m, complete_round_slabs=True, config=None,
                 taken_away=()):
    """(environment, perception tracking ``obj`` of ``task`` at ``seed`` as grounded in the
    first frame, its pose before, the frame after it was moved by ``shift_m`` (x, y, z) [m]).
    ``complete_round_slabs``: the tracker's option. ``config``: the tracker's (default
    :class:`SceneTrackingConfig`). ``taken_away``: objects moved out of the scene after
    grounding."""
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import Disturbance, TaskEnv
    env = TaskEnv.build(get_task(task), seed)
    with env.camera() as camera:
        frame = camera.render()
    tracker = PerceptionConfig.from_yaml(CONFIG_FILE).tracker
    tracker = dataclasses.replace(tracker, complete_round_slabs=complete_round_slabs)
    perception = SceneTracker(tracker, config)
    labels = [i for i, label in enumerate(frame.labels) if label.startswith(obj + '/')]
    seen = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                          mask=np.isin(frame.part_mask, labels))
    T_before = env.pose(obj)
    perception.ground(obj, seen.points_base.astype(float), T_before, stamp_s=frame.stamp_s,
                      camera_base=frame.T_base_cam[:3, 3])
    for other in taken_away:
        env.apply(Disturbance(0.0, 'move_object', other, (0.0, 3.0, 0.0)))
    env.apply(Disturbance(0.0, 'move_object', obj, tuple(shift_m)))
    with env.camera() as camera:
        frame = camera.render()
    return env, perception, T_before, frame


def _move_plate(distance_m, direction_deg, seed=7, complete_round_slabs=True, mug_away=False):
    """(perception tracking the plate of household_mug_to_plate at ``seed``, its pose before,
    the frame after it was moved by ``distance_m`` towards ``direction_deg``, its pose after).
    ``complete_round_slabs``: the tracker's option (a plate partly hidden at grounding gets a
    whole-disc model). ``mug_away``: the mug is taken out of the scene after grounding (it is
    carried when the plate is moved in the closed loop)."""
    angle = math.radians(direction_deg)
    env, perception, T_before, frame = _move_object(
        'household_mug_to_plate', seed, 'plate',
        (distance_m * math.cos(angle), distance_m * math.sin(angle), 0.0),
        complete_round_slabs=complete_round_slabs, taken_away=('mug',) if mug_away else ())
    return perception, T_before, frame, env.pose('plate')


@pytest.fixture()
def moved_plate():
    """A plate moved 5.8 cm, within its own footprint (see :func:`_move_plate`), tracked with
    the partial model seen at grounding (not completed: the see-through test is for any shape
    whose model the camera saw only in part)."""
    return _move_plate(0.058, 130.0, complete_round_slabs=False)


def test_a_plate_moved_within_its_footprint_is_found_by_what_the_camera_sees_through(
        moved_plate):
    perception, T_before, frame, T_after = moved_plate
    far = _tool_at([0.3, 0.0, 0.6])
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    # Its partial model still lies mostly on the moved disc: 3-D coverage barely drops...
    old, new = perception._coverages('plate', cloud, [T_before, T_after], far)
    assert old > 0.9 and new - old < SceneTrackingConfig().redetect_min_gain
    # ... but the camera sees the table through the rest of it.
    free_old = perception.free_space('plate', frame, T_before)
    assert free_old > SceneTrackingConfig().search_above_free_space
    assert perception.free_space('plate', frame, T_after) < 0.5 * free_old
    # Without the depth image the search keeps the old pose; with it, it finds the plate.
    assert perception.redetect('plate', cloud, frame.stamp_s, far, old) is None
    perception.tracker.tracks['plate'].T_base_obj = T_before.copy()
    found = perception.redetect('plate', cloud, frame.stamp_s, far, old, depth=frame)
    assert found is not None
    assert np.linalg.norm(found.T_base_obj[:3, 3] - T_after[:3, 3]) < 0.01


@pytest.mark.parametrize(('distance_m', 'direction_deg'), [(0.05, 93.0), (0.063, 93.0),
                                                          (0.063, 100.0)])
def test_a_plate_half_hidden_at_grounding_is_followed_towards_its_seen_half(distance_m,
                                                                           direction_deg):
    """At seed 0 the kettle hides the plate's near half at grounding. Its model completed to
    the whole disc, the camera sees the table through the model at the old pose after a move
    towards the seen half, and one update finds the plate within 1 cm (as in the closed loop,
    household_mug_to_plate seed 0 with --disturb: 6.3 cm towards 93 deg, with the mug carried
    away). The half-disc model still lies on the moved plate: 3.6-5 cm off. (Without the
    further ICP passes of ``_icp_follow``, which take even the half disc along in some of
    these cases: this tests the model.)"""
    far = _tool_at([0.3, 0.0, 0.6])
    for complete, within in ((True, lambda e: e < 0.01), (False, lambda e: e > 0.03)):
        perception, _, frame, T_after = _move_plate(distance_m, direction_deg, seed=0,
                                                    complete_round_slabs=complete, mug_away=True)
        perception.config = dataclasses.replace(perception.config, icp_follow_passes=0)
        perception.update(frame, far)
        error_m = float(np.linalg.norm(perception.pose('plate')[:2, 3] - T_after[:2, 3]))
        assert within(error_m), (complete, error_m)


def test_a_plate_searched_for_in_vain_while_hidden_is_searched_for_once_seen_through():
    """The box_on_plate case (seed 8 with --disturb): searches for a plate half hidden by the
    arm had found nothing (and the next was 15 frames away) when the plate was moved 9.4 cm,
    beyond ICP's reach. The camera now sees through the model at its pose: it is searched for
    at once (with no retries for moved objects, it keeps the old pose)."""
    far = _tool_at([0.3, 0.0, 0.6])
    for retries, within in ((3, lambda e: e < 0.01), (0, lambda e: e > 0.03)):
        perception, _, frame, T_after = _move_plate(0.094, 90.0, mug_away=True)
        perception.config = dataclasses.replace(perception.config,
                                                redetect_moved_retries=retries)
        # As after fruitless searches at 40 % coverage, none seen through, one frame ago.
        perception._search_floor['plate'] = (0.4, 0.0)
        perception._fruitless['plate'] = 5
        perception._since_search['plate'] = 1
        perception.update(frame, far)
        error_m = float(np.linalg.norm(perception.pose('plate')[:2, 3] - T_after[:2, 3]))
        assert within(error_m), (retries, error_m)


@pytest.mark.parametrize('direction_deg', [90.0, 180.0])
def test_a_plate_moved_5_cm_is_followed_in_one_frame_by_further_icp_passes(direction_deg):
    """One ICP pass takes a plate moved 5 cm 2-3 cm of the way (its crop and correspondence
    distance limit a step); further passes on the same frame follow it to within 1 cm (in the
    closed loop plates were followed over 2-4 frames with the arm above them)."""
    far = _tool_at([0.3, 0.0, 0.6])
    for passes, within in ((3, lambda e: e < 0.01), (0, lambda e: e > 0.015)):
        perception, _, frame, T_after = _move_plate(0.05, direction_deg, mug_away=True)
        perception.config = dataclasses.replace(perception.config, icp_follow_passes=passes)
        perception.update(frame, far)
        error_m = float(np.linalg.norm(perception.pose('plate')[:2, 3] - T_after[:2, 3]))
        assert within(error_m), (passes, error_m)


def test_an_object_that_left_its_pose_is_found_by_the_grid_where_icp_is_not_confident():
    """household_pour_kettle seed 1 with --disturb: the bowl moved 12.8 cm while the kettle
    poured above it. The camera sees through 89 % of its model at the old pose; at the new one
    the kettle hides half of it (here: the bowl's left half of the image shows a surface 10 cm
    nearer), and ICP's fit there is not confident. The grid's pose stands (with the rule off,
    the search finds nothing and the bowl was followed a frame later)."""
    far = _tool_at([0.3, 0.0, 0.6])
    default = SceneTrackingConfig().redetect_grid_free_before
    for free_before, found in ((default, True), (1.01, False)):
        env, perception, T_before, frame = _move_object(
            'household_pour_kettle', 1, 'bowl', (-0.0844, 0.0966, 0.0),
            config=SceneTrackingConfig(redetect_grid_free_before=free_before))
        labels = [i for i, label in enumerate(frame.labels) if label.startswith('bowl/')]
        bowl = np.isin(frame.part_mask, labels)
        columns = np.flatnonzero(bowl.any(axis=0))
        bowl[:, (columns.min() + columns.max()) // 2:] = False
        depth = frame.depth_m.copy()
        depth[bowl] -= 0.1
        frame = dataclasses.replace(frame, depth_m=depth)
        cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
        covered = perception._coverages('bowl', cloud, [T_before], far)[0]
        assert perception.free_space('bowl', frame, T_before) > 0.8
        result = perception.redetect('bowl', cloud, frame.stamp_s, far, covered, depth=frame)
        assert (result is not None) == found
        if found:
            assert 'seen through' in result.reason
            error_m = np.linalg.norm(result.T_base_obj[:2, 3] - env.pose('bowl')[:2, 3])
            assert error_m < 0.015


@pytest.mark.parametrize('distance_m', [0.094, 0.12])
def test_a_plate_moved_off_the_search_grid_is_found_within_a_centimetre(distance_m):
    """A plate moved 9.4 or 12 cm towards +y: refined on the depth-aware score and kept where
    ICP would slide it back, the search puts it within 1 cm (measured: 1.4 and 1.5 cm off
    with the earlier refinement on mean distance alone, which stays in the window of the
    best coarse cell, and ICP's pose taken as it came; in the closed loop 3.4-4.5 cm short
    with the arm above the plate)."""
    perception, T_before, frame, T_after = _move_plate(distance_m, 90.0)
    far = _tool_at([0.3, 0.0, 0.6])
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    covered = perception._coverages('plate', cloud, [T_before], far)[0]
    found = perception.redetect('plate', cloud, frame.stamp_s, far, covered, depth=frame)
    assert found is not None
    assert np.linalg.norm(found.T_base_obj[:2, 3] - T_after[:2, 3]) < 0.01


# --------------------------------------------------------------------- the box, moved far

NO_SEARCH = SceneTrackingConfig(search_below_coverage=0.0, search_above_free_space=1.0)


@pytest.mark.parametrize('shift_m', [(0.0, 0.1), (-0.07, 0.05), (0.12, 0.0)])
def test_a_box_moved_beyond_icp_reach_is_found_by_the_search_in_one_frame(shift_m):
    """Someone moves the box 9-12 cm between two frames: ICP (3 cm crop margin) loses it and
    it keeps its old pose; the search finds it in the same update."""
    moved = box_pose(0.5 + shift_m[0], shift_m[1])
    tracker, T0 = grounded(NO_SEARCH)
    tracker.update(box_frame(moved, 0.1))
    np.testing.assert_allclose(tracker.pose('box'), T0, atol=1e-12)
    tracker, T0 = grounded()
    tracker.update(box_frame(moved, 0.1))
    error_m = float(np.linalg.norm(tracker.pose('box')[:2, 3] - T0[:2, 3] - shift_m))
    assert error_m < 0.01
    assert tracker.redetections == {'box': 1} and tracker.frames == 1


def test_a_box_moved_8_cm_along_itself_is_followed_by_further_icp_passes():
    """Moved 8 cm along its 10 cm side, the box still overlaps ICP's crop: one pass takes it
    2.5 cm of the way, further passes on the same frame all of it."""
    for passes, within in ((3, lambda e: e < 0.01), (0, lambda e: e > 0.04)):
        tracker, T0 = grounded(dataclasses.replace(NO_SEARCH, icp_follow_passes=passes))
        tracker.update(box_frame(box_pose(0.58), 0.1))
        error_m = float(np.linalg.norm(tracker.pose('box')[:2, 3] - T0[:2, 3] - (0.08, 0.0)))
        assert within(error_m), (passes, error_m)


def test_a_box_that_left_the_view_is_searched_for_in_vain_and_kept():
    tracker, T0 = grounded()
    result = tracker.update(box_frame(box_pose(), 0.1, hide_box=True))['box']
    assert result.status == TrackStatus.LOST
    np.testing.assert_allclose(tracker.pose('box'), T0, atol=1e-12)
    assert len(tracker.redetect_ms) == 1 and tracker.lost_frames == {'box': 1}


def test_a_held_box_follows_the_tool_and_needs_its_pose():
    tracker, T0 = grounded()
    T_tool = np.eye(4)
    T_tool[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T_tool[:3, 3] = (0.5, 0.0, 0.07)
    tracker.attach('box', T_tool, T0)
    assert tracker.held('box')
    lifted = T_tool.copy()
    lifted[2, 3] += 0.1
    result = tracker.update(box_frame(box_pose(), 0.1), T_base_tool=lifted)['box']
    assert result.status == TrackStatus.HELD
    np.testing.assert_allclose(tracker.pose('box')[:3, 3], T0[:3, 3] + (0.0, 0.0, 0.1),
                               atol=1e-9)
    with pytest.raises(PerceptionInputError, match='held: update needs T_base_tool'):
        tracker.update(box_frame(box_pose(), 0.2))
    tracker.detach('box', T0)
    assert not tracker.held('box')
    assert tracker.nearest(T0[:3, 3] + (0.0, 0.0, 0.05), {}, 0.04) == 'box'
    assert tracker.nearest(T0[:3, 3] + (0.0, 0.0, 0.3), {}, 0.04) is None


@pytest.mark.parametrize(('key', 'value', 'message'), [
    ('redetect_radius_m', -0.1, 'a number >= 0'), ('icp_follow_passes', 1.5, 'an integer'),
    ('refine_held', 1, 'true or false'), ('redetect_step_m', 0.0, '> 0'),
    ('free_space_margin_m', float('nan'), 'a number >= 0'),
    ('gripper_gate_m', True, 'a number >= 0')])
def test_scene_tracking_config_is_checked(key, value, message):
    with pytest.raises(PerceptionInputError, match=f'SceneTrackingConfig.{key} must be {message}'):
        SceneTrackingConfig(**{key: value})


def test_a_search_keeps_the_grid_pose_where_icp_slides_off_to_a_worse_fit(monkeypatch):
    """ICP confirming a search's candidate can be pulled off by a neighbour in its crop (a
    flask under a pouring beaker: 1.8 cm off from a grid pose 1 mm off). Here ICP's result is
    moved 8 mm away from the camera: the depth residual there is larger, and the grid's pose
    stands; with the rule off, ICP's pose is taken."""
    from resem3d_perception.tracking import ObjectTrack
    update = ObjectTrack.update

    def slid_off(track, cloud, stamp_s=None, T_base_tool=None):  # noqa: N803
        result = update(track, cloud, stamp_s, T_base_tool)
        if result.ok:
            track.T_base_obj = track.T_base_obj.copy()
            track.T_base_obj[1, 3] += 0.008
            result = dataclasses.replace(result, T_base_obj=track.T_base_obj.copy())
        return result

    moved = box_pose(0.5, 0.1)
    for margin_m, within in ((SceneTrackingConfig().icp_slide_depth_margin_m,
                              lambda e: e < 0.004), (1.0, lambda e: e > 0.006)):
        tracker, T0 = grounded(SceneTrackingConfig(icp_slide_depth_margin_m=margin_m))
        monkeypatch.setattr(ObjectTrack, 'update', slid_off)
        tracker.update(box_frame(moved, 0.1))
        monkeypatch.setattr(ObjectTrack, 'update', update)
        error_m = float(np.linalg.norm(tracker.pose('box')[:2, 3] - T0[:2, 3] - (0.0, 0.1)))
        assert within(error_m), (margin_m, error_m)
        assert tracker.redetections == {'box': 1}


def test_a_box_the_tracker_moved_is_searched_for_despite_searches_in_vain_before():
    """Searches around a pose found nothing (a plate half hidden next to the hand, 9 % of it
    seen through); then the plate was moved 9.4 cm and ICP took it part of the way, where about
    as much is seen through as before. What the failed searches found holds for the pose they
    searched around: the box, moved 8 cm and taken 2.5 cm of the way by one ICP pass, is
    searched for and found (with ``icp_follow_step_m`` too large to count the step, the
    memory of the failed searches stands and it is not)."""
    no_passes = SceneTrackingConfig(icp_follow_passes=0)
    for config, within in ((no_passes, lambda e: e < 0.01),
                           (dataclasses.replace(no_passes, icp_follow_step_m=1.0),
                            lambda e: e > 0.04)):
        tracker, T0 = grounded(config)
        # As after fruitless searches: every failed search since the last rise, none due.
        tracker._search_floor['box'] = (0.0, 1.0)
        tracker._fruitless['box'] = config.redetect_moved_retries
        tracker._since_search['box'] = 1
        tracker.update(box_frame(box_pose(0.58), 0.1))
        error_m = float(np.linalg.norm(tracker.pose('box')[:2, 3] - T0[:2, 3] - (0.08, 0.0)))
        assert within(error_m), (config.icp_follow_step_m, error_m)
