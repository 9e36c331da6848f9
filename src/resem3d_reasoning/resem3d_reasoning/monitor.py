"""Execution-time monitoring of subtasks: advance, step back and re-ground, or give up.

The semantics of the original method (section 6.1), with bounds: a subtask whose
postcondition is satisfied advances to the next one; a violated precondition (the object
slipped out of the gripper, a container was moved away) steps back one subtask and asks for
its regions to be grounded again, because what the earlier subtask achieved has been undone.
A subtask that ends without its postcondition and without a violated precondition (a timeout)
is retried in place, re-grounded. Step-backs are bounded in depth (how far below the furthest
subtask reached) and in number, retries per subtask in number; beyond them the run fails.

The conditions come from the subtask programs: a subtask's postcondition is its last stage's
``post`` list; its preconditions are its stages' ``pre`` lists, each checked while its stage
is the one running (a ``grasped`` precondition of a carrying stage, say, is not expected to
hold once the gripper has opened at the end of a placing stage).

The monitor is pure logic over :class:`resem3d_constraints.SceneState` snapshots: it never
calls a model and never moves the robot. :func:`drive` shows the loop a caller runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import resem3d_constraints as rc

__all__ = ['MonitorAction', 'MonitorConfig', 'MonitorDecision', 'StageResult',
           'SubtaskMonitor', 'drive']


class MonitorAction(str, Enum):
    """What to do next."""

    RUN = 'run'                # (re)start or keep running the subtask ``index``
    ADVANCE = 'advance'        # the subtask is done: start subtask ``index`` (the next one)
    STEP_BACK = 'step_back'    # a precondition broke: re-ground and run subtask ``index``
    RETRY = 'retry'            # the subtask ended unfinished: re-ground and run it again
    DONE = 'done'              # every subtask is done
    FAIL = 'fail'              # a bound was exceeded; ``reason`` says which


@dataclass(frozen=True)
class MonitorDecision:
    """A decision of the monitor.

    Attributes:
        action: What to do.
        index: The subtask to run next (None for DONE and FAIL).
        reground: Whether that subtask's regions must be grounded again first.
        reason: One line: why.
    """

    action: MonitorAction
    index: int | None
    reground: bool
    reason: str


@dataclass(frozen=True)
class MonitorConfig:
    """Bounds of the monitor.

    Attributes:
        max_depth: Most subtasks the run may step back below the furthest one reached.
        max_step_backs: Most step-backs in a run.
        max_retries: Most in-place retries of one subtask (after timeouts).
    """

    max_depth: int = 2
    max_step_backs: int = 4
    max_retries: int = 1

    def __post_init__(self) -> None:
        for name in ('max_depth', 'max_step_backs', 'max_retries'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise ValueError(f'MonitorConfig.{name} must be an integer in [0, 100], got '
                                 f'{value!r}')


class StageResult(Protocol):
    """How a stage ended (``resem3d_controller.executor.StageOutcome`` fits)."""

    stage: str
    reached: bool
    reason: str


def _unmet(conditions: Sequence[rc.Condition], scene: rc.SceneState) -> str | None:
    """Detail of the first condition that does not hold, or None when all hold."""
    for condition in conditions:
        result = rc.check(condition, scene)
        if not result.satisfied:
            return result.detail
    return None


class SubtaskMonitor:
    """Tracks which subtask runs and decides what follows.

    Args:
        programs: The subtasks' programs, in order (at least one).
        config: Bounds.
    """

    def __init__(self, programs: Sequence[rc.ConstraintProgram],
                 config: MonitorConfig | None = None) -> None:
        if not programs:
            raise ValueError('SubtaskMonitor needs at least one subtask program')
        self.programs = list(programs)
        self.config = config if config is not None else MonitorConfig()
        self.index = 0
        self.furthest = 0
        self.step_backs = 0
        self.retries = [0] * len(self.programs)
        self.history: list[MonitorDecision] = []

    def replace_program(self, index: int, program: rc.ConstraintProgram) -> None:
        """Use a new program for subtask ``index`` (after re-grounding it)."""
        self.programs[index] = program

    def _decide(self, action: MonitorAction, index: int | None, reground: bool,
                reason: str) -> MonitorDecision:
        decision = MonitorDecision(action, index, reground, reason)
        self.history.append(decision)
        if index is not None:
            self.index = index
            self.furthest = max(self.furthest, index)
        return decision

    def fail(self, reason: str) -> MonitorDecision:
        """Record and return a FAIL decision (e.g. when the caller gives up)."""
        return self._decide(MonitorAction.FAIL, None, False, reason)

    def _step_back(self, reason: str) -> MonitorDecision:
        target = max(0, self.index - 1)
        if self.step_backs >= self.config.max_step_backs:
            return self._decide(MonitorAction.FAIL, None, False,
                                f'{reason}; no step-back left ({self.config.max_step_backs} '
                                'used)')
        if self.furthest - target > self.config.max_depth:
            return self._decide(MonitorAction.FAIL, None, False,
                                f'{reason}; stepping back to subtask {target} would go more '
                                f'than {self.config.max_depth} below subtask {self.furthest}')
        self.step_backs += 1
        return self._decide(MonitorAction.STEP_BACK, target, True,
                            f'{reason}; stepping back to subtask {target}')

    def check_stage(self, stage: rc.Stage, scene: rc.SceneState) -> MonitorDecision:
        """Check the preconditions of ``stage`` of the current subtask (at its start and
        while it runs, until its gripper action starts).

        Returns:
            RUN while they hold, else STEP_BACK (or FAIL past a bound).
        """
        unmet = _unmet(stage.pre, scene)
        if unmet is None:
            return MonitorDecision(MonitorAction.RUN, self.index, False, 'preconditions hold')
        return self._step_back(f'subtask {self.index} stage {stage.name}: precondition '
                               f'violated ({unmet})')

    def finish(self, outcomes: Sequence[StageResult], scene: rc.SceneState
               ) -> MonitorDecision:
        """Decide after the current subtask's program stopped (at its end or at a failing
        stage), from its stage outcomes and the scene now.

        A satisfied postcondition (the last stage's ``post``) advances; a violated
        precondition of the stage that failed steps back; anything else retries in place.
        """
        program = self.programs[self.index]
        last = program.stages[-1]
        finished = bool(outcomes) and all(o.reached for o in outcomes) and \
            len(outcomes) == len(program.stages)
        if finished and _unmet(last.post, scene) is None:
            if self.index + 1 >= len(self.programs):
                return self._decide(MonitorAction.DONE, None, False,
                                    f'subtask {self.index} done; all subtasks done')
            return self._decide(MonitorAction.ADVANCE, self.index + 1, False,
                                f'subtask {self.index} done')
        failed = next((o for o in outcomes if not o.reached), None)
        stage = (program.stage(failed.stage) if failed is not None and
                 failed.stage in {s.name for s in program.stages} else last)
        unmet = _unmet(stage.pre, scene)
        if unmet is not None or (failed is not None and failed.reason.startswith('precondition')):
            detail = unmet or failed.reason
            return self._step_back(f'subtask {self.index} stage {stage.name}: precondition '
                                   f'violated ({detail})')
        why = failed.reason if failed is not None else 'postcondition not satisfied'
        if self.retries[self.index] >= self.config.max_retries:
            return self._decide(MonitorAction.FAIL, None, False,
                                f'subtask {self.index} stage {stage.name} failed ({why}); no '
                                f'retry left ({self.config.max_retries} used)')
        self.retries[self.index] += 1
        return self._decide(MonitorAction.RETRY, self.index, True,
                            f'subtask {self.index} stage {stage.name} failed ({why}); retrying')


def drive(monitor: SubtaskMonitor,
          run_subtask: Callable[[int], Sequence[StageResult]],
          observe: Callable[[], rc.SceneState],
          reground: Callable[[int], rc.ConstraintProgram],
          max_decisions: int = 100) -> MonitorDecision:
    """Run subtasks under the monitor until DONE or FAIL.

    Args:
        monitor: The monitor (its current subtask is run first).
        run_subtask: Runs subtask ``i``'s program (e.g. with the controller's executor) and
            returns its stage outcomes.
        observe: The scene now (for the conditions).
        reground: Grounds subtask ``i`` again (a new observation and the reasoning engine)
            and returns its new program.
        max_decisions: Safety bound on the number of decisions.

    Returns:
        The final decision (DONE or FAIL).
    """
    index = monitor.index
    for _ in range(max_decisions):
        outcomes = run_subtask(index)
        decision = monitor.finish(outcomes, observe())
        if decision.action in (MonitorAction.DONE, MonitorAction.FAIL):
            return decision
        index = decision.index
        if decision.reground:
            monitor.replace_program(index, reground(index))
    return monitor.fail(f'more than {max_decisions} monitor decisions')
