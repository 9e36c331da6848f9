"""The oracle server over raw HTTP: routes, OpenAI-style errors, and its command line."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mllm_test_support import ANSWER, make_request, server, stub
from resem3d_reasoning.oracle_server import OracleServer

__all__ = ['server', 'stub']     # pytest fixtures used by the tests below

TEST_DIR = Path(__file__).resolve().parent
PACKAGE_ROOT = TEST_DIR.parent


def _chat_body(user_content: Any = None) -> dict[str, Any]:
    request = make_request()
    return {'model': 'm', 'messages': [
        {'role': 'system', 'content': request.system},
        {'role': 'user', 'content': request.user_text if user_content is None else user_content}]}


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {'Content-Type': 'application/json', **(headers or {})}
    request = urllib.request.Request(url + '/chat/completions', data=data, method='POST',
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_models_route_lists_the_oracle(server):
    with urllib.request.urlopen(server.url + '/models', timeout=5) as reply:
        assert json.loads(reply.read())['data'][0]['id'] == 'resem3d-oracle'


def test_chat_completion_is_marked_as_oracle_output(server):
    status, body = _post(server.url, _chat_body(), {'X-Resem3d-Scene': 'household@0'})
    assert status == 200 and body['object'] == 'chat.completion'
    assert body['model'] == body['system_fingerprint'] == 'resem3d-oracle'
    assert body['choices'][0]['message']['content'] == ANSWER
    assert body['usage']['total_tokens'] == (body['usage']['prompt_tokens'] +
                                             body['usage']['completion_tokens'])
    assert server.requests[-1].scene == 'household@0'


@pytest.mark.parametrize('body, status, words', [
    (_chat_body('no input block'), 400, 'INPUT (JSON):'),
    (b'{not json', 400, 'not valid JSON'),
    ({'model': 'm', 'messages': []}, 400, 'non-empty list'),
    (_chat_body([{'type': 'image_url', 'image_url': {'url': 'http://x/a.png'}}]), 400,
     'data:image/png;base64'),
    (_chat_body([{'type': 'image_url', 'image_url': {
        'url': 'data:image/png;base64,' + base64.b64encode(b'GIF89a').decode()}}]), 400,
     'not a PNG'),
])
def test_bad_requests_get_openai_style_errors(server, body, status, words):
    got, reply = _post(server.url, body)
    assert got == status and words in reply['error']['message']
    assert reply['error']['type'] == 'invalid_request_error'


def test_unknown_route_is_404(server):
    status, reply = _post(server.url.replace('/v1', '/v2'), _chat_body())
    assert status == 404 and 'no route' in reply['error']['message']


def test_missing_answerer_is_501():
    with OracleServer('resem3d_reasoning.no_such_oracle:answer', log=None) as missing:
        status, reply = _post(missing.url, _chat_body())
    assert status == 501 and 'no oracle answerer available' in reply['error']['message']


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(PACKAGE_ROOT), str(TEST_DIR), os.environ.get('PYTHONPATH', '')])
    return {**os.environ, 'PYTHONPATH': path}


def test_command_line_serves_faults_then_answers():
    process = subprocess.Popen(
        [sys.executable, '-m', 'resem3d_reasoning.oracle_server', '--port', '0',
         '--answerer', 'mllm_test_support:fixed_answer', '--fault', '500:1'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        first = process.stdout.readline().strip()
        assert first.startswith('listening on http://127.0.0.1:') and first.endswith('/v1')
        url = first.removeprefix('listening on ')
        assert _post(url, _chat_body())[0] == 500
        status, body = _post(url, _chat_body())
        assert status == 200 and body['choices'][0]['message']['content'] == ANSWER
    finally:
        process.terminate()
        _, log = process.communicate(timeout=10)
    assert process.returncode == 0
    assert 'POST /v1/chat/completions 500' in log and 'Traceback' not in log


@pytest.mark.parametrize('argument, words', [
    (['--fault', 'boom:1'], 'kind must be one of'),
    (['--answerer', 'nowhere'], 'must be written module:function'),
    (['--port', '70000'], 'not in 0..65535'),
])
def test_command_line_rejects_bad_arguments_in_one_line(argument, words):
    done = subprocess.run([sys.executable, '-m', 'resem3d_reasoning.oracle_server', *argument],
                          capture_output=True, text=True, env=_env(), timeout=20)
    assert done.returncode == 2 and done.stdout == ''
    assert done.stderr.startswith('error: ') and words in done.stderr
    assert done.stderr.count('\n') == 1
