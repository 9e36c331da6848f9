"""Where the repository's ``config/`` directory is, and the reasoning settings it holds.

:func:`find_config_dir` looks, in this order, at an explicit directory (``--config DIR``), the
``config/`` of the source checkout this module runs from (``<repo>/config`` next to
``<repo>/src``; editable installs), then ``share/resem3d/config`` of an installed package
(``ament_index`` under ROS, then a ``share/resem3d/config`` above this module, as colcon and pip
lay them out, then ``sys.prefix``). :func:`load_reasoning_config` reads ``reasoning.yaml``
(ROS 2 parameter-file layout, node ``resem3d_reasoning``) into the model client's mapping and
an :class:`~resem3d_reasoning.engine.EngineConfig` whose label grid is ``perception.yaml``'s
``grid`` section.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resem3d_reasoning.engine import EngineConfig

__all__ = ['ConfigFileError', 'ReasoningConfig', 'find_config_dir', 'load_reasoning_config',
           'read_parameters']

PACKAGE = 'resem3d'
REASONING_FILE = 'reasoning.yaml'
REASONING_NODE = 'resem3d_reasoning'
PERCEPTION_FILE = 'perception.yaml'
PERCEPTION_NODE = 'resem3d_perception'
_ENGINE_KEYS = ('max_retries', 'max_subtasks', 'max_stages', 'workspace')
_WORKSPACE_KEYS = ('x_m', 'y_m', 'z_m')


class ConfigFileError(Exception):
    """No config directory, or a config file that is missing, not YAML or holds bad values.

    The message is one line and names the file.
    """


# ----------------------------------------------------------------------------- the directory

def source_config_dir() -> Path | None:
    """``<repo>/config`` when this module runs from a source checkout (``<repo>/src/resem3d``),
    else None."""
    here = Path(__file__).resolve()
    src, repo = here.parents[2], here.parents[3]
    if src.name == 'src' and (repo / 'config').is_dir():
        return repo / 'config'
    return None


def installed_config_dirs() -> list[Path]:
    """Where an installed package's ``share/resem3d/config`` may be, most specific first."""
    candidates: list[Path] = []
    try:       # under ROS: the ament index of the sourced workspaces
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE)) / 'config')
    except Exception:       # not a ROS environment, or the package is not in the index
        pass
    # colcon: install/resem3d/lib/pythonX.Y/site-packages/resem3d -> install/resem3d/share;
    # pip: <prefix>/lib/pythonX.Y/site-packages/resem3d -> <prefix>/share.
    for parent in Path(__file__).resolve().parents:
        candidates.append(parent / 'share' / PACKAGE / 'config')
    candidates.append(Path(sys.prefix) / 'share' / PACKAGE / 'config')
    return list(dict.fromkeys(candidates))


def find_config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ``config/`` directory to read (see the module docstring for the order).

    Raises:
        ConfigFileError: When ``explicit`` is not a directory, or no candidate exists.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise ConfigFileError(f'{explicit}: not a directory (--config names the directory '
                                  'holding reasoning.yaml and the other parameter files)')
        return path
    source = source_config_dir()
    if source is not None:
        return source
    for candidate in installed_config_dirs():
        if candidate.is_dir():
            return candidate
    raise ConfigFileError(
        'no config directory found: pass --config DIR, run from a source checkout '
        '(<repo>/config next to <repo>/src), or install the resem3d package '
        f'(share/{PACKAGE}/config; looked under {sys.prefix})')


# ----------------------------------------------------------------------------- the files

def read_parameters(path: Path, node: str) -> Mapping[str, Any]:
    """The ``<node>: ros__parameters:`` mapping of a ROS 2 parameter file.

    Raises:
        ConfigFileError: If the file is missing, not YAML or has no such section.
    """
    import yaml
    try:
        document = yaml.safe_load(path.read_text(encoding='utf-8'))
    except OSError as error:
        raise ConfigFileError(f'{path}: cannot read: {error.strerror or error}') from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigFileError(f'{path}: not YAML: {str(error).splitlines()[0]}') from None
    try:
        section = document[node]['ros__parameters']
    except (TypeError, KeyError):
        raise ConfigFileError(f'{path}: no {node}: ros__parameters: section') from None
    if not isinstance(section, Mapping):
        raise ConfigFileError(f'{path}: {node}.ros__parameters must be a mapping')
    return section


@dataclass(frozen=True)
class ReasoningConfig:
    """What ``reasoning.yaml`` holds.

    Attributes:
        mllm: The model client's configuration for ``resem3d_reasoning.make_client``
            (``backend`` plus one section per backend; an empty ``openai.base_url`` is
            ``None``, OpenAI's own API).
        engine: Bounds of the reasoning engine.
        path: The file read.
    """

    mllm: Mapping[str, Any]
    engine: EngineConfig
    path: Path


def _mllm(section: Any, path: Path) -> dict[str, Any]:
    if not isinstance(section, Mapping):
        raise ConfigFileError(f'{path}: mllm must be a mapping')
    backend = section.get('backend')
    if not isinstance(backend, str) or not backend:
        raise ConfigFileError(f'{path}: mllm.backend must be a backend name')
    mllm: dict[str, Any] = {'backend': backend}
    for name, options in section.items():
        if name == 'backend':
            continue
        if not isinstance(options, Mapping):
            raise ConfigFileError(f'{path}: mllm.{name} must be a mapping of backend options')
        mllm[name] = dict(options)
    openai = mllm.get('openai')
    if openai is not None and openai.get('base_url') == '':
        openai['base_url'] = None      # ROS parameters have no null: '' = OpenAI's own API
    return mllm


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigFileError(f'{where} must be an integer, got {value!r}')
    return value


def _engine(section: Any, grid: Any, path: Path) -> EngineConfig:
    from resem3d_reasoning.engine import EngineConfig
    from resem3d_reasoning.replies import Workspace

    section = {} if section is None else section
    if not isinstance(section, Mapping):
        raise ConfigFileError(f'{path}: engine must be a mapping')
    unknown = sorted(set(section) - set(_ENGINE_KEYS))
    if unknown:
        raise ConfigFileError(f'{path}: unknown engine key(s) {", ".join(map(str, unknown))}; '
                              f'known: {", ".join(_ENGINE_KEYS)}')
    values: dict[str, Any] = {name: _int(section[name], f'{path}: engine.{name}')
                              for name in ('max_retries', 'max_subtasks', 'max_stages')
                              if name in section}
    box = section.get('workspace', {})
    if not isinstance(box, Mapping) or set(box) - set(_WORKSPACE_KEYS):
        raise ConfigFileError(f'{path}: engine.workspace must be a mapping with keys '
                              f'{", ".join(_WORKSPACE_KEYS)}')
    bounds = {}
    for name, pair in box.items():
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in pair)
        if not ok:
            raise ConfigFileError(f'{path}: engine.workspace.{name} must be [low, high] in m, '
                                  f'got {pair!r}')
        bounds[name] = (float(pair[0]), float(pair[1]))
    try:
        values['workspace'] = Workspace(**bounds)
        return EngineConfig(grid=grid, **values)
    except ValueError as error:
        raise ConfigFileError(f'{path}: engine: {error}') from None


def load_reasoning_config(config_dir: str | os.PathLike[str]) -> ReasoningConfig:
    """Read ``reasoning.yaml`` (and the label grid of ``perception.yaml``) in ``config_dir``.

    Raises:
        ConfigFileError: For a missing file or section, unknown keys or invalid values.
    """
    from resem3d_perception import GridConfig, PerceptionInputError

    config_dir = Path(config_dir)
    path = config_dir / REASONING_FILE
    section = read_parameters(path, REASONING_NODE)
    unknown = sorted(set(section) - {'mllm', 'engine'})
    if unknown:
        raise ConfigFileError(f'{path}: unknown section(s) {", ".join(map(str, unknown))}; '
                              'known: mllm, engine')
    if 'mllm' not in section:
        raise ConfigFileError(f'{path}: no mllm section')
    perception = config_dir / PERCEPTION_FILE
    try:
        grid = GridConfig.from_mapping(read_parameters(perception, PERCEPTION_NODE).get('grid')
                                       or {})
    except PerceptionInputError as error:
        raise ConfigFileError(f'{perception}: grid: {error}') from None
    return ReasoningConfig(_mllm(section['mllm'], path),
                           _engine(section.get('engine'), grid, path), path)
