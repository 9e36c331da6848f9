"""Tests of linearize(): values, bounds, and every kind's Jacobian against finite differences."""

import itertools
import math
import time

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from resem3d_constraints import (AxisAnchor, Constraint, linearize, PointAnchor, Region,
                                 SceneState, violation)
from resem3d_constraints.spatial import so3_exp
from resem3d_constraints.testing import numeric_jacobian, random_pose

POINTS = {
    'tool': PointAnchor('tool', offset_m=(0.01, -0.02, 0.1)),
    'tcp': PointAnchor('tool'),
    'held': PointAnchor('mug/handle', 'top', offset_m=(0.01, 0.0, 0.02)),
    'static': PointAnchor('bowl/rim', 'centroid'),
    'init': PointAnchor('mug/body', 'center', at='init'),
    'world': PointAnchor('world', offset_m=(0.3, 0.1, 0.2)),
}
AXES = {
    'tool': AxisAnchor('tool', 'z'),
    'held': AxisAnchor('mug/handle', 'normal'),
    'static': AxisAnchor('bowl/rim', '-major'),
    'init': AxisAnchor('mug/body', 'x', at='init'),
    'world': AxisAnchor('world', '-y'),
}
REGIONS = {'held': 'mug/body', 'static': 'bowl/rim'}


def make_scene(seed: int) -> SceneState:
    """Build a random scene: the mug is held (moves with the tool), the bowl stands still."""
    rng = np.random.default_rng(seed)

    def cloud(n):
        return rng.normal(size=(n, 3)) * rng.uniform(0.01, 0.08, 3) + rng.normal(0, 0.05, 3)

    regions = {name: Region.from_points(name, cloud(40))
               for name in ('mug/handle', 'mug/body', 'bowl/rim')}
    return SceneState(
        T_base_tool=random_pose(rng),
        T_base_obj={'mug': random_pose(rng), 'bowl': random_pose(rng)},
        regions=regions, held=frozenset({'mug'}),
        T_base_obj_init={'mug': random_pose(rng), 'bowl': random_pose(rng)})


def check_jacobian(constraint: Constraint, scene: SceneState, step: float = 1e-6) -> None:
    lin = linearize(constraint, scene)
    expected = numeric_jacobian(lambda s: linearize(constraint, s).value, scene, step)
    assert lin.jacobian.shape == (len(lin.value), 6)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(lin.jacobian, expected, rtol=1e-5, atol=1e-5 * scale)


def anchored(kind, a, b, **params):
    return Constraint(kind, a=a, b=b, **params)


PAIR_CASES = [
    *[('distance', a, b, {'max_m': 0.1}) for a, b in itertools.product(POINTS, POINTS)],
    *[('offset', a, b, {'offset_m': (0.05, -0.1, 0.2), 'frame': frame})
      for a, b in itertools.product(POINTS, POINTS) for frame in ('world', 'object')],
    *[('align', a, b, {}) for a, b in itertools.product(AXES, AXES)],
    *[('angle', a, b, {'angle_rad': 2.0}) for a, b in itertools.product(AXES, AXES)],
]


@pytest.mark.parametrize('kind,a,b,params', PAIR_CASES,
                         ids=[f'{k}-{a}-{b}-{p.get("frame", "")}' for k, a, b, p in PAIR_CASES])
def test_pair_jacobians_match_finite_differences(kind, a, b, params):
    anchors = AXES if kind in ('align', 'angle') else POINTS
    constraint = anchored(kind, anchors[a], anchors[b], **params)
    for seed in range(3):
        check_jacobian(constraint, make_scene(seed))


REGION_CASES = [(kind, point, region) for kind in ('above', 'inside', 'keep_away')
                for point in POINTS for region in REGIONS]


@pytest.mark.parametrize('kind,point,region', REGION_CASES,
                         ids=[f'{k}-{p}-{r}' for k, p, r in REGION_CASES])
def test_region_jacobians_match_finite_differences(kind, point, region):
    params = {'above': {'max_height_m': 0.5}, 'inside': {'margin_m': 0.001},
              'keep_away': {'margin_m': 0.02}}[kind]
    constraint = Constraint(kind, point=POINTS[point], region=REGIONS[region], **params)
    for seed in range(3):
        check_jacobian(constraint, make_scene(seed))


@pytest.mark.parametrize('region', REGIONS)
@pytest.mark.parametrize('point', ['tool', 'static', 'held'])
def test_keep_away_jacobian_inside_the_box(point, region):
    scene = make_scene(7)
    box = scene.regions[REGIONS[region]]
    T = scene.T_base_obj[box.frame]
    # Put the tool inside the box, off-centre so that the nearest face is unique.
    inner = box.center_obj + box.axes_obj @ (0.2 * box.extent_m * np.array([1.0, -0.5, 0.3]))
    scene.T_base_tool[:3, 3] = T[:3, :3] @ inner + T[:3, 3]
    scene.set_object_pose(box.frame, T)     # a held box moved with the tool: put it back
    constraint = Constraint('keep_away', point=POINTS['tcp'], region=REGIONS[region],
                            margin_m=0.01)
    assert linearize(constraint, scene).value[0] < 0.0
    check_jacobian(constraint, scene)
    if point != 'tcp':
        check_jacobian(Constraint('inside', point=POINTS[point], region=REGIONS[region]),
                       scene)


def tilted_tool_scene(angle: float) -> SceneState:
    """Build a scene whose tool z axis makes ``angle`` with the world z axis."""
    T = np.eye(4)
    T[:3, :3] = so3_exp(np.array([angle, 0.0, 0.0]))
    T[:3, 3] = [0.4, 0.1, 0.3]
    return SceneState(T_base_tool=T)


def rotated(scene: SceneState, omega: np.ndarray) -> SceneState:
    """Return a copy of the scene with the tool rotated by ``exp([omega]x)`` about its origin."""
    T = scene.T_base_tool.copy()
    T[:3, :3] = so3_exp(omega) @ T[:3, :3]
    return scene.replace_tool_pose(T)


@pytest.mark.parametrize('target', ['z', '-z'])
@pytest.mark.parametrize('kind', ['align', 'angle'])
def test_angle_jacobians_near_zero_and_pi(kind, target):
    params = {'angle_rad': 1.0} if kind == 'angle' else {}
    constraint = Constraint(kind, a=AxisAnchor('tool', 'z'), b=AxisAnchor('world', target),
                            **params)
    for tilt in (1e-3, 1e-5):
        scene = tilted_tool_scene(tilt)
        theta = linearize(constraint, scene).value[0]
        assert theta == pytest.approx(tilt if target == 'z' else math.pi - tilt, abs=1e-12)
        check_jacobian(constraint, scene, step=1e-8 if tilt < 1e-4 else 1e-7)


@pytest.mark.parametrize('kind', ['align', 'angle'])
def test_angle_jacobian_at_exactly_zero_and_pi(kind):
    params = {'angle_rad': 1.0} if kind == 'angle' else {}
    scene = tilted_tool_scene(0.0)
    same = Constraint(kind, a=AxisAnchor('tool', 'z'), b=AxisAnchor('world', 'z'), **params)
    lin = linearize(same, scene)
    assert lin.value[0] == 0.0 and np.all(np.isfinite(lin.jacobian))
    if kind == 'align':
        np.testing.assert_array_equal(lin.jacobian, np.zeros((1, 6)))
    else:
        # A unit-rate rotation against the row's direction must increase the angle.
        assert np.linalg.norm(lin.jacobian) == pytest.approx(1.0)
        moved = rotated(scene, -1e-3 * lin.jacobian[0, 3:])
        assert linearize(same, moved).value[0] == pytest.approx(1e-3, rel=1e-6)
    opposite = Constraint(kind, a=AxisAnchor('tool', 'z'), b=AxisAnchor('world', '-z'),
                          **params)
    lin = linearize(opposite, scene)
    assert lin.value[0] == pytest.approx(math.pi)
    assert np.linalg.norm(lin.jacobian) == pytest.approx(1.0)
    # Following the row (gradient descent on theta) leaves theta = pi.
    moved = rotated(scene, -1e-3 * lin.jacobian[0, 3:])
    assert linearize(opposite, moved).value[0] == pytest.approx(math.pi - 1e-3, rel=1e-6)


def test_distance_near_and_at_zero():
    scene = tilted_tool_scene(0.3)
    near = scene.T_base_tool[:3, 3] + np.array([1e-4, -2e-4, 5e-5])
    constraint = Constraint('distance', a=PointAnchor('tool'),
                            b=PointAnchor('world', offset_m=tuple(near)), min_m=0.01)
    lin = linearize(constraint, scene)
    assert lin.value[0] == pytest.approx(np.linalg.norm([1e-4, -2e-4, 5e-5]))
    check_jacobian(constraint, scene, step=1e-8)
    at = Constraint('distance', a=PointAnchor('tool'),
                    b=PointAnchor('world', offset_m=tuple(scene.T_base_tool[:3, 3])))
    lin = linearize(at, scene)
    assert lin.value[0] == 0.0
    np.testing.assert_array_equal(lin.jacobian, np.zeros((1, 6)))


def test_values_and_bounds_of_each_kind():
    region = Region.from_points('box/top', np.array(
        [[x, y, z] for x in (-0.1, 0.1) for y in (-0.05, 0.05) for z in (0.0, 0.02)]))
    T_obj = np.eye(4)
    T_obj[:3, 3] = [0.5, 0.0, 0.1]
    T_tool = np.eye(4)
    T_tool[:3, 3] = [0.53, 0.04, 0.25]
    scene = SceneState(T_base_tool=T_tool, T_base_obj={'box': T_obj},
                       regions={'box/top': region})
    tcp = PointAnchor('tool')
    lin = linearize(Constraint('above', point=tcp, region='box/top', min_height_m=0.05,
                               max_height_m=0.2), scene)
    np.testing.assert_allclose(lin.value, [0.05, 0.25 - 0.12])
    np.testing.assert_allclose(lin.lower, [0.0, 0.05])
    np.testing.assert_allclose(lin.upper, [0.1, 0.2])  # default radius: half of 0.2 m
    lin = linearize(Constraint('keep_away', point=tcp, region='box/top', margin_m=0.2), scene)
    assert lin.value[0] == pytest.approx(0.25 - 0.12)
    assert lin.upper[0] == np.inf
    np.testing.assert_allclose(violation(lin), [0.13 - 0.2])
    lin = linearize(Constraint('inside', point=tcp, region='box/top', margin_m=0.02), scene)
    np.testing.assert_allclose(np.abs(lin.value), [0.03, 0.04, 0.14])
    np.testing.assert_allclose(lin.upper, [0.08, 0.03, 0.0])
    np.testing.assert_allclose(np.abs(violation(lin)), [0.0, 0.01, 0.14])
    lin = linearize(Constraint('offset', a=tcp, b=PointAnchor('box/top', 'top'),
                               offset_m=(0.0, 0.0, 0.1)), scene)
    np.testing.assert_allclose(lin.value, [0.03, 0.04, 0.25 - 0.12 - 0.1])
    lin = linearize(Constraint('distance', a=tcp, b=PointAnchor('world'), min_m=1.0,
                               max_m=2.0), scene)
    assert violation(lin)[0] == pytest.approx(np.linalg.norm(T_tool[:3, 3]) - 1.0)


def test_offset_in_object_frame_rotates_with_the_owner():
    scene = make_scene(3)
    constraint = Constraint('offset', a=PointAnchor('tool'),
                            b=PointAnchor('bowl/rim', 'centroid'), offset_m=(0.1, 0.0, 0.0),
                            frame='object')
    R = scene.T_base_obj['bowl'][:3, :3]
    p_b = (R @ scene.regions['bowl/rim'].centroid_obj) + scene.T_base_obj['bowl'][:3, 3]
    expected = scene.T_base_tool[:3, 3] - p_b - R @ np.array([0.1, 0.0, 0.0])
    np.testing.assert_allclose(linearize(constraint, scene).value, expected)


def test_violation_is_zero_inside_the_band():
    scene = make_scene(1)
    constraint = Constraint('distance', a=PointAnchor('tool'), b=PointAnchor('world'),
                            min_m=0.0, max_m=2.0)
    lin = linearize(constraint, scene)
    np.testing.assert_array_equal(violation(lin), [0.0])


def test_linearize_does_not_share_writable_state():
    scene = make_scene(2)
    constraint = Constraint('align', a=AXES['tool'], b=AXES['static'])
    first = linearize(constraint, scene)
    with pytest.raises(ValueError):
        first.lower[0] = 1.0
    first.jacobian[:] = 99.0
    first.value[:] = 99.0
    second = linearize(constraint, scene)
    assert not np.any(second.jacobian == 99.0) and second.value[0] != 99.0


CONSTRAINTS = [
    Constraint('distance', a=POINTS['held'], b=POINTS['static'], max_m=0.1),
    Constraint('offset', a=POINTS['tool'], b=POINTS['held'], offset_m=(0.0, 0.0, 0.1),
               frame='object'),
    Constraint('align', a=AXES['held'], b=AXES['world']),
    Constraint('angle', a=AXES['tool'], b=AXES['init'], angle_rad=math.pi),
    Constraint('above', point=POINTS['held'], region='bowl/rim'),
    Constraint('inside', point=POINTS['tool'], region='mug/body', margin_m=2.0),
    Constraint('keep_away', point=POINTS['static'], region='mug/body', margin_m=0.1),
]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, len(CONSTRAINTS) - 1),
       scale=st.sampled_from([0.0, 1e-9, 1.0, 1e3]), points=st.integers(1, 4))
def test_linearize_outputs_are_finite(seed, index, scale, points):
    rng = np.random.default_rng(seed)
    regions = {name: Region.from_points(name, rng.normal(size=(points, 3)) * scale)
               for name in ('mug/handle', 'mug/body', 'bowl/rim')}
    scene = SceneState(T_base_tool=random_pose(rng, 1e3 * scale + 1.0),
                       T_base_obj={'mug': random_pose(rng, scale), 'bowl': random_pose(rng)},
                       regions=regions, held=frozenset({'mug'}) if seed % 2 else frozenset())
    constraint = CONSTRAINTS[index]
    lin = linearize(constraint, scene)
    m = len(lin.value)
    assert lin.lower.shape == lin.upper.shape == (m,) and lin.jacobian.shape == (m, 6)
    assert np.all(np.isfinite(lin.value)) and np.all(np.isfinite(lin.jacobian))
    assert np.all(lin.lower <= lin.upper) and not np.any(np.isnan(lin.lower + lin.upper))
    assert np.all(np.isfinite(violation(lin)))


def test_linearize_is_deterministic():
    scene = make_scene(4)
    for constraint in CONSTRAINTS:
        first, second = linearize(constraint, scene), linearize(constraint, scene)
        for x, y in zip(first, second):
            np.testing.assert_array_equal(x, y)


def test_linearize_is_fast():
    """A loose guard (5x the 30 us target) against gross slowdowns of the 1 kHz path."""
    scene = make_scene(5)
    for constraint in CONSTRAINTS:
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(200):
                linearize(constraint, scene)
            best = min(best, (time.perf_counter() - start) / 200)
        assert best < 150e-6, f'{constraint.kind}: {best * 1e6:.0f} us per call'


@pytest.mark.parametrize('target', ['z', '-z'])
def test_degenerate_angle_rows_are_consistent(target):
    scene = tilted_tool_scene(0.0)
    tool = AxisAnchor('tool', 'z')
    # Both axes fixed to the tool: the angle cannot change, the row must vanish.
    scene.regions = {'cup/rim': Region.from_points('cup/rim', np.zeros((1, 3)))}
    scene.T_base_obj = {'cup': scene.T_base_tool.copy()}
    scene.held = frozenset({'cup'})
    on_tool = Constraint('angle', a=tool, b=AxisAnchor('cup/rim', target), angle_rad=1.0)
    np.testing.assert_allclose(linearize(on_tool, scene).jacobian, np.zeros((1, 6)),
                               atol=1e-15)
    # World axis first, tool axis second: descending along the row must lower the angle
    # at pi and raise it at 0 (where the row points the other way).
    world_first = Constraint('angle', a=AxisAnchor('world', target), b=tool, angle_rad=1.0)
    lin = linearize(world_first, scene)
    moved = rotated(scene, -1e-3 * lin.jacobian[0, 3:])
    expected = 1e-3 if target == 'z' else math.pi - 1e-3
    assert linearize(world_first, moved).value[0] == pytest.approx(expected, rel=1e-6)
