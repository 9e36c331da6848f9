"""``--disturb SPEC``: move the task's object during a run, and measure how fast tracking follows.

Specs:

* ``target:D@T`` moves the task's ``moved_object`` by ``D`` metres in a horizontal direction
  drawn from the run's seed, at simulated time ``T`` seconds (``target:0.1@3.0``); ``@T`` may
  be left out (``target:0.1``: at a random moment, as below);
* ``random``: 5-15 cm at a random moment of the motion (seeded): while the arm approaches the
  object (0.3-1.0 s, before the gripper is over it) when the program grasps it (or, for a
  welded cabinet, its drawer) or grasps nothing at all (it pushes its target), else while the
  arm carries the grasped object towards it (0.2-0.8 s after the first grasp; at 6 s if
  nothing is grasped by then), once the carried object is clear above the target (a tube
  still in its rack would be moved through). A target moved after the object was put down
  would drag the object along; that measures nothing.

The direction is drawn among 16 around the circle, starting from a seeded angle, and the first
one that keeps the object on the table, within reach and clear of every other object's
footprint and of the gripper is used (the least crowded one if none is clear): a teleported
object must not land inside another. A welded object with a drawer (the cabinet of the drawer
tasks) stays: its drawer moves instead, along its slide, by ``D`` (out or in, within its
travel); one without (the test-tube rack) is moved as a whole.

:class:`FollowMeter` measures "the controller's target follows within one camera frame": from
the disturbance, the time until the tracked pose of the moved object has moved by at least
80 % of the displacement along it, in simulated seconds, in camera frames delivered, and in
frames captured after the move (``follow_frames_showing``: 1 when the first frame that can show the
move is the one the tracker follows it in; the frame in flight at the moment of the move was
captured before it and is delivered one camera period later).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ['DisturbSpec', 'DisturbSpecError', 'DisturbTiming', 'FollowMeter',
           'PlannedDisturbance', 'disturbance_time', 'held_object_clear', 'moved_on_approach',
           'parse_disturb', 'plan_disturbance']

#: Range of a ``random`` displacement [m].
RANDOM_DISTANCE_M = (0.05, 0.15)
#: Moments [s] of a random disturbance: before the grasp of a grasped object, else after the
#: first grasp (while the object is carried to the moved target), or at the fallback time if
#: nothing is grasped by then.
RANDOM_BEFORE_GRASP_S = (0.3, 1.0)
RANDOM_AFTER_GRASP_S = (0.2, 0.8)
FALLBACK_S = 6.0
#: Largest displacement a spec may ask for [m].
MAX_DISTANCE_M = 0.3
#: Fraction of the displacement the tracked pose must cover to count as following.
FOLLOW_FRACTION = 0.8
#: Where a moved object may land (base frame, m): on the table, within the arm's reach.
LANDING_X_M = (0.25, 0.8)
LANDING_Y_M = (-0.45, 0.45)
CLEARANCE_M = 0.015
GRIPPER_CLEARANCE_M = 0.08
#: A target is moved only once a held object is this far above its top (or off it) [m]; the
#: move waits in steps of HELD_WAIT_STEP_S, at most HELD_WAIT_MAX_S.
HELD_ABOVE_M = 0.02
HELD_WAIT_STEP_S = 0.05
HELD_WAIT_MAX_S = 3.0

_TARGET = re.compile(r'^target:(?P<d>[0-9]*\.?[0-9]+)(?:@(?P<t>[0-9]*\.?[0-9]+))?$')


class DisturbSpecError(ValueError):
    """A ``--disturb`` spec that cannot be parsed (one line, naming the accepted forms)."""


@dataclass(frozen=True)
class DisturbSpec:
    """A parsed ``--disturb`` spec; None fields are drawn from the seed."""

    text: str
    distance_m: float | None = None
    at_s: float | None = None


@dataclass(frozen=True)
class PlannedDisturbance:
    """A disturbance resolved for one run.

    Attributes:
        spec: The spec text.
        at_s: Simulated time [s].
        target: The object moved (the task's moved object, or the drawer of a welded one).
        vector_m: Displacement (3,) [m], base frame.
        note: How it was chosen (direction, substitution).
    """

    spec: str
    at_s: float
    target: str
    vector_m: tuple[float, float, float]
    note: str = ''

    @property
    def distance_m(self) -> float:
        return float(np.linalg.norm(self.vector_m))

    def disturbance(self) -> Any:
        """The :class:`resem3d_sim.tasks.Disturbance` to apply."""
        from resem3d_sim.tasks import Disturbance
        return Disturbance(self.at_s, 'move_object', self.target, self.vector_m)


def parse_disturb(text: str) -> DisturbSpec:
    """Parse ``random`` or ``target:D[@T]``.

    Raises:
        DisturbSpecError: For anything else, a distance outside (0, 0.3] m or a time < 0.
    """
    if not isinstance(text, str):
        raise DisturbSpecError(f'disturb spec must be text, got {text!r}')
    spec = text.strip()
    if spec == 'random':
        return DisturbSpec(spec)
    match = _TARGET.match(spec)
    if match is None:
        raise DisturbSpecError(f'disturb spec {text!r}: expected "random" or "target:D@T" '
                               '(move the task\'s object by D m at T s, e.g. target:0.1@3.0)')
    distance = float(match['d'])
    if not 0.0 < distance <= MAX_DISTANCE_M:
        raise DisturbSpecError(f'disturb spec {text!r}: distance {distance:g} m must be in '
                               f'(0, {MAX_DISTANCE_M:g}]')
    at_s = float(match['t']) if match['t'] is not None else None
    return DisturbSpec(spec, distance, at_s)


def _footprint(env: Any, name: str) -> tuple[np.ndarray, float, float]:
    """(centre xy, radius, top z) of an object's own parts now, base frame."""
    info = env.object_info(name)
    T = env.pose(name)
    P = np.concatenate([info.part_points_obj(label, count=40) for label in info.labels])
    P = P @ T[:3, :3].T + T[:3, 3]
    lo, hi = P[:, :2].min(axis=0), P[:, :2].max(axis=0)
    centre = 0.5 * (lo + hi)
    return centre, float(np.max(np.linalg.norm(P[:, :2] - centre, axis=1))), \
        float(P[:, 2].max())


def held_object_clear(env: Any, target: str, held: set[str] | frozenset[str]) -> bool:
    """Whether every held object is clear of ``target``: above its top by
    ``HELD_ABOVE_M``, or outside its footprint. A target moved while the object is still in it
    (a test tube being lifted out of its rack) would be teleported through that object."""
    centre, radius, z_hi = _footprint(env, target)
    for name in held:
        if name == target or name not in env.objects:
            continue
        info = env.object_info(name)
        T = env.pose(name)
        P = np.concatenate([info.part_points_obj(label, count=40) for label in info.labels])
        P = P @ T[:3, :3].T + T[:3, 3]
        inside = np.linalg.norm(P[:, :2] - centre, axis=1) <= radius
        if np.any(inside & (P[:, 2] < z_hi + HELD_ABOVE_M)):
            return False
    return True


def _clearance(env: Any, name: str, shift: np.ndarray,
               held: set[str] | frozenset[str] = frozenset()) -> float:
    """Smallest gap [m] between the moved footprint and every other object (but the held
    ones, which are in the air) and the gripper, negative when it overlaps or leaves the
    landing area."""
    from resem3d_sim.objects import ObjectInfo

    centre, radius, z_hi = _footprint(env, name)
    c = centre + shift
    gap = min(0.2, c[0] - radius - LANDING_X_M[0], LANDING_X_M[1] - c[0] - radius,
              c[1] - radius - LANDING_Y_M[0], LANDING_Y_M[1] - c[1] - radius)
    for other, info in env.objects.items():
        if other in (name, 'table') or other in held or not isinstance(info, ObjectInfo) or \
                not info.labels:
            continue
        o_centre, o_radius, _ = _footprint(env, other)
        gap = min(gap, float(np.linalg.norm(c - o_centre)) - radius - o_radius - CLEARANCE_M)
    tool = env.world.T_base_tool()[:3, 3]
    if tool[2] < z_hi + 0.1:
        gap = min(gap, float(np.linalg.norm(c - tool[:2])) - radius - GRIPPER_CLEARANCE_M)
    return gap


@dataclass(frozen=True)
class DisturbTiming:
    """When a disturbance happens.

    Attributes:
        at_s: Simulated time [s]; with ``after_grasp`` set, the fallback time if nothing is
            grasped before it.
        after_grasp_s: None, or the delay [s] after the first grasp of the run.
        distance_m: Its distance [m].
    """

    at_s: float
    after_grasp_s: float | None
    distance_m: float


def moved_on_approach(targets: set[str], grasped: set[str]) -> bool:
    """Whether a random disturbance of ``targets`` (the moved object and its drawers) comes
    while the arm approaches it: the program grasps one of them, or grasps nothing at all (it
    acts on its target by contact, e.g. pushes a drawer shut); else it comes while the arm
    carries what it grasped to the target.

    Args:
        targets: The moved object and its drawers.
        grasped: The objects the program's ``grasped`` conditions name.
    """
    return bool(targets & grasped) or not grasped


def disturbance_time(spec: DisturbSpec, seed: int, grasped: bool) -> DisturbTiming:
    """When and how far the disturbance of a run goes, drawn from ``seed`` where the spec
    leaves them open (see the module docstring; ``grasped``: the task's program grasps the
    moved object, or the drawer of a moved cabinet, or acts on it without grasping
    anything)."""
    rng = np.random.default_rng([seed, 0xD15])
    distance = spec.distance_m if spec.distance_m is not None else \
        float(rng.uniform(*RANDOM_DISTANCE_M))
    if spec.at_s is not None:
        return DisturbTiming(round(spec.at_s, 3), None, distance)
    if grasped:
        return DisturbTiming(round(float(rng.uniform(*RANDOM_BEFORE_GRASP_S)), 3), None,
                             distance)
    return DisturbTiming(FALLBACK_S, round(float(rng.uniform(*RANDOM_AFTER_GRASP_S)), 3),
                         distance)


def plan_disturbance(spec: DisturbSpec, env: Any, seed: int, at_s: float, distance: float,
                     held: set[str] | frozenset[str] = frozenset()) -> PlannedDisturbance:
    """Resolve the displacement of a disturbance in the state of ``env`` now (call it at the
    moment of the disturbance: the landing spot must be clear then).

    Args:
        spec: The parsed spec.
        env: The run's :class:`resem3d_sim.tasks.TaskEnv`.
        seed: The run's seed (the direction is reproducible).
        at_s: Its time [s] (:func:`disturbance_time`).
        distance: Its distance [m].
        held: The objects in the gripper now (in the air: not obstacles where it lands).
    """
    rng = np.random.default_rng([seed, 0xD15, 1])
    target = env.task.moved_object
    info = env.object_info(target)
    slide = None if info.movable else \
        next((c for c in info.children if c.joint_type == 'slide'), None)
    if slide is not None:
        sign = 1.0 if rng.uniform() < 0.5 else -1.0
        opening = env.slide_opening_m(slide.name)
        low, high = slide.joint_range_m or (-math.inf, math.inf)
        if opening + sign * distance > high or opening + sign * distance < low:
            sign = -sign
        vector = sign * distance * env.slide_axis(slide.name)
        return PlannedDisturbance(spec.text, at_s, slide.name, tuple(float(v) for v in vector),
                                  f'{target} is welded: its {slide.name} slides '
                                  f'{"out" if sign > 0 else "in"} by {distance:.3f} m')
    start = float(rng.uniform(0.0, 2.0 * math.pi))
    best, best_gap = None, -math.inf
    for k in range(16):
        angle = start + k * 2.0 * math.pi / 16
        shift = distance * np.array([math.cos(angle), math.sin(angle)])
        gap = _clearance(env, target, shift, held)
        if gap > best_gap:
            best, best_gap = (angle, shift), gap
        if gap >= 0.0:
            break
    assert best is not None
    angle, shift = best
    note = (f'direction {math.degrees(angle) % 360:.0f} deg' +
            ('' if best_gap >= 0 else f' (no clear direction; least crowded, gap '
             f'{best_gap * 100:.1f} cm)'))
    return PlannedDisturbance(spec.text, at_s, target, (float(shift[0]), float(shift[1]), 0.0),
                              note)


class FollowMeter:
    """Time from a disturbance until the tracked pose of the moved object follows it.

    Args:
        planned: The disturbance.
        tracked_object: The tracked object that shows the move (its frame name), or None if
            the object is not tracked.
    """

    def __init__(self, planned: PlannedDisturbance, tracked_object: str | None) -> None:
        self.planned = planned
        self.tracked_object = tracked_object
        self.applied_s: float | None = None
        self.actual_m: np.ndarray | None = None
        self.p_before: np.ndarray | None = None
        self.frames = 0
        self.frames_showing = 0
        self.follow_s: float | None = None
        self.follow_frames: int | None = None
        self.follow_frames_showing: int | None = None
        self.moved_m = 0.0
        self.held = False

    def applied(self, t_s: float, actual_m: np.ndarray, p_tracked: np.ndarray | None,
                held: bool) -> None:
        """The disturbance happened at ``t_s``: the true displacement and the tracked position
        of the object just before."""
        self.applied_s = t_s
        self.actual_m = np.asarray(actual_m, dtype=float)
        self.p_before = None if p_tracked is None else np.array(p_tracked, dtype=float)
        self.held = held

    def frame(self, t_s: float, p_tracked: np.ndarray | None,
              stamp_s: float | None = None) -> None:
        """A camera frame was delivered and tracked at ``t_s``; ``p_tracked`` is the object's
        tracked position now; ``stamp_s`` is when the frame was captured (a frame captured
        before the disturbance, delivered after it, cannot show it)."""
        if self.applied_s is None or self.follow_s is not None or self.p_before is None \
                or p_tracked is None or self.actual_m is None:
            return
        self.frames += 1
        # A frame stamped at the very moment of the move was rendered before it: the loop
        # applies a disturbance due at t at the start of the tick that begins at t, and
        # renders at the end of the tick that ends at t (lab_tube_to_slot_4 seed 3: the
        # rack moved at 4.134 s, the frame stamped 4.134 s shows it where it was).
        if stamp_s is not None and stamp_s > self.applied_s:
            self.frames_showing += 1
        delta = np.asarray(p_tracked) - self.p_before
        self.moved_m = float(np.linalg.norm(delta))
        # Along the move: a tracked pose that moved as far the other way (a drawer's estimate
        # pushed in with the hand after the drawer was pulled out) has not followed it.
        distance = float(np.linalg.norm(self.actual_m))
        along = float(delta @ self.actual_m) / distance if distance > 0.0 else 0.0
        if along >= FOLLOW_FRACTION * distance:
            self.follow_s = t_s - self.applied_s
            self.follow_frames = self.frames
            self.follow_frames_showing = self.frames_showing if stamp_s is not None else None

    def to_json(self) -> dict[str, Any]:
        p = self.planned
        out: dict[str, Any] = {
            'spec': p.spec, 'object': p.target, 'at_s': p.at_s,
            'vector_m': [round(v, 4) for v in p.vector_m],
            'distance_m': round(p.distance_m, 4), 'note': p.note,
            'applied': self.applied_s is not None,
            'applied_s': None if self.applied_s is None else round(self.applied_s, 4),
            'actual_distance_m': None if self.actual_m is None else
            round(float(np.linalg.norm(self.actual_m)), 4),
            'tracked_object': self.tracked_object,
            'follow_fraction': FOLLOW_FRACTION,
            'follow_s': None if self.follow_s is None else round(self.follow_s, 4),
            'follow_frames': self.follow_frames,
            'follow_frames_showing': self.follow_frames_showing,
            'tracked_moved_m': round(self.moved_m, 4),
        }
        if self.applied_s is not None and self.held:
            out['note'] += '; the object was in the gripper'
        return out
