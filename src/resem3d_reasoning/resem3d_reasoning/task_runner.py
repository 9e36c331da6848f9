# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""One instruction at a time, from the words to the last subtask, in a worker thread.

:class:`TaskRunner` is the reasoning node's core. :meth:`TaskRunner.submit` checks an
instruction (text, not empty, one line of printable characters, at most
``max_instruction_chars``), refuses it while another task runs, gives it a task id and starts
a worker thread that:

1. observes (the observation provider: the node asks perception's ``Observe`` service);
2. plans, then grounds every subtask and writes its program (the reasoning engine, as
   :func:`~resem3d_reasoning.planning.plan_observation` does in one process), and hands the
   grounded regions to ``on_grounded`` (the node publishes them for perception to track);
3. runs the subtasks' programs in order (the :class:`~resem3d_reasoning.execution.
   ProgramExecutor`); a subtask that does not finish is re-grounded in a new observation and
   run again, at most ``max_execution_retries`` times (later subtasks that lost regions in
   the re-grounding are grounded again too).

Progress is reported as :class:`resem3d_constraints.status.TaskStatus` (``on_status``) and as
feedback with the running stage's residuals (``on_feedback``). :meth:`TaskRunner.cancel`
stops a task between steps and interrupts a running program. Every failure (no valid model
reply, a model outage or timeout, no observation, a program that does not finish, a bug)
ends the task FAILED with a one-line reason: nothing is raised out of the worker thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import resem3d_constraints as rc
from resem3d_constraints.status import ConstraintResiduals, TaskState, TaskStatus
from resem3d_perception import PerceptionError

from .client import MllmClient
from .engine import EngineConfig, ReasoningEngine
from .errors import ConfigError, ReasoningError
from .execution import ProgramExecutor
from .grounding import GroundingStore
from .replies import PlanReply
from .ros_observation import ObservedFrame

__all__ = ['RunnerConfig', 'Submission', 'TaskOutcome', 'TaskRunner', 'check_instruction']

_LOG = logging.getLogger(__name__)

ObserveFn = Callable[[], ObservedFrame]
GroundedFn = Callable[[GroundingStore, dict[str, int]], None]
StatusFn = Callable[[TaskStatus], None]
FeedbackFn = Callable[[TaskStatus, 'ConstraintResiduals | None'], None]


@dataclass(frozen=True)
class RunnerConfig:
    """Bounds of a task.

    Attributes:
        max_instruction_chars: Longest instruction accepted (characters).
        max_execution_retries: Re-groundings of a subtask that did not finish.
    """

    max_instruction_chars: int = 500
    max_execution_retries: int = 1

    def __post_init__(self) -> None:
        for name, low in (('max_instruction_chars', 1), ('max_execution_retries', 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f'RunnerConfig.{name} must be an integer >= {low}, got '
                                  f'{value!r}')


class Submission(NamedTuple):
    """The answer to :meth:`TaskRunner.submit`: ``accepted``, the new ``task_id`` ('' when
    refused) and a one-line ``message``."""

    accepted: bool
    task_id: str
    message: str


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended.

    Attributes:
        task_id: The task.
        success: Whether every subtask finished.
        reason: Why it failed or was cancelled ('' on success).
        duration_s: Wall time from acceptance to the end [s].
        subtasks_completed: Subtasks that finished.
        subtask_count: Subtasks planned (0 if planning failed).
        replans: Re-groundings after a subtask did not finish.
    """

    task_id: str
    success: bool
    reason: str
    duration_s: float
    subtasks_completed: int
    subtask_count: int
    replans: int


class _Cancelled(Exception):
    pass


class _Failed(Exception):
    pass


def check_instruction(instruction: Any, max_chars: int = 500) -> str | None:
    """Why an instruction cannot be run, or None when it can."""
    if not isinstance(instruction, str):
        return 'the instruction must be text'
    if not instruction.strip():
        return 'the instruction is empty'
    if len(instruction) > max_chars:
        return f'the instruction is too long ({len(instruction)} characters; at most {max_chars})'
    if not instruction.isprintable():
        return 'the instruction holds control characters (e.g. a line break): send one line'
    return None


@dataclass
class _Task:
    task_id: str
    instruction: str
    task_name: str
    cancelled: threading.Event
    done: threading.Event
    started: float
    count: int = 0
    completed: int = 0
    replans: int = 0
    outcome: TaskOutcome | None = None


class TaskRunner:
    """Runs one instruction at a time (see the module docstring).

    Args:
        client: The model client.
        engine_config: Bounds of the reasoning engine.
        observe: Returns the current observation (blocking; raises on failure).
        executor: Runs a subtask's program.
        on_status: Receives every status change.
        on_grounded: Receives the grounded regions and, per object, the stamp of the
            observation it was grounded in, whenever they change.
        on_feedback: Receives the status with the running stage's residuals (None between
            programs).
        config: Bounds of a task.
        clock_ns: Stamps of the statuses [ns] (the node's clock).
    """

    def __init__(self, client: MllmClient, engine_config: EngineConfig | None, *,
                 observe: ObserveFn, executor: ProgramExecutor,
                 on_status: StatusFn | None = None, on_grounded: GroundedFn | None = None,
                 on_feedback: FeedbackFn | None = None, config: RunnerConfig | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.client = client
        self.engine_config = engine_config
        self.observe = observe
        self.executor = executor
        self.on_status = on_status
        self.on_grounded = on_grounded
        self.on_feedback = on_feedback
        self.config = config if config is not None else RunnerConfig()
        self.clock_ns = clock_ns
        self._lock = threading.Lock()
        self._task: _Task | None = None
        self._tasks: dict[str, _Task] = {}
        self._numbers = itertools.count(1)
        self._status = TaskStatus(stamp_ns=clock_ns())

    # ------------------------------------------------------------------ control
    @property
    def status(self) -> TaskStatus:
        """The latest status."""
        with self._lock:
            return self._status

    @property
    def busy(self) -> bool:
        """Whether a task is running."""
        with self._lock:
            return self._task is not None and not self._task.done.is_set()

    def submit(self, instruction: str, task_name: str = '') -> Submission:
        """Start a task, unless the instruction is invalid or a task is running."""
        problem = check_instruction(instruction, self.config.max_instruction_chars)
        if problem is not None:
            return Submission(False, '', problem)
        with self._lock:
            running = self._task
            if running is not None and not running.done.is_set():
                return Submission(False, '', f'task {running.task_id} is still running: wait '
                                             'for it or cancel it first')
            task = _Task(f'task-{next(self._numbers)}-{uuid.uuid4().hex[:6]}',
                         instruction.strip(), str(task_name or ''), threading.Event(),
                         threading.Event(), time.monotonic())
            self._task = self._tasks[task.task_id] = task
        self._report(task, TaskState.PLANNING, message='accepted')
        threading.Thread(target=self._run, args=(task,), name=task.task_id, daemon=True).start()
        return Submission(True, task.task_id, 'accepted')

    def cancel(self, task_id: str = '') -> bool:
        """Ask the running task (or ``task_id``, if it runs) to stop; False if none runs."""
        with self._lock:
            task = self._task
        if task is None or task.done.is_set() or (task_id and task.task_id != task_id):
            return False
        task.cancelled.set()
        return True

    def wait(self, task_id: str, timeout_s: float | None = None) -> TaskOutcome | None:
        """The outcome of ``task_id`` once it ended (None if not within ``timeout_s``)."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None or not task.done.wait(timeout_s):
            return None
        return task.outcome

    # ------------------------------------------------------------------ the worker
    def _report(self, task: _Task, state: TaskState, index: int = -1, subtask: str = '',
                stage: str = '', message: str = '',
                residuals: ConstraintResiduals | None = None) -> None:
        status = TaskStatus(state=state, task_id=task.task_id, instruction=task.instruction,
                            subtask=subtask, subtask_index=index,
                            subtask_count=max(task.count, index + 1), stage=stage,
                            message=message, stamp_ns=self.clock_ns())
        with self._lock:
            changed = residuals is None or status.stage != self._status.stage
            self._status = status
        for callback, args in ((self.on_status if changed else None, (status,)),
                               (self.on_feedback, (status, residuals))):
            if callback is not None:
                try:
                    callback(*args)
                except Exception:  # a reporting problem must not end the task
                    _LOG.exception('%s: status callback failed', task.task_id)

    def _run(self, task: _Task) -> None:
        reason = ''
        try:
            self._body(task)
        except _Cancelled:
            reason = 'cancelled'
        except _Failed as failure:
            reason = str(failure)
        except (ReasoningError, PerceptionError, rc.ConstraintError) as error:
            reason = str(error)
        except Exception as error:  # a bug: report it, never raise out of the thread
            _LOG.exception('%s failed', task.task_id)
            reason = f'internal error: {type(error).__name__}: {error}'
        task.outcome = TaskOutcome(task.task_id, not reason, reason,
                                   time.monotonic() - task.started, task.completed, task.count,
                                   task.replans)
        self._report(task, TaskState.FAILED if reason else TaskState.SUCCEEDED,
                     message=reason or f'{task.completed} subtask(s) done')
        task.done.set()

    def _observe(self, task: _Task) -> ObservedFrame:
        self._check(task)
        observed = self.observe()
        scene = observed.observation.scene
        if task.task_name and scene and scene.split('@', 1)[0] != task.task_name:
            raise _Failed(f'the simulated scene is {scene}, not task {task.task_name}')
        if getattr(self.client, 'name', '') == 'oracle' and not scene:
            raise _Failed('the oracle backend needs the simulated scene (task@seed): set the '
                          "perception node's scene parameter (simulation only)")
        return observed

    def _check(self, task: _Task) -> None:
        if task.cancelled.is_set():
            raise _Cancelled()

    def _body(self, task: _Task) -> None:
        observed = self._observe(task)
        engine = ReasoningEngine(self.client, self.engine_config)
        store = GroundingStore()
        self._report(task, TaskState.PLANNING, message='planning')
        plan = engine.plan(task.instruction, observed.observation)
        task.count = len(plan.subtasks)
        programs: list[rc.ConstraintProgram] = []
        for i, spec in enumerate(plan.subtasks):
            self._check(task)
            self._report(task, TaskState.PLANNING, i, spec.name, message='grounding')
            programs.append(engine.solve_subtask(task.instruction, plan, i,
                                                 observed.observation, store).program)
        stamps = dict.fromkeys(store.frames, observed.stamp_ns)
        self._grounded(store, stamps)
        for i, spec in enumerate(plan.subtasks):
            retries = 0
            while True:
                self._check(task)
                self._report(task, TaskState.EXECUTING, i, spec.name,
                             stage=programs[i].stages[0].name, message='executing')
                result = self.executor.run(
                    programs[i], task_id=task.task_id, subtask_index=i,
                    cancelled=task.cancelled,
                    feedback=lambda r, i=i, name=spec.name: self._report(
                        task, TaskState.EXECUTING, i, name, stage=r.stage,
                        message='executing', residuals=r))
                if result.success:
                    task.completed += 1
                    break
                self._check(task)
                if retries >= self.config.max_execution_retries:
                    raise _Failed(f'subtask {i} ({spec.name}) did not finish: {result.reason}')
                retries += 1
                task.replans += 1
                self._report(task, TaskState.PLANNING, i, spec.name,
                             message=f'subtask did not finish ({result.reason}); re-grounding')
                observed = self._observe(task)
                self._reground(task, engine, plan, i, observed, store, programs, stamps)

    def _reground(self, task: _Task, engine: ReasoningEngine, plan: PlanReply, index: int,
                  observed: ObservedFrame, store: GroundingStore,
                  programs: list[rc.ConstraintProgram], stamps: dict[str, int]) -> None:
        """Ground subtask ``index`` again in ``observed``, and the later subtasks that lost
        regions with it; publish the new groundings."""
        observation = observed.observation
        before = dict(store.regions)
        programs[index] = engine.reground(task.instruction, plan, index, observation,
                                          store).program
        for j in range(index + 1, len(plan.subtasks)):
            missing = [r for r in plan.subtasks[j].regions
                       if r not in store and r not in observation.system_regions]
            if missing:
                self._check(task)
                programs[j] = engine.solve_subtask(task.instruction, plan, j, observation,
                                                   store).program
        for name, grounded in store.regions.items():
            if before.get(name) is not grounded:
                stamps[grounded.region.frame] = observed.stamp_ns
        for obj in [o for o in stamps if o not in store.frames]:
            del stamps[obj]
        self._grounded(store, stamps)

    def _grounded(self, store: GroundingStore, stamps: dict[str, int]) -> None:
        if self.on_grounded is not None:
            self.on_grounded(store, dict(stamps))
