"""From marks and model choices to 3D regions: the perception side of the reasoning steps.

An :class:`Observation` is what the reasoning sees of one RGB-D frame: the colour image, the
numbered marks drawn on its part masks, and the point cloud in the robot base frame.
:func:`observe_frame` builds one from a frame (segment, post-process masks, draw marks,
back-project depth). The functions below turn the model's answers into geometry, using only
:mod:`resem3d_perception`:

* :func:`part_of_marks` lifts the union of the chosen marks' masks to a 3D part;
* :func:`object_frame` gives an object a frame from its first grounded parts;
* :func:`refine` narrows a part by the chosen flow (positional: rim / top / tip; geometric:
  the picked cells of a label grid; none) and returns the region in the object frame.

A :class:`GroundingStore` keeps the grounded regions and object frames of a run, so that a
region grounded for one subtask is reused by the next and every region of an object shares one
frame (regions are stored in object frames and move with the tracked object).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

import resem3d_constraints as rc
from resem3d_perception import (Cloud, EmptyRegionError, GridConfig, LabelGrid, MarkedImage,
                                MarkStyle, MaskFilterConfig, Part, PerceptionInputError,
                                SimSegmenter, cells_subregion, depth_to_cloud,
                                draw_marks, estimate_object_frame, make_label_grid,
                                part_from_mask, postprocess_masks, rim_centre, tip, top_surface)
from resem3d_perception.amodal import with_centres

from .errors import ReplyError
from .replies import FlowChoice, RegionPose

__all__ = ['GroundedRegion', 'GroundingStore', 'Observation', 'encode_png', 'label_grid',
           'object_frame', 'observe_frame', 'part_of_marks', 'refine', 'reframe',
           'system_region']

_DIRECTIONS = {'+x': (1.0, 0.0, 0.0), '-x': (-1.0, 0.0, 0.0), '+y': (0.0, 1.0, 0.0),
               '-y': (0.0, -1.0, 0.0), '+z': (0.0, 0.0, 1.0), '-z': (0.0, 0.0, -1.0)}


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` uint8 RGB image (deterministic for equal pixels)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), 'RGB').save(
        buffer, format='PNG', compress_level=3)
    return buffer.getvalue()


@dataclass(frozen=True, eq=False)
class Observation:
    """One RGB-D frame as the reasoning sees it.

    Attributes:
        color: ``(H, W, 3)`` uint8 RGB.
        marked: The colour image with numbered marks and the id -> mask mapping.
        cloud: Full-resolution point cloud of the frame, robot base frame.
        scene: Simulated scene ``task@seed`` (lets an oracle answer); None on a robot.
        system_regions: Regions the system knows without asking the model (e.g. the table
            top), with their object poses.
    """

    color: np.ndarray
    marked: MarkedImage
    cloud: Cloud
    scene: str | None = None
    system_regions: Mapping[str, RegionPose] = field(default_factory=dict)
    _png: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def mark_ids(self) -> tuple[int, ...]:
        """Ids of the marks drawn, ascending."""
        return tuple(self.marked.marks)

    def marks_json(self) -> list[dict[str, Any]]:
        """The marks as data for a request: ``[{"id": 3, "anchor_px": [x, y]}, ...]``."""
        return [{'id': i, 'anchor_px': [int(m.anchor_px[0]), int(m.anchor_px[1])]}
                for i, m in self.marked.marks.items()]

    def png(self, name: str) -> bytes:
        """PNG of ``'rgb'`` (the colour image) or ``'marks'`` (the marked image), cached."""
        with self._lock:
            if name not in self._png:
                if name == 'rgb':
                    self._png[name] = encode_png(self.color)
                elif name == 'marks':
                    self._png[name] = encode_png(self.marked.image)
                else:
                    raise KeyError(f'no image {name!r}; have rgb, marks')
            return self._png[name]


def observe_frame(frame: Any, *, scene: str | None = None,
                  system_regions: Mapping[str, RegionPose] | None = None,
                  segmenter: Any = None, mask_config: MaskFilterConfig | None = None,
                  mark_style: MarkStyle | None = None) -> Observation:
    """Segment a frame, draw its marks and back-project its depth.

    Args:
        frame: An RGB-D frame with ``color``, ``depth_m``, ``intrinsics`` and ``T_base_cam``
            (``resem3d_sim.camera.RgbdFrame`` or the like); with the default segmenter also
            ``part_mask`` and ``labels`` (simulator ground truth).
        scene: ``task@seed`` in simulation.
        system_regions: Regions known without the model (the table top).
        segmenter: A segmenter with ``segment(color, depth_m)``; default
            :class:`resem3d_perception.SimSegmenter` observing ``frame``.
        mask_config: Mask post-processing; default the method's values.
        mark_style: How marks are drawn.

    Raises:
        PerceptionError: From the segmenter or the cloud (bad frame).
    """
    if segmenter is None:
        segmenter = SimSegmenter()
        segmenter.observe(frame)
    masks = postprocess_masks(segmenter.segment(frame.color, frame.depth_m), mask_config)
    marked = draw_marks(frame.color, masks, mark_style)
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    return Observation(color=frame.color, marked=marked, cloud=cloud, scene=scene,
                       system_regions=dict(system_regions or {}))


def system_region(region: rc.Region, T_base_obj: np.ndarray) -> RegionPose:
    """A region the system provides (e.g. ``table/top`` from the workcell's description)."""
    return RegionPose(region=region, T_base_obj=np.array(T_base_obj, dtype=float))


@dataclass(frozen=True, eq=False)
class GroundedRegion:
    """A region grounded in a frame: what the program's region name means in 3D.

    Attributes:
        name: ``object/part``.
        region: The region in its object frame.
        T_base_obj: (4, 4) object pose at grounding time (base frame) [m].
        marks: The mark ids it came from.
        flow: ``positional``, ``geometric`` or ``none``.
        feature: The positional feature (rim, top, tip) or None.
        cells: The grid labels picked (geometric flow), else empty.
        point_base: (3,) the region's key point at grounding time: the rim centre, the top
            or tip centroid, or the points' centroid [m], base frame.
        subtask: Name of the subtask it was grounded for.
    """

    name: str
    region: rc.Region
    T_base_obj: np.ndarray
    marks: tuple[int, ...]
    flow: str
    feature: str | None
    cells: tuple[int, ...]
    point_base: np.ndarray
    subtask: str

    @property
    def pose(self) -> RegionPose:
        """The region with its object pose (for validation)."""
        return RegionPose(self.region, self.T_base_obj)

    @property
    def centroid_base(self) -> np.ndarray:
        """(3,) the region's centroid in the base frame at grounding time [m]."""
        return self.T_base_obj[:3, :3] @ self.region.centroid_obj + self.T_base_obj[:3, 3]

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON summary (metres, base and object frames named per field)."""
        def vec(v: np.ndarray) -> list[float]:
            return [round(float(x), 5) for x in v]
        return {
            'name': self.name, 'object': self.region.object_name, 'flow': self.flow,
            'feature': self.feature, 'marks': list(self.marks), 'cells': list(self.cells),
            'subtask': self.subtask, 'point_count': int(len(self.region.points_obj)),
            'centroid_obj': vec(self.region.centroid_obj),
            'centroid_base': vec(self.centroid_base), 'point_base': vec(self.point_base),
            'extent_m': vec(self.region.extent_m), 'normal_obj': vec(self.region.normal_obj),
            'T_base_obj': [vec(row) for row in self.T_base_obj],
        }


class GroundingStore:
    """The grounded regions and object frames of one run (not thread-safe)."""

    def __init__(self) -> None:
        self.regions: dict[str, GroundedRegion] = {}
        self.frames: dict[str, np.ndarray] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.regions

    def add(self, grounded: GroundedRegion) -> None:
        """Store (or replace) a grounded region."""
        self.regions[grounded.name] = grounded

    def set_frame(self, obj: str, T_base_obj: np.ndarray) -> None:  # noqa: N803
        """Give ``obj`` another object frame (its pose ``T_base_obj`` at grounding, base
        frame): its regions are moved into it (:func:`reframe`), keeping their geometry."""
        import dataclasses
        T_new = np.array(T_base_obj, dtype=float)
        T_new_old = np.linalg.inv(T_new) @ self.frames[obj]
        for name, grounded in list(self.regions.items()):
            if name.split('/', 1)[0] == obj:
                self.regions[name] = dataclasses.replace(
                    grounded, region=reframe(grounded.region, T_new_old), T_base_obj=T_new.copy())
        self.frames[obj] = T_new

    def forget_objects(self, objects: Iterable[str]) -> None:
        """Drop the frames and regions of ``objects`` (before re-grounding them)."""
        gone = set(objects)
        for name in [n for n in self.regions if n.split('/', 1)[0] in gone]:
            del self.regions[name]
        for obj in gone:
            self.frames.pop(obj, None)

    def poses(self, system: Mapping[str, RegionPose] | None = None) -> dict[str, RegionPose]:
        """Region name -> :class:`RegionPose` of every grounded region, plus ``system``."""
        out = dict(system or {})
        out.update({name: g.pose for name, g in self.regions.items()})
        return out


def reframe(region: rc.Region, T_new_old: np.ndarray) -> rc.Region:  # noqa: N803
    """``region`` moved from one object frame into another (``T_new_old``: the old frame in
    the new one), keeping its centroid and box centre; its principal axes follow the new
    frame's sign conventions (``Region.from_points``)."""
    R, t = T_new_old[:3, :3], T_new_old[:3, 3]
    moved = rc.Region.from_points(region.name, region.points_obj @ R.T + t, frame=region.frame,
                                  normal_obj=R @ region.normal_obj)
    return with_centres(moved, R @ region.centroid_obj + t, R @ region.center_obj + t)


def _union(observation: Observation, mark_ids: Sequence[int]) -> np.ndarray:
    masks = observation.marked.masks
    union = np.zeros(observation.color.shape[:2], dtype=bool)
    for i in mark_ids:
        union |= masks[i].mask
    return union


def part_of_marks(observation: Observation, name: str, mark_ids: Sequence[int]) -> Part:
    """The 3D part under the union of the marks' masks.

    Raises:
        ReplyError: (step ``extract``) when the marks hold too few points with depth.
    """
    try:
        return part_from_mask(name, _union(observation, mark_ids), observation.cloud)
    except EmptyRegionError as error:
        raise ReplyError('extract', f'region {name}: marks {list(mark_ids)} show no usable '
                                    f'3D surface ({error}); choose other marks') from None


def object_frame(store: GroundingStore, obj: str, parts: Sequence[Part]) -> np.ndarray:
    """The frame of ``obj``: the stored one, or one estimated from ``parts`` and stored.

    The estimate (z up, x along the parts' main horizontal direction, origin at their lowest
    point) is only an anchor for the object's regions and its tracking, not its CAD frame.
    """
    if obj not in store.frames:
        store.frames[obj] = estimate_object_frame([p.points_base for p in parts])
    return store.frames[obj]


def label_grid(observation: Observation, mark_ids: Sequence[int],
               config: GridConfig | None = None) -> LabelGrid:
    """A zoomed label grid over the union of the marks' masks (geometric flow)."""
    return make_label_grid(observation.color, _union(observation, mark_ids), config)


def refine(part: Part, choice: FlowChoice, T_base_obj: np.ndarray, *,
           grid: LabelGrid | None = None, cells: Sequence[int] = ()
           ) -> tuple[rc.Region, np.ndarray]:
    """Apply a refinement flow to a part.

    Args:
        part: The extracted part (its ``name`` is the region name).
        choice: The flow (and feature) the model chose.
        T_base_obj: The owning object's frame.
        grid: The label grid shown to the model (geometric flow).
        cells: The grid labels the model picked (geometric flow).

    Returns:
        ``(region in the object frame, key point (3,) in the base frame)``.

    Raises:
        ReplyError: (step ``refine_flow`` or ``refine_grid``) when the geometry does not
            support the choice (no rim can be fitted, the cells hold too few points...).
    """
    name = part.name
    try:
        if choice.flow == 'none':
            region = part.to_region(T_base_obj, name)
            return region, part.centroid_base.copy()
        if choice.flow == 'geometric':
            if grid is None or not cells:
                raise ValueError('the geometric flow needs a grid and picked cells')
            cell_mask = np.logical_or.reduce([grid.cells[label].mask for label in cells])
            refined = cells_subregion(part, cell_mask, name=name)
        elif choice.feature == 'rim':
            refined = rim_centre(part, name=name)
        elif choice.feature == 'top':
            refined = top_surface(part, name=name)
        elif choice.feature == 'tip':
            refined = tip(part, _DIRECTIONS[choice.direction or '+x'], name=name)
        else:
            raise ValueError(f'unknown positional feature {choice.feature!r}')
    except EmptyRegionError as error:
        step = 'refine_grid' if choice.flow == 'geometric' else 'refine_flow'
        what = (f'cells {list(cells)}' if choice.flow == 'geometric'
                else f'the {choice.feature} feature')
        raise ReplyError(step, f'region {name}: {what} cannot be refined ({error}); choose '
                               f'differently') from None
    except PerceptionInputError as error:
        raise ReplyError('refine_flow', f'region {name}: {error}') from None
    region = refined.to_region(T_base_obj, name)
    point = refined.point_base
    if not (np.all(np.isfinite(point)) and math.isfinite(float(np.sum(region.points_obj)))):
        raise ReplyError('refine_flow', f'region {name}: the refinement gave no finite point')
    return region, np.array(point, dtype=float)

