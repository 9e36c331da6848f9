# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""Pair colour and aligned depth images into RGB-D frames by their stamps.

A RealSense publishes colour and aligned depth on separate topics; their stamps agree to a
few milliseconds (exactly with ``enable_sync``), and either may arrive first. The
:class:`FrameSync` keeps the last few images of each stream and pairs an arriving image with
the queued image of the other stream nearest in time, when that is within ``tolerance_s``
(approximate time synchronisation, like message_filters' ``ApproximateTimeSynchronizer`` for
two streams). The camera intrinsics are the latest camera info (they do not change while the
stream runs). Optionally a third stream, the simulator's ground-truth part labels, is paired
with the colour image the same way (for the ``sim`` segmenter).

Times are integer nanoseconds (ROS stamps). Not thread-safe: the caller serialises calls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .cloud import Intrinsics
from .errors import PerceptionInputError

__all__ = ['CameraFrame', 'FrameSync']


@dataclass(frozen=True, eq=False)
class CameraFrame:
    """One RGB-D frame: colour and depth aligned to it, with the camera model.

    Attributes:
        stamp_ns: Time of the colour image [ns].
        color: ``(H, W, 3)`` uint8 RGB.
        depth_m: ``(H, W)`` float32 depth along the optical axis [m]; NaN (or 0) = none.
        intrinsics: Pinhole model of the colour image (and the aligned depth).
        camera_frame: Name of the colour optical frame (``camera_color_optical_frame``).
        part_mask: ``(H, W)`` integer ground-truth part labels (simulation), or None.
        labels: The label table of ``part_mask`` (``labels[0] == ''``), or ().
    """

    stamp_ns: int
    color: np.ndarray
    depth_m: np.ndarray
    intrinsics: Intrinsics
    camera_frame: str = ''
    part_mask: np.ndarray | None = None
    labels: tuple[str, ...] = ()

    @property
    def stamp_s(self) -> float:
        """Time of the frame [s]."""
        return self.stamp_ns * 1e-9


class FrameSync:
    """Approximate-time pairing of colour and depth images (see the module docstring).

    Args:
        tolerance_s: Largest stamp difference [s] of a colour and a depth image that pair.
        queue_size: Images kept per stream while waiting for a partner (>= 1).
        with_labels: Also wait for a part-label image (same tolerance) for each frame.

    Raises:
        PerceptionInputError: On a negative tolerance or a queue size below 1.
    """

    def __init__(self, tolerance_s: float = 0.02, queue_size: int = 4,
                 with_labels: bool = False) -> None:
        if not 0.0 <= float(tolerance_s) < 10.0:
            raise PerceptionInputError(f'sync tolerance must be in [0, 10) s, got {tolerance_s}')
        if int(queue_size) < 1:
            raise PerceptionInputError(f'sync queue_size must be >= 1, got {queue_size}')
        self.tolerance_ns = int(round(float(tolerance_s) * 1e9))
        self.with_labels = bool(with_labels)
        self.intrinsics: Intrinsics | None = None
        self.latest: CameraFrame | None = None
        self.dropped = 0                   # images that aged out of a queue unpaired
        self.last_error = ''               # why the last pair was rejected ('' if none)
        self._color: deque[tuple[int, np.ndarray, str]] = deque(maxlen=int(queue_size))
        self._depth: deque[tuple[int, np.ndarray]] = deque(maxlen=int(queue_size))
        self._labels: deque[tuple[int, np.ndarray, tuple[str, ...]]] = \
            deque(maxlen=int(queue_size))

    def set_intrinsics(self, intrinsics: Intrinsics) -> None:
        """Use these intrinsics for the frames paired from now on (the latest camera info)."""
        self.intrinsics = intrinsics

    def add_color(self, stamp_ns: int, rgb: np.ndarray, camera_frame: str = ''
                  ) -> CameraFrame | None:
        """Queue a colour image; returns the frame it completes, else None."""
        self._push(self._color, (int(stamp_ns), rgb, camera_frame))
        return self._pair()

    def add_depth(self, stamp_ns: int, depth_m: np.ndarray) -> CameraFrame | None:
        """Queue a depth image [m]; returns the frame it completes, else None."""
        self._push(self._depth, (int(stamp_ns), depth_m))
        return self._pair()

    def add_labels(self, stamp_ns: int, part_mask: np.ndarray, labels: Sequence[str]
                   ) -> CameraFrame | None:
        """Queue a part-label image with its label table; returns the frame it completes."""
        self._push(self._labels, (int(stamp_ns), part_mask, tuple(labels)))
        return self._pair()

    def _push(self, queue: deque, item: tuple) -> None:
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append(item)

    def _nearest(self, queue: deque, stamp_ns: int) -> int | None:
        """Index of the queued item nearest ``stamp_ns`` within the tolerance, or None."""
        best, best_dt = None, self.tolerance_ns
        for i, item in enumerate(queue):
            dt = abs(item[0] - stamp_ns)
            if dt <= best_dt:
                best, best_dt = i, dt
        return best

    def _pair(self) -> CameraFrame | None:
        """Pair the newest colour image that has partners; drop what is older."""
        for ci in range(len(self._color) - 1, -1, -1):
            stamp, rgb, camera_frame = self._color[ci]
            di = self._nearest(self._depth, stamp)
            li = self._nearest(self._labels, stamp) if self.with_labels else None
            if di is None or (self.with_labels and li is None):
                continue
            depth = self._depth[di][1]
            part_mask, labels = (None, ()) if li is None else self._labels[li][1:]
            for queue, index in ((self._color, ci), (self._depth, di), (self._labels, li)):
                for _ in range(0 if index is None else index + 1):
                    queue.popleft()
            return self._frame(stamp, rgb, depth, camera_frame, part_mask, labels)
        return None

    def _frame(self, stamp_ns: int, rgb: np.ndarray, depth: np.ndarray, camera_frame: str,
               part_mask: np.ndarray | None, labels: tuple[str, ...]) -> CameraFrame | None:
        k = self.intrinsics
        if k is None:
            self.last_error = 'no camera info yet'
            return None
        shapes = {'colour': rgb.shape[:2], 'depth': depth.shape[:2]}
        if part_mask is not None:
            shapes['part labels'] = part_mask.shape[:2]
        wrong = {name: shape for name, shape in shapes.items() if tuple(shape) != k.shape}
        if wrong:
            self.last_error = (f'image size {wrong} does not match the camera info '
                               f'({k.height}, {k.width})')
            return None
        if self.latest is not None and stamp_ns <= self.latest.stamp_ns:
            self.last_error = 'a frame older than the latest one'
            return None
        self.last_error = ''
        self.latest = CameraFrame(stamp_ns, rgb, np.asarray(depth, dtype=np.float32), k,
                                  camera_frame, part_mask, labels)
        return self.latest
