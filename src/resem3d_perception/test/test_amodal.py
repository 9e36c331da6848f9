"""Amodal centres of round parts and bars from their visible side (resem3d_perception.amodal)."""

import math

import numpy as np
import pytest

import resem3d_constraints as rc
from resem3d_perception.amodal import (AmodalConfig, amodal_centre, bar_centre, disc_centre,
                                       rod_centre, round_centre, round_slab, round_slab_fill,
                                       slab_centre, with_centres)


def _half_cylinder(centre_xy, radius_m, z_range_m, arc_deg=180.0, n=400, seed=0):
    """Points on the camera-facing arc of a vertical cylinder (camera on -x)."""
    rng = np.random.default_rng(seed)
    a = np.radians(rng.uniform(180.0 - arc_deg / 2, 180.0 + arc_deg / 2, n))
    z = rng.uniform(*z_range_m, n)
    return np.column_stack([centre_xy[0] + radius_m * np.cos(a),
                            centre_xy[1] + radius_m * np.sin(a), z])


def _bar_top_and_side(centre, length_m=0.12, thickness_m=0.012, height_m=0.014,
                      side_fraction=0.6, noise_m=0.0005, n=600, seed=0):
    """A horizontal bar along y seen from above and from -x: its whole top face and the upper
    ``side_fraction`` of its -x side, with depth-like noise."""
    rng = np.random.default_rng(seed)
    cx, cy, cz = centre
    n_top = int(n * 0.7)
    top = np.column_stack([
        rng.uniform(cx - thickness_m / 2, cx + thickness_m / 2, n_top),
        rng.uniform(cy - length_m / 2, cy + length_m / 2, n_top),
        np.full(n_top, cz + height_m / 2)])
    n_side = n - n_top
    side = np.column_stack([
        np.full(n_side, cx - thickness_m / 2),
        rng.uniform(cy - length_m / 2, cy + length_m / 2, n_side),
        rng.uniform(cz + height_m / 2 - side_fraction * height_m, cz + height_m / 2, n_side)])
    return np.vstack([top, side]) + rng.normal(0.0, noise_m, (n, 3))


def test_round_centre_finds_the_axis_of_a_half_seen_cylinder():
    P = _half_cylinder((0.5, 0.1), 0.04, (0.0, 0.1))
    axis = round_centre(P)
    assert axis is not None
    assert np.linalg.norm(axis - [0.5, 0.1]) < 1e-3
    assert np.linalg.norm(P[:, :2].mean(axis=0) - [0.5, 0.1]) > 0.02   # the mean is far off


def test_round_centre_rejects_a_narrow_arc_and_a_flat_face():
    assert round_centre(_half_cylinder((0.5, 0.1), 0.04, (0.0, 0.1), arc_deg=60.0)) is None
    rng = np.random.default_rng(1)
    face = np.column_stack([np.full(300, 0.5), rng.uniform(0, 0.2, 300), rng.uniform(0, 0.1, 300)])
    assert round_centre(face) is None
    assert round_centre(face[:5]) is None                                # too few points


def test_bar_centre_is_within_two_millimetres_of_the_true_centre():
    centre = np.array([0.65, 0.21, 0.157])
    P = _bar_top_and_side(centre)
    estimate = bar_centre(P)
    assert estimate is not None
    assert np.linalg.norm(estimate - centre) < 0.002
    # The mean of the visible points is well above the centre (most lie on the top face).
    assert P.mean(axis=0)[2] - centre[2] > 0.004


def test_bar_centre_works_for_a_bar_at_any_yaw():
    centre = np.array([0.4, -0.2, 0.15])
    yaw = math.radians(35.0)
    R = np.array([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0],
                  [0.0, 0.0, 1.0]])
    P = (_bar_top_and_side(np.zeros(3), seed=3)) @ R.T + centre
    estimate = bar_centre(P)
    assert estimate is not None
    assert np.linalg.norm(estimate - centre) < 0.002


@pytest.mark.parametrize('case', ['panel', 'vertical', 'short'])
def test_bar_centre_rejects_what_is_not_a_horizontal_bar(case):
    rng = np.random.default_rng(2)
    if case == 'panel':       # 30 x 15 cm face: not thin
        P = np.column_stack([np.full(500, 0.6), rng.uniform(0, 0.3, 500), rng.uniform(0, 0.15, 500)])
    elif case == 'vertical':  # a standing tube
        P = _half_cylinder((0.5, 0.0), 0.008, (0.0, 0.12), n=300)
    else:                     # a cube's top face
        P = np.column_stack([rng.uniform(0, 0.04, 500), rng.uniform(0, 0.04, 500),
                             np.full(500, 0.05)])
    assert bar_centre(P) is None


def test_amodal_centre_moves_a_round_region_in_its_object_frame():
    T_base_obj = np.eye(4)
    T_base_obj[:3, 3] = [0.5, 0.1, 0.0]
    P_base = _half_cylinder((0.5, 0.1), 0.04, (0.0, 0.1))
    region = rc.Region.from_points('mug/body', P_base - T_base_obj[:3, 3])
    result = amodal_centre(region, T_base_obj)
    assert result is not None and result.shape == 'round'
    assert np.linalg.norm(result.region.centroid_obj[:2]) < 1e-3
    assert result.region.centroid_obj[2] == pytest.approx(region.centroid_obj[2])
    assert result.shift_m == pytest.approx(np.linalg.norm(region.centroid_obj[:2]), abs=1e-3)
    np.testing.assert_array_equal(result.region.points_obj, region.points_obj)


def test_amodal_centre_moves_a_bar_and_leaves_other_parts():
    centre = np.array([0.65, 0.21, 0.157])
    T_base_obj = np.eye(4)
    T_base_obj[:3, 3] = [0.7, 0.2, 0.09]
    bar = rc.Region.from_points('drawer/handle', _bar_top_and_side(centre) - T_base_obj[:3, 3])
    result = amodal_centre(bar, T_base_obj)
    assert result is not None and result.shape == 'bar'
    assert np.linalg.norm(result.region.centroid_obj + T_base_obj[:3, 3] - centre) < 0.002
    rng = np.random.default_rng(4)
    panel = rc.Region.from_points('drawer/front', np.column_stack(
        [np.zeros(300), rng.uniform(-0.15, 0.15, 300), rng.uniform(-0.07, 0.07, 300)]))
    assert amodal_centre(panel, T_base_obj) is None


def test_with_centres_keeps_everything_else():
    region = rc.Region.from_points('box/top', np.random.default_rng(5).uniform(0, 0.05, (50, 3)))
    moved = with_centres(region, [0.1, 0.2, 0.3], [0.4, 0.5, 0.6])
    np.testing.assert_array_equal(moved.centroid_obj, [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(moved.center_obj, [0.4, 0.5, 0.6])
    np.testing.assert_array_equal(moved.axes_obj, region.axes_obj)
    assert moved.name == region.name and moved.frame == region.frame


def test_config_bounds_apply():
    P = _half_cylinder((0.5, 0.1), 0.04, (0.0, 0.1))
    assert round_centre(P, AmodalConfig(max_radius_m=0.03)) is None
    B = _bar_top_and_side(np.array([0.65, 0.21, 0.157]))
    assert bar_centre(B, AmodalConfig(bar_max_width_m=0.005)) is None


def _panel_with_a_hidden_patch(centre, size_m=(0.26, 0.30), yaw_deg=2.0, seed=0):
    """A horizontal panel's top: dense on its near (-x) half, a patch hidden by the arm."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-0.5, 0.5, (20000, 2)) * size_m
    keep = rng.uniform(size=len(u)) < np.where(u[:, 0] < 0, 1.0, 0.35)      # near side denser
    keep &= ~((u[:, 0] > 0.0) & (u[:, 0] < 0.1) & (u[:, 1] > 0.0) & (u[:, 1] < 0.12))
    u = u[keep]
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    xy = u @ np.array([[c, s], [-s, c]]) + centre[:2]
    z = centre[2] + rng.normal(0.0, 0.001, len(xy))
    return np.column_stack([xy, z])


def test_slab_centre_is_the_centre_of_the_outline():
    centre = np.array([0.87, 0.20, 0.18])
    P = _panel_with_a_hidden_patch(centre)
    estimate = slab_centre(P)
    assert estimate is not None
    assert np.linalg.norm(estimate - centre) < 0.005
    assert np.linalg.norm(P.mean(axis=0)[:2] - centre[:2]) > 0.02       # the mean is far off
    result = amodal_centre(rc.Region.from_points('cabinet/top', P), np.eye(4))
    assert result is not None and result.shape == 'slab'
    assert np.linalg.norm(result.region.center_obj[:2] - centre[:2]) < 0.005


def test_slab_centre_rejects_tall_and_narrow_parts():
    rng = np.random.default_rng(6)
    tall = np.column_stack([rng.uniform(0, 0.1, 500), rng.uniform(0, 0.1, 500),
                            rng.uniform(0, 0.1, 500)])
    assert slab_centre(tall) is None
    strip = np.column_stack([rng.uniform(0, 0.2, 500), rng.uniform(0, 0.02, 500),
                             rng.uniform(0, 0.01, 500)])
    assert slab_centre(strip) is None                                  # 2 cm wide, 1 cm high


def _tube_front(axis_xy, radius_m, p_camera, z_range_m=(0.05, 0.15), seed=0):
    """What a depth camera keeps of a thin upright tube: its front +-60 deg, depth noise."""
    rng = np.random.default_rng(seed)
    view = np.asarray(p_camera[:2]) - axis_xy
    facing = math.atan2(view[1], view[0])
    a = facing + np.radians(rng.uniform(-60.0, 60.0, 600))
    z = rng.uniform(*z_range_m, 600)
    P = np.column_stack([axis_xy[0] + radius_m * np.cos(a), axis_xy[1] + radius_m * np.sin(a), z])
    return P + rng.normal(0.0, 0.0007, P.shape)


def test_rod_centre_puts_the_axis_one_radius_behind_the_front():
    axis = np.array([0.61, -0.09])
    camera = np.array([1.15, -0.55, 0.75])
    P = _tube_front(axis, 0.011, camera)
    estimate = rod_centre(P, camera)
    assert estimate is not None
    assert np.linalg.norm(estimate[:2] - axis) < 0.002
    assert np.linalg.norm(P[:, :2].mean(axis=0) - axis) > 0.007          # the mean: the front
    result = amodal_centre(rc.Region.from_points('tube/body', P), np.eye(4),
                           p_base_camera=camera)
    assert result is not None and result.shape in ('round', 'rod')   # clean: a circle fits
    assert np.linalg.norm(result.region.centroid_obj[:2] - axis) < 0.002
    strict = AmodalConfig(max_rms_ratio=0.0)                           # no circle fits
    result = amodal_centre(rc.Region.from_points('tube/body', P), np.eye(4), strict,
                           p_base_camera=camera)
    assert result is not None and result.shape == 'rod'
    assert np.linalg.norm(result.region.centroid_obj[:2] - axis) < 0.002
    assert amodal_centre(rc.Region.from_points('tube/body', P), np.eye(4), strict) is None


def test_rod_centre_rejects_wide_lying_and_short_parts():
    camera = np.array([1.0, 0.0, 0.8])
    wide = _tube_front(np.array([0.5, 0.0]), 0.04, camera)                # 8 cm across
    assert rod_centre(wide, camera) is None
    short = _tube_front(np.array([0.5, 0.0]), 0.011, camera, z_range_m=(0.05, 0.06))
    assert rod_centre(short, camera) is None
    lying = _tube_front(np.array([0.5, 0.0]), 0.011, camera)[:, [2, 1, 0]]
    assert rod_centre(lying, camera) is None


def _plate_seen_in_part(centre_xy, radius_m=0.09, top_m=0.012, hidden_from_deg=-150.0,
                        hidden_to_deg=30.0, hide_centre_m=0.035, seed=0):
    """A plate's top face and rim as a depth camera above it sees them with a sector
    (``hidden_from_deg`` to ``hidden_to_deg``, about its centre) and its middle hidden by the
    arm: points every ~3 mm with 1 mm depth noise, the rim's side in the seen sector."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-radius_m, radius_m, (6000, 2))
    r = np.hypot(u[:, 0], u[:, 1])
    a = np.degrees(np.arctan2(u[:, 1], u[:, 0]))
    seen = (r <= radius_m) & (r > hide_centre_m) & ~((a > hidden_from_deg) & (a < hidden_to_deg))
    top = np.column_stack([u[seen] + centre_xy, np.full(seen.sum(), top_m)])
    b = np.radians(rng.uniform(hidden_to_deg, hidden_from_deg + 360.0, 400))
    side = np.column_stack([centre_xy[0] + radius_m * np.cos(b),
                            centre_xy[1] + radius_m * np.sin(b),
                            rng.uniform(0.5 * top_m, top_m, len(b))])
    P = np.vstack([top, side])
    return P + rng.normal(0.0, 0.001, P.shape)


def test_round_slab_finds_the_rim_of_a_plate_half_hidden():
    centre = np.array([0.41, -0.16])
    P = _plate_seen_in_part(centre)
    slab = round_slab(P)
    assert slab is not None
    assert np.linalg.norm(slab.centre_xy - centre) < 0.003
    assert slab.radius_m == pytest.approx(0.09, abs=0.003)
    assert slab.top_z_m == pytest.approx(0.012, abs=0.002)
    # The mean of the points and the smallest rectangle around them lie on the seen side.
    assert np.linalg.norm(P[:, :2].mean(axis=0) - centre) > 0.02
    assert np.linalg.norm(slab_centre(P)[:2] - centre) > 0.02
    estimate = disc_centre(P)
    assert estimate is not None and np.linalg.norm(estimate[:2] - centre) < 0.003


def test_round_slab_fill_completes_the_top_face():
    centre = np.array([0.41, -0.16])
    P = _plate_seen_in_part(centre)
    filled = round_slab_fill(P, 0.004)
    assert filled is not None
    whole = np.vstack([P, filled])
    # Every point of the disc's top has a model point within a spacing, and none is outside.
    rng = np.random.default_rng(1)
    probe = rng.uniform(-0.085, 0.085, (3000, 2))
    probe = probe[np.hypot(probe[:, 0], probe[:, 1]) < 0.085] + centre
    from scipy.spatial import cKDTree
    distances, _ = cKDTree(whole[:, :2]).query(probe)
    assert distances.max() < 0.004
    assert np.hypot(*(filled[:, :2] - centre).T).max() < 0.09
    np.testing.assert_allclose(filled[:, 2], 0.012, atol=0.002)
    # The seen points alone leave the hidden sector empty.
    distances, _ = cKDTree(P[:, :2]).query(probe)
    assert distances.max() > 0.03


def test_amodal_centre_puts_a_plate_on_the_centre_of_its_rim():
    centre = np.array([0.41, -0.16])
    T_base_obj = np.eye(4)
    T_base_obj[:2, 3] = centre
    P = _plate_seen_in_part(centre, hidden_from_deg=-120.0, hidden_to_deg=0.0)
    result = amodal_centre(rc.Region.from_points('plate/top', P - T_base_obj[:3, 3]), T_base_obj)
    assert result is not None and result.shape == 'disc'
    assert np.linalg.norm(result.region.centroid_obj[:2]) < 0.003


@pytest.mark.parametrize('case', ['square', 'quarter', 'tall', 'small', 'ring', 'few'])
def test_round_slab_rejects_what_is_not_a_round_slab(case):
    rng = np.random.default_rng(7)
    if case == 'square':         # a square panel's outline is no circle
        P = np.column_stack([rng.uniform(0, 0.2, 3000), rng.uniform(0, 0.2, 3000),
                             rng.normal(0.0, 0.001, 3000)])
    elif case == 'quarter':      # a quarter of a rim is too little to fit it
        P = _plate_seen_in_part(np.zeros(2), hidden_from_deg=-180.0, hidden_to_deg=90.0)
    elif case == 'tall':         # an upright cylinder (a mug's body) is no slab
        P = _half_cylinder((0.5, 0.1), 0.05, (0.0, 0.1), arc_deg=300.0)
    elif case == 'small':        # a 3 cm disc is below the smallest radius
        P = _plate_seen_in_part(np.zeros(2), radius_m=0.03, hide_centre_m=0.0)
    elif case == 'ring':         # a bowl's rim, 1 cm wide, fits a circle but is no disc
        P = _plate_seen_in_part(np.zeros(2), radius_m=0.08, hide_centre_m=0.07,
                                hidden_from_deg=-60.0, hidden_to_deg=0.0)
    else:
        P = _plate_seen_in_part(np.zeros(2))[:10]
    assert round_slab(P) is None
    assert round_slab_fill(P, 0.004) is None
