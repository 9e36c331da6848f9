"""Shared helpers of the MLLM client tests: a stub answerer, a loopback oracle server, requests.

Imported by the test modules (not a conftest: the workspace's test directories share one
pytest run, and plain helper modules with unique names cannot collide).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from resem3d_reasoning import ImageInput, MllmRequest, input_block
from resem3d_reasoning.backends.openai_backend import OpenAIClient, OpenAIConfig
from resem3d_reasoning.oracle_server import AnswerRequest, OracleServer

SCHEMA: dict[str, Any] = {
    '$schema': 'https://json-schema.org/draft/2020-12/schema',
    'type': 'object', 'required': ['subtasks'],
    'properties': {'subtasks': {'type': 'array', 'items': {'type': 'string'}}},
}
ANSWER = json.dumps({'subtasks': ['grasp the beaker', 'pour into the flask']})


def fixed_answer(request: AnswerRequest) -> str:
    """An answerer that always gives ``ANSWER`` (used by the subprocess test too)."""
    return ANSWER


class StubAnswerer:
    """Answers ``ANSWER`` (or ``text``) and keeps every request it saw."""

    def __init__(self, text: str = ANSWER) -> None:
        self.text = text
        self.seen: list[AnswerRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: AnswerRequest) -> str:
        with self._lock:
            self.seen.append(request)
        return self.text


def png(color: tuple[int, int, int] = (200, 30, 30), size: int = 4) -> bytes:
    """A small PNG file's bytes."""
    buffer = io.BytesIO()
    Image.new('RGB', (size, size), color).save(buffer, format='PNG')
    return buffer.getvalue()


def make_request(step: str = 'plan', instruction: str = 'pour the beaker into the flask',
                 images: tuple[ImageInput, ...] = (), scene: str | None = None,
                 schema: dict[str, Any] | None = SCHEMA) -> MllmRequest:
    """A request shaped like the reasoning steps' (text, then the INPUT block)."""
    user_text = 'Split the instruction into subtasks.\n' + input_block(
        {'instruction': instruction, 'objects': ['beaker', 'flask']})
    return MllmRequest(step=step, system='You plan robot tasks. Reply with JSON only.',
                       user_text=user_text, images=images, response_schema=schema, scene=scene)


def fast_client(url: str, **overrides: Any) -> OpenAIClient:
    """An OpenAI backend with test-sized timeouts and backoff (seconds)."""
    options: dict[str, Any] = {'base_url': url, 'model': 'test-model', 'api_key_env':
                               'RESEM3D_TEST_NO_SUCH_KEY', 'timeout_s': 2.0, 'max_retries': 3,
                               'backoff_s': 0.01, 'backoff_max_s': 0.05, 'total_budget_s': 5.0}
    options.update(overrides)
    return OpenAIClient(OpenAIConfig.from_mapping(options))


@pytest.fixture()
def stub() -> StubAnswerer:
    return StubAnswerer()


@pytest.fixture()
def server(stub: StubAnswerer) -> Iterator[OracleServer]:
    """An in-process oracle server on a free loopback port, answering with ``stub``."""
    with OracleServer(stub, retry_after_s=0.0, delay_s=1.5, log=None) as running:
        yield running
