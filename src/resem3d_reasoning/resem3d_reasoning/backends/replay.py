"""Backend that answers from a recorded transcript, by request key; no network, no API key.

Keys include the model name, so a request is looked up under the model(s) the transcript was
recorded with (or the one named in the options). Only exchanges that got an answer count; the
first answer recorded for a key wins.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..client import MllmRequest, MllmResponse
from ..errors import ConfigError, ReplayMissError
from ..transcript import Exchange, Transcript


class ReplayClient:
    """``MllmClient`` that replays the answers of the transcript in ``directory``.

    ``model``: look requests up under this model name only; by default under every model the
    transcript was recorded with. A request with no recorded answer raises ``ReplayMissError``.
    """

    name = 'replay'

    def __init__(self, directory: str | os.PathLike[str], model: str | None = None) -> None:
        self.directory = Path(directory)
        self._answers: dict[str, Exchange] = {}
        recorded: list[str] = []
        for exchange in Transcript.load(self.directory):
            if exchange.response is None or exchange.error is not None:
                continue
            self._answers.setdefault(exchange.key, exchange)
            if exchange.model not in recorded:
                recorded.append(exchange.model)
        self._models = [model] if model is not None else recorded
        if model is not None:
            self.model = model
        else:
            self.model = recorded[0] if len(recorded) == 1 else 'replay'

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> ReplayClient:
        """Build from options ``dir`` (the transcript directory, required) and ``model``."""
        unknown = sorted(set(options) - {'dir', 'model'})
        if unknown:
            raise ConfigError(f'replay backend: unknown option(s) {", ".join(unknown)}; '
                              'allowed: dir, model')
        directory = options.get('dir')
        if not isinstance(directory, (str, os.PathLike)) or not str(directory):
            raise ConfigError('replay backend: option dir (the transcript directory) is required')
        model = options.get('model')
        if model is not None and (not isinstance(model, str) or not model):
            raise ConfigError('replay backend: model must be a non-empty string')
        return cls(directory, model)

    def __len__(self) -> int:
        """How many distinct requests have a recorded answer."""
        return len(self._answers)

    def complete(self, request: MllmRequest) -> MllmResponse:
        """The recorded answer to ``request``, or ``ReplayMissError`` naming step and key."""
        start = time.monotonic()
        keys = [request.key(model) for model in self._models] or [request.key(self.model)]
        for key in keys:
            exchange = self._answers.get(key)
            if exchange is not None and exchange.response is not None:
                recorded = exchange.response
                return MllmResponse(
                    text=recorded.text, backend=self.name,
                    model=recorded.model or exchange.model,
                    latency_s=time.monotonic() - start,
                    prompt_tokens=recorded.prompt_tokens,
                    completion_tokens=recorded.completion_tokens,
                    cached=False, from_oracle=recorded.from_oracle)
        raise ReplayMissError(request.step, keys[0], str(self.directory))
