"""Tests of resem3d_perception.cloud: intrinsics, depth -> base-frame cloud, bad input."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from resem3d_perception.cloud import (Cloud, Intrinsics, as_intrinsics, check_rigid,
                                      depth_to_cloud, invert_rigid, matmul_rows, pixel_rays,
                                      project_base_points, rotate_rows, transform_points)
from resem3d_perception.errors import PerceptionInputError

K = Intrinsics(width=64, height=48, fx=60.0, fy=55.0, cx=31.0, cy=24.5, depth_min_m=0.1,
               depth_max_m=3.0)


def pose(rotvec: tuple[float, float, float], p: tuple[float, float, float]) -> np.ndarray:
    """A rigid transform from a rotation vector (rad) and a translation (m)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = p
    return T


T_BASE_CAM = pose((2.4, 0.3, -0.2), (1.1, -0.5, 0.8))


def brute_force_points(depth: np.ndarray, k: Intrinsics, T: np.ndarray) -> np.ndarray:
    """Reference back-projection, one pixel at a time (float64)."""
    out = []
    for v in range(k.height):
        for u in range(k.width):
            z = float(depth[v, u])
            if math.isfinite(z) and k.depth_min_m <= z <= k.depth_max_m:
                p_cam = np.array([(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z])
                out.append(T[:3, :3] @ p_cam + T[:3, 3])
    return np.array(out)


# --- intrinsics ---------------------------------------------------------------------------------

def test_intrinsics_from_mapping_and_object() -> None:
    k = Intrinsics.from_mapping({'width': 640, 'height': 480, 'fx': 615.0, 'fy': 616.0,
                                 'cx': 319.5, 'cy': 239.5})
    assert (k.depth_min_m, k.depth_max_m) == (0.1, 3.0)
    assert k.shape == (480, 640)
    np.testing.assert_allclose(k.K, [[615.0, 0.0, 319.5], [0.0, 616.0, 239.5], [0, 0, 1]])
    like_sim = SimpleNamespace(width=640, height=480, fx=615.0, fy=616.0, cx=319.5, cy=239.5,
                               depth_min_m=0.2, depth_max_m=2.0)
    k2 = Intrinsics.from_object(like_sim)
    assert k2.depth_min_m == 0.2 and k2.fy == 616.0
    assert as_intrinsics(k2) is k2
    assert as_intrinsics({'width': 4, 'height': 3, 'fx': 1, 'fy': 1, 'cx': 1, 'cy': 1}).width == 4
    np.testing.assert_allclose(k.project(np.array([[0.1, -0.2, 2.0]])),
                               [[615.0 * 0.05 + 319.5, 616.0 * -0.1 + 239.5]])


@pytest.mark.parametrize('changes, words', [
    ({'width': 0}, 'width'), ({'height': 2.5}, 'height'), ({'fx': -1.0}, 'focal'),
    ({'fy': float('nan')}, 'finite'), ({'cx': 64.0}, 'cx'), ({'cy': -0.5}, 'cy'),
    ({'depth_min_m': 0.0}, 'depth_min_m'), ({'depth_max_m': 0.05}, 'depth_max_m'),
    ({'fx': True}, 'number'),
])
def test_intrinsics_reject_bad_values(changes: dict, words: str) -> None:
    values = dict(width=64, height=48, fx=60.0, fy=55.0, cx=31.0, cy=24.5)
    values.update(changes)
    with pytest.raises(PerceptionInputError, match=words):
        Intrinsics(**values)


def test_intrinsics_mapping_errors() -> None:
    with pytest.raises(PerceptionInputError, match='unknown'):
        Intrinsics.from_mapping({'width': 4, 'height': 3, 'fx': 1, 'fy': 1, 'cx': 1, 'cy': 1,
                                 'k1': 0.1})
    with pytest.raises(PerceptionInputError, match='missing'):
        Intrinsics.from_mapping({'width': 4, 'height': 3})
    with pytest.raises(PerceptionInputError, match='mapping'):
        Intrinsics.from_mapping([('width', 4)])
    with pytest.raises(PerceptionInputError, match='no attribute'):
        Intrinsics.from_object(SimpleNamespace(width=4, height=3))


# --- back-projection ----------------------------------------------------------------------------

def test_cloud_matches_brute_force_with_rotation_and_translation() -> None:
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.3, 2.5, size=K.shape).astype(np.float32)
    cloud = depth_to_cloud(depth, K, T_BASE_CAM)
    assert isinstance(cloud, Cloud) and not cloud.is_empty and cloud.reason == ''
    assert cloud.points_base.dtype == np.float32
    assert cloud.points_base.shape == (K.width * K.height, 3)
    np.testing.assert_allclose(cloud.points_base, brute_force_points(depth, K, T_BASE_CAM),
                               atol=2e-6)
    np.testing.assert_array_equal(cloud.pixel_index, np.arange(K.width * K.height))
    np.testing.assert_allclose(cloud.camera_position_base, T_BASE_CAM[:3, 3])


def test_fixed_and_moving_camera_paths_agree() -> None:
    """Repeated calls with one pose use cached base-frame rays; a new pose the plain path."""
    rng = np.random.default_rng(6)
    depth = rng.uniform(0.3, 2.5, size=K.shape).astype(np.float32)
    other = pose((0.1, -2.0, 0.4), (0.0, 0.3, 1.2))
    for T in (T_BASE_CAM, T_BASE_CAM, T_BASE_CAM, other, T_BASE_CAM, other, other):
        cloud = depth_to_cloud(depth, K, T)
        np.testing.assert_allclose(cloud.points_base, brute_force_points(depth, K, T),
                                   atol=2e-6)


def test_a_frame_gives_the_same_points_bit_for_bit_cached_or_not() -> None:
    """The first frames of a process take the plain path, later ones the cached ray table:
    a run must not depend on which (a bench worker's second run starts with the table its
    first run left)."""
    depth = np.random.default_rng(7).uniform(0.3, 2.5, size=K.shape).astype(np.float32)
    depth[3:9, 10:30] = np.nan                      # a hole: fewer points than pixels
    T = pose((1.9, -0.4, 0.7), (0.4, 0.2, 1.0))
    first = depth_to_cloud(depth, K, T).points_base      # no table for this pose yet
    depth_to_cloud(depth, K, T)                           # builds the table
    cached = depth_to_cloud(depth, K, T).points_base      # reads it
    assert np.array_equal(first, cached)


def test_rotate_rows_is_row_independent() -> None:
    P = np.random.default_rng(8).normal(size=(50000, 3)).astype(np.float32)
    R = pose((0.3, -1.2, 0.5), (0, 0, 0))[:3, :3]
    whole = rotate_rows(P, R)
    np.testing.assert_allclose(whole, P @ R.T.astype(np.float32), atol=1e-5)
    assert whole.dtype == np.float32
    assert np.array_equal(whole[12345:12350], rotate_rows(P[12345:12350], R))


def test_points_project_back_to_their_pixels() -> None:
    depth = np.full(K.shape, 1.7, dtype=np.float32)
    cloud = depth_to_cloud(depth, K, T_BASE_CAM)
    uv, z = project_base_points(cloud.points_base, K, T_BASE_CAM)
    np.testing.assert_allclose(uv, cloud.pixels_uv(), atol=1e-4)
    np.testing.assert_allclose(z, 1.7, atol=1e-5)


def test_optical_frame_convention() -> None:
    """x right, y down, z forward: a camera 1 m above the floor looking straight down with
    image-up along +x of the base sees the principal point at the floor below it, pixels to
    the right at -y and pixels lower in the image at -x."""
    T = np.eye(4)
    T[:3, :3] = np.column_stack([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    T[:3, 3] = (0.5, 0.2, 1.0)
    k = Intrinsics(width=5, height=5, fx=100.0, fy=100.0, cx=2.0, cy=2.0)
    cloud = depth_to_cloud(np.ones(k.shape), k, T)
    p = cloud.points_base.reshape(5, 5, 3)
    np.testing.assert_allclose(p[2, 2], (0.5, 0.2, 0.0), atol=1e-6)
    np.testing.assert_allclose(p[2, 3], (0.5, 0.19, 0.0), atol=1e-6)   # one pixel right
    np.testing.assert_allclose(p[3, 2], (0.49, 0.2, 0.0), atol=1e-6)   # one pixel down


def test_invalid_depths_and_range_are_dropped() -> None:
    depth = np.full(K.shape, 1.0, dtype=np.float32)
    bad = {(0, 0): 0.0, (1, 2): np.nan, (2, 3): np.inf, (3, 4): -np.inf, (4, 5): -1.0,
           (5, 6): 0.05, (6, 7): 3.5}
    for (v, u), value in bad.items():
        depth[v, u] = value
    cloud = depth_to_cloud(depth, K, T_BASE_CAM)
    assert len(cloud) == K.width * K.height - len(bad)
    dropped = {v * K.width + u for v, u in bad}
    assert dropped.isdisjoint(cloud.pixel_index.tolist())
    assert np.all(np.isfinite(cloud.points_base))
    narrow = depth_to_cloud(depth, K, T_BASE_CAM, depth_min_m=0.9, depth_max_m=0.95)
    assert narrow.is_empty and 'in [0.9, 0.95] m' in narrow.reason


@pytest.mark.parametrize('fill, words', [(0.0, '0, NaN or inf'), (np.nan, '0, NaN or inf'),
                                         (5.0, 'none in')])
def test_all_invalid_depth_gives_an_empty_cloud_with_a_reason(fill: float, words: str) -> None:
    cloud = depth_to_cloud(np.full(K.shape, fill, dtype=np.float32), K, T_BASE_CAM)
    assert cloud.is_empty and len(cloud) == 0
    assert cloud.points_base.shape == (0, 3) and cloud.pixel_index.shape == (0,)
    assert words in cloud.reason


def test_uint16_depth_in_millimetres() -> None:
    rng = np.random.default_rng(2)
    depth_mm = rng.integers(0, 4000, size=K.shape).astype(np.uint16)
    a = depth_to_cloud(depth_mm, K, T_BASE_CAM)
    b = depth_to_cloud(depth_mm.astype(np.float64) / 1000.0, K, T_BASE_CAM)
    np.testing.assert_array_equal(a.pixel_index, b.pixel_index)
    np.testing.assert_allclose(a.points_base, b.points_base, atol=1e-5)
    c = depth_to_cloud(depth_mm, K, T_BASE_CAM, depth_unit_m=0.0005)
    assert len(c) > len(a)             # half the unit: more depths fall in the range


@pytest.mark.parametrize('depth, words', [
    (np.ones((48, 63), np.float32), 'shape'), (np.ones((48, 64), np.int32), 'dtype'),
    (np.ones((48, 64), bool), 'dtype'), (np.ones((48, 64), np.complex64), 'dtype'),
    (np.ones((48, 64, 1), np.float32), 'shape'),
])
def test_bad_depth_raises_one_line_input_error(depth: np.ndarray, words: str) -> None:
    with pytest.raises(PerceptionInputError, match=words) as info:
        depth_to_cloud(depth, K, T_BASE_CAM)
    assert '\n' not in str(info.value)


@pytest.mark.parametrize('T, words', [
    (np.eye(3), '4x4'), (np.diag([1.0, 1.0, 1.0, 2.0]), 'rigid'),
    (np.diag([2.0, 1.0, 1.0, 1.0]), 'rigid'), (np.diag([-1.0, 1.0, 1.0, 1.0]), 'rigid'),
    (np.full((4, 4), np.nan), 'non-finite'), ('not a pose', 'numeric'),
])
def test_non_rigid_pose_raises(T: object, words: str) -> None:
    with pytest.raises(PerceptionInputError, match=words) as info:
        depth_to_cloud(np.ones(K.shape, np.float32), K, T)
    assert '\n' not in str(info.value)


def test_bad_parameters_raise() -> None:
    depth = np.ones(K.shape, np.float32)
    with pytest.raises(PerceptionInputError, match='mask shape'):
        depth_to_cloud(depth, K, T_BASE_CAM, mask=np.ones((2, 2), bool))
    with pytest.raises(PerceptionInputError, match='mask must be bool'):
        depth_to_cloud(depth, K, T_BASE_CAM, mask=np.ones(K.shape, np.float32))
    with pytest.raises(PerceptionInputError, match='color'):
        depth_to_cloud(depth, K, T_BASE_CAM, color=np.zeros((48, 64, 3), np.float32))
    with pytest.raises(PerceptionInputError, match='stride_px'):
        depth_to_cloud(depth, K, T_BASE_CAM, stride_px=0)
    with pytest.raises(PerceptionInputError, match='voxel_size_m'):
        depth_to_cloud(depth, K, T_BASE_CAM, voxel_size_m=-0.01)
    with pytest.raises(PerceptionInputError, match='depth_min_m < depth_max_m'):
        depth_to_cloud(depth, K, T_BASE_CAM, depth_min_m=2.0, depth_max_m=1.0)


def test_mask_colour_and_stride() -> None:
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.5, 1.5, size=K.shape).astype(np.float32)
    color = rng.integers(0, 256, size=(*K.shape, 3), dtype=np.uint8)
    mask = np.zeros(K.shape, bool)
    mask[10:20, 30:40] = True
    cloud = depth_to_cloud(depth, K, T_BASE_CAM, mask=mask, color=color)
    assert len(cloud) == 100
    uv = cloud.pixels_uv()
    assert uv[:, 0].min() == 30 and uv[:, 1].max() == 19
    np.testing.assert_array_equal(cloud.colors, color[uv[:, 1], uv[:, 0]])
    full = depth_to_cloud(depth, K, T_BASE_CAM)
    np.testing.assert_array_equal(full.mask_selector(mask).nonzero()[0].size, 100)
    sub = full.select(full.mask_selector(mask))
    np.testing.assert_array_equal(sub.points_base, cloud.points_base)
    strided = depth_to_cloud(depth, K, T_BASE_CAM, stride_px=4)
    assert len(strided) == 12 * 16 and strided.stride_px == 4 and not strided.is_full_resolution
    assert np.all(strided.pixels_uv() % 4 == 0)


def test_voxel_downsampling_keeps_pixel_links() -> None:
    depth = np.full(K.shape, 1.0, dtype=np.float32)
    full = depth_to_cloud(depth, K, T_BASE_CAM)
    coarse = depth_to_cloud(depth, K, T_BASE_CAM, voxel_size_m=0.05)
    assert 0 < len(coarse) < len(full) / 4 and coarse.voxel_size_m == 0.05
    assert np.all(np.diff(coarse.pixel_index) > 0)
    # every voxel mean lies on the plane z_cam = 1 and within a voxel of its pixel's point
    _, z = project_base_points(coarse.points_base, K, T_BASE_CAM)
    np.testing.assert_allclose(z, 1.0, atol=1e-5)
    by_pixel = full.points_base[coarse.pixel_index]
    assert np.max(np.linalg.norm(coarse.points_base - by_pixel, axis=1)) < 0.05 * math.sqrt(3)
    np.testing.assert_allclose(coarse.points_base.mean(axis=0), full.points_base.mean(axis=0),
                               atol=0.01)


def test_crop_pixels_equals_brute_force() -> None:
    rng = np.random.default_rng(4)
    depth = rng.uniform(0.5, 1.5, size=K.shape).astype(np.float32)
    depth[rng.random(K.shape) < 0.3] = 0.0
    cloud = depth_to_cloud(depth, K, T_BASE_CAM)
    uv = cloud.pixels_uv()
    for (u0, v0, u1, v1) in [(5, 7, 20, 30), (0, 0, 64, 48), (-5, -5, 3, 2), (60, 40, 99, 99),
                             (10, 10, 10, 20)]:
        expected = np.flatnonzero((uv[:, 0] >= u0) & (uv[:, 0] < u1) & (uv[:, 1] >= v0)
                                  & (uv[:, 1] < v1))
        np.testing.assert_array_equal(cloud.crop_pixels(u0, v0, u1, v1), expected)


def test_points_in_box_equals_brute_force() -> None:
    rng = np.random.default_rng(5)
    depth = rng.uniform(0.5, 1.5, size=K.shape).astype(np.float32)
    cloud = depth_to_cloud(depth, K, T_BASE_CAM)
    points = cloud.points_base.astype(float)
    centre = points.mean(axis=0)
    for half in (0.05, 0.2, 5.0):
        lo, hi = centre - half, centre + half
        expected = points[np.all((points >= lo) & (points <= hi), axis=1)]
        found = cloud.points_in_box(lo, hi)
        assert found.dtype == np.float64 and len(found) > 0
        np.testing.assert_array_equal(found, expected)


def test_helpers() -> None:
    T = pose((0.3, -1.2, 0.5), (0.1, 0.2, 0.3))
    np.testing.assert_allclose(invert_rigid(T) @ T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(check_rigid(T), T)
    P = np.random.default_rng(5).normal(size=(40000, 3))
    np.testing.assert_allclose(transform_points(T, P), P @ T[:3, :3].T + T[:3, 3], atol=1e-12)
    np.testing.assert_allclose(matmul_rows(P, T[:3, :3]), P @ T[:3, :3], atol=1e-12)
    rays = pixel_rays(K)
    assert rays is pixel_rays(K) and not rays.flags.writeable
    np.testing.assert_allclose(rays[5 * K.width + 7], [(7 - K.cx) / K.fx, (5 - K.cy) / K.fy, 1.0],
                               rtol=1e-6)
    pcd = depth_to_cloud(np.ones(K.shape), K, T_BASE_CAM).to_open3d()
    assert len(pcd.points) == K.width * K.height


# --- against the simulator ----------------------------------------------------------------------

@pytest.fixture(scope='module')
def sim_frame():
    """One 640x480 render of the lab scene (noise on) and the simulator's back-projection."""
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    from resem3d_sim.camera import depth_to_points_base
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv

    env = TaskEnv.build(get_task('lab_flask_to_stirrer'), 0)
    camera = env.camera()
    try:
        frame = camera.render()
        T = camera.T_base_cam()
    finally:
        camera.close()
    reference = depth_to_points_base(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    reference_flask = depth_to_points_base(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                                           frame.mask_of('flask/body'))
    return frame, T, reference, reference_flask


def test_matches_the_simulator_convention(sim_frame) -> None:
    frame, T_camera, reference, reference_flask = sim_frame
    np.testing.assert_allclose(frame.T_base_cam, T_camera)
    k = Intrinsics.from_object(frame.intrinsics)
    assert (k.width, k.height) == (640, 480)
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    assert len(cloud) == len(reference) > 100000
    np.testing.assert_allclose(cloud.points_base, reference, atol=1e-5)
    # the simulator's part mask maps to points through the pixel index
    mask = frame.mask_of('flask/body')
    selected = cloud.points_base[cloud.mask_selector(mask)]
    assert len(selected) > 100
    np.testing.assert_allclose(selected, reference_flask, atol=1e-5)
