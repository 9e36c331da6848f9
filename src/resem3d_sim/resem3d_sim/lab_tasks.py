"""The chemistry-lab scene's tasks (see :mod:`resem3d_sim.tasks` for what a task is)."""

from __future__ import annotations

from .tasks import TaskSpec

LAB_TASKS: tuple[TaskSpec, ...] = ()
