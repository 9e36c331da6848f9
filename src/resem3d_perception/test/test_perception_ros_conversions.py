# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Image, CameraInfo, PointCloud2 and Mark conversions on rosbags messages (CDR round
trips through the Jazzy typestore with the resem3d_msgs types registered)."""

from __future__ import annotations

import array

import numpy as np
import pytest

from resem3d_constraints.ros_types import (make_resem3d_typestore, RclpyMessageTypes,
                                           RosbagsMessageTypes)
from resem3d_perception import Intrinsics, postprocess_masks, SimSegmenter, draw_marks
from resem3d_perception.errors import MessageFormatError, PerceptionInputError
from resem3d_perception.ros_conversions import (
    _bytes_of, _octets, camera_info_to_intrinsics, cloud_to_pointcloud2, depth_to_image,
    image_to_array, image_to_depth_m, image_to_rgb, intrinsics_to_camera_info, make_header,
    marks_from_msgs, marks_to_msgs, observe_response_fields, part_labels_from_msg,
    pointcloud2_dtype,
    pointcloud2_to_arrays, rgb_to_image, stamp_to_ns, transform_to_matrix)
from resem3d_perception.testing import synthetic_part_frame

STAMP_NS = 1_700_000_123_456_789


@pytest.fixture(scope='module')
def typestore():
    return make_resem3d_typestore()


@pytest.fixture(scope='module')
def types(typestore):
    return RosbagsMessageTypes(typestore)


def cdr(typestore, msg):
    """Serialise and deserialise ``msg`` (the bytes rclpy would send)."""
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    return typestore.deserialize_cdr(bytes(raw), msg.__msgtype__)


def raw_image(types, data: bytes, *, height: int, width: int, step: int, encoding: str,
              bigendian: bool = False):
    return types.get('sensor_msgs/msg/Image')(
        header=make_header(types, STAMP_NS, 'cam'), height=height, width=width,
        encoding=encoding, is_bigendian=int(bigendian), step=step,
        data=np.frombuffer(data, dtype=np.uint8).copy())


# ----------------------------------------------------------------------------- images

def test_rgb8_round_trip_through_cdr(types, typestore):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    msg = cdr(typestore, rgb_to_image(types, rgb, STAMP_NS, 'camera_color_optical_frame'))
    assert (msg.encoding, msg.height, msg.width, msg.step) == ('rgb8', 7, 5, 15)
    assert msg.header.frame_id == 'camera_color_optical_frame'
    assert stamp_to_ns(msg.header) == STAMP_NS
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_bgr8_is_stored_blue_first_and_read_back_as_rgb(types, typestore):
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 0] = 200                           # red
    msg = cdr(typestore, rgb_to_image(types, rgb, STAMP_NS, 'cam', encoding='bgr8'))
    assert list(np.asarray(msg.data[:3])) == [0, 0, 200]
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_row_padding_is_dropped(types):
    height, width, pad = 3, 4, 5
    pixels = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    rows = [pixels[r].tobytes() + b'\xee' * pad for r in range(height)]
    msg = raw_image(types, b''.join(rows), height=height, width=width, step=width * 3 + pad,
                    encoding='rgb8')
    np.testing.assert_array_equal(image_to_rgb(msg), pixels)


def test_bgra8_and_mono8_become_rgb(types):
    bgra = np.array([[[10, 20, 30, 255]]], dtype=np.uint8)
    msg = raw_image(types, bgra.tobytes(), height=1, width=1, step=4, encoding='bgra8')
    assert image_to_rgb(msg).tolist() == [[[30, 20, 10]]]
    mono = raw_image(types, bytes([7, 9]), height=1, width=2, step=2, encoding='mono8')
    assert image_to_rgb(mono).tolist() == [[[7, 7, 7], [9, 9, 9]]]


def test_16uc1_millimetres_become_metres_with_nan_for_zero(types, typestore):
    mm = np.array([[0, 1234], [65535, 500]], dtype='<u2')
    msg = cdr(typestore, raw_image(types, mm.tobytes(), height=2, width=2, step=4,
                                   encoding='16UC1'))
    depth = image_to_depth_m(msg)
    assert depth.dtype == np.float32
    assert np.isnan(depth[0, 0])
    np.testing.assert_allclose(depth[0, 1], 1.234, rtol=1e-6)
    np.testing.assert_allclose(depth[1], [65.535, 0.5], rtol=1e-6)
    np.testing.assert_allclose(image_to_depth_m(msg, depth_unit_m=0.0001)[0, 1], 0.1234,
                               rtol=1e-6)


def test_big_endian_and_padded_16uc1(types):
    mm = np.array([[1000, 2], [3, 4000]], dtype='>u2')
    data = b''.join(row.tobytes() + b'\x00\x00' for row in mm)
    msg = raw_image(types, data, height=2, width=2, step=6, encoding='16UC1', bigendian=True)
    np.testing.assert_array_equal(image_to_array(msg), mm.astype(np.uint16))
    np.testing.assert_allclose(image_to_depth_m(msg), [[1.0, 0.002], [0.003, 4.0]], rtol=1e-6)


def test_32fc1_round_trip_keeps_nan_for_invalid(types, typestore):
    depth = np.array([[0.5, np.nan, 0.0], [np.inf, 1.25, -1.0]])
    msg = cdr(typestore, depth_to_image(types, depth, STAMP_NS, 'cam'))
    assert msg.encoding == '32FC1' and msg.step == 12
    back = image_to_depth_m(msg)
    np.testing.assert_array_equal(np.isnan(back), [[False, True, True], [True, False, True]])
    assert back[0, 0] == 0.5 and back[1, 1] == 1.25


def test_16uc1_writer_rounds_and_invalidates(types, typestore):
    depth = np.array([[0.5004, np.nan, 70.0]])
    msg = cdr(typestore, depth_to_image(types, depth, STAMP_NS, 'cam', encoding='16UC1'))
    assert image_to_array(msg).tolist() == [[500, 0, 0]]


@pytest.mark.parametrize('change, match', [
    ({'encoding': 'yuv422'}, 'unsupported encoding'),
    ({'step': 5}, 'shorter than a row'),
    ({'height': 3}, 'expected step x height'),
    ({'width': 0}, 'empty'),
])
def test_malformed_images_raise_typed_errors(types, change, match):
    fields = dict(height=2, width=2, step=6, encoding='rgb8')
    fields.update(change)
    msg = raw_image(types, bytes(12), **fields)
    with pytest.raises(MessageFormatError, match=match):
        image_to_array(msg)


def test_readers_reject_the_wrong_kind_of_image(types):
    depth = raw_image(types, bytes(8), height=2, width=2, step=4, encoding='16UC1')
    with pytest.raises(MessageFormatError, match='colour image'):
        image_to_rgb(depth)
    colour = raw_image(types, bytes(12), height=2, width=2, step=6, encoding='rgb8')
    with pytest.raises(MessageFormatError, match='depth image'):
        image_to_depth_m(colour)
    with pytest.raises(PerceptionInputError):
        rgb_to_image(types, np.zeros((2, 2), np.uint8), 0, 'cam')


def test_rclpy_form_of_byte_fields():
    octets = _octets(RclpyMessageTypes(), np.array([[1, 2], [3, 255]], dtype=np.uint8))
    assert isinstance(octets, array.array) and octets.typecode == 'B'
    assert list(octets) == [1, 2, 3, 255]
    np.testing.assert_array_equal(_bytes_of(octets), [1, 2, 3, 255])
    np.testing.assert_array_equal(_bytes_of(b'\x05\x06'), [5, 6])
    np.testing.assert_array_equal(_bytes_of([7, 8]), [7, 8])


# ----------------------------------------------------------------------------- camera info

def test_camera_info_round_trip(types, typestore):
    k = Intrinsics(width=640, height=480, fx=615.5, fy=614.25, cx=319.5, cy=241.0)
    msg = cdr(typestore, intrinsics_to_camera_info(types, k, STAMP_NS, 'cam'))
    assert msg.distortion_model == 'plumb_bob' and len(msg.d) == 5
    assert list(msg.p[:4]) == [615.5, 0.0, 319.5, 0.0]
    back = camera_info_to_intrinsics(msg, depth_min_m=0.2, depth_max_m=2.0)
    assert back == Intrinsics(640, 480, 615.5, 614.25, 319.5, 241.0, 0.2, 2.0)


def test_camera_info_rejects_uncalibrated_and_binned(types):
    k = Intrinsics(width=64, height=48, fx=60.0, fy=60.0, cx=31.5, cy=23.5)
    msg = intrinsics_to_camera_info(types, k, 0, 'cam')
    msg.k = np.zeros(9)
    with pytest.raises(MessageFormatError, match='uncalibrated'):
        camera_info_to_intrinsics(msg)
    msg = intrinsics_to_camera_info(types, k, 0, 'cam')
    msg.binning_x = 2
    with pytest.raises(MessageFormatError, match='binning'):
        camera_info_to_intrinsics(msg)
    msg = intrinsics_to_camera_info(types, k, 0, 'cam')
    msg.k = np.array([60.0, 0, 100.0, 0, 60.0, 23.5, 0, 0, 1])      # cx outside the image
    with pytest.raises(MessageFormatError, match='cx'):
        camera_info_to_intrinsics(msg)


# ----------------------------------------------------------------------------- point clouds

def test_pointcloud2_pack_and_parse_round_trip(types, typestore):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    labels = rng.integers(0, 9, 50).astype(np.uint32)
    msg = cdr(typestore, cloud_to_pointcloud2(types, points, STAMP_NS, 'fr3_link0',
                                              colors=colors, labels=labels))
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1), ('label', 16, 6, 1)]
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 50, 20, 1000)
    assert msg.is_dense and not msg.is_bigendian
    parsed = pointcloud2_to_arrays(msg)
    np.testing.assert_array_equal(parsed.points, points)
    np.testing.assert_array_equal(parsed.colors, colors)
    np.testing.assert_array_equal(parsed.labels, labels)
    assert (parsed.frame_id, parsed.stamp_ns) == ('fr3_link0', STAMP_NS)


def test_rgb_is_the_little_endian_0x00rrggbb_word(types):
    msg = cloud_to_pointcloud2(types, np.zeros((1, 3)), 0, 'b',
                               colors=np.array([[0x12, 0x34, 0x56]], dtype=np.uint8))
    assert list(np.asarray(msg.data[12:16])) == [0x56, 0x34, 0x12, 0x00]


def _fields(types, spec):
    cls = types.get('sensor_msgs/msg/PointField')
    return [cls(name=n, offset=o, datatype=d, count=1) for n, o, d in spec]


def test_realsense_layout_xyz_padded_and_rgb_at_16(types, typestore):
    xyz = np.array([[0.1, -0.2, 0.7], [1.0, 2.0, 3.0]], dtype='<f4')
    rgb = [(255, 128, 1), (3, 4, 5)]
    data = b''.join(xyz[i].tobytes() + b'\x00' * 4 + bytes([b, g, r, 0])
                    for i, (r, g, b) in enumerate(rgb))
    msg = types.get('sensor_msgs/msg/PointCloud2')(
        header=make_header(types, 5, 'camera_depth_optical_frame'), height=1, width=2,
        fields=_fields(types, [('x', 0, 7), ('y', 4, 7), ('z', 8, 7), ('rgb', 16, 7)]),
        is_bigendian=False, point_step=20, row_step=40,
        data=np.frombuffer(data, np.uint8).copy(), is_dense=True)
    parsed = pointcloud2_to_arrays(cdr(typestore, msg))
    np.testing.assert_array_equal(parsed.points, xyz)
    assert parsed.colors.tolist() == [list(c) for c in rgb]
    assert parsed.labels is None


def test_organised_pcl_layout_with_row_padding(types):
    # PCL PointXYZRGB: xyz at 0, rgb at 16, point_step 32; 2x2 organised, 8 pad bytes per row.
    dtype = pointcloud2_dtype(_fields(types, [('x', 0, 7), ('y', 4, 7), ('z', 8, 7),
                                              ('rgb', 16, 7)]), 32)
    records = np.zeros((2, 2), dtype=dtype)
    records['x'] = [[1, 2], [3, 4]]
    records['z'] = np.nan
    records['rgb'] = np.array([[0xFF0000, 0x00FF00], [0x0000FF, 0x010203]],
                              dtype='<u4').view('<f4')
    data = b''.join(records[r].tobytes() + b'\x77' * 8 for r in range(2))
    msg = types.get('sensor_msgs/msg/PointCloud2')(
        header=make_header(types, 0, 'cam'), height=2, width=2,
        fields=_fields(types, [('x', 0, 7), ('y', 4, 7), ('z', 8, 7), ('rgb', 16, 7)]),
        is_bigendian=False, point_step=32, row_step=72,
        data=np.frombuffer(data, np.uint8).copy(), is_dense=False)
    parsed = pointcloud2_to_arrays(msg)
    assert parsed.points[:, 0].tolist() == [1, 2, 3, 4]
    assert np.all(np.isnan(parsed.points[:, 2]))
    assert parsed.colors.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 2, 3]]


def test_big_endian_cloud_with_int16_label(types):
    dtype = np.dtype({'names': ['x', 'y', 'z', 'label'], 'formats': ['>f4'] * 3 + ['>i2'],
                      'offsets': [0, 4, 8, 12], 'itemsize': 14})
    records = np.zeros(3, dtype=dtype)
    records['y'] = [0.5, 1.5, 2.5]
    records['label'] = [1, 300, 7]
    msg = types.get('sensor_msgs/msg/PointCloud2')(
        header=make_header(types, 0, 'cam'), height=1, width=3,
        fields=_fields(types, [('x', 0, 7), ('y', 4, 7), ('z', 8, 7), ('label', 12, 3)]),
        is_bigendian=True, point_step=14, row_step=42,
        data=np.frombuffer(records.tobytes(), np.uint8).copy(), is_dense=True)
    parsed = pointcloud2_to_arrays(msg)
    assert parsed.points[:, 1].tolist() == [0.5, 1.5, 2.5]
    assert parsed.labels.tolist() == [1, 300, 7] and parsed.labels.dtype == np.uint32


@pytest.mark.parametrize('spec, step, match', [
    ([('x', 0, 7), ('y', 4, 7)], 12, 'no field z'),
    ([('x', 0, 7), ('y', 4, 7), ('z', 8, 9)], 12, 'unknown datatype'),
    ([('x', 0, 7), ('y', 4, 7), ('z', 10, 7)], 12, 'does not fit'),
    ([('x', 0, 7), ('x', 4, 7), ('z', 8, 7)], 12, 'duplicate'),
])
def test_bad_cloud_layouts_raise(types, spec, step, match):
    msg = types.get('sensor_msgs/msg/PointCloud2')(
        header=make_header(types, 0, 'cam'), height=1, width=1, fields=_fields(types, spec),
        is_bigendian=False, point_step=step, row_step=step, data=np.zeros(step, np.uint8),
        is_dense=True)
    with pytest.raises(MessageFormatError, match=match):
        pointcloud2_to_arrays(msg)


def test_cloud_data_length_is_checked(types):
    msg = cloud_to_pointcloud2(types, np.zeros((4, 3)), 0, 'b')
    msg.width = 5
    with pytest.raises(MessageFormatError, match='row_step'):
        pointcloud2_to_arrays(msg)


# ----------------------------------------------------------------------------- marks

def _marked():
    frame = synthetic_part_frame(96, 72)
    segmenter = SimSegmenter()
    segmenter.observe(frame)
    masks = postprocess_masks(segmenter.segment(frame.color))
    return frame, draw_marks(frame.color, masks)


def test_marks_round_trip_with_masks(types, typestore):
    frame, marked = _marked()
    assert len(marked.marks) >= 4
    centroids = {i: np.array([0.1 * i, 0.0, 0.5]) for i in marked.marks}
    centroids[min(marked.marks)] = None
    msgs = marks_to_msgs(types, marked.marks, centroids_base=centroids)
    msgs = [cdr(typestore, m) for m in msgs]
    assert [m.id for m in msgs] == sorted(marked.marks)
    first = msgs[0]
    assert not first.has_centroid and msgs[1].has_centroid
    assert msgs[1].centroid_base.x == pytest.approx(0.1 * msgs[1].id)
    back = marks_from_msgs(msgs, frame.color.shape[:2])
    assert list(back) == list(marked.marks)
    for i, mark in marked.marks.items():
        np.testing.assert_array_equal(back[i].mask.mask, mark.mask.mask)
        assert back[i].anchor_px == mark.anchor_px and back[i].box_px == mark.box_px
        assert back[i].mask.label == mark.mask.label and back[i].mask.area_px == mark.mask.area_px


def test_marks_without_masks_cannot_be_lifted(types):
    frame, marked = _marked()
    msgs = marks_to_msgs(types, marked.marks, include_masks=False)
    assert all(len(m.mask) == 0 and m.area_px > 0 for m in msgs)
    with pytest.raises(MessageFormatError, match='include_masks'):
        marks_from_msgs(msgs, frame.color.shape[:2])
    with pytest.raises(MessageFormatError, match='does not fit'):
        marks_from_msgs(marks_to_msgs(types, marked.marks), (10, 10))


def test_bad_stamp_is_a_message_format_error(types):
    header = make_header(types, 0, 'cam')
    header.stamp.nanosec = 2_000_000_000
    with pytest.raises(MessageFormatError, match='nanosec'):
        stamp_to_ns(header)


def test_transform_to_matrix_normalises_the_quaternion(types):
    msg = types.get('geometry_msgs/msg/TransformStamped')(
        header=make_header(types, 0, 'fr3_link0'), child_frame_id='cam',
        transform=types.get('geometry_msgs/msg/Transform')(
            translation=types.get('geometry_msgs/msg/Vector3')(x=1.0, y=2.0, z=3.0),
            rotation=types.get('geometry_msgs/msg/Quaternion')(x=0.0, y=0.0, z=2.0, w=0.0)))
    T = transform_to_matrix(msg)
    np.testing.assert_allclose(T[:3, :3], np.diag([-1.0, -1.0, 1.0]), atol=1e-12)
    np.testing.assert_array_equal(T[:3, 3], [1.0, 2.0, 3.0])
    msg.transform.rotation.z = 0.0
    with pytest.raises(MessageFormatError, match='quaternion'):
        transform_to_matrix(msg.transform)


def test_observe_response_fields_make_a_complete_response(types, typestore):
    from resem3d_perception.config import PerceptionConfig
    from resem3d_perception.service import PerceptionService, ServiceConfig
    from resem3d_perception.testing import box_scene

    T_box = np.eye(4)
    T_box[:3, 3] = (0.5, 0.0, 0.0)
    scene = box_scene(T_box)
    service = PerceptionService(PerceptionConfig(), ServiceConfig(sync_labels=True,
                                                                  scene='lab@7'))
    service.set_intrinsics(scene.intrinsics)
    service.add_color(STAMP_NS, scene.color, 'camera_color_optical_frame')
    service.add_depth(STAMP_NS, scene.depth_m)
    service.add_labels(STAMP_NS, scene.part_mask, scene.labels)
    perceived = service.observe(scene.T_base_cam)
    response_cls = types.get('resem3d_msgs/srv/Observe_Response')
    for draw in (True, False):
        fields = observe_response_fields(types, perceived, service.region_set('fr3_link0'),
                                         base_frame='fr3_link0', draw_marks=draw)
        msg = cdr(typestore, response_cls(**fields))
        assert msg.success and msg.scene == 'lab@7' and msg.header.frame_id == 'fr3_link0'
        assert stamp_to_ns(msg.header) == STAMP_NS
        assert msg.color.header.frame_id == 'camera_color_optical_frame'
        np.testing.assert_array_equal(image_to_rgb(msg.color), scene.color)
        np.testing.assert_allclose(image_to_depth_m(msg.depth), scene.depth_m)
        assert camera_info_to_intrinsics(msg.camera_info) == scene.intrinsics
        assert [m.id for m in msg.marks] == [1] and msg.marks[0].label == 'box/body'
        assert msg.marks[0].has_centroid and len(msg.regions.regions) == 0
        assert (msg.marked_image.height > 0) == draw
    p = msg.camera_pose.position
    np.testing.assert_allclose([p.x, p.y, p.z], scene.T_base_cam[:3, 3])


def test_part_labels_read_back_and_bad_ones_are_refused(types, typestore):
    mask = np.array([[0, 1], [2, 1]], dtype='<i4')
    header = make_header(types, 3_000_000_000, 'camera_color_optical_frame')
    image = types.get('sensor_msgs/msg/Image')(
        header=header, height=2, width=2, encoding='32SC1', is_bigendian=0, step=8,
        data=np.frombuffer(mask.tobytes(), dtype=np.uint8))
    cls = types.get('resem3d_msgs/msg/PartLabels')
    msg = cls(header=header, image=image, labels=['', 'flask/neck', 'flask/body'])
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    stamp, decoded, labels = part_labels_from_msg(
        typestore.deserialize_cdr(bytes(raw), msg.__msgtype__))
    assert stamp == 3_000_000_000 and labels == ('', 'flask/neck', 'flask/body')
    np.testing.assert_array_equal(decoded, mask)
    for bad in (cls(header=header, image=image, labels=['', 'flask/neck']),
                cls(header=header, image=image, labels=['x', 'y', 'z'])):
        with pytest.raises(MessageFormatError, match='part labels'):
            part_labels_from_msg(bad)
    image.encoding = '16UC1'
    with pytest.raises(MessageFormatError, match='32SC1'):
        part_labels_from_msg(cls(header=header, image=image, labels=['', 'a', 'b']))
