"""Transcripts: every model exchange of a run, on disk, for replay, tests and review.

A transcript is a directory::

    transcript.jsonl        one JSON object per exchange (one line each, appended in order)
    images/<sha256>.png     every distinct image sent, written once

A line holds ``index``, ``time`` (ISO 8601, UTC), ``step``, ``key`` (the request key),
``backend``, ``model`` (the client's model name, the one in the key), ``request`` (``system``,
``user_text``, ``images`` as ``[{name, file, sha256}]``, ``response_schema``, ``scene``),
``response`` (``text``, ``model`` as the backend reported it, ``prompt_tokens``,
``completion_tokens``, ``cached``, ``from_oracle``; ``null`` when the call failed),
``latency_s`` (seconds) and ``error`` (``null``, or one line when the call failed).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from .client import ImageInput, MllmRequest, MllmResponse
from .errors import TranscriptError

TRANSCRIPT_FILE = 'transcript.jsonl'
IMAGES_DIR = 'images'


@dataclass(frozen=True)
class ImageRef:
    """A recorded image: its request name, its file (relative to the transcript) and SHA-256."""

    name: str
    file: str
    sha256: str


@dataclass(frozen=True)
class RecordedRequest:
    """The request part of a recorded exchange (images by reference)."""

    system: str
    user_text: str
    images: tuple[ImageRef, ...]
    response_schema: Mapping[str, Any] | None
    scene: str | None

    def to_request(self, step: str, directory: str | os.PathLike[str]) -> MllmRequest:
        """Rebuild the ``MllmRequest``, reading the images from the transcript ``directory``."""
        images = []
        for ref in self.images:
            path = Path(directory) / ref.file
            try:
                images.append(ImageInput(ref.name, path.read_bytes()))
            except OSError as error:
                raise TranscriptError(f'{path}: cannot read recorded image: {error}') from None
        return MllmRequest(step=step, system=self.system, user_text=self.user_text,
                           images=tuple(images), response_schema=self.response_schema,
                           scene=self.scene)


@dataclass(frozen=True)
class RecordedResponse:
    """The response part of a recorded exchange."""

    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cached: bool
    from_oracle: bool


@dataclass(frozen=True)
class Exchange:
    """One recorded exchange (one line of ``transcript.jsonl``)."""

    index: int
    time: str
    step: str
    key: str
    backend: str
    model: str
    request: RecordedRequest
    response: RecordedResponse | None
    latency_s: float
    error: str | None

    def to_request(self, directory: str | os.PathLike[str]) -> MllmRequest:
        """The recorded request, rebuilt (images read from ``directory``)."""
        return self.request.to_request(self.step, directory)


class Transcript:
    """An open transcript directory that exchanges are appended to. Thread-safe.

    Create with ``Transcript.open(directory)``; read with ``Transcript.load(directory)``.
    """

    def __init__(self, directory: Path, stream: TextIO, next_index: int) -> None:
        self.directory = directory
        self._stream = stream
        self._next_index = next_index
        self._lock = threading.Lock()
        self._images_written: set[str] = set()

    @property
    def path(self) -> Path:
        """The ``transcript.jsonl`` file."""
        return self.directory / TRANSCRIPT_FILE

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Transcript:
        """Open ``directory`` for appending (created if missing); indices continue from its end."""
        root = Path(directory)
        try:
            (root / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
            path = root / TRANSCRIPT_FILE
            count = 0
            if path.exists():
                with path.open('r', encoding='utf-8') as existing:
                    count = sum(1 for line in existing if line.strip())
            stream = path.open('a', encoding='utf-8')
        except OSError as error:
            raise TranscriptError(f'{root}: cannot open transcript: {error}') from None
        return cls(root, stream, count)

    def close(self) -> None:
        """Close the file; later ``record`` calls fail."""
        with self._lock:
            self._stream.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def record(self, request: MllmRequest, *, key: str, backend: str, model: str,
               response: MllmResponse | None, latency_s: float,
               error: str | None = None) -> Exchange:
        """Append one exchange (images written once each) and return it as recorded."""
        with self._lock:
            refs = tuple(self._write_image(image) for image in request.images)
            exchange = Exchange(
                index=self._next_index,
                time=datetime.now(timezone.utc).isoformat(timespec='milliseconds'),
                step=request.step, key=key, backend=backend, model=model,
                request=RecordedRequest(request.system, request.user_text, refs,
                                        request.response_schema, request.scene),
                response=None if response is None else RecordedResponse(
                    response.text, response.model, response.prompt_tokens,
                    response.completion_tokens, response.cached, response.from_oracle),
                latency_s=float(latency_s), error=error)
            try:
                self._stream.write(json.dumps(_to_json(exchange), ensure_ascii=False) + '\n')
                self._stream.flush()
            except (OSError, ValueError) as failure:
                raise TranscriptError(f'{self.path}: cannot append exchange: {failure}') from None
            self._next_index += 1
            return exchange

    def _write_image(self, image: ImageInput) -> ImageRef:
        digest = image.sha256
        file = f'{IMAGES_DIR}/{digest}.png'
        if digest not in self._images_written:
            path = self.directory / file
            if not path.exists():
                # Write-then-rename so a crash never leaves a truncated image under its hash name.
                partial = path.with_name(f'.{digest}.{os.getpid()}.tmp')
                try:
                    partial.write_bytes(image.png)
                    os.replace(partial, path)
                except OSError as error:
                    raise TranscriptError(f'{path}: cannot write image: {error}') from None
            self._images_written.add(digest)
        return ImageRef(image.name, file, digest)

    @staticmethod
    def load(directory: str | os.PathLike[str]) -> list[Exchange]:
        """Every exchange of the transcript in ``directory``, in file order.

        Raises ``TranscriptError`` naming the file and line number for a malformed line.
        """
        path = Path(directory) / TRANSCRIPT_FILE
        if not path.is_file():
            raise TranscriptError(f'{directory}: not a transcript directory (no {TRANSCRIPT_FILE})')
        exchanges = []
        try:
            with path.open('r', encoding='utf-8') as stream:
                for number, line in enumerate(stream, start=1):
                    if line.strip():
                        exchanges.append(_parse_line(line, f'{path}:{number}'))
        except (OSError, UnicodeDecodeError) as error:
            raise TranscriptError(f'{path}: cannot read: {error}') from None
        return exchanges


def _to_json(exchange: Exchange) -> dict[str, Any]:
    request = exchange.request
    response = exchange.response
    return {
        'index': exchange.index, 'time': exchange.time, 'step': exchange.step,
        'key': exchange.key, 'backend': exchange.backend, 'model': exchange.model,
        'request': {
            'system': request.system, 'user_text': request.user_text,
            'images': [{'name': r.name, 'file': r.file, 'sha256': r.sha256}
                       for r in request.images],
            'response_schema': request.response_schema, 'scene': request.scene,
        },
        'response': None if response is None else {
            'text': response.text, 'model': response.model,
            'prompt_tokens': response.prompt_tokens,
            'completion_tokens': response.completion_tokens,
            'cached': response.cached, 'from_oracle': response.from_oracle,
        },
        'latency_s': exchange.latency_s, 'error': exchange.error,
    }


def _get(obj: Mapping[str, Any], name: str, kinds: tuple[type, ...], where: str,
         optional: bool = False) -> Any:
    """``obj[name]`` checked against ``kinds`` (``None`` allowed when ``optional``)."""
    if name not in obj:
        raise TranscriptError(f'{where}: missing field {name!r}')
    value = obj[name]
    if value is None and optional:
        return None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = ' or '.join(k.__name__ for k in kinds)
        raise TranscriptError(f'{where}: field {name!r} must be {expected}, '
                              f'got {type(value).__name__}')
    return value


def _parse_line(line: str, where: str) -> Exchange:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        raise TranscriptError(f'{where}: not valid JSON: {error}') from None
    if not isinstance(obj, dict):
        raise TranscriptError(f'{where}: an exchange must be a JSON object')
    req = _get(obj, 'request', (dict,), where)
    images = []
    for image in _get(req, 'images', (list,), where):
        if not isinstance(image, dict):
            raise TranscriptError(f'{where}: every request image must be an object')
        images.append(ImageRef(_get(image, 'name', (str,), where),
                               _get(image, 'file', (str,), where),
                               _get(image, 'sha256', (str,), where)))
    request = RecordedRequest(
        system=_get(req, 'system', (str,), where),
        user_text=_get(req, 'user_text', (str,), where),
        images=tuple(images),
        response_schema=_get(req, 'response_schema', (dict,), where, optional=True),
        scene=_get(req, 'scene', (str,), where, optional=True))
    res = _get(obj, 'response', (dict,), where, optional=True)
    response = None if res is None else RecordedResponse(
        text=_get(res, 'text', (str,), where),
        model=res.get('model') if isinstance(res.get('model'), str) else '',
        prompt_tokens=_get(res, 'prompt_tokens', (int,), where, optional=True),
        completion_tokens=_get(res, 'completion_tokens', (int,), where, optional=True),
        cached=_get(res, 'cached', (bool,), where),
        from_oracle=_get(res, 'from_oracle', (bool,), where))
    return Exchange(
        index=_get(obj, 'index', (int,), where),
        time=_get(obj, 'time', (str,), where),
        step=_get(obj, 'step', (str,), where),
        key=_get(obj, 'key', (str,), where),
        backend=_get(obj, 'backend', (str,), where),
        model=_get(obj, 'model', (str,), where),
        request=request, response=response,
        latency_s=float(_get(obj, 'latency_s', (int, float), where)),
        error=_get(obj, 'error', (str,), where, optional=True))
