# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""The reasoning node's settings: the parameter files, overrides, and the oracle's limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from resem3d_reasoning import RecordingClient
from resem3d_reasoning.errors import ConfigError
from resem3d_reasoning.settings import (ReasoningSettings, client_options, load_settings,
                                        make_task_client)

CONFIG = Path(__file__).resolve().parents[3] / 'config'


def test_the_repository_files_load():
    settings = load_settings(CONFIG / 'reasoning.yaml', CONFIG / 'perception.yaml')
    assert settings.mllm['backend'] == 'openai'
    assert settings.mllm['openai']['model'] == 'gpt-4o'
    assert settings.mllm['openai']['base_url'] is None           # '' = OpenAI's own API
    assert settings.engine.max_subtasks == 8 and settings.engine.workspace.x_m == (-0.3, 1.1)
    assert settings.engine.grid.rows == 4
    assert isinstance(ReasoningSettings().engine.max_retries, int)


def test_overrides_apply_to_their_backend():
    mllm = {'backend': 'openai', 'openai': {'model': 'gpt-4o', 'base_url': None}}
    options = client_options(mllm, model='qwen2.5-vl', base_url='http://localhost:8000/v1')
    assert options == {'backend': 'openai', 'openai': {'model': 'qwen2.5-vl',
                                                       'base_url': 'http://localhost:8000/v1'}}
    assert client_options(mllm, backend='oracle') == {'backend': 'oracle', 'oracle': {}}
    assert client_options(mllm, backend='replay', transcript='/tmp/t', model='m') == {
        'backend': 'replay', 'replay': {'dir': '/tmp/t', 'model': 'm'}}
    for kwargs, match in (({'backend': 'gemini'}, 'unknown model backend'),
                          ({'backend': 'oracle', 'model': 'x'}, 'no model to choose'),
                          ({'backend': 'replay'}, 'transcript directory'),
                          ({'backend': 'replay', 'transcript': 'd', 'base_url': 'u'},
                           'openai backend only')):
        with pytest.raises(ConfigError, match=match):
            client_options(mllm, **kwargs)


def test_the_oracle_is_for_simulation_only():
    with pytest.raises(ConfigError, match='only available in simulation'):
        make_task_client({'backend': 'oracle', 'oracle': {}}, use_sim=False)
    client = make_task_client({'backend': 'oracle', 'oracle': {}}, use_sim=True)
    assert client.name == 'oracle' and client.model == 'resem3d-oracle'


@pytest.mark.parametrize('text, match', [
    ('resem3d_reasoning:\n  ros__parameters:\n    mllm: {backend: openai}\n    extra: 1\n',
     'unknown section'),
    ('other:\n  ros__parameters: {}\n', 'no resem3d_reasoning: ros__parameters'),
    ('resem3d_reasoning:\n  ros__parameters:\n    mllm: openai\n', 'mllm must be a mapping'),
    ('resem3d_reasoning:\n  ros__parameters:\n    mllm: {backend: openai}\n'
     '    engine: {max_stages: 2.5}\n', 'engine.max_stages must be an integer'),
    ('resem3d_reasoning:\n  ros__parameters:\n    mllm: {backend: openai}\n'
     '    engine: {workspace: {x_m: [1.0]}}\n', 'workspace.x_m'),
    ('resem3d_reasoning:\n  ros__parameters:\n    mllm: {backend: openai}\n'
     '    engine: {max_subtasks: 0}\n', 'max_subtasks'),
    ('resem3d_reasoning: [\n', 'not YAML'),
])
def test_bad_files_are_clear_errors(tmp_path, text, match):
    path = tmp_path / 'reasoning.yaml'
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match='cannot read'):
        load_settings(tmp_path / 'none.yaml')


def test_recording_wraps_every_backend_but_replay(tmp_path):
    client = make_task_client({'backend': 'oracle', 'oracle': {}}, use_sim=True,
                              record_dir=str(tmp_path / 'rec'))
    assert isinstance(client, RecordingClient) and client.name == 'oracle'
    client.transcript.close()
    assert (tmp_path / 'rec').is_dir()
    replay = make_task_client({'backend': 'replay', 'replay': {'dir': str(tmp_path / 'rec')}},
                              use_sim=False, record_dir=str(tmp_path / 'rec'))
    assert not isinstance(replay, RecordingClient) and replay.name == 'replay'
