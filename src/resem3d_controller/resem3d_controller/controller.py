"""The joint-space velocity controller: one QP per tick at the configured rate (1 kHz default).

Per tick (:meth:`JointVelocityController.step`):
  1. watchdog: invalid or stale joint state, stale targets -> decelerate to zero within the
     acceleration limit (no QP);
  2. kinematics: tool pose and Jacobian (pinocchio);
  3. cost: weighted tracking rows of every active task, damping, smoothing, posture;
  4. rows: joint velocity bounds (position/velocity/acceleration limits), hard constraints and
     the most critical collision pairs;
  5. QP solve (OSQP, warm-started, fixed pattern) and clipping to the joint bounds.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

import resem3d_constraints as rc

from .collision import CollisionModel, Obstacle
from .config import ControllerConfig
from .exceptions import InputError
from .gripper import GripperCommand
from .limits import JointLimits, decelerate, joint_velocity_bounds
from .qp import VelocityQp
from .robot_model import RobotModel
from .tasks import ConstraintTask, PoseTask, Task, hard_constraint_rows


class ControlStatus(enum.Enum):
    """Why the controller produced the command it did."""

    TRACKING = 'tracking'            # QP solved with targets
    IDLE = 'idle'                    # no targets: stopping
    STALE_JOINT_STATE = 'stale_joint_state'
    STALE_TARGET = 'stale_target'
    INVALID_INPUT = 'invalid_input'
    QP_FAILED = 'qp_failed'


@dataclass
class ControlCommand:
    """Output of one tick.

    Attributes:
        dq_rad_s: Joint velocity command (n,) [rad/s].
        gripper: A gripper command to issue now (once per stage), or None.
        status: What the controller did this tick.
        detail: Human-readable reason for a non-tracking status.
        qp_iterations: OSQP iterations (0 without a solve).
        max_slack: Largest slack of a hard/collision row (0 when all were met).
        subgoal_reached: Every subgoal constraint of the stage is within its tolerance.
    """

    dq_rad_s: np.ndarray
    gripper: GripperCommand | None = None
    status: ControlStatus = ControlStatus.TRACKING
    detail: str = ''
    qp_iterations: int = 0
    max_slack: float = 0.0
    subgoal_reached: bool = False


@dataclass
class _Targets:
    tasks: list[Task] = field(default_factory=list)
    hard: list[rc.Constraint] = field(default_factory=list)
    scene: rc.SceneState | None = None
    stamp_s: float = -math.inf
    subgoal: frozenset[int] = frozenset()      # ids of the stage's subgoal constraints
    gripper: GripperCommand | None = None      # issued once the subgoal is reached
    holding: bool = False                      # gripper issued: hold the tool where it is


class JointVelocityController:
    """Velocity-level QP controller for a serial arm.

    Args:
        config: Parameters (defaults: Panda from example-robot-data, 1 kHz).
        robot: A prebuilt :class:`RobotModel` (built from ``config`` when omitted).
    """

    def __init__(self, config: ControllerConfig | None = None,
                 robot: RobotModel | None = None) -> None:
        self.config = config or ControllerConfig()
        self.robot = robot or RobotModel(self.config)
        cfg, n = self.config, self.robot.nq
        self.n = n
        self.limits = JointLimits(self.robot.q_min_rad, self.robot.q_max_rad,
                                  self.robot.v_max_rad_s * cfg.velocity_scale,
                                  self.robot.a_max_rad_s2 * cfg.acceleration_scale,
                                  cfg.position_margin_rad)
        self.posture_rad = (np.asarray(cfg.posture_rad, dtype=float) if cfg.posture_rad
                            else self.robot.neutral_configuration())
        self.collision = CollisionModel(self.robot, cfg.spheres_per_link, cfg.collision_margin_m,
                                        cfg.collision_activation_m, cfg.self_collision)
        self.qp = VelocityQp(n, cfg.max_hard_rows + cfg.max_collision_rows, cfg.slack_weight,
                             cfg.osqp_eps, cfg.osqp_max_iter)
        self._targets = _Targets()
        self._pending_gripper: GripperCommand | None = None
        self.dq_prev_rad_s = np.zeros(n)
        self._eye = np.eye(n)
        self._H_const = (cfg.damping + cfg.smoothing_weight + cfg.posture_weight) * self._eye

    # ------------------------------------------------------------------ inputs
    def set_pose_target(self, T_base_target: np.ndarray, stamp_s: float,
                        position_weight: float = 1.0, orientation_weight: float = 1.0) -> None:
        """Track a full tool pose (4, 4) in the base frame."""
        T = np.asarray(T_base_target, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise InputError('pose target: expected a finite 4x4 matrix')
        self._targets = _Targets([PoseTask(T, position_weight, orientation_weight)], [], None,
                                 stamp_s)

    def set_constraints(self, constraints: Iterable[rc.Constraint], scene: rc.SceneState,
                        stamp_s: float, subgoal: Iterable[rc.Constraint] = (),
                        gripper: GripperCommand | None = None) -> None:
        """Track constraints on ``scene``: soft ones as costs, hard ones as QP rows.

        Args:
            constraints: Every constraint to track.
            scene: The scene they are evaluated in; updated in place by its owner.
            stamp_s: Time the scene was last updated [s].
            subgoal: Those of ``constraints`` whose satisfaction sets ``subgoal_reached``.
            gripper: Command issued once, at the first tick the subgoal is reached.

        Raises:
            InputError: if the hard constraints need more rows than ``max_hard_rows``.
        """
        soft, hard = [], []
        for constraint in constraints:
            (hard if constraint.hard else soft).append(constraint)
        rows = sum(len(rc.linearize(c, scene).value) for c in hard)
        if rows > self.config.max_hard_rows:
            raise InputError(f'hard constraints need {rows} rows, capacity is '
                             f'{self.config.max_hard_rows} (max_hard_rows)')
        self._targets = _Targets([ConstraintTask(c, scene) for c in soft], hard, scene, stamp_s,
                                 frozenset(id(c) for c in subgoal), gripper)

    def set_stage(self, stage: rc.Stage, scene: rc.SceneState, stamp_s: float) -> None:
        """Track a stage's subgoal and path constraints.

        The stage's gripper action is issued (once) when its subgoal is reached: at the first
        tick if it has no subgoal, so a stage may move to a grasp pose and then grasp. From
        then on the tool holds its pose until the next stage is set.
        """
        gripper = (GripperCommand.from_stage_action(stage.gripper)
                   if stage.gripper is not None else None)
        self.set_constraints(tuple(stage.subgoal) + tuple(stage.path), scene, stamp_s,
                             subgoal=stage.subgoal, gripper=gripper)

    def command_gripper(self, command: GripperCommand) -> None:
        """Queue a gripper command for the next tick's output."""
        self._pending_gripper = command

    def refresh_targets(self, stamp_s: float) -> None:
        """Mark the targets as fresh: their scene is still valid at ``stamp_s`` [s]."""
        self._targets.stamp_s = stamp_s

    def clear_targets(self) -> None:
        """Drop every target: the arm decelerates to rest."""
        self._targets = _Targets()

    def set_obstacles(self, obstacles: Sequence[Obstacle]) -> None:
        """Boxes in the base frame that every moving link keeps away from.

        Call again when perception reports them moved (e.g. :meth:`Obstacle.from_region` of
        the table or a shelf); boxes that moved by less than 5 mm keep the cached pairs.
        """
        self.collision.set_obstacles(list(obstacles))

    def reset(self, dq_rad_s: np.ndarray | None = None) -> None:
        """Forget the last command (e.g. after the robot was stopped externally)."""
        self.dq_prev_rad_s = np.zeros(self.n) if dq_rad_s is None else np.array(dq_rad_s, float)
        self.collision.invalidate()

    # ------------------------------------------------------------------ the tick
    def step(self, q_rad: np.ndarray, now_s: float, q_stamp_s: float | None = None
             ) -> ControlCommand:
        """Compute the joint velocity command for this tick.

        Args:
            q_rad: Measured joint positions (n,) [rad].
            now_s: Current time [s] (same clock as the stamps).
            q_stamp_s: Time the joint state was measured [s]; defaults to ``now_s``.
        """
        cfg = self.config
        gripper, self._pending_gripper = self._pending_gripper, None
        q = np.asarray(q_rad, dtype=float)
        if q.shape != (self.n,) or not math.isfinite(np.add.reduce(q)):
            return self._stop(ControlStatus.INVALID_INPUT, 'joint state not finite or wrong size',
                              gripper)
        if q_stamp_s is not None and now_s - q_stamp_s > cfg.max_input_age_s:
            return self._stop(ControlStatus.STALE_JOINT_STATE,
                              f'joint state {1e3 * (now_s - q_stamp_s):.0f} ms old', gripper)
        targets = self._targets
        if not targets.tasks and not targets.hard:
            if gripper is None and targets.gripper is not None:   # a gripper-only stage
                gripper, targets.gripper = targets.gripper, None
            command = self._stop(ControlStatus.IDLE, 'no targets', gripper)
            command.subgoal_reached = True
            return command
        if now_s - targets.stamp_s > cfg.max_target_age_s:
            return self._stop(ControlStatus.STALE_TARGET,
                              f'targets {1e3 * (now_s - targets.stamp_s):.0f} ms old', gripper)

        robot = self.robot
        robot.update(q)
        T_tool = robot.tool_pose()
        J_tool = robot.tool_jacobian()
        lb, ub = joint_velocity_bounds(self.limits, q, self.dq_prev_rad_s, cfg.dt_s)

        # Cost: sum_i w_i |J_i dq - v_i|^2 + damping |dq|^2 + smoothing |dq - dq_prev|^2
        #       + posture |dq - k_p (q_ref - q)|^2   (all halved in the QP's 1/2 x^T P x form).
        blocks = [task.rows(T_tool, J_tool, cfg.task_gain_per_s, cfg.max_linear_speed_m_s,
                            cfg.max_angular_speed_rad_s) for task in targets.tasks]
        H = self._H_const.copy()
        g = (-cfg.smoothing_weight * self.dq_prev_rad_s
             - cfg.posture_weight * cfg.posture_gain_per_s * (self.posture_rad - q))
        if blocks:
            if len(blocks) == 1:
                J, v, w = blocks[0]
            else:
                J = np.vstack([b.jacobian for b in blocks])
                v = np.concatenate([b.velocity for b in blocks])
                w = np.concatenate([b.weight for b in blocks])
            WJ = J * w[:, None]
            H += J.T @ WJ
            g -= WJ.T @ v

        reached = True                 # (stays so while holding for the gripper)
        for task in targets.tasks:
            if id(getattr(task, 'constraint', None)) in targets.subgoal:
                reached &= task.last_violation <= task.constraint.tolerance
        A_parts, l_parts, u_parts = [], [], []
        for constraint in targets.hard:
            A_h, l_h, u_h, worst = hard_constraint_rows(constraint, targets.scene, T_tool, J_tool,
                                                        cfg.hard_row_gain_per_s)
            A_parts.append(A_h)
            l_parts.append(l_h)
            u_parts.append(u_h)
            if id(constraint) in targets.subgoal:
                reached &= worst <= constraint.tolerance
        collision = self.collision.rows(cfg.max_collision_rows, cfg.hard_row_gain_per_s)
        if len(collision.lower):
            A_parts.append(collision.jacobian)
            l_parts.append(collision.lower)
            u_parts.append(np.full(len(collision.lower), np.inf))
        if A_parts:
            A_rows = np.vstack(A_parts)
            l_rows, u_rows = np.concatenate(l_parts), np.concatenate(u_parts)
        else:
            A_rows = l_rows = u_rows = None

        solution = self.qp.solve(H, g, lb, ub, A_rows, l_rows, u_rows)
        if not solution.ok:
            return self._stop(ControlStatus.QP_FAILED, f'OSQP: {solution.status}', gripper)
        self.dq_prev_rad_s = solution.dq
        max_slack = float(np.max(np.abs(solution.slack))) if len(solution.slack) else 0.0
        reached = targets.holding or (reached and bool(targets.subgoal or targets.gripper))
        # Settled: the TCP barely moves. (Rotation about axes the stage leaves free may go on;
        # the hold below stops it once the gripper acts.)
        v_tool = J_tool[:3] @ solution.dq
        settled = float(v_tool @ v_tool) <= cfg.gripper_settle_speed_m_s ** 2
        if reached and settled and targets.gripper is not None and gripper is None:
            # Issue the stage's gripper action and hold the tool still from now on: once the
            # fingers open, the stage's constraints on a released object no longer involve the
            # tool, and any drift would drag the object along.
            gripper, targets.gripper = targets.gripper, None
            targets.tasks = [PoseTask(T_tool.copy())]
            targets.subgoal = frozenset()
            targets.holding = True
        return ControlCommand(solution.dq, gripper, ControlStatus.TRACKING, '',
                              solution.iterations, max_slack, reached)

    def _stop(self, status: ControlStatus, detail: str, gripper: GripperCommand | None
              ) -> ControlCommand:
        """Decelerate towards zero velocity within the acceleration limit."""
        self.dq_prev_rad_s = decelerate(self.dq_prev_rad_s, self.limits.a_max_rad_s2,
                                        self.config.dt_s)
        return ControlCommand(self.dq_prev_rad_s.copy(), gripper, status, detail)

    # ------------------------------------------------------------------ monitoring
    def task_errors(self, q_rad: np.ndarray) -> list[np.ndarray]:
        """Error of every soft task at ``q_rad`` (for monitoring and tests)."""
        self.robot.update(np.asarray(q_rad, dtype=float))
        T_tool = self.robot.tool_pose()
        return [task.error(T_tool) for task in self._targets.tasks]
