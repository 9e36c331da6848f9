"""The closed vocabulary of the language: kinds, their fields, units, defaults and limits.

This table is the single source of truth for the dataclasses' checks, the JSON parser and the
JSON Schema. Lengths are in metres (fields ending ``_m``), angles in radians (``_rad``).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import numbers
import re
from typing import Any

import numpy as np

from .exceptions import describe, join_path, ProgramError, quote

# ---------------------------------------------------------------------------- names
TOOL = 'tool'
WORLD = 'world'
NAME_MAX_LENGTH = 64
NAME_PATTERN = r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$'
REGION_PATTERN = r'^[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*$'
RESERVED_OBJECTS = (TOOL, WORLD)
_NAME = re.compile(NAME_PATTERN)
_REGION = re.compile(REGION_PATTERN)

# ---------------------------------------------------------------------------- features
TOOL_POINT_FEATURES = ('tcp',)
WORLD_POINT_FEATURES = ('origin',)
FRAME_AXIS_FEATURES = ('x', 'y', 'z', '-x', '-y', '-z')
REGION_POINT_FEATURES = ('centroid', 'center', 'top', 'bottom')
_REGION_AXES = ('normal', 'major', 'middle', 'minor', 'x', 'y', 'z')
REGION_AXIS_FEATURES = _REGION_AXES + tuple('-' + a for a in _REGION_AXES)
ANCHOR_TIMES = ('live', 'init')

# ---------------------------------------------------------------------------- limits
MAX_STAGES = 32
MAX_CONSTRAINTS_PER_STAGE = 32
MAX_CONDITIONS_PER_LIST = 32
MAX_REGIONS = 64
MAX_LENGTH_M = 2.0
MAX_TOLERANCE_M = 1.0
MAX_TOLERANCE_RAD = math.pi
MAX_WEIGHT = 1e3
MAX_GAIN_PER_S = 100.0
MAX_TIMEOUT_S = 120.0
GRIPPER_MAX_WIDTH_M = 0.08
GRIPPER_MAX_FORCE_N = 70.0
GRIPPER_MAX_SPEED_MPS = 0.1
PROGRAM_VERSION = 1

# ---------------------------------------------------------------------------- defaults
DEFAULT_WEIGHT = 1.0
DEFAULT_TOLERANCE_M = 0.005
DEFAULT_TOLERANCE_RAD = 0.05
DEFAULT_GRIPPER_SPEED_MPS = 0.05
DEFAULT_GRASP_FORCE_N = 20.0
GRIPPER_ACTIONS = ('open', 'close', 'grasp', 'move')
OFFSET_FRAMES = ('world', 'object')


@dataclass(frozen=True)
class Field:
    """One field of a kind, with its JSON type and bounds.

    Attributes:
        name: Field name, identical in JSON and in the dataclass.
        value_type: ``number``, ``boolean``, ``choice``, ``name``, ``region`` (a region name
            ``object/part``), ``object`` (an object frame name), ``vector3`` (3 numbers),
            ``point`` (a point anchor), ``axis`` (an axis anchor), and for stages ``list`` and
            ``gripper``.
        required: Whether the field must be given.
        default: Value used when the field is absent (None: no value).
        minimum: Lower bound of a number, inclusive unless ``exclusive_minimum``.
        maximum: Upper bound of a number (inclusive); for ``vector3`` the bound on its norm.
        exclusive_minimum: Whether ``minimum`` itself is excluded.
        choices: Allowed strings of a ``choice``.
        nullable: Whether JSON ``null`` is a meaningful value (else null means absent).
        doc: One-line meaning, with units.
    """

    name: str
    value_type: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    doc: str = ''

    def check(self, value: Any) -> Any:
        """Check a scalar, vector or name value and return it normalised (floats, tuples).

        Anchors (``point``, ``axis``) are returned unchecked: their owner checks their class.

        Raises:
            ProgramError: With this field's name as the path.
        """
        if value is None:
            if self.required:
                raise ProgramError(self.name, 'missing required field')
            return self.default
        if self.value_type == 'number':
            return check_number(self.name, value, self.minimum, self.maximum,
                                self.exclusive_minimum)
        if self.value_type == 'boolean':
            if not isinstance(value, bool):
                raise ProgramError(self.name, f'expected true or false, got {describe(value)}')
            return value
        if self.value_type == 'choice':
            return check_choice(self.name, value, self.choices)
        if self.value_type == 'region':
            return check_region_name(self.name, value)
        if self.value_type == 'object':
            return check_name(self.name, value, 'object name')
        if self.value_type == 'name':
            return check_name(self.name, value)
        if self.value_type == 'vector3':
            return check_vector3(self.name, value, self.maximum)
        return value


# ---------------------------------------------------------------------------- kinds
CONSTRAINT_KINDS = ('distance', 'offset', 'align', 'angle', 'above', 'inside', 'keep_away')
CONDITION_ONLY_KINDS = ('grasped', 'gripper_open')
CONDITION_KINDS = CONSTRAINT_KINDS + CONDITION_ONLY_KINDS
ANGULAR_KINDS = ('align', 'angle')

KIND_DOCS = {
    'distance': 'Distance between points a and b, |p_a - p_b|, lies in [min_m, max_m].',
    'offset': 'Point a sits at point b plus offset_m, the offset expressed in the world frame '
              '(frame: world) or in the frame that owns b (frame: object).',
    'align': 'Axes a and b point the same way: the angle between them is 0 (within tolerance).',
    'angle': 'The angle between axes a and b is angle_rad (within tolerance), e.g. a tilt.',
    'above': "Point is above the region: its height over the top of the region's box is in "
             "[min_height_m, max_height_m] and its horizontal distance from the region's "
             'centroid is at most radius_m.',
    'inside': "Point lies inside the region's oriented box shrunk by margin_m.",
    'keep_away': "Point stays at least margin_m outside the region's oriented box.",
    'grasped': 'The gripper holds the object: grasp detected, object attached to the tool and '
               'finger width at least min_width_m.',
    'gripper_open': 'The fingers are open at least min_width_m.',
}


def _length(name: str, doc: str, **kwargs: Any) -> Field:
    return Field(name, 'number', minimum=0.0, maximum=MAX_LENGTH_M, doc=doc, **kwargs)


def _point(name: str, doc: str) -> Field:
    return Field(name, 'point', required=True, doc=doc)


def _axis(name: str, doc: str) -> Field:
    return Field(name, 'axis', required=True, doc=doc)


_POINT = _point('point', 'The constrained point.')
_REGION_FIELD = Field('region', 'region', required=True, doc='Region name (object/part).')
_KIND_FIELDS: dict[str, tuple[Field, ...]] = {
    'distance': (
        _point('a', 'First point.'), _point('b', 'Second point.'),
        _length('min_m', 'Smallest allowed distance [m].', default=0.0),
        _length('max_m', 'Largest allowed distance [m]; absent: no upper bound.'),
    ),
    'offset': (
        _point('a', 'The point that is placed.'),
        _point('b', 'The reference point.'),
        Field('offset_m', 'vector3', required=True, maximum=MAX_LENGTH_M,
              doc='Offset from b to a [m], at most 2 m long.'),
        Field('frame', 'choice', default='world', choices=OFFSET_FRAMES,
              doc='Axes of offset_m: world (base frame) or object (the frame that owns b).'),
    ),
    'align': (_axis('a', 'First axis.'), _axis('b', 'Second axis.')),
    'angle': (
        _axis('a', 'First axis.'), _axis('b', 'Second axis.'),
        Field('angle_rad', 'number', required=True, minimum=0.0, maximum=math.pi,
              doc='Target angle between a and b [rad], in [0, pi].'),
    ),
    'above': (
        _POINT, _REGION_FIELD,
        _length('min_height_m', "Smallest height over the top of the region's box [m].",
                default=0.0),
        _length('max_height_m', 'Largest height [m]; absent: no upper bound.'),
        Field('radius_m', 'number', minimum=0.0, maximum=MAX_LENGTH_M, exclusive_minimum=True,
              doc='Largest horizontal distance from the region centroid [m]; absent: half '
                  "the larger horizontal extent of the region's box."),
    ),
    'inside': (
        _POINT, _REGION_FIELD,
        _length('margin_m', 'Distance kept from the inside of the box faces [m].', default=0.0),
    ),
    'keep_away': (
        _POINT, _REGION_FIELD,
        _length('margin_m', 'Smallest distance from the box surface [m].', required=True),
    ),
    'grasped': (
        Field('object', 'object', required=True, doc='Object frame name (text before "/").'),
        Field('min_width_m', 'number', minimum=0.0, maximum=GRIPPER_MAX_WIDTH_M,
              doc='Smallest finger width that counts as holding the object [m].'),
    ),
    'gripper_open': (
        Field('min_width_m', 'number', required=True, minimum=0.0, maximum=GRIPPER_MAX_WIDTH_M,
              doc='Smallest finger width [m].'),
    ),
}

_COMMON_FIELDS = (
    Field('weight', 'number', default=DEFAULT_WEIGHT, minimum=0.0, maximum=MAX_WEIGHT,
          exclusive_minimum=True, doc='Relative weight of a soft constraint, in (0, 1000].'),
    Field('hard', 'boolean', default=False,
          doc='Whether the controller enforces the constraint as an inequality row.'),
    Field('gain', 'number', minimum=0.0, maximum=MAX_GAIN_PER_S, exclusive_minimum=True,
          nullable=True, doc='Convergence gain [1/s]; null: the controller default.'),
)


def unit(kind: str) -> str:
    """Return the unit of a kind's value, tolerance and margin: ``'m'`` or ``'rad'``."""
    return 'rad' if kind in ANGULAR_KINDS else 'm'


def tolerance_field(kind: str) -> Field:
    """Return the ``tolerance`` field of a geometric kind, bounded in the kind's unit."""
    if unit(kind) == 'rad':
        return Field('tolerance', 'number', default=DEFAULT_TOLERANCE_RAD, minimum=0.0,
                     maximum=MAX_TOLERANCE_RAD,
                     doc='Allowed violation [rad], in [0, pi]; the predicate holds within it.')
    return Field('tolerance', 'number', default=DEFAULT_TOLERANCE_M, minimum=0.0,
                 maximum=MAX_TOLERANCE_M,
                 doc='Allowed violation [m], in [0, 1]; the predicate holds within it.')


def kind_fields(kind: str) -> tuple[Field, ...]:
    """Return the fields of a kind (anchors and parameters), without the common ones."""
    return _KIND_FIELDS[kind]


def constraint_fields(kind: str) -> tuple[Field, ...]:
    """Return every field a constraint of ``kind`` accepts, ``kind`` itself excluded."""
    return _KIND_FIELDS[kind] + (tolerance_field(kind),) + _COMMON_FIELDS


def condition_fields(kind: str) -> tuple[Field, ...]:
    """Return every field a condition of ``kind`` accepts, ``kind`` itself excluded."""
    if kind in CONDITION_ONLY_KINDS:
        return _KIND_FIELDS[kind]
    return _KIND_FIELDS[kind] + (tolerance_field(kind),)


GRIPPER_FIELDS = (
    Field('action', 'choice', required=True, choices=GRIPPER_ACTIONS,
          doc='open: to full width; close: close until contact; grasp: close on an object of '
              'width_m with force_n; move: to width_m.'),
    Field('width_m', 'number', minimum=0.0, maximum=GRIPPER_MAX_WIDTH_M,
          doc='Finger width [m] in [0, 0.08]; open: 0.08, close and grasp: 0 when absent; '
              'required for move.'),
    Field('force_n', 'number', minimum=0.0, maximum=GRIPPER_MAX_FORCE_N,
          doc='Grasp force [N] in [0, 70]; default 20 for grasp and close, 0 otherwise.'),
    Field('speed_mps', 'number', minimum=0.0, maximum=GRIPPER_MAX_SPEED_MPS,
          exclusive_minimum=True, default=DEFAULT_GRIPPER_SPEED_MPS,
          doc='Finger speed [m/s] in (0, 0.1].'),
)

STAGE_FIELDS = (
    Field('name', 'name', required=True, doc='Stage name, unique in the program.'),
    Field('subgoal', 'list', doc='Constraints the stage must reach.'),
    Field('path', 'list', doc='Constraints held throughout the stage.'),
    Field('gripper', 'gripper', nullable=True,
          doc='Gripper action, run once the subgoal is reached (at once without a subgoal).'),
    Field('pre', 'list', doc='Conditions checked before and during the stage.'),
    Field('post', 'list', doc='Conditions that end the stage successfully.'),
    Field('timeout_s', 'number', required=True, minimum=0.0, maximum=MAX_TIMEOUT_S,
          exclusive_minimum=True, doc='Time limit of the stage [s], in (0, 120].'),
    Field('hold_s', 'number', minimum=0.0, maximum=MAX_TIMEOUT_S, default=0.0,
          doc='Dwell [s]: the post conditions must hold this long without a break before the '
              'stage ends (e.g. while pouring); 0 ends it at once. Less than timeout_s.'),
)

PROGRAM_FIELDS = ('version', 'name', 'regions', 'stages')


# ---------------------------------------------------------------------------- checks
def check_number(name: str, value: Any, minimum: float | None = None,
                 maximum: float | None = None, exclusive_minimum: bool = False) -> float:
    """Return ``value`` as a finite float within bounds.

    Raises:
        ProgramError: If ``value`` is not a number (booleans are not), not finite or out of
            bounds; the path is ``name``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ProgramError(name, f'expected a number, got {describe(value)}')
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ProgramError(name, f'expected a finite number, got {describe(value)}')
    if minimum is not None and (number < minimum or (exclusive_minimum and number == minimum)):
        raise ProgramError(name, f'must be {">" if exclusive_minimum else ">="} {minimum:g}, '
                                 f'got {number:g}')
    if maximum is not None and number > maximum:
        raise ProgramError(name, f'must be <= {maximum:g}, got {number:g}')
    return number


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise :class:`ProgramError`."""
    if not isinstance(value, str):
        raise ProgramError(name, f'expected a string, got {describe(value)}')
    if value not in choices:
        raise ProgramError(name, f'unknown value {quote(value)}; expected one of '
                                 + ', '.join(choices))
    return value


def check_name(name: str, value: Any, what: str = 'name') -> str:
    """Return ``value`` if it is a plain name (letters, digits, ``_.-``; at most 64 chars)."""
    if not isinstance(value, str):
        raise ProgramError(name, f'expected a string, got {describe(value)}')
    if len(value) > NAME_MAX_LENGTH:
        raise ProgramError(name, f'{what} longer than {NAME_MAX_LENGTH} characters')
    if not _NAME.fullmatch(value):   # fullmatch: '$' alone lets a trailing newline through
        raise ProgramError(name, f'{what} {quote(value)} must match {NAME_PATTERN}')
    return value


def check_region_name(name: str, value: Any) -> str:
    """Return ``value`` if it is a region name ``object/part`` of plain names."""
    if not isinstance(value, str):
        raise ProgramError(name, f'expected a string, got {describe(value)}')
    if len(value) > NAME_MAX_LENGTH:
        raise ProgramError(name, f'region name longer than {NAME_MAX_LENGTH} characters')
    if not _REGION.fullmatch(value):
        raise ProgramError(name, f'region name {quote(value)} must look like '
                                 f'object/part ({REGION_PATTERN})')
    if value.split('/')[0] in RESERVED_OBJECTS:
        raise ProgramError(name, f'"{value.split("/")[0]}" is reserved and cannot name an '
                                 'object')
    return value


def check_vector3(name: str, value: Any, max_norm: float | None = None
                  ) -> tuple[float, float, float]:
    """Return ``value`` as a tuple of 3 finite floats whose norm is at most ``max_norm``."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, '__len__'):
        raise ProgramError(name, f'expected a list of 3 numbers, got {describe(value)}')
    if len(value) != 3:
        raise ProgramError(name, f'expected a list of 3 numbers, got {len(value)} items')
    vector = tuple(check_number(join_path(name, f'[{i}]'), value[i]) for i in range(3))
    norm = math.sqrt(sum(x * x for x in vector))
    if max_norm is not None and norm > max_norm:
        raise ProgramError(name, f'longer than {max_norm:g} m (norm {norm:.3g} m)')
    return vector


def check_length(name: str, items: Any, maximum: int, what: str) -> None:
    """Check that ``items`` is a list of at most ``maximum`` elements.

    The error names the first element past the limit, e.g. ``stages[32]``.
    """
    if not isinstance(items, (list, tuple)):
        raise ProgramError(name, f'expected a list, got {describe(items)}')
    if len(items) > maximum:
        raise ProgramError(join_path(name, f'[{maximum}]'),
                           f'too many {what}: {len(items)} > {maximum}')
