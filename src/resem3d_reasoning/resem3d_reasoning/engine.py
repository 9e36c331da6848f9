"""Hierarchical recursive reasoning: instruction + observation -> one constraint program per
subtask.

The tree (method reference, section 6), with data instead of generated code:

1. ``plan``: the task becomes ordered subtasks, each naming the regions (``object/part``) its
   constraints need.
2. Per subtask, for the regions not grounded yet:

   a. ``extract`` (part level): the model picks, for each region, the numbered marks that show
      it; the marks' masks are lifted to 3D parts; a new object gets a frame from its parts;
   b. ``refine_flow`` (region level): the model picks a flow per part: ``positional`` (rim
      centre, top surface or tip, from geometry only), ``geometric`` (then ``refine_grid``:
      the model picks cells of a zoomed label grid over the part) or ``none``;
   c. ``program``: the model writes the subtask's constraint program using grounded regions
      only.

Every reply is parsed and validated (:mod:`.replies`); an invalid reply is answered with a new
request that carries the error (``previous_error``), at most ``max_retries`` times, after which
the subtask fails with :class:`ReasoningFailure`. Nothing a model returns is executed: replies
are data that select marks, cells, flows and the fields of a validated program.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

import resem3d_constraints as rc
from resem3d_perception import GridConfig, LabelGrid, Part

from .client import MllmClient, MllmRequest
from .errors import MllmError, OracleError, ReasoningError, ReplyError
from .grounding import (GroundedRegion, GroundingStore, Observation, label_grid, object_frame,
                        part_of_marks, refine)
from .replies import (FlowChoice, MAX_SUBTASKS, PlanReply, SubtaskSpec, Workspace,
                      parse_extract, parse_plan, parse_program, parse_refine_flow,
                      parse_refine_grid)
from .steps import (STEP_NAMES, build_extract_request, build_plan_request,
                    build_program_request, build_refine_flow_request,
                    build_refine_grid_request)

__all__ = ['EngineConfig', 'EngineRun', 'ReasoningEngine', 'ReasoningFailure', 'StepStats',
           'SubtaskResult']

T = TypeVar('T')


class ReasoningFailure(ReasoningError):
    """A reasoning step gave up: no valid reply within the retry bound, or the model failed.

    Attributes:
        step: The step that failed (``plan``, ``extract``, ``refine_flow``, ``refine_grid``,
            ``program``).
        reason: One line: why.
        subtask: The subtask being grounded, if any.
    """

    def __init__(self, step: str, reason: str, subtask: str | None = None) -> None:
        where = f' (subtask {subtask})' if subtask else ''
        super().__init__(f'{step}{where}: {reason}')
        self.step = step
        self.reason = reason
        self.subtask = subtask


@dataclass(frozen=True)
class EngineConfig:
    """Bounds and parameters of the reasoning.

    Attributes:
        max_retries: Re-asks after an invalid reply, per question (so ``1 + max_retries``
            requests at most).
        max_subtasks: Most subtasks a plan may have.
        max_stages: Most stages a subtask's program may have.
        workspace: The box every target must lie in (base frame).
        grid: Label grid of the geometric flow.
    """

    max_retries: int = 2
    max_subtasks: int = 8
    max_stages: int = 24
    workspace: Workspace = field(default_factory=Workspace)
    grid: GridConfig = field(default_factory=GridConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= 10:
            raise ValueError(f'EngineConfig.max_retries must be in [0, 10], got '
                             f'{self.max_retries}')
        if not 1 <= self.max_subtasks <= MAX_SUBTASKS:
            raise ValueError(f'EngineConfig.max_subtasks must be in [1, {MAX_SUBTASKS}], got '
                             f'{self.max_subtasks}')
        if not 1 <= self.max_stages <= 32:
            raise ValueError(f'EngineConfig.max_stages must be in [1, 32], got '
                             f'{self.max_stages}')


@dataclass
class StepStats:
    """Model calls of a run, per step.

    Attributes:
        calls: Requests sent, per step (every step present, zeros included).
        invalid: Replies rejected by validation, per step.
        latency_s: Summed call latency [s], per step.
        backends: Backend names that answered.
        from_oracle: Whether any answer came from the simulator oracle.
    """

    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEP_NAMES, 0))
    invalid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEP_NAMES, 0))
    latency_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEP_NAMES, 0.0))
    backends: set[str] = field(default_factory=set)
    from_oracle: bool = False

    @property
    def total_calls(self) -> int:
        """All requests sent."""
        return sum(self.calls.values())

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {'calls': dict(self.calls), 'invalid': dict(self.invalid),
                'latency_s': {k: round(v, 4) for k, v in self.latency_s.items()},
                'total_calls': self.total_calls, 'backends': sorted(self.backends),
                'from_oracle': self.from_oracle}


@dataclass(frozen=True)
class SubtaskResult:
    """A grounded subtask.

    Attributes:
        spec: Name, goal and the regions the plan gave it.
        program: Its validated constraint program.
        flows: The refinement flow of each region grounded for it.
    """

    spec: SubtaskSpec
    program: rc.ConstraintProgram
    flows: Mapping[str, FlowChoice]


@dataclass
class EngineRun:
    """Everything one reasoning run produced.

    Attributes:
        instruction: The instruction.
        plan: The validated plan.
        subtasks: One result per subtask, in order.
        store: The grounded regions and object frames.
        stats: Model calls per step.
    """

    instruction: str
    plan: PlanReply
    subtasks: list[SubtaskResult]
    store: GroundingStore
    stats: StepStats


class ReasoningEngine:
    """Runs the reasoning tree against one model client.

    Args:
        client: Any :class:`~resem3d_reasoning.client.MllmClient`.
        config: Bounds and parameters.
        on_grounded: Called with the store and the statistics after a subtask's regions are
            grounded and before its program is written and checked against them (``resem3d
            run`` gives oracle runs the simulator's object frames there, so that a program is
            checked in the frames it runs in).
    """

    def __init__(self, client: MllmClient, config: EngineConfig | None = None, *,
                 on_grounded: Callable[[GroundingStore, StepStats], None] | None = None
                 ) -> None:
        self.client = client
        self.config = config if config is not None else EngineConfig()
        self.stats = StepStats()
        self.on_grounded = on_grounded

    # ------------------------------------------------------------------ one question
    def ask(self, step: str, build: Callable[[str | None], MllmRequest],
            parse: Callable[[str], T], subtask: str | None = None) -> T:
        """Ask one question until a reply passes ``parse`` (bounded retries).

        Args:
            step: Step name (for statistics and errors).
            build: Makes the request, given the previous error (None on the first try).
            parse: Validates a reply text into a value; raises ``ReplyError``.
            subtask: The subtask concerned, for the error.

        Raises:
            ReasoningFailure: After ``1 + max_retries`` invalid replies, or when the client
                fails (``MllmError``, or ``OracleError`` from the oracle backend).
        """
        error: str | None = None
        attempts = 1 + self.config.max_retries
        for _ in range(attempts):
            request = build(error)
            self.stats.calls[step] = self.stats.calls.get(step, 0) + 1
            try:
                response = self.client.complete(request)
            except (MllmError, OracleError) as failure:
                raise ReasoningFailure(step, f'the model call failed: {failure}',
                                       subtask) from failure
            self.stats.latency_s[step] = self.stats.latency_s.get(step, 0.0) + \
                float(response.latency_s)
            self.stats.backends.add(response.backend)
            self.stats.from_oracle |= bool(response.from_oracle)
            try:
                return parse(response.text)
            except ReplyError as invalid:
                self.stats.invalid[step] = self.stats.invalid.get(step, 0) + 1
                error = invalid.detail
        raise ReasoningFailure(step, f'no valid reply in {attempts} attempts; last error: '
                                     f'{error}', subtask)

    # ------------------------------------------------------------------ the steps
    def plan(self, instruction: str, observation: Observation) -> PlanReply:
        """Step ``plan``: the subtasks and the regions each needs.

        Raises:
            ReasoningFailure: When no valid plan comes back.
        """
        if not isinstance(instruction, str) or not instruction.strip():
            raise ReasoningFailure('plan', 'the instruction is empty')
        return self.ask(
            'plan',
            lambda error: build_plan_request(instruction, observation,
                                             max_subtasks=self.config.max_subtasks,
                                             previous_error=error),
            lambda text: parse_plan(text, max_subtasks=self.config.max_subtasks))

    def ground(self, instruction: str, spec: SubtaskSpec, observation: Observation,
               store: GroundingStore) -> dict[str, FlowChoice]:
        """Steps ``extract``, ``refine_flow`` and ``refine_grid`` for the regions of ``spec``
        that are neither grounded in ``store`` nor provided by the system.

        Returns:
            The flow chosen for each region grounded now.

        Raises:
            ReasoningFailure: When a step gives no valid reply.
        """
        wanted = [r for r in spec.regions
                  if r not in store and r not in observation.system_regions]
        if not wanted:
            return {}

        parts: dict[str, Part] = {}

        def parse_marks(text: str) -> dict[str, tuple[int, ...]]:
            marks = parse_extract(text, requested=wanted, mark_ids=observation.mark_ids)
            parts.clear()
            for name, ids in marks.items():
                parts[name] = part_of_marks(observation, name, ids)
            return marks

        marks = self.ask('extract', lambda error: build_extract_request(
            instruction, spec, wanted, observation, previous_error=error), parse_marks,
            spec.name)

        by_object: dict[str, list[Part]] = {}
        for name in wanted:
            by_object.setdefault(name.split('/', 1)[0], []).append(parts[name])
        frames = {obj: object_frame(store, obj, obj_parts)
                  for obj, obj_parts in by_object.items()}

        results: dict[str, tuple[rc.Region, np.ndarray]] = {}

        def parse_flows(text: str) -> dict[str, FlowChoice]:
            choices = parse_refine_flow(text, requested=wanted)
            results.clear()
            for name, choice in choices.items():   # geometric ones are refined below
                if choice.flow != 'geometric':
                    results[name] = refine(parts[name], choice, frames[name.split('/', 1)[0]])
            return choices

        flows = self.ask('refine_flow', lambda error: build_refine_flow_request(
            instruction, spec, marks, observation, previous_error=error), parse_flows,
            spec.name)

        cells: dict[str, tuple[int, ...]] = {}
        for name, choice in flows.items():
            if choice.flow == 'geometric':
                cells[name] = self._pick_cells(instruction, spec, name, marks[name],
                                               observation, parts[name], choice,
                                               frames[name.split('/', 1)[0]], results)
        for name in wanted:
            region, point = results[name]
            choice = flows[name]
            store.add(GroundedRegion(
                name=name, region=region, T_base_obj=frames[name.split('/', 1)[0]].copy(),
                marks=marks[name], flow=choice.flow, feature=choice.feature,
                cells=cells.get(name, ()), point_base=point, subtask=spec.name))
        return flows

    def _pick_cells(self, instruction: str, spec: SubtaskSpec, name: str,
                    marks: Sequence[int], observation: Observation, part: Part,
                    choice: FlowChoice, T_base_obj: np.ndarray,  # noqa: N803
                    results: dict[str, tuple[rc.Region, np.ndarray]]) -> tuple[int, ...]:
        """Step ``refine_grid`` for one region: the picked cells, refined into ``results``."""
        grid: LabelGrid = label_grid(observation, marks, self.config.grid)
        if not grid.cells:
            raise ReasoningFailure('refine_grid', f'region {name}: the label grid has no '
                                                  'labelled cell', spec.name)

        def parse_cells(text: str) -> tuple[int, ...]:
            picked = parse_refine_grid(text, labels=grid.cells.keys())
            results[name] = refine(part, choice, T_base_obj, grid=grid, cells=picked)
            return picked

        return self.ask('refine_grid', lambda error: build_refine_grid_request(
            instruction, spec, name, marks, grid, observation, previous_error=error),
            parse_cells, spec.name)

    def program(self, instruction: str, plan: PlanReply, index: int,
                observation: Observation, store: GroundingStore) -> rc.ConstraintProgram:
        """Step ``program``: the validated constraint program of subtask ``index``.

        Raises:
            ReasoningFailure: When no valid program comes back.
        """
        spec = plan.subtasks[index]
        poses = store.poses(observation.system_regions)
        return self.ask('program', lambda error: build_program_request(
            instruction, plan.subtasks, index, store.regions, observation,
            workspace=self.config.workspace, max_stages=self.config.max_stages,
            previous_error=error),
            lambda text: parse_program(text, regions=poses, workspace=self.config.workspace,
                                       max_stages=self.config.max_stages), spec.name)

    # ------------------------------------------------------------------ whole runs
    def solve_subtask(self, instruction: str, plan: PlanReply, index: int,
                      observation: Observation, store: GroundingStore) -> SubtaskResult:
        """Ground the missing regions of subtask ``index`` and write its program."""
        spec = plan.subtasks[index]
        flows = self.ground(instruction, spec, observation, store)
        if self.on_grounded is not None:
            self.on_grounded(store, self.stats)
        program = self.program(instruction, plan, index, observation, store)
        return SubtaskResult(spec, program, flows)

    def reground(self, instruction: str, plan: PlanReply, index: int,
                 observation: Observation, store: GroundingStore) -> SubtaskResult:
        """Ground subtask ``index`` again in a new observation (after a step back).

        Every region and frame of the objects the subtask names is dropped first, so that an
        object that moved gets one new, consistent frame; later subtasks re-ground what they
        miss when they are solved again.
        """
        objects = {r.split('/', 1)[0] for r in plan.subtasks[index].regions
                   if r not in observation.system_regions}
        store.forget_objects(objects)
        return self.solve_subtask(instruction, plan, index, observation, store)

    def run(self, instruction: str, observation: Observation,
            store: GroundingStore | None = None) -> EngineRun:
        """Plan, then ground and program every subtask in order.

        Raises:
            ReasoningFailure: At the first step that gives no valid reply.
        """
        store = store if store is not None else GroundingStore()
        plan = self.plan(instruction, observation)
        subtasks = [self.solve_subtask(instruction, plan, i, observation, store)
                    for i in range(len(plan.subtasks))]
        return EngineRun(instruction, plan, subtasks, store, self.stats)

