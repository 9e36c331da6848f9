"""Part-structured objects for the MuJoCo world, built in code with :class:`mujoco.MjSpec`.

Every builder ``add_<object>(parent, name, T_parent_obj, **dimensions) -> ObjectInfo`` adds one
object as one body under ``parent`` (a ``mujoco.MjsBody``) at the pose ``T_parent_obj`` and
returns what it built. Objects are composed of MuJoCo primitives only (boxes, cylinders,
capsules, ellipsoids, spheres).

Frames: the body frame *is* the object frame: z up, origin at the centre of the object's base,
on the surface it stands on (so an object at ``T_base_obj`` with zero z rests on the table).
Handles, spouts and drawer fronts have fixed directions in that frame, documented per builder.

Parts: the geoms of an object are grouped into named parts with semantic labels
``'<object>/<part>'`` (e.g. ``'mug/handle'``). The first geom of a part is named exactly like
the label, further geoms ``'<object>/<part>#<k>'`` (k = 1, 2, ...), so a geom name alone gives
its part label (the camera's ground-truth part masks rely on this rule).

Movable objects get a free joint and must then be children of ``spec.worldbody`` (MuJoCo
allows free joints on top-level bodies only); ``free=False`` welds them to their parent (e.g.
a mocap body that tilts a container). Furniture is fixed. Hollow containers (mug, bowl, cup,
kettle, beaker, flask) are open: walls are rings of thin boxes standing on a bottom disc, so
that :func:`add_particles` spheres can be poured in and out; the walls start 2 mm above the
base so that only the bottom disc touches the support (few, stable contacts).

:class:`ObjectInfo` records the parts and the ground-truth geometry of every geom in the object
frame; ``info.part_points_obj(label)`` samples points on a part's surface (deterministic), and
``info.region(label)`` turns them into a :class:`resem3d_constraints.Region`.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np
from resem3d_constraints import Region

from .gl import configure_headless_gl
from .errors import SimInputError

configure_headless_gl()

import mujoco  # noqa: E402  (after configure_headless_gl: mujoco picks its GL backend on import)

MAX_GRASPABLE_MASS_KG = 0.5
WALL_CLEARANCE_M = 0.002      # walls of containers start this high above the base
DEFAULT_POINT_COUNT = 300     # points per part of part_points_obj
WATER_DENSITY_KG_M3 = 1000.0
# Stiff contacts for particles (time constant 5 ms, impedance 0.95-0.99): piles of particles
# sink less than a millimetre into walls and into each other.
PARTICLE_SOLREF = (0.005, 1.0)
PARTICLE_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)

_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,47}$')
_RESERVED = ('tool', 'world')
_GEOM_TYPES = {
    'box': mujoco.mjtGeom.mjGEOM_BOX,
    'cylinder': mujoco.mjtGeom.mjGEOM_CYLINDER,
    'capsule': mujoco.mjtGeom.mjGEOM_CAPSULE,
    'ellipsoid': mujoco.mjtGeom.mjGEOM_ELLIPSOID,
    'sphere': mujoco.mjtGeom.mjGEOM_SPHERE,
}

# Colours (RGBA) of the materials used below.
_CERAMIC = (0.92, 0.90, 0.84, 1.0)
_STEEL = (0.70, 0.72, 0.75, 1.0)
_BLACK = (0.12, 0.12, 0.13, 1.0)
_GLASS = (0.75, 0.88, 0.95, 0.45)
_WOOD = (0.62, 0.45, 0.30, 1.0)
_WHITE_PLASTIC = (0.93, 0.93, 0.93, 1.0)
_BLUE_PLASTIC = (0.20, 0.35, 0.75, 1.0)
_CARDBOARD = (0.80, 0.62, 0.40, 1.0)
WATER_RGBA = (0.25, 0.55, 0.95, 1.0)
REAGENT_RGBA = (0.85, 0.30, 0.55, 1.0)


class ObjectBuildError(SimInputError):
    """An object cannot be built: a bad name, pose, dimension, parent or container."""


# --- small geometry helpers ------------------------------------------------------------------

def rot_z(angle_rad: float) -> np.ndarray:
    """Rotation (3, 3) by ``angle_rad`` about z."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_y(angle_rad: float) -> np.ndarray:
    """Rotation (3, 3) by ``angle_rad`` about y."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_x(angle_rad: float) -> np.ndarray:
    """Rotation (3, 3) by ``angle_rad`` about x."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def pose(R: np.ndarray | None = None, p: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Homogeneous transform (4, 4) from a rotation (3, 3; None: identity) and a position [m]."""
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    T[:3, 3] = p
    return T


def pose_xy_yaw(x_m: float, y_m: float, yaw_rad: float = 0.0, z_m: float = 0.0) -> np.ndarray:
    """Pose (4, 4) at ``(x, y, z)`` [m], turned by ``yaw_rad`` about z."""
    return pose(rot_z(yaw_rad), (x_m, y_m, z_m))


def _quat(R: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R, dtype=float).flatten())
    return q


def _rigid(T: object, what: str) -> np.ndarray:
    try:
        M = np.array(np.eye(4) if T is None else T, dtype=float)
    except (TypeError, ValueError):
        raise ObjectBuildError(f'{what}: expected a 4x4 matrix, got {T!r}') from None
    if M.shape != (4, 4) or not np.all(np.isfinite(M)):
        raise ObjectBuildError(f'{what}: expected a finite 4x4 matrix, got shape {M.shape}')
    R = M[:3, :3]
    if (not np.allclose(M[3], (0.0, 0.0, 0.0, 1.0), atol=1e-9)
            or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0.0):
        raise ObjectBuildError(f'{what}: not a rigid transform')
    return M


def _positive(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0.0:
        raise ObjectBuildError(f'{what}: expected a finite number > 0, got {value!r}')
    return float(value)


def _count(what: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ObjectBuildError(f'{what}: expected an integer >= {low}, got {value!r}')
    return value


def check_object_name(name: object) -> str:
    """Return ``name`` if it can name an object (the text before ``/`` of its part labels).

    Raises:
        ObjectBuildError: If it is not a string of letters, digits, ``_ . -`` (at most 48,
            not starting with ``.`` or ``-``) or is reserved (``tool``, ``world``).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ObjectBuildError(f'object name {name!r} must match {_NAME.pattern}')
    if name in _RESERVED:
        raise ObjectBuildError(f'object name {name!r} is reserved')
    return name


# --- shapes ----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class GeomShape:
    """One primitive geom of an object, in the object frame.

    Attributes:
        name: Geom name (``object/part`` or ``object/part#k``).
        kind: ``box``, ``cylinder``, ``capsule``, ``ellipsoid`` or ``sphere``.
        size: MuJoCo geom size [m]: box half extents; cylinder and capsule (radius, half length
            of the axis segment, 0); ellipsoid radii; sphere (radius, 0, 0).
        T_obj_geom: Pose (4, 4) of the geom frame in the object frame [m]; cylinders and
            capsules lie along the geom's z axis.
    """

    name: str
    kind: str
    size: tuple[float, float, float]
    T_obj_geom: np.ndarray

    def volume_m3(self) -> float:
        """Volume [m^3] of the primitive."""
        a, b, c = self.size
        if self.kind == 'box':
            return 8.0 * a * b * c
        if self.kind == 'cylinder':
            return math.pi * a * a * 2.0 * b
        if self.kind == 'capsule':
            return math.pi * a * a * 2.0 * b + 4.0 / 3.0 * math.pi * a ** 3
        if self.kind == 'ellipsoid':
            return 4.0 / 3.0 * math.pi * a * b * c
        return 4.0 / 3.0 * math.pi * a ** 3

    def area_m2(self) -> float:
        """Surface area [m^2] of the primitive (Thomsen's approximation for ellipsoids)."""
        a, b, c = self.size
        if self.kind == 'box':
            return 8.0 * (a * b + b * c + a * c)
        if self.kind == 'cylinder':
            return 2.0 * math.pi * a * (2.0 * b) + 2.0 * math.pi * a * a
        if self.kind == 'capsule':
            return 2.0 * math.pi * a * (2.0 * b) + 4.0 * math.pi * a * a
        if self.kind == 'ellipsoid':
            k = 1.6075
            mean = ((a * b) ** k + (a * c) ** k + (b * c) ** k) / 3.0
            return 4.0 * math.pi * mean ** (1.0 / k)
        return 4.0 * math.pi * a * a

    def local_corners(self) -> np.ndarray:
        """Corners (8, 3) [m] of the primitive's bounding box in the geom frame."""
        a, b, c = self.size
        if self.kind in ('cylinder', 'capsule'):
            half = (a, a, b + (a if self.kind == 'capsule' else 0.0))
        elif self.kind == 'sphere':
            half = (a, a, a)
        else:
            half = (a, b, c)
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        return signs * np.array(half)

    def corners_obj(self) -> np.ndarray:
        """Corners (8, 3) [m] of the geom's bounding box, in the object frame."""
        T = self.T_obj_geom
        return self.local_corners() @ T[:3, :3].T + T[:3, 3]

    def outline_obj(self) -> np.ndarray:
        """Points (K, 3) [m] whose convex hull bounds the primitive, in the object frame.

        Box corners; for round primitives, 16-point circles (enclosing polygons) instead.
        """
        a, b, c = self.size
        if self.kind == 'box':
            local = self.local_corners()
        else:
            phi = np.arange(16) * (2.0 * math.pi / 16)
            circle = np.column_stack([np.cos(phi), np.sin(phi), np.zeros(16)]) / math.cos(
                math.pi / 16)
            if self.kind in ('cylinder', 'capsule'):
                ends = (b + a, -b - a) if self.kind == 'capsule' else (b, -b)
                local = np.concatenate([circle * a + (0.0, 0.0, z) for z in (b, -b)]
                                       + [np.array([[0.0, 0.0, z]]) for z in ends])
            else:
                radii = np.array([a, a, a] if self.kind == 'sphere' else [a, b, c])
                local = np.concatenate([circle[:, perm] * radii
                                        for perm in ([0, 1, 2], [0, 2, 1], [2, 0, 1])])
        T = self.T_obj_geom
        return local @ T[:3, :3].T + T[:3, 3]

    def sample_surface_obj(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Points (count, 3) [m] on the primitive's surface, in the object frame.

        Points come in antithetic pairs (p, -p in the geom frame; every primitive is centrally
        symmetric), so their mean is the geom's centre (exactly for even counts).
        """
        half = _sample_local(self.kind, self.size, (count + 1) // 2, rng)
        local = np.concatenate([half, -half])[:count]
        T = self.T_obj_geom
        return local @ T[:3, :3].T + T[:3, 3]


def _unit_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(count, 3))
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms < 1e-12] = 1.0
    return v / norms


def _sample_local(kind: str, size: tuple[float, float, float], count: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Uniform-ish points on a primitive's surface in its own frame."""
    a, b, c = size
    if count <= 0:
        return np.zeros((0, 3))
    if kind == 'box':
        half = np.array([a, b, c])
        areas = np.array([b * c, a * c, a * b])          # face pairs normal to x, y, z
        axis = rng.choice(3, size=count, p=areas / areas.sum())
        points = rng.uniform(-1.0, 1.0, size=(count, 3)) * half
        sign = rng.choice((-1.0, 1.0), size=count)
        points[np.arange(count), axis] = sign * half[axis]
        return points
    if kind in ('cylinder', 'capsule'):
        side = 2.0 * math.pi * a * 2.0 * b
        ends = 2.0 * math.pi * a * a * (2.0 if kind == 'capsule' else 1.0)
        on_side = rng.uniform(size=count) < side / (side + ends)
        points = np.zeros((count, 3))
        n_side = int(on_side.sum())
        phi = rng.uniform(0.0, 2.0 * math.pi, size=n_side)
        points[on_side] = np.column_stack([a * np.cos(phi), a * np.sin(phi),
                                           rng.uniform(-b, b, size=n_side)])
        n_end = count - n_side
        sign = rng.choice((-1.0, 1.0), size=n_end)
        if kind == 'cylinder':
            r = a * np.sqrt(rng.uniform(size=n_end))
            phi = rng.uniform(0.0, 2.0 * math.pi, size=n_end)
            points[~on_side] = np.column_stack([r * np.cos(phi), r * np.sin(phi), sign * b])
        else:
            u = _unit_vectors(n_end, rng)
            u[:, 2] = np.abs(u[:, 2]) * sign
            points[~on_side] = a * u + np.column_stack([np.zeros(n_end), np.zeros(n_end),
                                                        sign * b])
        return points
    if kind == 'ellipsoid':
        return _unit_vectors(count, rng) * np.array([a, b, c])
    return _unit_vectors(count, rng) * a


# --- object and particle records --------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ObjectInfo:
    """What a builder added: names, parts and ground-truth geometry of one object.

    Attributes:
        name: Object name (the text before ``/`` of its part labels).
        kind: Builder kind, e.g. ``mug`` (a key of :data:`BUILDERS`).
        body_name: Name of the object's body; its frame is the object frame.
        parent_name: Name of the parent body it was added under.
        T_parent_obj: Initial pose (4, 4) of the object frame in the parent's frame [m].
        movable: True if the body has a free joint.
        mass_kg: Total mass of the body [kg] (children excluded).
        parts: Part label ``object/part`` -> names of its geoms (first one = the label).
        shapes: Geom name -> :class:`GeomShape` (object frame).
        joint_name: Name of the body's joint (free or slide), or None if it is welded.
        joint_type: ``free``, ``slide`` or None.
        joint_range_m: Limits [m] of a slide joint, else None.
        inner_profile: For containers: the inner volume as a solid of revolution about the
            object's z axis, ``((z_m, radius_m), ...)`` with increasing z (radius linear in
            between; the walls' inner polygon inscribes it); None for other objects.
        children: Objects built as child bodies (e.g. the drawer of a cabinet).
    """

    name: str
    kind: str
    body_name: str
    parent_name: str
    T_parent_obj: np.ndarray
    movable: bool
    mass_kg: float
    parts: Mapping[str, tuple[str, ...]]
    shapes: Mapping[str, GeomShape]
    joint_name: str | None = None
    joint_type: str | None = None
    joint_range_m: tuple[float, float] | None = None
    inner_profile: tuple[tuple[float, float], ...] | None = None
    children: tuple[ObjectInfo, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Part labels of this object (children excluded), in building order."""
        return tuple(self.parts)

    @property
    def geom_names(self) -> tuple[str, ...]:
        """Names of all geoms of this object (children excluded)."""
        return tuple(self.shapes)

    @property
    def is_container(self) -> bool:
        """True if the object has an inner volume (see :attr:`inner_profile`)."""
        return self.inner_profile is not None

    def all_infos(self) -> tuple[ObjectInfo, ...]:
        """This object and its children (recursively), parents first."""
        out: list[ObjectInfo] = [self]
        for child in self.children:
            out.extend(child.all_infos())
        return tuple(out)

    def _label(self, label: str) -> str:
        if label in self.parts:
            return label
        full = f'{self.name}/{label}'
        if full in self.parts:
            return full
        raise KeyError(f'{self.name} has no part {label!r}; parts: {", ".join(self.parts)}')

    def label_of(self, geom_name: str) -> str:
        """Part label of one of this object's geoms.

        Raises:
            KeyError: If the geom is not part of this object.
        """
        for label, names in self.parts.items():
            if geom_name in names:
                return label
        raise KeyError(f'{geom_name!r} is not a geom of {self.name}')

    def part_points_obj(self, label: str, count: int = DEFAULT_POINT_COUNT) -> np.ndarray:
        """Points (count, 3) [m] on the surfaces of a part's geoms, in the object frame.

        Points are spread over the geoms in proportion to their surface areas and are
        deterministic (the same for the same label and count).

        Args:
            label: ``object/part`` or just ``part``.
            count: Number of points (>= 1).

        Raises:
            KeyError: If the object has no such part.
        """
        full = self._label(label)
        count = _count('count', count, 1)
        shapes = [self.shapes[name] for name in self.parts[full]]
        areas = np.array([s.area_m2() for s in shapes])
        share = areas / areas.sum() * count
        counts = np.floor(share).astype(int)
        for i in np.argsort(-(share - counts), kind='stable')[:count - counts.sum()]:
            counts[i] += 1
        rng = np.random.default_rng(zlib.crc32(full.encode()) + count)
        return np.concatenate([s.sample_surface_obj(int(n), rng)
                               for s, n in zip(shapes, counts)])

    def region(self, label: str, count: int = DEFAULT_POINT_COUNT) -> Region:
        """The part as a :class:`resem3d_constraints.Region` in the object frame."""
        full = self._label(label)
        return Region.from_points(full, self.part_points_obj(full, count), frame=self.name)

    def regions(self, count: int = DEFAULT_POINT_COUNT) -> dict[str, Region]:
        """Every part of this object and its children as regions, by label."""
        return {label: info.region(label, count)
                for info in self.all_infos() for label in info.labels}

    def aabb_obj(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds ``(low (3,), high (3,))`` [m] of this body's geoms, object frame."""
        corners = np.concatenate([s.corners_obj() for s in self.shapes.values()])
        return corners.min(axis=0), corners.max(axis=0)

    def contains_obj(self, p_obj: np.ndarray, tolerance_m: float = 0.002) -> np.ndarray:
        """Which points (N, 3) [m] (object frame) lie in the inner volume: (N,) bool.

        Args:
            p_obj: Points (N, 3) or (3,) [m] in the object frame.
            tolerance_m: The volume grown by this much [m] sideways and below (particles
                pressed into a wall or the bottom still count as inside).

        Raises:
            ObjectBuildError: If the object is not a container.
        """
        if self.inner_profile is None:
            raise ObjectBuildError(f'{self.name} is not a container (no inner volume)')
        P = np.atleast_2d(np.asarray(p_obj, dtype=float))
        z_prof = np.array([z for z, _ in self.inner_profile])
        r_prof = np.array([r for _, r in self.inner_profile])
        z = P[:, 2]
        r_max = np.interp(z, z_prof, r_prof)
        inside_z = (z >= z_prof[0] - tolerance_m) & (z <= z_prof[-1])
        return inside_z & (np.hypot(P[:, 0], P[:, 1]) <= r_max + tolerance_m)


@dataclass(frozen=True, eq=False)
class ParticleInfo:
    """Small free spheres standing in for a liquid or granular material.

    Attributes:
        name: Name of the particle set (the object part of its label).
        label: Part label of every particle geom, ``'<name>/liquid'`` by default.
        body_names: Particle bodies ``'<name>/particle#k'`` (k = 0..count-1).
        geom_names: Their geoms, named by the part rule: ``label``, ``label#1``, ...
        radius_m: Sphere radius [m].
        particle_mass_kg: Mass of one particle [kg].
        container: Name of the container they were placed in.
    """

    name: str
    label: str
    body_names: tuple[str, ...]
    geom_names: tuple[str, ...]
    radius_m: float
    particle_mass_kg: float
    container: str

    @property
    def count(self) -> int:
        """Number of particles."""
        return len(self.body_names)

    def positions_base(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        """Centres (count, 3) [m] of the particles in the world (base) frame."""
        ids = [_body_id(model, name) for name in self.body_names]
        return data.xpos[ids].copy()


def _body_id(model: mujoco.MjModel, name: str) -> int:
    index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if index < 0:
        raise ObjectBuildError(f'no body named {name!r} in the model')
    return index


def count_inside(model: mujoco.MjModel, data: mujoco.MjData, container: ObjectInfo,
                 particles: ParticleInfo, tolerance_m: float = 0.002) -> int:
    """Number of particles whose centre lies in the container's inner volume (current state).

    Args:
        model: Compiled model holding both.
        data: Current state (positions from the last ``mj_step``/``mj_forward``).
        container: The container (an object with an :attr:`ObjectInfo.inner_profile`).
        particles: The particle set.
        tolerance_m: See :meth:`ObjectInfo.contains_obj`.

    Raises:
        ObjectBuildError: If the container has no inner volume or a body is missing.
    """
    body = _body_id(model, container.body_name)
    R_base_obj = data.xmat[body].reshape(3, 3)
    p_obj = (particles.positions_base(model, data) - data.xpos[body]) @ R_base_obj
    return int(np.count_nonzero(container.contains_obj(p_obj, tolerance_m)))


# --- the builder -----------------------------------------------------------------------------

class _Builder:
    """Adds named part geoms to one body and records their shapes in the object frame."""

    def __init__(self, parent: mujoco.MjsBody, name: str, kind: str, T_parent_obj: object,
                 free: bool, friction: float, rgba: Sequence[float]) -> None:
        self.name = check_object_name(name)
        self.kind = kind
        self.T_parent_obj = _rigid(T_parent_obj, f'{name}: T_parent_obj')
        if not isinstance(parent, mujoco.MjsBody):
            raise ObjectBuildError(f'{name}: parent must be a mujoco.MjsBody, got '
                                   f'{type(parent).__name__}')
        if free and parent.name != 'world':
            raise ObjectBuildError(f'{name}: a free object must be added under spec.worldbody '
                                   f'(MuJoCo allows free joints on top-level bodies only), not '
                                   f'under {parent.name!r}; pass free=False to weld it')
        self.parent_name = parent.name
        self.friction = _positive(f'{name}: friction', friction)
        self.rgba = tuple(float(v) for v in rgba)
        self.free = bool(free)
        self.body = parent.add_body(name=name, pos=self.T_parent_obj[:3, 3],
                                    quat=_quat(self.T_parent_obj[:3, :3]))
        self.joint_name: str | None = None
        if self.free:
            self.joint_name = f'{name}/free'
            self.body.add_freejoint(name=self.joint_name)
        self.parts: dict[str, list[str]] = {}
        self.shapes: dict[str, GeomShape] = {}
        self._geoms: list[tuple[object, GeomShape]] = []

    def add(self, part: str, kind: str, size: Sequence[float], p: Sequence[float] = (0, 0, 0),
            R: np.ndarray | None = None, rgba: Sequence[float] | None = None) -> str:
        """Add one geom of ``part``; returns its name."""
        label = f'{self.name}/{part}'
        names = self.parts.setdefault(label, [])
        geom_name = label if not names else f'{label}#{len(names)}'
        names.append(geom_name)
        size3 = tuple(float(v) for v in (list(size) + [0.0, 0.0])[:3])
        T = pose(R, p)
        geom = self.body.add_geom(name=geom_name, type=_GEOM_TYPES[kind], size=list(size3),
                                  pos=T[:3, 3], quat=_quat(T[:3, :3]),
                                  rgba=list(rgba if rgba is not None else self.rgba),
                                  friction=[self.friction, 0.005, 0.0001])
        shape = GeomShape(geom_name, kind, size3, T)
        self.shapes[geom_name] = shape
        self._geoms.append((geom, shape))
        return geom_name

    def box(self, part: str, half: Sequence[float], p: Sequence[float] = (0, 0, 0),
            R: np.ndarray | None = None, rgba: Sequence[float] | None = None) -> str:
        """Add a box with half extents ``half`` [m]."""
        return self.add(part, 'box', half, p, R, rgba)

    def cylinder(self, part: str, radius: float, z0: float, z1: float,
                 xy: Sequence[float] = (0.0, 0.0), rgba: Sequence[float] | None = None) -> str:
        """Add an upright cylinder from height ``z0`` to ``z1`` [m] at ``xy``."""
        return self.add(part, 'cylinder', (radius, (z1 - z0) / 2.0),
                        (xy[0], xy[1], (z0 + z1) / 2.0), None, rgba)

    def ring(self, part: str, n: int, r0: float, z0: float, r1: float, z1: float,
             thickness: float, skip: Sequence[int] = (), rgba: Sequence[float] | None = None
             ) -> float:
        """Add a wall of ``n`` thin boxes along a frustum (``n``-gon in cross-section).

        The wall's mid-surface goes from radius ``r0`` at height ``z0`` to ``r1`` at ``z1``;
        segment k is centred at azimuth ``2 pi k / n`` (k = 0 faces +x). Segments are wide
        enough that neighbours meet at the outer corners (no gaps), so the inner surface is a
        closed polygon with apothem ``r - thickness / 2`` (horizontal).

        Returns:
            The half width [m] of the segments (tangential).
        """
        slant = math.hypot(r1 - r0, z1 - z0)
        beta = math.atan2(r1 - r0, z1 - z0)
        half_w = (max(r0, r1) + 0.5 * thickness / math.cos(beta)) * math.tan(math.pi / n)
        for k in range(n):
            if k in skip:
                continue
            Rz = rot_z(2.0 * math.pi * k / n)
            p = Rz @ np.array([(r0 + r1) / 2.0, 0.0, (z0 + z1) / 2.0])
            self.box(part, (thickness / 2.0, half_w, slant / 2.0), p, Rz @ rot_y(beta), rgba)
        return half_w

    def finish(self, mass_kg: float, *, max_mass_kg: float | None = None,
               inner_profile: Sequence[tuple[float, float]] | None = None,
               joint_type: str | None = None, joint_name: str | None = None,
               joint_range_m: tuple[float, float] | None = None,
               children: Sequence[ObjectInfo] = ()) -> ObjectInfo:
        """Distribute ``mass_kg`` over the geoms by volume and return the record."""
        mass_kg = _positive(f'{self.name}: mass_kg', mass_kg)
        if max_mass_kg is not None and mass_kg > max_mass_kg:
            raise ObjectBuildError(f'{self.name}: mass_kg {mass_kg} exceeds {max_mass_kg} kg '
                                   '(graspable objects)')
        volumes = np.array([shape.volume_m3() for _, shape in self._geoms])
        for (geom, _), volume in zip(self._geoms, volumes):
            geom.mass = float(mass_kg * volume / volumes.sum())
        if self.free:
            joint_type, joint_name = 'free', self.joint_name
        return ObjectInfo(
            name=self.name, kind=self.kind, body_name=self.name, parent_name=self.parent_name,
            T_parent_obj=self.T_parent_obj, movable=self.free, mass_kg=mass_kg,
            parts=MappingProxyType({k: tuple(v) for k, v in self.parts.items()}),
            shapes=MappingProxyType(dict(self.shapes)), joint_name=joint_name,
            joint_type=joint_type, joint_range_m=joint_range_m,
            inner_profile=None if inner_profile is None else tuple(
                (float(z), float(r)) for z, r in inner_profile),
            children=tuple(children))


def _base_disc(b: _Builder, part: str, radius: float, thickness: float,
               rgba: Sequence[float] | None = None) -> None:
    b.cylinder(part, radius, 0.0, thickness, rgba=rgba)


# --- household objects -----------------------------------------------------------------------

def add_mug(parent: mujoco.MjsBody, name: str = 'mug', T_parent_obj: np.ndarray | None = None,
            *, free: bool = True, radius_m: float = 0.04, height_m: float = 0.10,
            wall_m: float = 0.005, bottom_m: float = 0.008, segments: int = 14,
            handle_thickness_m: float = 0.012, handle_bar_m: float = 0.018,
            handle_arm_m: float = 0.007, handle_clearance_m: float = 0.03,
            mass_kg: float = 0.30, friction: float = 0.7,
            rgba: Sequence[float] = _CERAMIC) -> ObjectInfo:
    """Add a mug: an open cylindrical cup with a loop handle on its -y side.

    Parts: ``body`` (walls and bottom), ``handle`` (a rectangular loop in the object's y-z
    plane: two thin arms and an outer grip bar, all ``handle_thickness_m`` thin along x, so
    fingers closing along x grasp it from above; ``handle_clearance_m`` between the wall and the
    grip bar leaves room for a finger; the grip bar outweighs the arms, so the handle region's
    centroid lies on the grip bar and fingers centred there close on it).

    Args:
        parent: Body to add the mug under (``spec.worldbody`` if ``free``).
        name: Object name.
        T_parent_obj: Pose (4, 4) of the object frame (base centre) in the parent [m].
        free: Give it a free joint (movable).
        radius_m: Outer radius [m]; height_m: total height [m]; wall_m, bottom_m: thickness
            of the walls and bottom [m]; segments: wall boxes.
        handle_thickness_m: Size of the handle across the loop (along x) [m].
        handle_bar_m: Width of the grip bar (along y) [m]; handle_arm_m: height of the arms.
        handle_clearance_m: Free space between the wall and the grip bar [m].
        mass_kg: Total mass [kg] (<= 0.5); friction: sliding friction coefficient.
        rgba: Colour.
    """
    r, h, t = (_positive(f'{name}: {k}', v) for k, v in
               (('radius_m', radius_m), ('height_m', height_m), ('wall_m', wall_m)))
    bot = _positive(f'{name}: bottom_m', bottom_m)
    n = _count(f'{name}: segments', segments, 8)
    ht = _positive(f'{name}: handle_thickness_m', handle_thickness_m)
    hb = _positive(f'{name}: handle_bar_m', handle_bar_m)
    ha = _positive(f'{name}: handle_arm_m', handle_arm_m)
    gap = _positive(f'{name}: handle_clearance_m', handle_clearance_m)
    b = _Builder(parent, name, 'mug', T_parent_obj, free, friction, rgba)
    _base_disc(b, 'body', r, bot)
    b.ring('body', n, r - t / 2, WALL_CLEARANCE_M, r - t / 2, h, t)
    z_low, z_high = 0.25 * h, 0.87 * h
    y_in, y_bar = -(r - t / 2), -(r + gap)
    arm_half = (ht / 2, (y_in - y_bar) / 2, ha / 2)
    b.box('handle', (ht / 2, hb / 2, (z_high - z_low) / 2),
          (0.0, y_bar - hb / 2, (z_low + z_high) / 2))
    b.box('handle', arm_half, (0.0, (y_in + y_bar) / 2, z_high - ha / 2))
    b.box('handle', arm_half, (0.0, (y_in + y_bar) / 2, z_low + ha / 2))
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG,
                    inner_profile=((bot, r - t), (h, r - t)))


def add_cup(parent: mujoco.MjsBody, name: str = 'cup', T_parent_obj: np.ndarray | None = None,
            *, free: bool = True, bottom_radius_m: float = 0.026, top_radius_m: float = 0.038,
            height_m: float = 0.09, wall_m: float = 0.004, bottom_m: float = 0.006,
            segments: int = 12, mass_kg: float = 0.05, friction: float = 0.6,
            rgba: Sequence[float] = _WHITE_PLASTIC) -> ObjectInfo:
    """Add a tapered drinking cup (open, no handle).

    Parts: ``body`` (flared walls), ``inside`` (the bottom disc).

    Args:
        bottom_radius_m, top_radius_m: Outer radii at the base and the rim [m].
        height_m, wall_m, bottom_m: Height and thicknesses [m]; segments: wall boxes.
        Others: as :func:`add_mug`.
    """
    r0, r1, h, t = (_positive(f'{name}: {k}', v) for k, v in (
        ('bottom_radius_m', bottom_radius_m), ('top_radius_m', top_radius_m),
        ('height_m', height_m), ('wall_m', wall_m)))
    bot = _positive(f'{name}: bottom_m', bottom_m)
    n = _count(f'{name}: segments', segments, 8)
    b = _Builder(parent, name, 'cup', T_parent_obj, free, friction, rgba)
    _base_disc(b, 'inside', r0, bot)
    z0 = WALL_CLEARANCE_M + t
    b.ring('body', n, r0 - t / 2, z0, r1 - t / 2, h, t)
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG,
                    inner_profile=((bot, r0 - t), (h, r1 - t)))


def add_plate(parent: mujoco.MjsBody, name: str = 'plate',
              T_parent_obj: np.ndarray | None = None, *, free: bool = True,
              radius_m: float = 0.09, thickness_m: float = 0.012, mass_kg: float = 0.30,
              friction: float = 0.6, rgba: Sequence[float] = _CERAMIC) -> ObjectInfo:
    """Add a flat plate (a disc). Parts: ``top`` (the disc; its top face at ``thickness_m``).

    Args:
        radius_m, thickness_m: Disc size [m]. Others: as :func:`add_mug`.
    """
    r = _positive(f'{name}: radius_m', radius_m)
    th = _positive(f'{name}: thickness_m', thickness_m)
    b = _Builder(parent, name, 'plate', T_parent_obj, free, friction, rgba)
    b.cylinder('top', r, 0.0, th)
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG)


def add_box(parent: mujoco.MjsBody, name: str = 'box', T_parent_obj: np.ndarray | None = None,
            *, free: bool = True, size_m: Sequence[float] = (0.06, 0.08, 0.12),
            lid_m: float = 0.005, mass_kg: float = 0.20, friction: float = 0.6,
            rgba: Sequence[float] = _CARDBOARD) -> ObjectInfo:
    """Add a closed cardboard box (e.g. a tea box).

    Parts: ``body`` (the box below the lid), ``top`` (a lid slab ``lid_m`` thick on top).

    Args:
        size_m: Full extents (x, y, z) [m]; x (<= 0.08) fits between open fingers.
        Others: as :func:`add_mug`.
    """
    sx, sy, sz = (_positive(f'{name}: size_m', v) for v in size_m)
    lid = _positive(f'{name}: lid_m', lid_m)
    b = _Builder(parent, name, 'box', T_parent_obj, free, friction, rgba)
    b.box('body', (sx / 2, sy / 2, (sz - lid) / 2), (0.0, 0.0, (sz - lid) / 2))
    b.box('top', (sx / 2, sy / 2, lid / 2), (0.0, 0.0, sz - lid / 2))
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG)


def add_kettle(parent: mujoco.MjsBody, name: str = 'kettle',
               T_parent_obj: np.ndarray | None = None, *, free: bool = True,
               radius_m: float = 0.065, height_m: float = 0.16, wall_m: float = 0.005,
               bottom_m: float = 0.008, segments: int = 14, spout_length_m: float = 0.06,
               spout_rise_rad: float = math.radians(20.0), spout_opening_m: float = 0.03,
               handle_length_m: float = 0.085, handle_height_m: float = 0.15,
               mass_kg: float = 0.45, friction: float = 0.6,
               rgba: Sequence[float] = _STEEL) -> ObjectInfo:
    """Add a kettle: a closed cylindrical pot with a lid, a spout (+x) and a handle (-x).

    Parts: ``body`` (walls and bottom), ``lid`` (disc covering the top, with a knob),
    ``spout`` (a square tube: floor, roof and two sides, leaving the wall at +x just below the
    lid and rising at ``spout_rise_rad``; the wall is open behind it, so tilting the kettle
    towards +x pours particles out through the spout and only through it), ``handle`` (a
    straight bar along -x at ``handle_height_m``, thin along z: the gripper approaches along
    +x with its fingers closing vertically; high enough that the hand, whose long side is
    then vertical, clears the table).

    Args:
        radius_m, height_m, wall_m, bottom_m: Body size [m]; segments: wall boxes (the +x one
            is cut for the spout opening).
        spout_length_m: Length of the spout tube [m]; spout_rise_rad: its rise above
            horizontal [rad]; spout_opening_m: height of the opening in the wall [m] (>= 2.5
            particle diameters).
        handle_length_m: How far the handle reaches out from the wall [m]; handle_height_m:
            height of its centre above the bottom [m] (at most the body height).
        Others: as :func:`add_mug`.
    """
    r, h, t = (_positive(f'{name}: {k}', v) for k, v in
               (('radius_m', radius_m), ('height_m', height_m), ('wall_m', wall_m)))
    bot = _positive(f'{name}: bottom_m', bottom_m)
    n = _count(f'{name}: segments', segments, 8)
    length = _positive(f'{name}: spout_length_m', spout_length_m)
    rise = _positive(f'{name}: spout_rise_rad', spout_rise_rad)
    opening = _positive(f'{name}: spout_opening_m', spout_opening_m)
    handle_len = _positive(f'{name}: handle_length_m', handle_length_m)
    hz = _positive(f'{name}: handle_height_m', handle_height_m)
    if hz > h:
        raise ObjectBuildError(f'{name}: handle_height_m must be at most height_m')
    if opening > 0.5 * h:
        raise ObjectBuildError(f'{name}: spout_opening_m must be at most half the height')
    b = _Builder(parent, name, 'kettle', T_parent_obj, free, friction, rgba)
    r_mid = r - t / 2
    _base_disc(b, 'body', r, bot)
    half_w = b.ring('body', n, r_mid, WALL_CLEARANCE_M, r_mid, h, t, skip=(0,))
    z_gap = h - opening
    b.box('body', (t / 2, half_w, (z_gap - WALL_CLEARANCE_M) / 2),
          (r_mid, 0.0, (z_gap + WALL_CLEARANCE_M) / 2))
    lid_t = 0.006
    b.cylinder('lid', r, h, h + lid_t)
    b.cylinder('lid', 0.012, h + lid_t, h + lid_t + 0.015, rgba=_BLACK)
    # Spout: a tube along d = (cos rise, 0, sin rise); floor top through the opening's lower
    # edge, roof bottom through its upper edge (the lid), both starting at the inner wall.
    d = np.array([math.cos(rise), 0.0, math.sin(rise)])
    w = np.array([-math.sin(rise), 0.0, math.cos(rise)])
    R_spout = np.column_stack([d, (0.0, 1.0, 0.0), w])
    inner_h = opening * math.cos(rise)
    inner_w = 2.0 * half_w - 0.002
    st = 0.004
    x_in = r - t
    floor0 = np.array([x_in, 0.0, z_gap])
    roof0 = np.array([x_in, 0.0, h])
    b.box('spout', (length / 2, inner_w / 2 + st, st / 2), floor0 + d * length / 2 - w * st / 2,
          R_spout)
    b.box('spout', (length / 2, inner_w / 2 + st, st / 2), roof0 + d * length / 2 + w * st / 2,
          R_spout)
    # The sides start where their upper inner corner meets the inner wall face: no fin
    # reaches into the body to trap particles under the lid.
    mid0 = floor0 + w * inner_h / 2
    s0 = math.tan(rise) * (inner_h + st)
    for side in (-1.0, 1.0):
        p = mid0 + d * (s0 + length) / 2 + np.array([0.0, side * (inner_w + st) / 2, 0.0])
        b.box('spout', ((length - s0) / 2, st / 2, inner_h / 2 + st), p, R_spout)
    b.box('handle', (handle_len / 2 + 0.004, 0.012, 0.009),
          (-(r - 0.004) - handle_len / 2, 0.0, hz), rgba=_BLACK)
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG,
                    inner_profile=((bot, r - t), (h, r - t)))


def add_bowl(parent: mujoco.MjsBody, name: str = 'bowl', T_parent_obj: np.ndarray | None = None,
             *, free: bool = True, bottom_radius_m: float = 0.042,
             rim_radius_m: float = 0.0725, height_m: float = 0.07, rim_height_m: float = 0.012,
             wall_m: float = 0.005, bottom_m: float = 0.008, segments: int = 12,
             mass_kg: float = 0.30, friction: float = 0.7,
             rgba: Sequence[float] = _CERAMIC) -> ObjectInfo:
    """Add a bowl: a flat bottom, flared walls and a vertical rim band.

    Parts: ``inside`` (the bottom disc, what is inside the bowl), ``body`` (the flared walls),
    ``rim`` (the top band of the wall, ``rim_height_m`` high; its region's centre is the
    opening's centre).

    Args:
        bottom_radius_m: Outer radius of the bottom [m]; rim_radius_m: outer radius of the rim
            [m]; height_m: total height [m]; rim_height_m: height of the rim band [m].
        wall_m, bottom_m: Thicknesses [m]; segments: boxes per ring.
        Others: as :func:`add_mug`.
    """
    r0, r1, h, hr, t = (_positive(f'{name}: {k}', v) for k, v in (
        ('bottom_radius_m', bottom_radius_m), ('rim_radius_m', rim_radius_m),
        ('height_m', height_m), ('rim_height_m', rim_height_m), ('wall_m', wall_m)))
    bot = _positive(f'{name}: bottom_m', bottom_m)
    n = _count(f'{name}: segments', segments, 8)
    b = _Builder(parent, name, 'bowl', T_parent_obj, free, friction, rgba)
    _base_disc(b, 'inside', r0, bot)
    z_rim = h - hr
    b.ring('body', n, r0 - t / 2, WALL_CLEARANCE_M + t, r1 - t / 2, z_rim + 0.003, t)
    b.ring('rim', n, r1 - t / 2, z_rim, r1 - t / 2, h, t)
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG,
                    inner_profile=((bot, r0 - t), (z_rim, r1 - t), (h, r1 - t)))


def add_drawer_cabinet(parent: mujoco.MjsBody, name: str = 'cabinet',
                       T_parent_obj: np.ndarray | None = None, *, free: bool = False,
                       drawer_name: str = 'drawer', depth_m: float = 0.26,
                       width_m: float = 0.30, height_m: float = 0.18, panel_m: float = 0.012,
                       handle_protrusion_m: float = 0.08, travel_m: float = 0.3,
                       drawer_damping_n_s_m: float = 15.0, drawer_friction_n: float = 1.0,
                       mass_kg: float = 6.0, drawer_mass_kg: float = 0.6,
                       friction: float = 0.5, rgba: Sequence[float] = _WOOD) -> ObjectInfo:
    """Add a small cabinet (fixed furniture) with one drawer on a slide joint.

    The cabinet's front faces its +x axis. The drawer is a child body (object
    ``drawer_name``) whose frame sits at the centre of its front panel, axes parallel to the
    cabinet's; it slides along +x (out of the cabinet) on the joint ``'<drawer>/slide'``,
    limited to ``[0, travel_m]``, with viscous damping and dry friction.

    Parts of the cabinet: ``body`` (bottom, sides, back), ``top`` (top panel). Parts of the
    drawer: ``front`` (front panel), ``handle`` (a bar along y whose far face is
    ``handle_protrusion_m`` in front of the front panel; the gap leaves room for a finger of a
    top-down grasp with 8 cm open fingers centred on the bar), ``mount`` (the two standoffs
    holding the bar, kept out of ``handle`` and ``front`` so that their regions stay the bar
    and the panel), ``body`` (tray sides and back), ``inside`` (tray bottom).

    Args:
        drawer_name: Object name of the drawer.
        depth_m, width_m, height_m: Outer size of the cabinet (x, y, z) [m]; panel_m: panel
            thickness [m].
        handle_protrusion_m: Distance from the front panel's face to the far face of the
            handle bar [m] (>= 0.04).
        travel_m: Upper limit of the slide joint [m].
        drawer_damping_n_s_m: Viscous damping of the slide [N s/m]; drawer_friction_n: its dry
            friction [N].
        mass_kg: Cabinet mass [kg]; drawer_mass_kg: drawer mass [kg].
        Others: as :func:`add_mug` (``free`` defaults to False: the cabinet is welded).

    Returns:
        The cabinet's record, with the drawer's record as its only child.
    """
    dx, wy, hz, pt = (_positive(f'{name}: {k}', v) for k, v in (
        ('depth_m', depth_m), ('width_m', width_m), ('height_m', height_m),
        ('panel_m', panel_m)))
    protrusion = _positive(f'{name}: handle_protrusion_m', handle_protrusion_m)
    if protrusion < 0.04:
        raise ObjectBuildError(f'{name}: handle_protrusion_m must be >= 0.04 m')
    travel = _positive(f'{name}: travel_m', travel_m)
    damping = _positive(f'{name}: drawer_damping_n_s_m', drawer_damping_n_s_m)
    dry = float(drawer_friction_n)
    if not math.isfinite(dry) or dry < 0.0:
        raise ObjectBuildError(f'{name}: drawer_friction_n must be finite and >= 0')
    check_object_name(drawer_name)
    if drawer_name == name:
        raise ObjectBuildError(f'{name}: the drawer needs its own name')
    b = _Builder(parent, name, 'drawer_cabinet', T_parent_obj, free, friction, rgba)
    b.box('body', (dx / 2, wy / 2, pt / 2), (0.0, 0.0, pt / 2))
    for side in (-1.0, 1.0):
        b.box('body', (dx / 2, pt / 2, (hz - 2 * pt) / 2), (0.0, side * (wy - pt) / 2, hz / 2))
    b.box('body', (pt / 2, wy / 2 - pt, (hz - 2 * pt) / 2), (-(dx - pt) / 2, 0.0, hz / 2))
    b.box('top', (dx / 2, wy / 2, pt / 2), (0.0, 0.0, hz - pt / 2))

    # Drawer: front panel overlaying the carcass front, tray inside the opening.
    gap = 0.003
    front_half = (pt / 2, wy / 2 - 0.002, (hz - 2 * pt) / 2 + pt / 2 - 0.002)
    T_cab_drawer = pose(None, (dx / 2 + pt / 2 + 0.001, 0.0, hz / 2))  # 1 mm off the carcass
    d = _Builder(b.body, drawer_name, 'drawer', T_cab_drawer, False, friction,
                 (0.72, 0.55, 0.38, 1.0))
    joint_name = f'{drawer_name}/slide'
    d.body.add_joint(name=joint_name, type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[1.0, 0.0, 0.0],
                     range=[0.0, travel], limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                     damping=damping, frictionloss=dry)
    d.box('front', front_half)
    inner_w = wy - 2 * pt - 2 * gap
    tray_depth = dx - 2 * pt - gap
    tray_h = 0.65 * (hz - 2 * pt)
    tray_z0 = -(hz / 2 - pt - gap)                       # tray bottom, drawer frame
    x_back = -pt / 2 - tray_depth
    tt = 0.006
    d.box('inside', (tray_depth / 2, inner_w / 2, tt / 2),
          (-pt / 2 - tray_depth / 2, 0.0, tray_z0 + tt / 2))
    for side in (-1.0, 1.0):
        d.box('body', (tray_depth / 2, tt / 2, tray_h / 2),
              (-pt / 2 - tray_depth / 2, side * (inner_w - tt) / 2, tray_z0 + tray_h / 2))
    d.box('body', (tt / 2, inner_w / 2, tray_h / 2), (x_back + tt / 2, 0.0, tray_z0 + tray_h / 2))
    bar = 0.012
    z_handle = front_half[2] - 0.015                     # near the top edge of the front
    x_bar = pt / 2 + protrusion - bar / 2
    d.box('handle', (bar / 2, 0.06, 0.007), (x_bar, 0.0, z_handle), rgba=_STEEL)
    standoff = x_bar - bar / 2 - pt / 2
    for side in (-1.0, 1.0):
        d.box('mount', (standoff / 2 + 0.001, 0.005, 0.006),
              (pt / 2 + standoff / 2, side * 0.05, z_handle), rgba=_STEEL)
    drawer = d.finish(drawer_mass_kg, joint_type='slide', joint_name=joint_name,
                      joint_range_m=(0.0, travel))
    return b.finish(mass_kg, children=(drawer,))


def table_info(name: str = 'table', *, size_m: tuple[float, float] = (1.5, 1.2),
               thickness_m: float = 0.04, center_xy_m: tuple[float, float] = (0.35, 0.0),
               geom_name: str = 'table_top', body_name: str = 'table') -> ObjectInfo:
    """The ground-truth geometry of a table top whose top face is at z = 0 (adds nothing).

    Describes the table of :mod:`resem3d_sim.world` (body ``table`` at ``center_xy_m`` with
    geom ``table_top``) as an object with one part ``<name>/top``; the object frame is the
    table body's frame (top face centre). Pass another ``geom_name`` for
    :func:`add_table_top` tables (``'<name>/top'``).

    Args:
        name: Object name; size_m: top extents (x, y) [m]; thickness_m: [m];
        center_xy_m: Body position in its parent [m]; geom_name, body_name: model names.
    """
    check_object_name(name)
    sx, sy = (_positive(f'{name}: size_m', v) for v in size_m)
    th = _positive(f'{name}: thickness_m', thickness_m)
    shape = GeomShape(geom_name, 'box', (sx / 2, sy / 2, th / 2), pose(None, (0, 0, -th / 2)))
    return ObjectInfo(name=name, kind='table', body_name=body_name, parent_name='world',
                      T_parent_obj=pose(None, (center_xy_m[0], center_xy_m[1], 0.0)),
                      movable=False, mass_kg=20.0,
                      parts=MappingProxyType({f'{name}/top': (geom_name,)}),
                      shapes=MappingProxyType({geom_name: shape}))


def add_table_top(parent: mujoco.MjsBody, name: str = 'table',
                  T_parent_obj: np.ndarray | None = None, *, size_m: tuple[float, float] = (
                      1.5, 1.2), thickness_m: float = 0.04, friction: float = 0.6,
                  rgba: Sequence[float] = (0.78, 0.68, 0.55, 1.0)) -> ObjectInfo:
    """Add a fixed table-top slab whose top face is the object frame's z = 0 plane.

    For worlds without :mod:`resem3d_sim.world`'s table. Parts: ``top``.
    """
    sx, sy = (_positive(f'{name}: size_m', v) for v in size_m)
    th = _positive(f'{name}: thickness_m', thickness_m)
    b = _Builder(parent, name, 'table', T_parent_obj, False, friction, rgba)
    b.box('top', (sx / 2, sy / 2, th / 2), (0.0, 0.0, -th / 2))
    return b.finish(20.0)


# --- chemistry lab objects -------------------------------------------------------------------

def add_flask(parent: mujoco.MjsBody, name: str = 'flask',
              T_parent_obj: np.ndarray | None = None, *, free: bool = True,
              base_radius_m: float = 0.045, neck_radius_m: float = 0.017,
              cone_height_m: float = 0.095, neck_height_m: float = 0.04,
              mouth_height_m: float = 0.01, wall_m: float = 0.004, bottom_m: float = 0.006,
              segments: int = 14, neck_segments: int = 8, mass_kg: float = 0.20,
              friction: float = 0.5, rgba: Sequence[float] = _GLASS) -> ObjectInfo:
    """Add an Erlenmeyer flask: a conical body, a cylindrical neck and a lipped mouth, open.

    Parts: ``body`` (bottom and cone walls), ``neck`` (the neck ring), ``mouth`` (a slightly
    wider lip ring on top of the neck; its region's centre is the opening's centre).

    Args:
        base_radius_m: Outer radius of the base [m]; neck_radius_m: outer radius of the neck
            [m] (inner diameter >= 2.5 particle diameters to pour through it).
        cone_height_m, neck_height_m, mouth_height_m: Heights of the sections [m].
        wall_m, bottom_m: Thicknesses [m]; segments, neck_segments: boxes per ring.
        Others: as :func:`add_mug`.
    """
    rb, rn, hc, hn, hm, t = (_positive(f'{name}: {k}', v) for k, v in (
        ('base_radius_m', base_radius_m), ('neck_radius_m', neck_radius_m),
        ('cone_height_m', cone_height_m), ('neck_height_m', neck_height_m),
        ('mouth_height_m', mouth_height_m), ('wall_m', wall_m)))
    bot = _positive(f'{name}: bottom_m', bottom_m)
    n = _count(f'{name}: segments', segments, 8)
    nn = _count(f'{name}: neck_segments', neck_segments, 6)
    b = _Builder(parent, name, 'flask', T_parent_obj, free, friction, rgba)
    _base_disc(b, 'body', rb, bot)
    b.ring('body', n, rb - t / 2, WALL_CLEARANCE_M + t, rn - t / 2, hc, t)
    b.ring('neck', nn, rn - t / 2, hc - 0.004, rn - t / 2, hc + hn, t)
    b.ring('mouth', nn, rn + 0.0015 - t / 2, hc + hn - 0.001, rn + 0.0015 - t / 2,
           hc + hn + hm, t)
    top = hc + hn + hm
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG,
                    inner_profile=((bot, rb - t), (hc, rn - t), (top, rn - t)))


def add_beaker(parent: mujoco.MjsBody, name: str = 'beaker',
               T_parent_obj: np.ndarray | None = None, *, free: bool = True,
               radius_m: float = 0.04, height_m: float = 0.10, rim_height_m: float = 0.01,
               wall_m: float = 0.004, bottom_m: float = 0.006, segments: int = 14,
               spout_length_m: float = 0.016, mass_kg: float = 0.18, friction: float = 0.5,
               rgba: Sequence[float] = _GLASS) -> ObjectInfo:
    """Add a beaker (400 ml by default): an open glass cylinder with a rim band and a pouring
    spout at +x.

    Parts: ``body`` (bottom and walls), ``rim`` (the top band of the wall, without the spout
    sector), ``spout`` (a lip in the rim's +x sector, bent outwards by 45 deg).

    Args:
        radius_m, height_m: Outer radius and total height [m]; rim_height_m: rim band [m].
        wall_m, bottom_m: Thicknesses [m]; segments: boxes per ring.
        spout_length_m: Length of the bent lip [m].
        Others: as :func:`add_mug`.
    """
    r, h, hr, t = (_positive(f'{name}: {k}', v) for k, v in (
        ('radius_m', radius_m), ('height_m', height_m), ('rim_height_m', rim_height_m),
        ('wall_m', wall_m)))
    bot = _positive(f'{name}: bottom_m', bottom_m)
    n = _count(f'{name}: segments', segments, 8)
    ls = _positive(f'{name}: spout_length_m', spout_length_m)
    b = _Builder(parent, name, 'beaker', T_parent_obj, free, friction, rgba)
    r_mid = r - t / 2
    _base_disc(b, 'body', r, bot)
    z_rim = h - hr
    half_w = b.ring('body', n, r_mid, WALL_CLEARANCE_M, r_mid, z_rim, t)
    b.ring('rim', n, r_mid, z_rim, r_mid, h, t, skip=(0,))
    lip = math.radians(45.0)
    p0 = np.array([r_mid, 0.0, z_rim])
    d = np.array([math.sin(lip), 0.0, math.cos(lip)])
    b.box('spout', (t / 2, half_w, ls / 2), p0 + d * ls / 2, rot_y(lip))
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG,
                    inner_profile=((bot, r - t), (h, r - t)))


def add_stirrer(parent: mujoco.MjsBody, name: str = 'stirrer',
                T_parent_obj: np.ndarray | None = None, *, free: bool = False,
                size_m: Sequence[float] = (0.16, 0.16, 0.06), plate_radius_m: float = 0.065,
                plate_thickness_m: float = 0.008, mass_kg: float = 2.0, friction: float = 0.6,
                rgba: Sequence[float] = _WHITE_PLASTIC) -> ObjectInfo:
    """Add a magnetic stirrer (fixed by default): a housing with a round top plate.

    Parts: ``base`` (the housing), ``plate`` (the heating/stirring plate on top; vessels stand
    on its top face at ``size_m[2] + plate_thickness_m``), ``knob`` (the speed knob on the +x
    face).

    Args:
        size_m: Housing extents (x, y, z) [m]; plate_radius_m, plate_thickness_m: plate [m].
        Others: as :func:`add_mug`.
    """
    sx, sy, sz = (_positive(f'{name}: size_m', v) for v in size_m)
    rp = _positive(f'{name}: plate_radius_m', plate_radius_m)
    tp = _positive(f'{name}: plate_thickness_m', plate_thickness_m)
    b = _Builder(parent, name, 'stirrer', T_parent_obj, free, friction, rgba)
    b.box('base', (sx / 2, sy / 2, sz / 2), (0.0, 0.0, sz / 2))
    b.cylinder('plate', rp, sz, sz + tp, rgba=_STEEL)
    b.add('knob', 'cylinder', (0.012, 0.008), (sx / 2 + 0.008, 0.0, sz / 2), rot_y(math.pi / 2),
          rgba=_BLACK)
    return b.finish(mass_kg)


def add_test_tube_rack(parent: mujoco.MjsBody, name: str = 'rack',
                       T_parent_obj: np.ndarray | None = None, *, free: bool = False,
                       slots: int = 4, pitch_m: float = 0.04, hole_m: float = 0.028,
                       depth_m: float = 0.06, height_m: float = 0.08, plate_m: float = 0.01,
                       mass_kg: float = 0.30, friction: float = 0.6,
                       rgba: Sequence[float] = _BLUE_PLASTIC) -> ObjectInfo:
    """Add a test-tube rack (fixed by default): a base plate and a top plate with square holes.

    Slot k (1..``slots``) is a ``hole_m`` square hole centred at ``(0, slot_y(k), top)`` with
    ``slot_y(k) = (k - (slots + 1) / 2) * pitch_m``, above the base plate (a tube placed in
    it stands on the base plate at z = ``plate_m``). Parts: ``body`` (base plate, end supports,
    front and back strips of the top plate), ``slot_<k>`` (the two bars of the top plate
    beside hole k; the region's centroid is the hole's centre).

    Args:
        slots: Number of holes; pitch_m: hole spacing along y [m]; hole_m: hole side [m].
        depth_m, height_m, plate_m: Rack depth (x), height and plate thickness [m].
        Others: as :func:`add_mug`.
    """
    ns = _count(f'{name}: slots', slots, 1)
    pitch, hole, dx, hz, pt = (_positive(f'{name}: {k}', v) for k, v in (
        ('pitch_m', pitch_m), ('hole_m', hole_m), ('depth_m', depth_m), ('height_m', height_m),
        ('plate_m', plate_m)))
    if hole >= pitch or hole >= dx:
        raise ObjectBuildError(f'{name}: hole_m must be smaller than pitch_m and depth_m')
    b = _Builder(parent, name, 'test_tube_rack', T_parent_obj, free, friction, rgba)
    half_len = ns * pitch / 2
    end = 0.01
    b.box('body', (dx / 2, half_len + end, pt / 2), (0.0, 0.0, pt / 2))
    for side in (-1.0, 1.0):
        b.box('body', (dx / 2, end / 2, (hz - pt) / 2),
              (0.0, side * (half_len + end / 2), (hz + pt) / 2))
    strip = (dx - hole) / 2
    for side in (-1.0, 1.0):
        b.box('body', (strip / 2, half_len + end, pt / 2),
              (side * (hole / 2 + strip / 2), 0.0, hz - pt / 2))
    bar = (pitch - hole) / 2
    for k in range(1, ns + 1):
        y = slot_y_m(k, ns, pitch)
        for side in (-1.0, 1.0):
            b.box(f'slot_{k}', (hole / 2, bar / 2, pt / 2),
                  (0.0, y + side * (hole / 2 + bar / 2), hz - pt / 2))
    return b.finish(mass_kg)


def slot_y_m(k: int, slots: int = 4, pitch_m: float = 0.04) -> float:
    """y [m] of the centre of slot ``k`` (1-based) of a test-tube rack, rack frame."""
    return (k - (slots + 1) / 2.0) * pitch_m


def add_test_tube(parent: mujoco.MjsBody, name: str = 'tube',
                  T_parent_obj: np.ndarray | None = None, *, free: bool = True,
                  radius_m: float = 0.011, length_m: float = 0.15, mass_kg: float = 0.02,
                  friction: float = 0.5, rgba: Sequence[float] = _GLASS) -> ObjectInfo:
    """Add a test tube: a round-bottomed glass tube (solid for contact) with a lip.

    The object frame's origin is at the bottom tip; the tube stands along +z. Parts: ``body``
    (a capsule), ``mouth`` (the lip at the top, 10 mm high, radius + 1.5 mm).

    Args:
        radius_m: Outer radius [m]; length_m: total length [m].
        Others: as :func:`add_mug`.
    """
    r = _positive(f'{name}: radius_m', radius_m)
    ln = _positive(f'{name}: length_m', length_m)
    b = _Builder(parent, name, 'test_tube', T_parent_obj, free, friction, rgba)
    top_body = ln - 0.004
    b.add('body', 'capsule', (r, (top_body - 2 * r) / 2), (0.0, 0.0, top_body / 2))
    b.cylinder('mouth', r + 0.0015, ln - 0.01, ln)
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG)


def add_reagent_bottle(parent: mujoco.MjsBody, name: str = 'bottle',
                       T_parent_obj: np.ndarray | None = None, *, free: bool = True,
                       radius_m: float = 0.032, body_height_m: float = 0.10,
                       neck_radius_m: float = 0.012, cap_radius_m: float = 0.015,
                       cap_height_m: float = 0.022, mass_kg: float = 0.40, friction: float = 0.6,
                       rgba: Sequence[float] = (0.55, 0.35, 0.18, 1.0)) -> ObjectInfo:
    """Add a (closed) reagent bottle: a cylinder, a rounded shoulder, a neck and a screw cap.

    Parts: ``body`` (cylinder, shoulder ellipsoid, neck), ``cap`` (the cap on top).

    Args:
        radius_m, body_height_m: Cylinder [m]; neck_radius_m: [m];
        cap_radius_m, cap_height_m: Cap [m].
        Others: as :func:`add_mug`.
    """
    r, hb, rn, rc, hc = (_positive(f'{name}: {k}', v) for k, v in (
        ('radius_m', radius_m), ('body_height_m', body_height_m),
        ('neck_radius_m', neck_radius_m), ('cap_radius_m', cap_radius_m),
        ('cap_height_m', cap_height_m)))
    b = _Builder(parent, name, 'reagent_bottle', T_parent_obj, free, friction, rgba)
    b.cylinder('body', r, 0.0, hb)
    shoulder = 0.55 * r
    b.add('body', 'ellipsoid', (r, r, shoulder), (0.0, 0.0, hb))
    z_neck = hb + shoulder + 0.012
    b.cylinder('body', rn, hb + shoulder - 0.004, z_neck)
    b.cylinder('cap', rc, z_neck - 0.004, z_neck - 0.004 + hc, rgba=_BLACK)
    return b.finish(mass_kg, max_mass_kg=MAX_GRASPABLE_MASS_KG)


# --- particles -------------------------------------------------------------------------------

def add_particles(parent: mujoco.MjsBody, name: str, count: int = 40, *, inside: ObjectInfo,
                  radius_m: float = 0.005, T_parent_container: np.ndarray | None = None,
                  label: str | None = None, density_kg_m3: float = WATER_DENSITY_KG_M3,
                  rgba: Sequence[float] = WATER_RGBA) -> ParticleInfo:
    """Add ``count`` free spheres resting inside a container, standing in for a liquid.

    The particles are laid out in hexagonal layers from the container's inner bottom up,
    clear of its walls (1.5 mm), and settle within a few tens of milliseconds. Their contacts
    are frictionless (``condim=1``, geom priority 1 so they override the other geom), so they
    flow like a liquid and pour out of a tilted container.

    Args:
        parent: ``spec.worldbody`` (particles have free joints).
        name: Name of the particle set; bodies ``'<name>/particle#k'``.
        count: Number of particles (>= 1).
        inside: The container (an object with an inner volume).
        radius_m: Sphere radius [m].
        T_parent_container: The container's pose in ``parent``'s frame (4, 4) [m]; default:
            ``inside.T_parent_obj`` (right when the container was added under the same
            parent).
        label: Part label of the geoms; default ``'<name>/liquid'``.
        density_kg_m3: Density [kg/m^3] (water by default).
        rgba: Colour.

    Raises:
        ObjectBuildError: If the container has no inner volume, the particles do not fit
            below its top, or an argument is invalid.
    """
    check_object_name(name)
    n = _count(f'{name}: count', count, 1)
    r = _positive(f'{name}: radius_m', radius_m)
    density = _positive(f'{name}: density_kg_m3', density_kg_m3)
    if not isinstance(inside, ObjectInfo) or inside.inner_profile is None:
        raise ObjectBuildError(f'{name}: inside must be a container ObjectInfo')
    label = f'{name}/liquid' if label is None else label
    if not isinstance(label, str) or not re.match(r'^[^/#\s]+/[^/#\s]+$', label):
        raise ObjectBuildError(f'{name}: label {label!r} must look like object/part')
    if not isinstance(parent, mujoco.MjsBody) or parent.name != 'world':
        raise ObjectBuildError(f'{name}: particles have free joints and must be added under '
                               'spec.worldbody')
    T = _rigid(inside.T_parent_obj if T_parent_container is None else T_parent_container,
               f'{name}: T_parent_container')
    p_obj = _particle_layout(inside, n, r, name)
    p_parent = p_obj @ T[:3, :3].T + T[:3, 3]
    mass = density * 4.0 / 3.0 * math.pi * r ** 3
    bodies, geoms = [], []
    for k, p in enumerate(p_parent):
        body_name = f'{name}/particle#{k}'
        geom_name = label if k == 0 else f'{label}#{k}'
        body = parent.add_body(name=body_name, pos=p)
        body.add_freejoint(name=f'{body_name}/free')
        body.add_geom(name=geom_name, type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[r, 0.0, 0.0],
                      mass=mass, condim=1, priority=1, friction=[0.0, 0.0, 0.0],
                      solref=list(PARTICLE_SOLREF), solimp=list(PARTICLE_SOLIMP),
                      rgba=list(rgba))
        bodies.append(body_name)
        geoms.append(geom_name)
    return ParticleInfo(name=name, label=label, body_names=tuple(bodies),
                        geom_names=tuple(geoms), radius_m=r, particle_mass_kg=mass,
                        container=inside.name)


def _particle_layout(container: ObjectInfo, count: int, r: float, name: str) -> np.ndarray:
    """Centres (count, 3) in hexagonal layers inside the container, object frame."""
    profile = container.inner_profile
    assert profile is not None
    z_prof = np.array([z for z, _ in profile])
    r_prof = np.array([rr for _, rr in profile])
    spacing = 2.0 * r + 0.001
    margin = r + 0.0015
    points: list[np.ndarray] = []
    z = z_prof[0] + r + 0.0005
    while len(points) < count:
        if z + r > z_prof[-1] - 0.002:
            raise ObjectBuildError(f'{name}: {count} particles of radius {r} m do not fit in '
                                   f'{container.name}')
        # The layer must clear the walls over the sphere's whole height.
        reach = min(np.interp(zz, z_prof, r_prof) for zz in (z - r, z, z + r)) - margin
        layer = _hex_disc(reach, spacing)
        for p in layer:
            points.append(np.array([p[0], p[1], z]))
            if len(points) == count:
                break
        z += spacing
    return np.array(points)


def _hex_disc(radius: float, spacing: float) -> list[tuple[float, float]]:
    """Hexagonal grid points within ``radius`` of the origin, nearest to the centre first."""
    if radius < 0.0:
        return []
    m = int(radius / spacing) + 2
    out = []
    for j in range(-m, m + 1):
        for i in range(-m, m + 1):
            x = (i + 0.5 * (j % 2)) * spacing
            y = j * spacing * math.sqrt(3.0) / 2.0
            if math.hypot(x, y) <= radius:
                out.append((x, y))
    out.sort(key=lambda q: (round(math.hypot(*q), 9), q))
    return out


Builder = Callable[..., ObjectInfo]

BUILDERS: Mapping[str, Builder] = MappingProxyType({
    'mug': add_mug,
    'cup': add_cup,
    'plate': add_plate,
    'box': add_box,
    'kettle': add_kettle,
    'bowl': add_bowl,
    'drawer_cabinet': add_drawer_cabinet,
    'flask': add_flask,
    'beaker': add_beaker,
    'stirrer': add_stirrer,
    'test_tube_rack': add_test_tube_rack,
    'test_tube': add_test_tube,
    'reagent_bottle': add_reagent_bottle,
})
"""Builder of every object kind (``add_table_top`` and ``add_particles`` excluded)."""
