"""A picture of a task's scene from its camera, with the part masks coloured and labelled."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .camera import RgbdFrame

_MASK_ALPHA = 0.45


def _colour(index: int) -> tuple[int, int, int]:
    """A distinct, stable colour per label index (golden-ratio hues)."""
    hue = (index * 0.618034) % 1.0
    i, f = int(hue * 6), hue * 6 - int(hue * 6)
    q, t = int(255 * (1 - f)), int(255 * f)
    return [(255, t, 0), (q, 255, 0), (0, 255, t), (0, q, 255), (t, 0, 255), (255, 0, q)][i % 6]


def labelled_image(frame: RgbdFrame) -> Image.Image:
    """The colour image with each part's mask tinted and its label written at its centroid."""
    image = frame.color.astype(np.float32)
    mask = frame.part_mask
    centroids = []
    for index, label in enumerate(frame.labels):
        if index == 0:
            continue
        pixels = mask == index
        if not pixels.any():
            continue
        image[pixels] = (1 - _MASK_ALPHA) * image[pixels] + _MASK_ALPHA * np.array(
            _colour(index), dtype=np.float32)
        v, u = np.nonzero(pixels)
        centroids.append((label, int(u.mean()), int(v.mean()), _colour(index)))
    picture = Image.fromarray(image.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for label, u, v, colour in centroids:
        box = draw.textbbox((u, v), label, anchor='mm')
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(255, 255, 255))
        draw.text((u, v), label, fill=(0, 0, 0), anchor='mm')
        draw.point((u, v), fill=colour)
    return picture
