import pytest

import resem3d_constraints as rc
from resem3d_controller import GripperCommand, InputError


def test_stage_actions_become_commands():
    program = rc.parse_program({'version': 1, 'name': 'g', 'regions': [], 'stages': [
        {'name': 'a', 'timeout_s': 1.0, 'gripper': {'action': 'open'}},
        {'name': 'b', 'timeout_s': 1.0,
         'gripper': {'action': 'grasp', 'width_m': 0.02, 'force_n': 40.0, 'speed_mps': 0.03}},
    ]})
    opened = GripperCommand.from_stage_action(program.stages[0].gripper)
    grasp = GripperCommand.from_stage_action(program.stages[1].gripper)
    assert opened.action == 'open' and opened.width_m == pytest.approx(0.08)
    assert grasp == GripperCommand('grasp', 0.02, 40.0, 0.03)


@pytest.mark.parametrize('kwargs, field', [
    ({'action': 'squeeze'}, 'action'),
    ({'action': 'move', 'width_m': 0.2}, 'width_m'),
    ({'action': 'grasp', 'force_n': -1.0}, 'force_n'),
    ({'action': 'grasp', 'force_n': float('nan')}, 'force_n'),
    ({'action': 'move', 'speed_m_s': 5.0}, 'speed_m_s'),
])
def test_out_of_range_commands_are_refused(kwargs, field):
    with pytest.raises(InputError, match=field):
        GripperCommand(**kwargs)
