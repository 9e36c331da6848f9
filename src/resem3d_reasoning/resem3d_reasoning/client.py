"""The one interface every model call goes through: requests, responses, clients.

A request is pure data: a step name, a system prompt, the user text (which ends with a
machine-readable ``INPUT (JSON):`` block holding the instruction and every fact as data),
PNG images and the JSON Schema of the expected reply. Backends (``backends/``) answer it;
``RecordingClient`` wraps any backend with an in-run cache and a transcript.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import InputBlockError

if TYPE_CHECKING:
    from .transcript import Transcript

INPUT_MARKER = 'INPUT (JSON):'
"""The line that opens the machine-readable block at the end of every request's user text."""

SCENE_HEADER = 'X-Resem3d-Scene'
"""HTTP header that carries ``MllmRequest.scene`` to an oracle server (sent only when set)."""

STEP_HEADER = 'X-Resem3d-Step'
"""HTTP header that carries ``MllmRequest.step`` (for the oracle server's log and dispatch)."""

ORACLE_FINGERPRINT = 'resem3d-oracle'
"""``system_fingerprint`` (and ``model``) of every reply of the oracle server."""

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
KEY_VERSION = 1
"""Bumped whenever the key's recipe changes, so old transcripts miss instead of mismatching."""


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, UTF-8 text, NaN/inf refused."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False,
                      allow_nan=False)


def input_block(data: Mapping[str, Any]) -> str:
    """The machine-readable tail of a user text: the ``INPUT (JSON):`` line, then ``data``.

    ``data`` is written as indented JSON with sorted keys, so equal inputs give equal texts
    (and equal request keys).
    """
    if not isinstance(data, Mapping):
        raise TypeError(f'the INPUT block holds one JSON object, got {type(data).__name__}')
    return INPUT_MARKER + '\n' + json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False,
                                            allow_nan=False)


def parse_input_block(user_text: str) -> dict[str, Any]:
    """The JSON object after the last line that reads exactly ``INPUT (JSON):``.

    Raises ``InputBlockError`` when there is no such line or what follows it is not one JSON
    object.
    """
    lines = user_text.split('\n')
    starts = [i for i, line in enumerate(lines) if line.strip() == INPUT_MARKER]
    if not starts:
        raise InputBlockError(f'the user text has no line {INPUT_MARKER!r} followed by a JSON '
                              'object')
    body = '\n'.join(lines[starts[-1] + 1:])
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise InputBlockError(f'the {INPUT_MARKER!r} block is not valid JSON: {error}') from None
    if not isinstance(data, dict):
        raise InputBlockError(f'the {INPUT_MARKER!r} block must be one JSON object, got '
                              f'{type(data).__name__}')
    return data


@dataclass(frozen=True)
class ImageInput:
    """One image sent with a request.

    ``name`` says what it shows (e.g. ``'rgb'``, ``'marks'``, ``'grid'``); it is recorded and
    keyed but not sent to the model. ``png`` is the PNG file's bytes.
    """

    name: str
    png: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError('ImageInput.name must be a non-empty string')
        if not isinstance(self.png, (bytes, bytearray)) or not self.png.startswith(PNG_SIGNATURE):
            raise ValueError(f'ImageInput {self.name!r}: png must be the bytes of a PNG file')
        object.__setattr__(self, 'png', bytes(self.png))

    @property
    def sha256(self) -> str:
        """SHA-256 of the PNG bytes, hex."""
        return hashlib.sha256(self.png).hexdigest()


@dataclass(frozen=True)
class MllmRequest:
    """One question to the model. Pure data; treat ``response_schema`` as read-only.

    ``step`` names the reasoning step (``'plan'``, ``'extract'``, ``'refine_flow'``,
    ``'refine_grid'``, ``'program'``, ``'conditions'``...; free text used in keys and errors).
    ``user_text`` ends with an ``INPUT (JSON):`` block (see ``input_block``).
    ``response_schema`` is the JSON Schema (draft 2020-12) of the reply object, or ``None``.
    ``scene`` names the simulated scene (e.g. ``'lab_pour_beaker@3'``) so that an oracle server
    can answer from its ground truth; ``None`` on a real robot. It is not part of the key.
    """

    step: str
    system: str
    user_text: str
    images: tuple[ImageInput, ...] = ()
    response_schema: Mapping[str, Any] | None = None
    scene: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.step, str) or not self.step:
            raise ValueError('MllmRequest.step must be a non-empty string')
        for name in ('system', 'user_text'):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f'MllmRequest.{name} must be a string')
        images = tuple(self.images)
        for image in images:
            if not isinstance(image, ImageInput):
                raise TypeError(f'MllmRequest.images must hold ImageInput, got '
                                f'{type(image).__name__}')
        object.__setattr__(self, 'images', images)
        if self.response_schema is not None:
            if not isinstance(self.response_schema, Mapping):
                raise TypeError('MllmRequest.response_schema must be a mapping or None')
            try:
                canonical_json(self.response_schema)
            except (TypeError, ValueError) as error:
                raise ValueError(f'MllmRequest.response_schema is not JSON: {error}') from None
        if self.scene is not None and not isinstance(self.scene, str):
            raise TypeError('MllmRequest.scene must be a string or None')

    def key(self, model: str) -> str:
        """SHA-256 (hex) over the model name, step, system, user text, images and schema.

        Images count by name and SHA-256 of their bytes, the schema as canonical JSON. The scene
        is left out: on a real robot there is none, and in simulation the images and facts
        already differ between scenes.
        """
        document = {
            'v': KEY_VERSION,
            'model': model,
            'step': self.step,
            'system': self.system,
            'user_text': self.user_text,
            'images': [[image.name, image.sha256] for image in self.images],
            'response_schema': self.response_schema,
        }
        return hashlib.sha256(canonical_json(document).encode('utf-8')).hexdigest()


@dataclass(frozen=True)
class MllmResponse:
    """A model's answer.

    ``text`` is the reply as the model wrote it (validation is the caller's job). ``backend``
    names the backend that answered (``'openai'``, ``'replay'``, ``'oracle'``), ``model`` the
    model that answered as the backend reports it. ``latency_s`` is the wall-clock time of the
    call in seconds, retries included. Token counts are ``None`` when the backend gives none.
    ``cached`` marks an answer served from ``RecordingClient``'s in-run cache; ``from_oracle``
    marks an answer that came from the simulator oracle, directly or through the oracle server.
    """

    text: str
    backend: str
    model: str
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    from_oracle: bool = False


@runtime_checkable
class MllmClient(Protocol):
    """What every backend offers. ``model`` is the model name that enters request keys."""

    name: str
    model: str

    def complete(self, request: MllmRequest) -> MllmResponse:
        """Answer ``request`` or raise ``MllmError`` (naming ``request.step``)."""
        ...


@dataclass
class RecordingClient:
    """Wraps a client: serves repeated requests from an in-run cache and records every exchange.

    Identical requests (same ``key(inner.model)``) after the first successful one are answered
    from memory with ``cached=True`` when ``cache`` is on. Every exchange, cached or not, failed
    or not, is appended to ``transcript`` when one is given. Thread-safe.
    """

    inner: MllmClient
    transcript: Transcript | None = None
    cache: bool = True
    _answers: dict[str, MllmResponse] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def name(self) -> str:
        """The wrapped backend's name."""
        return self.inner.name

    @property
    def model(self) -> str:
        """The wrapped backend's model name."""
        return self.inner.model

    def complete(self, request: MllmRequest) -> MllmResponse:
        """Answer from the cache or the wrapped client; record the exchange either way."""
        key = request.key(self.inner.model)
        start = time.monotonic()
        with self._lock:
            hit = self._answers.get(key) if self.cache else None
        if hit is not None:
            response = replace(hit, cached=True, latency_s=time.monotonic() - start)
            self._record(request, key, response, None)
            return response
        try:
            response = self.inner.complete(request)
        except Exception as error:
            self._record(request, key, None, error, latency_s=time.monotonic() - start)
            raise
        if self.cache:
            with self._lock:
                self._answers.setdefault(key, response)
        self._record(request, key, response, None)
        return response

    def _record(self, request: MllmRequest, key: str, response: MllmResponse | None,
                error: BaseException | None, latency_s: float | None = None) -> None:
        if self.transcript is None:
            return
        self.transcript.record(
            request, key=key, backend=response.backend if response else self.inner.name,
            model=self.inner.model, response=response,
            latency_s=response.latency_s if response else (latency_s or 0.0),
            error=f'{type(error).__name__}: {error}' if error is not None else None)
