"""Every task plans with the oracle into validated programs over grounded regions."""

import json

import pytest

import resem3d_constraints as rc
import resem3d_sim  # noqa: F401  (headless GL before mujoco)
from resem3d_sim.catalog import TASKS

from resem3d_reasoning.oracle import OracleClient
from resem3d_reasoning.planning import plan_task


@pytest.mark.parametrize('task', list(TASKS))
def test_every_task_plans_into_valid_grounded_programs(task):
    result = plan_task(task, 0, OracleClient())
    out = result.to_json()
    json.dumps(out, allow_nan=False)
    assert result.from_oracle and len(result.subtasks) >= 2
    grounded = set(result.regions) | set(result.system_regions)
    stages = 0
    for subtask in out['subtasks']:
        program = rc.parse_program(subtask['program'])      # the validator accepts it
        assert set(program.regions) <= grounded, (task, set(program.regions) - grounded)
        stages += len(program.stages)
    # The programs together carry every stage of the task's reference program.
    assert stages == len(TASKS[task].reference_program().stages)
    assert sum(out['invalid_replies'].values()) == 0
    assert out['total_calls'] == sum(out['calls'].values()) <= 10
