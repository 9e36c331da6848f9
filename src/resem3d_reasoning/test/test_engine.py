"""The reasoning engine: end to end with the oracle on simulated frames, and bounded retries
with the error fed back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reasoning_test_support import ScriptedClient, synthetic_observation, visible_ground_truth

import resem3d_constraints as rc
from resem3d_reasoning.engine import EngineConfig, ReasoningEngine, ReasoningFailure
from resem3d_reasoning.errors import MllmError
from resem3d_reasoning.oracle import OracleClient
from resem3d_reasoning.planning import observe_task, plan_task

TASKS = ('lab_pour_beaker', 'household_mug_to_plate')
PLAN_OK = json.dumps({'subtasks': [{'name': 'grasp_cup', 'goal': 'Grasp the cup.',
                                    'regions': ['cup/handle']}]})


def _truth(task: str):
    import resem3d_sim  # noqa: F401
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv

    env = TaskEnv.build(get_task(task), 0)
    with env.camera() as camera:
        frame = camera.render()
    return env, frame


@pytest.fixture(scope='module', params=TASKS)
def planned(request):
    """(plan result, task env, its camera frame) of a task at seed 0 with the oracle."""
    result = plan_task(request.param, 0, OracleClient())
    env, frame = _truth(request.param)
    return result, env, frame


@pytest.fixture(scope='module')
def lab_observation():
    return observe_task('lab_pour_beaker', 0)


def test_every_subtask_gets_a_valid_program_over_grounded_regions(planned) -> None:
    result, env, _ = planned
    assert result.from_oracle and result.backend == 'oracle' and result.model == 'resem3d-oracle'
    assert len(result.subtasks) == 2
    known = set(result.regions) | set(result.system_regions)
    for sub in result.subtasks:
        program = sub.program
        assert program.name == f'oracle.{result.task}.{sub.spec.name}'
        assert set(program.regions) <= known
        again = rc.parse_program(json.dumps(rc.program_to_json(program)), known_regions=known)
        assert rc.program_to_json(again) == rc.program_to_json(program)
    # The oracle's subtasks are the reference program, stage for stage.
    stages = [stage for sub in result.subtasks for stage in sub.program.stages]
    reference = env.task.reference_program()
    assert [s.name for s in stages] == [s.name for s in reference.stages]
    assert result.stats.calls['plan'] == 1 and result.stats.calls['program'] == 2
    assert sum(result.stats.invalid.values()) == 0


def test_grounded_regions_are_close_to_ground_truth(planned) -> None:
    """Each region, in its object frame and that frame's pose, lies on the right part: its
    centroid is within 2 cm of the centroid of the part's visible ground-truth surface (of the
    part's ground-truth centroid for a rim centre, a point in free space)."""
    result, env, frame = planned
    frames: dict[str, np.ndarray] = {}
    for name, grounded in result.regions.items():
        obj = name.split('/', 1)[0]
        assert grounded.region.frame == obj and grounded.region.name == name
        if obj in frames:       # one frame per object
            assert np.allclose(frames[obj], grounded.T_base_obj)
        frames[obj] = grounded.T_base_obj
        if grounded.feature == 'rim':
            T = env.pose(obj)
            truth = T[:3, :3] @ env.object_info(obj).region(name).centroid_obj + T[:3, 3]
        else:
            truth = visible_ground_truth(env, frame, name).mean(axis=0)
        error_m = float(np.linalg.norm(grounded.centroid_base - truth))
        assert error_m < 0.02, f'{name}: centroid {error_m * 100:.1f} cm from ground truth'
    flows = {name: g.flow for name, g in result.regions.items()}
    if result.task == 'lab_pour_beaker':      # all three flows are exercised
        assert flows['beaker/rim'] == 'positional' and flows['beaker/spout'] == 'geometric'
        assert flows['beaker/body'] == 'none' and result.regions['beaker/spout'].cells


def test_plan_result_is_plain_json(planned) -> None:
    result, _, _ = planned
    data = result.to_json()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data['calls']['plan'] == 1 and data['from_oracle'] is True
    assert [s['name'] for s in data['subtasks']] == [s.spec.name for s in result.subtasks]
    assert set(data['regions']) == set(result.regions)
    assert data['wall_s'] >= data['reasoning_s'] > 0.0


def test_an_invalid_reply_is_retried_with_its_error_then_fails_cleanly() -> None:
    client = ScriptedClient({'plan': ['Here is my plan: grasp the cup.',
                                      '{"subtasks": "grasp the cup"}',
                                      '[' + PLAN_OK + ']']})
    engine = ReasoningEngine(client, EngineConfig(max_retries=2))
    with pytest.raises(ReasoningFailure) as caught:
        engine.plan('Grasp the cup.', synthetic_observation())
    failure = caught.value
    assert failure.step == 'plan' and 'no valid reply in 3 attempts' in failure.reason
    assert 'got an array' in failure.reason and '\n' not in str(failure)
    inputs = client.inputs('plan')
    assert len(inputs) == 3 and engine.stats.calls['plan'] == 3
    assert engine.stats.invalid['plan'] == 3
    assert inputs[0]['previous_error'] is None
    assert 'must be one JSON object and nothing else' in inputs[1]['previous_error']
    assert inputs[2]['previous_error'].startswith('subtasks: expected array')


def test_a_corrected_reply_is_accepted() -> None:
    client = ScriptedClient({'plan': ['```json\n' + PLAN_OK + '\n```\nDone.', PLAN_OK]})
    engine = ReasoningEngine(client)
    plan = engine.plan('Grasp the cup.', synthetic_observation())
    assert [s.name for s in plan.subtasks] == ['grasp_cup']
    assert engine.stats.calls['plan'] == 2 and engine.stats.invalid['plan'] == 1
    assert 'fence' in client.inputs('plan')[1]['previous_error']


def test_a_failing_model_fails_the_step_cleanly() -> None:
    class Broken:
        name, model = 'broken', 'none'

        def complete(self, request):
            raise MllmError('connection refused', step=request.step)

    with pytest.raises(ReasoningFailure, match='plan: the model call failed: connection'):
        ReasoningEngine(Broken()).plan('Grasp the cup.', synthetic_observation())


def test_planted_invalid_extraction_is_fed_back_and_corrected(lab_observation) -> None:
    oracle = OracleClient()
    bad = json.dumps({'regions': [{'name': 'beaker/body', 'marks': [999]},
                                  {'name': 'beaker/rim', 'marks': [1]}]})
    client = ScriptedClient({'extract': [bad, lambda req: oracle.complete(req).text]},
                            fallback=oracle)
    run = ReasoningEngine(client).run('Pour the reagent into the flask.', lab_observation)
    extract = client.inputs('extract')
    assert 'mark 999 does not exist' in extract[1]['previous_error']
    assert extract[2]['previous_error'] is None           # the next subtask starts afresh
    assert run.stats.invalid['extract'] == 1 and len(run.subtasks) == 2
    assert {'beaker/body', 'beaker/rim', 'beaker/spout', 'flask/mouth'} <= set(run.store.regions)


def test_the_grounded_hook_runs_after_grounding_and_before_each_program(lab_observation
                                                                       ) -> None:
    oracle = OracleClient()
    seen: list[tuple[str, frozenset[str]]] = []

    def program(request) -> str:
        seen.append(('program', frozenset()))
        return oracle.complete(request).text

    def on_grounded(store, stats) -> None:
        assert stats.from_oracle                      # the plan came from the oracle
        seen.append(('grounded', frozenset(store.regions)))
        for obj in store.frames:                      # e.g. re-expressed object frames
            store.frames[obj] = store.frames[obj].copy()

    client = ScriptedClient({'program': [program, program]}, fallback=oracle)
    run = ReasoningEngine(client, on_grounded=on_grounded).run(
        'Pour the reagent into the flask.', lab_observation)
    assert [kind for kind, _ in seen] == ['grounded', 'program', 'grounded', 'program']
    assert {'beaker/body', 'beaker/rim'} <= seen[0][1] <= seen[2][1] == set(run.store.regions)


def test_a_program_over_ungrounded_regions_fails_the_subtask(lab_observation) -> None:
    oracle = OracleClient()

    def lid(request) -> str:
        program = json.loads(oracle.complete(request).text)
        program['regions'].append('flask/lid')
        return json.dumps(program)

    client = ScriptedClient({'program': [lid]}, fallback=oracle)
    engine = ReasoningEngine(client, EngineConfig(max_retries=1))
    with pytest.raises(ReasoningFailure) as caught:
        engine.run('Pour the reagent into the flask.', lab_observation)
    assert caught.value.step == 'program' and caught.value.subtask == 's1_grasp'
    assert 'unknown region "flask/lid"' in caught.value.reason
    inputs = client.inputs('program')
    assert len(inputs) == 2 and 'flask/lid' in inputs[1]['previous_error']


def test_regrounding_a_subtask_renews_its_objects(lab_observation) -> None:
    engine = ReasoningEngine(OracleClient())
    run = engine.run('Pour the reagent into the flask.', lab_observation)
    before = engine.stats.calls['extract']
    first = run.store.regions['beaker/rim']
    again = engine.reground(run.instruction, run.plan, 0, lab_observation, run.store)
    assert engine.stats.calls['extract'] == before + 1
    assert run.store.regions['beaker/rim'] is not first        # grounded anew
    assert 'beaker/spout' not in run.store.regions             # re-grounded when needed
    assert [s.name for s in again.program.stages] == \
        [s.name for s in run.subtasks[0].program.stages]
    engine.solve_subtask(run.instruction, run.plan, 1, lab_observation, run.store)
    assert 'beaker/spout' in run.store.regions


def test_plan_task_records_every_exchange_in_a_transcript(tmp_path) -> None:
    from resem3d_reasoning.transcript import Transcript

    with Transcript.open(tmp_path) as transcript:
        result = plan_task('lab_bottle_to_stirrer', 0, OracleClient(),
                           instruction='Put the reagent bottle on the stirrer.',
                           transcript=transcript)
    exchanges = Transcript.load(tmp_path)
    assert [e.step for e in exchanges][:2] == ['plan', 'extract']
    assert len(exchanges) == result.stats.total_calls
    assert all(e.response is not None and e.response.from_oracle for e in exchanges)
    assert exchanges[0].request.scene == 'lab_bottle_to_stirrer@0'
    assert result.instruction == 'Put the reagent bottle on the stirrer.'
