"""Requests, keys, the INPUT block, the recording client and the backend registry."""

from __future__ import annotations

import dataclasses

import pytest

from mllm_test_support import SCHEMA, make_request, png
from resem3d_reasoning import (ConfigError, ImageInput, InputBlockError, MllmClient, MllmError,
                               MllmRequest, MllmResponse, RecordingClient, ReplayMissError,
                               ReplyError, Transcript, input_block, known_backends, make_client,
                               parse_input_block, register_backend)


class CountingClient:
    """A backend that answers with a counter, or fails with ``MllmError`` when told to."""

    name = 'counting'
    model = 'count-1'

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def complete(self, request: MllmRequest) -> MllmResponse:
        self.calls += 1
        if self.fail:
            raise MllmError(f'{request.step}: backend down', step=request.step)
        return MllmResponse(text=f'{{"n": {self.calls}}}', backend=self.name, model=self.model,
                            latency_s=0.001, prompt_tokens=5, completion_tokens=2)


def test_key_depends_on_every_keyed_field_and_not_on_scene():
    base = make_request(images=(ImageInput('rgb', png()),), scene='lab_pour_beaker@3')
    key = base.key('m')
    assert key == make_request(images=(ImageInput('rgb', png()),)).key('m')   # scene not keyed
    assert len(key) == 64 and int(key, 16) >= 0
    changed = [
        base.key('other-model'),
        dataclasses.replace(base, step='extract').key('m'),
        dataclasses.replace(base, system='x').key('m'),
        dataclasses.replace(base, user_text=base.user_text + ' ').key('m'),
        dataclasses.replace(base, images=(ImageInput('rgb', png((0, 0, 0))),)).key('m'),
        dataclasses.replace(base, images=(ImageInput('marks', png()),)).key('m'),
        dataclasses.replace(base, response_schema={'type': 'object'}).key('m'),
    ]
    assert key not in changed and len(set(changed)) == len(changed)


def test_key_ignores_schema_key_order():
    reordered = dict(reversed(list(SCHEMA.items())))
    assert make_request(schema=reordered).key('m') == make_request().key('m')


def test_input_block_round_trip_and_last_marker_wins():
    text = ('Example:\nINPUT (JSON):\n{"old": 1}\nNow yours.\n' +
            input_block({'b': [1, 2], 'a': 'é'}))
    assert parse_input_block(text) == {'a': 'é', 'b': [1, 2]}


@pytest.mark.parametrize('text, words', [
    ('no block here', 'has no line'),
    ('INPUT (JSON):\n{"a": ', 'not valid JSON'),
    ('INPUT (JSON):\n[1, 2]', 'one JSON object'),
])
def test_parse_input_block_errors_are_one_line(text, words):
    with pytest.raises(InputBlockError, match=words) as caught:
        parse_input_block(text)
    assert '\n' not in str(caught.value)


def test_request_rejects_non_png_and_unserialisable_schema():
    with pytest.raises(ValueError, match='PNG'):
        ImageInput('rgb', b'GIF89a...')
    with pytest.raises(ValueError, match='not JSON'):
        make_request(schema={'bad': float('nan')})
    assert make_request(images=[ImageInput('rgb', png())]).images[0].name == 'rgb'   # list -> tuple


def test_recording_client_serves_identical_requests_from_cache(tmp_path):
    inner = CountingClient()
    with Transcript.open(tmp_path) as transcript:
        client = RecordingClient(inner, transcript)
        assert isinstance(client, MllmClient) and client.model == 'count-1'
        first = client.complete(make_request())
        second = client.complete(make_request())
        other = client.complete(make_request(instruction='close the drawer'))
    assert inner.calls == 2
    assert (first.cached, second.cached, other.cached) == (False, True, False)
    assert second.text == first.text and other.text != first.text
    assert [e.response.cached for e in Transcript.load(tmp_path)] == [False, True, False]


def test_recording_client_without_cache_asks_every_time():
    inner = CountingClient()
    client = RecordingClient(inner, None, cache=False)
    client.complete(make_request())
    client.complete(make_request())
    assert inner.calls == 2


def test_recording_client_records_failures_and_reraises(tmp_path):
    with Transcript.open(tmp_path) as transcript:
        with pytest.raises(MllmError, match='plan: backend down'):
            RecordingClient(CountingClient(fail=True), transcript).complete(make_request())
    [exchange] = Transcript.load(tmp_path)
    assert exchange.response is None and exchange.error == 'MllmError: plan: backend down'
    assert exchange.backend == 'counting' and exchange.step == 'plan'


def test_make_client_unknown_backend_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown model backend 'gpt'.*openai.*replay"):
        make_client({'backend': 'gpt'})


def test_register_backend_and_section_options():
    seen = {}

    def factory(options):
        seen.update(options)
        return CountingClient()

    register_backend('counting-test', factory)
    with pytest.raises(ConfigError, match='already registered'):
        register_backend('counting-test', factory)
    client = make_client({'backend': 'counting-test', 'counting-test': {'x': 1},
                          'openai': {'model': 'unused'}})
    assert client.name == 'counting' and seen == {'x': 1}
    assert 'counting-test' in known_backends()


def test_openai_options_are_checked(monkeypatch):
    with pytest.raises(ConfigError, match='unknown option.*temprature'):
        make_client({'backend': 'openai', 'model': 'm', 'temprature': 0})
    with pytest.raises(ConfigError, match='timeout_s must be a finite number > 0'):
        make_client({'backend': 'openai', 'model': 'm', 'base_url': 'http://x/v1',
                     'timeout_s': 0})
    monkeypatch.delenv('RESEM3D_TEST_KEY', raising=False)
    with pytest.raises(ConfigError, match='RESEM3D_TEST_KEY is not set'):
        make_client({'backend': 'openai', 'model': 'gpt-4o', 'api_key_env': 'RESEM3D_TEST_KEY'})


def test_errors_carry_step_and_detail():
    reply = ReplyError('program', 'missing field\n"subtasks"')
    assert (reply.step, reply.detail) == ('program', 'missing field "subtasks"')
    assert str(reply) == 'program: invalid reply: missing field "subtasks"'
    miss = ReplayMissError('extract', 'ab' * 32, '/runs/t1')
    assert isinstance(miss, MllmError) and miss.step == 'extract'
    assert str(miss) == 'replay: no recorded answer for step extract (key abababababab) in /runs/t1'
