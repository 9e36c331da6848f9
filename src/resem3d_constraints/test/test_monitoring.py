"""Residuals of the active stage from tracked regions and the tool pose (monitoring.py)."""

import math

import numpy as np
import pytest

from resem3d_constraints import Region, SceneError
from resem3d_constraints.examples import load_example
from resem3d_constraints.monitoring import (constraint_name, evaluate_stage, stage_index,
                                            StageMonitor, transform_matrix)
from resem3d_constraints.ros_conversions import residuals_from_msg, residuals_to_msg
from resem3d_constraints.ros_types import make_resem3d_typestore, RosbagsMessageTypes

PREGRASP, LIFT = 1, 3          # stages of the pick_and_place_mug example


def box_points(size_m, centre_m=(0.0, 0.0, 0.0)):
    half = 0.5 * np.asarray(size_m, dtype=float)
    grid = np.array([[x, y, z] for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)])
    return grid * half + np.asarray(centre_m, dtype=float)


def pose(xyz):
    T = np.eye(4)
    T[:3, 3] = xyz
    return T


REGIONS = {
    'mug/body': Region.from_points('mug/body', box_points((0.08, 0.08, 0.10), (0, 0, 0.05))),
    'mug/handle': Region.from_points('mug/handle',
                                     box_points((0.01, 0.03, 0.06), (0, -0.06, 0.05))),
    'plate/top': Region.from_points('plate/top', box_points((0.2, 0.2, 0.01), (0, 0, 0.005))),
    'table/top': Region.from_points('table/top',
                                    box_points((0.9, 1.2, 0.02), (0.45, 0.0, -0.01))),
}
POSES = {'mug': pose((0.5, 0.15, 0.0)), 'plate': pose((0.45, -0.2, 0.0)), 'table': np.eye(4)}


def tool_above_handle(dz_m=0.1, dx_m=0.0):
    """Tool pose above the handle centroid, pointing down (z = -z_base), y along world x."""
    T = np.eye(4)
    T[:3, :3] = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]
    T[:3, 3] = POSES['mug'][:3, 3] + REGIONS['mug/handle'].centroid_obj + [dx_m, 0.0, dz_m]
    return T


@pytest.fixture()
def monitor():
    m = StageMonitor()
    m.set_regions(REGIONS, POSES)
    m.set_tool_pose(tool_above_handle())
    return m


def test_residuals_of_the_active_stage_are_its_violations(monitor):
    program = load_example('pick_and_place_mug')
    report = monitor.residuals(program, PREGRASP, stamp_ns=1_500_000_000)
    assert report.stage == 'pregrasp' and report.stamp_ns == 1_500_000_000
    assert report.names == ('subgoal[0] offset', 'subgoal[1] align', 'subgoal[2] align',
                            'path[0] keep_away', 'path[1] keep_away')
    stage = program.stages[PREGRASP]
    assert report.tolerances == tuple(c.tolerance for c in stage.constraints())
    assert report.residuals[0] == pytest.approx(0.0, abs=1e-12)   # at the pregrasp point
    assert report.residuals[1] == pytest.approx(0.0, abs=1e-9)    # pointing down
    assert all(report.met)
    monitor.set_tool_pose(tool_above_handle(dz_m=0.1, dx_m=0.05))
    moved = monitor.residuals(program, PREGRASP, stamp_ns=2)
    assert moved.residuals[0] == pytest.approx(0.05)              # 5 cm off along x
    assert moved.met[0] is False and moved.met[1] is True


def test_a_constraint_on_an_untracked_region_is_left_out(monitor):
    program = load_example('pick_and_place_mug')
    partial = StageMonitor()
    partial.set_regions({k: v for k, v in REGIONS.items() if k != 'table/top'},
                        {k: v for k, v in POSES.items() if k != 'table'})
    partial.set_tool_pose(tool_above_handle())
    evaluations = partial.evaluations(program, PREGRASP)
    assert [e.available for e in evaluations] == [True, True, True, True, False]
    assert math.isnan(evaluations[-1].residual) and evaluations[-1].satisfied is None
    report = partial.residuals(program, PREGRASP, stamp_ns=0)
    assert 'path[1] keep_away' not in report.names and len(report.names) == 4


def test_init_anchors_read_the_poses_frozen_when_the_stage_became_active(monitor):
    program = load_example('pick_and_place_mug')
    monitor.activate(program, LIFT)
    handle_before = POSES['mug'][:3, 3] + REGIONS['mug/handle'].centroid_obj
    monitor.set_regions({}, {'mug': pose((0.5, 0.25, 0.0))})     # the mug moved by 10 cm
    T_tool = np.eye(4)
    T_tool[:3, 3] = handle_before + [0.0, 0.0, 0.15]
    monitor.set_tool_pose(T_tool)
    assert monitor.residuals(program, LIFT, 0).residuals[0] == pytest.approx(0.0, abs=1e-12)
    monitor.activate(program, PREGRASP)                          # another stage: re-frozen
    monitor.activate(program, LIFT)
    assert monitor.residuals(program, LIFT, 0).residuals[0] == pytest.approx(0.1)


def test_a_non_finite_region_pose_is_rejected_and_the_old_pose_kept(monitor):
    bad = pose((0.5, 0.15, 0.0))
    bad[1, 3] = math.nan
    with pytest.raises(SceneError):
        monitor.set_regions({}, {'mug': bad})
    np.testing.assert_array_equal(monitor.scene.object_pose('mug'), POSES['mug'])
    with pytest.raises(SceneError):
        monitor.set_tool_pose(np.full((4, 4), math.nan))


def test_stage_names_and_indices():
    program = load_example('pick_and_place_mug')
    assert stage_index(program, 'lift') == LIFT
    assert stage_index(program, 'no_such_stage') == 0
    stage = program.stages[PREGRASP]
    assert constraint_name('path', 1, stage.path[1]) == 'path[1] keep_away'
    assert len(evaluate_stage(program.stages[0], StageMonitor().scene)) == 0   # gripper only


def test_the_report_round_trips_through_a_constraint_residual_message(monitor):
    program = load_example('pick_and_place_mug')
    monitor.set_tool_pose(tool_above_handle(dz_m=0.12))
    report = monitor.residuals(program, PREGRASP, stamp_ns=3_000_000_001)
    typestore = make_resem3d_typestore()
    msg = residuals_to_msg(RosbagsMessageTypes(typestore), report)
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    back = residuals_from_msg(typestore.deserialize_cdr(bytes(raw), msg.__msgtype__))
    assert back == report
    assert back.residuals[0] == pytest.approx(0.02)


def test_a_tf_transform_becomes_the_tool_pose(monitor):
    typestore = make_resem3d_typestore()
    t = typestore.types
    half = math.sqrt(0.5)
    transform = t['geometry_msgs/msg/Transform'](
        translation=t['geometry_msgs/msg/Vector3'](x=0.4, y=-0.1, z=0.3),
        rotation=t['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=half, w=half))
    T = transform_matrix(transform)
    np.testing.assert_allclose(T[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    np.testing.assert_allclose(T[:3, 3], [0.4, -0.1, 0.3])
    monitor.set_tool_pose(T)
    np.testing.assert_array_equal(monitor.scene.T_base_tool, T)
    transform.rotation.w = 2.0
    with pytest.raises(SceneError, match='norm'):
        transform_matrix(transform)
    transform.rotation.w = math.nan
    with pytest.raises(SceneError, match='not finite'):
        transform_matrix(transform)
