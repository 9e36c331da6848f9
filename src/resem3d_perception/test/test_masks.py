"""Tests of mask post-processing: area and containment filters, merging, ordering, scaling."""

from __future__ import annotations

import numpy as np
import pytest

from resem3d_perception.errors import PerceptionInputError
from resem3d_perception.masks import (MaskFilterConfig, filter_by_area, filter_containment,
                                      merge_nearby, overlap_matrix, postprocess_masks,
                                      sort_masks)
from resem3d_perception.segmenters import Mask


def rect(shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float,
         label: str | None = None, score: float = 1.0) -> Mask:
    """Mask of the half-open box given in fractions of (W, H) (scales with resolution)."""
    h, w = shape
    array = np.zeros(shape, dtype=bool)
    array[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)] = True
    return Mask(array, score=score, label=label, source='test')


SHAPE = (120, 160)
OFF = MaskFilterConfig(containment='off', merge_distance_frac=0.0)


def test_area_filter_uses_fractions_of_the_image() -> None:
    tiny = rect(SHAPE, 0.0, 0.0, 1 / 160, 1 / 120)   # 1 px: 5.2e-5 of the image
    small = rect(SHAPE, 0.5, 0.5, 0.55, 0.55)
    huge = rect(SHAPE, 0.0, 0.0, 1.0, 0.95)          # 0.95 of the image
    kept = filter_by_area([tiny, small, huge], 1e-4, 0.9)
    assert kept == [small]
    assert filter_by_area([tiny, small, huge], 0.0, 1.0) == [tiny, small, huge]
    assert filter_by_area([], 1e-4, 0.9) == []


def test_overlap_matrix_counts_shared_pixels() -> None:
    a = rect(SHAPE, 0.0, 0.0, 0.5, 0.5)
    b = rect(SHAPE, 0.25, 0.25, 0.75, 0.75)
    c = rect(SHAPE, 0.9, 0.9, 1.0, 1.0)
    overlap = overlap_matrix([a, b, c])
    expected = np.array([[(m & n).sum() for n in (a.mask, b.mask, c.mask)]
                         for m in (a.mask, b.mask, c.mask)])
    assert np.array_equal(overlap, expected)
    assert overlap_matrix([]).shape == (0, 0)


def _object_with_parts() -> tuple[Mask, Mask, Mask, Mask]:
    whole = rect(SHAPE, 0.1, 0.1, 0.6, 0.6)     # an object ...
    lid = rect(SHAPE, 0.1, 0.1, 0.6, 0.2)       # ... and its two parts
    body = rect(SHAPE, 0.1, 0.2, 0.6, 0.6)
    other = rect(SHAPE, 0.7, 0.7, 0.9, 0.9)
    return whole, lid, body, other


def test_drop_container_removes_whole_objects_and_keeps_parts() -> None:
    whole, lid, body, other = _object_with_parts()
    kept = filter_containment([whole, lid, body, other], MaskFilterConfig())
    assert kept == [lid, body, other]
    # A container of one part only is kept at contain_min_count 2, dropped at 1.
    assert filter_containment([whole, lid], MaskFilterConfig()) == [whole, lid]
    assert filter_containment([whole, lid],
                              MaskFilterConfig(contain_min_count=1)) == [lid]


def test_drop_contained_removes_parts_and_keeps_whole_objects() -> None:
    whole, lid, body, other = _object_with_parts()
    cfg = MaskFilterConfig(containment='drop_contained')
    assert filter_containment([lid, whole, body, other], cfg) == [whole, other]
    off = MaskFilterConfig(containment='off')
    assert filter_containment([whole, lid, body], off) == [whole, lid, body]


def test_duplicates_do_not_remove_each_other() -> None:
    a = rect(SHAPE, 0.2, 0.2, 0.4, 0.4)
    b = rect(SHAPE, 0.2, 0.2, 0.4, 0.4)
    assert filter_containment([a, b], MaskFilterConfig(containment='drop_contained')) == [a]
    assert filter_containment([a, b], MaskFilterConfig(contain_min_count=1)) == [b]


def test_overlap_self_threshold_ignores_specks_in_huge_masks() -> None:
    background = rect(SHAPE, 0.0, 0.0, 1.0, 1.0)
    speck = rect(SHAPE, 0.5, 0.5, 0.5 + 1 / 160, 0.5 + 1 / 120)   # 1/19200 of background
    cfg = MaskFilterConfig(containment='drop_contained', contain_overlap_self=0.01)
    assert filter_containment([background, speck], cfg) == [background, speck]


def test_merge_joins_chains_of_nearby_centroids() -> None:
    left = rect(SHAPE, 0.30, 0.40, 0.35, 0.50)
    right = rect(SHAPE, 0.35, 0.40, 0.40, 0.50)    # centroid 8 px from left's
    further = rect(SHAPE, 0.40, 0.40, 0.45, 0.50)  # 8 px from right's: chained
    far = rect(SHAPE, 0.8, 0.1, 0.85, 0.2, score=0.3)
    radius = 10.0 / np.sqrt(SHAPE[0] * SHAPE[1])
    merged = merge_nearby([left, far, right, further], radius)
    assert len(merged) == 2
    assert np.array_equal(merged[0].mask, left.mask | right.mask | further.mask)
    assert merged[1] is far
    assert merge_nearby([left, right], 0.0) == [left, right]
    assert len(merge_nearby([left, right], 6.0 / np.sqrt(SHAPE[0] * SHAPE[1]))) == 2


def test_merge_keeps_label_of_largest_and_never_joins_different_labels() -> None:
    big = rect(SHAPE, 0.30, 0.40, 0.40, 0.50, label='cup/body', score=0.5)
    small = rect(SHAPE, 0.33, 0.42, 0.37, 0.48, label=None, score=0.9)
    (merged,) = merge_nearby([small, big], 0.1)
    assert merged.label == 'cup/body' and merged.score == 0.9
    mouth = rect(SHAPE, 0.30, 0.40, 0.35, 0.50, label='flask/mouth')
    neck = rect(SHAPE, 0.35, 0.40, 0.40, 0.50, label='flask/neck')
    assert merge_nearby([mouth, neck], 0.1) == [mouth, neck]


def test_sorting_is_deterministic_by_area_or_position() -> None:
    a = rect(SHAPE, 0.6, 0.1, 0.7, 0.2)   # small, top right
    b = rect(SHAPE, 0.1, 0.5, 0.4, 0.9)   # large, bottom left
    c = rect(SHAPE, 0.1, 0.1, 0.2, 0.2)   # small (= a), top left
    assert sort_masks([a, b, c], 'area') == [b, c, a]
    assert sort_masks([c, a, b], 'area') == [b, c, a]
    assert sort_masks([b, a, c], 'position') == [c, a, b]
    with pytest.raises(PerceptionInputError, match='order'):
        sort_masks([a], 'random')


def _scene(shape: tuple[int, int]) -> list[Mask]:
    """Masks defined in fractions of the image: the same scene at any resolution."""
    return [
        rect(shape, 0.0, 0.0, 1 / 160, 1 / 120),                # 1 px at 160x120: too small
        rect(shape, 0.1, 0.1, 0.6, 0.6), rect(shape, 0.1, 0.1, 0.6, 0.2),  # object + lid
        rect(shape, 0.1, 0.2, 0.6, 0.6),                        # + body
        rect(shape, 0.70, 0.70, 0.75, 0.80), rect(shape, 0.75, 0.70, 0.80, 0.80),  # halves
        rect(shape, 0.70, 0.10, 0.75, 0.20), rect(shape, 0.85, 0.10, 0.90, 0.20),  # apart
    ]


def _summary(masks: list[Mask]) -> list[tuple[float, ...]]:
    h, w = masks[0].shape
    return [(round(m.area_fraction, 6), *(round(v, 6) for v in (m.bbox[0] / w, m.bbox[1] / h,
                                                                  m.bbox[2] / w, m.bbox[3] / h)))
            for m in masks]


def test_postprocess_gives_the_same_result_at_two_resolutions() -> None:
    # 0.03 of sqrt(H * W): 4.2 px at 160x120 and 16.6 px at 640x480; the halves' centroids are
    # 0.05 W apart (8 px / 32 px), so this radius keeps them apart at both sizes ...
    cfg = MaskFilterConfig(merge_distance_frac=0.03)
    low, high = (postprocess_masks(_scene(s), cfg) for s in ((120, 160), (480, 640)))
    assert _summary(low) == _summary(high)
    assert len(low) == 6  # speck and whole object removed
    # ... and a radius of 0.07 (9.7 px / 39 px) merges them at both.
    cfg = MaskFilterConfig(merge_distance_frac=0.07)
    low, high = (postprocess_masks(_scene(s), cfg) for s in ((120, 160), (480, 640)))
    assert _summary(low) == _summary(high) and len(low) == 5


def test_postprocess_is_deterministic_under_input_permutations() -> None:
    masks = _scene(SHAPE)
    reference = _summary(postprocess_masks(masks))
    rng = np.random.default_rng(0)
    for _ in range(3):
        shuffled = [masks[i] for i in rng.permutation(len(masks))]
        assert _summary(postprocess_masks(shuffled)) == reference
    areas = [m.area_px for m in postprocess_masks(masks)]
    assert areas == sorted(areas, reverse=True)


def test_postprocess_of_nothing_is_nothing() -> None:
    assert postprocess_masks([]) == []


def test_mixed_sizes_and_non_masks_are_rejected() -> None:
    a = rect((10, 10), 0, 0, 0.5, 0.5)
    b = rect((10, 12), 0, 0, 0.5, 0.5)
    with pytest.raises(PerceptionInputError, match=r'masks\[1\]: shape \(10, 12\)'):
        postprocess_masks([a, b])
    with pytest.raises(PerceptionInputError, match=r'masks\[0\]: expected a Mask'):
        postprocess_masks([a.mask])  # type: ignore[list-item]


def test_config_from_mapping_and_validation() -> None:
    cfg = MaskFilterConfig.from_mapping({'min_area_frac': 0.001, 'containment': 'off',
                                         'order': 'position'})
    assert (cfg.min_area_frac, cfg.containment, cfg.order) == (0.001, 'off', 'position')
    for bad in ({'containment': 'maybe'}, {'min_area_frac': 0.5, 'max_area_frac': 0.4},
                {'merge_distance_frac': -0.1}, {'contain_overlap_other': 0.0},
                {'contain_min_count': 0}, {'orders': 'area'}):
        with pytest.raises(PerceptionInputError):
            MaskFilterConfig.from_mapping(bad)
