"""What the recorder draws for a stage (resem3d.annotations): anchors, targets, residuals and
region boxes from the controller's scene."""

import numpy as np

import resem3d_constraints as rc
from resem3d.annotations import constraint_overlays, region_overlays
from resem3d_constraints.examples import load_example


def _scene():
    def box(name, size, centre):
        grid = np.array([[x, y, z] for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)])
        return rc.Region.from_points(name, grid * 0.5 * np.asarray(size) + centre)

    scene = rc.SceneState(T_base_tool=np.eye(4))
    scene.regions = {'mug/body': box('mug/body', (0.08, 0.08, 0.1), (0, 0, 0.05)),
                     'mug/handle': box('mug/handle', (0.01, 0.03, 0.06), (0, -0.06, 0.05)),
                     'plate/top': box('plate/top', (0.2, 0.2, 0.01), (0, 0, 0.005)),
                     'table/top': box('table/top', (0.9, 1.2, 0.02), (0.45, 0, -0.01))}
    for name, xyz in (('mug', (0.5, 0.15, 0.0)), ('plate', (0.45, -0.2, 0.0)),
                      ('table', (0.0, 0.0, 0.0))):
        T = np.eye(4)
        T[:3, 3] = xyz
        scene.set_object_pose(name, T)
    T_tool = np.eye(4)
    T_tool[:3, :3] = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]
    T_tool[:3, 3] = (0.5, 0.09, 0.2)
    scene.T_base_tool = T_tool
    return scene


def test_overlays_show_the_anchor_the_target_and_the_residual():
    program = load_example('pick_and_place_mug')
    stage = program.stages[1]                                   # pregrasp: offset from handle
    scene = _scene()
    overlays = constraint_overlays(stage, scene)
    assert [o.name for o in overlays] == [f'subgoal[{i}] {c.kind}'
                                          for i, c in enumerate(stage.subgoal)] + \
        [f'path[{i}] {c.kind}' for i, c in enumerate(stage.path)]
    offset = overlays[0]
    np.testing.assert_allclose(offset.anchor_base, scene.T_base_tool[:3, 3])
    assert offset.target_base is not None and offset.unit == 'm'
    assert offset.residual is not None and offset.residual > 0.0
    boxes = region_overlays(stage, scene)
    assert {b.name for b in boxes} <= set(scene.regions) and boxes


def test_regions_the_scene_lacks_are_left_out():
    program = load_example('pick_and_place_mug')
    scene = _scene()
    scene.regions = {k: v for k, v in scene.regions.items() if k != 'mug/handle'}
    stage = program.stages[1]
    names = [o.name for o in constraint_overlays(stage, scene)]
    assert stage.subgoal[0].b.of == 'mug/handle'                # the offset from the handle
    assert 'subgoal[0] offset' not in names
    assert 0 < len(names) < len(stage.subgoal) + len(stage.path)
    assert 'mug/handle' not in {b.name for b in region_overlays(stage, scene)}
