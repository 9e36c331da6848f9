"""RViz markers of a stage's constraints (markers.py), built as rosbags messages."""

from collections import Counter
import math

import numpy as np
import pytest

from resem3d_constraints import parse_program
from resem3d_constraints.examples import load_example
from resem3d_constraints.markers import (constraint_visuals, keepout_boxes, marker_array,
                                         MARKER_NAMESPACES, MarkerStyle, palette, region_boxes,
                                         stage_markers, STATUS_COLORS)
from resem3d_constraints.monitoring import StageMonitor
from resem3d_constraints.ros_conversions import pose_from_msg
from resem3d_constraints.ros_types import make_resem3d_typestore, RosbagsMessageTypes
from test_monitoring import pose, POSES, PREGRASP, REGIONS, tool_above_handle

FRAME = 'fr3_link0'


@pytest.fixture(scope='module')
def typestore():
    return make_resem3d_typestore()


@pytest.fixture()
def types(typestore):
    return RosbagsMessageTypes(typestore)


@pytest.fixture()
def monitor():
    m = StageMonitor()
    m.set_regions(REGIONS, POSES)
    m.set_tool_pose(tool_above_handle())
    return m


def _round_trip(typestore, msg):
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    return typestore.deserialize_cdr(bytes(raw), msg.__msgtype__)


def _by_ns(array):
    out = {}
    for m in array.markers[1:]:
        out.setdefault(m.ns, []).append(m)
    return out


def _rgb(marker):
    return tuple(round(255 * c) for c in (marker.color.r, marker.color.g, marker.color.b))


def test_the_array_starts_with_deleteall_and_keeps_the_rules(typestore, types, monitor):
    program = load_example('pick_and_place_mug')
    stage = program.stages[PREGRASP]
    msg = stage_markers(types, stage, monitor.scene, FRAME, 2_000_000_005)
    array = _round_trip(typestore, msg)
    Marker = typestore.types['visualization_msgs/msg/Marker']
    first = array.markers[0]
    assert first.action == Marker.DELETEALL
    markers = array.markers[1:]
    assert all(m.action == Marker.ADD for m in markers)
    assert {m.ns for m in markers} <= set(MARKER_NAMESPACES)
    assert {m.ns for m in markers} == {'regions', 'anchors', 'targets', 'links', 'axes',
                                       'keepout', 'labels'}
    ids = Counter((m.ns, m.id) for m in markers)
    assert max(ids.values()) == 1                                    # (ns, id) is unique
    for m in array.markers:
        assert m.header.frame_id == FRAME
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == (2, 5)
        assert (m.lifetime.sec, m.lifetime.nanosec) == (0, 0)
    ns = _by_ns(array)
    assert len(ns['anchors']) == len(ns['labels']) == 5              # 3 subgoal + 2 path
    assert len(ns['axes']) == 4                                      # two per align
    assert len(ns['keepout']) == 2 and len(ns['regions']) == 3       # mug/body, handle, table
    assert len(ns['targets']) == len(ns['links']) == 3               # offset + 2 keep_away


def test_positions_and_sizes_are_in_metres_in_the_base_frame(typestore, types, monitor):
    program = load_example('pick_and_place_mug')
    style = MarkerStyle(sphere_m=0.03, arrow_m=0.2)
    array = _round_trip(typestore, stage_markers(types, program.stages[PREGRASP],
                                                 monitor.scene, FRAME, 0, style=style))
    ns = _by_ns(array)
    p_tool = tool_above_handle()[:3, 3]
    handle = POSES['mug'][:3, 3] + REGIONS['mug/handle'].centroid_obj
    anchor = ns['anchors'][0]
    np.testing.assert_allclose([anchor.pose.position.x, anchor.pose.position.y,
                                anchor.pose.position.z], p_tool)
    assert (anchor.scale.x, anchor.scale.y, anchor.scale.z) == (0.03, 0.03, 0.03)
    target = ns['targets'][0]                                        # the pregrasp point
    np.testing.assert_allclose([target.pose.position.x, target.pose.position.y,
                                target.pose.position.z], handle + [0, 0, 0.1])
    link = ns['links'][0]
    np.testing.assert_allclose([[p.x, p.y, p.z] for p in link.points],
                               [p_tool, handle + [0, 0, 0.1]])
    arrows = sorted(ns['axes'], key=lambda m: m.id)
    assert [m.id for m in arrows] == [2, 3, 4, 5]                    # constraints 1 and 2
    tool_z = [[p.x, p.y, p.z] for p in arrows[0].points]
    np.testing.assert_allclose(tool_z, [p_tool, p_tool + [0, 0, -0.2]], atol=1e-12)
    world_minus_z = [[p.x, p.y, p.z] for p in arrows[1].points]
    np.testing.assert_allclose(world_minus_z, [p_tool, p_tool + [0, 0, -0.2]], atol=1e-12)
    label = ns['labels'][0]
    assert label.text.startswith('subgoal[0] offset: ') and label.text.endswith(' m')
    assert label.scale.z == style.text_m


def test_region_boxes_and_keepouts_follow_the_tracked_pose(typestore, types, monitor):
    program = load_example('pick_and_place_mug')
    stage = program.stages[PREGRASP]
    yaw = math.pi / 2
    T = pose((0.5, 0.15, 0.0))
    T[:3, :3] = [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0],
                 [0, 0, 1]]
    monitor.set_regions({}, {'mug': T})
    boxes = {b.name: b for b in region_boxes(stage, monitor.scene)}
    assert sorted(boxes) == ['mug/body', 'mug/handle', 'table/top']
    handle = REGIONS['mug/handle']
    corners = boxes['mug/handle'].corners_base()
    expected = (handle.corners_obj @ T[:3, :3].T) + T[:3, 3]
    assert sorted(map(tuple, np.round(corners, 9))) == sorted(map(tuple, np.round(expected, 9)))
    array = _round_trip(typestore, marker_array(types, FRAME, 0,
                                                regions=list(boxes.values())))
    edges = array.markers[1 + sorted(boxes).index('mug/handle')]
    assert edges.ns == 'regions' and len(edges.points) == 24
    pairs = zip(edges.points[::2], edges.points[1::2])
    lengths = sorted(round(float(np.linalg.norm([a.x - b.x, a.y - b.y, a.z - b.z])), 9)
                     for a, b in pairs)
    assert lengths == sorted(round(float(e), 9) for e in handle.extent_m for _ in range(4))
    keepouts = keepout_boxes(stage, monitor.scene)
    assert [k.name for k in keepouts] == ['path[0] keep_away', 'path[1] keep_away']
    np.testing.assert_allclose(keepouts[0].extent_m, REGIONS['mug/body'].extent_m + 0.04)
    cube = _round_trip(typestore, marker_array(types, FRAME, 0, keepouts=keepouts)).markers[1]
    assert cube.ns == 'keepout' and cube.color.a == pytest.approx(0.25)
    np.testing.assert_allclose([cube.scale.x, cube.scale.y, cube.scale.z],
                               keepouts[0].extent_m)
    T_box = pose_from_msg(cube.pose)
    np.testing.assert_allclose(T_box[:3, :3], T[:3, :3] @ REGIONS['mug/body'].axes_obj,
                               atol=1e-12)
    np.testing.assert_allclose(T_box[:3, 3], T[:3, :3] @ REGIONS['mug/body'].center_obj
                               + T[:3, 3], atol=1e-12)


def test_colours_say_met_and_violated(typestore, types, monitor):
    program = load_example('pick_and_place_mug')
    stage = program.stages[PREGRASP]
    met = _by_ns(_round_trip(typestore, stage_markers(types, stage, monitor.scene, FRAME, 0)))
    assert _rgb(met['targets'][0]) == _rgb(met['links'][0]) == STATUS_COLORS[True]
    assert _rgb(met['anchors'][1]) == palette(1)
    monitor.set_tool_pose(tool_above_handle(dz_m=0.2))               # 10 cm too high
    bad = _by_ns(_round_trip(typestore, stage_markers(types, stage, monitor.scene, FRAME, 0)))
    assert _rgb(bad['targets'][0]) == _rgb(bad['links'][0]) == STATUS_COLORS[False]
    assert _rgb(bad['axes'][0]) == STATUS_COLORS[True]               # still pointing down


def test_without_a_stage_the_array_only_clears(typestore, types, monitor):
    array = _round_trip(typestore, stage_markers(types, None, monitor.scene, FRAME, 0))
    assert len(array.markers) == 1
    assert array.markers[0].action == typestore.types['visualization_msgs/msg/Marker'].DELETEALL


def test_visuals_place_targets_per_kind_and_skip_what_the_scene_lacks(monitor):
    program = parse_program({'version': 1, 'name': 'p', 'regions': ['mug/handle', 'cup/rim'],
                             'stages': [{'name': 's', 'timeout_s': 5.0, 'subgoal': [
                                 {'kind': 'offset', 'a': {'of': 'tool', 'point': 'tcp'},
                                  'b': {'of': 'mug/handle', 'point': 'centroid'},
                                  'offset_m': [0.0, 0.0, 0.05], 'frame': 'object'},
                                 {'kind': 'above', 'point': {'of': 'tool', 'point': 'tcp'},
                                  'region': 'mug/handle'},
                                 {'kind': 'distance', 'a': {'of': 'tool', 'point': 'tcp'},
                                  'b': {'of': 'cup/rim', 'point': 'centroid'}}],
                                 'post': [{'kind': 'gripper_open', 'min_width_m': 0.0}]}]})
    T = pose((0.5, 0.15, 0.0))
    T[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]                  # object z -> base -y
    monitor.set_regions({}, {'mug': T})
    visuals = constraint_visuals(program.stages[0], monitor.scene)
    assert [v.name for v in visuals] == ['subgoal[0] offset', 'subgoal[1] above']
    centroid = T[:3, :3] @ REGIONS['mug/handle'].centroid_obj + T[:3, 3]
    np.testing.assert_allclose(visuals[0].target_base, centroid + [0.0, -0.05, 0.0])
    np.testing.assert_allclose(visuals[1].target_base, centroid)
    assert visuals[0].axes_base == () and visuals[0].satisfied is False
