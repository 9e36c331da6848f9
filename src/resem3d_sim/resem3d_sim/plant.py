"""The simulated world as a controller plant, with ground-truth "perception" of object poses.

:class:`SimPlant` satisfies the plant protocol of ``resem3d_controller.executor`` (duck-typed:
``t_s``, ``q_rad``, ``apply(command)``, ``observe(scene)``) without importing the controller.
Object poses reach the constraint scene at the camera rate (15 Hz by default), as tracking
would deliver them; the tool pose and the gripper state every tick, as joint states do. This
is the oracle path used to check that tasks are solvable; perception replaces it later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

import resem3d_constraints as rc

from .objects import ObjectInfo
from .world import World

GRASP_SEARCH_M = 0.04        # an object part this close to the TCP is the one in the gripper


class SimPlant:
    """Drive a :class:`World` tick by tick and keep a constraint scene current.

    Args:
        world: The simulated world.
        objects: Objects of the scene by name (from ``SceneSpec.add_objects``).
        perception_period_s: Period of object pose updates [s] (1/15 s: a 15 Hz camera).
    """

    def __init__(self, world: World, objects: Mapping[str, object],
                 perception_period_s: float = 1.0 / 15.0) -> None:
        self.world = world
        self.objects = {name: info for name, info in objects.items()
                        if isinstance(info, ObjectInfo)}
        self.perception_period_s = perception_period_s
        self._last_observation_s = -np.inf

    @property
    def t_s(self) -> float:
        return self.world.t_s

    @property
    def q_rad(self) -> np.ndarray:
        return self.world.q_rad

    def apply(self, command) -> None:
        """One 1 ms physics step with the command's joint velocities and gripper command."""
        self.world.step(command.dq_rad_s, command.gripper)

    def scene_for(self, regions: Iterable[str]) -> rc.SceneState:
        """A constraint scene with the ground-truth regions ``object/part`` and object poses.

        Raises:
            KeyError: for a region whose object or part the scene does not have.
        """
        regions = list(regions)
        frames = {name.split('/')[0] for name in regions}
        missing = sorted(f for f in frames if f not in self.objects)
        if missing:
            raise KeyError(f'no object {missing[0]!r} in the scene')
        scene = rc.SceneState(
            T_base_tool=self.world.T_base_tool(),
            T_base_obj={f: self.world.body_pose(self.objects[f].body_name) for f in frames},
            regions={name: self.objects[name.split('/')[0]].region(name) for name in regions},
            gripper_width_m=self.world.gripper_width_m)
        self._last_observation_s = self.world.t_s
        return scene

    def observe(self, scene: rc.SceneState) -> float:
        """Tool and gripper every tick; object poses every ``perception_period_s``.

        A grasp is attributed to the object with a part nearest the TCP when the gripper reports
        one; it is released when the gripper opens.

        Returns:
            The time [s] of the last object pose update.
        """
        world = self.world
        scene.T_base_tool = world.T_base_tool()
        scene.gripper_width_m = world.gripper_width_m
        grasping = world.gripper_grasping
        scene.gripper_grasping = grasping
        if world.t_s - self._last_observation_s >= self.perception_period_s - 1e-9:
            for frame in scene.T_base_obj:
                scene.set_object_pose(frame, world.body_pose(self.objects[frame].body_name))
            self._last_observation_s = world.t_s
        if grasping and not scene.held:
            held = self._object_at_tool(scene)
            if held is not None:
                scene.set_object_pose(held, world.body_pose(self.objects[held].body_name))
                scene.grasp(held)
        elif not grasping and scene.held:
            scene.held = frozenset()
        return self._last_observation_s

    def _object_at_tool(self, scene: rc.SceneState) -> str | None:
        """The scene object with a part nearest the TCP, if within GRASP_SEARCH_M."""
        p_tool = scene.T_base_tool[:3, 3]
        best, best_d = None, GRASP_SEARCH_M
        for frame in scene.T_base_obj:
            info = self.objects[frame]
            if info.joint_type is None:          # fixed furniture cannot be held
                continue
            T = self.world.body_pose(info.body_name)
            for label in info.labels:
                points = info.part_points_obj(label, count=60) @ T[:3, :3].T + T[:3, 3]
                d = float(np.min(np.linalg.norm(points - p_tool, axis=1)))
                if d < best_d:
                    best, best_d = frame, d
        return best
