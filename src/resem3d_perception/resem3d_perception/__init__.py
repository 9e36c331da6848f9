"""resem3d_perception: the eyes of resem3d.

RGB-D frames become point clouds in the robot base frame (:mod:`.cloud`), part masks from
segment-anything or the simulator's ground truth (:mod:`.segmenters`, :mod:`.masks`), numbered
visual marks and label grids for the MLLM (:mod:`.marks`), 3D parts and refined regions in
their object's frame (:mod:`.parts`), and 6-DoF object poses tracked every frame
(:mod:`.tracking`), kept trustworthy and following by :mod:`.scene_tracker` (with
:mod:`.depth_checks`, :mod:`.object_search`, :mod:`.slide_joint`, :mod:`.held_pivot`).

The perception node (:mod:`.node`, the only module that imports ROS) is a thin adapter over
:mod:`.service` (frames paired by :mod:`.frame_sync`, objects tracked by :mod:`.scene_tracker`)
and :mod:`.ros_conversions` (images, camera info, point clouds and marks <-> messages).

The heavy backends load on first use: ``SamSegmenter``/``SamConfig`` import torch and
segment-anything, and the tracking names import open3d.
"""

from typing import Any

from .cloud import (Cloud, Intrinsics, as_intrinsics, check_rigid, depth_to_cloud, invert_rigid,
                    project_base_points, transform_points)
from .errors import (CheckpointError, EmptyRegionError, PerceptionError, PerceptionInputError,
                     TrackingError)
from .marks import (GridCell, GridConfig, LabelGrid, Mark, MarkedImage, MarkStyle, draw_marks,
                    make_label_grid, save_png)
from .masks import MaskFilterConfig, postprocess_masks
from .parts import (Part, RefinedRegion, cells_subregion, estimate_object_frame, part_from_mask,
                    parts_from_label_image, principal_axes, region_in_object_frame, rim_centre,
                    tip, top_surface)
from .segmenters import Mask, Segmenter, SimSegmenter, SimSegmenterConfig, make_segmenter

_LAZY = {
    'SamConfig': '.segmenters.sam', 'SamSegmenter': '.segmenters.sam',
    'MultiTracker': '.tracking', 'ObjectTrack': '.tracking', 'TrackerConfig': '.tracking',
    'TrackResult': '.tracking', 'TrackStatus': '.tracking', 'pose_error': '.tracking',
}

__all__ = [
    'CheckpointError', 'Cloud', 'EmptyRegionError', 'GridCell', 'GridConfig', 'Intrinsics',
    'LabelGrid', 'Mark', 'MarkStyle', 'MarkedImage', 'Mask', 'MaskFilterConfig', 'Part',
    'PerceptionError', 'PerceptionInputError', 'RefinedRegion', 'Segmenter', 'SimSegmenter',
    'SimSegmenterConfig', 'TrackingError', 'as_intrinsics', 'cells_subregion', 'check_rigid',
    'depth_to_cloud', 'draw_marks', 'estimate_object_frame', 'invert_rigid', 'make_label_grid',
    'make_segmenter', 'part_from_mask', 'parts_from_label_image', 'postprocess_masks',
    'principal_axes', 'project_base_points', 'region_in_object_frame', 'rim_centre',
    'save_png', 'tip', 'top_surface', 'transform_points', *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the torch (SAM) and open3d (tracking) backends only when their names are used."""
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
