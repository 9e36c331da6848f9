"""Backend for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, oracle).

One request = a system message and one user message whose content is the user text followed by
one ``image_url`` part per image (``data:image/png;base64,...``). Structured output asks for
the request's JSON Schema; in ``'auto'`` mode a server that refuses it is asked for a JSON
object instead, then for plain text, and the fallback is kept for the rest of the run.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from ..client import (ORACLE_FINGERPRINT, SCENE_HEADER, STEP_HEADER, MllmRequest,
                      MllmResponse)
from ..errors import ConfigError, MllmError, MllmRateLimitError, MllmTimeoutError, one_line

_log = logging.getLogger(__name__)

STRUCTURED_OUTPUT_MODES = ('auto', 'json_schema', 'json_object', 'none')
_FALLBACK = {'json_schema': 'json_object', 'json_object': 'none'}
_FORMAT_WORDS = ('response_format', 'json_schema', 'json_object', 'structured output')


@dataclass(frozen=True)
class OpenAIConfig:
    """Settings of the OpenAI-compatible backend (``config/*.yaml``, backend ``'openai'``).

    ``base_url``: the endpoint's ``/v1`` URL (``None``: OpenAI's own). ``api_key_env``: the
    environment variable holding the key; when unset, local servers get ``'EMPTY'``.
    ``timeout_s``: limit of one attempt (s). ``max_retries``: retries after the first attempt
    on HTTP 429, 5xx, timeouts and connection errors. ``backoff_s``: first wait between
    attempts (s), doubled each retry up to ``backoff_max_s``, scaled by a random factor in
    [0.5, 1]; a server's Retry-After wins when longer. ``total_budget_s``: limit of one request,
    all attempts and waits included (s). ``structured_output``: ``'auto'``, ``'json_schema'``,
    ``'json_object'`` or ``'none'``. ``temperature`` and ``max_tokens``: ``None`` leaves them
    to the server (some reasoning models reject them).
    """

    model: str
    base_url: str | None = None
    api_key_env: str = 'OPENAI_API_KEY'
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 20.0
    total_budget_s: float = 180.0
    structured_output: str = 'auto'
    temperature: float | None = 0.0
    max_tokens: int | None = 1024

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError('openai backend: model must be a non-empty string')
        for name in ('base_url', 'api_key_env'):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f'openai backend: {name} must be a non-empty string')
        for name in ('timeout_s', 'backoff_max_s', 'total_budget_s'):
            _check_number(name, getattr(self, name), positive=True)
        _check_number('backoff_s', self.backoff_s, positive=False)
        if self.temperature is not None:
            _check_number('temperature', self.temperature, positive=False)
        for name, low in (('max_retries', 0), ('max_tokens', 1)):
            value = getattr(self, name)
            if value is None and name == 'max_tokens':
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f'openai backend: {name} must be an integer >= {low}, '
                                  f'got {value!r}')
        if self.structured_output not in STRUCTURED_OUTPUT_MODES:
            raise ConfigError(f'openai backend: structured_output must be one of '
                              f'{", ".join(STRUCTURED_OUTPUT_MODES)}, '
                              f'got {self.structured_output!r}')

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> OpenAIConfig:
        """Build from a configuration mapping; unknown keys are an error (typos fail loudly)."""
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ConfigError(f'openai backend: unknown option(s) {", ".join(unknown)}; '
                              f'allowed: {", ".join(allowed)}')
        if 'model' not in options:
            raise ConfigError('openai backend: option model is required')
        return cls(**options)


def _check_number(name: str, value: object, *, positive: bool) -> None:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and (value > 0 if positive else value >= 0))
    if not ok:
        bound = '> 0' if positive else '>= 0'
        raise ConfigError(f'openai backend: {name} must be a finite number {bound}, got {value!r}')


class _Retryable(Exception):
    """One failed attempt worth retrying.

    ``kind``: 'rate_limit', 'server', 'timeout' or 'network'; ``retry_after_s``: the server's
    requested wait, if it sent one.
    """

    def __init__(self, kind: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after_s = retry_after_s


class OpenAIClient:
    """``MllmClient`` over an OpenAI-compatible endpoint, with its own bounded retries.

    The openai library's retries are off (``max_retries=0``): they know neither our per-request
    time budget nor the structured-output fallback, and their errors do not name the step. Here
    every request gets at most ``1 + max_retries`` attempts within ``total_budget_s``.
    Thread-safe.
    """

    name = 'openai'

    def __init__(self, config: OpenAIConfig, *, rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.model = config.model
        api_key = os.environ.get(config.api_key_env)
        if not api_key:
            if config.base_url is None or 'api.openai.com' in config.base_url:
                raise ConfigError(f'openai backend: environment variable {config.api_key_env} '
                                  f'is not set (needed for the OpenAI API)')
            api_key = 'EMPTY'    # local servers (vLLM, Ollama, the oracle) ignore the key
        self._client = openai.OpenAI(base_url=config.base_url, api_key=api_key,
                                     timeout=config.timeout_s, max_retries=0)
        self._endpoint = config.base_url or 'the OpenAI API'
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._format = 'json_schema' if config.structured_output == 'auto' else \
            config.structured_output

    @property
    def structured_output(self) -> str:
        """The structured-output kind now in use (after any fallback)."""
        with self._lock:
            return self._format

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def complete(self, request: MllmRequest) -> MllmResponse:
        """Ask the endpoint; retry transient failures; raise ``MllmError`` naming the step."""
        step = request.step
        start = time.monotonic()
        deadline = start + self.config.total_budget_s
        messages = _messages(request)
        headers = {STEP_HEADER: step}
        if request.scene is not None:
            headers[SCENE_HEADER] = request.scene
        retries = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MllmTimeoutError(f'{step}: no answer from {self._endpoint} within the '
                                       f'budget of {self.config.total_budget_s:g} s', step=step)
            kind = self.structured_output
            try:
                completion = self._attempt(request, messages, headers, kind,
                                           min(self.config.timeout_s, remaining))
            except _Retryable as failure:
                elapsed = time.monotonic() - start
                if retries >= self.config.max_retries:
                    raise _give_up(step, failure, f'after {retries + 1} attempt(s) in '
                                   f'{elapsed:.1f} s') from None
                delay = self._backoff_s(retries, failure.retry_after_s)
                if time.monotonic() + delay >= deadline:
                    raise _give_up(step, failure, f'after {retries + 1} attempt(s) in '
                                   f'{elapsed:.1f} s (budget {self.config.total_budget_s:g} s '
                                   'left no time to retry)') from None
                _log.info('%s: %s; retrying in %.2f s', step, failure.detail, delay)
                self._sleep(delay)
                retries += 1
                continue
            except _FormatRefused:
                continue          # stepped down to a simpler structured-output kind; ask again
            return _response(completion, step, self.model, self.config.max_tokens,
                             time.monotonic() - start)

    def _attempt(self, request: MllmRequest, messages: list[dict[str, Any]],
                 headers: dict[str, str], kind: str, timeout_s: float) -> ChatCompletion:
        """One HTTP call. Raises ``_Retryable``, ``_FormatRefused`` or ``MllmError``."""
        step = request.step
        extra: dict[str, Any] = {}
        # A request without a schema gets a response format only when one is asked for by name.
        wanted = request.response_schema is not None or \
            self.config.structured_output == 'json_object'
        response_format = _response_format(kind, request) if wanted else None
        if response_format is not None:
            extra['response_format'] = response_format
        if self.config.temperature is not None:
            extra['temperature'] = self.config.temperature
        if self.config.max_tokens is not None:
            extra['max_tokens'] = self.config.max_tokens
        try:
            return self._client.chat.completions.create(
                model=self.model, messages=messages, extra_headers=headers, timeout=timeout_s,
                **extra)
        except openai.APITimeoutError:
            raise _Retryable('timeout', f'no answer within {timeout_s:.2f} s') from None
        except openai.APIConnectionError as error:
            raise _Retryable('network', f'cannot reach {self._endpoint}: {error}') from None
        except openai.APIStatusError as error:
            status = error.status_code
            detail = _status_detail(error)
            if status == 429:
                raise _Retryable('rate_limit', f'HTTP 429 rate limited: {detail}',
                                 _retry_after_s(error)) from None
            if status >= 500:
                raise _Retryable('server', f'HTTP {status}: {detail}',
                                 _retry_after_s(error)) from None
            if status in (400, 422) and response_format is not None and \
                    self._step_down(kind, detail):
                raise _FormatRefused() from None
            raise MllmError(f'{step}: HTTP {status} from {self._endpoint}: {detail}',
                            step=step) from None
        except openai.OpenAIError as error:
            raise MllmError(f'{step}: request to {self._endpoint} failed: {error}',
                            step=step) from None
        except ValueError as error:      # the library parses a JSON-typed body that is not JSON
            raise MllmError(f'{step}: the reply body from {self._endpoint} is not valid JSON: '
                            f'{error}', step=step) from None

    def _step_down(self, kind: str, detail: str) -> bool:
        """Fall back from ``kind`` when in auto mode and ``detail`` blames the response format."""
        if self.config.structured_output != 'auto' or \
                not any(word in detail.lower() for word in _FORMAT_WORDS):
            return False
        with self._lock:
            if self._format == kind:
                self._format = _FALLBACK[kind]
                _log.warning('%s refused response_format %s (%s); using %s from now on',
                             self._endpoint, kind, one_line(detail, 200), self._format)
        return True

    def _backoff_s(self, retries: int, retry_after_s: float | None) -> float:
        base = min(self.config.backoff_max_s, self.config.backoff_s * 2.0 ** retries)
        delay = base * self._rng.uniform(0.5, 1.0)
        return max(delay, retry_after_s or 0.0)


class _FormatRefused(Exception):
    """The server refused the response format; the client stepped down, ask again."""


def _messages(request: MllmRequest) -> list[dict[str, Any]]:
    if request.images:
        content: Any = [{'type': 'text', 'text': request.user_text}] + [
            {'type': 'image_url', 'image_url': {
                'url': 'data:image/png;base64,' + base64.b64encode(image.png).decode('ascii')}}
            for image in request.images]
    else:
        content = request.user_text    # plain string: text-only servers accept it everywhere
    return [{'role': 'system', 'content': request.system},
            {'role': 'user', 'content': content}]


def _response_format(kind: str, request: MllmRequest) -> dict[str, Any] | None:
    if kind == 'json_schema':
        if request.response_schema is None:
            return None
        # OpenAI limits schema names to [A-Za-z0-9_-]{1,64}.
        name = re.sub(r'[^A-Za-z0-9_-]', '_', request.step)[:64] or 'reply'
        return {'type': 'json_schema', 'json_schema': {
            'name': name, 'schema': dict(request.response_schema), 'strict': False}}
    if kind == 'json_object':
        return {'type': 'json_object'}
    return None


def _status_detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping) and isinstance(body.get('message'), str):
        return one_line(body['message'], 300)
    return one_line(error.message, 300)


def _retry_after_s(error: openai.APIStatusError) -> float | None:
    """The server's requested wait (s) from ``retry-after-ms`` or ``retry-after`` (seconds)."""
    headers = error.response.headers
    for name, scale in (('retry-after-ms', 1e-3), ('retry-after', 1.0)):
        try:
            value = float(headers.get(name, ''))
        except ValueError:
            continue          # absent, or an HTTP date: fall back to our own backoff
        if math.isfinite(value) and value >= 0:
            return value * scale
    return None


def _give_up(step: str, failure: _Retryable, when: str) -> MllmError:
    message = f'{step}: gave up {when}: {failure.detail}'
    if failure.kind == 'rate_limit':
        return MllmRateLimitError(message, step=step)
    if failure.kind == 'timeout':
        return MllmTimeoutError(message, step=step)
    return MllmError(message, step=step)


def _response(completion: object, step: str, model: str, max_tokens: int | None,
              latency_s: float) -> MllmResponse:
    if not isinstance(completion, ChatCompletion):
        raise MllmError(f'{step}: the server sent no chat completion object', step=step)
    choices = getattr(completion, 'choices', None) or []
    if not choices:
        raise MllmError(f'{step}: the reply has no choices', step=step)
    choice = choices[0]
    message = getattr(choice, 'message', None)
    refusal = getattr(message, 'refusal', None)
    if refusal:
        raise MllmError(f'{step}: the model refused: {refusal}', step=step)
    text = getattr(message, 'content', None)
    if not isinstance(text, str) or not text:
        raise MllmError(f'{step}: the reply has no text (finish_reason '
                        f'{getattr(choice, "finish_reason", None)})', step=step)
    if getattr(choice, 'finish_reason', None) == 'length':
        raise MllmError(f'{step}: the reply was cut off at max_tokens={max_tokens}; raise '
                        'max_tokens', step=step)
    usage = getattr(completion, 'usage', None)
    return MllmResponse(
        text=text, backend='openai', model=getattr(completion, 'model', None) or model,
        latency_s=latency_s,
        prompt_tokens=getattr(usage, 'prompt_tokens', None),
        completion_tokens=getattr(usage, 'completion_tokens', None),
        cached=False,
        from_oracle=getattr(completion, 'system_fingerprint', None) == ORACLE_FINGERPRINT)
