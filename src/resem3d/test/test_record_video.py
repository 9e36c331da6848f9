"""Run recorders: annotated frames (resem3d.record.annotate) and the video file (.video)."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from resem3d.record import (CameraView, ConstraintOverlay, RegionOverlay, VideoCodecWarning,
                            VideoError, VideoWriter, annotate_frame)
from resem3d.record.annotate import legend_lines
from resem3d.record.overlays import Box3D

W, H = 128, 96
FX = FY = 100.0
CX, CY = 64.0, 48.0


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def camera_pose() -> np.ndarray:
    """The optical frame 1 m above the base origin, looking straight down (z_cam = -z_base)."""
    T = np.eye(4)
    T[:3, :3] = rot_x(np.pi)
    T[:3, 3] = (0.0, 0.0, 1.0)
    return T


@pytest.fixture
def view() -> CameraView:
    return CameraView(fx=FX, fy=FY, cx=CX, cy=CY, T_base_cam=camera_pose())


def base_of(view: CameraView, p_cam) -> np.ndarray:
    """Base-frame point of an optical-frame point."""
    return view.T_base_cam[:3, :3] @ np.asarray(p_cam, float) + view.T_base_cam[:3, 3]


def grey() -> np.ndarray:
    return np.full((H, W, 3), 100, np.uint8)


def test_projection_is_the_pinhole_model_and_skips_points_behind(view):
    p_cam = np.array([[0.1, -0.05, 0.8], [0.0, 0.0, 2.0], [0.2, 0.1, -0.5], [0.0, 0.0, 0.001]])
    uv, in_front = view.project([base_of(view, p) for p in p_cam])
    assert in_front.tolist() == [True, True, False, False]
    np.testing.assert_allclose(uv[0], (FX * 0.1 / 0.8 + CX, FY * -0.05 / 0.8 + CY))
    np.testing.assert_allclose(uv[1], (CX, CY))
    assert np.isnan(uv[2:]).all()
    np.testing.assert_allclose(view.to_cam(base_of(view, p_cam[0]))[0], p_cam[0], atol=1e-12)
    with pytest.raises(ValueError, match='orthonormal'):
        CameraView(fx=FX, fy=FY, cx=CX, cy=CY, T_base_cam=np.diag([2.0, 1.0, 1.0, 1.0]))


def test_annotate_draws_marks_regions_constraints_and_legend(view):
    image = grey()
    mask = np.zeros((H, W), bool)
    mask[60:80, 10:40] = True
    anchor = base_of(view, (-0.2, 0.0, 1.0))    # projects to (44, 48)
    target = base_of(view, (0.3, 0.0, 1.0))     # projects to (94, 48)
    met = ConstraintOverlay('reach', anchor, target, residual=0.2, tolerance=0.01)
    region = RegionOverlay('cup/rim', box=Box3D(base_of(view, (0.0, 0.3, 1.0)), (0.1, 0.1, 0.1)))
    out = annotate_frame(image, view=view, marks={7: (mask, (25, 70))}, regions=[region],
                         constraints=[met], stage='pour', t_s=1.25)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (image == 100).all(), 'the input must not be modified'
    # The mask's outline is drawn; its interior away from the outline and label is not.
    assert (out[60, 12:38] != 100).any(axis=1).all()
    assert (out[62:65, 12:16] == 100).all()
    # The number sits on a white box at the anchor pixel.
    assert (out[64:77, 18:32] == 255).all(axis=2).any()
    # Anchor (filled dot) and the violated constraint's red line towards the target.
    assert (out[48, 44] != 100).any()
    mid = out[48, 70].astype(int)
    assert mid[0] > 150 and mid[1] < 120 and mid[2] < 120, mid
    # The region's box edges are drawn around its projected centre (64, 78).
    assert (out[70:86, 50:77] != 100).any()
    # The legend darkens the top-left corner and names stage and largest residual.
    assert out[2, 2].max() < 100
    assert legend_lines('pour', [met], 1.25) == ['stage: pour', 'max residual: reach = 0.2',
                                                 't = 1.25 s']


def test_points_behind_the_camera_are_skipped_and_segments_clipped(view):
    image = grey()
    behind = ConstraintOverlay('b', base_of(view, (0.0, -0.2, -1.0)),
                               base_of(view, (0.1, -0.2, -1.0)))
    out = annotate_frame(image, view=view, constraints=[behind])
    # Projected through z < 0 these would land in the lower half (y = CY + 20): nothing there.
    assert (out[H // 2:] == 100).all()
    crossing = ConstraintOverlay('c', base_of(view, (0.0, 0.2, 1.0)),
                                 base_of(view, (0.0, 0.2, -1.0)))
    out = annotate_frame(image, view=view, constraints=[crossing])
    # Anchor at (64, 68); the part of the segment in front of the camera runs down from it.
    assert (out[70:H, 62:66] != 100).any(axis=2).sum() > 10


def test_region_overlay_places_an_object_frame_region_at_its_pose():
    from resem3d_constraints.region import Region
    rng = np.random.default_rng(1)
    region = Region.from_points('cup/rim', rng.random((40, 3)) * (0.1, 0.05, 0.02))
    T_base_obj = np.eye(4)
    T_base_obj[:3, :3] = rot_x(0.7)
    T_base_obj[:3, 3] = (0.5, -0.2, 0.1)
    overlay = RegionOverlay.from_region(region, T_base_obj)
    expected = region.corners_obj @ T_base_obj[:3, :3].T + T_base_obj[:3, 3]
    got = overlay.box.corners_base()
    assert overlay.name == 'cup/rim'
    distances = np.linalg.norm(got[:, None] - expected[None], axis=2)   # same 8 corners
    assert np.allclose(distances.min(axis=0), 0.0) and np.allclose(distances.min(axis=1), 0.0)
    np.testing.assert_allclose(overlay.points_base,
                               region.points_obj @ T_base_obj[:3, :3].T + T_base_obj[:3, 3])
    assert RegionOverlay.from_region(region, T_base_obj, points=False).points_base is None


def test_mark_forms_agree(view):
    mask = np.zeros((H, W), bool)
    mask[20:50, 30:90] = True
    as_tuple = annotate_frame(grey(), marks={3: (mask, (60, 35))})
    perception_like = SimpleNamespace(mask=SimpleNamespace(mask=mask), anchor_px=(60, 35))
    assert np.array_equal(annotate_frame(grey(), marks={3: perception_like}), as_tuple)
    contour = np.array([[30, 20], [89, 20], [89, 49], [30, 49]])
    from_contour = annotate_frame(grey(), marks={3: (contour, (60, 35))})
    assert (from_contour[20, 35:85] != 100).any(axis=1).all()
    with pytest.raises(ValueError, match='differs from the image'):
        annotate_frame(grey(), marks={1: (np.ones((10, 10), bool), (1, 1))})
    with pytest.raises(ValueError, match='camera view'):
        annotate_frame(grey(), constraints=[ConstraintOverlay('x', (0, 0, 0))])


def frames(n: int) -> list[np.ndarray]:
    out = []
    for i in range(n):
        frame = np.zeros((H, W, 3), np.uint8)
        frame[..., 0] = 20 * i
        frame[:, : W // 2, 1] = 200
        out.append(frame)
    return out


def read_back(path) -> tuple[float, tuple[int, int], list[np.ndarray]]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    images = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return count, size, images


def test_video_is_readable_with_the_right_frame_count_and_size(tmp_path):
    written = frames(12)
    with VideoWriter(tmp_path / 'run' / 'video.mp4', fps=30.0, size=(W, H)) as video:
        for frame in written:
            video.write(frame)
    assert video.close() == 12 and video.frame_count == 12
    assert video.path == tmp_path / 'run' / 'video.mp4' and video.codec in ('avc1', 'mp4v')
    count, size, images = read_back(video.path)
    assert count == 12 and size == (W, H) and len(images) == 12
    assert images[5].shape == (H, W, 3)
    # Lossy, but the content survives: red ramps up per frame, left half green.
    assert abs(float(images[5][..., 0].mean()) - 100.0) < 12.0
    assert images[5][:, : W // 2 - 8, 1].mean() > 170 and images[5][:, W // 2 + 8:, 1].mean() < 30


def test_video_falls_back_to_motion_jpeg_avi_with_a_warning(tmp_path):
    with pytest.warns(VideoCodecWarning, match='Motion-JPEG'):
        video = VideoWriter(tmp_path / 'video.mp4', fps=10.0, size=(W, H), codecs=('zzzz',))
    assert video.path == tmp_path / 'video.avi' and video.codec == 'MJPG'
    for frame in frames(4):
        video.write(frame)
    assert video.close() == 4
    count, size, images = read_back(video.path)
    assert count == 4 and size == (W, H) and len(images) == 4


def test_video_rejects_bad_sizes_and_frames(tmp_path):
    with pytest.raises(ValueError, match='even'):
        VideoWriter(tmp_path / 'v.mp4', fps=30.0, size=(W + 1, H))
    with pytest.raises(ValueError, match='fps'):
        VideoWriter(tmp_path / 'v.mp4', fps=0.0, size=(W, H))
    video = VideoWriter(tmp_path / 'v.mp4', fps=30.0, size=(W, H))
    with pytest.raises(ValueError, match=r'\(96, 128, 3\) uint8'):
        video.write(np.zeros((H, W + 2, 3), np.uint8))
    with pytest.raises(ValueError):
        video.write(np.zeros((H, W, 3), np.float32))
    assert video.close() == 0
    with pytest.raises(VideoError, match='after close'):
        video.write(frames(1)[0])
