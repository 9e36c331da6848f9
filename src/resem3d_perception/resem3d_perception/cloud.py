"""Depth image -> point cloud in the robot base frame.

Frames and conventions:
    * ``cam``: the camera's **optical** frame (OpenCV / ROS ``*_optical_frame``): x right,
      y down, z forward. Pixel ``(u, v)`` = (column, row) with pixel centres at integers, so a
      point ``p_cam = (x, y, z)`` projects to ``u = fx x / z + cx``, ``v = fy y / z + cy``.
      This is the convention of ``resem3d_sim.camera`` (``RgbdCamera.T_base_cam`` is the
      optical frame's pose and ``depth_to_points_base`` back-projects the same way); the test
      suite checks the two agree.
    * ``base``: the robot base frame. ``T_base_cam`` (4x4, metres) maps ``p_cam`` to
      ``p_base = R p_cam + t`` (full rotation and translation, from tf / hand-eye calibration).
    * Depth is the optical z coordinate (metres along the view axis, not the ray length), as
      RealSense and the simulator report it. 0, NaN, +-inf and depths outside
      ``[depth_min_m, depth_max_m]`` are invalid.

Speed: back-projection uses a per-intrinsics table of pixel rays ``((u - cx) / fx,
(v - cy) / fy, 1)`` (float32, computed once and cached), so a frame costs one gather, one
multiply and one 3x3 transform of the valid pixels: about 3.5 ms at 640x480 on a slow
2-core machine. For a fixed camera (the same rotation in consecutive calls) the rays are
also cached in the base frame, which saves the transform (about 2.5 ms). Points are float32
(sub-micrometre resolution at a few metres).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import PerceptionInputError

# Tolerance on R^T R = I and det R = 1 for a rigid transform.
_RIGID_ATOL = 1e-5
# Depth range used when the intrinsics do not give one (a D435's useful range, metres).
DEFAULT_DEPTH_MIN_M = 0.1
DEFAULT_DEPTH_MAX_M = 3.0
# Depth unit of integer (uint16) depth images when the caller gives none: RealSense's 1 mm.
DEFAULT_DEPTH_UNIT_M = 0.001


def _finite_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PerceptionInputError(f'intrinsics: {name} must be a number, got {value!r}')
    if not math.isfinite(float(value)):
        raise PerceptionInputError(f'intrinsics: {name} must be finite, got {value!r}')
    return float(value)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics (no distortion: a rectified / aligned stream) and depth range.

    Same field names as ``resem3d_sim.camera.CameraIntrinsics`` (use :meth:`from_object` to
    convert one, or any object with these attributes, e.g. a wrapper of ROS ``CameraInfo``).

    Attributes:
        width: Image width (px).
        height: Image height (px).
        fx: Horizontal focal length (px).
        fy: Vertical focal length (px).
        cx: Principal point column (px; pixel centres at integers, 0 <= cx <= width - 1).
        cy: Principal point row (px; 0 <= cy <= height - 1).
        depth_min_m: Closest valid depth along the optical z axis (m).
        depth_max_m: Farthest valid depth along the optical z axis (m).

    Raises:
        PerceptionInputError: On non-integer or non-positive sizes, non-finite or non-positive
            focal lengths, a principal point outside the image, or a depth range that is not
            ``0 < depth_min_m < depth_max_m`` (finite).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    depth_min_m: float = DEFAULT_DEPTH_MIN_M
    depth_max_m: float = DEFAULT_DEPTH_MAX_M

    def __post_init__(self) -> None:
        for name in ('width', 'height'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise PerceptionInputError(
                    f'intrinsics: {name} must be a positive integer (px), got {value!r}')
            object.__setattr__(self, name, int(value))
        for name in ('fx', 'fy', 'cx', 'cy', 'depth_min_m', 'depth_max_m'):
            object.__setattr__(self, name, _finite_number(name, getattr(self, name)))
        if self.fx <= 0.0 or self.fy <= 0.0:
            raise PerceptionInputError(
                f'intrinsics: focal lengths must be positive (px), got fx={self.fx}, fy={self.fy}')
        if not 0.0 <= self.cx <= self.width - 1:
            raise PerceptionInputError(
                f'intrinsics: cx={self.cx} px lies outside the image [0, {self.width - 1}]')
        if not 0.0 <= self.cy <= self.height - 1:
            raise PerceptionInputError(
                f'intrinsics: cy={self.cy} px lies outside the image [0, {self.height - 1}]')
        if not 0.0 < self.depth_min_m < self.depth_max_m:
            raise PerceptionInputError(
                f'intrinsics: need 0 < depth_min_m < depth_max_m, got {self.depth_min_m} and '
                f'{self.depth_max_m} m')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Intrinsics:
        """Build from a config mapping with the attribute names as keys.

        ``width``, ``height``, ``fx``, ``fy``, ``cx`` and ``cy`` are required; the depth range
        defaults to ``[0.1, 3.0]`` m.

        Raises:
            PerceptionInputError: On a non-mapping, unknown or missing keys, or bad values.
        """
        if not isinstance(mapping, Mapping):
            raise PerceptionInputError(
                f'intrinsics must be a mapping, got {type(mapping).__name__}')
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(mapping) - set(known))
        if unknown:
            raise PerceptionInputError(f'intrinsics: unknown keys {unknown}; known: {known}')
        missing = [k for k in known[:6] if k not in mapping]
        if missing:
            raise PerceptionInputError(f'intrinsics: missing keys {missing}')
        return cls(**dict(mapping))

    @classmethod
    def from_object(cls, obj: Any) -> Intrinsics:
        """Convert any object with the attributes of this class (duck typing), e.g.
        ``resem3d_sim.camera.CameraIntrinsics``; an :class:`Intrinsics` is returned as is.

        ``depth_min_m``/``depth_max_m`` are optional attributes (defaults 0.1 and 3.0 m).

        Raises:
            PerceptionInputError: If a required attribute is missing or a value is bad.
        """
        if isinstance(obj, Intrinsics):
            return obj
        values: dict[str, Any] = {}
        for f in fields(cls):
            if hasattr(obj, f.name):
                values[f.name] = getattr(obj, f.name)
            elif f.name not in ('depth_min_m', 'depth_max_m'):
                raise PerceptionInputError(
                    f'intrinsics: {type(obj).__name__} has no attribute {f.name!r}')
        return cls(**values)

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(height, width)`` (numpy order)."""
        return (self.height, self.width)

    @property
    def K(self) -> np.ndarray:  # noqa: N802 (the conventional name of the camera matrix)
        """The 3x3 camera matrix: ``K @ p_cam = z (u, v, 1)``."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, p_cam: np.ndarray) -> np.ndarray:
        """Project points of the optical frame to pixels.

        Args:
            p_cam: (N, 3) or (3,) points in the optical frame (m), z > 0.

        Returns:
            (N, 2) or (2,) float pixel coordinates ``(u, v)`` (px).
        """
        p = np.asarray(p_cam, dtype=float)
        z = p[..., 2]
        return np.stack([self.fx * p[..., 0] / z + self.cx, self.fy * p[..., 1] / z + self.cy],
                        axis=-1)


def as_intrinsics(intrinsics: Any) -> Intrinsics:
    """An :class:`Intrinsics` from an Intrinsics, a mapping or an attribute-compatible object.

    Raises:
        PerceptionInputError: If it cannot be converted.
    """
    if isinstance(intrinsics, Intrinsics):
        return intrinsics
    if isinstance(intrinsics, Mapping):
        return Intrinsics.from_mapping(intrinsics)
    return Intrinsics.from_object(intrinsics)


def check_rigid(T: Any, name: str = 'T') -> np.ndarray:
    """Return ``T`` as a float64 (4, 4) array if it is a finite rigid transform.

    Raises:
        PerceptionInputError: (one line) if it is not numeric, not 4x4, not finite, its
            rotation is not orthonormal with det +1, or its last row is not ``0 0 0 1``.
    """
    try:
        A = np.asarray(T, dtype=float)
    except (TypeError, ValueError):
        raise PerceptionInputError(f'{name} is not numeric') from None
    if A.shape != (4, 4):
        raise PerceptionInputError(f'{name} must be a 4x4 transform, got shape {A.shape}')
    if not np.all(np.isfinite(A)):
        raise PerceptionInputError(f'{name} has non-finite entries')
    R = A[:3, :3]
    if (not np.allclose(A[3], (0.0, 0.0, 0.0, 1.0), atol=_RIGID_ATOL)
            or not np.allclose(R.T @ R, np.eye(3), atol=_RIGID_ATOL)
            or abs(np.linalg.det(R) - 1.0) > _RIGID_ATOL):
        raise PerceptionInputError(f'{name} is not a rigid transform (rotation must be '
                                   f'orthonormal with det +1, last row 0 0 0 1)')
    return A


def invert_rigid(T: np.ndarray) -> np.ndarray:
    """Inverse (4, 4) of a rigid transform (no check)."""
    inverse = np.eye(4)
    inverse[:3, :3] = T[:3, :3].T
    inverse[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inverse


# Rows per block of :func:`matmul_rows`: below OpenBLAS's threading threshold.
_GEMM_BLOCK_ROWS = 16384


def matmul_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` for a tall ``A`` (N, k) and a small ``B`` (k, m), in row blocks.

    OpenBLAS multi-threads large GEMMs; on a machine whose cores are busy (the controller,
    the renderer, other nodes) the thread hand-offs make a (300k, 3) x (3, 3) product take
    ~50 ms instead of ~0.5 ms. Blocks of 16k rows stay single-threaded.
    """
    out = np.empty((A.shape[0], B.shape[1]), dtype=np.result_type(A, B))
    for start in range(0, A.shape[0], _GEMM_BLOCK_ROWS):
        np.matmul(A[start:start + _GEMM_BLOCK_ROWS], B, out=out[start:start + _GEMM_BLOCK_ROWS])
    return out


def rotate_rows(P: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``R @ p`` for every row ``p`` of ``P`` (N, 3), in ``P``'s dtype.

    Written as three element-wise products and sums rather than a matrix product because
    each row's result must depend on that row alone, bit for bit: a BLAS product may take a
    different kernel (and rounding) for a different number of rows, so a point rotated
    alone and the same point read from a table of rotated rays would differ in their last
    bits, and a closed-loop run would then depend on what the process computed before it
    (measured: a pour poured 35 of 40 particles in a fresh process and 14 of 40 after
    another run, the camera-ray table left by that run being the only difference).
    """
    R = np.asarray(R, dtype=P.dtype)
    out = P[:, 0:1] * R[:, 0]
    out += P[:, 1:2] * R[:, 1]
    out += P[:, 2:3] * R[:, 2]
    return out


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a rigid transform (4, 4) to (N, 3) points; float64 result."""
    P = np.asarray(points, dtype=float)
    out = matmul_rows(P, np.ascontiguousarray(T[:3, :3].T))
    out += T[:3, 3]
    return out


@lru_cache(maxsize=8)
def pixel_rays(intrinsics: Intrinsics) -> np.ndarray:
    """Read-only (H*W, 3) float32 table of optical-frame rays ``((u-cx)/fx, (v-cy)/fy, 1)``,
    row-major over pixels; ``depth * ray`` is the pixel's point. Cached per intrinsics."""
    k = intrinsics
    rx = ((np.arange(k.width, dtype=np.float64) - k.cx) / k.fx).astype(np.float32)
    ry = ((np.arange(k.height, dtype=np.float64) - k.cy) / k.fy).astype(np.float32)
    rays = np.empty((k.height, k.width, 3), dtype=np.float32)
    rays[..., 0] = rx[None, :]
    rays[..., 1] = ry[:, None]
    rays[..., 2] = 1.0
    rays = rays.reshape(-1, 3)
    rays.setflags(write=False)
    return rays


# Static cameras: per intrinsics, the last camera rotation seen and (once seen twice in a row)
# its table of base-frame rays R @ ray, so a frame costs a gather, a multiply and an add.
_BASE_RAYS: dict[Intrinsics, tuple[bytes, np.ndarray | None]] = {}
_BASE_RAYS_MAX = 4


def _static_base_rays(intrinsics: Intrinsics, R: np.ndarray) -> np.ndarray | None:
    """(H*W, 3) float32 base-frame rays if the camera rotation ``R`` (float32) is the same as
    in the previous call for these intrinsics (a fixed camera), else None."""
    key = R.tobytes()
    entry = _BASE_RAYS.get(intrinsics)
    if entry is not None and entry[0] == key:
        if entry[1] is None:
            table = rotate_rows(pixel_rays(intrinsics), R)
            table.setflags(write=False)
            entry = (key, table)
            _BASE_RAYS[intrinsics] = entry
        return entry[1]
    if len(_BASE_RAYS) >= _BASE_RAYS_MAX and intrinsics not in _BASE_RAYS:
        _BASE_RAYS.clear()
    _BASE_RAYS[intrinsics] = (key, None)
    return None


@dataclass(frozen=True, eq=False)
class Cloud:
    """A point cloud in the robot base frame, linked to the pixels it came from.

    Attributes:
        points_base: (N, 3) float32 points ``p_base`` (m).
        pixel_index: (N,) int32 row-major pixel index ``v * width + u`` of each point,
            ascending. After voxel downsampling: the pixel of one point of the voxel.
        intrinsics: The camera's intrinsics.
        T_base_cam: (4, 4) float64 pose of the optical frame in the base frame.
        colors: (N, 3) uint8 RGB of each point, or None.
        voxel_size_m: Voxel edge (m) if the cloud was voxel-downsampled (points are voxel
            means), else None.
        stride_px: Pixel subsampling step the cloud was built with (1: every pixel).
        reason: Why the cloud is empty ('' when it is not).
    """

    points_base: np.ndarray
    pixel_index: np.ndarray
    intrinsics: Intrinsics
    T_base_cam: np.ndarray
    colors: np.ndarray | None = None
    voxel_size_m: float | None = None
    stride_px: int = 1
    reason: str = ''
    _camera_base: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, '_camera_base', np.asarray(self.T_base_cam[:3, 3], dtype=float))

    def __len__(self) -> int:
        return int(self.points_base.shape[0])

    @property
    def is_empty(self) -> bool:
        """True when no point survived (see :attr:`reason`)."""
        return len(self) == 0

    @property
    def camera_position_base(self) -> np.ndarray:
        """(3,) optical centre of the camera in the base frame (m)."""
        return self._camera_base

    @property
    def is_full_resolution(self) -> bool:
        """True if every kept point is one pixel's back-projection (no voxel, stride 1)."""
        return self.voxel_size_m is None and self.stride_px == 1

    def pixels_uv(self) -> np.ndarray:
        """(N, 2) int32 pixel coordinates ``(u, v)`` of the points."""
        w = self.intrinsics.width
        return np.column_stack([self.pixel_index % w, self.pixel_index // w]).astype(np.int32)

    def mask_selector(self, mask: np.ndarray) -> np.ndarray:
        """(N,) bool: which points come from a pixel set in ``mask`` (H, W) bool.

        Raises:
            PerceptionInputError: If the mask's shape does not match the image.
        """
        m = check_mask(mask, self.intrinsics, 'mask')
        return m.ravel()[self.pixel_index]

    def select(self, keep: np.ndarray, reason: str = 'no point selected') -> Cloud:
        """A cloud of the points where ``keep`` ((N,) bool or an index array) is set."""
        points = self.points_base[keep]
        return Cloud(points_base=points, pixel_index=self.pixel_index[keep],
                     intrinsics=self.intrinsics, T_base_cam=self.T_base_cam,
                     colors=None if self.colors is None else self.colors[keep],
                     voxel_size_m=self.voxel_size_m, stride_px=self.stride_px,
                     reason='' if len(points) else reason)

    def rows(self, v0: int, v1: int) -> slice:
        """Slice of the points whose pixels lie in image rows ``[v0, v1)`` (O(log N): the
        points are in row-major pixel order)."""
        w = self.intrinsics.width
        lo, hi = np.searchsorted(self.pixel_index, (max(v0, 0) * w, max(v1, 0) * w))
        return slice(int(lo), int(hi))

    def crop_pixels(self, u0: int, v0: int, u1: int, v1: int) -> np.ndarray:
        """Indices of the points whose pixel lies in the rectangle ``[u0, u1) x [v0, v1)``.

        Costs O(rows log N + M) for M points found, not O(N): the points are in row-major
        pixel order, so each row's run is found by binary search.
        """
        w, h = self.intrinsics.width, self.intrinsics.height
        u0, u1 = max(int(u0), 0), min(int(u1), w)
        v0, v1 = max(int(v0), 0), min(int(v1), h)
        if u0 >= u1 or v0 >= v1:
            return np.zeros(0, dtype=np.int64)
        row_start = np.arange(v0, v1, dtype=np.int64) * w
        starts = np.searchsorted(self.pixel_index, row_start + u0)
        ends = np.searchsorted(self.pixel_index, row_start + u1)
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        # Concatenated ranges [starts[i], ends[i]) without a Python loop.
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        return offsets + np.arange(total)

    def points_in_box(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """(M, 3) float64 points inside the axis-aligned box ``[lo, hi]`` (base frame, m).

        Only the points of the pixel rectangle the box's corners project to are tested
        (:meth:`crop_pixels`): a few thousand rather than the whole frame. A box reaching
        behind the camera, or a voxel-downsampled cloud (not in pixel order), tests every
        point.
        """
        points = self.points_base
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                            for z in (lo[2], hi[2])])
        uv, z = project_base_points(corners, self.intrinsics, self.T_base_cam)
        if np.all(z > 1e-3) and self.voxel_size_m is None:
            u0, v0 = np.floor(uv.min(axis=0)).astype(int)
            u1, v1 = np.ceil(uv.max(axis=0)).astype(int) + 1
            points = points[self.crop_pixels(u0, v0, u1, v1)]
        keep = (points[:, 0] >= lo[0]) & (points[:, 0] <= hi[0])
        for axis in (1, 2):
            keep &= (points[:, axis] >= lo[axis]) & (points[:, axis] <= hi[axis])
        return points[keep].astype(float)

    def to_open3d(self) -> Any:
        """An ``open3d.geometry.PointCloud`` of the points (float64 copy; colours if any)."""
        import open3d as o3d

        pcd = o3d.geometry.PointCloud(
            o3d.utility.Vector3dVector(self.points_base.astype(np.float64)))
        if self.colors is not None:
            pcd.colors = o3d.utility.Vector3dVector(self.colors.astype(np.float64) / 255.0)
        return pcd


def check_mask(mask: Any, intrinsics: Intrinsics, name: str = 'mask') -> np.ndarray:
    """Return ``mask`` as an (H, W) bool array matching the intrinsics' image size.

    Accepts bool or integer (non-zero = set) arrays.

    Raises:
        PerceptionInputError: On another shape or a non-bool, non-integer dtype.
    """
    m = np.asarray(mask)
    if m.shape != intrinsics.shape:
        raise PerceptionInputError(f'{name} shape {m.shape} != image (height, width) '
                                   f'{intrinsics.shape}')
    if m.dtype != np.bool_:
        if not np.issubdtype(m.dtype, np.integer):
            raise PerceptionInputError(
                f'{name} must be bool (or integer 0/1), got dtype {m.dtype}')
        m = m != 0
    return m


def _check_depth(depth: Any, intrinsics: Intrinsics, depth_unit_m: float | None) -> np.ndarray:
    """(H, W) float32 depth in metres from a float (m) or uint16 (``depth_unit_m``) image."""
    d = np.asarray(depth)
    if d.shape != intrinsics.shape:
        raise PerceptionInputError(f'depth shape {d.shape} != intrinsics (height, width) '
                                   f'{intrinsics.shape}')
    if d.dtype == np.float32:
        return d if depth_unit_m is None else d * np.float32(depth_unit_m)
    if d.dtype in (np.float64, np.float16):
        scale = 1.0 if depth_unit_m is None else depth_unit_m
        return (d * scale).astype(np.float32) if scale != 1.0 else d.astype(np.float32)
    if d.dtype == np.uint16:
        unit = DEFAULT_DEPTH_UNIT_M if depth_unit_m is None else depth_unit_m
        return d.astype(np.float32) * np.float32(unit)
    raise PerceptionInputError(f'depth must be float32/float64 (m) or uint16 (depth units), '
                               f'got dtype {d.dtype}')


def _empty_reason(depth: np.ndarray, lo: float, hi: float, masked: bool) -> str:
    total = depth.size
    finite = np.isfinite(depth)
    positive = int(np.count_nonzero(finite & (depth > 0.0)))
    if positive == 0:
        return f'no valid depth: all {total} pixels are 0, NaN or inf'
    where = ' under the mask' if masked else ''
    return (f'no valid depth{where}: {positive} of {total} pixels have depth > 0 but none in '
            f'[{lo}, {hi}] m{where}')


def voxel_downsample(points: np.ndarray, pixel_index: np.ndarray, voxel_size_m: float,
                     colors: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Average the points of each voxel, keeping one pixel index (the first) per voxel.

    Hand-written with numpy rather than open3d: ``voxel_down_sample`` drops the point ->
    pixel link that masks need, and ``voxel_down_sample_and_trace`` returns per-voxel Python
    lists (about 3x slower than this at 640x480).

    Args:
        points: (N, 3) points (m).
        pixel_index: (N,) pixel index of each point.
        voxel_size_m: Voxel edge (m), > 0.
        colors: Optional (N, 3) uint8 colours (averaged too).

    Returns:
        ``(points (M, 3) float32, pixel_index (M,) int32, colors (M, 3) uint8 or None)``,
        voxels in ascending key order.
    """
    if len(points) == 0:
        return points.astype(np.float32), pixel_index.astype(np.int32), colors
    P = np.asarray(points, dtype=np.float64)
    q = np.floor((P - P.min(axis=0)) / voxel_size_m).astype(np.int64)
    dims = q.max(axis=0) + 1
    key = (q[:, 0] * dims[1] + q[:, 1]) * dims[2] + q[:, 2]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    out = np.column_stack([np.bincount(inverse, P[:, j]) for j in range(3)]) / counts[:, None]
    out_colors = None
    if colors is not None:
        C = np.asarray(colors, dtype=np.float64)
        out_colors = np.rint(np.column_stack([np.bincount(inverse, C[:, j]) for j in range(3)])
                             / counts[:, None]).astype(np.uint8)
    order = np.argsort(pixel_index[first], kind='stable')  # keep row-major pixel order
    return (out[order].astype(np.float32), pixel_index[first][order].astype(np.int32),
            None if out_colors is None else out_colors[order])


def depth_to_cloud(depth: Any, intrinsics: Any, T_base_cam: Any, *,  # noqa: N803
                   mask: np.ndarray | None = None, color: np.ndarray | None = None,
                   voxel_size_m: float | None = None, stride_px: int = 1,
                   depth_min_m: float | None = None, depth_max_m: float | None = None,
                   depth_unit_m: float | None = None) -> Cloud:
    """Back-project a depth image to a point cloud in the robot base frame.

    Args:
        depth: (H, W) depth along the optical z axis: float32/float64 in metres (or in
            ``depth_unit_m``), or uint16 in ``depth_unit_m`` (default 1 mm). 0, NaN, inf and
            depths outside the range are invalid and dropped.
        intrinsics: :class:`Intrinsics`, a mapping or any object with its attributes.
        T_base_cam: (4, 4) rigid pose of the optical frame in the base frame (m).
        mask: Optional (H, W) bool selection of pixels (e.g. a part mask).
        color: Optional (H, W, 3) uint8 RGB image aligned with the depth; gives per-point
            colours.
        voxel_size_m: If given (> 0), average the points per voxel of this edge (m).
        stride_px: Keep every ``stride_px``-th row and column (cheap, organised downsampling).
        depth_min_m: Override of the intrinsics' closest valid depth (m).
        depth_max_m: Override of the intrinsics' farthest valid depth (m).
        depth_unit_m: Metres per depth unit (integer images; or to scale float images).

    Returns:
        The :class:`Cloud`; empty, with :attr:`Cloud.reason` set, when no pixel is valid.

    Raises:
        PerceptionInputError: (one line) on a depth shape that does not match the
            intrinsics, an unsupported dtype, a mask or colour image of the wrong shape, a
            non-rigid ``T_base_cam``, or bad parameters.
    """
    k = as_intrinsics(intrinsics)
    T = check_rigid(T_base_cam, 'T_base_cam')
    d = _check_depth(depth, k, depth_unit_m)
    lo = k.depth_min_m if depth_min_m is None else _finite_number('depth_min_m', depth_min_m)
    hi = k.depth_max_m if depth_max_m is None else _finite_number('depth_max_m', depth_max_m)
    if not 0.0 < lo < hi:
        raise PerceptionInputError(f'need 0 < depth_min_m < depth_max_m, got {lo} and {hi} m')
    if (isinstance(stride_px, bool) or not isinstance(stride_px, (int, np.integer))
            or stride_px < 1):
        raise PerceptionInputError(f'stride_px must be an integer >= 1, got {stride_px!r}')
    if voxel_size_m is not None and not (isinstance(voxel_size_m, (int, float))
                                         and math.isfinite(voxel_size_m) and voxel_size_m > 0.0):
        raise PerceptionInputError(f'voxel_size_m must be a positive number, got {voxel_size_m!r}')
    colors_img = None
    if color is not None:
        colors_img = np.asarray(color)
        if colors_img.shape != (k.height, k.width, 3) or colors_img.dtype != np.uint8:
            raise PerceptionInputError(f'color must be ({k.height}, {k.width}, 3) uint8, got '
                                       f'{colors_img.shape} {colors_img.dtype}')

    flat = d.ravel()
    # NaN compares False, so this one test drops 0, NaN, +-inf and out-of-range depths.
    valid = (flat >= np.float32(lo)) & (flat <= np.float32(hi))
    if mask is not None:
        valid &= check_mask(mask, k).ravel()
    if stride_px > 1:
        on_grid = np.zeros(k.shape, dtype=bool)
        on_grid[::stride_px, ::stride_px] = True
        valid &= on_grid.ravel()
    index = np.flatnonzero(valid).astype(np.int32)
    T32 = T.astype(np.float32)
    if len(index) == 0:
        return Cloud(np.zeros((0, 3), np.float32), index, k, T,
                     None if colors_img is None else np.zeros((0, 3), np.uint8),
                     voxel_size_m, int(stride_px),
                     reason=_empty_reason(d, lo, hi, mask is not None or stride_px > 1))
    z = flat[index]
    base_rays = _static_base_rays(k, T32[:3, :3])
    # Both branches rotate the ray first and scale it by the depth after, with the same
    # row-wise arithmetic (rotate_rows), so a frame gives the same points bit for bit whether
    # the ray table is cached or not (the first frames of a process are not).
    if base_rays is not None:                 # fixed camera: rays already in the base frame
        points = np.take(base_rays, index, axis=0)
    else:
        points = rotate_rows(np.take(pixel_rays(k), index, axis=0), T32[:3, :3])
    points *= z[:, None]
    points += T32[:3, 3]
    colors = None if colors_img is None else np.take(colors_img.reshape(-1, 3), index, axis=0)
    if voxel_size_m is not None:
        points, index, colors = voxel_downsample(points, index, float(voxel_size_m), colors)
    return Cloud(points, index, k, T, colors, voxel_size_m, int(stride_px))


def project_base_points(points_base: np.ndarray, intrinsics: Intrinsics,
                        T_base_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project base-frame points into the image.

    Args:
        points_base: (N, 3) points (m), base frame.
        intrinsics: Camera intrinsics.
        T_base_cam: (4, 4) pose of the optical frame in the base frame.

    Returns:
        ``(uv (N, 2) float px, z_m (N,) depth along the optical axis)``; points with
        ``z_m <= 0`` are behind the camera (their ``uv`` is meaningless).
    """
    p_cam = transform_points(invert_rigid(np.asarray(T_base_cam, dtype=float)), points_base)
    z = p_cam[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        uv = np.column_stack([intrinsics.fx * p_cam[:, 0] / z + intrinsics.cx,
                              intrinsics.fy * p_cam[:, 1] / z + intrinsics.cy])
    return uv, z
