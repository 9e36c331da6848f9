"""Collision rows: link sphere approximations, self-collision pairs and scene obstacles.

Each collision body of the URDF is covered by a few spheres fitted to its vertices (mesh
vertices or box corners) by k-means clustering; each sphere reaches the farthest vertex of its
cluster, so the union covers every vertex.
We fit spheres ourselves rather than query coal mesh distances: sphere-sphere and sphere-box
distances of ~100 pairs cost a few microseconds in vectorised numpy, which keeps the 1 kHz budget,
and they give smooth distance gradients for the QP rows.

A collision row keeps a pair's distance d above ``margin`` with a velocity damper:
``n^T (J_a - J_b) dq >= -gain * (d - margin)``, n being the unit direction from b to a.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pinocchio as pin

import resem3d_constraints as rc
from resem3d_constraints import box_signed_distances

from .robot_model import RobotModel


@dataclass(frozen=True)
class SphereSet:
    """Spheres rigidly attached to frames of the robot.

    Attributes:
        frame_ids: Pinocchio frame id of each sphere's parent frame (k,).
        centers_frame: Sphere centres in their parent frame (k, 3) [m].
        radii_m: Sphere radii (k,) [m].
        body: Index of the collision body each sphere approximates (k,).
        joint: Index of the joint that moves each sphere (k,) (0 = fixed base).
    """

    frame_ids: np.ndarray
    centers_frame: np.ndarray
    radii_m: np.ndarray
    body: np.ndarray
    joint: np.ndarray


def _body_vertices(geometry_object: pin.GeometryObject) -> np.ndarray | None:
    """Vertices (m, 3) of a collision body in its parent frame, or None if unsupported."""
    shape = geometry_object.geometry
    if hasattr(shape, 'vertices') and hasattr(shape, 'num_vertices'):
        vertices = np.asarray(shape.vertices(), dtype=float).reshape(-1, 3)
    elif hasattr(shape, 'halfSide'):
        h = np.asarray(shape.halfSide, dtype=float)
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        vertices = corners * h
    elif hasattr(shape, 'radius') and hasattr(shape, 'halfLength'):   # capsule or cylinder
        r, hl = float(shape.radius), float(shape.halfLength)
        vertices = np.array([[sx * r, sy * r, sz * (hl + r)]
                             for sx in (-1, 0, 1) for sy in (-1, 0, 1) for sz in (-1, 1)])
    elif hasattr(shape, 'radius'):
        r = float(shape.radius)
        vertices = np.vstack([np.eye(3) * r, -np.eye(3) * r])
    else:
        return None
    if vertices.size == 0:
        return None
    placement = geometry_object.placement
    return vertices @ placement.rotation.T + placement.translation


def fit_spheres(vertices: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Cover a vertex set (m, 3) with at most ``count`` spheres.

    Centres come from k-means over the vertices (scipy; deterministic seed); each vertex is
    assigned to its nearest centre and each sphere reaches its farthest assigned vertex, so
    every vertex is covered. Clusters follow bent links (the Panda's are L-shaped), which
    spheres on a single axis would cover only with much larger radii.

    Returns:
        (centres (k, 3), radii (k,)), k <= count.
    """
    from scipy.cluster.vq import kmeans2  # scipy is only needed when building the model

    points = np.unique(np.round(vertices, 6), axis=0)   # meshes repeat shared vertices
    count = min(count, len(points))
    if count == 1:
        centres = vertices.mean(axis=0)[None]
    else:
        centres, _ = kmeans2(points, count, minit='++', seed=7, iter=50)
    # Radii from the original vertices, each assigned to its nearest centre.
    distances = np.linalg.norm(vertices[:, None, :] - centres[None], axis=2)
    nearest = np.argmin(distances, axis=1)
    radii = np.zeros(len(centres))
    np.maximum.at(radii, nearest, distances[np.arange(len(vertices)), nearest])
    used = np.bincount(nearest, minlength=len(centres)) > 0
    return centres[used], radii[used]


def build_sphere_set(robot: RobotModel, spheres_per_body: int) -> SphereSet:
    """Fit spheres to every collision body of ``robot`` (empty set without geometry)."""
    frame_ids, centres, radii, body, joint = [], [], [], [], []
    if robot.geometry is not None:
        for index, geometry_object in enumerate(robot.geometry.geometryObjects):
            vertices = _body_vertices(geometry_object)
            if vertices is None:
                continue
            # Small bodies (finger pads) need only one sphere.
            count = 1 if np.ptp(vertices, axis=0).max() < 0.05 else spheres_per_body
            c, r = fit_spheres(vertices, count)
            # Vertices are in the parent *joint* frame; attach to that joint's frame.
            parent_joint = geometry_object.parentJoint
            frame = _joint_frame_id(robot, parent_joint)
            frame_ids += [frame] * len(r)
            centres.append(c)
            radii.append(r)
            body += [index] * len(r)
            joint += [parent_joint] * len(r)
    if not frame_ids:
        empty = np.zeros(0, dtype=int)
        return SphereSet(empty, np.zeros((0, 3)), np.zeros(0), empty, empty)
    return SphereSet(np.asarray(frame_ids), np.vstack(centres), np.concatenate(radii),
                     np.asarray(body), np.asarray(joint))


def _joint_frame_id(robot: RobotModel, joint_id: int) -> int:
    """Frame whose placement equals the joint's placement (the JOINT frame, or universe)."""
    for frame_id, frame in enumerate(robot.model.frames):
        if frame.parentJoint == joint_id and frame.type == pin.FrameType.JOINT:
            return frame_id
    return 0  # universe: fixed base


class CollisionRows(NamedTuple):
    """Linearised collision constraints: ``jacobian @ dq >= lower``."""

    jacobian: np.ndarray   # (r, n)
    lower: np.ndarray      # (r,) [m/s]
    distance_m: np.ndarray  # (r,) clearance of each row's pair (surface distance minus margin)


class Obstacle(NamedTuple):
    """An oriented box in the base frame that the arm keeps away from."""

    center_base: np.ndarray      # (3,) [m]
    R_base_box: np.ndarray       # (3, 3)
    half_extent_m: np.ndarray    # (3,) [m]

    @classmethod
    def from_region(cls, region: 'rc.Region', T_base_obj: np.ndarray) -> 'Obstacle':
        """The oriented bounding box of a region whose object is at ``T_base_obj``."""
        R = T_base_obj[:3, :3]
        return cls(R @ region.center_obj + T_base_obj[:3, 3], R @ region.axes_obj,
                   0.5 * np.asarray(region.extent_m, dtype=float))


class CollisionModel:
    """Sphere model of the arm with self-collision pairs and box obstacles.

    Args:
        robot: Kinematic model with collision geometry.
        spheres_per_body: Spheres fitted to each collision body.
        margin_m: Clearance kept between surfaces [m].
        activation_m: Only pairs closer than this (after the margin) get a row [m].
        self_collision: Whether to build self-collision pairs.
        q_reference_rad: Configuration at which touching pairs are treated as permanent
            contacts and dropped (defaults to the middle of the joint range).
        refresh_ticks: Calls of :meth:`rows` between two searches over all pairs.
        refresh_margin_m: Extra distance within which the search keeps pairs [m].
        cache_size: Most pairs kept between searches.
    """

    def __init__(self, robot: RobotModel, spheres_per_body: int = 3, margin_m: float = 0.02,
                 activation_m: float = 0.1, self_collision: bool = True,
                 q_reference_rad: np.ndarray | None = None, refresh_ticks: int = 10,
                 refresh_margin_m: float = 0.04, cache_size: int = 24) -> None:
        self.robot = robot
        self.refresh_ticks = refresh_ticks
        self.refresh_margin_m = refresh_margin_m
        self.cache_size = cache_size
        self._cache: _PairCache | None = None
        self._parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._last_part = 'both'
        self._ticks_since_refresh = 0
        self.spheres = build_sphere_set(robot, spheres_per_body)
        self.margin_m = margin_m
        self.activation_m = activation_m
        self._frames = [int(f) for f in np.unique(self.spheres.frame_ids)]
        self._sphere_slot = np.searchsorted(np.asarray(self._frames), self.spheres.frame_ids)
        # One pinocchio frame per sphere centre: positions and Jacobians of the few spheres in
        # critical pairs then come from C++ at every tick.
        self._centre_frames = [robot.point_frame(int(f), c) for f, c in
                               zip(self.spheres.frame_ids, self.spheres.centers_frame)]
        self._build_body_spheres()
        self.obstacles: list[Obstacle] = []
        self.pairs = np.zeros((0, 2), dtype=int)
        if self_collision and len(self.spheres.radii_m):
            q_ref = robot.neutral_configuration() if q_reference_rad is None else q_reference_rad
            self.pairs = self._candidate_pairs(q_ref)
        self._pair_a, self._pair_b = self.pairs[:, 0], self.pairs[:, 1]
        # Centre distance at which a pair's clearance is zero: both radii plus the margin.
        self._pair_reach = (self.spheres.radii_m[self._pair_a] + self.spheres.radii_m[self._pair_b]
                            + margin_m)
        # Spheres used against scene obstacles: those that move (not the fixed base).
        self._moving = np.flatnonzero(self.spheres.joint > 0)
        # Body pairs of the sphere pairs, for the broadphase.
        pair_groups = np.stack([self._sphere_group[self._pair_a],
                                self._sphere_group[self._pair_b]], axis=1)
        if len(pair_groups):
            self._group_pairs, self._pair_group = np.unique(pair_groups, axis=0,
                                                            return_inverse=True)
        else:
            self._group_pairs, self._pair_group = np.zeros((0, 2), int), np.zeros(0, int)
        self._pair_group = self._pair_group.reshape(-1)
        self._group_pair_reach = (self._group_radius[self._group_pairs[:, 0]]
                                  + self._group_radius[self._group_pairs[:, 1]] + margin_m)

    def _build_body_spheres(self) -> None:
        """Bounding spheres of whole bodies, so that far bodies skip their sphere pairs.

        Per tick only the ~20 body pairs are measured first; the sphere pairs (a few thousand
        with 12 spheres per body) are measured only for body pairs within the activation
        distance. This keeps the collision rows at a few tens of microseconds.
        """
        spheres = self.spheres
        bodies, group = np.unique(spheres.body, return_inverse=True)
        self._sphere_group = group
        centre = np.zeros((len(bodies), 3))
        radius = np.zeros(len(bodies))
        slot = np.zeros(len(bodies), dtype=int)
        for g in range(len(bodies)):
            members = np.flatnonzero(group == g)
            centre[g] = spheres.centers_frame[members].mean(axis=0)
            radius[g] = np.max(np.linalg.norm(spheres.centers_frame[members] - centre[g], axis=1)
                               + spheres.radii_m[members])
            slot[g] = self._sphere_slot[members[0]]
        self._group_centre_frame, self._group_radius, self._group_slot = centre, radius, slot
        self._group_moving = np.array([spheres.joint[np.flatnonzero(group == g)[0]] > 0
                                       for g in range(len(bodies))], dtype=bool)

    def _candidate_pairs(self, q_reference_rad: np.ndarray) -> np.ndarray:
        """Sphere pairs to check for self-collision.

        Body pairs come from the SRDF (:meth:`RobotModel.self_collision_pairs`) or, without one,
        from bodies at least two joints apart. Sphere pairs that already touch at the reference
        configuration are artefacts of the sphere approximation and are dropped.
        """
        joint, body = self.spheres.joint, self.spheres.body
        i, j = np.triu_indices(len(joint), k=1)
        body_pairs = self.robot.self_collision_pairs()
        if body_pairs is None:
            keep = np.abs(joint[i] - joint[j]) >= 2
        else:
            lo, hi = np.minimum(body[i], body[j]), np.maximum(body[i], body[j])
            keep = np.array([(a, b) in body_pairs for a, b in zip(lo, hi)], dtype=bool)
        i, j = i[keep], j[keep]
        self.robot.update(q_reference_rad)
        centres = self._sphere_centres()
        clearance = (np.linalg.norm(centres[i] - centres[j], axis=1)
                     - self.spheres.radii_m[i] - self.spheres.radii_m[j])
        clear = clearance > self.margin_m
        return np.stack([i[clear], j[clear]], axis=1)

    def set_obstacles(self, obstacles: list[Obstacle], moved_tolerance_m: float = 0.005
                      ) -> None:
        """Replace the scene obstacles (e.g. keep-away regions, the table).

        The cached pairs are kept when the same boxes moved by less than
        ``moved_tolerance_m`` (a perception update of still objects); otherwise the next
        :meth:`rows` searches all pairs again.
        """
        obstacles = list(obstacles)
        same = len(obstacles) == len(self.obstacles) and all(
            np.allclose(new.half_extent_m, old.half_extent_m)
            and np.linalg.norm(new.center_base - old.center_base) < moved_tolerance_m
            and np.allclose(new.R_base_box, old.R_base_box, atol=moved_tolerance_m)
            for new, old in zip(obstacles, self.obstacles))
        self.obstacles = obstacles
        if not same:
            self._cache = None

    def _sphere_centres(self) -> np.ndarray:
        """Sphere centres (k, 3) in the base frame at the robot's last update.

        Also caches the bodies' bounding-sphere centres of this tick.
        """
        poses = np.stack([self.robot.frame_pose(f) for f in self._frames])
        R = poses[self._sphere_slot, :3, :3]
        p = poses[self._sphere_slot, :3, 3]
        slot = self._group_slot
        self._group_centres = (np.einsum('kij,kj->ki', poses[slot, :3, :3],
                                         self._group_centre_frame) + poses[slot, :3, 3])
        return np.einsum('kij,kj->ki', R, self.spheres.centers_frame) + p

    def _candidates(self, activation_m: float = np.inf, self_pairs: bool = True,
                    obstacles: bool = True) -> tuple[np.ndarray, ...]:
        """Self-collision and sphere-obstacle pairs closer than ``activation_m``.

        Returns:
            (clearance (c,) [m], normal (c, 3) from b to a, point_a (c, 3), point_b (c, 3),
            sphere_a (c,), sphere_b (c,) with -1 for an obstacle point, box (c,): obstacle
            index, -1 for a self-collision pair).
        """
        centres = self._sphere_centres()
        radii = self.spheres.radii_m
        groups = self._group_centres
        # Broadphase: body pairs whose bounding spheres are within reach.
        if self_pairs:
            g_delta = groups[self._group_pairs[:, 0]] - groups[self._group_pairs[:, 1]]
            g_clear = np.sqrt(np.einsum('ij,ij->i', g_delta, g_delta)) - self._group_pair_reach
            pairs = np.flatnonzero((g_clear < activation_m)[self._pair_group])
        else:
            pairs = np.zeros(0, dtype=int)
        a_idx, b_idx = self._pair_a[pairs], self._pair_b[pairs]
        delta = centres[a_idx] - centres[b_idx]
        dist = np.sqrt(np.einsum('ij,ij->i', delta, delta))
        clearance_all = dist - self._pair_reach[pairs]
        close = np.flatnonzero(clearance_all < activation_m)
        a_idx, b_idx = a_idx[close], b_idx[close]
        clearance = [clearance_all[close]]
        normal = [delta[close] / np.maximum(dist[close], 1e-9)[:, None]]
        point_a, point_b = [centres[a_idx]], [centres[b_idx]]
        sphere_a, sphere_b = [a_idx], [b_idx]
        box_index = [np.full(len(a_idx), -1)]
        for index, box in enumerate(self.obstacles if obstacles else ()):
            g_dist, _ = box_signed_distances(groups, *box)
            near_groups = (g_dist - self._group_radius - self.margin_m < activation_m) \
                & self._group_moving
            if not near_groups.any():
                continue
            m = np.flatnonzero(near_groups[self._sphere_group])
            d_box, grad = box_signed_distances(centres[m], *box)
            box_clearance = d_box - radii[m] - self.margin_m
            near = np.flatnonzero(box_clearance < activation_m)
            clearance.append(box_clearance[near])
            normal.append(grad[near])
            point_a.append(centres[m[near]])
            point_b.append(centres[m[near]] - d_box[near, None] * grad[near])
            sphere_a.append(m[near])
            sphere_b.append(np.full(len(near), -1))
            box_index.append(np.full(len(near), index))
        return tuple(np.concatenate(x) for x in (clearance, normal, point_a, point_b, sphere_a,
                                                 sphere_b, box_index))

    def _evaluate(self, cache: '_PairCache') -> tuple[np.ndarray, ...]:
        """Exact clearance, normal and witness points of the cached pairs at the last update.

        Only the spheres the cached pairs use are computed: this runs every tick.
        """
        centres = self.robot.frame_positions(cache.frames)
        point_a = centres[cache.local_a]
        point_b = np.empty_like(point_a)
        clearance = np.empty(len(point_a))
        normal = np.empty_like(point_a)
        own = cache.own
        if len(own):
            point_b[own] = centres[cache.local_b[own]]
            delta = point_a[own] - point_b[own]
            dist = np.sqrt(np.einsum('ij,ij->i', delta, delta))
            clearance[own] = dist - cache.reach[own]
            normal[own] = delta / np.maximum(dist, 1e-9)[:, None]
        for index, rows in cache.box_rows:
            d_box, grad = box_signed_distances(point_a[rows], *self.obstacles[index])
            clearance[rows] = d_box - cache.reach[rows]
            normal[rows] = grad
            point_b[rows] = point_a[rows] - d_box[:, None] * grad
        return clearance, normal, point_a, point_b

    def rows(self, capacity: int, gain_per_s: float) -> CollisionRows:
        """The ``capacity`` most critical collision rows at the robot's last update.

        Rows are sorted by clearance; pairs farther than ``activation_m`` are left out. A search
        over all pairs, with the activation distance widened by ``refresh_margin_m``, runs
        every ``refresh_ticks`` calls, alternately over the self-collision pairs and over the
        obstacle pairs; in between, only the pairs the searches kept are measured (exactly).
        A pair outside that set would have to close ``refresh_margin_m`` within
        ``2 * refresh_ticks`` ticks (4 cm in 20 ms = 2 m/s, above the link speeds the default
        velocity limits allow), so no pair within the activation distance is missed.
        """
        n = self.robot.nq
        if capacity == 0 or len(self.spheres.radii_m) == 0:
            return CollisionRows(np.zeros((0, n)), np.zeros(0), np.zeros(0))
        self._ticks_since_refresh += 1
        if self._cache is None or self._ticks_since_refresh >= self.refresh_ticks:
            # Self-collision pairs and obstacle pairs are searched on alternate refreshes, so
            # that no single tick pays for both searches.
            if self._cache is None:
                part = 'both'
            else:
                part = 'obstacles' if self._last_part == 'self' else 'self'
            self._cache = self._search(part)
            self._last_part = part
            self._ticks_since_refresh = 0
        cache = self._cache
        if len(cache.sphere_a) == 0:
            return CollisionRows(np.zeros((0, n)), np.zeros(0), np.zeros(0))
        sphere_a, sphere_b = cache.sphere_a, cache.sphere_b
        clearance, normal, point_a, point_b = self._evaluate(cache)
        within = np.flatnonzero(clearance < self.activation_m)
        if len(within) == 0:
            return CollisionRows(np.zeros((0, n)), np.zeros(0), np.zeros(0))
        active = (within[np.argpartition(clearance[within], capacity - 1)[:capacity]]
                  if len(within) > capacity else within)
        rows = self._row_jacobians(normal[active], sphere_a[active], sphere_b[active])
        return CollisionRows(rows, -gain_per_s * clearance[active], clearance[active])

    def _row_jacobians(self, normal: np.ndarray, sphere_a: np.ndarray, sphere_b: np.ndarray
                       ) -> np.ndarray:
        """Rows (k, n) of d(clearance)/dq = n^T (J_centre_a - J_centre_b).

        The clearance of two spheres (or a sphere and a fixed box) changes only through the
        motion of the centres along the normal, so the centre Jacobians are exact.
        """
        frame_jacobian = self.robot.frame_jacobian
        rows = np.empty((len(normal), self.robot.nq))
        for row in range(len(normal)):
            J = frame_jacobian(self._centre_frames[sphere_a[row]])[:3]
            if sphere_b[row] >= 0:
                J = J - frame_jacobian(self._centre_frames[sphere_b[row]])[:3]
            rows[row] = normal[row] @ J
        return rows

    def _search(self, part: str) -> '_PairCache':
        """Search pairs within the widened activation distance; renew one part of the cache.

        Args:
            part: ``'self'`` (self-collision pairs), ``'obstacles'`` (sphere-obstacle pairs)
                or ``'both'``. The other part keeps the pairs of its last search.
        """
        reach = self.activation_m + self.refresh_margin_m
        clearance, _, _, _, sphere_a, sphere_b, box_index = self._candidates(
            reach, self_pairs=part != 'obstacles', obstacles=part != 'self')
        renewed = ('self', 'obstacles') if part == 'both' else (part,)
        for name in renewed:
            mine = np.flatnonzero((box_index < 0) == (name == 'self'))
            closest = mine[np.argsort(clearance[mine])[:self.cache_size]]
            self._parts[name] = (sphere_a[closest], sphere_b[closest], box_index[closest])
        a, b, box = (np.concatenate(x) for x in zip(*self._parts.values()))
        return _PairCache(self, a, b, box)

    def invalidate(self) -> None:
        """Force the full pair search at the next :meth:`rows` (after a jump of the state)."""
        self._cache = None

    def min_clearance(self) -> float:
        """Smallest clearance (surface distance minus margin) over all candidate pairs [m]."""
        if len(self.spheres.radii_m) == 0:
            return float('inf')
        clearance = self._candidates()[0]
        return float(clearance.min()) if len(clearance) else float('inf')


class _PairCache:
    """The pairs kept by the last searches, with the index maps their evaluation needs."""

    def __init__(self, model: CollisionModel, sphere_a: np.ndarray, sphere_b: np.ndarray,
                 box_index: np.ndarray) -> None:
        self.sphere_a, self.sphere_b, self.box_index = sphere_a, sphere_b, box_index
        used = np.unique(np.concatenate([sphere_a, sphere_b[sphere_b >= 0]]))
        self.frames = [model._centre_frames[k] for k in used]   # centre frame per sphere
        self.local_a = np.searchsorted(used, sphere_a)
        self.local_b = np.where(sphere_b >= 0, np.searchsorted(used, np.maximum(sphere_b, 0)), -1)
        self.own = np.flatnonzero(box_index < 0)
        radii = model.spheres.radii_m
        self.reach = radii[sphere_a] + np.where(sphere_b >= 0, radii[np.maximum(sphere_b, 0)],
                                                0.0) + model.margin_m
        self.box_rows = [(int(i), np.flatnonzero(box_index == i))
                         for i in np.unique(box_index[box_index >= 0])]
