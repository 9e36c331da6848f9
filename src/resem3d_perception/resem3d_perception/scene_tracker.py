# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""The grounded objects of a scene, tracked frame by frame, with the checks a live camera needs.

:class:`~resem3d_perception.tracking.MultiTracker` re-estimates each object's pose by local
ICP. Around it, :class:`SceneTracker` adds what keeps the poses trustworthy when nothing but the
camera says where objects are:

* **lost tracks keep their pose**: a fit the tracker does not trust leaves the object where it
  was last seen (status LOST), instead of a drifting estimate;
* **hysteresis**: a new pose replaces the previous one only if it explains clearly more of the
  object's model (its *coverage*: the fraction of model points with a cloud point within the
  tracker's ``inlier_m``) by at least ``keep_pose_margin``. ICP's optimum wanders where the
  geometry leaves a direction free (a drawer front flush with its cabinet) or where something
  else enters the crop; a real move leaves the previous pose empty and is taken at once;
* **gripper gating** (with the tool pose): an object with a model point within
  ``gripper_gate_m`` of the TCP keeps its pose: the hand hides and touches it, and its points
  would pull the fit.

Frames: ``base`` (robot base), ``obj`` (each object's frame), ``tool`` (the TCP). This is the
part of the simulator loop's perception (``resem3d.loop``) that does not depend on the
simulator; searching for an object moved out of ICP's reach is not done here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .cloud import Cloud, project_base_points
from .errors import PerceptionInputError
from .tracking import MultiTracker, TrackerConfig, TrackResult, TrackStatus

__all__ = ['SceneTracker', 'SceneTrackingConfig']

# Model points used to score a pose (a subsample keeps scoring well under a millisecond).
_SCORE_POINTS = 300


@dataclass(frozen=True)
class SceneTrackingConfig:
    """Checks around the tracker (SI units).

    Attributes:
        keep_pose_margin: A tracked pose replaces the previous one only if its coverage is
            larger by at least this (0 disables the hysteresis).
        gripper_gate_m: Objects with a model point this close to the TCP keep their pose
            (0 disables the gate; it needs the tool pose).
    """

    keep_pose_margin: float = 0.05
    gripper_gate_m: float = 0.05

    def __post_init__(self) -> None:
        for name in ('keep_pose_margin', 'gripper_gate_m'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0.0:
                raise PerceptionInputError(f'SceneTrackingConfig.{name} must be a number >= 0, '
                                           f'got {value!r}')


class SceneTracker:
    """Grounded objects and their tracked poses (base frame).

    Args:
        tracker: Tunables of the ICP tracker.
        config: The checks around it.
    """

    def __init__(self, tracker: TrackerConfig | None = None,
                 config: SceneTrackingConfig | None = None) -> None:
        self.tracker = MultiTracker(tracker if tracker is not None else TrackerConfig())
        self.config = config if config is not None else SceneTrackingConfig()
        self.last_results: dict[str, TrackResult] = {}

    @property
    def names(self) -> list[str]:
        """Names of the tracked objects."""
        return list(self.tracker.tracks)

    def pose(self, name: str) -> np.ndarray:
        """(4, 4) current pose of ``name`` in the base frame (a copy)."""
        return self.tracker.tracks[name].T_base_obj.copy()

    def poses(self) -> dict[str, np.ndarray]:
        """Object name -> (4, 4) current pose (copies)."""
        return self.tracker.poses()

    def ground(self, name: str, points_base: np.ndarray, T_base_obj: np.ndarray,  # noqa: N803
               *, stamp_s: float | None = None, camera_base: np.ndarray | None = None) -> None:
        """Track ``name`` from its points seen now, replacing an earlier model.

        Raises:
            TrackingError: If the model has too few points.
            PerceptionInputError: On a bad pose or points.
        """
        if name in self.tracker.tracks:
            self.tracker.remove(name)
        self.tracker.add(name, points_base, T_base_obj, stamp_s=stamp_s, camera_base=camera_base)
        self.last_results.pop(name, None)

    def remove(self, name: str) -> None:
        """Stop tracking ``name`` (no error if it is not tracked)."""
        if name in self.tracker.tracks:
            self.tracker.remove(name)
        self.last_results.pop(name, None)

    def update(self, cloud: Cloud, stamp_s: float | None = None,
               T_base_tool: np.ndarray | None = None  # noqa: N803
               ) -> dict[str, TrackResult]:
        """Track every object in one frame cloud (full resolution, base frame).

        Args:
            cloud: The frame's cloud.
            stamp_s: Time of the frame [s].
            T_base_tool: (4, 4) TCP pose at that time, if known (enables the gripper gate and
                drops the gripper's points from the crops).

        Returns:
            Result by object name (the pose kept when the tracker lost the object, was gated
            or was not clearly better).
        """
        tracks = self.tracker.tracks
        before = {name: track.T_base_obj.copy() for name, track in tracks.items()}
        gated = set() if T_base_tool is None else {
            name for name, track in tracks.items()
            if not track.held and self._near_tool(track, T_base_tool)}
        results = self.tracker.update(cloud, stamp_s, T_base_tool,
                                      names=[n for n in tracks if n not in gated])
        for name in gated:
            covered = self.coverage(name, cloud, before[name], T_base_tool)
            results[name] = TrackResult(name, TrackStatus.TRACKING, before[name], covered,
                                        covered, stamp_s=stamp_s,
                                        reason='next to the gripper: pose kept')
        for name, result in list(results.items()):
            track = tracks[name]
            if name in gated or track.held:
                continue
            if not result.ok:
                track.T_base_obj = before[name]
                results[name] = dataclasses.replace(result, T_base_obj=before[name].copy())
            elif self._keep_previous(name, cloud, before[name], T_base_tool):
                track.T_base_obj = before[name]
                results[name] = dataclasses.replace(result, T_base_obj=before[name].copy(),
                                                    reason='not clearly better: pose kept')
        self.last_results = results
        return results

    def _near_tool(self, track: Any, T_base_tool: np.ndarray) -> bool:  # noqa: N803
        gate = self.config.gripper_gate_m
        if gate <= 0.0:
            return False
        T = track.T_base_obj
        P = track.model_points_obj @ T[:3, :3].T + T[:3, 3]
        return bool(np.min(np.sum((P - T_base_tool[:3, 3]) ** 2, axis=1)) < gate ** 2)

    def _keep_previous(self, name: str, cloud: Cloud, T_before: np.ndarray,  # noqa: N803
                       T_base_tool: np.ndarray | None) -> bool:  # noqa: N803
        margin = self.config.keep_pose_margin
        T_new = self.tracker.tracks[name].T_base_obj
        if margin <= 0.0 or float(np.linalg.norm(T_new[:3, 3] - T_before[:3, 3])) < 1e-6:
            return False
        old = self.coverage(name, cloud, T_before, T_base_tool)
        new = self.coverage(name, cloud, T_new, T_base_tool)
        return new < old + margin

    def coverage(self, name: str, cloud: Cloud, T_base_obj: np.ndarray,  # noqa: N803
                 T_base_tool: np.ndarray | None = None) -> float:  # noqa: N803
        """Fraction of ``name``'s model points (at pose ``T_base_obj``) with a cloud point
        within the tracker's ``inlier_m`` (points in the gripper's box left out)."""
        track = self.tracker.tracks[name]
        model = track.model_points_obj
        model = model[::max(1, len(model) // _SCORE_POINTS)]
        placed = model @ T_base_obj[:3, :3].T + T_base_obj[:3, 3]
        c = track.config
        near = _points_in_box(cloud, placed.min(axis=0) - 2.0 * c.inlier_m,
                              placed.max(axis=0) + 2.0 * c.inlier_m)
        if T_base_tool is not None and len(near):
            q = (near - T_base_tool[:3, 3]) @ T_base_tool[:3, :3]
            near = near[(np.abs(q[:, 0]) > c.tool_half_thickness_m)
                        | (np.abs(q[:, 1]) > c.tool_half_width_m)
                        | (q[:, 2] < -c.tool_length_m) | (q[:, 2] > c.tool_front_m)]
        if len(near) == 0:
            return 0.0
        distances, _ = cKDTree(near).query(placed, distance_upper_bound=c.inlier_m)
        return float(np.isfinite(distances).mean())

    def results_by_status(self) -> Mapping[str, str]:
        """Object name -> status of its last update (``tracking``, ``lost``, ``held``)."""
        return {name: result.status.value for name, result in self.last_results.items()}


def _points_in_box(cloud: Cloud, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(M, 3) float64 cloud points inside the axis-aligned box ``[lo, hi]`` (base frame); only
    the pixel rectangle the box projects to is tested (the cloud is in pixel order)."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                        for z in (lo[2], hi[2])])
    uv, z = project_base_points(corners, cloud.intrinsics, cloud.T_base_cam)
    if np.all(z > 1e-3):
        (u0, v0), (u1, v1) = np.floor(uv.min(axis=0)), np.ceil(uv.max(axis=0)) + 1
        index = cloud.crop_pixels(int(u0), int(v0), int(u1), int(v1))
        points = cloud.points_base[index].astype(float)
    else:
        points = cloud.points_base.astype(float)
    inside = np.all((points >= lo) & (points <= hi), axis=1)
    return points[inside]
