# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""The perception node: RealSense images in; tracked regions, marks and a labelled cloud out.

A thin adapter over :class:`resem3d_perception.service.PerceptionService`: callbacks convert
messages (:mod:`resem3d_perception.ros_conversions`, :mod:`resem3d_constraints.ros_conversions`)
and call the core. Subscribes the colour, aligned depth and camera info topics and the regions
the reasoning grounds; publishes the tracked regions every tracked frame, and the marked image
and labelled cloud of each observation; serves ``/resem3d/observe``.
"""

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from rclpy.time import Time
from resem3d_msgs.msg import PartLabels, RegionArray
from resem3d_msgs.srv import Observe
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tf2_ros import Buffer, TransformException, TransformListener

from resem3d_constraints import ros_conversions as rcv
from resem3d_constraints.ros_types import RclpyMessageTypes
from resem3d_perception import ros_conversions as conv
from resem3d_perception.config import PerceptionConfig
from resem3d_perception.errors import PerceptionError
from resem3d_perception.service import (load_system_regions, NODE_PARAMETERS,
                                        PerceptionService, ServiceConfig)

class PerceptionNode(Node):
    """ROS adapter of the perception core (node name ``perception``)."""

    def __init__(self) -> None:
        super().__init__('perception')
        p = {name: self.declare_parameter(name, default).value
             for name, default in NODE_PARAMETERS.items()}
        self.p = p
        self.types = RclpyMessageTypes()
        config = (PerceptionConfig.from_yaml(p['config_file']) if p['config_file'] else
                  PerceptionConfig())
        if not p['config_file']:
            self.get_logger().warning('config_file is empty: using default perception settings')
        self.camera = config.camera
        system = (load_system_regions(p['system_regions_file']) if p['system_regions_file']
                  else None)
        self.core = PerceptionService(config, ServiceConfig(
            sync_tolerance_s=p['sync_tolerance_s'], scene=p['scene'],
            sync_labels=config.segmenter == 'sim'),
            system_regions=system)
        self.last_track_ns = 0
        self.tf_buffer = Buffer()
        self.tf_listener = TransformListener(self.tf_buffer, self, spin_thread=True)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.regions_pub = self.create_publisher(RegionArray, p['regions_topic'], 10)
        self.marked_pub = self.create_publisher(Image, p['marked_image_topic'], latched)
        self.cloud_pub = self.create_publisher(PointCloud2, p['cloud_topic'], latched)
        sensors = MutuallyExclusiveCallbackGroup()
        self.create_subscription(CameraInfo, p['camera_info_topic'], self.camera_info_callback,
                                 qos_profile_sensor_data, callback_group=sensors)
        self.create_subscription(Image, p['color_topic'], self.color_callback,
                                 qos_profile_sensor_data, callback_group=sensors)
        self.create_subscription(Image, p['depth_topic'], self.depth_callback,
                                 qos_profile_sensor_data, callback_group=sensors)
        if config.segmenter == 'sim':               # the simulator's ground-truth labels
            self.create_subscription(PartLabels, p['part_labels_topic'], self.labels_callback,
                                     qos_profile_sensor_data, callback_group=sensors)
        self.create_subscription(RegionArray, p['grounded_regions_topic'],
                                 self.grounded_callback, latched, callback_group=sensors)
        self.create_service(Observe, p['observe_service'], self.observe_callback,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f'perception ready: segmenter {config.segmenter}, base frame '
                               f'{p["base_frame"]}, camera frame {p["camera_frame"]}')

    def lookup(self, frame: str, stamp_ns: int):
        """(4, 4) pose of ``frame`` in the base frame at ``stamp_ns`` (else the latest), or
        None when tf has neither."""
        base = self.p['base_frame']
        for stamp, wait_s in ((Time(nanoseconds=stamp_ns), self.p['tf_timeout_s']), (Time(), 0.0)):
            try:
                return conv.transform_to_matrix(self.tf_buffer.lookup_transform(
                    base, frame, stamp, timeout=Duration(seconds=wait_s)))
            except TransformException as error:
                reason = str(error)
        self.get_logger().warning(f'no transform {base} <- {frame}: {reason}',
                                  throttle_duration_sec=5.0)
        return None

    def camera_info_callback(self, msg: CameraInfo) -> None:
        try:
            self.core.set_intrinsics(conv.camera_info_to_intrinsics(
                msg, self.camera.depth_min_m, self.camera.depth_max_m))
        except PerceptionError as error:
            self.get_logger().error(str(error), throttle_duration_sec=5.0)

    def color_callback(self, msg: Image) -> None:
        self.frame_callback(lambda: self.core.add_color(
            conv.stamp_to_ns(msg.header), conv.image_to_rgb(msg), msg.header.frame_id))

    def depth_callback(self, msg: Image) -> None:
        self.frame_callback(lambda: self.core.add_depth(
            conv.stamp_to_ns(msg.header), conv.image_to_depth_m(msg, self.p['depth_unit_m'])))

    def labels_callback(self, msg: PartLabels) -> None:
        self.frame_callback(lambda: self.core.add_labels(*conv.part_labels_from_msg(msg)))

    def frame_callback(self, add) -> None:
        """Queue an image; track the frame it completes (at most ``track_rate_hz``)."""
        try:
            frame = add()
            period_ns = 1e9 / max(self.p['track_rate_hz'], 1e-3)
            if frame is None or frame.stamp_ns - self.last_track_ns < 0.9 * period_ns:
                return
            T_base_cam = self.lookup(self.p['camera_frame'], frame.stamp_ns)
            if T_base_cam is None:
                return
            T_tool = self.lookup(self.p['tool_frame'], frame.stamp_ns) \
                if self.p['tool_frame'] else None
            self.core.track(frame, T_base_cam, T_tool)
            self.last_track_ns = frame.stamp_ns
            self.publish_regions()
        except PerceptionError as error:
            self.get_logger().error(f'frame dropped: {error}', throttle_duration_sec=5.0)

    def publish_regions(self) -> None:
        regions = self.core.region_set(self.p['base_frame'])
        self.regions_pub.publish(rcv.region_array_to_msg(
            self.types, regions.regions, regions.T_frame_obj, frame_id=regions.frame_id,
            stamp_ns=regions.stamp_ns, kinds=regions.kinds))

    def grounded_callback(self, msg: RegionArray) -> None:
        try:
            placed = [rcv.region_from_msg(r, f'regions[{i}]') for i, r in enumerate(msg.regions)]
        except ValueError as error:
            self.get_logger().error(f'grounded regions rejected: {error}')
            return
        for report in self.core.ground(placed):
            log = self.get_logger().error if report.source == 'error' else \
                self.get_logger().info
            log(f'tracking {report.object}: model from {report.source} {list(report.marks)} '
                f'({report.points} points) {report.detail}')

    def observe_callback(self, request, response):
        frame = self.core.latest_frame
        try:
            if frame is None:
                raise PerceptionError('no RGB-D frame yet (colour, depth and camera info)')
            T_base_cam = self.lookup(self.p['camera_frame'], frame.stamp_ns)
            if T_base_cam is None:
                raise PerceptionError(f'no transform {self.p["base_frame"]} <- '
                                      f'{self.p["camera_frame"]}')
            perceived = self.core.observe(T_base_cam, frame)
        except (PerceptionError, ValueError) as error:
            response.success, response.message = False, str(error)
            return response
        fields = conv.observe_response_fields(
            self.types, perceived, self.core.region_set(self.p['base_frame']),
            base_frame=self.p['base_frame'], draw_marks=request.draw_marks,
            include_masks=request.include_masks)
        for name, value in fields.items():
            setattr(response, name, value)
        self.marked_pub.publish(conv.rgb_to_image(self.types, perceived.marked.image,
                                                  perceived.stamp_ns, frame.camera_frame))
        cloud = self.core.labelled_cloud(perceived, self.p['cloud_stride_px'])
        self.cloud_pub.publish(conv.cloud_to_pointcloud2(
            self.types, cloud.points_base, perceived.stamp_ns, self.p['base_frame'],
            colors=cloud.colors, labels=cloud.labels))
        return response


def main(args=None):
    rclpy.init(args=args)
    node = None
    try:
        node = PerceptionNode()
        rclpy.spin(node, executor=MultiThreadedExecutor(num_threads=3))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
