"""Draw a run's state on a camera frame: marks, refined regions, constraints and a legend.

:func:`annotate_frame` returns a new RGB image (the input is not modified) with

* the numbered visual marks: each mask's outline and its number at its anchor pixel;
* refined regions (base frame): their points as dots and their oriented box as 12 edges;
* active constraints: the anchor (filled dot), the target (ring) and a line between them,
  green when the constraint is met, red when it is not, grey when unknown;
* a legend in the top-left corner: stage name, the largest residual and the simulated time.

3D things are projected with a :class:`~.overlays.CameraView` (pinhole, optical frame x right,
y down, z forward). Points behind the camera are skipped; a segment crossing the camera's near
plane is clipped there. Text is drawn with OpenCV's Hershey font, which has ASCII only: other
characters become ``?``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .overlays import (CameraView, ConstraintOverlay, MarkOverlay, NEAR_PLANE_M, RegionOverlay,
                       palette)

__all__ = ['AnnotateStyle', 'annotate_frame', 'ascii_text', 'largest_residual', 'legend_lines']

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_RGB = tuple[int, int, int]
_MET: _RGB = (40, 200, 60)
_VIOLATED: _RGB = (235, 40, 40)
_UNKNOWN: _RGB = (200, 200, 200)


@dataclass(frozen=True)
class AnnotateStyle:
    """Sizes of the drawing, relative to the image so that small and large frames look alike.

    Attributes:
        scale_ref_px: Image height [px] at which the sizes below apply as given.
        line_px: Line thickness [px] at the reference height.
        dot_px: Radius of anchor dots [px] at the reference height.
        font_scale: OpenCV font scale at the reference height.
        max_region_points: Most region points drawn per region (evenly subsampled).
        legend_alpha: Opacity of the legend's dark background.
        max_text_chars: Longest text drawn (longer text is cut with ``...``).
    """

    scale_ref_px: int = 480
    line_px: float = 2.0
    dot_px: float = 5.0
    font_scale: float = 0.5
    max_region_points: int = 400
    legend_alpha: float = 0.6
    max_text_chars: int = 48


def ascii_text(text: Any, limit: int = 48) -> str:
    """``text`` as one line of printable ASCII (others -> ``?``), cut to ``limit`` chars."""
    line = ' '.join(str(text).split())
    line = ''.join(c if ' ' <= c <= '~' else '?' for c in line)
    return line if len(line) <= limit else line[:max(limit - 3, 0)] + '...'


def largest_residual(constraints: Iterable[ConstraintOverlay]) -> ConstraintOverlay | None:
    """The constraint with the largest finite residual, or None if none has one."""
    best = None
    for c in constraints:
        if c.residual is not None and np.isfinite(c.residual):
            if best is None or c.residual > best.residual:  # type: ignore[operator]
                best = c
    return best


class _Canvas:
    """An image being drawn on, with the sizes of :class:`AnnotateStyle` scaled to it."""

    def __init__(self, image: np.ndarray, style: AnnotateStyle) -> None:
        self.image = image
        self.style = style
        self.height, self.width = image.shape[:2]
        k = self.height / style.scale_ref_px
        self.line = max(1, round(style.line_px * k))
        self.dot = max(2, round(style.dot_px * k))
        self.font = max(0.3, style.font_scale * k)
        self.text_thickness = max(1, round(k))

    def segment(self, a_px: np.ndarray, b_px: np.ndarray, color: _RGB, thickness: int) -> None:
        """A line between two pixel positions, clipped to the image."""
        bound = 1e7  # far beyond any image; keeps int conversion safe
        if not (np.all(np.abs(a_px) < bound) and np.all(np.abs(b_px) < bound)):
            return
        a = (int(round(a_px[0])), int(round(a_px[1])))
        b = (int(round(b_px[0])), int(round(b_px[1])))
        inside, a, b = cv2.clipLine((0, 0, self.width, self.height), a, b)
        if inside:
            cv2.line(self.image, a, b, color, thickness, cv2.LINE_AA)

    def label(self, text: str, at_px: tuple[float, float], color: _RGB,
              background: _RGB | None = None) -> None:
        """``text`` centred at ``at_px``: on a filled box if ``background`` is given, else
        with a dark outline (legible on any colour)."""
        if not (abs(at_px[0]) < 1e7 and abs(at_px[1]) < 1e7):
            return
        text = ascii_text(text, self.style.max_text_chars)
        (w, h), base = cv2.getTextSize(text, _FONT, self.font, self.text_thickness)
        x = int(round(at_px[0] - w / 2))
        y = int(round(at_px[1] + h / 2))
        if background is not None:
            pad = max(1, self.text_thickness)
            cv2.rectangle(self.image, (x - pad, y - h - pad), (x + w + pad, y + base),
                          background, -1)
        else:
            cv2.putText(self.image, text, (x, y), _FONT, self.font, (0, 0, 0),
                        self.text_thickness + 2, cv2.LINE_AA)
        cv2.putText(self.image, text, (x, y), _FONT, self.font, color, self.text_thickness,
                    cv2.LINE_AA)


def _clip_to_near(a_cam: np.ndarray, b_cam: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of segment a-b (optical frame) in front of the near plane, or None."""
    za, zb = a_cam[2], b_cam[2]
    if za < NEAR_PLANE_M and zb < NEAR_PLANE_M:
        return None
    if za < NEAR_PLANE_M:
        a_cam = a_cam + (b_cam - a_cam) * (NEAR_PLANE_M - za) / (zb - za)
    elif zb < NEAR_PLANE_M:
        b_cam = b_cam + (a_cam - b_cam) * (NEAR_PLANE_M - zb) / (za - zb)
    return a_cam, b_cam


def _segment_3d(canvas: _Canvas, view: CameraView, a_base: np.ndarray, b_base: np.ndarray,
                color: _RGB) -> None:
    ends = view.to_cam(np.stack([a_base, b_base]))
    if not np.all(np.isfinite(ends)):
        return
    clipped = _clip_to_near(ends[0], ends[1])
    if clipped is not None:
        uv = view.project_cam(np.stack(clipped))
        canvas.segment(uv[0], uv[1], color, canvas.line)


def _outline_contours(outline: np.ndarray) -> list[np.ndarray]:
    if outline.dtype == bool:
        contours, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        return list(contours)
    return [np.round(outline).astype(np.int32).reshape(-1, 1, 2)]


def _draw_marks(canvas: _Canvas, marks: Mapping[int, Any]) -> None:
    for index, (mark_id, value) in enumerate(sorted(marks.items(), key=lambda kv: kv[0])):
        mark = MarkOverlay.coerce(value)
        color = palette(index)
        if mark.outline.dtype == bool and mark.outline.shape != (canvas.height, canvas.width):
            raise ValueError(f'mark {mark_id}: mask shape {mark.outline.shape} differs from the '
                             f'image ({canvas.height}, {canvas.width})')
        cv2.polylines(canvas.image, _outline_contours(mark.outline), True, color, canvas.line,
                      cv2.LINE_AA)
        canvas.label(str(mark_id), mark.anchor_px, (0, 0, 0), background=(255, 255, 255))


def _draw_regions(canvas: _Canvas, view: CameraView, regions: Sequence[RegionOverlay]) -> None:
    for index, region in enumerate(regions):
        color = palette(index + 3)
        centre = None
        if region.points_base is not None and len(region.points_base):
            points = region.points_base
            if len(points) > canvas.style.max_region_points:
                keep = np.linspace(0, len(points) - 1, canvas.style.max_region_points)
                points = points[keep.astype(int)]
            uv, ok = view.project(points)
            for x, y in uv[ok]:
                if 0 <= x < canvas.width and 0 <= y < canvas.height:
                    cv2.circle(canvas.image, (int(x), int(y)), max(1, canvas.line // 2), color,
                               -1)
            finite = region.points_base[np.all(np.isfinite(region.points_base), axis=1)]
            centre = finite.mean(axis=0) if len(finite) else None
        if region.box is not None:
            corners = region.box.corners_base()
            for i, j in region.box.EDGES:
                _segment_3d(canvas, view, corners[i], corners[j], color)
            centre = region.box.center_base
        if centre is not None:
            uv, ok = view.project(centre)
            if ok[0]:
                canvas.label(region.name, (uv[0, 0], uv[0, 1] - 2 * canvas.dot), color)


def _status_color(constraint: ConstraintOverlay) -> _RGB:
    met = constraint.satisfied
    return _UNKNOWN if met is None else (_MET if met else _VIOLATED)


def _draw_constraints(canvas: _Canvas, view: CameraView,
                      constraints: Sequence[ConstraintOverlay]) -> None:
    for index, c in enumerate(constraints):
        color = palette(index)
        if c.target_base is not None:
            _segment_3d(canvas, view, c.anchor_base, c.target_base, _status_color(c))
            uv, ok = view.project(c.target_base)
            if ok[0] and np.all(np.abs(uv[0]) < 1e7):
                cv2.circle(canvas.image, (int(round(uv[0, 0])), int(round(uv[0, 1]))),
                           canvas.dot + canvas.line, color, canvas.line, cv2.LINE_AA)
        uv, ok = view.project(c.anchor_base)
        if ok[0] and np.all(np.abs(uv[0]) < 1e7):
            cv2.circle(canvas.image, (int(round(uv[0, 0])), int(round(uv[0, 1]))), canvas.dot,
                       color, -1, cv2.LINE_AA)


def _draw_legend(canvas: _Canvas, lines: Sequence[str]) -> None:
    if not lines:
        return
    lines = [ascii_text(line, canvas.style.max_text_chars) for line in lines]
    sizes = [cv2.getTextSize(line, _FONT, canvas.font, canvas.text_thickness) for line in lines]
    line_h = max(h + base for (_, h), base in sizes) + 2 * canvas.text_thickness
    pad = 2 * canvas.text_thickness + 2
    w = min(canvas.width, max(w for (w, _), _ in sizes) + 2 * pad)
    h = min(canvas.height, line_h * len(lines) + 2 * pad)
    box = canvas.image[:h, :w]
    alpha = canvas.style.legend_alpha
    box[:] = (box.astype(np.float32) * (1.0 - alpha)).astype(np.uint8)
    for i, (line, ((_, text_h), _)) in enumerate(zip(lines, sizes)):
        y = pad + i * line_h + text_h
        cv2.putText(canvas.image, line, (pad, y), _FONT, canvas.font, (255, 255, 255),
                    canvas.text_thickness, cv2.LINE_AA)


def legend_lines(stage: str, constraints: Sequence[ConstraintOverlay],
                 t_s: float | None) -> list[str]:
    """The legend's text: stage, largest residual (name = value), simulated time."""
    lines = []
    if stage:
        lines.append(f'stage: {stage}')
    worst = largest_residual(constraints)
    if worst is not None:
        lines.append(f'max residual: {worst.name} = {worst.residual:.4g}')
    elif constraints:
        lines.append('max residual: n/a')
    if t_s is not None:
        lines.append(f't = {t_s:.2f} s')
    return lines


def annotate_frame(rgb: np.ndarray, *, view: CameraView | None = None,
                   marks: Mapping[int, Any] | None = None,
                   regions: Sequence[RegionOverlay] = (),
                   constraints: Sequence[ConstraintOverlay] = (),
                   stage: str = '', t_s: float | None = None,
                   style: AnnotateStyle = AnnotateStyle()) -> np.ndarray:
    """Draw marks, regions, constraints and a legend on a copy of ``rgb``.

    Args:
        rgb: (H, W, 3) uint8 RGB frame (not modified).
        view: The camera that took ``rgb``; needed for ``regions`` and ``constraints``.
        marks: Mark id -> ``(mask (H, W) bool or contour (N, 2) px, anchor_px (x, y))``, a
            :class:`~.overlays.MarkOverlay`, or a ``resem3d_perception`` ``Mark``.
        regions: Refined regions (base frame) to outline.
        constraints: Active constraints: anchors, targets and the line between them.
        stage: Name of the active stage, for the legend ('' = none).
        t_s: Simulated time [s] for the legend (None = not shown).
        style: Sizes and colours of the drawing.

    Returns:
        A new (H, W, 3) uint8 RGB image.

    Raises:
        ValueError: On a malformed image, a mask of another size, or 3D overlays without
            ``view``.
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3:
        raise ValueError('rgb: expected an (H, W, 3) uint8 image')
    if (regions or constraints) and view is None:
        raise ValueError('regions and constraints need the camera view to be projected')
    canvas = _Canvas(np.ascontiguousarray(rgb).copy(), style)
    if marks:
        _draw_marks(canvas, marks)
    if view is not None:
        _draw_regions(canvas, view, regions)
        _draw_constraints(canvas, view, constraints)
    _draw_legend(canvas, legend_lines(stage, constraints, t_s))
    return canvas.image
