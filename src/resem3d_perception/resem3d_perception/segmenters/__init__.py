"""Segmenters behind one interface: segment-anything ('sam') and simulator ground truth ('sim').

``make_segmenter({'name': 'sam' | 'sim', 'sam': {...}, 'sim': {...}})`` builds one. The SAM
backend imports torch and segment-anything, so it is loaded lazily: ``SamSegmenter``,
``SamConfig`` and the other names of :mod:`.sam` are imported on first access.
"""

from __future__ import annotations

from typing import Any

from .base import (SEGMENTER_NAMES, Mask, Prompt, Segmenter, check_color, check_depth,
                   check_mask_array, check_prompt, config_from_mapping, make_segmenter)
from .sim import PartLabelledFrame, SimSegmenter, SimSegmenterConfig

_LAZY_SAM = ('SAM_CHECKPOINTS', 'SAM_MODEL_TYPES', 'SamConfig', 'SamSegmenter',
             'build_sam_model', 'load_sam_model')

__all__ = [
    'Mask', 'PartLabelledFrame', 'Prompt', 'SEGMENTER_NAMES', 'Segmenter', 'SimSegmenter',
    'SimSegmenterConfig', 'check_color', 'check_depth', 'check_mask_array', 'check_prompt',
    'config_from_mapping', 'make_segmenter', *_LAZY_SAM,
]


def __getattr__(name: str) -> Any:
    """Import the SAM backend (torch) only when one of its names is used."""
    if name in _LAZY_SAM:
        from . import sam
        return getattr(sam, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
