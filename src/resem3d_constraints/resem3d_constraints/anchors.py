"""Anchors: the points and axes constraints refer to, and their values and tool Jacobians.

An anchor belongs to the tool, to the world (base frame) or to a region. Resolving it in a
scene gives its value in the base frame and its Jacobian wrt the tool twist ``xi = [v; omega]``
(base-frame axes, see :mod:`resem3d_constraints.spatial`):

- world anchors are fixed: ``J = 0``;
- tool anchors move with the tool: a point ``p = t + R p_tool`` has ``J = [I, -skew(p - t)]``
  and an axis ``a = R a_tool`` has ``J = [0, -skew(a)]``;
- ``live`` region anchors follow their object's current pose, and move with the tool exactly
  like tool anchors when their object frame is in ``scene.held``; otherwise ``J = 0``;
- ``init`` region anchors use the object pose frozen at the stage start: ``J = 0`` always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .exceptions import describe, ProgramError, quote
from .scene import SceneState
from .spatial import rigid_axis_jacobian, rigid_point_jacobian, ZERO_JACOBIAN_3
from .spec import (ANCHOR_TIMES, check_choice, check_region_name, check_vector3,
                   FRAME_AXIS_FEATURES, MAX_LENGTH_M, REGION_AXIS_FEATURES,
                   REGION_POINT_FEATURES, TOOL, TOOL_POINT_FEATURES, WORLD,
                   WORLD_POINT_FEATURES)

_EYE = np.eye(3)
_EYE.setflags(write=False)
_FRAME_AXES = {name: (-1.0 if name[0] == '-' else 1.0) * _EYE['xyz'.index(name[-1])]
               for name in FRAME_AXIS_FEATURES}
_ORIGIN_JACOBIAN = rigid_point_jacobian(np.zeros(3))
_ORIGIN_JACOBIAN.setflags(write=False)
_POINT_FEATURES = {TOOL: TOOL_POINT_FEATURES, WORLD: WORLD_POINT_FEATURES}
_AXIS_FEATURES = {TOOL: FRAME_AXIS_FEATURES, WORLD: FRAME_AXIS_FEATURES}


def _owner(of: object) -> str:
    """Return ``'tool'``, ``'world'`` or ``'region'`` for an anchor's ``of`` field."""
    if not isinstance(of, str):
        raise ProgramError('of', f'expected a string, got {describe(of)}')
    if of in (TOOL, WORLD):
        return of
    if '/' not in of:
        raise ProgramError('of', f'unknown anchor owner {quote(of)}; expected "tool", "world" '
                                 'or a region name object/part')
    check_region_name('of', of)
    return 'region'


def _check_feature(path: str, owner: str, feature: object, wanted: tuple[str, ...],
                   other: tuple[str, ...], kind: str) -> str:
    """Check a feature name of a point (``kind='point'``) or axis anchor of ``owner``."""
    if not isinstance(feature, str):
        raise ProgramError(path, f'expected a string, got {describe(feature)}')
    if feature in wanted:
        return feature
    if feature in other:
        opposite = 'an axis' if kind == 'point' else 'a point'
        raise ProgramError(path, f'{quote(feature)} is {opposite} feature of {owner}, not a '
                                 f'{kind} feature; {kind} features of {owner}: '
                                 + ', '.join(wanted))
    raise ProgramError(path, f'unknown {kind} feature {quote(feature)} of {owner}; expected '
                             'one of ' + ', '.join(wanted))


def _check_at(at: object, owner: str) -> str:
    at = check_choice('at', 'live' if at is None else at, ANCHOR_TIMES)
    if at == 'init' and owner != 'region':
        raise ProgramError('at', f'"init" applies to region anchors only, not to {owner}')
    return at


@dataclass(frozen=True)
class PointAnchor:
    """A point of the tool, of the world or of a region.

    Attributes:
        of: ``'tool'``, ``'world'`` or a region name ``object/part``.
        feature: Tool: ``'tcp'`` (default); world: ``'origin'`` (default); region:
            ``centroid``, ``center``, ``top`` or ``bottom`` (required).
        offset_m: Offset (3,) [m] added in the owner's frame: the tool frame for the tool, the
            object frame for a region, the base frame for the world (a world anchor is the
            fixed base-frame point ``offset_m``). At most 2 m long.
        at: ``'live'`` (default) or ``'init'`` (the pose frozen at the stage start; regions
            only).
    """

    of: str
    feature: str | None = None
    offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    at: str = 'live'
    _offset: np.ndarray = field(init=False, repr=False, compare=False)
    _at_origin: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        owner = _owner(self.of)
        feature = self.feature
        if feature is None and owner != 'region':
            feature = _POINT_FEATURES[owner][0]
        if feature is None:
            raise ProgramError('point', 'missing required field')
        wanted = _POINT_FEATURES.get(owner, REGION_POINT_FEATURES)
        other = _AXIS_FEATURES.get(owner, REGION_AXIS_FEATURES)
        owner_name = 'a region' if owner == 'region' else f'the {owner}'
        object.__setattr__(self, 'feature', _check_feature('point', owner_name, feature, wanted,
                                                           other, 'point'))
        offset = check_vector3('offset_m', (0.0, 0.0, 0.0) if self.offset_m is None
                               else self.offset_m, MAX_LENGTH_M)
        object.__setattr__(self, 'offset_m', offset)
        object.__setattr__(self, 'at', _check_at(self.at, owner))
        array = np.array(offset)
        array.setflags(write=False)
        object.__setattr__(self, '_offset', array)
        object.__setattr__(self, '_at_origin', not any(offset))

    @property
    def is_region(self) -> bool:
        """Whether the anchor belongs to a region (rather than the tool or the world)."""
        return self.of not in (TOOL, WORLD)


@dataclass(frozen=True)
class AxisAnchor:
    """A unit direction of the tool, of the world or of a region.

    Attributes:
        of: ``'tool'``, ``'world'`` or a region name ``object/part``.
        feature: Tool and world: ``x``, ``y``, ``z`` (frame axes); region: ``normal``,
            ``major``, ``middle``, ``minor`` (the region's axes) or ``x``, ``y``, ``z`` (its
            object frame's axes). A ``-`` prefix negates any of them.
        at: ``'live'`` (default) or ``'init'`` (regions only).
    """

    of: str
    feature: str
    at: str = 'live'

    def __post_init__(self) -> None:
        owner = _owner(self.of)
        if self.feature is None:
            raise ProgramError('axis', 'missing required field')
        wanted = _AXIS_FEATURES.get(owner, REGION_AXIS_FEATURES)
        other = _POINT_FEATURES.get(owner, REGION_POINT_FEATURES)
        owner_name = 'a region' if owner == 'region' else f'the {owner}'
        object.__setattr__(self, 'feature', _check_feature('axis', owner_name, self.feature,
                                                           wanted, other, 'axis'))
        object.__setattr__(self, 'at', _check_at(self.at, owner))

    @property
    def is_region(self) -> bool:
        """Whether the anchor belongs to a region (rather than the tool or the world)."""
        return self.of not in (TOOL, WORLD)


class LocatedPoint(NamedTuple):
    """A resolved point anchor, with what the constraints need to know about its owner.

    Attributes:
        p_base: Point (3,) [m] in the base frame.
        jacobian: d p_base / d xi (3, 6); may be a shared read-only zero array.
        R_base_owner: Rotation (3, 3) of the frame owning the point (identity for the world).
        moving: Whether the owner frame moves with the tool.
    """

    p_base: np.ndarray
    jacobian: np.ndarray
    R_base_owner: np.ndarray
    moving: bool


def locate_point(anchor: PointAnchor, scene: SceneState) -> LocatedPoint:
    """Resolve a point anchor, also returning its owner's rotation and whether it moves.

    Raises:
        SceneError: If the scene lacks the anchor's region or its object's pose.
    """
    T_tool = scene.T_base_tool
    if anchor.of == TOOL:
        R = T_tool[:3, :3]
        if anchor._at_origin:
            return LocatedPoint(T_tool[:3, 3].copy(), _ORIGIN_JACOBIAN, R, True)
        r = R @ anchor._offset
        return LocatedPoint(T_tool[:3, 3] + r, rigid_point_jacobian(r), R, True)
    if anchor.of == WORLD:
        return LocatedPoint(anchor._offset.copy(), ZERO_JACOBIAN_3, _EYE, False)
    region = scene.region(anchor.of)
    T = scene.object_pose(region.frame, anchor.at)
    R = T[:3, :3]
    p = R @ (region.feature_point_obj(anchor.feature) + anchor._offset) + T[:3, 3]
    if anchor.at == 'live' and region.frame in scene.held:
        return LocatedPoint(p, rigid_point_jacobian(p - T_tool[:3, 3]), R, True)
    return LocatedPoint(p, ZERO_JACOBIAN_3, R, False)


def locate_axis(anchor: AxisAnchor, scene: SceneState) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`resolve_axis`, but the Jacobian may be a shared read-only zero array."""
    if anchor.of == TOOL:
        a = scene.T_base_tool[:3, :3] @ _FRAME_AXES[anchor.feature]
        return a, rigid_axis_jacobian(a)
    if anchor.of == WORLD:
        return _FRAME_AXES[anchor.feature].copy(), ZERO_JACOBIAN_3
    region = scene.region(anchor.of)
    T = scene.object_pose(region.frame, anchor.at)
    a = T[:3, :3] @ region.feature_axis_obj(anchor.feature)
    if anchor.at == 'live' and region.frame in scene.held:
        return a, rigid_axis_jacobian(a)
    return a, ZERO_JACOBIAN_3


def resolve_point(anchor: PointAnchor, scene: SceneState) -> tuple[np.ndarray, np.ndarray]:
    """Value and tool Jacobian of a point anchor.

    Args:
        anchor: The point anchor.
        scene: Scene to evaluate it in.

    Returns:
        ``(p_base, J)``: the point (3,) [m] in the base frame and ``d p_base / d xi`` (3, 6).

    Raises:
        SceneError: If the scene lacks the anchor's region or its object's pose.
    """
    located = locate_point(anchor, scene)
    return located.p_base, np.array(located.jacobian)


def resolve_axis(anchor: AxisAnchor, scene: SceneState) -> tuple[np.ndarray, np.ndarray]:
    """Value and tool Jacobian of an axis anchor.

    Args:
        anchor: The axis anchor.
        scene: Scene to evaluate it in.

    Returns:
        ``(a_base, J)``: the unit axis (3,) in the base frame and ``d a_base / d xi`` (3, 6).

    Raises:
        SceneError: If the scene lacks the anchor's region or its object's pose.
    """
    a, J = locate_axis(anchor, scene)
    return a, np.array(J)
