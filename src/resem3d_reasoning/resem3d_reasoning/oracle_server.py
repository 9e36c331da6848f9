"""An OpenAI-compatible HTTP server that answers from the simulator oracle (or any answerer).

    python -m resem3d_reasoning.oracle_server [--port P] [--host 127.0.0.1]
        [--answerer module:function] [--fault SPEC ...] [--delay-s S] [--retry-after-s S]
        [--refuse-format TYPE ...]

Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` so that the real ``openai``
backend, with all its request building, retries and fallbacks, can run against simulated
scenes. Requests are parsed (system and last user message, PNG images as data URLs,
``response_format``, the ``INPUT (JSON):`` block of the user text, the ``X-Resem3d-Scene`` and
``X-Resem3d-Step`` headers) into an ``AnswerRequest`` for the answerer, by default
``resem3d_reasoning.oracle:answer`` loaded on first use. Every reply is labelled as oracle
output: ``model`` and ``system_fingerprint`` are ``'resem3d-oracle'``.

``--port 0`` picks a free port. The first line on stdout is ``listening on <url>``. One line per
request goes to stderr. Faults for tests (``--fault KIND[:COUNT]``, consumed in order by the
next chat requests): ``429`` (with Retry-After), ``500``, ``slow`` (answer after ``--delay-s``),
``malformed`` (200 whose content is not JSON), ``empty`` (200 with no choices).
``--refuse-format json_schema`` answers 400 to that ``response_format`` type, like servers
without structured output. Bad arguments end with one line ``error: <reason>`` and exit 2.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import importlib
import json
import math
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn, TextIO

from .client import (ORACLE_FINGERPRINT, PNG_SIGNATURE, SCENE_HEADER, STEP_HEADER,
                     parse_input_block)
from .errors import ConfigError, InputBlockError, OracleError, one_line

DEFAULT_ANSWERER = 'resem3d_reasoning.oracle:answer'
FAULT_KINDS = ('429', '500', 'slow', 'malformed', 'empty')
MALFORMED_TEXT = 'The answer is: {not json'
MAX_BODY_BYTES = 64 * 1024 * 1024
_DATA_URL_PREFIX = 'data:image/png;base64,'


@dataclass(frozen=True)
class AnswerRequest:
    """What an answerer sees of one chat request.

    ``input`` is the JSON object after the user text's last ``INPUT (JSON):`` line. ``images``
    are the PNG files' bytes in message order. ``response_format`` is the request's, if any.
    ``scene`` and ``step`` come from the ``X-Resem3d-Scene`` / ``X-Resem3d-Step`` headers
    (``step`` falls back to the json_schema name). ``model`` is the model name asked for.
    """

    system: str
    user_text: str
    input: Mapping[str, Any]
    images: tuple[bytes, ...]
    response_format: Mapping[str, Any] | None
    scene: str | None
    step: str | None
    model: str


Answerer = Callable[[AnswerRequest], str]
"""Returns the reply text (for resem3d's steps: one JSON object as text)."""


@dataclass(frozen=True)
class RequestLog:
    """One handled request, as kept in ``OracleServer.requests`` (the last 256)."""

    method: str
    path: str
    status: int
    step: str | None
    scene: str | None
    response_format: str | None
    seconds: float


class _HTTPFailure(Exception):
    """Ends a request with an OpenAI-style error body."""

    def __init__(self, status: int, message: str, kind: str = 'invalid_request_error',
                 headers: Mapping[str, str] | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = one_line(message, 1000)
        self.kind = kind
        self.headers = dict(headers or {})
        self.param = param


def parse_fault(spec: str) -> tuple[str, int]:
    """``'KIND[:COUNT]'`` as ``(kind, count)``; raises ``ConfigError`` when malformed."""
    kind, _, count_text = spec.partition(':')
    if kind not in FAULT_KINDS:
        raise ConfigError(f'fault {spec!r}: kind must be one of {", ".join(FAULT_KINDS)}')
    try:
        count = int(count_text) if count_text else 1
    except ValueError:
        raise ConfigError(f'fault {spec!r}: count must be an integer') from None
    if count < 1:
        raise ConfigError(f'fault {spec!r}: count must be >= 1')
    return kind, count


def load_answerer(spec: str) -> Answerer:
    """Import ``'package.module:function'`` and return the function (``ConfigError`` if not)."""
    module_name, _, attribute = spec.partition(':')
    if not module_name or not attribute:
        raise ConfigError(f'answerer {spec!r} must be written module:function')
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f'answerer {spec!r}: cannot import {module_name}: {error}') from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f'answerer {spec!r}: {module_name} has no function {attribute}')
    return function


class OracleServer:
    """The server, run in a background thread (``start``/``stop``) or in the foreground.

    ``answerer``: answers chat requests; a ``'module:function'`` string is imported on the first
    request (HTTP 501 while it cannot be; default ``resem3d_reasoning.oracle:answer``).
    ``host``/``port``: where to listen
    (port 0: a free one). ``delay_s``: how long a ``slow`` fault waits before answering (s).
    ``retry_after_s``: the Retry-After a ``429`` fault sends (s). ``refuse_formats``:
    ``response_format`` types answered with HTTP 400. ``log``: where the per-request lines go
    (``None``: nowhere).
    """

    def __init__(self, answerer: Answerer | str = DEFAULT_ANSWERER, host: str = '127.0.0.1',
                 port: int = 0,
                 *, delay_s: float = 30.0, retry_after_s: float = 1.0,
                 refuse_formats: Iterable[str] = (), log: TextIO | None = sys.stderr) -> None:
        for name, value in (('delay_s', delay_s), ('retry_after_s', retry_after_s)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f'{name} must be a finite number >= 0, got {value!r}')
        self.host = host
        self.delay_s = float(delay_s)
        self.retry_after_s = float(retry_after_s)
        self.refuse_formats = frozenset(refuse_formats)
        self._answerer: Answerer | None = None if isinstance(answerer, str) else answerer
        self._answerer_spec = answerer if isinstance(answerer, str) else None
        self._requested_port = port
        self._log = log
        self._lock = threading.Lock()
        self._faults: deque[list[Any]] = deque()
        self._requests: deque[RequestLog] = deque(maxlen=256)
        self._chat_count = 0
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._serving = False

    # --- life cycle -------------------------------------------------------------------------

    def bind(self) -> None:
        """Open the listening socket (``OSError`` when the address is taken)."""
        if self._httpd is None:
            httpd = _HTTPServer((self.host, self._requested_port), _Handler)
            httpd.oracle = self
            self._httpd = httpd

    def start(self) -> OracleServer:
        """Bind and serve in a daemon thread; returns ``self``."""
        self.bind()
        assert self._httpd is not None
        self._serving = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            'poll_interval': 0.05}, name='oracle-server', daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until ``stop`` (or KeyboardInterrupt)."""
        self.bind()
        assert self._httpd is not None
        self._serving = True
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False

    def stop(self) -> None:
        """Stop serving (from any thread but the serving one), end slow faults, close the socket."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        if self._serving:
            httpd.shutdown()          # returns once serve_forever's loop has ended
            self._serving = False
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        httpd.server_close()

    def __enter__(self) -> OracleServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError('the oracle server is not bound; call start() first')
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The OpenAI base URL, ``http://<host>:<port>/v1``."""
        return f'http://{self.host}:{self.port}/v1'

    # --- faults and introspection -----------------------------------------------------------

    def inject(self, kind: str, count: int = 1) -> None:
        """Queue ``count`` faults of ``kind`` (see ``FAULT_KINDS``) for the next chat requests."""
        kind, count = parse_fault(f'{kind}:{count}')
        with self._lock:
            self._faults.append([kind, count])

    @property
    def chat_count(self) -> int:
        """How many chat-completion requests arrived (faulted and refused ones included)."""
        with self._lock:
            return self._chat_count

    @property
    def requests(self) -> list[RequestLog]:
        """The last 256 handled requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def _next_fault(self) -> str | None:
        with self._lock:
            self._chat_count += 1
            if not self._faults:
                return None
            head = self._faults[0]
            head[1] -= 1
            if head[1] <= 0:
                self._faults.popleft()
            return str(head[0])

    def _note(self, entry: RequestLog, client: str) -> None:
        with self._lock:
            self._requests.append(entry)
        if self._log is not None:
            extras = ''.join(f' {name}={value}' for name, value in (
                ('step', entry.step), ('scene', entry.scene),
                ('format', entry.response_format)) if value is not None)
            try:
                self._log.write(f'oracle: {client} {entry.method} {entry.path} {entry.status}'
                                f'{extras} {entry.seconds:.3f} s\n')
                self._log.flush()
            except (OSError, ValueError):
                pass          # a closed log must not take the server down

    def _resolve_answerer(self) -> Answerer:
        if self._answerer is not None:
            return self._answerer
        try:
            answerer = load_answerer(self._answerer_spec or DEFAULT_ANSWERER)
        except ConfigError as error:
            raise _HTTPFailure(501, f'no oracle answerer available ({error}); start the server '
                               'with --answerer module:function', 'not_implemented') from None
        with self._lock:
            self._answerer = answerer
        return answerer

    # --- one chat request -------------------------------------------------------------------

    def _chat(self, body: bytes, headers: Mapping[str, str],
              info: dict[str, Any]) -> dict[str, Any]:
        """Answer one chat-completion request body; raises ``_HTTPFailure``."""
        info['step'] = headers.get(STEP_HEADER)
        info['scene'] = headers.get(SCENE_HEADER)
        fault = self._next_fault()
        if fault == '429':
            raise _HTTPFailure(429, 'rate limited (injected fault)', 'rate_limit_exceeded', {
                'Retry-After': str(math.ceil(self.retry_after_s)),
                'retry-after-ms': str(int(round(self.retry_after_s * 1000)))})
        if fault == '500':
            raise _HTTPFailure(500, 'internal error (injected fault)', 'server_error')
        if fault == 'slow':
            self._stopping.wait(self.delay_s)
        payload = _json_object(body)
        if payload.get('stream'):
            raise _HTTPFailure(400, 'stream=true is not supported by the oracle server')
        model = payload.get('model')
        if not isinstance(model, str) or not model:
            raise _HTTPFailure(400, 'model must be a non-empty string')
        response_format = payload.get('response_format')
        if response_format is not None and (not isinstance(response_format, dict) or
                                            not isinstance(response_format.get('type'), str)):
            raise _HTTPFailure(400, 'response_format must be an object with a type')
        format_type = response_format['type'] if response_format else None
        info['format'] = format_type
        if format_type in self.refuse_formats:
            raise _HTTPFailure(400, f'response_format type {format_type!r} is not supported by '
                               'this server', param='response_format')
        if info['step'] is None and format_type == 'json_schema':
            schema_name = (response_format.get('json_schema') or {}).get('name')
            info['step'] = schema_name if isinstance(schema_name, str) else None
        system, user_text, images = _parse_messages(payload.get('messages'))
        try:
            data = parse_input_block(user_text)
        except InputBlockError as error:
            raise _HTTPFailure(400, str(error)) from None
        if fault == 'malformed':
            text = MALFORMED_TEXT
        elif fault == 'empty':
            return _completion(None, system, user_text, len(images))
        else:
            request = AnswerRequest(system=system, user_text=user_text, input=data,
                                    images=images, response_format=response_format,
                                    scene=info['scene'], step=info['step'], model=model)
            text = self._answer(request)
        return _completion(text, system, user_text, len(images))

    def _answer(self, request: AnswerRequest) -> str:
        answerer = self._resolve_answerer()
        try:
            text = answerer(request)
        except OracleError as error:
            raise _HTTPFailure(422, f'oracle cannot answer: {error}') from None
        except Exception as error:     # an answerer bug: report it, keep serving
            raise _HTTPFailure(500, f'oracle answerer failed: {type(error).__name__}: {error}',
                               'server_error') from None
        if not isinstance(text, str):
            raise _HTTPFailure(500, f'oracle answerer returned {type(text).__name__}, not text',
                               'server_error')
        return text


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _HTTPFailure(400, f'the request body is not valid JSON: {error}') from None
    if not isinstance(payload, dict):
        raise _HTTPFailure(400, 'the request body must be a JSON object')
    return payload


def _parse_messages(messages: object) -> tuple[str, str, tuple[bytes, ...]]:
    """(system text, last user message's text, its PNG images) of a chat ``messages`` list."""
    if not isinstance(messages, list) or not messages:
        raise _HTTPFailure(400, 'messages must be a non-empty list')
    system_parts: list[str] = []
    user: tuple[str, tuple[bytes, ...]] | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get('role'), str):
            raise _HTTPFailure(400, f'messages[{index}] must be an object with a role')
        text, images = _parse_content(message.get('content'), index)
        if message['role'] in ('system', 'developer'):
            system_parts.append(text)
        elif message['role'] == 'user':
            user = (text, images)
    if user is None:
        raise _HTTPFailure(400, 'messages hold no user message')
    return '\n\n'.join(system_parts), user[0], user[1]


def _parse_content(content: object, index: int) -> tuple[str, tuple[bytes, ...]]:
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        raise _HTTPFailure(400, f'messages[{index}].content must be a string or a list of parts')
    texts: list[str] = []
    images: list[bytes] = []
    for part in content:
        kind = part.get('type') if isinstance(part, dict) else None
        if kind == 'text' and isinstance(part.get('text'), str):
            texts.append(part['text'])
        elif kind == 'image_url':
            image_url = part.get('image_url')
            url = image_url.get('url') if isinstance(image_url, dict) else image_url
            images.append(_decode_png(url, index))
        else:
            raise _HTTPFailure(400, f'messages[{index}]: unsupported content part {kind!r}')
    return '\n'.join(texts), tuple(images)


def _decode_png(url: object, index: int) -> bytes:
    if not isinstance(url, str) or not url.startswith(_DATA_URL_PREFIX):
        raise _HTTPFailure(400, f'messages[{index}]: images must be {_DATA_URL_PREFIX}... URLs')
    try:
        png = base64.b64decode(url[len(_DATA_URL_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise _HTTPFailure(400, f'messages[{index}]: an image is not valid base64') from None
    if not png.startswith(PNG_SIGNATURE):
        raise _HTTPFailure(400, f'messages[{index}]: an image is not a PNG file')
    return png


_ids = iter(range(1, sys.maxsize))
_ids_lock = threading.Lock()


def _completion(text: str | None, system: str, user_text: str, n_images: int) -> dict[str, Any]:
    """A ``chat.completion`` object; ``text=None`` gives one with no choices.

    Token counts are estimates (4 characters a token, 85 tokens an image), not a tokenizer's.
    """
    with _ids_lock:
        number = next(_ids)
    prompt_tokens = (len(system) + len(user_text)) // 4 + 85 * n_images
    completion_tokens = len(text) // 4 if text is not None else 0
    choices = [] if text is None else [{
        'index': 0, 'finish_reason': 'stop', 'logprobs': None,
        'message': {'role': 'assistant', 'content': text, 'refusal': None}}]
    return {
        'id': f'chatcmpl-oracle-{number}', 'object': 'chat.completion',
        'created': int(time.time()), 'model': ORACLE_FINGERPRINT,
        'system_fingerprint': ORACLE_FINGERPRINT, 'choices': choices,
        'usage': {'prompt_tokens': prompt_tokens, 'completion_tokens': completion_tokens,
                  'total_tokens': prompt_tokens + completion_tokens},
    }


class _HTTPServer(ThreadingHTTPServer):
    oracle: OracleServer
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The stdlib prints a traceback here; one line is enough for a dropped connection.
        error = sys.exc_info()[1]
        if self.oracle._log is not None and not isinstance(error, ConnectionError):
            self.oracle._log.write(f'oracle: {client_address[0]} connection error: '
                                   f'{type(error).__name__}: {one_line(error, 200)}\n')


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = 'HTTP/1.1'      # keep-alive: the openai client reuses connections
    timeout = 60.0                     # idle keep-alive connections are dropped after this (s)

    def log_message(self, format: str, *args: Any) -> None:
        # Requests are logged by OracleServer._note; this is only reached for protocol errors.
        log = self.server.oracle._log
        if log is not None:
            log.write(f'oracle: {self.client_address[0]} {one_line(format % args, 300)}\n')

    def do_GET(self) -> None:
        start = time.monotonic()
        path = self.path.split('?', 1)[0].rstrip('/')
        if path in ('/v1/models', '/models'):
            status, body = 200, {'object': 'list', 'data': [{
                'id': ORACLE_FINGERPRINT, 'object': 'model', 'created': 0,
                'owned_by': 'resem3d'}]}
        else:
            status, body = 404, _error_body(f'no route GET {path}', 'not_found')
        self._done('GET', path, status, {}, start)
        self._send(status, body)

    def do_POST(self) -> None:
        start = time.monotonic()
        path = self.path.split('?', 1)[0].rstrip('/')
        info: dict[str, Any] = {}
        try:
            body = self._read_body()
            if path not in ('/v1/chat/completions', '/chat/completions'):
                raise _HTTPFailure(404, f'no route POST {path}', 'not_found')
            status, reply = 200, self.server.oracle._chat(body, self.headers, info)
            headers: dict[str, str] = {}
        except _HTTPFailure as failure:
            status, reply, headers = failure.status, _error_body(failure.message, failure.kind,
                                                                 failure.param), failure.headers
        self._done('POST', path, status, info, start)    # before replying: tests read the log
        self._send(status, reply, headers)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get('Content-Length', ''))
        except ValueError:
            self.close_connection = True
            raise _HTTPFailure(411, 'a Content-Length header is required') from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise _HTTPFailure(413, f'the body must be at most {MAX_BODY_BYTES} bytes')
        return self.rfile.read(length)

    def _send(self, status: int, body: Mapping[str, Any],
              headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode('utf-8')
        try:
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True     # the client gave up (e.g. timed out on 'slow')

    def _done(self, method: str, path: str, status: int, info: Mapping[str, Any],
              start: float) -> None:
        self.server.oracle._note(RequestLog(
            method=method, path=path, status=status, step=info.get('step'),
            scene=info.get('scene'), response_format=info.get('format'),
            seconds=time.monotonic() - start), self.client_address[0])

    def log_request(self, code: object = '-', size: object = '-') -> None:
        """Silenced: ``_done`` writes the request line (with step and scene)."""


def _error_body(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {'error': {'message': message, 'type': kind, 'param': param, 'code': None}}


# --- command line -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)


def _fault_arg(spec: str) -> tuple[str, int]:
    try:
        return parse_fault(spec)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number of seconds') from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f'{text!r} must be a finite number >= 0')
    return value


def _port_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a port number') from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'{value} is not in 0..65535')
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; 0 on a clean stop, 2 on bad arguments."""
    parser = _Parser(prog='python -m resem3d_reasoning.oracle_server',
                     description=__doc__.split('\n')[0])
    parser.add_argument('--port', type=_port_arg, default=0, help='port (0: a free one)')
    parser.add_argument('--host', default='127.0.0.1', help='address to bind (loopback)')
    parser.add_argument('--answerer', default=None,
                        help=f'module:function answering requests (default {DEFAULT_ANSWERER})')
    parser.add_argument('--fault', type=_fault_arg, action='extend', nargs='+', default=[],
                        metavar='KIND[:COUNT]', help=f'inject faults: {", ".join(FAULT_KINDS)}')
    parser.add_argument('--delay-s', type=_seconds_arg, default=30.0,
                        help='how long a slow fault waits (s)')
    parser.add_argument('--retry-after-s', type=_seconds_arg, default=1.0,
                        help='Retry-After sent with a 429 fault (s)')
    parser.add_argument('--refuse-format', action='append', default=[], metavar='TYPE',
                        choices=['json_schema', 'json_object', 'text'],
                        help='answer HTTP 400 to this response_format type')
    args = parser.parse_args(argv)
    try:
        answerer = load_answerer(args.answerer) if args.answerer else DEFAULT_ANSWERER
        server = OracleServer(answerer, args.host, args.port, delay_s=args.delay_s,
                              retry_after_s=args.retry_after_s, refuse_formats=args.refuse_format)
        for kind, count in args.fault:
            server.inject(kind, count)
        server.bind()
    except ConfigError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    except OSError as error:
        print(f'error: cannot listen on {args.host}:{args.port}: {error.strerror or error}',
              file=sys.stderr)
        return 2
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'warning: serving the oracle on {args.host}, not only on loopback',
              file=sys.stderr)
    print(f'listening on {server.url}', flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == '__main__':
    sys.exit(main())
