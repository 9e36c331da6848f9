"""Messages of the simulated drivers, built without ROS through a ``MessageTypes``.

Every builder takes a :class:`~resem3d_constraints.ros_types.MessageTypes` (rclpy classes in
the node, rosbags classes in tests) and the simulated time ``t_s`` [s] for its stamp:

* camera, as realsense2_camera publishes it with ``align_depth.enable``: colour ``rgb8``
  (:func:`color_image`), depth aligned to colour ``16UC1`` in millimetres, 0 = no return
  (:func:`depth_image`), and the colour stream's pinhole ``CameraInfo`` (:func:`camera_info`:
  ``plumb_bob`` with zero distortion, ``K``, ``R = I``, ``P = [K | 0]``), all in the colour
  optical frame;
* robot: ``sensor_msgs/JointState`` (:func:`joint_state`), tf ``TransformStamped`` lists
  (:func:`transforms`, ``T_parent_child`` as tf2 means it: child coordinates to the parent
  frame) and ``rosgraph_msgs/Clock`` (:func:`clock`).

Images are little-endian (``is_bigendian = 0``) and row-major with ``step`` bytes per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from resem3d_constraints.ros_conversions import pose_to_msg, time_to_msg
from resem3d_constraints.ros_types import MessageTypes

from .camera import CameraIntrinsics
from .errors import SimInputError
from .ros_bridge import encode_depth_mm, JointStateSample, Transform

__all__ = ['camera_info', 'clock', 'color_image', 'depth_image', 'joint_state', 'part_labels',
           'stamp_ns', 'transforms']


def stamp_ns(t_s: float) -> int:
    """Simulated time [s] >= 0 as integer nanoseconds (rounded).

    Raises:
        SimInputError: For a negative or non-finite time.
    """
    t = float(t_s)
    if not t >= 0.0 or t == float('inf'):
        raise SimInputError(f't_s: expected a finite time >= 0 s, got {t_s!r}')
    return round(t * 1e9)


def _header(types: MessageTypes, t_s: float, frame_id: str) -> Any:
    return types.get('std_msgs/msg/Header')(stamp=time_to_msg(types, stamp_ns(t_s)),
                                            frame_id=frame_id)


def _image(types: MessageTypes, t_s: float, frame_id: str, pixels: np.ndarray,
           encoding: str) -> Any:
    height, width = pixels.shape[:2]
    data = np.ascontiguousarray(pixels).reshape(-1).view(np.uint8)
    return types.get('sensor_msgs/msg/Image')(
        header=_header(types, t_s, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=len(data) // height, data=types.array(data, 'uint8'))


def color_image(types: MessageTypes, t_s: float, frame_id: str, rgb: np.ndarray) -> Any:
    """``sensor_msgs/Image``, ``rgb8``, of an (H, W, 3) uint8 RGB image.

    Raises:
        SimInputError: For another shape or type.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SimInputError(f'rgb: expected an (H, W, 3) uint8 image, got {rgb.dtype} '
                            f'{rgb.shape}')
    return _image(types, t_s, frame_id, rgb, 'rgb8')


def depth_image(types: MessageTypes, t_s: float, frame_id: str, depth_m: np.ndarray) -> Any:
    """``sensor_msgs/Image``, ``16UC1`` [mm] (0 = no return), of an (H, W) depth [m]."""
    return _image(types, t_s, frame_id, encode_depth_mm(depth_m), '16UC1')


def part_labels(types: MessageTypes, t_s: float, frame_id: str, part_mask: np.ndarray,
                labels: Sequence[str]) -> Any:
    """``resem3d_msgs/PartLabels`` of a frame's ground-truth part mask: a ``32SC1`` index
    image and its label table (``labels[0] == ''``).

    Raises:
        SimInputError: For a mask that is not (H, W) integers indexing ``labels``.
    """
    mask = np.asarray(part_mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise SimInputError(f'part_mask: expected an (H, W) integer image, got {mask.dtype} '
                            f'{mask.shape}')
    labels = tuple(str(label) for label in labels)
    if not labels or labels[0] != '' or (mask.size and (mask.min() < 0
                                                        or mask.max() >= len(labels))):
        raise SimInputError('part_mask: every pixel must index labels, and labels[0] must be '
                            "'' (no part)")
    return types.get('resem3d_msgs/msg/PartLabels')(
        header=_header(types, t_s, frame_id),
        image=_image(types, t_s, frame_id, mask.astype('<i4'), '32SC1'), labels=list(labels))


def camera_info(types: MessageTypes, t_s: float, frame_id: str,
                intrinsics: CameraIntrinsics) -> Any:
    """``sensor_msgs/CameraInfo`` of a rectified pinhole stream with ``intrinsics``."""
    k = intrinsics
    K = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    P = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    roi = types.get('sensor_msgs/msg/RegionOfInterest')(
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return types.get('sensor_msgs/msg/CameraInfo')(
        header=_header(types, t_s, frame_id), height=k.height, width=k.width,
        distortion_model='plumb_bob', d=types.array(np.zeros(5), 'float64'),
        k=types.array(K, 'float64'), r=types.array(np.eye(3).reshape(-1), 'float64'),
        p=types.array(P, 'float64'), binning_x=0, binning_y=0, roi=roi)


def joint_state(types: MessageTypes, sample: JointStateSample) -> Any:
    """``sensor_msgs/JointState`` of a sample (no efforts: the array is empty)."""
    return types.get('sensor_msgs/msg/JointState')(
        header=_header(types, sample.stamp_s, ''), name=list(sample.names),
        position=types.array(sample.positions, 'float64'),
        velocity=types.array(sample.velocities, 'float64'),
        effort=types.array([], 'float64'))


def transforms(types: MessageTypes, t_s: float, items: Sequence[Transform]) -> list[Any]:
    """``geometry_msgs/TransformStamped`` of each ``(parent, child, T_parent_child)``."""
    t = types.get
    out = []
    for parent, child, T in items:
        pose = pose_to_msg(types, np.asarray(T, dtype=float), path=f'{parent}->{child}')
        out.append(t('geometry_msgs/msg/TransformStamped')(
            header=_header(types, t_s, parent), child_frame_id=child,
            transform=t('geometry_msgs/msg/Transform')(
                translation=t('geometry_msgs/msg/Vector3')(x=pose.position.x,
                                                           y=pose.position.y,
                                                           z=pose.position.z),
                rotation=pose.orientation)))
    return out


def clock(types: MessageTypes, t_s: float) -> Any:
    """``rosgraph_msgs/Clock`` of the simulated time."""
    return types.get('rosgraph_msgs/msg/Clock')(clock=time_to_msg(types, stamp_ns(t_s)))
