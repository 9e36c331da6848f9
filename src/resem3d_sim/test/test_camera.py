"""Tests of the RGB-D camera: intrinsics, optical-frame convention, depth, part masks, noise."""

from __future__ import annotations


import numpy as np
import pytest

from resem3d_sim.camera import (
    CameraConfigError,
    CameraError,
    CameraIntrinsics,
    DepthNoise,
    RgbdCamera,
    add_camera,
    depth_to_points_base,
    edge_mask,
    look_at,
    part_label_of_name,
)

import mujoco  # after resem3d_sim.camera, which selects the OpenGL backend first

CLEAN = DepthNoise(enabled=False)
# Box 'block/body': centre, yaw (rad) and half sizes (m); its top face is at z = 0.10 m.
BLOCK_POS = np.array([0.55, 0.06, 0.05])
BLOCK_YAW = 0.4
BLOCK_HALF = np.array([0.04, 0.03, 0.05])
# Cylinder 'mug/body': centre, radius, half height (m).
MUG_POS = np.array([0.45, -0.12, 0.045])
MUG_RADIUS, MUG_HALF_HEIGHT = 0.035, 0.045
LEG_POS = [np.array([0.40, 0.14, 0.04]), np.array([0.40, 0.22, 0.04])]
DECOR_POS = {'decor': np.array([0.70, -0.20, 0.03]), '': np.array([0.75, 0.20, 0.03]),
             'robot/link0/visual': np.array([0.30, -0.25, 0.03])}
DECOR_RADIUS = 0.03
BASE_POS, BASE_YAW = np.array([0.1, -0.2, 0.02]), 0.7
EYE, TARGET = np.array([0.0, 0.0, 0.6]), np.array([0.5, 0.0, 0.05])


def _yaw_quat(yaw: float) -> list[float]:
    return [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]


def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _scene_spec() -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    world = spec.worldbody
    world.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[1.5, 1.5, 0.01],
                   rgba=[0.6, 0.6, 0.6, 1])
    world.add_geom(name='block/body', type=mujoco.mjtGeom.mjGEOM_BOX, size=BLOCK_HALF.tolist(),
                   pos=BLOCK_POS.tolist(), quat=_yaw_quat(BLOCK_YAW), rgba=[0.8, 0.2, 0.2, 1])
    world.add_geom(name='mug/body', type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                   size=[MUG_RADIUS, MUG_HALF_HEIGHT, 0], pos=MUG_POS.tolist(),
                   rgba=[0.2, 0.3, 0.8, 1])
    world.add_geom(name='mug/handle', type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.008, 0.01, 0.025],
                   pos=(MUG_POS + [0.0, -MUG_RADIUS - 0.008, 0.005]).tolist())
    for k, p in enumerate(LEG_POS):
        world.add_geom(name=f'rack/leg#{k}', type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                       size=[0.01, 0.04, 0], pos=p.tolist(), rgba=[0.2, 0.7, 0.2, 1])
    for name, p in DECOR_POS.items():
        world.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[DECOR_RADIUS, 0, 0],
                       pos=p.tolist())
    world.add_site(name='marker', pos=BLOCK_POS.tolist(), size=[0.05, 0, 0])  # never drawn
    world.add_body(name='robot_base', pos=BASE_POS.tolist(), quat=_yaw_quat(BASE_YAW))
    return spec


@pytest.fixture(scope='module')
def scene():
    spec = _scene_spec()
    T_base_cam = look_at(EYE, TARGET)
    add_camera(spec, 'rs', T_base_cam, CameraIntrinsics())
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return model, data, T_base_cam


@pytest.fixture(scope='module')
def clean_camera(scene):
    model, data, _ = scene
    with RgbdCamera(model, data, 'rs', CameraIntrinsics(), CLEAN) as camera:
        yield camera


@pytest.fixture(scope='module')
def frame(clean_camera):
    return clean_camera.render()


def _geom_id(model: mujoco.MjModel, name: str) -> int:
    return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)


def _pixel(frame, p_base: np.ndarray) -> tuple[int, int]:
    T = frame.T_base_cam
    p_cam = T[:3, :3].T @ (p_base - T[:3, 3])
    u, v = frame.intrinsics.project(p_cam)
    return int(round(v)), int(round(u))


# --- intrinsics ------------------------------------------------------------------------------

def test_intrinsics_defaults_K_and_fovy():
    k = CameraIntrinsics()
    assert (k.width, k.height, k.fx, k.fy, k.cx, k.cy) == (640, 480, 615.0, 615.0, 319.5, 239.5)
    assert (k.depth_min_m, k.depth_max_m) == (0.1, 3.0)
    np.testing.assert_allclose(k.K, [[615, 0, 319.5], [0, 615, 239.5], [0, 0, 1]])
    assert k.fovy_deg == pytest.approx(np.degrees(2 * np.arctan(240 / 615)))
    assert k.is_centred and not CameraIntrinsics(cx=300.0).is_centred


@pytest.mark.parametrize('bad', [
    {'width': 0}, {'height': -4}, {'width': 640.0}, {'width': True}, {'fx': 0.0},
    {'fy': -1.0}, {'fx': float('nan')}, {'cx': -0.5}, {'cx': 640.0}, {'cy': 480.0},
    {'depth_min_m': 0.0}, {'depth_min_m': 3.0}, {'depth_max_m': 0.05}, {'fx': '615'},
])
def test_bad_intrinsics_raise_one_line_errors(bad):
    with pytest.raises(CameraConfigError) as info:
        CameraIntrinsics(**bad)
    assert '\n' not in str(info.value) and str(info.value)


def test_intrinsics_from_mapping_round_trips_and_rejects_unknown_keys():
    k = CameraIntrinsics.from_mapping({'width': 320, 'height': 240, 'fx': 300, 'fy': 301.5,
                                       'cx': 160.0, 'cy': 119.5, 'depth_max_m': 2})
    assert k == CameraIntrinsics(320, 240, 300.0, 301.5, 160.0, 119.5, 0.1, 2.0)
    assert isinstance(k.fx, float)
    assert CameraIntrinsics.from_mapping({}) == CameraIntrinsics()
    with pytest.raises(CameraConfigError, match='unknown'):
        CameraIntrinsics.from_mapping({'fxx': 600.0})
    with pytest.raises(CameraConfigError):
        CameraIntrinsics.from_mapping([('fx', 600.0)])


def test_noise_config_validation():
    assert DepthNoise.from_mapping({'sigma_a_per_m': 0.004}).sigma_a_per_m == 0.004
    for bad in ({'quantisation_m': -0.001}, {'dropout_fraction': 1.0}, {'edge_jump_m': 0.0},
                {'edge_dilate_px': -1}, {'seed': 1.5}, {'enabled': 'yes'}, {'sigma': 1.0}):
        with pytest.raises(CameraConfigError):
            DepthNoise.from_mapping(bad)


# --- optical frame convention ----------------------------------------------------------------

def test_optical_frame_projection_convention():
    k = CameraIntrinsics(cx=300.0, cy=250.0)
    np.testing.assert_allclose(k.project([0.0, 0.0, 1.0]), [300.0, 250.0])
    u, v = k.project(np.array([[0.1, 0.0, 1.0], [0.0, 0.1, 1.0]])).T
    assert u[0] > 300.0 and v[0] == pytest.approx(250.0)  # to the right: larger u
    assert v[1] > 250.0 and u[1] == pytest.approx(300.0)  # below: larger v
    # look_at: z towards the target, x right, y down (against up).
    T = look_at([0.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(T[:3, :3], [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-12)
    with pytest.raises(CameraConfigError):
        look_at([0, 0, 1], [0, 0, 0])  # looking along up
    with pytest.raises(CameraConfigError):
        look_at([0, 0, 1], [0, 0, 1])


def test_rendered_image_follows_pinhole_model_with_offcentre_anisotropic_intrinsics():
    """Balls at known points render where K projects them (fx != fy, off-centre cx, cy)."""
    k = CameraIntrinsics(320, 240, 300.0, 320.0, 140.0, 135.5)
    T_base_cam = look_at([0.0, 0.0, 0.5], [0.6, 0.1, 0.0])
    p_cam = np.array([[0.0, 0.0, 0.6], [0.15, -0.05, 0.55], [-0.12, 0.09, 0.7]])
    p_base = p_cam @ T_base_cam[:3, :3].T + T_base_cam[:3, 3]
    spec = mujoco.MjSpec()
    for i, p in enumerate(p_base):
        spec.worldbody.add_geom(name=f'ball/b{i}', type=mujoco.mjtGeom.mjGEOM_SPHERE,
                                size=[0.008, 0, 0], pos=p.tolist())
    add_camera(spec, 'cam', T_base_cam, k)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with RgbdCamera(model, data, 'cam', k, CLEAN) as camera:
        frame = camera.render()
    for i, p in enumerate(p_cam):
        v, u = np.nonzero(frame.mask_of(f'ball/b{i}'))
        assert len(u) > 20
        np.testing.assert_allclose([u.mean(), v.mean()], k.project(p), atol=0.3)
        # Depth is the optical z of the ball's front along the ray through its centre, not the
        # length of that ray (they differ by up to 20 mm here).
        ray_m = np.linalg.norm(p) - 0.008
        depth = frame.depth_m[int(round(v.mean())), int(round(u.mean()))]
        assert depth == pytest.approx(ray_m * p[2] / np.linalg.norm(p), abs=5e-4)


# --- poses, labels, geometry -----------------------------------------------------------------

def test_T_base_cam_matches_the_pose_given_to_add_camera(scene, frame):
    _, _, T_base_cam = scene
    np.testing.assert_allclose(frame.T_base_cam, T_base_cam, atol=1e-9)
    assert frame.intrinsics == CameraIntrinsics()


def test_T_base_cam_in_a_base_body_frame(scene):
    model, data, T_world_cam = scene
    T_world_base = np.eye(4)
    T_world_base[:3, :3], T_world_base[:3, 3] = _yaw_matrix(BASE_YAW), BASE_POS
    with RgbdCamera(model, data, 'rs', None, CLEAN, base_body='robot_base') as camera:
        assert camera.intrinsics == CameraIntrinsics()  # read back from the model
        np.testing.assert_allclose(camera.T_base_cam(),
                                   np.linalg.inv(T_world_base) @ T_world_cam, atol=1e-9)
    with pytest.raises(CameraConfigError, match='body'):
        RgbdCamera(model, data, 'rs', None, CLEAN, base_body='nope')


def test_clean_depth_of_the_block_lies_on_its_surface(frame):
    points = depth_to_points_base(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                                  mask=frame.mask_of('block/body'))
    assert len(points) > 1000
    p_box = (points - BLOCK_POS) @ _yaw_matrix(BLOCK_YAW)  # into the box frame
    outside = np.abs(p_box) - BLOCK_HALF
    distance = np.where(np.all(outside <= 0, axis=1), outside.max(axis=1),
                        np.linalg.norm(np.maximum(outside, 0.0), axis=1))
    assert np.abs(distance).max() < 0.002
    # Points over the top face's footprint (2 mm in from its rim) are on the top face.
    over_top = np.all(np.abs(p_box[:, :2]) < BLOCK_HALF[:2] - 0.002, axis=1)
    top = points[over_top]
    assert len(top) > 300
    np.testing.assert_allclose(top[:, 2], 0.10, atol=0.002)


def test_clean_depth_of_the_mug_and_floor(frame):
    mug = depth_to_points_base(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                               mask=frame.mask_of('mug/body'))
    radial = np.linalg.norm(mug[:, :2] - MUG_POS[:2], axis=1)
    on_side = np.abs(radial - MUG_RADIUS) < 0.002
    on_cap = (np.abs(mug[:, 2] - 2 * MUG_HALF_HEIGHT) < 0.002) & (radial < MUG_RADIUS + 0.002)
    assert len(mug) > 500 and np.all(on_side | on_cap) and on_cap.sum() > 100
    rest = depth_to_points_base(frame.depth_m, frame.intrinsics, frame.T_base_cam,
                                mask=frame.part_mask == 0)
    near_decor = np.zeros(len(rest), dtype=bool)
    for p in DECOR_POS.values():
        near_decor |= np.linalg.norm(rest - p, axis=1) < DECOR_RADIUS + 0.002
    assert near_decor.sum() > 100
    np.testing.assert_allclose(rest[~near_decor, 2], 0.0, atol=0.002)  # the floor


def test_part_mask_covers_the_labelled_geoms(scene, clean_camera, frame):
    model, _, _ = scene
    assert frame.labels == ('', 'block/body', 'mug/body', 'mug/handle', 'rack/leg')
    assert clean_camera.labels == frame.labels
    assert frame.part_mask.dtype == np.int32 and frame.part_mask.shape == (480, 640)
    for index, label in enumerate(frame.labels):
        mask = frame.part_mask == index
        assert mask.sum() > 50, label
        if index:
            np.testing.assert_array_equal(frame.mask_of(label), mask)
    labels_of = {frame.labels[frame.part_mask[_pixel(frame, p)]]: p for p in (
        BLOCK_POS + [0, 0, BLOCK_HALF[2]], MUG_POS + [0, 0, MUG_HALF_HEIGHT])}
    assert set(labels_of) == {'block/body', 'mug/body'}
    for p in LEG_POS:  # both geoms of the part carry its one label
        assert frame.labels[frame.part_mask[_pixel(frame, p + [0, 0, 0.04])]] == 'rack/leg'
    for p in DECOR_POS.values():  # unnamed, unconventional names: unlabelled
        assert frame.part_mask[_pixel(frame, p)] == 0
    label_of_geom = clean_camera.label_of_geom
    assert label_of_geom[_geom_id(model, 'rack/leg#1')] == frame.labels.index('rack/leg')
    assert label_of_geom[_geom_id(model, 'floor')] == 0
    with pytest.raises(KeyError):
        frame.mask_of('nope/none')
    with pytest.raises(KeyError):
        frame.mask_of('')


def test_label_names_and_explicit_part_labels(scene):
    assert part_label_of_name('mug/handle#12') == 'mug/handle'
    assert part_label_of_name('mug/handle') == 'mug/handle'
    for name in ('mug', 'robot/link0/visual', 'mug/', '/handle', 'mug/handle#', 'a b/c'):
        assert part_label_of_name(name) is None, name
    model, data, _ = scene
    block = _geom_id(model, 'block/body')
    with RgbdCamera(model, data, 'rs', part_labels={block: 'thing/a', 'mug/': 'cup/all',
                                                    'mug/han': 'cup/handle'}) as camera:
        assert camera.labels == ('', 'cup/all', 'cup/handle', 'thing/a')
        got = camera.label_of_geom
        assert got[block] == 3 and got[_geom_id(model, 'mug/body')] == 1
        assert got[_geom_id(model, 'mug/handle')] == 2  # the longest prefix wins
        assert got[_geom_id(model, 'rack/leg#0')] == 0
    for bad in ({block: 'no_slash'}, {-1: 'a/b'}, {model.ngeom: 'a/b'}, {'': 'a/b'}):
        with pytest.raises(CameraConfigError):
            RgbdCamera(model, data, 'rs', part_labels=bad)


def test_frames_equal_mujoco_renderers_colour_depth_and_segmentation(scene, clean_camera):
    model, data, _ = scene
    with RgbdCamera(model, data, 'rs', noise=CLEAN, antialias=True) as camera:
        frame = camera.render()
    aliased = clean_camera.render()
    renderer = mujoco.Renderer(model, 480, 640)
    try:
        renderer.update_scene(data, 'rs')
        color = renderer.render()
        renderer.enable_depth_rendering()
        depth = renderer.render()
        renderer.enable_segmentation_rendering()
        seg = renderer.render()
    finally:
        renderer.close()
    # The Renderer's default options draw the site; compare where it shows geoms or nothing.
    not_site = seg[..., 1] != mujoco.mjtObj.mjOBJ_SITE
    assert 0 < (~not_site).mean() < 0.05
    valid = (frame.depth_m > 0) & not_site
    assert valid.mean() > 0.9
    np.testing.assert_allclose(frame.depth_m[valid], depth[valid], rtol=1e-5)
    geom_ids = np.where(seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM, seg[..., 0], -1)
    expected = np.where(geom_ids >= 0, clean_camera.label_of_geom[geom_ids], 0)
    np.testing.assert_array_equal(frame.part_mask[not_site], expected[not_site])
    # Colour: equal but for the site's anti-aliased rim and shadow.
    assert np.mean(np.any(frame.color != color, axis=-1)[not_site]) < 0.002
    # Without multisampling only colour edges change.
    np.testing.assert_array_equal(aliased.part_mask, frame.part_mask)
    np.testing.assert_allclose(aliased.depth_m, frame.depth_m, rtol=1e-6)
    assert 0 < np.mean(np.any(frame.color != aliased.color, axis=-1)) < 0.05


def test_stamp_and_close(scene):
    model, data, _ = scene
    camera = RgbdCamera(model, data, 'rs', noise=CLEAN)
    data.time = 1.25
    try:
        assert camera.render().stamp_s == 1.25
    finally:
        data.time = 0.0
        camera.close()
    camera.close()  # idempotent
    with pytest.raises(CameraError, match='closed'):
        camera.render()


def test_camera_configuration_errors(scene):
    model, data, _ = scene
    with pytest.raises(CameraConfigError, match='no camera'):
        RgbdCamera(model, data, 'nope')
    with pytest.raises(CameraConfigError, match='fx='):
        RgbdCamera(model, data, 'rs', CameraIntrinsics(fx=600.0))
    with pytest.raises(CameraConfigError, match='clipping'):
        RgbdCamera(model, data, 'rs', CameraIntrinsics(depth_max_m=100.0))
    spec = mujoco.MjSpec()
    add_camera(spec, 'big', np.eye(4), CameraIntrinsics(1280, 720, 900, 900, 639.5, 359.5))
    spec.visual.global_.offwidth = 640
    small = spec.compile()
    with pytest.raises(CameraConfigError, match='framebuffer'):
        RgbdCamera(small, mujoco.MjData(small), 'big')
    spec = mujoco.MjSpec()
    with pytest.raises(CameraConfigError, match='rigid'):
        add_camera(spec, 'cam', np.diag([1.0, 1.0, -1.0, 1.0]), CameraIntrinsics())
    # A plain fovy camera works when the intrinsics are square and centred.
    spec.worldbody.add_camera(name='plain', fovy=CameraIntrinsics().fovy_deg)
    spec.visual.global_.offwidth, spec.visual.global_.offheight = 640, 480
    model2 = spec.compile()
    data2 = mujoco.MjData(model2)
    RgbdCamera(model2, data2, 'plain', CameraIntrinsics()).close()
    with pytest.raises(CameraConfigError, match='fovy'):
        RgbdCamera(model2, data2, 'plain', CameraIntrinsics(cx=300.0))
    with pytest.raises(CameraConfigError, match='pass intrinsics'):
        RgbdCamera(model2, data2, 'plain')


# --- depth back-projection and noise ---------------------------------------------------------

def test_depth_to_points_base_back_projects_and_drops_invalid_pixels():
    k = CameraIntrinsics(8, 6, 10.0, 12.0, 3.5, 2.5)
    depth = np.full((6, 8), 2.0, dtype=np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2] = 0.0, np.nan, -1.0
    T = look_at([1.0, 2.0, 3.0], [1.0, 2.0, 0.0], up_base=(1.0, 0.0, 0.0))
    points = depth_to_points_base(depth, k, T)
    assert points.shape == (45, 3)
    np.testing.assert_allclose(points[:, 2], 1.0)  # the plane z_cam = 2 m is z_base = 1 m
    p_cam = (points - T[:3, 3]) @ T[:3, :3]
    v, u = np.nonzero(np.isfinite(depth) & (depth > 0))
    np.testing.assert_allclose(k.project(p_cam), np.column_stack([u, v]), atol=1e-9)
    mask = np.zeros((6, 8), dtype=bool)
    mask[5, 7] = mask[0, 0] = True
    assert depth_to_points_base(depth, k, T, mask=mask).shape == (1, 3)
    with pytest.raises(ValueError):
        depth_to_points_base(depth[:5], k, T)


def test_noise_std_grows_with_range_and_is_quantised():
    noise = DepthNoise(sigma_a_per_m=0.002, dropout_fraction=0.0)
    rng = np.random.default_rng(0)
    for z in (0.5, 1.0, 2.0):
        noisy = noise.apply(np.full((200, 200), z, dtype=np.float32), rng)
        assert np.all(noisy > 0)
        steps = noisy / 0.001
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
        expected = np.hypot(0.002 * z * z, 0.001 / np.sqrt(12))
        assert noisy.std() == pytest.approx(expected, rel=0.05)
        assert noisy.mean() == pytest.approx(z, abs=3 * expected / 200 + 1e-4)


def test_noise_invalidates_edges_and_drops_out():
    depth = np.full((100, 100), 0.5, dtype=np.float32)
    depth[:, 50:] = 1.0  # a 0.5 m step between columns 49 and 50
    depth[:10, :10] = 0.0  # a no-return corner
    noise = DepthNoise(dropout_fraction=0.05, seed=1)
    noisy = noise.apply(depth, np.random.default_rng(1))
    assert np.all(noisy[:, 48:52] == 0)  # both edge columns, dilated by 1 px
    assert np.all(noisy[:11, :11] == 0)  # the hole and its dilated rim
    interior = np.ones((100, 100), dtype=bool)
    interior[:, 47:53] = interior[:12, :12] = False
    assert np.mean(noisy[interior] == 0) == pytest.approx(0.05, abs=0.01)
    mask = edge_mask(depth, 0.05, 0)
    assert mask[50, 49] and mask[50, 50] and not mask[50, 48] and not mask[5, 5]
    small_steps = np.tile(np.arange(100, dtype=np.float32) * 0.01 + 0.5, (10, 1))
    assert not edge_mask(small_steps, 0.05, 1).any()  # a slanted surface has no edges


def test_noise_is_seeded_and_can_be_disabled():
    depth = np.full((50, 60), 1.2, dtype=np.float32)
    noise = DepthNoise(sigma_a_per_m=0.004, dropout_fraction=0.01)
    a = noise.apply(depth, np.random.default_rng(7))
    np.testing.assert_array_equal(a, noise.apply(depth, np.random.default_rng(7)))
    assert np.any(a != noise.apply(depth, np.random.default_rng(8)))
    clean = CLEAN.apply(depth, np.random.default_rng(7))
    np.testing.assert_array_equal(clean, depth)
    assert clean is not depth


def test_rendered_noise_matches_the_model(scene, frame):
    model, data, _ = scene
    noise = DepthNoise(sigma_a_per_m=0.003, dropout_fraction=0.01, seed=3)
    with RgbdCamera(model, data, 'rs', noise=noise) as a, \
            RgbdCamera(model, data, 'rs', noise=noise) as b:
        first, second = a.render(), a.render()
        np.testing.assert_array_equal(first.depth_m, b.render().depth_m)  # same seed
    assert np.any(first.depth_m != second.depth_m)  # fresh noise every frame
    np.testing.assert_array_equal(first.part_mask, frame.part_mask)
    clean, noisy = frame.depth_m, first.depth_m
    valid = noisy > 0
    assert np.all((noisy[valid] >= 0.1) & (noisy[valid] <= 3.0))
    assert np.all(noisy[edge_mask(clean, noise.edge_jump_m, 1)] == 0)
    assert 0.8 < valid.sum() / (clean > 0).sum() < 0.99
    both = valid & (clean > 0)
    error, z = (noisy - clean)[both], clean[both]
    for low, high in ((0.6, 0.75), (0.95, 1.3)):
        band = (z > low) & (z < high)
        expected = np.sqrt(np.mean((0.003 * z[band] ** 2) ** 2) + 0.001 ** 2 / 12)
        assert error[band].std() == pytest.approx(expected, rel=0.1), (low, high)
