"""Record a run as a ROS 2 bag in one MCAP file (``runs/<id>/run.mcap``), without ROS.

The file has MCAP profile ``ros2``, schemas in ``ros2msg`` encoding (the full message
definition text with its dependencies, as rosbag2 writes it) and ``cdr`` messages, so
``ros2 bag play run.mcap``, ``ros2 bag info``, Foxglove and rosbags read it. Each channel
carries rosbag2's (Jazzy) metadata: ``offered_qos_profiles`` and ``topic_type_hash``
(RIHS01). Messages are built by :mod:`.ros_messages` and encoded with rosbags' CDR serializer
(numpy-fast; the same bytes rclpy sends); the records are written with the ``mcap`` library
(mcap-ros2-support's writer encodes ``uint8[]`` element by element, far too slow for images).

Topics (defaults in :class:`McapTopics`; every name can be changed). Frames: ``camera`` is
``camera_color_optical_frame``, ``base`` is ``panda_link0`` (:class:`McapFrames`).

===================================================  =========================================  ======
topic                                                type                                       frame
===================================================  =========================================  ======
``/camera/camera/color/image_raw``                   ``sensor_msgs/msg/Image`` (rgb8)           camera
``/camera/camera/aligned_depth_to_color/image_raw``  ``sensor_msgs/msg/Image`` (32FC1, m)       camera
``/camera/camera/color/camera_info``                 ``sensor_msgs/msg/CameraInfo``             camera
``/perception/cloud``                                ``sensor_msgs/msg/PointCloud2``            base
``/joint_states``                                    ``sensor_msgs/msg/JointState`` (100 Hz)
``/resem3d/constraints``                             ``visualization_msgs/msg/MarkerArray``     base
``/resem3d/residuals``                               ``resem3d_msgs/msg/ConstraintResidual``
``/tf``                                              ``tf2_msgs/msg/TFMessage``                 base ->
                                                                                                objects
``/tf_static``                                       ``tf2_msgs/msg/TFMessage``                 base ->
                                                                                                camera
===================================================  =========================================  ======

Times are simulated time: each message's log and publish time and its header stamp are the
``t_s`` given [s] (from 0 at the start of the simulation). ``/tf_static`` is offered as
``transient_local`` (latched) so that late subscribers get it on playback. Not thread-safe:
call from one thread.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import yaml
from mcap.well_known import MessageEncoding, Profile, SchemaEncoding
from mcap.writer import CompressionType, Writer

from .overlays import ConstraintOverlay
from .ros_messages import RosMessages, make_typestore, stamp_ns

__all__ = ['McapFrames', 'McapRecorder', 'McapTopics', 'PANDA_JOINT_NAMES', 'RateGate']

#: Joint names of ``/joint_states``: the Panda arm and its two finger joints.
PANDA_JOINT_NAMES = tuple(f'panda_joint{i}' for i in range(1, 8)) + (
    'panda_finger_joint1', 'panda_finger_joint2')

_COMPRESSION = {'zstd': CompressionType.ZSTD, 'lz4': CompressionType.LZ4,
                'none': CompressionType.NONE}


@dataclass(frozen=True)
class McapTopics:
    """Topic names of the bag."""

    color: str = '/camera/camera/color/image_raw'
    depth: str = '/camera/camera/aligned_depth_to_color/image_raw'
    camera_info: str = '/camera/camera/color/camera_info'
    cloud: str = '/perception/cloud'
    joint_states: str = '/joint_states'
    constraints: str = '/resem3d/constraints'
    residuals: str = '/resem3d/residuals'
    tf: str = '/tf'
    tf_static: str = '/tf_static'


@dataclass(frozen=True)
class McapFrames:
    """tf frame names: the robot base and the colour camera's optical frame."""

    base: str = 'panda_link0'
    camera: str = 'camera_color_optical_frame'


def _qos_yaml(durability: str) -> str:
    """``offered_qos_profiles`` channel metadata as rosbag2 (Jazzy) writes it."""
    zero = {'sec': 0, 'nsec': 0}
    profile = {'history': 'keep_last', 'depth': 1 if durability == 'transient_local' else 10,
               'reliability': 'reliable', 'durability': durability, 'deadline': zero,
               'lifespan': zero, 'liveliness': 'automatic',
               'liveliness_lease_duration': zero, 'avoid_ros_namespace_conventions': False}
    return yaml.safe_dump([profile], sort_keys=False).strip()


class RateGate:
    """Lets through at most one event per ``period_s`` of (simulated) time.

    The first event passes; then the next one at or after ``last due time + period``, with
    the schedule kept on a grid so 1 kHz input gives exactly 100 Hz output for 10 ms. After a
    gap longer than a period the grid restarts at the event that ends it.
    """

    def __init__(self, rate_hz: float | None) -> None:
        if rate_hz is not None and not (math.isfinite(rate_hz) and rate_hz > 0.0):
            raise ValueError(f'rate_hz: expected a finite rate > 0 or None, got {rate_hz!r}')
        self.period_ns = None if rate_hz is None else round(1e9 / rate_hz)
        self._next_ns: int | None = None

    def due(self, t_ns: int) -> bool:
        """Whether an event at ``t_ns`` passes (and if so, schedule the next)."""
        if self.period_ns is None:
            return True
        if self._next_ns is not None and t_ns < self._next_ns:
            return False
        nxt = (t_ns if self._next_ns is None else self._next_ns) + self.period_ns
        self._next_ns = nxt if nxt > t_ns else t_ns + self.period_ns
        return True


class McapRecorder:
    """Write a run's ROS 2 bag (see the module docstring for topics, types and times).

    Args:
        path: Output ``.mcap`` file (parents created; an existing file is replaced).
        topics: Topic names.
        frames: Base and camera frame names.
        joint_names: Names on ``/joint_states``, in the order of the positions given.
        joint_state_rate_hz: Most joint states per second of simulated time (None = all).
        camera_rate_hz: Most camera frames (colour, depth, info) per second of simulated
            time (None = every frame given).
        cloud_max_points: Most points per cloud message (evenly subsampled beyond).
        compression: Chunk compression: ``zstd``, ``lz4`` or ``none``.
        chunk_size: MCAP chunk size [bytes].

    Example::

        with McapRecorder('runs/<id>/run.mcap') as bag:
            bag.write_camera_pose(0.0, T_base_cam)                  # /tf_static
            bag.write_camera(t_s, rgb=rgb, depth_m=depth, intrinsics=camera.intrinsics)
            bag.write_joint_state(t_s, q9, dq9)                    # every tick; 100 Hz kept
            bag.write_object_poses(t_s, {'beaker': T_base_beaker})
            bag.write_constraints(t_s, overlays)
            bag.write_residuals(t_s, 'pour', names, residuals, tolerances)
    """

    def __init__(self, path: str | os.PathLike[str], *, topics: McapTopics = McapTopics(),
                 frames: McapFrames = McapFrames(),
                 joint_names: Sequence[str] = PANDA_JOINT_NAMES,
                 joint_state_rate_hz: float | None = 100.0,
                 camera_rate_hz: float | None = None, cloud_max_points: int = 5000,
                 compression: str = 'zstd', chunk_size: int = 1024 * 1024) -> None:
        if compression not in _COMPRESSION:
            raise ValueError(f'compression: expected one of {sorted(_COMPRESSION)}, got '
                             f'{compression!r}')
        if cloud_max_points < 1:
            raise ValueError('cloud_max_points: expected >= 1')
        self.path = Path(path)
        self.topics = topics
        self.frames = frames
        self.joint_names = tuple(joint_names)
        self.cloud_max_points = int(cloud_max_points)
        self._joint_gate = RateGate(joint_state_rate_hz)
        self._camera_gate = RateGate(camera_rate_hz)
        self._msgs = RosMessages(make_typestore())
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, tuple[int, str]] = {}
        self._counts: dict[str, int] = {}
        self._static: dict[str, tuple[str, np.ndarray]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = open(self.path, 'wb')  # noqa: SIM115 (closed in close)
        try:
            self._writer = Writer(self._file, chunk_size=chunk_size,
                                  compression=_COMPRESSION[compression])
            self._writer.start(profile=Profile.ROS2, library='resem3d.record.mcap_writer')
        except BaseException:
            self._file.close()
            self._file = None
            raise

    # -- low level ---------------------------------------------------------------------

    @property
    def message_counts(self) -> dict[str, int]:
        """Messages written so far, per topic."""
        return dict(self._counts)

    def _channel(self, topic: str, typename: str) -> int:
        known = self._channels.get(topic)
        if known is not None:
            if known[1] != typename:
                raise ValueError(f'{topic}: already carries {known[1]}, not {typename}')
            return known[0]
        schema_id = self._schemas.get(typename)
        if schema_id is None:
            text, _ = self._msgs.typestore.generate_msgdef(typename, ros_version=2)
            schema_id = self._writer.register_schema(name=typename,
                                                     encoding=SchemaEncoding.ROS2,
                                                     data=text.encode())
            self._schemas[typename] = schema_id
        durability = 'transient_local' if topic == self.topics.tf_static else 'volatile'
        channel_id = self._writer.register_channel(
            topic=topic, message_encoding=MessageEncoding.CDR, schema_id=schema_id,
            metadata={'offered_qos_profiles': _qos_yaml(durability),
                      'topic_type_hash': self._msgs.typestore.hash_rihs01(typename)})
        self._channels[topic] = (channel_id, typename)
        return channel_id

    def write_message(self, topic: str, t_s: float, message: Any) -> None:
        """Write any rosbags message object on ``topic`` at time ``t_s`` [s]."""
        if self._file is None:
            raise ValueError(f'{self.path}: write after close')
        typename = message.__msgtype__
        channel_id = self._channel(topic, typename)
        t_ns = stamp_ns(t_s)
        data = self._msgs.typestore.serialize_cdr(message, typename)
        sequence = self._counts.get(topic, 0)
        self._writer.add_message(channel_id=channel_id, log_time=t_ns, publish_time=t_ns,
                                 data=bytes(data), sequence=sequence)
        self._counts[topic] = sequence + 1

    # -- what the closed loop calls ----------------------------------------------------

    def write_camera(self, t_s: float, *, rgb: np.ndarray | None = None,
                     depth_m: np.ndarray | None = None, intrinsics: Any = None) -> bool:
        """One camera frame: colour, aligned depth [m] and camera info, all in the camera's
        optical frame (each optional). ``intrinsics``: any object with ``fx fy cx cy`` [px];
        the size is the images'. Returns False if dropped by ``camera_rate_hz``."""
        if not self._camera_gate.due(stamp_ns(t_s)):
            return False
        frame = self.frames.camera
        shape = None
        if rgb is not None:
            self.write_message(self.topics.color, t_s, self._msgs.image_rgb8(t_s, frame, rgb))
            shape = rgb.shape[:2]
        if depth_m is not None:
            self.write_message(self.topics.depth, t_s,
                               self._msgs.image_depth_32fc1(t_s, frame, depth_m))
            shape = np.shape(depth_m)[:2] if shape is None else shape
        if intrinsics is not None:
            if shape is None:
                shape = (int(intrinsics.height), int(intrinsics.width))
            info = self._msgs.camera_info(t_s, frame, width=shape[1], height=shape[0],
                                          fx=intrinsics.fx, fy=intrinsics.fy, cx=intrinsics.cx,
                                          cy=intrinsics.cy)
            self.write_message(self.topics.camera_info, t_s, info)
        return True

    def write_camera_pose(self, t_s: float, T_base_cam: np.ndarray, *,  # noqa: N803
                          static: bool = True) -> None:
        """The camera's optical frame in the base frame (``T_base_cam`` 4x4, metres).

        ``static`` (a fixed mount): on ``/tf_static``, written again only when the pose
        changes. Otherwise (a moving camera): on ``/tf`` at ``t_s``, every call.
        """
        self.write_transforms(t_s, {self.frames.camera: T_base_cam}, static=static)

    def write_object_poses(self, t_s: float, T_base_obj: Mapping[str, np.ndarray]) -> None:
        """Tracked object poses on ``/tf``: frame name -> 4x4 pose in the base frame."""
        self.write_transforms(t_s, T_base_obj, static=False)

    def write_transforms(self, t_s: float, T_base_child: Mapping[str, np.ndarray], *,
                         static: bool = False) -> None:
        """Child frame name -> 4x4 pose in the base frame, on ``/tf`` (or ``/tf_static``:
        there, only children whose pose changed are written; tf2 keeps the latest per
        child)."""
        transforms = []
        for child, T in T_base_child.items():
            T = np.asarray(T, dtype=float)
            if T.shape != (4, 4) or not np.all(np.isfinite(T)):
                raise ValueError(f'{child}: expected a finite 4x4 transform')
            if static:
                seen = self._static.get(child)
                if seen is not None and seen[0] == self.frames.base and np.array_equal(
                        seen[1], T):
                    continue
                self._static[child] = (self.frames.base, T.copy())
            transforms.append((self.frames.base, child, T))
        if transforms:
            topic = self.topics.tf_static if static else self.topics.tf
            self.write_message(topic, t_s, self._msgs.tf_message(t_s, transforms))

    def write_cloud(self, t_s: float, points_base: np.ndarray,
                    colors: np.ndarray | None = None) -> None:
        """A point cloud in the base frame [m] (optional (N, 3) uint8 colours): non-finite
        points dropped, the rest evenly subsampled to ``cloud_max_points``."""
        points = np.asarray(points_base, dtype=float)
        if points.ndim == 2 and points.shape[1] == 3:
            finite = np.all(np.isfinite(points), axis=1)
            if not finite.all():
                points = points[finite]
                colors = None if colors is None else np.asarray(colors)[finite]
        if points.ndim == 2 and len(points) > self.cloud_max_points:
            keep = np.linspace(0, len(points) - 1, self.cloud_max_points).astype(int)
            points = points[keep]
            colors = None if colors is None else np.asarray(colors)[keep]
        self.write_message(self.topics.cloud, t_s,
                           self._msgs.point_cloud(t_s, self.frames.base, points, colors))

    def write_joint_state(self, t_s: float, position: Sequence[float],
                          velocity: Sequence[float] | None = None,
                          effort: Sequence[float] | None = None) -> bool:
        """Joint positions [rad; fingers m] (and velocities, efforts) in ``joint_names``
        order. Call it every tick: returns False when dropped by ``joint_state_rate_hz``."""
        if not self._joint_gate.due(stamp_ns(t_s)):
            return False
        self.write_message(self.topics.joint_states, t_s, self._msgs.joint_state(
            t_s, self.joint_names, position, velocity, effort))
        return True

    def write_constraints(self, t_s: float, constraints: Sequence[ConstraintOverlay]) -> None:
        """The active constraints as markers in the base frame (anchors, targets, links)."""
        self.write_message(self.topics.constraints, t_s, self._msgs.constraint_markers(
            t_s, self.frames.base, constraints))

    def write_residuals(self, t_s: float, stage: str, names: Sequence[str],
                        residuals: Sequence[float], tolerances: Sequence[float]) -> None:
        """The active stage's constraint residuals (``resem3d_msgs/msg/ConstraintResidual``):
        violation per constraint in its unit (m or rad) and its tolerance."""
        self.write_message(self.topics.residuals, t_s, self._msgs.constraint_residual(
            t_s, stage, names, residuals, tolerances))

    # -- closing -----------------------------------------------------------------------

    def close(self) -> dict[str, int]:
        """Finish the file (idempotent); return the message count per topic."""
        if self._file is not None:
            try:
                self._writer.finish()
            finally:
                self._file.close()
                self._file = None
        return self.message_counts

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
