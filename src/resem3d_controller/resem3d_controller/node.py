"""ROS 2 node ``controller``: joint states, the program and tracked regions in, joint
velocities to a ``JointGroupVelocityController`` and goals to the Franka gripper out.

The core configuration comes from ``config_file`` (``config/controller.yaml``); ``base_frame``,
``tool_frame`` and ``joint_prefix`` give the robot's ROS names, which are its URDF's. A timer
at ``rate_hz`` runs one :class:`~.command_loop.CommandLoop` tick: the velocity command goes to
``velocity_command_topic`` (``std_msgs/Float64MultiArray``, joints
``<joint_prefix>joint1..7``), a stage's gripper action to ``<gripper_action_ns>/move`` or
``/grasp`` (``franka_msgs/action/Move``, ``Grasp``), and the progress to ``status_topic``
(``resem3d_msgs/TaskStatus``; its ``stage`` is the active stage). The loop's watchdog stops
the arm on stale or invalid input. This module only converts.
"""

from franka_msgs.action import Grasp, Move
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from resem3d_msgs.msg import ConstraintProgram, RegionArray, TaskStatus
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from resem3d_constraints.exceptions import ConstraintError
from resem3d_constraints.ros_conversions import (program_from_msg, region_array_from_msg,
                                                 task_status_to_msg)
from resem3d_constraints.ros_types import RclpyMessageTypes
from resem3d_controller.command_loop import (CommandLoop, finger_joints_for, JointMap,
                                             task_status, Watchdog, with_robot_names)
from resem3d_controller.config import ControllerConfig, NODE_NAME
from resem3d_controller.controller import JointVelocityController
from resem3d_controller.exceptions import InputError


class ControllerNode(Node):
    """Tracks the current constraint program with the velocity QP."""

    def __init__(self):
        super().__init__('controller')
        config_file = self.declare_parameter('config_file', '').value
        section = self.declare_parameter('config_section', NODE_NAME).value
        config = (ControllerConfig.from_yaml(config_file, section) if config_file
                  else ControllerConfig())
        config = with_robot_names(config, *(self.declare_parameter(name, '').value for name in
                                            ('base_frame', 'tool_frame', 'joint_prefix',
                                             'urdf_path')))
        joints = list(config.arm_joints)
        fingers = list(self.declare_parameter('finger_joint_names',
                                              list(finger_joints_for(joints))).value)
        rate_hz = self.declare_parameter('rate_hz', config.rate_hz).value
        topics = {name: self.declare_parameter(name, default).value
                  for name, default in (('joint_states_topic', '/joint_states'),
                                        ('program_topic', '/resem3d/program'),
                                        ('regions_topic', '/resem3d/regions'),
                                        ('velocity_command_topic',
                                         '/joint_velocity_controller/commands'),
                                        ('status_topic', '/resem3d/controller_status'),
                                        ('task_status_topic', '/resem3d/task_status'),
                                        ('gripper_action_ns', '/franka_gripper'))}
        self.base_frame = config.base_frame
        self.types = RclpyMessageTypes()
        self.loop = CommandLoop(JointVelocityController(config), JointMap(joints, fingers))
        self.task = ('', -1)
        self.watchdog = Watchdog.OK
        self.last_output = None
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(JointState, topics['joint_states_topic'],
                                 self.joint_state_callback, 10)
        self.create_subscription(ConstraintProgram, topics['program_topic'],
                                 self.program_callback, latched)
        self.create_subscription(RegionArray, topics['regions_topic'], self.regions_callback, 10)
        self.create_subscription(TaskStatus, topics['task_status_topic'],
                                 self.task_status_callback, 10)
        self.command_pub = self.create_publisher(Float64MultiArray,
                                                 topics['velocity_command_topic'], 10)
        self.status_pub = self.create_publisher(TaskStatus, topics['status_topic'], 10)
        ns = topics['gripper_action_ns'].rstrip('/')
        self.gripper = {'move': ActionClient(self, Move, f'{ns}/move'),
                        'grasp': ActionClient(self, Grasp, f'{ns}/grasp')}
        self.create_timer(1.0 / rate_hz, self.control_callback)
        self.create_timer(0.1, self.status_callback)
        self.add_on_set_parameters_callback(self.parameters_callback)

    def parameters_callback(self, parameters):
        """Every parameter is read once, at start-up: refuse changes instead of ignoring them."""
        return SetParametersResult(successful=False,
                                   reason='parameters are read at start-up; restart the node')

    def now_s(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def joint_state_callback(self, msg):
        try:
            self.loop.set_joint_state(msg.name, msg.position, msg.velocity, self.now_s())
        except InputError as error:
            self.get_logger().debug(f'joint state not used: {error}')

    def program_callback(self, msg):
        try:
            program = program_from_msg(msg)
        except ConstraintError as error:
            self.get_logger().error(f'program rejected: {error}')
            return
        self.task = (msg.task_id, msg.subtask_index)
        self.loop.set_program(program, msg.task_id)
        self.get_logger().info(f'program {program.name}: {len(program.stages)} stages')

    def task_status_callback(self, msg):
        if self.loop.task_ended(msg.task_id, msg.state == TaskStatus.STATE_FAILED):
            self.get_logger().warning(f'task {msg.task_id} failed or was cancelled: program '
                                      f'dropped, stopping ({msg.message})')

    def regions_callback(self, msg):
        try:
            regions = region_array_from_msg(msg)
            if regions.frame_id and regions.frame_id != self.base_frame:
                raise InputError(f'regions are in {regions.frame_id!r}, not the base frame '
                                 f'{self.base_frame!r}')
            self.loop.set_regions(regions.regions, regions.T_frame_obj, self.now_s())
        except (ConstraintError, InputError) as error:
            self.get_logger().warning(f'regions rejected: {error}', throttle_duration_sec=5.0)

    def control_callback(self):
        out = self.loop.tick(self.now_s())
        self.command_pub.publish(Float64MultiArray(data=list(out.dq_rad_s)))
        if out.watchdog != self.watchdog:
            self.get_logger().warning(f'watchdog: {out.watchdog.value} ({out.detail})')
            self.watchdog = out.watchdog
        if out.gripper is not None:
            self.send_gripper_goal(out.gripper)
        self.last_output = out

    def send_gripper_goal(self, request):
        client = self.gripper[request.action]
        if request.action == 'move':
            goal = Move.Goal(width=request.width_m, speed=request.speed_m_s)
        else:
            goal = Grasp.Goal(width=request.width_m, speed=request.speed_m_s,
                              force=request.force_n)
            goal.epsilon.inner = request.epsilon_inner_m
            goal.epsilon.outer = request.epsilon_outer_m
        if not client.server_is_ready():
            self.get_logger().error(f'gripper action {request.action} is not available')
            self.loop.gripper_result(False, request.action)
            return
        self.get_logger().info(f'gripper {request.action}: width {request.width_m:.3f} m')
        future = client.send_goal_async(goal)
        future.add_done_callback(lambda f: self.goal_response_callback(f, request.action))

    def goal_response_callback(self, future, action):
        handle = future.result()
        if not handle.accepted:
            self.get_logger().error(f'gripper {action} goal rejected')
            self.loop.gripper_result(False, action)
            return
        handle.get_result_async().add_done_callback(
            lambda f: self.gripper_result_callback(f, action))

    def gripper_result_callback(self, future, action):
        result = future.result().result
        if not result.success:
            self.get_logger().warning(f'gripper {action} failed: {result.error}')
        self.loop.gripper_result(result.success, action)

    def status_callback(self):
        if self.last_output is not None:
            status = task_status(self.last_output, self.get_clock().now().nanoseconds,
                                 *self.task)
            self.status_pub.publish(task_status_to_msg(self.types, status))


def main(args=None):
    rclpy.init(args=args)
    node = ControllerNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
