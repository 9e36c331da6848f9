# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""The reasoning's parameter file, and the model client it configures, for the reasoning node.

``config/reasoning.yaml`` has the ROS 2 parameter-file layout (``resem3d_reasoning:
ros__parameters: {mllm: ..., engine: ...}``); the label grid of the geometric refinement is
``perception.yaml``'s ``grid`` section. :func:`load_settings` reads both into
:class:`ReasoningSettings`; :func:`client_options` applies the node's overrides (backend,
model, base URL, transcript) to the ``mllm`` mapping; :func:`make_task_client` builds the client
and refuses the oracle outside simulation: the oracle answers from the simulator's ground
truth, which only exists with ``use_sim``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resem3d_perception import GridConfig, PerceptionInputError

from .backends import make_client
from .client import MllmClient, RecordingClient
from .engine import EngineConfig
from .errors import ConfigError
from .replies import Workspace
from .transcript import Transcript

__all__ = ['BACKENDS', 'REASONING_NODE', 'ReasoningSettings', 'client_options', 'load_settings',
           'make_task_client', 'read_parameters']

#: The backends the node can use.
BACKENDS = ('openai', 'replay', 'oracle')
#: Section names of the parameter files.
REASONING_NODE = 'resem3d_reasoning'
PERCEPTION_NODE = 'resem3d_perception'
_ENGINE_INTS = ('max_retries', 'max_subtasks', 'max_stages')
_AXES = ('x_m', 'y_m', 'z_m')


@dataclass(frozen=True)
class ReasoningSettings:
    """What ``reasoning.yaml`` holds.

    Attributes:
        mllm: ``backend`` plus one options mapping per backend (``make_client`` layout); an
            empty ``openai.base_url`` (ROS parameters have no null) means OpenAI's own API.
        engine: Bounds of the reasoning engine.
    """

    mllm: Mapping[str, Any] = field(default_factory=lambda: {'backend': 'openai'})
    engine: EngineConfig = field(default_factory=EngineConfig)


def read_parameters(path: str | Path, node: str) -> Mapping[str, Any]:
    """The ``<node>: ros__parameters:`` mapping of a ROS 2 parameter file.

    Raises:
        ConfigError: If the file is missing, not YAML or has no such section.
    """
    import yaml
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding='utf-8'))
    except OSError as error:
        raise ConfigError(f'{path}: cannot read: {error.strerror or error}') from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f'{path}: not YAML: {str(error).splitlines()[0]}') from None
    try:
        section = document[node]['ros__parameters']
    except (TypeError, KeyError):
        raise ConfigError(f'{path}: no {node}: ros__parameters: section') from None
    if not isinstance(section, Mapping):
        raise ConfigError(f'{path}: {node}.ros__parameters must be a mapping')
    return section


def _mllm(section: Any, where: str) -> dict[str, Any]:
    if not isinstance(section, Mapping):
        raise ConfigError(f'{where}: mllm must be a mapping')
    backend = section.get('backend')
    if not isinstance(backend, str) or not backend:
        raise ConfigError(f'{where}: mllm.backend must be a backend name')
    out: dict[str, Any] = {'backend': backend}
    for name, options in section.items():
        if name == 'backend':
            continue
        if not isinstance(options, Mapping):
            raise ConfigError(f'{where}: mllm.{name} must be a mapping of backend options')
        out[name] = dict(options)
    if 'openai' in out and out['openai'].get('base_url') == '':
        out['openai']['base_url'] = None        # ROS parameters have no null: '' = OpenAI's API
    return out


def _engine(section: Any, grid: GridConfig, where: str) -> EngineConfig:
    section = {} if section is None else section
    if not isinstance(section, Mapping):
        raise ConfigError(f'{where}: engine must be a mapping')
    known = (*_ENGINE_INTS, 'workspace')
    unknown = sorted(map(str, set(section) - set(known)))
    if unknown:
        raise ConfigError(f'{where}: unknown engine key(s) {", ".join(unknown)}; known: '
                          f'{", ".join(known)}')
    values: dict[str, Any] = {}
    for name in _ENGINE_INTS:
        if name in section:
            value = section[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f'{where}: engine.{name} must be an integer, got {value!r}')
            values[name] = value
    box = section.get('workspace') or {}
    if not isinstance(box, Mapping) or set(box) - set(_AXES):
        raise ConfigError(f'{where}: engine.workspace must be a mapping with keys '
                          f'{", ".join(_AXES)}')
    bounds = {}
    for axis, pair in box.items():
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in pair)):
            raise ConfigError(f'{where}: engine.workspace.{axis} must be [low, high] in m, '
                              f'got {pair!r}')
        bounds[axis] = (float(pair[0]), float(pair[1]))
    try:
        return EngineConfig(workspace=Workspace(**bounds), grid=grid, **values)
    except ValueError as error:
        raise ConfigError(f'{where}: engine: {error}') from None


def load_settings(reasoning_file: str | Path,
                  perception_file: str | Path | None = None) -> ReasoningSettings:
    """Read ``reasoning.yaml`` (and the label grid of ``perception.yaml``, if given).

    Raises:
        ConfigError: For a missing file or section, unknown keys or invalid values (one line
            naming the file).
    """
    section = read_parameters(reasoning_file, REASONING_NODE)
    unknown = sorted(map(str, set(section) - {'mllm', 'engine'}))
    if unknown:
        raise ConfigError(f'{reasoning_file}: unknown section(s) {", ".join(unknown)}; '
                          'known: mllm, engine')
    if 'mllm' not in section:
        raise ConfigError(f'{reasoning_file}: no mllm section')
    grid = GridConfig()
    if perception_file:
        try:
            grid = GridConfig.from_mapping(
                read_parameters(perception_file, PERCEPTION_NODE).get('grid') or {})
        except PerceptionInputError as error:
            raise ConfigError(f'{perception_file}: grid: {error}') from None
    return ReasoningSettings(_mllm(section['mllm'], str(reasoning_file)),
                             _engine(section.get('engine'), grid, str(reasoning_file)))


def client_options(mllm: Mapping[str, Any], *, backend: str = '', model: str = '',
                   base_url: str = '', transcript: str = '') -> dict[str, Any]:
    """The ``make_client`` mapping: ``mllm`` with the node's overrides ('' = keep).

    Args:
        mllm: The configured mapping (:attr:`ReasoningSettings.mllm`).
        backend: ``openai``, ``replay`` or ``oracle``.
        model: The model name (openai, replay).
        base_url: The OpenAI-compatible endpoint (openai only).
        transcript: The transcript directory to answer from (replay; required there).

    Raises:
        ConfigError: For an unknown backend or an override that does not apply to it.
    """
    name = backend or mllm.get('backend', '')
    if name not in BACKENDS:
        raise ConfigError(f'unknown model backend {name!r}; known: {", ".join(BACKENDS)}')
    if base_url and name != 'openai':
        raise ConfigError(f'base_url applies to the openai backend only, not {name}')
    if name == 'oracle':
        if model:
            raise ConfigError('the oracle backend has no model to choose (resem3d-oracle)')
        return {'backend': 'oracle', 'oracle': {}}
    if name == 'replay':
        options = dict(mllm.get('replay') or {})
        if transcript:
            options['dir'] = transcript
        if not options.get('dir'):
            raise ConfigError('the replay backend needs a transcript directory to answer from')
        if model:
            options['model'] = model
        return {'backend': 'replay', 'replay': options}
    options = dict(mllm.get('openai') or {})
    if model:
        options['model'] = model
    if base_url:
        options['base_url'] = base_url
    return {'backend': 'openai', 'openai': options}


def make_task_client(options: Mapping[str, Any], *, use_sim: bool,
                     record_dir: str = '') -> MllmClient:
    """Build the model client; the oracle only with ``use_sim``.

    Args:
        options: The ``make_client`` mapping (:func:`client_options`).
        use_sim: Whether the simulator runs (the oracle needs its ground truth).
        record_dir: Record every exchange in this transcript directory (not for ``replay``,
            which answers from it); the client is then a
            :class:`~resem3d_reasoning.client.RecordingClient` whose ``transcript`` the
            caller closes.

    Raises:
        ConfigError: For the oracle outside simulation, or bad backend options.
        TranscriptError: For a transcript that cannot be read or opened.
    """
    if options.get('backend') == 'oracle' and not use_sim:
        raise ConfigError('the oracle backend answers from the simulator\'s ground truth: it '
                          'is only available in simulation (set use_sim:=true and run the sim '
                          'node); on a robot use openai or replay')
    client = make_client(options)
    if record_dir and options.get('backend') != 'replay':
        client = RecordingClient(client, transcript=Transcript.open(record_dir))
    return client
