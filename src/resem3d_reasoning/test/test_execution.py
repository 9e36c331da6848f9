# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""ProgramProgress and GraphExecutor: a program followed through the controller's statuses
and the residual reports."""

from __future__ import annotations

import threading
from importlib import resources

import pytest

import resem3d_constraints as rc
from resem3d_constraints.status import ConstraintResiduals, TaskState, TaskStatus
from resem3d_reasoning.errors import ConfigError
from resem3d_reasoning.execution import (ExecutionResult, GraphExecutor, ProgramProgress,
                                         ProgressConfig)

MS = 1_000_000
SETTLE_MS = 500


@pytest.fixture(scope='module')
def program() -> rc.ConstraintProgram:
    text = resources.files('resem3d_constraints').joinpath(
        'examples/pick_and_place_mug.json').read_text(encoding='utf-8')
    return rc.parse_program(text)


def residuals(stage: str, stamp_ms: int, residual: float = 0.0) -> ConstraintResiduals:
    return ConstraintResiduals(stage, ('reach', 'tilt'), (residual, 0.0), (0.005, 0.05),
                               stamp_ms * MS)


def status(state: TaskState, stamp_ms: int, *, task_id: str = 't1', index: int = 0,
           stage: str = '', message: str = '') -> TaskStatus:
    return TaskStatus(state=state, task_id=task_id, subtask_index=index, stage=stage,
                      message=message, stamp_ns=stamp_ms * MS)


def test_the_controller_status_of_this_program_decides(program):
    first, last = program.stages[0].name, program.stages[-1].name
    progress = ProgramProgress(program, 't1', 0, published_ns=1000 * MS)
    assert progress.describe() == 'no progress reported'
    assert not progress.on_status(status(TaskState.SUCCEEDED, 1200, index=1))   # other
    assert not progress.on_status(status(TaskState.SUCCEEDED, 1200, task_id='t0'))
    assert not progress.on_status(status(TaskState.FAILED, 900))            # before publishing
    assert progress.on_status(status(TaskState.FAILED, 1100))    # the previous attempt's end
    assert progress.outcome is None
    assert not progress.on_residuals(residuals('elsewhere', 1150))
    assert progress.on_residuals(residuals(first, 1150, 0.07))
    assert progress.describe() == f'stage {first}; largest residual reach = 0.07'
    assert progress.on_status(status(TaskState.EXECUTING, 1200, stage=last))
    assert progress.stage == last and progress.describe() == f'stage {last}'
    assert progress.on_status(status(TaskState.SUCCEEDED, 1300, message='program done'))
    assert progress.outcome == (True, 'program done')
    assert not progress.on_status(status(TaskState.FAILED, 1400))         # ended already


def test_an_end_after_the_settle_time_counts_without_a_running_report(program):
    progress = ProgramProgress(program, 't1', 2, published_ns=0, settle_s=0.5)
    progress.on_status(status(TaskState.FAILED, 600, index=2, message='stage lift: timeout'))
    assert progress.outcome == (False, 'stage lift: timeout')
    progress = ProgramProgress(program, 't1', 2, published_ns=0, settle_s=0.5)
    progress.on_status(status(TaskState.IDLE, 600, index=2))
    assert progress.outcome == (False, 'the controller dropped the program')


class Clock:
    def __init__(self):
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


def test_executor_publishes_and_returns_the_controllers_outcome(program):
    clock = Clock()
    published, feedback = [], []
    executor = GraphExecutor(lambda p, t, i: published.append((p.name, t, i)),
                             ProgressConfig(timeout_s=30.0), clock_ns=clock)
    executor.feed_status(status(TaskState.SUCCEEDED, 0, index=2))       # nothing runs yet
    last = program.stages[-1].name

    def controller():
        while not published:
            threading.Event().wait(0.01)
        executor.feed_residuals(residuals(last, 10))
        executor.feed_residuals(residuals('not_in_program', 20))
        executor.feed_status(status(TaskState.EXECUTING, 30, index=2, stage=last))
        executor.feed_status(status(TaskState.SUCCEEDED, 40, index=2, message='program done'))

    thread = threading.Thread(target=controller)
    thread.start()
    result = executor.run(program, task_id='t1', subtask_index=2,
                          cancelled=threading.Event(), feedback=feedback.append)
    thread.join()
    assert result == ExecutionResult(True, 'program done')
    assert published == [(program.name, 't1', 2)]
    assert [r.stamp_ns for r in feedback] == [10 * MS]


def test_executor_times_out_on_its_clock_and_stops_when_cancelled(program):
    clock = Clock()
    executor = GraphExecutor(lambda *a: None, ProgressConfig(timeout_s=5.0), clock_ns=clock)

    def later():
        threading.Event().wait(0.05)
        executor.feed_residuals(residuals(program.stages[1].name, 10, residual=0.07))
        clock.now_ns = 6_000_000_000
    threading.Thread(target=later).start()
    result = executor.run(program, task_id='t', subtask_index=0, cancelled=threading.Event(),
                          feedback=lambda r: None)
    assert result == (False, f'not done after 5 s (stage {program.stages[1].name}; largest '
                             'residual reach = 0.07)')
    cancelled = threading.Event()
    cancelled.set()
    result = executor.run(program, task_id='t', subtask_index=0, cancelled=cancelled,
                          feedback=lambda r: None)
    assert result == (False, 'cancelled')


def test_progress_config_is_checked():
    with pytest.raises(ConfigError, match='timeout_s'):
        ProgressConfig(timeout_s=0.0)
    with pytest.raises(ConfigError, match='settle_s'):
        ProgressConfig(settle_s=-1.0)
