"""The scene a constraint is evaluated in: tool pose, object poses, regions, gripper state."""

from __future__ import annotations

from collections.abc import Mapping
import copy
from dataclasses import dataclass, field

import numpy as np

from .exceptions import SceneError
from .region import Region


def _inverse(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (4, 4)."""
    inverse = np.eye(4)
    inverse[:3, :3] = T[:3, :3].T
    inverse[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inverse


def check_pose(name: str, T: np.ndarray) -> np.ndarray:
    """``T`` as a float (4, 4) array, checked to be a finite homogeneous transform.

    Raises:
        SceneError: Naming ``name``, if it is not numeric, not (4, 4) or not finite.
    """
    try:
        T = np.asarray(T, dtype=float)
    except (TypeError, ValueError):
        raise SceneError(f'{name} is not numeric') from None
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise SceneError(f'{name} must be a finite (4, 4) homogeneous transform')
    return T


@dataclass
class SceneState:
    """Everything a constraint reads, in the robot base frame (metres, radians).

    Built once and updated in place: the controller assigns ``scene.T_base_tool`` every tick
    (no copy, no check) and perception replaces entries of ``T_base_obj``. The constructor
    checks every pose and copies the pose mappings into new dicts of float64 arrays.

    Attributes:
        T_base_tool: Pose (4, 4) of the tool (TCP) frame in the base frame.
        T_base_obj: Pose (4, 4) of every object frame in the base frame, by frame name.
        regions: Regions by name (``object/part``), stored in their object frame.
        held: Object frames rigidly attached to the tool: their pose moves with the tool, so
            ``live`` anchors on them have a non-zero derivative wrt the tool twist. When a
            frame becomes held (in the constructor, by :meth:`grasp` or by assigning
            ``held``) its pose relative to the tool is recorded, and its live pose is from then
            on ``T_base_tool @ T_tool_obj``: consistent with the tool pose at every controller
            tick, not only when perception reports. :meth:`set_object_pose` re-anchors it;
            releasing it freezes its last live pose into ``T_base_obj``.
        T_base_obj_init: Object poses frozen at the start of the stage, read by anchors with
            ``at='init'``. Defaults to ``T_base_obj`` itself (the same mapping): call
            :meth:`freeze_init_poses` at the start of each stage.
        gripper_width_m: Current finger width [m].
        gripper_grasping: Whether the gripper reports a successful grasp.
    """

    T_base_tool: np.ndarray
    T_base_obj: Mapping[str, np.ndarray] = field(default_factory=dict)
    regions: Mapping[str, Region] = field(default_factory=dict)
    held: frozenset[str] = frozenset()
    T_base_obj_init: Mapping[str, np.ndarray] | None = None
    gripper_width_m: float = 0.0
    gripper_grasping: bool = False

    def __post_init__(self) -> None:
        self.T_base_tool = check_pose('T_base_tool', self.T_base_tool)
        self.T_base_obj = {k: check_pose(f'T_base_obj[{k!r}]', T)
                           for k, T in self.T_base_obj.items()}
        if self.T_base_obj_init is None:
            self.T_base_obj_init = self.T_base_obj
        else:
            self.T_base_obj_init = {k: check_pose(f'T_base_obj_init[{k!r}]', T)
                                    for k, T in self.T_base_obj_init.items()}
        self._T_tool_obj: dict[str, np.ndarray] = {}
        self.held = frozenset(self.held)     # records the grasp transforms (__setattr__)

    def __setattr__(self, name: str, value: object) -> None:
        if name == 'held' and '_T_tool_obj' in self.__dict__:
            self._update_grasps(frozenset(value))
            value = frozenset(value)
        object.__setattr__(self, name, value)

    def _update_grasps(self, held: frozenset[str]) -> None:
        """Record tool-relative poses of newly held frames; freeze released ones."""
        for frame in list(self._T_tool_obj):
            if frame not in held:
                self.T_base_obj[frame] = self.T_base_tool @ self._T_tool_obj.pop(frame)
        T_tool_base = None
        for frame in held:
            if frame not in self._T_tool_obj and frame in self.T_base_obj:
                if T_tool_base is None:
                    T_tool_base = _inverse(self.T_base_tool)
                self._T_tool_obj[frame] = T_tool_base @ self.T_base_obj[frame]

    def grasp(self, frame: str) -> None:
        """Attach an object frame to the tool at its current relative pose."""
        self.held = self.held | {frame}

    def release(self, frame: str) -> None:
        """Detach an object frame; it stays where the tool left it."""
        self.held = self.held - {frame}

    def set_object_pose(self, frame: str, T_base_obj: np.ndarray) -> None:
        """Report a measured object pose (perception); re-anchors the grasp of a held frame."""
        T = check_pose(f'T_base_obj[{frame!r}]', T_base_obj)
        self.T_base_obj[frame] = T
        if frame in self._T_tool_obj:
            self._T_tool_obj[frame] = _inverse(self.T_base_tool) @ T

    def replace_tool_pose(self, T_base_tool: np.ndarray) -> SceneState:
        """Return a shallow copy with another tool pose; the mappings are shared, not copied."""
        scene = copy.copy(self)
        scene.T_base_tool = check_pose('T_base_tool', T_base_tool)
        return scene

    def freeze_init_poses(self) -> None:
        """Copy the current (live) object poses into ``T_base_obj_init`` (at a stage start)."""
        self.T_base_obj_init = {k: np.array(self.object_pose(k), dtype=float)
                                for k in self.T_base_obj}

    def region(self, name: str) -> Region:
        """Return the region called ``name``.

        Raises:
            SceneError: If the scene has no such region.
        """
        try:
            return self.regions[name]
        except KeyError:
            raise SceneError(f'region {name!r} is not in the scene') from None

    def object_pose(self, frame: str, at: str = 'live') -> np.ndarray:
        """Pose (4, 4) of an object frame: live, or frozen at the stage start (``at='init'``).

        Raises:
            SceneError: If the scene has no pose for the frame.
        """
        if at == 'live':
            T_tool_obj = self._T_tool_obj.get(frame)
            if T_tool_obj is not None:
                return self.T_base_tool @ T_tool_obj
        poses = self.T_base_obj if at == 'live' else self.T_base_obj_init
        try:
            return poses[frame]
        except KeyError:
            raise SceneError(f'no {at} pose for object frame {frame!r} in the scene') from None
