"""Run a constraint program stage by stage on a plant (a kinematic arm, a simulator, a robot).

Per stage: check its preconditions, hand its subgoal and path constraints to the controller,
then tick until the controller reports the subgoal reached and every post condition holds (the
stage is done) or the stage's timeout passes (it failed). A stage's gripper action is issued by
the controller when its subgoal is reached. This is the plain execution order of a program; the
reasoning layer adds re-planning (stepping back, re-grounding) on top of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

import resem3d_constraints as rc

from .controller import ControlCommand, JointVelocityController

CHECK_EVERY_TICKS = 10


class Plant(Protocol):
    """What the executor drives: one control tick at a time."""

    @property
    def t_s(self) -> float:
        """Current time [s]."""

    @property
    def q_rad(self) -> np.ndarray:
        """Measured arm joint positions (n,) [rad]."""

    def apply(self, command: ControlCommand) -> None:
        """Apply one tick's joint velocities and gripper command, advancing time by one tick."""

    def observe(self, scene: rc.SceneState) -> float:
        """Write the latest observation into ``scene`` (tool pose, gripper, objects, grasps).

        Returns:
            The time [s] at which the object poses in ``scene`` were last measured.
        """


@dataclass
class StageOutcome:
    """How one stage ended."""

    stage: str
    reached: bool
    time_s: float            # simulated time spent in the stage [s]
    max_residual: float      # largest subgoal violation at the end (m, or rad by kind)
    reason: str = ''


def execute_program(program: rc.ConstraintProgram, controller: JointVelocityController,
                    scene: rc.SceneState, plant: Plant, step_us: list[float] | None = None
                    ) -> list[StageOutcome]:
    """Run ``program`` to its end or to its first failing stage.

    Args:
        program: The validated program.
        controller: The QP controller (its obstacles are the caller's to set).
        scene: The scene the program's anchors are evaluated in; ``plant.observe`` keeps it
            current.
        plant: What is controlled.
        step_us: If given, the duration of every control step [us] is appended to it.

    Returns:
        One outcome per stage that was started.
    """
    outcomes: list[StageOutcome] = []
    plant.observe(scene)
    for stage in program.stages:
        outcome = run_stage(stage, controller, scene, plant, step_us)
        outcomes.append(outcome)
        if not outcome.reached:
            break
    return outcomes


def run_stage(stage: rc.Stage, controller: JointVelocityController, scene: rc.SceneState,
              plant: Plant, step_us: list[float] | None = None,
              should_stop: Callable[[], str | None] | None = None) -> StageOutcome:
    """Run one stage: check its preconditions, then tick until it is done or times out.

    Args:
        stage: The stage.
        controller: The QP controller.
        scene: The scene its anchors are evaluated in (kept current by ``plant.observe``).
        plant: What is controlled.
        step_us: If given, the duration of every control step [us] is appended to it.
        should_stop: Asked every ``CHECK_EVERY_TICKS`` ticks; a non-empty reason ends the
            stage, unreached, with that reason (e.g. a precondition that broke while it ran).

    Returns:
        How the stage ended.
    """
    dt_s = controller.config.dt_s
    scene.freeze_init_poses()
    unmet_pre = [rc.check(c, scene) for c in stage.pre]
    unmet_pre = [r for r in unmet_pre if not r.satisfied]
    if unmet_pre:
        return StageOutcome(stage.name, False, 0.0, math.nan,
                            f'precondition: {unmet_pre[0].detail}')
    controller.set_stage(stage, scene, plant.t_s)
    t_start = plant.t_s
    done = False
    stopped = ''
    held_since_s: float | None = None     # start of the current run of satisfied posts
    for tick in range(int(stage.timeout_s / dt_s)):
        stamp = plant.observe(scene)
        controller.refresh_targets(stamp)
        t0 = time.perf_counter()
        command = controller.step(plant.q_rad, plant.t_s)
        if step_us is not None:
            step_us.append((time.perf_counter() - t0) * 1e6)
        plant.apply(command)
        if tick % CHECK_EVERY_TICKS == 0:
            held = command.subgoal_reached
            if held:
                plant.observe(scene)
                held = all(rc.check(c, scene).satisfied for c in stage.post)
            if not held:
                held_since_s = None
            elif held_since_s is None:
                held_since_s = plant.t_s
            done = held and plant.t_s - held_since_s >= stage.hold_s
            if done:
                break
            if should_stop is not None:
                stopped = should_stop() or ''
                if stopped:
                    break
    if done:
        reason = ''
    elif stopped:
        reason = stopped
    else:
        reason = f'timeout after {stage.timeout_s:g} s: ' + unmet_conditions(stage, scene)
    return StageOutcome(stage.name, done, plant.t_s - t_start, largest_residual(stage, scene),
                        reason)


def largest_residual(stage: rc.Stage, scene: rc.SceneState) -> float:
    """Largest subgoal violation of a stage (m, or rad for align/angle)."""
    return max((float(np.max(np.abs(rc.violation(rc.linearize(c, scene)))))
                for c in stage.subgoal), default=0.0)


def unmet_conditions(stage: rc.Stage, scene: rc.SceneState) -> str:
    """The subgoal constraints and post conditions that do not hold, in one line."""
    unmet = []
    for i, constraint in enumerate(stage.subgoal):
        residual = float(np.max(np.abs(rc.violation(rc.linearize(constraint, scene)))))
        if residual > constraint.tolerance:
            unmet.append(f'subgoal[{i}] {constraint.kind} {residual:.3f} > {constraint.tolerance}')
    for i, condition in enumerate(stage.post):
        result = rc.check(condition, scene)
        if not result.satisfied:
            unmet.append(f'post[{i}] {result.detail}')
    return '; '.join(unmet)
