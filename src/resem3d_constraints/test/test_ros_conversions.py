"""Tests of core <-> resem3d_msgs conversions, on rosbags message instances.

rosbags builds the same fields with the same types as rclpy's generated classes, and every
message here goes through CDR (the bytes rclpy sends) before it is converted back.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from resem3d_constraints import (AxisAnchor, Condition, Constraint, ConstraintError,
                                 parse_program, PointAnchor, Region)
from resem3d_constraints.exceptions import MessageConversionError
from resem3d_constraints.ros_conversions import (anchor_from_msg, anchor_to_msg,
                                                 condition_from_msg, condition_to_msg,
                                                 constraint_from_msg, constraint_to_msg,
                                                 feedback_to_msg, pose_from_msg, pose_to_msg,
                                                 program_from_msg, program_to_msg,
                                                 region_array_from_msg, region_array_to_msg,
                                                 region_from_msg, REGION_KINDS, region_to_msg,
                                                 residuals_from_msg, residuals_to_msg,
                                                 stage_from_msg, stage_to_msg,
                                                 task_status_from_msg, task_status_to_msg,
                                                 time_from_msg, time_to_msg)
from resem3d_constraints.ros_types import make_resem3d_typestore, RosbagsMessageTypes
from resem3d_constraints.spec import (ANCHOR_TIMES, CONDITION_KINDS, CONSTRAINT_KINDS,
                                      FRAME_AXIS_FEATURES, GRIPPER_ACTIONS, REGION_AXIS_FEATURES,
                                      REGION_POINT_FEATURES)
from resem3d_constraints.status import ConstraintResiduals, TaskState, TaskStatus

SRC = Path(__file__).resolve().parents[2]
PROGRAM_FILES = sorted((SRC / 'resem3d_constraints' / 'resem3d_constraints' / 'examples')
                       .glob('*.json')) + sorted((SRC / 'resem3d_sim' / 'resem3d_sim'
                                                  / 'programs').glob('*.json'))

TOOL = {'of': 'tool', 'point': 'tcp'}

#: A program with every constraint kind, condition kind, anchor kind, anchor time, offset
#: frame and gripper action, and both absent and present optional fields.
EVERYTHING = {
    'version': 1,
    'name': 'everything',
    'regions': ['mug/handle', 'mug/body', 'plate/top', 'table/top'],
    'stages': [
        {'name': 'open', 'gripper': {'action': 'open'},
         'post': [{'kind': 'gripper_open', 'min_width_m': 0.07}], 'timeout_s': 5.0},
        {'name': 'approach', 'timeout_s': 20.0, 'hold_s': 0.5,
         'subgoal': [
             {'kind': 'distance', 'a': {'of': 'tool', 'point': 'tcp',
                                        'offset_m': [0.0, 0.0, 0.01]},
              'b': {'of': 'mug/handle', 'point': 'centroid', 'at': 'init'},
              'min_m': 0.01, 'max_m': 0.05, 'weight': 5.0, 'tolerance': 0.002, 'hard': True,
              'gain': 2.5},
             {'kind': 'distance', 'a': TOOL, 'b': {'of': 'world', 'offset_m': [0.3, 0.0, 0.2]}},
             {'kind': 'offset', 'a': TOOL, 'b': {'of': 'mug/handle', 'point': 'center'},
              'offset_m': [-0.1, 0.0, 0.0], 'frame': 'object'},
             {'kind': 'offset', 'a': {'of': 'mug/body', 'point': 'bottom'},
              'b': {'of': 'plate/top', 'point': 'top'}, 'offset_m': [0.0, 0.0, 0.01]},
             {'kind': 'align', 'a': {'of': 'tool', 'axis': 'z'},
              'b': {'of': 'mug/handle', 'axis': '-normal', 'at': 'init'}},
             {'kind': 'angle', 'a': {'of': 'tool', 'axis': '-x'},
              'b': {'of': 'world', 'axis': '-z'}, 'angle_rad': 1.0, 'tolerance': 0.2},
         ],
         'path': [
             {'kind': 'above', 'point': TOOL, 'region': 'plate/top', 'min_height_m': 0.02,
              'max_height_m': 0.1, 'radius_m': 0.03},
             {'kind': 'above', 'point': TOOL, 'region': 'plate/top'},
             {'kind': 'inside', 'point': {'of': 'mug/body', 'point': 'bottom',
                                          'offset_m': [0.0, 0.01, 0.0]},
              'region': 'plate/top', 'margin_m': 0.01},
             {'kind': 'keep_away', 'point': TOOL, 'region': 'table/top', 'margin_m': 0.02,
              'hard': True},
         ],
         'pre': [{'kind': 'keep_away', 'point': TOOL, 'region': 'table/top',
                  'margin_m': 0.01}],
         'post': [
             {'kind': 'distance', 'a': TOOL, 'b': {'of': 'mug/handle', 'point': 'centroid'},
              'max_m': 0.01},
             {'kind': 'offset', 'a': TOOL, 'b': {'of': 'mug/handle', 'point': 'center'},
              'offset_m': [-0.1, 0.0, 0.0], 'frame': 'object', 'tolerance': 0.01},
             {'kind': 'align', 'a': {'of': 'tool', 'axis': 'y'},
              'b': {'of': 'mug/handle', 'axis': 'major'}},
             {'kind': 'angle', 'a': {'of': 'tool', 'axis': 'x'},
              'b': {'of': 'mug/body', 'axis': '-minor'}, 'angle_rad': 0.5},
             {'kind': 'above', 'point': TOOL, 'region': 'plate/top', 'radius_m': 0.05},
             {'kind': 'inside', 'point': TOOL, 'region': 'mug/body'},
             {'kind': 'gripper_open', 'min_width_m': 0.05},
         ]},
        {'name': 'grasp', 'gripper': {'action': 'grasp', 'width_m': 0.03, 'force_n': 30.0},
         'post': [{'kind': 'grasped', 'object': 'mug', 'min_width_m': 0.01}],
         'timeout_s': 5.0},
        {'name': 'carry', 'subgoal': [
            {'kind': 'above', 'point': {'of': 'mug/body', 'point': 'bottom'},
             'region': 'plate/top', 'min_height_m': 0.05}],
         'pre': [{'kind': 'grasped', 'object': 'mug'}],
         'post': [{'kind': 'above', 'point': {'of': 'mug/body', 'point': 'bottom'},
                   'region': 'plate/top', 'min_height_m': 0.04}],
         'timeout_s': 30.0},
        {'name': 'release', 'gripper': {'action': 'move', 'width_m': 0.06,
                                        'speed_mps': 0.02}, 'timeout_s': 5.0},
        {'name': 'close', 'gripper': {'action': 'close'}, 'timeout_s': 5.0},
    ],
}


@pytest.fixture(scope='module')
def typestore():
    return make_resem3d_typestore()


@pytest.fixture(scope='module')
def types(typestore):
    return RosbagsMessageTypes(typestore)


@pytest.fixture
def cdr(typestore):
    """Serialise a message to CDR and back."""
    def round_trip(msg):
        name = type(msg).__msgtype__
        return typestore.deserialize_cdr(bytes(typestore.serialize_cdr(msg, name)), name)
    return round_trip


def rotation(seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=4)
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def transform(seed: int) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rotation(seed)
    T[:3, 3] = np.random.default_rng(seed + 100).normal(size=3)
    return T


def assert_regions_equal(a: Region, b: Region) -> None:
    assert (a.name, a.frame) == (b.name, b.frame)
    for field in ('points_obj', 'centroid_obj', 'axes_obj', 'normal_obj', 'extent_m',
                  'center_obj', 'corners_obj'):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.half_width_xy_m == b.half_width_xy_m


def raises(match: str):
    return pytest.raises(MessageConversionError, match=match)


# --------------------------------------------------------------------------- programs
@pytest.mark.parametrize('path', PROGRAM_FILES, ids=lambda p: p.stem)
def test_example_programs_round_trip(types, cdr, path):
    program = parse_program(path.read_bytes())
    msg = cdr(program_to_msg(types, program, frame_id='fr3_link0', stamp_ns=1_700_000_000_5,
                             task_id='task-1', subtask_index=2))
    assert program_from_msg(msg) == program
    assert (msg.header.frame_id, msg.task_id, msg.subtask_index) == ('fr3_link0', 'task-1', 2)
    assert time_from_msg(msg.header.stamp) == 1_700_000_000_5
    assert [s.name for s in msg.stages] == [s.name for s in program.stages]


def test_the_example_programs_are_there():
    assert len(PROGRAM_FILES) >= 15


def test_every_kind_round_trips(types, cdr):
    program = parse_program(EVERYTHING)
    constraints = program.constraints()
    conditions = program.conditions()
    anchors = [getattr(c, n) for c in constraints + tuple(k.constraint for k in conditions
                                                         if k.constraint is not None)
               for n in ('a', 'b', 'point') if getattr(c, n) is not None]
    assert {c.kind for c in constraints} == set(CONSTRAINT_KINDS)
    assert {c.kind for c in conditions} == set(CONDITION_KINDS)
    assert {(type(a).__name__, 'region' if a.is_region else a.of, a.at) for a in anchors} >= {
        (cls, owner, 'live') for cls in ('PointAnchor', 'AxisAnchor')
        for owner in ('tool', 'world', 'region')} | {('PointAnchor', 'region', 'init'),
                                                     ('AxisAnchor', 'region', 'init')}
    assert {s.gripper.action for s in program.stages if s.gripper} == set(GRIPPER_ACTIONS)
    assert {c.frame for c in constraints if c.kind == 'offset'} == {'world', 'object'}
    assert any(c.max_m is None for c in constraints if c.kind == 'distance')
    assert any(c.radius_m is None and c.max_height_m is None for c in constraints
               if c.kind == 'above')
    msg = cdr(program_to_msg(types, program))
    assert program_from_msg(msg) == program


def test_kind_constants_follow_the_kind_names(types):
    constraint = types.get('resem3d_msgs/msg/Constraint')
    condition = types.get('resem3d_msgs/msg/Condition')
    for kind in CONSTRAINT_KINDS:
        assert getattr(constraint, 'KIND_' + kind.upper()) == \
            getattr(condition, 'KIND_' + kind.upper())
    numbers = [getattr(condition, 'KIND_' + k.upper()) for k in CONDITION_KINDS]
    assert len(set(numbers)) == len(numbers) and 0 not in numbers
    msg = constraint_to_msg(types, Constraint(kind='keep_away', point=PointAnchor('tool'),
                                              region='a/b', margin_m=0.1))
    assert msg.kind == constraint.KIND_KEEP_AWAY == 7


@pytest.mark.parametrize('feature', REGION_POINT_FEATURES)
@pytest.mark.parametrize('at', ANCHOR_TIMES)
def test_region_point_anchors(types, cdr, feature, at):
    anchor = PointAnchor('cup/rim', feature, (0.01, -0.02, 0.5), at)
    assert anchor_from_msg(cdr(anchor_to_msg(types, anchor))) == anchor


@pytest.mark.parametrize('feature', REGION_AXIS_FEATURES)
def test_region_axis_anchors(types, cdr, feature):
    anchor = AxisAnchor('cup/rim', feature, 'init')
    assert anchor_from_msg(cdr(anchor_to_msg(types, anchor))) == anchor


@pytest.mark.parametrize('owner', ['tool', 'world'])
@pytest.mark.parametrize('feature', FRAME_AXIS_FEATURES)
def test_frame_axis_anchors(types, cdr, owner, feature):
    anchor = AxisAnchor(owner, feature)
    assert anchor_from_msg(cdr(anchor_to_msg(types, anchor))) == anchor


def test_anchor_defaults_and_none(types, cdr):
    msg = anchor_to_msg(types, PointAnchor('world', offset_m=(0.1, 0.2, 0.3)))
    assert (msg.owner, msg.feature, msg.kind) == ('world', 'origin', msg.KIND_POINT)
    msg.feature = ''                        # empty: the owner's default
    assert anchor_from_msg(msg) == PointAnchor('world', offset_m=(0.1, 0.2, 0.3))
    none = cdr(anchor_to_msg(types, None))
    assert none.kind == none.KIND_NONE and anchor_from_msg(none) is None


def test_stage_and_conditions_round_trip(types, cdr):
    program = parse_program(EVERYTHING)
    for stage in program.stages:
        assert stage_from_msg(cdr(stage_to_msg(types, stage))) == stage
    for condition in program.conditions():
        assert condition_from_msg(cdr(condition_to_msg(types, condition))) == condition
    for constraint in program.constraints():
        assert constraint_from_msg(cdr(constraint_to_msg(types, constraint))) == constraint


def test_optional_fields_use_flags(types):
    msg = constraint_to_msg(types, Constraint(kind='distance', a=PointAnchor('tool'),
                                              b=PointAnchor('world'), min_m=0.1))
    assert (msg.has_max_m, msg.max_m, msg.has_gain) == (False, 0.0, False)
    msg = constraint_to_msg(types, Constraint(kind='distance', a=PointAnchor('tool'),
                                              b=PointAnchor('world'), max_m=0.0, gain=3.0))
    assert (msg.has_max_m, msg.max_m, msg.has_gain, msg.gain) == (True, 0.0, True, 3.0)
    assert constraint_from_msg(msg).max_m == 0.0


# --------------------------------------------------------------------------- regions
@pytest.mark.parametrize('seed', range(12))
def test_region_round_trip_is_exact(types, cdr, seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(1 + seed * 7, 3)) * rng.uniform(0.005, 0.2, size=3)
    normal = rng.normal(size=3) if seed % 2 else None
    region = Region.from_points('kettle/spout', points, frame='kettle_frame', normal_obj=normal)
    T = transform(seed)
    kind = REGION_KINDS[seed % len(REGION_KINDS)]
    msg = cdr(region_to_msg(types, region, T, frame_id='fr3_link0', stamp_ns=seed * 10**9 + 7,
                            kind=kind))
    placed = region_from_msg(msg)
    assert_regions_equal(placed.region, region)
    np.testing.assert_allclose(placed.T_frame_obj, T, rtol=0.0, atol=1e-14)
    assert (placed.frame_id, placed.stamp_ns, placed.kind) == ('fr3_link0',
                                                              seed * 10**9 + 7, kind)
    assert len(msg.points_obj) == 3 * len(points)


def test_region_array_round_trip(types, cdr):
    rng = np.random.default_rng(3)
    regions = [Region.from_points(name, rng.normal(size=(20, 3)) * 0.05)
               for name in ('mug/handle', 'mug/body', 'plate/top')]
    poses = {'mug': transform(1), 'plate': transform(2), 'unused': transform(3)}
    kinds = {'mug/handle': 'part', 'mug/body': 'cells', 'plate/top': 'top'}
    msg = cdr(region_array_to_msg(types, {r.name: r for r in regions}, poses,
                                  frame_id='panda_link0', stamp_ns=42, kinds=kinds))
    out = region_array_from_msg(msg)
    assert (out.frame_id, out.stamp_ns, out.kinds) == ('panda_link0', 42, kinds)
    assert list(out.regions) == ['mug/handle', 'mug/body', 'plate/top']
    for region in regions:
        assert_regions_equal(out.regions[region.name], region)
    assert set(out.T_frame_obj) == {'mug', 'plate'}
    for frame, T in out.T_frame_obj.items():
        np.testing.assert_allclose(T, poses[frame], rtol=0.0, atol=1e-14)
    empty = region_array_from_msg(cdr(region_array_to_msg(types, [], {}, frame_id='b')))
    assert empty.regions == {} and empty.T_frame_obj == {}


def test_region_array_errors(types):
    region = Region.from_points('mug/body', np.eye(3))
    with raises(r'regions\[0\].pose: no pose for the object frame "mug"'):
        region_array_to_msg(types, [region], {}, frame_id='b')
    msg = region_array_to_msg(types, [region, Region.from_points('mug/handle', np.eye(3))],
                              {'mug': np.eye(4)}, frame_id='b')
    msg.regions[1].pose.position.x = 0.5
    with raises(r'regions\[1\].pose: object frame "mug" has another pose'):
        region_array_from_msg(msg)
    msg.regions[1].pose.position.x = 0.0
    msg.regions[1].name = 'mug/body'
    with raises(r'regions\[1\].name: duplicated region'):
        region_array_from_msg(msg)
    msg.regions[1].name = 'mug/handle'
    msg.regions[1].header.frame_id = 'camera'
    with raises(r'regions\[1\].header.frame_id: expected the array\'s frame "b"'):
        region_array_from_msg(msg)


def test_pose_round_trip_and_errors(types, cdr):
    for seed in range(20):
        T = transform(seed)
        np.testing.assert_allclose(pose_from_msg(cdr(pose_to_msg(types, T))), T, atol=1e-14,
                                   rtol=0.0)
    with raises('not a rigid transform'):
        pose_to_msg(types, np.diag([1.0, 1.0, -1.0, 1.0]))
    with raises('finite'):
        pose_to_msg(types, np.full((4, 4), np.nan))
    msg = pose_to_msg(types, np.eye(4))
    msg.orientation.w = 0.0                 # a zero quaternion (the rosbags/rclpy zero)
    with raises(r'pose.orientation: expected a unit quaternion, got norm 0'):
        pose_from_msg(msg)
    msg.orientation.w = math.nan
    with raises(r'pose.orientation.w: expected a finite number, got NaN'):
        pose_from_msg(msg)


# --------------------------------------------------------------------------- status
@pytest.mark.parametrize('state', list(TaskState))
def test_task_status_round_trip(types, cdr, state):
    status = TaskStatus(state=state, task_id='t-7', instruction='pour the kettle',
                        subtask='grasp_handle', subtask_index=1, subtask_count=3,
                        stage='pregrasp', message='ok', stamp_ns=12_345_678_901)
    msg = cdr(task_status_to_msg(types, status))
    assert task_status_from_msg(msg) == status
    assert msg.state == getattr(msg, 'STATE_' + state.name)


def test_residuals_round_trip(types, cdr):
    report = ConstraintResiduals(stage='approach', names=('reach', 'upright'),
                                 residuals=(0.012, -0.3), tolerances=(0.005, 0.05),
                                 stamp_ns=3_000_000_001)
    msg = cdr(residuals_to_msg(types, report))
    assert residuals_from_msg(msg) == report
    empty = ConstraintResiduals(stage='', names=(), residuals=(), tolerances=())
    assert residuals_from_msg(cdr(residuals_to_msg(types, empty))) == empty


def test_feedback(types, cdr):
    status = TaskStatus(state='executing', subtask='place', subtask_index=2, stage='lower')
    report = ConstraintResiduals(stage='lower', names=('a',), residuals=(0.1,),
                                 tolerances=(0.01,))
    msg = cdr(feedback_to_msg(types, status, report))
    executing = types.get('resem3d_msgs/msg/TaskStatus').STATE_EXECUTING
    assert (msg.state, msg.subtask, msg.subtask_index, msg.stage) == (executing, 'place', 2,
                                                                      'lower')
    assert msg.constraint_names == ['a'] and msg.constraint_errors.tolist() == [0.1]
    assert msg.constraint_tolerances.tolist() == [0.01]
    bare = cdr(feedback_to_msg(types, status))
    assert bare.constraint_names == [] and len(bare.constraint_errors) == 0


def test_time_conversions(types, cdr):
    for stamp in (0, 1, 999_999_999, 1_000_000_000, 1_731_000_000_123_456_789):
        msg = cdr(time_to_msg(types, stamp))
        assert time_from_msg(msg) == stamp and 0 <= msg.nanosec < 10**9
    with raises('stamp'):
        time_to_msg(types, -1)
    with raises('stamp'):
        time_to_msg(types, 1.5)
    msg = time_to_msg(types, 5)
    msg.nanosec = 10**9
    with raises('stamp.nanosec'):
        time_from_msg(msg)


# --------------------------------------------------------------------------- bad messages
@pytest.fixture
def program_msg(types):
    return program_to_msg(types, parse_program(EVERYTHING), frame_id='base')


def test_error_type_and_message(program_msg):
    program_msg.stages[1].subgoal[0].kind = 42
    with pytest.raises(MessageConversionError) as info:
        program_from_msg(program_msg)
    error = info.value
    assert isinstance(error, ConstraintError) and isinstance(error, ValueError)
    assert error.path == 'stages[1].subgoal[0].kind'
    assert str(error).startswith('stages[1].subgoal[0].kind: unknown constraint kind 42; '
                                 'expected one of 1 (distance), 2 (offset)')


@pytest.mark.parametrize('mutate,match', [
    (lambda m: setattr(m.stages[1].path[0], 'kind', 0),
     r'stages\[1\].path\[0\].kind: unknown constraint kind 0'),
    (lambda m: setattr(m.stages[1].subgoal[0].a, 'kind', 9),
     r'stages\[1\].subgoal\[0\].a.kind: unknown anchor kind 9'),
    (lambda m: setattr(m.stages[1].subgoal[0].b, 'at', 5),
     r'stages\[1\].subgoal\[0\].b.at: unknown anchor time 5'),
    (lambda m: setattr(m.stages[1].post[0], 'kind', 77),
     r'stages\[1\].post\[0\].kind: unknown condition kind 77'),
    (lambda m: setattr(m.stages[0].gripper, 'action', 8),
     r'stages\[0\].gripper.action: unknown gripper action 8'),
    (lambda m: setattr(m.stages[1].subgoal[2], 'frame', 3),
     r'stages\[1\].subgoal\[2\].frame: unknown offset frame 3'),
    (lambda m: setattr(m.stages[1].subgoal[0], 'weight', math.nan),
     r'stages\[1\].subgoal\[0\].weight: expected a finite number, got NaN'),
    (lambda m: setattr(m.stages[1].subgoal[0], 'tolerance', math.inf),
     r'stages\[1\].subgoal\[0\].tolerance: expected a finite number, got Infinity'),
    (lambda m: setattr(m.stages[1].subgoal[0].a.offset_m, 'y', math.nan),
     r'stages\[1\].subgoal\[0\].a.offset_m.y: expected a finite number, got NaN'),
    (lambda m: setattr(m.stages[1], 'timeout_s', math.nan),
     r'stages\[1\].timeout_s: expected a finite number'),
    (lambda m: setattr(m.stages[1].subgoal[0], 'weight', -1.0),
     r'stages\[1\].subgoal\[0\].weight: must be > 0'),
    (lambda m: setattr(m.stages[1].subgoal[0].b, 'feature', 'rim'),
     r'stages\[1\].subgoal\[0\].b.feature: unknown point feature "rim" of a region'),
    (lambda m: setattr(m.stages[1].subgoal[0].b, 'owner', 'cup'),
     r'stages\[1\].subgoal\[0\].b.owner: unknown anchor owner "cup"'),
    (lambda m: setattr(m.stages[1].subgoal[4].a.offset_m, 'x', 0.1),
     r'stages\[1\].subgoal\[4\].a.offset_m: an axis anchor takes no offset'),
    (lambda m: setattr(m.stages[1].subgoal[4], 'margin_m', 0.1),
     r'stages\[1\].subgoal\[4\].margin_m: not a field of kind "align"'),
    (lambda m: setattr(m.stages[1].subgoal[4], 'region', 'mug/body'),
     r'stages\[1\].subgoal\[4\].region: not a field of kind "align"'),
    (lambda m: setattr(m.stages[1].path[0].a, 'kind', 1),
     r'stages\[1\].path\[0\].a: not a field of kind "above"'),
    (lambda m: setattr(m.stages[1].subgoal[1], 'max_m', 0.3),
     r'stages\[1\].subgoal\[1\].max_m: has_max_m is false'),
    (lambda m: setattr(m.stages[1].post[0].constraint, 'kind', 2),
     r'stages\[1\].post\[0\].constraint.kind: expected the condition\'s kind "distance"'),
    (lambda m: setattr(m.stages[2].post[0], 'object', 'plate/top'),
     r'stages\[2\].post\[0\].object: object name "plate/top" must match'),
    (lambda m: setattr(m.stages[1].subgoal[0].b, 'owner', 'bowl/rim'),
     r'stages\[1\].subgoal\[0\].b.owner: region "bowl/rim" is not listed in "regions"'),
    (lambda m: setattr(m, 'version', 2), r'version: unsupported program version 2'),
    (lambda m: setattr(m, 'stages', []), r'stages: a program needs at least one stage'),
])
def test_bad_program_messages(program_msg, mutate, match):
    mutate(program_msg)
    with raises(match):
        program_from_msg(program_msg)


@pytest.mark.parametrize('mutate,match', [
    (lambda m: setattr(m, 'kind', 17), r'kind: unknown region kind 17'),
    (lambda m: setattr(m, 'points_obj', m.points_obj[:-1]),
     r'points_obj: expected a multiple of 3 values, got 8'),
    (lambda m: setattr(m, 'points_obj', m.points_obj[:0]), r'points_obj: expected at least'),
    (lambda m: setattr(m, 'axes_obj', m.axes_obj[:8]), r'axes_obj: expected 9 values, got 8'),
    (lambda m: m.points_obj.__setitem__(4, math.nan),
     r'points_obj\[4\]: expected a finite number, got NaN'),
    (lambda m: setattr(m.normal_obj, 'z', math.inf), r'normal_obj.z: expected a finite number'),
    (lambda m: m.axes_obj.__setitem__(0, 2.0), r'axes_obj is not a right-handed rotation'),
    (lambda m: setattr(m, 'name', 'nopart'), r'region name "nopart" must look like'),
    (lambda m: setattr(m.header.stamp, 'sec', -3), r'header.stamp.sec: expected a time >= 0'),
])
def test_bad_region_messages(types, mutate, match):
    msg = region_to_msg(types, Region.from_points('mug/body', np.eye(3)), np.eye(4),
                        frame_id='base')
    mutate(msg)
    with raises(match):
        region_from_msg(msg)


def test_bad_status_and_residual_messages(types):
    msg = task_status_to_msg(types, TaskStatus())
    msg.state = 12
    with raises(r'state: unknown task state 12; expected one of 0 \(idle\)'):
        task_status_from_msg(msg)
    msg.state = msg.STATE_PLANNING
    msg.subtask_index = -5
    with raises('subtask_index: expected an integer >= -1'):
        task_status_from_msg(msg)
    report = residuals_to_msg(types, ConstraintResiduals('s', ('a', 'b'), (0.0, 0.1),
                                                         (0.1, 0.1)))
    report.tolerances = report.tolerances[:1]
    with raises(r'names, residuals, tolerances: lengths differ \(2, 2, 1\)'):
        residuals_from_msg(report)
    report.tolerances = np.array([0.1, math.nan])
    with raises(r'tolerances\[1\]: expected a finite number, got NaN'):
        residuals_from_msg(report)
    report.tolerances = np.array([0.1, -0.1])
    with raises(r'tolerances\[1\]: must be >= 0'):
        residuals_from_msg(report)


def test_bad_core_values(types):
    with raises('expected a PointAnchor, an AxisAnchor or None'):
        anchor_to_msg(types, 'tool')
    with raises('unknown region kind'):
        region_to_msg(types, Region.from_points('a/b', np.eye(3)), np.eye(4), frame_id='b',
                      kind='blob')
    with raises('subtask_index'):
        program_to_msg(types, parse_program(EVERYTHING), subtask_index=-2)
    msg = condition_to_msg(types, Condition(kind='gripper_open', min_width_m=0.02))
    msg.constraint.kind = msg.constraint.KIND_INSIDE
    with raises(r'constraint.kind: kind "gripper_open" takes no constraint'):
        condition_from_msg(msg)
