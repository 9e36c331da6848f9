# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Running one subtask's program in the node graph: publish it, follow the controller.

In the ROS graph the reasoning does not move the robot: it publishes a subtask's constraint
program (with its task id and subtask index), the controller runs it stage by stage and
reports its progress as a ``resem3d_msgs/TaskStatus`` (``/resem3d/controller_status``: the
task id and subtask index of the program it runs, EXECUTING with the active stage, then
SUCCEEDED or FAILED with the reason), and the constraints node reports the residuals of the
active stage (``/resem3d/residuals``).

:class:`ProgramProgress` reads both for one program. The controller's statuses for *this*
program decide the outcome: same task id and subtask index, stamped after it was published,
and either after a report of it running or ``settle_s`` later (so a retry of a subtask does
not take the end of the previous attempt for its own). The residual reports of its stages are
the feedback. :class:`GraphExecutor` runs a program that way: publish, wait until the
controller reports its end, the task is cancelled or ``timeout_s`` passes (the caller's
clock), forwarding every residual report.

A :class:`ProgramExecutor` is what the task runner needs; anything that runs a program and
says how it ended fits (a simulator, a test double).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import resem3d_constraints as rc
from resem3d_constraints.status import ConstraintResiduals, TaskState, TaskStatus

from .errors import ConfigError

__all__ = ['ExecutionResult', 'FeedbackFn', 'GraphExecutor', 'ProgramExecutor',
           'ProgramProgress', 'ProgressConfig']

FeedbackFn = Callable[[ConstraintResiduals], None]
"""Receives the residual reports of the running program."""


class ExecutionResult(NamedTuple):
    """How a program run ended: ``success``, and ``reason`` in one line."""

    success: bool
    reason: str


class ProgramExecutor(Protocol):
    """Runs one subtask's program to its end (blocking)."""

    def run(self, program: rc.ConstraintProgram, *, task_id: str, subtask_index: int,
            cancelled: threading.Event, feedback: FeedbackFn) -> ExecutionResult:
        """Run ``program``; return early (unsuccessful) once ``cancelled`` is set."""
        ...


@dataclass(frozen=True)
class ProgressConfig:
    """How long a program may take, and when the controller's report of its end counts.

    Attributes:
        timeout_s: Longest run of one program [s] (caller's clock), from its publication to
            the controller's report of its end.
        settle_s: A report of the end (succeeded, failed) stamped less than this after the
            publication counts only once the controller reported the program running: until
            it has received the program, the controller still reports how the previous one
            ended, and a retry of a subtask has the same task id and index.
    """

    timeout_s: float = 120.0
    settle_s: float = 0.5

    def __post_init__(self) -> None:
        for name, low in (('timeout_s', 1e-3), ('settle_s', 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < low:
                raise ConfigError(f'ProgressConfig.{name} must be a number >= {low:g}, got '
                                  f'{value!r}')


class ProgramProgress:
    """Where one published program stands, from the controller's statuses and the residuals.

    Args:
        program: The program.
        task_id: The task it belongs to (as published).
        subtask_index: Its subtask index (as published).
        published_ns: When it was published [ns]; earlier statuses are ignored.
        settle_s: See :attr:`ProgressConfig.settle_s`.
    """

    def __init__(self, program: rc.ConstraintProgram, task_id: str, subtask_index: int,
                 published_ns: int = 0, settle_s: float = 0.5) -> None:
        self.stage_names = tuple(stage.name for stage in program.stages)
        self.task_id = task_id
        self.subtask_index = subtask_index
        self.published_ns = int(published_ns)
        self.settled_ns = self.published_ns + int(round(settle_s * 1e9))
        self.running = False
        self.stage = ''
        self.latest: ConstraintResiduals | None = None
        self.outcome: ExecutionResult | None = None

    def on_status(self, status: TaskStatus) -> bool:
        """Take a controller status; those of other programs or older ones are ignored.

        Returns:
            Whether it was about this program.
        """
        if (status.task_id, status.subtask_index) != (self.task_id, self.subtask_index) \
                or status.stamp_ns < self.published_ns or self.outcome is not None:
            return False
        if status.stage in self.stage_names:
            self.stage = status.stage
        if status.state == TaskState.EXECUTING:
            self.running = True
        elif not self.running and status.stamp_ns < self.settled_ns:
            return True                       # may still be the end of the previous program
        if status.state == TaskState.SUCCEEDED:
            self.outcome = ExecutionResult(True, status.message or 'program done')
        elif status.state == TaskState.FAILED:
            self.outcome = ExecutionResult(False, status.message or 'the controller failed')
        elif status.state == TaskState.IDLE:
            self.outcome = ExecutionResult(False, 'the controller dropped the program')
        return True

    def on_residuals(self, residuals: ConstraintResiduals) -> bool:
        """Take a residual report; those of stages not in the program are ignored.

        Returns:
            Whether it was taken.
        """
        if residuals.stage not in self.stage_names:
            return False
        self.stage, self.latest = residuals.stage, residuals
        return True

    def describe(self) -> str:
        """Where the program stands, in a few words."""
        if not self.stage:
            return 'no progress reported'
        worst = ''
        latest = self.latest
        if latest is not None and latest.stage == self.stage and latest.names:
            i = max(range(len(latest.names)), key=lambda k: abs(latest.residuals[k]))
            worst = f'; largest residual {latest.names[i]} = {latest.residuals[i]:.4g}'
        return f'stage {self.stage}{worst}'


class GraphExecutor:
    """Runs programs by publishing them and following the controller's statuses.

    Args:
        publish: Publishes a program with the task id and subtask index it belongs to.
        config: The timeout.
        clock_ns: The clock of the statuses and the timeout [ns] (the node's ROS clock:
            simulated time in simulation).
    """

    def __init__(self, publish: Callable[[rc.ConstraintProgram, str, int], None],
                 config: ProgressConfig | None = None,
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.publish = publish
        self.config = config if config is not None else ProgressConfig()
        self.clock_ns = clock_ns
        self._cond = threading.Condition()
        self._progress: ProgramProgress | None = None
        self._feedback: FeedbackFn | None = None

    def feed_status(self, status: TaskStatus) -> None:
        """A controller status arrived (from any thread)."""
        with self._cond:
            if self._progress is not None and self._progress.on_status(status):
                self._cond.notify_all()

    def feed_residuals(self, residuals: ConstraintResiduals) -> None:
        """A residual report arrived (from any thread)."""
        with self._cond:
            progress, feedback = self._progress, self._feedback
            taken = progress is not None and progress.on_residuals(residuals)
        if taken and feedback is not None:
            feedback(residuals)

    def run(self, program: rc.ConstraintProgram, *, task_id: str, subtask_index: int,
            cancelled: threading.Event, feedback: FeedbackFn) -> ExecutionResult:
        """Publish ``program`` and wait until the controller ends it, the task is cancelled
        or the timeout passes."""
        start_ns = self.clock_ns()
        progress = ProgramProgress(program, task_id, subtask_index, start_ns,
                                   self.config.settle_s)
        with self._cond:
            self._progress, self._feedback = progress, feedback
        try:
            self.publish(program, task_id, subtask_index)
            deadline = start_ns + int(self.config.timeout_s * 1e9)
            with self._cond:
                while True:
                    if progress.outcome is not None:
                        return progress.outcome
                    if cancelled.is_set():
                        return ExecutionResult(False, 'cancelled')
                    left_s = (deadline - self.clock_ns()) * 1e-9
                    if left_s <= 0.0:
                        return ExecutionResult(False, f'not done after '
                                                      f'{self.config.timeout_s:g} s '
                                                      f'({progress.describe()})')
                    self._cond.wait(min(left_s, 0.1))
        finally:
            with self._cond:
                if self._progress is progress:
                    self._progress, self._feedback = None, None
