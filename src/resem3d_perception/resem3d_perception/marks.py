"""Visual prompts for the MLLM: numbered set-of-marks and the labelled grid for refinement.

* :func:`draw_marks` draws a legible numbered label (white box, dark border, dark digits,
  sized relative to the image) **inside** each mask, at the mask's most interior free pixel,
  with no two labels overlapping; optionally tints masks and draws their contours. It returns
  the marked image with the exact mapping mark id -> (mask, anchor pixel, label box).
* :func:`make_label_grid` crops around one mask, zooms the crop onto a canvas, draws an
  R x C grid and labels the cells holding enough of the mask; each label maps to a boolean
  pixel mask in the **original** image (the cells are defined on original pixels, so the
  inverse mapping is exact: the union of all cell masks is the mask inside the crop).

Pixel conventions: arrays ``[row, col]``; points, anchors and boxes ``(x, y)`` = ``(col, row)``
with pixel centres at integers; boxes are half-open ``(x0, y0, x1, y1)`` (columns ``x0 ..
x1 - 1``). Images are RGB uint8. Text is drawn with OpenCV's Hershey fonts (always available,
exact text metrics from ``cv2.getTextSize``).
"""

from __future__ import annotations

import colorsys
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .errors import PerceptionInputError
from .masks import image_shape
from .segmenters.base import Mask, check_color, check_mask_array, config_from_mapping

__all__ = ['GridCell', 'GridConfig', 'LabelGrid', 'Mark', 'MarkStyle', 'MarkedImage',
           'draw_marks', 'make_label_grid', 'save_png']

_LOG = logging.getLogger(__name__)
_FONT = cv2.FONT_HERSHEY_DUPLEX
_RGB = tuple[int, int, int]


def save_png(image: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an RGB uint8 image as PNG, creating parent directories; return the path."""
    check_color(image)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(out, format='PNG')
    return out


def _check_rgb(name: str, value: Any) -> _RGB:
    if (not isinstance(value, Sequence) or len(value) != 3
            or not all(isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in value)):
        raise PerceptionInputError(f'{name}: expected 3 integers in [0, 255], got {value!r}')
    return tuple(int(v) for v in value)  # type: ignore[return-value]


# --------------------------------------------------------------------------- label boxes


@dataclass(frozen=True)
class _LabelSize:
    """Geometry of one text label: the box and the text inside it (px)."""

    text: str
    width: int
    height: int
    border: int
    scale: float
    thickness: int
    text_width: int
    text_height: int


def _label_size(text: str, height_px: int) -> _LabelSize:
    """Box and font metrics for ``text`` in a box ``height_px`` tall (digits ~60 % of it)."""
    height = max(8, int(height_px))
    border = max(1, round(height / 12))
    thickness = max(1, round(height / 14))
    ref_h = cv2.getTextSize('0', _FONT, 1.0, thickness)[0][1]
    scale = 0.6 * height / ref_h
    (tw, th), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(1, round(0.15 * height))
    width = max(height, tw + 2 * (border + pad))
    return _LabelSize(text, width, height, border, scale, thickness, tw, th)


def _draw_label(image: np.ndarray, size: _LabelSize, x0: int, y0: int, box: _RGB,
                border: _RGB, text: _RGB) -> None:
    """Draw a label box with its top-left pixel at ``(x0, y0)``; the border is drawn inside
    the box, so the drawn pixels are exactly ``[y0:y0+height, x0:x0+width]`` (clipped)."""
    x1, y1, b = x0 + size.width, y0 + size.height, size.border
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), border, thickness=-1)
    cv2.rectangle(image, (x0 + b, y0 + b), (x1 - 1 - b, y1 - 1 - b), box, thickness=-1)
    org = (x0 + (size.width - size.text_width) // 2, y0 + (size.height + size.text_height) // 2)
    cv2.putText(image, size.text, org, _FONT, size.scale, text, size.thickness, cv2.LINE_AA)


def _palette(n: int) -> list[_RGB]:
    """``n`` distinct saturated colours (golden-ratio hue steps), deterministic."""
    colours = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((0.13 + 0.618034 * i) % 1.0, 0.85, 0.95)
        colours.append((int(255 * r), int(255 * g), int(255 * b)))
    return colours


# --------------------------------------------------------------------------- set of marks


@dataclass(frozen=True)
class MarkStyle:
    """How marks are drawn. Sizes are relative to the geometric-mean image side
    ``sqrt(H * W)``, so labels scale with resolution.

    Attributes:
        label_height_frac: Label box height / ``sqrt(H * W)`` (0.045: 25 px at 640x480).
        min_label_height_px: Lower bound of the label height (legibility), px.
        shrink_steps: Label scales tried in turn when a mask has no free room at full size.
        gap_frac: Minimum gap between label boxes / ``sqrt(H * W)`` (at least 1 px).
        first_id: Number of the first mark.
        box_color, border_color, text_color: RGB of the label box, its border and the digits.
        tint_alpha: Opacity of the translucent mask fill (0 disables it).
        contour_thickness_frac: Mask contour width / ``sqrt(H * W)`` (0 disables contours).
    """

    label_height_frac: float = 0.045
    min_label_height_px: int = 14
    shrink_steps: tuple[float, ...] = (1.0, 0.8, 0.65)
    gap_frac: float = 0.004
    first_id: int = 1
    box_color: tuple[int, ...] = (255, 255, 255)
    border_color: tuple[int, ...] = (20, 20, 20)
    text_color: tuple[int, ...] = (0, 0, 0)
    tint_alpha: float = 0.3
    contour_thickness_frac: float = 0.003

    def __post_init__(self) -> None:
        if not 0.0 < self.label_height_frac < 1.0:
            raise PerceptionInputError(f'MarkStyle.label_height_frac must be in (0, 1), got '
                                       f'{self.label_height_frac}')
        if self.min_label_height_px < 8:
            raise PerceptionInputError(f'MarkStyle.min_label_height_px must be >= 8, got '
                                       f'{self.min_label_height_px}')
        if not self.shrink_steps or not all(0.0 < s <= 1.0 for s in self.shrink_steps):
            raise PerceptionInputError(f'MarkStyle.shrink_steps must be values in (0, 1], got '
                                       f'{self.shrink_steps}')
        if not 0.0 <= self.tint_alpha <= 1.0:
            raise PerceptionInputError(f'MarkStyle.tint_alpha must be in [0, 1], got '
                                       f'{self.tint_alpha}')
        if self.gap_frac < 0.0 or self.contour_thickness_frac < 0.0:
            raise PerceptionInputError('MarkStyle.gap_frac and contour_thickness_frac must be '
                                       '>= 0')
        for name in ('box_color', 'border_color', 'text_color'):
            object.__setattr__(self, name, _check_rgb(f'MarkStyle.{name}', getattr(self, name)))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> MarkStyle:
        """Build from a config mapping (keys: the attribute names)."""
        return config_from_mapping(cls, mapping)

    def label_height_px(self, shape_hw: tuple[int, int]) -> int:
        """Full-size label height (px) for an image of ``shape_hw``."""
        side = math.sqrt(shape_hw[0] * shape_hw[1])
        return max(self.min_label_height_px, round(self.label_height_frac * side))


@dataclass(frozen=True, eq=False)
class Mark:
    """One numbered mark.

    Attributes:
        id: The number drawn.
        mask: The mask it names.
        anchor_px: ``(x, y)`` centre of the label box: a pixel of the mask (the mark's
            2-D point, e.g. for lifting to 3-D).
        box_px: Half-open ``(x0, y0, x1, y1)`` of the drawn label box.
        overlaps: True when the scene was too crowded and the label had to overlap another
            label (never the case with room to spare; a warning is logged).
    """

    id: int
    mask: Mask
    anchor_px: tuple[int, int]
    box_px: tuple[int, int, int, int]
    overlaps: bool = False


@dataclass(frozen=True, eq=False)
class MarkedImage:
    """An image with numbered marks and the mapping from each number to its mask.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB with marks drawn (a new array).
        marks: Mark id -> :class:`Mark`, in id order.
    """

    image: np.ndarray
    marks: Mapping[int, Mark]

    @property
    def masks(self) -> dict[int, Mask]:
        """Mark id -> mask."""
        return {i: m.mask for i, m in self.marks.items()}

    @property
    def anchors(self) -> dict[int, tuple[int, int]]:
        """Mark id -> ``(x, y)`` anchor pixel."""
        return {i: m.anchor_px for i, m in self.marks.items()}

    def save_png(self, path: str | os.PathLike[str]) -> Path:
        """Write the marked image as PNG (parent directories created)."""
        return save_png(self.image, path)


def _forbidden_centres(shape_hw: tuple[int, int], size: _LabelSize,
                       placed: Sequence[tuple[int, int, int, int]], gap: int) -> np.ndarray:
    """``(H, W)`` bool: centres where a box of ``size`` would leave the image or come closer
    than ``gap`` px to a placed box.

    Hand-written (interval arithmetic on integer boxes) because it is exact and cheap: the
    set of forbidden centres for each placed box is itself a rectangle.
    """
    h, w = shape_hw
    hw, hh = size.width // 2, size.height // 2
    bad = np.ones(shape_hw, dtype=bool)
    # A box centred at (cx, cy) spans [cx - hw, cx - hw + width): keep it inside the image.
    x_lo, x_hi = hw, w - size.width + hw
    y_lo, y_hi = hh, h - size.height + hh
    if x_lo <= x_hi and y_lo <= y_hi:
        bad[y_lo:y_hi + 1, x_lo:x_hi + 1] = False
    for bx0, by0, bx1, by1 in placed:
        # Overlap (with gap) iff cx - hw < bx1 + gap and cx - hw + width > bx0 - gap.
        cx0 = max(0, bx0 - gap - size.width + hw + 1)
        cx1 = min(w - 1, bx1 + gap + hw - 1)
        cy0 = max(0, by0 - gap - size.height + hh + 1)
        cy1 = min(h - 1, by1 + gap + hh - 1)
        if cx0 <= cx1 and cy0 <= cy1:
            bad[cy0:cy1 + 1, cx0:cx1 + 1] = True
    return bad


def _interior_distance(mask: Mask) -> tuple[np.ndarray, int, int]:
    """Distance (px) of each pixel of the mask's bounding box to the nearest non-mask pixel
    (the image border counts as outside); returns the map and the box's ``(x0, y0)``."""
    x0, y0, x1, y1 = mask.bbox
    crop = np.pad(mask.mask[y0:y1, x0:x1].astype(np.uint8), 1)
    dist = cv2.distanceTransform(crop, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return dist, x0, y0


def _best_centre(dist: np.ndarray, x0: int, y0: int, bad: np.ndarray | None
                 ) -> tuple[int, int] | None:
    """The most interior ``(x, y)`` mask pixel not in ``bad`` (ties: first in raster order)."""
    h, w = dist.shape
    score = dist.copy()
    if bad is not None:
        score[bad[y0:y0 + h, x0:x0 + w]] = 0.0
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    if score[r, c] <= 0.0:
        return None
    return int(x0 + c), int(y0 + r)


def _place(mask: Mask, text: str, style: MarkStyle, placed: list[tuple[int, int, int, int]]
           ) -> tuple[_LabelSize, tuple[int, int], bool]:
    """Label size, ``(x, y)`` centre and overlap flag for one mask (see :func:`draw_marks`)."""
    shape = mask.shape
    full = style.label_height_px(shape)
    gap = max(1, round(style.gap_frac * math.sqrt(shape[0] * shape[1])))
    dist, x0, y0 = _interior_distance(mask)
    attempts = [(step, gap) for step in style.shrink_steps] + [(style.shrink_steps[-1], 0)]
    size = _label_size(text, full)
    for step, g in attempts:
        size = _label_size(text, max(8, round(full * step)))
        centre = _best_centre(dist, x0, y0, _forbidden_centres(shape, size, placed, g))
        if centre is not None:
            return size, centre, False
    return size, _least_overlap_centre(dist, x0, y0, size, placed, shape), True


def _least_overlap_centre(dist: np.ndarray, x0: int, y0: int, size: _LabelSize,
                          placed: Sequence[tuple[int, int, int, int]],
                          shape: tuple[int, int]) -> tuple[int, int]:
    """Crowded fallback: the mask pixel whose label box covers the fewest pixels of placed
    boxes (box sums from an integral image), then the most interior one; centres keeping the
    box inside the image are preferred when there are any."""
    h, w = shape
    occupied = np.zeros(shape, dtype=np.uint8)
    for bx0, by0, bx1, by1 in placed:
        occupied[max(0, by0):max(0, by1), max(0, bx0):max(0, bx1)] = 1
    integral = cv2.integral(occupied)  # (h + 1, w + 1) int32 prefix sums
    rows, cols = np.nonzero(dist > 0.0)
    xs, ys = cols + x0, rows + y0
    fits = _forbidden_centres(shape, size, [], 0)[ys, xs] == 0
    if fits.any():
        rows, cols, xs, ys = rows[fits], cols[fits], xs[fits], ys[fits]
    left, top = xs - size.width // 2, ys - size.height // 2
    bx0, bx1 = np.clip(left, 0, w), np.clip(left + size.width, 0, w)
    by0, by1 = np.clip(top, 0, h), np.clip(top + size.height, 0, h)
    overlap = (integral[by1, bx1] - integral[by0, bx1] - integral[by1, bx0]
               + integral[by0, bx0])
    best = np.lexsort((-dist[rows, cols], overlap))[0]  # last key is the primary one
    return int(xs[best]), int(ys[best])


def _box_at(size: _LabelSize, centre: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0 = centre[0] - size.width // 2, centre[1] - size.height // 2
    return x0, y0, x0 + size.width, y0 + size.height


def _tint(image: np.ndarray, masks: Sequence[Mask], style: MarkStyle) -> np.ndarray:
    """Translucent fills (largest mask first, so small ones stay visible) and contours."""
    out = image.copy()
    colours = _palette(len(masks))
    by_area = sorted(range(len(masks)), key=lambda i: -masks[i].area_px)
    if style.tint_alpha > 0.0:
        overlay = image.copy()
        for i in by_area:
            overlay[masks[i].mask] = colours[i]
        out = cv2.addWeighted(overlay, style.tint_alpha, image, 1.0 - style.tint_alpha, 0.0)
    if style.contour_thickness_frac > 0.0:
        side = math.sqrt(image.shape[0] * image.shape[1])
        thickness = max(1, round(style.contour_thickness_frac * side))
        for i in by_area:
            contours, _ = cv2.findContours(masks[i].mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, colours[i], thickness, cv2.LINE_AA)
    return out


def draw_marks(image: np.ndarray, masks: Sequence[Mask],
               style: MarkStyle | None = None) -> MarkedImage:
    """Draw numbered marks on ``image``, one inside each mask.

    Mark ids are ``style.first_id, first_id + 1, ...`` in the order of ``masks`` (order them
    first, e.g. with :func:`~resem3d_perception.masks.postprocess_masks`). Labels are placed
    smallest mask first; each goes to the mask pixel farthest from the mask's boundary
    (distance-transform maximum) among the centres where the whole label box stays in the
    image and keeps a gap to the labels already placed; when there is none, smaller labels
    are tried, then no gap, and as a last resort the label overlaps (``Mark.overlaps``).

    Args:
        image: ``(H, W, 3)`` uint8 RGB (not modified).
        masks: Masks of this image; may be empty (the result is a copy of the image and an
            empty mapping).
        style: Drawing parameters; None for the defaults.

    Raises:
        PerceptionInputError: On a malformed image, a non-Mask item or a size mismatch.
    """
    check_color(image)
    style = style if style is not None else MarkStyle()
    shape = image_shape(masks)
    if shape is not None and shape != image.shape[:2]:
        raise PerceptionInputError(f'masks have shape {shape}, the image {image.shape[:2]}')
    if not masks:
        return MarkedImage(image=image.copy(), marks={})
    out = _tint(image, masks, style)
    ids = [style.first_id + i for i in range(len(masks))]
    placed: list[tuple[int, int, int, int]] = []
    results: dict[int, tuple[_LabelSize, tuple[int, int], bool]] = {}
    for i in sorted(range(len(masks)), key=lambda k: (masks[k].area_px, k)):
        size, centre, overlaps = _place(masks[i], str(ids[i]), style, placed)
        placed.append(_box_at(size, centre))
        results[i] = (size, centre, overlaps)
        if overlaps:
            _LOG.warning('mark %d: no free room inside its mask; its label overlaps another',
                         ids[i])
    marks = {}
    for i, mask in enumerate(masks):
        size, centre, overlaps = results[i]
        box = _box_at(size, centre)
        _draw_label(out, size, box[0], box[1], style.box_color, style.border_color,
                    style.text_color)
        marks[ids[i]] = Mark(id=ids[i], mask=mask, anchor_px=centre, box_px=box,
                             overlaps=overlaps)
    return MarkedImage(image=out, marks=marks)


# --------------------------------------------------------------------------- label grid


@dataclass(frozen=True)
class GridConfig:
    """Parameters of :func:`make_label_grid` (original method: 640x640 canvas, 4x4 grid,
    cells labelled above 10 % foreground).

    Attributes:
        rows, cols: Grid size.
        canvas_width_px, canvas_height_px: Size of the zoomed image.
        pad_frac: Free border of the canvas around the zoomed crop, fraction of each side.
        margin_frac: Crop margin around the mask's box, fraction of the box's width/height
            (each side; at least 1 px).
        min_cell_fraction: A cell is labelled when at least this fraction of its pixels
            belong to the mask (and at least one does).
        dim_outside: Brightness factor of pixels outside the mask (1 = no dimming).
        label_height_frac: Label box height / ``sqrt(canvas area)``.
        background_color, line_color, contour_color, text_color: RGB of the canvas
            background, grid lines, mask outline and label digits (labels sit in white boxes
            with a dark border).
    """

    rows: int = 4
    cols: int = 4
    canvas_width_px: int = 640
    canvas_height_px: int = 640
    pad_frac: float = 0.04
    margin_frac: float = 0.1
    min_cell_fraction: float = 0.1
    dim_outside: float = 0.4
    label_height_frac: float = 0.05
    background_color: tuple[int, ...] = (40, 40, 40)
    line_color: tuple[int, ...] = (230, 230, 230)
    contour_color: tuple[int, ...] = (253, 231, 36)
    text_color: tuple[int, ...] = (200, 0, 0)

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise PerceptionInputError(f'GridConfig: rows and cols must be >= 1, got '
                                       f'{self.rows}x{self.cols}')
        if self.canvas_width_px < 4 * self.cols or self.canvas_height_px < 4 * self.rows:
            raise PerceptionInputError(f'GridConfig: canvas {self.canvas_width_px}x'
                                       f'{self.canvas_height_px} too small for a {self.rows}x'
                                       f'{self.cols} grid')
        for name, lo, hi in (('pad_frac', 0.0, 0.4), ('margin_frac', 0.0, 10.0),
                             ('min_cell_fraction', 0.0, 1.0), ('dim_outside', 0.0, 1.0),
                             ('label_height_frac', 0.01, 0.5)):
            if not lo <= getattr(self, name) <= hi:
                raise PerceptionInputError(f'GridConfig.{name} must be in [{lo}, {hi}], got '
                                           f'{getattr(self, name)}')
        for name in ('background_color', 'line_color', 'contour_color', 'text_color'):
            object.__setattr__(self, name, _check_rgb(f'GridConfig.{name}', getattr(self, name)))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> GridConfig:
        """Build from a config mapping (keys: the attribute names)."""
        return config_from_mapping(cls, mapping)


@dataclass(frozen=True, eq=False)
class GridCell:
    """One labelled grid cell, in original-image pixels.

    Attributes:
        label: The number drawn (1.. in row-major order over labelled cells).
        row, col: Grid position (0-based).
        rect_px: Half-open ``(x0, y0, x1, y1)`` of the cell in the original image.
        mask: ``(H, W)`` bool: the mask's pixels inside the cell (original image size).
        fraction: Mask pixels / cell pixels.
        anchor_px: ``(x, y)`` centroid of the cell's mask pixels (float px).
    """

    label: int
    row: int
    col: int
    rect_px: tuple[int, int, int, int]
    mask: np.ndarray
    fraction: float
    anchor_px: tuple[float, float]


@dataclass(frozen=True, eq=False)
class LabelGrid:
    """A zoomed, gridded view of one mask and the mapping of its cell labels.

    The crop ``crop_px`` of the original image is resized onto ``zoom_rect_px`` of the
    canvas with scales ``sx = zoom width / crop width`` and ``sy`` likewise; pixel centres are
    at integers in both images, so a point maps as ``u = u0 + (x - x0 + 0.5) * sx - 0.5``
    (the convention of ``cv2.resize``).

    Attributes:
        image: ``(Hc, Wc, 3)`` uint8 RGB canvas.
        cells: Label -> :class:`GridCell` for the labelled cells.
        crop_px: Half-open ``(x0, y0, x1, y1)`` crop of the original image.
        col_edges_px: ``cols + 1`` original x coordinates of the cell boundaries (cell c spans
            columns ``col_edges_px[c] .. col_edges_px[c + 1] - 1``).
        row_edges_px: ``rows + 1`` original y coordinates likewise.
        zoom_rect_px: Half-open ``(u0, v0, u1, v1)`` of the zoomed crop on the canvas.
    """

    image: np.ndarray
    cells: Mapping[int, GridCell]
    crop_px: tuple[int, int, int, int]
    col_edges_px: tuple[int, ...]
    row_edges_px: tuple[int, ...]
    zoom_rect_px: tuple[int, int, int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)`` canvas pixels per original pixel."""
        x0, y0, x1, y1 = self.crop_px
        u0, v0, u1, v1 = self.zoom_rect_px
        return (u1 - u0) / (x1 - x0), (v1 - v0) / (y1 - y0)

    @property
    def masks(self) -> dict[int, np.ndarray]:
        """Label -> ``(H, W)`` bool mask in the original image."""
        return {label: cell.mask for label, cell in self.cells.items()}

    def image_to_canvas_px(self, x: float, y: float) -> tuple[float, float]:
        """Original ``(x, y)`` -> canvas ``(u, v)`` (float px)."""
        sx, sy = self.scale
        return (self.zoom_rect_px[0] + (x - self.crop_px[0] + 0.5) * sx - 0.5,
                self.zoom_rect_px[1] + (y - self.crop_px[1] + 0.5) * sy - 0.5)

    def canvas_to_image_px(self, u: float, v: float) -> tuple[float, float]:
        """Canvas ``(u, v)`` -> original ``(x, y)`` (float px; the inverse of the above)."""
        sx, sy = self.scale
        return (self.crop_px[0] + (u - self.zoom_rect_px[0] + 0.5) / sx - 0.5,
                self.crop_px[1] + (v - self.zoom_rect_px[1] + 0.5) / sy - 0.5)

    def cell_at_px(self, x: float, y: float) -> tuple[int, int] | None:
        """``(row, col)`` of the cell holding original pixel ``(x, y)``, None outside."""
        xi, yi = int(round(x)), int(round(y))
        cols, rows = self.col_edges_px, self.row_edges_px
        if not (cols[0] <= xi < cols[-1] and rows[0] <= yi < rows[-1]):
            return None
        return (int(np.searchsorted(rows, yi, side='right')) - 1,
                int(np.searchsorted(cols, xi, side='right')) - 1)

    def label_at_px(self, x: float, y: float) -> int | None:
        """Label of the labelled cell holding original pixel ``(x, y)``, else None."""
        cell = self.cell_at_px(x, y)
        return next((c.label for c in self.cells.values() if (c.row, c.col) == cell), None)

    def save_png(self, path: str | os.PathLike[str]) -> Path:
        """Write the canvas as PNG (parent directories created)."""
        return save_png(self.image, path)


def _grow(lo: int, hi: int, need: int, limit: int) -> tuple[int, int]:
    """Widen ``[lo, hi)`` around its centre to at least ``need`` within ``[0, limit)``."""
    missing = need - (hi - lo)
    if missing <= 0:
        return lo, hi
    lo = max(0, lo - (missing + 1) // 2)
    hi = min(limit, lo + need)
    return max(0, hi - need), hi


def _crop_box(mask: np.ndarray, bbox: tuple[int, int, int, int], config: GridConfig
              ) -> tuple[int, int, int, int]:
    h, w = mask.shape
    if w < config.cols or h < config.rows:
        raise PerceptionInputError(f'image {w}x{h} is smaller than the {config.rows}x'
                                   f'{config.cols} grid')
    bx0, by0, bx1, by1 = bbox
    mx = max(1, round(config.margin_frac * (bx1 - bx0)))
    my = max(1, round(config.margin_frac * (by1 - by0)))
    x0, x1 = _grow(max(0, bx0 - mx), min(w, bx1 + mx), config.cols, w)
    y0, y1 = _grow(max(0, by0 - my), min(h, by1 + my), config.rows, h)
    return x0, y0, x1, y1


def _edges(lo: int, hi: int, n: int) -> tuple[int, ...]:
    """``n + 1`` integer boundaries splitting ``[lo, hi)`` into ``n`` near-equal parts."""
    return tuple(int(v) for v in np.rint(np.linspace(lo, hi, n + 1)))


def _grid_cells(mask: np.ndarray, cols_e: tuple[int, ...], rows_e: tuple[int, ...],
                min_fraction: float) -> list[GridCell]:
    cells: list[GridCell] = []
    for r in range(len(rows_e) - 1):
        for c in range(len(cols_e) - 1):
            x0, x1, y0, y1 = cols_e[c], cols_e[c + 1], rows_e[r], rows_e[r + 1]
            window = mask[y0:y1, x0:x1]
            count = int(window.sum())
            fraction = count / float(window.size)
            if count == 0 or fraction < min_fraction:
                continue
            cell_mask = np.zeros_like(mask)
            cell_mask[y0:y1, x0:x1] = window
            ys, xs = np.nonzero(window)
            cells.append(GridCell(label=len(cells) + 1, row=r, col=c, rect_px=(x0, y0, x1, y1),
                                  mask=cell_mask, fraction=fraction,
                                  anchor_px=(x0 + float(xs.mean()), y0 + float(ys.mean()))))
    return cells


def _zoom(image: np.ndarray, mask: np.ndarray, crop: tuple[int, int, int, int],
          config: GridConfig) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Canvas with the crop resized (aspect kept) and centred; return it and its rect."""
    x0, y0, x1, y1 = crop
    cw, ch = x1 - x0, y1 - y0
    W, H = config.canvas_width_px, config.canvas_height_px  # noqa: N806
    avail_w = W - 2 * round(config.pad_frac * W)
    avail_h = H - 2 * round(config.pad_frac * H)
    s = min(avail_w / cw, avail_h / ch)
    zw, zh = max(1, min(W, round(cw * s))), max(1, min(H, round(ch * s)))
    u0, v0 = (W - zw) // 2, (H - zh) // 2
    interp = cv2.INTER_LINEAR if s >= 1.0 else cv2.INTER_AREA
    rgb = cv2.resize(image[y0:y1, x0:x1], (zw, zh), interpolation=interp)
    inside = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), (zw, zh),
                        interpolation=cv2.INTER_NEAREST).astype(bool)
    rgb[~inside] = (rgb[~inside].astype(np.float32) * config.dim_outside).astype(np.uint8)
    canvas = np.empty((H, W, 3), dtype=np.uint8)
    canvas[:] = config.background_color
    canvas[v0:v0 + zh, u0:u0 + zw] = rgb
    contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    thickness = max(1, round(0.004 * math.sqrt(W * H)))
    cv2.drawContours(canvas, contours, -1, config.contour_color, thickness, cv2.LINE_AA,
                     offset=(u0, v0))
    return canvas, (u0, v0, u0 + zw, v0 + zh)


def make_label_grid(image: np.ndarray, mask: Mask | np.ndarray,
                    config: GridConfig | None = None) -> LabelGrid:
    """A zoomed, labelled grid over one mask, for the geometric refinement flow.

    The crop (mask box plus margin) is split into ``rows x cols`` cells on **original**
    pixels; cells holding at least ``min_cell_fraction`` of mask pixels are labelled 1..L in
    row-major order. The canvas shows the crop resized to fit (aspect kept), pixels outside
    the mask dimmed, the mask outline, the grid lines and each label in a box at its cell's
    top-left corner.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        mask: The part's :class:`Mask` or ``(H, W)`` bool array (non-empty).
        config: Parameters; None for the defaults.

    Returns:
        The canvas and the exact label -> original-pixel-mask mapping. With
        ``min_cell_fraction = 0`` the union of the cell masks equals the mask inside the crop.

    Raises:
        PerceptionInputError: On a malformed image or mask, a size mismatch, an empty mask or
            an image smaller than the grid.
    """
    check_color(image)
    config = config if config is not None else GridConfig()
    if not isinstance(mask, Mask):
        mask = Mask(check_mask_array(mask, image.shape[:2]))
    elif mask.shape != image.shape[:2]:
        raise PerceptionInputError(f'mask shape {mask.shape} does not match the image '
                                   f'{image.shape[:2]}')
    array = mask.mask
    crop = _crop_box(array, mask.bbox, config)
    cols_e = _edges(crop[0], crop[2], config.cols)
    rows_e = _edges(crop[1], crop[3], config.rows)
    cells = _grid_cells(array, cols_e, rows_e, config.min_cell_fraction)
    canvas, zoom_rect = _zoom(image, array, crop, config)
    grid = LabelGrid(image=canvas, cells={c.label: c for c in cells}, crop_px=crop,
                     col_edges_px=cols_e, row_edges_px=rows_e, zoom_rect_px=zoom_rect)
    _draw_grid(grid, config)
    return grid


def _draw_grid(grid: LabelGrid, config: GridConfig) -> None:
    """Grid lines on cell boundaries and a label box at each labelled cell's top-left."""
    canvas = grid.image
    u0, v0, u1, v1 = grid.zoom_rect_px
    sx, sy = grid.scale
    width = max(1, round(0.003 * math.sqrt(canvas.shape[0] * canvas.shape[1])))
    # Canvas column/row where each original boundary falls (left/top edge of a cell).
    us = [min(u1 - 1, u0 + round((x - grid.crop_px[0]) * sx)) for x in grid.col_edges_px]
    vs = [min(v1 - 1, v0 + round((y - grid.crop_px[1]) * sy)) for y in grid.row_edges_px]
    for u in us:
        cv2.line(canvas, (u, v0), (u, v1 - 1), config.line_color, width)
    for v in vs:
        cv2.line(canvas, (u0, v), (u1 - 1, v), config.line_color, width)
    height = round(config.label_height_frac * math.sqrt(canvas.shape[0] * canvas.shape[1]))
    for cell in grid.cells.values():
        size = _label_size(str(cell.label), height)
        x = min(us[cell.col] + width + 1, canvas.shape[1] - size.width)
        y = min(vs[cell.row] + width + 1, canvas.shape[0] - size.height)
        _draw_label(canvas, size, max(0, x), max(0, y), (255, 255, 255), (20, 20, 20),
                    config.text_color)
