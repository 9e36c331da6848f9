"""The closed loop of ``resem3d run``: physics and control at 1 kHz, camera and tracking at 15 Hz.

:class:`ClosedLoop` is the plant that ``resem3d_controller.executor.run_stage`` drives, one
1 ms tick at a time, in simulated time:

* **physics**: one ``World.step`` per tick with the controller's joint velocities and gripper
  command; scheduled disturbances are applied when their time comes;
* **camera**: a frame of the simulated RealSense is submitted every 1/15 s to a
  :class:`~resem3d_sim.render_worker.RenderWorker` (a second process, beside the physics) and
  collected one camera period later, just before the next is submitted: a frame showing the
  state at ``stamp_s`` is delivered at ``stamp_s + 1/15 s`` (a fixed latency in simulated time,
  so that runs are reproducible; the loop waits for the render process if it is late);
* **perception**: on every delivered frame, the depth image becomes a cloud in the base frame
  (``depth_to_cloud``) and :class:`Perception` re-estimates every grounded object's pose
  (``MultiTracker``: local ICP of the point model captured at grounding). A lost track is
  searched for around its last pose (:meth:`Perception.redetect`). The constraint scene's object
  poses come from these tracks, never from the simulator;
* **proprioception** every tick: the tool pose, the finger width and the gripper's grasp flag
  (what the arm and the gripper report). When the gripper reports a grasp, the tracked object
  with model points nearest the TCP is attached to the tool (in the tracker and the scene); it
  is detached, and tracked visually again, when the gripper lets go.

:class:`Progress` prints the live progress line.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

import resem3d_constraints as rc

from resem3d_perception import invert_rigid as invert

__all__ = ['ClosedLoop', 'LoopConfig', 'Perception', 'Progress', 'SlideJoint', 'percentile']


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile of ``values`` (None when empty), rounded to 3 decimals."""
    array = np.asarray(list(values), dtype=float)
    return None if array.size == 0 else round(float(np.percentile(array, q)), 3)


@dataclass(frozen=True)
class LoopConfig:
    """Parameters of the loop (SI units).

    Attributes:
        camera_hz: Camera (and tracking) rate [Hz]; a frame is delivered one period after the
            state it shows.
        grasp_search_m: A tracked object with a model point this close to the TCP is the one
            the gripper holds when it reports a grasp.
        redetect_radius_m: How far from its last pose a lost object is searched for.
        redetect_step_m: Grid step of that search.
        redetect_refine_rounds: Around a coarse grid cell the search refines at half the step,
            re-centring its window on the best offset up to this many times ...
        redetect_refine_slack: ... the best being the one with the least mean distance among
            those scoring within this much of the window's best score.
        icp_slide_free_margin: The pose ICP confirms a search's candidate at is replaced by the
            candidate's own when the camera sees through this fraction more of the model there
            (:meth:`_free_space`; ICP slides a flat plate back part of the way).
        redetect_every_frames: After a search that found nothing, an object is searched for
            again after this many frames, or at once if even less of it is seen ...
        redetect_moved_retries: ... or, when the camera sees through more than
            ``search_above_free_space`` of it (it has moved), on each frame until this many
            searches failed since the seen-through fraction last rose by that much.
        search_below_coverage: ... and only when less than this fraction of its model is
            seen at its last pose (see :meth:`Perception.update`).
        redetect_min_confidence: A candidate pose is accepted when the tracker's fit there is
            at least this confident ...
        redetect_min_gain: ... and explains at least this fraction more of the model than the
            last pose.
        redetect_grid_coverage: Where ICP does not confirm it, the grid search's pose stands
            if it explains at least this fraction of the model (and ``redetect_min_gain``
            more than the last pose).
        redetect_grid_free_before: ... and, for an object not on a slide joint, if the
            camera sees through at least this fraction of its model at its last pose, half as
            much at the grid's pose, and that explains ``redetect_min_gain`` more of it.
        keep_pose_margin: A tracked pose replaces the previous one only if it explains at
            least this much more of the model (see :meth:`Perception._keep_unless_better`).
        search_above_free_space: ... or when the camera sees through more than this fraction
            of its model at its last pose (:meth:`Perception._free_space`).
        free_space_margin_m: A model point is seen through when the measured surface at its
            pixel lies this far behind it [m].
        icp_follow_step_m: After the tracker took a pose this far from the last one, ICP
            runs again from there on the same frame ...
        icp_follow_passes: ... up to this many more times, while each pass moves the pose
            this far and explains at least as much of the model
            (:meth:`Perception._icp_follow`).
        slide_search_step_m: Step of the search along a slide joint (a drawer's opening,
            :meth:`Perception._slide_search`) [m].
        slide_gate_m: An object on a slide joint keeps its pose while the TCP is this close
            to it [m] ...
        slide_gate_coverage: ... unless the camera sees through it there (more than
            ``search_above_free_space``) and an opening explains this fraction of its model.
        refine_held: Refine the pose of a held object in the gripper from the camera (it
            turns in the fingers about the TCP under its weight: :meth:`Perception._pivot_held`),
            else it follows the tool rigidly from the grasp on.
        held_pivot_step_rad: Step of that search of turns about the TCP's axes ...
        held_pivot_rounds: ... for this many rounds of coordinate search per frame ...
        held_pivot_gain_m: ... taken when it lowers the model's mean depth residual by this
            much (:func:`_depth_cost`, capped at the tracker's ``inlier_m`` x 2), plus
            ``held_pivot_prior_m`` per radian turned away from the grasp ...
        held_pivot_max_rad: ... and leaves the grasp turned by at most this much in all;
            searched only while the object is tilted by at least ``held_pivot_min_tilt_rad``
            from how it was grasped (its weight turns it about the grasp then, as a beaker's
            when it pours) and at least ``held_pivot_min_seen`` of the model is seen (not a
            test tube inside the hand).
        gripper_gate_m: An object with a model point this close to the TCP (and not held)
            keeps its pose: the hand hides and touches it (unless it has left that pose).
        settle_s: Physics time after the last stage before the success predicate is read.
    """

    camera_hz: float = 15.0
    grasp_search_m: float = 0.04
    redetect_radius_m: float = 0.2
    redetect_step_m: float = 0.01
    redetect_refine_rounds: int = 4
    redetect_refine_slack: float = 0.005
    icp_slide_free_margin: float = 0.02
    redetect_every_frames: int = 15
    redetect_moved_retries: int = 3
    search_below_coverage: float = 0.6
    redetect_min_confidence: float = 0.6
    redetect_min_gain: float = 0.25
    redetect_grid_coverage: float = 0.8
    redetect_grid_free_before: float = 0.5
    keep_pose_margin: float = 0.05
    slide_search_step_m: float = 0.005
    search_above_free_space: float = 0.05
    free_space_margin_m: float = 0.006
    icp_follow_step_m: float = 0.01
    icp_follow_passes: int = 3
    slide_gate_m: float = 0.12
    slide_gate_coverage: float = 0.8
    refine_held: bool = True
    held_pivot_step_rad: float = math.radians(1.5)
    held_pivot_rounds: int = 3
    held_pivot_gain_m: float = 0.0002
    held_pivot_max_rad: float = math.radians(30.0)
    held_pivot_min_seen: float = 0.4
    held_pivot_min_tilt_rad: float = math.radians(20.0)
    held_pivot_prior_m: float = 0.006
    gripper_gate_m: float = 0.05
    settle_s: float = 0.5


@dataclass(frozen=True)
class SlideJoint:
    """A prismatic joint between two tracked objects (a drawer in its cabinet).

    Attributes:
        parent: The object the child slides in.
        T_parent_child_zero: (4, 4) pose of the child in the parent's frame at opening 0 [m].
        axis_parent: Unit slide axis (3,) in the parent's frame.
        range_m: Lowest and highest opening [m].
    """

    parent: str
    T_parent_child_zero: np.ndarray
    axis_parent: np.ndarray
    range_m: tuple[float, float]

    def pose_at(self, T_base_parent: np.ndarray, opening_m: float) -> np.ndarray:  # noqa: N803
        """The child's pose (4, 4) at ``opening_m`` (not clipped) with the parent at
        ``T_base_parent``."""
        T = T_base_parent @ self.T_parent_child_zero
        T[:3, 3] += opening_m * (T_base_parent[:3, :3] @ self.axis_parent)
        return T

    def project(self, T_base_child: np.ndarray,  # noqa: N803
                T_base_parent: np.ndarray) -> np.ndarray:  # noqa: N803
        """The pose on the joint nearest ``T_base_child``: the opening is the child's
        displacement from its zero pose along the axis, clipped to the range; rotation and
        the other two directions are the joint's. (ICP of a drawer next to the hand slides
        its front within its own plane or tilts it; the joint allows neither.)"""
        T_zero = T_base_parent @ self.T_parent_child_zero
        axis = T_base_parent[:3, :3] @ self.axis_parent
        low, high = self.range_m
        opening = float(axis @ (T_base_child[:3, 3] - T_zero[:3, 3]))
        return self.pose_at(T_base_parent, min(max(opening, low), high))

    def openings(self, step_m: float) -> np.ndarray:
        """Openings [m] every ``step_m`` across the range (ends included)."""
        low, high = self.range_m
        count = max(2, int(math.ceil((high - low) / step_m)) + 1)
        return np.linspace(low, high, count)


class Perception:
    """The tracked objects of a run and their poses (base frame).

    Args:
        tracker_config: A ``resem3d_perception.TrackerConfig``.
        config: The loop parameters (re-detection).
    """

    def __init__(self, tracker_config: Any, config: LoopConfig) -> None:
        import dataclasses

        from resem3d_perception import MultiTracker
        if tracker_config.refine_held:     # held objects are refined here (_pivot_held)
            tracker_config = dataclasses.replace(tracker_config, refine_held=False)
        self.tracker = MultiTracker(tracker_config)
        self.config = config
        self.track_ms: list[float] = []        # cloud + every track, per frame
        self.frames = 0
        self.lost_frames: dict[str, int] = {}
        self.redetections: dict[str, int] = {}
        self.redetect_ms: list[float] = []
        self._since_search: dict[str, int] = {}
        self.last_results: dict[str, Any] = {}
        self.kept: dict[str, int] = {}
        # object -> (coverage, seen-through fraction) at its last search that found nothing
        self._search_floor: dict[str, tuple[float, float]] = {}
        self._fruitless: dict[str, int] = {}     # object -> failed searches (see update)
        self.gated: dict[str, int] = {}
        self._tool_obj: dict[str, np.ndarray] = {}
        self._grasp_tool_obj: dict[str, np.ndarray] = {}
        self._grasp_up: dict[str, np.ndarray] = {}     # object z axis at the grasp (base)
        self.refined_held: set[str] = set()
        self.slides: dict[str, SlideJoint] = {}

    @property
    def names(self) -> list[str]:
        return list(self.tracker.tracks)

    def ground(self, name: str, points_base: np.ndarray, T_base_obj: np.ndarray,  # noqa: N803
               stamp_s: float, camera_base: np.ndarray | None) -> None:
        """Track ``name`` from base-frame points seen now (replacing an earlier model)."""
        if name in self.tracker.tracks:
            self.tracker.remove(name)
        self.tracker.add(name, points_base, T_base_obj, stamp_s=stamp_s, camera_base=camera_base)
        self.lost_frames.setdefault(name, 0)
        self.redetections.setdefault(name, 0)

    def pose(self, name: str) -> np.ndarray:
        return self.tracker.tracks[name].T_base_obj

    def add_slide(self, child: str, joint: SlideJoint) -> None:
        """Track ``child`` (both it and ``joint.parent`` tracked) as sliding on ``joint``:
        every pose the tracker gives it is projected onto the joint (:meth:`SlideJoint.project`).
        """
        for name in (child, joint.parent):
            if name not in self.tracker.tracks:
                raise KeyError(f'add_slide: {name} is not tracked')
        self.slides[child] = joint

    def held(self, name: str) -> bool:
        return self.tracker.tracks[name].held

    def update(self, frame: Any, T_base_tool: np.ndarray) -> dict[str, Any]:  # noqa: N803
        """Track every object in ``frame`` (the tool pose is that of the frame's moment).

        Per object: a held one follows the tool (turned about the TCP where the camera shows
        it has turned in the fingers, :meth:`_pivot_held`); one next to the gripper keeps its
        pose (the hand hides and touches it: ICP would be pulled off); any other is updated
        by the tracker, under the hysteresis of :meth:`_keep_unless_better`. An object whose
        pose no longer explains its points (less than ``search_below_coverage`` of its model
        seen there, or, away from the gripper, more than ``search_above_free_space`` of it
        seen through: :meth:`_free_space`) is searched for around that pose (:meth:`redetect`):
        it was moved further than ICP reaches, or ICP took it only part of the way.

        Returns:
            Track results by object name.
        """
        from resem3d_perception import TrackResult, TrackStatus, depth_to_cloud
        start = time.perf_counter()
        cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
        tracks = self.tracker.tracks
        c = self.config
        before = {name: (T_base_tool @ self._tool_obj[name] if track.held else
                         track.T_base_obj.copy()) for name, track in tracks.items()}
        gated = {name for name, track in tracks.items()
                 if not track.held and self._near_tool(track, T_base_tool)}
        results = self.tracker.update(cloud, frame.stamp_s, T_base_tool,
                                      names=[n for n in tracks if n not in gated])
        self.refined_held = set()
        search: dict[str, float] = {}          # object -> coverage at its previous pose
        seen_through: dict[str, float] = {}    # object -> _free_space there, where computed
        for name, track in tracks.items():
            if name in gated:
                covered = self._coverages(name, cloud, [before[name]], T_base_tool)[0]
                results[name] = TrackResult(name, TrackStatus.TRACKING, before[name].copy(),
                                            covered, covered, stamp_s=frame.stamp_s,
                                            reason='next to the gripper: pose kept')
                self.gated[name] = self.gated.get(name, 0) + 1
                if covered < c.search_below_coverage:
                    search[name] = covered
                continue
            result = results[name]
            if track.held:
                if c.refine_held:
                    T_turned = self._pivot_held(name, frame, before[name], T_base_tool)
                    if T_turned is not None:
                        self._tool_obj[name] = invert(T_base_tool) @ T_turned
                        self.tracker.attach(name, T_base_tool, self._tool_obj[name])
                        self.refined_held.add(name)
                continue
            if result.ok:
                # Kept or taken, the pose is checked below: ICP takes a plate moved 6 cm only
                # part of the way, and the camera sees through the model there too.
                kept, covered = self._keep_unless_better(name, cloud, before[name],
                                                         T_base_tool)
                step_m = float(np.linalg.norm(track.T_base_obj[:3, 3] - before[name][:3, 3]))
                if not kept and step_m > c.icp_follow_step_m:
                    results[name], covered = self._icp_follow(name, cloud, frame.stamp_s,
                                                              T_base_tool, result, covered)
            else:
                self.lost_frames[name] = self.lost_frames.get(name, 0) + 1
                track.T_base_obj = before[name]
                covered = self._coverages(name, cloud, [before[name]], T_base_tool)[0]
            seen_through[name] = self._free_space(name, frame, track.T_base_obj)
            if covered < c.search_below_coverage or \
                    seen_through[name] > c.search_above_free_space:
                search[name] = covered
        for name in tracks:
            self._since_search[name] = self._since_search.get(name, 10 ** 6) + 1
            if name not in search:
                self._search_floor.pop(name, None)
                self._fruitless.pop(name, None)
        for name, covered in search.items():
            # After a search that found nothing (the object is hidden, not moved), search
            # again only when even less of it is seen, or after redetect_every_frames; but
            # one the camera sees through has moved: it is searched for on each frame until
            # redetect_moved_retries searches failed since the seen-through fraction last rose
            # (a plate moved against a neighbour settled over a frame in which nothing fitted;
            # one half hidden by the arm before it was moved had failed searches already).
            floor = self._search_floor.get(name)
            through = seen_through.get(name, 0.0)
            if floor is not None and through > floor[1] + c.search_above_free_space:
                self._fruitless[name] = 0
            moved = through > c.search_above_free_space and \
                self._fruitless.get(name, 0) < c.redetect_moved_retries
            if floor is not None and covered > floor[0] - 0.15 and not moved and \
                    self._since_search[name] < c.redetect_every_frames:
                continue
            self._since_search[name] = 0
            found = self.redetect(name, cloud, frame.stamp_s, T_base_tool, covered,
                                  grid_only=name in self.slides and name not in gated,
                                  frame=frame, free_before=seen_through.get(name))
            if found is not None:
                results[name] = found
                self._search_floor.pop(name, None)
                self._fruitless.pop(name, None)
            else:
                self._search_floor[name] = (covered, through)
                self._fruitless[name] = self._fruitless.get(name, 0) + 1
        for child, joint in self.slides.items():
            track = tracks[child]
            if track.held or child not in results:
                continue
            # Next to the hand, ICP and the search both slide it along the axis (the hand
            # hides the front and handle): it moves only when the hand pushes or pulls it
            # there, where the targets do not depend on its pose; unless the camera sees
            # through it there (a hand hides, it does not open a view): then it was moved
            # (pulled out towards the approaching hand), and an opening that explains
            # slide_gate_coverage of the model is taken.
            if self._near_tool(track, T_base_tool, c.slide_gate_m):
                T = joint.project(before[child], tracks[joint.parent].T_base_obj)
                if self._free_space(child, frame, T) > c.search_above_free_space:
                    T = self._slide_search(child, joint, cloud, T, T_base_tool,
                                           min_coverage=c.slide_gate_coverage)
            else:
                T = self._slide_search(child, joint, cloud, joint.project(
                    track.T_base_obj, tracks[joint.parent].T_base_obj), T_base_tool)
            track.T_base_obj = T
            results[child] = dataclasses.replace(results[child], T_base_obj=T.copy())
        self.track_ms.append((time.perf_counter() - start) * 1e3)
        self.frames += 1
        self.last_results = results
        return results

    def _slide_search(self, name: str, joint: SlideJoint, cloud: Any, T_now: np.ndarray,
                      T_base_tool: np.ndarray,  # noqa: N803
                      min_coverage: float = 0.0) -> np.ndarray:
        """The opening of a sliding object that explains most of its model.

        ICP of a drawer slid out by several centimetres stops short: its tray's sides and
        bottom still overlap along the axis, only the front and handle do not. Scoring the
        coverage (:meth:`_coverages`) at every ``slide_search_step_m`` of the joint's range,
        then at a fifth of that step around the best, finds it in one frame; the result
        replaces ``T_now`` only if it explains ``keep_pose_margin`` more of the model, and
        at least ``min_coverage`` of it.
        """
        c = self.config
        T_parent = self.tracker.tracks[joint.parent].T_base_obj
        coarse = joint.openings(c.slide_search_step_m)
        poses = [joint.pose_at(T_parent, s) for s in coarse]
        scores = self._coverages(name, cloud, [T_now] + poses, T_base_tool)
        now, scores = scores[0], np.asarray(scores[1:])
        best = float(coarse[int(np.argmax(scores))])
        low, high = joint.range_m
        fine = np.clip(best + np.linspace(-1.0, 1.0, 11) * c.slide_search_step_m, low, high)
        poses = [joint.pose_at(T_parent, s) for s in fine]
        fine_scores = self._coverages(name, cloud, poses, T_base_tool)
        k = int(np.argmax(fine_scores))
        if fine_scores[k] < max(now + c.keep_pose_margin, min_coverage):
            return T_now
        return poses[k]

    def _near_tool(self, track: Any, T_base_tool: np.ndarray,  # noqa: N803
                   radius_m: float | None = None) -> bool:
        """Whether a model point of the track lies within ``radius_m`` (default
        ``gripper_gate_m``) of the TCP."""
        radius = self.config.gripper_gate_m if radius_m is None else radius_m
        T = track.T_base_obj
        P = track.model_points_obj @ T[:3, :3].T + T[:3, 3]
        d2 = np.sum((P - T_base_tool[:3, 3]) ** 2, axis=1)
        return bool(float(d2.min()) < radius ** 2)

    def _coverages(self, name: str, cloud: Any, poses: list[np.ndarray],
                   T_base_tool: np.ndarray) -> list[float]:  # noqa: N803
        """The fraction of the track's model points with a cloud point within the tracker's
        ``inlier_m``, at each of ``poses`` (cloud points in the gripper's box left out)."""
        from scipy.spatial import cKDTree
        track = self.tracker.tracks[name]
        model = track.model_points_obj
        model = model[::max(1, len(model) // 300)]
        placed = [model @ T[:3, :3].T + T[:3, 3] for T in poses]
        lo = np.min([P.min(axis=0) for P in placed], axis=0) - 0.02
        hi = np.max([P.max(axis=0) for P in placed], axis=0) + 0.02
        near = _points_in_box(cloud, lo, hi)
        c = track.config
        q = (near - T_base_tool[:3, 3]) @ T_base_tool[:3, :3]
        near = near[(np.abs(q[:, 0]) > c.tool_half_thickness_m)
                    | (np.abs(q[:, 1]) > c.tool_half_width_m)
                    | (q[:, 2] < -c.tool_length_m) | (q[:, 2] > c.tool_front_m)]
        if len(near) == 0:
            return [0.0] * len(poses)
        if len(near) > 6000:
            near = near[::len(near) // 6000 + 1]
        tree = cKDTree(near, balanced_tree=False, compact_nodes=False)
        out = []
        for P in placed:
            d, _ = tree.query(P, distance_upper_bound=c.inlier_m)
            out.append(float(np.isfinite(d).mean()))
        return out

    def _free_space(self, name: str, frame: Any, T_base_obj: np.ndarray) -> float:  # noqa: N803
        """The fraction of the track's model points at ``T_base_obj`` that the camera sees
        through (:func:`_see_through_mask`)."""
        model = self.tracker.tracks[name].model_points_obj
        model = model[::max(1, len(model) // 300)]
        through = _see_through_mask(model @ T_base_obj[:3, :3].T + T_base_obj[:3, 3], frame,
                                    self.config.free_space_margin_m)
        return float(through.mean()) if len(through) else 0.0

    def _icp_follow(self, name: str, cloud: Any, stamp_s: float, T_base_tool: np.ndarray,
                    result: Any, covered: float) -> tuple[Any, float]:  # noqa: N803
        """Further ICP passes on the same frame after the tracker took a pose that moved.

        The tracker crops the cloud ``crop_margin_m`` around the predicted pose and matches
        within ``max_correspondence_m``: a plate moved 6 cm is taken 2-4 cm of the way in one
        pass, and followed over two or three frames. While a pass moves the pose by more than
        ``icp_follow_step_m`` and explains at least as much of the model (:meth:`_coverages`),
        another runs from there, up to ``icp_follow_passes``; a pass that explains less is
        undone.

        Returns:
            ``(the last track result taken, the coverage of the pose kept)``.
        """
        c = self.config
        track = self.tracker.tracks[name]
        for _ in range(c.icp_follow_passes):
            T_from = track.T_base_obj.copy()
            candidate = track.update(cloud, stamp_s, T_base_tool)
            if not candidate.ok:
                track.T_base_obj, track.status = T_from, type(track.status).TRACKING
                break
            new = self._coverages(name, cloud, [track.T_base_obj], T_base_tool)[0]
            if new < covered:
                track.T_base_obj = T_from
                break
            # (The track's velocity is now zero: its previous pose has this frame's stamp.
            # After a jump that is the safer prediction.)
            result, covered = candidate, new
            if float(np.linalg.norm(track.T_base_obj[:3, 3] - T_from[:3, 3])) \
                    <= c.icp_follow_step_m:
                break
        return dataclasses.replace(result, T_base_obj=track.T_base_obj.copy()), covered

    def _keep_unless_better(self, name: str, cloud: Any, T_before: np.ndarray,
                            T_base_tool: np.ndarray) -> tuple[bool, float]:  # noqa: N803
        """Hysteresis: keep the previous pose unless the new one explains clearly more of the
        model (its coverage, :meth:`_coverages`, larger by at least ``keep_pose_margin``).

        ICP's optimum drifts where the geometry leaves a direction free (a drawer front flush
        with its cabinet slides in its plane) or where something else enters the crop (an
        object put down on the support): a static object would wander by a centimetre or
        more. A real move leaves the previous pose empty and is taken at once.

        Returns:
            ``(whether the previous pose was kept, the coverage of the pose kept)``.
        """
        track = self.tracker.tracks[name]
        T_new = track.T_base_obj
        if float(np.linalg.norm(T_new[:3, 3] - T_before[:3, 3])) < 1e-6:
            return False, 1.0
        old, new = self._coverages(name, cloud, [T_before, T_new], T_base_tool)
        if new < old + self.config.keep_pose_margin:
            track.T_base_obj = T_before
            self.kept[name] = self.kept.get(name, 0) + 1
            return True, old
        return False, new

    def _pivot_held(self, name: str, frame: Any, T_grasp: np.ndarray,
                    T_base_tool: np.ndarray) -> np.ndarray | None:  # noqa: N803
        """A better pose of a held object, turned about the TCP, or None to keep ``T_grasp``.

        A held object creeps in the fingers by turning about the grasp under its weight
        while it is tilted (a beaker pinched by its wall when it pours; measured up to 13 deg
        over a pour), not by sliding out of it; carried upright it does not turn. The search:
        rounds of turns by +-``held_pivot_step_rad`` about each tool axis through the TCP,
        each kept when it lowers the projective depth residual of the model
        (:func:`_depth_cost`) by more than the turn away from the grasp costs. Written here
        rather than with the tracker's ICP: with the hand hiding part of the object, free
        6-DoF ICP converged onto the fingers or a neighbour below (3-5 cm, 25-35 deg off,
        measured in the pouring and test-tube tasks); a depth residual that ignores what the
        hand hides, and a turn about the grasp, do not.
        """
        from scipy.spatial.transform import Rotation
        c = self.config
        up_at_grasp = self._grasp_up[name]
        if float(T_grasp[:3, 2] @ up_at_grasp) > math.cos(c.held_pivot_min_tilt_rad):
            return None            # carried as it was grasped: nothing turns it
        track = self.tracker.tracks[name]
        model = track.model_points_obj
        model = model[::max(1, len(model) // 300)]
        tcp, R_tool = T_base_tool[:3, 3], T_base_tool[:3, :3]
        P_tcp = model @ T_grasp[:3, :3].T + T_grasp[:3, 3] - tcp   # about the TCP, base axes
        cap = 2.0 * track.config.inlier_m

        def turn(rotvec_tool: np.ndarray) -> np.ndarray:
            return R_tool @ Rotation.from_rotvec(rotvec_tool).as_matrix() @ R_tool.T

        R_grasp_tool = self._grasp_tool_obj[name][:3, :3]
        R_now_tool = R_tool.T @ T_grasp[:3, :3]

        def prior(rotvec_tool: np.ndarray) -> float:
            # The grasp is the prior: each radian turned from it costs held_pivot_prior_m, so
            # that a residual's noise does not walk an object that does not turn.
            R = Rotation.from_rotvec(rotvec_tool).as_matrix() @ R_now_tool
            return c.held_pivot_prior_m * _rotation_angle_rad(R_grasp_tool, R)

        def cost(rotvec_tool: np.ndarray) -> float | None:
            depth = _depth_cost(P_tcp @ turn(rotvec_tool).T + tcp, frame, cap)[0]
            return None if depth is None else depth + prior(rotvec_tool)

        best = np.zeros(3)
        start, seen = _depth_cost(P_tcp + tcp, frame, cap)
        if start is None or seen < c.held_pivot_min_seen:
            return None            # mostly hidden by the hand: too little to turn it by
        start += prior(best)
        best_cost = start
        for _ in range(c.held_pivot_rounds):
            moved = False
            for axis in range(3):
                for sign in (1.0, -1.0):
                    trial = best.copy()
                    trial[axis] += sign * c.held_pivot_step_rad
                    value = cost(trial)
                    if value is not None and value < best_cost - 1e-9:
                        best, best_cost, moved = trial, value, True
            if not moved:
                break
        if start - best_cost < c.held_pivot_gain_m:
            return None
        R = turn(best)
        T = T_grasp.copy()
        T[:3, :3] = R @ T_grasp[:3, :3]
        T[:3, 3] = R @ (T_grasp[:3, 3] - tcp) + tcp
        turned_rad = _rotation_angle_rad(R_grasp_tool, R_tool.T @ T[:3, :3])
        return T if turned_rad <= c.held_pivot_max_rad else None

    def redetect(self, name: str, cloud: Any, stamp_s: float, T_base_tool: np.ndarray,
                 covered: float = 0.0, grid_only: bool = False, frame: Any = None,
                 free_before: float | None = None) -> Any | None:  # noqa: N803
        """Search for a lost object around its last pose: score horizontal shifts of its model
        on a grid (the fraction of model points with a cloud point within 1 cm, among the
        cloud's points at the model's heights), refine the best cells at half the step, then
        let the tracker's ICP confirm them (with the depth ``frame``, the refinement follows
        the depth-aware score, and where ICP slides the model to a pose the camera sees
        through more, the refined pose stands). Objects stand on a support, so a lost one is
        looked for at the same height and yaw; ICP corrects the rest.

        A candidate is accepted when the fit there is confident and explains at least
        ``redetect_min_gain`` more of the model than the previous pose (``covered``): an object
        hidden by the arm is not "found" elsewhere. With the depth ``frame``, the grid scores
        lose the fraction of the model the camera sees through (:func:`_see_through_mask`), and
        a candidate the tracker accepts that explains as much of the model also stands where the
        camera sees through at most half as much of it as at the previous pose (a plate moved
        within its own footprint: its partial model still lies mostly on the moved disc, but the
        camera sees the table through the rest). With ``grid_only``, a grid pose that ICP does
        not confirm stands where it explains ``redetect_grid_coverage`` of the model. The caller
        allows that only for an object on a slide joint away from the gripper (a drawer slid out
        shows sides its model lacks, so ICP's fitness drops; the joint then keeps the pose on
        its axis): a free plate half hidden by a mug put down on it was "found" 7 cm off, and a
        drawer front next to closed fingers 11 cm along itself. A free object's grid pose stands
        without ICP only where the camera sees through ``redetect_grid_free_before`` of its
        model at the previous pose (it has left it: a hidden plate is not seen through), at most
        half as much at the grid pose, and that explains ``redetect_min_gain`` more.
        ``free_before``: that seen-through fraction at the previous pose, where the caller has
        it (:meth:`update` does), else it is computed here.

        Returns:
            The confirmed track result, or None (the track keeps its last pose).
        """
        from scipy.spatial import cKDTree

        from resem3d_perception import TrackResult, TrackStatus
        start = time.perf_counter()
        track = self.tracker.tracks[name]
        if track.held:
            return None
        c = self.config
        T0 = track.T_base_obj.copy()
        if frame is None:
            free_before = 0.0
        elif free_before is None:
            free_before = self._free_space(name, frame, T0)
        seen_half = 0.5 * free_before       # "half as much seen through" (both rules below)
        model = track.model_points_obj
        model = model[::max(1, len(model) // 150)]
        P = model @ T0[:3, :3].T + T0[:3, 3]
        centre = P[:, :2].mean(axis=0)
        reach = c.redetect_radius_m + float(np.max(np.linalg.norm(P[:, :2] - centre, axis=1)))
        scene = _points_in_box(cloud, np.array([centre[0] - reach, centre[1] - reach,
                                                P[:, 2].min() + 0.005]),
                               np.array([centre[0] + reach, centre[1] + reach,
                                         P[:, 2].max() + 0.01]))
        result = None
        if len(scene) >= 30:
            tree = cKDTree(scene)

            def scores(offsets: np.ndarray) -> np.ndarray:
                shifted = P[None, :, :].repeat(len(offsets), axis=0)
                shifted[:, :, :2] += offsets[:, None, :]
                distances, _ = tree.query(shifted.reshape(-1, 3), distance_upper_bound=0.01)
                near = np.isfinite(distances).reshape(len(offsets), -1).mean(axis=1)
                if frame is None:
                    return near
                through = _see_through_mask(shifted.reshape(-1, 3), frame,
                                            c.free_space_margin_m)
                return near - through.reshape(len(offsets), -1).mean(axis=1)

            def mean_distances(offsets: np.ndarray) -> np.ndarray:
                # Within the coarse winner's flat top of scores, the mean distance (capped
                # at 1 cm) centres the model on the points.
                shifted = P[None, :, :].repeat(len(offsets), axis=0)
                shifted[:, :, :2] += offsets[:, None, :]
                distances, _ = tree.query(shifted.reshape(-1, 3), distance_upper_bound=0.01)
                return np.minimum(distances, 0.01).reshape(len(offsets), -1).mean(axis=1)

            def refine(offset: np.ndarray) -> np.ndarray:
                # Around a coarse cell: the offset with the least mean distance among those
                # scoring within redetect_refine_slack of the best, the window re-centred there
                # until it stays (a flat plate moved 9 cm scored its best coarse cell 3 cm
                # short, and the true offset lay outside that cell's window). Without the
                # depth frame the scores are flat on the model's support: mean distance only.
                for _ in range(c.redetect_refine_rounds):
                    local = offset + fine
                    if frame is not None:
                        local_scores = scores(local)
                        local = local[local_scores >= local_scores.max() - c.redetect_refine_slack]
                    moved = local[int(np.argmin(mean_distances(local)))]
                    if frame is None or np.linalg.norm(moved - offset) < 0.5 * fine_step:
                        return moved
                    offset = moved
                return offset

            coarse = 2.0 * c.redetect_step_m
            steps = np.arange(-c.redetect_radius_m, c.redetect_radius_m + 1e-9, coarse)
            grid = np.array([(x, y) for x in steps for y in steps
                             if x * x + y * y <= c.redetect_radius_m ** 2])
            score = scores(grid)
            fine_step = c.redetect_step_m / 2.0
            fine_steps = np.arange(-coarse, coarse + 1e-9, fine_step)
            fine = np.array([(x, y) for x in fine_steps for y in fine_steps])
            tried: list[np.ndarray] = []
            for index in np.argsort(-score)[:12]:
                # With the see-through penalty a cell under the arm scores low but still ranks
                # first where the object is; without it, 0.2 keeps empty cells out.
                if score[index] < (0.2 if frame is None else 0.05) or len(tried) >= 3:
                    break
                if any(np.linalg.norm(grid[index] - t) < 0.04 for t in tried):
                    continue
                tried.append(grid[index])
                best = refine(grid[index])
                if np.linalg.norm(best) < 0.01:
                    continue              # where the tracker already failed
                T = T0.copy()
                T[:2, 3] += best
                track.T_base_obj = T
                candidate = track.update(cloud, stamp_s, T_base_tool)
                free_new = None                   # seen-through fraction at the candidate
                free_grid = None                  # ... and at the grid's pose
                if candidate.ok and frame is not None:
                    free_new = self._free_space(name, frame, track.T_base_obj)
                    free_grid = self._free_space(name, frame, T)
                    if free_new > free_grid + c.icp_slide_free_margin:
                        # ICP slid a flat object back part of the way (its disc still lies
                        # on the moved one within the inlier distance): the camera sees
                        # through the model there more than at the grid's pose, which stands.
                        track.T_base_obj = T.copy()
                        candidate = dataclasses.replace(candidate, T_base_obj=T.copy())
                        free_new = free_grid
                gain = self._coverages(name, cloud, [track.T_base_obj], T_base_tool)[0] - \
                    covered if candidate.ok else -1.0
                if (gain >= c.redetect_min_gain and
                        candidate.confidence >= c.redetect_min_confidence) or (
                        free_new is not None and gain >= -c.keep_pose_margin and
                        free_before > c.search_above_free_space and
                        free_new <= seen_half):
                    result = candidate
                    self.redetections[name] = self.redetections.get(name, 0) + 1
                    break
                # ICP can fail where the grid search did not: a drawer slid out shows its
                # sides, which its model (the front seen when closed) lacks, so the fit's
                # fitness, not its coverage, drops. The grid pose stands if it explains the
                # model well enough by itself. So it does for a free object that has left
                # its previous pose (the camera sees through most of it there) where the
                # camera sees through at most half as much: a bowl moved 13 cm under a
                # kettle pouring into it is half hidden at its new pose, and ICP's fit
                # there is not confident.
                left = frame is not None and free_before >= c.redetect_grid_free_before
                if not grid_only and not left:
                    continue
                grid_covered = self._coverages(name, cloud, [T], T_base_tool)[0]
                if grid_only:
                    need = max(covered + c.redetect_min_gain, c.redetect_grid_coverage)
                else:
                    need = covered + c.redetect_min_gain
                    if free_grid is None:
                        free_grid = self._free_space(name, frame, T)
                    if free_grid > seen_half:
                        continue
                if grid_covered >= need:
                    track.T_base_obj = T
                    track.status = type(track.status).TRACKING
                    result = TrackResult(name, TrackStatus.TRACKING, T.copy(), grid_covered,
                                         grid_covered, stamp_s=stamp_s,
                                         reason='re-detected by the grid search (ICP not '
                                                'confident)' + ('' if grid_only else
                                                               '; its last pose seen '
                                                               'through'))
                    self.redetections[name] = self.redetections.get(name, 0) + 1
                    break
        if result is None:
            track.T_base_obj = T0
            track.status = type(track.status).LOST
        self.redetect_ms.append((time.perf_counter() - start) * 1e3)
        return result

    def attach(self, name: str, T_base_tool: np.ndarray,  # noqa: N803
               T_base_obj: np.ndarray) -> None:  # noqa: N803
        """The gripper holds ``name`` (at pose ``T_base_obj`` now)."""
        track = self.tracker.tracks[name]
        track.T_base_obj = np.array(T_base_obj, dtype=float)
        self.tracker.attach(name, T_base_tool)
        self._tool_obj[name] = invert(T_base_tool) @ track.T_base_obj
        self._grasp_tool_obj[name] = self._tool_obj[name].copy()
        self._grasp_up[name] = track.T_base_obj[:3, 2].copy()

    def tool_obj(self, name: str) -> np.ndarray:
        """Pose (4, 4) of a held object in the tool frame (turned from the grasp's where the
        camera shows it turned in the fingers, :meth:`_pivot_held`)."""
        return self._tool_obj[name]

    def detach(self, name: str, T_base_obj: np.ndarray) -> None:  # noqa: N803
        """The gripper let go of ``name``, last at ``T_base_obj``."""
        self.tracker.detach(name)
        self.tracker.tracks[name].T_base_obj = np.array(T_base_obj, dtype=float)

    def nearest(self, p_base: np.ndarray, poses: Mapping[str, np.ndarray],
                within_m: float) -> str | None:
        """The tracked object with a model point nearest ``p_base`` (within ``within_m``)."""
        best, best_d = None, within_m
        for name, track in self.tracker.tracks.items():
            T = poses.get(name, track.T_base_obj)
            P = track.model_points_obj @ T[:3, :3].T + T[:3, 3]
            d = float(np.min(np.linalg.norm(P - p_base, axis=1)))
            if d < best_d:
                best, best_d = name, d
        return best


def _rotation_angle_rad(R_a: np.ndarray, R_b: np.ndarray) -> float:  # noqa: N803
    """Angle [rad] of the rotation between two rotation matrices (3, 3)."""
    cos_angle = (float(np.trace(R_a.T @ R_b)) - 1.0) / 2.0
    return math.acos(max(-1.0, min(1.0, cos_angle)))


def _depth_cost(points_base: np.ndarray, frame: Any, cap_m: float
                ) -> tuple[float | None, float]:
    """Mean projective depth residual [m] of model points placed in the base frame, and the
    fraction of them seen (the measured surface within ``cap_m`` of the point).

    Each point is projected into the frame's depth image: where the measured surface lies
    within ``cap_m`` of the point, it costs the depth difference; where it lies further
    behind, the point should have been seen (free space): it costs ``cap_m``; where something
    lies in front (the hand, the object's other side), it is hidden and costs ``cap_m / 2``,
    whatever the pose. None (and 0.0) when no point falls on a valid depth pixel.
    """
    z, measured = _measured_depth(points_base, frame)
    valid = np.isfinite(measured) & (measured > 0.0)
    if not np.any(valid):
        return None, 0.0
    residual = measured[valid] - z[valid]          # > 0: the surface is behind the point
    costs = np.where(residual < -cap_m, 0.5 * cap_m, np.minimum(np.abs(residual), cap_m))
    seen = float(np.count_nonzero(np.abs(residual) <= cap_m)) / len(z)
    return float((costs.sum() + 0.5 * cap_m * np.count_nonzero(~valid)) / len(z)), seen


def _see_through_mask(points_base: np.ndarray, frame: Any, margin_m: float) -> np.ndarray:
    """Which points (base frame) the camera sees through: projected into the frame's depth
    image, the measured surface lies more than ``margin_m`` behind them (points off the image
    or on invalid depth are not)."""
    z, measured = _measured_depth(points_base, frame)
    with np.errstate(invalid='ignore'):
        return np.isfinite(measured) & (measured - z > margin_m)


def _measured_depth(points_base: np.ndarray, frame: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each point's depth in the camera [m] and the frame's measured depth at its pixel [m]
    (NaN where the point falls off the image or behind the camera)."""
    from resem3d_perception import project_base_points
    depth = frame.depth_m
    uv, z = project_base_points(points_base, frame.intrinsics, frame.T_base_cam)
    h, w = depth.shape
    u = np.rint(uv[:, 0]).astype(int, copy=False)
    v = np.rint(uv[:, 1]).astype(int, copy=False)
    inside = (z > 1e-3) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    measured = np.full(len(z), np.nan)
    measured[inside] = depth[v[inside], u[inside]]
    return z, measured


def _points_in_box(cloud: Any, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(M, 3) float64 cloud points inside the axis-aligned box ``[lo, hi]`` (base frame):
    the box's corners are projected into the image and only the points of that pixel
    rectangle are tested (the cloud is organised in pixel order), as the tracker's crop."""
    from resem3d_perception import project_base_points
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                        for z in (lo[2], hi[2])])
    points = cloud.points_base
    uv, z = project_base_points(corners, cloud.intrinsics, cloud.T_base_cam)
    if np.all(z > 1e-3):
        u0, v0 = np.floor(uv.min(axis=0)).astype(int)
        u1, v1 = np.ceil(uv.max(axis=0)).astype(int) + 1
        points = points[cloud.crop_pixels(u0, v0, u1, v1)]
    keep = (points[:, 0] >= lo[0]) & (points[:, 0] <= hi[0])
    for axis in (1, 2):
        keep &= (points[:, axis] >= lo[axis]) & (points[:, axis] <= hi[axis])
    return points[keep].astype(float)


class Progress:
    """The live progress of a run on a terminal: one updating line on a TTY, else one line per
    stage (and per event). Silent with ``stream=None``."""

    def __init__(self, stream: TextIO | None, live: bool | None = None,
                 period_s: float = 0.25) -> None:
        self.stream = stream
        self.live = bool(live if live is not None else
                         (stream is not None and hasattr(stream, 'isatty') and stream.isatty()))
        self.period_s = period_s
        self._last = 0.0
        self._width = 0
        self.where = ''

    def _write(self, text: str, final: bool) -> None:
        if self.stream is None:
            return
        if self.live:
            pad = max(0, self._width - len(text))
            self.stream.write('\r' + text + ' ' * pad + ('\n' if final else ''))
            self._width = 0 if final else len(text)
        elif final:
            self.stream.write(text + '\n')
        self.stream.flush()

    def status(self, text: str, force: bool = False) -> None:
        """Update the live line (at most every ``period_s`` of wall time)."""
        now = time.perf_counter()
        if self.live and (force or now - self._last >= self.period_s):
            self._last = now
            self._write(text, False)

    def line(self, text: str) -> None:
        """A line that stays."""
        self._write(text, True)


class ClosedLoop:
    """The simulated robot, camera and perception as the executor's plant (see the module
    docstring).

    Args:
        env: The task's :class:`resem3d_sim.tasks.TaskEnv`.
        perception: The tracker of the run.
        config: Loop parameters.
        on_frame: Called with every delivered frame and its track results (recording).
    """

    def __init__(self, env: Any, perception: Perception, config: LoopConfig,
                 on_frame: Callable[[Any, dict[str, Any]], None] | None = None) -> None:
        from resem3d_sim.render_worker import RenderWorker
        from resem3d_sim.tasks import CAMERA_NAME
        self.env = env
        self.world = env.world
        self.perception = perception
        self.config = config
        self.on_frame = on_frame
        self.on_joint_state: Callable[[float, list[float], list[float]], None] | None = None
        self.camera = RenderWorker(env.world.model, CAMERA_NAME)
        self.period_s = 1.0 / config.camera_hz
        self.next_frame_s = math.inf              # set by start()
        self._in_flight_tool: np.ndarray | None = None
        self.stamp_s = 0.0                        # state time of the last tracked frame
        self.frames = 0
        self.camera_wait_ms: list[float] = []
        self.physics_us: list[float] = []
        self.scene: rc.SceneState | None = None
        self._fresh = False
        self.disturbances: list[tuple[float, Callable[[], None]]] = []
        self.frame_listeners: list[Callable[[float, float], None]] = []   # (now, stamp)
        self.event_listeners: list[Callable[[str], None]] = []
        self.gripper_issued = False
        self.events: list[dict[str, Any]] = []
        self.ticks = 0
        self._track_ok: dict[str, bool] = {}
        self._in_flight_truth: dict[str, np.ndarray] = {}
        self._truth0: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.tracking_error_m: dict[str, list[tuple[float, float]]] = {}

    # --- the protocol of resem3d_controller.executor.Plant ---------------------------------

    @property
    def t_s(self) -> float:
        return self.world.t_s

    @property
    def q_rad(self) -> np.ndarray:
        return self.world.q_rad

    def apply(self, command: Any) -> None:
        """One 1 ms tick: disturbances due, physics, camera schedule, perception."""
        while self.disturbances and self.disturbances[0][0] <= self.world.t_s:
            self.disturbances.pop(0)[1]()
        if command.gripper is not None:
            self.gripper_issued = True
        start = time.perf_counter()
        self.world.step(command.dq_rad_s, command.gripper)
        self.physics_us.append((time.perf_counter() - start) * 1e6)
        self.ticks += 1
        if self.on_joint_state is not None and self.ticks % 10 == 0:
            half = 0.5 * self.world.gripper_width_m
            self.on_joint_state(self.world.t_s, [*self.world.q_rad, half, half],
                                [*self.world.dq_rad_s, 0.0, 0.0])
        if self.world.t_s >= self.next_frame_s - 1e-9:
            self._camera_tick()

    def observe(self, scene: rc.SceneState) -> float:
        """Tool and gripper every tick; object poses from the last tracked frame; grasps.

        Returns:
            The state time of the frame the object poses come from.
        """
        world = self.world
        scene.T_base_tool = world.T_base_tool()
        scene.gripper_width_m = world.gripper_width_m
        grasping = world.gripper_grasping
        scene.gripper_grasping = grasping
        if self._fresh:
            self._fresh = False
            for name in self.perception.names:
                if name in scene.held:
                    if name in self.perception.refined_held:
                        scene.set_object_pose(name, scene.T_base_tool @
                                              self.perception.tool_obj(name))
                elif self.perception.last_results.get(name) is not None \
                        and self.perception.last_results[name].ok:
                    scene.set_object_pose(name, self.perception.pose(name))
        if grasping and not scene.held:
            poses = {name: scene.object_pose(name) for name in self.perception.names
                     if name in scene.T_base_obj}
            held = self.perception.nearest(scene.T_base_tool[:3, 3], poses,
                                           self.config.grasp_search_m)
            if held is not None:
                self.perception.attach(held, scene.T_base_tool, scene.object_pose(held))
                scene.grasp(held)
                self.event('grasp', f'gripper holds {held} '
                           f'(width {scene.gripper_width_m * 1e3:.1f} mm)')
        elif not grasping and scene.held:
            for name in sorted(scene.held):
                self.perception.detach(name, scene.object_pose(name))
                scene.release(name)
                self.event('release', f'gripper let go of {name}')
        return self.stamp_s

    # --- camera ---------------------------------------------------------------------------

    def first_frame(self) -> Any:
        """Render the state now (synchronously) and start the camera schedule after it."""
        frame = self.camera.render(self.world.data, model=self.world.model)
        self.stamp_s = frame.stamp_s
        self.next_frame_s = self.world.t_s + self.period_s
        return frame

    def fresh_frame(self) -> Any:
        """A frame of the state now, rendered synchronously (for re-grounding)."""
        if self.camera.busy:
            self._deliver(self.camera.wait())
        frame = self.camera.render(self.world.data, model=self.world.model)
        self.camera.render_ms.pop()      # not a frame of the 15 Hz stream
        return frame

    def _camera_tick(self) -> None:
        if self.camera.busy:
            start = time.perf_counter()
            frame = self.camera.wait()
            self.camera_wait_ms.append((time.perf_counter() - start) * 1e3)
            self._deliver(frame)
        self._in_flight_tool = self.world.T_base_tool()
        self._in_flight_truth = {name: self.env.pose(name) for name in self.perception.names
                                 if name in self.env.objects}
        self.camera.submit(self.world.data, self.world.model)
        self.next_frame_s += self.period_s

    def _deliver(self, frame: Any) -> None:
        tool = self._in_flight_tool if self._in_flight_tool is not None else \
            self.world.T_base_tool()
        results = self.perception.update(frame, tool)
        self._score(frame.stamp_s, self._in_flight_truth)
        for name, result in results.items():
            ok = result.ok
            if self._track_ok.get(name, True) != ok:
                self.event('track', f'{name} ' + ('tracked again' if ok else
                                                 f'lost: {result.reason}'))
            self._track_ok[name] = ok
        self.frames += 1
        self.stamp_s = frame.stamp_s
        self._fresh = True
        for listener in self.frame_listeners:
            listener(self.world.t_s, frame.stamp_s)
        if self.on_frame is not None:
            self.on_frame(frame, results)

    def ground_truth_reference(self, names: Iterable[str]) -> None:
        """Remember the simulator's poses of ``names`` now, when their tracks start (for
        :attr:`tracking_error_m` only: the loop never reads the simulator's object poses)."""
        for name in names:
            if name in self.env.objects:
                track = self.perception.tracker.tracks[name]
                centre = track.model_points_obj.mean(axis=0)
                self._truth0[name] = (self.env.pose(name), track.T_base_obj.copy(), centre)

    def _score(self, stamp_s: float, truth: Mapping[str, np.ndarray]) -> None:
        """Evaluation only: how far each track's model centre is from where the simulator
        has it (the motion since grounding applied to the grounded centre)."""
        for name, T_gt in truth.items():
            if name not in self._truth0:
                continue
            T_gt0, T_tr0, centre = self._truth0[name]
            p0 = T_tr0[:3, :3] @ centre + T_tr0[:3, 3]
            p_gt = T_gt[:3, :3] @ (T_gt0[:3, :3].T @ (p0 - T_gt0[:3, 3])) + T_gt[:3, 3]
            T = self.perception.pose(name)
            error = float(np.linalg.norm(T[:3, :3] @ centre + T[:3, 3] - p_gt))
            self.tracking_error_m.setdefault(name, []).append((round(stamp_s, 3), error))

    # --- the rest ---------------------------------------------------------------------------

    def event(self, kind: str, text: str) -> None:
        """Record an event of the run (grasps, disturbances, re-grounding...)."""
        self.events.append({'t_s': round(self.world.t_s, 4), 'kind': kind, 'text': text})
        for listener in self.event_listeners:
            listener(kind)

    def settle(self, seconds: float) -> None:
        """Let the world run with the arm still (objects come to rest)."""
        zero = np.zeros(len(self.world.q_rad))
        for _ in range(int(round(seconds / self.world.timestep_s))):
            self.world.step(zero)

    def close(self) -> None:
        """Collect the frame in flight and stop the render process."""
        try:
            if self.camera.busy:
                self.camera.wait()
        finally:
            self.camera.close()
