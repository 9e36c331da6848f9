"""The reference runner: closed loop with disturbances; the bench's argument checks."""

from resem3d_sim import bench
from resem3d_sim.reference import run_reference
from resem3d_sim.tasks import Disturbance


def test_the_mug_task_succeeds_although_the_plate_is_moved_mid_task():
    # The plate jumps 6 cm while the mug is carried; the targets follow the new pose.
    moved = Disturbance(3.5, 'move_object', 'plate', (0.0, 0.06, 0.0))
    run = run_reference('household_mug_to_plate', seed=0, disturbances=[moved])
    assert run.success, run.reason
    assert run.stages_reached == run.stages
    assert len(run.physics_us) == round(run.sim_s * 1000) - 500   # settling steps not timed


def test_bench_refuses_bad_arguments(capsys):
    assert bench.main(['--tasks', 'juggle']) == 2
    assert bench.main(['--seeds', '0']) == 2
    assert capsys.readouterr().err.count('error: ') == 2
