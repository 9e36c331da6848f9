"""Household and chemistry-lab scenes: seeded layouts of part-structured objects on the table.

A scene is a list of :class:`Placement` (object kind, nominal pose on the table, randomisation
ranges, builder dimensions) and of particle sets (:class:`ParticleSpec`). ``household_scene``
and ``lab_scene`` draw one layout per seed and return a :class:`SceneSpec`; its
``add_objects(spec)`` adds every object to a ``mujoco.MjSpec`` worldbody (use it as
``World.build(add_objects=scene.add_objects)``) and returns ``{name: ObjectInfo |
ParticleInfo}``.

Frames: the base frame of :mod:`resem3d_sim.world` (robot base at the origin, x forward,
z up, the table surface at z = 0). Objects stand on the table (object frame origin at z = 0).

Randomisation: each placement's position is drawn uniformly in ``nominal +- (dx_m, dy_m)``
and its yaw in ``nominal +- dyaw_rad``; objects placed on a host (``host``: e.g. a test tube in
its rack) follow the host. A layout is accepted when every pair of top-level footprints
(convex hulls of the geoms' outlines projected on the table, grown by the drawer travel
kept clear in front of a cabinet)
is at least ``min_clearance_m`` apart and every footprint lies on the table; otherwise the
whole layout is redrawn from the same generator (so a seed always gives the same layout).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from itertools import combinations
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .gl import configure_headless_gl
from .objects import (add_particles, add_table_top, BUILDERS, ObjectBuildError, ObjectInfo,
                      ParticleInfo, pose_xy_yaw, REAGENT_RGBA, slot_y_m, table_info,
                      WATER_RGBA)
from .errors import SimInputError
from .world import WorldConfig

configure_headless_gl()

import mujoco  # noqa: E402  (after configure_headless_gl: mujoco picks its GL backend on import)

WORKSPACE_X_M = (0.35, 0.70)
WORKSPACE_Y_M = (-0.35, 0.35)
MAX_LAYOUT_ATTEMPTS = 500


class SceneLayoutError(SimInputError):
    """A scene cannot be laid out (unknown object kind or host, no clear layout found)."""


@dataclass(frozen=True)
class Placement:
    """Nominal pose, randomisation range and dimensions of one object of a scene.

    Attributes:
        name: Object name.
        kind: Builder kind (a key of :data:`resem3d_sim.objects.BUILDERS`).
        x_m, y_m: Nominal position [m] in the base frame (in the host's frame if ``host``).
        yaw_rad: Nominal rotation about z [rad].
        dx_m, dy_m: Half ranges [m] of the uniform position offsets.
        dyaw_rad: Half range [rad] of the uniform yaw offset.
        z_m: Height of the object frame's origin [m] (base or host frame).
        host: Name of an object this one is placed in or on (it follows the host's pose).
        keep_clear_m: Travel [m] of a slide-jointed child (a drawer) whose swept volume must
            stay free of other objects.
        params: Keyword arguments (dimensions) passed to the builder.
    """

    name: str
    kind: str
    x_m: float
    y_m: float
    yaw_rad: float = 0.0
    dx_m: float = 0.02
    dy_m: float = 0.02
    dyaw_rad: float = math.radians(10.0)
    z_m: float = 0.0
    host: str | None = None
    keep_clear_m: float = 0.0
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParticleSpec:
    """Particles (a liquid) initially resting inside one container of the scene.

    Attributes:
        name: Particle set name; its geoms carry the label ``'<name>/liquid'``.
        container: Name of the container object.
        count: Number of particles (>= 30 in the shipped scenes).
        radius_m: Particle radius [m].
        rgba: Colour.
    """

    name: str
    container: str
    count: int = 40
    radius_m: float = 0.005
    rgba: tuple[float, float, float, float] = WATER_RGBA


SceneObjects = dict[str, ObjectInfo | ParticleInfo]


@dataclass(frozen=True, eq=False)
class SceneSpec:
    """One drawn layout of a scene, ready to be added to a ``mujoco.MjSpec``.

    Attributes:
        name: Scene name (``household`` or ``lab``).
        seed: Seed the layout was drawn with.
        placements: Nominal layout and randomisation ranges, one per object.
        particles: Particle sets.
        T_base_obj: Drawn pose (4, 4) of every object [m] (base frame); a drawer's pose is its
            closed pose.
        footprints_base: Footprint polygon (K, 2) [m] of every top-level object (base frame;
            convex hull of its geoms' outlines, with the kept-clear drawer travel).
        labels: Every part label of the scene (objects, drawers, liquids, ``table/top``),
            sorted: the label table.
        table: Geometry of the world's table top (``table/top``; added by the world, not by
            :meth:`add_objects`).
        min_clearance_m: Required gap [m] between top-level footprints.
        attempts: How many layouts were drawn until one was clear.
    """

    name: str
    seed: int
    placements: tuple[Placement, ...]
    particles: tuple[ParticleSpec, ...]
    T_base_obj: Mapping[str, np.ndarray]
    footprints_base: Mapping[str, np.ndarray]
    labels: tuple[str, ...]
    table: ObjectInfo
    min_clearance_m: float
    attempts: int

    def placement(self, name: str) -> Placement:
        """The placement of object ``name``.

        Raises:
            KeyError: If the scene has no such object.
        """
        for placement in self.placements:
            if placement.name == name:
                return placement
        raise KeyError(f'scene {self.name} has no object {name!r}')

    def clearances_m(self) -> dict[tuple[str, str], float]:
        """Gap [m] between every pair of top-level footprints (0 where they overlap)."""
        return {(a, b): _polygon_distance(self.footprints_base[a], self.footprints_base[b])
                for a, b in combinations(sorted(self.footprints_base), 2)}

    def add_objects(self, spec: mujoco.MjSpec, *, with_table: bool = False) -> SceneObjects:
        """Add every object and particle set to ``spec.worldbody`` at the drawn poses.

        Args:
            spec: The spec to add to (e.g. inside ``World.build``).
            with_table: Also add a table-top slab matching :attr:`table` (for worlds without
                :mod:`resem3d_sim.world`'s table).

        Returns:
            ``{name: ObjectInfo}`` for every object (a cabinet's drawer under its own name)
            and ``{name: ParticleInfo}`` for every particle set, plus ``'table'`` (the
            :attr:`table` record).
        """
        world = spec.worldbody
        out: SceneObjects = {}
        for placement in self.placements:
            info = _build(world, placement, self.T_base_obj[placement.name])
            for item in info.all_infos():
                out[item.name] = item
        for particles in self.particles:
            container = out[particles.container]
            assert isinstance(container, ObjectInfo)
            out[particles.name] = add_particles(
                world, particles.name, particles.count, inside=container,
                radius_m=particles.radius_m, T_parent_container=self.T_base_obj[container.name],
                rgba=particles.rgba)
        out[self.table.name] = self.table
        if with_table:
            half = self.table.shapes[self.table.geom_names[0]].size
            out[self.table.name] = add_table_top(
                world, self.table.name, self.table.T_parent_obj,
                size_m=(2.0 * half[0], 2.0 * half[1]), thickness_m=2.0 * half[2])
        return out


def _build(parent: mujoco.MjsBody, placement: Placement, T_parent_obj: np.ndarray
           ) -> ObjectInfo:
    try:
        builder = BUILDERS[placement.kind]
    except KeyError:
        raise SceneLayoutError(f'{placement.name}: unknown object kind {placement.kind!r}; '
                               f'known: {", ".join(BUILDERS)}') from None
    return builder(parent, placement.name, T_parent_obj, **dict(placement.params))


def _footprint_obj(info: ObjectInfo, keep_clear_m: float) -> np.ndarray:
    """Footprint (K, 2) [m] of an object and its children, object frame: the convex hull of
    the xy projections of the geoms' outlines (a slide-jointed child also at ``keep_clear_m``
    of travel), corners counter-clockwise."""
    points = [shape.outline_obj()[:, :2] for shape in info.shapes.values()]
    for child in info.children:
        T = child.T_parent_obj
        travels = [0.0] + ([keep_clear_m] if child.joint_type == 'slide' else [])
        for travel in travels:
            for shape in child.shapes.values():
                corners = shape.outline_obj() + np.array([travel, 0.0, 0.0])
                points.append((corners @ T[:3, :3].T + T[:3, 3])[:, :2])
    return _convex_hull(np.concatenate(points))


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (K, 2) of 2-D points, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(set(map(tuple, np.round(points, 9))))
    if len(pts) <= 2:
        return np.array(pts)

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0.0:
            lower.pop()
        lower.append(p)
    upper: list[tuple] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0.0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def _separated(P: np.ndarray, Q: np.ndarray) -> bool:
    """True if a separating axis (an edge normal) exists between two convex polygons."""
    for poly in (P, Q):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            a, b = P @ normal, Q @ normal
            if a.max() < b.min() or b.max() < a.min():
                return True
    return False


def _polygon_distance(P: np.ndarray, Q: np.ndarray) -> float:
    """Distance [m] between two convex polygons (corners in order); 0 if they overlap."""
    if not _separated(P, Q):
        return 0.0
    return min(_points_to_polygon_edges(P, Q), _points_to_polygon_edges(Q, P))


def _points_to_polygon_edges(points: np.ndarray, poly: np.ndarray) -> float:
    """Smallest distance [m] from any of ``points`` (N, 2) to an edge of ``poly`` (K, 2)."""
    a = poly
    ab = np.roll(poly, -1, axis=0) - poly                          # (K, 2)
    ap = points[:, None, :] - a[None, :, :]                        # (N, K, 2)
    t = np.clip(np.sum(ap * ab, axis=2) / np.maximum(np.sum(ab * ab, axis=1), 1e-18), 0.0, 1.0)
    nearest = a[None] + t[..., None] * ab[None]
    return float(np.min(np.linalg.norm(points[:, None, :] - nearest, axis=2)))


def _table_rectangle(table: ObjectInfo) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = table.aabb_obj()
    offset = table.T_parent_obj[:2, 3]
    return lo[:2] + offset, hi[:2] + offset


def make_scene(name: str, seed: int, placements: Sequence[Placement],
               particles: Sequence[ParticleSpec] = (), *, min_clearance_m: float = 0.01,
               table: ObjectInfo | None = None) -> SceneSpec:
    """Draw a clear layout of ``placements`` with ``seed`` and return the scene.

    Args:
        name: Scene name.
        seed: Seed of the layout's random generator.
        placements: Objects, hosts before the objects they carry.
        particles: Particle sets (their containers must be among the placements).
        min_clearance_m: Required gap [m] between top-level footprints.
        table: The table's geometry; default: :func:`world_table_info`.

    Raises:
        SceneLayoutError: For unknown kinds, hosts or containers, duplicate names, or when no
            clear layout is found in :data:`MAX_LAYOUT_ATTEMPTS` draws.
        ObjectBuildError: For invalid builder dimensions.
    """
    placements = tuple(placements)
    particles = tuple(particles)
    table = world_table_info() if table is None else table
    names = [p.name for p in placements] + [p.name for p in particles]
    if len(set(names)) != len(names):
        raise SceneLayoutError(f'{name}: duplicate object names in {names}')
    scratch = mujoco.MjSpec()
    infos: dict[str, ObjectInfo] = {}
    for placement in placements:
        if placement.host is not None and placement.host not in infos:
            raise SceneLayoutError(f'{name}: host {placement.host!r} of {placement.name!r} must '
                                   'be placed before it')
        info = _build(scratch.worldbody, placement, np.eye(4))
        infos.update({item.name: item for item in info.all_infos()})
    for spec in particles:
        if spec.container not in infos or not infos[spec.container].is_container:
            raise SceneLayoutError(f'{name}: particles {spec.name!r} need a container, got '
                                   f'{spec.container!r}')
    labels = {label for info in infos.values() for label in info.labels}
    labels |= {f'{spec.name}/liquid' for spec in particles}
    labels |= set(table.labels)
    footprints_obj = {p.name: _footprint_obj(infos[p.name], p.keep_clear_m)
                      for p in placements if p.host is None}
    table_lo, table_hi = _table_rectangle(table)

    rng = np.random.default_rng(seed)
    for attempt in range(1, MAX_LAYOUT_ATTEMPTS + 1):
        poses: dict[str, np.ndarray] = {}
        for p in placements:
            dx, dy, dyaw = rng.uniform(-1.0, 1.0, size=3) * (p.dx_m, p.dy_m, p.dyaw_rad)
            T_local = pose_xy_yaw(p.x_m + dx, p.y_m + dy, p.yaw_rad + dyaw, p.z_m)
            poses[p.name] = T_local if p.host is None else poses[p.host] @ T_local
            for info in infos[p.name].all_infos()[1:]:
                poses[info.name] = poses[p.name] @ info.T_parent_obj
        footprints = {}
        for object_name, corners in footprints_obj.items():
            T = poses[object_name]
            footprints[object_name] = corners @ T[:2, :2].T + T[:2, 3]
        on_table = all(np.all(fp >= table_lo) and np.all(fp <= table_hi)
                       for fp in footprints.values())
        if on_table and all(_polygon_distance(footprints[a], footprints[b]) >= min_clearance_m
                            for a, b in combinations(footprints, 2)):
            break
    else:
        raise SceneLayoutError(f'{name}: no clear layout in {MAX_LAYOUT_ATTEMPTS} draws (seed '
                               f'{seed}); reduce the randomisation ranges')
    frozen = {}
    for key, T in poses.items():
        T = T.copy()
        T.setflags(write=False)
        frozen[key] = T
    return SceneSpec(name=name, seed=seed, placements=placements, particles=particles,
                     T_base_obj=MappingProxyType(frozen),
                     footprints_base=MappingProxyType(footprints), labels=tuple(sorted(labels)),
                     table=table, min_clearance_m=min_clearance_m, attempts=attempt)


def world_table_info(config: WorldConfig | None = None) -> ObjectInfo:
    """The ``table/top`` geometry of :mod:`resem3d_sim.world`'s table (body ``table``)."""
    config = WorldConfig() if config is None else config
    return table_info('table', size_m=config.table_size_m, thickness_m=config.table_thickness_m,
                      center_xy_m=config.table_center_xy_m)


# --- the scenes ------------------------------------------------------------------------------

HOUSEHOLD_PLACEMENTS: tuple[Placement, ...] = (
    # Cabinet at the back left, its front (+x) towards the robot; 0.2 m of drawer travel is
    # kept clear. Its centre lies behind the reachable workspace, its drawer handle inside.
    Placement('cabinet', 'drawer_cabinet', 0.86, 0.21, math.pi, dx_m=0.01, dy_m=0.01,
              dyaw_rad=math.radians(3.0), keep_clear_m=0.2, params={'drawer_name': 'drawer'}),
    # Kettle on the right, handle (-x) towards the robot: the gripper takes it from the front
    # with a horizontal approach, and pouring (+x) tips it forward into a top-down hold.
    Placement('kettle', 'kettle', 0.60, -0.27, 0.0, dyaw_rad=math.radians(10.0)),
    Placement('bowl', 'bowl', 0.62, -0.05, 0.0, dyaw_rad=math.radians(15.0)),
    Placement('plate', 'plate', 0.41, -0.17, 0.0, dyaw_rad=math.radians(15.0)),
    # Mug in front of the cabinet, handle (-y) towards the middle of the table.
    Placement('mug', 'mug', 0.37, 0.15, 0.0, dyaw_rad=math.radians(10.0)),
    Placement('box', 'box', 0.38, 0.29, 0.0, dyaw_rad=math.radians(15.0)),
)
"""Household layout: nominal poses (base frame) and randomisation ranges."""

HOUSEHOLD_PARTICLES: tuple[ParticleSpec, ...] = (ParticleSpec('water', 'kettle', 40),)

LAB_PLACEMENTS: tuple[Placement, ...] = (
    # Stirrer at the back left, its knob (+x) towards the robot.
    Placement('stirrer', 'stirrer', 0.64, 0.20, math.pi, dx_m=0.015, dy_m=0.015,
              dyaw_rad=math.radians(5.0)),
    # Rack at the back, slots along y; the test tube stands in slot 1 on the base plate.
    Placement('rack', 'test_tube_rack', 0.62, -0.04, 0.0, dx_m=0.015, dy_m=0.015,
              dyaw_rad=math.radians(5.0)),
    Placement('tube', 'test_tube', 0.0, slot_y_m(1), 0.0, dx_m=0.0, dy_m=0.0, dyaw_rad=0.0,
              z_m=0.01, host='rack'),
    # A wide-neck Erlenmeyer flask (4 cm inside): the reagent is poured into it.
    Placement('flask', 'flask', 0.42, 0.17, 0.0, dyaw_rad=math.radians(15.0),
              params={'neck_radius_m': 0.024}),
    # Beaker with the reagent, spout (+x) turned towards the flask (+y).
    Placement('beaker', 'beaker', 0.42, -0.06, math.pi / 2, dyaw_rad=math.radians(10.0)),
    Placement('bottle', 'reagent_bottle', 0.56, -0.25, 0.0, dyaw_rad=math.radians(15.0)),
)
"""Chemistry-lab layout: nominal poses (base frame) and randomisation ranges."""

LAB_PARTICLES: tuple[ParticleSpec, ...] = (
    ParticleSpec('reagent', 'beaker', 40, radius_m=0.003, rgba=REAGENT_RGBA),)


def household_scene(seed: int = 0) -> SceneSpec:
    """Household scene: cabinet with drawer, kettle with water, bowl, plate, mug, box.

    Nominal layout and ranges: :data:`HOUSEHOLD_PLACEMENTS` (positions +- 2 cm, yaw +- 10-15
    deg; the cabinet +- 1 cm, +- 3 deg), 40 water particles in the kettle.
    """
    return make_scene('household', seed, HOUSEHOLD_PLACEMENTS, HOUSEHOLD_PARTICLES)


def lab_scene(seed: int = 0) -> SceneSpec:
    """Chemistry-lab scene: stirrer, test-tube rack with a tube, flask, beaker with reagent,
    reagent bottle.

    Nominal layout and ranges: :data:`LAB_PLACEMENTS` (positions +- 2 cm, yaw +- 10-15 deg;
    stirrer and rack +- 1.5 cm, +- 5 deg; the tube stays in slot 1), 40 reagent particles
    (3 mm radius) in the beaker.
    """
    return make_scene('lab', seed, LAB_PLACEMENTS, LAB_PARTICLES)


SCENES: Mapping[str, Callable[[int], SceneSpec]] = MappingProxyType({
    'household': household_scene,
    'lab': lab_scene,
})
"""Scene factories by name."""


# --- physics on a plain floor (tests, benchmarks) --------------------------------------------

def floor_spec(config: WorldConfig | None = None) -> mujoco.MjSpec:
    """An empty spec with the world's physics options and a floor plane at z = 0.

    Stands in for the table when objects are simulated without the robot.
    """
    config = WorldConfig() if config is None else config
    spec = mujoco.MjSpec()
    opt = spec.option
    opt.timestep = config.timestep_s
    opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    opt.impratio = config.impratio
    opt.iterations = config.solver_iterations
    spec.worldbody.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE,
                            size=[2.0, 2.0, 0.05])
    return spec


def measure_step_time_s(scene: SceneSpec, steps: int = 1000) -> float:
    """Mean wall time [s] of one ``mj_step`` of the scene (with particles) on a plain floor.

    The robot is not included. Runs ``steps`` steps from the initial state.

    Raises:
        ObjectBuildError: If ``steps`` < 1.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ObjectBuildError(f'steps: expected an integer >= 1, got {steps!r}')
    spec = floor_spec()
    scene.add_objects(spec)
    model = spec.compile()
    data = mujoco.MjData(model)
    start = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(model, data)
    return (time.perf_counter() - start) / steps
