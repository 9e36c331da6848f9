# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Observations from Observe responses (rosbags messages after a CDR round trip)."""

from __future__ import annotations

import numpy as np
import pytest
from reasoning_ros_support import BASE_FRAME, SCENE, STAMP_NS, simulated_task

from resem3d_reasoning.grounding import GroundedRegion, observe_frame
from resem3d_reasoning.ros_observation import (ObservationError, observation_from_response,
                                               region_kind)


@pytest.fixture(scope='module')
def task():
    return simulated_task()


def test_the_response_gives_the_observation_observe_frame_makes(task):
    observed = observation_from_response(task.response())
    assert observed.stamp_ns == STAMP_NS and observed.frame_id == BASE_FRAME
    observation = observed.observation
    direct = observe_frame(task.frame, scene=SCENE)
    assert observation.scene == SCENE
    np.testing.assert_array_equal(observation.color, task.frame.color)
    np.testing.assert_array_equal(observation.marked.image, direct.marked.image)
    assert observation.mark_ids == direct.mark_ids and len(observation.mark_ids) > 5
    for i in observation.mark_ids:
        np.testing.assert_array_equal(observation.marked.masks[i].mask,
                                      direct.marked.masks[i].mask)
        assert observation.marked.anchors[i] == direct.marked.anchors[i]
    assert len(observation.cloud) == len(direct.cloud)
    np.testing.assert_allclose(observation.cloud.points_base, direct.cloud.points_base,
                               atol=1e-5)
    assert list(observation.system_regions) == ['table/top']
    table = observation.system_regions['table/top']
    np.testing.assert_allclose(table.T_base_obj, task.env.pose('table'), atol=1e-12)


def test_without_a_drawn_image_the_colour_image_is_shown(task):
    observed = observation_from_response(task.response(draw_marks=False))
    np.testing.assert_array_equal(observed.observation.marked.image, task.frame.color)


def test_failed_and_malformed_responses(task):
    failed = task.response()
    failed.success, failed.message = False, 'no RGB-D frame yet'
    with pytest.raises(ObservationError, match='could not observe: no RGB-D frame yet'):
        observation_from_response(failed)
    with pytest.raises(ObservationError, match='malformed observation: .*include_masks'):
        observation_from_response(task.response(include_masks=False))
    broken = task.response()
    broken.camera_pose.orientation.w = 3.0
    with pytest.raises(ObservationError, match='camera_pose'):
        observation_from_response(broken)


def test_region_kinds_follow_the_flow():
    def grounded(flow, feature=None):
        return GroundedRegion('a/b', None, np.eye(4), (1,), flow, feature, (), np.zeros(3), 's')
    assert region_kind(grounded('none')) == 'part'
    assert region_kind(grounded('positional', 'rim')) == 'rim'
    assert region_kind(grounded('positional', 'tip')) == 'tip'
    assert region_kind(grounded('geometric')) == 'cells'
