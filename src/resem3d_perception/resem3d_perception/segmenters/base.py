"""The segmenter interface: the :class:`Mask` record, the :class:`Segmenter` protocol, input checks.

Pixel conventions used throughout the package:

* Arrays are indexed ``[row, col]`` (``[v, u]``); an image is ``(H, W)`` or ``(H, W, 3)``.
* Points and boxes are given in ``(x, y)`` = ``(col, row)`` order, as in OpenCV and
  segment-anything: a point is ``(x, y)``, pixel centres at integers; a box is
  ``(x0, y0, x1, y1)``.
* A :class:`Mask`'s ``bbox`` is half-open: the mask's pixels lie in rows ``y0 .. y1 - 1`` and
  columns ``x0 .. x1 - 1``, so ``mask.mask[y0:y1, x0:x1]`` is the tight crop.
* Colour images are RGB ``uint8``; depth images are metres along the optical axis (0 = invalid).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from ..errors import PerceptionError, PerceptionInputError

__all__ = [
    'Mask', 'Prompt', 'Segmenter', 'SEGMENTER_NAMES', 'check_color', 'check_depth',
    'check_mask_array', 'check_prompt', 'config_from_mapping', 'make_segmenter',
]

# Names accepted by make_segmenter, in the order they are listed in errors.
SEGMENTER_NAMES: tuple[str, ...] = ('sam', 'sim')

_C = TypeVar('_C')


def _describe(value: Any) -> str:
    """Short description of a value for one-line error messages."""
    if isinstance(value, np.ndarray):
        return f'{value.dtype} array of shape {value.shape}'
    return f'{type(value).__name__} {value!r:.60}'


def check_color(color: Any) -> np.ndarray:
    """Check a colour image and return it unchanged.

    Args:
        color: ``(H, W, 3)`` ``uint8`` RGB image, ``H, W >= 1``.

    Raises:
        PerceptionInputError: (one line) on a non-array, a wrong dtype or a wrong shape.
    """
    if (not isinstance(color, np.ndarray) or color.dtype != np.uint8 or color.ndim != 3
            or color.shape[2] != 3 or color.shape[0] < 1 or color.shape[1] < 1):
        raise PerceptionInputError(
            f'color: expected an (H, W, 3) uint8 RGB image, got {_describe(color)}')
    return color


def check_depth(depth_m: Any, shape_hw: tuple[int, int]) -> np.ndarray | None:
    """Check an optional depth image against the colour image's size.

    Args:
        depth_m: None, or an ``(H, W)`` floating-point depth image (m; 0 = invalid).
        shape_hw: ``(H, W)`` of the colour image.

    Returns:
        The depth image unchanged, or None.

    Raises:
        PerceptionInputError: (one line) on a wrong dtype, rank or size.
    """
    if depth_m is None:
        return None
    if (not isinstance(depth_m, np.ndarray) or depth_m.ndim != 2
            or not np.issubdtype(depth_m.dtype, np.floating)):
        raise PerceptionInputError(
            f'depth_m: expected an (H, W) float depth image in metres, got {_describe(depth_m)}')
    if depth_m.shape != tuple(shape_hw):
        raise PerceptionInputError(
            f'depth_m: shape {depth_m.shape} does not match the colour image (H, W) '
            f'{tuple(shape_hw)}')
    return depth_m


def check_mask_array(mask: Any, shape_hw: tuple[int, int] | None = None,
                     what: str = 'mask') -> np.ndarray:
    """Check a boolean ``(H, W)`` mask (optionally of a given size) and return it.

    Raises:
        PerceptionInputError: (one line) on a non-bool dtype, wrong rank or wrong size.
    """
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
        raise PerceptionInputError(f'{what}: expected an (H, W) bool array, got '
                                   f'{_describe(mask)}')
    if shape_hw is not None and mask.shape != tuple(shape_hw):
        raise PerceptionInputError(f'{what}: shape {mask.shape} does not match the image '
                                   f'(H, W) {tuple(shape_hw)}')
    return mask


@dataclass(frozen=True, eq=False)
class Mask:
    """One binary segment of an image, with its summary geometry.

    Build it from the boolean array; ``bbox``, ``area_px`` and ``centroid_px`` are computed.
    The stored array is a read-only view (the caller's array is not modified).

    Attributes:
        mask: ``(H, W)`` bool, True on the segment; indexed ``[row, col]``. Never empty.
        score: Confidence in [0, 1] (SAM: predicted IoU; ground truth: 1).
        label: Ground-truth part label 'object/part' (simulation), else None.
        source: Which segmenter made it ('sam', 'sim', 'merged', ...).
        bbox: ``(x0, y0, x1, y1)`` half-open pixel box, ``(x, y)`` = ``(col, row)``.
        area_px: Number of True pixels.
        centroid_px: ``(x, y)`` mean pixel position (float px; may lie outside a concave mask).

    Raises:
        PerceptionInputError: If ``mask`` is not a 2-D bool array, is empty, or ``score`` is
            not a finite number.
    """

    mask: np.ndarray
    score: float = 1.0
    label: str | None = None
    source: str = ''
    bbox: tuple[int, int, int, int] = field(init=False)
    area_px: int = field(init=False)
    centroid_px: tuple[float, float] = field(init=False)

    def __post_init__(self) -> None:
        array = check_mask_array(self.mask)
        view = array.view()
        view.flags.writeable = False
        if isinstance(self.score, bool) or not isinstance(self.score, (int, float, np.number)) \
                or not math.isfinite(float(self.score)):
            raise PerceptionInputError(f'mask score must be a finite number, got {self.score!r}')
        # Row/column projections: one pass over the image gives area, box and centroid.
        row_counts = view.sum(axis=1, dtype=np.int64)
        col_counts = view.sum(axis=0, dtype=np.int64)
        area = int(row_counts.sum())
        if area == 0:
            raise PerceptionInputError(f'mask of shape {view.shape} is empty (no True pixel)')
        rows = np.flatnonzero(row_counts)
        cols = np.flatnonzero(col_counts)
        cx = float(col_counts @ np.arange(view.shape[1])) / area
        cy = float(row_counts @ np.arange(view.shape[0])) / area
        object.__setattr__(self, 'mask', view)
        object.__setattr__(self, 'score', float(self.score))
        object.__setattr__(self, 'bbox', (int(cols[0]), int(rows[0]), int(cols[-1]) + 1,
                                          int(rows[-1]) + 1))
        object.__setattr__(self, 'area_px', area)
        object.__setattr__(self, 'centroid_px', (cx, cy))

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image the mask belongs to."""
        return self.mask.shape  # type: ignore[return-value]

    @property
    def area_fraction(self) -> float:
        """Area as a fraction of the image area."""
        return self.area_px / float(self.mask.size)

    def replace(self, **changes: Any) -> Mask:
        """A copy with some of ``mask``, ``score``, ``label``, ``source`` changed."""
        values = {'mask': self.mask, 'score': self.score, 'label': self.label,
                  'source': self.source}
        unknown = sorted(set(changes) - set(values))
        if unknown:
            raise PerceptionInputError(f'Mask.replace: unknown fields {unknown}')
        values.update(changes)
        return Mask(**values)

    def __repr__(self) -> str:
        return (f'Mask(shape={self.shape}, area_px={self.area_px}, bbox={self.bbox}, '
                f'score={self.score:.3f}, label={self.label!r}, source={self.source!r})')


@dataclass(frozen=True)
class Prompt:
    """A checked prompt for :meth:`Segmenter.segment_prompted`.

    Attributes:
        points_px: ``(N, 2)`` float ``(x, y)`` points, or None.
        point_labels: ``(N,)`` int, 1 = foreground, 0 = background, or None (with no points).
        box_px: ``(4,)`` float ``(x0, y0, x1, y1)``, or None.
    """

    points_px: np.ndarray | None
    point_labels: np.ndarray | None
    box_px: np.ndarray | None


def check_prompt(points_px: Any, point_labels: Any, box_px: Any,
                 shape_hw: tuple[int, int]) -> Prompt:
    """Check a point/box prompt against an image of size ``shape_hw``.

    Args:
        points_px: None or ``(N, 2)`` ``(x, y)`` pixel points inside the image
            (``0 <= x <= W - 1``, ``0 <= y <= H - 1``).
        point_labels: None (all foreground) or ``(N,)`` values in {0, 1}.
        box_px: None or ``(x0, y0, x1, y1)`` with ``0 <= x0 < x1 <= W`` and
            ``0 <= y0 < y1 <= H``.
        shape_hw: ``(H, W)`` of the image.

    Raises:
        PerceptionInputError: (one line) on no prompt at all, bad shapes, non-finite values,
            labels other than 0/1, or points/boxes outside the image.
    """
    h, w = shape_hw
    points = labels = box = None
    if points_px is not None:
        points = np.asarray(points_px, dtype=float)
        if points.ndim == 1 and points.shape == (2,):
            points = points[None, :]
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
            raise PerceptionInputError(f'points_px: expected (N, 2) (x, y) points, N >= 1, got '
                                       f'shape {points.shape}')
        if not np.all(np.isfinite(points)):
            raise PerceptionInputError('points_px: contains non-finite values')
        if np.any(points < 0.0) or np.any(points[:, 0] > w - 1) or np.any(points[:, 1] > h - 1):
            raise PerceptionInputError(f'points_px: points must lie in the image, 0 <= x <= '
                                       f'{w - 1}, 0 <= y <= {h - 1}; got {points.tolist()}')
        if point_labels is None:
            labels = np.ones(len(points), dtype=int)
        else:
            labels = np.asarray(point_labels)
            if labels.shape != (len(points),) or not np.all(np.isin(labels, (0, 1))):
                raise PerceptionInputError(f'point_labels: expected {len(points)} values in '
                                           f'{{0, 1}}, got {np.asarray(point_labels).tolist()}')
            labels = labels.astype(int)
    elif point_labels is not None:
        raise PerceptionInputError('point_labels given without points_px')
    if box_px is not None:
        box = np.asarray(box_px, dtype=float).reshape(-1)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            raise PerceptionInputError(f'box_px: expected 4 finite numbers (x0, y0, x1, y1), '
                                       f'got {np.asarray(box_px).tolist()}')
        x0, y0, x1, y1 = box
        if not (0.0 <= x0 < x1 <= w and 0.0 <= y0 < y1 <= h):
            raise PerceptionInputError(f'box_px: need 0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= '
                                       f'{h}, got {box.tolist()}')
    if points is None and box is None:
        raise PerceptionInputError('segment_prompted needs points_px, box_px or both')
    return Prompt(points, labels, box)


@runtime_checkable
class Segmenter(Protocol):
    """What every segmenter offers.

    ``segment`` returns every mask it finds (an empty list when there is none), in the
    segmenter's own order (use :func:`resem3d_perception.masks.postprocess_masks` for the
    filtered, deterministically ordered list). ``segment_prompted`` returns the one mask
    selected by point and/or box prompts (for region refinement).

    Both raise :class:`PerceptionInputError` (one line) on malformed inputs: a colour image
    that is not ``(H, W, 3) uint8``, a depth image that is not ``(H, W)`` float of the same
    size, or a malformed prompt (see :func:`check_prompt`); ``segment_prompted`` raises
    :class:`PerceptionError` when no mask can be produced for the prompt.
    """

    name: str

    def segment(self, color: np.ndarray, depth_m: np.ndarray | None = None) -> list[Mask]:
        """All masks of an ``(H, W, 3)`` uint8 RGB image (``depth_m``: optional ``(H, W)`` m)."""
        ...

    def segment_prompted(self, color: np.ndarray, *, points_px: Any = None,
                         point_labels: Any = None, box_px: Any = None) -> Mask:
        """The mask selected by ``(x, y)`` points (labels 1 = fg, 0 = bg) and/or a box."""
        ...


def _coerce(cls_name: str, name: str, default: Any, value: Any) -> Any:
    """Check ``value`` against the type of a field's default and convert lists to tuples."""
    where = f'{cls_name}.{name}'
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            raise PerceptionInputError(f'{where}: expected true/false, got {value!r}')
        return bool(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise PerceptionInputError(f'{where}: expected an integer, got {value!r}')
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(float(value)):
            raise PerceptionInputError(f'{where}: expected a finite number, got {value!r}')
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise PerceptionInputError(f'{where}: expected a string, got {value!r}')
        return value
    if isinstance(default, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise PerceptionInputError(f'{where}: expected a list, got {value!r}')
        return tuple(value)
    return value


def config_from_mapping(cls: type[_C], mapping: Mapping[str, Any] | None) -> _C:
    """Build a config dataclass from a mapping (missing keys keep their defaults).

    Values are checked against the type of each field's default (lists become tuples); the
    dataclass's own ``__post_init__`` checks ranges.

    Raises:
        PerceptionInputError: On a non-mapping, unknown keys or values of the wrong type.
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise PerceptionInputError(f'{cls.__name__} config must be a mapping, got {mapping!r}')
    known = {f.name: f for f in fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise PerceptionInputError(f'unknown {cls.__name__} keys {unknown}; known: '
                                   f'{sorted(known)}')
    values = {}
    for key, value in mapping.items():
        default = known[key].default
        values[key] = _coerce(cls.__name__, key, default, value)
    return cls(**values)


def make_segmenter(config: Mapping[str, Any]) -> Segmenter:
    """Build the segmenter named by ``config['name']``.

    Args:
        config: ``{'name': 'sam' | 'sim', 'sam': {...}, 'sim': {...}}``; the sub-mapping of
            the chosen name configures it (:class:`~resem3d_perception.segmenters.sam.SamConfig`
            or :class:`~resem3d_perception.segmenters.sim.SimSegmenterConfig`); the other one
            is ignored. The ``sam`` backend (torch) is imported only when chosen.

    Raises:
        PerceptionInputError: On a missing or unknown name, unknown keys or bad values.
        CheckpointError: (``sam``) on a missing or mismatched checkpoint.
        PerceptionError: (``sam``) when the requested device is unavailable.
    """
    if not isinstance(config, Mapping):
        raise PerceptionInputError(f'segmenter config must be a mapping, got {config!r}')
    unknown = sorted(set(config) - {'name', *SEGMENTER_NAMES})
    if unknown:
        raise PerceptionInputError(f'unknown segmenter config keys {unknown}; known: '
                                   f"['name', {', '.join(repr(n) for n in SEGMENTER_NAMES)}]")
    name = config.get('name')
    if name not in SEGMENTER_NAMES:
        raise PerceptionInputError(f'unknown segmenter {name!r}; known: '
                                   f'{", ".join(SEGMENTER_NAMES)}')
    section = config.get(name) or {}
    if name == 'sam':
        from .sam import SamSegmenter  # torch and segment-anything load only when asked for
        return SamSegmenter.from_mapping(section)
    from .sim import SimSegmenter
    return SimSegmenter.from_mapping(section)


def no_mask_error(what: str) -> PerceptionError:
    """The error ``segment_prompted`` raises when the prompt selects nothing."""
    return PerceptionError(f'segment_prompted: {what}')
