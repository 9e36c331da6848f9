"""Controller demo: the example constraint programs run on a kinematic Panda.

    python -m resem3d_controller.demo            (what ``make demo`` runs for now)

Each example program of :mod:`resem3d_constraints` (pick and place a mug by its handle, pour
from a kettle's spout into a bowl, open a drawer by its handle) runs on a synthetic scene of
box-shaped parts whose poses are known exactly (no perception yet). The arm is kinematic
(joint velocities integrated at 1 kHz), the gripper closes or opens at its commanded speed and
holds an object when it closes within 2 cm of one of the object's parts; a held object moves
rigidly with the tool. Stages advance when their subgoal and post conditions hold.

The table printed at the end gives, per stage, the simulated time to reach it and the largest
remaining subgoal residual (in the unit of its constraint: m, or rad for align/angle), then the
controller's step time and the rate it sustains.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

import resem3d_constraints as rc
from resem3d_constraints.examples import load_example

from .collision import Obstacle
from .config import ControllerConfig
from .controller import ControlCommand, JointVelocityController
from .executor import StageOutcome, execute_program
from .gripper import MAX_WIDTH_M, GripperCommand
from .kinematic_sim import KinematicArm

Q_START_RAD = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
GRASP_REACH_M = 0.02


def box_points(size_m, centre_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Corner and face-centre points (m, 3) of an axis-aligned box in its object frame."""
    half = 0.5 * np.asarray(size_m, dtype=float)
    grid = np.array([[x, y, z] for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)])
    return grid * half + np.asarray(centre_m, dtype=float)


def _pose(xyz, yaw_rad: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = xyz
    return T


@dataclass(frozen=True)
class SyntheticScene:
    """Object poses and part point sets for one example program."""

    poses: dict[str, np.ndarray]
    parts: dict[str, np.ndarray]         # region name -> points in its object frame
    obstacles: tuple[str, ...] = ()      # regions the arm links keep away from


def synthetic_scene(program_name: str) -> SyntheticScene:
    """Scenes matching the region names of the shipped example programs."""
    table = {'table/top': box_points((0.9, 1.2, 0.02), (0.45, 0.0, -0.01))}
    if program_name == 'pick_and_place_mug':
        return SyntheticScene(
            poses={'table': np.eye(4), 'mug': _pose((0.5, 0.15, 0.0)),
                   'plate': _pose((0.45, -0.2, 0.0))},
            parts={**table,
                   'mug/body': box_points((0.08, 0.08, 0.10), (0.0, 0.0, 0.05)),
                   'mug/handle': box_points((0.01, 0.03, 0.06), (0.0, -0.06, 0.05)),
                   'plate/top': box_points((0.2, 0.2, 0.01), (0.0, 0.0, 0.005))},
            obstacles=('table/top',))
    if program_name == 'pour_kettle':
        return SyntheticScene(
            poses={'table': np.eye(4), 'kettle': _pose((0.55, 0.15, 0.0)),
                   'bowl': _pose((0.5, -0.2, 0.0))},
            parts={**table,
                   'kettle/body': box_points((0.14, 0.14, 0.16), (0.0, 0.0, 0.08)),
                   'kettle/handle': box_points((0.02, 0.08, 0.02), (-0.1, 0.0, 0.14)),
                   'kettle/spout': box_points((0.06, 0.02, 0.02), (0.1, 0.0, 0.13)),
                   'bowl/rim': box_points((0.18, 0.18, 0.02), (0.0, 0.0, 0.07))},
            obstacles=('table/top',))
    if program_name == 'open_drawer':
        # The drawer frame's +x points out of the cabinet, towards the robot.
        return SyntheticScene(
            poses={'cabinet': _pose((0.8, 0.0, 0.0), math.pi),
                   'drawer': _pose((0.64, 0.0, 0.25), math.pi)},
            parts={'cabinet/body': box_points((0.3, 0.5, 0.5), (0.0, 0.0, 0.25)),
                   'drawer/front': box_points((0.02, 0.4, 0.15), (0.0, 0.0, 0.0)),
                   'drawer/handle': box_points((0.015, 0.12, 0.015), (0.045, 0.0, 0.0))},
            obstacles=())
    raise KeyError(f'no synthetic scene for program {program_name!r}')


@dataclass
class KinematicWorld:
    """Kinematic arm + parallel gripper + rigid objects, with the scene the constraints read."""

    controller: JointVelocityController
    scene: rc.SceneState
    arm: KinematicArm
    width_m: float = MAX_WIDTH_M
    target_width_m: float = MAX_WIDTH_M
    speed_m_s: float = 0.05
    grasp_pending: bool = False

    def command_gripper(self, command: GripperCommand) -> None:
        self.target_width_m = command.width_m if command.action in ('move', 'open') else 0.0
        self.speed_m_s = max(command.speed_m_s, 1e-3)
        self.grasp_pending = command.action in ('grasp', 'close')
        if command.action in ('open', 'move') and self.scene.held:
            self.scene.held = frozenset()            # released where the tool left it
            self.scene.gripper_grasping = False
        if self.grasp_pending:
            self._try_grasp(command.width_m)

    def _try_grasp(self, object_width_m: float) -> None:
        p_tool = self.scene.T_base_tool[:3, 3]
        for name, region in self.scene.regions.items():
            T = self.scene.T_base_obj[region.frame]
            points = region.points_obj @ T[:3, :3].T + T[:3, 3]
            if np.linalg.norm(points.mean(axis=0) - p_tool) < GRASP_REACH_M:
                self.scene.grasp(region.frame)       # from now on it moves with the tool
                self.target_width_m = object_width_m
                return

    @property
    def t_s(self) -> float:
        return self.arm.t_s

    @property
    def q_rad(self) -> np.ndarray:
        return self.arm.q_rad

    def apply(self, command: ControlCommand) -> None:
        """Advance arm, gripper and held objects by one tick."""
        if command.gripper is not None:
            self.command_gripper(command.gripper)
        dt = self.arm.dt_s
        self.arm.apply(command.dq_rad_s)
        delta = np.clip(self.target_width_m - self.width_m, -self.speed_m_s * dt,
                        self.speed_m_s * dt)
        self.width_m += delta
        if self.grasp_pending and abs(self.target_width_m - self.width_m) < 1e-9:
            self.scene.gripper_grasping = bool(self.scene.held)
            self.grasp_pending = False
        self.scene.gripper_width_m = self.width_m
        self.scene.T_base_tool = self.controller.robot.forward_tool_pose(self.arm.q_rad)

    def observe(self, scene: rc.SceneState) -> float:
        """The scene is kept current by :meth:`apply` (exact, known poses): now."""
        return self.arm.t_s


def run_program(name: str, controller: JointVelocityController, step_us: list[float]
                ) -> list[StageOutcome]:
    """Run one example program on its synthetic scene to its end (or first failing stage)."""
    program = load_example(name)
    layout = synthetic_scene(name)
    regions = {n: rc.Region.from_points(n, pts, frame=n.split('/')[0])
               for n, pts in layout.parts.items()}
    controller.reset()
    T_tool = controller.robot.forward_tool_pose(Q_START_RAD)
    scene = rc.SceneState(T_base_tool=T_tool, T_base_obj={k: v.copy() for k, v in
                                                          layout.poses.items()},
                          regions=regions, gripper_width_m=MAX_WIDTH_M)
    world = KinematicWorld(controller, scene,
                           KinematicArm(Q_START_RAD, controller.limits, controller.config.dt_s))
    controller.set_obstacles([Obstacle.from_region(regions[r], scene.object_pose(r.split('/')[0]))
                             for r in layout.obstacles])
    outcomes = execute_program(program, controller, scene, world, step_us)
    if world.arm.violations.total and outcomes:
        outcomes[-1].reason = f'limit violations: {world.arm.violations}'
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='Run the example constraint programs on a '
                                                 'kinematic Panda with the QP controller.')
    parser.add_argument('--programs', default='pick_and_place_mug,pour_kettle,open_drawer')
    args = parser.parse_args(argv)
    controller = JointVelocityController(ControllerConfig())
    step_us: list[float] = []
    reports: list[tuple[str, StageOutcome]] = []
    wall = time.perf_counter()
    for name in args.programs.split(','):
        try:
            reports += [(name.strip(), o) for o in run_program(name.strip(), controller, step_us)]
        except (KeyError, rc.ConstraintError) as error:
            print(f'error: {name}: {error}', file=sys.stderr)
            return 2
    wall = time.perf_counter() - wall
    print(f'{"program":20s} {"stage":18s} {"result":8s} {"time_s":>7s} {"residual":>10s}  note')
    for program, r in reports:
        print(f'{program:20s} {r.stage:18s} {"reached" if r.reached else "FAILED":8s} '
              f'{r.time_s:7.2f} {r.max_residual:10.4f}  {r.reason}')
    steps = np.array(step_us)
    simulated = len(steps) * controller.config.dt_s
    print(f'\ncontrol step: p50 {np.percentile(steps, 50):.0f} us, p99 '
          f'{np.percentile(steps, 99):.0f} us, max {steps.max():.0f} us -> '
          f'{1e6 / np.mean(steps):.0f} Hz achievable (runs at {controller.config.rate_hz:.0f} Hz)')
    print(f'simulated {simulated:.1f} s of 1 kHz control in {wall:.1f} s wall clock')
    ok = all(r.reached and not r.reason for _, r in reports)
    print('all stages reached' if ok else 'some stages failed')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
