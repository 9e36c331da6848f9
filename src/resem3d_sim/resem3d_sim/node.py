"""ROS 2 node ``sim``: the MuJoCo world of a task as a Franka arm, its gripper and a RealSense.

Publishes what the real drivers publish, under the same names: colour, aligned depth and
camera info under ``/camera/camera/``, ``/joint_states``, the robot's links on ``/tf`` and the
camera mount on ``/tf_static``, and the simulated time on ``/clock`` (for ``use_sim_time`` in
the other nodes); subscribes the joint velocity commands of a ``JointGroupVelocityController``
and serves ``franka_msgs/action/Move`` and ``Grasp`` under ``gripper_action_ns``. Physics runs
at 1 kHz paced by the wall clock (steady time: this node is the clock source), the camera at
``camera_hz`` in a render process. All logic lives in :mod:`.ros_bridge` and
:mod:`.ros_messages`.
"""

import threading
import time

from franka_msgs.action import Grasp, Move
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from resem3d_msgs.msg import PartLabels
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from tf2_ros import StaticTransformBroadcaster, TransformBroadcaster

from resem3d_constraints.ros_types import RclpyMessageTypes
from resem3d_sim import ros_messages as rm
from resem3d_sim.errors import SimInputError
from resem3d_sim.render_worker import RenderWorker
from resem3d_sim.ros_bridge import BridgeConfig, SimBridge
from resem3d_sim.tasks import CAMERA_NAME


class SimNode(Node):
    """Steps the simulated world in real time and publishes it as the drivers would."""

    def __init__(self):
        super().__init__('sim')
        p = {name: self.declare_parameter(name, default).value for name, default in (
            ('task', 'household_mug_to_plate'), ('seed', 0), ('publish_hz', 250.0),
            ('real_time_factor', 1.0), ('max_steps_per_tick', 50), ('publish_clock', True),
            ('publish_robot_tf', True), ('camera_hz', 15.0), ('command_timeout_s', 0.1),
            ('joint_names', [f'panda_joint{i}' for i in range(1, 8)]),
            ('finger_joint_names', ['panda_finger_joint1', 'panda_finger_joint2']),
            ('base_frame', 'panda_link0'), ('frame_prefix', 'panda_'),
            ('camera_link_frame', 'camera_link'),
            ('camera_frame', 'camera_color_optical_frame'),
            ('color_topic', '/camera/camera/color/image_raw'),
            ('depth_topic', '/camera/camera/aligned_depth_to_color/image_raw'),
            ('camera_info_topic', '/camera/camera/color/camera_info'),
            ('part_labels_topic', '/resem3d/sim/part_labels'),
            ('joint_states_topic', '/joint_states'),
            ('velocity_command_topic', '/joint_velocity_controller/commands'),
            ('gripper_action_ns', '/franka_gripper'))}
        config = BridgeConfig(tuple(p['joint_names']), tuple(p['finger_joint_names']),
                              p['base_frame'], p['frame_prefix'], p['camera_link_frame'],
                              p['camera_frame'], p['command_timeout_s'], p['camera_hz'])
        self.p = p
        self.types = RclpyMessageTypes()
        self.lock = threading.Lock()
        self.bridge = SimBridge.from_task(p['task'], p['seed'], config)
        self.camera = RenderWorker(self.bridge.world.model, CAMERA_NAME)
        self.bridge.attach_camera(CAMERA_NAME, self.camera.intrinsics)
        self.color_pub = self.create_publisher(Image, p['color_topic'], 10)
        self.depth_pub = self.create_publisher(Image, p['depth_topic'], 10)
        self.info_pub = self.create_publisher(CameraInfo, p['camera_info_topic'], 10)
        self.labels_pub = self.create_publisher(PartLabels, p['part_labels_topic'], 10)
        self.joint_pub = self.create_publisher(JointState, p['joint_states_topic'], 10)
        self.clock_pub = self.create_publisher(ClockMsg, '/clock', 10)
        self.tf = TransformBroadcaster(self)
        self.static_tf = StaticTransformBroadcaster(self)
        self.static_tf.sendTransform(rm.transforms(self.types, 0.0,
                                                   self.bridge.camera_transforms()))
        self.create_subscription(Float64MultiArray, p['velocity_command_topic'],
                                 self.command_callback, 10)
        group = ReentrantCallbackGroup()
        ns = p['gripper_action_ns'].rstrip('/')
        self.servers = [ActionServer(self, action, f'{ns}/{name}', callback,
                                     callback_group=group,
                                     cancel_callback=lambda _: CancelResponse.ACCEPT)
                        for action, name, callback in ((Move, 'move', self.move_callback),
                                                       (Grasp, 'grasp', self.grasp_callback))]
        self.start = time.monotonic()
        self.create_timer(1.0 / p['publish_hz'], self.step_callback,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f'task {p["task"]} (seed {p["seed"]}) running')
        self.add_on_set_parameters_callback(self.parameters_callback)

    def parameters_callback(self, parameters):
        """Every parameter is read once, at start-up: refuse changes instead of ignoring them."""
        return SetParametersResult(successful=False,
                                   reason='parameters are read at start-up; restart the node')

    def command_callback(self, msg):
        with self.lock:
            try:
                self.bridge.set_velocity_command(msg.data)
            except SimInputError as error:
                self.get_logger().error(f'{error}: arm stopped', throttle_duration_sec=1.0)

    def step_callback(self):
        with self.lock:
            target_s = (time.monotonic() - self.start) * self.p['real_time_factor']
            self.bridge.advance_to(target_s, self.p['max_steps_per_tick'])
            t_s = self.bridge.t_s
            if self.p['publish_clock']:
                self.clock_pub.publish(rm.clock(self.types, t_s))
            self.joint_pub.publish(rm.joint_state(self.types, self.bridge.joint_state()))
            if self.p['publish_robot_tf']:
                self.tf.sendTransform(rm.transforms(self.types, t_s,
                                                    self.bridge.robot_transforms()))
            frame = self.camera.poll()
            if not self.camera.busy and self.bridge.frame_due():   # a late frame waits
                self.camera.submit(self.bridge.world.data)
        if frame is not None:
            self.publish_frame(frame)

    def publish_frame(self, frame):
        name = self.p['camera_frame']
        self.color_pub.publish(rm.color_image(self.types, frame.stamp_s, name, frame.color))
        self.depth_pub.publish(rm.depth_image(self.types, frame.stamp_s, name, frame.depth_m))
        self.info_pub.publish(rm.camera_info(self.types, frame.stamp_s, name,
                                             frame.intrinsics))
        self.labels_pub.publish(rm.part_labels(self.types, frame.stamp_s, name, frame.part_mask,
                                               frame.labels))

    def move_callback(self, handle):
        goal = handle.request
        return self.run_goal(handle, Move, lambda: self.bridge.start_move(goal.width,
                                                                          goal.speed))

    def grasp_callback(self, handle):
        g = handle.request
        return self.run_goal(handle, Grasp, lambda: self.bridge.start_grasp(
            g.width, g.speed, g.force, g.epsilon.inner, g.epsilon.outer))

    def run_goal(self, handle, action, start):
        with self.lock:
            try:
                goal = start()
            except SimInputError as error:
                handle.abort()
                return action.Result(success=False, error=str(error))
        while not goal.done:
            if handle.is_cancel_requested:
                with self.lock:
                    goal.finish(False, 'canceled')
                handle.canceled()
                return action.Result(success=False, error='canceled')
            handle.publish_feedback(action.Feedback(current_width=goal.current_width_m))
            time.sleep(0.02)
        (handle.succeed if goal.success else handle.abort)()
        return action.Result(success=goal.success, error=goal.error)

    def destroy_node(self):
        self.camera.close()
        super().destroy_node()


def main(args=None):
    rclpy.init(args=args)
    node = SimNode()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
