"""Write a run's annotated frames to a video file with OpenCV.

:class:`VideoWriter` tries the codecs in order: H.264 (``avc1``, plays in browsers) in MP4, then
MPEG-4 Part 2 (``mp4v``) in MP4 (plays in VLC/ffmpeg-based players, not in browsers), and if
no MP4 codec opens, Motion-JPEG in an AVI next to the requested path (``video.avi``), with a
:class:`VideoCodecWarning`. The pip OpenCV wheels carry no H.264 encoder, so ``mp4v`` is the
usual result there. A codec that failed to open while a later one opened in the same place is
not tried again in this process, so failed probes (whose native libraries print to stderr,
silenced meanwhile) run once.

Frames are RGB uint8 of exactly the size given (OpenCV would silently drop others).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

__all__ = ['DEFAULT_CODECS', 'VideoCodecWarning', 'VideoError', 'VideoWriter']

_LOG = logging.getLogger(__name__)

#: MP4 codecs tried in order (FourCC codes).
DEFAULT_CODECS = ('avc1', 'mp4v')
#: The last resort: Motion-JPEG in an AVI container.
_FALLBACK_CODEC = 'MJPG'
#: FourCC codes this OpenCV build cannot open (not tried again in this process).
_FAILED_CODECS: set[str] = set()


class VideoError(RuntimeError):
    """No codec could open the file, or the writer was used after :meth:`VideoWriter.close`."""


class VideoCodecWarning(UserWarning):
    """No MP4 codec was available: the video was written as Motion-JPEG AVI instead."""


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence OpenCV's log and the C-level stderr (ffmpeg prints failed encoder probes)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    saved = None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        with open(os.devnull, 'wb') as null:
            os.dup2(null.fileno(), 2)
    except (OSError, ValueError):  # no usable fd 2 (e.g. an embedded interpreter)
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        cv2.utils.logging.setLogLevel(level)


def _open(path: Path, codec: str, fps: float, size: tuple[int, int]) -> cv2.VideoWriter | None:
    """An opened OpenCV writer, or None if ``codec`` does not open here."""
    if codec in _FAILED_CODECS:
        return None
    with _quiet_native_stderr():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size, True)
    if writer.isOpened():
        return writer
    writer.release()
    return None


class VideoWriter:
    """Write RGB frames to a video file.

    Args:
        path: Output file, e.g. ``runs/<id>/video.mp4`` (parent directories are created).
        fps: Frames per second of the video [Hz] (use the camera rate in simulated time).
        size: ``(width, height)`` of every frame [px]; both even (H.264 and ``mp4v`` use
            4:2:0 chroma).
        codecs: MP4 FourCC codes to try, in order.

    Attributes:
        path: The file actually written (``.avi`` after the Motion-JPEG fallback).
        codec: The FourCC code in use.

    Raises:
        ValueError: On a non-positive ``fps`` or an odd or non-positive ``size``.
        VideoError: If not even Motion-JPEG opens (e.g. an unwritable directory).
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int], *,
                 codecs: Sequence[str] = DEFAULT_CODECS) -> None:
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f'size: expected an even (width, height) > 0, got {size!r}')
        if not fps > 0.0:
            raise ValueError(f'fps: expected > 0, got {fps!r}')
        self.size = (width, height)
        self.fps = float(fps)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._writer: cv2.VideoWriter | None = None
        failed: list[str] = []
        for codec in codecs:
            self._writer = _open(target, codec, self.fps, self.size)
            if self._writer is not None:
                self.path, self.codec = target, codec
                break
            failed.append(codec)
        else:
            fallback = target.with_suffix('.avi')
            self._writer = _open(fallback, _FALLBACK_CODEC, self.fps, self.size)
            if self._writer is None:
                raise VideoError(f'{target}: no video codec opened (tried '
                                 f'{", ".join([*codecs, _FALLBACK_CODEC])})')
            self.path, self.codec = fallback, _FALLBACK_CODEC
            message = (f'no MP4 codec ({", ".join(codecs)}) is available in this OpenCV build: '
                       f'writing Motion-JPEG AVI to {fallback} instead of {target}')
            _LOG.warning(message)
            warnings.warn(message, VideoCodecWarning, stacklevel=2)
        _FAILED_CODECS.update(failed)  # the codec, not the place, failed: another one opened
        if self.codec != 'avc1':
            _LOG.info('video %s: codec %s (not H.264: browsers will not play it)', self.path,
                      self.codec)

    @property
    def frame_count(self) -> int:
        """Frames written so far."""
        return self._count

    def write(self, rgb: np.ndarray) -> None:
        """Append one (height, width, 3) uint8 RGB frame.

        Raises:
            ValueError: On another size, dtype or shape.
            VideoError: After :meth:`close`.
        """
        if self._writer is None:
            raise VideoError(f'{self.path}: write after close')
        width, height = self.size
        if (not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8
                or rgb.shape != (height, width, 3)):
            shape = getattr(rgb, 'shape', None)
            raise ValueError(f'frame: expected ({height}, {width}, 3) uint8 RGB, got '
                             f'{shape} {getattr(rgb, "dtype", type(rgb).__name__)}')
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self._count += 1

    def close(self) -> int:
        """Finish the file (idempotent); return the number of frames written."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        return self._count

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
