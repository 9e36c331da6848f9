import dataclasses

import pytest

from conftest import REPO_ROOT
from resem3d_controller import ConfigError, ControllerConfig

CONFIG_FILE = REPO_ROOT / 'config' / 'controller.yaml'


def test_shipped_yaml_lists_every_parameter_with_its_default():
    config = ControllerConfig.from_yaml(CONFIG_FILE)
    import yaml
    listed = yaml.safe_load(CONFIG_FILE.read_text())['resem3d_controller']['ros__parameters']
    assert set(listed) == {f.name for f in dataclasses.fields(ControllerConfig)}
    assert config == ControllerConfig()


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match='rate_hzz: unknown'):
        ControllerConfig.from_mapping({'rate_hzz': 100.0})


@pytest.mark.parametrize('name, value, message', [
    ('rate_hz', 'fast', 'rate_hz: expected a number'),
    ('rate_hz', True, 'rate_hz: expected a number'),
    ('rate_hz', -1.0, 'rate_hz: must be a positive'),
    ('velocity_scale', 1.5, r'velocity_scale: must be in \(0, 1\]'),
    ('max_hard_rows', 2.5, 'max_hard_rows: expected an integer'),
    ('self_collision', 1, 'self_collision: expected true or false'),
    ('acceleration_limits_rad_s2', [1.0, 2.0], 'one value per arm joint'),
    ('arm_joints', 'panda_joint1', 'arm_joints: expected a list'),
    ('posture_rad', [0.0, 'x'], r'posture_rad\[1\]: expected a number'),
])
def test_bad_values_raise_a_typed_error_naming_the_field(name, value, message):
    with pytest.raises(ConfigError, match=message):
        ControllerConfig.from_mapping({name: value})


def test_yaml_without_section_is_a_clear_error(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('other_node: {ros__parameters: {}}\n')
    with pytest.raises(ConfigError, match='no resem3d_controller.ros__parameters section'):
        ControllerConfig.from_yaml(path)
    path.write_text('{{{ not yaml')
    with pytest.raises(ConfigError, match='cannot read parameter file'):
        ControllerConfig.from_yaml(path)
    with pytest.raises(ConfigError, match='cannot read parameter file'):
        ControllerConfig.from_yaml(tmp_path / 'missing.yaml')


def test_dt_is_the_inverse_of_the_rate():
    assert ControllerConfig(rate_hz=500.0).dt_s == pytest.approx(0.002)
