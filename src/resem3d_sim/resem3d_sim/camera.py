"""A RealSense-D435-like RGB-D camera on a MuJoCo model: intrinsics, depth noise, part masks.

Frames:
    * ``base``: the MuJoCo world frame, unless :class:`RgbdCamera` is given a ``base_body``.
    * ``cam``: the camera's **optical** frame (ROS ``camera_color_optical_frame``): x right,
      y down, z forward. Pixel ``(u, v)`` = (column, row), pixel centres at integers, so
      ``u = fx * x / z + cx`` and ``v = fy * y / z + cy`` for ``p_cam = (x, y, z)``.
    * ``mjcam``: MuJoCo's camera frame: x right, y up, looking along -z. It is the optical frame
      turned by pi about its x axis: ``R_cam_mjcam = R_mjcam_cam = diag(1, -1, -1)``.

Rendering: MuJoCo 4 cameras take pinhole intrinsics (``focal_pixel``, ``principal_pixel``,
``sensor_size``, ``resolution``), so fx != fy and an off-centre principal point render exactly;
:func:`add_camera` sets them. In MuJoCo 4.0 a positive principal-point offset moves the
principal point towards smaller u and v: ``cx = (w - 1) / 2 - principal_pixel[0]`` and
``cy = (h - 1) / 2 - principal_pixel[1]`` (measured on the rasteriser; the sign of the vertical
offset changed between MuJoCo releases, so test_camera.py pins it).

Depth is the optical z coordinate of the surface (metres along the view axis, not the ray
length), linearised from the OpenGL depth buffer exactly as ``mujoco.Renderer`` does it. A frame
is two render passes with one scene update: colour, then a segmentation pass (flat id colours)
whose colour buffer gives the per-pixel geom and whose depth buffer gives the depth. This is
``mujoco.Renderer``'s colour, depth and segmentation modes at two passes instead of three (the
test suite checks the results equal the Renderer's).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any

from resem3d_sim.errors import SimError
from resem3d_sim.gl import configure_headless_gl

configure_headless_gl()  # before the first import of mujoco: selects its OpenGL backend.

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

# Optical frame <-> MuJoCo camera frame (a pi turn about x; its own inverse).
R_CAM_MJCAM = np.diag([1.0, -1.0, -1.0])
# Nominal pixel pitch handed to MuJoCo (m); only focal/pitch and principal/pitch ratios matter.
_PIXEL_PITCH_M = 1.0e-6
# Geom names of labelled parts: 'object/part' or 'object/part#k' (k-th geom of that part).
_PART_NAME = re.compile(r'^([^/#\s]+/[^/#\s]+)(?:#\d+)?$')
_LABEL = re.compile(r'^[^/#\s]+/[^/#\s]+$')
# Relative and absolute (px) tolerances when comparing intrinsics with the model's float32 ones.
_FOCAL_RTOL = 1e-4
_CENTRE_ATOL_PX = 1e-2


class CameraError(SimError):
    """Base class of the errors of :mod:`resem3d_sim.camera`."""


class CameraConfigError(CameraError, ValueError):
    """Impossible camera or noise parameters, or a camera that does not match the model."""


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CameraConfigError(f'{name} must be a number, got {value!r}')
    if not math.isfinite(float(value)):
        raise CameraConfigError(f'{name} must be finite, got {value!r}')
    return float(value)


def _from_mapping(cls: type, mapping: Mapping[str, Any]) -> Any:
    if not isinstance(mapping, Mapping):
        raise CameraConfigError(f'{cls.__name__} config must be a mapping, got {mapping!r}')
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise CameraConfigError(f'unknown {cls.__name__} keys {unknown}; known: {sorted(known)}')
    return cls(**mapping)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics and depth range of the camera (no distortion: an aligned D435 stream).

    Defaults: a D435 colour stream at 640x480 (depth aligned to colour).

    Attributes:
        width: Image width (px).
        height: Image height (px).
        fx: Horizontal focal length (px).
        fy: Vertical focal length (px).
        cx: Principal point column (px; pixel centres at integers, 0 <= cx <= width - 1).
        cy: Principal point row (px; 0 <= cy <= height - 1).
        depth_min_m: Closest valid depth along the optical z axis (m); nearer reads 0.
        depth_max_m: Farthest valid depth along the optical z axis (m); farther reads 0.

    Raises:
        CameraConfigError: On non-positive sizes or focal lengths, a principal point outside
            the image, or ``depth_min_m >= depth_max_m`` or ``depth_min_m <= 0``.
    """

    width: int = 640
    height: int = 480
    fx: float = 615.0
    fy: float = 615.0
    cx: float = 319.5
    cy: float = 239.5
    depth_min_m: float = 0.1
    depth_max_m: float = 3.0

    def __post_init__(self) -> None:
        for name in ('width', 'height'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise CameraConfigError(f'{name} must be a positive integer (px), got {value!r}')
            object.__setattr__(self, name, int(value))
        for name in ('fx', 'fy', 'cx', 'cy', 'depth_min_m', 'depth_max_m'):
            object.__setattr__(self, name, _number(name, getattr(self, name)))
        if self.fx <= 0.0 or self.fy <= 0.0:
            raise CameraConfigError(f'focal lengths must be positive (px), got fx={self.fx}, '
                                    f'fy={self.fy}')
        if not 0.0 <= self.cx <= self.width - 1:
            raise CameraConfigError(f'cx={self.cx} px lies outside the image [0, '
                                    f'{self.width - 1}]')
        if not 0.0 <= self.cy <= self.height - 1:
            raise CameraConfigError(f'cy={self.cy} px lies outside the image [0, '
                                    f'{self.height - 1}]')
        if self.depth_min_m <= 0.0:
            raise CameraConfigError(f'depth_min_m must be positive, got {self.depth_min_m}')
        if self.depth_min_m >= self.depth_max_m:
            raise CameraConfigError(f'depth_min_m={self.depth_min_m} must be < depth_max_m='
                                    f'{self.depth_max_m}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> CameraIntrinsics:
        """Build from a config mapping (keys: the attribute names; missing keys keep defaults).

        Raises:
            CameraConfigError: On unknown keys or impossible values.
        """
        return _from_mapping(cls, mapping)

    @property
    def K(self) -> np.ndarray:  # noqa: N802 (the conventional name of the camera matrix)
        """The 3x3 camera matrix mapping ``p_cam`` to homogeneous pixels ``(u, v, 1) * z``."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def fovy_deg(self) -> float:
        """Vertical field of view (deg) for a centred principal point: 2 atan(h / (2 fy))."""
        return math.degrees(2.0 * math.atan(self.height / (2.0 * self.fy)))

    @property
    def is_centred(self) -> bool:
        """Whether the principal point is the image centre ((w - 1) / 2, (h - 1) / 2)."""
        return (abs(self.cx - (self.width - 1) / 2.0) < _CENTRE_ATOL_PX
                and abs(self.cy - (self.height - 1) / 2.0) < _CENTRE_ATOL_PX)

    def project(self, p_cam: np.ndarray) -> np.ndarray:
        """Project points of the optical frame to pixels.

        Args:
            p_cam: (N, 3) or (3,) points in the optical frame (m), z > 0.

        Returns:
            (N, 2) or (2,) pixel coordinates ``(u, v)`` (px).
        """
        p = np.asarray(p_cam, dtype=float)
        z = p[..., 2]
        return np.stack([self.fx * p[..., 0] / z + self.cx, self.fy * p[..., 1] / z + self.cy],
                        axis=-1)


@dataclass(frozen=True)
class DepthNoise:
    """A D435-like depth error model, applied to the clean rendered depth.

    In this order: pixels at depth discontinuities are marked invalid (a 4-neighbour differs by
    more than ``edge_jump_m``, or is a no-return pixel; the mask is then dilated by
    ``edge_dilate_px``: stereo matching fails at occlusion boundaries), range-dependent
    Gaussian noise with std ``sigma(z) = sigma_a_per_m * z**2`` is added (stereo depth error
    grows with z squared), the result is quantised to ``quantisation_m`` (the D4xx default
    depth unit is 1 mm) and a random ``dropout_fraction`` of the pixels reads invalid. Invalid
    pixels are 0, like the RealSense driver's. The camera gates the result to the intrinsics'
    depth range whether or not noise is enabled.

    The default ``sigma_a_per_m = 0.001`` (1 mm at 1 m, 4 mm at 2 m) is a modelling choice: a
    mild, filtered-stream level. Intel's RMS formula for the raw D435 stream,
    z**2 * subpixel / (focal_px * baseline_m), with subpixel 0.08, ~430 px and 0.05 m gives
    about 0.004 /m; raise it to test robustness.

    Attributes:
        enabled: False returns clean depth (still range-gated), for tests.
        quantisation_m: Depth unit (m); 0 disables quantisation.
        sigma_a_per_m: Coefficient a of sigma(z) = a z^2 (1/m); 0 disables the noise.
        edge_jump_m: Depth jump to a 4-neighbour that invalidates a pixel (m).
        edge_dilate_px: Dilation of the edge mask (px, 3x3 square steps); 0 for none.
        dropout_fraction: Fraction of pixels randomly invalidated, in [0, 1).
        seed: Seed of the camera's numpy Generator when the camera is given none.

    Raises:
        CameraConfigError: On negative or non-finite values.
    """

    enabled: bool = True
    quantisation_m: float = 0.001
    sigma_a_per_m: float = 0.001
    edge_jump_m: float = 0.05
    edge_dilate_px: int = 1
    dropout_fraction: float = 0.002
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, (bool, np.bool_)):
            raise CameraConfigError(f'enabled must be a bool, got {self.enabled!r}')
        for name in ('quantisation_m', 'sigma_a_per_m', 'edge_jump_m', 'dropout_fraction'):
            value = _number(name, getattr(self, name))
            if value < 0.0:
                raise CameraConfigError(f'{name} must be >= 0, got {value}')
            object.__setattr__(self, name, value)
        if self.edge_jump_m <= 0.0:
            raise CameraConfigError(f'edge_jump_m must be positive, got {self.edge_jump_m}')
        if self.dropout_fraction >= 1.0:
            raise CameraConfigError(f'dropout_fraction must be < 1, got {self.dropout_fraction}')
        for name in ('edge_dilate_px', 'seed'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise CameraConfigError(f'{name} must be an integer >= 0, got {value!r}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> DepthNoise:
        """Build from a config mapping (keys: the attribute names; missing keys keep defaults).

        Raises:
            CameraConfigError: On unknown keys or impossible values.
        """
        return _from_mapping(cls, mapping)

    def apply(self, depth_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a noisy copy of a clean depth image (no range gating).

        Args:
            depth_m: (H, W) clean depth along the optical z axis (m); 0 marks no return.
            rng: Source of the noise (draws H*W normals and H*W uniforms when enabled).

        Returns:
            (H, W) float32 depth (m), 0 where invalid. A copy of the input when disabled.
        """
        depth = np.asarray(depth_m, dtype=np.float32)
        if not self.enabled:
            return depth.copy()
        valid = depth > 0.0
        invalid = ~valid | edge_mask(depth, self.edge_jump_m, self.edge_dilate_px)
        if self.sigma_a_per_m > 0.0:  # in place: depth + a * depth**2 * N(0, 1)
            noisy = rng.standard_normal(depth.shape, dtype=np.float32)
            noisy *= depth
            noisy *= depth
            noisy *= np.float32(self.sigma_a_per_m)
            noisy += depth
        else:
            noisy = depth.copy()
        if self.quantisation_m > 0.0:
            q = np.float32(self.quantisation_m)
            np.divide(noisy, q, out=noisy)
            np.rint(noisy, out=noisy)
            noisy *= q
        if self.dropout_fraction > 0.0:
            invalid |= rng.random(depth.shape, dtype=np.float32) < self.dropout_fraction
        invalid |= noisy <= 0.0
        np.putmask(noisy, invalid, np.float32(0.0))
        return noisy


def edge_mask(depth_m: np.ndarray, jump_m: float, dilate_px: int = 1) -> np.ndarray:
    """Pixels at depth discontinuities.

    A valid pixel is an edge when a 4-neighbour is a no-return pixel (0) or differs by more
    than ``jump_m``; the mask is then dilated ``dilate_px`` times with a 3x3 square.

    Args:
        depth_m: (H, W) depth (m), 0 = no return.
        jump_m: Jump threshold (m).
        dilate_px: Dilation steps (px).

    Returns:
        (H, W) bool mask.
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    z = np.where(depth > 0.0, depth, np.float32(np.inf))
    with np.errstate(invalid='ignore'):  # inf - inf between two no-return pixels: no edge
        jump_v = np.abs(z[1:, :] - z[:-1, :]) > jump_m
        jump_h = np.abs(z[:, 1:] - z[:, :-1]) > jump_m
    edges = np.zeros(depth.shape, dtype=bool)
    edges[1:, :] |= jump_v
    edges[:-1, :] |= jump_v
    edges[:, 1:] |= jump_h
    edges[:, :-1] |= jump_h
    edges &= depth > 0.0
    for _ in range(dilate_px):
        grown = edges.copy()
        grown[1:, :] |= edges[:-1, :]
        grown[:-1, :] |= edges[1:, :]
        vertical = grown.copy()
        grown[:, 1:] |= vertical[:, :-1]
        grown[:, :-1] |= vertical[:, 1:]
        edges = grown
    return edges


def _check_transform(T: np.ndarray, name: str) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise CameraConfigError(f'{name} must be a finite 4x4 transform, got shape {T.shape}')
    R = T[:3, :3]
    if (not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]) or not np.allclose(R.T @ R, np.eye(3),
                                                                       atol=1e-6)
            or np.linalg.det(R) <= 0.0):
        raise CameraConfigError(f'{name} must be a rigid transform (orthonormal rotation, '
                                f'det +1, last row 0 0 0 1)')
    return T


def look_at(p_base_eye: Sequence[float], p_base_target: Sequence[float],
            up_base: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Optical-frame pose of a camera at ``p_base_eye`` looking at ``p_base_target``.

    The optical z axis points at the target, x is right and y down with respect to ``up_base``
    (image rows run against ``up_base``).

    Args:
        p_base_eye: Camera centre in the base frame (m).
        p_base_target: Point the optical axis passes through, base frame (m).
        up_base: Direction that appears up in the image, base frame.

    Returns:
        T_base_cam (4x4).

    Raises:
        CameraConfigError: If eye and target coincide or the view axis is parallel to up.
    """
    eye = np.asarray(p_base_eye, dtype=float)
    z = np.asarray(p_base_target, dtype=float) - eye
    if np.linalg.norm(z) < 1e-9:
        raise CameraConfigError('look_at: eye and target coincide')
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up_base, dtype=float))
    if np.linalg.norm(x) < 1e-9:
        raise CameraConfigError('look_at: the view axis is parallel to up_base')
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    T[:3, 3] = eye
    return T


def add_camera(spec: mujoco.MjSpec, name: str, T_base_cam: np.ndarray,  # noqa: N803
               intrinsics: CameraIntrinsics) -> mujoco.MjsCamera:
    """Add a fixed camera to the worldbody of ``spec``.

    The MuJoCo camera gets orientation ``R_base_cam @ R_CAM_MJCAM`` (MuJoCo cameras look along
    their -z with +y up), pinhole intrinsics (``focal_pixel``, ``principal_pixel``,
    ``sensor_size``, ``resolution``; ``fovy`` is set too, for information: MuJoCo ignores it
    when a sensor size is given), and the offscreen framebuffer is grown to the image size.

    Args:
        spec: The model spec; the camera goes on its worldbody.
        name: Camera name (unique in the model).
        T_base_cam: Pose of the optical frame (x right, y down, z forward) in the base (world)
            frame, 4x4, metres.
        intrinsics: Image size and pinhole parameters.

    Returns:
        The new camera element.

    Raises:
        CameraConfigError: If ``T_base_cam`` is not a rigid transform or ``name`` is empty.
    """
    if not name:
        raise CameraConfigError('camera name must be non-empty')
    T = _check_transform(T_base_cam, 'T_base_cam')
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, (T[:3, :3] @ R_CAM_MJCAM).ravel())
    w, h = intrinsics.width, intrinsics.height
    camera = spec.worldbody.add_camera(name=name, pos=T[:3, 3].tolist(), quat=quat.tolist())
    camera.resolution = [w, h]
    camera.sensor_size = [w * _PIXEL_PITCH_M, h * _PIXEL_PITCH_M]
    camera.focal_pixel = [intrinsics.fx, intrinsics.fy]
    camera.principal_pixel = [(w - 1) / 2.0 - intrinsics.cx, (h - 1) / 2.0 - intrinsics.cy]
    camera.fovy = intrinsics.fovy_deg
    spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, w)
    spec.visual.global_.offheight = max(spec.visual.global_.offheight, h)
    return camera


def depth_to_points_base(depth_m: np.ndarray, intrinsics: CameraIntrinsics,
                         T_base_cam: np.ndarray,  # noqa: N803
                         mask: np.ndarray | None = None) -> np.ndarray:
    """Back-project a depth image to points in the base frame.

    Args:
        depth_m: (H, W) depth along the optical z axis (m); pixels <= 0 or non-finite are
            invalid and dropped.
        intrinsics: The camera's intrinsics (its size must match the image).
        T_base_cam: Pose of the optical frame in the base frame (4x4).
        mask: Optional (H, W) bool selection of pixels (e.g. a part mask).

    Returns:
        (N, 3) float64 points ``p_base`` (m), in row-major pixel order.

    Raises:
        ValueError: If the image or mask shape does not match the intrinsics.
    """
    depth = np.asarray(depth_m)
    shape = (intrinsics.height, intrinsics.width)
    if depth.shape != shape:
        raise ValueError(f'depth shape {depth.shape} != intrinsics (height, width) {shape}')
    keep = np.isfinite(depth) & (depth > 0.0)
    if mask is not None:
        if np.shape(mask) != shape:
            raise ValueError(f'mask shape {np.shape(mask)} != (height, width) {shape}')
        keep &= np.asarray(mask, dtype=bool)
    v, u = np.nonzero(keep)
    z = depth[v, u].astype(float)
    p_cam = np.column_stack([(u - intrinsics.cx) * z / intrinsics.fx,
                             (v - intrinsics.cy) * z / intrinsics.fy, z])
    T = np.asarray(T_base_cam, dtype=float)
    return p_cam @ T[:3, :3].T + T[:3, 3]


@dataclass(frozen=True, eq=False)
class RgbdFrame:
    """One RGB-D frame with ground-truth part masks (colour and depth share the optical frame).

    Attributes:
        color: (H, W, 3) uint8 RGB.
        depth_m: (H, W) float32 depth along the optical z axis (m); 0 = invalid.
        part_mask: (H, W) int32 index into ``labels``; 0 = background or unlabelled.
        labels: Label names by index: ``labels[0] == ''``, then 'object/part' names, sorted.
        T_base_cam: Pose of the optical frame in the base frame at render time (4x4).
        intrinsics: The camera's intrinsics.
        stamp_s: Simulation time of the frame (s, ``MjData.time``).
    """

    color: np.ndarray
    depth_m: np.ndarray
    part_mask: np.ndarray
    labels: tuple[str, ...]
    T_base_cam: np.ndarray
    intrinsics: CameraIntrinsics
    stamp_s: float

    def mask_of(self, label: str) -> np.ndarray:
        """(H, W) bool mask of the part named ``label`` ('object/part').

        Raises:
            KeyError: If the label is not in ``labels``.
        """
        if not label or label not in self.labels:
            raise KeyError(f'no part label {label!r}; known: {self.labels[1:]}')
        return self.part_mask == self.labels.index(label)


def part_label_of_name(geom_name: str) -> str | None:
    """The part label 'object/part' of a geom named 'object/part' or 'object/part#k', else None."""
    match = _PART_NAME.match(geom_name)
    return match.group(1) if match else None


def _geom_labels(model: mujoco.MjModel,
                 part_labels: Mapping[int | str, str] | None) -> list[str | None]:
    """Part label of every geom: from the caller's mapping, or from the geom names."""
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, i) or ''
             for i in range(model.ngeom)]
    if part_labels is None:
        return [part_label_of_name(name) for name in names]
    by_id: dict[int, str] = {}
    by_prefix: dict[str, str] = {}
    for key, label in part_labels.items():
        if not isinstance(label, str) or not _LABEL.match(label):
            raise CameraConfigError(f"part label {label!r} (key {key!r}) is not 'object/part'")
        if isinstance(key, str) and key:
            by_prefix[key] = label
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool) and (
                0 <= key < model.ngeom):
            by_id[int(key)] = label
        else:
            raise CameraConfigError(f'part_labels key {key!r} is neither a geom id in '
                                    f'[0, {model.ngeom}) nor a non-empty geom-name prefix')
    prefixes = sorted(by_prefix, key=len, reverse=True)  # the longest matching prefix wins
    labels: list[str | None] = []
    for geom_id, name in enumerate(names):
        label = by_id.get(geom_id)
        if label is None:
            label = next((by_prefix[p] for p in prefixes if name.startswith(p)), None)
        labels.append(label)
    return labels


def _model_intrinsics(model: mujoco.MjModel, cam_id: int) -> tuple[float, ...] | None:
    """(width, height, fx, fy, cx, cy) of a camera with a sensor size, else None (fovy camera)."""
    sensor = model.cam_sensorsize[cam_id].astype(float)
    if not np.all(sensor > 0.0):
        return None
    w, h = (int(r) for r in model.cam_resolution[cam_id])
    pitch_x, pitch_y = sensor[0] / w, sensor[1] / h
    f_x, f_y, p_x, p_y = model.cam_intrinsic[cam_id].astype(float)
    return (w, h, f_x / pitch_x, f_y / pitch_y, (w - 1) / 2.0 - p_x / pitch_x,
            (h - 1) / 2.0 - p_y / pitch_y)


def _check_intrinsics(model: mujoco.MjModel, cam_id: int, name: str,
                      intrinsics: CameraIntrinsics) -> None:
    got = _model_intrinsics(model, cam_id)
    k = intrinsics
    if got is None:  # a fovy camera: square pixels, centred principal point
        fovy = float(model.cam_fovy[cam_id])
        if not (k.is_centred and abs(k.fx - k.fy) <= _FOCAL_RTOL * k.fy
                and abs(fovy - k.fovy_deg) <= 1e-3):
            raise CameraConfigError(
                f'camera {name!r} has fovy={fovy:.4f} deg and no sensor size; intrinsics need '
                f'fx == fy, a centred principal point and fovy {k.fovy_deg:.4f} deg (use '
                f'add_camera to set pinhole intrinsics)')
        return
    w, h, fx, fy, cx, cy = got
    if ((w, h) != (k.width, k.height) or abs(fx - k.fx) > _FOCAL_RTOL * k.fx
            or abs(fy - k.fy) > _FOCAL_RTOL * k.fy or abs(cx - k.cx) > _CENTRE_ATOL_PX
            or abs(cy - k.cy) > _CENTRE_ATOL_PX):
        raise CameraConfigError(
            f'camera {name!r} in the model has {w}x{h} fx={fx:.3f} fy={fy:.3f} cx={cx:.3f} '
            f'cy={cy:.3f}, not the given {k.width}x{k.height} fx={k.fx} fy={k.fy} cx={k.cx} '
            f'cy={k.cy}')


class RgbdCamera:
    """Renders :class:`RgbdFrame` objects from a named camera of a MuJoCo model.

    Holds one OpenGL context and MuJoCo render context, created once; call :meth:`close` (or
    use ``with``) to free them. Not thread-safe; render from the thread that owns ``data``.

    Args:
        model: The compiled model.
        data: Its state; the frame shows the state of the last ``mj_forward``/``mj_step``.
        name: Camera name in the model.
        intrinsics: The camera's intrinsics; None reads them from a camera made by
            :func:`add_camera` (default depth range). Checked against the model either way.
        noise: Depth noise; None means ``DepthNoise()`` (noise on).
        part_labels: Geom id or geom-name prefix -> 'object/part'; None derives the labels
            from geom names 'object/part' or 'object/part#k'. Other geoms read 0.
        geom_groups: Geom groups the camera sees (MuJoCo's default visible groups). Sites and
            other visual aids are never drawn.
        base_body: Body whose frame is ``base``; None for the world frame.
        rng: Noise generator; None seeds a new one with ``noise.seed``.
        shadows: Render shadows in the colour image. Off by default: in software rendering
            (OSMesa) they triple the frame time (~125 ms against ~40 ms for the household
            scene); depth and masks are the same either way.
        antialias: Render with the model's multisampling (``visual/quality offsamples``).
            Off by default: it doubles the software-rendering time and only smooths colour
            edges (depth and masks are the same either way).

    Raises:
        CameraConfigError: Unknown camera or base body, intrinsics not matching the model,
            an offscreen framebuffer smaller than the image, a near clipping plane beyond
            ``depth_min_m`` or far plane before ``depth_max_m``, or bad part labels.
    """

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, name: str,
                 intrinsics: CameraIntrinsics | None = None, noise: DepthNoise | None = None,
                 part_labels: Mapping[int | str, str] | None = None, *,
                 geom_groups: Sequence[int] = (0, 1, 2), base_body: str | None = None,
                 rng: np.random.Generator | None = None, antialias: bool = False,
                 shadows: bool = False) -> None:
        self._gl: Any = None
        self._context: mujoco.MjrContext | None = None
        cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
        if cam_id < 0:
            raise CameraConfigError(f'no camera named {name!r} in the model')
        if intrinsics is None:
            got = _model_intrinsics(model, cam_id)
            if got is None:
                raise CameraConfigError(f'camera {name!r} has no pinhole intrinsics in the '
                                        f'model; pass intrinsics')
            w, h, fx, fy, cx, cy = got
            intrinsics = CameraIntrinsics(int(w), int(h), round(fx, 3), round(fy, 3),
                                          round(cx, 3), round(cy, 3))
        _check_intrinsics(model, cam_id, name, intrinsics)
        self._base_id = -1
        if base_body is not None:
            self._base_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, base_body)
            if self._base_id < 0:
                raise CameraConfigError(f'no body named {base_body!r} in the model')
        w, h = intrinsics.width, intrinsics.height
        if w > model.vis.global_.offwidth or h > model.vis.global_.offheight:
            raise CameraConfigError(
                f'image {w}x{h} exceeds the offscreen framebuffer {model.vis.global_.offwidth}x'
                f'{model.vis.global_.offheight} (add_camera grows it; or set visual/global '
                f'offwidth/offheight)')
        near_m = float(model.vis.map.znear * model.stat.extent)
        far_m = float(model.vis.map.zfar * model.stat.extent)
        if near_m >= intrinsics.depth_min_m or far_m <= intrinsics.depth_max_m:
            raise CameraConfigError(
                f'clipping planes [{near_m:.4f}, {far_m:.2f}] m do not contain the depth range '
                f'[{intrinsics.depth_min_m}, {intrinsics.depth_max_m}] m (set visual/map '
                f'znear/zfar)')
        self._model, self._data, self._name, self._cam_id = model, data, name, cam_id
        self._intrinsics = intrinsics
        self._noise = noise if noise is not None else DepthNoise()
        self._rng = rng if rng is not None else np.random.default_rng(self._noise.seed)

        geom_labels = _geom_labels(model, part_labels)
        self._labels: tuple[str, ...] = ('',) + tuple(sorted({lb for lb in geom_labels if lb}))
        index = {label: i for i, label in enumerate(self._labels)}
        self._label_of_geom = np.array([index[lb] if lb else 0 for lb in geom_labels] or [0],
                                       dtype=np.int32)

        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = 0
        for group in geom_groups:
            if not 0 <= int(group) < len(self._option.geomgroup):
                raise CameraConfigError(f'geom group {group} outside [0, '
                                        f'{len(self._option.geomgroup)})')
            self._option.geomgroup[int(group)] = 1
        self._option.sitegroup[:] = 0
        self._mjv_camera = mujoco.MjvCamera()
        self._mjv_camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._mjv_camera.fixedcamid = cam_id
        self._scene = mujoco.MjvScene(model, maxgeom=max(1000, 2 * model.ngeom))
        self._scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(shadows)
        self._rect = mujoco.MjrRect(0, 0, w, h)
        # Depth buffer -> linear depth, as mujoco.Renderer (readDepthMap = mjDEPTH_ZEROFAR).
        self._depth_scale = far_m * near_m / (far_m - near_m)
        self._depth_offset = near_m / (far_m - near_m)
        self._color_buf = np.empty((h, w, 3), dtype=np.uint8)
        self._id_buf = np.empty((h, w, 3), dtype=np.uint8)
        self._zbuf = np.empty((h, w), dtype=np.float32)

        self._gl = mujoco.GLContext(w, h)
        self._gl.make_current()
        samples = int(model.vis.quality.offsamples)
        if not antialias:  # the render context reads this once, when it is made
            model.vis.quality.offsamples = 0
        try:
            self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100.value)
        finally:
            model.vis.quality.offsamples = samples
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._context)
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR

    @property
    def name(self) -> str:
        """The camera's name in the model."""
        return self._name

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """The camera's intrinsics."""
        return self._intrinsics

    @property
    def noise(self) -> DepthNoise:
        """The depth noise model."""
        return self._noise

    @property
    def labels(self) -> tuple[str, ...]:
        """Part label names by mask index (``labels[0] == ''``: background/unlabelled)."""
        return self._labels

    @property
    def label_of_geom(self) -> np.ndarray:
        """(ngeom,) int32 mask index of each geom (a copy)."""
        return self._label_of_geom[:self._model.ngeom].copy()

    def T_base_cam(self) -> np.ndarray:  # noqa: N802
        """Pose of the optical frame in the base frame from ``data`` (4x4).

        Reads ``data.cam_xpos``/``cam_xmat`` (valid after ``mj_forward``/``mj_kinematics``).
        """
        T = np.eye(4)
        T[:3, :3] = self._data.cam_xmat[self._cam_id].reshape(3, 3) @ R_CAM_MJCAM
        T[:3, 3] = self._data.cam_xpos[self._cam_id]
        if self._base_id > 0:
            R_world_base = self._data.xmat[self._base_id].reshape(3, 3)
            p_world_base = self._data.xpos[self._base_id]
            T[:3, :3] = R_world_base.T @ T[:3, :3]
            T[:3, 3] = R_world_base.T @ (T[:3, 3] - p_world_base)
        return T

    def render(self) -> RgbdFrame:
        """Render colour, depth (noisy per :attr:`noise`, range-gated) and the part mask.

        Raises:
            CameraError: If the camera was closed.
        """
        if self._context is None:
            raise CameraError(f'camera {self._name!r} is closed')
        model, scene, rect, context = self._model, self._scene, self._rect, self._context
        self._gl.make_current()
        mujoco.mjv_updateScene(model, self._data, self._option, None, self._mjv_camera,
                               mujoco.mjtCatBit.mjCAT_ALL.value, scene)
        mujoco.mjr_render(rect, scene, context)
        mujoco.mjr_readPixels(self._color_buf, None, rect, context)
        flags = scene.flags.copy()
        try:
            scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 1
            scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
            mujoco.mjr_render(rect, scene, context)
            mujoco.mjr_readPixels(self._id_buf, self._zbuf, rect, context)
        finally:
            np.copyto(scene.flags, flags)

        # OpenGL rows run bottom-up; images run top-down.
        color = self._color_buf[::-1].copy()
        ids = self._id_buf[::-1].astype(np.int32)
        seg = ids[..., 0] | (ids[..., 1] << 8) | (ids[..., 2] << 16)  # segid + 1; 0 = none
        label_of_seg = np.zeros(scene.ngeom + 1, dtype=np.int32)
        geom_type = mujoco.mjtObj.mjOBJ_GEOM
        for i in range(scene.ngeom):
            geom = scene.geoms[i]
            if geom.segid >= 0 and geom.objtype == geom_type and geom.objid < model.ngeom:
                label_of_seg[geom.segid + 1] = self._label_of_geom[geom.objid]
        part_mask = label_of_seg[np.minimum(seg, scene.ngeom)]

        zbuf = self._zbuf[::-1]
        depth = np.float32(self._depth_scale) / (zbuf + np.float32(self._depth_offset))
        depth[seg == 0] = 0.0  # nothing drawn: no return
        depth = self._noise.apply(depth, self._rng)
        k = self._intrinsics
        depth[(depth < k.depth_min_m) | (depth > k.depth_max_m)] = 0.0
        return RgbdFrame(color=color, depth_m=depth, part_mask=part_mask, labels=self._labels,
                         T_base_cam=self.T_base_cam(), intrinsics=k,
                         stamp_s=float(self._data.time))

    def close(self) -> None:
        """Free the render and OpenGL contexts (idempotent)."""
        if self._context is not None:
            if self._gl is not None:
                with self._gl.as_current():
                    self._context.free()
            else:
                self._context.free()
            self._context = None
        if self._gl is not None:
            self._gl.free()
            self._gl = None

    def __enter__(self) -> RgbdCamera:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter shutdown: GL may be gone already)
            pass
