"""Tests of the ground-truth (simulator) segmenter, on synthetic and on rendered frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from resem3d_perception.errors import PerceptionError, PerceptionInputError
from resem3d_perception.marks import draw_marks
from resem3d_perception.masks import postprocess_masks
from resem3d_perception.segmenters import SimSegmenter, SimSegmenterConfig
from resem3d_perception.testing import synthetic_part_frame


@pytest.fixture(scope='module')
def frame():
    return synthetic_part_frame(160, 120)


def test_one_mask_per_visible_part_with_its_label(frame) -> None:
    masks = SimSegmenter().segment_frame(frame)
    labels = [m.label for m in masks]
    # Label-table order; 'table/top' is excluded by default.
    assert labels == ['block/body', 'block/lid', 'cup/body', 'cup/handle', 'flask/body',
                      'flask/neck']
    for m in masks:
        assert np.array_equal(m.mask, frame.mask_of(m.label))
        assert m.score == 1.0 and m.source == 'sim'


def test_exclusions_and_minimum_area(frame) -> None:
    everything = SimSegmenter(SimSegmenterConfig(exclude_objects=()))
    assert 'table/top' in [m.label for m in everything.segment_frame(frame)]
    seg = SimSegmenter.from_mapping({'exclude_objects': ['table', 'cup'],
                                     'exclude_labels': ['flask/neck']})
    assert [m.label for m in seg.segment_frame(frame)] == ['block/body', 'block/lid',
                                                         'flask/body']
    areas = {m.label: m.area_px for m in SimSegmenter().segment_frame(frame)}
    threshold = areas['cup/handle'] + 1
    big = SimSegmenter(SimSegmenterConfig(min_area_px=threshold)).segment_frame(frame)
    assert 'cup/handle' not in [m.label for m in big]
    assert all(m.area_px >= threshold for m in big)


def test_hidden_parts_are_not_returned() -> None:
    part = np.zeros((10, 12), dtype=np.int32)
    part[2:5, 3:6] = 2
    seg = SimSegmenter()
    seg.observe(part_mask=part, labels=('', 'box/hidden', 'box/seen'))
    masks = seg.segment(np.zeros((10, 12, 3), dtype=np.uint8))
    assert [m.label for m in masks] == ['box/seen'] and masks[0].bbox == (3, 2, 6, 5)


def test_no_visible_part_gives_an_empty_list() -> None:
    seg = SimSegmenter()
    seg.observe(SimpleNamespace(part_mask=np.zeros((4, 4), dtype=np.int32), labels=('', 'a/b')))
    assert seg.segment(np.zeros((4, 4, 3), dtype=np.uint8)) == []


def test_segment_needs_an_observed_frame_of_the_same_size(frame) -> None:
    seg = SimSegmenter()
    with pytest.raises(PerceptionError, match='call observe'):
        seg.segment(frame.color)
    seg.observe(frame)
    with pytest.raises(PerceptionInputError, match='does not match the observed part_mask'):
        seg.segment(frame.color[:, :-1].copy())
    with pytest.raises(PerceptionInputError, match='depth_m'):
        seg.segment(frame.color, frame.depth_m[:-1])
    with pytest.raises(PerceptionInputError, match='uint8 RGB'):
        seg.segment(frame.color.astype(float))


@pytest.mark.parametrize('part_mask, labels, pattern', [
    (np.zeros((3, 3), dtype=float), ('', 'a/b'), 'integer label image'),
    (np.zeros((3, 3, 1), dtype=np.int32), ('', 'a/b'), 'integer label image'),
    (np.zeros((3, 3), dtype=np.int32), ('a/b',), "labels\\[0\\] must be ''"),
    (np.full((3, 3), 2, dtype=np.int32), ('', 'a/b'), r'must index labels \[0, 2\)'),
    (np.zeros((3, 3), dtype=np.int32), 'ab', 'sequence of strings'),
])
def test_observe_rejects_malformed_ground_truth(part_mask, labels, pattern) -> None:
    with pytest.raises(PerceptionInputError, match=pattern) as exc:
        SimSegmenter().observe(part_mask=part_mask, labels=labels)
    assert '\n' not in str(exc.value)


def test_observe_takes_a_frame_or_keywords_not_both(frame) -> None:
    with pytest.raises(PerceptionInputError, match='not both'):
        SimSegmenter().observe(frame, labels=frame.labels)


def _centre(frame, label: str) -> list[float]:
    ys, xs = np.nonzero(frame.mask_of(label))
    i = np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)  # a pixel of the part
    return [float(xs[i]), float(ys[i])]


def test_prompted_point_picks_the_part_under_it(frame) -> None:
    seg = SimSegmenter()
    seg.observe(frame)
    m = seg.segment_prompted(frame.color, points_px=[_centre(frame, 'cup/body')])
    assert m.label == 'cup/body' and np.array_equal(m.mask, frame.mask_of('cup/body'))
    # Two votes for the lid beat one for the body.
    points = [_centre(frame, 'block/body'), _centre(frame, 'block/lid'),
              _centre(frame, 'block/lid')]
    assert seg.segment_prompted(frame.color, points_px=points).label == 'block/lid'


def test_prompted_negative_points_and_box(frame) -> None:
    seg = SimSegmenter()
    seg.observe(frame)
    lid = frame.mask_of('block/lid')
    body = frame.mask_of('block/body')
    ys, xs = np.nonzero(lid | body)
    box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert seg.segment_prompted(frame.color, box_px=box).label == 'block/body'  # more pixels
    negative = seg.segment_prompted(frame.color, box_px=box,
                                    points_px=[_centre(frame, 'block/body')], point_labels=[0])
    assert negative.label == 'block/lid'
    # A background point alone selects nothing; with a box the box decides.
    background = [[2.0, 2.0]]
    with pytest.raises(PerceptionError, match='no labelled part'):
        seg.segment_prompted(frame.color, points_px=background)
    assert seg.segment_prompted(frame.color, points_px=background, box_px=box).label \
        == 'block/body'
    with pytest.raises(PerceptionInputError, match='needs points_px'):
        seg.segment_prompted(frame.color)


def test_module_does_not_import_the_simulator() -> None:
    code = ('import sys, resem3d_perception.segmenters.sim, resem3d_perception.masks, '
            'resem3d_perception.marks; '
            'bad = [m for m in sys.modules if m.startswith(("resem3d_sim", "mujoco", "torch"))]; '
            'print(bad); sys.exit(1 if bad else 0)')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_lab_frame_gives_labelled_marks(tmp_path: Path) -> None:
    pytest.importorskip('resem3d_sim', reason='the rendered-frame test needs resem3d_sim')
    from resem3d_sim.catalog import get_task  # resem3d_sim before mujoco (GL backend)
    from resem3d_sim.tasks import TaskEnv

    env = TaskEnv.build(get_task('lab_flask_to_stirrer'), 0)
    camera = env.camera()
    try:
        rendered = camera.render()
    finally:
        camera.close()
    masks = SimSegmenter().segment_frame(rendered)
    labels = [m.label for m in masks]
    assert {'flask/body', 'flask/mouth', 'stirrer/plate'} <= set(labels)
    for m in masks:
        assert np.array_equal(m.mask, rendered.mask_of(m.label))
    ordered = postprocess_masks(masks)
    assert sorted(m.label for m in ordered) == sorted(labels)  # GT parts are never merged
    marked = draw_marks(rendered.color, ordered)
    assert [marked.marks[i].mask.label for i in sorted(marked.marks)] == \
        [m.label for m in ordered]
    for mark in marked.marks.values():
        x, y = mark.anchor_px
        assert mark.mask.mask[y, x]
    path = marked.save_png(tmp_path / 'report' / 'lab_flask_to_stirrer_marks.png')
    with Image.open(path) as image:
        assert image.size == (rendered.color.shape[1], rendered.color.shape[0])
        assert image.mode == 'RGB'
