"""6-DoF object tracking: local point-to-plane ICP of a point model in a cropped frame cloud.

Each grounded object keeps a *point model* in its own frame, captured at grounding (the
base-frame points of its parts, moved into the object frame), voxel-downsampled with normals
computed once. Every frame:

1. **Predict** the pose (constant velocity from the last two accepted poses; or the tool pose
   for a held object).
2. **Crop** the frame cloud around the prediction: the model's box, grown by a margin, is
   projected into the image to pick a pixel rectangle (rows of an organised cloud are
   contiguous, so this costs O(rectangle), not O(cloud)), then tested in 3D; the box's floor
   is the model's bottom (plus ``floor_cut_m``), so the support under the object stays out
   (its points would be matched to the object's lowest points). Points in the
   gripper's box (tool frame, when the tool pose is given) are dropped: the gripper occludes
   and touches what it grasps, and its points would pull the fit.
3. **Register** the crop (voxel-downsampled) to the model with open3d's point-to-plane ICP and
   a Tukey robust kernel (partial occlusion and clutter become outliers, not bias).
4. **Score** the fit: ``coverage`` (the fraction of model points seen within ``inlier_m`` of
   a crop point: drops with occlusion and when the object is gone), ``fitness`` (the
   fraction of crop points the model explains: drops when something else fills the crop),
   their product ``confidence``, and the inlier RMSE. A fit whose confidence falls under
   ``min_confidence`` marks the track **LOST** with that confidence: its pose is *not*
   updated from that fit and the caller is told, instead of a drifting pose being kept
   silently. A lost track keeps trying at its last pose and recovers when the fit is
   confident again.

An object in the gripper follows the tool: :meth:`ObjectTrack.attach` records ``T_tool_obj``
and, while held, the pose is ``T_base_tool @ T_tool_obj`` (optionally refined by ICP when
``refine_held``). Frames: ``base`` (robot base), ``obj`` (the object's frame), ``tool`` (TCP).

Speed: about 2-4 ms per object at 640x480 on a slow 2-core machine (crop of a few thousand
points, downsampled to at most ``max_crop_points``; at most ``max_iterations`` ICP
iterations; models capped at ``max_model_points``). ``python -m resem3d_perception.bench``
measures it.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import open3d as o3d
from scipy.spatial.transform import Rotation

from .cloud import (Cloud, Intrinsics, check_rigid, depth_to_cloud, invert_rigid,
                    matmul_rows, project_base_points, transform_points)
from .errors import PerceptionInputError, TrackingError

_reg = o3d.pipelines.registration


class TrackStatus(str, enum.Enum):
    """State of a track after an update."""

    TRACKING = 'tracking'   # pose from a confident fit this frame
    LOST = 'lost'           # the fit is not confident: the pose is the last good one
    HELD = 'held'           # attached to the tool: the pose follows the tool


@dataclass(frozen=True)
class TrackerConfig:
    """Tunables of the tracker (SI units). Load from YAML with :meth:`from_mapping`.

    Attributes:
        voxel_size_m: Voxel edge of the model (m).
        crop_voxel_size_m: Voxel edge of the scene crop (m); coarser than the model's keeps
            the ICP cheap (its cost grows with the crop's points) without losing accuracy:
            each crop point still finds a close model point.
        crop_margin_m: Growth of the model's box for the crop (m): covers the prediction
            error (inter-frame motion beyond constant velocity).
        floor_cut_m: The crop's lower bound along the object's z axis is the model's lowest
            point plus this (m). Objects rest on a support along their z axis (as frames from
            :func:`~resem3d_perception.parts.estimate_object_frame` and the simulator's do):
            a grown box would let the support's points into the crop, where they are matched
            to the model's lowest points and bias the fit; cutting the object's bottom few
            millimetres with them costs nothing.
        max_correspondence_m: ICP correspondence distance (m).
        inlier_m: Distance (m) within which a model point counts as seen (coverage); about
            the crop's voxel spacing plus the depth noise.
        kernel_scale_m: Scale of the Tukey robust kernel (m).
        max_iterations: ICP iterations per frame.
        min_confidence: Confidence (coverage x fitness) below which a track is LOST.
        min_crop_points: Fewest crop points to attempt a fit (fewer: LOST).
        normal_neighbors: Neighbours for the model normals (computed once).
        max_model_points: Cap on the model size: a large object's model gets a coarser
            voxel (ICP cost grows with the points, accuracy hardly improves).
        max_crop_points: Cap on the downsampled crop (random subset beyond, seeded).
        predict: Use constant-velocity prediction as the ICP initial guess.
        max_speed_m_s: Cap on the predicted linear speed (m/s).
        tool_half_width_m: Half size (m) along the tool's y axis (the fingers' opening
            direction) of the gripper box whose points are excluded (a Panda hand is 0.2 m
            wide).
        tool_half_thickness_m: Half size (m) of that box along the tool's x axis.
        tool_length_m: Extent of the box behind the TCP, along the tool's -z (m): fingers
            and hand.
        tool_front_m: Extent of the box beyond the TCP along the tool's +z (m).
        refine_held: Refine the pose of held objects by ICP (else pure kinematics).
        complete_round_slabs: Complete the model of a round slab (a plate seen partly hidden
            at grounding) with the rest of its top face
            (:func:`~resem3d_perception.amodal.round_slab_fill`), so that a move towards its
            seen part leaves the camera seeing through the model.
    """

    voxel_size_m: float = 0.004
    crop_voxel_size_m: float = 0.006
    crop_margin_m: float = 0.03
    floor_cut_m: float = 0.004
    max_correspondence_m: float = 0.012
    inlier_m: float = 0.006
    kernel_scale_m: float = 0.006
    max_iterations: int = 12
    min_confidence: float = 0.4
    min_crop_points: int = 30
    normal_neighbors: int = 16
    max_model_points: int = 1000
    max_crop_points: int = 700
    predict: bool = True
    max_speed_m_s: float = 1.5
    tool_half_width_m: float = 0.11
    tool_half_thickness_m: float = 0.04
    tool_length_m: float = 0.13
    tool_front_m: float = 0.01
    refine_held: bool = False
    complete_round_slabs: bool = True

    def __post_init__(self) -> None:
        may_be_zero = ('tool_front_m', 'crop_margin_m', 'floor_cut_m')
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise PerceptionInputError(f'tracker: {f.name} must be a bool, got {value!r}')
                continue
            kinds = (int, np.integer) if isinstance(f.default, int) else (int, float, np.number)
            if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
                what = 'an integer' if isinstance(f.default, int) else 'a finite number'
                raise PerceptionInputError(f'tracker: {f.name} must be {what}, got {value!r}')
            if value < 0 or (value == 0 and f.name not in may_be_zero):
                raise PerceptionInputError(f'tracker: {f.name} must be positive, got {value}')
        if self.min_confidence > 1.0:
            raise PerceptionInputError(f'tracker: min_confidence must be <= 1, got '
                                       f'{self.min_confidence}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> TrackerConfig:
        """Build from a config mapping (attribute names as keys; missing keys keep defaults).

        Raises:
            PerceptionInputError: On unknown keys or bad values.
        """
        if not isinstance(mapping, Mapping):
            raise PerceptionInputError(f'tracker config must be a mapping, got '
                                       f'{type(mapping).__name__}')
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise PerceptionInputError(f'tracker: unknown keys {unknown}; known: {sorted(known)}')
        return cls(**dict(mapping))


@dataclass(frozen=True)
class TrackResult:
    """Outcome of one track update.

    Attributes:
        name: Object name.
        status: TRACKING, LOST or HELD.
        T_base_obj: (4, 4) pose estimate (the last good pose when LOST).
        confidence: In [0, 1]: ``coverage x fitness`` (1.0 for a held object whose pose is
            not refined by ICP; a held object is never LOST: the gripper occludes it).
        coverage: Fraction of the model's points with a crop point within ``inlier_m``
            after the fit: falls with occlusion and when the object is gone (NaN without a
            fit).
        fitness: Fraction of the crop's points matched by the model within the
            correspondence distance: falls when something else fills the crop (NaN without
            a fit).
        inlier_rmse_m: RMS distance of the matched pairs (m) (NaN without a fit).
        crop_points: Points of the (downsampled) crop the fit used.
        stamp_s: Time of the frame (s).
        elapsed_ms: Wall time of this update (ms).
        reason: Why the track is LOST (or a note); '' otherwise.
    """

    name: str
    status: TrackStatus
    T_base_obj: np.ndarray
    confidence: float
    coverage: float = math.nan
    fitness: float = math.nan
    inlier_rmse_m: float = math.nan
    crop_points: int = 0
    stamp_s: float | None = None
    elapsed_ms: float = 0.0
    reason: str = ''

    @property
    def ok(self) -> bool:
        """True unless the track is LOST."""
        return self.status != TrackStatus.LOST


@dataclass(frozen=True)
class _Fit:
    """One ICP fit: the correction and its score (see :class:`TrackResult`)."""

    T_corr: np.ndarray        # maps crop points (predicted object frame) onto the model
    coverage: float
    fitness: float
    rmse_m: float
    points: int

    @property
    def confidence(self) -> float:
        if not (math.isfinite(self.coverage) and math.isfinite(self.fitness)):
            return 0.0
        return self.coverage * self.fitness


def _outside_tool(p_obj: np.ndarray, T_obj_tool: np.ndarray, c: TrackerConfig) -> np.ndarray:
    """(N,) bool: which points (object frame) lie outside the gripper box (tool frame)."""
    q = matmul_rows(p_obj - T_obj_tool[:3, 3], T_obj_tool[:3, :3])
    return ((np.abs(q[:, 0]) > c.tool_half_thickness_m) | (np.abs(q[:, 1]) > c.tool_half_width_m)
            | (q[:, 2] < -c.tool_length_m) | (q[:, 2] > c.tool_front_m))


def _o3d_cloud(points: np.ndarray) -> Any:
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(
        np.ascontiguousarray(points, dtype=np.float64)))


class ObjectTrack:
    """The tracked pose of one object, from its point model.

    Args:
        name: Object name (its frame's name).
        model_points_obj: (N, 3) model points in the object frame (m).
        T_base_obj: (4, 4) pose at grounding.
        config: Tunables.
        stamp_s: Time of the grounding frame (s), if known.
        camera_obj: (3,) camera position in the object frame at grounding (orients normals;
            optional).

    Raises:
        TrackingError: If the model has too few points after downsampling.
        PerceptionInputError: On a bad pose or points.
    """

    def __init__(self, name: str, model_points_obj: np.ndarray,
                 T_base_obj: np.ndarray,  # noqa: N803
                 config: TrackerConfig | None = None, *, stamp_s: float | None = None,
                 camera_obj: np.ndarray | None = None) -> None:
        self.name = name
        self.config = config or TrackerConfig()
        c = self.config
        P = np.asarray(model_points_obj, dtype=float)
        if P.ndim != 2 or P.shape[1] != 3 or not np.all(np.isfinite(P)):
            raise PerceptionInputError(f'{name}: model points must be finite (N, 3), got shape '
                                       f'{P.shape}')
        raw = _o3d_cloud(P)
        voxel = c.voxel_size_m
        model = raw.voxel_down_sample(voxel)
        n = len(model.points)
        for _ in range(4):                     # surface points: count ~ 1 / voxel^2
            if n <= c.max_model_points:
                break
            voxel *= 1.05 * math.sqrt(n / c.max_model_points)
            model = raw.voxel_down_sample(voxel)
            n = len(model.points)
        self.voxel_size_m = voxel
        self.crop_voxel_size_m = max(c.crop_voxel_size_m, voxel * c.crop_voxel_size_m
                                     / c.voxel_size_m)
        if n < max(c.normal_neighbors, 10):
            raise TrackingError(f'{name}: the model has {n} points after {c.voxel_size_m} m '
                                f'downsampling; need {max(c.normal_neighbors, 10)}')
        model.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(c.normal_neighbors))
        if camera_obj is not None:
            model.orient_normals_towards_camera_location(np.asarray(camera_obj, dtype=float))
        self._model = model
        self.model_points_obj = np.asarray(model.points).copy()
        self._lo = self.model_points_obj.min(axis=0)
        self._hi = self.model_points_obj.max(axis=0)
        self._estimation = _reg.TransformationEstimationPointToPlane(
            _reg.TukeyLoss(k=c.kernel_scale_m))
        self._criteria = _reg.ICPConvergenceCriteria(relative_fitness=1e-6, relative_rmse=1e-6,
                                                     max_iteration=int(c.max_iterations))
        T = check_rigid(T_base_obj, f'{name}: T_base_obj')
        self.T_base_obj = T.copy()
        self.status = TrackStatus.TRACKING
        self.confidence = 1.0
        self.stamp_s = stamp_s
        self._previous: tuple[np.ndarray, float | None] | None = None
        self._T_tool_obj: np.ndarray | None = None

    @classmethod
    def from_points_base(cls, name: str, points_base: np.ndarray,
                         T_base_obj: np.ndarray,  # noqa: N803
                         config: TrackerConfig | None = None, *, stamp_s: float | None = None,
                         camera_base: np.ndarray | None = None) -> ObjectTrack:
        """A track from base-frame points of the object (e.g. its parts' measured points).

        Args:
            points_base: (N, 3) points (m), base frame, seen at grounding.
            T_base_obj: Pose of the object frame at grounding (known, or from
                :func:`resem3d_perception.parts.estimate_object_frame`).
            camera_base: Camera position (base frame) at grounding, to orient normals.
        """
        from .amodal import round_slab_fill
        T = check_rigid(T_base_obj, f'{name}: T_base_obj')
        config = config or TrackerConfig()
        points_base = np.asarray(points_base, dtype=float)
        # Malformed points are left as they are for the constructor's typed error.
        if config.complete_round_slabs and points_base.ndim == 2 and \
                points_base.shape[1] == 3 and np.all(np.isfinite(points_base)):
            filled = round_slab_fill(points_base, config.voxel_size_m)
            if filled is not None:
                points_base = np.concatenate([points_base, filled])
        T_obj_base = invert_rigid(T)
        camera_obj = None if camera_base is None else transform_points(
            T_obj_base, np.asarray(camera_base, dtype=float)[None])[0]
        return cls(name, transform_points(T_obj_base, points_base), T, config,
                   stamp_s=stamp_s, camera_obj=camera_obj)

    # --- grasp --------------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while attached to the tool."""
        return self._T_tool_obj is not None

    def attach(self, T_base_tool: np.ndarray,  # noqa: N803
               T_tool_obj: np.ndarray | None = None) -> None:  # noqa: N803
        """Attach the object to the tool (grasped): from now on it follows the tool.

        Args:
            T_base_tool: (4, 4) tool (TCP) pose now.
            T_tool_obj: (4, 4) object pose in the tool frame; default: from the current pose
                estimate and ``T_base_tool``.
        """
        T_tool = check_rigid(T_base_tool, 'T_base_tool')
        if T_tool_obj is None:
            self._T_tool_obj = invert_rigid(T_tool) @ self.T_base_obj
        else:
            self._T_tool_obj = check_rigid(T_tool_obj, 'T_tool_obj').copy()
        self.T_base_obj = T_tool @ self._T_tool_obj
        self.status = TrackStatus.HELD
        self._previous = None

    def detach(self) -> None:
        """Release the object: it is tracked visually again from its last pose."""
        self._T_tool_obj = None
        self.status = TrackStatus.TRACKING
        self._previous = None

    # --- tracking -----------------------------------------------------------------------------

    def predict(self, stamp_s: float | None = None) -> np.ndarray:
        """(4, 4) predicted pose at ``stamp_s`` (constant velocity; the last pose without one).

        Without stamps the frame rate is taken as constant (one frame ahead).
        """
        if not self.config.predict or self._previous is None or self.status == TrackStatus.LOST:
            return self.T_base_obj.copy()
        T_prev, t_prev = self._previous
        t_now = self.stamp_s
        if stamp_s is not None and t_now is not None and t_prev is not None:
            dt_last = t_now - t_prev
            ratio = (stamp_s - t_now) / dt_last if dt_last > 1e-9 else 0.0
        else:
            ratio = 1.0
        ratio = float(np.clip(ratio, 0.0, 3.0))
        T = self.T_base_obj
        step = (T[:3, 3] - T_prev[:3, 3]) * ratio
        if stamp_s is not None and t_now is not None:
            limit = self.config.max_speed_m_s * max(stamp_s - t_now, 0.0)
            norm = float(np.linalg.norm(step))
            if norm > limit > 0.0:
                step *= limit / norm
        rotvec = Rotation.from_matrix(T[:3, :3] @ T_prev[:3, :3].T).as_rotvec() * ratio
        out = np.eye(4)
        out[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix() @ T[:3, :3]
        out[:3, 3] = T[:3, 3] + step
        return out

    def _crop(self, cloud: Cloud, T_pred: np.ndarray,
              T_base_tool: np.ndarray | None) -> np.ndarray:
        """(M, 3) float64 crop points in the *predicted object frame*."""
        c = self.config
        lo = (self._lo - c.crop_margin_m).astype(np.float32)
        hi = (self._hi + c.crop_margin_m).astype(np.float32)
        lo[2] = self._lo[2] + c.floor_cut_m
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                            for z in (lo[2], hi[2])])
        k: Intrinsics = cloud.intrinsics
        uv, z = project_base_points(transform_points(T_pred, corners), k, cloud.T_base_cam)
        if np.all(z > 1e-3):
            u0, v0 = np.floor(uv.min(axis=0)).astype(int)
            u1, v1 = np.ceil(uv.max(axis=0)).astype(int) + 1
            u0, v0 = max(u0, 0), max(v0, 0)
            u1, v1 = min(u1, k.width), min(v1, k.height)
            if u0 >= u1 or v0 >= v1:
                return np.zeros((0, 3))
            rows = cloud.crop_pixels(u0, v0, u1, v1)
            candidates = cloud.points_base[rows]
        else:                                  # the box straddles the camera plane
            candidates = cloud.points_base
        R = T_pred[:3, :3].astype(np.float32)
        t = T_pred[:3, 3].astype(np.float32)
        p_obj = matmul_rows(candidates - t, R)
        inside = (p_obj[:, 0] >= lo[0]) & (p_obj[:, 0] <= hi[0])   # per column: ~8x faster
        for axis in (1, 2):                                        # than np.all on (N, 3)
            column = p_obj[:, axis]
            inside &= column >= lo[axis]
            inside &= column <= hi[axis]
        p_obj = p_obj[inside].astype(np.float64)
        if T_base_tool is not None and len(p_obj):
            p_obj = p_obj[_outside_tool(p_obj, invert_rigid(T_pred) @ T_base_tool, c)]
        return p_obj

    def _fit(self, p_obj: np.ndarray) -> _Fit:
        """ICP of crop points (in the predicted object frame) to the model, and its score."""
        c = self.config
        if len(p_obj) < c.min_crop_points:
            return _Fit(np.eye(4), 0.0, 0.0, math.nan, len(p_obj))
        source = _o3d_cloud(p_obj).voxel_down_sample(self.crop_voxel_size_m)
        n = len(source.points)
        if n > c.max_crop_points:
            keep = np.random.default_rng(0).choice(n, c.max_crop_points, replace=False)
            source = source.select_by_index(np.sort(keep))
            n = c.max_crop_points
        if n < c.min_crop_points:
            return _Fit(np.eye(4), 0.0, 0.0, math.nan, n)
        result = _reg.registration_icp(source, self._model, c.max_correspondence_m, np.eye(4),
                                       self._estimation, self._criteria)
        T_corr = np.asarray(result.transformation)
        # Coverage: the fraction of model points with a crop point within inlier_m after the
        # fit (model -> crop, so it does not depend on the two clouds' densities).
        check = _reg.evaluate_registration(self._model, source, c.inlier_m,
                                           invert_rigid(T_corr))
        rmse = float(result.inlier_rmse) if result.fitness > 0.0 else math.nan
        return _Fit(T_corr, float(check.fitness), float(result.fitness), rmse, n)

    def update(self, cloud: Cloud, stamp_s: float | None = None,
               T_base_tool: np.ndarray | None = None) -> TrackResult:  # noqa: N803
        """Re-estimate the pose from a frame cloud.

        Args:
            cloud: The frame's cloud (base frame; any resolution, organised pixel order).
            stamp_s: Time of the frame (s); None assumes a constant frame rate.
            T_base_tool: (4, 4) tool (TCP) pose: excludes gripper points; required while held.

        Returns:
            The :class:`TrackResult` (its status, pose and confidence are also kept in the
            track's attributes).

        Raises:
            PerceptionInputError: If the track is held and ``T_base_tool`` is missing, or a
                pose is not rigid.
        """
        start = time.perf_counter()
        T_tool = None if T_base_tool is None else check_rigid(T_base_tool, 'T_base_tool')
        if self.held:
            if T_tool is None:
                raise PerceptionInputError(f'{self.name} is held: update needs T_base_tool')
            return self._update_held(cloud, stamp_s, T_tool, start)
        T_pred = self.predict(stamp_s)
        if cloud.is_empty:
            return self._lost(stamp_s, start, _Fit(np.eye(4), 0.0, math.nan, math.nan, 0),
                              f'empty frame cloud ({cloud.reason})')
        fit = self._fit(self._crop(cloud, T_pred, T_tool))
        if fit.points < self.config.min_crop_points:
            return self._lost(stamp_s, start, fit, f'{fit.points} points near the predicted '
                              f'pose (need {self.config.min_crop_points})')
        if fit.confidence < self.config.min_confidence:
            return self._lost(stamp_s, start, fit, f'fit confidence {fit.confidence:.2f} < '
                              f'{self.config.min_confidence} (coverage {fit.coverage:.2f}, '
                              f'fitness {fit.fitness:.2f})')
        T_new = T_pred @ invert_rigid(fit.T_corr)
        self._previous = None if self.status == TrackStatus.LOST else (self.T_base_obj,
                                                                        self.stamp_s)
        self.T_base_obj, self.stamp_s = T_new, stamp_s
        self.status, self.confidence = TrackStatus.TRACKING, fit.confidence
        return self._result(stamp_s, start, fit)

    def _result(self, stamp_s: float | None, start: float, fit: _Fit,
                reason: str = '') -> TrackResult:
        return TrackResult(self.name, self.status, self.T_base_obj.copy(), self.confidence,
                           fit.coverage, fit.fitness, fit.rmse_m, fit.points, stamp_s,
                           (time.perf_counter() - start) * 1e3, reason)

    def _update_held(self, cloud: Cloud, stamp_s: float | None, T_tool: np.ndarray,
                     start: float) -> TrackResult:
        assert self._T_tool_obj is not None
        self.T_base_obj = T_tool @ self._T_tool_obj
        self.stamp_s, self.status, self.confidence = stamp_s, TrackStatus.HELD, 1.0
        if not self.config.refine_held or cloud.is_empty:
            return self._result(stamp_s, start, _Fit(np.eye(4), math.nan, math.nan, math.nan, 0),
                                'held: pose from the tool')
        fit = self._fit(self._crop(cloud, self.T_base_obj, T_tool))
        reason = 'held: pose from the tool (ICP not confident)'
        if fit.points >= self.config.min_crop_points and (
                fit.confidence >= self.config.min_confidence):
            self.T_base_obj = self.T_base_obj @ invert_rigid(fit.T_corr)
            self._T_tool_obj = invert_rigid(T_tool) @ self.T_base_obj
            reason = 'held: pose from the tool, refined by ICP'
        self.confidence = fit.confidence
        return self._result(stamp_s, start, fit, reason)

    def _lost(self, stamp_s: float | None, start: float, fit: _Fit, reason: str) -> TrackResult:
        self.status, self.confidence = TrackStatus.LOST, fit.confidence
        self._previous = None
        return self._result(stamp_s, start, fit, reason)


@dataclass
class MultiTracker:
    """Tracks several objects from one frame cloud per update.

    Attributes:
        config: Tunables shared by the tracks.
        tracks: Tracks by object name.
    """

    config: TrackerConfig = field(default_factory=TrackerConfig)
    tracks: dict[str, ObjectTrack] = field(default_factory=dict)

    def add(self, name: str, points_base: np.ndarray, T_base_obj: np.ndarray,  # noqa: N803
            *, stamp_s: float | None = None, camera_base: np.ndarray | None = None
            ) -> ObjectTrack:
        """Ground a new object: build its model from base-frame points and its pose.

        Raises:
            TrackingError: If the name is taken or the model is too small.
        """
        if name in self.tracks:
            raise TrackingError(f'object {name!r} is already tracked')
        track = ObjectTrack.from_points_base(name, points_base, T_base_obj, self.config,
                                             stamp_s=stamp_s, camera_base=camera_base)
        self.tracks[name] = track
        return track

    def add_parts(self, name: str, parts: Iterable[Any],
                  T_base_obj: np.ndarray | None = None,  # noqa: N803
                  *, stamp_s: float | None = None) -> ObjectTrack:
        """Ground an object from its :class:`~resem3d_perception.parts.Part` objects: the
        model is their measured points; without ``T_base_obj`` the object frame is
        estimated (:func:`~resem3d_perception.parts.estimate_object_frame`).

        Raises:
            TrackingError: If no part is given, the name is taken or the model is too small.
        """
        from .parts import estimate_object_frame

        parts = list(parts)
        if not parts:
            raise TrackingError(f'{name}: no parts to build a model from')
        points = np.concatenate([part.measured_points_base for part in parts])
        T = estimate_object_frame(points) if T_base_obj is None else T_base_obj
        return self.add(name, points, T, stamp_s=stamp_s, camera_base=parts[0].camera_base)

    def remove(self, name: str) -> None:
        """Stop tracking an object.

        Raises:
            TrackingError: For an unknown object.
        """
        self._track(name)
        del self.tracks[name]

    def _track(self, name: str) -> ObjectTrack:
        try:
            return self.tracks[name]
        except KeyError:
            raise TrackingError(f'object {name!r} is not tracked; tracked: '
                                f'{sorted(self.tracks)}') from None

    def attach(self, name: str, T_base_tool: np.ndarray,  # noqa: N803
               T_tool_obj: np.ndarray | None = None) -> None:
        """Attach an object to the tool (see :meth:`ObjectTrack.attach`)."""
        self._track(name).attach(T_base_tool, T_tool_obj)

    def detach(self, name: str) -> None:
        """Release a held object (see :meth:`ObjectTrack.detach`)."""
        self._track(name).detach()

    def update(self, cloud: Cloud, stamp_s: float | None = None,
               T_base_tool: np.ndarray | None = None,  # noqa: N803
               names: Iterable[str] | None = None) -> dict[str, TrackResult]:
        """Update every track (or ``names``) from one frame cloud, built once by the caller.

        Returns:
            Results by object name.
        """
        selected = list(self.tracks) if names is None else list(names)
        return {name: self._track(name).update(cloud, stamp_s, T_base_tool)
                for name in selected}

    def update_from_depth(self, depth: np.ndarray, intrinsics: Any,
                          T_base_cam: np.ndarray,  # noqa: N803
                          stamp_s: float | None = None,
                          T_base_tool: np.ndarray | None = None,  # noqa: N803
                          ) -> tuple[Cloud, dict[str, TrackResult]]:
        """Build the frame cloud once (:func:`~resem3d_perception.cloud.depth_to_cloud`)
        and update every track from it.

        Returns:
            ``(the frame cloud, results by object name)``.

        Raises:
            PerceptionInputError: On bad depth, intrinsics or poses.
        """
        cloud = depth_to_cloud(depth, intrinsics, T_base_cam)
        return cloud, self.update(cloud, stamp_s, T_base_tool)

    def poses(self) -> dict[str, np.ndarray]:
        """Current pose estimates (4, 4) by object name (copies)."""
        return {name: track.T_base_obj.copy() for name, track in self.tracks.items()}


def pose_error(T_est: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:  # noqa: N803
    """``(translation error m, rotation error rad)`` between two poses."""
    dR = T_est[:3, :3].T @ T_true[:3, :3]
    angle = math.acos(float(np.clip((np.trace(dR) - 1.0) / 2.0, -1.0, 1.0)))
    return float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3])), angle
