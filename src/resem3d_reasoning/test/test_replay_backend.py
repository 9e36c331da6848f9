"""Record through the openai backend and the oracle server, then replay with no server."""

from __future__ import annotations

import json

import pytest

from mllm_test_support import fast_client, make_request, png, server, stub
from resem3d_reasoning import (ConfigError, ImageInput, MllmError, RecordingClient,
                               ReplayMissError, Transcript, make_client)
from resem3d_reasoning.oracle_server import AnswerRequest, OracleServer

__all__ = ['server', 'stub']     # pytest fixtures used by the tests below


def _echo(request: AnswerRequest) -> str:
    """A distinct answer per request, so a replay that mixed answers up would show."""
    return json.dumps({'instruction': request.input['instruction'], 'step': request.step,
                       'images': len(request.images), 'unicode': 'bécher → flacon'})


REQUESTS = [
    make_request(scene='lab_pour_beaker@3'),
    make_request(step='extract', images=(ImageInput('marks', png()),), scene='lab_pour_beaker@3'),
    make_request(step='program', instruction='close the drawer', schema=None),
]


def _record(directory) -> list[str]:
    with OracleServer(_echo, log=None) as oracle, Transcript.open(directory) as transcript:
        client = RecordingClient(fast_client(oracle.url), transcript)
        return [client.complete(request).text for request in REQUESTS]


def test_replay_gives_byte_identical_texts(tmp_path):
    recorded = _record(tmp_path)
    replay = make_client({'backend': 'replay', 'dir': str(tmp_path)})
    assert replay.name == 'replay' and replay.model == 'test-model' and len(replay) == 3
    responses = [replay.complete(request) for request in reversed(REQUESTS)][::-1]
    assert [r.text for r in responses] == recorded
    assert all(r.from_oracle and r.backend == 'replay' for r in responses)
    assert responses[0].model == 'resem3d-oracle' and responses[0].prompt_tokens > 0


def test_changed_request_misses_naming_step_and_key(tmp_path):
    _record(tmp_path)
    replay = make_client({'backend': 'replay', 'dir': str(tmp_path)})
    changed = make_request(step='extract', instruction='pour it all', scene='lab_pour_beaker@3')
    with pytest.raises(ReplayMissError) as caught:
        replay.complete(changed)
    assert str(caught.value) == (f'replay: no recorded answer for step extract (key '
                                 f'{changed.key("test-model")[:12]}) in {tmp_path}')
    assert caught.value.step == 'extract'


def test_replay_under_another_model_name_misses(tmp_path):
    _record(tmp_path)
    replay = make_client({'backend': 'replay', 'replay': {'dir': str(tmp_path), 'model': 'gpt-x'}})
    with pytest.raises(ReplayMissError, match='step plan'):
        replay.complete(REQUESTS[0])


def test_failed_exchanges_are_not_replayed(tmp_path, server):
    server.inject('500', 1)
    with Transcript.open(tmp_path) as transcript:
        with pytest.raises(MllmError):
            RecordingClient(fast_client(server.url, max_retries=0), transcript).complete(
                make_request())
    assert Transcript.load(tmp_path)[0].error is not None
    with pytest.raises(ReplayMissError):
        make_client({'backend': 'replay', 'dir': str(tmp_path)}).complete(make_request())


def test_replay_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match='option dir'):
        make_client({'backend': 'replay'})
    with pytest.raises(ConfigError, match='unknown option.*directory'):
        make_client({'backend': 'replay', 'directory': str(tmp_path)})
