"""The closed loop's perception: percentiles, and a held object followed as it turns in the
fingers (a rendered lab scene; the beaker is "held" at its rim by a tool pose placed there)."""

import dataclasses
import math

import numpy as np
import pytest

from resem3d.loop import LoopConfig, Perception, percentile


def test_percentile_rounds_and_is_none_when_empty():
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(iter([0.0001234, 0.0001234]), 99) == 0.0


def _rotation_deg(R_a, R_b):
    cos_angle = (np.trace(R_a.T @ R_b) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, cos_angle))))


def _turn_about(T_base_obj, T_base_tool, axis_tool, angle_rad):
    """``T_base_obj`` turned by ``angle_rad`` about a tool axis through the TCP."""
    from scipy.spatial.transform import Rotation
    R_tool = T_base_tool[:3, :3]
    R = R_tool @ Rotation.from_rotvec(angle_rad * np.asarray(axis_tool, float)).as_matrix() \
        @ R_tool.T
    T = T_base_obj.copy()
    T[:3, :3] = R @ T_base_obj[:3, :3]
    T[:3, 3] = R @ (T_base_obj[:3, 3] - T_base_tool[:3, 3]) + T_base_tool[:3, 3]
    return T


@pytest.fixture(scope='module')
def beaker_scene():
    """(perception with the beaker grounded, the frame, true pose, a tool pose at its rim)."""
    import resem3d_sim  # noqa: F401  (headless GL before mujoco)
    from resem3d_perception import depth_to_cloud
    from resem3d_perception.config import PerceptionConfig
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv

    from resem3d.config import find_config_dir
    env = TaskEnv.build(get_task('lab_pour_beaker'), 0)
    with env.camera() as camera:
        frame = camera.render()
    labels = [i for i, label in enumerate(frame.labels) if label.startswith('beaker/')]
    mask = np.isin(frame.part_mask, labels)
    seen = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam, mask=mask)
    tracker = PerceptionConfig.from_yaml(find_config_dir(None) / 'perception.yaml').tracker
    perception = Perception(tracker, LoopConfig())
    T_true = env.pose('beaker')
    perception.ground('beaker', seen.points_base.astype(float), T_true, frame.stamp_s,
                      frame.T_base_cam[:3, 3])
    # A top-down grasp on the beaker's wall, fingers closing across it (tool y along x_obj).
    T_tool = np.eye(4)
    T_tool[:3, :3] = T_true[:3, :3] @ np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0],
                                                 [0.0, 0.0, -1.0]])
    rim = perception.tracker.tracks['beaker'].model_points_obj[:, 2].max()
    T_tool[:3, 3] = T_true[:3, :3] @ np.array([-0.038, 0.0, rim - 0.01]) + T_true[:3, 3]
    return perception, frame, T_true, T_tool


ANY_TILT = LoopConfig(held_pivot_min_tilt_rad=0.0)   # searched even as it was grasped


@pytest.mark.parametrize('axis', [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)])
def test_a_held_object_turned_in_the_fingers_is_turned_back(beaker_scene, axis):
    perception, frame, T_true, T_tool = beaker_scene
    perception.config = ANY_TILT
    T_believed = _turn_about(T_true, T_tool, axis, math.radians(6.0))
    perception.attach('beaker', T_tool, T_believed)
    before = _rotation_deg(T_believed[:3, :3], T_true[:3, :3])
    T_found = perception._pivot_held('beaker', frame, T_believed, T_tool)
    assert T_found is not None                     # at most 3 x 1.5 deg per frame:
    first = _rotation_deg(T_found[:3, :3], T_true[:3, :3])
    T_again = perception._pivot_held('beaker', frame, T_found, T_tool)   # the next frame
    T_found = T_found if T_again is None else T_again
    after = _rotation_deg(T_found[:3, :3], T_true[:3, :3])
    assert before == pytest.approx(6.0, abs=1e-6) and first < 4.0 and after < 2.0
    # A turn about the TCP: the TCP stays where it was in the object's frame.
    p_obj_before = np.linalg.solve(T_believed, np.append(T_tool[:3, 3], 1.0))
    p_obj_after = np.linalg.solve(T_found, np.append(T_tool[:3, 3], 1.0))
    np.testing.assert_allclose(p_obj_after, p_obj_before, atol=1e-9)


def test_a_held_object_where_the_grasp_puts_it_is_kept(beaker_scene):
    perception, frame, T_true, T_tool = beaker_scene
    perception.config = ANY_TILT
    perception.attach('beaker', T_tool, T_true)
    assert perception._pivot_held('beaker', frame, T_true, T_tool) is None


def test_a_turn_beyond_the_limit_since_the_grasp_is_not_taken(beaker_scene):
    perception, frame, T_true, T_tool = beaker_scene
    T_believed = _turn_about(T_true, T_tool, (1.0, 0.0, 0.0), math.radians(6.0))
    perception.attach('beaker', T_tool, T_believed)
    strict = Perception.__new__(Perception)
    strict.__dict__.update(perception.__dict__)
    strict.config = LoopConfig(held_pivot_min_tilt_rad=0.0,
                               held_pivot_max_rad=math.radians(1.0))
    assert strict._pivot_held('beaker', frame, T_believed, T_tool) is None


def test_an_object_carried_as_it_was_grasped_is_not_searched(beaker_scene):
    perception, frame, T_true, T_tool = beaker_scene
    perception.config = LoopConfig()                 # tilted less than 20 deg since the grasp
    T_believed = _turn_about(T_true, T_tool, (1.0, 0.0, 0.0), math.radians(6.0))
    perception.attach('beaker', T_tool, T_believed)
    assert perception._pivot_held('beaker', frame, T_believed, T_tool) is None
    perception.config = ANY_TILT
    assert perception._pivot_held('beaker', frame, T_believed, T_tool) is not None


def test_without_points_near_the_object_the_grasp_is_kept(beaker_scene):
    perception, frame, T_true, T_tool = beaker_scene
    perception.config = ANY_TILT
    far = np.eye(4)
    far[:3, 3] = [0.0, 0.0, 5.0]                   # nothing of the frame there
    T_far = far @ T_true
    T_tool_far = far @ T_tool
    perception.attach('beaker', T_tool_far, T_far)
    assert perception._pivot_held('beaker', frame, T_far, T_tool_far) is None


def test_depth_cost_counts_fits_free_space_and_hidden_points():
    from types import SimpleNamespace

    from resem3d.loop import _depth_cost
    intrinsics = SimpleNamespace(fx=100.0, fy=100.0, cx=10.0, cy=10.0)
    depth = np.full((21, 21), 1.0)                 # a wall 1 m in front of the camera
    depth[0, 0] = np.nan                           # one invalid pixel
    frame = SimpleNamespace(depth_m=depth, intrinsics=intrinsics, T_base_cam=np.eye(4))
    on_wall = np.array([[0.0, 0.0, 1.0], [0.01, 0.0, 1.002]])
    cost, seen = _depth_cost(on_wall, frame, 0.01)
    assert cost == pytest.approx(0.001) and seen == 1.0
    in_front = np.array([[0.0, 0.0, 0.5]])        # the wall is behind it: it should be seen
    assert _depth_cost(in_front, frame, 0.01) == (pytest.approx(0.01), 0.0)
    behind = np.array([[0.0, 0.0, 1.5]])           # hidden by the wall: a neutral cost
    assert _depth_cost(behind, frame, 0.01) == (pytest.approx(0.005), 0.0)
    off_image = np.array([[5.0, 0.0, 1.0], [-0.1, -0.1, 1.0]])   # outside, and the NaN pixel
    assert _depth_cost(off_image, frame, 0.01) == (None, 0.0)


# --------------------------------------------------------------------- slide joints

def test_slide_joint_projects_onto_its_axis_within_its_range():
    from resem3d.loop import SlideJoint
    T_parent = np.eye(4)
    T_parent[:3, :3] = np.array([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    T_parent[:3, 3] = [0.8, 0.2, 0.0]
    T_zero = np.eye(4)
    T_zero[:3, 3] = [0.14, 0.0, 0.09]
    joint = SlideJoint('cabinet', T_zero, np.array([1.0, 0.0, 0.0]), (0.0, 0.3))
    # 5 cm open (the parent's +x is the base's -x), tilted, 2 cm off to the side and 1 cm up.
    T_seen = joint.pose_at(T_parent, 0.05)
    T_seen[:3, :3] = T_seen[:3, :3] @ _turn_about(np.eye(4), np.eye(4), [0, 0, 1], 0.2)[:3, :3]
    T_seen[:3, 3] += [0.0, 0.02, 0.01]
    T = joint.project(T_seen, T_parent)
    np.testing.assert_allclose(T[:3, 3], [0.8 - 0.14 - 0.05, 0.2, 0.09], atol=1e-9)
    np.testing.assert_allclose(T[:3, :3], T_parent[:3, :3], atol=1e-9)
    # Beyond either end it stops there.
    far = joint.pose_at(T_parent, 0.5)
    assert joint.project(far, T_parent)[0, 3] == pytest.approx(0.8 - 0.14 - 0.3)
    inside = joint.pose_at(T_parent, -0.1)
    assert joint.project(inside, T_parent)[0, 3] == pytest.approx(0.8 - 0.14)
    assert list(joint.openings(0.1)) == pytest.approx([0.0, 0.1, 0.2, 0.3])


@pytest.fixture()
def drawer_scene():
    """(environment, perception tracking the cabinet and its drawer on their slide joint)."""
    import resem3d_sim  # noqa: F401  (headless GL before mujoco)
    from resem3d_perception import depth_to_cloud
    from resem3d_perception.config import PerceptionConfig
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv

    from resem3d.config import find_config_dir
    from resem3d.loop import SlideJoint
    env = TaskEnv.build(get_task('household_close_drawer'), 0)
    with env.camera() as camera:
        frame = camera.render()
    tracker = PerceptionConfig.from_yaml(find_config_dir(None) / 'perception.yaml').tracker
    perception = Perception(tracker, LoopConfig())
    for obj, parts in (('cabinet', ('cabinet/top', 'cabinet/body')),
                       ('drawer', ('drawer/handle', 'drawer/front'))):
        labels = [i for i, label in enumerate(frame.labels) if label in parts]
        seen = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                              mask=np.isin(frame.part_mask, labels))
        perception.ground(obj, seen.points_base.astype(float), env.pose(obj), frame.stamp_s,
                          frame.T_base_cam[:3, 3])
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
    from resem3d_perception import depth_to_cloud
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
    assert perception._near_tool(track, tool, LoopConfig().slide_gate_m)
    return tool


def test_a_drawer_next_to_the_hand_keeps_its_pose_where_the_hand_hides_it(drawer_scene):
    import dataclasses
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
    import dataclasses
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
    ``complete_round_slabs``: the tracker's option. ``config``: the loop's (default
    :class:`LoopConfig`). ``taken_away``: objects moved out of the scene after grounding."""
    import resem3d_sim  # noqa: F401  (headless GL before mujoco)
    from resem3d_perception import depth_to_cloud
    from resem3d_perception.config import PerceptionConfig
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import Disturbance, TaskEnv

    from resem3d.config import find_config_dir
    env = TaskEnv.build(get_task(task), seed)
    with env.camera() as camera:
        frame = camera.render()
    tracker = PerceptionConfig.from_yaml(find_config_dir(None) / 'perception.yaml').tracker
    tracker = dataclasses.replace(tracker, complete_round_slabs=complete_round_slabs)
    perception = Perception(tracker, config or LoopConfig())
    labels = [i for i, label in enumerate(frame.labels) if label.startswith(obj + '/')]
    seen = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                          mask=np.isin(frame.part_mask, labels))
    T_before = env.pose(obj)
    perception.ground(obj, seen.points_base.astype(float), T_before, frame.stamp_s,
                      frame.T_base_cam[:3, 3])
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
    from resem3d_perception import depth_to_cloud
    perception, T_before, frame, T_after = moved_plate
    far = _tool_at([0.3, 0.0, 0.6])
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    # Its partial model still lies mostly on the moved disc: 3-D coverage barely drops...
    old, new = perception._coverages('plate', cloud, [T_before, T_after], far)
    assert old > 0.9 and new - old < LoopConfig().redetect_min_gain
    # ... but the camera sees the table through the rest of it.
    free_old = perception._free_space('plate', frame, T_before)
    assert free_old > LoopConfig().search_above_free_space
    assert perception._free_space('plate', frame, T_after) < 0.5 * free_old
    # Without the depth image the search keeps the old pose; with it, it finds the plate.
    assert perception.redetect('plate', cloud, frame.stamp_s, far, old) is None
    perception.tracker.tracks['plate'].T_base_obj = T_before.copy()
    found = perception.redetect('plate', cloud, frame.stamp_s, far, old, frame=frame)
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
    from resem3d_perception import depth_to_cloud
    far = _tool_at([0.3, 0.0, 0.6])
    for free_before, found in ((LoopConfig().redetect_grid_free_before, True), (1.01, False)):
        env, perception, T_before, frame = _move_object(
            'household_pour_kettle', 1, 'bowl', (-0.0844, 0.0966, 0.0),
            config=LoopConfig(redetect_grid_free_before=free_before))
        labels = [i for i, label in enumerate(frame.labels) if label.startswith('bowl/')]
        bowl = np.isin(frame.part_mask, labels)
        columns = np.flatnonzero(bowl.any(axis=0))
        bowl[:, (columns.min() + columns.max()) // 2:] = False
        depth = frame.depth_m.copy()
        depth[bowl] -= 0.1
        frame = dataclasses.replace(frame, depth_m=depth)
        cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
        covered = perception._coverages('bowl', cloud, [T_before], far)[0]
        assert perception._free_space('bowl', frame, T_before) > 0.8
        result = perception.redetect('bowl', cloud, frame.stamp_s, far, covered, frame=frame)
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
    from resem3d_perception import depth_to_cloud
    perception, T_before, frame, T_after = _move_plate(distance_m, 90.0)
    far = _tool_at([0.3, 0.0, 0.6])
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    covered = perception._coverages('plate', cloud, [T_before], far)[0]
    found = perception.redetect('plate', cloud, frame.stamp_s, far, covered, frame=frame)
    assert found is not None
    assert np.linalg.norm(found.T_base_obj[:2, 3] - T_after[:2, 3]) < 0.01
