"""Model backends and the registry that builds one from a configuration mapping.

Built in: ``'openai'`` (any OpenAI-compatible endpoint), ``'replay'`` (a recorded transcript)
and ``'oracle'`` (the simulator oracle, :mod:`resem3d_reasoning.oracle`). Each built-in module
is imported only when its backend is built, so ``make_client({'backend': 'oracle'})`` works
without importing the oracle first. Others register themselves with ``register_backend``.

``make_client(config)`` reads ``config['backend']`` and passes the backend its options: the
mapping ``config[<backend>]`` when there is one (so one file may hold the settings of several
backends), otherwise every other top-level key. Backends reject unknown options.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..client import MllmClient
from ..errors import ConfigError

BackendFactory = Callable[[Mapping[str, Any]], MllmClient]
"""Builds a client from its options (the backend's part of the configuration)."""

_registry: dict[str, BackendFactory] = {}
_lock = threading.Lock()


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make ``make_client({'backend': name, ...})`` call ``factory(options)``.

    Registering a taken name raises ``ConfigError`` unless ``replace`` is set.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError('a backend name must be a non-empty string')
    if not callable(factory):
        raise ConfigError(f'backend {name!r}: the factory must be callable')
    with _lock:
        if name in _registry and not replace:
            raise ConfigError(f'backend {name!r} is already registered')
        _registry[name] = factory


def known_backends() -> list[str]:
    """The registered backend names, sorted."""
    with _lock:
        return sorted(_registry)


def make_client(config: Mapping[str, Any]) -> MllmClient:
    """Build the backend that ``config['backend']`` names (see the module docstring)."""
    if not isinstance(config, Mapping):
        raise ConfigError(f'the model client configuration must be a mapping, '
                          f'got {type(config).__name__}')
    name = config.get('backend')
    with _lock:
        factory = _registry.get(name) if isinstance(name, str) else None
        known = sorted(_registry)
    if factory is None:
        raise ConfigError(f'unknown model backend {name!r}; known backends: {", ".join(known)}')
    section = config.get(name)
    if isinstance(section, Mapping):
        options: Mapping[str, Any] = section
    else:
        options = {k: v for k, v in config.items() if k != 'backend'}
    return factory(options)


def _openai(options: Mapping[str, Any]) -> MllmClient:
    # Imported on use: the openai library takes half a second to import.
    from .openai_backend import OpenAIClient, OpenAIConfig
    return OpenAIClient(OpenAIConfig.from_mapping(options))


def _replay(options: Mapping[str, Any]) -> MllmClient:
    from .replay import ReplayClient
    return ReplayClient.from_mapping(options)


def _oracle(options: Mapping[str, Any]) -> MllmClient:
    # Imported on use: the oracle pulls in the simulator (mujoco) when it answers.
    from ..oracle import oracle_factory
    return oracle_factory(options)


register_backend('openai', _openai)
register_backend('replay', _replay)
register_backend('oracle', _oracle)
