"""Mask post-processing: area filter, containment filter, centroid merging, stable ordering.

The steps follow the original method's part extraction (area ratio filter, "structural
independence" filter, DBSCAN clustering of mask centroids with OR-merging), with every pixel
threshold expressed **relative to the image size** so results do not change with resolution:

* areas are fractions of the image area ``H * W``;
* distances are fractions of the geometric-mean image side ``sqrt(H * W)`` (the original
  20 px at 640x640 is ``20 / 640 = 0.03125``).

Masks are :class:`~resem3d_perception.segmenters.base.Mask` records; centroids are ``(x, y)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .errors import PerceptionInputError
from .segmenters.base import Mask, config_from_mapping

__all__ = ['CONTAINMENT_MODES', 'ORDERS', 'MaskFilterConfig', 'filter_by_area',
           'filter_containment', 'image_shape', 'merge_nearby', 'overlap_matrix',
           'postprocess_masks', 'sort_masks']

CONTAINMENT_MODES = ('drop_container', 'drop_contained', 'off')
ORDERS = ('area', 'position')


@dataclass(frozen=True)
class MaskFilterConfig:
    """Parameters of :func:`postprocess_masks` (defaults: the original method's values).

    Attributes:
        min_area_frac: Keep masks with area >= this fraction of the image area.
        max_area_frac: Keep masks with area <= this fraction of the image area.
        containment: 'drop_container' drops a mask that contains at least
            ``contain_min_count`` smaller masks (whole objects and background go, parts stay:
            the original "structural independence"); 'drop_contained' drops a mask mostly
            inside a larger one (parts go, whole objects stay); 'off' keeps all.
        contain_overlap_other: Mask j counts as inside mask i when
            ``|i & j| / |j| >= contain_overlap_other`` ...
        contain_overlap_self: ... and ``|i & j| / |i| >= contain_overlap_self``.
        contain_min_count: Smaller masks a container must hold to be dropped
            ('drop_container' only).
        merge_distance_frac: Masks whose centroids are chained within this distance
            (fraction of ``sqrt(H * W)``) are OR-merged (single linkage, as DBSCAN with
            min_samples 1); masks with different ground-truth labels are never merged; 0
            disables merging.
        order: 'area' (largest first) or 'position' (by centroid row, then column); ties are
            broken by the other key, so the order (and so mark numbers) is deterministic.
    """

    min_area_frac: float = 1e-4
    max_area_frac: float = 0.9
    containment: str = 'drop_container'
    contain_overlap_other: float = 0.9
    contain_overlap_self: float = 0.01
    contain_min_count: int = 2
    merge_distance_frac: float = 20.0 / 640.0
    order: str = 'area'

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_area_frac <= self.max_area_frac <= 1.0:
            raise PerceptionInputError(f'MaskFilterConfig: need 0 <= min_area_frac <= '
                                       f'max_area_frac <= 1, got {self.min_area_frac}, '
                                       f'{self.max_area_frac}')
        if self.containment not in CONTAINMENT_MODES:
            raise PerceptionInputError(f'MaskFilterConfig.containment must be one of '
                                       f'{", ".join(CONTAINMENT_MODES)}, got '
                                       f'{self.containment!r}')
        for name in ('contain_overlap_other', 'contain_overlap_self'):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise PerceptionInputError(f'MaskFilterConfig.{name} must be in (0, 1], got '
                                           f'{getattr(self, name)}')
        if self.contain_min_count < 1:
            raise PerceptionInputError(f'MaskFilterConfig.contain_min_count must be >= 1, got '
                                       f'{self.contain_min_count}')
        if not 0.0 <= self.merge_distance_frac < 1.0:
            raise PerceptionInputError(f'MaskFilterConfig.merge_distance_frac must be in '
                                       f'[0, 1), got {self.merge_distance_frac}')
        if self.order not in ORDERS:
            raise PerceptionInputError(f'MaskFilterConfig.order must be one of '
                                       f'{", ".join(ORDERS)}, got {self.order!r}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> MaskFilterConfig:
        """Build from a config mapping (keys: the attribute names)."""
        return config_from_mapping(cls, mapping)


def image_shape(masks: Sequence[Mask]) -> tuple[int, int] | None:
    """``(H, W)`` shared by all masks, or None for an empty list.

    Raises:
        PerceptionInputError: If an item is not a :class:`Mask` or sizes differ.
    """
    shape = None
    for i, m in enumerate(masks):
        if not isinstance(m, Mask):
            raise PerceptionInputError(f'masks[{i}]: expected a Mask, got {type(m).__name__}')
        if shape is None:
            shape = m.shape
        elif m.shape != shape:
            raise PerceptionInputError(f'masks[{i}]: shape {m.shape} differs from masks[0] '
                                       f'{shape}')
    return shape


def filter_by_area(masks: Sequence[Mask], min_frac: float, max_frac: float) -> list[Mask]:
    """Masks whose area fraction lies in ``[min_frac, max_frac]``, in input order."""
    image_shape(masks)
    return [m for m in masks if min_frac <= m.area_fraction <= max_frac]


def overlap_matrix(masks: Sequence[Mask]) -> np.ndarray:
    """``(N, N)`` int64 pixel counts ``|mask_i & mask_j|`` (the diagonal holds the areas).

    Computed as ``A @ A.T`` of a sparse ``(N, H*W)`` indicator matrix (scipy), so the cost
    grows with the overlapping pixels rather than with ``N^2 * H * W``.
    """
    if not masks:
        return np.zeros((0, 0), dtype=np.int64)
    image_shape(masks)
    cols = [np.flatnonzero(m.mask) for m in masks]
    rows = np.repeat(np.arange(len(masks)), [len(c) for c in cols])
    data = np.ones(len(rows), dtype=np.int64)
    a = sparse.csr_matrix((data, (rows, np.concatenate(cols))),
                          shape=(len(masks), masks[0].mask.size))
    return np.asarray((a @ a.T).toarray(), dtype=np.int64)


def _inside(overlap: np.ndarray, config: MaskFilterConfig) -> np.ndarray:
    """``inside[i, j]``: mask j lies inside the strictly larger mask i (ties: lower index)."""
    area = np.diag(overlap).astype(float)
    n = len(area)
    frac_of_j = overlap / area[None, :]
    frac_of_i = overlap / area[:, None]
    idx = np.arange(n)
    larger = (area[:, None] > area[None, :]) | (
        (area[:, None] == area[None, :]) & (idx[:, None] < idx[None, :]))
    return ((frac_of_j >= config.contain_overlap_other)
            & (frac_of_i >= config.contain_overlap_self) & larger)


def filter_containment(masks: Sequence[Mask], config: MaskFilterConfig) -> list[Mask]:
    """Drop containers or contained masks per ``config.containment`` (input order kept).

    "j inside i" needs ``|i & j| >= contain_overlap_other * |j|``,
    ``|i & j| >= contain_overlap_self * |i|`` and i larger than j (equal areas: the earlier
    mask is the larger), so two duplicates never remove each other.
    """
    if config.containment == 'off' or len(masks) < 2:
        return list(masks)
    inside = _inside(overlap_matrix(masks), config)
    if config.containment == 'drop_container':
        drop = inside.sum(axis=1) >= config.contain_min_count
    else:  # 'drop_contained'
        drop = inside.any(axis=0)
    return [m for m, d in zip(masks, drop) if not d]


def _merge_group(group: Sequence[Mask]) -> Mask:
    """OR-merge masks; the label and source of the largest member, the best score."""
    if len(group) == 1:
        return group[0]
    largest = max(group, key=lambda m: m.area_px)
    union = np.logical_or.reduce([m.mask for m in group])
    return Mask(union, score=max(m.score for m in group), label=largest.label,
                source=largest.source)


def merge_nearby(masks: Sequence[Mask], distance_frac: float) -> list[Mask]:
    """OR-merge masks whose centroids chain within ``distance_frac * sqrt(H * W)`` px.

    Single-linkage grouping (DBSCAN with min_samples 1, as the original): pairs within the
    radius from a k-d tree, groups as connected components (scipy). Two masks carrying
    different ground-truth labels are never linked (they are known to be different parts), so
    simulator masks keep their labels. Groups are returned in the order of their first member;
    a merged mask takes the label and source of its largest member and the best score.
    """
    shape = image_shape(masks)
    if shape is None or distance_frac <= 0.0 or len(masks) < 2:
        return list(masks)
    radius_px = distance_frac * math.sqrt(shape[0] * shape[1])
    centroids = np.array([m.centroid_px for m in masks])
    pairs = cKDTree(centroids).query_pairs(radius_px, output_type='ndarray').reshape(-1, 2)
    labels = [m.label for m in masks]
    # Ground-truth masks of different parts are known to be distinct: never link them.
    linkable = [labels[i] is None or labels[j] is None or labels[i] == labels[j]
                for i, j in pairs.tolist()]
    pairs = pairs[np.asarray(linkable, dtype=bool)] if len(pairs) else pairs
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                              shape=(len(masks), len(masks)))
    _, group_of = connected_components(graph, directed=False)
    groups: dict[int, list[Mask]] = {}
    for mask, g in zip(masks, group_of.tolist()):
        groups.setdefault(g, []).append(mask)
    return [_merge_group(group) for group in groups.values()]


def sort_masks(masks: Sequence[Mask], order: str = 'area') -> list[Mask]:
    """Deterministic order: 'area' (largest first, then top-to-bottom, left-to-right by
    centroid) or 'position' (centroid row, then column, then larger first).

    The sort is stable, so fully tied masks keep their input order.
    """
    if order not in ORDERS:
        raise PerceptionInputError(f'order must be one of {", ".join(ORDERS)}, got {order!r}')
    image_shape(masks)
    if order == 'area':
        return sorted(masks, key=lambda m: (-m.area_px, m.centroid_px[1], m.centroid_px[0]))
    return sorted(masks, key=lambda m: (m.centroid_px[1], m.centroid_px[0], -m.area_px))


def postprocess_masks(masks: Sequence[Mask],
                      config: MaskFilterConfig | None = None) -> list[Mask]:
    """Area filter, containment filter, centroid merging, then deterministic ordering.

    Args:
        masks: Masks of one image (same shape); may be empty.
        config: Parameters; None for the defaults.

    Returns:
        The surviving (possibly merged) masks, ordered per ``config.order``; mark numbers
        assigned in this order are stable for the same input.

    Raises:
        PerceptionInputError: If an item is not a Mask or the masks' sizes differ.
    """
    cfg = config if config is not None else MaskFilterConfig()
    kept = filter_by_area(masks, cfg.min_area_frac, cfg.max_area_frac)
    kept = filter_containment(kept, cfg)
    kept = merge_nearby(kept, cfg.merge_distance_frac)
    return sort_masks(kept, cfg.order)
