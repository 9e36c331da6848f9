"""Core types <-> ``resem3d_msgs`` messages, for rclpy and rosbags alike.

``*_to_msg(types, ...)`` build messages through a :class:`~.ros_types.MessageTypes`
(:class:`~.ros_types.RclpyMessageTypes` in the nodes, :class:`~.ros_types.RosbagsMessageTypes`
in tests); ``*_from_msg(msg)`` read any object with the message's fields. Core -> message ->
core is exact for everything but poses (a rotation goes through a unit quaternion: exact to
about 1e-15). Enumerations map to the messages' ``uint8`` constants by name: the constraint
kind ``keep_away`` is ``Constraint.KIND_KEEP_AWAY``, the anchor time ``init`` is
``Anchor.AT_INIT``, and so on.

Every problem in a message (an unknown kind constant, a non-finite number, an array of the
wrong length, a field that its kind does not use, anything the core types reject) raises
:class:`~.exceptions.MessageConversionError` with the message field path, e.g.
``stages[0].subgoal[1].a.feature: unknown point feature "rim" of a region; ...``.

Stamps are integer nanoseconds (``builtin_interfaces/Time``). Nothing here imports ROS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import math
import numbers
from typing import Any, NamedTuple

import numpy as np

from .anchors import AxisAnchor, PointAnchor
from .conditions import Condition
from .constraint import Constraint
from .exceptions import (describe, join_path, MessageConversionError, ProgramError, quote,
                         RegionError, StatusError)
from .program import ConstraintProgram, GripperAction, Stage
from .region import Region
from .ros_types import INTERFACE_PACKAGE, MessageTypes
from .spatial import quaternion_xyzw, rotation_from_quaternion
from .spec import (ANCHOR_TIMES, CONDITION_KINDS, CONDITION_ONLY_KINDS, condition_fields,
                   constraint_fields, CONSTRAINT_KINDS, GRIPPER_ACTIONS, OFFSET_FRAMES,
                   PROGRAM_VERSION)
from .status import ConstraintResiduals, TaskState, TaskStatus

__all__ = ['anchor_from_msg', 'anchor_to_msg', 'condition_from_msg', 'condition_to_msg',
           'constraint_from_msg', 'constraint_to_msg', 'feedback_to_msg', 'PlacedRegion',
           'pose_from_msg', 'pose_to_msg', 'program_from_msg', 'program_to_msg',
           'region_array_from_msg', 'region_array_to_msg', 'region_from_msg', 'REGION_KINDS',
           'region_to_msg', 'RegionSet', 'residuals_from_msg', 'residuals_to_msg',
           'stage_from_msg', 'stage_to_msg', 'task_status_from_msg', 'task_status_to_msg',
           'time_from_msg', 'time_to_msg']

#: Message type names.
ANCHOR = f'{INTERFACE_PACKAGE}/msg/Anchor'
CONSTRAINT = f'{INTERFACE_PACKAGE}/msg/Constraint'
CONDITION = f'{INTERFACE_PACKAGE}/msg/Condition'
GRIPPER_ACTION = f'{INTERFACE_PACKAGE}/msg/GripperAction'
STAGE = f'{INTERFACE_PACKAGE}/msg/Stage'
PROGRAM = f'{INTERFACE_PACKAGE}/msg/ConstraintProgram'
REGION = f'{INTERFACE_PACKAGE}/msg/Region'
REGION_ARRAY = f'{INTERFACE_PACKAGE}/msg/RegionArray'
TASK_STATUS = f'{INTERFACE_PACKAGE}/msg/TaskStatus'
CONSTRAINT_RESIDUAL = f'{INTERFACE_PACKAGE}/msg/ConstraintResidual'
EXECUTE_FEEDBACK = f'{INTERFACE_PACKAGE}/action/ExecuteInstruction_Feedback'

#: What perception made a region from (``Region.KIND_*``): a segmented part, a positional
#: refinement (rim, top, tip), a geometric one (grid cells), or known to the system.
REGION_KINDS = ('part', 'rim', 'top', 'tip', 'cells', 'system')

_ANCHOR_KINDS = ('none', 'point', 'axis')
_ANCHOR_FIELDS = ('a', 'b', 'point')
_NONE = 'none'
_ROTATION_ATOL = 1e-6
_QUATERNION_NORM_ATOL = 1e-6
_POSE_MATCH_ATOL = 1e-9
_INT32_MAX = 2**31 - 1


class PlacedRegion(NamedTuple):
    """A region with the pose of its object frame, as one ``Region`` message carries it.

    Attributes:
        region: The region, in its object frame.
        T_frame_obj: (4, 4) pose of the object frame ``region.frame`` in ``frame_id``.
        frame_id: Frame the pose is expressed in (the robot base frame).
        stamp_ns: Time of the observation [ns].
        kind: One of :data:`REGION_KINDS`.
    """

    region: Region
    T_frame_obj: np.ndarray
    frame_id: str
    stamp_ns: int = 0
    kind: str = 'part'


class RegionSet(NamedTuple):
    """The content of a ``RegionArray``: regions and the poses of their object frames.

    Attributes:
        frame_id: Frame every pose is expressed in (the robot base frame).
        stamp_ns: Time of the observation [ns].
        regions: Region name -> region (object frame), in message order.
        T_frame_obj: Object frame name -> (4, 4) pose in ``frame_id``.
        kinds: Region name -> one of :data:`REGION_KINDS`.
    """

    frame_id: str
    stamp_ns: int
    regions: dict[str, Region]
    T_frame_obj: dict[str, np.ndarray]
    kinds: dict[str, str]


# --------------------------------------------------------------------------- helpers
def _fail(path: str, reason: str) -> MessageConversionError:
    return MessageConversionError(path or '$', reason)


def _constant_name(prefix: str, name: str) -> str:
    return prefix + name.upper()


def _constants(cls: type, prefix: str, names: Iterable[str]) -> dict[str, int]:
    """Name -> value of the constants ``prefix + NAME.upper()`` of a message class."""
    values = {}
    for name in names:
        attribute = _constant_name(prefix, name)
        try:
            values[name] = int(getattr(cls, attribute))
        except (AttributeError, TypeError, ValueError):
            raise _fail('$', f'message type {getattr(cls, "__name__", cls)} lacks the constant '
                             f'{attribute}: resem3d_msgs and resem3d_constraints differ') from None
    return values


def _decode(path: str, value: Any, table: Mapping[str, int], what: str) -> str:
    """Map a constant's value back to its name."""
    for name, number in table.items():
        if value == number and not isinstance(value, bool):
            return name
    expected = ', '.join(f'{number} ({name})' for name, number in table.items())
    raise _fail(path, f'unknown {what} {describe(value)}; expected one of {expected}')


def _number(path: str, value: Any) -> float:
    """A finite float from a message field."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _fail(path, f'expected a number, got {describe(value)}')
    number = float(value)
    if not math.isfinite(number):
        raise _fail(path, f'expected a finite number, got {describe(number)}')
    return number


def _integer(path: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _fail(path, f'expected an integer, got {describe(value)}')
    return int(value)


def _text(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, f'expected a string, got {describe(value)}')
    return value


def _flag(path: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(path, f'expected true or false, got {describe(value)}')
    return bool(value)


def _xyz(path: str, msg: Any) -> tuple[float, float, float]:
    """A finite 3-tuple from a Point or Vector3."""
    return tuple(_number(join_path(path, axis), getattr(msg, axis)) for axis in 'xyz')


def _numbers(path: str, values: Any, length: int | None = None, multiple: int = 1
             ) -> np.ndarray:
    """A finite float64 vector from a numeric sequence field."""
    try:
        array = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise _fail(path, 'expected a sequence of numbers') from None
    if length is not None and len(array) != length:
        raise _fail(path, f'expected {length} values, got {len(array)}')
    if len(array) % multiple:
        raise _fail(path, f'expected a multiple of {multiple} values, got {len(array)}')
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise _fail(f'{path}[{bad[0]}]', f'expected a finite number, got '
                                         f'{describe(float(array[bad[0]]))}')
    return array


def _items(path: str, values: Any) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise _fail(path, f'expected a sequence, got {describe(values)}')
    return list(values)


def _wrap(path: str, error: ProgramError | RegionError | StatusError,
          renames: Mapping[str, str] | None = None) -> MessageConversionError:
    """A core error as a conversion error at ``path`` (core field names mapped to fields)."""
    if isinstance(error, ProgramError):
        inner = error.path
        head, dot, rest = inner.partition('.')
        if renames and head in renames:
            inner = renames[head] + dot + rest
        return _fail(join_path(path, inner), error.reason)
    return _fail(path, str(error))


def _vector3(types: MessageTypes, v: Sequence[float]) -> Any:
    return types.get('geometry_msgs/msg/Vector3')(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _point(types: MessageTypes, p: Sequence[float]) -> Any:
    return types.get('geometry_msgs/msg/Point')(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _optional(value: float | None) -> tuple[float, bool]:
    return (0.0, False) if value is None else (float(value), True)


# --------------------------------------------------------------------------- time, pose
def time_to_msg(types: MessageTypes, stamp_ns: int) -> Any:
    """``builtin_interfaces/msg/Time`` of a time [ns] >= 0.

    Raises:
        MessageConversionError: For a negative, non-integer or too large time.
    """
    if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, numbers.Integral) \
            or not 0 <= stamp_ns <= _INT32_MAX * 10**9 + 999_999_999:
        raise _fail('stamp', f'expected an integer time in [0, 2^31) s [ns], got '
                             f'{describe(stamp_ns)}')
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types.get('builtin_interfaces/msg/Time')(sec=sec, nanosec=nanosec)


def time_from_msg(msg: Any, path: str = 'stamp') -> int:
    """Time [ns] of a ``builtin_interfaces/msg/Time``.

    Raises:
        MessageConversionError: For a negative time or ``nanosec`` outside [0, 1e9).
    """
    sec = _integer(join_path(path, 'sec'), msg.sec)
    nanosec = _integer(join_path(path, 'nanosec'), msg.nanosec)
    if sec < 0:
        raise _fail(join_path(path, 'sec'), f'expected a time >= 0, got {sec}')
    if not 0 <= nanosec < 1_000_000_000:
        raise _fail(join_path(path, 'nanosec'), f'expected 0 <= nanosec < 1e9, got {nanosec}')
    return sec * 1_000_000_000 + nanosec


def _header(types: MessageTypes, frame_id: str, stamp_ns: int) -> Any:
    if not isinstance(frame_id, str):
        raise _fail('header.frame_id', f'expected a string, got {describe(frame_id)}')
    return types.get('std_msgs/msg/Header')(stamp=time_to_msg(types, stamp_ns),
                                            frame_id=frame_id)


def _header_from_msg(msg: Any, path: str = 'header') -> tuple[str, int]:
    return (_text(join_path(path, 'frame_id'), msg.frame_id),
            time_from_msg(msg.stamp, join_path(path, 'stamp')))


def pose_to_msg(types: MessageTypes, T: np.ndarray, path: str = 'pose') -> Any:
    """``geometry_msgs/msg/Pose`` of a rigid transform (4, 4) [m].

    Raises:
        MessageConversionError: If ``T`` is not a finite (4, 4) rigid transform (rotation
            orthonormal within 1e-6, determinant +1, last row ``[0, 0, 0, 1]``).
    """
    try:
        T = np.asarray(T, dtype=float)
    except (TypeError, ValueError):
        raise _fail(path, 'expected a (4, 4) transform') from None
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise _fail(path, 'expected a finite (4, 4) transform')
    R = T[:3, :3]
    if not np.allclose(R.T @ R, np.eye(3), atol=_ROTATION_ATOL) or np.linalg.det(R) <= 0.0 \
            or not np.array_equal(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise _fail(path, 'not a rigid transform (rotation not orthonormal, or last row not '
                          '[0, 0, 0, 1])')
    x, y, z, w = quaternion_xyzw(R)
    return types.get('geometry_msgs/msg/Pose')(
        position=_point(types, T[:3, 3]),
        orientation=types.get('geometry_msgs/msg/Quaternion')(x=x, y=y, z=z, w=w))


def pose_from_msg(msg: Any, path: str = 'pose') -> np.ndarray:
    """Rigid transform (4, 4) of a ``geometry_msgs/msg/Pose``.

    Raises:
        MessageConversionError: For non-finite values or a quaternion whose norm is not 1
            (within 1e-6; it is then normalised).
    """
    position = _xyz(join_path(path, 'position'), msg.position)
    o = msg.orientation
    q = np.array([_number(join_path(path, f'orientation.{c}'), getattr(o, c)) for c in 'xyzw'])
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > _QUATERNION_NORM_ATOL:
        raise _fail(join_path(path, 'orientation'), f'expected a unit quaternion, got norm '
                                                    f'{norm:.6g}')
    T = np.eye(4)
    T[:3, :3] = rotation_from_quaternion(*(q / norm))
    T[:3, 3] = position
    return T


# --------------------------------------------------------------------------- anchors
def anchor_to_msg(types: MessageTypes, anchor: PointAnchor | AxisAnchor | None) -> Any:
    """``resem3d_msgs/msg/Anchor``; None gives ``KIND_NONE`` (an unused anchor field)."""
    A = types.get(ANCHOR)
    kinds = _constants(A, 'KIND_', _ANCHOR_KINDS)
    times = _constants(A, 'AT_', ANCHOR_TIMES)
    if anchor is None:
        return A(kind=kinds['none'], owner='', feature='', offset_m=_vector3(types, (0, 0, 0)),
                 at=times['live'])
    if isinstance(anchor, PointAnchor):
        kind, offset = 'point', anchor.offset_m
    elif isinstance(anchor, AxisAnchor):
        kind, offset = 'axis', (0.0, 0.0, 0.0)
    else:
        raise _fail('$', f'expected a PointAnchor, an AxisAnchor or None, got '
                         f'{describe(anchor)}')
    return A(kind=kinds[kind], owner=anchor.of, feature=anchor.feature,
             offset_m=_vector3(types, offset), at=times[anchor.at])


def anchor_from_msg(msg: Any, path: str = '$') -> PointAnchor | AxisAnchor | None:
    """The anchor of a ``resem3d_msgs/msg/Anchor``; None for ``KIND_NONE``.

    An empty ``feature`` means the owner's default (``tcp`` of the tool, ``origin`` of the
    world).

    Raises:
        MessageConversionError: For an unknown kind or time, an offset on an axis anchor, or
            an anchor the core rejects (unknown owner or feature).
    """
    cls = type(msg)
    kind = _decode(join_path(path, 'kind'), msg.kind, _constants(cls, 'KIND_', _ANCHOR_KINDS),
                   'anchor kind')
    owner = _text(join_path(path, 'owner'), msg.owner)
    feature = _text(join_path(path, 'feature'), msg.feature)
    offset = _xyz(join_path(path, 'offset_m'), msg.offset_m)
    at = _decode(join_path(path, 'at'), msg.at, _constants(cls, 'AT_', ANCHOR_TIMES),
                 'anchor time')
    if kind == 'none':
        if owner or feature or any(offset) or at != 'live':
            raise _fail(path, 'an anchor of kind KIND_NONE must leave owner, feature, '
                              'offset_m and at empty')
        return None
    renames = {'of': 'owner', 'point': 'feature', 'axis': 'feature'}
    try:
        if kind == 'point':
            return PointAnchor(of=owner, feature=feature or None, offset_m=offset, at=at)
        if any(offset):
            raise _fail(join_path(path, 'offset_m'), 'an axis anchor takes no offset; expected '
                                                     '(0, 0, 0)')
        return AxisAnchor(of=owner, feature=feature or None, at=at)
    except ProgramError as error:
        raise _wrap(path, error, renames) from None


# --------------------------------------------------------------------------- constraints
def constraint_to_msg(types: MessageTypes, constraint: Constraint) -> Any:
    """``resem3d_msgs/msg/Constraint`` of a constraint."""
    C = types.get(CONSTRAINT)
    kinds = _constants(C, 'KIND_', CONSTRAINT_KINDS)
    frames = _constants(C, 'FRAME_', (_NONE,) + OFFSET_FRAMES)
    c = constraint
    max_m, has_max_m = _optional(c.max_m)
    max_height_m, has_max_height_m = _optional(c.max_height_m)
    radius_m, has_radius_m = _optional(c.radius_m)
    gain, has_gain = _optional(c.gain)
    return C(
        kind=kinds[c.kind], a=anchor_to_msg(types, c.a), b=anchor_to_msg(types, c.b),
        point=anchor_to_msg(types, c.point), region=c.region or '',
        min_m=_optional(c.min_m)[0], max_m=max_m, has_max_m=has_max_m,
        offset_m=_vector3(types, c.offset_m or (0.0, 0.0, 0.0)),
        frame=frames[c.frame or _NONE], angle_rad=_optional(c.angle_rad)[0],
        min_height_m=_optional(c.min_height_m)[0], max_height_m=max_height_m,
        has_max_height_m=has_max_height_m, radius_m=radius_m, has_radius_m=has_radius_m,
        margin_m=_optional(c.margin_m)[0], weight=float(c.weight),
        tolerance=float(c.tolerance), hard=bool(c.hard), gain=gain, has_gain=has_gain)


def _constraint_arguments(msg: Any, path: str, kind: str, fields: tuple) -> dict[str, Any]:
    """Keyword arguments of :class:`Constraint` from a Constraint message of ``kind``.

    Fields ``kind`` does not use must be empty (anchors KIND_NONE, zeros, false flags).
    """
    used = {f.name for f in fields}
    arguments: dict[str, Any] = {}
    for name in _ANCHOR_FIELDS:
        sub = getattr(msg, name)
        if name not in used and sub.kind != _constants(type(sub), 'KIND_', (_NONE,))[_NONE]:
            raise _fail(join_path(path, name), f'not a field of kind "{kind}": expected '
                                               'KIND_NONE')
        anchor = anchor_from_msg(sub, join_path(path, name))
        if name in used:
            if anchor is None:
                raise _fail(join_path(path, f'{name}.kind'), f'kind "{kind}" needs anchor '
                                                             f'{name}; got KIND_NONE')
            arguments[name] = anchor
    region = _text(join_path(path, 'region'), msg.region)
    if 'region' in used:
        arguments['region'] = region
    elif region:
        raise _fail(join_path(path, 'region'), f'not a field of kind "{kind}": expected an '
                                               'empty string')
    frames = _constants(type(msg), 'FRAME_', (_NONE,) + OFFSET_FRAMES)
    frame = _decode(join_path(path, 'frame'), msg.frame, frames, 'offset frame')
    offset = _xyz(join_path(path, 'offset_m'), msg.offset_m)
    if 'frame' in used:
        arguments['frame'] = None if frame == _NONE else frame
        arguments['offset_m'] = offset
    elif frame != _NONE or any(offset):
        raise _fail(join_path(path, 'offset_m' if any(offset) else 'frame'),
                    f'not a field of kind "{kind}": expected zero')
    optional = {'max_m': 'has_max_m', 'max_height_m': 'has_max_height_m',
                'radius_m': 'has_radius_m'}
    for name in ('min_m', 'max_m', 'angle_rad', 'min_height_m', 'max_height_m', 'radius_m',
                 'margin_m'):
        value = _number(join_path(path, name), getattr(msg, name))
        has = _flag(join_path(path, optional[name]), getattr(msg, optional[name])) \
            if name in optional else True
        if name in used:
            arguments[name] = value if has else None
            if not has and value != 0.0:
                raise _fail(join_path(path, name), f'{optional[name]} is false: expected 0, '
                                                   f'got {value:g}')
        elif value != 0.0 or (name in optional and has):
            raise _fail(join_path(path, name), f'not a field of kind "{kind}": expected 0')
    return arguments


def constraint_from_msg(msg: Any, path: str = '$') -> Constraint:
    """The constraint of a ``resem3d_msgs/msg/Constraint``.

    Raises:
        MessageConversionError: For an unknown kind, a non-finite number, a field the kind
            does not use that is set, or a constraint the core rejects.
    """
    kind = _decode(join_path(path, 'kind'), msg.kind,
                   _constants(type(msg), 'KIND_', CONSTRAINT_KINDS), 'constraint kind')
    arguments = _constraint_arguments(msg, path, kind, constraint_fields(kind))
    gain = _number(join_path(path, 'gain'), msg.gain)
    has_gain = _flag(join_path(path, 'has_gain'), msg.has_gain)
    if not has_gain and gain != 0.0:
        raise _fail(join_path(path, 'gain'), f'has_gain is false: expected 0, got {gain:g}')
    try:
        return Constraint(kind=kind, weight=_number(join_path(path, 'weight'), msg.weight),
                          tolerance=_number(join_path(path, 'tolerance'), msg.tolerance),
                          hard=_flag(join_path(path, 'hard'), msg.hard),
                          gain=gain if has_gain else None, **arguments)
    except ProgramError as error:
        raise _wrap(path, error) from None


def condition_to_msg(types: MessageTypes, condition: Condition) -> Any:
    """``resem3d_msgs/msg/Condition`` of a condition."""
    K = types.get(CONDITION)
    kinds = _constants(K, 'KIND_', CONDITION_KINDS)
    if condition.constraint is not None:
        inner = constraint_to_msg(types, condition.constraint)
    else:
        inner = _empty_constraint(types)
    min_width_m, has_min_width_m = _optional(condition.min_width_m)
    return K(kind=kinds[condition.kind], constraint=inner, object=condition.object or '',
             min_width_m=min_width_m, has_min_width_m=has_min_width_m)


def _empty_constraint(types: MessageTypes) -> Any:
    C = types.get(CONSTRAINT)
    none = anchor_to_msg(types, None)
    return C(kind=C.KIND_NONE, a=none, b=anchor_to_msg(types, None),
             point=anchor_to_msg(types, None), region='', min_m=0.0, max_m=0.0,
             has_max_m=False, offset_m=_vector3(types, (0.0, 0.0, 0.0)), frame=C.FRAME_NONE,
             angle_rad=0.0, min_height_m=0.0, max_height_m=0.0, has_max_height_m=False,
             radius_m=0.0, has_radius_m=False, margin_m=0.0, weight=0.0, tolerance=0.0,
             hard=False, gain=0.0, has_gain=False)


def condition_from_msg(msg: Any, path: str = '$') -> Condition:
    """The condition of a ``resem3d_msgs/msg/Condition``.

    Raises:
        MessageConversionError: For an unknown kind, a geometric condition whose constraint
            has another kind, gripper fields on a geometric kind (or the reverse), or a
            condition the core rejects.
    """
    kind = _decode(join_path(path, 'kind'), msg.kind,
                   _constants(type(msg), 'KIND_', CONDITION_KINDS), 'condition kind')
    obj = _text(join_path(path, 'object'), msg.object)
    min_width = _number(join_path(path, 'min_width_m'), msg.min_width_m)
    has_min_width = _flag(join_path(path, 'has_min_width_m'), msg.has_min_width_m)
    if kind not in CONDITION_ONLY_KINDS:
        if obj or has_min_width or min_width != 0.0:
            raise _fail(join_path(path, 'object' if obj else 'min_width_m'),
                        f'not a field of kind "{kind}": expected empty')
        inner_path = join_path(path, 'constraint')
        inner_kind = _decode(join_path(inner_path, 'kind'), msg.constraint.kind,
                             _constants(type(msg.constraint), 'KIND_',
                                        (_NONE,) + CONSTRAINT_KINDS), 'constraint kind')
        if inner_kind != kind:
            raise _fail(join_path(inner_path, 'kind'), f'expected the condition\'s kind '
                                                       f'"{kind}", got "{inner_kind}"')
        return Condition(kind=kind, constraint=constraint_from_msg(msg.constraint, inner_path))
    inner_kind = msg.constraint.kind
    if inner_kind != type(msg.constraint).KIND_NONE:
        raise _fail(join_path(path, 'constraint.kind'), f'kind "{kind}" takes no constraint: '
                                                        'expected KIND_NONE')
    used = {f.name for f in condition_fields(kind)}
    if not has_min_width and min_width != 0.0:
        raise _fail(join_path(path, 'min_width_m'), f'has_min_width_m is false: expected 0, '
                                                    f'got {min_width:g}')
    if 'object' not in used and obj:
        raise _fail(join_path(path, 'object'), f'not a field of kind "{kind}": expected an '
                                               'empty string')
    try:
        return Condition(kind=kind, object=obj if 'object' in used else None,
                         min_width_m=min_width if has_min_width else None)
    except ProgramError as error:
        raise _wrap(path, error) from None


# --------------------------------------------------------------------------- stages
def _gripper_to_msg(types: MessageTypes, gripper: GripperAction | None) -> Any:
    G = types.get(GRIPPER_ACTION)
    actions = _constants(G, 'ACTION_', ('none',) + GRIPPER_ACTIONS)
    if gripper is None:
        return G(action=actions['none'], width_m=0.0, force_n=0.0, speed_mps=0.0)
    return G(action=actions[gripper.action], width_m=float(gripper.width_m),
             force_n=float(gripper.force_n), speed_mps=float(gripper.speed_mps))


def _gripper_from_msg(msg: Any, path: str) -> GripperAction | None:
    action = _decode(join_path(path, 'action'), msg.action,
                     _constants(type(msg), 'ACTION_', ('none',) + GRIPPER_ACTIONS),
                     'gripper action')
    values = {name: _number(join_path(path, name), getattr(msg, name))
              for name in ('width_m', 'force_n', 'speed_mps')}
    if action == 'none':
        if any(values.values()):
            raise _fail(path, 'ACTION_NONE takes no width, force or speed: expected 0')
        return None
    try:
        return GripperAction(action=action, **values)
    except ProgramError as error:
        raise _wrap(path, error) from None


def stage_to_msg(types: MessageTypes, stage: Stage) -> Any:
    """``resem3d_msgs/msg/Stage`` of a stage."""
    return types.get(STAGE)(
        name=stage.name, subgoal=[constraint_to_msg(types, c) for c in stage.subgoal],
        path=[constraint_to_msg(types, c) for c in stage.path],
        gripper=_gripper_to_msg(types, stage.gripper),
        pre=[condition_to_msg(types, c) for c in stage.pre],
        post=[condition_to_msg(types, c) for c in stage.post],
        timeout_s=float(stage.timeout_s), hold_s=float(stage.hold_s))


def stage_from_msg(msg: Any, path: str = '$') -> Stage:
    """The stage of a ``resem3d_msgs/msg/Stage``.

    Raises:
        MessageConversionError: For any invalid element (with its path) or a stage the core
            rejects.
    """
    lists = {}
    for name, convert in (('subgoal', constraint_from_msg), ('path', constraint_from_msg),
                          ('pre', condition_from_msg), ('post', condition_from_msg)):
        items = _items(join_path(path, name), getattr(msg, name))
        lists[name] = tuple(convert(item, join_path(path, f'{name}[{i}]'))
                            for i, item in enumerate(items))
    try:
        return Stage(name=_text(join_path(path, 'name'), msg.name),
                     gripper=_gripper_from_msg(msg.gripper, join_path(path, 'gripper')),
                     timeout_s=_number(join_path(path, 'timeout_s'), msg.timeout_s),
                     hold_s=_number(join_path(path, 'hold_s'), msg.hold_s), **lists)
    except ProgramError as error:
        raise _wrap(path, error) from None


def program_to_msg(types: MessageTypes, program: ConstraintProgram, *, frame_id: str = '',
                   stamp_ns: int = 0, task_id: str = '', subtask_index: int = -1) -> Any:
    """``resem3d_msgs/msg/ConstraintProgram`` of a program.

    Args:
        types: Message classes.
        program: The program.
        frame_id: Robot base frame (``header.frame_id``).
        stamp_ns: When the program was made [ns].
        task_id: Task the program belongs to (empty if none).
        subtask_index: Index of the subtask it solves (-1 if none).
    """
    index = _integer('subtask_index', subtask_index)
    if not -1 <= index <= _INT32_MAX:
        raise _fail('subtask_index', f'expected an int32 >= -1, got {index}')
    return types.get(PROGRAM)(
        version=PROGRAM_VERSION, header=_header(types, frame_id, stamp_ns),
        task_id=_text('task_id', task_id), subtask_index=index, name=program.name,
        regions=list(program.regions), stages=[stage_to_msg(types, s) for s in program.stages])


def program_from_msg(msg: Any) -> ConstraintProgram:
    """The program of a ``resem3d_msgs/msg/ConstraintProgram`` (header and task id aside).

    Raises:
        MessageConversionError: For an unsupported version, any invalid element (with its
            path) or a program the core rejects (e.g. an unlisted region).
    """
    version = _integer('version', msg.version)
    if version != PROGRAM_VERSION:
        raise _fail('version', f'unsupported program version {version}; expected '
                               f'{PROGRAM_VERSION}')
    _header_from_msg(msg.header)
    regions = tuple(_text(f'regions[{i}]', r) for i, r in
                    enumerate(_items('regions', msg.regions)))
    stages = tuple(stage_from_msg(s, f'stages[{i}]')
                   for i, s in enumerate(_items('stages', msg.stages)))
    try:
        return ConstraintProgram(name=_text('name', msg.name), regions=regions, stages=stages)
    except ProgramError as error:
        # The core names an anchor's owner "of"; the message field is "owner".
        path = error.path[:-len('.of')] + '.owner' if error.path.endswith('.of') else error.path
        raise _fail(path, error.reason) from None


# --------------------------------------------------------------------------- regions
def region_to_msg(types: MessageTypes, region: Region, T_frame_obj: np.ndarray, *,
                  frame_id: str, stamp_ns: int = 0, kind: str = 'part') -> Any:
    """``resem3d_msgs/msg/Region`` of a region and its object frame's pose.

    Args:
        types: Message classes.
        region: The region (object frame).
        T_frame_obj: (4, 4) pose of ``region.frame`` in ``frame_id``.
        frame_id: The frame of the pose (the robot base frame).
        stamp_ns: Time of the observation [ns].
        kind: One of :data:`REGION_KINDS`.

    Raises:
        MessageConversionError: For an unknown kind or a pose that is not rigid.
    """
    R = types.get(REGION)
    kinds = _constants(R, 'KIND_', REGION_KINDS)
    if kind not in kinds:
        raise _fail('kind', f'unknown region kind {describe(kind)}; expected one of '
                            + ', '.join(REGION_KINDS))
    return R(header=_header(types, frame_id, stamp_ns), name=region.name, kind=kinds[kind],
             object_frame=region.frame, pose=pose_to_msg(types, T_frame_obj),
             points_obj=types.array(region.points_obj.reshape(-1), 'float64'),
             centroid_obj=_point(types, region.centroid_obj),
             axes_obj=np.array(region.axes_obj, dtype=np.float64).reshape(-1),
             normal_obj=_vector3(types, region.normal_obj),
             extent_m=_vector3(types, region.extent_m),
             center_obj=_point(types, region.center_obj))


def region_from_msg(msg: Any, path: str = '$') -> PlacedRegion:
    """The region, pose, frame, stamp and kind of a ``resem3d_msgs/msg/Region``.

    Raises:
        MessageConversionError: For an unknown kind, non-finite numbers, ``points_obj`` not
            3 N values (N >= 1), ``axes_obj`` not 9 values, a bad pose or a region the core
            rejects (e.g. axes that are not a rotation).
    """
    frame_id, stamp_ns = _header_from_msg(msg.header, join_path(path, 'header'))
    kind = _decode(join_path(path, 'kind'), msg.kind,
                   _constants(type(msg), 'KIND_', REGION_KINDS), 'region kind')
    points = _numbers(join_path(path, 'points_obj'), msg.points_obj, multiple=3)
    if not len(points):
        raise _fail(join_path(path, 'points_obj'), 'expected at least one point (3 values)')
    axes = _numbers(join_path(path, 'axes_obj'), msg.axes_obj, length=9)
    T = pose_from_msg(msg.pose, join_path(path, 'pose'))
    try:
        region = Region(name=_text(join_path(path, 'name'), msg.name),
                        frame=_text(join_path(path, 'object_frame'), msg.object_frame),
                        points_obj=points.reshape(-1, 3),
                        centroid_obj=_xyz(join_path(path, 'centroid_obj'), msg.centroid_obj),
                        axes_obj=axes.reshape(3, 3),
                        normal_obj=_xyz(join_path(path, 'normal_obj'), msg.normal_obj),
                        extent_m=_xyz(join_path(path, 'extent_m'), msg.extent_m),
                        center_obj=_xyz(join_path(path, 'center_obj'), msg.center_obj))
    except RegionError as error:
        raise _wrap(path, error) from None
    return PlacedRegion(region=region, T_frame_obj=T, frame_id=frame_id, stamp_ns=stamp_ns,
                        kind=kind)


def region_array_to_msg(types: MessageTypes, regions: Mapping[str, Region] | Iterable[Region],
                        T_frame_obj: Mapping[str, np.ndarray], *, frame_id: str,
                        stamp_ns: int = 0, kinds: Mapping[str, str] | None = None) -> Any:
    """``resem3d_msgs/msg/RegionArray`` of regions and their object frames' poses.

    Args:
        types: Message classes.
        regions: Regions (a mapping by name, or an iterable).
        T_frame_obj: Object frame name -> (4, 4) pose in ``frame_id``; every region's frame
            must have one.
        frame_id: The frame of the poses (the robot base frame).
        stamp_ns: Time of the observation [ns].
        kinds: Region name -> kind (:data:`REGION_KINDS`); default ``part``.

    Raises:
        MessageConversionError: If a region's object frame has no pose, or a kind or pose is
            invalid.
    """
    items = list(regions.values()) if isinstance(regions, Mapping) else list(regions)
    kinds = kinds or {}
    out = []
    for i, region in enumerate(items):
        if region.frame not in T_frame_obj:
            raise _fail(f'regions[{i}].pose', f'no pose for the object frame '
                                              f'{quote(region.frame)} of {region.name}')
        try:
            out.append(region_to_msg(types, region, T_frame_obj[region.frame],
                                     frame_id=frame_id, stamp_ns=stamp_ns,
                                     kind=kinds.get(region.name, 'part')))
        except MessageConversionError as error:
            raise error.under(f'regions[{i}]') from None
    return types.get(REGION_ARRAY)(header=_header(types, frame_id, stamp_ns), regions=out)


def region_array_from_msg(msg: Any) -> RegionSet:
    """The regions and object poses of a ``resem3d_msgs/msg/RegionArray``.

    Raises:
        MessageConversionError: For an invalid region (with its path), a region name given
            twice, a region whose header frame differs from the array's, or two regions of
            one object frame with different poses (beyond 1e-9).
    """
    frame_id, stamp_ns = _header_from_msg(msg.header)
    regions: dict[str, Region] = {}
    poses: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for i, item in enumerate(_items('regions', msg.regions)):
        path = f'regions[{i}]'
        placed = region_from_msg(item, path)
        name = placed.region.name
        if name in regions:
            raise _fail(join_path(path, 'name'), f'duplicated region {quote(name)}')
        if placed.frame_id != frame_id:
            raise _fail(join_path(path, 'header.frame_id'),
                        f'expected the array\'s frame {quote(frame_id)}, got '
                        f'{quote(placed.frame_id)}')
        frame = placed.region.frame
        if frame in poses and not np.allclose(poses[frame], placed.T_frame_obj,
                                              atol=_POSE_MATCH_ATOL, rtol=0.0):
            raise _fail(join_path(path, 'pose'), f'object frame {quote(frame)} has another '
                                                 'pose in an earlier region')
        poses.setdefault(frame, placed.T_frame_obj)
        regions[name] = placed.region
        kinds[name] = placed.kind
    return RegionSet(frame_id=frame_id, stamp_ns=stamp_ns, regions=regions, T_frame_obj=poses,
                     kinds=kinds)


# --------------------------------------------------------------------------- status
def task_status_to_msg(types: MessageTypes, status: TaskStatus) -> Any:
    """``resem3d_msgs/msg/TaskStatus`` of a task status."""
    S = types.get(TASK_STATUS)
    states = _constants(S, 'STATE_', [s.value for s in TaskState])
    return S(stamp=time_to_msg(types, status.stamp_ns), task_id=status.task_id,
             instruction=status.instruction, state=states[status.state.value],
             subtask=status.subtask, subtask_index=status.subtask_index,
             subtask_count=status.subtask_count, stage=status.stage, message=status.message)


def task_status_from_msg(msg: Any) -> TaskStatus:
    """The task status of a ``resem3d_msgs/msg/TaskStatus``.

    Raises:
        MessageConversionError: For an unknown state or a status the core rejects.
    """
    state = _decode('state', msg.state,
                    _constants(type(msg), 'STATE_', [s.value for s in TaskState]), 'task state')
    try:
        return TaskStatus(state=TaskState(state), task_id=msg.task_id,
                          instruction=msg.instruction, subtask=msg.subtask,
                          subtask_index=_integer('subtask_index', msg.subtask_index),
                          subtask_count=_integer('subtask_count', msg.subtask_count),
                          stage=msg.stage, message=msg.message,
                          stamp_ns=time_from_msg(msg.stamp))
    except StatusError as error:
        raise _wrap('$', error) from None


def residuals_to_msg(types: MessageTypes, residuals: ConstraintResiduals) -> Any:
    """``resem3d_msgs/msg/ConstraintResidual`` of a residual report."""
    return types.get(CONSTRAINT_RESIDUAL)(
        stamp=time_to_msg(types, residuals.stamp_ns), stage=residuals.stage,
        names=list(residuals.names), residuals=types.array(residuals.residuals, 'float64'),
        tolerances=types.array(residuals.tolerances, 'float64'))


def residuals_from_msg(msg: Any) -> ConstraintResiduals:
    """The residual report of a ``resem3d_msgs/msg/ConstraintResidual``.

    Raises:
        MessageConversionError: For arrays of different lengths, non-finite numbers or
            negative tolerances.
    """
    names = [_text(f'names[{i}]', n) for i, n in enumerate(_items('names', msg.names))]
    residuals = _numbers('residuals', msg.residuals)
    tolerances = _numbers('tolerances', msg.tolerances)
    try:
        return ConstraintResiduals(stage=_text('stage', msg.stage), names=tuple(names),
                                   residuals=tuple(residuals.tolist()),
                                   tolerances=tuple(tolerances.tolist()),
                                   stamp_ns=time_from_msg(msg.stamp))
    except StatusError as error:
        raise _wrap('$', error) from None


def feedback_to_msg(types: MessageTypes, status: TaskStatus,
                    residuals: ConstraintResiduals | None = None) -> Any:
    """``resem3d_msgs/action/ExecuteInstruction_Feedback`` from a status and residuals.

    The stage is the residuals' stage when given, else the status's; without residuals the
    constraint arrays are empty.
    """
    F = types.get(EXECUTE_FEEDBACK)
    states = _constants(types.get(TASK_STATUS), 'STATE_', [s.value for s in TaskState])
    names: Sequence[str] = () if residuals is None else residuals.names
    errors: Sequence[float] = () if residuals is None else residuals.residuals
    tolerances: Sequence[float] = () if residuals is None else residuals.tolerances
    return F(state=states[status.state.value], subtask=status.subtask,
             subtask_index=status.subtask_index,
             stage=status.stage if residuals is None else residuals.stage,
             constraint_names=list(names), constraint_errors=types.array(errors, 'float64'),
             constraint_tolerances=types.array(tolerances, 'float64'))
