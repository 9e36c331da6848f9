"""The openai backend, with the real openai library, against the in-process oracle server."""

from __future__ import annotations

import socket
import time

import pytest

from mllm_test_support import ANSWER, SCHEMA, fast_client, make_request, png, server, stub
from resem3d_reasoning import (ImageInput, MllmError, MllmRateLimitError, MllmRequest,
                               MllmTimeoutError, OracleError)
from resem3d_reasoning.oracle_server import MALFORMED_TEXT, OracleServer

__all__ = ['server', 'stub']     # pytest fixtures used by the tests below


def test_structured_request_reaches_server_with_schema_and_headers(server, stub):
    rgb, marks = png(), png((0, 0, 255))
    request = make_request(images=(ImageInput('rgb', rgb), ImageInput('marks', marks)),
                           scene='lab_pour_beaker@3')
    response = fast_client(server.url).complete(request)
    assert response.text == ANSWER and response.backend == 'openai'
    assert response.from_oracle and response.model == 'resem3d-oracle' and not response.cached
    assert response.prompt_tokens > 0 and response.completion_tokens == len(ANSWER) // 4
    [seen] = stub.seen
    assert seen.response_format == {'type': 'json_schema', 'json_schema': {
        'name': 'plan', 'schema': SCHEMA, 'strict': False}}
    assert seen.images == (rgb, marks)
    assert (seen.scene, seen.step, seen.model) == ('lab_pour_beaker@3', 'plan', 'test-model')
    assert seen.system == request.system and seen.user_text == request.user_text
    assert seen.input['instruction'] == 'pour the beaker into the flask'


def test_no_scene_header_without_scene(server, stub):
    fast_client(server.url).complete(make_request(scene=None))
    assert stub.seen[0].scene is None


def test_falls_back_when_server_refuses_json_schema_and_remembers(stub):
    with OracleServer(stub, refuse_formats={'json_schema'}, log=None) as refusing:
        client = fast_client(refusing.url)
        assert client.complete(make_request()).text == ANSWER
        assert client.structured_output == 'json_object'
        client.complete(make_request(instruction='close the drawer'))
        assert refusing.chat_count == 3                  # one refusal, then json_object only
    assert [s.response_format for s in stub.seen] == [{'type': 'json_object'}] * 2


def test_falls_back_to_no_format_when_json_object_is_refused_too(stub):
    with OracleServer(stub, refuse_formats={'json_schema', 'json_object'}, log=None) as refusing:
        client = fast_client(refusing.url)
        assert client.complete(make_request()).text == ANSWER
    assert client.structured_output == 'none' and stub.seen[0].response_format is None


def test_explicit_json_schema_mode_fails_at_once_on_refusal(stub):
    with OracleServer(stub, refuse_formats={'json_schema'}, log=None) as refusing:
        with pytest.raises(MllmError, match=r"^plan: HTTP 400 .*'json_schema' is not supported"):
            fast_client(refusing.url, structured_output='json_schema').complete(make_request())
        assert refusing.chat_count == 1


def test_retries_429_500_and_timeout_then_succeeds(server):
    server.inject('429', 1)
    server.inject('500', 1)
    server.inject('slow', 1)
    response = fast_client(server.url, timeout_s=0.5).complete(make_request())
    assert response.text == ANSWER and server.chat_count == 4
    assert [r.status for r in server.requests][:2] == [429, 500]


def test_retries_exhausted_fail_within_bounded_time(server):
    server.inject('500', 10)
    start = time.monotonic()
    with pytest.raises(MllmError, match=r'^plan: gave up after 3 attempt\(s\).*HTTP 500'):
        fast_client(server.url, max_retries=2).complete(make_request())
    assert time.monotonic() - start < 3.0 and server.chat_count == 3


def test_rate_limit_exhausted_is_typed(server):
    server.inject('429', 5)
    with pytest.raises(MllmRateLimitError, match='^plan: .*429'):
        fast_client(server.url, max_retries=1).complete(make_request())


def test_total_budget_bounds_timeouts(server):
    server.inject('slow', 20)
    start = time.monotonic()
    with pytest.raises(MllmTimeoutError, match='^plan: '):
        fast_client(server.url, timeout_s=0.3, total_budget_s=0.8, max_retries=50).complete(
            make_request())
    assert time.monotonic() - start < 2.5           # 50 retries of 0.3 s would take 15 s


def test_client_errors_fail_at_once_naming_the_step(server):
    request = MllmRequest(step='extract', system='s', user_text='no input block here')
    with pytest.raises(MllmError, match=r"^extract: HTTP 400 .*INPUT \(JSON\)") as caught:
        fast_client(server.url).complete(request)
    assert server.chat_count == 1 and caught.value.step == 'extract'


def test_malformed_reply_passes_through_as_text(server):
    server.inject('malformed', 1)
    assert fast_client(server.url).complete(make_request()).text == MALFORMED_TEXT


def test_reply_without_choices_is_an_error(server):
    server.inject('empty', 1)
    with pytest.raises(MllmError, match='^plan: the reply has no choices$'):
        fast_client(server.url).complete(make_request())


def test_oracle_that_cannot_answer_is_a_one_line_error():
    def refuse(_request):
        raise OracleError('no part "spout" on beaker')

    with OracleServer(refuse, log=None) as refusing:
        with pytest.raises(MllmError, match='^plan: HTTP 422 .*no part "spout" on beaker$'):
            fast_client(refusing.url).complete(make_request())


def test_unreachable_server_fails_after_retries():
    with socket.socket() as probe:        # a port that nobody listens on once closed
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(MllmError, match=r'^plan: gave up after 2 attempt\(s\).*cannot reach'):
        fast_client(f'http://127.0.0.1:{port}/v1', max_retries=1).complete(make_request())
    assert time.monotonic() - start < 3.0
