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
PERCEPTION_FILE = 'perception.yaml'


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
    """The ``<node>: ros__parameters:`` mapping of a ROS 2 parameter file
    (:func:`resem3d_reasoning.settings.read_parameters`).

    Raises:
        ConfigFileError: If the file is missing, not YAML or has no such section.
    """
    from resem3d_reasoning import settings
    try:
        return settings.read_parameters(path, node)
    except settings.ConfigError as error:
        raise ConfigFileError(str(error)) from None


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


def load_reasoning_config(config_dir: str | os.PathLike[str]) -> ReasoningConfig:
    """Read ``reasoning.yaml`` (and the label grid of ``perception.yaml``) in ``config_dir``
    (:func:`resem3d_reasoning.settings.load_settings`, shared with the reasoning node).

    Raises:
        ConfigFileError: For a missing file or section, unknown keys or invalid values.
    """
    from resem3d_reasoning import settings
    config_dir = Path(config_dir)
    path = config_dir / REASONING_FILE
    try:
        loaded = settings.load_settings(path, config_dir / PERCEPTION_FILE)
    except settings.ConfigError as error:
        raise ConfigFileError(str(error)) from None
    return ReasoningConfig(loaded.mllm, loaded.engine, path)
