"""Run a task's reference program in closed loop: controller at 1 kHz, poses at 15 Hz.

This proves a task solvable and its success predicate right. It drives the simulation with
the project's controller (``resem3d_controller``), imported here only: the rest of
``resem3d_sim`` depends on ``resem3d_constraints`` alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .catalog import get_task
from .render_worker import RenderWorker
from .tasks import CAMERA_NAME, Disturbance, SuccessResult, TaskEnv, TaskSpec

SETTLE_S = 0.5     # physics time after the program before the success predicate is read


@dataclass
class ReferenceRun:
    """Result of one reference run."""

    task: str
    seed: int
    success: bool
    reason: str
    sim_s: float
    wall_s: float
    stages_reached: int
    stages: int
    step_us: list[float] = field(default_factory=list, repr=False)      # controller steps
    physics_us: list[float] = field(default_factory=list, repr=False)   # World.step calls
    render_ms: list[float] = field(default_factory=list, repr=False)    # camera frames
    frames: int = 0                 # camera frames delivered
    frames_skipped: int = 0         # frames dropped because rendering fell a period behind


class _InstrumentedPlant:
    """The task's plant, applying scheduled disturbances, timing physics, rendering the camera.
    """

    def __init__(self, env: TaskEnv, disturbances: Sequence[Disturbance], render_hz: float,
                 async_render: bool) -> None:
        self.env = env
        self.plant = env.plant
        self.pending = sorted(disturbances, key=lambda d: d.at_s)
        self.physics_us: list[float] = []
        self.render_ms: list[float] = []
        self.camera = (RenderWorker(env.world.model, CAMERA_NAME) if render_hz > 0 and async_render
                       else env.camera() if render_hz > 0 else None)
        self.render_period_s = 1.0 / render_hz if render_hz > 0 else float('inf')
        self.next_render_s = 0.0
        self.frames = 0              # frames delivered
        self.frames_skipped = 0      # overdue by a whole period: the render fell behind

    @property
    def t_s(self) -> float:
        return self.plant.t_s

    @property
    def q_rad(self) -> np.ndarray:
        return self.plant.q_rad

    def apply(self, command) -> None:
        while self.pending and self.pending[0].at_s <= self.plant.t_s:
            self.env.apply(self.pending.pop(0))
        t0 = time.perf_counter()
        self.plant.apply(command)
        self.physics_us.append((time.perf_counter() - t0) * 1e6)
        if self.camera is None:
            return
        if isinstance(self.camera, RenderWorker):
            if self.camera.poll() is not None:
                self.frames += 1
            if self.plant.t_s >= self.next_render_s:
                # A frame that falls due while the previous one still renders is taken as
                # soon as the camera is free (late), not dropped; two overdue frames are one.
                if self.camera.submit(self.env.world.data):
                    self.next_render_s += self.render_period_s
                    if self.plant.t_s >= self.next_render_s:
                        self.frames_skipped += 1
                        self.next_render_s += self.render_period_s
        elif self.plant.t_s >= self.next_render_s:
            t0 = time.perf_counter()
            self.camera.render()
            self.render_ms.append((time.perf_counter() - t0) * 1e3)
            self.frames += 1
            self.next_render_s += self.render_period_s

    def close(self) -> None:
        """Collect the last frame in flight and free the camera."""
        if isinstance(self.camera, RenderWorker):
            if self.camera.busy:
                self.camera.wait()
                self.frames += 1
            self.render_ms.extend(self.camera.render_ms)
        if self.camera is not None:
            self.camera.close()

    def observe(self, scene) -> float:
        return self.plant.observe(scene)


def run_reference(task: TaskSpec | str, seed: int = 0,
                  disturbances: Sequence[Disturbance] = (), render_hz: float = 0.0,
                  async_render: bool = True) -> ReferenceRun:
    """Run the task's reference program at ``seed`` and evaluate its success predicate.

    Args:
        task: The task or its name.
        seed: Scene randomisation seed.
        disturbances: Applied when their time comes.
        render_hz: Render the camera (colour, depth, masks) at this rate during the run, as
            perception would; 0 renders nothing.
        async_render: Render in a second process (:class:`~resem3d_sim.render_worker.
            RenderWorker`), beside the physics; False renders in this process, in the loop.
    """
    from resem3d_controller import ControllerConfig, JointVelocityController, Obstacle
    from resem3d_controller.executor import execute_program

    task = get_task(task) if isinstance(task, str) else task
    wall = time.perf_counter()
    env = TaskEnv.build(task, seed)
    program = task.reference_program()
    scene = env.plant.scene_for(program.regions)
    controller = JointVelocityController(ControllerConfig())
    table = env.objects.get('table')
    if table is not None:
        controller.set_obstacles([Obstacle.from_region(table.region('table/top'),
                                                       table.T_parent_obj)])
    plant = _InstrumentedPlant(env, disturbances, render_hz, async_render)
    step_us: list[float] = []
    try:
        outcomes = execute_program(program, controller, scene, plant, step_us)
    finally:
        plant.close()
    for _ in range(int(SETTLE_S / env.world.timestep_s)):       # let the objects come to rest
        env.world.step(np.zeros(len(env.world.q_rad)))
    failed = next((o for o in outcomes if not o.reached), None)
    result: SuccessResult = env.success()
    if env.world.t_s > task.time_limit_s:
        result = SuccessResult(False, f'time limit {task.time_limit_s:g} s exceeded')
    elif failed is not None and not result.success:
        result = SuccessResult(False, f'stage {failed.stage}: {failed.reason}')
    return ReferenceRun(task.name, seed, result.success, result.reason, env.world.t_s,
                        time.perf_counter() - wall, sum(o.reached for o in outcomes),
                        len(program.stages), step_us, plant.physics_us, plant.render_ms,
                        plant.frames, plant.frames_skipped)
