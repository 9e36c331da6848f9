"""What one node of the ROS graph publishes, the node that subscribes reads: the sim node's
messages go through CDR (rosbags, the same bytes as rclpy) into the perception node's
converters, on a real render of a task."""

import numpy as np
import pytest

from resem3d_constraints.ros_types import make_resem3d_typestore, RosbagsMessageTypes
from resem3d_perception import ros_conversions as perception
from resem3d_sim import ros_messages as sim
from resem3d_sim.catalog import get_task
from resem3d_sim.tasks import TaskEnv


@pytest.fixture(scope='module')
def frame():
    env = TaskEnv.build(get_task('lab_flask_to_stirrer'), 0)
    for _ in range(25):                                  # a stamp other than 0
        env.world.step(np.zeros(7))
    camera = env.camera()
    try:
        yield camera.render()
    finally:
        camera.close()


def _cdr(typestore, msg):
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    return typestore.deserialize_cdr(bytes(raw), msg.__msgtype__)


def test_the_sim_frame_reaches_perception_unchanged(frame):
    typestore = make_resem3d_typestore()
    types = RosbagsMessageTypes(typestore)
    name = 'camera_color_optical_frame'
    rgb = perception.image_to_rgb(_cdr(typestore, sim.color_image(types, frame.stamp_s, name,
                                                                  frame.color)))
    np.testing.assert_array_equal(rgb, frame.color)
    depth = perception.image_to_depth_m(_cdr(typestore, sim.depth_image(
        types, frame.stamp_s, name, frame.depth_m)))
    valid = np.isfinite(frame.depth_m) & (frame.depth_m > 0)
    assert np.nanmax(np.abs(depth[valid] - frame.depth_m[valid])) <= 0.0005   # 1 mm steps
    stamp, mask, labels = perception.part_labels_from_msg(_cdr(typestore, sim.part_labels(
        types, frame.stamp_s, name, frame.part_mask, frame.labels)))
    np.testing.assert_array_equal(mask, frame.part_mask)
    assert labels == tuple(frame.labels) and 'flask/neck' in labels
    assert frame.stamp_s > 0.0 and stamp == round(frame.stamp_s * 1e9)
