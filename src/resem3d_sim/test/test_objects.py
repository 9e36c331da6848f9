"""Tests of resem3d_sim.objects: builders, part naming, ground-truth geometry, physics."""

import math
import re

import numpy as np
import pytest
from resem3d_constraints import Region

from resem3d_sim import objects as ob
from resem3d_sim.scenes import floor_spec

import mujoco  # noqa: I100  (after resem3d_sim, which selects the GL backend)

FREE_KINDS = [k for k in ob.BUILDERS if k not in ('drawer_cabinet', 'stirrer', 'test_tube_rack')]
CONTAINERS = ['mug', 'cup', 'bowl', 'kettle', 'flask', 'beaker']
LABEL = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*$')
PART_OF_GEOM = re.compile(r'^([^/#\s]+/[^/#\s]+)(?:#(\d+))?$')


def object_name(kind):
    return {'drawer_cabinet': 'cabinet', 'test_tube_rack': 'rack', 'test_tube': 'tube',
            'reagent_bottle': 'bottle'}.get(kind, kind)


def build(kind, T=None, **kwargs):
    """A floor spec with one object; returns (spec, info)."""
    spec = floor_spec()
    T = ob.pose_xy_yaw(0.5, 0.1, 0.4) if T is None else T
    info = ob.BUILDERS[kind](spec.worldbody, object_name(kind), T, **kwargs)
    return spec, info


def speed_mps(model, data, body):
    v = np.zeros(6)
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body, v, 0)
    return float(np.linalg.norm(v[3:]))


# --- geometry ---------------------------------------------------------------------------------

def geom_sdf(model, geom, p_geom):
    """Signed distance (N,) [m] of points (geom frame) to a compiled primitive's surface."""
    kind = model.geom_type[geom]
    size = model.geom_size[geom]
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        q = np.abs(p_geom) - size
        return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        d = np.column_stack([np.hypot(p_geom[:, 0], p_geom[:, 1]) - size[0],
                             np.abs(p_geom[:, 2]) - size[1]])
        return np.linalg.norm(np.maximum(d, 0.0), axis=1) + np.minimum(d.max(axis=1), 0.0)
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        z = np.clip(p_geom[:, 2], -size[1], size[1])
        return np.linalg.norm(p_geom - np.column_stack([0 * z, 0 * z, z]), axis=1) - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        return np.linalg.norm(p_geom, axis=1) - size[0]
    assert kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID
    return (np.linalg.norm(p_geom / size, axis=1) - 1.0) * size.min()


def distance_to_part(model, info, label, points_obj):
    """Distance (N,) [m] of object-frame points to the nearest surface of the part's geoms."""
    best = np.full(len(points_obj), np.inf)
    for name in info.parts[label]:
        geom = model.geom(name).id
        assert model.geom_bodyid[geom] == model.body(info.body_name).id
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, model.geom_quat[geom])
        p_geom = (points_obj - model.geom_pos[geom]) @ R.reshape(3, 3)
        best = np.minimum(best, np.abs(geom_sdf(model, geom, p_geom)))
    return best


@pytest.mark.parametrize('kind', list(ob.BUILDERS))
def test_every_object_compiles_with_named_parts_and_masses(kind):
    spec, info = build(kind)
    model = spec.compile()
    for item in info.all_infos():
        body = model.body(item.body_name).id
        assert model.body_mass[body] == pytest.approx(item.mass_kg, rel=1e-6)
        assert set(item.geom_names) == {model.geom(g).name for g in range(model.ngeom)
                                        if model.geom_bodyid[g] == body}
        for label, names in item.parts.items():
            assert LABEL.match(label) and label.startswith(item.name + '/')
            assert names[0] == label
            assert list(names[1:]) == [f'{label}#{k}' for k in range(1, len(names))]
            for name in names:
                assert PART_OF_GEOM.match(name).group(1) == label
                assert item.label_of(name) == label
        assert item.labels == tuple(item.parts)
    assert info.movable == (kind in FREE_KINDS)
    if info.movable:
        assert 0.0 < info.mass_kg <= ob.MAX_GRASPABLE_MASS_KG
        joint = model.joint(info.joint_name)
        assert joint.type == mujoco.mjtJoint.mjJNT_FREE
    assert model.ngeom - 1 <= 35                              # moderate geom counts (floor: 1)


def test_required_parts_exist():
    spec = floor_spec()
    w = spec.worldbody
    infos = [ob.add_mug(w, 'mug'), ob.add_plate(w, 'plate'), ob.add_kettle(w, 'kettle'),
             ob.add_bowl(w, 'bowl'), ob.add_box(w, 'box'), ob.add_cup(w, 'cup'),
             ob.add_flask(w, 'flask'), ob.add_beaker(w, 'beaker'),
             ob.add_stirrer(w, 'stirrer'), ob.add_test_tube_rack(w, 'rack'),
             ob.add_test_tube(w, 'tube'), ob.add_reagent_bottle(w, 'bottle')]
    infos += ob.add_drawer_cabinet(w, 'cabinet').all_infos()
    labels = {label for info in infos for label in info.labels}
    assert {'mug/body', 'mug/handle', 'plate/top', 'kettle/body', 'kettle/lid', 'kettle/handle',
            'kettle/spout', 'bowl/rim', 'bowl/inside', 'cabinet/body', 'drawer/front',
            'drawer/handle', 'box/body', 'flask/body', 'flask/neck', 'flask/mouth',
            'beaker/body', 'beaker/rim', 'beaker/spout', 'stirrer/base', 'stirrer/plate',
            'rack/body', 'rack/slot_1', 'rack/slot_2', 'rack/slot_3', 'rack/slot_4',
            'tube/body', 'tube/mouth', 'bottle/body', 'bottle/cap'} <= labels
    spec.compile()


@pytest.mark.parametrize('kind', list(ob.BUILDERS))
def test_part_points_lie_on_the_part_geoms(kind):
    spec, info = build(kind)
    model = spec.compile()
    for item in info.all_infos():
        for label in item.labels:
            points = item.part_points_obj(label, 200)
            assert points.shape == (200, 3)
            np.testing.assert_array_equal(points, item.part_points_obj(label, 200))
            assert np.max(distance_to_part(model, item, label, points)) < 1e-3
            short = label.split('/', 1)[1]
            np.testing.assert_array_equal(points, item.part_points_obj(short, 200))
            region = item.region(label)
            assert isinstance(region, Region) and region.frame == item.name
            assert region.name == label


def centroid(info, part):
    label = part if '/' in part else f'{info.name}/{part}'
    points = info.part_points_obj(label)
    region = Region.from_points(label, points, frame=info.name)
    return region, region.centroid_obj


def test_regions_have_sensible_centroids():
    spec = floor_spec()
    w = spec.worldbody
    mug = ob.add_mug(w, 'mug')
    region, c = centroid(mug, 'mug/body')
    np.testing.assert_allclose(c, [0.0, 0.0, 0.05], atol=0.01)
    region, c = centroid(mug, 'mug/handle')
    assert abs(c[0]) < 1e-3 and -0.08 < c[1] < -0.045 and 0.03 < c[2] < 0.08
    assert abs(abs(region.normal_obj[0]) - 1.0) < 1e-3     # thin across x: the grasp axis
    kettle = ob.add_kettle(w, 'kettle')
    assert centroid(kettle, 'spout')[1][0] > 0.065
    assert centroid(kettle, 'handle')[1][0] < -0.065
    assert centroid(kettle, 'lid')[1][2] > 0.14
    bowl = ob.add_bowl(w, 'bowl')
    region, c = centroid(bowl, 'rim')
    np.testing.assert_allclose(c, [0.0, 0.0, 0.064], atol=0.004)
    assert region.feature_point_obj('top')[2] == pytest.approx(0.07, abs=1e-3)
    rack = ob.add_test_tube_rack(w, 'rack')
    for k in range(1, 5):
        np.testing.assert_allclose(centroid(rack, f'slot_{k}')[1], [0.0, ob.slot_y_m(k), 0.075],
                                   atol=1e-3)
    cabinet = ob.add_drawer_cabinet(w, 'cabinet', ob.pose_xy_yaw(2.0, 0.0, math.pi))
    drawer = cabinet.children[0]
    region, c = centroid(drawer, 'handle')
    assert c[0] > 0.04 and abs(c[1]) < 1e-3
    assert drawer.aabb_obj()[1][0] - 0.006 >= 0.04            # handle protrudes >= 4 cm
    regions = cabinet.regions()
    assert {'cabinet/body', 'cabinet/top', 'drawer/handle', 'drawer/front'} <= set(regions)
    assert regions['drawer/handle'].frame == 'drawer'
    flask = ob.add_flask(w, 'flask')
    assert centroid(flask, 'mouth')[1][2] > centroid(flask, 'neck')[1][2] > centroid(
        flask, 'body')[1][2]


def finger_contacts(spec, fingers):
    """Names of the object geoms that static finger boxes (centre, half size) [m] touch."""
    for k, (centre, half) in enumerate(fingers):
        spec.worldbody.add_geom(name=f'finger{k}', type=mujoco.mjtGeom.mjGEOM_BOX, size=half,
                                pos=centre)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    names = [(model.geom(c.geom1).name, model.geom(c.geom2).name)
             for c in data.contact[:data.ncon]]
    return {b if a.startswith('finger') else a for a, b in names
            if a.startswith('finger') or b.startswith('finger')}


def test_handles_leave_room_for_fingers():
    # A 2 cm x 2 cm finger passes through the mug's handle loop (along x).
    spec, mug = build('mug', ob.pose(None, (0.5, 0.0, 0.0)))
    _, c = centroid(mug, 'handle')
    y_hole = (-0.04 - 0.07) / 2
    assert finger_contacts(spec, [((0.5, y_hole, c[2]), (0.03, 0.01, 0.01))]) == set()
    # Fingers 8 cm apart (1.6 cm thick, 2 cm wide) around the drawer handle bar, from above.
    spec, cabinet = build('drawer_cabinet', ob.pose(None, (0.5, 0.0, 0.0)))
    drawer = cabinet.children[0]
    _, c = centroid(drawer, 'handle')
    p_bar = cabinet.T_parent_obj @ drawer.T_parent_obj @ np.append(c, 1.0)
    fingers = [((p_bar[0] + side * (0.04 + 0.008), 0.0, p_bar[2] + 0.02), (0.008, 0.01, 0.03))
               for side in (-1.0, 1.0)]
    assert finger_contacts(spec, fingers) == set()
    # The kettle handle: fingers 4 cm apart above and below the bar.
    spec, kettle = build('kettle', ob.pose(None, (0.5, 0.0, 0.0)))
    _, c = centroid(kettle, 'handle')
    fingers = [((0.5 + c[0], 0.0, c[2] + side * 0.025), (0.01, 0.01, 0.008))
               for side in (-1.0, 1.0)]
    assert finger_contacts(spec, fingers) == set()


# Franka Hand finger pads in the TCP frame: 17.6 mm wide (tool x), 15 mm thick (tool y, from
# 40 mm off the centre at 8 cm opening), from 9.5 mm beyond the TCP to 9 mm before it (tool z).
PAD_HALF_WIDTH_M, PAD_HALF_HEIGHT_M = 0.0088, 0.0093


def test_pads_centred_on_a_handle_centroid_close_on_its_material():
    """The example programs grasp handles at their region centroid: the pads' sweep hits it."""
    cases = [  # kind, part, half extents (object frame) of the space the closing pads sweep
        ('mug', 'handle', (0.03, PAD_HALF_WIDTH_M, PAD_HALF_HEIGHT_M)),   # close along x
        ('kettle', 'handle', (PAD_HALF_HEIGHT_M, PAD_HALF_WIDTH_M, 0.03)),  # close along z
        ('drawer_cabinet', 'handle', (0.03, PAD_HALF_WIDTH_M, PAD_HALF_HEIGHT_M)),
    ]
    for kind, part, half in cases:
        spec, info = build(kind, ob.pose(None, (0.5, 0.0, 0.0)))
        target = info.children[0] if kind == 'drawer_cabinet' else info
        _, c = centroid(target, part)
        T_base_target = info.T_parent_obj @ (target.T_parent_obj if target is not info
                                             else np.eye(4))
        p_base = (T_base_target @ np.append(c, 1.0))[:3]
        touched = finger_contacts(spec, [(p_base, half)])
        assert f'{target.name}/{part}' in {PART_OF_GEOM.match(n).group(1) for n in touched}


def test_table_info_matches_a_table_top():
    table = ob.table_info('table', size_m=(1.0, 0.8), thickness_m=0.04, center_xy_m=(0.3, 0.0))
    points = table.part_points_obj('table/top')
    assert np.all(np.abs(points[:, 0]) <= 0.5 + 1e-9) and points[:, 2].max() == pytest.approx(0)
    spec = floor_spec()
    added = ob.add_table_top(spec.worldbody, 'table', ob.pose(None, (0.3, 0.0, 0.0)),
                             size_m=(1.0, 0.8))
    assert added.labels == ('table/top',)
    spec.compile()


# --- physics ----------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', FREE_KINDS)
def test_movable_objects_rest_upright_on_the_floor(kind):
    spec, info = build(kind)
    model = spec.compile()
    data = mujoco.MjData(model)
    for _ in range(1000):
        mujoco.mj_step(model, data)
    body = model.body(info.body_name).id
    assert speed_mps(model, data, body) < 0.01
    assert data.xmat[body].reshape(3, 3)[2, 2] > math.cos(math.radians(2.0))
    assert abs(data.xpos[body][2]) < 0.002


def tilt_world(kind, count=40):
    """A container welded to a body on a kinematically driven hinge about y, with particles.

    The hinge passes through the container's rim on its +x side (the spout side).
    """
    spec = floor_spec()
    lo, hi = ob.BUILDERS[kind](mujoco.MjSpec().worldbody, kind).aabb_obj()
    pivot = np.array([hi[0], 0.0, hi[2]])
    T_base_obj = ob.pose(None, (0.0, 0.0, 0.3))
    holder = spec.worldbody.add_body(name='holder', pos=T_base_obj[:3, 3] + pivot)
    holder.add_joint(name='tilt', type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0.0, 1.0, 0.0])
    info = ob.BUILDERS[kind](holder, kind, ob.pose(None, -pivot), free=False)
    particles = ob.add_particles(spec.worldbody, 'liquid', count, inside=info,
                                 T_parent_container=T_base_obj)
    model = spec.compile()
    return model, mujoco.MjData(model), info, particles


def run_tilt(model, data, angle_rad, t_end_s, t_start_s=0.3, duration_s=0.8, on_step=None):
    """Step with the hinge following a smooth ramp to ``angle_rad`` (position and velocity)."""
    while data.time < t_end_s:
        u = min(max((data.time - t_start_s) / duration_s, 0.0), 1.0)
        data.qpos[0] = angle_rad * (3 * u * u - 2 * u ** 3)
        data.qvel[0] = angle_rad * (6 * u - 6 * u * u) / duration_s
        mujoco.mj_step(model, data)
        if on_step is not None:
            on_step()


@pytest.mark.parametrize('kind', CONTAINERS)
def test_particles_stay_at_rest_and_pour_out_when_tilted(kind):
    model, data, info, particles = tilt_world(kind)
    assert particles.count == 40
    assert all(model.geom(g).name.startswith('liquid/liquid') for g in range(model.ngeom)
               if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE)
    run_tilt(model, data, 0.0, 0.3)
    assert ob.count_inside(model, data, info, particles) == particles.count
    run_tilt(model, data, math.radians(120.0), 2.3)
    assert ob.count_inside(model, data, info, particles) <= 0.2 * particles.count


def test_kettle_pours_through_its_spout_only():
    model, data, info, particles = tilt_world('kettle')
    run_tilt(model, data, math.radians(-120.0), 2.0)     # away from the spout: nothing leaves
    assert ob.count_inside(model, data, info, particles) == particles.count

    model, data, info, particles = tilt_world('kettle')
    body = model.body('kettle').id
    exits = {}

    def record():
        p_obj = (particles.positions_base(model, data) - data.xpos[body]) @ \
            data.xmat[body].reshape(3, 3)
        for k in np.flatnonzero(~info.contains_obj(p_obj)):
            exits.setdefault(int(k), p_obj[k])

    run_tilt(model, data, math.radians(120.0), 2.0, on_step=record)
    assert len(exits) == particles.count
    first = np.array(list(exits.values()))
    r_in = info.inner_profile[0][1]
    assert np.all(first[:, 0] > r_in - 0.01)               # through the +x wall ...
    assert np.all(np.abs(first[:, 1]) < 0.02)              # ... within the opening's width
    assert np.all(first[:, 2] > 0.15 - 0.03 - 0.01)        # ... and height


def test_drawer_slides_when_pulled_and_stops_at_its_limit():
    spec = floor_spec()
    T_base_cab = ob.pose_xy_yaw(0.8, 0.1, math.pi)
    cabinet = ob.add_drawer_cabinet(spec.worldbody, 'cabinet', T_base_cab)
    drawer = cabinet.children[0]
    assert drawer.joint_type == 'slide' and drawer.joint_range_m == (0.0, 0.3)
    model = spec.compile()
    data = mujoco.MjData(model)
    joint = model.joint(drawer.joint_name)
    qadr = joint.qposadr[0]
    body = model.body(drawer.body_name).id
    for _ in range(300):
        mujoco.mj_step(model, data)
    assert abs(data.qpos[qadr]) < 1e-4                       # no force: stays closed
    assert data.ncon == 0                                    # the drawer runs free of the carcass
    pull_base = T_base_cab[:3, :3] @ np.array([15.0, 0.0, 0.0])  # along the drawer's +x
    data.xfrc_applied[body, :3] = pull_base
    for _ in range(100):
        mujoco.mj_step(model, data)
    assert 0.01 < data.qpos[qadr] < 0.25
    x_before = data.xpos[body].copy()
    for _ in range(1400):
        mujoco.mj_step(model, data)
    assert 0.29 < data.qpos[qadr] < 0.305                   # at the limit
    moved = data.xpos[body] - x_before
    assert np.dot(moved, pull_base) > 0 and abs(moved[2]) < 1e-6   # along the slide axis
    data.xfrc_applied[body, :3] = -pull_base
    for _ in range(1500):
        mujoco.mj_step(model, data)
    assert -0.005 < data.qpos[qadr] < 0.01                  # pushed shut: stops at 0


# --- particles and errors ---------------------------------------------------------------------

def test_particles_are_named_by_the_part_rule_and_inside():
    spec, mug = build('mug')
    water = ob.add_particles(spec.worldbody, 'water', 30, inside=mug)
    assert water.label == 'water/liquid' and water.count == 30
    assert water.body_names[3] == 'water/particle#3'
    assert water.geom_names[:3] == ('water/liquid', 'water/liquid#1', 'water/liquid#2')
    assert water.particle_mass_kg == pytest.approx(1000 * 4 / 3 * math.pi * 0.005 ** 3)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert ob.count_inside(model, data, mug, water) == 30
    p = water.positions_base(model, data)
    assert np.min(np.linalg.norm(p[:, None] - p[None], axis=2) + np.eye(30)) > 0.01


@pytest.mark.parametrize('call, match', [
    (lambda w: ob.add_mug(w, 'mug/x'), 'object name'),
    (lambda w: ob.add_mug(w, 'tool'), 'reserved'),
    (lambda w: ob.add_mug(w, 'mug', np.zeros((3, 3))), '4x4'),
    (lambda w: ob.add_mug(w, 'mug', np.diag([1.0, 2.0, 1.0, 1.0])), 'rigid'),
    (lambda w: ob.add_mug(w, 'mug', radius_m=-0.01), 'radius_m'),
    (lambda w: ob.add_mug(w, 'mug', mass_kg=0.8), 'exceeds'),
    (lambda w: ob.add_mug(w.add_body(name='b'), 'mug'), 'worldbody'),
    (lambda w: ob.add_drawer_cabinet(w, 'cabinet', handle_protrusion_m=0.02), '0.04'),
    (lambda w: ob.add_particles(w, 'p', 30, inside=ob.add_plate(w, 'plate')), 'container'),
    (lambda w: ob.add_particles(w, 'p', 5000, inside=ob.add_mug(w, 'mug')), 'do not fit'),
])
def test_invalid_inputs_raise_typed_errors(call, match):
    with pytest.raises(ob.ObjectBuildError, match=match):
        call(mujoco.MjSpec().worldbody)


def test_contains_obj_refuses_non_containers():
    plate = ob.add_plate(mujoco.MjSpec().worldbody, 'plate')
    with pytest.raises(ob.ObjectBuildError):
        plate.contains_obj(np.zeros(3))
    with pytest.raises(KeyError):
        plate.part_points_obj('rim')
