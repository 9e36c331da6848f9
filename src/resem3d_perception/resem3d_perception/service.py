# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""The core of the perception node: frames in; observations, grounded tracks and regions out.

:class:`PerceptionService` holds everything the perception node keeps between callbacks, as
plain Python (the node converts messages and calls it):

* **frames**: colour, aligned depth and camera info are paired by stamp
  (:class:`~resem3d_perception.frame_sync.FrameSync`); the latest RGB-D frame is kept;
* **observe** (slow path, on request of the reasoning): segment the latest frame, filter and
  order the masks, draw numbered marks, back-project the depth to a cloud in the base frame
  and lift every mark's mask to a 3D part (its centroid goes with the mark). The last
  ``history`` observations are kept, so that grounding can refer to them by stamp;
* **ground**: the reasoning publishes the regions it grounded (object frames, their poses at
  grounding, the stamp of the observation, as
  :class:`resem3d_constraints.ros_conversions.PlacedRegion`). Each object's tracking model is
  the measured points of the marks its regions cover in that observation (the regions' points
  projected into the image land on those marks' masks), or, if that observation is gone, the
  regions' own points;
* **track** (fast path, every frame): the frame's depth image updates every grounded object's
  pose (:class:`~resem3d_perception.scene_tracker.SceneTracker`: ICP, hysteresis, the gripper
  gate, and a search for an object someone moved out of ICP's reach);
* **regions**: the grounded regions with their objects' current poses, plus the regions the
  system knows without perception (e.g. the table top, :func:`load_system_regions`), as a
  :class:`resem3d_constraints.ros_conversions.RegionSet`.

Frames: ``base`` (robot base), ``cam`` (colour optical frame), ``obj`` (object frames).
``T_base_cam`` comes from tf (the node looks it up). Thread-safe: one lock guards the state;
segmentation runs outside it, so tracking continues during an observation.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import resem3d_constraints as rc
from resem3d_constraints.ros_conversions import PlacedRegion, RegionSet

from .cloud import Cloud, Intrinsics, check_rigid, depth_to_cloud, project_base_points
from .config import PerceptionConfig
from .depth_checks import DepthImage
from .errors import EmptyRegionError, PerceptionError, PerceptionInputError
from .frame_sync import CameraFrame, FrameSync
from .marks import MarkedImage, draw_marks
from .masks import postprocess_masks
from .parts import Part, part_from_mask, region_in_object_frame
from .scene_tracker import SceneTracker
from .segmenters import Segmenter, make_segmenter
from .tracking import TrackResult

__all__ = ['GroundingReport', 'LabelledCloud', 'NODE_PARAMETERS', 'PerceivedFrame',
           'PerceptionService', 'ServiceConfig', 'load_system_regions']


#: ROS parameters of the perception node and their defaults (topics, frames, rates).
NODE_PARAMETERS = {
    'config_file': '', 'system_regions_file': '', 'scene': '',
    'color_topic': '/camera/camera/color/image_raw',
    'depth_topic': '/camera/camera/aligned_depth_to_color/image_raw',
    'camera_info_topic': '/camera/camera/color/camera_info',
    'part_labels_topic': '/resem3d/sim/part_labels',
    'grounded_regions_topic': '/resem3d/grounded_regions', 'regions_topic': '/resem3d/regions',
    'marked_image_topic': '/resem3d/marked_image', 'cloud_topic': '/resem3d/segmented_cloud',
    'observe_service': '/resem3d/observe', 'base_frame': 'fr3_link0',
    'tool_frame': 'fr3_hand_tcp', 'camera_frame': 'camera_color_optical_frame',
    'depth_unit_m': 0.001, 'sync_tolerance_s': 0.02, 'track_rate_hz': 15.0,
    'cloud_stride_px': 2, 'tf_timeout_s': 0.05,
}


@dataclass(frozen=True)
class ServiceConfig:
    """Parameters of the node's core that are not in ``perception.yaml`` (ROS parameters).

    Attributes:
        sync_tolerance_s: Largest stamp difference [s] of colour and depth that pair.
        queue_size: Images kept per stream while waiting for a partner.
        sync_labels: Frames also wait for a ground-truth part-label image (``sim``
            segmenter fed by a simulator).
        history: Observations kept for grounding (by stamp).
        min_mark_hits: Projected region points a mark's mask must receive to belong to the
            object (with at least 5 % of the object's projected points).
        min_model_points: Fewest model points taken from marks before falling back to the
            regions' own points.
        scene: Simulated scene ``task@seed`` (lets an oracle answer); '' on a robot.
    """

    sync_tolerance_s: float = 0.02
    queue_size: int = 4
    sync_labels: bool = False
    history: int = 4
    min_mark_hits: int = 3
    min_model_points: int = 50
    scene: str = ''

    def __post_init__(self) -> None:
        for name in ('history', 'min_mark_hits', 'min_model_points', 'queue_size'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PerceptionInputError(f'ServiceConfig.{name} must be an integer >= 1, got '
                                           f'{value!r}')


@dataclass(frozen=True, eq=False)
class PerceivedFrame:
    """One observation: a segmented, marked frame and its 3D parts.

    Attributes:
        frame: The RGB-D frame.
        T_base_cam: (4, 4) pose of the colour optical frame in the base frame.
        marked: The image with numbered marks, and mark id -> mark (mask).
        cloud: Full-resolution cloud of the frame (base frame), with colours.
        parts: Mark id -> its mask lifted to a 3D part (marks without usable depth absent).
        scene: Simulated scene ``task@seed``, or ''.
    """

    frame: CameraFrame
    T_base_cam: np.ndarray
    marked: MarkedImage
    cloud: Cloud
    parts: Mapping[int, Part]
    scene: str = ''

    @property
    def stamp_ns(self) -> int:
        """Time of the frame [ns]."""
        return self.frame.stamp_ns

    @property
    def centroids_base(self) -> dict[int, np.ndarray | None]:
        """Mark id -> centroid of its part [m] (base frame), None without one."""
        return {i: (self.parts[i].centroid_base if i in self.parts else None)
                for i in self.marked.marks}


class LabelledCloud(NamedTuple):
    """A cloud for display: points [m] (base frame), RGB, and the mark id under each point
    (0: no mark)."""

    points_base: np.ndarray
    colors: np.ndarray
    labels: np.ndarray


class GroundingReport(NamedTuple):
    """How one object's tracking model was made.

    Attributes:
        object: The object frame's name.
        source: ``marks`` (the marks its regions cover), ``regions`` (the regions' own
            points: the observation was gone or covered too few marks) or ``error``.
        marks: The marks used (``marks`` only).
        points: Model points given to the tracker.
        detail: The error, for ``error``.
    """

    object: str
    source: str
    marks: tuple[int, ...] = ()
    points: int = 0
    detail: str = ''


@dataclass
class _Grounded:
    stamp_ns: int
    regions: dict[str, rc.Region]
    kinds: dict[str, str]


def load_system_regions(path: str | Path) -> RegionSet:
    """Regions the system knows without perception, from a YAML file.

    The file lists ``system_regions:`` entries ``{name: 'object/part', points_base: [[x, y,
    z], ...]}`` (metres, robot base frame; at least one point). Each region's object frame is
    the base frame itself (identity pose).

    Raises:
        PerceptionInputError: On a missing or malformed file or an invalid region.
    """
    import yaml
    try:
        document = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
    except OSError as error:
        raise PerceptionInputError(f'{path}: cannot read: {error.strerror}') from None
    except yaml.YAMLError as error:
        raise PerceptionInputError(f'{path}: not YAML: {str(error).splitlines()[0]}') from None
    entries = document.get('system_regions') if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PerceptionInputError(f'{path}: expected a list under system_regions:')
    regions: dict[str, rc.Region] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {'name', 'points_base'}:
            raise PerceptionInputError(f'{path}: system_regions[{i}] must have exactly name and '
                                       'points_base')
        points = np.asarray(entry['points_base'], dtype=float)
        try:
            regions[str(entry['name'])] = region_in_object_frame(str(entry['name']), points,
                                                                 np.eye(4))
        except (PerceptionInputError, ValueError) as error:
            raise PerceptionInputError(f'{path}: system_regions[{i}]: {error}') from None
    return RegionSet(frame_id='', stamp_ns=0, regions=regions,
                     T_frame_obj={r.frame: np.eye(4) for r in regions.values()},
                     kinds=dict.fromkeys(regions, 'system'))


class PerceptionService:
    """The perception node's state and work (see the module docstring).

    Args:
        config: The perception parameters (``perception.yaml``).
        settings: The node-level parameters.
        segmenter: A segmenter; default the one ``config`` names (SAM loads its checkpoint
            now, so a bad configuration fails at start).
        system_regions: Regions known without perception (e.g. from
            :func:`load_system_regions`).

    Raises:
        PerceptionInputError, CheckpointError: On a bad configuration.
    """

    def __init__(self, config: PerceptionConfig, settings: ServiceConfig | None = None, *,
                 segmenter: Segmenter | None = None,
                 system_regions: RegionSet | None = None) -> None:
        self.config = config
        self.settings = settings if settings is not None else ServiceConfig()
        s = self.settings
        self.segmenter = segmenter if segmenter is not None else \
            make_segmenter(config.segmenter_config())
        self.sync = FrameSync(s.sync_tolerance_s, s.queue_size, s.sync_labels)
        self.tracker = SceneTracker(config.tracker, config.scene_tracking)
        self._lock = threading.Lock()
        self._history: OrderedDict[int, PerceivedFrame] = OrderedDict()
        self._grounded: dict[str, _Grounded] = {}
        self._system = system_regions
        self._tracked_stamp_ns = 0

    # ------------------------------------------------------------------ frames
    def set_intrinsics(self, intrinsics: Intrinsics) -> None:
        """The latest camera model of the colour (and aligned depth) image."""
        with self._lock:
            self.sync.set_intrinsics(intrinsics)

    def add_color(self, stamp_ns: int, rgb: np.ndarray, camera_frame: str = ''
                  ) -> CameraFrame | None:
        """A colour image; returns the RGB-D frame it completes (else None)."""
        with self._lock:
            return self.sync.add_color(stamp_ns, rgb, camera_frame)

    def add_depth(self, stamp_ns: int, depth_m: np.ndarray) -> CameraFrame | None:
        """A depth image [m]; returns the RGB-D frame it completes (else None)."""
        with self._lock:
            return self.sync.add_depth(stamp_ns, depth_m)

    def add_labels(self, stamp_ns: int, part_mask: np.ndarray, labels: Any
                   ) -> CameraFrame | None:
        """A ground-truth part-label image (simulation); returns the frame it completes."""
        with self._lock:
            return self.sync.add_labels(stamp_ns, part_mask, labels)

    @property
    def latest_frame(self) -> CameraFrame | None:
        """The latest RGB-D frame, or None."""
        with self._lock:
            return self.sync.latest

    # ------------------------------------------------------------------ observe
    def observe(self, T_base_cam: np.ndarray, frame: CameraFrame | None = None  # noqa: N803
                ) -> PerceivedFrame:
        """Segment, mark and lift a frame (default: the latest).

        Args:
            T_base_cam: (4, 4) pose of the colour optical frame in the base frame at the
                frame's time.
            frame: The frame; default the latest one.

        Raises:
            PerceptionError: With no frame yet, or when the segmenter cannot run (the ``sim``
                segmenter without ground-truth labels).
            PerceptionInputError: On a bad pose.
        """
        T = check_rigid(T_base_cam, 'T_base_cam')
        if frame is None:
            with self._lock:
                frame, why = self.sync.latest, self.sync.last_error
            if frame is None:
                raise PerceptionError('no RGB-D frame yet: '
                                      + (why or 'waiting for colour, depth and camera info'))
        if self.segmenter.name == 'sim':
            if frame.part_mask is None:
                raise PerceptionError("segmenter 'sim' needs the simulator's ground-truth part "
                                      'labels with each frame; none came with this one (use '
                                      "segmenter 'sam' on a camera)")
            self.segmenter.observe(part_mask=frame.part_mask,  # type: ignore[attr-defined]
                                   labels=frame.labels)
        masks = postprocess_masks(self.segmenter.segment(frame.color, frame.depth_m),
                                  self.config.masks)
        marked = draw_marks(frame.color, masks, self.config.marks)
        cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, T, color=frame.color)
        parts: dict[int, Part] = {}
        for mark_id, mark in marked.marks.items():
            try:
                parts[mark_id] = part_from_mask(str(mark_id), mark.mask.mask, cloud,
                                                **self.config.parts.kwargs())
            except EmptyRegionError:
                continue
        perceived = PerceivedFrame(frame, T, marked, cloud, parts, self.settings.scene)
        with self._lock:
            self._history[frame.stamp_ns] = perceived
            while len(self._history) > self.settings.history:
                self._history.popitem(last=False)
        return perceived

    @staticmethod
    def labelled_cloud(perceived: PerceivedFrame, stride_px: int = 2) -> LabelledCloud:
        """A display cloud of an observation: every ``stride_px``-th pixel's point, its colour,
        and the id of the mark it lies on (0: none)."""
        f = perceived.frame
        cloud = depth_to_cloud(f.depth_m, f.intrinsics, perceived.T_base_cam, color=f.color,
                               stride_px=int(stride_px))
        label_image = np.zeros(f.intrinsics.height * f.intrinsics.width, dtype=np.uint32)
        for mark_id, mark in perceived.marked.marks.items():
            label_image[mark.mask.mask.ravel()] = mark_id
        colors = cloud.colors
        if colors is None:
            colors = np.zeros((len(cloud), 3), np.uint8)
        return LabelledCloud(cloud.points_base, colors, label_image[cloud.pixel_index])

    # ------------------------------------------------------------------ ground
    def ground(self, placed: Sequence[PlacedRegion]) -> list[GroundingReport]:
        """Track the objects of the regions the reasoning grounded (see the module docstring).

        Args:
            placed: Every grounded region with its object frame's pose at grounding and the
                stamp of the observation it was grounded in (one ``Region`` message each).

        Objects already tracked from the same observation with the same regions are left
        alone; objects no longer listed stop being tracked; ``system`` regions are kept as
        static regions.

        Returns:
            One report per object (re)grounded now.
        """
        by_object: dict[str, list[PlacedRegion]] = {}
        system: list[PlacedRegion] = []
        for item in placed:
            if item.kind == 'system':
                system.append(item)
            else:
                by_object.setdefault(item.region.frame, []).append(item)
        reports = []
        with self._lock:
            for obj in [o for o in self._grounded if o not in by_object]:
                del self._grounded[obj]
                self.tracker.remove(obj)
            if system:
                self._merge_system(system)
            for obj, items in by_object.items():
                stamp_ns = max(item.stamp_ns for item in items)
                regions = {item.region.name: item.region for item in items}
                known = self._grounded.get(obj)
                if known is not None and known.stamp_ns == stamp_ns \
                        and set(known.regions) == set(regions):
                    continue
                reports.append(self._ground_object(obj, regions, items[0].T_frame_obj,
                                                   stamp_ns))
                if reports[-1].source != 'error':
                    self._grounded[obj] = _Grounded(
                        stamp_ns, regions, {item.region.name: item.kind for item in items})
        return reports

    def _merge_system(self, items: Sequence[PlacedRegion]) -> None:
        base = self._system
        regions = dict(base.regions) if base is not None else {}
        frames = dict(base.T_frame_obj) if base is not None else {}
        for item in items:
            regions[item.region.name] = item.region
            frames[item.region.frame] = np.asarray(item.T_frame_obj, dtype=float)
        self._system = RegionSet('', 0, regions, frames, dict.fromkeys(regions, 'system'))

    def _ground_object(self, obj: str, regions: Mapping[str, rc.Region],
                       T_base_obj: np.ndarray, stamp_ns: int) -> GroundingReport:  # noqa: N803
        from .errors import TrackingError
        T = np.asarray(T_base_obj, dtype=float)
        p_base = np.concatenate([r.points_obj @ T[:3, :3].T + T[:3, 3]
                                 for r in regions.values()])
        perceived = self._observation_at(stamp_ns)
        marks: tuple[int, ...] = ()
        points = np.zeros((0, 3))
        if perceived is not None:
            marks = _covered_marks(perceived, p_base, self.settings.min_mark_hits)
            if marks:
                points = np.concatenate([perceived.parts[i].measured_points_base
                                         for i in marks])
        source = 'marks'
        if len(points) < self.settings.min_model_points:
            source, marks, points = 'regions', (), p_base
        camera = None if perceived is None else perceived.cloud.camera_position_base
        try:
            self.tracker.ground(obj, points, T, stamp_s=stamp_ns * 1e-9, camera_base=camera)
        except (TrackingError, PerceptionInputError) as error:
            return GroundingReport(obj, 'error', points=len(points), detail=str(error))
        return GroundingReport(obj, source, marks, len(points))

    def _observation_at(self, stamp_ns: int) -> PerceivedFrame | None:
        """The kept observation at ``stamp_ns`` (nearest within the sync tolerance)."""
        best = self._history.get(stamp_ns)
        if best is None:
            tolerance = self.sync.tolerance_ns
            near = [p for s, p in self._history.items() if abs(s - stamp_ns) <= tolerance]
            best = min(near, key=lambda p: abs(p.stamp_ns - stamp_ns), default=None)
        return best

    # ------------------------------------------------------------------ track
    def track(self, frame: CameraFrame, T_base_cam: np.ndarray,  # noqa: N803
              T_base_tool: np.ndarray | None = None) -> dict[str, TrackResult]:  # noqa: N803
        """Update every grounded object's pose from ``frame`` (nothing to do without any).

        Args:
            frame: The RGB-D frame.
            T_base_cam: (4, 4) camera pose at the frame's time.
            T_base_tool: (4, 4) TCP pose at that time, if known.

        Raises:
            PerceptionInputError: On a bad pose or depth image.
        """
        with self._lock:
            if not self.tracker.names:
                self._tracked_stamp_ns = frame.stamp_ns
                return {}
            depth = DepthImage(frame.depth_m, frame.intrinsics, check_rigid(T_base_cam,
                               'T_base_cam'), frame.stamp_s)
            results = self.tracker.update(depth, T_base_tool)
            self._tracked_stamp_ns = frame.stamp_ns
            return results

    def region_set(self, frame_id: str) -> RegionSet:
        """Every known region with its object frame's current pose (in ``frame_id``, the base
        frame), stamped with the last tracked frame."""
        with self._lock:
            regions: dict[str, rc.Region] = {}
            poses: dict[str, np.ndarray] = {}
            kinds: dict[str, str] = {}
            if self._system is not None:
                regions.update(self._system.regions)
                poses.update(self._system.T_frame_obj)
                kinds.update(self._system.kinds)
            tracked = self.tracker.poses()
            for obj, grounded in self._grounded.items():
                if obj in tracked:
                    regions.update(grounded.regions)
                    kinds.update(grounded.kinds)
                    poses[obj] = tracked[obj]
            return RegionSet(frame_id, self._tracked_stamp_ns, regions, poses, kinds)


def _covered_marks(perceived: PerceivedFrame, p_base: np.ndarray, min_hits: int
                   ) -> tuple[int, ...]:
    """Marks (with a 3D part) whose masks receive enough of the projected points."""
    k = perceived.frame.intrinsics
    uv, z = project_base_points(p_base, k, perceived.T_base_cam)
    px = np.rint(uv[z > 1e-6]).astype(np.int64) if len(uv) else np.zeros((0, 2), np.int64)
    inside = (px[:, 0] >= 0) & (px[:, 0] < k.width) & (px[:, 1] >= 0) & (px[:, 1] < k.height)
    px = px[inside]
    need = max(min_hits, int(math.ceil(0.05 * len(px))))
    chosen = []
    for mark_id, mark in perceived.marked.marks.items():
        hits = int(np.count_nonzero(mark.mask.mask[px[:, 1], px[:, 0]]))
        if hits >= need and mark_id in perceived.parts:
            chosen.append(mark_id)
    return tuple(chosen)
