"""segment-anything (SAM) behind the :class:`~.base.Segmenter` interface.

* ``segment``: automatic "segment everything" masks (``SamAutomaticMaskGenerator``, its
  parameters from :class:`SamConfig`); ``Mask.score`` is SAM's predicted IoU.
* ``segment_prompted``: point/box-prompted masks (``SamPredictor``); the image embedding is
  cached per image, so several prompts on one image embed it once.
* ``embed``: times the image encoder (ms), for benchmarks.

Weights are never downloaded at run time. Model types: the three official ones ('vit_h',
'vit_l', 'vit_b'; URLs in :data:`SAM_CHECKPOINTS`) and 'vit_tiny', a tiny random-weight SAM of
the same architecture (:func:`resem3d_perception.testing.write_tiny_sam_checkpoint`) for tests
and benchmarks of the plumbing. Every type loads through one path: the architecture is built by
segment-anything's builders (or, for 'vit_tiny', by :func:`build_sam_model` from the same
modules) and the checkpoint is read with ``torch.load(..., weights_only=True)`` and
``load_state_dict(strict=True)``.

Prompt and box coordinates are ``(x, y)`` = ``(col, row)`` pixels, as in segment-anything.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from segment_anything import SamAutomaticMaskGenerator, SamPredictor, sam_model_registry
from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                       TwoWayTransformer)

from ..errors import CheckpointError, PerceptionError, PerceptionInputError
from .base import Mask, check_color, check_depth, check_prompt, config_from_mapping, no_mask_error

__all__ = ['SAM_CHECKPOINTS', 'SAM_MODEL_TYPES', 'SamConfig', 'SamSegmenter', 'build_sam_model',
           'load_sam_model']

# Official checkpoints of facebookresearch/segment-anything: model type -> (file, URL).
SAM_CHECKPOINTS: Mapping[str, tuple[str, str]] = {
    'vit_h': ('sam_vit_h_4b8939.pth',
              'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth'),
    'vit_l': ('sam_vit_l_0b3195.pth',
              'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth'),
    'vit_b': ('sam_vit_b_01ec64.pth',
              'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth'),
}
SAM_MODEL_TYPES: tuple[str, ...] = ('vit_h', 'vit_l', 'vit_b', 'vit_tiny')

# 'vit_tiny': segment-anything's architecture with small widths, two encoder blocks and a
# 256-px input (16x16 embedding); about 0.1 M parameters.
_TINY = {'img_size': 256, 'patch_size': 16, 'embed_dim': 32, 'depth': 2, 'num_heads': 2,
         'global_attn_indexes': (1,), 'window_size': 8, 'prompt_dim': 32, 'mask_in_chans': 4,
         'decoder_mlp_dim': 64, 'decoder_heads': 2, 'iou_hidden_dim': 32}
# SAM's input normalisation (ImageNet mean and std on 0..255 RGB).
_PIXEL_MEAN = (123.675, 116.28, 103.53)
_PIXEL_STD = (58.395, 57.12, 57.375)

# Image-encoder (embedding width, number of blocks) of each model type: checked against a
# checkpoint before the (large) model is built, to fail fast with a clear message.
_ENCODER_SHAPE: Mapping[str, tuple[int, int]] = {
    'vit_h': (1280, 32), 'vit_l': (1024, 24), 'vit_b': (768, 12),
    'vit_tiny': (_TINY['embed_dim'], _TINY['depth'])}
_PATCH_KEY = 'image_encoder.patch_embed.proj.weight'
_BLOCK_KEY = re.compile(r'^image_encoder\.blocks\.(\d+)\.')


def _build_sam_tiny() -> Sam:
    """The 'vit_tiny' SAM (random weights): segment-anything's modules with small sizes."""
    t = _TINY
    grid = t['img_size'] // t['patch_size']
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=t['depth'], embed_dim=t['embed_dim'], img_size=t['img_size'], mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=t['num_heads'],
            patch_size=t['patch_size'], qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=t['global_attn_indexes'], window_size=t['window_size'],
            out_chans=t['prompt_dim']),
        prompt_encoder=PromptEncoder(
            embed_dim=t['prompt_dim'], image_embedding_size=(grid, grid),
            input_image_size=(t['img_size'], t['img_size']), mask_in_chans=t['mask_in_chans']),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=t['prompt_dim'],
                                          mlp_dim=t['decoder_mlp_dim'],
                                          num_heads=t['decoder_heads']),
            transformer_dim=t['prompt_dim'], iou_head_depth=3,
            iou_head_hidden_dim=t['iou_hidden_dim']),
        pixel_mean=list(_PIXEL_MEAN), pixel_std=list(_PIXEL_STD))
    sam.eval()
    return sam


def build_sam_model(model_type: str) -> Sam:
    """The untrained SAM architecture of ``model_type`` (on the CPU, in eval mode).

    Raises:
        PerceptionInputError: On an unknown model type.
    """
    if model_type not in SAM_MODEL_TYPES:
        raise PerceptionInputError(f'unknown SAM model_type {model_type!r}; known: '
                                   f'{", ".join(SAM_MODEL_TYPES)}')
    if model_type == 'vit_tiny':
        return _build_sam_tiny()
    return sam_model_registry[model_type]()  # checkpoint=None: we load it ourselves


def _how_to_get(model_type: str) -> str:
    if model_type in SAM_CHECKPOINTS:
        file, url = SAM_CHECKPOINTS[model_type]
        return f'download {url} ({file}) and set checkpoint to its path'
    options = '; '.join(f'{t}: {url}' for t, (_, url) in SAM_CHECKPOINTS.items())
    return (f"create it with resem3d_perception.testing.write_tiny_sam_checkpoint(path) "
            f"('vit_tiny' is random weights, for tests), or use an official checkpoint with its "
            f'model_type ({options})')


def _resolve_checkpoint(checkpoint: str | os.PathLike[str], model_type: str) -> Path:
    if not str(checkpoint):
        raise CheckpointError(f'no SAM checkpoint configured for model_type {model_type!r}: '
                              f'{_how_to_get(model_type)}')
    path = Path(os.path.expanduser(os.fspath(checkpoint)))
    if not path.is_file():
        raise CheckpointError(f'SAM checkpoint {str(path)!r} not found (model_type '
                              f'{model_type!r}); weights are never downloaded at run time: '
                              f'{_how_to_get(model_type)}')
    return path


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` of a state dict, with readable errors."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
            AttributeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f'SAM checkpoint {str(path)!r} is not a readable weights-only '
                              f'torch state dict ({type(exc).__name__}: {first})') from exc
    if isinstance(state, Mapping) and len(state) == 1:  # {'model': ...} / {'state_dict': ...}
        (inner,) = state.values()
        if isinstance(inner, Mapping):
            state = inner
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f'SAM checkpoint {str(path)!r} is not a state dict (a mapping of '
                              f'parameter names to tensors), got {type(state).__name__}')
    return dict(state)


def _guess_model_type(state: Mapping[str, torch.Tensor]) -> str | None:
    """The model type whose encoder width and depth match a state dict, if any."""
    patch = state.get(_PATCH_KEY)
    if patch is None or patch.ndim != 4:
        return None
    blocks = {int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k))}
    shape = (int(patch.shape[0]), max(blocks) + 1 if blocks else 0)
    return next((t for t, s in _ENCODER_SHAPE.items() if s == shape), None)


def _check_matches(state: Mapping[str, torch.Tensor], path: Path, model_type: str) -> None:
    guess = _guess_model_type(state)
    if guess is not None and guess != model_type:
        raise CheckpointError(f'SAM checkpoint {str(path)!r} holds a {guess!r} model but '
                              f'model_type is {model_type!r}; set model_type: {guess}')


def _load_into(model: Sam, state: Mapping[str, torch.Tensor], path: Path,
               model_type: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = ' '.join(lines[1:3] if len(lines) > 1 else lines)[:300]
        raise CheckpointError(f'SAM checkpoint {str(path)!r} does not match model_type '
                              f'{model_type!r} ({detail})') from exc


def resolve_device(device: str) -> torch.device:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` as a torch device, checked for availability.

    Raises:
        PerceptionInputError: On another device string.
        PerceptionError: If CUDA is requested but unavailable (or the index does not exist).
    """
    if device == 'cpu':
        return torch.device('cpu')
    if not re.fullmatch(r'cuda(:\d+)?', device or ''):
        raise PerceptionInputError(f"SAM device must be 'cpu', 'cuda' or 'cuda:N', got "
                                   f'{device!r}')
    if not torch.cuda.is_available():
        raise PerceptionError(f'SAM device {device!r} requested but CUDA is not available '
                              f'(torch {torch.__version__}, built for CUDA '
                              f'{torch.version.cuda}); set device: cpu')
    dev = torch.device(device)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise PerceptionError(f'SAM device {device!r}: only {torch.cuda.device_count()} CUDA '
                              f'device(s) visible')
    return dev


def load_sam_model(model_type: str, checkpoint: str | os.PathLike[str],
                   device: str = 'cpu') -> Sam:
    """Build ``model_type`` and load ``checkpoint`` into it (weights-only, strict).

    Raises:
        PerceptionInputError: Unknown model type or device string.
        PerceptionError: CUDA requested but unavailable.
        CheckpointError: Missing, unreadable or mismatched checkpoint (the message names the
            file and, for a missing one, where to download it).
    """
    if model_type not in SAM_MODEL_TYPES:
        raise PerceptionInputError(f'unknown SAM model_type {model_type!r}; known: '
                                   f'{", ".join(SAM_MODEL_TYPES)}')
    dev = resolve_device(device)
    path = _resolve_checkpoint(checkpoint, model_type)
    state = _read_state_dict(path)
    _check_matches(state, path, model_type)
    model = build_sam_model(model_type)
    _load_into(model, state, path, model_type)
    return model.to(dev).eval()


@dataclass(frozen=True)
class SamConfig:
    """Parameters of :class:`SamSegmenter`.

    The automatic-mask-generator parameters are segment-anything's (same names, same
    defaults, tuned by its authors for ViT-H); see ``SamAutomaticMaskGenerator``.

    Attributes:
        checkpoint: Path of the state-dict file ('~' expanded); required.
        model_type: 'vit_h', 'vit_l', 'vit_b' (official) or 'vit_tiny' (tests, benches).
        device: 'cpu', 'cuda' or 'cuda:N'.
        points_per_side: Prompt grid is points_per_side**2 points per crop.
        points_per_batch: Prompts run through the decoder at once (memory vs. speed).
        pred_iou_thresh: Drop masks with a lower predicted IoU, in [0, 1].
        stability_score_thresh: Drop masks with a lower stability score, in [0, 1].
        stability_score_offset: Logit shift used to compute the stability score.
        box_nms_thresh: Box IoU above which duplicate masks are suppressed.
        crop_n_layers: Extra layers of image crops (0 = the whole image only).
        crop_nms_thresh: Box IoU for suppression across crops.
        crop_overlap_ratio: Overlap of neighbouring crops (fraction of the image side).
        crop_n_points_downscale_factor: Grid downscaling per crop layer.
        min_mask_region_area: SAM's own hole/island removal below this area (px; 0 = off).
        multimask_output: Prompted masks: take the best of SAM's three outputs (True) or its
            single output (False).
    """

    checkpoint: str = ''
    model_type: str = 'vit_h'
    device: str = 'cpu'
    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0
    multimask_output: bool = True

    def __post_init__(self) -> None:
        if self.model_type not in SAM_MODEL_TYPES:
            raise PerceptionInputError(f'SamConfig.model_type must be one of '
                                       f'{", ".join(SAM_MODEL_TYPES)}, got {self.model_type!r}')
        for name in ('points_per_side', 'points_per_batch', 'crop_n_points_downscale_factor'):
            if getattr(self, name) < 1:
                raise PerceptionInputError(f'SamConfig.{name} must be >= 1, got '
                                           f'{getattr(self, name)}')
        for name in ('crop_n_layers', 'min_mask_region_area'):
            if getattr(self, name) < 0:
                raise PerceptionInputError(f'SamConfig.{name} must be >= 0, got '
                                           f'{getattr(self, name)}')
        for name in ('pred_iou_thresh', 'stability_score_thresh', 'box_nms_thresh',
                     'crop_nms_thresh', 'crop_overlap_ratio'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PerceptionInputError(f'SamConfig.{name} must be in [0, 1], got '
                                           f'{getattr(self, name)}')

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> SamConfig:
        """Build from a config mapping (keys: the attribute names)."""
        return config_from_mapping(cls, mapping)


def _image_key(color: np.ndarray) -> tuple[tuple[int, ...], bytes]:
    """A content key of an image (shape + 128-bit BLAKE2b digest), for the embedding cache."""
    data = np.ascontiguousarray(color)
    return data.shape, hashlib.blake2b(memoryview(data).cast('B'), digest_size=16).digest()


class SamSegmenter:
    """segment-anything masks: automatic (``segment``) and prompted (``segment_prompted``).

    Args:
        config: Checkpoint, model type, device and generator parameters.

    Raises:
        PerceptionInputError, PerceptionError, CheckpointError: see :func:`load_sam_model`.
    """

    name = 'sam'

    def __init__(self, config: SamConfig) -> None:
        self._config = config
        self._model = load_sam_model(config.model_type, config.checkpoint, config.device)
        self._generator = SamAutomaticMaskGenerator(
            self._model, points_per_side=config.points_per_side,
            points_per_batch=config.points_per_batch, pred_iou_thresh=config.pred_iou_thresh,
            stability_score_thresh=config.stability_score_thresh,
            stability_score_offset=config.stability_score_offset,
            box_nms_thresh=config.box_nms_thresh, crop_n_layers=config.crop_n_layers,
            crop_nms_thresh=config.crop_nms_thresh, crop_overlap_ratio=config.crop_overlap_ratio,
            crop_n_points_downscale_factor=config.crop_n_points_downscale_factor,
            min_mask_region_area=config.min_mask_region_area, output_mode='binary_mask')
        self._predictor = SamPredictor(self._model)
        self._embedded: tuple[tuple[int, ...], bytes] | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> SamSegmenter:
        """Build from a config mapping (see :class:`SamConfig`)."""
        return cls(SamConfig.from_mapping(mapping))

    @property
    def config(self) -> SamConfig:
        """The parameters."""
        return self._config

    @property
    def device(self) -> torch.device:
        """The torch device the model runs on."""
        return self._model.device

    @property
    def image_size(self) -> int:
        """Side (px) of the model's square input; images are resized to it internally."""
        return int(self._model.image_encoder.img_size)

    def segment(self, color: np.ndarray, depth_m: np.ndarray | None = None) -> list[Mask]:
        """Automatic masks of the whole image ("segment everything").

        Args:
            color: ``(H, W, 3)`` uint8 RGB.
            depth_m: Optional ``(H, W)`` float depth (m); checked, not used by SAM.

        Returns:
            Non-empty masks in the generator's order, ``score`` = predicted IoU,
            ``source='sam'``; ``[]`` when SAM finds none.

        Raises:
            PerceptionInputError: On malformed inputs.
        """
        check_color(color)
        check_depth(depth_m, color.shape[:2])
        records = self._generator.generate(color)  # its own predictor: our cache stays valid
        masks = []
        for record in records:
            seg = np.asarray(record['segmentation'], dtype=bool)
            if seg.any():
                masks.append(Mask(seg, score=float(np.clip(record['predicted_iou'], 0.0, 1.0)),
                                  source='sam'))
        return masks

    def _set_image(self, color: np.ndarray) -> None:
        key = _image_key(color)
        if key != self._embedded:
            self._predictor.set_image(color, image_format='RGB')
            self._embedded = key

    def embed(self, color: np.ndarray) -> float:
        """Compute (and cache) the image embedding; return the wall time it took (ms).

        The time covers resizing, normalisation and the image encoder (CUDA is synchronised
        before the clock stops).

        Raises:
            PerceptionInputError: On a malformed image.
        """
        check_color(color)
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        self._predictor.set_image(color, image_format='RGB')
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        self._embedded = _image_key(color)
        return elapsed_ms

    def segment_prompted(self, color: np.ndarray, *, points_px: Any = None,
                         point_labels: Any = None, box_px: Any = None) -> Mask:
        """The SAM mask for point and/or box prompts.

        Args:
            color: ``(H, W, 3)`` uint8 RGB.
            points_px: ``(N, 2)`` ``(x, y)`` pixels, or None.
            point_labels: ``(N,)`` 1 = foreground, 0 = background; None = all foreground.
            box_px: ``(x0, y0, x1, y1)`` pixels, or None.

        Returns:
            The highest-scoring non-empty output mask, ``source='sam'``.

        Raises:
            PerceptionInputError: On malformed inputs.
            PerceptionError: If every output mask is empty.
        """
        check_color(color)
        prompt = check_prompt(points_px, point_labels, box_px, color.shape[:2])
        self._set_image(color)
        masks, scores, _ = self._predictor.predict(
            point_coords=prompt.points_px, point_labels=prompt.point_labels,
            box=prompt.box_px, multimask_output=self._config.multimask_output)
        for i in np.argsort(-scores, kind='stable'):
            if masks[i].any():
                return Mask(np.asarray(masks[i], dtype=bool),
                            score=float(np.clip(scores[i], 0.0, 1.0)), source='sam')
        raise no_mask_error('SAM returned only empty masks for the prompt')
