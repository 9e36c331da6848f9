"""One object per run that feeds every recorder: :class:`Recorder`.

``resem3d.outputs.RunOutputs`` builds it with ``Recorder(directory, info)`` when the run starts
and forwards the loop's calls. It writes, in the run's directory:

* ``video.mp4``: every camera frame, annotated (:func:`~.annotate.annotate_frame`) with the
  active constraints, the refined regions and a legend (stage, largest residual, time);
* ``run.mcap``: a ROS 2 bag (:class:`~.mcap_writer.McapRecorder`) with camera images, depth,
  camera info and a coloured cloud at ``bag_camera_hz``, joint states, object poses, constraint
  markers and residuals, in simulated time;
* ``report.html`` (:func:`~.report.write_report`) at :meth:`Recorder.finish`, from the run's
  metrics, the plan, the marked images and the residuals seen on the frames.

A failing output (a codec, a full disk) is closed and dropped; the others go on, and the
report lists what failed (:attr:`Recorder.errors`). Call from one thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .annotate import annotate_frame
from .overlays import CameraView, ConstraintOverlay, RegionOverlay
from .report import RatesReport, ReportImage, ResidualSeries, RunReport, SubtaskReport, \
    write_report
from .video import VideoWriter

__all__ = ['Recorder', 'RecorderConfig', 'depth_to_points_base']

_LOG = logging.getLogger(__name__)

#: Keys of the run's metrics shown in the report's "Other metrics" table when present.
_EXTRA_METRICS = ('failed_step', 'segmenter', 'disturbance', 'monitor')


@dataclass(frozen=True)
class RecorderConfig:
    """What the recorder writes.

    Attributes:
        video: Write ``video.mp4``.
        mcap: Write ``run.mcap``.
        report: Write ``report.html`` at :meth:`Recorder.finish`.
        bag_camera_hz: Camera frames (colour, depth, info, cloud) per second of simulated
            time in the bag (None = all; a 640x480 RGB-D frame is ~2 MB before compression).
        bag_joint_state_hz: Joint states per second of simulated time in the bag.
        cloud_stride_px: Pixel step of the cloud back-projected from depth for the bag.
    """

    video: bool = True
    mcap: bool = True
    report: bool = True
    bag_camera_hz: float | None = 5.0
    bag_joint_state_hz: float | None = 100.0
    cloud_stride_px: int = 8


def depth_to_points_base(depth_m: np.ndarray, view: CameraView, stride_px: int,
                         rgb: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project every ``stride_px``-th pixel with depth > 0 to the base frame.

    Returns:
        ``(points_base (N, 3) [m], colours (N, 3) uint8 or None)``.
    """
    depth = np.asarray(depth_m, dtype=float)[::stride_px, ::stride_px]
    rows, cols = np.nonzero(np.isfinite(depth) & (depth > 0.0))
    z = depth[rows, cols]
    u, v = cols * stride_px, rows * stride_px
    p_cam = np.stack([(u - view.cx) * z / view.fx, (v - view.cy) * z / view.fy, z], axis=1)
    p_base = p_cam @ view.T_base_cam[:3, :3].T + view.T_base_cam[:3, 3]
    colors = None if rgb is None else np.asarray(rgb)[v, u]
    return p_base, colors


def _get(mapping: Any, *keys: str, default: Any = None) -> Any:
    """``mapping[k0][k1]...`` or ``default`` when any level is missing or None."""
    value = mapping
    for key in keys:
        if not isinstance(value, Mapping) or value.get(key) is None:
            return default
        value = value[key]
    return value


class Recorder:
    """Records one run into ``directory`` (see the module docstring).

    Args:
        directory: The run's directory (created if missing).
        info: Facts known at the start; all optional: ``task``, ``seed``, ``instruction``,
            ``camera_hz`` [Hz] (the video's frame rate; default 15), ``backend``, ``model``,
            ``from_oracle``.
        config: What to write.
    """

    def __init__(self, directory: str | os.PathLike[str], info: Mapping[str, Any],
                 config: RecorderConfig = RecorderConfig()) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.info = dict(info)
        self.config = config
        self.errors: list[str] = []
        self._video: VideoWriter | None = None
        self._video_failed = not config.video
        self._bag: Any = None
        if config.mcap:
            self._guard('mcap', self._open_bag)
        self._images: list[ReportImage] = []
        self._plan: Mapping[str, Any] | None = None
        self._stage_events: list[tuple[float, str]] = []
        self._series: dict[str, tuple[str, str, list[float], list[float]]] = {}
        self._finished = False

    # -- helpers -----------------------------------------------------------------------

    def _open_bag(self) -> None:
        from .mcap_writer import McapRecorder
        self._bag = McapRecorder(self.directory / 'run.mcap',
                                 joint_state_rate_hz=self.config.bag_joint_state_hz,
                                 camera_rate_hz=self.config.bag_camera_hz)

    def _note(self, text: str) -> None:
        """Remember a recording problem once (shown in the report's notes)."""
        text = ' '.join(text.split())
        if text not in self.errors:
            self.errors.append(text)

    def _guard(self, output: str, action: Any, *args: Any) -> Any:
        """Run ``action``; on failure drop ``output`` (closing it) and note why."""
        try:
            return action(*args)
        except Exception as error:  # noqa: BLE001 (one output failing must not stop the rest)
            text = f'{output}: {type(error).__name__}: {" ".join(str(error).split())}'
            _LOG.warning('recording stopped for %s', text)
            self._note(text)
            if output == 'video':
                self._video_failed = True
                video, self._video = self._video, None
                if video is not None:
                    video.close()
            elif output == 'mcap':
                bag, self._bag = self._bag, None
                if bag is not None:
                    try:
                        bag.close()
                    except Exception:  # noqa: BLE001 (already failing; keep the first error)
                        pass
            return None

    # -- what the loop calls -----------------------------------------------------------

    def frame(self, frame: Any, annotations: Mapping[str, Any] | None = None) -> None:
        """One camera frame and what to draw and record with it.

        Args:
            frame: ``color`` (H, W, 3) uint8, ``depth_m`` (H, W) [m] or None, ``T_base_cam``
                (4, 4), ``intrinsics`` (``fx fy cx cy``), ``stamp_s`` (simulated time [s]),
                e.g. a ``resem3d_sim.camera.RgbdFrame``.
            annotations: All optional: ``subtask`` and ``stage`` (names), ``constraints``
                (:class:`~.overlays.ConstraintOverlay` list, base frame, with residuals),
                ``regions`` (:class:`~.overlays.RegionOverlay` list), ``tracks`` (object
                name -> ``{'T_base_obj': 4x4, ...}``).
        """
        notes = dict(annotations or {})
        try:
            t_s = float(frame.stamp_s)
            view = CameraView.from_intrinsics(frame.intrinsics, frame.T_base_cam)
        except (AttributeError, TypeError, ValueError) as error:
            self._note(f'frame skipped: {type(error).__name__}: {error}')
            return
        stage = str(notes.get('stage') or '')
        constraints: Sequence[ConstraintOverlay] = notes.get('constraints') or ()
        regions: Sequence[RegionOverlay] = notes.get('regions') or ()
        self._collect_residuals(t_s, stage, constraints)
        if not self._video_failed:
            self._guard('video', self._write_video, frame, view, stage, constraints, regions,
                        t_s)
        if self._bag is not None:
            self._guard('mcap', self._write_bag, frame, view, t_s, stage, constraints,
                        notes.get('tracks') or {})

    def _write_video(self, frame: Any, view: CameraView, stage: str,
                     constraints: Sequence[ConstraintOverlay],
                     regions: Sequence[RegionOverlay], t_s: float) -> None:
        image = annotate_frame(frame.color, view=view, regions=regions, constraints=constraints,
                               stage=stage, t_s=t_s)
        if self._video is None:
            height, width = image.shape[:2]
            self._video = VideoWriter(self.directory / 'video.mp4',
                                      fps=float(self.info.get('camera_hz') or 15.0),
                                      size=(width, height))
        self._video.write(image)

    def _write_bag(self, frame: Any, view: CameraView, t_s: float, stage: str,
                   constraints: Sequence[ConstraintOverlay], tracks: Mapping[str, Any]) -> None:
        bag = self._bag
        bag.write_camera_pose(t_s, frame.T_base_cam)
        depth = getattr(frame, 'depth_m', None)
        if bag.write_camera(t_s, rgb=frame.color, depth_m=depth, intrinsics=frame.intrinsics) \
                and depth is not None:
            points, colors = depth_to_points_base(depth, view, self.config.cloud_stride_px,
                                                  frame.color)
            bag.write_cloud(t_s, points, colors)
        poses = {name: track['T_base_obj'] for name, track in tracks.items()
                 if isinstance(track, Mapping) and track.get('T_base_obj') is not None}
        if poses:
            bag.write_object_poses(t_s, poses)
        if constraints:
            bag.write_constraints(t_s, constraints)
            bag.write_residuals(
                t_s, stage, [c.name for c in constraints],
                [np.nan if c.residual is None else c.residual for c in constraints],
                [np.nan if c.tolerance is None else c.tolerance for c in constraints])

    def _collect_residuals(self, t_s: float, stage: str,
                           constraints: Sequence[ConstraintOverlay]) -> None:
        for c in constraints:
            if c.residual is None:
                continue
            key = f'{stage}/{c.name}' if stage else c.name
            series = self._series.setdefault(key, (stage, c.unit, [], []))
            series[2].append(t_s)
            series[3].append(c.residual)

    def joint_state(self, t_s: float, position: Sequence[float],
                    velocity: Sequence[float] | None = None,
                    effort: Sequence[float] | None = None) -> None:
        """Joint state at a controller tick (call every tick; the bag keeps
        ``bag_joint_state_hz``): Panda joints 1..7 [rad] and the two finger joints [m]."""
        if self._bag is not None:
            self._guard('mcap', self._bag.write_joint_state, t_s, position, velocity, effort)

    def image(self, title: str, rgb: np.ndarray, caption: str = '') -> None:
        """An image for the report, e.g. the set-of-marks image the model was shown."""
        self._images.append(ReportImage(str(title), np.asarray(rgb).copy(), str(caption)))

    def plan(self, plan: Mapping[str, Any]) -> None:
        """The plan as JSON values (``PlanResult.to_json()``: ``subtasks`` with ``name``,
        ``goal`` and ``program``; optional ``model_latency_s`` per step)."""
        self._plan = plan

    def event(self, event: Mapping[str, Any]) -> None:
        """Something happened. A stage start (``kind: stage`` with ``t_start_s``, ``stage``
        and ``subtask``) becomes a marker on the residual plots."""
        if event.get('kind') == 'stage' and event.get('t_start_s') is not None:
            label = '/'.join(str(event[k]) for k in ('subtask', 'stage') if event.get(k))
            self._stage_events.append((float(event['t_start_s']), label))

    # -- the end -----------------------------------------------------------------------

    def close(self) -> dict[str, str]:
        """Close the video and the bag (idempotent); return the files written."""
        files: dict[str, str] = {}
        video, self._video = self._video, None
        if video is not None and video.close() > 0:
            files['video'] = str(video.path)
        bag, self._bag = self._bag, None
        if bag is not None:
            self._guard('mcap', bag.close)
            files['mcap'] = str(bag.path)
        return files

    def finish(self, metrics: Mapping[str, Any]) -> dict[str, str]:
        """Close everything and write the report from the run's ``metrics`` (the dict of
        ``metrics.json``; keys read when present: ``task seed instruction success reason
        sim_s wall_s realtime_factor subtasks stages controller camera tracking mllm
        from_oracle`` and those in the "Other metrics" table). Returns output name -> path."""
        files = self.close()
        if self.config.report and not self._finished:
            report = self._guard('report', self.build_report, metrics,
                                 Path(files['video']).name if 'video' in files else '')
            if report is not None and self._guard(
                    'report', write_report, self.directory / 'report.html', report) is not None:
                files['report'] = str(self.directory / 'report.html')
        self._finished = True
        return files

    def build_report(self, metrics: Mapping[str, Any], video: str = '') -> RunReport:
        """The :class:`~.report.RunReport` of this run (see :meth:`finish`)."""
        info = self.info
        mllm = _get(metrics, 'mllm', default={})
        latency = _get(self._plan, 'model_latency_s', default=_get(mllm, 'latency_s'))
        latency_by_step = dict(latency) if isinstance(latency, Mapping) else {}
        total_latency = sum(latency_by_step.values()) if latency_by_step else latency
        rates = RatesReport(
            controller_rate_hz=_get(metrics, 'controller', 'rate_hz'),
            controller_p50_us=_get(metrics, 'controller', 'step_us_p50'),
            controller_p99_us=_get(metrics, 'controller', 'step_us_p99'),
            camera_hz=_get(metrics, 'camera', 'hz', default=info.get('camera_hz')),
            tracking_p50_ms=_get(metrics, 'tracking', 'ms_p50'),
            tracking_p95_ms=_get(metrics, 'tracking', 'ms_p95'),
            tracking_p99_ms=_get(metrics, 'tracking', 'ms_p99'),
            mllm_calls=_get(mllm, 'total_calls'),
            mllm_latency_s=total_latency if not isinstance(total_latency, Mapping) else None,
            mllm_calls_by_step=dict(_get(mllm, 'calls', default={})),
            mllm_latency_by_step_s=latency_by_step,
            realtime_factor=_get(metrics, 'realtime_factor'))
        residuals = [ResidualSeries(name, t, r, unit=unit, stage=stage)
                     for name, (stage, unit, t, r) in self._series.items()]
        notes = list(self.errors)
        if video and not video.endswith('.mp4'):
            notes.append(f'the video is {video}: no MP4 codec was available')
        return RunReport(
            run_id=self.directory.name,
            instruction=str(_get(metrics, 'instruction', default=info.get('instruction', ''))),
            task=str(_get(metrics, 'task', default=info.get('task', ''))),
            seed=int(_get(metrics, 'seed', default=info.get('seed', 0))),
            backend=str(_get(mllm, 'backend', default=info.get('backend', ''))),
            model=str(_get(mllm, 'model', default=info.get('model') or '')),
            from_oracle=bool(_get(metrics, 'from_oracle', default=info.get('from_oracle'))),
            success=_get(metrics, 'success'), success_reason=str(_get(metrics, 'reason',
                                                                      default='')),
            subtasks=self._subtasks(metrics), images=list(self._images), residuals=residuals,
            stage_events=list(self._stage_events), rates=rates,
            sim_duration_s=_get(metrics, 'sim_s'), wall_s=_get(metrics, 'wall_s'), video=video,
            metrics={k: metrics[k] for k in _EXTRA_METRICS if _get(metrics, k) is not None},
            notes=notes)

    def _subtasks(self, metrics: Mapping[str, Any]) -> list[SubtaskReport]:
        """The plan's subtasks (with programs when :meth:`plan` was given) and outcomes from
        the stage records in ``metrics['stages']``."""
        planned = _get(self._plan, 'subtasks', default=None) or _get(metrics, 'subtasks',
                                                                     default=[])
        stages = [s for s in _get(metrics, 'stages', default=[]) if isinstance(s, Mapping)]
        out = []
        for sub in planned:
            name = str(sub.get('name', ''))
            ran = [s for s in stages if s.get('subtask') == name]
            failed = [s for s in ran if not s.get('reached')]
            if failed:
                outcome = f'failed at {failed[0].get("stage")}: {failed[0].get("reason", "")}'
            elif ran:
                outcome = f'done ({len(ran)} stage(s))'
            else:
                outcome = 'not reached'
            out.append(SubtaskReport(name=name, goal=str(sub.get('goal') or ''),
                                     program=sub.get('program'), outcome=outcome))
        return out
