import numpy as np

import resem3d_constraints as rc
from conftest import Q_HOME_RAD
from resem3d_controller import ControllerConfig, JointVelocityController, KinematicArm
from resem3d_controller.demo import KinematicWorld
from resem3d_controller.executor import execute_program


def _setup(robot, stages, regions=()):
    program = rc.parse_program({'version': 1, 'name': 'p', 'regions': list(regions),
                                'stages': stages})
    controller = JointVelocityController(ControllerConfig(), robot=robot)
    scene = rc.SceneState(T_base_tool=robot.forward_tool_pose(Q_HOME_RAD), gripper_width_m=0.08)
    world = KinematicWorld(controller, scene,
                           KinematicArm(Q_HOME_RAD, controller.limits, controller.config.dt_s))
    return program, controller, scene, world


def _reach(x, timeout_s):
    return {'name': f'reach_{x}', 'timeout_s': timeout_s,
            'subgoal': [{'kind': 'offset', 'a': {'of': 'tool', 'point': 'tcp'},
                         'b': {'of': 'world', 'point': 'origin', 'offset_m': [x, 0.0, 0.3]},
                         'offset_m': [0, 0, 0], 'tolerance': 0.01}],
            'post': [{'kind': 'gripper_open', 'min_width_m': 0.07}]}


def test_stages_run_in_order_until_each_is_done(robot):
    program, controller, scene, world = _setup(robot, [_reach(0.45, 5.0), _reach(0.35, 5.0)])
    steps = []
    outcomes = execute_program(program, controller, scene, world, steps)
    assert [o.stage for o in outcomes] == ['reach_0.45', 'reach_0.35']
    assert all(o.reached and o.max_residual <= 0.01 for o in outcomes)
    assert len(steps) == round(sum(o.time_s for o in outcomes) / controller.config.dt_s)
    np.testing.assert_allclose(scene.T_base_tool[:3, 3], [0.35, 0.0, 0.3], atol=0.011)


def test_an_unreachable_subgoal_times_out_with_the_unmet_constraint_named(robot):
    program, controller, scene, world = _setup(robot, [_reach(1.5, 0.3), _reach(0.4, 5.0)])
    outcomes = execute_program(program, controller, scene, world)
    assert len(outcomes) == 1 and not outcomes[0].reached
    assert outcomes[0].reason.startswith('timeout after 0.3 s: subgoal[0] offset')
    assert abs(outcomes[0].time_s - 0.3) < 0.01


def test_a_violated_precondition_stops_before_moving(robot):
    stage = _reach(0.45, 5.0)
    stage['pre'] = [{'kind': 'grasped', 'object': 'mug'}]
    program, controller, scene, world = _setup(robot, [stage], regions=['mug/handle'])
    outcomes = execute_program(program, controller, scene, world)
    assert not outcomes[0].reached and outcomes[0].time_s == 0.0
    assert outcomes[0].reason.startswith('precondition: grasped mug')
    np.testing.assert_array_equal(world.q_rad, Q_HOME_RAD)


def test_a_dwell_keeps_the_stage_running_while_its_post_conditions_hold(robot):
    quick = _reach(0.45, 5.0)
    dwelling = dict(_reach(0.45, 5.0), name='dwell', hold_s=1.0)
    reached_s = execute_program(*_setup(robot, [quick]))[0].time_s
    program, controller, scene, world = _setup(robot, [dwelling])
    outcome = execute_program(program, controller, scene, world)[0]
    assert outcome.reached
    # It ends only after the post conditions have held for 1 s (checked every 10 ticks).
    assert reached_s + 1.0 <= outcome.time_s <= reached_s + 1.0 + 0.02


def test_a_dwell_longer_than_the_remaining_time_times_out(robot):
    stage = dict(_reach(0.45, 1.5), hold_s=1.4)
    program, controller, scene, world = _setup(robot, [stage])
    outcome = execute_program(program, controller, scene, world)[0]
    assert not outcome.reached and outcome.reason.startswith('timeout after 1.5 s')
