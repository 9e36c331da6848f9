"""What a run leaves in its directory, behind one small class: :class:`RunOutputs`.

``runs/<id>/`` (or ``--out DIR``) holds ``metrics.json`` (always), ``transcript/`` (every model
exchange, written by the reasoning's ``RecordingClient``), and, when the recording package
``resem3d.record`` is installed, what it writes (video, annotated frames, report, mcap). Every
recording call of the run goes through this class, so the recorder plugs in here only.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ['RunOutputs', 'new_run_dir', 'to_json']


def new_run_dir(root: str | Path, task: str, seed: int) -> Path:
    """A new directory ``<root>/<date-time>-<task>-s<seed>[-n]`` (created)."""
    root = Path(root)
    stem = f'{time.strftime("%Y%m%d-%H%M%S")}-{re.sub(r"[^A-Za-z0-9_.-]", "_", task)}-s{seed}'
    for n in range(1000):
        path = root / (stem if n == 0 else f'{stem}-{n}')
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f'{root}: no free run directory for {stem}')


def to_json(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    return value


class RunOutputs:
    """The outputs of one run.

    Args:
        directory: The run's directory (created if missing).
        record: Use the recorder (``resem3d.record``) when it is installed.
    """

    def __init__(self, directory: str | Path, record: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.recorder: Any = None
        self.record_error: str | None = None
        self._want_record = record
        self.files: dict[str, str] = {}

    @property
    def metrics_path(self) -> Path:
        return self.directory / 'metrics.json'

    @property
    def transcript_dir(self) -> Path:
        return self.directory / 'transcript'

    # --- recording hooks (no-ops without the recorder) --------------------------------------

    def start(self, info: dict[str, Any]) -> None:
        """The run starts: task, seed, instruction, camera (``info``)."""
        if not self._want_record:
            return
        try:
            from . import record  # noqa: F401  (optional: written beside this module)
        except ImportError:
            return
        self._call('start', info)

    @property
    def recording(self) -> bool:
        """Whether a recorder takes the calls below (the run skips building their data when
        not)."""
        return self.recorder is not None

    def frame(self, frame: Any, annotations: dict[str, Any]) -> None:
        """A camera frame the loop tracked, with what to draw on it."""
        if self.recorder is not None:
            self._call('frame', frame, annotations)

    def joint_state(self, t_s: float, position: Any, velocity: Any = None) -> None:
        """The arm's and fingers' joint state at simulated time ``t_s``."""
        if self.recorder is not None:
            self._call('joint_state', t_s, position, velocity)

    def image(self, title: str, rgb: Any, caption: str = '') -> None:
        """An image for the report (the marked image the model was shown)."""
        if self.recorder is not None:
            self._call('image', title, rgb, caption)

    def plan(self, plan: dict[str, Any]) -> None:
        """The plan as JSON values (``PlanResult.to_json()``)."""
        if self.recorder is not None:
            self._call('plan', plan)

    def event(self, event: dict[str, Any]) -> None:
        """Something happened (stage end, grasp, disturbance, re-grounding)."""
        if self.recorder is not None:
            self._call('event', event)

    def _call(self, method: str, *args: Any) -> None:
        """Forward to the recorder; a recorder failure stops recording, never the run."""
        try:
            if method == 'start':
                self.recorder = _make_recorder(self.directory, *args)
            elif self.recorder is not None:
                getattr(self.recorder, method)(*args)
        except Exception as error:  # noqa: BLE001 (recording is best effort)
            self.record_error = f'{method}: {type(error).__name__}: {error}'
            self.recorder = None

    # --- the end ----------------------------------------------------------------------------

    def finish(self, metrics: dict[str, Any]) -> dict[str, str]:
        """Write ``metrics.json`` (and let the recorder finish); returns the output paths."""
        if self.recorder is not None:
            try:
                written = self.recorder.finish(metrics) or {}
                self.files.update({k: str(v) for k, v in dict(written).items()})
            except Exception as error:  # noqa: BLE001 (recording is best effort)
                self.record_error = f'finish: {type(error).__name__}: {error}'
        if self.transcript_dir.is_dir():
            self.files['transcript'] = str(self.transcript_dir)
        self.files['metrics'] = str(self.metrics_path)
        metrics = dict(metrics)
        metrics['outputs'] = dict(self.files)
        if self.record_error:
            metrics['record_error'] = self.record_error
        self.metrics_path.write_text(json.dumps(to_json(metrics), indent=2) + '\n',
                                     encoding='utf-8')
        return dict(self.files)


def _make_recorder(directory: Path, info: dict[str, Any]) -> Any:
    """The recorder of ``resem3d.record`` for a run directory (None if it offers none)."""
    from . import record
    factory = getattr(record, 'Recorder', None)
    if factory is None:
        return None
    return factory(directory, info)
