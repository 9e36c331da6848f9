"""Tests of the segment-anything segmenter with a tiny random-weight SAM.

Random weights give arbitrary masks: these tests check the plumbing (loading, errors, shapes,
types, prompts, caching), not segmentation quality. Images are small and the prompt grid is
coarse to keep the CPU work to a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip('torch', reason='the SAM backend needs torch')
pytest.importorskip('segment_anything', reason='the SAM backend needs segment-anything')

from resem3d_perception.errors import (CheckpointError, PerceptionError,  # noqa: E402
                                      PerceptionInputError)
from resem3d_perception.segmenters import Mask, Segmenter, make_segmenter  # noqa: E402
from resem3d_perception.segmenters import sam as sam_module  # noqa: E402
from resem3d_perception.segmenters.sam import (SAM_CHECKPOINTS, SamConfig,  # noqa: E402
                                               SamSegmenter, build_sam_model, load_sam_model)
from resem3d_perception.testing import synthetic_part_frame, write_tiny_sam_checkpoint  # noqa: E402

# Keep every mask the random model proposes: its predicted IoUs and stabilities are arbitrary.
PERMISSIVE = {'model_type': 'vit_tiny', 'points_per_side': 3, 'points_per_batch': 16,
              'pred_iou_thresh': 0.0, 'stability_score_thresh': 0.0}


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_sam_checkpoint(tmp_path_factory.mktemp('sam') / 'nested' / 'tiny.pth')


@pytest.fixture(scope='module')
def segmenter(checkpoint: Path) -> SamSegmenter:
    return SamSegmenter(SamConfig(checkpoint=str(checkpoint), **PERMISSIVE))


@pytest.fixture(scope='module')
def frame():
    return synthetic_part_frame(96, 72)


def test_tiny_checkpoint_is_a_plain_state_dict_and_deterministic(checkpoint: Path,
                                                                 tmp_path: Path) -> None:
    state = torch.load(checkpoint, weights_only=True)
    assert set(state) == set(build_sam_model('vit_tiny').state_dict())
    again = torch.load(write_tiny_sam_checkpoint(tmp_path / 'again.pth', seed=0),
                       weights_only=True)
    other = torch.load(write_tiny_sam_checkpoint(tmp_path / 'other.pth', seed=1),
                       weights_only=True)
    key = 'image_encoder.patch_embed.proj.weight'
    assert torch.equal(state[key], again[key])
    assert not torch.equal(state[key], other[key])


def test_loading_uses_torch_load_weights_only(checkpoint: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(sam_module.torch, 'load', spy)
    model = load_sam_model('vit_tiny', checkpoint, 'cpu')
    assert calls and calls[0].get('weights_only') is True
    assert not model.training and model.image_encoder.img_size == 256


def test_segment_returns_masks_of_the_image_size(segmenter: SamSegmenter, frame) -> None:
    masks = segmenter.segment(frame.color, frame.depth_m)
    assert isinstance(segmenter, Segmenter) and segmenter.name == 'sam'
    assert isinstance(masks, list) and masks  # seeded weights: the same masks every run
    for m in masks:
        assert isinstance(m, Mask) and m.shape == (72, 96) and m.mask.dtype == bool
        assert m.area_px > 0 and 0.0 <= m.score <= 1.0 and m.source == 'sam'
        assert m.label is None


def test_generator_parameters_come_from_the_config(checkpoint: Path) -> None:
    seg = SamSegmenter.from_mapping({'checkpoint': str(checkpoint), 'model_type': 'vit_tiny',
                                     'points_per_side': 2, 'pred_iou_thresh': 0.5,
                                     'box_nms_thresh': 0.6})
    generator = seg._generator
    assert len(generator.point_grids[0]) == 4
    assert generator.pred_iou_thresh == 0.5 and generator.box_nms_thresh == 0.6


def test_no_mask_passing_the_thresholds_gives_an_empty_list(checkpoint: Path, frame) -> None:
    seg = SamSegmenter(SamConfig(checkpoint=str(checkpoint), model_type='vit_tiny',
                                 points_per_side=2, pred_iou_thresh=1.0))
    assert seg.segment(frame.color) == []


def test_segment_checks_inputs(segmenter: SamSegmenter, frame) -> None:
    with pytest.raises(PerceptionInputError, match='uint8 RGB'):
        segmenter.segment(frame.color.astype(np.float32))
    with pytest.raises(PerceptionInputError, match='does not match'):
        segmenter.segment(frame.color, frame.depth_m[:, :-1])


def test_segment_prompted_with_points_and_box(segmenter: SamSegmenter, frame) -> None:
    produced = 0
    for kwargs in ({'points_px': [[20, 30]]},
                   {'points_px': [[20, 30], [80, 10]], 'point_labels': [1, 0]},
                   {'box_px': (5, 20, 40, 60)},
                   {'points_px': [[20, 30]], 'box_px': (5, 20, 40, 60)}):
        try:
            m = segmenter.segment_prompted(frame.color, **kwargs)
        except PerceptionError as exc:  # random weights may give only empty masks
            assert 'empty masks' in str(exc)
            continue
        assert isinstance(m, Mask) and m.shape == (72, 96) and m.source == 'sam'
        assert 0.0 <= m.score <= 1.0
        produced += 1
    assert produced >= 1
    with pytest.raises(PerceptionInputError, match='must lie in the image'):
        segmenter.segment_prompted(frame.color, points_px=[[96, 0]])
    with pytest.raises(PerceptionInputError, match='needs points_px'):
        segmenter.segment_prompted(frame.color)


def test_embedding_is_cached_per_image(segmenter: SamSegmenter, frame,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ms = segmenter.embed(frame.color)
    assert isinstance(ms, float) and ms > 0.0
    calls = []
    real = segmenter._predictor.set_image
    monkeypatch.setattr(segmenter._predictor, 'set_image',
                        lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    for _ in range(2):  # same image as embedded: no new embedding
        try:
            segmenter.segment_prompted(frame.color, points_px=[[10, 10]])
        except PerceptionError:
            pass
    assert calls == []
    changed = frame.color.copy()
    changed[0, 0] ^= 1
    try:
        segmenter.segment_prompted(changed, points_px=[[10, 10]])
    except PerceptionError:
        pass
    assert calls == [1]


@pytest.mark.parametrize('model_type', ['vit_h', 'vit_l', 'vit_b'])
def test_missing_official_checkpoint_names_file_and_url(tmp_path: Path, model_type: str) -> None:
    missing = tmp_path / 'weights' / SAM_CHECKPOINTS[model_type][0]
    with pytest.raises(CheckpointError) as exc:
        SamSegmenter(SamConfig(checkpoint=str(missing), model_type=model_type))
    message = str(exc.value)
    assert str(missing) in message and SAM_CHECKPOINTS[model_type][1] in message
    assert model_type in message and '\n' not in message


def test_missing_tiny_checkpoint_explains_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match='write_tiny_sam_checkpoint'):
        load_sam_model('vit_tiny', tmp_path / 'absent.pth')
    with pytest.raises(CheckpointError, match='no SAM checkpoint configured'):
        load_sam_model('vit_b', '')


def test_checkpoint_of_another_model_type_is_rejected_before_building(
        checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sam_module, 'build_sam_model',
                        lambda t: pytest.fail('must not build the big model'))
    with pytest.raises(CheckpointError, match="holds a 'vit_tiny' model but model_type is "
                                              "'vit_b'; set model_type: vit_tiny"):
        load_sam_model('vit_b', checkpoint)


def test_state_dict_errors_become_checkpoint_errors(checkpoint: Path, tmp_path: Path) -> None:
    state = torch.load(checkpoint, weights_only=True)
    del state['mask_decoder.iou_token.weight']
    state['mask_decoder.mask_tokens.weight'] = torch.zeros(5, 7)
    broken = tmp_path / 'broken.pth'
    torch.save(state, broken)
    with pytest.raises(CheckpointError, match="does not match model_type 'vit_tiny'") as exc:
        load_sam_model('vit_tiny', broken)
    assert str(broken) in str(exc.value) and '\n' not in str(exc.value)


class _NotAllowed:
    """A pickled class that torch.load(weights_only=True) must refuse."""


def test_unreadable_or_unsafe_checkpoints_are_rejected(tmp_path: Path) -> None:
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a torch file at all')
    with pytest.raises(CheckpointError, match='not a readable weights-only'):
        load_sam_model('vit_tiny', garbage)
    unsafe = tmp_path / 'unsafe.pth'
    torch.save({'x': _NotAllowed()}, unsafe)
    with pytest.raises(CheckpointError, match='not a readable weights-only'):
        load_sam_model('vit_tiny', unsafe)
    not_tensors = tmp_path / 'numbers.pth'
    torch.save({'a': 1, 'b': 2}, not_tensors)
    with pytest.raises(CheckpointError, match='not a state dict'):
        load_sam_model('vit_tiny', not_tensors)


def test_nested_model_key_is_accepted(checkpoint: Path, tmp_path: Path) -> None:
    nested = tmp_path / 'nested.pth'
    torch.save({'model': torch.load(checkpoint, weights_only=True)}, nested)
    assert load_sam_model('vit_tiny', nested).image_encoder.img_size == 256


def test_cuda_requested_but_unavailable_is_a_clear_error(
        checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sam_module.torch.cuda, 'is_available', lambda: False)
    with pytest.raises(PerceptionError, match="'cuda' requested but CUDA is not available"):
        load_sam_model('vit_tiny', checkpoint, 'cuda')
    with pytest.raises(PerceptionInputError, match="'cpu', 'cuda' or 'cuda:N'"):
        load_sam_model('vit_tiny', checkpoint, 'gpu')


def test_config_checks_model_type_and_ranges() -> None:
    with pytest.raises(PerceptionInputError, match='model_type must be one of'):
        SamConfig(model_type='vit_x')
    with pytest.raises(PerceptionInputError, match='pred_iou_thresh'):
        SamConfig.from_mapping({'pred_iou_thresh': 1.5})
    with pytest.raises(PerceptionInputError, match='points_per_side'):
        SamConfig.from_mapping({'points_per_side': 0})
    with pytest.raises(PerceptionInputError, match='unknown SAM model_type'):
        build_sam_model('vit_x')


def test_make_segmenter_builds_sam(checkpoint: Path) -> None:
    seg = make_segmenter({'name': 'sam', 'sam': {'checkpoint': str(checkpoint),
                                                 'model_type': 'vit_tiny'},
                          'sim': {'min_area_px': 3}})
    assert isinstance(seg, SamSegmenter) and seg.device.type == 'cpu'
    assert seg.image_size == 256
