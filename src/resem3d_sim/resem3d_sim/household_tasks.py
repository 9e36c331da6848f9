"""The household scene's tasks (see :mod:`resem3d_sim.tasks` for what a task is)."""

from __future__ import annotations

from .tasks import (open_slide, particles_inside, resting_on, resting_on_part, slid_closed, slid_open,
                    TaskSpec)

HOUSEHOLD_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name='household_mug_to_plate', scene='household',
        instruction='Pick up the mug by its handle and put it on the plate.',
        paraphrases=('Grab the mug by the handle and place it onto the plate.',
                     "Take hold of the mug's handle, then set the mug down on the plate."),
        time_limit_s=60.0, success=resting_on('mug', 'plate', radius_m=0.06),
        moved_object='plate'),
    TaskSpec(
        name='household_open_drawer', scene='household',
        instruction='Open the drawer of the cabinet by pulling its handle.',
        paraphrases=('Grab the drawer handle and pull the drawer out.',
                     "Pull the cabinet's drawer open using its handle."),
        time_limit_s=60.0, success=slid_open('drawer', 0.15), moved_object='cabinet'),
    TaskSpec(
        name='household_close_drawer', scene='household',
        instruction='Close the open drawer of the cabinet.',
        paraphrases=('Push the drawer back into the cabinet.',
                     'Shut the cabinet drawer that is sticking out.'),
        time_limit_s=60.0, success=slid_closed('drawer', 0.02), moved_object='cabinet',
        prepare=open_slide('drawer', 0.2)),
    TaskSpec(
        name='household_box_on_plate', scene='household',
        instruction='Pick up the box and put it on the plate.',
        paraphrases=('Grab the box and set it down on the plate.',
                     'Place the box onto the plate.'),
        time_limit_s=60.0, success=resting_on('box', 'plate', radius_m=0.06),
        moved_object='plate'),
    TaskSpec(
        name='household_box_on_cabinet_top', scene='household',
        instruction='Put the box on top of the cabinet.',
        paraphrases=('Place the box onto the top of the cabinet.',
                     "Pick up the box and set it down on the cabinet's top panel."),
        time_limit_s=60.0, success=resting_on_part('box', 'cabinet', 'top'),
        moved_object='box'),
    TaskSpec(
        name='household_pour_kettle', scene='household',
        instruction='Pick up the kettle by its handle and pour the water from its spout into '
                    'the bowl.',
        paraphrases=('Grab the kettle handle and pour the water into the bowl.',
                     "Hold the kettle by the handle and empty it through the spout into the "
                     'bowl.'),
        time_limit_s=60.0, success=particles_inside('water', 'bowl', 0.8),
        moved_object='bowl'),
)
