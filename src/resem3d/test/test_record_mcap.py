"""Run recorders: the ROS 2 bag in MCAP (resem3d.record.mcap_writer), read back with rosbags and
with mcap-ros2-support."""

from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from resem3d.record import CameraView, ConstraintOverlay, McapRecorder
from resem3d.record.mcap_writer import PANDA_JOINT_NAMES, RateGate

W, H = 32, 24
RESIDUAL_TYPE = 'resem3d_msgs/msg/ConstraintResidual'
EXPECTED = {  # topic -> (type, count)
    '/camera/camera/color/image_raw': ('sensor_msgs/msg/Image', 3),
    '/camera/camera/aligned_depth_to_color/image_raw': ('sensor_msgs/msg/Image', 3),
    '/camera/camera/color/camera_info': ('sensor_msgs/msg/CameraInfo', 3),
    '/perception/cloud': ('sensor_msgs/msg/PointCloud2', 2),
    '/joint_states': ('sensor_msgs/msg/JointState', 10),
    '/resem3d/constraints': ('visualization_msgs/msg/MarkerArray', 1),
    '/resem3d/residuals': (RESIDUAL_TYPE, 2),
    '/tf': ('tf2_msgs/msg/TFMessage', 2),
    '/tf_static': ('tf2_msgs/msg/TFMessage', 1),
}


def camera_pose() -> np.ndarray:
    """Looking down from 1 m, turned 30 degrees about the vertical: a rotation far from I."""
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    T = np.eye(4)
    T[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1, -1, -1.0])
    T[:3, 3] = (0.4, -0.1, 1.0)
    return T


def rgb_frame(i: int) -> np.ndarray:
    frame = np.zeros((H, W, 3), np.uint8)
    frame[..., 0] = np.arange(W, dtype=np.uint8)[None] * 4
    frame[..., 2] = 10 * i
    return frame


def depth_frame() -> np.ndarray:
    depth = np.full((H, W), 0.8, np.float32)
    depth[0, 0] = 0.0                  # no measurement -> NaN
    return depth


@pytest.fixture(scope='module')
def bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('run') / 'run.mcap'
    view = CameraView(fx=30.0, fy=30.0, cx=15.5, cy=11.5, T_base_cam=camera_pose())
    T_cup = np.eye(4)
    T_cup[:3, 3] = (0.5, 0.1, 0.05)
    rng = np.random.default_rng(0)
    with McapRecorder(path, cloud_max_points=50) as recorder:
        recorder.write_camera_pose(0.0, camera_pose())
        recorder.write_camera_pose(0.5, camera_pose())        # unchanged: not written again
        for i in range(3):
            assert recorder.write_camera(i / 30.0, rgb=rgb_frame(i), depth_m=depth_frame(),
                                         intrinsics=view)
        for k in range(100):                                  # 1 kHz for 0.1 s -> 100 Hz
            recorder.write_joint_state(k / 1000.0, np.full(9, k / 1000.0), np.zeros(9))
        points = rng.uniform(-1.0, 1.0, (200, 3))
        points[3] = np.nan
        recorder.write_cloud(0.05, points)
        recorder.write_cloud(0.08, points[:20], colors=np.full((20, 3), (255, 128, 1), np.uint8))
        recorder.write_object_poses(0.05, {'cup': T_cup})
        recorder.write_object_poses(0.09, {'cup': T_cup, 'plate': np.eye(4)})
        recorder.write_constraints(0.06, [
            ConstraintOverlay('reach', (0.4, 0.1, 0.3), (0.5, 0.1, 0.1), residual=0.2,
                              tolerance=0.01),
            ConstraintOverlay('upright', (0.4, 0.1, 0.3))])
        recorder.write_residuals(0.06, 'grasp', ['reach', 'upright'], [0.2, 0.0], [0.01, 0.05])
        recorder.write_residuals(0.07, 'grasp', ['reach'], [0.15], [0.01])
    assert recorder.close() == {topic: count for topic, (_, count) in EXPECTED.items()}
    return path


def typestore_with_our_messages():
    """Jazzy types plus ConstraintResidual, registered from the .msg shipped as package data."""
    text = resources.files('resem3d.record').joinpath('msgs/ConstraintResidual.msg').read_text()
    typestore = get_typestore(Stores.ROS2_JAZZY)
    typestore.register(get_types_from_msg(text, RESIDUAL_TYPE))
    return typestore


def read_all(path: Path):
    """topic -> [(log time ns, message)] and topic -> connection, through rosbags."""
    with AnyReader([path], default_typestore=typestore_with_our_messages()) as reader:
        connections = {c.topic: c for c in reader.connections}
        messages: dict[str, list] = {}
        for connection, t_ns, raw in reader.messages():
            messages.setdefault(connection.topic, []).append(
                (t_ns, reader.deserialize(raw, connection.msgtype)))
    return messages, connections


def stamp_ns(header_or_time) -> int:
    time = getattr(header_or_time, 'stamp', header_or_time)
    return time.sec * 1_000_000_000 + time.nanosec


def test_rosbags_reads_topics_types_and_contents(bag):
    messages, connections = read_all(bag)
    assert {t: (c.msgtype, c.msgcount) for t, c in connections.items()} == EXPECTED
    assert {t: len(m) for t, m in messages.items()} == {t: n for t, (_, n) in EXPECTED.items()}
    # Simulated time: log time == header stamp.
    for topic in ('/camera/camera/color/image_raw', '/joint_states', '/perception/cloud'):
        assert all(t == stamp_ns(m.header) for t, m in messages[topic])
    assert [t for t, _ in messages['/joint_states']] == [10_000_000 * k for k in range(10)]

    t_ns, color = messages['/camera/camera/color/image_raw'][2]
    assert t_ns == round(2 / 30 * 1e9)
    assert (color.width, color.height, color.encoding, color.step) == (W, H, 'rgb8', 3 * W)
    assert color.header.frame_id == 'camera_color_optical_frame'
    assert np.array_equal(color.data.reshape(H, W, 3), rgb_frame(2))
    _, depth = messages['/camera/camera/aligned_depth_to_color/image_raw'][0]
    assert (depth.width, depth.height, depth.encoding, depth.step) == (W, H, '32FC1', 4 * W)
    values = depth.data.view('<f4').reshape(H, W)
    assert np.isnan(values[0, 0]) and np.allclose(values.ravel()[1:], 0.8)
    _, info = messages['/camera/camera/color/camera_info'][0]
    assert (info.width, info.height, info.distortion_model) == (W, H, 'plumb_bob')
    assert np.allclose(info.k, [30, 0, 15.5, 0, 30, 11.5, 0, 0, 1])
    assert np.allclose(info.p, [30, 0, 15.5, 0, 0, 30, 11.5, 0, 0, 0, 1, 0])
    assert np.allclose(info.r, np.eye(3).ravel()) and np.allclose(info.d, 0.0)

    _, joints = messages['/joint_states'][3]
    assert list(joints.name) == list(PANDA_JOINT_NAMES) and len(joints.name) == 9
    assert joints.name[0] == 'panda_joint1' and joints.name[-1] == 'panda_finger_joint2'
    assert np.allclose(joints.position, 0.03) and len(joints.effort) == 0

    _, cloud = messages['/perception/cloud'][0]
    assert (cloud.height, cloud.width, cloud.point_step, cloud.header.frame_id) == \
        (1, 50, 12, 'panda_link0')          # the NaN point dropped, 50 of 199 kept
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z'] and cloud.is_dense
    dtype = np.dtype({'names': [f.name for f in cloud.fields], 'formats': ['<f4'] * 3,
                      'offsets': [f.offset for f in cloud.fields],
                      'itemsize': cloud.point_step})
    xyz = cloud.data.view(dtype)
    assert len(xyz) == 50 and np.all(np.abs(np.stack([xyz[a] for a in 'xyz'])) <= 1.0)
    _, colored = messages['/perception/cloud'][1]
    assert [f.name for f in colored.fields] == ['x', 'y', 'z', 'rgb']
    rgb = colored.data.reshape(-1, colored.point_step)[:, 12:16].copy().view('<u4').ravel()
    assert np.all(rgb == 0xFF8001)

    _, static = messages['/tf_static'][0]
    (transform,) = static.transforms
    assert (transform.header.frame_id, transform.child_frame_id) == \
        ('panda_link0', 'camera_color_optical_frame')
    q = transform.transform.rotation
    x, y, z, w = q.x, q.y, q.z, q.w
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    assert np.allclose(R, camera_pose()[:3, :3], atol=1e-12)
    assert connections['/tf_static'].ext.offered_qos_profiles[0].durability.name == \
        'TRANSIENT_LOCAL'
    assert [[t.child_frame_id for t in m.transforms] for _, m in messages['/tf']] == \
        [['cup'], ['cup', 'plate']]

    _, markers = messages['/resem3d/constraints'][0]
    kinds = [(m.ns, m.id, m.type, m.action) for m in markers.markers]
    assert kinds[0][3] == 3                                         # DELETEALL first
    assert kinds[1:] == [('anchors', 0, 2, 0), ('targets', 0, 2, 0), ('links', 0, 5, 0),
                         ('labels', 0, 9, 0), ('anchors', 1, 2, 0), ('labels', 1, 9, 0)]
    link = markers.markers[3]
    assert [(p.x, p.y, p.z) for p in link.points] == [(0.4, 0.1, 0.3), (0.5, 0.1, 0.1)]
    assert (link.color.r, link.color.g) == pytest.approx((235 / 255, 40 / 255))  # violated: red
    assert markers.markers[4].text == 'reach: 0.2'

    t_ns, residual = messages['/resem3d/residuals'][0]
    assert t_ns == stamp_ns(residual.stamp) == 60_000_000
    assert residual.stage == 'grasp' and list(residual.names) == ['reach', 'upright']
    assert np.allclose(residual.residuals, [0.2, 0.0])
    assert np.allclose(residual.tolerances, [0.01, 0.05])


def test_mcap_ros2_reader_decodes_every_message(bag):
    counts = Counter()
    residuals = []
    with open(bag, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == 'ros2'
        summary = reader.get_summary()
        for _, channel, message, ros_msg in reader.iter_decoded_messages(log_time_order=True):
            counts[channel.topic] += 1
            if channel.topic == '/resem3d/residuals':
                residuals.append((message.log_time, ros_msg.stage, list(ros_msg.names)))
            if channel.topic == '/joint_states':
                assert list(ros_msg.name) == list(PANDA_JOINT_NAMES)
            if channel.topic == '/camera/camera/color/image_raw':
                assert (ros_msg.width, ros_msg.height) == (W, H)
    assert dict(counts) == {topic: count for topic, (_, count) in EXPECTED.items()}
    assert residuals == [(60_000_000, 'grasp', ['reach', 'upright']),
                         (70_000_000, 'grasp', ['reach'])]
    schemas = {s.name: s for s in summary.schemas.values()}
    assert set(schemas) == {t for t, _ in EXPECTED.values()}
    assert {s.encoding for s in schemas.values()} == {'ros2msg'}
    assert schemas[RESIDUAL_TYPE].data.decode().startswith('builtin_interfaces/Time stamp\n')
    for channel in summary.channels.values():
        assert channel.message_encoding == 'cdr'
        assert channel.metadata['topic_type_hash'].startswith('RIHS01_')
        assert 'offered_qos_profiles' in channel.metadata


def test_rate_gate_keeps_a_grid_and_restarts_after_gaps():
    gate = RateGate(100.0)
    kept = [k for k in range(1000) if gate.due(k * 1_000_000)]       # 1 kHz for 1 s
    assert kept == list(range(0, 1000, 10))
    assert gate.due(5_000_000_000) and not gate.due(5_005_000_000) and gate.due(5_010_000_000)
    assert all(RateGate(None).due(t) for t in (0, 0, 1))
    with pytest.raises(ValueError):
        RateGate(0.0)


def test_recorder_rejects_bad_input(tmp_path):
    with McapRecorder(tmp_path / 'bad.mcap') as recorder:
        with pytest.raises(ValueError, match='one per joint'):
            recorder.write_joint_state(0.0, np.zeros(7))
        with pytest.raises(ValueError, match='t_s'):
            recorder.write_residuals(-1.0, 's', [], [], [])
        with pytest.raises(ValueError, match='lengths differ'):
            recorder.write_residuals(0.0, 's', ['a'], [0.1, 0.2], [0.0])
    assert recorder.close() == {}
    with pytest.raises(ValueError, match='after close'):
        recorder.write_residuals(0.0, 's', [], [], [])
