"""resem3d.config: finding config/, the shipped reasoning.yaml, bad files; setup.py share files."""

import os
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from resem3d import config as cfg
from resem3d.config import (ConfigFileError, find_config_dir, load_reasoning_config,
                            read_parameters)
from resem3d_reasoning.backends.openai_backend import OpenAIConfig
from resem3d_reasoning.engine import EngineConfig

REPO = Path(__file__).resolve().parents[3]
PACKAGE_DIR = REPO / 'src' / 'resem3d'


def test_the_source_checkout_config_is_found():
    assert find_config_dir() == REPO / 'config'
    assert cfg.source_config_dir() == REPO / 'config'


def test_an_explicit_directory_wins_and_must_exist(tmp_path):
    assert find_config_dir(tmp_path) == tmp_path
    with pytest.raises(ConfigFileError, match='missing: not a directory'):
        find_config_dir(tmp_path / 'missing')


def test_installed_share_directory_is_the_fallback(tmp_path, monkeypatch):
    share = tmp_path / 'share' / 'resem3d' / 'config'
    monkeypatch.setattr(cfg, 'source_config_dir', lambda: None)
    monkeypatch.setattr(cfg, 'installed_config_dirs', lambda: [tmp_path / 'nowhere', share])
    with pytest.raises(ConfigFileError, match='no config directory found: pass --config DIR'):
        find_config_dir()
    share.mkdir(parents=True)
    assert find_config_dir() == share


def test_installed_candidates_cover_colcon_and_pip_layouts():
    candidates = cfg.installed_config_dirs()
    module = Path(cfg.__file__).resolve()
    # colcon: <install>/resem3d/lib/pythonX.Y/site-packages/resem3d/config.py
    assert module.parents[4] / 'share' / 'resem3d' / 'config' in candidates
    assert Path(sys.prefix) / 'share' / 'resem3d' / 'config' in candidates


def test_shipped_reasoning_yaml_holds_the_code_defaults():
    settings = load_reasoning_config(REPO / 'config')
    assert settings.engine == EngineConfig()
    assert settings.mllm['backend'] == 'openai'
    openai = settings.mllm['openai']
    assert openai['base_url'] is None                 # '' in the file: OpenAI's own API
    assert OpenAIConfig.from_mapping(openai) == OpenAIConfig(model=openai['model'])
    assert set(openai) == {f for f in OpenAIConfig.__dataclass_fields__}


def _config_copy(tmp_path: Path, reasoning: str | None) -> Path:
    directory = tmp_path / 'config'
    shutil.copytree(REPO / 'config', directory)
    if reasoning is not None:
        (directory / 'reasoning.yaml').write_text(reasoning)
    return directory


@pytest.mark.parametrize('text,match', [
    ('{{{', 'reasoning.yaml: not YAML'),
    ('other: {ros__parameters: {}}\n', 'no resem3d_reasoning: ros__parameters: section'),
    ('resem3d_reasoning: {ros__parameters: {engine: {}}}\n', 'no mllm section'),
    ('resem3d_reasoning: {ros__parameters: {mllm: {backend: openai}, extra: 1}}\n',
     r'unknown section\(s\) extra'),
    ('resem3d_reasoning: {ros__parameters: {mllm: {}}}\n', 'mllm.backend must be'),
    ('resem3d_reasoning: {ros__parameters: {mllm: {backend: x}, engine: {retries: 1}}}\n',
     r'unknown engine key\(s\) retries'),
    ('resem3d_reasoning: {ros__parameters: {mllm: {backend: x}, engine: {max_retries: 99}}}\n',
     'engine: EngineConfig.max_retries must be in'),
    ('resem3d_reasoning: {ros__parameters: {mllm: {backend: x}, engine: {max_stages: "3"}}}\n',
     'engine.max_stages must be an integer'),
    ('resem3d_reasoning: {ros__parameters: {mllm: {backend: x},\n'
     '  engine: {workspace: {x_m: [1, 0]}}}}\n', 'need finite low < high'),
])
def test_bad_reasoning_files_are_one_line_errors_naming_the_file(tmp_path, text, match):
    directory = _config_copy(tmp_path, text)
    with pytest.raises(ConfigFileError, match=match) as info:
        load_reasoning_config(directory)
    assert '\n' not in str(info.value)
    assert str(directory) in str(info.value)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ConfigFileError, match='reasoning.yaml: cannot read'):
        load_reasoning_config(tmp_path)
    directory = _config_copy(tmp_path, None)
    os.remove(directory / 'perception.yaml')
    with pytest.raises(ConfigFileError, match='perception.yaml: cannot read'):
        load_reasoning_config(directory)
    assert read_parameters(REPO / 'config' / 'perception.yaml', 'resem3d_perception')['grid']


def _data_files(monkeypatch, package_dir: Path) -> dict[str, list[str]]:
    """The data_files setup.py declares when run in ``package_dir`` (setup() intercepted)."""
    import setuptools
    seen = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kwargs: seen.update(kwargs))
    monkeypatch.chdir(package_dir)
    runpy.run_path(str(PACKAGE_DIR / 'setup.py'), run_name='__main__')
    return dict(seen['data_files'])


def test_setup_installs_config_and_launch_when_present(monkeypatch, tmp_path):
    files = _data_files(monkeypatch, PACKAGE_DIR)
    assert files['share/resem3d'] == ['package.xml']
    assert files['share/ament_index/resource_index/packages'] == ['resource/resem3d']
    assert 'config/reasoning.yaml' in files['share/resem3d/config']
    assert (PACKAGE_DIR / 'config').resolve() == REPO / 'config'
    assert os.readlink(PACKAGE_DIR / 'launch') == '../../launch'
    # A checkout with an empty launch/ and no config/: nothing to install, and no failure.
    repo = tmp_path / 'repo'
    package = repo / 'src' / 'resem3d'
    package.mkdir(parents=True)
    (repo / 'launch').mkdir()
    os.symlink('../../launch', package / 'launch')
    os.symlink('../../config', package / 'config')        # dangling
    files = _data_files(monkeypatch, package)
    assert 'share/resem3d/launch' not in files and 'share/resem3d/config' not in files
    (repo / 'launch' / 'bringup.launch.py').write_text('')
    assert _data_files(monkeypatch, package)['share/resem3d/launch'] == [
        'launch/bringup.launch.py']
