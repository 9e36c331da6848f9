"""Helpers for tests and benchmarks of resem3d_perception.

* :func:`write_tiny_sam_checkpoint`: a random-weight 'vit_tiny' SAM checkpoint that loads
  through the same code as the official ones (its masks are arbitrary: test plumbing only).
* :func:`synthetic_part_frame`: a small synthetic RGB-D frame with ground-truth part labels,
  in the encoding of ``resem3d_sim.camera.RgbdFrame``, whose geometry is defined relative to the
  image size (so the same scene can be drawn at several resolutions).
* :func:`box_scene`: a ray-cast RGB-D frame of a box on a table seen from above at an angle
  (top and side faces visible), with part labels, for tracking tests.

torch is imported only by :func:`write_tiny_sam_checkpoint`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .cloud import Intrinsics
from .errors import PerceptionInputError

__all__ = ['BoxScene', 'SyntheticFrame', 'box_scene', 'synthetic_part_frame',
           'write_tiny_sam_checkpoint']


def write_tiny_sam_checkpoint(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """Save the state dict of a random-weight 'vit_tiny' SAM to ``path``.

    The model is :func:`resem3d_perception.segmenters.sam.build_sam_model` ('vit_tiny'):
    segment-anything's ImageEncoderViT / PromptEncoder / MaskDecoder / TwoWayTransformer with
    small widths, two encoder blocks and a 256 px input. Load it with
    ``SamConfig(checkpoint=path, model_type='vit_tiny')``. The global torch RNG is left as it
    was.

    Args:
        path: Output file; parent directories are created.
        seed: Seed of the random initialisation (same seed, same weights).

    Returns:
        The path written.
    """
    import torch

    from .segmenters.sam import build_sam_model

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_sam_model('vit_tiny')
        # rel-pos tables start at zero in SAM; give them values too so every weight is random.
        with torch.no_grad():
            for name, param in model.named_parameters():
                if 'rel_pos' in name:
                    param.normal_(0.0, 0.02)
    torch.save(model.state_dict(), out)
    return out


@dataclass(frozen=True, eq=False)
class SyntheticFrame:
    """A synthetic frame in the encoding of ``resem3d_sim.camera.RgbdFrame``.

    Attributes:
        color: ``(H, W, 3)`` uint8 RGB.
        depth_m: ``(H, W)`` float32 depth (m).
        part_mask: ``(H, W)`` int32 index into ``labels``; 0 = background.
        labels: ``('', 'object/part', ...)``.
    """

    color: np.ndarray
    depth_m: np.ndarray
    part_mask: np.ndarray
    labels: tuple[str, ...]

    def mask_of(self, label: str) -> np.ndarray:
        """``(H, W)`` bool mask of ``label``."""
        return self.part_mask == self.labels.index(label)


# Parts of the synthetic scene, drawn in this order (later ones occlude earlier ones).
# Geometry is in fractions of the image: x of the width, y of the height, radii of min(H, W).
_SYNTH_LABELS = ('', 'block/body', 'block/lid', 'cup/body', 'cup/handle', 'flask/body',
                 'flask/neck', 'table/top')
_SYNTH_COLORS = {'table/top': (170, 150, 120), 'block/body': (40, 90, 200),
                 'block/lid': (230, 60, 60), 'cup/body': (60, 170, 80),
                 'cup/handle': (20, 110, 40), 'flask/body': (200, 200, 220),
                 'flask/neck': (140, 140, 180)}


def synthetic_part_frame(width: int = 320, height: int = 240) -> SyntheticFrame:
    """A table with a block (body + lid), a cup (body + ring handle) and a flask (body + neck).

    The labels include 'table/top' (excluded by the sim segmenter's defaults). Shapes are
    drawn with OpenCV at positions relative to the image size.

    Args:
        width: Image width (px), >= 32.
        height: Image height (px), >= 32.

    Raises:
        PerceptionInputError: For an image smaller than 32x32.
    """
    w, h = int(width), int(height)
    if w < 32 or h < 32:
        raise PerceptionInputError(f'synthetic_part_frame needs an image of at least 32x32, '
                                   f'got {w}x{h}')
    s = min(w, h)
    labels = _SYNTH_LABELS
    part = np.zeros((h, w), dtype=np.int32)

    def px(fx: float, fy: float) -> tuple[int, int]:  # (x, y) pixel of fractions of (W, H)
        return int(round(fx * (w - 1))), int(round(fy * (h - 1)))

    def rect(label: str, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        cv2.rectangle(part, px(*p0), px(*p1), labels.index(label), thickness=-1)

    def disc(label: str, c: tuple[float, float], r: float, thick: int = -1) -> None:
        cv2.circle(part, px(*c), max(1, int(round(r * s))), labels.index(label), thickness=thick)

    rect('table/top', (0.0, 0.55), (1.0, 1.0))
    rect('block/body', (0.08, 0.40), (0.30, 0.80))
    rect('block/lid', (0.06, 0.32), (0.32, 0.40))
    disc('cup/handle', (0.55, 0.62), 0.09, thick=max(2, int(round(0.03 * s))))
    disc('cup/body', (0.46, 0.62), 0.11)
    disc('flask/body', (0.80, 0.70), 0.14)
    rect('flask/neck', (0.77, 0.22), (0.83, 0.60))

    color = np.full((h, w, 3), 235, dtype=np.uint8)
    for index, label in enumerate(labels[1:], start=1):
        color[part == index] = _SYNTH_COLORS[label]
    depth = np.where(part > 0, 0.8, 1.2).astype(np.float32)
    return SyntheticFrame(color=color, depth_m=depth, part_mask=part, labels=labels)


@dataclass(frozen=True, eq=False)
class BoxScene:
    """A ray-cast frame of a box on a table (see :func:`box_scene`).

    Attributes:
        color: ``(H, W, 3)`` uint8 RGB (table beige, box blue).
        depth_m: ``(H, W)`` float32 depth along the optical axis (m).
        part_mask: ``(H, W)`` int32: 0 table, 1 ``box/body``.
        labels: ``('', 'box/body')``.
        intrinsics: The camera model.
        T_base_cam: (4, 4) pose of the optical frame in the base frame.
    """

    color: np.ndarray
    depth_m: np.ndarray
    part_mask: np.ndarray
    labels: tuple[str, ...]
    intrinsics: Intrinsics
    T_base_cam: np.ndarray


def box_scene(T_base_box: np.ndarray, size_m: tuple[float, float, float] = (0.1, 0.06, 0.08),
              width: int = 160, height: int = 120) -> BoxScene:
    """Ray-cast a box standing on the table plane ``z = 0`` of the base frame.

    The camera sits at (0.5, -0.5, 0.6) m looking at (0.5, 0, 0) (optical x along base +x).

    Args:
        T_base_box: (4, 4) pose of the box frame: origin at the centre of its bottom face, z up.
        size_m: Box size along its x, y, z (m).
        width: Image width (px).
        height: Image height (px).
    """
    f = 0.95 * width
    k = Intrinsics(width=width, height=height, fx=f, fy=f, cx=(width - 1) / 2.0,
                   cy=(height - 1) / 2.0, depth_min_m=0.1, depth_max_m=3.0)
    eye, target = np.array([0.5, -0.5, 0.6]), np.array([0.5, 0.0, 0.0])
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, (0.0, 0.0, 1.0))
    x /= np.linalg.norm(x)
    T_base_cam = np.eye(4)
    T_base_cam[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    T_base_cam[:3, 3] = eye
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays_cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u, float)], -1)
    d = rays_cam.reshape(-1, 3) @ T_base_cam[:3, :3].T     # t along d is the optical depth
    with np.errstate(divide='ignore', invalid='ignore'):
        t_table = np.where(d[:, 2] < 0.0, -eye[2] / d[:, 2], np.inf)
        R, p = T_base_box[:3, :3], T_base_box[:3, 3]
        o_box, d_box = R.T @ (eye - p), d @ R
        half = np.asarray(size_m, dtype=float) / 2.0
        lo, hi = np.array([-half[0], -half[1], 0.0]), np.array([half[0], half[1], size_m[2]])
        t0, t1 = (lo - o_box) / d_box, (hi - o_box) / d_box
        near = np.nanmax(np.minimum(t0, t1), axis=1)
        far = np.nanmin(np.maximum(t0, t1), axis=1)
    hit = (near <= far) & (far > 0.0) & (near < t_table)
    depth = np.where(hit, near, t_table).reshape(height, width).astype(np.float32)
    part = hit.reshape(height, width).astype(np.int32)
    color = np.empty((height, width, 3), dtype=np.uint8)
    color[...] = _SYNTH_COLORS['table/top']
    color[part == 1] = _SYNTH_COLORS['block/body']
    return BoxScene(color=color, depth_m=depth, part_mask=part, labels=('', 'box/body'),
                    intrinsics=k, T_base_cam=T_base_cam)
