"""resem3d on a Franka arm in Gazebo (gz sim Harmonic): the ROS-native simulation.

Follows franka_gazebo_bringup's bringup (reference/ros2-conventions.md, section 8):
``GZ_SIM_RESOURCE_PATH`` → ``gz_sim.launch.py`` → robot_state_publisher with franka's Gazebo
xacro (``gazebo:=true``, joint velocity interfaces through ``gz_ros2_control``) →
``ros_gz_sim create`` → ``/clock`` bridge → once the robot is spawned, spawners for
``joint_state_broadcaster`` and ``joint_velocity_controller``
(``config/franka_velocity_controller.yaml``). The world is written at launch time: a table and
a fixed RGB-D camera placed by ``config/camera_extrinsics.yaml`` (intrinsics from
``config/perception.yaml``), whose images are bridged under the RealSense driver's topic names
(colour rgb8; depth 32FC1 in metres, where the driver sends 16UC1 in millimetres). Then the
resem3d nodes and, optionally, RViz.

    ros2 launch resem3d gazebo.launch.py                  # headless
    ros2 launch resem3d gazebo.launch.py headless:=false rviz:=true

Gazebo has no franka_gripper action servers: the arm runs, gripper stages do not complete.
"""

import math
import tempfile
from pathlib import Path

import yaml
from launch import LaunchContext, LaunchDescription
from launch.actions import (AppendEnvironmentVariable, DeclareLaunchArgument,
                            IncludeLaunchDescription, OpaqueFunction, RegisterEventHandler)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

#: franka_ros2's robot_type for each value of ``robot_type`` (the Panda is ``fer`` on Jazzy).
FRANKA_ROBOT_TYPES = {'fr3': 'fr3', 'panda': 'fer'}
#: gz topic of the camera sensor; the bridge renames its topics to the RealSense names.
GZ_CAMERA_TOPIC = 'resem3d_camera'
CAMERA_BRIDGE = {
    f'/{GZ_CAMERA_TOPIC}/image': ('sensor_msgs/msg/Image', 'gz.msgs.Image',
                                  '/camera/camera/color/image_raw'),
    f'/{GZ_CAMERA_TOPIC}/depth_image': ('sensor_msgs/msg/Image', 'gz.msgs.Image',
                                        '/camera/camera/aligned_depth_to_color/image_raw'),
    f'/{GZ_CAMERA_TOPIC}/camera_info': ('sensor_msgs/msg/CameraInfo', 'gz.msgs.CameraInfo',
                                        '/camera/camera/color/camera_info'),
}
#: camera_link (x forward, z up) → camera_color_optical_frame (z forward, x right, y down),
#: quaternion (x, y, z, w) as the RealSense driver publishes it.
Q_LINK_OPTICAL = (-0.5, 0.5, -0.5, 0.5)
OPTICAL_FRAME = 'camera_color_optical_frame'
CAMERA_RATE_HZ = 15.0


def quaternion_to_rpy(qx: float, qy: float, qz: float, qw: float) -> tuple[float, float, float]:
    """Roll, pitch, yaw [rad] (fixed axes X, Y, Z, as SDF poses) of a unit quaternion."""
    roll = math.atan2(2.0 * (qw * qx + qy * qz), 1.0 - 2.0 * (qx * qx + qy * qy))
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (qw * qy - qz * qx))))
    yaw = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
    return roll, pitch, yaw


def world_sdf(camera_pose: tuple[float, ...], camera: dict, rate_hz: float) -> str:
    """SDF of the world: physics, sensors (ogre2), a ground plane, a table, the RGB-D camera.

    Args:
        camera_pose: x, y, z [m], roll, pitch, yaw [rad] of camera_link in the world, which is
            the robot base frame (the robot is spawned at the origin).
        camera: perception.yaml's camera section (width, height, fx [px], depth range [m]).
        rate_hz: Camera update rate.
    """
    hfov = 2.0 * math.atan(camera['width'] / (2.0 * camera['fx']))
    pose = ' '.join(f'{value:.6f}' for value in camera_pose)
    return f"""<?xml version="1.0"?>
<sdf version="1.9">
  <world name="resem3d">
    <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
    <plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>
    <plugin filename="gz-sim-scene-broadcaster-system"
            name="gz::sim::systems::SceneBroadcaster"/>
    <plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors">
      <render_engine>ogre2</render_engine>
    </plugin>
    <light type="directional" name="sun">
      <cast_shadows>true</cast_shadows>
      <pose>0 0 10 0 0 0</pose>
      <diffuse>0.9 0.9 0.9 1</diffuse>
      <direction>-0.4 0.2 -0.9</direction>
    </light>
    <model name="ground_plane">
      <static>true</static>
      <link name="link">
        <collision name="collision">
          <geometry><plane><normal>0 0 1</normal><size>10 10</size></plane></geometry>
        </collision>
        <visual name="visual">
          <geometry><plane><normal>0 0 1</normal><size>10 10</size></plane></geometry>
          <material><diffuse>0.6 0.6 0.6 1</diffuse></material>
        </visual>
      </link>
    </model>
    <model name="table">
      <static>true</static>
      <pose>0.55 0 -0.01 0 0 0</pose>
      <link name="top">
        <collision name="collision"><geometry><box><size>0.6 0.9 0.02</size></box></geometry>
        </collision>
        <visual name="visual"><geometry><box><size>0.6 0.9 0.02</size></box></geometry>
          <material><diffuse>0.55 0.4 0.25 1</diffuse></material></visual>
      </link>
    </model>
    <model name="rgbd_camera">
      <static>true</static>
      <pose>{pose}</pose>
      <link name="camera_link">
        <sensor name="rgbd" type="rgbd_camera">
          <topic>{GZ_CAMERA_TOPIC}</topic>
          <gz_frame_id>{OPTICAL_FRAME}</gz_frame_id>
          <update_rate>{rate_hz}</update_rate>
          <always_on>true</always_on>
          <camera>
            <horizontal_fov>{hfov:.6f}</horizontal_fov>
            <image><width>{int(camera['width'])}</width><height>{int(camera['height'])}</height>
              <format>R8G8B8</format></image>
            <clip><near>{camera['depth_min_m']}</near><far>{camera['depth_max_m']}</far></clip>
            <depth_camera><clip><near>{camera['depth_min_m']}</near>
              <far>{camera['depth_max_m']}</far></clip></depth_camera>
          </camera>
        </sensor>
      </link>
    </model>
  </world>
</sdf>
"""


def launch_setup(context: LaunchContext) -> list:
    """Robot description, world, Gazebo, spawn, bridges, controllers, resem3d nodes, RViz."""
    import xacro  # only needed here, at launch time (ros-jazzy-xacro)

    prefix = FRANKA_ROBOT_TYPES[LaunchConfiguration('robot_type').perform(context)]
    base_frame = f'{prefix}_link0'
    config_dir = Path(PathJoinSubstitution([FindPackageShare('resem3d'), 'config'])
                      .perform(context))
    xacro_file = PathJoinSubstitution([FindPackageShare('franka_gazebo_bringup'), 'urdf',
                                       'franka_arm.gazebo.xacro']).perform(context)
    robot_description = xacro.process_file(xacro_file, mappings={
        'robot_type': prefix, 'hand': 'true', 'ee_id': 'franka_hand', 'gazebo': 'true',
        'gazebo_effort': 'false'}).toxml()

    extrinsics = yaml.safe_load((config_dir / 'camera_extrinsics.yaml').read_text())[
        'camera_extrinsics']
    if extrinsics['parent_frame'] != base_frame:
        raise ValueError(f"camera_extrinsics.yaml: Gazebo places a fixed camera; parent_frame "
                         f"must be {base_frame!r}, not {extrinsics['parent_frame']!r}")
    x, y, z = (float(v) for v in extrinsics['translation_m'])
    qx, qy, qz, qw = (float(v) for v in extrinsics['rotation_xyzw'])
    camera = yaml.safe_load((config_dir / 'perception.yaml').read_text())[
        'resem3d_perception']['ros__parameters']['camera']
    world = Path(tempfile.mkdtemp(prefix='resem3d_gz_')) / 'resem3d_world.sdf'
    world.write_text(world_sdf((x, y, z, *quaternion_to_rpy(qx, qy, qz, qw)), camera,
                               CAMERA_RATE_HZ))
    headless = LaunchConfiguration('headless').perform(context) == 'true'
    gz_args = f'--headless-rendering -s -r -v 3 {world}' if headless else f'-r -v 3 {world}'

    spawn = Node(package='ros_gz_sim', executable='create', output='screen',
                 arguments=['-topic', '/robot_description', '-name', prefix])
    controllers_yaml = str(config_dir / 'franka_velocity_controller.yaml')
    velocity_spawner_arguments = [
        'joint_velocity_controller', '--param-file', controllers_yaml,
        '--controller-type', 'velocity_controllers/JointGroupVelocityController',
        '--controller-manager-timeout', '30']
    if prefix != 'fr3':
        joints = ','.join(f'{prefix}_joint{i}' for i in range(1, 8))
        velocity_spawner_arguments += ['--controller-ros-args', f'-p joints:=[{joints}]']
    bridge_arguments = ['/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock'] + [
        f'{gz_topic}@{ros_type}[{gz_type}'
        for gz_topic, (ros_type, gz_type, _) in CAMERA_BRIDGE.items()]
    return [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare('ros_gz_sim'), 'launch',
                                      'gz_sim.launch.py'])),
            launch_arguments={'gz_args': gz_args}.items()),
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             output='screen',
             parameters=[{'robot_description': robot_description, 'use_sim_time': True}]),
        spawn,
        Node(package='ros_gz_bridge', executable='parameter_bridge', name='gz_bridge',
             output='screen', arguments=bridge_arguments,
             remappings=[(gz_topic, ros_topic)
                         for gz_topic, (_, _, ros_topic) in CAMERA_BRIDGE.items()]),
        RegisterEventHandler(OnProcessExit(target_action=spawn, on_exit=[
            Node(package='controller_manager', executable='spawner', output='screen',
                 arguments=['joint_state_broadcaster', '--controller-manager-timeout', '30']),
            Node(package='controller_manager', executable='spawner', output='screen',
                 arguments=velocity_spawner_arguments),
        ])),
        Node(package='tf2_ros', executable='static_transform_publisher',
             name='camera_extrinsics', output='log',
             parameters=[{'use_sim_time': True}],
             arguments=['--x', str(x), '--y', str(y), '--z', str(z), '--qx', str(qx),
                        '--qy', str(qy), '--qz', str(qz), '--qw', str(qw),
                        '--frame-id', base_frame, '--child-frame-id',
                        str(extrinsics['child_frame'])]),
        Node(package='tf2_ros', executable='static_transform_publisher',
             name='camera_optical_frame', output='log',
             parameters=[{'use_sim_time': True}],
             arguments=['--qx', str(Q_LINK_OPTICAL[0]), '--qy', str(Q_LINK_OPTICAL[1]),
                        '--qz', str(Q_LINK_OPTICAL[2]), '--qw', str(Q_LINK_OPTICAL[3]),
                        '--frame-id', str(extrinsics['child_frame']),
                        '--child-frame-id', OPTICAL_FRAME]),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare('resem3d'), 'launch',
                                      'resem3d_nodes.launch.py'])),
            launch_arguments={
                'base_frame': base_frame,
                'tool_frame': f'{prefix}_hand_tcp',
                'joint_prefix': f'{prefix}_',
                'use_sim_time': 'true',
                'mllm_backend': LaunchConfiguration('mllm_backend'),
                'mllm_model': LaunchConfiguration('mllm_model'),
                'mllm_base_url': LaunchConfiguration('mllm_base_url'),
                'transcript': LaunchConfiguration('transcript'),
            }.items()),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='log',
             arguments=['-d', str(config_dir / 'resem3d.rviz'), '-f', base_frame],
             parameters=[{'use_sim_time': True}],
             condition=IfCondition(LaunchConfiguration('rviz'))),
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, the Gazebo resource path and the actions of launch_setup."""
    return LaunchDescription([
        DeclareLaunchArgument('robot_type', default_value='fr3', choices=['fr3', 'panda'],
                              description="Franka arm (panda = franka_ros2's 'fer')"),
        DeclareLaunchArgument('headless', default_value='true', choices=['true', 'false'],
                              description='Run the Gazebo server only, rendering offscreen'),
        DeclareLaunchArgument('rviz', default_value='false', choices=['true', 'false'],
                              description='Start RViz with config/resem3d.rviz'),
        DeclareLaunchArgument('mllm_backend', default_value='',
                              choices=['', 'openai', 'replay'],
                              description="Model client ('' = config/reasoning.yaml's; the "
                                          'oracle needs the MuJoCo scenes)'),
        DeclareLaunchArgument('mllm_model', default_value='',
                              description="Model name ('' = config/reasoning.yaml's)"),
        DeclareLaunchArgument('mllm_base_url', default_value='',
                              description="OpenAI-compatible endpoint ('' = "
                                          "config/reasoning.yaml's)"),
        DeclareLaunchArgument('transcript', default_value='',
                              description='Transcript folder: replayed (mllm_backend:=replay) '
                                          'or recorded (openai); empty for none'),
        # Gazebo finds franka_description's meshes (package://franka_description/...) here.
        AppendEnvironmentVariable(
            'GZ_SIM_RESOURCE_PATH',
            PathJoinSubstitution([FindPackageShare('franka_description'), '..'])),
        OpaqueFunction(function=launch_setup),
    ])
