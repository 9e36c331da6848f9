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
* **perception**: on every delivered frame, the perception core's
  :class:`~resem3d_perception.scene_tracker.SceneTracker` (the one the ROS perception node
  tracks with) re-estimates every grounded object's pose from the depth image (local ICP of the
  point model captured at grounding, searched for around its last pose where it was moved out
  of ICP's reach). The constraint scene's object poses come from these tracks, never from the
  simulator;
* **proprioception** every tick: the tool pose, the finger width and the gripper's grasp flag
  (what the arm and the gripper report). When the gripper reports a grasp, the tracked object
  with model points nearest the TCP is attached to the tool (in the tracker and the scene); it
  is detached, and tracked visually again, when the gripper lets go.

:class:`Progress` prints the live progress line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

import resem3d_constraints as rc

if TYPE_CHECKING:                     # (imports open3d: loaded where a run starts)
    from resem3d_perception.scene_tracker import SceneTracker

__all__ = ['ClosedLoop', 'LoopConfig', 'Progress', 'percentile']


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile of ``values`` (None when empty), rounded to 3 decimals."""
    array = np.asarray(list(values), dtype=float)
    return None if array.size == 0 else round(float(np.percentile(array, q)), 3)


@dataclass(frozen=True)
class LoopConfig:
    """Parameters of the loop (SI units); those of tracking are
    ``resem3d_perception.scene_tracker.SceneTrackingConfig``.

    Attributes:
        camera_hz: Camera (and tracking) rate [Hz]; a frame is delivered one period after the
            state it shows.
        grasp_search_m: A tracked object with a model point this close to the TCP is the one
            the gripper holds when it reports a grasp.
        settle_s: Physics time after the last stage before the success predicate is read.
    """

    camera_hz: float = 15.0
    grasp_search_m: float = 0.04
    settle_s: float = 0.5


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

    def __init__(self, env: Any, perception: SceneTracker, config: LoopConfig,
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
