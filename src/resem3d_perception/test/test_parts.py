"""Tests of resem3d_perception.parts: mask -> 3D part, refinement, regions in object frames.

Accuracy on simulator renders (both task scenes). Ground truth of a part's centroid: the
centroid of the part's true surface points *visible from the camera*, one per pixel of the
part's mask, found by casting each pixel's ray against the simulator's exact geometry
(``mujoco.mj_multiRay``; a pixel counts when its ray hits a geom of that part). This is the
same pixel-weighted quantity the perception estimates, independent of the renderer's depth
buffer and of the depth noise; it is checked against a noise-free render of the same scene
(ray z vs clean depth). Parts with fewer than ``MIN_VISIBLE_PX`` (50) mask pixels are left
out; every other labelled part must come out within 1 cm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import binary_erosion
from scipy.spatial.transform import Rotation

import resem3d_constraints as rc
from resem3d_perception.cloud import Intrinsics, depth_to_cloud, invert_rigid, pixel_rays
from resem3d_perception.errors import PerceptionInputError
from resem3d_perception.parts import (EmptyRegionError, Part, cells_subregion,
                                      estimate_object_frame, fit_circle_2d, part_from_mask,
                                      parts_from_label_image, principal_axes,
                                      region_in_object_frame, rim_centre, tip, top_surface)

MIN_VISIBLE_PX = 50
CENTROID_TOL_M = 0.01
RIM_TOL_M = 0.005

# --- a synthetic scene: a camera 1 m above the floor looking down at a 10 cm high block -------

K = Intrinsics(width=120, height=100, fx=100.0, fy=100.0, cx=59.5, cy=49.5)
T_DOWN = np.eye(4)
T_DOWN[:3, :3] = np.column_stack([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
T_DOWN[:3, 3] = (0.5, 0.0, 1.0)
BLOCK = (slice(30, 70), slice(40, 80))           # rows, columns of the block's top face


def block_scene(flying: bool = False, holes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(depth, mask of the block top); optional flying pixels on the mask edge and holes."""
    depth = np.ones(K.shape, np.float32)
    depth[BLOCK] = 0.9
    mask = np.zeros(K.shape, bool)
    mask[BLOCK] = True
    if flying:  # the mask's outer ring mixes the block (0.9 m) and the floor (1.0 m)
        ring = mask & ~binary_erosion(mask)
        depth[ring] = 0.95
    if holes:
        depth[35:40, 45:50] = 0.0
    return depth, mask


def block_truth() -> np.ndarray:
    """Centroid of the block top (all its pixels) in the base frame."""
    rows, cols = np.mgrid[BLOCK]
    u, v = cols.ravel().astype(float), rows.ravel().astype(float)
    p_cam = np.column_stack([(u - K.cx) / K.fx * 0.9, (v - K.cy) / K.fy * 0.9,
                             np.full(u.size, 0.9)])
    return (p_cam @ T_DOWN[:3, :3].T + T_DOWN[:3, 3]).mean(axis=0)


def test_part_of_a_block_top() -> None:
    depth, mask = block_scene()
    cloud = depth_to_cloud(depth, K, T_DOWN)
    part = part_from_mask('block/top', mask, cloud)
    assert isinstance(part, Part) and part.name == 'block/top'
    np.testing.assert_allclose(part.centroid_base, block_truth(), atol=1e-6)
    np.testing.assert_allclose(part.centroid_base[2], 0.1, atol=1e-6)
    np.testing.assert_allclose(part.normal_base, (0.0, 0.0, 1.0), atol=1e-6)  # towards camera
    assert part.pixel_count == 40 * 40 and part.valid_fraction == 1.0
    assert part.point_count == 1600 and part.confidence == 1.0
    # the 1 px boundary band is eroded (depth-edge guard) and filled from the interior
    assert 1400 <= np.count_nonzero(part.measured) <= 38 * 38
    # image columns run along -y of the base (40 px at 0.9 m / 100 px -> 0.36 m wide)
    np.testing.assert_allclose(sorted(part.extent_m), [0.0, 0.351, 0.351], atol=1e-3)
    R = part.axes_base
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) > 0.999
    assert np.all(np.diff(part.pixel_index) > 0)


def test_flying_pixels_and_holes() -> None:
    depth, mask = block_scene(flying=True, holes=True)
    cloud = depth_to_cloud(depth, K, T_DOWN)
    raw = part_from_mask('block/top', mask, cloud, erode_px=0, outlier_neighbors=0,
                         fill_missing=False)
    part = part_from_mask('block/top', mask, cloud)
    truth = block_truth()
    assert abs(raw.centroid_base[2] - truth[2]) > 0.004          # the ring pulls it down
    np.testing.assert_allclose(part.centroid_base, truth, atol=1e-3)
    assert part.valid_fraction == pytest.approx(1.0 - 25 / 1600)
    assert part.point_count == 1600 and not part.measured.all()     # holes and ring filled
    assert len(part.measured_points_base) < 1600
    np.testing.assert_allclose(part.measured_points_base[:, 2], 0.1, atol=1e-6)


def test_part_errors() -> None:
    depth, mask = block_scene()
    cloud = depth_to_cloud(depth, K, T_DOWN)
    with pytest.raises(EmptyRegionError, match='empty') as info:
        part_from_mask('block/top', np.zeros(K.shape, bool), cloud)
    assert info.value.reason
    no_depth = depth.copy()
    no_depth[BLOCK] = 0.0
    with pytest.raises(EmptyRegionError, match='valid depth'):
        part_from_mask('block/top', mask, depth_to_cloud(no_depth, K, T_DOWN))
    with pytest.raises(PerceptionInputError, match='shape'):
        part_from_mask('block/top', mask[:10], cloud)
    with pytest.raises(PerceptionInputError, match='voxel'):
        part_from_mask('block/top', mask, depth_to_cloud(depth, K, T_DOWN, voxel_size_m=0.02))
    with pytest.raises(PerceptionInputError, match='erode_px'):
        part_from_mask('block/top', mask, cloud, erode_px=-1)


def test_parts_from_a_label_image_and_strided_cloud() -> None:
    depth, mask = block_scene()
    labels = np.zeros(K.shape, np.int32)
    labels[mask] = 1
    labels[0:3, 0:3] = 2
    parts, skipped = parts_from_label_image(labels, ('', 'block/top', 'floor/corner', 'x/none'),
                                            depth_to_cloud(depth, K, T_DOWN))
    assert set(parts) == {'block/top'} and set(skipped) == {'floor/corner', 'x/none'}
    assert 'valid depth' in skipped['floor/corner'] and 'empty' in skipped['x/none']
    strided = part_from_mask('block/top', mask, depth_to_cloud(depth, K, T_DOWN, stride_px=2))
    assert strided.pixel_count == 400
    np.testing.assert_allclose(strided.centroid_base, block_truth(), atol=0.01)


def test_principal_axes_are_deterministic_and_right_handed() -> None:
    rng = np.random.default_rng(0)
    box = rng.uniform(-1, 1, size=(2000, 3)) * (0.3, 0.1, 0.02)
    R = Rotation.from_euler('zyx', (0.4, 0.2, -0.3)).as_matrix()
    P = box @ R.T + (1.0, 2.0, 3.0)
    c1, A1, ev = principal_axes(P)
    c2, A2, _ = principal_axes(P[rng.permutation(len(P))])
    np.testing.assert_allclose(A1, A2, atol=1e-9)
    np.testing.assert_allclose(c1, c2, atol=1e-12)
    assert ev[0] > ev[1] > ev[2]
    assert np.linalg.det(A1) == pytest.approx(1.0)
    assert A1[0, 0] > 0 and A1[2, 2] > 0                  # major towards +x, minor towards +z
    assert abs(A1[:, 0] @ R[:, 0]) > 0.99 and abs(A1[:, 2] @ R[:, 2]) > 0.99
    # the constraint language's Region uses the same rule
    region = rc.Region.from_points('obj/part', P)
    np.testing.assert_allclose(region.axes_obj, A1, atol=1e-9)
    _, I, _ = principal_axes(np.ones((5, 3)))
    np.testing.assert_array_equal(I, np.eye(3))


# --- refinement ----------------------------------------------------------------------------------

def ring_points(centre: np.ndarray, radius: float, arc_deg: float = 270.0, n: int = 300,
                noise: float = 0.0005, seed: int = 0) -> np.ndarray:
    """A rim: a 5 mm high band of a circle (partial arc) plus a wall below it."""
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0.0, math.radians(arc_deg), n)
    z = rng.uniform(-0.005, 0.0, n)
    band = np.column_stack([radius * np.cos(phi), radius * np.sin(phi), z])
    phi_w = rng.uniform(0.0, math.radians(arc_deg), n)
    wall = np.column_stack([radius * np.cos(phi_w), radius * np.sin(phi_w),
                            rng.uniform(-0.1, -0.02, n)])
    return np.concatenate([band, wall]) + centre + rng.normal(0.0, noise, (2 * n, 3))


def test_rim_centre_of_a_partial_ring() -> None:
    centre = np.array([0.5, 0.1, 0.2])
    rim = rim_centre(ring_points(centre, 0.03), name='flask/opening')
    assert rim.kind == 'rim' and rim.name == 'flask/opening'
    np.testing.assert_allclose(rim.point_base, centre, atol=1.5e-3)
    assert rim.radius_m == pytest.approx(0.03, abs=1e-3)
    assert rim.residual_m < 1.5e-3
    np.testing.assert_allclose(rim.normal_base, (0, 0, 1))
    assert np.all(rim.points_base[:, 2] > 0.18)               # the band, not the wall
    circle = rim.circle_points_base(16)
    np.testing.assert_allclose(circle.mean(axis=0), rim.point_base, atol=1e-12)
    estimated_axis = rim_centre(ring_points(centre, 0.03, arc_deg=360.0), axis_base=None)
    np.testing.assert_allclose(estimated_axis.point_base, centre, atol=1.5e-3)
    assert estimated_axis.normal_base[2] > 0.99


def test_rim_and_circle_errors() -> None:
    with pytest.raises(EmptyRegionError, match='needs'):
        rim_centre(np.zeros((3, 3)))
    line = np.column_stack([np.linspace(0, 1, 20), np.zeros(20), np.zeros(20)])
    with pytest.raises(EmptyRegionError, match='collinear'):
        rim_centre(line)
    with pytest.raises(EmptyRegionError):
        fit_circle_2d(np.zeros((2, 2)))
    with pytest.raises(PerceptionInputError, match=r'\(N, 3\)'):
        rim_centre(np.zeros((10, 2)))
    centre, radius, rms = fit_circle_2d(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0],
                                                  [0.0, -1.0]]))
    np.testing.assert_allclose(centre, 0.0, atol=1e-9)
    assert radius == pytest.approx(1.0) and rms < 1e-9
    with pytest.raises(PerceptionInputError, match='circle points'):
        top_surface(np.ones((4, 3))).circle_points_base()


def test_top_surface_and_tip() -> None:
    rng = np.random.default_rng(1)
    stick = np.column_stack([rng.uniform(0.0, 0.2, 500), rng.uniform(-0.005, 0.005, 500),
                             rng.uniform(0.0, 0.01, 500)])
    top = top_surface(stick, slab_m=0.002, top_quantile=1.0)
    assert top.kind == 'top' and np.all(top.points_base[:, 2] >= 0.008 - 1e-12)
    assert top.point_base[2] > 0.008
    plus = tip(stick, '+', length_m=0.02)
    minus = tip(stick, '-', fraction=0.1)
    assert plus.point_base[0] == pytest.approx(0.19, abs=0.003)
    assert minus.point_base[0] == pytest.approx(0.01, abs=0.003)
    np.testing.assert_allclose(plus.normal_base, (1, 0, 0), atol=0.01)
    toward = tip(stick, (-1.0, 0.2, 0.0), length_m=0.02)
    np.testing.assert_allclose(toward.point_base, tip(stick, '-', length_m=0.02).point_base)
    with pytest.raises(PerceptionInputError, match='end'):
        tip(stick, 'left')
    with pytest.raises(PerceptionInputError, match='fraction'):
        tip(stick, '+', fraction=0.0)
    with pytest.raises(EmptyRegionError):
        tip(np.zeros((0, 3)))


def test_cells_subregion_intersects_the_part() -> None:
    depth, mask = block_scene()
    part = part_from_mask('block/top', mask, depth_to_cloud(depth, K, T_DOWN))
    cells = np.zeros(K.shape, bool)
    cells[30:50, 40:60] = True                      # the top-left quarter of the block
    cells[0:10, 0:10] = True                        # outside the part: ignored
    sub = cells_subregion(part, cells, name='block/corner')
    assert sub.kind == 'cells' and len(sub.points_base) == 400
    rows, cols = np.mgrid[30:50, 40:60]
    u, v = cols.ravel(), rows.ravel()
    p_cam = np.column_stack([(u - K.cx) / K.fx * 0.9, (v - K.cy) / K.fy * 0.9,
                             np.full(u.size, 0.9)])
    np.testing.assert_allclose(sub.point_base, (p_cam @ T_DOWN[:3, :3].T + T_DOWN[:3, 3]).mean(0),
                               atol=1e-6)
    empty = np.zeros(K.shape, bool)
    empty[0:5, 0:5] = True
    with pytest.raises(EmptyRegionError, match='cells hold 0 points'):
        cells_subregion(part, empty)
    with pytest.raises(PerceptionInputError, match='cell mask'):
        cells_subregion(part, np.ones((10, 7), bool))


def test_regions_in_the_object_frame() -> None:
    depth, mask = block_scene()
    part = part_from_mask('block/top', mask, depth_to_cloud(depth, K, T_DOWN))
    T_base_obj = np.eye(4)
    T_base_obj[:3, :3] = Rotation.from_euler('z', 0.7).as_matrix()
    T_base_obj[:3, 3] = (0.4, 0.1, 0.0)
    region = part.to_region(T_base_obj)
    assert isinstance(region, rc.Region) and region.frame == 'block'
    T_obj_base = invert_rigid(T_base_obj)
    np.testing.assert_allclose(region.centroid_obj,
                               T_obj_base[:3, :3] @ part.centroid_base + T_obj_base[:3, 3],
                               atol=1e-9)
    np.testing.assert_allclose(region.normal_obj, (0, 0, 1), atol=1e-9)
    rim = rim_centre(ring_points(np.array([0.5, 0.1, 0.2]), 0.03), name='flask/mouth')
    rim_region = rim.to_region(T_base_obj)
    np.testing.assert_allclose(rim_region.centroid_obj,
                               T_obj_base[:3, :3] @ rim.point_base + T_obj_base[:3, 3],
                               atol=1e-9)
    assert rim_region.extent_m.max() == pytest.approx(2 * rim.radius_m, rel=0.02)
    with pytest.raises(PerceptionInputError, match='object/part'):
        region_in_object_frame('no slash', part.points_base, T_base_obj)
    with pytest.raises(PerceptionInputError, match='rigid'):
        region_in_object_frame('a/b', part.points_base, np.diag([2.0, 1, 1, 1]))


def test_estimate_object_frame() -> None:
    rng = np.random.default_rng(2)
    body = rng.uniform(-1, 1, (3000, 3)) * (0.1, 0.03, 0.05) + (0.0, 0.0, 0.05)
    yaw = math.radians(30.0)
    R = Rotation.from_euler('z', yaw).as_matrix()
    P = body @ R.T + (0.6, -0.2, 0.0)
    T = estimate_object_frame(P)
    np.testing.assert_allclose(T[:3, 2], (0, 0, 1))
    assert abs(T[:3, 0] @ R[:, 0]) > 0.999 and T[0, 0] > 0
    np.testing.assert_allclose(np.linalg.det(T[:3, :3]), 1.0)
    np.testing.assert_allclose(T[:3, 3], (0.6, -0.2, 0.0), atol=0.005)
    Tc = estimate_object_frame([P[:1000], P[1000:]], origin='centroid')
    np.testing.assert_allclose(Tc[:3, 3], P.mean(axis=0), atol=1e-12)
    with pytest.raises(EmptyRegionError):
        estimate_object_frame([])
    with pytest.raises(PerceptionInputError, match='origin'):
        estimate_object_frame(P, origin='top')


# --- accuracy on simulator renders ---------------------------------------------------------------

def _ground_truth(env, frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per labelled pixel: its label, whether its ray hits that part, the hit point (base)."""
    import mujoco
    from resem3d_sim.camera import part_label_of_name

    model, data = env.world.model, env.world.data
    k = Intrinsics.from_object(frame.intrinsics)
    T = frame.T_base_cam
    pixels = np.flatnonzero(frame.part_mask.ravel() > 0)
    rays = pixel_rays(k)[pixels].astype(float) @ T[:3, :3].T        # z_cam = 1: hit = depth
    n = len(rays)
    geom = np.zeros(n, np.int32)
    dist = np.zeros(n)
    mujoco.mj_multiRay(model, data, T[:3, 3].copy(), rays.ravel().copy(),
                       np.array([1, 1, 1, 0, 0, 0], np.uint8), 1, -1, geom, dist, None, n, 10.0)
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ''
             for g in range(model.ngeom)]
    label_of_geom = np.array([part_label_of_name(nm) or '' for nm in names] + [''])
    labels = np.array(frame.labels)[frame.part_mask.ravel()[pixels]]
    hit = (label_of_geom[geom] == labels) & (dist > 0.0)
    return pixels, labels, hit, T[:3, 3] + dist[:, None] * rays


@pytest.fixture(scope='module', params=['household_mug_to_plate', 'lab_flask_to_stirrer'])
def scene(request):
    """One noisy and one noise-free render of a task scene, and the ray-cast ground truth."""
    pytest.importorskip('resem3d_sim', reason='resem3d_sim (test extra) is not installed')
    from resem3d_sim.camera import DepthNoise
    from resem3d_sim.catalog import get_task
    from resem3d_sim.tasks import TaskEnv

    env = TaskEnv.build(get_task(request.param), 0)
    with env.camera() as camera:
        frame = camera.render()
    with env.camera(noise=DepthNoise(enabled=False)) as camera:
        clean = camera.render()
    return env, frame, clean, _ground_truth(env, frame)


def test_ground_truth_matches_noise_free_depth(scene) -> None:
    _, frame, clean, (pixels, _, hit, p_hit) = scene
    assert hit.mean() > 0.99
    z_clean = clean.depth_m.ravel()[pixels][hit]
    z_ray = (p_hit[hit] - frame.T_base_cam[:3, 3]) @ frame.T_base_cam[:3, 2]
    diff = np.abs(z_ray - z_clean)[z_clean > 0]
    assert np.median(diff) < 1e-4 and np.percentile(diff, 99) < 1e-3


def test_part_centroids_within_1cm(scene) -> None:
    _, frame, _, (_, labels, hit, p_hit) = scene
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    errors = {}
    for index, label in enumerate(frame.labels):
        visible = hit & (labels == label)
        if index == 0 or np.count_nonzero(frame.part_mask == index) < MIN_VISIBLE_PX:
            continue
        part = part_from_mask(label, frame.part_mask == index, cloud)
        errors[label] = float(np.linalg.norm(part.centroid_base - p_hit[visible].mean(axis=0)))
    assert len(errors) >= 15, errors
    worst = max(errors, key=errors.get)
    assert errors[worst] <= CENTROID_TOL_M, f'{worst}: {errors[worst] * 1e3:.1f} mm ({errors})'


# Openings centred on their object's z axis (the simulator's containers), by part label.
RIM_PARTS = ('mug/body', 'flask/mouth', 'beaker/rim')


def part_top_obj(info, label: str) -> float:
    """Height (m, object frame) of the top of a part's geoms: the rim's plane."""
    return max(float(info.shapes[geom].corners_obj()[:, 2].max()) for geom in info.parts[label])


def test_rim_centres_of_openings(scene) -> None:
    """Rim fits are biased towards the camera by about half the wall thickness (the near
    side shows its outer face, the far side its inner face): tolerance 5 mm."""
    env, frame, _, _ = scene
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    checked = []
    for label in RIM_PARTS:
        if label not in frame.labels:
            continue
        obj = label.split('/')[0]
        top_m = part_top_obj(env.object_info(obj), label)
        rim = rim_centre(part_from_mask(label, frame.mask_of(label), cloud))
        T_base_obj = env.pose(obj)
        truth = T_base_obj[:3, :3] @ (0.0, 0.0, top_m) + T_base_obj[:3, 3]
        error = rim.point_base - truth
        assert np.hypot(error[0], error[1]) <= RIM_TOL_M, (label, error)
        assert abs(error[2]) <= RIM_TOL_M, (label, error)
        region = rim.to_region(T_base_obj, name=f'{obj}/opening')
        np.testing.assert_allclose(region.centroid_obj, (0.0, 0.0, top_m), atol=RIM_TOL_M)
        assert region.normal_obj[2] > 0.99
        checked.append(label)
    assert checked


def test_object_frame_from_sim_parts(scene) -> None:
    env, frame, _, _ = scene
    obj = 'mug' if 'mug/body' in frame.labels else 'flask'
    cloud = depth_to_cloud(frame.depth_m, frame.intrinsics, frame.T_base_cam)
    parts, skipped = parts_from_label_image(frame.part_mask, frame.labels, cloud)
    mine = [p.points_base for name, p in parts.items() if name.startswith(f'{obj}/')]
    T = estimate_object_frame(mine)
    truth = env.pose(obj)
    np.testing.assert_allclose(T[:3, 2], (0, 0, 1))
    assert abs(T[2, 3] - truth[2, 3]) < 0.005                 # stands on the table
    assert np.linalg.norm(T[:2, 3] - truth[:2, 3]) < 0.04     # visible side: biased, near
    assert all(isinstance(reason, str) and reason for reason in skipped.values())
