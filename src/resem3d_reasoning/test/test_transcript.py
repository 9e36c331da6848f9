"""Transcripts: appended, reloaded, images stored once, malformed lines named by number."""

from __future__ import annotations

import json

import pytest

from mllm_test_support import make_request, png
from resem3d_reasoning import ImageInput, MllmResponse, Transcript, TranscriptError


def _response(text: str = '{"ok": true}') -> MllmResponse:
    return MllmResponse(text=text, backend='openai', model='served-model', latency_s=0.25,
                        prompt_tokens=12, completion_tokens=3, cached=False, from_oracle=True)


def _record(transcript: Transcript, request, **extra):
    fields = {'key': request.key('m'), 'backend': 'openai', 'model': 'm',
              'response': _response(), 'latency_s': 0.25}
    fields.update(extra)
    return transcript.record(request, **fields)


def test_round_trip_and_images_written_once(tmp_path):
    rgb = ImageInput('rgb', png())
    marks = ImageInput('marks', png((0, 90, 0)))
    request = make_request(images=(rgb, marks), scene='lab_pour_beaker@3')
    with Transcript.open(tmp_path) as transcript:
        _record(transcript, request)
        _record(transcript, make_request(step='extract', images=(rgb,)), response=None,
                error='MllmTimeoutError: extract: no answer')
    assert sorted(p.name for p in (tmp_path / 'images').iterdir()) == sorted(
        [rgb.sha256 + '.png', marks.sha256 + '.png'])
    first, second = Transcript.load(tmp_path)
    assert (first.index, second.index) == (0, 1)
    assert first.key == request.key('m') and first.model == 'm'
    assert first.request.scene == 'lab_pour_beaker@3'
    assert [ref.name for ref in first.request.images] == ['rgb', 'marks']
    assert first.response.text == '{"ok": true}' and first.response.from_oracle
    assert first.response.prompt_tokens == 12 and first.latency_s == 0.25
    assert second.response is None and second.error.startswith('MllmTimeoutError')
    assert first.to_request(tmp_path) == request            # images read back byte-identical


def test_reopen_appends_with_continuing_indices(tmp_path):
    with Transcript.open(tmp_path) as transcript:
        _record(transcript, make_request())
    with Transcript.open(tmp_path) as transcript:
        assert _record(transcript, make_request(step='program')).index == 1
    assert [e.step for e in Transcript.load(tmp_path)] == ['plan', 'program']


def test_lines_are_the_documented_json(tmp_path):
    with Transcript.open(tmp_path) as transcript:
        _record(transcript, make_request(images=(ImageInput('rgb', png()),)))
    line = json.loads((tmp_path / 'transcript.jsonl').read_text())
    assert set(line) == {'index', 'time', 'step', 'key', 'backend', 'model', 'request',
                         'response', 'latency_s', 'error'}
    assert set(line['request']) == {'system', 'user_text', 'images', 'response_schema', 'scene'}
    assert set(line['request']['images'][0]) == {'name', 'file', 'sha256'}
    assert line['request']['images'][0]['file'].startswith('images/')


def test_malformed_line_is_named_by_number(tmp_path):
    with Transcript.open(tmp_path) as transcript:
        _record(transcript, make_request())
    with (tmp_path / 'transcript.jsonl').open('a') as stream:
        stream.write('{"index": 1, "truncated\n')
    with pytest.raises(TranscriptError, match=r'transcript.jsonl:2: not valid JSON'):
        Transcript.load(tmp_path)


def test_missing_or_mistyped_field_is_named(tmp_path):
    with Transcript.open(tmp_path) as transcript:
        _record(transcript, make_request())
    path = tmp_path / 'transcript.jsonl'
    line = json.loads(path.read_text())
    line['response']['cached'] = 'no'
    path.write_text(json.dumps(line) + '\n')
    with pytest.raises(TranscriptError, match=r":1: field 'cached' must be bool, got str"):
        Transcript.load(tmp_path)
    line['response']['cached'] = False
    del line['key']
    path.write_text(json.dumps(line) + '\n')
    with pytest.raises(TranscriptError, match=r":1: missing field 'key'"):
        Transcript.load(tmp_path)


def test_load_of_a_non_transcript_directory_fails_clearly(tmp_path):
    with pytest.raises(TranscriptError, match='not a transcript directory'):
        Transcript.load(tmp_path / 'nowhere')
