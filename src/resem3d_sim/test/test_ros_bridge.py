"""The simulated drivers for the ROS node: stepping, command timeout, gripper goals, frames,
and the messages they publish (built as rosbags messages)."""

import math

import numpy as np
import pytest

from resem3d_constraints.ros_conversions import time_from_msg
from resem3d_constraints.ros_types import make_resem3d_typestore, RosbagsMessageTypes
from resem3d_sim import Q_HOME_RAD, SimInputError
from resem3d_sim.camera import DepthNoise, RgbdCamera
from resem3d_sim.ros_bridge import (BridgeConfig, encode_depth_mm, invert, R_LINK_OPTICAL,
                                    SimBridge)
from resem3d_sim.ros_messages import (camera_info, clock, color_image, depth_image,
                                      joint_state, part_labels, stamp_ns, transforms)
from resem3d_sim.tasks import CAMERA_NAME

FR3 = BridgeConfig(joint_names=tuple(f'fr3_joint{i}' for i in range(1, 8)),
                   finger_joint_names=('fr3_finger_joint1', 'fr3_finger_joint2'),
                   base_frame='fr3_link0', frame_prefix='fr3_')


@pytest.fixture(scope='module')
def typestore():
    return make_resem3d_typestore()


@pytest.fixture(scope='module')
def types(typestore):
    return RosbagsMessageTypes(typestore)


@pytest.fixture()
def bridge():
    return SimBridge.from_task('lab_tube_to_slot_2', 0, FR3)


def _round_trip(typestore, msg):
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    return typestore.deserialize_cdr(bytes(raw), msg.__msgtype__)


def _matrix(transform):
    """4x4 of a geometry_msgs/Transform (independent of the code under test)."""
    x, y, z, w = (transform.rotation.x, transform.rotation.y, transform.rotation.z,
                  transform.rotation.w)
    T = np.eye(4)
    T[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    T[:3, 3] = [transform.translation.x, transform.translation.y, transform.translation.z]
    return T


def test_the_config_checks_its_names_and_rates():
    with pytest.raises(SimInputError, match='7 distinct'):
        BridgeConfig(joint_names=('a',) * 7)
    with pytest.raises(SimInputError, match='camera_hz'):
        BridgeConfig(camera_hz=0.0)


def test_a_velocity_command_moves_the_arm_until_it_is_stale(bridge):
    dq = np.zeros(7)
    dq[0] = 0.2
    bridge.set_velocity_command(dq)
    bridge.step(50)
    assert bridge.world.dq_rad_s[0] == pytest.approx(0.2, abs=0.01)
    assert not bridge.command.stale(bridge.t_s)
    bridge.step(100)                                   # no new command: stale after 0.1 s
    assert bridge.command.stale(bridge.t_s)
    np.testing.assert_array_equal(bridge.command.current(bridge.t_s), np.zeros(7))
    q_stopped = bridge.world.q_rad
    bridge.step(100)
    assert np.max(np.abs(bridge.world.dq_rad_s)) < 1e-3
    assert np.max(np.abs(bridge.world.q_rad - q_stopped)) < 2e-3
    assert bridge.world.q_rad[0] - Q_HOME_RAD[0] == pytest.approx(0.2 * 0.1, abs=3e-3)


@pytest.mark.parametrize('command', [[0.1] * 6, [0.1] * 6 + [math.nan], 'fast'])
def test_a_malformed_command_is_rejected_and_stops_the_arm(bridge, command):
    bridge.set_velocity_command([0.3] * 7)
    bridge.step(20)
    with pytest.raises(SimInputError, match='7 finite values'):
        bridge.set_velocity_command(command)
    np.testing.assert_array_equal(bridge.command.current(bridge.t_s), np.zeros(7))


def test_physics_advances_to_a_time_without_jumping(bridge):
    assert bridge.advance_to(0.0105) == 10 and bridge.t_s == pytest.approx(0.010)
    assert bridge.advance_to(1.0, max_steps=25) == 25 and bridge.t_s == pytest.approx(0.035)
    assert bridge.advance_to(0.02) == 0 and bridge.t_s == pytest.approx(0.035)


def test_joint_states_use_the_configured_names(bridge):
    sample = bridge.joint_state()
    assert sample.names == FR3.joint_names + FR3.finger_joint_names
    np.testing.assert_allclose(sample.positions[:7], Q_HOME_RAD, atol=1e-12)
    assert sample.positions[7] == sample.positions[8] == pytest.approx(
        bridge.world.gripper_width_m / 2)
    assert sample.stamp_s == bridge.t_s and len(sample.velocities) == 9


def test_a_move_goal_ends_at_its_width(bridge):
    goal = bridge.start_move(0.03, 0.05)
    widths = []
    while not goal.done:
        bridge.step(10)
        widths.append(goal.current_width_m)
    assert goal.success and goal.error == ''
    assert goal.current_width_m == pytest.approx(0.03, abs=0.005)
    assert widths[0] > widths[len(widths) // 2] > widths[-1]         # the feedback closes in
    assert bridge.t_s - goal.started_s == pytest.approx(1.0, abs=0.15)  # 5 cm at 5 cm/s


def _tube_between_the_fingers(bridge):
    """Put the tube (24 mm across) upright between the open fingers, without gravity."""
    world = bridge.world
    world.model.opt.gravity[:] = 0.0
    tube = bridge.env.objects['tube']
    T = np.eye(4)
    T[:3, 3] = world.T_base_tool()[:3, 3] - tube.region('tube/body').center_obj - [0, 0, 0.05]
    world.set_body_pose(tube.body_name, T)


def _run(bridge, goal):
    while not goal.done:
        bridge.step(10)
    return goal


def test_a_grasp_succeeds_on_an_object_between_the_fingers(bridge):
    _tube_between_the_fingers(bridge)
    goal = _run(bridge, bridge.start_grasp(0.024, 0.05, 20.0, 0.005, 0.005))
    assert goal.success, goal.error
    assert 0.019 < goal.current_width_m < 0.029 and bridge.world.gripper_grasping


def test_a_grasp_fails_on_air_and_outside_its_tolerance(bridge):
    goal = _run(bridge, bridge.start_grasp(0.02, 0.1, 20.0))
    assert not goal.success and goal.error.startswith('nothing grasped')
    _run(bridge, bridge.start_move(0.08, 0.1))
    _tube_between_the_fingers(bridge)
    goal = _run(bridge, bridge.start_grasp(0.06, 0.05, 20.0, 0.005, 0.005))
    assert not goal.success and 'outside (0.0550, 0.0650) m' in goal.error


def test_a_new_goal_preempts_the_running_one_and_bad_goals_are_refused(bridge):
    first = bridge.start_move(0.0, 0.05)
    bridge.step(5)
    second = bridge.start_move(0.08, 0.05)
    assert first.done and not first.success and 'preempted' in first.error
    assert not second.done
    with pytest.raises(SimInputError, match='width_m'):
        bridge.start_move(0.2, 0.05)
    with pytest.raises(SimInputError, match='speed_m_s'):
        bridge.start_move(0.04, 0.0)
    with pytest.raises(SimInputError, match='force_n'):
        bridge.start_grasp(0.02, 0.05, 500.0)
    with pytest.raises(SimInputError, match='epsilon'):
        bridge.start_grasp(0.02, 0.05, 20.0, -0.001)


def test_robot_links_chain_to_the_tool_under_the_configured_names(bridge):
    links = {child: (parent, T) for parent, child, T in bridge.robot_transforms()}
    assert links['fr3_link1'][0] == 'fr3_link0'
    assert links['fr3_hand_tcp'][0] == 'fr3_hand'
    T = np.eye(4)
    frame = 'fr3_hand_tcp'
    while frame != 'fr3_link0':
        parent, T_parent_child = links[frame]
        T = T_parent_child @ T
        frame = parent
    np.testing.assert_allclose(T, bridge.world.T_base_tool(), atol=1e-9)


def test_the_camera_tf_follows_realsense_and_projects_a_known_point(bridge, types, typestore):
    bridge.attach_camera()
    static = [_round_trip(typestore, m) for m in
              transforms(types, 0.0, bridge.camera_transforms())]
    assert [(m.header.frame_id, m.child_frame_id) for m in static] == [
        ('fr3_link0', 'camera_link'), ('camera_link', 'camera_color_optical_frame')]
    q = static[1].transform.rotation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [-0.5, 0.5, -0.5, 0.5], atol=1e-12)
    T_base_link, T_link_optical = (_matrix(m.transform) for m in static)
    T_base_optical = T_base_link @ T_link_optical
    np.testing.assert_allclose(T_base_link[:3, 0], T_base_optical[:3, 2], atol=1e-12)  # fwd
    np.testing.assert_allclose(T_base_link[:3, 2], -T_base_optical[:3, 1], atol=1e-12)  # up
    info = _round_trip(typestore, camera_info(types, 0.0, 'camera_color_optical_frame',
                                              bridge.intrinsics))
    K = np.asarray(info.k).reshape(3, 3)
    # The point the camera looks at lies on its optical axis: the principal point.
    p_cam = invert(T_base_optical) @ [0.5, 0.0, 0.05, 1.0]
    uv = (K @ p_cam[:3])[:2] / p_cam[2]
    np.testing.assert_allclose(uv, [K[0, 2], K[1, 2]], atol=1e-9)
    # A point 10 cm along the base y axis, 1 m in front: projected with fx, fy (x right, y
    # down), exactly as the camera module projects it.
    p_base = (T_base_optical @ [0.1, -0.05, 1.0, 1.0])[:3]
    p = invert(T_base_optical) @ np.append(p_base, 1.0)
    u, v = (K @ p[:3])[:2] / p[2]
    assert (u, v) == pytest.approx((319.5 + 61.5, 239.5 - 30.75))
    np.testing.assert_allclose((u, v), bridge.intrinsics.project(
        (invert(bridge.T_base_cam) @ np.append(p_base, 1.0))[:3]), atol=1e-9)


def test_a_rendered_depth_pixel_lands_on_the_table_through_the_published_frames(
        bridge, types, typestore):
    bridge.attach_camera()
    with RgbdCamera(bridge.world.model, bridge.world.data, CAMERA_NAME,
                    noise=DepthNoise(enabled=False)) as camera:
        frame = camera.render()
    depth = _round_trip(typestore, depth_image(types, frame.stamp_s,
                                               'camera_color_optical_frame', frame.depth_m))
    assert (depth.encoding, depth.is_bigendian, depth.step) == ('16UC1', 0, 2 * depth.width)
    mm = np.frombuffer(np.asarray(depth.data, dtype=np.uint8).tobytes(), '<u2').reshape(
        depth.height, depth.width)
    info = camera_info(types, frame.stamp_s, 'camera_color_optical_frame', bridge.intrinsics)
    K = np.asarray(info.k).reshape(3, 3)
    static = transforms(types, 0.0, bridge.camera_transforms())
    T_base_optical = _matrix(static[0].transform) @ _matrix(static[1].transform)
    v, u = 470, 40                                     # bottom left: the bare table top
    z = mm[v, u] / 1000.0
    assert z > 0.3
    p_cam = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z, 1.0])
    p_base = T_base_optical @ p_cam
    assert p_base[2] == pytest.approx(0.0, abs=0.002)   # the table surface is z = 0


def test_encodings_of_colour_depth_and_info(types, typestore):
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    color = _round_trip(typestore, color_image(types, 1.5, 'cam', rgb))
    assert (color.encoding, color.width, color.height, color.step) == ('rgb8', 3, 2, 9)
    np.testing.assert_array_equal(np.asarray(color.data).reshape(2, 3, 3), rgb)
    assert time_from_msg(color.header.stamp) == 1_500_000_000
    depth_m = np.array([[1.2344, 0.0, math.nan], [70.0, -1.0, 0.0004]])
    np.testing.assert_array_equal(encode_depth_mm(depth_m), [[1234, 0, 0], [65535, 0, 0]])
    assert encode_depth_mm(depth_m).dtype == np.dtype('<u2')
    with pytest.raises(SimInputError):
        color_image(types, 0.0, 'cam', rgb[..., 0])
    with pytest.raises(SimInputError):
        stamp_ns(-1.0)


def test_part_labels_carry_the_mask_and_its_label_table(types, typestore):
    mask = np.array([[0, 1, 2], [2, 2, 0]], dtype=np.int32)
    msg = _round_trip(typestore, part_labels(types, 2.0, 'cam', mask, ('', 'mug/body',
                                                                       'mug/handle')))
    assert (msg.image.encoding, msg.image.width, msg.image.height) == ('32SC1', 3, 2)
    np.testing.assert_array_equal(np.asarray(msg.image.data).view('<i4').reshape(2, 3), mask)
    assert list(msg.labels) == ['', 'mug/body', 'mug/handle']
    assert msg.header.frame_id == 'cam' and time_from_msg(msg.header.stamp) == 2_000_000_000
    for bad_mask, labels in ((mask, ('', 'mug/body')), (mask, ('x', 'y', 'z')),
                             (mask.astype(float), ('', 'a', 'b')), (mask[0], ('', 'a', 'b'))):
        with pytest.raises(SimInputError):
            part_labels(types, 0.0, 'cam', bad_mask, labels)


def test_camera_info_joint_state_and_clock_messages(bridge, types, typestore):
    bridge.attach_camera()
    info = _round_trip(typestore, camera_info(types, 2.0, 'camera_color_optical_frame',
                                              bridge.intrinsics))
    k = bridge.intrinsics
    assert (info.width, info.height, info.distortion_model) == (640, 480, 'plumb_bob')
    np.testing.assert_array_equal(info.k, [k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1])
    np.testing.assert_array_equal(info.p, [k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(info.d, np.zeros(5))
    np.testing.assert_array_equal(info.r, np.eye(3).reshape(-1))
    bridge.step(3)
    msg = _round_trip(typestore, joint_state(types, bridge.joint_state()))
    assert list(msg.name) == list(FR3.joint_names + FR3.finger_joint_names)
    np.testing.assert_allclose(msg.position[:7], bridge.world.q_rad)
    assert time_from_msg(msg.header.stamp) == 3_000_000 and len(msg.effort) == 0
    assert time_from_msg(_round_trip(typestore, clock(types, 0.25)).clock) == 250_000_000


def test_frames_fall_due_at_the_camera_rate(bridge):
    due = 0
    for _ in range(1000):
        due += bridge.frame_due()
        bridge.step()
    assert due == 15
    bridge.step(500)                                   # late: one frame, not seven
    assert bridge.frame_due() and not bridge.frame_due()


def test_r_link_optical_is_a_rotation():
    np.testing.assert_allclose(R_LINK_OPTICAL @ R_LINK_OPTICAL.T, np.eye(3))
    assert np.linalg.det(R_LINK_OPTICAL) == pytest.approx(1.0)


def test_the_controller_core_drives_the_simulated_robot_like_the_ros_graph():
    """Controller node core <-> sim node core, with what the topics and actions would carry:
    joint states, velocity commands, gripper goals and results, regions at 15 Hz."""
    from resem3d_controller import ControllerConfig, JointVelocityController
    from resem3d_controller.command_loop import (CommandLoop, finger_joints_for, JointMap,
                                                 ProgramState)
    bridge = SimBridge.from_task('household_mug_to_plate', 0)
    program = bridge.env.task.reference_program()
    truth = bridge.env.plant.scene_for(program.regions)
    names = bridge.config.joint_names
    loop = CommandLoop(JointVelocityController(ControllerConfig()),
                       JointMap(names, finger_joints_for(names)))
    loop.set_program(program)
    bridge.step(10)
    goal, request, stages, results = None, None, [], []
    for tick in range(6000):
        sample = bridge.joint_state()
        loop.set_joint_state(sample.names, sample.positions, sample.velocities, bridge.t_s)
        if tick % 66 == 0:
            poses = {f: bridge.world.body_pose(bridge.env.objects[f].body_name)
                     for f in truth.T_base_obj}
            loop.set_regions(truth.regions, poses, bridge.t_s)
        out = loop.tick(bridge.t_s)
        bridge.set_velocity_command(out.dq_rad_s)
        if out.gripper is not None:
            request = out.gripper
            goal = (bridge.start_move(request.width_m, request.speed_m_s)
                    if request.action == 'move' else
                    bridge.start_grasp(request.width_m, request.speed_m_s, request.force_n,
                                       request.epsilon_inner_m, request.epsilon_outer_m))
        if goal is not None and goal.done:
            loop.gripper_result(goal.success, request.action)
            results.append((request.action, request.width_m, goal.success))
            goal = None
        bridge.step()
        if not stages or stages[-1] != out.stage:
            stages.append(out.stage)
        if out.stage_index >= 2 or out.program == ProgramState.FAILED:
            break
    assert out.program == ProgramState.RUNNING, out.detail
    # The fingers start open: open_gripper's post holds at once, its Move goal still runs.
    assert stages == ['pregrasp', 'grasp_handle']
    assert results == [('move', 0.08, True)]
    handle = truth.regions['mug/handle']
    T_mug = bridge.world.body_pose(bridge.env.objects['mug'].body_name)
    target = T_mug[:3, :3] @ handle.centroid_obj + T_mug[:3, 3] + [0.0, 0.0, 0.1]
    np.testing.assert_allclose(bridge.world.T_base_tool()[:3, 3], target, atol=0.015)
