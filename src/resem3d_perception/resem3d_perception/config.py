"""All perception parameters in one record, read from ``config/perception.yaml``.

The file has the ROS 2 parameter-file layout (``resem3d_perception: ros__parameters: ...``) so
that the perception node and the plain-Python cores read the same values. Each section is the
parameter dataclass of one module:

==============  ==========================================================================
``camera``      :class:`~resem3d_perception.cloud.Intrinsics` (RealSense D435 colour, 640x480)
``segmenter``   ``'sim'`` or ``'sam'`` (:func:`~resem3d_perception.segmenters.make_segmenter`)
``sam``         :class:`~resem3d_perception.segmenters.sam.SamConfig`
``sim``         :class:`~resem3d_perception.segmenters.sim.SimSegmenterConfig`
``masks``       :class:`~resem3d_perception.masks.MaskFilterConfig`
``marks``       :class:`~resem3d_perception.marks.MarkStyle`
``grid``        :class:`~resem3d_perception.marks.GridConfig`
``parts``       :class:`PartConfig` (keyword arguments of :func:`~.parts.part_from_mask`)
``tracker``     :class:`~resem3d_perception.tracking.TrackerConfig`
``scene_        :class:`~resem3d_perception.scene_tracker.SceneTrackingConfig` (the checks,
tracking``      searches and follow passes around the tracker)
==============  ==========================================================================

Missing keys keep their defaults; unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cloud import Intrinsics
from .errors import PerceptionInputError
from .marks import GridConfig, MarkStyle
from .masks import MaskFilterConfig
from .parts import DEFAULT_MIN_POINTS
from .segmenters.base import SEGMENTER_NAMES, config_from_mapping
from .segmenters.sim import SimSegmenterConfig

NODE_NAME = 'resem3d_perception'


def d435_intrinsics() -> Intrinsics:
    """Intrinsics of a RealSense D435 colour stream at 640x480 (depth aligned to it)."""
    return Intrinsics(width=640, height=480, fx=615.0, fy=615.0, cx=319.5, cy=239.5,
                      depth_min_m=0.1, depth_max_m=3.0)


@dataclass(frozen=True)
class PartConfig:
    """How a mask becomes a 3D part (see :func:`~resem3d_perception.parts.part_from_mask`).

    Attributes:
        erode_px: Mask erosion [px] before lifting (drops depth-edge pixels).
        outlier_neighbors: Neighbours of the statistical outlier filter.
        outlier_std_ratio: Its threshold [standard deviations].
        fill_missing: Give mask pixels without trusted depth the depth of the nearest trusted
            pixel (their points are flagged as not measured).
        min_points: Fewest points of a usable part.
    """

    erode_px: int = 1
    outlier_neighbors: int = 16
    outlier_std_ratio: float = 3.0
    fill_missing: bool = True
    min_points: int = DEFAULT_MIN_POINTS

    def __post_init__(self) -> None:
        if self.erode_px < 0 or self.outlier_neighbors < 1 or self.min_points < 1:
            raise PerceptionInputError('PartConfig: erode_px must be >= 0, outlier_neighbors '
                                       'and min_points >= 1')
        if not self.outlier_std_ratio > 0.0:
            raise PerceptionInputError('PartConfig.outlier_std_ratio must be > 0')

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`~resem3d_perception.parts.part_from_mask`."""
        return dataclasses.asdict(self)


def _sam_config() -> Any:
    from .segmenters.sam import SamConfig  # torch: imported only when SAM is configured
    return SamConfig()


def _tracker_config() -> Any:
    from .tracking import TrackerConfig    # open3d: imported only when tracking is configured
    return TrackerConfig()


def _scene_tracking_config() -> Any:
    from .scene_tracker import SceneTrackingConfig     # (imports the tracker: open3d)
    return SceneTrackingConfig()


@dataclass(frozen=True)
class PerceptionConfig:
    """Every perception parameter (one attribute per section, see the module docstring)."""

    camera: Intrinsics = field(default_factory=d435_intrinsics)
    segmenter: str = 'sim'
    sam: Any = field(default_factory=_sam_config)
    sim: SimSegmenterConfig = field(default_factory=SimSegmenterConfig)
    masks: MaskFilterConfig = field(default_factory=MaskFilterConfig)
    marks: MarkStyle = field(default_factory=MarkStyle)
    grid: GridConfig = field(default_factory=GridConfig)
    parts: PartConfig = field(default_factory=PartConfig)
    tracker: Any = field(default_factory=_tracker_config)
    scene_tracking: Any = field(default_factory=_scene_tracking_config)

    def __post_init__(self) -> None:
        if self.segmenter not in SEGMENTER_NAMES:
            raise PerceptionInputError(f'segmenter: unknown {self.segmenter!r}; known: '
                                       f'{", ".join(SEGMENTER_NAMES)}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> PerceptionConfig:
        """Build from ``{section: {key: value}}`` (missing sections and keys: defaults).

        Raises:
            PerceptionInputError: For unknown sections or keys and invalid values.
        """
        from .scene_tracker import SceneTrackingConfig
        from .segmenters.sam import SamConfig
        from .tracking import TrackerConfig
        mapping = {} if mapping is None else mapping
        if not isinstance(mapping, Mapping):
            raise PerceptionInputError(f'perception config must be a mapping, got {mapping!r}')
        builders = {'camera': Intrinsics.from_mapping, 'sam': SamConfig.from_mapping,
                    'sim': SimSegmenterConfig.from_mapping,
                    'masks': MaskFilterConfig.from_mapping, 'marks': MarkStyle.from_mapping,
                    'grid': GridConfig.from_mapping,
                    'parts': lambda m: config_from_mapping(PartConfig, m),
                    'tracker': TrackerConfig.from_mapping,
                    'scene_tracking': lambda m: config_from_mapping(SceneTrackingConfig, m)}
        unknown = sorted(set(mapping) - set(builders) - {'segmenter'})
        if unknown:
            raise PerceptionInputError(f'unknown perception config sections {unknown}; known: '
                                       f'{sorted([*builders, "segmenter"])}')
        values: dict[str, Any] = {name: build(mapping[name]) for name, build in builders.items()
                                  if name in mapping}
        if 'segmenter' in mapping:
            values['segmenter'] = mapping['segmenter']
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PerceptionConfig:
        """Read a ROS 2 parameter file with a ``resem3d_perception`` section.

        Raises:
            PerceptionInputError: If the file is missing, not YAML, has no such section, or
                holds invalid values.
        """
        import yaml
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding='utf-8'))
        except OSError as error:
            raise PerceptionInputError(f'{path}: cannot read: {error.strerror}') from None
        except yaml.YAMLError as error:
            raise PerceptionInputError(f'{path}: not YAML: {str(error).splitlines()[0]}'
                                       ) from None
        try:
            section = document[NODE_NAME]['ros__parameters']
        except (TypeError, KeyError):
            raise PerceptionInputError(f'{path}: no {NODE_NAME}: ros__parameters: section'
                                       ) from None
        try:
            return cls.from_mapping(section)
        except PerceptionInputError as error:
            raise PerceptionInputError(f'{path}: {error}') from None

    def segmenter_config(self) -> dict[str, Any]:
        """The mapping :func:`~resem3d_perception.segmenters.make_segmenter` takes."""
        return {'name': self.segmenter, 'sam': dataclasses.asdict(self.sam),
                'sim': dataclasses.asdict(self.sim)}

    def to_mapping(self) -> dict[str, Any]:
        """Plain ``{section: {key: value}}`` (tuples as lists), as written to YAML."""
        def plain(value: Any) -> Any:
            if isinstance(value, (tuple, list)):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value if isinstance(value, str) else plain(dataclasses.asdict(value))
        return out
