"""Tests of resem3d_perception.tracking: ICP tracking on simulator renders (depth noise on).

Objects are grounded from their ground-truth part masks (the segmenter's stand-in) with an
*estimated* object frame (no pose known), so the tracking error is measured on the motion:
the expected pose at time t is ``T_true(t) T_true(0)^-1 T_est(0)``. The flask is a body of
revolution, whose rotation about its axis is unobservable: for it the error is that of two
points on its axis (base and mouth centre) and of the axis direction.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from resem3d_perception.cloud import Intrinsics, depth_to_cloud
from resem3d_perception.errors import PerceptionInputError
from resem3d_perception.parts import part_from_mask
from resem3d_perception.tracking import (MultiTracker, ObjectTrack, TrackerConfig,
                                         TrackingError, TrackResult, TrackStatus, pose_error)

TRANSLATION_TOL_M = 0.005
ROTATION_TOL_RAD = math.radians(3.0)
FRAME_RATE_HZ = 15.0
FRAMES = 30                                 # 2 s at 15 Hz

K = Intrinsics(width=64, height=48, fx=60.0, fy=60.0, cx=31.5, cy=23.5)


def _pose(yaw_rad: float, p: tuple[float, float, float]) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler('z', yaw_rad).as_matrix()
    T[:3, 3] = p
    return T


def _model(seed: int = 0) -> np.ndarray:
    """Points of a 10 x 6 x 4 cm box surface (object frame)."""
    rng = np.random.default_rng(seed)
    P = rng.uniform(-1.0, 1.0, (3000, 3))
    axis = rng.integers(0, 3, 3000)
    P[np.arange(3000), axis] = np.sign(P[np.arange(3000), axis])
    return P * (0.05, 0.03, 0.02) + (0.0, 0.0, 0.02)


# --- logic without rendering ---------------------------------------------------------------------

def test_config_validation() -> None:
    config = TrackerConfig.from_mapping({'voxel_size_m': 0.003, 'refine_held': True})
    assert config.voxel_size_m == 0.003 and config.refine_held
    with pytest.raises(PerceptionInputError, match='unknown'):
        TrackerConfig.from_mapping({'voxel': 0.003})
    with pytest.raises(PerceptionInputError, match='positive'):
        TrackerConfig(max_correspondence_m=-0.01)
    with pytest.raises(PerceptionInputError, match='bool'):
        TrackerConfig(predict=1)
    with pytest.raises(PerceptionInputError, match='finite'):
        TrackerConfig(kernel_scale_m=float('nan'))
    with pytest.raises(PerceptionInputError, match='<= 1'):
        TrackerConfig(min_confidence=1.5)
    with pytest.raises(PerceptionInputError, match='integer'):
        TrackerConfig(max_iterations=2.5)
    with pytest.raises(PerceptionInputError, match='mapping'):
        TrackerConfig.from_mapping([('voxel_size_m', 0.01)])


def test_empty_frame_marks_the_track_lost_with_a_reason() -> None:
    T0 = _pose(0.3, (0.5, 0.1, 0.0))
    track = ObjectTrack('box', _model(), T0)
    assert track.status == TrackStatus.TRACKING and not track.held
    empty = depth_to_cloud(np.zeros(K.shape, np.float32), K, np.eye(4))
    result = track.update(empty, stamp_s=0.1)
    assert isinstance(result, TrackResult) and not result.ok
    assert result.status == TrackStatus.LOST and result.confidence == 0.0
    assert 'empty frame cloud' in result.reason and 'no valid depth' in result.reason
    np.testing.assert_allclose(result.T_base_obj, T0)          # last good pose, reported lost


def test_attach_follows_the_tool_and_detach() -> None:
    T0 = _pose(0.3, (0.5, 0.1, 0.0))
    track = ObjectTrack('box', _model(), T0)
    T_tool = _pose(1.0, (0.5, 0.1, 0.15))
    track.attach(T_tool)
    assert track.held and track.status == TrackStatus.HELD
    T_tool_2 = _pose(1.4, (0.3, 0.3, 0.35))
    empty = depth_to_cloud(np.zeros(K.shape, np.float32), K, np.eye(4))
    result = track.update(empty, stamp_s=0.1, T_base_tool=T_tool_2)
    assert result.status == TrackStatus.HELD and result.confidence == 1.0 and result.ok
    np.testing.assert_allclose(result.T_base_obj, T_tool_2 @ np.linalg.inv(T_tool) @ T0,
                               atol=1e-12)
    with pytest.raises(PerceptionInputError, match='held'):
        track.update(empty)
    T_tool_obj = _pose(0.0, (0.0, 0.0, 0.05))
    track.attach(T_tool_2, T_tool_obj)
    np.testing.assert_allclose(track.T_base_obj, T_tool_2 @ T_tool_obj, atol=1e-12)
    track.detach()
    assert not track.held and track.status == TrackStatus.TRACKING
    np.testing.assert_allclose(track.T_base_obj, T_tool_2 @ T_tool_obj, atol=1e-12)


def test_model_and_tracker_errors() -> None:
    with pytest.raises(TrackingError, match='model has'):
        ObjectTrack('tiny', np.zeros((5, 3)), np.eye(4))
    with pytest.raises(PerceptionInputError, match='rigid'):
        ObjectTrack('box', _model(), np.diag([1.0, 1.0, 2.0, 1.0]))
    with pytest.raises(PerceptionInputError, match=r'\(N, 3\)'):
        ObjectTrack('box', np.zeros((10, 2)), np.eye(4))
    tracker = MultiTracker()
    tracker.add('box', _model(), np.eye(4))
    with pytest.raises(TrackingError, match='already'):
        tracker.add('box', _model(), np.eye(4))
    with pytest.raises(TrackingError, match='not tracked'):
        tracker.remove('cup')
    with pytest.raises(TrackingError, match='no parts'):
        tracker.add_parts('cup', [])
    tracker.remove('box')
    assert tracker.poses() == {}


def test_a_round_slab_seen_in_part_gets_a_whole_disc_model() -> None:
    # A plate (9 cm radius, 12 mm high) whose half towards -y the camera did not see.
    rng = np.random.default_rng(4)
    u = rng.uniform(-0.09, 0.09, (8000, 2))
    u = u[(np.hypot(u[:, 0], u[:, 1]) <= 0.09) & (u[:, 1] > 0.0)]
    seen = np.column_stack([u + [0.4, -0.15], np.full(len(u), 0.012)])
    seen += rng.normal(0.0, 0.001, seen.shape)
    T_base_obj = np.eye(4)
    T_base_obj[:3, 3] = [0.4, -0.15, 0.0]

    def lowest_y_m(config: TrackerConfig) -> float:
        track = ObjectTrack.from_points_base('plate', seen, T_base_obj, config)
        return float(track.model_points_obj[:, 1].min())

    assert lowest_y_m(TrackerConfig()) < -0.07          # a coarser voxel for the whole disc
    assert lowest_y_m(TrackerConfig(complete_round_slabs=False)) > -0.005


def test_large_models_are_capped() -> None:
    rng = np.random.default_rng(3)
    plane = np.column_stack([rng.uniform(-0.3, 0.3, 40000), rng.uniform(-0.3, 0.3, 40000),
                             np.zeros(40000)])
    track = ObjectTrack('table', plane, np.eye(4), TrackerConfig(max_model_points=500))
    assert len(track.model_points_obj) <= 500
    assert track.voxel_size_m > 0.004 and track.crop_voxel_size_m > track.voxel_size_m


# --- on simulator renders ------------------------------------------------------------------------

@pytest.fixture(scope='module')
def sim():
    """The simulator's task API."""
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv
    return lambda task: TaskEnv.build(get_task(task), 0)


@pytest.fixture(scope='module')
def household(sim):
    env = sim('household_mug_to_plate')
    camera = env.camera()
    yield env, camera
    camera.close()


@pytest.fixture(scope='module')
def lab(sim):
    env = sim('lab_flask_to_stirrer')
    camera = env.camera()
    yield env, camera
    camera.close()


def _ground(tracker: MultiTracker, frame, names) -> None:
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    for name in names:
        parts = [part_from_mask(label, frame.mask_of(label), cloud) for label in frame.labels
                 if label.startswith(f'{name}/') and frame.mask_of(label).sum() >= 50]
        tracker.add_parts(name, parts, stamp_s=frame.stamp_s)


def _frame_cloud(camera):
    frame = camera.render()
    return frame, depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)


def _move(env, name: str, T: np.ndarray) -> None:
    """Teleport an object and let physics run one frame period (15 Hz)."""
    env.world.set_body_pose(env.object_info(name).body_name, T)
    for _ in range(round(1.0 / (FRAME_RATE_HZ * env.world.timestep_s))):
        env.world.step(np.zeros(7))


def _path(T0: np.ndarray, i: int, direction, yaw_deg: float) -> np.ndarray:
    """Pose at frame i of a 20 cm move over FRAMES frames with a yaw turn."""
    s = i / FRAMES
    T = T0.copy()
    T[:3, 3] += 0.20 * s * np.asarray(direction, dtype=float)
    T[:3, :3] = Rotation.from_euler('z', yaw_deg * s, degrees=True).as_matrix() @ T0[:3, :3]
    return T


def test_mug_tracked_within_5mm_3deg_while_moved_20cm_in_2s(household) -> None:
    env, camera = household
    env.world.reset()
    tracker = MultiTracker()
    frame, _ = _frame_cloud(camera)
    _ground(tracker, frame, ['mug'])
    T_true0, T_est0 = env.pose('mug'), tracker.tracks['mug'].T_base_obj.copy()
    worst = (0.0, 0.0)
    prediction_m, hold_m = [], []
    for i in range(1, FRAMES + 1):
        _move(env, 'mug', _path(T_true0, i, (1.0, 0.0, 0.0), yaw_deg=15.0))
        frame, cloud = _frame_cloud(camera)
        expected = env.pose('mug') @ np.linalg.inv(T_true0) @ T_est0
        track = tracker.tracks['mug']
        prediction_m.append(pose_error(track.predict(frame.stamp_s), expected)[0])
        hold_m.append(pose_error(track.T_base_obj, expected)[0])
        result = tracker.update(cloud, frame.stamp_s)['mug']
        assert result.status == TrackStatus.TRACKING, result.reason
        assert result.confidence >= tracker.config.min_confidence
        error = pose_error(result.T_base_obj, expected)
        worst = (max(worst[0], error[0]), max(worst[1], error[1]))
    moved = np.linalg.norm(env.pose('mug')[:3, 3] - T_true0[:3, 3])
    assert moved == pytest.approx(0.20, abs=0.01)
    assert worst[0] <= TRANSLATION_TOL_M and worst[1] <= ROTATION_TOL_RAD, worst
    # constant-velocity prediction: a better ICP start than the last pose (6.7 mm/frame)
    assert np.median(prediction_m[2:]) < 0.5 * np.median(hold_m[2:])


def test_flask_axis_tracked_while_moved_20cm_in_2s(lab) -> None:
    env, camera = lab
    env.world.reset()
    tracker = MultiTracker()
    frame, _ = _frame_cloud(camera)
    _ground(tracker, frame, ['flask'])
    T_true0, T_est0 = env.pose('flask'), tracker.tracks['flask'].T_base_obj.copy()
    info = env.object_info('flask')
    top_m = max(float(info.shapes[g].corners_obj()[:, 2].max()) for g in info.geom_names)
    axis_obj = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, top_m, 1.0]]).T   # base, mouth
    T_est0_true0 = np.linalg.inv(T_est0) @ T_true0
    worst_m, worst_tilt = 0.0, 0.0
    for i in range(1, FRAMES + 1):
        _move(env, 'flask', _path(T_true0, i, (0.0, 1.0, 0.0), yaw_deg=0.0))
        frame, cloud = _frame_cloud(camera)
        result = tracker.update(cloud, frame.stamp_s)['flask']
        assert result.status == TrackStatus.TRACKING, result.reason
        truth = (env.pose('flask') @ axis_obj)[:3].T
        estimate = (result.T_base_obj @ T_est0_true0 @ axis_obj)[:3].T
        worst_m = max(worst_m, float(np.linalg.norm(truth - estimate, axis=1).max()))
        a, b = truth[1] - truth[0], estimate[1] - estimate[0]
        tilt = math.acos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0))
        worst_tilt = max(worst_tilt, tilt)
    assert worst_m <= TRANSLATION_TOL_M and worst_tilt <= ROTATION_TOL_RAD, (worst_m, worst_tilt)


def _occlude(frame, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Depth with a flat 'finger' 5 mm in front of the object over the right 45 % and middle
    50 % of its mask's box; the tool pose at the finger (z along the view, y along image x);
    and the occluded fraction of the object's pixels."""
    rows, cols = np.nonzero(mask)
    r0, r1 = np.percentile(rows, [25, 75]).astype(int)
    c0, c1 = int(cols.min() + 0.55 * (cols.max() - cols.min())), int(cols.max()) + 1
    depth = frame.depth_m.copy()
    patch = depth[r0:r1, c0:c1]
    z = float(patch[mask[r0:r1, c0:c1] & (patch > 0)].min()) - 0.005
    depth[r0:r1, c0:c1] = z
    k = frame.intrinsics
    p_cam = np.array([((c0 + c1) / 2 - k.cx) / k.fx * z, ((r0 + r1) / 2 - k.cy) / k.fy * z, z])
    R_cam = frame.T_base_cam[:3, :3]
    T_tool = np.eye(4)
    T_tool[:3, :3] = R_cam @ np.column_stack([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0, 0, 1.0]])
    T_tool[:3, 3] = R_cam @ p_cam + frame.T_base_cam[:3, 3]
    occluded = np.count_nonzero(mask[r0:r1, c0:c1]) / np.count_nonzero(mask)
    return depth, T_tool, occluded


def test_partial_occlusion_by_the_gripper(household) -> None:
    env, camera = household
    env.world.reset()
    tracker = MultiTracker()
    frame, _ = _frame_cloud(camera)
    _ground(tracker, frame, ['mug'])
    T_true0, T_est0 = env.pose('mug'), tracker.tracks['mug'].T_base_obj.copy()
    _move(env, 'mug', _path(T_true0, 2, (1.0, 0.0, 0.0), yaw_deg=5.0))
    frame, cloud = _frame_cloud(camera)
    clear = tracker.update(cloud, frame.stamp_s)['mug']
    mask = frame.mask_of('mug/body') | frame.mask_of('mug/handle')
    results = {}
    for with_tool in (True, False):
        track = tracker.tracks['mug']
        track.T_base_obj, track.status = clear.T_base_obj.copy(), TrackStatus.TRACKING
        depth, T_tool, occluded = _occlude(frame, mask)
        assert 0.15 < occluded < 0.6
        occluded_cloud = depth_to_cloud(depth, frame.intrinsics, frame.T_base_cam)
        results[with_tool] = tracker.update(occluded_cloud, frame.stamp_s,
                                            T_base_tool=T_tool if with_tool else None)['mug']
    expected = env.pose('mug') @ np.linalg.inv(T_true0) @ T_est0
    for with_tool, result in results.items():
        assert result.status == TrackStatus.TRACKING, result.reason
        assert result.confidence < clear.confidence            # less of the model is seen
        t_err, r_err = pose_error(result.T_base_obj, expected)
        assert t_err <= TRANSLATION_TOL_M and r_err <= ROTATION_TOL_RAD, (with_tool, t_err)
    assert results[True].crop_points < results[False].crop_points   # finger points dropped


def test_lost_when_the_object_leaves_and_recovered_when_back(household) -> None:
    env, camera = household
    env.world.reset()
    tracker = MultiTracker()
    frame, _ = _frame_cloud(camera)
    _ground(tracker, frame, ['mug', 'box'])
    T_mug = env.pose('mug')
    gone = T_mug.copy()
    gone[:3, 3] = (0.45, 0.0, -1.0)                        # under the table: out of sight
    env.world.set_body_pose(env.object_info('mug').body_name, gone)
    frame, cloud = _frame_cloud(camera)
    results = tracker.update(cloud, frame.stamp_s)
    lost = results['mug']
    assert lost.status == TrackStatus.LOST and not lost.ok
    assert lost.confidence < tracker.config.min_confidence and lost.reason
    np.testing.assert_allclose(lost.T_base_obj, tracker.tracks['mug'].T_base_obj)
    assert results['box'].status == TrackStatus.TRACKING      # the others are unaffected
    assert tracker.tracks['mug'].status == TrackStatus.LOST
    env.world.set_body_pose(env.object_info('mug').body_name, T_mug)
    frame, cloud = _frame_cloud(camera)
    back = tracker.update(cloud, frame.stamp_s)['mug']
    assert back.status == TrackStatus.TRACKING and back.confidence > 0.8
    # something else where the mug was (a flat board in front of it): points, no fit
    mask = frame.mask_of('mug/body') | frame.mask_of('mug/handle')
    rows, cols = np.nonzero(mask)
    depth = frame.depth_m.copy()
    depth[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = np.median(depth[mask])
    board = tracker.update(depth_to_cloud(depth, frame.intrinsics, frame.T_base_cam),
                           frame.stamp_s)['mug']
    assert board.status == TrackStatus.LOST and board.crop_points >= 30
    assert 0.0 < board.confidence < tracker.config.min_confidence
    assert 'confidence' in board.reason


def test_three_objects_from_one_frame_cloud(lab) -> None:
    env, camera = lab
    env.world.reset()
    tracker = MultiTracker()
    frame, _ = _frame_cloud(camera)
    names = ['flask', 'beaker', 'bottle']
    _ground(tracker, frame, names)
    start = tracker.poses()
    for _ in range(2):
        frame, cloud = _frame_cloud(camera)
        results = tracker.update(cloud, frame.stamp_s)
    assert set(results) == set(names)
    for name, result in results.items():
        assert result.status == TrackStatus.TRACKING and result.elapsed_ms > 0.0
        assert 0.0 <= result.fitness <= 1.0 and result.inlier_rmse_m < 0.01
        assert pose_error(result.T_base_obj, start[name])[0] < 0.003    # static objects
    only = tracker.update(cloud, frame.stamp_s, names=['beaker'])
    assert set(only) == {'beaker'}
    built, again = tracker.update_from_depth(frame.depth_m, frame.intrinsics,
                                             frame.T_base_cam, frame.stamp_s)
    assert len(built) == len(cloud) and set(again) == set(names)
    assert all(r.status == TrackStatus.TRACKING for r in again.values())


def test_held_object_follows_the_tool_and_icp_refines_a_slipped_grasp(household) -> None:
    env, camera = household
    env.world.reset()
    tracker = MultiTracker(TrackerConfig(refine_held=True))
    frame, _ = _frame_cloud(camera)
    _ground(tracker, frame, ['mug'])
    T_true0, T_est0 = env.pose('mug'), tracker.tracks['mug'].T_base_obj.copy()
    T_tool0 = np.eye(4)                                  # fingers down, above the mug
    T_tool0[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T_tool0[:3, 3] = T_true0[:3, 3] + (0.0, 0.0, 0.16)
    slip = np.eye(4)
    slip[:3, 3] = (0.006, -0.004, 0.0)                   # the grasp is off by 7 mm
    tracker.attach('mug', T_tool0, np.linalg.inv(T_tool0) @ T_est0 @ slip)
    for i in range(1, 4):
        lift = np.eye(4)
        lift[:3, 3] = (0.0, 0.02 * i, 0.01 * i)
        env.world.set_body_pose(env.object_info('mug').body_name, lift @ T_true0)
        frame, cloud = _frame_cloud(camera)
        result = tracker.update(cloud, frame.stamp_s, T_base_tool=lift @ T_tool0)['mug']
        assert result.status == TrackStatus.HELD and 'refined' in result.reason
    expected = env.pose('mug') @ np.linalg.inv(T_true0) @ T_est0
    assert pose_error(result.T_base_obj, expected)[0] < 0.003
    tracker.detach('mug')
    frame, cloud = _frame_cloud(camera)
    assert tracker.update(cloud, frame.stamp_s)['mug'].status == TrackStatus.TRACKING
