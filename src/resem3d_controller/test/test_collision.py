import numpy as np
import pytest

from conftest import Q_HOME_RAD
from resem3d_controller import (CollisionModel, ControllerConfig, JointVelocityController,
                                KinematicArm, Obstacle)
from resem3d_constraints import box_signed_distances
from resem3d_controller.collision import _body_vertices, fit_spheres


@pytest.fixture(scope='module')
def collision(robot):
    return CollisionModel(robot, spheres_per_body=8, margin_m=0.01, activation_m=10.0)


def test_spheres_cover_every_vertex_of_every_body(robot, collision):
    spheres = collision.spheres
    for index, body in enumerate(robot.geometry.geometryObjects):
        vertices = _body_vertices(body)
        mine = spheres.body == index
        d = np.linalg.norm(vertices[:, None, :] - spheres.centers_frame[mine][None], axis=2)
        inside = d <= spheres.radii_m[mine][None] + 1e-9
        assert inside.any(axis=1).all(), body.name


def test_fit_spheres_covers_a_bent_point_set_tightly():
    rng = np.random.default_rng(0)
    leg_a = np.c_[rng.uniform(0, 0.3, 200), rng.uniform(-0.02, 0.02, 200), np.zeros(200)]
    leg_b = np.c_[np.zeros(200), rng.uniform(-0.02, 0.02, 200), rng.uniform(0, 0.3, 200)]
    points = np.vstack([leg_a, leg_b])
    centres, radii = fit_spheres(points, 6)
    d = np.linalg.norm(points[:, None] - centres[None], axis=2)
    assert (d <= radii + 1e-12).any(axis=1).all()
    assert radii.max() < 0.1      # a single axis through an L would need ~0.2


def test_self_collision_pairs_follow_the_srdf(robot, collision):
    allowed = robot.self_collision_pairs()
    body = collision.spheres.body
    for a, b in collision.pairs:
        assert (min(body[a], body[b]), max(body[a], body[b])) in allowed
    names = {robot.geometry.geometryObjects[i].name for pair in allowed for i in pair}
    assert 'panda_hand_0' in names


def _clearances_and_rows(collision, q):
    collision.robot.update(q)
    clearance, normal, pa, pb, sa, sb, _ = collision._candidates()
    return clearance, collision._row_jacobians(normal, sa, sb)


def test_collision_row_jacobians_match_finite_differences(collision):
    collision.set_obstacles([Obstacle(np.array([0.45, 0.1, 0.3]), np.eye(3),
                                      np.array([0.1, 0.05, 0.1]))])
    rng = np.random.default_rng(1)
    try:
        for _ in range(3):
            q = Q_HOME_RAD + rng.uniform(-0.4, 0.4, 7)
            c0, J = _clearances_and_rows(collision, q)
            h = 1e-7
            for k in range(7):
                dq = np.zeros(7)
                dq[k] = h
                c1, _ = _clearances_and_rows(collision, q + dq)
                np.testing.assert_allclose((c1 - c0) / h, J[:, k], atol=2e-5)
    finally:
        collision.set_obstacles([])


def test_arm_driven_into_an_obstacle_stops_at_the_margin(robot):
    """A pose target inside a box: the hard rows keep every link sphere out of it."""
    config = ControllerConfig()
    controller = JointVelocityController(config, robot=robot)
    robot.update(Q_HOME_RAD)
    T_target = robot.tool_pose().copy()
    T_target[2, 3] -= 0.35                       # straight down through the box
    box = Obstacle(np.array([T_target[0, 3], T_target[1, 3], T_target[2, 3] + 0.1]),
                   np.eye(3), np.array([0.15, 0.15, 0.05]))
    controller.set_obstacles([box])
    controller.set_pose_target(T_target, 0.0)
    arm = KinematicArm(Q_HOME_RAD, controller.limits, config.dt_s)
    worst = np.inf
    spheres = controller.collision
    for _ in range(2000):
        controller.refresh_targets(arm.t_s)
        arm.apply(controller.step(arm.q_rad, arm.t_s).dq_rad_s)
        robot.update(arm.q_rad)
        centres = spheres._sphere_centres()[spheres._moving]
        d, _ = box_signed_distances(centres, *box)
        worst = min(worst, float(np.min(d - spheres.spheres.radii_m[spheres._moving])))
    assert worst > 0.0                 # never touched (the margin is 1 cm)
    assert worst < 0.03                # and it did press against the box
    assert arm.violations.total == 0


def test_rows_between_searches_match_a_full_search_every_tick(robot):
    """Along a motion, the cached pairs give the same rows as searching all pairs each tick."""
    box = Obstacle(np.array([0.5, 0.0, 0.05]), np.eye(3), np.array([0.3, 0.4, 0.05]))
    cached = CollisionModel(robot, 12, 0.01, 0.05, refresh_ticks=10)
    full = CollisionModel(robot, 12, 0.01, 0.05, refresh_ticks=1)
    for model in (cached, full):
        model.set_obstacles([box])
    q_start = np.array([0.0, 0.2, 0.0, -2.6, 0.0, 2.9, 0.785])   # hand near the box
    q_end = np.array([0.8, 0.5, 0.3, -2.2, 0.4, 2.5, 0.0])
    active_ticks = 0
    for s in np.linspace(0.0, 1.0, 300):          # ~1.3 rad over 300 ticks: a fast motion
        robot.update(q_start + s * (q_end - q_start))
        a = cached.rows(6, 20.0)
        b = full.rows(6, 20.0)
        np.testing.assert_allclose(np.sort(a.distance_m), np.sort(b.distance_m), atol=1e-12)
        active_ticks += len(b.distance_m) > 0
    assert active_ticks > 50                       # the comparison was not vacuous


def test_obstacle_from_region_is_its_oriented_box_in_the_base_frame():
    import resem3d_constraints as rc
    region = rc.Region.from_points('shelf/board', np.array(
        [[x, y, z] for x in (-0.2, 0.2) for y in (-0.1, 0.1) for z in (0.0, 0.02)]),
        frame='shelf')
    T = np.eye(4)
    T[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]   # yaw 90 deg
    T[:3, 3] = [0.5, 0.2, 0.3]
    box = Obstacle.from_region(region, T)
    np.testing.assert_allclose(box.center_base, [0.5, 0.2, 0.31], atol=1e-12)
    np.testing.assert_allclose(sorted(box.half_extent_m), [0.01, 0.1, 0.2], atol=1e-12)
    d, _ = box_signed_distances(np.array([[0.5, 0.2 + 0.25, 0.31], [0.5, 0.2, 0.31]]), *box)
    np.testing.assert_allclose(d, [0.05, -0.01], atol=1e-12)


def test_small_obstacle_moves_keep_the_cached_pairs_and_large_ones_do_not(robot):
    model = CollisionModel(robot, 12, 0.01, 0.05)
    box = Obstacle(np.array([0.5, 0.0, 0.05]), np.eye(3), np.array([0.3, 0.4, 0.05]))
    model.set_obstacles([box])
    robot.update(Q_HOME_RAD)
    model.rows(4, 20.0)
    assert model._cache is not None
    model.set_obstacles([box._replace(center_base=box.center_base + [0.002, 0.0, 0.0])])
    assert model._cache is not None
    model.set_obstacles([box._replace(center_base=box.center_base + [0.1, 0.0, 0.0])])
    assert model._cache is None
