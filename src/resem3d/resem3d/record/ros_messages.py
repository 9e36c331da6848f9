"""Build ROS 2 (Jazzy) messages from numpy data, without ROS: rosbags' typestore.

:func:`make_typestore` returns rosbags' Jazzy typestore plus resem3d's own messages, parsed from
the ``.msg`` files shipped in ``resem3d/record/msgs/`` (``resem3d_msgs/msg/<Stem>``; that
folder is a symlink to the interface package's ``src/resem3d_msgs/msg``). :class:`RosMessages`
turns arrays into message objects that ``typestore.serialize_cdr`` encodes to the same CDR
bytes rclpy sends.

Conventions: stamps are ``builtin_interfaces/Time`` from time in seconds (simulated time in
simulation); colour is ``rgb8``; depth is ``32FC1`` in metres with NaN where there is no
measurement (REP 118); clouds are ``x y z`` float32 (+ ``rgb`` packed as float32 holding
``0x00RRGGBB``), little-endian, unordered (``height = 1``); transforms map child-frame
coordinates to the parent frame (``T_parent_child``), as tf2 does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from resem3d_constraints.spatial import quaternion_xyzw

from .overlays import ConstraintOverlay, palette

__all__ = ['CUSTOM_PACKAGE', 'RosMessages', 'custom_msg_texts', 'make_typestore',
           'quaternion_xyzw', 'stamp_ns']

#: Package name of resem3d's own message types.
CUSTOM_PACKAGE = 'resem3d_msgs'


def custom_msg_texts() -> dict[str, str]:
    """``'resem3d_msgs/msg/<Stem>'`` -> ``.msg`` text, for every file in ``record/msgs/``."""
    folder = resources.files(__package__).joinpath('msgs')
    if not folder.is_dir():
        return {}
    return {f'{CUSTOM_PACKAGE}/msg/{entry.name[:-4]}': entry.read_text(encoding='utf-8')
            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith('.msg')}


def make_typestore() -> Typestore:
    """A new Jazzy typestore with resem3d's own message types registered."""
    texts = custom_msg_texts()
    if f'{CUSTOM_PACKAGE}/msg/ConstraintResidual' not in texts:
        raise RuntimeError('resem3d/record/msgs/ConstraintResidual.msg is missing: install the '
                           "resem3d package with its package data ('resem3d.record': "
                           "['msgs/*.msg'])")
    typestore = get_typestore(Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for name, text in texts.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def stamp_ns(t_s: float) -> int:
    """Time [s] >= 0 -> integer nanoseconds (rounded).

    Raises:
        ValueError: On a negative or non-finite time.
    """
    t = float(t_s)
    if not math.isfinite(t) or t < 0.0:
        raise ValueError(f't_s: expected a finite time >= 0 s, got {t_s!r}')
    return round(t * 1e9)


class RosMessages:
    """Message builders over one typestore (see :func:`make_typestore`).

    Every builder takes the time ``t_s`` [s] for the header stamp and returns a rosbags
    message object of the type named in its docstring.
    """

    def __init__(self, typestore: Typestore) -> None:
        self.typestore = typestore
        self._t = typestore.types

    # -- common parts ------------------------------------------------------------------

    def time(self, t_s: float) -> Any:
        """``builtin_interfaces/msg/Time``."""
        sec, nanosec = divmod(stamp_ns(t_s), 1_000_000_000)
        return self._t['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec)

    def header(self, t_s: float, frame_id: str) -> Any:
        """``std_msgs/msg/Header``."""
        return self._t['std_msgs/msg/Header'](stamp=self.time(t_s), frame_id=frame_id)

    def _point(self, p: Sequence[float]) -> Any:
        return self._t['geometry_msgs/msg/Point'](x=float(p[0]), y=float(p[1]), z=float(p[2]))

    def _color(self, rgb: tuple[int, int, int], alpha: float = 1.0) -> Any:
        return self._t['std_msgs/msg/ColorRGBA'](r=rgb[0] / 255.0, g=rgb[1] / 255.0,
                                                 b=rgb[2] / 255.0, a=float(alpha))

    # -- camera ------------------------------------------------------------------------

    def image_rgb8(self, t_s: float, frame_id: str, rgb: np.ndarray) -> Any:
        """``sensor_msgs/msg/Image``, ``rgb8``, from an (H, W, 3) uint8 RGB array."""
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
                or rgb.shape[2] != 3:
            raise ValueError('rgb: expected an (H, W, 3) uint8 array')
        h, w = rgb.shape[:2]
        return self._t['sensor_msgs/msg/Image'](
            header=self.header(t_s, frame_id), height=h, width=w, encoding='rgb8',
            is_bigendian=0, step=3 * w, data=np.ascontiguousarray(rgb).reshape(-1))

    def image_depth_32fc1(self, t_s: float, frame_id: str, depth_m: np.ndarray) -> Any:
        """``sensor_msgs/msg/Image``, ``32FC1`` [m], from an (H, W) depth array; values <= 0
        or non-finite (no measurement) become NaN."""
        depth = np.asarray(depth_m)
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
            raise ValueError('depth_m: expected an (H, W) float array [m]')
        out = depth.astype('<f4', copy=True)
        with np.errstate(invalid='ignore'):
            out[~(np.isfinite(out) & (out > 0.0))] = np.nan
        h, w = out.shape
        return self._t['sensor_msgs/msg/Image'](
            header=self.header(t_s, frame_id), height=h, width=w, encoding='32FC1',
            is_bigendian=0, step=4 * w, data=out.reshape(-1).view(np.uint8))

    def camera_info(self, t_s: float, frame_id: str, width: int, height: int, fx: float,
                    fy: float, cx: float, cy: float) -> Any:
        """``sensor_msgs/msg/CameraInfo``: pinhole ``K``, ``P = [K | 0]``, ``R = I``,
        ``plumb_bob`` with zero distortion (a rectified, aligned stream)."""
        k = np.array([fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0])
        p = np.array([fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
        roi = self._t['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                          width=0, do_rectify=False)
        return self._t['sensor_msgs/msg/CameraInfo'](
            header=self.header(t_s, frame_id), height=int(height), width=int(width),
            distortion_model='plumb_bob', d=np.zeros(5), k=k, r=np.eye(3).reshape(-1), p=p,
            binning_x=0, binning_y=0, roi=roi)

    # -- perception --------------------------------------------------------------------

    def point_cloud(self, t_s: float, frame_id: str, points: np.ndarray,
                    colors: np.ndarray | None = None) -> Any:
        """``sensor_msgs/msg/PointCloud2`` from (N, 3) points [m] and optional (N, 3) uint8
        RGB colours; non-finite points are dropped (``is_dense`` is then True)."""
        xyz = np.asarray(points, dtype=float)
        if xyz.ndim != 2 or xyz.shape[1] != 3:
            raise ValueError(f'points: expected an (N, 3) array, got shape {xyz.shape}')
        keep = np.all(np.isfinite(xyz), axis=1)
        PointField = self._t['sensor_msgs/msg/PointField']
        names = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
        if colors is not None:
            rgb = np.asarray(colors)
            if rgb.shape != xyz.shape or rgb.dtype != np.uint8:
                raise ValueError('colors: expected an (N, 3) uint8 array matching points')
            names.append(('rgb', '<u4'))
        cloud = np.zeros(int(keep.sum()), dtype=names)
        for axis, name in enumerate('xyz'):
            cloud[name] = xyz[keep, axis]
        if colors is not None:
            c = rgb[keep].astype(np.uint32)
            cloud['rgb'] = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
        fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, (name, _) in enumerate(names)]
        step = 4 * len(names)
        return self._t['sensor_msgs/msg/PointCloud2'](
            header=self.header(t_s, frame_id), height=1, width=len(cloud), fields=fields,
            is_bigendian=False, point_step=step, row_step=step * len(cloud),
            data=cloud.view(np.uint8).reshape(-1), is_dense=True)

    # -- robot -------------------------------------------------------------------------

    def joint_state(self, t_s: float, names: Sequence[str], position: Sequence[float],
                    velocity: Sequence[float] | None = None,
                    effort: Sequence[float] | None = None) -> Any:
        """``sensor_msgs/msg/JointState`` [rad, m; rad/s, m/s; N m, N]; absent velocity or
        effort are sent empty, as the message allows."""
        n = len(names)

        def column(name: str, values: Sequence[float] | None) -> np.ndarray:
            if values is None:
                return np.zeros(0)
            array = np.asarray(values, dtype=float).reshape(-1)
            if len(array) != n:
                raise ValueError(f'{name}: expected {n} values (one per joint), got {len(array)}')
            return array

        return self._t['sensor_msgs/msg/JointState'](
            header=self.header(t_s, ''), name=list(names), position=column('position', position),
            velocity=column('velocity', velocity), effort=column('effort', effort))

    def tf_message(self, t_s: float, transforms: Sequence[tuple[str, str, np.ndarray]]) -> Any:
        """``tf2_msgs/msg/TFMessage`` from ``(parent, child, T_parent_child 4x4)`` triples."""
        t = self._t
        items = []
        for parent, child, T in transforms:
            T = np.asarray(T, dtype=float)
            x, y, z, w = quaternion_xyzw(T[:3, :3])
            transform = t['geometry_msgs/msg/Transform'](
                translation=t['geometry_msgs/msg/Vector3'](x=T[0, 3], y=T[1, 3], z=T[2, 3]),
                rotation=t['geometry_msgs/msg/Quaternion'](x=x, y=y, z=z, w=w))
            items.append(t['geometry_msgs/msg/TransformStamped'](
                header=self.header(t_s, parent), child_frame_id=child, transform=transform))
        return t['tf2_msgs/msg/TFMessage'](transforms=items)

    # -- constraints -------------------------------------------------------------------

    def _marker(self, t_s: float, frame_id: str, ns: str, marker_id: int, marker_type: int,
                action: int, *, position: Sequence[float] = (0.0, 0.0, 0.0),
                scale: Sequence[float] = (1.0, 1.0, 1.0),
                color: tuple[int, int, int] = (255, 255, 255), alpha: float = 1.0,
                points: Sequence[Sequence[float]] = (), text: str = '') -> Any:
        t = self._t
        pose = t['geometry_msgs/msg/Pose'](position=self._point(position),
                                           orientation=t['geometry_msgs/msg/Quaternion'](
                                               x=0.0, y=0.0, z=0.0, w=1.0))
        empty = np.zeros(0, dtype=np.uint8)
        return t['visualization_msgs/msg/Marker'](
            header=self.header(t_s, frame_id), ns=ns, id=marker_id, type=marker_type,
            action=action, pose=pose,
            scale=t['geometry_msgs/msg/Vector3'](x=scale[0], y=scale[1], z=scale[2]),
            color=self._color(color, alpha),
            lifetime=t['builtin_interfaces/msg/Duration'](sec=0, nanosec=0), frame_locked=False,
            points=[self._point(p) for p in points], colors=[], texture_resource='',
            texture=t['sensor_msgs/msg/CompressedImage'](header=self.header(t_s, ''),
                                                         format='', data=empty),
            uv_coordinates=[], text=text, mesh_resource='',
            mesh_file=t['visualization_msgs/msg/MeshFile'](filename='', data=empty),
            mesh_use_embedded_materials=False)

    def constraint_markers(self, t_s: float, frame_id: str,
                           constraints: Sequence[ConstraintOverlay], *,
                           sphere_m: float = 0.02, line_m: float = 0.004,
                           text_m: float = 0.02) -> Any:
        """``visualization_msgs/msg/MarkerArray``: a DELETEALL first (stale constraints go),
        then per constraint ``i``: a sphere at its anchor (ns ``anchors``), a translucent
        sphere at its target (``targets``), a line between them (``links``: green met, red
        violated, grey unknown) and its name (``labels``), all with id ``i``."""
        Marker = self._t['visualization_msgs/msg/Marker']
        markers = [self._marker(t_s, frame_id, '', 0, Marker.SPHERE, Marker.DELETEALL)]
        sphere = (sphere_m, sphere_m, sphere_m)
        for i, c in enumerate(constraints):
            color = palette(i)
            markers.append(self._marker(t_s, frame_id, 'anchors', i, Marker.SPHERE, Marker.ADD,
                                        position=c.anchor_base, scale=sphere, color=color))
            if c.target_base is not None:
                markers.append(self._marker(t_s, frame_id, 'targets', i, Marker.SPHERE,
                                            Marker.ADD, position=c.target_base, scale=sphere,
                                            color=color, alpha=0.5))
                met = c.satisfied
                status = (200, 200, 200) if met is None else ((40, 200, 60) if met
                                                              else (235, 40, 40))
                markers.append(self._marker(t_s, frame_id, 'links', i, Marker.LINE_LIST,
                                            Marker.ADD, scale=(line_m, 0.0, 0.0), color=status,
                                            points=[c.anchor_base, c.target_base]))
            label = c.name if c.residual is None else f'{c.name}: {c.residual:.3g}'
            markers.append(self._marker(t_s, frame_id, 'labels', i, Marker.TEXT_VIEW_FACING,
                                        Marker.ADD, position=c.anchor_base + (0.0, 0.0, 0.03),
                                        scale=(0.0, 0.0, text_m), text=label))
        return self._t['visualization_msgs/msg/MarkerArray'](markers=markers)

    def constraint_residual(self, t_s: float, stage: str, names: Sequence[str],
                            residuals: Sequence[float], tolerances: Sequence[float]) -> Any:
        """``resem3d_msgs/msg/ConstraintResidual`` (see ``msgs/ConstraintResidual.msg``)."""
        r = np.asarray(residuals, dtype=float).reshape(-1)
        tol = np.asarray(tolerances, dtype=float).reshape(-1)
        if not len(names) == len(r) == len(tol):
            raise ValueError(f'names, residuals, tolerances: lengths differ ({len(names)}, '
                             f'{len(r)}, {len(tol)})')
        return self._t[f'{CUSTOM_PACKAGE}/msg/ConstraintResidual'](
            stamp=self.time(t_s), stage=stage, names=[str(n) for n in names], residuals=r,
            tolerances=tol)
