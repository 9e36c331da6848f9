# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""TaskRunner: a simulated task observed through perception's Observe response, reasoned with
the oracle and the replay backends, run by plain-Python executors."""

from __future__ import annotations

import pytest
from reasoning_ros_support import (BASE_FRAME, STAMP_NS, TASK, ScriptedExecutor, cdr,
                                   simulated_task)

from resem3d_constraints.ros_conversions import region_from_msg
from resem3d_constraints.status import TaskState
from resem3d_reasoning import RecordingClient, Transcript
from resem3d_reasoning.errors import MllmTimeoutError
from resem3d_reasoning.execution import ExecutionResult
from resem3d_reasoning.oracle import OracleClient
from resem3d_reasoning.ros_observation import (ObservationError, grounded_regions_to_msg,
                                               observation_from_response)
from resem3d_reasoning.settings import client_options, make_task_client
from resem3d_reasoning.task_runner import RunnerConfig, TaskRunner, check_instruction

INSTRUCTION = 'pour the beaker into the flask'


@pytest.fixture(scope='module')
def task():
    return simulated_task()


@pytest.fixture(scope='module')
def response(task):
    return task.response()


class Recorder:
    """Collects what the runner reports."""

    def __init__(self):
        self.statuses = []
        self.feedback = []
        self.grounded = []

    def status(self, status):
        self.statuses.append(status)

    def on_feedback(self, status, residuals):
        self.feedback.append((status, residuals))

    def on_grounded(self, store, stamps):
        self.grounded.append((dict(store.regions), dict(store.frames), stamps))


def make_runner(client, observe, executor, recorder=None, **config):
    recorder = recorder or Recorder()
    runner = TaskRunner(client, None, observe=observe, executor=executor,
                        on_status=recorder.status, on_grounded=recorder.on_grounded,
                        on_feedback=recorder.on_feedback, config=RunnerConfig(**config),
                        clock_ns=lambda: 42)
    return runner, recorder


def run(runner, instruction=INSTRUCTION, task_name=''):
    submission = runner.submit(instruction, task_name)
    assert submission.accepted, submission.message
    outcome = runner.wait(submission.task_id, timeout_s=60.0)
    assert outcome is not None
    return submission, outcome


def test_oracle_task_runs_every_subtask(response):
    executor = ScriptedExecutor()
    runner, recorder = make_runner(OracleClient(),
                                   lambda: observation_from_response(response), executor)
    submission, outcome = run(runner, task_name=TASK)
    assert outcome.success and outcome.reason == '' and outcome.replans == 0
    assert outcome.subtask_count == outcome.subtasks_completed == 2
    assert [(i, name) for _, i, name in executor.runs] == [
        (0, f'oracle.{TASK}.s1_grasp'), (1, f'oracle.{TASK}.s2_return_upright')]
    assert {task_id for task_id, _, _ in executor.runs} == {submission.task_id}
    states = [s.state for s in recorder.statuses]
    assert states[0] == TaskState.PLANNING and states[-1] == TaskState.SUCCEEDED
    assert TaskState.EXECUTING in states
    executing = [s for s in recorder.statuses if s.state == TaskState.EXECUTING]
    assert {s.subtask_index for s in executing} == {0, 1}
    assert all(s.subtask_count == 2 and s.stamp_ns == 42 for s in executing)
    assert runner.status.state == TaskState.SUCCEEDED and not runner.busy
    with_residuals = [r for _, r in recorder.feedback if r is not None]
    assert len(with_residuals) == 2 and with_residuals[0].names == ('c',)
    (regions, frames, stamps), = recorder.grounded
    assert {'beaker/body', 'beaker/rim', 'flask/mouth'} <= set(regions)
    assert set(stamps) == set(frames) == {'beaker', 'flask'}
    assert set(stamps.values()) == {STAMP_NS}


def test_grounded_regions_go_back_to_perception_and_get_tracked(task, response):
    recorder = Recorder()
    runner, _ = make_runner(OracleClient(), lambda: observation_from_response(response),
                            ScriptedExecutor(), recorder)
    run(runner)
    (regions, frames, stamps), = recorder.grounded

    class Store:        # what on_grounded received
        pass
    store = Store()
    store.regions, store.frames = regions, frames
    msg = cdr(task.typestore, grounded_regions_to_msg(task.types, store, stamps,
                                                      frame_id=BASE_FRAME, stamp_ns=99))
    placed = [region_from_msg(r) for r in msg.regions]
    kinds = {p.region.name: p.kind for p in placed}
    assert kinds['beaker/rim'] == 'rim' and kinds['beaker/spout'] == 'cells'
    assert kinds['beaker/body'] == 'part'
    reports = {r.object: r for r in task.service.ground(placed)}
    assert set(reports) == {'beaker', 'flask'}
    assert all(r.source == 'marks' and r.marks and r.points > 100 for r in reports.values())
    tracked = task.service.region_set(BASE_FRAME)
    assert set(regions) <= set(tracked.regions) and tracked.kinds['table/top'] == 'system'


def test_replay_answers_what_the_oracle_recorded(response, tmp_path):
    observe = lambda: observation_from_response(response)  # noqa: E731
    with Transcript.open(tmp_path) as transcript:
        runner, _ = make_runner(RecordingClient(OracleClient(), transcript=transcript),
                                observe, ScriptedExecutor())
        assert run(runner)[1].success
    client = make_task_client(client_options({'backend': 'openai'}, backend='replay',
                                             transcript=str(tmp_path)), use_sim=False)
    assert client.name == 'replay'
    executor = ScriptedExecutor()
    runner, recorder = make_runner(client, observe, executor)
    _, outcome = run(runner)
    assert outcome.success and len(executor.runs) == 2
    _, outcome = run(runner, 'pour it all out')          # never recorded: a clean failure
    assert not outcome.success and 'plan' in outcome.reason and 'recorded' in outcome.reason


def test_a_second_task_is_refused_while_one_runs_and_cancel_stops_it(response):
    executor = ScriptedExecutor(block=True)
    runner, recorder = make_runner(OracleClient(),
                                   lambda: observation_from_response(response), executor)
    first = runner.submit(INSTRUCTION)
    assert first.accepted and executor.started.wait(30.0) and runner.busy
    second = runner.submit('open the drawer')
    assert not second.accepted and first.task_id in second.message
    assert 'still running' in second.message and second.task_id == ''
    assert not runner.cancel('task-other')
    assert runner.cancel(first.task_id)
    outcome = runner.wait(first.task_id, timeout_s=30.0)
    assert outcome is not None and not outcome.success and outcome.reason == 'cancelled'
    assert recorder.statuses[-1].state == TaskState.FAILED
    assert recorder.statuses[-1].message == 'cancelled'
    assert runner.submit('open the drawer').accepted                # free again


@pytest.mark.parametrize('instruction, message', [
    ('', 'empty'), ('   ', 'empty'), ('x' * 501, 'too long (501 characters; at most 500)'),
    ('pour\nthen stop', 'control characters'), (42, 'must be text'),
])
def test_invalid_instructions_are_refused(instruction, message):
    runner, recorder = make_runner(OracleClient(), lambda: None, ScriptedExecutor())
    submission = runner.submit(instruction)
    assert not submission.accepted and message in submission.message
    assert recorder.statuses == [] and not runner.busy
    assert check_instruction('pour the beaker') is None


class Failing:
    """A model client whose every call times out."""

    name = 'openai'
    model = 'test-model'

    def complete(self, request):
        raise MllmTimeoutError('no answer within 60 s', step=request.step)


def _raise(error):
    def observe():
        raise error
    return observe


@pytest.mark.parametrize('make, expected', [
    (lambda r: (Failing(), lambda: observation_from_response(r), ScriptedExecutor()),
     'plan: the model call failed: no answer within 60 s'),
    (lambda r: (OracleClient(), _raise(ObservationError('perception could not observe: x')),
                ScriptedExecutor()), 'perception could not observe: x'),
    (lambda r: (OracleClient(), _raise(RuntimeError('boom')), ScriptedExecutor()),
     'internal error: RuntimeError: boom'),
    (lambda r: (OracleClient(), lambda: observation_from_response(r),
                ScriptedExecutor([ExecutionResult(False, 'stuck at approach')] * 2)),
     'subtask 0 (s1_grasp) did not finish: stuck at approach'),
])
def test_every_failure_ends_the_task_failed_with_a_reason(response, make, expected):
    client, observe, executor = make(response)
    runner, recorder = make_runner(client, observe, executor)
    _, outcome = run(runner)
    assert not outcome.success and expected in outcome.reason
    assert recorder.statuses[-1].state == TaskState.FAILED
    assert expected in recorder.statuses[-1].message and not runner.busy


def test_a_subtask_that_does_not_finish_is_regrounded_and_run_again(task):
    stamps = iter(range(1, 10))
    observe = lambda: observation_from_response(task.response(STAMP_NS + next(stamps)))  # noqa
    executor = ScriptedExecutor([ExecutionResult(True, 'ok'),
                                 ExecutionResult(False, 'timeout')])
    runner, recorder = make_runner(OracleClient(), observe, executor)
    _, outcome = run(runner)
    assert outcome.success and outcome.replans == 1 and outcome.subtasks_completed == 2
    assert [i for _, i, _ in executor.runs] == [0, 1, 1]
    assert len(recorder.grounded) == 2
    first, second = recorder.grounded[0][2], recorder.grounded[1][2]
    assert set(first.values()) == {STAMP_NS + 1}
    assert STAMP_NS + 2 in set(second.values())                   # re-grounded objects
    assert any('re-grounding' in s.message for s in recorder.statuses)


def test_oracle_needs_the_scene_and_the_named_task(task):
    blind = task.response()
    blind.scene = ''
    runner, _ = make_runner(OracleClient(), lambda: observation_from_response(blind),
                            ScriptedExecutor())
    _, outcome = run(runner)
    assert not outcome.success and 'needs the simulated scene' in outcome.reason
    runner, _ = make_runner(OracleClient(), lambda: observation_from_response(task.response()),
                            ScriptedExecutor())
    _, outcome = run(runner, task_name='household_mug_to_plate')
    assert not outcome.success and 'not task household_mug_to_plate' in outcome.reason


def test_runner_config_is_checked():
    with pytest.raises(ValueError, match='max_execution_retries'):
        RunnerConfig(max_execution_retries=-1)
    with pytest.raises(ValueError, match='max_instruction_chars'):
        RunnerConfig(max_instruction_chars=0)
