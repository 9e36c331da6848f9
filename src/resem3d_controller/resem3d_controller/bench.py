"""Benchmark of the control step against pink, measured in one run on this machine.

    python -m resem3d_controller.bench --json [--targets 200] [--seed 0]

Pose problem (the same for both): from a home configuration, track a random reachable tool
pose (full 6-D) with a posture task and joint limits, one step per 1 ms tick.
  * ours: the full control step of :class:`JointVelocityController` (kinematics, task
    linearisation, joint-limit rows, OSQP solve), collision rows off because pink has none;
  * pink: ``Configuration.update`` + ``solve_ik`` (FrameTask + PostureTask, its configuration
    and velocity limits) through qpsolvers with OSQP and with every other installed backend.
Both are timed over the first ``--window`` ticks of every target (identical start states); ours
then keeps running for up to 3 s of 1 kHz kinematics to measure the reach rate (1 cm, 2 deg).

Mixed problem (ours only): the default controller (self-collision rows and box obstacles on)
tracking a constraint set of several kinds (offset, align, distance, above, inside, keep-away
as a hard row, and a tilt angle) with an object held in the gripper.

Every tick of both problems is audited against the joint position, velocity and acceleration
limits (``limit_violations``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

import resem3d_constraints as rc

from .collision import CollisionModel, Obstacle
from .config import ControllerConfig
from .controller import ControlStatus, JointVelocityController
from .demo import box_points
from .kinematic_sim import KinematicArm
from .tasks import PoseTask

Q_HOME_RAD = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
REACH_POSITION_M = 0.01
REACH_ANGLE_RAD = math.radians(2.0)
REACH_HORIZON_S = 3.0


@dataclass
class PoseRun:
    """Outcome of one pose target for our controller."""

    reached: bool
    reach_time_s: float
    step_us: list[float]


def sample_pose_targets(count: int, seed: int, spread_rad: float = 0.8) -> list[np.ndarray]:
    """Seeded reachable tool-pose targets.

    A target is the tool pose of a joint configuration drawn uniformly within ``spread_rad`` of
    the home configuration and inside the joint limits (0.1 rad inset), kept only if the arm is
    free of self-collision there (sphere model, 1 cm clearance) and the TCP is at least 5 cm
    above the base plane: so every target is reachable by construction.
    """
    config = ControllerConfig()
    checker = CollisionModel(JointVelocityController(config).robot, config.spheres_per_link,
                             config.collision_margin_m, config.collision_activation_m, True)
    robot = checker.robot
    rng = np.random.default_rng(seed)
    targets: list[np.ndarray] = []
    while len(targets) < count:
        q = Q_HOME_RAD + rng.uniform(-spread_rad, spread_rad, robot.nq)
        q = np.clip(q, robot.q_min_rad + 0.1, robot.q_max_rad - 0.1)
        robot.update(q)
        if checker.min_clearance() < 0.01:
            continue
        T = robot.tool_pose().copy()
        if T[2, 3] < 0.05:
            continue
        targets.append(T)
    return targets


def pose_problem_config() -> ControllerConfig:
    """Our controller configured for the same problem pink solves (no collision rows)."""
    return ControllerConfig(self_collision=False, max_collision_rows=0, max_hard_rows=0,
                            posture_rad=tuple(Q_HOME_RAD))


def run_ours_pose(controller: JointVelocityController, T_target: np.ndarray,
                  arm: KinematicArm) -> PoseRun:
    """Track one pose target from home for up to 3 s; time every step."""
    controller.reset()
    controller.set_pose_target(T_target, 0.0)
    task = PoseTask(T_target)
    robot = controller.robot
    steps: list[float] = []
    ticks = int(round(REACH_HORIZON_S / arm.dt_s))
    for _ in range(ticks):
        now = arm.t_s
        controller.refresh_targets(now)
        t0 = time.perf_counter()
        command = controller.step(arm.q_rad, now)
        steps.append((time.perf_counter() - t0) * 1e6)
        if command.status is not ControlStatus.TRACKING:
            break
        arm.apply(command.dq_rad_s)
        error = task.error(robot.forward_tool_pose(arm.q_rad))
        if (math.sqrt(error[:3] @ error[:3]) < REACH_POSITION_M
                and math.sqrt(error[3:] @ error[3:]) < REACH_ANGLE_RAD):
            return PoseRun(True, arm.t_s, steps)
    return PoseRun(False, arm.t_s, steps)


def run_pink_pose(targets: list[np.ndarray], window: int, solver: str, tool_frame: str,
                  dt_s: float, damping: float) -> tuple[list[float], int]:
    """Time pink's step on the first ``window`` ticks towards each target.

    Returns:
        (step times [us], number of steps where pink found no solution; those are timed too
        and the arm holds still for that tick).
    """
    import pink
    import pinocchio as pin
    from pink.exceptions import NoSolutionFound
    from pink.tasks import FrameTask, PostureTask

    # qpsolvers warns on every call that it converts pink's dense matrices for OSQP.
    warnings.filterwarnings('ignore', message='Converted matrix', module='qpsolvers')
    warnings.filterwarnings('ignore', category=PendingDeprecationWarning, module='osqp')
    robot = JointVelocityController(pose_problem_config()).robot
    configuration = pink.Configuration(robot.model, robot.model.createData(), Q_HOME_RAD.copy())
    frame_task = FrameTask(tool_frame, position_cost=1.0, orientation_cost=1.0)
    posture_task = PostureTask(cost=1e-3)
    posture_task.set_target(Q_HOME_RAD)
    tasks = [frame_task, posture_task]
    steps: list[float] = []
    failures = 0
    for T in targets:
        frame_task.set_target(pin.SE3(T[:3, :3], T[:3, 3]))
        q = Q_HOME_RAD.copy()
        for _ in range(window):
            t0 = time.perf_counter()
            configuration.update(q)
            try:
                velocity = pink.solve_ik(configuration, tasks, dt_s, solver=solver,
                                         damping=damping)
            except NoSolutionFound:
                velocity = np.zeros(len(q))
                failures += 1
            steps.append((time.perf_counter() - t0) * 1e6)
            q = configuration.integrate(velocity, dt_s)
    return steps, failures


def mixed_problem(controller: JointVelocityController, seed: int
                  ) -> tuple[list[rc.Constraint], rc.SceneState, list[Obstacle]]:
    """A pouring-like constraint set on a synthetic scene, with a kettle held in the gripper."""
    rng = np.random.default_rng(seed)
    robot = controller.robot
    robot.update(Q_HOME_RAD)
    T_tool = robot.tool_pose().copy()

    bowl_xy = np.array([0.45, -0.2]) + rng.uniform(-0.05, 0.05, 2)
    T_bowl = np.eye(4)
    T_bowl[:2, 3] = bowl_xy
    T_bowl[2, 3] = 0.05
    T_kettle = T_tool.copy()                      # held: its frame at the TCP
    regions = {
        'bowl/rim': rc.Region.from_points('bowl/rim', box_points((0.16, 0.16, 0.02), (0, 0, 0.04)),
                                          frame='bowl'),
        'bowl/body': rc.Region.from_points('bowl/body', box_points((0.16, 0.16, 0.08)),
                                           frame='bowl'),
        'kettle/spout': rc.Region.from_points('kettle/spout',
                                              box_points((0.06, 0.02, 0.02), (0.12, 0, 0.03)),
                                              frame='kettle'),
    }
    scene = rc.SceneState(T_base_tool=T_tool, T_base_obj={'bowl': T_bowl, 'kettle': T_kettle},
                          regions=regions, held=frozenset({'kettle'}), gripper_width_m=0.03,
                          gripper_grasping=True)
    program = {
        'version': 1, 'name': 'bench_mixed', 'regions': list(regions),
        'stages': [{
            'name': 'pour', 'timeout_s': 10.0, 'gripper': None, 'pre': [],
            'post': [{'kind': 'grasped', 'object': 'kettle'}],
            'subgoal': [
                {'kind': 'offset', 'a': {'of': 'kettle/spout', 'point': 'center'},
                 'b': {'of': 'bowl/rim', 'point': 'top'}, 'offset_m': [0.0, 0.0, 0.12],
                 'frame': 'world', 'tolerance': 0.01},
                {'kind': 'angle', 'a': {'of': 'tool', 'axis': 'z'},
                 'b': {'of': 'world', 'axis': 'z'}, 'angle_rad': 2.3, 'tolerance': 0.1},
                {'kind': 'distance', 'a': {'of': 'tool', 'point': 'tcp'},
                 'b': {'of': 'bowl/rim', 'point': 'center'}, 'min_m': 0.1, 'max_m': 0.4,
                 'tolerance': 0.01},
            ],
            'path': [
                {'kind': 'above', 'point': {'of': 'kettle/spout', 'point': 'center'},
                 'region': 'bowl/rim', 'min_height_m': 0.03, 'max_height_m': 0.3,
                 'tolerance': 0.01},
                {'kind': 'inside', 'point': {'of': 'tool', 'point': 'tcp'},
                 'region': 'bowl/body', 'margin_m': 0.0, 'tolerance': 0.5, 'weight': 0.01},
                {'kind': 'keep_away', 'point': {'of': 'tool', 'point': 'tcp'},
                 'region': 'bowl/body', 'margin_m': 0.05, 'tolerance': 0.0, 'hard': True},
                {'kind': 'align', 'a': {'of': 'tool', 'axis': 'y'},
                 'b': {'of': 'world', 'axis': 'y'}, 'tolerance': 0.3, 'weight': 0.1},
            ],
        }],
    }
    parsed = rc.parse_program(program)
    stage = parsed.stages[0]
    constraints = list(stage.subgoal) + list(stage.path)
    table = Obstacle(np.array([0.5, 0.0, -0.02]), np.eye(3), np.array([0.4, 0.6, 0.02]))
    bowl_box = Obstacle(T_bowl[:3, 3], np.eye(3), np.array([0.08, 0.08, 0.04]))
    return constraints, scene, [table, bowl_box]


def run_mixed(seeds: int, ticks: int) -> tuple[list[float], int, int]:
    """Time the default controller on the mixed problem; returns (steps, violations, rows)."""
    controller = JointVelocityController(ControllerConfig(posture_rad=tuple(Q_HOME_RAD)))
    steps: list[float] = []
    violations = 0
    constraint_count = 0
    for seed in range(seeds):
        constraints, scene, obstacles = mixed_problem(controller, seed)
        constraint_count = len(constraints)
        controller.reset()
        controller.set_obstacles(obstacles)
        controller.set_constraints(constraints, scene, 0.0)
        arm = KinematicArm(Q_HOME_RAD, controller.limits, controller.config.dt_s)
        for _ in range(ticks):
            now = arm.t_s
            controller.refresh_targets(now)
            t0 = time.perf_counter()
            command = controller.step(arm.q_rad, now)
            steps.append((time.perf_counter() - t0) * 1e6)
            arm.apply(command.dq_rad_s)   # the held kettle moves with the tool (SceneState)
        violations += arm.violations.total
    return steps, violations, constraint_count


def installed_pink_solvers() -> list[str]:
    """qpsolvers backends pink can use here, OSQP first."""
    import qpsolvers

    available = [s for s in ('osqp', 'daqp', 'proxqp') if s in qpsolvers.available_solvers]
    return available


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    parser.add_argument('--targets', type=int, default=200, help='pose targets (>= 1)')
    parser.add_argument('--window', type=int, default=30, help='ticks timed per target for both')
    parser.add_argument('--mixed-seeds', type=int, default=5)
    parser.add_argument('--mixed-ticks', type=int, default=2000)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.targets < 1 or args.window < 1 or args.mixed_seeds < 1 or args.mixed_ticks < 1:
        print('error: --targets, --window, --mixed-seeds and --mixed-ticks must be >= 1',
              file=sys.stderr)
        return 2

    targets = sample_pose_targets(args.targets, args.seed)
    config = pose_problem_config()
    controller = JointVelocityController(config)
    runs = []
    violations = 0
    for T in targets:
        arm = KinematicArm(Q_HOME_RAD, controller.limits, config.dt_s)
        runs.append(run_ours_pose(controller, T, arm))
        violations += arm.violations.total
    ours_all = np.concatenate([r.step_us for r in runs])
    ours_window = np.concatenate([r.step_us[:args.window] for r in runs])
    reach_times = [r.reach_time_s for r in runs if r.reached]

    pink_p50: dict[str, float] = {}
    pink_failures: dict[str, int] = {}
    for solver in installed_pink_solvers():
        steps, pink_failures[solver] = run_pink_pose(targets, args.window, solver,
                                                     config.tool_frame, config.dt_s,
                                                     config.damping)
        pink_p50[solver] = float(np.percentile(steps, 50))
    mixed_steps, mixed_violations, constraint_count = run_mixed(args.mixed_seeds,
                                                                args.mixed_ticks)

    ours_window_p50 = float(np.percentile(ours_window, 50))
    best_solver = min(pink_p50, key=pink_p50.get) if pink_p50 else None
    result = {
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                    'processor': platform.machine()},
        'targets': len(targets),
        'ticks_timed_per_target': args.window,
        'ours_p50_us': float(np.percentile(ours_all, 50)),
        'ours_p99_us': float(np.percentile(ours_all, 99)),
        'ours_window_p50_us': ours_window_p50,
        'ours_window_p99_us': float(np.percentile(ours_window, 99)),
        'ours_mixed_p50_us': float(np.percentile(mixed_steps, 50)),
        'ours_mixed_p99_us': float(np.percentile(mixed_steps, 99)),
        'mixed_constraints': constraint_count,
        'pink_p50_us': pink_p50,
        'pink_no_solution_steps': pink_failures,
        'pink_osqp_p50_us': pink_p50.get('osqp'),
        'pink_best_p50_us': pink_p50[best_solver] if best_solver else None,
        'pink_best_solver': best_solver,
        'ratio_osqp_p50': (pink_p50['osqp'] / ours_window_p50) if 'osqp' in pink_p50 else None,
        'ratio_best_p50': (pink_p50[best_solver] / ours_window_p50) if best_solver else None,
        'reach_rate': sum(r.reached for r in runs) / len(runs),
        'reach_time_p50_s': float(np.percentile(reach_times, 50)) if reach_times else None,
        'limit_violations': violations + mixed_violations,
    }
    result['targets_met'] = {
        'ours_mixed_p99_us<=1000': result['ours_mixed_p99_us'] <= 1000.0,
        'ratio_osqp_p50>=5': (result['ratio_osqp_p50'] or 0.0) >= 5.0,
        'ratio_best_p50>=1': (result['ratio_best_p50'] or 0.0) >= 1.0,
        'reach_rate>=0.98': result['reach_rate'] >= 0.98,
        'limit_violations==0': result['limit_violations'] == 0,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f'{key:28s} {value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
