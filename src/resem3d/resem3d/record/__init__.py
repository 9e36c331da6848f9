"""Run recorders of ``resem3d run``: what a run leaves in ``runs/<id>/``.

* :mod:`.recorder`: :class:`Recorder`, the one object a run feeds (frames, joint states,
  events, the plan, marked images); it drives the three writers below and writes the report
  at the end. ``resem3d.outputs.RunOutputs`` builds it as ``Recorder(directory, info)``.
* :mod:`.annotate`: draw marks, refined regions, constraint anchors/targets and a legend on a
  camera frame (:func:`annotate_frame`); the value types it draws are in :mod:`.overlays`.
* :mod:`.video`: :class:`VideoWriter`, annotated frames to ``video.mp4`` (OpenCV).
* :mod:`.report`: :class:`RunReport` and :func:`write_report`, one self-contained
  ``report.html`` (embedded PNGs, inline SVG residual plots, no network, all model text
  escaped).
* :mod:`.mcap_writer`: :class:`McapRecorder`, a ROS 2 bag in one MCAP file (``run.mcap``)
  written without ROS; :mod:`.ros_messages` builds its messages; ``msgs/*.msg`` holds
  resem3d's own message definitions (``resem3d_msgs/msg/ConstraintResidual``) until the
  ``resem3d_msgs`` package exists.

Importing this package needs numpy and OpenCV only; :class:`McapRecorder` (imported on first
use) needs ``mcap`` and ``rosbags``.
"""

from __future__ import annotations

from typing import Any

from .annotate import AnnotateStyle, annotate_frame
from .overlays import Box3D, CameraView, ConstraintOverlay, MarkOverlay, RegionOverlay
from .recorder import Recorder, RecorderConfig
from .report import (RatesReport, ReportImage, ResidualSeries, RunReport, SubtaskReport,
                     write_report)
from .video import VideoCodecWarning, VideoError, VideoWriter

__all__ = ['AnnotateStyle', 'Box3D', 'CameraView', 'ConstraintOverlay', 'MarkOverlay',
           'McapFrames', 'McapRecorder', 'McapTopics', 'RatesReport', 'Recorder',
           'RecorderConfig', 'RegionOverlay', 'ReportImage', 'ResidualSeries', 'RunReport',
           'SubtaskReport', 'VideoCodecWarning', 'VideoError', 'VideoWriter', 'annotate_frame',
           'write_report']

_MCAP_NAMES = ('McapFrames', 'McapRecorder', 'McapTopics')


def __getattr__(name: str) -> Any:
    """Import the MCAP recorder (mcap, rosbags) only when it is asked for."""
    if name in _MCAP_NAMES:
        from . import mcap_writer
        return getattr(mcap_writer, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
