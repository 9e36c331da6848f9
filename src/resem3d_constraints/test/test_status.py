"""Tests of the task status and residual reports."""

import math

import numpy as np
import pytest

from resem3d_constraints.exceptions import ConstraintError, StatusError
from resem3d_constraints.status import ConstraintResiduals, TaskState, TaskStatus


def test_task_state():
    assert [s.value for s in TaskState] == ['idle', 'planning', 'executing', 'succeeded',
                                            'failed']
    assert TaskState.SUCCEEDED.done and TaskState.FAILED.done
    assert not (TaskState.IDLE.done or TaskState.PLANNING.done or TaskState.EXECUTING.done)


def test_task_status_defaults_and_coercion():
    status = TaskStatus()
    assert (status.state, status.subtask_index, status.subtask_count, status.stamp_ns) == (
        TaskState.IDLE, -1, 0, 0)
    status = TaskStatus(state='executing', subtask_index=np.int32(2), subtask_count=3,
                        stamp_ns=np.int64(5))
    assert status.state is TaskState.EXECUTING
    assert type(status.subtask_index) is int and type(status.stamp_ns) is int
    assert status == TaskStatus(state=TaskState.EXECUTING, subtask_index=2, subtask_count=3,
                                stamp_ns=5)


@pytest.mark.parametrize('kwargs,match', [
    ({'state': 'sleeping'}, 'state: unknown task state the string "sleeping"'),
    ({'state': 3}, 'state: unknown task state 3'),
    ({'task_id': 7}, 'task_id: expected a string'),
    ({'subtask_index': -2}, 'subtask_index: expected an integer >= -1'),
    ({'subtask_index': 1.0}, 'subtask_index: expected an integer'),
    ({'subtask_count': -1}, 'subtask_count: expected an integer >= 0'),
    ({'subtask_index': 3, 'subtask_count': 3}, 'subtask_index: 3 is not below'),
    ({'stamp_ns': -1}, 'stamp_ns: expected an integer >= 0'),
    ({'stamp_ns': 1.5}, 'stamp_ns'),
    ({'stamp_ns': True}, 'stamp_ns'),
])
def test_task_status_errors(kwargs, match):
    with pytest.raises(StatusError, match=match) as info:
        TaskStatus(**kwargs)
    assert isinstance(info.value, ConstraintError) and isinstance(info.value, ValueError)


def test_residuals():
    report = ConstraintResiduals(stage='s', names=['a', 'b', 'c'],
                                 residuals=np.array([0.004, -0.2, 0.0]),
                                 tolerances=[0.005, 0.05, 0.0], stamp_ns=9)
    assert report.names == ('a', 'b', 'c')
    assert report.residuals == (0.004, -0.2, 0.0) and type(report.residuals[0]) is float
    assert report.met == (True, False, True)
    assert report.max_ratio == pytest.approx(4.0)
    assert ConstraintResiduals('s', ['a'], [0.1], [0.0]).max_ratio == math.inf
    assert ConstraintResiduals('s', [], [], []).max_ratio == 0.0


@pytest.mark.parametrize('args,match', [
    (('s', ['a'], [0.1, 0.2], [0.1]), r'lengths differ \(1, 2, 1\)'),
    (('s', ['a'], [math.nan], [0.1]), r'residuals\[0\]: expected a finite number, got NaN'),
    (('s', ['a'], [0.1], [-0.1]), r'tolerances\[0\]: must be >= 0'),
    (('s', ['a'], ['x'], [0.1]), 'residuals: expected numbers'),
    (('s', [3], [0.1], [0.1]), r'names\[0\]: expected a string'),
    ((None, [], [], []), 'stage: expected a string'),
])
def test_residual_errors(args, match):
    with pytest.raises(StatusError, match=match):
        ConstraintResiduals(*args)
