"""The :class:`Constraint` dataclass: one geometric relation, its bounds and how to track it."""

from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np

from .anchors import AxisAnchor, PointAnchor
from .exceptions import ProgramError, quote
from .spec import (CONDITION_ONLY_KINDS, constraint_fields, CONSTRAINT_KINDS, DEFAULT_WEIGHT,
                   Field, unit)

#: Kind-specific parameters of :class:`Constraint`, in the order the JSON form lists them.
PARAMETERS = ('a', 'b', 'point', 'region', 'min_m', 'max_m', 'offset_m', 'frame', 'angle_rad',
              'min_height_m', 'max_height_m', 'radius_m', 'margin_m')


_ANCHORS = {'point': (PointAnchor, 'a point anchor'), 'axis': (AxisAnchor, 'an axis anchor')}


def _frozen(values: list[float]) -> np.ndarray:
    array = np.array(values, dtype=float)
    array.setflags(write=False)
    return array


def check_kind_fields(owner: object, fields: tuple[Field, ...], kind: str) -> None:
    """Check and normalise the fields of a constraint or condition dataclass in place.

    Every name of :data:`PARAMETERS` that ``kind`` does not use must be None; every used field
    is checked against its :class:`~resem3d_constraints.spec.Field`, anchors by class.

    Raises:
        ProgramError: With the offending field's name as the path.
    """
    used = {f.name for f in fields}
    for name in PARAMETERS:
        if name not in used and getattr(owner, name, None) is not None:
            raise ProgramError(name, f'not a field of kind "{kind}"')
    for spec in fields:
        value = spec.check(getattr(owner, spec.name))
        if spec.value_type in _ANCHORS and not isinstance(value, _ANCHORS[spec.value_type][0]):
            got = next((text for cls, text in _ANCHORS.values() if isinstance(value, cls)),
                       f'a {type(value).__name__}')
            raise ProgramError(spec.name, f'expected {_ANCHORS[spec.value_type][1]}, got {got}')
        object.__setattr__(owner, spec.name, value)


@dataclass(frozen=True)
class Constraint:
    """A geometric relation between anchors and regions, tracked by the controller.

    Only the parameters of ``kind`` may be set (the others stay None); see
    :data:`~resem3d_constraints.spec.KIND_DOCS` and the package README for their meaning:

    ========== ===================================================== =====================
    kind       parameters                                            value (unit)
    ========== ===================================================== =====================
    distance   a, b: points; min_m (0), max_m (None: no bound)        ``|p_a - p_b|`` (m)
    offset     a, b: points; offset_m; frame (``world``/``object``)  ``p_a - p_b - R o`` (m)
    align      a, b: axes                                            angle (rad), band 0
    angle      a, b: axes; angle_rad                                 angle (rad)
    above      point; region; min_height_m (0), max_height_m,        [horizontal distance,
               radius_m                                              height] (m)
    inside     point; region; margin_m (0)                           point in box axes (m)
    keep_away  point; region; margin_m                               signed distance (m)
    ========== ===================================================== =====================

    Attributes:
        kind: One of :data:`~resem3d_constraints.spec.CONSTRAINT_KINDS`.
        weight: Relative weight of the soft constraint, in (0, 1000].
        tolerance: Allowed violation in the kind's unit (m, or rad for align and angle);
            default 0.005 m or 0.05 rad. The controller may stop pushing within it; as a
            condition the relation holds within it.
        hard: Whether the controller enforces the bounds as QP inequality rows.
        gain: Convergence gain [1/s] in (0, 100]; None: the controller's default.
    """

    kind: str
    a: PointAnchor | AxisAnchor | None = None
    b: PointAnchor | AxisAnchor | None = None
    point: PointAnchor | None = None
    region: str | None = None
    min_m: float | None = None
    max_m: float | None = None
    offset_m: tuple[float, float, float] | None = None
    frame: str | None = None
    angle_rad: float | None = None
    min_height_m: float | None = None
    max_height_m: float | None = None
    radius_m: float | None = None
    margin_m: float | None = None
    weight: float = DEFAULT_WEIGHT
    tolerance: float | None = None
    hard: bool = False
    gain: float | None = None
    _offset: np.ndarray | None = field(init=False, repr=False, compare=False, default=None)
    _lower: np.ndarray | None = field(init=False, repr=False, compare=False, default=None)
    _upper: np.ndarray | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        kind = self.kind
        if kind not in CONSTRAINT_KINDS:
            if kind in CONDITION_ONLY_KINDS:
                reason = f'"{kind}" is a condition kind: use it in "pre" or "post"'
            elif isinstance(kind, str):
                reason = (f'unknown constraint kind {quote(kind)}; expected one of '
                          + ', '.join(CONSTRAINT_KINDS))
            else:
                reason = 'expected a string'
            raise ProgramError('kind', reason)
        check_kind_fields(self, constraint_fields(kind), kind)
        for low, high in (('min_m', 'max_m'), ('min_height_m', 'max_height_m')):
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value is not None and high_value is not None and low_value > high_value:
                raise ProgramError(high, f'must be >= {low} ({low_value:g}), got '
                                         f'{high_value:g}')
        bounds = {
            'distance': ([self.min_m], [math.inf if self.max_m is None else self.max_m]),
            'offset': ([0.0] * 3, [0.0] * 3),
            'align': ([0.0], [0.0]),
            'angle': ([self.angle_rad], [self.angle_rad]),
            'keep_away': ([self.margin_m], [math.inf]),
        }.get(kind)
        if bounds is not None:
            object.__setattr__(self, '_lower', _frozen(bounds[0]))
            object.__setattr__(self, '_upper', _frozen(bounds[1]))
        if self.offset_m is not None:
            object.__setattr__(self, '_offset', _frozen(list(self.offset_m)))

    @property
    def unit(self) -> str:
        """Unit of the value, bounds and tolerance: ``'m'`` or ``'rad'``."""
        return unit(self.kind)

    def references(self) -> tuple[tuple[str, str], ...]:
        """Region names this constraint refers to, as ``(field path, region name)`` pairs."""
        refs = []
        for name in ('a', 'b', 'point'):
            anchor = getattr(self, name)
            if anchor is not None and anchor.is_region:
                refs.append((f'{name}.of', anchor.of))
        if self.region is not None:
            refs.append(('region', self.region))
        return tuple(refs)
