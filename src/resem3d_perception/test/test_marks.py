"""Tests of the set-of-marks renderer and the labelled refinement grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resem3d_perception.errors import PerceptionInputError
from resem3d_perception.marks import (GridConfig, MarkStyle, draw_marks, make_label_grid,
                                      save_png)
from resem3d_perception.masks import postprocess_masks
from resem3d_perception.segmenters import Mask, SimSegmenter
from resem3d_perception.testing import synthetic_part_frame


def _parts(width: int, height: int):
    frame = synthetic_part_frame(width, height)
    return frame, postprocess_masks(SimSegmenter().segment_frame(frame))


def _intersect(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize('size', [(320, 240), (640, 480)])
def test_marks_lie_inside_their_masks_without_overlapping(size: tuple[int, int]) -> None:
    frame, masks = _parts(*size)
    original = frame.color.copy()
    marked = draw_marks(frame.color, masks)
    assert np.array_equal(frame.color, original)  # input untouched
    assert marked.image.shape == frame.color.shape and marked.image.dtype == np.uint8
    assert list(marked.marks) == list(range(1, len(masks) + 1))
    boxes = []
    for mark_id, mark in marked.marks.items():
        assert mark.id == mark_id and mark.mask is masks[mark_id - 1]
        x0, y0, x1, y1 = mark.box_px
        assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]  # inside the image
        centre = ((x0 + x1) // 2, (y0 + y1) // 2)
        assert abs(centre[0] - mark.anchor_px[0]) <= 1 and abs(centre[1] - mark.anchor_px[1]) <= 1
        assert mark.mask.mask[mark.anchor_px[1], mark.anchor_px[0]]  # [row, col] = [y, x]
        assert mark.mask.mask[centre[1], centre[0]]
        assert not mark.overlaps
        boxes.append(mark.box_px)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _intersect(a, b), (a, b)
    assert marked.masks == {i: m.mask for i, m in marked.marks.items()}
    assert marked.anchors == {i: m.anchor_px for i, m in marked.marks.items()}


def test_label_size_scales_with_resolution() -> None:
    heights = []
    for size in ((320, 240), (640, 480)):
        _, masks = _parts(*size)
        marked = draw_marks(synthetic_part_frame(*size).color, masks)
        heights.append(max(m.box_px[3] - m.box_px[1] for m in marked.marks.values()))
    assert heights[1] > heights[0] >= MarkStyle().min_label_height_px
    assert heights[1] == round(MarkStyle().label_height_frac * np.sqrt(640 * 480))


def test_label_box_is_white_with_dark_border_and_dark_digits() -> None:
    frame, masks = _parts(640, 480)
    style = MarkStyle(tint_alpha=0.0, contour_thickness_frac=0.0)
    marked = draw_marks(frame.color, masks, style)
    for mark in marked.marks.values():
        x0, y0, x1, y1 = mark.box_px
        patch = marked.image[y0:y1, x0:x1].astype(int)
        assert (patch[0] == style.border_color).all() and (patch[-1] == style.border_color).all()
        assert (patch[:, 0] == style.border_color).all()
        inner = patch[3:-3, 3:-3]
        white = (inner == 255).all(axis=-1).mean()
        dark = (inner.sum(axis=-1) < 200).mean()
        assert white > 0.4 and dark > 0.05  # legible: a white field with dark digits
        # Outside the box the image is the original there (no tint, no contours).
        assert np.array_equal(marked.image[y1:y1 + 1, x0:x1], frame.color[y1:y1 + 1, x0:x1]) \
            or y1 == frame.color.shape[0]


def test_tint_and_contours_change_only_masked_regions_and_edges() -> None:
    frame, masks = _parts(320, 240)
    tinted = draw_marks(frame.color, masks, MarkStyle(contour_thickness_frac=0.0)).image
    union = np.logical_or.reduce([m.mask for m in masks])
    changed = (tinted != frame.color).any(axis=-1)
    boxes = np.zeros_like(union)
    for mark in draw_marks(frame.color, masks).marks.values():
        x0, y0, x1, y1 = mark.box_px
        boxes[y0:y1, x0:x1] = True
    assert not (changed & ~union & ~boxes).any()
    assert (changed & union).mean() > 0.5 * union.mean()


def test_concave_mask_gets_its_mark_on_the_ring_not_in_the_hole() -> None:
    image = np.full((200, 200, 3), 128, dtype=np.uint8)
    yy, xx = np.mgrid[:200, :200]
    r = np.hypot(xx - 100, yy - 100)
    ring = Mask((r >= 55) & (r <= 85))
    assert not ring.mask[int(ring.centroid_px[1]), int(ring.centroid_px[0])]
    mark = draw_marks(image, [ring]).marks[1]
    assert ring.mask[mark.anchor_px[1], mark.anchor_px[0]]


def test_crowded_masks_still_anchor_inside_and_flag_overlaps() -> None:
    image = np.zeros((60, 60, 3), dtype=np.uint8)
    masks = []
    for i in range(6):
        array = np.zeros((60, 60), dtype=bool)
        array[28:32, 8 * i + 5:8 * i + 8] = True  # 3x4 px slivers, 5 px apart
        masks.append(Mask(array))
    marked = draw_marks(image, masks)
    assert len(marked.marks) == 6
    for mark in marked.marks.values():
        assert mark.mask.mask[mark.anchor_px[1], mark.anchor_px[0]]
    assert any(mark.overlaps for mark in marked.marks.values())


def test_empty_mask_list_returns_a_copy_and_an_empty_mapping() -> None:
    image = synthetic_part_frame(64, 48).color
    marked = draw_marks(image, [])
    assert marked.marks == {} and marked.masks == {}
    assert np.array_equal(marked.image, image) and marked.image is not image


def test_marks_reject_bad_images_and_mismatched_masks() -> None:
    frame, masks = _parts(320, 240)
    with pytest.raises(PerceptionInputError, match='uint8 RGB') as exc:
        draw_marks(frame.color.astype(np.float32), masks)
    assert '\n' not in str(exc.value)
    with pytest.raises(PerceptionInputError, match='masks have shape'):
        draw_marks(frame.color[:100], masks)
    with pytest.raises(PerceptionInputError, match='expected a Mask'):
        draw_marks(frame.color, [masks[0].mask])  # type: ignore[list-item]


def test_style_config_and_first_id() -> None:
    style = MarkStyle.from_mapping({'first_id': 0, 'text_color': [200, 0, 0],
                                    'shrink_steps': [1.0]})
    assert style.text_color == (200, 0, 0) and style.shrink_steps == (1.0,)
    frame, masks = _parts(320, 240)
    assert list(draw_marks(frame.color, masks, style).marks) == list(range(len(masks)))
    for bad in ({'text_color': [300, 0, 0]}, {'tint_alpha': 2.0}, {'min_label_height_px': 4},
                {'shrink_steps': []}):
        with pytest.raises(PerceptionInputError):
            MarkStyle.from_mapping(bad)


def test_save_png_creates_directories_and_round_trips(tmp_path: Path) -> None:
    frame, masks = _parts(320, 240)
    marked = draw_marks(frame.color, masks)
    path = marked.save_png(tmp_path / 'a' / 'b' / 'marks.png')
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image), marked.image)
    with pytest.raises(PerceptionInputError):
        save_png(np.zeros((4, 4)), tmp_path / 'bad.png')


# --------------------------------------------------------------------------- label grid


@pytest.mark.parametrize('label', ['flask/body', 'cup/handle', 'block/lid'])
def test_grid_cells_partition_the_mask_inside_the_crop(label: str) -> None:
    frame = synthetic_part_frame(320, 240)
    mask = Mask(frame.mask_of(label))
    grid = make_label_grid(frame.color, mask, GridConfig(min_cell_fraction=0.0))
    x0, y0, x1, y1 = grid.crop_px
    in_crop = np.zeros_like(mask.mask)
    in_crop[y0:y1, x0:x1] = mask.mask[y0:y1, x0:x1]
    union = np.logical_or.reduce([c.mask for c in grid.cells.values()])
    assert np.array_equal(union, in_crop)
    assert np.array_equal(in_crop, mask.mask)  # the margin keeps the whole mask in the crop
    total = sum(int(c.mask.sum()) for c in grid.cells.values())
    assert total == mask.area_px  # cells are disjoint
    assert list(grid.cells) == list(range(1, len(grid.cells) + 1))
    order = [(c.row, c.col) for c in grid.cells.values()]
    assert order == sorted(order)  # row-major labels
    assert grid.col_edges_px[0] == x0 and grid.col_edges_px[-1] == x1
    assert grid.row_edges_px[0] == y0 and grid.row_edges_px[-1] == y1


def test_grid_threshold_labels_only_cells_with_enough_mask() -> None:
    frame = synthetic_part_frame(320, 240)
    mask = Mask(frame.mask_of('cup/handle'))
    loose = make_label_grid(frame.color, mask, GridConfig(min_cell_fraction=0.0))
    strict = make_label_grid(frame.color, mask, GridConfig(min_cell_fraction=0.3))
    assert 0 < len(strict.cells) < len(loose.cells)
    for cell in strict.cells.values():
        cx0, cy0, cx1, cy1 = cell.rect_px
        assert cell.fraction >= 0.3
        assert cell.fraction == pytest.approx(cell.mask.sum() / ((cx1 - cx0) * (cy1 - cy0)))
        assert not (cell.mask & ~mask.mask).any()
        assert not cell.mask[:cy0].any() and not cell.mask[:, cx1:].any()
        ax, ay = cell.anchor_px
        assert cx0 <= ax < cx1 and cy0 <= ay < cy1
        assert strict.label_at_px(ax, ay) == cell.label


def test_grid_canvas_mapping_is_an_exact_inverse() -> None:
    frame = synthetic_part_frame(320, 240)
    config = GridConfig(canvas_width_px=400, canvas_height_px=300, rows=3, cols=5)
    grid = make_label_grid(frame.color, frame.mask_of('flask/neck'), config)
    assert grid.image.shape == (300, 400, 3) and grid.image.dtype == np.uint8
    assert len(grid.col_edges_px) == 6 and len(grid.row_edges_px) == 4
    u0, v0, u1, v1 = grid.zoom_rect_px
    assert 0 <= u0 < u1 <= 400 and 0 <= v0 < v1 <= 300
    sx, sy = grid.scale
    assert sx == pytest.approx(sy, rel=0.05)  # aspect kept (up to rounding)
    x0, y0, x1, y1 = grid.crop_px
    for x, y in ((x0, y0), (x1 - 1, y1 - 1), ((x0 + x1) / 2, (y0 + y1) / 3)):
        u, v = grid.image_to_canvas_px(x, y)
        assert grid.canvas_to_image_px(u, v) == pytest.approx((x, y))
    # The outer pixel edges of the crop land on the zoom rectangle's edges.
    assert grid.image_to_canvas_px(x0 - 0.5, y0 - 0.5) == pytest.approx((u0 - 0.5, v0 - 0.5))
    assert grid.image_to_canvas_px(x1 - 0.5, y1 - 0.5) == pytest.approx((u1 - 0.5, v1 - 0.5))
    assert grid.cell_at_px(x0 - 1, y0) is None
    assert grid.cell_at_px(x1 - 1, y1 - 1) == (2, 4)


def test_grid_on_a_tiny_mask_at_the_border_grows_the_crop() -> None:
    image = np.zeros((40, 50, 3), dtype=np.uint8)
    array = np.zeros((40, 50), dtype=bool)
    array[0, 49] = True  # one pixel in the top-right corner
    grid = make_label_grid(image, array, GridConfig(min_cell_fraction=0.0))
    x0, y0, x1, y1 = grid.crop_px
    assert x1 - x0 >= 4 and y1 - y0 >= 4 and x1 <= 50 and y0 >= 0
    assert len(grid.cells) == 1 and grid.cells[1].mask[0, 49]


def test_grid_rejects_bad_inputs() -> None:
    frame = synthetic_part_frame(64, 48)
    with pytest.raises(PerceptionInputError, match='empty'):
        make_label_grid(frame.color, np.zeros((48, 64), dtype=bool))
    with pytest.raises(PerceptionInputError, match='does not match'):
        make_label_grid(frame.color, np.ones((48, 63), dtype=bool))
    with pytest.raises(PerceptionInputError, match='bool'):
        make_label_grid(frame.color, np.ones((48, 64), dtype=np.uint8))
    with pytest.raises(PerceptionInputError, match='smaller than the 4x4 grid'):
        make_label_grid(np.zeros((3, 8, 3), dtype=np.uint8), np.ones((3, 8), dtype=bool))
    with pytest.raises(PerceptionInputError, match='unknown GridConfig keys'):
        GridConfig.from_mapping({'grid': 4})
    with pytest.raises(PerceptionInputError, match='rows and cols'):
        GridConfig(rows=0)


def test_grid_png_for_the_report(tmp_path: Path) -> None:
    frame = synthetic_part_frame(320, 240)
    grid = make_label_grid(frame.color, frame.mask_of('flask/body'))
    path = grid.save_png(tmp_path / 'grid' / 'flask_body.png')
    with Image.open(path) as image:
        assert image.size == (640, 640)
    assert grid.masks.keys() == grid.cells.keys()
