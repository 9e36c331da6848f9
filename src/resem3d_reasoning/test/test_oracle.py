"""The simulator oracle: reference subtasks, answers from ground truth, labelling, errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from reasoning_test_support import synthetic_observation

import resem3d_constraints as rc
from resem3d_reasoning import make_client
from resem3d_reasoning.engine import ReasoningEngine, ReasoningFailure
from resem3d_reasoning.errors import ConfigError, OracleError
from resem3d_reasoning.oracle import (OracleClient, answer, flow_for, reference_subtasks,
                                      scene_name)
from resem3d_reasoning.planning import observe_task
from resem3d_reasoning.replies import parse_extract, parse_plan, parse_refine_flow
from resem3d_reasoning.steps import build_extract_request, build_plan_request

SCENE = 'lab_bottle_to_stirrer@0'


@pytest.fixture(scope='module')
def observation():
    return observe_task('lab_bottle_to_stirrer', 0)


def _request(step: str, **data):
    """A request as the oracle server hands it over: decoded INPUT, scene, no step field."""
    return SimpleNamespace(system='', user_text='', images=(), response_format=None,
                           scene=data.pop('scene', SCENE), input={'step': step, **data})


def test_reference_programs_split_at_gripper_actions() -> None:
    import resem3d_sim  # noqa: F401
    from resem3d_sim.catalog import TASKS

    for name, task in TASKS.items():
        program = task.reference_program()
        subtasks = reference_subtasks(program)
        stages = [stage.name for sub in subtasks for stage in sub.stages]
        assert stages == [stage.name for stage in program.stages], name
        assert len(subtasks) == 2, name
        first = subtasks[0].stages[-1]
        # The first piece ends with its grasp (or, for a push, with the fingers closed).
        assert first.gripper is not None and first.gripper.action in ('grasp', 'close'), name
        for sub in subtasks:      # each piece is a valid program over the regions it lists
            rc.ConstraintProgram(name=sub.name, regions=sub.regions, stages=sub.stages)


def test_the_oracle_answers_each_step_from_ground_truth(observation) -> None:
    client = OracleClient()
    plan_request = build_plan_request('Put the bottle on the stirrer.', observation,
                                      max_subtasks=8)
    response = client.complete(plan_request)
    assert response.from_oracle and response.backend == 'oracle'
    assert response.model == 'resem3d-oracle' and not response.cached
    plan = parse_plan(response.text)
    assert [s.name for s in plan.subtasks] == ['s1_grasp', 's2_place']
    assert 'table/top' not in plan.regions and 'bottle/cap' in plan.subtasks[0].regions
    assert 'oracle' in json.loads(response.text)['notes']

    labels = {i: m.mask.label for i, m in observation.marked.marks.items()}
    extract = build_extract_request('x', plan.subtasks[0], list(plan.subtasks[0].regions),
                                    observation)
    marks = parse_extract(client.complete(extract).text, requested=plan.subtasks[0].regions,
                          mark_ids=observation.mark_ids)
    for region, ids in marks.items():
        assert all(labels[i] == region for i in ids)


def test_server_style_requests_and_label_lookup_near_the_anchor(observation) -> None:
    mark = next(m for m in observation.marked.marks.values() if m.mask.label == 'bottle/cap')
    x, y = mark.anchor_px
    # The anchor itself, then a point just off the part (the window around it decides).
    off = next((x + dx, y) for dx in range(1, 40) if not mark.mask.mask[y, x + dx])
    for anchor in ([x, y], list(off)):
        reply = answer(_request('extract', regions=['bottle/cap'],
                                marks=[{'id': 7, 'anchor_px': anchor}]))
        assert json.loads(reply)['regions'] == [{'name': 'bottle/cap', 'marks': [7]}]
    flows = parse_refine_flow(answer(_request('refine_flow', regions=[
        {'name': 'bottle/cap', 'marks': [7]}, {'name': 'flask/mouth', 'marks': [8]}])),
        requested=['bottle/cap', 'flask/mouth'])
    assert flows['bottle/cap'].flow == 'none' and flows['flask/mouth'].feature == 'rim'


def test_flow_rules() -> None:
    assert flow_for('beaker/rim') == {'flow': 'positional', 'feature': 'rim'}
    assert flow_for('tube/mouth') == {'flow': 'positional', 'feature': 'rim'}
    assert flow_for('plate/top') == {'flow': 'positional', 'feature': 'top'}
    assert flow_for('kettle/spout') == {'flow': 'geometric'}
    assert flow_for('mug/handle') == {'flow': 'none'}


@pytest.mark.parametrize('request_, message', [
    (_request('plan', scene=None), 'names no scene'),
    (_request('plan', scene='no-seed'), 'not of the form task@seed'),
    (_request('plan', scene='no_such_task@0'), 'unknown task'),
    (_request('exec'), "cannot answer step 'exec'"),
    (_request('extract', regions=['bottle/cap'], marks=[]), 'no mark shows region'),
    (_request('extract', marks=[]), 'no valid INPUT.regions'),
    (_request('program', subtask={'name': 's9_fly'}, regions=[]), 'has no subtask'),
    (_request('program', subtask={'name': 's1_grasp'}, regions=[]), 'was not grounded'),
    (_request('refine_grid', region='bottle/cap',
              cells=[{'label': 1, 'anchor_px': [0, 0], 'rect_px': [0, 0, 4, 4]}]),
     'no grid cell covers'),
    (SimpleNamespace(user_text='no input block', scene=SCENE), 'INPUT (JSON)'),
])
def test_unanswerable_requests_raise_oracle_errors(request_, message: str) -> None:
    with pytest.raises(OracleError, match='oracle: ') as caught:
        answer(request_)
    assert message in str(caught.value) and '\n' not in str(caught.value)


def test_an_unanswerable_scene_fails_the_reasoning_cleanly() -> None:
    with pytest.raises(ReasoningFailure, match='plan: the model call failed: oracle: unknown'):
        ReasoningEngine(OracleClient()).plan('Grasp the cup.', synthetic_observation())


def test_oracle_is_a_registered_backend() -> None:
    client = make_client({'backend': 'oracle'})
    assert isinstance(client, OracleClient) and client.name == 'oracle'
    with pytest.raises(ConfigError, match='takes no options'):
        make_client({'backend': 'oracle', 'model': 'gpt'})
    assert scene_name('lab_pour_beaker', 3) == 'lab_pour_beaker@3'
