"""Tests of resem3d_sim.scenes: layouts, randomisation, labels and physics of the scenes."""

import dataclasses
import math
import re

import numpy as np
import pytest
from resem3d_constraints import Region

from resem3d_sim import objects as ob
from resem3d_sim import scenes as sc

import mujoco  # noqa: I100  (after resem3d_sim, which selects the GL backend)

SCENE_NAMES = list(sc.SCENES)
PART_OF_GEOM = re.compile(r'^([^/#\s]+/[^/#\s]+)(?:#\d+)?$')


def yaw_of(T):
    return math.atan2(T[1, 0], T[0, 0])


def wrap(angle):
    return (angle + math.pi) % (2 * math.pi) - math.pi


@pytest.mark.parametrize('name', SCENE_NAMES)
def test_scene_compiles_and_lists_every_part_label(name):
    scene = sc.SCENES[name](0)
    spec = sc.floor_spec()
    objects = scene.add_objects(spec)
    model = spec.compile()
    tops = [p for p in scene.placements if p.host is None]
    assert len(scene.placements) >= 6 and len(tops) >= 5
    geom_labels = {PART_OF_GEOM.match(model.geom(g).name).group(1)
                   for g in range(model.ngeom) if model.geom(g).name != 'floor'}
    assert set(scene.labels) == geom_labels | {'table/top'}
    assert list(scene.labels) == sorted(scene.labels)
    for key, info in objects.items():
        if isinstance(info, ob.ParticleInfo):
            assert len(info.body_names) >= 30
            continue
        assert info.name == key
        if key == 'table':
            continue                          # the world's table, not in this spec
        body = model.body(info.body_name).id
        parent = model.body(model.body_parentid[body]).name
        T_base_parent = np.eye(4) if parent == 'world' else scene.T_base_obj[parent]
        T_parent_obj = np.linalg.inv(T_base_parent) @ scene.T_base_obj[key]
        np.testing.assert_allclose(model.body_pos[body], T_parent_obj[:3, 3], atol=1e-9)
        for label in info.labels:
            region = info.region(label)
            assert isinstance(region, Region) and region.frame == key
    assert scene.table.labels == ('table/top',)


@pytest.mark.parametrize('name', SCENE_NAMES)
def test_layouts_are_reproducible_per_seed_and_differ_across_seeds(name):
    factory = sc.SCENES[name]
    a, b, c = factory(7), factory(7), factory(8)
    assert a.seed == 7 and a.T_base_obj.keys() == c.T_base_obj.keys()
    for key in a.T_base_obj:
        np.testing.assert_array_equal(a.T_base_obj[key], b.T_base_obj[key])
    moved = [key for key in a.T_base_obj
             if not np.allclose(a.T_base_obj[key], c.T_base_obj[key])]
    assert len(moved) >= len(a.placements) - 1      # all but the tube held fixed in its rack


@pytest.mark.parametrize('name', SCENE_NAMES)
def test_objects_stay_within_their_ranges_do_not_overlap_and_are_reachable(name):
    for seed in range(25):
        scene = sc.SCENES[name](seed)
        for p in scene.placements:
            T = scene.T_base_obj[p.name]
            if p.host is not None:
                T = np.linalg.inv(scene.T_base_obj[p.host]) @ T
            assert abs(T[0, 3] - p.x_m) <= p.dx_m + 1e-12
            assert abs(T[1, 3] - p.y_m) <= p.dy_m + 1e-12
            assert T[2, 3] == pytest.approx(p.z_m)
            assert abs(wrap(yaw_of(T) - p.yaw_rad)) <= p.dyaw_rad + 1e-9
            assert T[2, 2] == pytest.approx(1.0)
            info_movable = p.kind not in ('drawer_cabinet', 'stirrer', 'test_tube_rack')
            if info_movable and p.host is None:
                assert sc.WORKSPACE_X_M[0] <= T[0, 3] <= sc.WORKSPACE_X_M[1]
                assert sc.WORKSPACE_Y_M[0] <= T[1, 3] <= sc.WORKSPACE_Y_M[1]
        clearances = scene.clearances_m()
        assert len(clearances) >= 10
        assert min(clearances.values()) >= scene.min_clearance_m


def test_clearance_check_catches_overlaps():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert sc._polygon_distance(square, square + 0.5) == 0.0
    assert sc._polygon_distance(square, square + (3.0, 0.0)) == pytest.approx(2.0)
    assert sc._polygon_distance(square, square + (2.0, 2.0)) == pytest.approx(math.sqrt(2))
    crowded = [dataclasses.replace(p, x_m=0.5, y_m=0.0) for p in sc.HOUSEHOLD_PLACEMENTS[1:3]]
    with pytest.raises(sc.SceneLayoutError, match='no clear layout'):
        sc.make_scene('crowded', 0, crowded)


def test_drawer_travel_is_kept_clear():
    scene = sc.household_scene(3)
    drawer = scene.T_base_obj['drawer']
    x_axis = drawer[:3, 0]
    open_handle = drawer[:3, 3] + x_axis * (0.2 + 0.07)
    footprint = scene.footprints_base['cabinet']
    assert sc._polygon_distance(footprint, open_handle[None, :2]) == 0.0   # inside the keep-out
    for other, fp in scene.footprints_base.items():
        if other != 'cabinet':
            assert sc._polygon_distance(fp, open_handle[None, :2]) > 0.0


@pytest.mark.parametrize('name, kwargs, match', [
    ('bad_kind', {'placements': [sc.Placement('x', 'sofa', 0.5, 0.0)]}, 'unknown object kind'),
    ('bad_host', {'placements': [sc.Placement('x', 'mug', 0.5, 0.0, host='rack')]}, 'host'),
    ('dup', {'placements': [sc.Placement('x', 'mug', 0.5, 0.0),
                            sc.Placement('x', 'cup', 0.5, 0.2)]}, 'duplicate'),
    ('bad_liquid', {'placements': [sc.Placement('p', 'plate', 0.5, 0.0)],
                    'particles': [sc.ParticleSpec('w', 'p')]}, 'container'),
])
def test_invalid_scenes_raise_typed_errors(name, kwargs, match):
    with pytest.raises(sc.SceneLayoutError, match=match):
        sc.make_scene(name, 0, **kwargs)


def test_with_table_adds_a_matching_slab():
    scene = sc.lab_scene(0)
    spec = mujoco.MjSpec()
    objects = scene.add_objects(spec, with_table=True)
    model = spec.compile()
    assert objects['table'].labels == ('table/top',)
    assert model.geom('table/top').size[0] == pytest.approx(scene.table.shapes[
        'table_top'].size[0])


@pytest.mark.parametrize('name', SCENE_NAMES)
def test_scene_settles_upright_with_particles_inside(name):
    """1 s of physics on a plain floor: movable objects rest upright, liquids stay inside."""
    scene = sc.SCENES[name](0)
    spec = sc.floor_spec()
    objects = scene.add_objects(spec)
    model = spec.compile()
    data = mujoco.MjData(model)
    steps = int(round(1.0 / model.opt.timestep))
    assert model.opt.timestep == pytest.approx(0.001)
    start = data.time
    for _ in range(steps):
        mujoco.mj_step(model, data)
    assert data.time - start == pytest.approx(1.0)
    movable = [info for info in objects.values()
               if isinstance(info, ob.ObjectInfo) and info.movable]
    assert len(movable) >= 4
    for info in movable:
        body = model.body(info.body_name).id
        v = np.zeros(6)
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body, v, 0)
        assert np.linalg.norm(v[3:]) < 0.01, info.name
        assert data.xmat[body].reshape(3, 3)[2, 2] > math.cos(math.radians(3.0)), info.name
        drift = data.xpos[body] - scene.T_base_obj[info.name][:3, 3]
        assert np.linalg.norm(drift) < 0.003, info.name
    for particles in scene.particles:
        info = objects[particles.name]
        assert ob.count_inside(model, data, objects[particles.container], info) == info.count


@pytest.mark.parametrize('name', SCENE_NAMES)
def test_scene_in_the_world_with_the_robot(name):
    """The scene in resem3d_sim.world (Panda + table): compiles, rests, names the table top."""
    from resem3d_sim.world import World
    scene = sc.SCENES[name](1)
    objects = {}
    world = World.build(add_objects=lambda spec: objects.update(scene.add_objects(spec)))
    model, data = world.model, world.data
    table = objects['table']
    geom = model.geom(table.geom_names[0])
    assert model.geom_bodyid[geom.id] == model.body(table.body_name).id
    np.testing.assert_allclose(geom.size, table.shapes[table.geom_names[0]].size, atol=1e-9)
    for _ in range(300):
        world.step(np.zeros(7))
    for key, info in objects.items():
        if isinstance(info, ob.ObjectInfo) and info.movable:
            np.testing.assert_allclose(world.body_pose(key), scene.T_base_obj[key], atol=2e-3)
    for particles in scene.particles:
        assert ob.count_inside(model, data, objects[particles.container],
                               objects[particles.name]) == particles.count
