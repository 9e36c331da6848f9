"""The benchmark tasks: instruction, scene, success predicate, time limit, disturbances.

Every task needs a *specific part or region* of an object (a handle, a spout, a slot). Each
has a hand-written reference constraint program (``programs/<task>.json``) over ground-truth
parts, used to prove that the task is solvable with the project's controller and that its
success predicate is right; later these programs are the oracle's answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources

import numpy as np

import resem3d_constraints as rc

from .camera import CameraIntrinsics, RgbdCamera, add_camera, look_at
from .errors import SimInputError
from .objects import ObjectInfo, ParticleInfo, count_inside
from .plant import SimPlant
from .scenes import SCENES, SceneSpec
from .world import World

import mujoco  # noqa: E402,I100  (after .scenes/.world: they configure headless GL first)


@dataclass(frozen=True)
class SuccessResult:
    """Outcome of a success predicate: whether it holds, why, and the measured quantity."""

    success: bool
    reason: str
    value: float = math.nan


@dataclass(frozen=True)
class Disturbance:
    """Something done to the world at a given time of a run.

    Attributes:
        at_s: Simulated time of the disturbance [s].
        kind: ``move_object`` (teleport a free object by ``vector`` [m], base frame) or
            ``push_arm`` (external force ``vector`` [N] on ``target`` link for ``duration_s``).
        target: The object (move_object) or the robot link (push_arm).
        vector: Offset [m] or force [N], base frame.
        duration_s: Duration of a push [s].
    """

    at_s: float
    kind: str
    target: str
    vector: tuple[float, float, float]
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ('move_object', 'push_arm'):
            raise SimInputError(f'disturbance kind: unknown {self.kind!r}')
        values = (self.at_s, self.duration_s, *self.vector)
        if len(self.vector) != 3 or not all(math.isfinite(v) for v in values) or self.at_s < 0:
            raise SimInputError('disturbance: needs a time >= 0 and a finite 3-vector')


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task.

    Attributes:
        name: Unique name, ``<scene>_<what>``.
        scene: Scene name (a key of :data:`resem3d_sim.scenes.SCENES`).
        instruction: The instruction given to the system.
        paraphrases: At least two other wordings of it.
        time_limit_s: Simulated time allowed [s].
        success: Predicate on the physical state of the environment.
        moved_object: The object a disturbance moves (the target or the held object).
        prepare: Optional hook that sets up the task's initial state after the scene is built
            (e.g. opens a drawer); called by :meth:`TaskEnv.build` with the new environment,
            which it may change through ``env.world``. ``None`` (the default): the scene as
            laid out.
    """

    name: str
    scene: str
    instruction: str
    paraphrases: tuple[str, ...]
    time_limit_s: float
    success: Callable[['TaskEnv'], SuccessResult]
    moved_object: str
    prepare: Callable[['TaskEnv'], None] | None = None

    def reference_program(self) -> rc.ConstraintProgram:
        """The hand-written reference program of the task (package data)."""
        text = resources.files(__package__).joinpath('programs', f'{self.name}.json').read_text()
        return rc.parse_program(text)


CAMERA_NAME = 'd435'
# A fixed RealSense looking at the table from the front left, over the objects at the robot.
CAMERA_EYE_M = (1.15, -0.55, 0.75)
CAMERA_TARGET_M = (0.5, 0.0, 0.05)


class TaskEnv:
    """A task's world at a seed: the scene, the physics, and the plant the controller drives.

    Use :meth:`build`.
    """

    def __init__(self, task: TaskSpec, seed: int, scene: SceneSpec, world: World,
                 objects: Mapping[str, object]) -> None:
        self.task, self.seed, self.scene, self.world = task, seed, scene, world
        self.objects = objects
        self.plant = SimPlant(world, objects)

    @classmethod
    def build(cls, task: TaskSpec, seed: int = 0) -> 'TaskEnv':
        """Build the task's scene at ``seed`` (object poses randomised within stated ranges).

        Raises:
            SimInputError: for a negative or non-integer seed.
        """
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SimInputError(f'seed: expected an integer >= 0, got {seed!r}')
        scene = SCENES[task.scene](seed)
        objects: dict[str, object] = {}

        def add_objects(spec) -> None:
            objects.update(scene.add_objects(spec))
            add_camera(spec, CAMERA_NAME, look_at(CAMERA_EYE_M, CAMERA_TARGET_M),
                       CameraIntrinsics())

        world = World.build(add_objects=add_objects, seed=seed)
        world.reset()
        env = cls(task, seed, scene, world, objects)
        if task.prepare is not None:
            task.prepare(env)
        return env

    def camera(self, **kwargs) -> RgbdCamera:
        """The scene's RGB-D camera (640x480, RealSense-like); close it after use."""
        return RgbdCamera(self.world.model, self.world.data, CAMERA_NAME, **kwargs)

    def slide_opening_m(self, name: str) -> float:
        """Position [m] of the slide joint of object ``name`` (a drawer's opening)."""
        joint = self.world.model.joint(self.object_info(name).joint_name)
        return float(self.world.data.qpos[joint.qposadr[0]])

    def object_info(self, name: str) -> ObjectInfo:
        info = self.objects[name]
        assert isinstance(info, ObjectInfo)
        return info

    def pose(self, name: str) -> np.ndarray:
        """Current pose (4, 4) of an object's body in the base frame."""
        return self.world.body_pose(self.object_info(name).body_name)

    def apply(self, disturbance: Disturbance) -> None:
        """Apply a disturbance now.

        ``move_object`` teleports a free object by its vector, and a welded one (a rack) with
        it; an object on a slide joint (a drawer) moves along its slide by the vector's
        component on the slide axis, within the joint's range.
        """
        if disturbance.kind == 'move_object':
            info = self.object_info(disturbance.target)
            if info.joint_type == 'slide':
                self._slide_by(info, np.asarray(disturbance.vector, dtype=float))
                return
            T = self.pose(disturbance.target).copy()
            T[:3, 3] += disturbance.vector
            if info.movable:
                self.world.set_body_pose(info.body_name, T)
            else:
                self.world.move_welded_body(info.body_name, T)
        else:
            self.world.apply_arm_push(np.asarray(disturbance.vector, dtype=float),
                                      disturbance.duration_s, disturbance.target)

    def slide_axis(self, name: str) -> np.ndarray:
        """Unit axis (3,) of the slide joint of object ``name`` in the base frame."""
        info = self.object_info(name)
        joint = self.world.model.joint(info.joint_name)
        body = self.world.data.body(info.body_name)
        return body.xmat.reshape(3, 3) @ np.asarray(joint.axis, dtype=float)

    def _slide_by(self, info: ObjectInfo, vector: np.ndarray) -> None:
        joint = self.world.model.joint(info.joint_name)
        data = self.world.data
        low, high = info.joint_range_m or (-np.inf, np.inf)
        q = float(data.qpos[joint.qposadr[0]]) + float(vector @ self.slide_axis(info.name))
        data.qpos[joint.qposadr[0]] = min(max(q, low), high)
        data.qvel[joint.dofadr[0]] = 0.0
        mujoco.mj_forward(self.world.model, data)

    def success(self) -> SuccessResult:
        """The task's success predicate on the current physical state."""
        return self.task.success(self)


def _tilt_deg(T_base_obj: np.ndarray) -> float:
    """Angle [deg] between an object's z axis and the base z axis."""
    return math.degrees(math.acos(max(-1.0, min(1.0, float(T_base_obj[2, 2])))))


# --- success predicates ----------------------------------------------------------------------

def resting_on(obj: str, support: str, radius_m: float, max_tilt_deg: float = 10.0
               ) -> Callable[[TaskEnv], SuccessResult]:
    """``obj`` stands upright on ``support``: within ``radius_m`` of its centre (xy), at most
    3 cm above it, tilted less than ``max_tilt_deg``, not moving, and not in the gripper."""
    def predicate(env: TaskEnv) -> SuccessResult:
        T_obj, T_support = env.pose(obj), env.pose(support)
        offset = float(np.linalg.norm(T_obj[:2, 3] - T_support[:2, 3]))
        height = float(T_obj[2, 3] - T_support[2, 3])
        tilt = _tilt_deg(T_obj)
        if env.world.gripper_grasping:
            return SuccessResult(False, f'{obj} is still in the gripper', offset)
        if tilt > max_tilt_deg:
            return SuccessResult(False, f'{obj} tilted {tilt:.0f} deg', offset)
        if not (-0.005 < height < 0.03):
            return SuccessResult(False, f'{obj} is {height * 100:.1f} cm above {support}', offset)
        if offset > radius_m:
            return SuccessResult(False, f'{obj} is {offset * 100:.1f} cm from the centre of '
                                 f'{support} (allowed {radius_m * 100:.0f} cm)', offset)
        return SuccessResult(True, f'{obj} rests on {support} ({offset * 100:.1f} cm off centre)',
                             offset)
    return predicate


def particles_inside(particles: str, container: str, min_fraction: float = 0.8
                     ) -> Callable[[TaskEnv], SuccessResult]:
    """At least ``min_fraction`` of the particle set is inside ``container``."""
    def predicate(env: TaskEnv) -> SuccessResult:
        info = env.objects[particles]
        assert isinstance(info, ParticleInfo)
        inside = count_inside(env.world.model, env.world.data, env.object_info(container), info)
        fraction = inside / info.count
        return SuccessResult(fraction >= min_fraction,
                             f'{inside} of {info.count} {particles} particles in {container} '
                             f'({fraction:.0%}, needs {min_fraction:.0%})', fraction)
    return predicate


def slid_open(obj: str, min_m: float) -> Callable[[TaskEnv], SuccessResult]:
    """The slide joint of ``obj`` (a drawer) is open by at least ``min_m``."""
    def predicate(env: TaskEnv) -> SuccessResult:
        opening = env.slide_opening_m(obj)
        return SuccessResult(opening >= min_m, f'{obj} open {opening * 100:.1f} cm (needs '
                             f'{min_m * 100:.0f} cm)', opening)
    return predicate


def slid_closed(obj: str, max_m: float) -> Callable[[TaskEnv], SuccessResult]:
    """The slide joint of ``obj`` (a drawer) is open by at most ``max_m`` (pushed shut)."""
    def predicate(env: TaskEnv) -> SuccessResult:
        opening = env.slide_opening_m(obj)
        return SuccessResult(opening <= max_m, f'{obj} open {opening * 100:.1f} cm (at most '
                             f'{max_m * 100:.0f} cm allowed)', opening)
    return predicate


def open_slide(obj: str, opening_m: float) -> Callable[[TaskEnv], None]:
    """A :attr:`TaskSpec.prepare` hook: start with the slide joint of ``obj`` (a drawer) open
    by ``opening_m``, at rest."""
    def prepare(env: TaskEnv) -> None:
        info = env.object_info(obj)
        joint = env.world.model.joint(info.joint_name)
        env.world.data.qpos[joint.qposadr[0]] = opening_m
        env.world.data.qvel[joint.dofadr[0]] = 0.0
        mujoco.mj_forward(env.world.model, env.world.data)
    return prepare


def resting_on_part(obj: str, support: str, part: str, margin_m: float = 0.0,
                    max_tilt_deg: float = 10.0) -> Callable[[TaskEnv], SuccessResult]:
    """``obj`` stands upright on the part ``support/part`` (e.g. a cabinet's top panel): its
    origin over that part's extent in the support's frame (xy, shrunk by ``margin_m``), at
    most 3 cm above the part's highest point, tilted less than ``max_tilt_deg``, and not in
    the gripper."""
    def predicate(env: TaskEnv) -> SuccessResult:
        info = env.object_info(support)
        points = info.part_points_obj(f'{support}/{part}')
        lo, hi = points.min(axis=0), points.max(axis=0)
        T_obj, T_support = env.pose(obj), env.pose(support)
        p = T_support[:3, :3].T @ (T_obj[:3, 3] - T_support[:3, 3])
        outside = float(np.max(np.maximum(lo[:2] + margin_m - p[:2], p[:2] - hi[:2] + margin_m)))
        height = float(p[2] - hi[2])
        tilt = _tilt_deg(T_obj)
        if env.world.gripper_grasping:
            return SuccessResult(False, f'{obj} is still in the gripper', outside)
        if tilt > max_tilt_deg:
            return SuccessResult(False, f'{obj} tilted {tilt:.0f} deg', outside)
        if not (-0.005 < height < 0.03):
            return SuccessResult(False, f'{obj} is {height * 100:.1f} cm above {support}/{part}',
                                 outside)
        if outside > 0.0:
            return SuccessResult(False, f'{obj} is {outside * 100:.1f} cm beyond the edge of '
                                 f'{support}/{part} (margin {margin_m * 100:.0f} cm)', outside)
        return SuccessResult(True, f'{obj} rests on {support}/{part}', outside)
    return predicate


# lab predicates

def standing_in(obj: str, part: str, radius_m: float, max_height_m: float,
                max_tilt_deg: float = 10.0) -> Callable[[TaskEnv], SuccessResult]:
    """``obj`` stands in the hole of ``part`` (``holder/part``, e.g. a rack slot): its origin
    within ``radius_m`` (xy, holder frame) of the part's centroid, at most ``max_height_m``
    above the holder's origin (inserted, not resting on top), tilted less than
    ``max_tilt_deg``, and not in the gripper."""
    holder = part.split('/')[0]

    def predicate(env: TaskEnv) -> SuccessResult:
        centroid = env.object_info(holder).region(part).centroid_obj
        T_holder = env.pose(holder)
        T_obj = env.pose(obj)
        p = T_holder[:3, :3].T @ (T_obj[:3, 3] - T_holder[:3, 3])
        offset = float(np.linalg.norm(p[:2] - centroid[:2]))
        tilt = _tilt_deg(T_obj)
        if env.world.gripper_grasping:
            return SuccessResult(False, f'{obj} is still in the gripper', offset)
        if offset > radius_m:
            return SuccessResult(False, f'{obj} is {offset * 100:.1f} cm from {part} (allowed '
                                 f'{radius_m * 100:.1f} cm)', offset)
        if p[2] > max_height_m:
            return SuccessResult(False, f'{obj} is {p[2] * 100:.1f} cm above {holder} (not '
                                 f'inserted; at most {max_height_m * 100:.1f} cm)', offset)
        if tilt > max_tilt_deg:
            return SuccessResult(False, f'{obj} tilted {tilt:.0f} deg', offset)
        return SuccessResult(True, f'{obj} stands in {part} ({offset * 100:.1f} cm off centre)',
                             offset)
    return predicate
