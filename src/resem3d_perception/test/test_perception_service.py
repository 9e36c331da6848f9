# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""PerceptionService: frames in; observations, grounded tracks and regions out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from resem3d_constraints.ros_conversions import PlacedRegion
from resem3d_perception import region_in_object_frame
from resem3d_perception.config import PerceptionConfig
from resem3d_perception.errors import PerceptionError, PerceptionInputError
from resem3d_perception.scene_tracker import SceneTrackingConfig
from resem3d_perception.service import (PerceptionService, ServiceConfig,
                                        load_system_regions)
from resem3d_perception.testing import box_scene, synthetic_part_frame
from resem3d_perception import Intrinsics

MS = 1_000_000


@pytest.fixture(scope='module')
def config() -> PerceptionConfig:
    return PerceptionConfig()


def box_pose(x: float = 0.5) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = (x, 0.0, 0.0)
    return T


def feed(service: PerceptionService, stamp_ns: int, x: float = 0.5, *, labels: bool = True):
    """Give the service one ray-cast frame of the box at ``x``; return the scene."""
    scene = box_scene(box_pose(x))
    service.set_intrinsics(scene.intrinsics)
    service.add_color(stamp_ns, scene.color, 'camera_color_optical_frame')
    frame = service.add_depth(stamp_ns + 2 * MS, scene.depth_m)
    if labels:
        frame = service.add_labels(stamp_ns, scene.part_mask, scene.labels)
    return scene, frame


def box_service(config, **settings) -> PerceptionService:
    return PerceptionService(config, ServiceConfig(sync_labels=True, **settings))


def grounded_regions(perceived, stamp_ns: int) -> list[PlacedRegion]:
    """What the reasoning would publish: the box's part as a region in an object frame."""
    (mark_id,) = perceived.marked.marks
    part = perceived.parts[mark_id]
    T = np.eye(4)
    T[:3, 3] = part.centroid_base * (1.0, 1.0, 0.0)
    region = region_in_object_frame('box/body', part.points_base, T)
    return [PlacedRegion(region, T, 'fr3_link0', stamp_ns, 'part')]


def test_observe_needs_a_frame(config):
    service = box_service(config)
    with pytest.raises(PerceptionError, match='no RGB-D frame yet'):
        service.observe(np.eye(4))


def test_observe_segments_marks_and_lifts_parts(config):
    service = box_service(config, scene='synthetic@3')
    scene, frame = feed(service, 100 * MS)
    assert frame is not None and frame.part_mask is not None
    perceived = service.observe(scene.T_base_cam)
    assert perceived.scene == 'synthetic@3' and perceived.stamp_ns == 100 * MS
    assert list(perceived.marked.marks) == [1]
    assert perceived.marked.marks[1].mask.label == 'box/body'
    centroid = perceived.centroids_base[1]
    assert centroid is not None
    assert 0.45 < centroid[0] < 0.55 and 0.0 < centroid[2] < 0.08
    cloud = service.labelled_cloud(perceived, stride_px=2)
    on_box = cloud.labels == 1
    assert on_box.any() and (~on_box).any()
    assert np.all(cloud.points_base[on_box][:, 2] > 0.0)
    assert np.all(np.abs(cloud.points_base[~on_box][:, 2]) < 1e-3)
    assert len(cloud.points_base) == len(cloud.colors) == len(cloud.labels)


def test_marks_of_a_multi_part_scene_have_centroids(config):
    frame = synthetic_part_frame(96, 72)
    k = Intrinsics(96, 72, 90.0, 90.0, 47.5, 35.5)
    service = PerceptionService(config, ServiceConfig(sync_labels=True))
    service.set_intrinsics(k)
    service.add_color(MS, frame.color)
    service.add_depth(MS, frame.depth_m)
    service.add_labels(MS, frame.part_mask, frame.labels)
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = (0.5, 0.0, 0.8)
    perceived = service.observe(T)
    labels = {m.mask.label for m in perceived.marked.marks.values()}
    assert {'block/body', 'cup/body', 'flask/neck'} <= labels
    assert all(c is not None and abs(c[2]) < 1e-3
               for c in perceived.centroids_base.values())      # parts at 0.8 m: z = 0


def test_sim_segmenter_without_labels_is_a_clear_error(config):
    service = PerceptionService(config)
    scene, frame = feed(service, MS, labels=False)
    assert frame is not None
    with pytest.raises(PerceptionError, match="segmenter 'sim' needs"):
        service.observe(scene.T_base_cam)


def test_ground_then_track_a_moving_box(config):
    config = dataclasses.replace(config, scene_tracking=SceneTrackingConfig(keep_pose_margin=0.0))
    service = box_service(config)
    scene, _ = feed(service, 100 * MS)
    perceived = service.observe(scene.T_base_cam)
    grounded = grounded_regions(perceived, 100 * MS)
    (report,) = service.ground(grounded)
    assert report.object == 'box' and report.source == 'marks' and report.marks == (1,)
    assert report.points > 100
    assert service.ground(grounded) == []                  # same grounding: nothing to do
    T0 = grounded[0].T_frame_obj
    for i in range(1, 5):
        _, frame = feed(service, (100 + 67 * i) * MS, 0.5 + 0.006 * i)
        results = service.track(frame, scene.T_base_cam)
        assert results['box'].ok
    regions = service.region_set('fr3_link0')
    assert list(regions.regions) == ['box/body'] and regions.kinds == {'box/body': 'part'}
    assert regions.frame_id == 'fr3_link0' and regions.stamp_ns == (100 + 67 * 4) * MS
    moved = regions.T_frame_obj['box'][:3, 3] - T0[:3, 3]
    np.testing.assert_allclose(moved, (0.024, 0.0, 0.0), atol=0.005)
    service.ground([])
    assert service.region_set('fr3_link0').regions == {}
    assert service.tracker.names == []


def test_a_box_moved_out_of_icp_reach_is_followed_in_one_frame(config):
    """Someone moves the box 15 cm between two frames (the node's tracking path): the
    tracker searches for it and the regions follow it in that frame."""
    service = box_service(config)
    scene, _ = feed(service, 100 * MS)
    grounded = grounded_regions(service.observe(scene.T_base_cam), 100 * MS)
    service.ground(grounded)
    _, frame = feed(service, 167 * MS, 0.65)
    assert service.track(frame, scene.T_base_cam)['box'].ok
    moved = service.region_set('fr3_link0').T_frame_obj['box'][:3, 3] - \
        grounded[0].T_frame_obj[:3, 3]
    np.testing.assert_allclose(moved, (0.15, 0.0, 0.0), atol=0.01)
    assert service.tracker.redetections == {'box': 1}


def test_grounding_without_the_observation_uses_the_region_points(config):
    service = box_service(config)
    scene, _ = feed(service, 100 * MS)
    perceived = service.observe(scene.T_base_cam)
    grounded = [grounded_regions(perceived, 100 * MS)[0]._replace(stamp_ns=5 * MS)]
    (report,) = service.ground(grounded)
    assert report.source == 'regions' and report.marks == ()
    assert service.tracker.names == ['box']
    tiny = region_in_object_frame('box/body', np.zeros((3, 3)) + (0.5, 0.0, 0.04), np.eye(4))
    (report,) = service.ground([PlacedRegion(tiny, np.eye(4), 'b', 7 * MS, 'part')])
    assert report.source == 'error' and 'points' in report.detail


def test_tracking_without_objects_just_stamps(config):
    service = box_service(config)
    scene, frame = feed(service, 100 * MS)
    assert service.track(frame, scene.T_base_cam) == {}
    assert service.region_set('base').stamp_ns == 100 * MS


def test_system_regions_from_yaml(config, tmp_path):
    path = tmp_path / 'system.yaml'
    path.write_text('system_regions:\n  - name: table/top\n    points_base: '
                    '[[0.0, -0.5, 0.0], [1.0, -0.5, 0.0], [1.0, 0.5, 0.0], [0.0, 0.5, 0.0]]\n')
    system = load_system_regions(path)
    assert system.kinds == {'table/top': 'system'}
    service = PerceptionService(config, system_regions=system)
    regions = service.region_set('fr3_link0')
    np.testing.assert_allclose(regions.regions['table/top'].centroid_obj, (0.5, 0.0, 0.0))
    np.testing.assert_array_equal(regions.T_frame_obj['table'], np.eye(4))
    shelf = region_in_object_frame('shelf/top', np.array([[0.0, 0.0, 0.3]]), np.eye(4))
    T_shelf = np.eye(4)
    T_shelf[2, 3] = 0.1
    assert service.ground([PlacedRegion(shelf, T_shelf, 'fr3_link0', 0, 'system')]) == []
    regions = service.region_set('fr3_link0')
    assert regions.kinds == {'table/top': 'system', 'shelf/top': 'system'}
    assert regions.T_frame_obj['shelf'][2, 3] == 0.1
    path.write_text('system_regions:\n  - name: table\n    points_base: [[0, 0, 0]]\n')
    with pytest.raises(PerceptionInputError, match='system_regions\\[0\\]'):
        load_system_regions(path)
    path.write_text('regions: []\n')
    with pytest.raises(PerceptionInputError, match='system_regions:'):
        load_system_regions(path)
    with pytest.raises(PerceptionInputError, match='cannot read'):
        load_system_regions(tmp_path / 'missing.yaml')


def test_settings_are_checked():
    with pytest.raises(PerceptionInputError, match='history'):
        ServiceConfig(history=0)


def test_the_workcell_file_of_the_launch_loads_the_table():
    from pathlib import Path

    from resem3d_perception.service import load_system_regions
    path = Path(__file__).resolve().parents[3] / 'config' / 'workcell.yaml'
    regions = load_system_regions(path)
    table = regions.regions['table/top']
    corners = np.asarray(table.points_obj)
    assert corners[:, 2].max() == 0.0 and corners[:, 2].min() == -0.04
    assert np.allclose(corners[:, :2].min(axis=0), [-0.40, -0.60])
    assert np.allclose(corners[:, :2].max(axis=0), [1.10, 0.60])
