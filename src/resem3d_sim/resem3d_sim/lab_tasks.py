"""The chemistry-lab scene's tasks (see :mod:`resem3d_sim.tasks` for what a task is)."""

from __future__ import annotations

from .tasks import particles_inside, resting_on_part, standing_in, TaskSpec

LAB_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name='lab_flask_to_stirrer', scene='lab',
        instruction='Pick up the Erlenmeyer flask by its neck and put it on the stirrer plate.',
        paraphrases=('Grab the flask by the neck and set it down on the magnetic stirrer.',
                     "Take hold of the flask's neck, then place the flask onto the stirring "
                     'plate.'),
        time_limit_s=60.0, success=resting_on_part('flask', 'stirrer', 'plate', margin_m=0.03),
        moved_object='flask'),
    TaskSpec(
        name='lab_bottle_to_stirrer', scene='lab',
        instruction='Pick up the reagent bottle by its cap and put it on the stirrer plate.',
        paraphrases=('Grab the reagent bottle by the cap and set it down on the magnetic '
                     'stirrer.',
                     "Take hold of the bottle's cap, then place the bottle onto the stirring "
                     'plate.'),
        time_limit_s=60.0, success=resting_on_part('bottle', 'stirrer', 'plate', margin_m=0.03),
        moved_object='bottle'),
    TaskSpec(
        name='lab_tube_to_slot_2', scene='lab',
        instruction='Take the test tube out of the rack and put it into slot 2 of the rack.',
        paraphrases=('Move the test tube from its slot into the second slot of the rack.',
                     'Lift the test tube out of slot 1 and insert it in rack slot 2.'),
        time_limit_s=60.0,
        success=standing_in('tube', 'rack/slot_2', radius_m=0.012, max_height_m=0.03),
        moved_object='rack'),
    TaskSpec(
        name='lab_tube_to_slot_4', scene='lab',
        instruction='Move the test tube into the last slot of the rack, slot 4.',
        paraphrases=('Take the test tube out of slot 1 and insert it into slot 4 of the rack.',
                     'Put the test tube into the fourth slot of the test-tube rack.'),
        time_limit_s=60.0,
        success=standing_in('tube', 'rack/slot_4', radius_m=0.012, max_height_m=0.03),
        moved_object='rack'),
    TaskSpec(
        name='lab_beaker_to_stirrer', scene='lab',
        instruction='Pick up the beaker by its rim and put it on the stirrer plate.',
        paraphrases=('Grab the beaker at the rim and set it down on the magnetic stirrer.',
                     "Take hold of the beaker's rim, then place the beaker onto the stirring "
                     'plate.'),
        time_limit_s=60.0, success=resting_on_part('beaker', 'stirrer', 'plate', margin_m=0.03),
        moved_object='beaker'),
    TaskSpec(
        name='lab_pour_beaker', scene='lab',
        instruction='Pour the reagent from the beaker into the Erlenmeyer flask.',
        paraphrases=('Pick up the beaker and pour its reagent into the flask through its neck.',
                     "Empty the beaker's reagent into the flask, pouring from the spout."),
        time_limit_s=60.0, success=particles_inside('reagent', 'flask', 0.8),
        moved_object='flask'),
)
