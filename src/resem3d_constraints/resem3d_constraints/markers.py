"""RViz markers of a stage's constraints at one instant (``visualization_msgs/MarkerArray``).

Two steps, both without ROS:

1. geometry, from the scene the constraints are evaluated in (tracked object poses, the tool
   pose now): :func:`constraint_visuals` gives per constraint the point it moves (its
   *anchor*: a point of the tool or of a held object), the target point it moves it to where
   it has one, the two axes of ``align`` and ``angle``, and its residual;
   :func:`region_boxes` the oriented boxes of the regions the stage refers to, and
   :func:`keepout_boxes` the boxes ``keep_away`` constraints keep out of (grown by their
   margins). The run recorder (``resem3d.record``) draws the same things on its video;
2. messages, through a :class:`~resem3d_constraints.ros_types.MessageTypes` (rclpy classes in
   the node, rosbags classes in tests): :func:`marker_array`.

Marker rules (reference/ros2-conventions.md §6.7): the array starts with a ``DELETEALL`` (so
constraints of an earlier stage vanish), then one namespace per kind — ``regions`` (box edges,
LINE_LIST), ``anchors`` (SPHERE), ``targets`` (translucent SPHERE), ``links`` (anchor to
target, LINE_LIST), ``axes`` (ARROW from two points), ``keepout`` (translucent CUBE) and
``labels`` (TEXT_VIEW_FACING) — with ids counted per namespace, every marker in the base frame,
sizes in metres, lifetime 0 (until replaced). Colours: anchors take the constraint's palette
colour (as in the video); targets, links and axes are green when the constraint is met, red
when violated, grey when unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
import colorsys
from dataclasses import dataclass
import math
from typing import Any

import numpy as np

from .anchors import locate_axis, locate_point
from .exceptions import SceneError
from .monitoring import ConstraintEvaluation, evaluate_stage, stage_constraints
from .program import Stage
from .ros_conversions import pose_to_msg, time_to_msg
from .ros_types import MessageTypes
from .scene import SceneState

__all__ = ['ConstraintVisual', 'keepout_boxes', 'MARKER_NAMESPACES', 'marker_array',
           'MarkerStyle', 'palette', 'region_boxes', 'RegionBox', 'constraint_visuals',
           'stage_markers', 'STATUS_COLORS']

#: Namespaces of the markers, one per kind of thing drawn.
MARKER_NAMESPACES = ('regions', 'anchors', 'targets', 'links', 'axes', 'keepout', 'labels')
#: RGB colours (0-255) of a met, a violated and an unknown constraint.
STATUS_COLORS = {True: (40, 200, 60), False: (235, 40, 40), None: (200, 200, 200)}
_REGION_COLOR = (60, 170, 235)
_LABEL_COLOR = (255, 255, 255)
_BOX_EDGES = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7),
              (0, 4), (1, 5), (2, 6), (3, 7))
# visualization_msgs/msg/Marker constants (the same in every ROS 2 release).
_ARROW, _CUBE, _SPHERE, _LINE_LIST, _TEXT = 0, 1, 2, 5, 9
_ADD, _DELETEALL = 0, 3


def palette(index: int) -> tuple[int, int, int]:
    """A distinct, saturated RGB colour (0-255) for ``index`` (golden-ratio hue steps)."""
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return round(255 * r), round(255 * g), round(255 * b)


@dataclass(frozen=True)
class ConstraintVisual:
    """What to draw for one constraint.

    Attributes:
        name: ``<role>[<index>] <kind>`` (see :func:`~.monitoring.constraint_name`).
        kind: Constraint kind.
        anchor_base: (3,) point the constraint moves [m], base frame.
        target_base: (3,) point it moves it to [m], or None (no single target point).
        axes_base: For ``align`` and ``angle``: the unit axes ``a`` and ``b`` (3,) in the base
            frame, drawn from the anchor; else empty.
        residual: ``max |violation|`` (m or rad), NaN when unknown.
        tolerance: Violation below which it is met.
        unit: ``m`` or ``rad``.
    """

    name: str
    kind: str
    anchor_base: np.ndarray
    target_base: np.ndarray | None
    axes_base: tuple[np.ndarray, ...]
    residual: float
    tolerance: float
    unit: str

    @property
    def satisfied(self) -> bool | None:
        """True/False when the residual is known, else None."""
        return self.residual <= self.tolerance if math.isfinite(self.residual) else None


@dataclass(frozen=True)
class RegionBox:
    """An oriented box in the base frame.

    Attributes:
        name: Region name (``object/part``).
        center_base: (3,) centre [m].
        R_base_box: (3, 3) box axes (columns) in the base frame.
        extent_m: (3,) full side lengths [m] along those axes.
    """

    name: str
    center_base: np.ndarray
    R_base_box: np.ndarray
    extent_m: np.ndarray

    def corners_base(self) -> np.ndarray:
        """(8, 3) corners [m]; corner ``i`` has signs ``(bit2, bit1, bit0)`` of ``i`` on x y z."""
        signs = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)]) * 2.0 - 1.0
        return self.center_base + (signs * (self.extent_m / 2.0)) @ self.R_base_box.T

    @property
    def T_base_box(self) -> np.ndarray:
        """(4, 4) pose of the box frame (centre, axes) in the base frame."""
        T = np.eye(4)
        T[:3, :3] = self.R_base_box
        T[:3, 3] = self.center_base
        return T


@dataclass(frozen=True)
class MarkerStyle:
    """Sizes [m] and opacities of the markers.

    Attributes:
        sphere_m: Diameter of anchor and target spheres.
        line_m: Width of the anchor-target links.
        region_line_m: Width of the region box edges.
        arrow_m: Length of an axis arrow.
        arrow_shaft_m: Shaft diameter of an axis arrow.
        arrow_head_m: Head diameter (and length) of an axis arrow.
        text_m: Height of the labels.
        label_lift_m: Height of a label above its anchor.
        target_alpha: Opacity of target spheres.
        keepout_alpha: Opacity of keep-out boxes.
    """

    sphere_m: float = 0.02
    line_m: float = 0.004
    region_line_m: float = 0.002
    arrow_m: float = 0.1
    arrow_shaft_m: float = 0.006
    arrow_head_m: float = 0.012
    text_m: float = 0.02
    label_lift_m: float = 0.03
    target_alpha: float = 0.5
    keepout_alpha: float = 0.25


# --------------------------------------------------------------------------- geometry
def _visual(evaluation: ConstraintEvaluation, scene: SceneState) -> ConstraintVisual:
    """Anchor, target and axes of one evaluated constraint (raises SceneError if missing)."""
    c = evaluation.constraint
    axes: tuple[np.ndarray, ...] = ()
    if c.kind in ('offset', 'distance'):
        a, b = locate_point(c.a, scene), locate_point(c.b, scene)
        anchor, target = a.p_base, b.p_base
        if c.kind == 'offset':
            offset = np.asarray(c.offset_m, dtype=float)
            target = target + (b.R_base_owner @ offset if c.frame == 'object' else offset)
    elif c.kind in ('above', 'inside', 'keep_away'):
        anchor = locate_point(c.point, scene).p_base
        region = scene.region(c.region)
        T = scene.object_pose(region.frame)
        target = T[:3, :3] @ region.centroid_obj + T[:3, 3]
    else:                                    # align, angle: the two axes, about the tool
        anchor, target = scene.T_base_tool[:3, 3], None
        axes = (locate_axis(c.a, scene)[0], locate_axis(c.b, scene)[0])
    return ConstraintVisual(evaluation.name, c.kind, np.array(anchor, dtype=float),
                            None if target is None else np.array(target, dtype=float), axes,
                            evaluation.residual, evaluation.tolerance, evaluation.unit)


def constraint_visuals(stage: Stage, scene: SceneState,
                       evaluations: Sequence[ConstraintEvaluation] | None = None
                       ) -> list[ConstraintVisual]:
    """One visual per subgoal and path constraint of ``stage`` the scene can place.

    Args:
        stage: The active stage.
        scene: The scene it is evaluated in.
        evaluations: Its constraints evaluated in ``scene`` (:func:`~.monitoring.
            evaluate_stage`); evaluated here when omitted.

    Returns:
        The visuals, in stage order; constraints whose regions or object poses the scene
        lacks are left out.
    """
    if evaluations is None:
        evaluations = evaluate_stage(stage, scene)
    out = []
    for evaluation in evaluations:
        try:
            out.append(_visual(evaluation, scene))
        except SceneError:
            continue
    return out


def _box(name: str, region: Any, T_base_obj: np.ndarray, grow_m: float = 0.0) -> RegionBox:
    R = T_base_obj[:3, :3]
    return RegionBox(name, R @ region.center_obj + T_base_obj[:3, 3], R @ region.axes_obj,
                     np.asarray(region.extent_m, dtype=float) + 2.0 * grow_m)


def region_boxes(stage: Stage, scene: SceneState) -> list[RegionBox]:
    """Boxes of the regions ``stage`` refers to (sorted by name), at their objects' poses;
    regions the scene lacks are left out."""
    names = sorted({ref for _, ref in stage.references() if '/' in ref})
    out = []
    for name in names:
        try:
            region = scene.region(name)
            out.append(_box(name, region, scene.object_pose(region.frame)))
        except SceneError:
            continue
    return out


def keepout_boxes(stage: Stage, scene: SceneState) -> list[RegionBox]:
    """For each ``keep_away`` constraint of ``stage`` (subgoal, then path): its region's box
    grown by its margin on every side, named like the constraint."""
    out = []
    for name, c in stage_constraints(stage):
        if c.kind != 'keep_away':
            continue
        try:
            region = scene.region(c.region)
            out.append(_box(name, region, scene.object_pose(region.frame), c.margin_m))
        except SceneError:
            continue
    return out


# --------------------------------------------------------------------------- messages
class _Builder:
    """Marker messages of one array: shared header, identity pose, empty texture and mesh."""

    def __init__(self, types: MessageTypes, frame_id: str, stamp_ns: int) -> None:
        self.types = types
        self.frame_id = frame_id
        self.stamp_ns = stamp_ns
        self.identity = pose_to_msg(types, np.eye(4))
        self.markers: list[Any] = []

    def header(self, frame_id: str | None = None) -> Any:
        return self.types.get('std_msgs/msg/Header')(
            stamp=time_to_msg(self.types, self.stamp_ns),
            frame_id=self.frame_id if frame_id is None else frame_id)

    def point(self, p: Sequence[float]) -> Any:
        return self.types.get('geometry_msgs/msg/Point')(x=float(p[0]), y=float(p[1]),
                                                         z=float(p[2]))

    def color(self, rgb: tuple[int, int, int], alpha: float = 1.0) -> Any:
        return self.types.get('std_msgs/msg/ColorRGBA')(r=rgb[0] / 255.0, g=rgb[1] / 255.0,
                                                        b=rgb[2] / 255.0, a=float(alpha))

    def add(self, ns: str, marker_id: int, marker_type: int, *, action: int = _ADD,
            pose: Any = None, scale: Sequence[float] = (1.0, 1.0, 1.0),
            rgb: tuple[int, int, int] = _LABEL_COLOR, alpha: float = 1.0,
            points: Sequence[Sequence[float]] = (), text: str = '') -> None:
        t = self.types
        empty = t.array([], 'uint8')
        self.markers.append(t.get('visualization_msgs/msg/Marker')(
            header=self.header(), ns=ns, id=marker_id, type=marker_type, action=action,
            pose=self.identity if pose is None else pose,
            scale=t.get('geometry_msgs/msg/Vector3')(x=float(scale[0]), y=float(scale[1]),
                                                     z=float(scale[2])),
            color=self.color(rgb, alpha),
            lifetime=t.get('builtin_interfaces/msg/Duration')(sec=0, nanosec=0),
            frame_locked=False, points=[self.point(p) for p in points], colors=[],
            texture_resource='',
            texture=t.get('sensor_msgs/msg/CompressedImage')(header=self.header(''),
                                                             format='', data=empty),
            uv_coordinates=[], text=text, mesh_resource='',
            mesh_file=t.get('visualization_msgs/msg/MeshFile')(filename='', data=empty),
            mesh_use_embedded_materials=False))


def marker_array(types: MessageTypes, frame_id: str, stamp_ns: int,
                 visuals: Sequence[ConstraintVisual] = (), regions: Sequence[RegionBox] = (),
                 keepouts: Sequence[RegionBox] = (), style: MarkerStyle | None = None) -> Any:
    """``visualization_msgs/msg/MarkerArray`` of constraint visuals and region boxes.

    With no visuals and no boxes the array holds the ``DELETEALL`` only (it clears RViz).

    Args:
        types: Message classes (rclpy or rosbags).
        frame_id: The base frame every point is expressed in.
        stamp_ns: Time of the state drawn [ns].
        visuals: Constraint visuals (:func:`constraint_visuals`); their index is their id in
            ``anchors``, ``targets``, ``links`` and ``labels``; constraint ``i`` has axis ids
            ``2 i`` and ``2 i + 1``.
        regions: Region boxes (:func:`region_boxes`), drawn as edges in ``regions``.
        keepouts: Keep-out boxes (:func:`keepout_boxes`), drawn as translucent cubes.
        style: Sizes and opacities.

    Raises:
        MessageConversionError: For a negative or too large stamp.
    """
    s = style or MarkerStyle()
    b = _Builder(types, frame_id, stamp_ns)
    b.add('', 0, _SPHERE, action=_DELETEALL)
    for i, box in enumerate(regions):
        corners = box.corners_base()
        b.add('regions', i, _LINE_LIST, scale=(s.region_line_m, 0.0, 0.0), rgb=_REGION_COLOR,
              points=[corners[k] for edge in _BOX_EDGES for k in edge])
    for i, box in enumerate(keepouts):
        b.add('keepout', i, _CUBE, pose=pose_to_msg(types, box.T_base_box),
              scale=tuple(np.maximum(box.extent_m, 1e-4)), rgb=STATUS_COLORS[False],
              alpha=s.keepout_alpha)
    sphere = (s.sphere_m, s.sphere_m, s.sphere_m)
    for i, v in enumerate(visuals):
        status = STATUS_COLORS[v.satisfied]
        b.add('anchors', i, _SPHERE, pose=_at(types, v.anchor_base), scale=sphere,
              rgb=palette(i))
        if v.target_base is not None:
            b.add('targets', i, _SPHERE, pose=_at(types, v.target_base), scale=sphere,
                  rgb=status, alpha=s.target_alpha)
            b.add('links', i, _LINE_LIST, scale=(s.line_m, 0.0, 0.0), rgb=status,
                  points=[v.anchor_base, v.target_base])
        for k, axis in enumerate(v.axes_base):
            b.add('axes', 2 * i + k, _ARROW,
                  scale=(s.arrow_shaft_m, s.arrow_head_m, s.arrow_head_m),
                  rgb=status if k == 0 else _LABEL_COLOR,
                  points=[v.anchor_base, v.anchor_base + s.arrow_m * np.asarray(axis)])
        label = v.name if not math.isfinite(v.residual) else \
            f'{v.name}: {v.residual:.3g} {v.unit}'
        b.add('labels', i, _TEXT, pose=_at(types, v.anchor_base + (0.0, 0.0, s.label_lift_m)),
              scale=(0.0, 0.0, s.text_m), rgb=_LABEL_COLOR, text=label)
    return types.get('visualization_msgs/msg/MarkerArray')(markers=b.markers)


def stage_markers(types: MessageTypes, stage: Stage | None, scene: SceneState, frame_id: str,
                  stamp_ns: int, evaluations: Sequence[ConstraintEvaluation] | None = None,
                  style: MarkerStyle | None = None) -> Any:
    """The markers of ``stage`` in ``scene`` (a DELETEALL only when ``stage`` is None)."""
    if stage is None:
        return marker_array(types, frame_id, stamp_ns, style=style)
    return marker_array(types, frame_id, stamp_ns,
                        constraint_visuals(stage, scene, evaluations),
                        region_boxes(stage, scene), keepout_boxes(stage, scene), style)


def _at(types: MessageTypes, p: np.ndarray) -> Any:
    T = np.eye(4)
    T[:3, 3] = p
    return pose_to_msg(types, T)
