"""Plan a simulated task end to end: render its camera, perceive, reason, report.

:func:`plan_task` is what ``resem3d plan <task> --seed N --json`` runs: it builds the task's
scene (``resem3d_sim``), renders one RGB-D frame, segments it with the simulator's
ground-truth segmenter, draws marks, and runs the :class:`~resem3d_reasoning.engine.
ReasoningEngine` against the given model client. The table top is the one region the system
provides (the workcell's known geometry). :class:`PlanResult` holds the plan, every subtask's
validated program, the grounded regions, the model calls per step and the timings;
:meth:`PlanResult.to_json` gives it as plain JSON values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import resem3d_constraints as rc

from .client import MllmClient, RecordingClient
from .engine import EngineConfig, ReasoningEngine, StepStats, SubtaskResult
from .grounding import GroundedRegion, GroundingStore, Observation, observe_frame, system_region
from .replies import PlanReply, RegionPose

__all__ = ['PlanResult', 'env_system_regions', 'observe_task', 'plan_observation', 'plan_task']

#: Regions every simulated workcell provides without asking the model.
SYSTEM_REGIONS = ('table/top',)


@dataclass
class PlanResult:
    """The outcome of planning one task.

    Attributes:
        task: Task name.
        seed: Scene seed.
        instruction: The instruction reasoned about.
        backend: Backend(s) that answered, comma-separated.
        model: The client's model name.
        from_oracle: Whether any answer came from the simulator oracle (then the result shows
            what the execution stack does with ground-truth answers, not what a model does).
        plan: The validated plan.
        subtasks: One result (program and flows) per subtask.
        regions: Every grounded region, by name.
        system_regions: Names of the regions the system provided.
        stats: Model calls, invalid replies and latency per step.
        perception_s: Wall time of rendering and perception [s].
        reasoning_s: Wall time of the reasoning (model calls, validation, refinement) [s].
        wall_s: Total wall time [s].
    """

    task: str
    seed: int
    instruction: str
    backend: str
    model: str
    from_oracle: bool
    plan: PlanReply
    subtasks: list[SubtaskResult]
    regions: dict[str, GroundedRegion]
    system_regions: tuple[str, ...]
    stats: StepStats
    perception_s: float
    reasoning_s: float
    wall_s: float

    @property
    def programs(self) -> dict[str, rc.ConstraintProgram]:
        """Subtask name -> validated program."""
        return {r.spec.name: r.program for r in self.subtasks}

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (dicts, lists, str, finite numbers, bool, None)."""
        return {
            'task': self.task, 'seed': self.seed, 'instruction': self.instruction,
            'backend': self.backend, 'model': self.model, 'from_oracle': self.from_oracle,
            'subtasks': [{
                'name': r.spec.name, 'goal': r.spec.goal, 'regions': list(r.spec.regions),
                'flows': {name: {'flow': c.flow, 'feature': c.feature,
                                 'direction': c.direction} for name, c in r.flows.items()},
                'program': rc.program_to_json(r.program),
            } for r in self.subtasks],
            'regions': {name: g.to_json() for name, g in self.regions.items()},
            'system_regions': list(self.system_regions),
            'calls': dict(self.stats.calls), 'invalid_replies': dict(self.stats.invalid),
            'total_calls': self.stats.total_calls,
            'model_latency_s': {k: round(v, 4) for k, v in self.stats.latency_s.items()},
            'perception_s': round(self.perception_s, 4),
            'reasoning_s': round(self.reasoning_s, 4), 'wall_s': round(self.wall_s, 4),
        }


def observe_task(task: str, seed: int) -> Observation:
    """Build ``task`` at ``seed``, render its camera once and perceive the frame.

    Raises:
        resem3d_sim.catalog.UnknownTaskError: For an unknown task.
    """
    return _observe_env(task, seed)[1]


def _observe_env(task: str, seed: int) -> tuple[Any, Observation]:
    """(the task environment, its first frame perceived): :func:`observe_task`."""
    import resem3d_sim  # noqa: F401  (configures headless GL before mujoco is imported)
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv

    from .oracle import scene_name

    env = TaskEnv.build(get_task(task), seed)
    with env.camera() as camera:
        frame = camera.render()
    return env, observe_frame(frame, scene=scene_name(task, seed),
                              system_regions=env_system_regions(env))


def env_system_regions(env: Any) -> dict[str, RegionPose]:
    """The :data:`SYSTEM_REGIONS` of a simulated task environment (``resem3d_sim.tasks.
    TaskEnv``) with their object poses now: the workcell's known geometry."""
    system: dict[str, RegionPose] = {}
    for name in SYSTEM_REGIONS:
        obj = name.split('/', 1)[0]
        if obj in env.objects:
            system[name] = system_region(env.object_info(obj).region(name), env.pose(obj))
    return system


def plan_task(task: str, seed: int, client: MllmClient, *, instruction: str | None = None,
              transcript: Any = None, config: EngineConfig | None = None) -> PlanResult:
    """Plan a simulated task with a model client (with oracle answers, in the simulator's
    object frames: :mod:`~resem3d_reasoning.oracle_frames`).

    Args:
        task: Task name (``resem3d_sim.catalog``).
        seed: Scene seed.
        client: The model client (``OracleClient`` for ground-truth answers).
        instruction: The instruction; default the task's own.
        transcript: A :class:`~resem3d_reasoning.transcript.Transcript` to record every
            exchange in (the client is wrapped in a ``RecordingClient``); None records nothing.
        config: Engine bounds; default :class:`EngineConfig`.

    Raises:
        ReasoningFailure: When a step gives no valid reply within its retries.
        resem3d_sim.catalog.UnknownTaskError: For an unknown task.
    """
    from .oracle_frames import simulator_frames
    start = time.perf_counter()
    env, observation = _observe_env(task, seed)
    return plan_observation(task, seed, observation, client, instruction=instruction,
                            transcript=transcript, config=config,
                            perception_s=time.perf_counter() - start,
                            on_grounded=simulator_frames(env))


def plan_observation(task: str, seed: int, observation: Observation, client: MllmClient, *,
                     instruction: str | None = None, transcript: Any = None,
                     config: EngineConfig | None = None, store: GroundingStore | None = None,
                     perception_s: float = 0.0,
                     on_grounded: Callable[[GroundingStore, StepStats], None] | None = None
                     ) -> PlanResult:
    """Plan a simulated task from an observation the caller made (e.g. the first camera frame
    of a closed-loop run).

    Args:
        task: Task name (its instruction is the default one).
        seed: Scene seed.
        observation: The perceived frame (:func:`~resem3d_reasoning.grounding.observe_frame`).
        client: The model client.
        instruction: The instruction; default the task's own.
        transcript: As :func:`plan_task`.
        config: Engine bounds; default :class:`EngineConfig`.
        store: The grounding store to fill (kept by a caller that re-grounds later); default
            a new one.
        perception_s: Wall time the caller spent making the observation [s] (reported).
        on_grounded: As :class:`~resem3d_reasoning.engine.ReasoningEngine`'s.

    Raises:
        ReasoningFailure: When a step gives no valid reply within its retries.
        resem3d_sim.catalog.UnknownTaskError: For an unknown task.
    """
    from resem3d_sim.catalog import get_task

    spec = get_task(task)
    start = time.perf_counter()
    if transcript is not None:
        client = RecordingClient(client, transcript=transcript)
    engine = ReasoningEngine(client, config, on_grounded=on_grounded)
    run = engine.run(instruction if instruction is not None else spec.instruction, observation,
                     store)
    end = time.perf_counter()
    return PlanResult(
        task=task, seed=seed, instruction=run.instruction,
        backend=','.join(sorted(run.stats.backends)), model=client.model,
        from_oracle=run.stats.from_oracle, plan=run.plan, subtasks=run.subtasks,
        regions=dict(run.store.regions), system_regions=tuple(observation.system_regions),
        stats=run.stats, perception_s=perception_s, reasoning_s=end - start,
        wall_s=perception_s + end - start)
