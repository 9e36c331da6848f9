"""Tests of the segmenter interface: Mask record, input checks, config mapping, factory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from resem3d_perception.errors import PerceptionError, PerceptionInputError
from resem3d_perception.segmenters import (Mask, Segmenter, SimSegmenter, check_color,
                                           check_depth, check_mask_array, check_prompt,
                                           config_from_mapping, make_segmenter)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert '\n' not in message and message
    return message


def test_mask_geometry_is_half_open_xy_and_centroid_is_mean_pixel() -> None:
    array = np.zeros((6, 8), dtype=bool)
    array[1:3, 2:7] = True  # rows 1..2, cols 2..6
    m = Mask(array, score=0.5, label='cup/body', source='test')
    assert m.bbox == (2, 1, 7, 3)
    x0, y0, x1, y1 = m.bbox
    assert m.mask[y0:y1, x0:x1].all() and m.mask[y0:y1, x0:x1].sum() == m.area_px
    assert m.area_px == 10
    assert m.centroid_px == pytest.approx((4.0, 1.5))  # (x, y) = (col, row)
    assert m.shape == (6, 8)
    assert m.area_fraction == pytest.approx(10 / 48)
    assert (m.score, m.label, m.source) == (0.5, 'cup/body', 'test')


def test_mask_is_read_only_view_and_caller_array_stays_writable() -> None:
    array = np.zeros((4, 4), dtype=bool)
    array[1, 1] = True
    m = Mask(array)
    assert array.flags.writeable
    with pytest.raises(ValueError):
        m.mask[0, 0] = True
    with pytest.raises(AttributeError):
        m.score = 0.1  # type: ignore[misc]


def test_mask_replace_recomputes_geometry() -> None:
    array = np.zeros((4, 4), dtype=bool)
    array[0, 0] = True
    other = np.zeros((4, 4), dtype=bool)
    other[3, 2:4] = True
    m = Mask(array, label='a/b').replace(mask=other, score=0.25)
    assert (m.bbox, m.area_px, m.label, m.score) == ((2, 3, 4, 4), 2, 'a/b', 0.25)
    with pytest.raises(PerceptionInputError, match='unknown fields'):
        m.replace(area_px=3)


@pytest.mark.parametrize('array, pattern', [
    (np.zeros((3, 3), dtype=bool), 'empty'),
    (np.ones((3, 3), dtype=np.uint8), 'bool'),
    (np.ones((3, 3, 1), dtype=bool), 'bool'),
])
def test_mask_rejects_empty_or_non_bool_arrays(array: np.ndarray, pattern: str) -> None:
    with pytest.raises(PerceptionInputError, match=pattern) as exc:
        Mask(array)
    _one_line(exc)


def test_mask_rejects_non_finite_score() -> None:
    with pytest.raises(PerceptionInputError, match='score'):
        Mask(np.ones((2, 2), dtype=bool), score=float('nan'))


@pytest.mark.parametrize('color', [
    np.zeros((4, 5, 3), dtype=np.float32),
    np.zeros((4, 5), dtype=np.uint8),
    np.zeros((4, 5, 4), dtype=np.uint8),
    np.zeros((0, 5, 3), dtype=np.uint8),
    [[0, 0, 0]],
])
def test_check_color_rejects_bad_images_in_one_line(color: object) -> None:
    with pytest.raises(PerceptionInputError, match='uint8 RGB') as exc:
        check_color(color)
    _one_line(exc)


def test_check_color_accepts_rgb_uint8() -> None:
    color = np.zeros((2, 3, 3), dtype=np.uint8)
    assert check_color(color) is color


def test_check_depth_size_and_dtype() -> None:
    assert check_depth(None, (4, 5)) is None
    depth = np.ones((4, 5), dtype=np.float32)
    assert check_depth(depth, (4, 5)) is depth
    with pytest.raises(PerceptionInputError, match=r'does not match.*\(4, 6\)') as exc:
        check_depth(depth, (4, 6))
    _one_line(exc)
    with pytest.raises(PerceptionInputError, match='float'):
        check_depth(np.ones((4, 5), dtype=np.uint16), (4, 5))


def test_check_mask_array_checks_size() -> None:
    with pytest.raises(PerceptionInputError, match='does not match'):
        check_mask_array(np.ones((3, 3), dtype=bool), (3, 4))


def test_check_prompt_normalises_points_labels_and_box() -> None:
    p = check_prompt([3, 2], None, None, (5, 6))
    assert p.points_px.shape == (1, 2) and p.point_labels.tolist() == [1]
    assert p.box_px is None
    p = check_prompt([[0, 0], [5, 4]], [1, 0], (0, 0, 6, 5), (5, 6))
    assert p.point_labels.tolist() == [1, 0] and p.box_px.tolist() == [0, 0, 6, 5]


@pytest.mark.parametrize('kwargs, pattern', [
    ({}, 'needs points_px, box_px'),
    ({'points_px': [[6, 0]]}, 'must lie in the image'),
    ({'points_px': [[1, 1]], 'point_labels': [2]}, 'point_labels'),
    ({'points_px': [[1, 1]], 'point_labels': [1, 1]}, 'point_labels'),
    ({'point_labels': [1]}, 'without points_px'),
    ({'points_px': [[np.nan, 1]]}, 'non-finite'),
    ({'box_px': (3, 0, 2, 4)}, 'x0 < x1'),
    ({'box_px': (0, 0, 7, 4)}, 'x0 < x1'),
    ({'box_px': (0, 0, 1)}, '4 finite numbers'),
])
def test_check_prompt_rejects_malformed_prompts(kwargs: dict, pattern: str) -> None:
    args = {'points_px': None, 'point_labels': None, 'box_px': None, **kwargs}
    with pytest.raises(PerceptionInputError, match=pattern) as exc:
        check_prompt(args['points_px'], args['point_labels'], args['box_px'], (5, 6))
    _one_line(exc)


@dataclass(frozen=True)
class _Cfg:
    count: int = 2
    ratio: float = 0.5
    name: str = 'x'
    flag: bool = False
    names: tuple[str, ...] = ()


def test_config_from_mapping_converts_and_checks_types() -> None:
    cfg = config_from_mapping(_Cfg, {'count': 3, 'ratio': 1, 'names': ['a', 'b'],
                                     'flag': True})
    assert cfg == _Cfg(count=3, ratio=1.0, names=('a', 'b'), flag=True)
    assert config_from_mapping(_Cfg, None) == _Cfg()
    with pytest.raises(PerceptionInputError, match=r"unknown _Cfg keys \['bogus'\]"):
        config_from_mapping(_Cfg, {'bogus': 1})
    for key, value in (('count', 1.5), ('count', True), ('ratio', 'a'), ('name', 3),
                       ('flag', 1), ('names', 'ab'), ('ratio', float('inf'))):
        with pytest.raises(PerceptionInputError, match=f'_Cfg.{key}'):
            config_from_mapping(_Cfg, {key: value})
    with pytest.raises(PerceptionInputError, match='mapping'):
        config_from_mapping(_Cfg, [('count', 1)])  # type: ignore[arg-type]


def test_make_segmenter_builds_sim_and_satisfies_the_protocol() -> None:
    seg = make_segmenter({'name': 'sim', 'sim': {'exclude_objects': ['table'],
                                                 'min_area_px': 2}})
    assert isinstance(seg, SimSegmenter) and isinstance(seg, Segmenter)
    assert seg.name == 'sim'
    assert seg.config.exclude_objects == ('table',) and seg.config.min_area_px == 2


@pytest.mark.parametrize('config, pattern', [
    ({'name': 'fastsam'}, "unknown segmenter 'fastsam'; known: sam, sim"),
    ({}, 'unknown segmenter None'),
    ({'name': 'sim', 'extra': 1}, r"unknown segmenter config keys \['extra'\]"),
    ({'name': 'sim', 'sim': {'min_area': 1}}, 'unknown SimSegmenterConfig keys'),
])
def test_make_segmenter_rejects_unknown_names_and_keys(config: dict, pattern: str) -> None:
    with pytest.raises(PerceptionInputError, match=pattern) as exc:
        make_segmenter(config)
    _one_line(exc)


def test_errors_share_the_package_base_class() -> None:
    assert issubclass(PerceptionInputError, PerceptionError)
    assert issubclass(PerceptionInputError, ValueError)
