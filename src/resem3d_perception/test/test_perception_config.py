"""PerceptionConfig: the shipped YAML, sections, and bad files."""

from pathlib import Path

import pytest

from resem3d_perception import PerceptionInputError
from resem3d_perception.config import PartConfig, PerceptionConfig
from resem3d_perception.parts import part_from_mask

import inspect

CONFIG_FILE = Path(__file__).resolve().parents[3] / 'config' / 'perception.yaml'


def test_shipped_yaml_holds_the_defaults():
    assert PerceptionConfig.from_yaml(CONFIG_FILE) == PerceptionConfig()


def test_part_config_defaults_are_those_of_part_from_mask():
    signature = inspect.signature(part_from_mask).parameters
    for name, value in PartConfig().kwargs().items():
        assert signature[name].default == value, name


def test_sections_override_defaults_and_feed_the_segmenter_factory():
    config = PerceptionConfig.from_mapping({'segmenter': 'sam', 'masks': {'min_area_frac': 0.001},
                                            'sam': {'checkpoint': '/models/sam.pth'}})
    assert config.masks.min_area_frac == 0.001 and config.segmenter == 'sam'
    assert config.segmenter_config()['sam']['checkpoint'] == '/models/sam.pth'
    assert config.camera.width == 640
    tracking = PerceptionConfig.from_mapping({'scene_tracking': {'redetect_radius_m': 0.3}})
    assert tracking.scene_tracking.redetect_radius_m == 0.3
    assert tracking.scene_tracking.icp_follow_passes == 3


@pytest.mark.parametrize('mapping,match', [
    ({'cameras': {}}, "unknown perception config sections \\['cameras'\\]"),
    ({'segmenter': 'fastsam'}, "segmenter: unknown 'fastsam'"),
    ({'masks': {'min_area': 1}}, 'unknown MaskFilterConfig keys'),
    ({'parts': {'erode_px': -1}}, 'erode_px must be >= 0'),
    ({'scene_tracking': {'search_radius_m': 0.3}}, 'unknown SceneTrackingConfig keys'),
    ({'scene_tracking': {'icp_follow_passes': -1}}, 'icp_follow_passes must be an integer >= 0'),
])
def test_bad_sections_are_one_line_errors(mapping, match):
    with pytest.raises(PerceptionInputError, match=match) as info:
        PerceptionConfig.from_mapping(mapping)
    assert '\n' not in str(info.value)


def test_bad_files_name_the_file(tmp_path):
    missing = tmp_path / 'missing.yaml'
    with pytest.raises(PerceptionInputError, match='missing.yaml: cannot read'):
        PerceptionConfig.from_yaml(missing)
    broken = tmp_path / 'broken.yaml'
    broken.write_text('{{{ not yaml')
    with pytest.raises(PerceptionInputError, match='broken.yaml: not YAML'):
        PerceptionConfig.from_yaml(broken)
    other = tmp_path / 'other.yaml'
    other.write_text('resem3d_controller: {ros__parameters: {}}\n')
    with pytest.raises(PerceptionInputError, match='no resem3d_perception: ros__parameters'):
        PerceptionConfig.from_yaml(other)
