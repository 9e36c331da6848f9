# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""ROS messages of perception <-> numpy and the perception core types, without ROS.

Every builder takes a :class:`resem3d_constraints.ros_types.MessageTypes`, so the same code
makes rclpy messages in the perception node and rosbags messages in the tests; readers only
read attributes, so they accept either.

* ``sensor_msgs/Image`` <-> numpy: :func:`image_to_array` (any supported encoding, honouring
  ``step`` padding and ``is_bigendian``), :func:`image_to_rgb` (``rgb8``, ``bgr8``, ``rgba8``,
  ``bgra8``, ``mono8`` -> ``(H, W, 3)`` uint8 RGB), :func:`image_to_depth_m` (``16UC1`` /
  ``mono16`` in ``depth_unit_m`` (1 mm, RealSense) or ``32FC1`` metres -> ``(H, W)`` float32
  metres, NaN where there is no measurement); :func:`rgb_to_image`, :func:`depth_to_image`.
* ``sensor_msgs/CameraInfo`` <-> :class:`~resem3d_perception.cloud.Intrinsics`
  (:func:`camera_info_to_intrinsics`, :func:`intrinsics_to_camera_info`). The core model has
  no distortion: the colour stream and the depth aligned to it are taken as rectified.
* ``sensor_msgs/PointCloud2``: :func:`cloud_to_pointcloud2` packs ``x, y, z`` (float32),
  ``rgb`` (float32 holding the little-endian uint32 ``0x00RRGGBB``, as RViz reads it) and
  ``label`` (uint32); :func:`pointcloud2_to_arrays` parses any layout through a numpy
  structured dtype built from ``fields`` (:func:`pointcloud2_dtype`), never a fixed
  ``point_step``: ours (``point_step`` 20), RealSense's (xyz padded to 16, ``rgb`` at 16,
  ``point_step`` 20, the colour bytes stored B, G, R, which is that same uint32), PCL's.
* ``resem3d_msgs/Mark`` <-> :class:`~resem3d_perception.marks.Mark` (:func:`marks_to_msgs`,
  :func:`marks_from_msgs`): the mask travels as its box and one byte per box pixel.
* ``std_msgs/Header`` with stamps in integer nanoseconds (:func:`make_header`,
  :func:`stamp_to_ns`); ``geometry_msgs/Transform`` (a tf lookup) -> (4, 4)
  (:func:`transform_to_matrix`). Poses, regions, programs and statuses convert with
  :mod:`resem3d_constraints.ros_conversions`.
* ``resem3d_msgs/srv/Observe`` response: :func:`observe_response_fields` gives the value of
  every field for an observation, so the node only assigns them.

Errors are :class:`~resem3d_perception.errors.MessageFormatError` (one line, naming the field).
"""

from __future__ import annotations

import array
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.transform import Rotation

from resem3d_constraints.exceptions import MessageConversionError
from resem3d_constraints.ros_conversions import (RegionSet, pose_to_msg, region_array_to_msg,
                                                 time_from_msg, time_to_msg)

from .cloud import DEFAULT_DEPTH_MAX_M, DEFAULT_DEPTH_MIN_M, Intrinsics
from .errors import MessageFormatError, PerceptionInputError
from .marks import Mark
from .segmenters.base import Mask

if TYPE_CHECKING:
    from .service import PerceivedFrame

__all__ = ['DEPTH_ENCODINGS', 'IMAGE_ENCODINGS', 'PointCloudArrays', 'RGB_ENCODINGS',
           'camera_info_to_intrinsics', 'cloud_to_pointcloud2', 'depth_to_image',
           'image_to_array', 'image_to_depth_m', 'image_to_rgb', 'intrinsics_to_camera_info',
           'make_header', 'marks_from_msgs', 'marks_to_msgs', 'observe_response_fields',
           'part_labels_from_msg',
           'pack_rgb', 'pointcloud2_dtype', 'pointcloud2_to_arrays', 'rgb_to_image',
           'stamp_to_ns', 'transform_to_matrix', 'unpack_rgb']

#: Encoding -> (numpy element type, channels) of the images this module reads and writes.
IMAGE_ENCODINGS: dict[str, tuple[str, int]] = {
    'rgb8': ('u1', 3), 'bgr8': ('u1', 3), 'rgba8': ('u1', 4), 'bgra8': ('u1', 4),
    'mono8': ('u1', 1), '8UC1': ('u1', 1), '8UC3': ('u1', 3), 'mono16': ('u2', 1),
    '16UC1': ('u2', 1), '32FC1': ('f4', 1), '32SC1': ('i4', 1),
}
#: Encodings :func:`image_to_rgb` reads.
RGB_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
#: Encodings :func:`image_to_depth_m` reads (integer ones are in ``depth_unit_m``).
DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1')
#: ``sensor_msgs/PointField`` datatype constant -> numpy element type.
POINT_FIELD_TYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}
_FLOAT32, _UINT32 = 7, 6


# ----------------------------------------------------------------------------- helpers

def _octets(types: Any, data: np.ndarray) -> Any:
    """A ``uint8[]`` field value holding the bytes of ``data``, in the backend's form.

    rclpy holds it as ``array.array('B')``, filled here with one ``frombytes`` (a list of a
    million ints would cost ~0.1 s); rosbags as a numpy array.
    """
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    empty = types.array((), 'uint8')
    if isinstance(empty, array.array):
        empty.frombytes(raw.tobytes())
        return empty
    return types.array(raw, 'uint8')


def _bytes_of(data: Any) -> np.ndarray:
    """The ``uint8[]`` field ``data`` (array.array, bytes, numpy or a list) as a uint8 array."""
    if isinstance(data, np.ndarray):
        return data.astype(np.uint8, copy=False).reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise MessageFormatError(f'{name}: expected an unsigned integer, got {value!r}')
    return int(value)


def make_header(types: Any, stamp_ns: int, frame_id: str) -> Any:
    """A ``std_msgs/Header`` at ``stamp_ns`` (integer ns, >= 0) in ``frame_id``."""
    return types.get('std_msgs/msg/Header')(stamp=time_to_msg(types, int(stamp_ns)),
                                            frame_id=str(frame_id))


def stamp_to_ns(stamp: Any) -> int:
    """Integer nanoseconds of a ``builtin_interfaces/Time`` (or of a header's stamp).

    Raises:
        MessageFormatError: For a negative time or ``nanosec`` outside [0, 1e9).
    """
    try:
        return time_from_msg(getattr(stamp, 'stamp', stamp))
    except MessageConversionError as error:
        raise MessageFormatError(str(error)) from None


def transform_to_matrix(transform: Any) -> np.ndarray:
    """(4, 4) of a ``geometry_msgs/Transform`` (or a ``TransformStamped``, e.g. a tf lookup);
    the quaternion is normalised (tf sums of rotations drift from unit length).

    Raises:
        MessageFormatError: On non-finite values or a zero quaternion.
    """
    transform = getattr(transform, 'transform', transform)
    t, q = transform.translation, transform.rotation
    position = np.array([t.x, t.y, t.z], dtype=float)
    quat = np.array([q.x, q.y, q.z, q.w], dtype=float)
    if not (np.all(np.isfinite(position)) and np.all(np.isfinite(quat))) \
            or np.linalg.norm(quat) < 1e-9:
        raise MessageFormatError(f'transform: needs a finite translation and a non-zero '
                                 f'quaternion, got {position.tolist()} {quat.tolist()}')
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(quat / np.linalg.norm(quat)).as_matrix()
    T[:3, 3] = position
    return T


# ----------------------------------------------------------------------------- images

def image_to_array(msg: Any) -> np.ndarray:
    """The pixels of a ``sensor_msgs/Image``: ``(H, W)`` for one channel, else ``(H, W, C)``,
    in native byte order (a new array; row padding (``step``) is dropped).

    Raises:
        MessageFormatError: On an encoding not in :data:`IMAGE_ENCODINGS`, a zero size, a
            ``step`` shorter than a row, or data whose length is not ``step * height``.
    """
    encoding = str(msg.encoding)
    if encoding not in IMAGE_ENCODINGS:
        raise MessageFormatError(f'image: unsupported encoding {encoding!r}; supported: '
                                 f'{", ".join(IMAGE_ENCODINGS)}')
    kind, channels = IMAGE_ENCODINGS[encoding]
    height, width, step = (_count(f'image.{n}', getattr(msg, n))
                           for n in ('height', 'width', 'step'))
    dtype = np.dtype(kind).newbyteorder('>' if msg.is_bigendian else '<')
    row = width * channels * dtype.itemsize
    if height == 0 or width == 0:
        raise MessageFormatError(f'image: empty ({width}x{height} px)')
    if step < row:
        raise MessageFormatError(f'image: step {step} B is shorter than a row of {width} px '
                                 f'{encoding} ({row} B)')
    data = _bytes_of(msg.data)
    if data.size != step * height:
        raise MessageFormatError(f'image: data has {data.size} B, expected step x height = '
                                 f'{step} x {height} = {step * height} B')
    rows = np.ascontiguousarray(data.reshape(height, step)[:, :row])
    pixels = rows.view(dtype).reshape((height, width, channels) if channels > 1
                                      else (height, width))
    return pixels.astype(dtype.newbyteorder('='))


def image_to_rgb(msg: Any) -> np.ndarray:
    """A colour image as ``(H, W, 3)`` uint8 RGB (see :data:`RGB_ENCODINGS`).

    Raises:
        MessageFormatError: On another encoding or a malformed image.
    """
    if msg.encoding not in RGB_ENCODINGS:
        raise MessageFormatError(f'colour image: unsupported encoding {msg.encoding!r}; '
                                 f'supported: {", ".join(RGB_ENCODINGS)}')
    pixels = image_to_array(msg)
    if msg.encoding == 'mono8':
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if msg.encoding.startswith('bgr'):
        pixels = pixels[:, :, 2::-1]
    return np.ascontiguousarray(pixels[:, :, :3])


def image_to_depth_m(msg: Any, depth_unit_m: float = 0.001) -> np.ndarray:
    """A depth image as ``(H, W)`` float32 metres along the optical axis, NaN where invalid.

    Args:
        msg: ``16UC1`` / ``mono16`` (integer depth in ``depth_unit_m``; 0 = no measurement,
            REP 118) or ``32FC1`` (metres; 0, NaN and inf = no measurement).
        depth_unit_m: Metres per integer unit (RealSense D4xx: 1 mm).

    Raises:
        MessageFormatError: On another encoding, a malformed image or a bad unit.
    """
    if msg.encoding not in DEPTH_ENCODINGS:
        raise MessageFormatError(f'depth image: unsupported encoding {msg.encoding!r}; '
                                 f'supported: {", ".join(DEPTH_ENCODINGS)}')
    if not (isinstance(depth_unit_m, (int, float)) and 0.0 < depth_unit_m < math.inf):
        raise MessageFormatError(f'depth_unit_m must be a positive number, got {depth_unit_m!r}')
    raw = image_to_array(msg)
    depth = raw.astype(np.float32)
    if raw.dtype.kind == 'u':
        depth *= np.float32(depth_unit_m)
    depth[~(depth > 0.0) | ~np.isfinite(depth)] = np.nan
    return depth


def part_labels_from_msg(msg: Any) -> tuple[int, np.ndarray, tuple[str, ...]]:
    """A ``resem3d_msgs/PartLabels`` (simulation's ground truth) as ``(stamp [ns], (H, W)
    int32 part mask indexing the labels, label table)``.

    Raises:
        MessageFormatError: On an image that is not ``32SC1``, a label table whose first entry
            is not '' (no part), or a pixel that indexes no label.
    """
    if msg.image.encoding != '32SC1':
        raise MessageFormatError(f'part labels: image encoding must be 32SC1, got '
                                 f'{msg.image.encoding!r}')
    mask = image_to_array(msg.image).astype(np.int32)
    labels = tuple(str(label) for label in msg.labels)
    if not labels or labels[0] != '':
        raise MessageFormatError("part labels: labels[0] must be '' (no part)")
    if mask.min() < 0 or mask.max() >= len(labels):
        raise MessageFormatError(f'part labels: pixel values must be in [0, {len(labels) - 1}]'
                                 f', got [{mask.min()}, {mask.max()}]')
    return stamp_to_ns(msg.header), mask, labels


def _image(types: Any, pixels: np.ndarray, encoding: str, stamp_ns: int,
           frame_id: str) -> Any:
    """A ``sensor_msgs/Image`` of contiguous little-endian ``pixels`` (no row padding)."""
    kind, _ = IMAGE_ENCODINGS[encoding]
    data = np.ascontiguousarray(pixels, dtype=np.dtype(kind).newbyteorder('<'))
    height, width = data.shape[:2]
    return types.get('sensor_msgs/msg/Image')(
        header=make_header(types, stamp_ns, frame_id), height=height, width=width,
        encoding=encoding, is_bigendian=0, step=data.nbytes // height if height else 0,
        data=_octets(types, data))


def rgb_to_image(types: Any, rgb: np.ndarray, stamp_ns: int, frame_id: str,
                 encoding: str = 'rgb8') -> Any:
    """A ``sensor_msgs/Image`` (``rgb8`` or ``bgr8``) of an ``(H, W, 3)`` uint8 RGB image.

    Raises:
        PerceptionInputError: On a malformed image or another encoding.
    """
    if encoding not in ('rgb8', 'bgr8'):
        raise PerceptionInputError(f'rgb_to_image: encoding must be rgb8 or bgr8, got '
                                   f'{encoding!r}')
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise PerceptionInputError(f'rgb_to_image: expected a non-empty (H, W, 3) uint8 image, '
                                   f'got {image.dtype} {image.shape}')
    return _image(types, image[:, :, ::-1] if encoding == 'bgr8' else image, encoding,
                  stamp_ns, frame_id)


def depth_to_image(types: Any, depth_m: np.ndarray, stamp_ns: int, frame_id: str,
                   encoding: str = '32FC1', depth_unit_m: float = 0.001) -> Any:
    """A ``sensor_msgs/Image`` of an ``(H, W)`` depth image in metres.

    Args:
        depth_m: Depth along the optical axis [m]; NaN, inf and values <= 0 are invalid.
        encoding: ``32FC1`` (metres, NaN where invalid) or ``16UC1`` (``depth_unit_m`` units,
            0 where invalid or beyond the 16-bit range).

    Raises:
        PerceptionInputError: On a malformed image or another encoding.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2 or depth.size == 0:
        raise PerceptionInputError(f'depth_to_image: expected a non-empty (H, W) image, got '
                                   f'shape {depth.shape}')
    valid = np.isfinite(depth) & (depth > 0.0)
    if encoding == '32FC1':
        return _image(types, np.where(valid, depth, np.nan).astype(np.float32), encoding,
                      stamp_ns, frame_id)
    if encoding != '16UC1':
        raise PerceptionInputError(f'depth_to_image: encoding must be 32FC1 or 16UC1, got '
                                   f'{encoding!r}')
    units = np.rint(np.where(valid, depth, 0.0) / depth_unit_m)
    units[(units > np.iinfo(np.uint16).max) | ~valid] = 0
    return _image(types, units.astype(np.uint16), encoding, stamp_ns, frame_id)


# ----------------------------------------------------------------------------- camera info

def camera_info_to_intrinsics(msg: Any, depth_min_m: float = DEFAULT_DEPTH_MIN_M,
                              depth_max_m: float = DEFAULT_DEPTH_MAX_M) -> Intrinsics:
    """The pinhole :class:`Intrinsics` of a ``sensor_msgs/CameraInfo`` (from its ``k``).

    Distortion coefficients are ignored (the colour stream and the depth aligned to it are
    used as rectified images, as RealSense publishes them).

    Raises:
        MessageFormatError: On an uncalibrated camera (``k`` all zero), binning or a region of
            interest other than the full image (not supported), or invalid values.
    """
    k = np.asarray(msg.k, dtype=float).reshape(-1)
    if k.size != 9 or not np.any(k):
        raise MessageFormatError('camera_info: k is not set (an uncalibrated camera)')
    if max(int(msg.binning_x), int(msg.binning_y)) > 1:
        raise MessageFormatError(f'camera_info: binning {msg.binning_x}x{msg.binning_y} is not '
                                 'supported')
    roi = msg.roi
    if (roi.width or roi.height) and (roi.x_offset or roi.y_offset
                                      or (roi.width, roi.height) != (msg.width, msg.height)):
        raise MessageFormatError('camera_info: a region of interest is not supported')
    try:
        return Intrinsics(width=int(msg.width), height=int(msg.height), fx=k[0], fy=k[4],
                          cx=k[2], cy=k[5], depth_min_m=depth_min_m, depth_max_m=depth_max_m)
    except PerceptionInputError as error:
        raise MessageFormatError(f'camera_info: {error}') from None


def intrinsics_to_camera_info(types: Any, intrinsics: Intrinsics, stamp_ns: int,
                              frame_id: str) -> Any:
    """A ``sensor_msgs/CameraInfo`` of pinhole intrinsics (``plumb_bob`` with zero
    distortion, identity rectification, ``p = [K | 0]``)."""
    k = intrinsics
    roi = types.get('sensor_msgs/msg/RegionOfInterest')(x_offset=0, y_offset=0, height=0,
                                                        width=0, do_rectify=False)
    K = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    P = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return types.get('sensor_msgs/msg/CameraInfo')(
        header=make_header(types, stamp_ns, frame_id), height=k.height, width=k.width,
        distortion_model='plumb_bob', d=types.array([0.0] * 5, 'float64'),
        k=types.array(K, 'float64'), r=types.array([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], 'float64'),
        p=types.array(P, 'float64'), binning_x=0, binning_y=0, roi=roi)


# ----------------------------------------------------------------------------- point clouds

def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB -> (N,) uint32 ``0x00RRGGBB``."""
    c = np.asarray(colors, dtype=np.uint32)
    return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """(N,) uint32 ``0x00RRGGBB`` -> (N, 3) uint8 RGB."""
    v = np.asarray(packed, dtype=np.uint32)
    return np.column_stack([(v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF]).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class PointCloudArrays:
    """The parsed content of a ``sensor_msgs/PointCloud2`` (organised clouds flattened
    row-major).

    Attributes:
        points: (N, 3) float32 ``x, y, z`` [m] in the header's frame (NaN kept).
        colors: (N, 3) uint8 RGB from an ``rgb``/``rgba`` field, or None without one.
        labels: (N,) uint32 from a ``label`` field, or None without one.
        frame_id: The header's frame.
        stamp_ns: The header's stamp [ns].
    """

    points: np.ndarray
    colors: np.ndarray | None
    labels: np.ndarray | None
    frame_id: str
    stamp_ns: int


def pointcloud2_dtype(fields: Sequence[Any], point_step: int,
                      is_bigendian: bool = False) -> np.dtype:
    """The numpy structured dtype of one point: a field per ``PointField`` at its offset
    (``count > 1`` fields as sub-arrays), itemsize ``point_step`` (padding included).

    Raises:
        MessageFormatError: On an unknown datatype, a duplicate or empty name, or a field
            that does not fit in ``point_step``.
    """
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    order = '>' if is_bigendian else '<'
    for f in fields:
        name = str(f.name)
        if int(f.datatype) not in POINT_FIELD_TYPES:
            raise MessageFormatError(f'point cloud field {name!r}: unknown datatype '
                                     f'{f.datatype}')
        if not name or name in names:
            raise MessageFormatError(f'point cloud: empty or duplicate field name {name!r}')
        base = np.dtype(POINT_FIELD_TYPES[int(f.datatype)]).newbyteorder(order)
        count = max(1, int(f.count))
        if int(f.offset) + base.itemsize * count > point_step:
            raise MessageFormatError(f'point cloud field {name!r} at offset {f.offset} does not '
                                     f'fit in point_step {point_step} B')
        names.append(name)
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(int(f.offset))
    return np.dtype({'names': names, 'formats': formats, 'offsets': offsets,
                     'itemsize': int(point_step)})


def pointcloud2_to_arrays(msg: Any) -> PointCloudArrays:
    """Parse a ``sensor_msgs/PointCloud2`` through :func:`pointcloud2_dtype`.

    ``x``, ``y``, ``z`` are required; ``rgb`` (or ``rgba``: 4 bytes read as the uint32
    ``0x00RRGGBB`` in the message's byte order, whatever the declared type) and ``label``
    (any integer type) are optional.

    Raises:
        MessageFormatError: On a missing ``x``/``y``/``z``, a bad layout, or data whose length
            does not match ``row_step * height``.
    """
    height, width, step, row_step = (_count(f'point cloud.{n}', getattr(msg, n)) for n in
                                     ('height', 'width', 'point_step', 'row_step'))
    dtype = pointcloud2_dtype(msg.fields, step, bool(msg.is_bigendian))
    missing = [n for n in 'xyz' if n not in dtype.names]
    if missing:
        raise MessageFormatError(f'point cloud: no field {", ".join(missing)}; fields: '
                                 f'{list(dtype.names)}')
    if row_step < width * step:
        raise MessageFormatError(f'point cloud: row_step {row_step} B is shorter than width x '
                                 f'point_step = {width * step} B')
    data = _bytes_of(msg.data)
    if data.size != row_step * height:
        raise MessageFormatError(f'point cloud: data has {data.size} B, expected row_step x '
                                 f'height = {row_step * height} B')
    if height * width == 0:
        records = np.zeros(0, dtype=dtype)
    else:
        rows = np.ascontiguousarray(data.reshape(height, row_step)[:, :width * step])
        records = rows.view(dtype).reshape(-1)
    points = np.column_stack([records[n].astype(np.float32) for n in 'xyz'])
    colors = None
    colour = 'rgb' if 'rgb' in dtype.names else 'rgba' if 'rgba' in dtype.names else None
    if colour is not None:
        field = records[colour]
        if field.dtype.itemsize != 4 or field.ndim != 1:
            raise MessageFormatError(f'point cloud field {colour!r} must be one 4-byte value')
        colors = unpack_rgb(field.view(('>' if field.dtype.byteorder == '>' else '<') + 'u4'))
    labels = None
    if 'label' in dtype.names:
        field = records['label']
        if field.dtype.kind not in 'iu' or field.ndim != 1:
            raise MessageFormatError('point cloud field label must be one integer')
        labels = field.astype(np.uint32)
    return PointCloudArrays(points, colors, labels, str(msg.header.frame_id),
                            stamp_to_ns(msg.header))


def cloud_to_pointcloud2(types: Any, points: np.ndarray, stamp_ns: int, frame_id: str,
                         colors: np.ndarray | None = None,
                         labels: np.ndarray | None = None) -> Any:
    """An unorganised ``sensor_msgs/PointCloud2`` (``height`` 1, little-endian).

    Fields: ``x, y, z`` float32 at 0, 4, 8; then ``rgb`` (float32 holding ``0x00RRGGBB``) if
    ``colors`` is given and ``label`` (uint32) if ``labels`` is given, each 4 bytes further.

    Args:
        points: (N, 3) points [m] in ``frame_id``.
        colors: Optional (N, 3) uint8 RGB.
        labels: Optional (N,) non-negative integers (e.g. mark ids; 0 = none).

    Raises:
        PerceptionInputError: On arrays of the wrong shape or type.
    """
    P = np.asarray(points, dtype=np.float32)
    if P.ndim != 2 or P.shape[1] != 3:
        raise PerceptionInputError(f'cloud_to_pointcloud2: points must be (N, 3), got {P.shape}')
    n = len(P)
    names = [('x', _FLOAT32), ('y', _FLOAT32), ('z', _FLOAT32)]
    columns: dict[str, np.ndarray] = {'x': P[:, 0], 'y': P[:, 1], 'z': P[:, 2]}
    if colors is not None:
        C = np.asarray(colors)
        if C.shape != (n, 3) or C.dtype != np.uint8:
            raise PerceptionInputError(f'cloud_to_pointcloud2: colors must be ({n}, 3) uint8, '
                                       f'got {C.dtype} {C.shape}')
        names.append(('rgb', _FLOAT32))
        columns['rgb'] = pack_rgb(C).view(np.float32)
    if labels is not None:
        L = np.asarray(labels)
        if L.shape != (n,) or L.dtype.kind not in 'iu' or (L.size and L.min() < 0):
            raise PerceptionInputError(f'cloud_to_pointcloud2: labels must be ({n},) '
                                       f'non-negative integers, got {L.dtype} {L.shape}')
        names.append(('label', _UINT32))
        columns['label'] = L.astype(np.uint32)
    field_cls = types.get('sensor_msgs/msg/PointField')
    fields = [field_cls(name=name, offset=4 * i, datatype=datatype, count=1)
              for i, (name, datatype) in enumerate(names)]
    dtype = pointcloud2_dtype(fields, 4 * len(names))
    records = np.zeros(n, dtype=dtype)
    for name, values in columns.items():
        records[name] = values
    return types.get('sensor_msgs/msg/PointCloud2')(
        header=make_header(types, stamp_ns, frame_id), height=1, width=n, fields=fields,
        is_bigendian=False, point_step=dtype.itemsize, row_step=dtype.itemsize * n,
        data=_octets(types, records), is_dense=bool(np.all(np.isfinite(P))))


# ----------------------------------------------------------------------------- marks

def marks_to_msgs(types: Any, marks: Mapping[int, Mark], *,
                  centroids_base: Mapping[int, np.ndarray | None] | None = None,
                  include_masks: bool = True) -> list[Any]:
    """``resem3d_msgs/Mark`` messages of numbered marks, in id order.

    Args:
        marks: Mark id -> :class:`~resem3d_perception.marks.Mark`.
        centroids_base: Mark id -> (3,) centroid of the mask's valid depth points [m] (base
            frame), or None when the mask has none.
        include_masks: Fill ``mask`` (one byte per pixel of the mask's box); else only the box.
    """
    roi_cls = types.get('sensor_msgs/msg/RegionOfInterest')
    point_cls = types.get('geometry_msgs/msg/Point')
    mark_cls = types.get('resem3d_msgs/msg/Mark')
    out = []
    for mark_id in sorted(marks):
        mark = marks[mark_id]
        x0, y0, x1, y1 = mark.mask.bbox
        crop = mark.mask.mask[y0:y1, x0:x1].astype(np.uint8)
        centroid = None if centroids_base is None else centroids_base.get(mark_id)
        has = centroid is not None and bool(np.all(np.isfinite(centroid)))
        c = np.asarray(centroid, dtype=float) if has else np.zeros(3)
        out.append(mark_cls(
            id=int(mark_id), anchor_x_px=int(mark.anchor_px[0]),
            anchor_y_px=int(mark.anchor_px[1]),
            box_px=types.array([int(v) for v in mark.box_px], 'int32'),
            overlaps=bool(mark.overlaps), label=mark.mask.label or '',
            score=float(mark.mask.score),
            mask_roi=roi_cls(x_offset=x0, y_offset=y0, height=y1 - y0, width=x1 - x0,
                             do_rectify=False),
            mask=_octets(types, crop if include_masks else np.zeros(0, np.uint8)),
            area_px=int(mark.mask.area_px),
            centroid_base=point_cls(x=float(c[0]), y=float(c[1]), z=float(c[2])),
            has_centroid=has))
    return out


def marks_from_msgs(msgs: Sequence[Any], shape_hw: tuple[int, int]) -> dict[int, Mark]:
    """Marks (with their full-image masks) from ``resem3d_msgs/Mark`` messages.

    Args:
        msgs: The messages (sent with ``include_masks``).
        shape_hw: ``(H, W)`` of the colour image they belong to.

    Raises:
        MessageFormatError: On a duplicate id, a missing or empty mask, or a mask box that
            does not fit the image or its data.
    """
    height, width = shape_hw
    out: dict[int, Mark] = {}
    for msg in msgs:
        mark_id = int(msg.id)
        if mark_id in out:
            raise MessageFormatError(f'mark {mark_id}: duplicate id')
        roi = msg.mask_roi
        x0, y0, w, h = (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height))
        if w == 0 or h == 0 or x0 + w > width or y0 + h > height:
            raise MessageFormatError(f'mark {mark_id}: mask box {x0},{y0} {w}x{h} does not fit '
                                     f'the {width}x{height} image')
        crop = _bytes_of(msg.mask)
        if crop.size != w * h:
            raise MessageFormatError(f'mark {mark_id}: mask has {crop.size} B, expected '
                                     f'{w} x {h} (ask with include_masks)')
        full = np.zeros((height, width), dtype=bool)
        full[y0:y0 + h, x0:x0 + w] = crop.reshape(h, w) != 0
        try:
            mask = Mask(full, score=float(msg.score), label=str(msg.label) or None,
                        source='ros')
        except PerceptionInputError as error:
            raise MessageFormatError(f'mark {mark_id}: {error}') from None
        box = tuple(int(v) for v in np.asarray(msg.box_px).reshape(-1)[:4])
        out[mark_id] = Mark(id=mark_id, mask=mask,
                            anchor_px=(int(msg.anchor_x_px), int(msg.anchor_y_px)),
                            box_px=box, overlaps=bool(msg.overlaps))  # type: ignore[arg-type]
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------- observe

def observe_response_fields(types: Any, perceived: PerceivedFrame, regions: RegionSet, *,
                            base_frame: str, draw_marks: bool = True,
                            include_masks: bool = True) -> dict[str, Any]:
    """The fields of a successful ``resem3d_msgs/srv/Observe`` response.

    Args:
        types: Message classes.
        perceived: The observation (:meth:`~resem3d_perception.service.PerceptionService.
            observe`).
        regions: The system and tracked regions to send along (poses in ``base_frame``).
        base_frame: The robot base frame (header, centroids, camera pose, regions).
        draw_marks: Send the marked image (else an empty image).
        include_masks: Send every mark's mask bytes (else only their boxes).

    Returns:
        Field name -> value, for every field of the response.
    """
    frame = perceived.frame
    stamp, camera = frame.stamp_ns, frame.camera_frame
    marked = (rgb_to_image(types, perceived.marked.image, stamp, camera) if draw_marks else
              types.get('sensor_msgs/msg/Image')(header=make_header(types, stamp, camera),
                                                 height=0, width=0, encoding='rgb8',
                                                 is_bigendian=0, step=0,
                                                 data=_octets(types, np.zeros(0, np.uint8))))
    return {
        'success': True, 'message': f'{len(perceived.marked.marks)} marks',
        'header': make_header(types, stamp, base_frame), 'scene': perceived.scene,
        'color': rgb_to_image(types, frame.color, stamp, camera),
        'depth': depth_to_image(types, frame.depth_m, stamp, camera),
        'camera_info': intrinsics_to_camera_info(types, frame.intrinsics, stamp, camera),
        'camera_pose': pose_to_msg(types, perceived.T_base_cam, 'camera_pose'),
        'marked_image': marked,
        'marks': marks_to_msgs(types, perceived.marked.marks,
                               centroids_base=perceived.centroids_base,
                               include_masks=include_masks),
        'regions': region_array_to_msg(types, regions.regions, regions.T_frame_obj,
                                       frame_id=base_frame, stamp_ns=regions.stamp_ns,
                                       kinds=regions.kinds),
    }
