"""RenderWorker: the camera rendered in a second process gives the in-process frames."""

import numpy as np
import pytest

from resem3d_sim.catalog import get_task
from resem3d_sim.render_worker import RenderWorker, RenderWorkerError
from resem3d_sim.tasks import CAMERA_NAME, TaskEnv

import mujoco  # noqa: E402,I100  (after resem3d_sim: headless GL)


@pytest.fixture(scope='module')
def env():
    return TaskEnv.build(get_task('lab_pour_beaker'), 0)


def test_frames_match_the_in_process_camera_and_carry_the_state_time(env):
    with RenderWorker(env.world.model, CAMERA_NAME) as worker, env.camera() as camera:
        for _ in range(20):                        # move the physics on a little
            env.world.step(np.zeros(len(env.world.q_rad)))
        # The worker renders the positions of qpos (mj_forward); after mj_step the poses in
        # data are those before the last integration, so bring them up to date first.
        mujoco.mj_forward(env.world.model, env.world.data)
        expected = camera.render()
        frame = worker.render(env.world.data)
        np.testing.assert_array_equal(frame.color, expected.color)
        np.testing.assert_array_equal(frame.part_mask, expected.part_mask)
        np.testing.assert_array_equal(frame.depth_m, expected.depth_m)   # same noise seed
        assert frame.labels == expected.labels == worker.labels
        np.testing.assert_allclose(frame.T_base_cam, expected.T_base_cam)
        assert frame.stamp_s == pytest.approx(env.world.t_s)
        assert len(worker.render_ms) == 1 and worker.render_ms[0] > 0.0


def test_one_frame_in_flight_while_the_physics_goes_on(env):
    with RenderWorker(env.world.model, CAMERA_NAME) as worker:
        assert worker.submit(env.world.data)
        assert worker.busy and not worker.submit(env.world.data)   # one at a time
        steps = 0
        frame = worker.poll()
        while frame is None:
            env.world.step(np.zeros(len(env.world.q_rad)))
            steps += 1
            frame = worker.poll()
        assert steps > 0 and not worker.busy        # physics ran while it rendered
        assert frame.color.shape == (480, 640, 3)
        with pytest.raises(RenderWorkerError, match='no frame was submitted'):
            worker.wait()
    with pytest.raises(RenderWorkerError, match='closed'):
        worker.submit(env.world.data)


def test_an_unknown_camera_fails_with_one_line(env):
    with pytest.raises(RenderWorkerError) as info:
        RenderWorker(env.world.model, 'no_such_camera')
    assert 'no_such_camera' in str(info.value) and '\n' not in str(info.value)


def test_a_moved_welded_body_is_rendered_where_it_now_is():
    env = TaskEnv.build(get_task('lab_tube_to_slot_2'), 0)       # the rack is welded
    label = env.object_info('rack').labels[0]
    with RenderWorker(env.world.model, CAMERA_NAME) as worker:
        before = worker.render(env.world.data, model=env.world.model)
        T = env.pose('rack')
        T[1, 3] += 0.1
        env.world.move_welded_body(env.object_info('rack').body_name, T)
        stale = worker.render(env.world.data)                    # without the model: old poses
        moved = worker.render(env.world.data, model=env.world.model)
    index = before.labels.index(label)

    def centre_px(frame):
        v, u = np.nonzero(frame.part_mask == index)
        return np.array([u.mean(), v.mean()])

    np.testing.assert_allclose(centre_px(stale), centre_px(before), atol=0.5)
    assert np.linalg.norm(centre_px(moved) - centre_px(before)) > 20.0
