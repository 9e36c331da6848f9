"""``resem3d run``: one task in closed loop, from the instruction to the success predicate.

One process, simulated time (see :mod:`resem3d.loop` for the loop itself):

1. the task's world is built at the seed; the camera's first frame is perceived (segmenter,
   marks, cloud) and reasoned about (:func:`resem3d_reasoning.planning.plan_observation`: plan,
   grounding, one constraint program per subtask) with the chosen model client;
2. every grounded object gets a track from its parts' points in that frame, in the object frame
   the grounding gave it (its regions are stored in it); the constraint scene reads its object
   poses from these tracks, updated at 15 Hz, never from the simulator;
3. each subtask's program runs stage by stage (``resem3d_controller.executor.run_stage``, the
   controller at 1 kHz) under the reasoning's :class:`~resem3d_reasoning.monitor.
   SubtaskMonitor`: a precondition that breaks (at a stage's start or while it runs, until its
   gripper action) steps back and re-grounds, a stage that times out is retried, within the
   monitor's bounds;
4. the world settles and the task's success predicate is read on the physical state.

A failure is a result: an unreachable target, a lost track, a model outage or the time limit
end the run with ``success: false`` and a reason. :func:`run` returns the metrics (also written
to ``metrics.json`` in the run directory) and raises :class:`~resem3d.plan.CommandError` only
when the run cannot start (unknown task, bad option or configuration).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .disturb import HELD_WAIT_MAX_S, HELD_WAIT_STEP_S, DisturbSpecError, FollowMeter, \
    disturbance_time, held_object_clear, moved_on_approach, parse_disturb, plan_disturbance
from .loop import ClosedLoop, LoopConfig, Progress, percentile
from .outputs import RunOutputs, new_run_dir, to_json
from .plan import (CommandError, PlanOptions, _failed_component, _failure_reason,
                   _reasoning_config, check_seed, check_task, client_config)

__all__ = ['RunOptions', 'run', 'summary', 'METRIC_KEYS']

#: Keys every metrics.json has.
METRIC_KEYS = ('command', 'task', 'seed', 'instruction', 'success', 'reason', 'sim_s', 'wall_s',
               'stages', 'controller', 'tracking', 'camera', 'mllm', 'from_oracle',
               'disturbance', 'monitor', 'events', 'run_dir')
SEGMENTERS = ('sim', 'sam')
#: Most monitor decisions in one run (the monitor's own bounds come first).
MAX_DECISIONS = 20
# A stage's pre condition must be violated this long [s] before the stage steps back: a grasp
# settling in the fingers (one finger touching first, the object pushed against the other)
# drops the hand's grasp report for some tens of ms while the next stage starts.
PRE_GRACE_S = 0.15


@dataclass(frozen=True)
class RunOptions(PlanOptions):
    """The arguments of ``resem3d run``: those of ``resem3d plan`` (the transcript, with
    ``replay``, is the one to answer from) and these (``None``: the configured default)."""

    segmenter: str | None = None
    disturb: str | None = None
    out: str | None = None
    runs_root: str = 'runs'
    record: bool = True


class _CountingClient:
    """Counts the requests per reasoning step sent to a model client (also when a step
    fails: a model outage still shows the calls it cost)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    @property
    def name(self) -> str:
        return getattr(self.inner, 'name', type(self.inner).__name__)

    @property
    def model(self) -> str:
        return getattr(self.inner, 'model', '')

    def complete(self, request: Any) -> Any:
        self.calls[request.step] = self.calls.get(request.step, 0) + 1
        return self.inner.complete(request)


class _Abort(Exception):
    """Ends the run (time limit, lost track): no retry can help."""


@dataclass
class _Stats:
    step_us: list[float] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    reground: list[dict[str, Any]] = field(default_factory=list)


def _load_configs(options: RunOptions) -> tuple[Any, Any, Any]:
    """(reasoning settings, perception config, controller config) from the config directory."""
    from resem3d_controller import ConfigError, ControllerConfig
    from resem3d_perception import PerceptionError

    from .config import ConfigFileError, find_config_dir
    settings = _reasoning_config(options)
    try:
        directory = find_config_dir(options.config)
    except ConfigFileError as error:
        raise CommandError('config', str(error), 2) from None
    from resem3d_perception.config import PerceptionConfig
    try:
        perception = PerceptionConfig.from_yaml(directory / 'perception.yaml')
    except PerceptionError as error:
        raise CommandError('config', str(error), 2) from None
    try:
        controller = ControllerConfig.from_yaml(directory / 'controller.yaml')
    except (ConfigError, OSError, ValueError) as error:
        raise CommandError('config', str(error), 2) from None
    return settings, perception, controller


def _segmenter(name: str, perception: Any) -> Any:
    from resem3d_perception import PerceptionError, make_segmenter
    config = perception.segmenter_config()
    config['name'] = name
    try:
        return make_segmenter(config)
    except PerceptionError as error:
        raise CommandError('segmenter', str(error), 2) from None


def _observe(frame: Any, segmenter: Any, scene: str, env: Any) -> Any:
    from resem3d_reasoning.grounding import observe_frame
    from resem3d_reasoning.planning import env_system_regions
    if hasattr(segmenter, 'observe'):
        segmenter.observe(frame)          # the simulator's ground-truth masks of this frame
    return observe_frame(frame, scene=scene, system_regions=env_system_regions(env),
                         segmenter=segmenter)


def _object_points(observation: Any, store: Any, obj: str) -> np.ndarray:
    """The measured points of every grounded part of ``obj`` in ``observation``."""
    from resem3d_reasoning.grounding import part_of_marks
    seen: set[tuple[int, ...]] = set()
    points = []
    for name, grounded in store.regions.items():
        if name.split('/', 1)[0] != obj or tuple(grounded.marks) in seen:
            continue
        seen.add(tuple(grounded.marks))
        points.append(part_of_marks(observation, name, grounded.marks).measured_points_base)
    return np.concatenate(points) if points else np.zeros((0, 3))


def _grasped_objects(programs: list[Any]) -> set[str]:
    return {c.object for p in programs for s in p.stages for c in (*s.pre, *s.post)
            if c.kind == 'grasped' and c.object}


def run(options: RunOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Run one task in closed loop and return its metrics (see the module docstring).

    Raises:
        CommandError: When the run cannot start (exit code 2), e.g. an unknown task.
    """
    wall_start = time.perf_counter()
    spec = check_task(options.task)
    seed = check_seed(options.seed)
    if options.instruction is not None and not options.instruction.strip():
        raise CommandError('instruction', 'the instruction is empty', 2)
    try:
        disturb = parse_disturb(options.disturb) if options.disturb is not None else None
    except DisturbSpecError as error:
        raise CommandError('disturb', str(error), 2) from None
    segmenter_name = options.segmenter
    settings, perception_config, controller_config = _load_configs(options)
    segmenter_name = segmenter_name or perception_config.segmenter
    if segmenter_name not in SEGMENTERS:
        raise CommandError('segmenter', f'unknown segmenter {segmenter_name!r}; known: '
                           f'{", ".join(SEGMENTERS)}', 2)
    client_options = client_config(options, settings)
    segmenter = _segmenter(segmenter_name, perception_config)

    from resem3d_reasoning import ConfigError, TranscriptError, make_client
    try:
        client = make_client(client_options)
    except ConfigError as error:
        raise CommandError('mllm', str(error), 2) from None
    except TranscriptError as error:
        raise CommandError('transcript', str(error), 2) from None
    progress = progress or Progress(None)
    try:
        run_dir = Path(options.out) if options.out else new_run_dir(options.runs_root,
                                                                     spec.name, seed)
        outputs = RunOutputs(run_dir, record=options.record)
    except OSError as error:
        raise CommandError('out', f'cannot create the run directory: {error}', 2) from None
    try:
        return _Run(options, spec, seed, disturb, settings, perception_config,
                    controller_config, segmenter, segmenter_name, client, client_options,
                    outputs, progress, wall_start).execute()
    finally:
        close = getattr(client, 'close', None)
        if callable(close):
            close()


class _Run:
    """One run's state (built by :func:`run`)."""

    def __init__(self, options: RunOptions, spec: Any, seed: int, disturb: Any, settings: Any,
                 perception_config: Any, controller_config: Any, segmenter: Any,
                 segmenter_name: str, client: Any, client_options: dict[str, Any],
                 outputs: RunOutputs, progress: Progress, wall_start: float) -> None:
        self.options, self.spec, self.seed, self.disturb = options, spec, seed, disturb
        self.settings = settings
        self.perception_config, self.controller_config = perception_config, controller_config
        self.segmenter, self.segmenter_name = segmenter, segmenter_name
        self.client, self.client_options = _CountingClient(client), client_options
        self.outputs, self.progress, self.wall_start = outputs, progress, wall_start
        self.stats = _Stats()
        self.loop: ClosedLoop | None = None
        self.plan: Any = None
        self.follow: FollowMeter | None = None
        self.monitor: Any = None
        self.transcript: Any = None
        self.reground_stats: list[Any] = []
        self.where = ('', '')
        self.planning_s = 0.0
        self.frames_from = 'estimated from the grounded parts\' points'
        self.amodal_shifts: dict[str, dict[str, object]] = {}

    # ------------------------------------------------------------------ the run
    def execute(self) -> dict[str, Any]:
        import resem3d_sim  # noqa: F401  (headless GL before mujoco)
        from resem3d_reasoning import Transcript

        success, reason, step = False, '', ''
        env = None
        try:
            from resem3d_sim.tasks import TaskEnv
            env = self.env = TaskEnv.build(self.spec, self.seed)
            if self.client_options['backend'] != 'replay':
                self.transcript = Transcript.open(self.outputs.transcript_dir)
            from resem3d_perception.scene_tracker import SceneTracker
            tracker = SceneTracker(self.perception_config.tracker,
                                   self.perception_config.scene_tracking)
            self.loop = ClosedLoop(env, tracker, LoopConfig(), on_frame=self._on_frame)
            self.outputs.start({'task': self.spec.name, 'seed': self.seed,
                                'instruction': self.instruction,
                                'camera_hz': self.loop.config.camera_hz})
            success, reason, step = self._body()
        except _Abort as abort:
            success, reason, step = False, str(abort), 'execute'
        except CommandError:
            raise
        except Exception as error:  # noqa: BLE001 (a failing component is a result)
            kind = _component(error)
            if kind is None:
                raise
            success, reason, step = False, f'{kind}: {" ".join(str(error).split())}', kind
        finally:
            if self.loop is not None:
                self.loop.close()
            if self.transcript is not None:
                self.transcript.close()
        if env is not None and step not in ('plan', 'scene'):
            result = self._judge(env, success, reason)
            success, reason = result
        metrics = self._metrics(success, reason, step, env)
        metrics['outputs'] = self.outputs.finish(metrics)
        return to_json(metrics)

    @property
    def instruction(self) -> str:
        return self.options.instruction if self.options.instruction is not None else \
            self.spec.instruction

    def _body(self) -> tuple[bool, str, str]:
        """Plan, ground the tracks, run the subtasks; (finished, reason, failing step)."""
        from resem3d_reasoning.engine import ReasoningFailure
        from resem3d_reasoning.grounding import GroundingStore
        from resem3d_reasoning.monitor import MonitorAction, SubtaskMonitor, drive
        from resem3d_reasoning.oracle import scene_name
        from resem3d_reasoning.oracle_frames import simulator_frames
        from resem3d_reasoning.planning import plan_observation

        loop = self.loop
        assert loop is not None
        self.progress.status(f'{self.spec.name}: perceiving the first frame', force=True)
        start = time.perf_counter()
        frame = loop.first_frame()
        self.scene_label = scene_name(self.spec.name, self.seed)
        observation = _observe(frame, self.segmenter, self.scene_label, self.env)
        perceived = time.perf_counter()
        self.store = GroundingStore()
        self.progress.status(f'{self.spec.name}: reasoning ({self.client_options["backend"]})',
                             force=True)
        try:
            self.plan = plan_observation(
                self.spec.name, self.seed, observation, self.client,
                instruction=self.options.instruction, transcript=self.transcript,
                config=self.settings.engine, store=self.store,
                perception_s=perceived - start, on_grounded=simulator_frames(self.env))
        except ReasoningFailure as failure:
            self.planning_s = time.perf_counter() - start
            return False, f'{failure.step}: {_failure_reason(failure)}', 'plan'
        self.planning_s = time.perf_counter() - start
        programs = [sub.program for sub in self.plan.subtasks]
        self.progress.line(f'{self.spec.name} (seed {self.seed}): {len(programs)} subtask(s), '
                           f'{self.plan.stats.total_calls} model call(s) in '
                           f'{self.planning_s:.1f} s'
                           + (' [ORACLE answers]' if self.plan.from_oracle else ''))
        self.outputs.image('set-of-marks image (first frame)', observation.marked.image,
                           f'{len(observation.mark_ids)} marks the model chose parts from')
        self.outputs.plan(self.plan.to_json())
        if self.outputs.recording:
            loop.on_joint_state = self.outputs.joint_state
        self._amodal(list(self.store.regions), frame.T_base_cam[:3, 3])
        if self.plan.from_oracle:      # (the engine gave them the simulator's frames)
            self.frames_from = 'simulator (oracle answers)'
        self._ground_tracks(observation, frame.stamp_s, list(self.store.frames))
        self.scene = self._scene(observation)
        self._controller()
        self._schedule_disturbance(programs)

        self.monitor = SubtaskMonitor(programs)
        self.engine = None
        decision = drive(self.monitor, self._run_subtask, self._observe_scene, self._reground,
                         max_decisions=MAX_DECISIONS)
        if decision.action == MonitorAction.DONE:
            return True, decision.reason, ''
        return False, decision.reason, 'execute'

    # ------------------------------------------------------------------ grounding
    def _amodal(self, names: list[str], p_base_camera: np.ndarray) -> None:
        """Move the regions of round parts, bars and slabs to their amodal centre
        (:func:`resem3d_perception.amodal.amodal_centre`): a region whose flow kept the part
        whole (``none``) or took its top surface (``positional``/``top``) has its centroid on
        the visible side, towards the camera."""
        import dataclasses

        from resem3d_perception.amodal import amodal_centre
        for name in names:
            grounded = self.store.regions[name]
            whole_part = grounded.flow == 'none'
            top_surface = grounded.flow == 'positional' and grounded.feature == 'top'
            if not (whole_part or top_surface):
                continue
            fitted = amodal_centre(grounded.region, grounded.T_base_obj,
                                   p_base_camera=p_base_camera)
            if fitted is None:
                continue
            self.store.regions[name] = dataclasses.replace(grounded, region=fitted.region)
            self.amodal_shifts[name] = {'shape': fitted.shape,
                                        'shift_m': round(fitted.shift_m, 4)}

    def _ground_tracks(self, observation: Any, stamp_s: float, objects: list[str]) -> None:
        from resem3d_perception import TrackingError
        loop = self.loop
        assert loop is not None
        for obj in objects:
            points = _object_points(observation, self.store, obj)
            try:
                loop.perception.ground(obj, points, self.store.frames[obj], stamp_s=stamp_s,
                                       camera_base=observation.cloud.camera_position_base)
            except TrackingError as error:
                raise _Abort(f'tracking: cannot track {obj}: {error}') from None
        self._track_slides()
        loop.ground_truth_reference(objects)

    def _track_slides(self) -> None:
        """Tell perception which tracked objects slide in which (a drawer in its cabinet):
        the articulation is part of the object's description, like its name, and is read
        here from the simulated object's joint (its axis, travel and zero)."""
        from resem3d_perception.slide_joint import SlideJoint
        loop = self.loop
        assert loop is not None
        tracked = set(loop.perception.names)
        for parent in tracked & set(self.env.objects):
            for child in self.env.object_info(parent).children:
                if child.joint_type != 'slide' or child.name not in tracked:
                    continue
                T_parent = self.store.frames[parent]
                axis_parent = T_parent[:3, :3].T @ self.env.slide_axis(child.name)
                T_zero = np.linalg.inv(T_parent) @ self.store.frames[child.name]
                T_zero[:3, 3] -= self.env.slide_opening_m(child.name) * axis_parent
                loop.perception.add_slide(child.name, SlideJoint(
                    parent, T_zero, axis_parent, child.joint_range_m or (-np.inf, np.inf)))

    def _scene(self, observation: Any) -> Any:
        import resem3d_constraints as rc
        world = self.env.world
        regions = {name: g.region for name, g in self.store.regions.items()}
        poses = dict(self.store.frames)
        for name, system in observation.system_regions.items():
            regions[name] = system.region
            poses.setdefault(system.region.frame, system.T_base_obj)
        return rc.SceneState(T_base_tool=world.T_base_tool(), T_base_obj=poses,
                             regions=regions, gripper_width_m=world.gripper_width_m)

    def _controller(self) -> None:
        from resem3d_controller import JointVelocityController, Obstacle
        self.controller = JointVelocityController(self.controller_config)
        table = self.scene.regions.get('table/top')
        if table is not None:
            self.controller.set_obstacles([Obstacle.from_region(
                table, self.scene.object_pose(table.frame))])

    def _reground(self, index: int) -> Any:
        """Ground subtask ``index`` again in a new frame (after a step back or a retry); if
        the model gives no valid answer, keep the tracked regions and the program."""
        from resem3d_reasoning.client import RecordingClient
        from resem3d_reasoning.engine import ReasoningEngine, ReasoningFailure
        from resem3d_reasoning.grounding import reframe
        from resem3d_reasoning.oracle_frames import simulator_frames
        loop = self.loop
        assert loop is not None and self.monitor is not None
        program = self.monitor.programs[index]
        objects = sorted({r.split('/', 1)[0] for r in self.plan.plan.subtasks[index].regions}
                         & set(self.store.frames))
        frame = loop.fresh_frame()
        start = time.perf_counter()
        observation = _observe(frame, self.segmenter, self.scene_label, self.env)
        loop.observe(self.scene)
        previous = {obj: self.scene.object_pose(obj) for obj in objects}
        old_regions = dict(self.store.regions)
        client = self.client if self.transcript is None else \
            RecordingClient(self.client, transcript=self.transcript)
        engine = ReasoningEngine(client, self.settings.engine,
                                 on_grounded=simulator_frames(self.env))
        entry = {'subtask': index, 't_s': round(loop.t_s, 4), 'objects': objects}
        try:
            result = engine.reground(self.instruction, self.plan.plan, index, observation,
                                     self.store)
        except ReasoningFailure as failure:
            self.reground_stats.append(engine.stats)
            for name, grounded in old_regions.items():     # keep what was grounded
                self.store.regions.setdefault(name, grounded)
            for obj in objects:
                self.store.frames.setdefault(obj, previous[obj])
            entry.update(ok=False, reason=f'{failure.step}: {_failure_reason(failure)}; kept '
                         'the tracked regions')
            self.stats.reground.append(entry)
            loop.event('reground', f'subtask {index}: re-grounding failed, tracked regions kept')
            return program
        self.reground_stats.append(engine.stats)
        self._amodal([name for name in self.store.regions
                      if name.split('/', 1)[0] in objects], frame.T_base_cam[:3, 3])
        # New tracks in the new frames; regions of these objects not grounded again are moved
        # into the new frames from where their tracks had them.
        held = set(self.scene.held)
        for obj in objects:
            if obj in held:
                loop.perception.detach(obj, previous[obj])
        self._ground_tracks(observation, frame.stamp_s, objects)
        for obj in objects:
            T_new = self.store.frames[obj]
            self.scene.set_object_pose(obj, T_new)
            T_new_old = np.linalg.inv(T_new) @ previous[obj]
            for name, region in list(self.scene.regions.items()):
                if region.frame == obj and name not in self.store.regions:
                    self.scene.regions[name] = reframe(region, T_new_old)
            if obj in held:
                loop.perception.attach(obj, self.scene.T_base_tool, T_new)
        for name, grounded in self.store.regions.items():
            self.scene.regions[name] = grounded.region
        entry.update(ok=True, seconds=round(time.perf_counter() - start, 3))
        self.stats.reground.append(entry)
        loop.event('reground', f'subtask {index}: re-grounded {", ".join(objects)}')
        return result.program

    # ------------------------------------------------------------------ execution
    def _observe_scene(self) -> Any:
        assert self.loop is not None
        self.loop.observe(self.scene)
        return self.scene

    def _run_subtask(self, index: int) -> list[Any]:
        from resem3d_controller.executor import run_stage
        import resem3d_constraints as rc
        loop = self.loop
        assert loop is not None and self.monitor is not None
        program = self.monitor.programs[index]
        name = self.plan.plan.subtasks[index].name
        outcomes = []
        for stage in program.stages:
            loop.gripper_issued = False
            self.where = (name, stage.name)
            self.current_stage = stage
            t_start = loop.t_s

            violated_since: list[float] = []

            def should_stop(stage: Any = stage) -> str | None:
                self._live(stage)
                if loop.t_s > self.spec.time_limit_s:
                    return f'time limit {self.spec.time_limit_s:g} s exceeded'
                if not loop.gripper_issued:
                    for condition in stage.pre:
                        result = rc.check(condition, self.scene)
                        if not result.satisfied:
                            if not violated_since:
                                violated_since.append(loop.t_s)
                            if loop.t_s - violated_since[0] >= PRE_GRACE_S:
                                return f'precondition: {result.detail} (while running)'
                            return None
                violated_since.clear()
                return None

            outcome = run_stage(stage, self.controller, self.scene, loop, self.stats.step_us,
                                should_stop)
            outcomes.append(outcome)
            record = {'subtask': name, 'index': index, 'stage': outcome.stage,
                      'reached': outcome.reached, 't_start_s': round(t_start, 4),
                      'time_s': round(outcome.time_s, 4),
                      'max_residual': None if math.isnan(outcome.max_residual)
                      else round(outcome.max_residual, 5), 'reason': outcome.reason}
            self.stats.stages.append(record)
            self.outputs.event({'kind': 'stage', **record})
            self._stage_line(record)
            if outcome.reason.startswith('time limit'):
                raise _Abort(outcome.reason)
            if not outcome.reached:
                break
        return outcomes

    def _live(self, stage: Any) -> None:
        from resem3d_controller.executor import largest_residual
        loop = self.loop
        assert loop is not None
        if not self.progress.live:
            return
        step = percentile(self.stats.step_us[-1000:], 50)
        track = percentile(loop.perception.track_ms[-15:], 50)
        wall = time.perf_counter() - self.wall_start
        self.progress.status(
            f't={loop.t_s:5.2f}s {self.where[0]}/{self.where[1]} '
            f'residual {largest_residual(stage, self.scene):.3f} | ctrl {step or 0:.0f} us/step '
            f'1 kHz (x{loop.t_s / max(wall, 1e-9):.2f} real time) | track {track or 0:.1f} ms'
            + (f' | holding {",".join(sorted(self.scene.held))}' if self.scene.held else ''))

    def _stage_line(self, record: dict[str, Any]) -> None:
        loop = self.loop
        assert loop is not None
        step = percentile(self.stats.step_us, 50)
        track = percentile(loop.perception.track_ms, 50)
        state = 'done' if record['reached'] else f'FAILED ({record["reason"]})'
        residual = record['max_residual']
        self.progress.line(
            f'[{loop.t_s:6.2f} s] {record["subtask"]}/{record["stage"]}: {state} in '
            f'{record["time_s"]:.2f} s, residual '
            f'{"-" if residual is None else f"{residual:.4f}"} | ctrl p50 {step or 0:.0f} us | '
            f'track p50 {track or 0:.1f} ms')

    def _schedule_disturbance(self, programs: list[Any]) -> None:
        loop = self.loop
        assert loop is not None
        if self.disturb is None:
            return
        moved = self.spec.moved_object
        drawers = {c.name for c in self.env.object_info(moved).children
                   if c.joint_type == 'slide'} if moved in self.env.objects else set()
        approached = moved_on_approach({moved} | drawers, _grasped_objects(programs))
        timing = disturbance_time(self.disturb, self.seed, approached)
        distance = timing.distance_m

        def apply() -> None:
            planned = plan_disturbance(self.disturb, self.env, self.seed, loop.t_s, distance,
                                       held=set(self.scene.held))
            target = planned.target
            tracked = target if target in loop.perception.names else None
            self.follow = FollowMeter(planned, tracked)
            before = self.env.pose(target)[:3, 3].copy()
            p_tracked = None if tracked is None else self.scene.object_pose(tracked)[:3, 3].copy()
            self.env.apply(planned.disturbance())
            after = self.env.pose(target)[:3, 3]
            self.follow.applied(loop.t_s, after - before, p_tracked,
                                held=tracked is not None and tracked in self.scene.held)
            loop.event('disturbance', f'{target} moved by {np.linalg.norm(after - before):.3f}'
                       f' m ({planned.note})')
            self.progress.line(f'[{loop.t_s:6.2f} s] disturbance: {target} moved '
                               f'{np.linalg.norm(after - before) * 100:.1f} cm ({planned.note})')

        def on_frame(t_s: float, stamp_s: float) -> None:
            if self.follow is not None and self.follow.tracked_object is not None:
                self.follow.frame(t_s, loop.perception.pose(self.follow.tracked_object)[:3, 3],
                                  stamp_s)

        once: list[bool] = []

        def apply_once(waited_s: float = 0.0) -> None:
            if once:
                return
            if waited_s < HELD_WAIT_MAX_S and \
                    not held_object_clear(self.env, moved, set(self.scene.held)):
                loop.disturbances.append((loop.t_s + HELD_WAIT_STEP_S,
                                          lambda: apply_once(waited_s + HELD_WAIT_STEP_S)))
                loop.disturbances.sort(key=lambda item: item[0])
                return
            once.append(True)
            apply()

        if timing.after_grasp_s is not None:
            def on_event(kind: str) -> None:
                if kind == 'grasp' and not once:
                    loop.disturbances.append((loop.t_s + timing.after_grasp_s, apply_once))
                    loop.disturbances.sort(key=lambda item: item[0])
            loop.event_listeners.append(on_event)
        loop.disturbances.append((timing.at_s, apply_once))
        loop.disturbances.sort(key=lambda item: item[0])
        loop.frame_listeners.append(on_frame)

    def _on_frame(self, frame: Any, results: dict[str, Any]) -> None:
        if not self.outputs.recording or not hasattr(self, 'scene'):
            return
        from .annotations import constraint_overlays, region_overlays
        stage = getattr(self, 'current_stage', None)
        self.outputs.frame(frame, {
            'subtask': self.where[0], 'stage': self.where[1],
            'constraints': [] if stage is None else constraint_overlays(stage, self.scene),
            'regions': [] if stage is None else region_overlays(stage, self.scene),
            'tracks': {name: {'status': r.status.value, 'confidence': r.confidence,
                              'T_base_obj': self.scene.object_pose(name)}
                       for name, r in results.items() if name in self.scene.T_base_obj},
            'held': sorted(self.scene.held)})

    # ------------------------------------------------------------------ the end
    def _judge(self, env: Any, finished: bool, reason: str) -> tuple[bool, str]:
        """The success predicate on the physical state after the world settles."""
        loop = self.loop
        assert loop is not None
        loop.settle(loop.config.settle_s)
        result = env.success()
        if env.world.t_s > self.spec.time_limit_s + loop.config.settle_s:
            return False, f'time limit {self.spec.time_limit_s:g} s exceeded; {result.reason}'
        if result.success:
            return True, result.reason
        if finished:
            return False, f'program finished but the task is not done: {result.reason}'
        return False, f'{reason}; {result.reason}' if reason else result.reason

    def _metrics(self, success: bool, reason: str, step: str, env: Any) -> dict[str, Any]:
        loop = self.loop
        wall = time.perf_counter() - self.wall_start
        mllm: dict[str, Any] = {'backend': self.client_options['backend'],
                                'model': getattr(self.client, 'model', None)}
        calls: dict[str, int] = {}
        invalid: dict[str, int] = {}
        answered: set[str] = set()
        from_oracle = False
        for stats in ([self.plan.stats] if self.plan is not None else []) + self.reground_stats:
            for k, v in stats.calls.items():
                calls[k] = calls.get(k, 0) + v
            for k, v in stats.invalid.items():
                invalid[k] = invalid.get(k, 0) + v
            answered |= set(stats.backends)
            from_oracle |= stats.from_oracle
        calls = {step: self.client.calls.get(step, 0) for step in calls} | self.client.calls
        mllm.update(answered_by=','.join(sorted(answered)), calls=calls,
                    invalid_replies=invalid, total_calls=sum(calls.values()),
                    planning_s=round(self.planning_s, 3))
        if self.client_options['backend'] == 'openai':
            mllm['base_url'] = self.client_options['openai'].get('base_url')
        if from_oracle:
            mllm['note'] = ('the answers came from the simulator oracle (ground truth), not '
                            'from a model')
        step_us = self.stats.step_us
        ticks = len(step_us)
        perception = loop.perception if loop is not None else None
        camera = loop.camera if loop is not None else None
        sim_s = env.world.t_s if env is not None else 0.0
        metrics: dict[str, Any] = {
            'command': 'run', 'task': self.spec.name, 'seed': self.seed,
            'instruction': self.instruction, 'success': bool(success), 'reason': reason,
            'failed_step': None if success else (step or 'execute'),
            'sim_s': round(sim_s, 4), 'wall_s': round(wall, 3),
            'realtime_factor': round(sim_s / wall, 3) if wall > 0 else None,
            'subtasks': [] if self.plan is None else
            [{'name': s.spec.name, 'stages': [st.name for st in s.program.stages]}
             for s in self.plan.subtasks],
            'stages': self.stats.stages,
            'controller': {'rate_hz': round(1.0 / self.controller_config.dt_s, 1),
                           'ticks': ticks, 'step_us_p50': percentile(step_us, 50),
                           'step_us_p99': percentile(step_us, 99),
                           'step_us_max': percentile(step_us, 100),
                           'physics_us_p50': percentile(loop.physics_us, 50) if loop else None},
            'tracking': None if perception is None else {
                'objects': perception.names, 'frames': perception.frames,
                'ms_p50': percentile(perception.track_ms, 50),
                'ms_p95': percentile(perception.track_ms, 95),
                'ms_max': percentile(perception.track_ms, 100),
                'lost_frames': dict(perception.lost_frames),
                'redetections': dict(perception.redetections),
                'updates_kept_back': dict(perception.kept),
                'frames_next_to_gripper': dict(perception.gated),
                'redetect_ms_p50': percentile(perception.redetect_ms, 50),
                'object_frames': self.frames_from,
                'error_vs_simulator_mm': None if loop is None else {
                    name: {'p50': round(1e3 * float(np.median([e for _, e in errors])), 1),
                           'max': round(1e3 * max(e for _, e in errors), 1),
                           'max_at_s': max(errors, key=lambda x: x[1])[0]}
                    for name, errors in loop.tracking_error_m.items() if errors},
                'source': 'tracker (ICP on the camera cloud); held objects follow the tool'},
            'camera': None if loop is None else {
                'hz': loop.config.camera_hz, 'frames': loop.frames,
                'latency_s': round(loop.period_s, 4),
                'render_ms_p50': percentile(camera.render_ms, 50) if camera else None,
                'wait_ms_p50': percentile(loop.camera_wait_ms, 50)},
            'segmenter': self.segmenter_name,
            'regions': {'amodal_centres': dict(self.amodal_shifts)},
            'mllm': mllm, 'from_oracle': from_oracle,
            'disturbance': None if self.disturb is None else (
                self.follow.to_json() if self.follow is not None else
                {'spec': self.disturb.text, 'applied': False,
                 'note': 'the run ended before the disturbance'}),
            'monitor': None if self.monitor is None else {
                'decisions': [{'action': d.action.value, 'index': d.index, 'reason': d.reason}
                              for d in self.monitor.history],
                'step_backs': self.monitor.step_backs, 'reground': self.stats.reground},
            'events': [] if loop is None else loop.events,
            'run_dir': str(self.outputs.directory),
        }
        if loop is not None and os.environ.get('RESEM3D_DEBUG_TRACKING'):
            metrics['tracking_error_timeline'] = loop.tracking_error_m
        return metrics


def _component(error: Exception) -> str | None:
    """The step of an error from a component (None: a bug)."""
    from resem3d_reasoning import ReasoningError
    from resem3d_sim.render_worker import RenderWorkerError
    if isinstance(error, RenderWorkerError):
        return 'camera'
    if isinstance(error, ReasoningError):
        return 'reasoning'
    return _failed_component(error)


def summary(metrics: dict[str, Any]) -> str:
    """A short human summary of a run's metrics."""
    c, t = metrics['controller'], metrics['tracking'] or {}
    lines = [f'{metrics["task"]} (seed {metrics["seed"]}): '
             f'{"SUCCESS" if metrics["success"] else "FAILED"}: {metrics["reason"]}',
             f'sim {metrics["sim_s"]:.2f} s, wall {metrics["wall_s"]:.1f} s; controller p50 '
             f'{c["step_us_p50"]} us, p99 {c["step_us_p99"]} us; tracking p50 {t.get("ms_p50")}'
             f' ms, p95 {t.get("ms_p95")} ms over {t.get("frames", 0)} frames',
             f'model calls: {metrics["mllm"]["total_calls"]} ({metrics["mllm"]["backend"]}'
             + (', ORACLE answers' if metrics['from_oracle'] else '') + ')']
    d = metrics.get('disturbance')
    if d:
        follow = (f'followed in {d["follow_s"]:.3f} s ({d["follow_frames"]} frame(s) '
                  f'delivered, {d.get("follow_frames_showing")} captured after the move)'
                  if d.get('follow_s') is not None else 'not followed')
        lines.append(f'disturbance {d["spec"]}: ' + (
            f'{d["object"]} moved {d["actual_distance_m"]} m at {d["applied_s"]} s, tracking '
            f'{follow}' if d.get('applied') else 'not applied'))
    lines.append(f'outputs: {metrics["run_dir"]}')
    return '\n'.join(lines)


def main_run(options: RunOptions, as_json: bool, stream: TextIO | None = None) -> int:
    """What ``resem3d run`` does after parsing: progress on stderr (one updating line on a
    terminal, else a line per stage), the summary (``--json``: the metrics) on stdout, and the
    exit status (1 with one ``failed:`` line when the task failed)."""
    import json
    metrics = run(options, Progress(stream if stream is not None else sys.stderr))
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        print(summary(metrics))
    if not metrics['success']:
        print(f'failed: {metrics["failed_step"]}: {" ".join(metrics["reason"].split())}',
              file=sys.stderr)
        return 1
    return 0
