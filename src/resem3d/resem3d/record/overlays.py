"""What the run recorders show: the camera, visual marks, refined regions and constraints.

These small value types are shared by :mod:`.annotate` (drawn on the video frames) and
:mod:`.mcap_writer` (published as ROS messages), so both show the same things in the same
colours. Frames are explicit in the names: ``*_base`` is the robot base frame (``panda_link0``),
``*_cam`` the camera's optical frame (``camera_color_optical_frame``: x right, y down, z
forward), ``*_px`` image pixels ``(x, y)`` = ``(column, row)``. Lengths are metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resem3d_constraints.markers import palette  # one palette for videos and RViz

__all__ = ['Box3D', 'CameraView', 'ConstraintOverlay', 'MarkOverlay', 'NEAR_PLANE_M',
           'RegionOverlay', 'palette']

#: Points closer to the camera than this along the optical z axis [m] are not projected.
NEAR_PLANE_M = 0.01


def _point3(name: str, value: Any) -> np.ndarray:
    array = np.array(value, dtype=float).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise ValueError(f'{name}: expected 3 finite numbers, got {value!r}')
    array.setflags(write=False)
    return array


def _points3(name: str, value: Any) -> np.ndarray:
    array = np.array(value, dtype=float)
    if array.shape == (3,):
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f'{name}: expected an (N, 3) array, got shape {array.shape}')
    array.setflags(write=False)
    return array


def _rigid(name: str, value: Any) -> np.ndarray:
    T = np.array(value, dtype=float)
    if (T.shape != (4, 4) or not np.all(np.isfinite(T))
            or not np.allclose(T[3], (0.0, 0.0, 0.0, 1.0))):
        raise ValueError(f'{name}: expected a finite 4x4 homogeneous transform')
    if not np.allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-6):
        raise ValueError(f'{name}: the rotation block is not orthonormal')
    T.setflags(write=False)
    return T


@dataclass(frozen=True)
class CameraView:
    """A pinhole camera (no distortion) at a pose: projects base-frame points to pixels.

    Attributes:
        fx: Horizontal focal length [px].
        fy: Vertical focal length [px].
        cx: Principal point column [px] (pixel centres at integers).
        cy: Principal point row [px].
        T_base_cam: (4, 4) pose of the optical frame in the base frame, so that
            ``p_cam = inv(T_base_cam) @ p_base``.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    T_base_cam: np.ndarray
    T_cam_base: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ('fx', 'fy', 'cx', 'cy'):
            value = float(getattr(self, name))
            if not math.isfinite(value) or (name in ('fx', 'fy') and value <= 0.0):
                raise ValueError(f'{name}: expected a finite number (> 0 for focal lengths)')
            object.__setattr__(self, name, value)
        T = _rigid('T_base_cam', self.T_base_cam)
        object.__setattr__(self, 'T_base_cam', T)
        inverse = np.eye(4)
        inverse[:3, :3] = T[:3, :3].T
        inverse[:3, 3] = -T[:3, :3].T @ T[:3, 3]
        inverse.setflags(write=False)
        object.__setattr__(self, 'T_cam_base', inverse)

    @classmethod
    def from_intrinsics(cls, intrinsics: Any, T_base_cam: Any) -> CameraView:
        """From any object with ``fx fy cx cy`` attributes (``resem3d_perception.cloud.
        Intrinsics``, ``resem3d_sim.camera.CameraIntrinsics``) and the camera pose."""
        return cls(fx=intrinsics.fx, fy=intrinsics.fy, cx=intrinsics.cx, cy=intrinsics.cy,
                   T_base_cam=T_base_cam)

    def to_cam(self, points_base: Any) -> np.ndarray:
        """(N, 3) base-frame points [m] -> (N, 3) optical-frame points [m]."""
        p = _points3('points_base', points_base)
        return p @ self.T_cam_base[:3, :3].T + self.T_cam_base[:3, 3]

    def project_cam(self, points_cam: np.ndarray) -> np.ndarray:
        """(N, 3) optical-frame points (z > 0) -> (N, 2) pixel coordinates ``(x, y)``."""
        z = points_cam[:, 2]
        return np.stack([self.fx * points_cam[:, 0] / z + self.cx,
                         self.fy * points_cam[:, 1] / z + self.cy], axis=1)

    def project(self, points_base: Any) -> tuple[np.ndarray, np.ndarray]:
        """Project base-frame points.

        Returns:
            ``(uv_px, in_front)``: (N, 2) pixel coordinates ``(x, y)`` (NaN where not in front)
            and (N,) bool, True where the point is finite and at least :data:`NEAR_PLANE_M`
            in front of the camera. Points behind the camera are never projected.
        """
        p_cam = self.to_cam(points_base)
        with np.errstate(invalid='ignore'):
            in_front = np.all(np.isfinite(p_cam), axis=1) & (p_cam[:, 2] >= NEAR_PLANE_M)
        uv = np.full((len(p_cam), 2), np.nan)
        if np.any(in_front):
            uv[in_front] = self.project_cam(p_cam[in_front])
        return uv, in_front


@dataclass(frozen=True)
class Box3D:
    """An oriented box in the base frame (a refined region's bounding box).

    Attributes:
        center_base: (3,) centre [m], base frame.
        extent_m: (3,) full side lengths [m] along the box axes.
        R_base_box: (3, 3) rotation of the box axes in the base frame (default: aligned).
    """

    center_base: np.ndarray
    extent_m: np.ndarray
    R_base_box: np.ndarray = field(default_factory=lambda: np.eye(3))

    #: Index pairs of the 12 edges of :meth:`corners_base`.
    EDGES = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7),
             (0, 4), (1, 5), (2, 6), (3, 7))

    def __post_init__(self) -> None:
        object.__setattr__(self, 'center_base', _point3('center_base', self.center_base))
        extent = _point3('extent_m', self.extent_m)
        if np.any(extent < 0.0):
            raise ValueError('extent_m: side lengths must be >= 0')
        object.__setattr__(self, 'extent_m', extent)
        R = np.array(self.R_base_box, dtype=float)
        if R.shape != (3, 3) or not np.allclose(R.T @ R, np.eye(3), atol=1e-6):
            raise ValueError('R_base_box: expected a 3x3 rotation matrix')
        R.setflags(write=False)
        object.__setattr__(self, 'R_base_box', R)

    def corners_base(self) -> np.ndarray:
        """(8, 3) corners [m]; corner ``i`` has signs ``(bit2, bit1, bit0)`` of ``i`` on x y z."""
        signs = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)]) * 2.0 - 1.0
        return self.center_base + (signs * (self.extent_m / 2.0)) @ self.R_base_box.T


@dataclass(frozen=True)
class RegionOverlay:
    """A refined region to show: its points, its box, or both (base frame).

    Attributes:
        name: Region name, e.g. ``kettle/spout``.
        points_base: (N, 3) points [m] or None.
        box: The region's oriented box or None.
    """

    name: str
    points_base: np.ndarray | None = None
    box: Box3D | None = None

    def __post_init__(self) -> None:
        if self.points_base is not None:
            object.__setattr__(self, 'points_base', _points3('points_base', self.points_base))

    @classmethod
    def from_region(cls, region: Any, T_base_obj: Any, *, points: bool = True,
                    box: bool = True) -> RegionOverlay:
        """A refined region stored in its object frame, placed at the object's (tracked) pose.

        Args:
            region: A ``resem3d_constraints.Region`` (or any object with ``name``,
                ``points_obj`` (N, 3), ``center_obj`` (3,), ``axes_obj`` (3, 3) and
                ``extent_m`` (3,), in the object frame [m]).
            T_base_obj: (4, 4) pose of the object frame in the base frame.
            points: Include the region's points.
            box: Include its oriented bounding box.
        """
        T = _rigid('T_base_obj', T_base_obj)
        R, t = T[:3, :3], T[:3, 3]
        points_base = None
        if points:
            points_base = _points3('points_obj', region.points_obj) @ R.T + t
        obb = None
        if box:
            obb = Box3D(center_base=R @ _point3('center_obj', region.center_obj) + t,
                        extent_m=region.extent_m,
                        R_base_box=R @ np.asarray(region.axes_obj, dtype=float))
        return cls(name=str(region.name), points_base=points_base, box=obb)


@dataclass(frozen=True)
class ConstraintOverlay:
    """An active constraint: the anchor point it moves and the target it moves it to.

    Attributes:
        name: Constraint name (shown in legends and marker labels).
        anchor_base: (3,) anchor point [m], base frame (e.g. a point of the tool).
        target_base: (3,) target point [m], base frame, or None (no single target point).
        residual: Current violation in the constraint's unit (m or rad; 0 = within bounds),
            or None when unknown.
        tolerance: Violation below which the constraint counts as met, or None.
        unit: Unit of ``residual`` and ``tolerance`` (``m``, ``rad``; '' = not said).
    """

    name: str
    anchor_base: np.ndarray
    target_base: np.ndarray | None = None
    residual: float | None = None
    tolerance: float | None = None
    unit: str = ''

    def __post_init__(self) -> None:
        object.__setattr__(self, 'anchor_base', _point3('anchor_base', self.anchor_base))
        if self.target_base is not None:
            object.__setattr__(self, 'target_base', _point3('target_base', self.target_base))
        for name in ('residual', 'tolerance'):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    @property
    def satisfied(self) -> bool | None:
        """True/False when residual and tolerance are known and finite, else None."""
        if self.residual is None or self.tolerance is None or not math.isfinite(self.residual):
            return None
        return self.residual <= self.tolerance


@dataclass(frozen=True)
class MarkOverlay:
    """A numbered visual mark: the outline of its mask and where its number sits.

    Attributes:
        outline: (H, W) bool mask, or an (N, 2) closed contour of ``(x, y)`` pixels.
        anchor_px: ``(x, y)`` where the mark's number is drawn.
    """

    outline: np.ndarray
    anchor_px: tuple[float, float]

    def __post_init__(self) -> None:
        outline = np.asarray(self.outline)
        if outline.dtype == bool:
            if outline.ndim != 2:
                raise ValueError('outline: a mask must be (H, W) bool')
        elif outline.ndim != 2 or outline.shape[1] != 2 or len(outline) < 2:
            raise ValueError('outline: expected an (H, W) bool mask or an (N, 2) contour')
        object.__setattr__(self, 'outline', outline)
        anchor = tuple(float(v) for v in self.anchor_px)
        if len(anchor) != 2 or not all(math.isfinite(v) for v in anchor):
            raise ValueError(f'anchor_px: expected (x, y), got {self.anchor_px!r}')
        object.__setattr__(self, 'anchor_px', anchor)

    @classmethod
    def coerce(cls, value: Any) -> MarkOverlay:
        """A :class:`MarkOverlay` from itself, an ``(outline, anchor_px)`` pair, or an object
        with ``mask`` and ``anchor_px`` attributes (``resem3d_perception.marks.Mark``, whose
        ``mask`` is a ``Mask`` holding the array in its own ``mask`` attribute)."""
        if isinstance(value, cls):
            return value
        if hasattr(value, 'anchor_px') and hasattr(value, 'mask'):
            mask = value.mask
            return cls(getattr(mask, 'mask', mask), value.anchor_px)
        outline, anchor = value
        return cls(getattr(outline, 'mask', outline), anchor)
