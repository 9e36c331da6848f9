"""Ground-truth part masks from the simulator's camera (a stand-in for a learned segmenter).

Input encoding (that of ``resem3d_sim.camera.RgbdFrame``, duck-typed; this module does not
import resem3d_sim): ``part_mask`` is an ``(H, W)`` integer image whose value at ``[row, col]``
indexes ``labels``; ``labels[0] == ''`` is the background / unlabelled value (0), every other
entry is an 'object/part' name. The segmenter returns one :class:`Mask` per visible labelled
part, carrying that name in ``Mask.label`` and ``source='sim'``.

Use: ``seg.observe(frame)`` with the frame the colour image came from, then
``seg.segment(frame.color)`` (or ``seg.segment_frame(frame)`` for both at once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import PerceptionError, PerceptionInputError
from .base import Mask, check_color, check_depth, check_prompt, config_from_mapping, no_mask_error

__all__ = ['PartLabelledFrame', 'SimSegmenter', 'SimSegmenterConfig']


class PartLabelledFrame(Protocol):
    """Anything with a part-label image and its label table (e.g. ``RgbdFrame``)."""

    part_mask: np.ndarray
    labels: Sequence[str]


@dataclass(frozen=True)
class SimSegmenterConfig:
    """Parameters of :class:`SimSegmenter`.

    Attributes:
        exclude_objects: Object names (the part before '/') whose parts are never returned,
            e.g. the table and the robot when they carry labels.
        exclude_labels: Full 'object/part' labels never returned.
        min_area_px: Parts with fewer visible pixels are skipped (an absolute floor against
            single-pixel slivers; relative area filters live in :mod:`..masks`).
    """

    exclude_objects: tuple[str, ...] = ('table', 'robot', 'panda', 'floor')
    exclude_labels: tuple[str, ...] = ()
    min_area_px: int = 1

    def __post_init__(self) -> None:
        for name in ('exclude_objects', 'exclude_labels'):
            value = getattr(self, name)
            if not all(isinstance(v, str) and v for v in value):
                raise PerceptionInputError(f'SimSegmenterConfig.{name}: expected non-empty '
                                           f'strings, got {list(value)!r}')
        if self.min_area_px < 1:
            raise PerceptionInputError(f'SimSegmenterConfig.min_area_px must be >= 1, got '
                                       f'{self.min_area_px}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> SimSegmenterConfig:
        """Build from a config mapping (keys: the attribute names)."""
        return config_from_mapping(cls, mapping)

    def excludes(self, label: str) -> bool:
        """Whether ``label`` ('object/part', or '' for background) is never returned."""
        return (not label or label in self.exclude_labels
                or label.split('/', 1)[0] in self.exclude_objects)


def _check_part_frame(part_mask: Any, labels: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """Check a part-label image and its label table; return them as array and tuple."""
    if (not isinstance(part_mask, np.ndarray) or part_mask.ndim != 2
            or not np.issubdtype(part_mask.dtype, np.integer)):
        raise PerceptionInputError('part_mask: expected an (H, W) integer label image, got '
                                   f'{getattr(part_mask, "dtype", type(part_mask).__name__)} '
                                   f'of shape {np.shape(part_mask)}')
    if isinstance(labels, str) or not isinstance(labels, Sequence) \
            or not all(isinstance(lb, str) for lb in labels) or len(labels) == 0:
        raise PerceptionInputError(f'labels: expected a sequence of strings, got {labels!r:.80}')
    if labels[0] != '':
        raise PerceptionInputError(f"labels[0] must be '' (the background value 0), got "
                                   f'{labels[0]!r}')
    if part_mask.size and (part_mask.min() < 0 or part_mask.max() >= len(labels)):
        raise PerceptionInputError(f'part_mask values must index labels [0, {len(labels)}), '
                                   f'got range [{part_mask.min()}, {part_mask.max()}]')
    return part_mask, tuple(labels)


class SimSegmenter:
    """Ground-truth part masks of the last observed simulator frame.

    Args:
        config: Exclusions and the minimum area; None for defaults.
    """

    name = 'sim'

    def __init__(self, config: SimSegmenterConfig | None = None) -> None:
        self._config = config if config is not None else SimSegmenterConfig()
        self._part_mask: np.ndarray | None = None
        self._labels: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> SimSegmenter:
        """Build from a config mapping (see :class:`SimSegmenterConfig`)."""
        return cls(SimSegmenterConfig.from_mapping(mapping))

    @property
    def config(self) -> SimSegmenterConfig:
        """The parameters."""
        return self._config

    def observe(self, frame: PartLabelledFrame | None = None, *, part_mask: Any = None,
                labels: Any = None) -> None:
        """Take the ground truth of the frame the next colour images come from.

        Args:
            frame: An object with ``part_mask`` and ``labels`` (``RgbdFrame``), or None to
                pass them as keywords.
            part_mask: ``(H, W)`` integer index into ``labels``; 0 = background.
            labels: Label names; ``labels[0] == ''``.

        Raises:
            PerceptionInputError: On a malformed label image or table, or both forms given.
        """
        if frame is not None:
            if part_mask is not None or labels is not None:
                raise PerceptionInputError('observe: pass a frame or part_mask/labels, not both')
            part_mask = getattr(frame, 'part_mask', None)
            labels = getattr(frame, 'labels', None)
        self._part_mask, self._labels = _check_part_frame(part_mask, labels)

    def segment_frame(self, frame: Any) -> list[Mask]:
        """``observe(frame)`` then ``segment(frame.color, frame.depth_m)``."""
        self.observe(frame)
        return self.segment(frame.color, getattr(frame, 'depth_m', None))

    def _observed(self, color: Any, depth_m: Any = None) -> np.ndarray:
        check_color(color)
        if self._part_mask is None:
            raise PerceptionError('SimSegmenter has no ground truth yet: call observe(frame) '
                                  'with the frame the colour image comes from')
        if color.shape[:2] != self._part_mask.shape:
            raise PerceptionInputError(f'color: size {color.shape[:2]} does not match the '
                                       f'observed part_mask {self._part_mask.shape}')
        check_depth(depth_m, color.shape[:2])
        return self._part_mask

    def _candidates(self, counts: np.ndarray) -> list[int]:
        """Label indices that are visible (>= min_area_px) and not excluded, ascending."""
        return [i for i, n in enumerate(counts.tolist())
                if i > 0 and n >= self._config.min_area_px
                and not self._config.excludes(self._labels[i])]

    def _mask(self, part_mask: np.ndarray, index: int) -> Mask:
        return Mask(part_mask == index, score=1.0, label=self._labels[index], source='sim')

    def segment(self, color: np.ndarray, depth_m: np.ndarray | None = None) -> list[Mask]:
        """One mask per visible, non-excluded labelled part, in label-table order.

        Args:
            color: ``(H, W, 3)`` uint8 RGB image of the observed frame (checked for size only).
            depth_m: Optional ``(H, W)`` float depth (m); checked, not used.

        Raises:
            PerceptionInputError: On malformed inputs or a size that differs from the frame's.
            PerceptionError: If no frame was observed.
        """
        part_mask = self._observed(color, depth_m)
        counts = np.bincount(part_mask.ravel(), minlength=len(self._labels))
        return [self._mask(part_mask, i) for i in self._candidates(counts)]

    def segment_prompted(self, color: np.ndarray, *, points_px: Any = None,
                         point_labels: Any = None, box_px: Any = None) -> Mask:
        """The whole ground-truth part selected by the prompt.

        Foreground points vote for the part under them (background and excluded parts do not
        count; parts under background points are ruled out); the most voted part wins, ties
        going to the part with more pixels in the box, then to the earlier point. With no
        usable point vote, the box picks the candidate part with the most pixels inside it.
        The returned mask is the full part, not clipped to the box.

        Raises:
            PerceptionInputError: On malformed inputs (see ``check_prompt``).
            PerceptionError: If no frame was observed or the prompt selects no labelled part.
        """
        part_mask = self._observed(color)
        prompt = check_prompt(points_px, point_labels, box_px, part_mask.shape)
        counts = np.bincount(part_mask.ravel(), minlength=len(self._labels))
        allowed = set(self._candidates(counts))
        votes: dict[int, int] = {}  # insertion order = first point order
        if prompt.points_px is not None:
            pix = np.rint(prompt.points_px).astype(int)
            hit = part_mask[pix[:, 1], pix[:, 0]].tolist()  # [row, col] = [y, x]
            allowed -= {i for i, lb in zip(hit, prompt.point_labels) if lb == 0}
            for i, lb in zip(hit, prompt.point_labels):
                if lb == 1 and i in allowed:
                    votes[i] = votes.get(i, 0) + 1
        in_box = np.zeros(len(self._labels), dtype=np.int64)
        if prompt.box_px is not None:
            x0, y0, x1, y1 = prompt.box_px  # (x, y) = (col, row); pixels the box touches
            rows = slice(int(np.floor(y0)), int(np.ceil(y1)))
            window = part_mask[rows, int(np.floor(x0)):int(np.ceil(x1))]
            in_box = np.bincount(window.ravel(), minlength=len(self._labels))
        if votes:
            order = list(votes)
            best = max(order, key=lambda i: (votes[i], in_box[i], -order.index(i)))
            return self._mask(part_mask, best)
        boxed = [i for i in sorted(allowed) if in_box[i] > 0]
        if boxed:
            return self._mask(part_mask, max(boxed, key=lambda i: (in_box[i], -i)))
        raise no_mask_error('no labelled part under the prompt points or inside the box')
