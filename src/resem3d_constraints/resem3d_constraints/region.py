"""Regions: parts of objects, stored in their object frame, with named point and axis features."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np

from .exceptions import ProgramError, RegionError
from .spec import check_region_name, REGION_AXIS_FEATURES, REGION_POINT_FEATURES

_EYE = np.eye(3)
#: Norm error below which a normal counts as unit (a few ulps: what normalising leaves).
_UNIT_NORM_ATOL = 4.0 * float(np.finfo(float).eps)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=float)
    array.setflags(write=False)
    return array


def _unit_towards(v: np.ndarray, preferred: tuple[int, ...]) -> np.ndarray:
    """Flip ``v`` so that its first clearly non-zero component in ``preferred`` is positive."""
    for i in preferred:
        if abs(v[i]) > 1e-9:
            return v if v[i] > 0.0 else -v
    return v


@dataclass(frozen=True, eq=False)
class Region:
    """A part or region of an object, in the object's frame.

    Arrays are read-only float64 copies; regions compare by identity.

    Attributes:
        name: ``object/part``, e.g. ``kettle/spout``.
        frame: Object frame the arrays are expressed in (usually the text before ``/``).
        points_obj: Points of the region (N, 3) [m], object frame.
        centroid_obj: Mean of the points (3,) [m].
        axes_obj: Principal axes (3, 3), columns major, middle, minor; a right-handed rotation.
        normal_obj: Unit normal (3,); by default the minor axis, oriented towards the object
            frame's +z.
        extent_m: Full side lengths (3,) [m] of the oriented bounding box along ``axes_obj``.
        center_obj: Centre of that box (3,) [m].
        corners_obj: The box's 8 corners (8, 3) [m] (derived).
        half_width_xy_m: Half the larger of the box's extents along the object frame's x and
            y axes [m] (derived): the default ``radius_m`` of an ``above`` constraint.
    """

    name: str
    frame: str
    points_obj: np.ndarray
    centroid_obj: np.ndarray
    axes_obj: np.ndarray
    normal_obj: np.ndarray
    extent_m: np.ndarray
    center_obj: np.ndarray
    corners_obj: np.ndarray = field(init=False, repr=False)
    half_width_xy_m: float = field(init=False, repr=False)
    _point_features: dict[str, np.ndarray] = field(init=False, repr=False)
    _axis_features: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            check_region_name('name', self.name)
        except ProgramError as error:
            raise RegionError(f'region {error.reason}') from None
        if not isinstance(self.frame, str) or not self.frame:
            raise RegionError(f'region {self.name}: frame must be a non-empty string')
        shapes = {'points_obj': None, 'centroid_obj': (3,), 'axes_obj': (3, 3),
                  'normal_obj': (3,), 'extent_m': (3,), 'center_obj': (3,)}
        for name, shape in shapes.items():
            try:
                array = np.array(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                raise RegionError(f'region {self.name}: {name} is not numeric') from None
            if shape is None:
                array = array[None] if array.shape == (3,) else array
                if array.ndim != 2 or array.shape[1] != 3 or len(array) == 0:
                    raise RegionError(f'region {self.name}: {name} must be (N, 3) with N >= 1')
            elif array.shape != shape:
                raise RegionError(f'region {self.name}: {name} must have shape {shape}')
            if not np.all(np.isfinite(array)):
                raise RegionError(f'region {self.name}: {name} is not finite')
            object.__setattr__(self, name, _frozen(array))
        R = self.axes_obj
        if not np.allclose(R.T @ R, _EYE, atol=1e-6) or np.linalg.det(R) < 0.0:
            raise RegionError(f'region {self.name}: axes_obj is not a right-handed rotation')
        norm = float(np.linalg.norm(self.normal_obj))
        if norm < 1e-9:
            raise RegionError(f'region {self.name}: normal_obj is zero')
        if abs(norm - 1.0) > _UNIT_NORM_ATOL:    # idempotent: a unit normal is kept bit for bit
            object.__setattr__(self, 'normal_obj', _frozen(self.normal_obj / norm))
        if np.any(self.extent_m < 0.0):
            raise RegionError(f'region {self.name}: extent_m is negative')

        half = 0.5 * self.extent_m
        signs = np.array(list(product((-1.0, 1.0), repeat=3)))
        corners = self.center_obj + (signs * half) @ R.T
        object.__setattr__(self, 'corners_obj', _frozen(corners))
        span_xy = corners[:, :2].max(axis=0) - corners[:, :2].min(axis=0)
        object.__setattr__(self, 'half_width_xy_m', float(0.5 * span_xy.max()))

        z = self.points_obj[:, 2]
        top = self.center_obj.copy()
        top[2] = z.max()
        bottom = self.center_obj.copy()
        bottom[2] = z.min()
        points = {'centroid': self.centroid_obj, 'center': self.center_obj,
                  'top': _frozen(top), 'bottom': _frozen(bottom)}
        axes = {'normal': self.normal_obj, 'major': R[:, 0], 'middle': R[:, 1],
                'minor': R[:, 2], 'x': _EYE[0], 'y': _EYE[1], 'z': _EYE[2]}
        axes.update({'-' + k: -v for k, v in list(axes.items())})
        object.__setattr__(self, '_point_features', {k: _frozen(v) for k, v in points.items()})
        object.__setattr__(self, '_axis_features', {k: _frozen(v) for k, v in axes.items()})

    @property
    def object_name(self) -> str:
        """Object name: the text of ``name`` before ``/``."""
        return self.name.split('/', 1)[0]

    @classmethod
    def from_points(cls, name: str, points_obj: np.ndarray, frame: str | None = None,
                    normal_obj: np.ndarray | None = None) -> Region:
        """Build a region from its points by principal component analysis.

        The principal axes come from the eigenvectors of the points' covariance, sorted major
        to minor and made deterministic: the minor axis points towards +z of the object frame
        (else +y, else +x), the major axis towards +x (else +y, else +z), and the middle axis
        completes a right-handed frame. Degenerate sets stay finite: a single point (or
        coincident points) gets the object frame's axes; two points or collinear or coplanar
        points get a well-defined major (or minor) axis and deterministic others.

        Args:
            name: Region name ``object/part``.
            points_obj: Points (N, 3) [m] in the object frame, N >= 1.
            frame: Object frame name; default: the object part of ``name``.
            normal_obj: Region normal (3,); default: the oriented minor axis.

        Raises:
            RegionError: If there are no points, they are not finite or not (N, 3), or the
                name or normal is invalid.
        """
        try:
            P = np.array(points_obj, dtype=float)
        except (TypeError, ValueError):
            raise RegionError(f'region {name}: points are not numeric') from None
        if P.ndim != 2 or P.shape[1] != 3 or len(P) == 0:
            raise RegionError(f'region {name}: points must be (N, 3) with N >= 1, got shape '
                              f'{P.shape}')
        if not np.all(np.isfinite(P)):
            raise RegionError(f'region {name}: points are not finite')
        centroid = P.mean(axis=0)
        X = P - centroid
        cov = X.T @ X / len(P)
        _, eigenvectors = np.linalg.eigh(cov)
        if not np.any(X):
            axes = _EYE.copy()
        else:
            major = _unit_towards(eigenvectors[:, 2], (0, 1, 2))
            minor = _unit_towards(eigenvectors[:, 0], (2, 1, 0))
            axes = np.column_stack([major, np.cross(minor, major), minor])
        q = X @ axes
        low, high = q.min(axis=0), q.max(axis=0)
        center = centroid + axes @ (0.5 * (low + high))
        normal = axes[:, 2] if normal_obj is None else normal_obj
        return cls(name=name, frame=frame if frame is not None else name.split('/', 1)[0],
                   points_obj=P, centroid_obj=centroid, axes_obj=axes, normal_obj=normal,
                   extent_m=high - low, center_obj=center)

    def feature_point_obj(self, feature: str) -> np.ndarray:
        """Named point (3,) [m] in the object frame: centroid, center, top or bottom.

        ``top`` and ``bottom`` are the box centre moved along the object frame's z to the
        largest and smallest z of the points.

        Raises:
            RegionError: For an unknown feature name.
        """
        try:
            return self._point_features[feature]
        except (KeyError, TypeError):
            raise RegionError(f'region {self.name}: unknown point feature {feature!r}; '
                              f'expected one of {", ".join(REGION_POINT_FEATURES)}') from None

    def feature_axis_obj(self, feature: str) -> np.ndarray:
        """Named unit axis (3,) in the object frame, optionally negated with a ``-`` prefix.

        Names: normal, major, middle, minor (the region's own axes) and x, y, z (the object
        frame's axes).

        Raises:
            RegionError: For an unknown feature name.
        """
        try:
            return self._axis_features[feature]
        except (KeyError, TypeError):
            raise RegionError(f'region {self.name}: unknown axis feature {feature!r}; '
                              f'expected one of {", ".join(REGION_AXIS_FEATURES)}') from None
