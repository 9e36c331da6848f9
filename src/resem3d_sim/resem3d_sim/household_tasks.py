"""The household scene's tasks (see :mod:`resem3d_sim.tasks` for what a task is)."""

from __future__ import annotations

from .tasks import TaskSpec, resting_on

HOUSEHOLD_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name='household_mug_to_plate', scene='household',
        instruction='Pick up the mug by its handle and put it on the plate.',
        paraphrases=('Grab the mug by the handle and place it onto the plate.',
                     "Take hold of the mug's handle, then set the mug down on the plate."),
        time_limit_s=60.0, success=resting_on('mug', 'plate', radius_m=0.06),
        moved_object='plate'),
)
