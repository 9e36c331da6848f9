# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""The grounded objects of a scene, tracked frame by frame, with the checks a live camera needs.

:class:`~resem3d_perception.tracking.MultiTracker` re-estimates each object's pose by local
ICP. Around it, :class:`SceneTracker` adds what keeps the poses trustworthy and following when
nothing but the camera says where objects are (the ROS perception node and the embedded loop of
``resem3d run`` both track with it):

* **lost tracks keep their pose**: a fit the tracker does not trust leaves the object where it
  was last seen (status LOST), instead of a drifting estimate;
* **hysteresis**: a new pose replaces the previous one only if it explains clearly more of the
  object's model (its *coverage*: the fraction of model points with a cloud point within the
  tracker's ``inlier_m``) by at least ``keep_pose_margin``. ICP's optimum wanders where the
  geometry leaves a direction free (a drawer front flush with its cabinet) or where something
  else enters the crop; a real move leaves the previous pose empty and is taken at once;
* **further ICP passes** on the same frame after a pose moved by more than
  ``icp_follow_step_m`` (one pass takes a plate moved 6 cm only part of the way);
* **gripper gating** (with the tool pose): an object with a model point within
  ``gripper_gate_m`` of the TCP keeps its pose: the hand hides and touches it, and its points
  would pull the fit;
* **searches**: an object whose pose no longer explains its points (too little of its model
  seen there, or the camera sees through it: :mod:`.depth_checks`) is searched for around that
  pose (:meth:`SceneTracker.redetect`, :mod:`.object_search`): someone moved it further than
  ICP reaches;
* **slide joints** (:mod:`.slide_joint`): a drawer stays on its cabinet's axis and is found
  along it;
* **held objects** follow the tool, turned about the TCP where the camera shows they turned in
  the fingers (:mod:`.held_pivot`).

Frames: ``base`` (robot base), ``obj`` (each object's frame), ``tool`` (the TCP).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .cloud import Cloud, depth_to_cloud, invert_rigid
from .depth_checks import depth_fit, see_through_mask
from .errors import PerceptionInputError
from .held_pivot import pivot_held
from .object_search import search_offsets
from .slide_joint import SlideJoint
from .tracking import MultiTracker, ObjectTrack, TrackerConfig, TrackResult, TrackStatus

__all__ = ['SceneTracker', 'SceneTrackingConfig']

# Model points used to score a pose (a subsample keeps scoring well under a millisecond).
_SCORE_POINTS = 300
# Model points placed by the grid search (fewer: it scores hundreds of shifts).
_SEARCH_POINTS = 150
# Cloud points scored against at most (a larger crop is subsampled).
_SCORE_CLOUD_POINTS = 6000


@dataclass(frozen=True)
class SceneTrackingConfig:
    """Checks around the tracker (SI units).

    Attributes:
        keep_pose_margin: A tracked pose replaces the previous one only if it explains at
            least this much more of the model (0 disables the hysteresis).
        gripper_gate_m: An object with a model point this close to the TCP (and not held)
            keeps its pose: the hand hides and touches it (0 disables the gate; it needs the
            tool pose).
        search_below_coverage: An object is searched for when less than this fraction of its
            model is seen at its last pose ...
        search_above_free_space: ... or when the camera sees through more than this fraction
            of its model there (:meth:`SceneTracker.free_space`).
        free_space_margin_m: A model point is seen through when the measured surface at its
            pixel lies this far behind it [m].
        redetect_radius_m: How far from its last pose a lost object is searched for [m].
        redetect_step_m: Grid step of that search [m].
        redetect_refine_rounds: Around a coarse grid cell the search refines at half the step,
            re-centring its window on the best offset up to this many times ...
        redetect_refine_slack: ... the best being the one with the least mean distance among
            those scoring within this much of the window's best score.
        icp_slide_free_margin: The pose ICP confirms a search's candidate at is replaced by the
            candidate's own when the camera sees through this fraction more of the model there
            (ICP slides a flat plate back part of the way) ...
        icp_slide_depth_margin_m: ... or when the model's mean depth residual there
            (:func:`.depth_cost`, capped at the tracker's ``inlier_m`` x 2) is this much
            larger [m].
        redetect_every_frames: After a search that found nothing, an object is searched for
            again after this many frames, or at once if even less of it is seen ...
        redetect_moved_retries: ... or, when the camera sees through more than
            ``search_above_free_space`` of it (it has moved), on each frame until this many
            searches failed since the seen-through fraction last rose by that much.
        redetect_min_confidence: A candidate pose is accepted when the tracker's fit there is
            at least this confident ...
        redetect_min_gain: ... and explains at least this fraction more of the model than the
            last pose.
        redetect_grid_coverage: Where ICP does not confirm it, the grid search's pose of an
            object on a slide joint stands if it explains at least this fraction of the model
            (and ``redetect_min_gain`` more than the last pose).
        redetect_grid_free_before: ... and, for an object not on a slide joint, if the
            camera sees through at least this fraction of its model at its last pose, half as
            much at the grid's pose, and that explains ``redetect_min_gain`` more of it.
        icp_follow_step_m: After the tracker took a pose this far from the last one [m], ICP
            runs again from there on the same frame ...
        icp_follow_passes: ... up to this many more times, while each pass moves the pose
            this far and explains at least as much of the model.
        slide_search_step_m: Step of the search along a slide joint (a drawer's opening) [m].
        slide_gate_m: An object on a slide joint keeps its pose while the TCP is this close
            to it [m] ...
        slide_gate_coverage: ... unless the camera sees through it there (more than
            ``search_above_free_space``) and an opening explains this fraction of its model.
        refine_held: Refine the pose of a held object in the gripper from the camera (it
            turns in the fingers about the TCP under its weight: :func:`.pivot_held`), else it
            follows the tool rigidly from the grasp on.
        held_pivot_step_rad: Step of that search of turns about the TCP's axes [rad] ...
        held_pivot_rounds: ... for this many rounds of coordinate search per frame ...
        held_pivot_gain_m: ... taken when it lowers the model's mean depth residual by this
            much [m] (capped at the tracker's ``inlier_m`` x 2), plus ``held_pivot_prior_m``
            per radian turned away from the grasp ...
        held_pivot_max_rad: ... and leaves the grasp turned by at most this much in all;
            searched only while the object is tilted by at least ``held_pivot_min_tilt_rad``
            from how it was grasped (its weight turns it about the grasp then, as a beaker's
            when it pours) and at least ``held_pivot_min_seen`` of the model is seen (not a
            test tube inside the hand).
    """

    keep_pose_margin: float = 0.05
    gripper_gate_m: float = 0.05
    search_below_coverage: float = 0.6
    search_above_free_space: float = 0.05
    free_space_margin_m: float = 0.006
    redetect_radius_m: float = 0.2
    redetect_step_m: float = 0.01
    redetect_refine_rounds: int = 4
    redetect_refine_slack: float = 0.005
    icp_slide_free_margin: float = 0.02
    icp_slide_depth_margin_m: float = 0.0005
    redetect_every_frames: int = 15
    redetect_moved_retries: int = 3
    redetect_min_confidence: float = 0.6
    redetect_min_gain: float = 0.25
    redetect_grid_coverage: float = 0.8
    redetect_grid_free_before: float = 0.5
    icp_follow_step_m: float = 0.01
    icp_follow_passes: int = 3
    slide_search_step_m: float = 0.005
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

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == 'bool':
                if not isinstance(value, bool):
                    raise PerceptionInputError(f'SceneTrackingConfig.{f.name} must be true or '
                                               f'false, got {value!r}')
                continue
            kind = int if f.type == 'int' else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) \
                    or not math.isfinite(value) or value < 0:
                what = 'an integer' if f.type == 'int' else 'a number'
                raise PerceptionInputError(f'SceneTrackingConfig.{f.name} must be {what} >= 0, '
                                           f'got {value!r}')
        for name in ('redetect_step_m', 'slide_search_step_m', 'held_pivot_step_rad'):
            if getattr(self, name) <= 0.0:
                raise PerceptionInputError(f'SceneTrackingConfig.{name} must be > 0, '
                                           f'got {getattr(self, name)!r}')


class SceneTracker:
    """Grounded objects and their tracked poses (base frame).

    Args:
        tracker: Tunables of the ICP tracker (its own ``refine_held`` is turned off: held
            objects are refined here, :func:`.pivot_held`).
        config: The checks around it.

    Attributes (counters for reports and diagnostics):
        track_ms: Time of each :meth:`update` (cloud and every object) [ms].
        frames: Frames tracked.
        lost_frames, redetections, kept, gated: Per object: frames the tracker lost it,
            searches that found it, updates the hysteresis held back, frames next to the
            gripper.
        redetect_ms: Time of each search [ms].
        refined_held: Held objects turned in the fingers by the last update.
        last_results: The last update's results by object name.
    """

    def __init__(self, tracker: TrackerConfig | None = None,
                 config: SceneTrackingConfig | None = None) -> None:
        tracker = tracker if tracker is not None else TrackerConfig()
        if tracker.refine_held:
            tracker = dataclasses.replace(tracker, refine_held=False)
        self.tracker = MultiTracker(tracker)
        self.config = config if config is not None else SceneTrackingConfig()
        self.track_ms: list[float] = []
        self.frames = 0
        self.lost_frames: dict[str, int] = {}
        self.redetections: dict[str, int] = {}
        self.redetect_ms: list[float] = []
        self.kept: dict[str, int] = {}
        self.gated: dict[str, int] = {}
        self.last_results: dict[str, TrackResult] = {}
        self.refined_held: set[str] = set()
        self.slides: dict[str, SlideJoint] = {}
        self._since_search: dict[str, int] = {}
        # object -> (coverage, seen-through fraction) at its last search that found nothing
        self._search_floor: dict[str, tuple[float, float]] = {}
        self._fruitless: dict[str, int] = {}     # object -> failed searches (see update)
        self._tool_obj: dict[str, np.ndarray] = {}
        self._grasp_tool_obj: dict[str, np.ndarray] = {}
        self._grasp_up: dict[str, np.ndarray] = {}     # object z axis at the grasp (base)

    # ------------------------------------------------------------------ objects
    @property
    def names(self) -> list[str]:
        """Names of the tracked objects."""
        return list(self.tracker.tracks)

    def pose(self, name: str) -> np.ndarray:
        """(4, 4) current pose of ``name`` in the base frame (the track's own array)."""
        return self.tracker.tracks[name].T_base_obj

    def poses(self) -> dict[str, np.ndarray]:
        """Object name -> (4, 4) current pose (copies)."""
        return self.tracker.poses()

    def held(self, name: str) -> bool:
        """Whether the gripper holds ``name``."""
        return self.tracker.tracks[name].held

    def ground(self, name: str, points_base: np.ndarray, T_base_obj: np.ndarray,  # noqa: N803
               *, stamp_s: float | None = None, camera_base: np.ndarray | None = None) -> None:
        """Track ``name`` from its points seen now (base frame), replacing an earlier model
        (what is known of it besides, its slide joint or grasp, stays).

        Raises:
            TrackingError: If the model has too few points.
            PerceptionInputError: On a bad pose or points.
        """
        if name in self.tracker.tracks:
            self.tracker.remove(name)
        self.tracker.add(name, points_base, T_base_obj, stamp_s=stamp_s, camera_base=camera_base)
        self.lost_frames.setdefault(name, 0)
        self.redetections.setdefault(name, 0)

    def remove(self, name: str) -> None:
        """Stop tracking ``name`` (no error if it is not tracked)."""
        if name in self.tracker.tracks:
            self.tracker.remove(name)
        for table in (self.last_results, self.slides, self._since_search, self._search_floor,
                      self._fruitless, self._tool_obj, self._grasp_tool_obj, self._grasp_up):
            table.pop(name, None)

    def add_slide(self, child: str, joint: SlideJoint) -> None:
        """Track ``child`` (both it and ``joint.parent`` tracked) as sliding on ``joint``:
        every pose the tracker gives it is projected onto the joint (:meth:`SlideJoint.project`).

        Raises:
            KeyError: If either object is not tracked.
        """
        for name in (child, joint.parent):
            if name not in self.tracker.tracks:
                raise KeyError(f'add_slide: {name} is not tracked')
        self.slides[child] = joint

    def attach(self, name: str, T_base_tool: np.ndarray,  # noqa: N803
               T_base_obj: np.ndarray) -> None:  # noqa: N803
        """The gripper holds ``name`` (at pose ``T_base_obj`` now)."""
        track = self.tracker.tracks[name]
        track.T_base_obj = np.array(T_base_obj, dtype=float)
        self.tracker.attach(name, T_base_tool)
        self._tool_obj[name] = invert_rigid(T_base_tool) @ track.T_base_obj
        self._grasp_tool_obj[name] = self._tool_obj[name].copy()
        self._grasp_up[name] = track.T_base_obj[:3, 2].copy()

    def tool_obj(self, name: str) -> np.ndarray:
        """Pose (4, 4) of a held object in the tool frame (turned from the grasp's where the
        camera shows it turned in the fingers, :func:`.pivot_held`)."""
        return self._tool_obj[name]

    def detach(self, name: str, T_base_obj: np.ndarray) -> None:  # noqa: N803
        """The gripper let go of ``name``, last at ``T_base_obj``."""
        self.tracker.detach(name)
        self.tracker.tracks[name].T_base_obj = np.array(T_base_obj, dtype=float)

    def nearest(self, p_base: np.ndarray, poses: Mapping[str, np.ndarray],
                within_m: float) -> str | None:
        """The tracked object with a model point nearest ``p_base`` (within ``within_m``),
        each placed at its pose in ``poses`` (else its tracked pose)."""
        best, best_d = None, within_m
        for name, track in self.tracker.tracks.items():
            T = poses.get(name, track.T_base_obj)
            P = track.model_points_obj @ T[:3, :3].T + T[:3, 3]
            d = float(np.min(np.linalg.norm(P - p_base, axis=1)))
            if d < best_d:
                best, best_d = name, d
        return best

    def results_by_status(self) -> Mapping[str, str]:
        """Object name -> status of its last update (``tracking``, ``lost``, ``held``)."""
        return {name: result.status.value for name, result in self.last_results.items()}

    # ------------------------------------------------------------------ one frame
    def update(self, depth: Any, T_base_tool: np.ndarray | None = None,  # noqa: N803
               cloud: Cloud | None = None) -> dict[str, TrackResult]:
        """Track every object in one depth frame.

        Per object: a held one follows the tool (turned about the TCP where the camera shows
        it has turned in the fingers, :func:`.pivot_held`); one next to the gripper keeps its
        pose (the hand hides and touches it: ICP would be pulled off); any other is updated
        by the tracker, under the hysteresis of :meth:`_keep_unless_better` and with further
        passes where it moved (:meth:`_icp_follow`). An object whose pose no longer explains
        its points (less than ``search_below_coverage`` of its model seen there, or, away
        from the gripper, more than ``search_above_free_space`` of it seen through:
        :meth:`free_space`) is searched for around that pose (:meth:`redetect`): it was
        moved further than ICP reaches, or ICP took it only part of the way. An object on a
        slide joint stays on it (:meth:`_slide_search`).

        Args:
            depth: The frame's depth image with its camera pose and stamp (a
                :class:`~.depth_checks.DepthImage`, or an object with its attributes).
            T_base_tool: (4, 4) TCP pose at the frame's time, if known (the gripper gate,
                the gripper's points left out of the crops, held objects: required while one
                is held).
            cloud: The frame's full-resolution cloud if the caller built it already (else it
                is built from ``depth``).

        Returns:
            Result by object name (with the pose kept where the tracker lost the object, it
            was gated or the new pose was not clearly better).

        Raises:
            PerceptionInputError: On a bad depth image or pose, or a held object without
                ``T_base_tool``.
        """
        start = time.perf_counter()
        if cloud is None:
            cloud = depth_to_cloud(depth.depth_m, depth.intrinsics, depth.T_base_cam)
        stamp_s = depth.stamp_s
        tracks = self.tracker.tracks
        c = self.config
        if T_base_tool is None and any(track.held for track in tracks.values()):
            raise PerceptionInputError('an object is held: update needs T_base_tool')
        before = {name: (T_base_tool @ self._tool_obj[name] if track.held else
                         track.T_base_obj.copy()) for name, track in tracks.items()}
        gated = {name for name, track in tracks.items()
                 if not track.held and self._near_tool(track, T_base_tool)}
        results = self.tracker.update(cloud, stamp_s, T_base_tool,
                                      names=[n for n in tracks if n not in gated])
        self.refined_held = set()
        search: dict[str, float] = {}          # object -> coverage at its previous pose
        seen_through: dict[str, float] = {}    # object -> free_space there, where computed
        jumped: set[str] = set()               # objects the tracker moved over a step
        for name, track in tracks.items():
            if name in gated:
                covered = self._coverages(name, cloud, [before[name]], T_base_tool)[0]
                results[name] = TrackResult(name, TrackStatus.TRACKING, before[name].copy(),
                                            covered, covered, stamp_s=stamp_s,
                                            reason='next to the gripper: pose kept')
                self.gated[name] = self.gated.get(name, 0) + 1
                if covered < c.search_below_coverage:
                    search[name] = covered
                continue
            result = results[name]
            if track.held:
                if c.refine_held:
                    self._refine_held(name, depth, before[name], T_base_tool)
                continue
            if result.ok:
                # Kept or taken, the pose is checked below: ICP takes a plate moved 6 cm only
                # part of the way, and the camera sees through the model there too.
                kept, covered = self._keep_unless_better(name, cloud, before[name],
                                                         T_base_tool)
                step_m = float(np.linalg.norm(track.T_base_obj[:3, 3] - before[name][:3, 3]))
                if kept:
                    results[name] = dataclasses.replace(
                        result, T_base_obj=before[name].copy(),
                        reason='not clearly better: pose kept')
                elif step_m > c.icp_follow_step_m:
                    jumped.add(name)
                    results[name], covered = self._icp_follow(name, cloud, stamp_s,
                                                              T_base_tool, result, covered)
            else:
                self.lost_frames[name] = self.lost_frames.get(name, 0) + 1
                track.T_base_obj = before[name]
                results[name] = dataclasses.replace(result, T_base_obj=before[name].copy())
                covered = self._coverages(name, cloud, [before[name]], T_base_tool)[0]
            seen_through[name] = self.free_space(name, depth, track.T_base_obj)
            if covered < c.search_below_coverage or \
                    seen_through[name] > c.search_above_free_space:
                search[name] = covered
        self._search(search, seen_through, gated, jumped, results, cloud, depth, T_base_tool)
        self._keep_on_slides(results, before, cloud, depth, T_base_tool)
        self.track_ms.append((time.perf_counter() - start) * 1e3)
        self.frames += 1
        self.last_results = results
        return results

    def _refine_held(self, name: str, depth: Any, T_grasp: np.ndarray,  # noqa: N803
                     T_base_tool: np.ndarray) -> None:  # noqa: N803
        """Turn a held object in the fingers where the camera shows it turned."""
        track = self.tracker.tracks[name]
        T_turned = pivot_held(track.model_points_obj, depth, T_grasp, T_base_tool,
                              self._grasp_tool_obj[name][:3, :3], self._grasp_up[name],
                              track.config.inlier_m, self.config)
        if T_turned is not None:
            self._tool_obj[name] = invert_rigid(T_base_tool) @ T_turned
            self.tracker.attach(name, T_base_tool, self._tool_obj[name])
            self.refined_held.add(name)

    def _search(self, search: Mapping[str, float], seen_through: Mapping[str, float],
                gated: set[str], jumped: set[str], results: dict[str, TrackResult],
                cloud: Cloud, depth: Any, T_base_tool: np.ndarray | None) -> None:  # noqa: N803
        """Search for the objects whose pose no longer explains their points (object ->
        coverage at the previous pose), unless a search found nothing lately.

        After a search that found nothing (the object is hidden, not moved), search again
        only when even less of it is seen, or after ``redetect_every_frames``; but one the
        camera sees through has moved: it is searched for on each frame until
        ``redetect_moved_retries`` searches failed since the seen-through fraction last rose
        (a plate moved against a neighbour settled over a frame in which nothing fitted; one
        half hidden by the arm before it was moved had failed searches already). What the
        failed searches found holds for the pose they searched around: an object the tracker
        moved by over ``icp_follow_step_m`` (``jumped``) is judged afresh (a plate searched
        for in vain next to the hand, 9 % of it seen through, was moved 9.4 cm and ICP took it
        3.6 cm: still 9 % seen through, it was not searched for and was followed 10 frames
        late).
        """
        c = self.config
        for name in self.tracker.tracks:
            self._since_search[name] = self._since_search.get(name, 10 ** 6) + 1
            if name not in search or name in jumped:
                self._search_floor.pop(name, None)
                self._fruitless.pop(name, None)
        for name, covered in search.items():
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
            found = self.redetect(name, cloud, depth.stamp_s, T_base_tool, covered,
                                  grid_only=name in self.slides and name not in gated,
                                  depth=depth, free_before=seen_through.get(name))
            if found is not None:
                results[name] = found
                self._search_floor.pop(name, None)
                self._fruitless.pop(name, None)
            else:
                self._search_floor[name] = (covered, through)
                self._fruitless[name] = self._fruitless.get(name, 0) + 1

    def _keep_on_slides(self, results: dict[str, TrackResult],
                        before: Mapping[str, np.ndarray], cloud: Cloud, depth: Any,
                        T_base_tool: np.ndarray | None) -> None:  # noqa: N803
        """Put every object on a slide joint back on it, at the opening that explains it.

        Next to the hand, ICP and the search both slide it along the axis (the hand hides the
        front and handle): it moves only when the hand pushes or pulls it there, where the
        targets do not depend on its pose; unless the camera sees through it there (a hand
        hides, it does not open a view): then it was moved (pulled out towards the
        approaching hand), and an opening that explains ``slide_gate_coverage`` of the model
        is taken.
        """
        c = self.config
        tracks = self.tracker.tracks
        for child, joint in self.slides.items():
            track = tracks[child]
            if track.held or child not in results:
                continue
            T_parent = tracks[joint.parent].T_base_obj
            if self._near_tool(track, T_base_tool, c.slide_gate_m):
                T = joint.project(before[child], T_parent)
                if self.free_space(child, depth, T) > c.search_above_free_space:
                    T = self._slide_search(child, joint, cloud, T, T_base_tool,
                                           min_coverage=c.slide_gate_coverage)
            else:
                T = self._slide_search(child, joint, cloud,
                                       joint.project(track.T_base_obj, T_parent), T_base_tool)
            track.T_base_obj = T
            results[child] = dataclasses.replace(results[child], T_base_obj=T.copy())

    def _slide_search(self, name: str, joint: SlideJoint, cloud: Cloud, T_now: np.ndarray,
                      T_base_tool: np.ndarray | None,  # noqa: N803
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

    def _near_tool(self, track: ObjectTrack, T_base_tool: np.ndarray | None,  # noqa: N803
                   radius_m: float | None = None) -> bool:
        """Whether a model point of the track lies within ``radius_m`` (default
        ``gripper_gate_m``; 0 or no tool pose: never) of the TCP."""
        radius = self.config.gripper_gate_m if radius_m is None else radius_m
        if T_base_tool is None or radius <= 0.0:
            return False
        T = track.T_base_obj
        P = track.model_points_obj @ T[:3, :3].T + T[:3, 3]
        d2 = np.sum((P - T_base_tool[:3, 3]) ** 2, axis=1)
        return bool(float(d2.min()) < radius ** 2)

    # ------------------------------------------------------------------ scores
    def coverage(self, name: str, cloud: Cloud, T_base_obj: np.ndarray,  # noqa: N803
                 T_base_tool: np.ndarray | None = None) -> float:  # noqa: N803
        """Fraction of ``name``'s model points (at pose ``T_base_obj``) with a cloud point
        within the tracker's ``inlier_m`` (points in the gripper's box left out)."""
        return self._coverages(name, cloud, [T_base_obj], T_base_tool)[0]

    def _coverages(self, name: str, cloud: Cloud, poses: list[np.ndarray],
                   T_base_tool: np.ndarray | None) -> list[float]:  # noqa: N803
        """:meth:`coverage` at each of ``poses`` (one crop and k-d tree for all)."""
        track = self.tracker.tracks[name]
        model = track.model_points_obj
        model = model[::max(1, len(model) // _SCORE_POINTS)]
        placed = [model @ T[:3, :3].T + T[:3, 3] for T in poses]
        lo = np.min([P.min(axis=0) for P in placed], axis=0) - 0.02
        hi = np.max([P.max(axis=0) for P in placed], axis=0) + 0.02
        near = cloud.points_in_box(lo, hi)
        c = track.config
        if T_base_tool is not None:
            q = (near - T_base_tool[:3, 3]) @ T_base_tool[:3, :3]
            near = near[(np.abs(q[:, 0]) > c.tool_half_thickness_m)
                        | (np.abs(q[:, 1]) > c.tool_half_width_m)
                        | (q[:, 2] < -c.tool_length_m) | (q[:, 2] > c.tool_front_m)]
        if len(near) == 0:
            return [0.0] * len(poses)
        if len(near) > _SCORE_CLOUD_POINTS:
            near = near[::len(near) // _SCORE_CLOUD_POINTS + 1]
        tree = cKDTree(near, balanced_tree=False, compact_nodes=False)
        out = []
        for P in placed:
            d, _ = tree.query(P, distance_upper_bound=c.inlier_m)
            out.append(float(np.isfinite(d).mean()))
        return out

    def free_space(self, name: str, depth: Any, T_base_obj: np.ndarray) -> float:  # noqa: N803
        """The fraction of ``name``'s model points at ``T_base_obj`` that the camera sees
        through in the depth image (:func:`.see_through_mask`)."""
        model = self.tracker.tracks[name].model_points_obj
        model = model[::max(1, len(model) // _SCORE_POINTS)]
        through = see_through_mask(model @ T_base_obj[:3, :3].T + T_base_obj[:3, 3], depth,
                                   self.config.free_space_margin_m)
        return float(through.mean()) if len(through) else 0.0

    def _depth_fit(self, name: str, depth: Any, T_base_obj: np.ndarray,  # noqa: N803
                   cap_m: float) -> tuple[float, float]:
        """``(free_space, mean projective depth residual [m])`` of ``name``'s model at
        ``T_base_obj`` from one projection (:func:`.depth_fit`; the residual is ``cap_m``
        without any point on valid depth)."""
        model = self.tracker.tracks[name].model_points_obj
        model = model[::max(1, len(model) // _SCORE_POINTS)]
        through, residual = depth_fit(model @ T_base_obj[:3, :3].T + T_base_obj[:3, 3], depth,
                                      self.config.free_space_margin_m, cap_m)
        return through, (cap_m if residual is None else residual)

    # ------------------------------------------------------------------ follow
    def _icp_follow(self, name: str, cloud: Cloud, stamp_s: float | None,
                    T_base_tool: np.ndarray | None, result: TrackResult,  # noqa: N803
                    covered: float) -> tuple[TrackResult, float]:
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
                track.T_base_obj, track.status = T_from, TrackStatus.TRACKING
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

    def _keep_unless_better(self, name: str, cloud: Cloud, T_before: np.ndarray,
                            T_base_tool: np.ndarray | None  # noqa: N803
                            ) -> tuple[bool, float]:
        """Hysteresis: keep the previous pose unless the new one explains clearly more of the
        model (its coverage, :meth:`_coverages`, larger by at least ``keep_pose_margin``;
        0 takes every new pose).

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
        margin = self.config.keep_pose_margin
        if margin <= 0.0:
            return False, self._coverages(name, cloud, [T_new], T_base_tool)[0]
        old, new = self._coverages(name, cloud, [T_before, T_new], T_base_tool)
        if new < old + margin:
            track.T_base_obj = T_before
            self.kept[name] = self.kept.get(name, 0) + 1
            return True, old
        return False, new

    # ------------------------------------------------------------------ search
    def redetect(self, name: str, cloud: Cloud, stamp_s: float | None,
                 T_base_tool: np.ndarray | None, covered: float = 0.0,  # noqa: N803
                 grid_only: bool = False, depth: Any = None,
                 free_before: float | None = None) -> TrackResult | None:
        """Search for a lost object around its last pose and let ICP confirm what it finds.

        The grid search (:func:`.search_offsets`) proposes horizontal shifts; each is handed
        to the tracker's ICP. A candidate is accepted when the fit there is confident and
        explains at least ``redetect_min_gain`` more of the model than the previous pose
        (``covered``): an object hidden by the arm is not "found" elsewhere. With the
        ``depth`` image, where ICP slides the model to a pose the camera sees through more,
        the grid's pose stands; and a candidate the tracker accepts that explains as much of
        the model also stands where the camera sees through at most half as much of it as at
        the previous pose (a plate moved within its own footprint: its partial model still
        lies mostly on the moved disc, but the camera sees the table through the rest). With
        ``grid_only``, a grid pose that ICP does not confirm stands where it explains
        ``redetect_grid_coverage`` of the model. The caller allows that only for an object on
        a slide joint away from the gripper (a drawer slid out shows sides its model lacks, so
        ICP's fitness drops; the joint then keeps the pose on its axis): a free plate half
        hidden by a mug put down on it was "found" 7 cm off, and a drawer front next to
        closed fingers 11 cm along itself. A free object's grid pose stands without ICP only
        where the camera sees through ``redetect_grid_free_before`` of its model at the
        previous pose (it has left it: a hidden plate is not seen through), at most half as
        much at the grid pose, and that explains ``redetect_min_gain`` more.
        ``free_before``: that seen-through fraction at the previous pose, where the caller has
        it (:meth:`update` does), else it is computed here.

        Returns:
            The confirmed track result, or None (the track keeps its last pose).
        """
        start = time.perf_counter()
        track = self.tracker.tracks[name]
        if track.held:
            return None
        c = self.config
        T0 = track.T_base_obj.copy()
        if depth is None:
            free_before = 0.0
        elif free_before is None:
            free_before = self.free_space(name, depth, T0)
        seen_half = 0.5 * free_before       # "half as much seen through" (both rules below)
        model = track.model_points_obj
        model = model[::max(1, len(model) // _SEARCH_POINTS)]
        result = None
        for offset in search_offsets(model @ T0[:3, :3].T + T0[:3, 3], cloud, depth, c):
            T = T0.copy()
            T[:2, 3] += offset
            track.T_base_obj = T
            candidate = track.update(cloud, stamp_s, T_base_tool)
            free_new = None                   # seen-through fraction at the candidate
            free_grid = None                  # ... and at the grid's pose
            if candidate.ok and depth is not None:
                cap_m = 2.0 * track.config.inlier_m
                free_new, residual_icp = self._depth_fit(name, depth, track.T_base_obj, cap_m)
                free_grid, residual_grid = self._depth_fit(name, depth, T, cap_m)
                # ICP slid a flat object back part of the way (its disc still lies on the
                # moved one within the inlier distance): the camera sees through the model
                # there more than at the grid's pose. Or ICP slid off to a pose that fits the
                # depth image worse (a flask moved 6.3 cm under a pouring beaker: from the
                # grid's pose, 0.1 cm off, ICP, pulled by the beaker's points in its crop,
                # went 1.8 cm off; mean depth residual 2.7 mm there, 1.8 mm at the grid's).
                # Either way the grid's pose stands.
                slid_through = free_new > free_grid + c.icp_slide_free_margin
                slid_off = residual_icp > residual_grid + c.icp_slide_depth_margin_m
                if slid_through or slid_off:
                    track.T_base_obj = T.copy()
                    candidate = dataclasses.replace(candidate, T_base_obj=T.copy())
                    free_new = free_grid
            gain = self._coverages(name, cloud, [track.T_base_obj], T_base_tool)[0] - \
                covered if candidate.ok else -1.0
            if (gain >= c.redetect_min_gain and
                    candidate.confidence >= c.redetect_min_confidence) or (
                    free_new is not None and gain >= -c.keep_pose_margin and
                    free_before > c.search_above_free_space and free_new <= seen_half):
                result = candidate
                self.redetections[name] = self.redetections.get(name, 0) + 1
                break
            # ICP can fail where the grid search did not: a drawer slid out shows its sides,
            # which its model (the front seen when closed) lacks, so the fit's fitness, not
            # its coverage, drops. The grid pose stands if it explains the model well enough
            # by itself. So it does for a free object that has left its previous pose (the
            # camera sees through most of it there) where the camera sees through at most
            # half as much: a bowl moved 13 cm under a kettle pouring into it is half hidden
            # at its new pose, and ICP's fit there is not confident.
            left = depth is not None and free_before >= c.redetect_grid_free_before
            if not grid_only and not left:
                continue
            grid_covered = self._coverages(name, cloud, [T], T_base_tool)[0]
            if grid_only:
                need = max(covered + c.redetect_min_gain, c.redetect_grid_coverage)
            else:
                need = covered + c.redetect_min_gain
                if free_grid is None:
                    free_grid = self.free_space(name, depth, T)
                if free_grid > seen_half:
                    continue
            if grid_covered >= need:
                track.T_base_obj = T
                track.status = TrackStatus.TRACKING
                result = TrackResult(name, TrackStatus.TRACKING, T.copy(), grid_covered,
                                     grid_covered, stamp_s=stamp_s,
                                     reason='re-detected by the grid search (ICP not '
                                            'confident)' + ('' if grid_only else
                                                           '; its last pose seen through'))
                self.redetections[name] = self.redetections.get(name, 0) + 1
                break
        if result is None:
            track.T_base_obj = T0
            track.status = TrackStatus.LOST
        self.redetect_ms.append((time.perf_counter() - start) * 1e3)
        return result
