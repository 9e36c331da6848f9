"""ROS 2 node ``constraints``: binds the program to tracked regions, publishes residuals and
RViz markers of the active stage.

Subscribes the program (``/resem3d/program``, transient local), perception's regions
(``/resem3d/regions``) and the controller's status (``/resem3d/controller_status``, whose
``stage`` names the active stage); looks up the tool pose ``base_frame`` → ``tool_frame`` in
tf; at ``rate_hz`` publishes ``/resem3d/residuals`` and ``/resem3d/constraint_markers``. All
logic lives in :mod:`.monitoring` and :mod:`.markers`; this module only converts messages.
"""

from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from resem3d_msgs.msg import ConstraintProgram, ConstraintResidual, RegionArray, TaskStatus
from tf2_ros import Buffer, TransformException, TransformListener
from visualization_msgs.msg import MarkerArray

from resem3d_constraints.exceptions import ConstraintError
from resem3d_constraints.markers import stage_markers
from resem3d_constraints.monitoring import stage_index, StageMonitor, transform_matrix
from resem3d_constraints.ros_conversions import (program_from_msg, region_array_from_msg,
                                                 residuals_to_msg)
from resem3d_constraints.ros_types import RclpyMessageTypes


class ConstraintsNode(Node):
    """Evaluates the active stage of the current program in the tracked scene."""

    def __init__(self):
        super().__init__('constraints')
        self.base_frame = self.declare_parameter('base_frame', 'fr3_link0').value
        self.tool_frame = self.declare_parameter('tool_frame', 'fr3_hand_tcp').value
        rate_hz = self.declare_parameter('rate_hz', 10.0).value
        topics = {name: self.declare_parameter(f'{name}_topic', default).value
                  for name, default in (('program', '/resem3d/program'),
                                        ('regions', '/resem3d/regions'),
                                        ('status', '/resem3d/controller_status'),
                                        ('residuals', '/resem3d/residuals'),
                                        ('markers', '/resem3d/constraint_markers'))}
        self.types = RclpyMessageTypes()
        self.monitor = StageMonitor()
        self.program = None
        self.stage_name = ''
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(ConstraintProgram, topics['program'], self.program_callback,
                                 latched)
        self.create_subscription(RegionArray, topics['regions'], self.regions_callback, 10)
        self.create_subscription(TaskStatus, topics['status'], self.status_callback, 10)
        self.residuals_pub = self.create_publisher(ConstraintResidual, topics['residuals'], 10)
        self.markers_pub = self.create_publisher(MarkerArray, topics['markers'], 10)
        self.tf_buffer = Buffer()
        self.tf_listener = TransformListener(self.tf_buffer, self)
        self.timer = self.create_timer(1.0 / rate_hz, self.publish_callback)
        self.add_on_set_parameters_callback(self.parameters_callback)

    def parameters_callback(self, parameters):
        """Every parameter is read once, at start-up: refuse changes instead of ignoring them."""
        return SetParametersResult(successful=False,
                                   reason='parameters are read at start-up; restart the node')

    def program_callback(self, msg):
        try:
            self.program = program_from_msg(msg)
        except ConstraintError as error:
            self.get_logger().error(f'program rejected: {error}')
            return
        self.get_logger().info(f'program {self.program.name}: '
                               f'{len(self.program.stages)} stages')

    def regions_callback(self, msg):
        try:
            regions = region_array_from_msg(msg)
            if regions.frame_id and regions.frame_id != self.base_frame:
                raise ConstraintError(f'regions are in {regions.frame_id!r}, expected the '
                                      f'base frame {self.base_frame!r}')
            self.monitor.set_regions(regions.regions, regions.T_frame_obj)
        except ConstraintError as error:
            self.get_logger().warning(f'regions rejected: {error}', throttle_duration_sec=5.0)

    def status_callback(self, msg):
        self.stage_name = msg.stage

    def publish_callback(self):
        try:
            stamped = self.tf_buffer.lookup_transform(self.base_frame, self.tool_frame, Time())
            self.monitor.set_tool_pose(transform_matrix(stamped.transform))
        except (TransformException, ConstraintError) as error:
            self.get_logger().warning(f'no tool pose: {error}', throttle_duration_sec=5.0)
        stamp_ns = self.get_clock().now().nanoseconds
        program = self.program
        if program is None or not self.monitor.has_tool_pose:
            self.markers_pub.publish(stage_markers(self.types, None, self.monitor.scene,
                                                   self.base_frame, stamp_ns))
            return
        index = stage_index(program, self.stage_name)
        evaluations = self.monitor.evaluations(program, index)
        residuals = self.monitor.residuals(program, index, stamp_ns, evaluations)
        self.residuals_pub.publish(residuals_to_msg(self.types, residuals))
        self.markers_pub.publish(stage_markers(self.types, program.stages[index],
                                               self.monitor.scene, self.base_frame, stamp_ns,
                                               evaluations))


def main(args=None):
    rclpy.init(args=args)
    node = ConstraintsNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
