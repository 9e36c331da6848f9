"""The execution monitor: advance on postconditions, step back and re-ground on violated
preconditions, bounded retries and depth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import resem3d_constraints as rc
from resem3d_reasoning.monitor import (MonitorAction, MonitorConfig, SubtaskMonitor, drive)

OPEN = rc.Condition(kind='gripper_open', min_width_m=0.07)
HELD = rc.Condition(kind='grasped', object='mug')


@dataclass
class Outcome:
    stage: str
    reached: bool
    reason: str = ''


def _stage(name: str, action: str, pre=(), post=()) -> rc.Stage:
    return rc.Stage(name=name, gripper=rc.GripperAction(action), pre=tuple(pre),
                    post=tuple(post), timeout_s=5.0)


def _programs() -> list[rc.ConstraintProgram]:
    grasp = rc.ConstraintProgram('grasp', ('mug/handle',), (
        _stage('open', 'open', post=[OPEN]), _stage('grasp', 'grasp', pre=[OPEN], post=[HELD])))
    place = rc.ConstraintProgram('place', ('mug/handle',), (
        _stage('carry', 'close', pre=[HELD], post=[HELD]),
        _stage('release', 'open', pre=[HELD], post=[OPEN])))
    retreat = rc.ConstraintProgram('retreat', ('mug/handle',), (
        _stage('back', 'open', post=[OPEN]),))
    return [grasp, place, retreat]


def _scene(width_m: float, held: bool) -> rc.SceneState:
    T = {'mug': np.eye(4)}
    return rc.SceneState(T_base_tool=np.eye(4), T_base_obj=T, gripper_width_m=width_m,
                         gripper_grasping=held, held=frozenset({'mug'} if held else ()))


OPEN_SCENE = _scene(0.08, False)
HELD_SCENE = _scene(0.04, True)
DROPPED_SCENE = _scene(0.0, False)


def _done(program: rc.ConstraintProgram) -> list[Outcome]:
    return [Outcome(stage.name, True) for stage in program.stages]


def test_satisfied_postconditions_advance_to_the_end() -> None:
    monitor = SubtaskMonitor(_programs())
    first = monitor.finish(_done(monitor.programs[0]), HELD_SCENE)
    assert (first.action, first.index, first.reground) == (MonitorAction.ADVANCE, 1, False)
    second = monitor.finish(_done(monitor.programs[1]), OPEN_SCENE)
    assert (second.action, second.index) == (MonitorAction.ADVANCE, 2)
    last = monitor.finish(_done(monitor.programs[2]), OPEN_SCENE)
    assert (last.action, last.index) == (MonitorAction.DONE, None)
    assert [d.action for d in monitor.history] == [MonitorAction.ADVANCE, MonitorAction.ADVANCE,
                                                   MonitorAction.DONE]


def test_a_violated_precondition_steps_back_and_regrounds() -> None:
    monitor = SubtaskMonitor(_programs())
    monitor.finish(_done(monitor.programs[0]), HELD_SCENE)
    carry = monitor.programs[1].stages[0]
    assert monitor.check_stage(carry, HELD_SCENE).action == MonitorAction.RUN
    slipped = monitor.check_stage(carry, DROPPED_SCENE)      # the mug slipped out
    assert (slipped.action, slipped.index, slipped.reground) == (MonitorAction.STEP_BACK, 0,
                                                                 True)
    assert 'grasped mug: no grasp detected' in slipped.reason
    assert monitor.index == 0 and monitor.step_backs == 1


def test_a_precondition_failure_reported_by_the_executor_steps_back() -> None:
    monitor = SubtaskMonitor(_programs())
    monitor.finish(_done(monitor.programs[0]), HELD_SCENE)
    outcomes = [Outcome('carry', False, 'precondition: grasped mug: no grasp detected')]
    decision = monitor.finish(outcomes, HELD_SCENE)
    assert decision.action == MonitorAction.STEP_BACK and decision.index == 0


def test_an_unfinished_subtask_is_retried_then_fails() -> None:
    monitor = SubtaskMonitor(_programs(), MonitorConfig(max_retries=1))
    timeout = [Outcome('open', True), Outcome('grasp', False, 'timeout after 5 s: post[0]')]
    retry = monitor.finish(timeout, OPEN_SCENE)
    assert (retry.action, retry.index, retry.reground) == (MonitorAction.RETRY, 0, True)
    fail = monitor.finish(timeout, OPEN_SCENE)
    assert fail.action == MonitorAction.FAIL and 'no retry left' in fail.reason


def test_step_backs_are_bounded_in_number_and_depth() -> None:
    monitor = SubtaskMonitor(_programs(), MonitorConfig(max_step_backs=2, max_depth=2))
    monitor.finish(_done(monitor.programs[0]), HELD_SCENE)
    carry = monitor.programs[1].stages[0]
    assert monitor.check_stage(carry, DROPPED_SCENE).action == MonitorAction.STEP_BACK
    monitor.finish(_done(monitor.programs[0]), HELD_SCENE)
    assert monitor.check_stage(carry, DROPPED_SCENE).action == MonitorAction.STEP_BACK
    monitor.finish(_done(monitor.programs[0]), HELD_SCENE)
    final = monitor.check_stage(carry, DROPPED_SCENE)
    assert final.action == MonitorAction.FAIL and 'no step-back left' in final.reason

    shallow = SubtaskMonitor(_programs(), MonitorConfig(max_depth=0))
    shallow.finish(_done(shallow.programs[0]), HELD_SCENE)
    refused = shallow.check_stage(carry, DROPPED_SCENE)
    assert refused.action == MonitorAction.FAIL and 'more than 0 below' in refused.reason


def test_drive_runs_to_the_end_through_a_step_back() -> None:
    programs = _programs()
    monitor = SubtaskMonitor(programs)
    scenes = {0: [HELD_SCENE, HELD_SCENE], 1: [DROPPED_SCENE, OPEN_SCENE], 2: [OPEN_SCENE]}
    runs: list[int] = []
    regrounded: list[int] = []
    state = {'scene': OPEN_SCENE}

    def run_subtask(index: int) -> list[Outcome]:
        runs.append(index)
        state['scene'] = scenes[index].pop(0)
        if state['scene'] is DROPPED_SCENE:
            return [Outcome('carry', False, 'precondition: grasped mug: no grasp detected')]
        return _done(programs[index])

    def reground(index: int) -> rc.ConstraintProgram:
        regrounded.append(index)
        return programs[index]

    final = drive(monitor, run_subtask, lambda: state['scene'], reground)
    assert final.action == MonitorAction.DONE
    assert runs == [0, 1, 0, 1, 2] and regrounded == [0]


def test_monitor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match='at least one'):
        SubtaskMonitor([])
    with pytest.raises(ValueError, match='max_depth'):
        MonitorConfig(max_depth=-1)
