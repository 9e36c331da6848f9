"""Bring up resem3d: the robot and the camera (real or simulated), the resem3d nodes, RViz.

Simulation (default): the MuJoCo world (``resem3d_sim``'s ``sim_node``) stands in for the arm,
the gripper and the RealSense camera under the drivers' names, with the Panda's frames
(``panda_link0``) and simulated time on ``/clock``:

    ros2 launch resem3d bringup.launch.py task:=lab_bottle_to_stirrer mllm_backend:=oracle

Real robot: franka_bringup (``franka.launch.py``, libfranka over FCI) with a
``JointGroupVelocityController`` (``config/franka_velocity_controller.yaml``), the RealSense
driver (``rs_launch.py``, depth aligned to colour) and the hand-eye transform of
``config/camera_extrinsics.yaml``:

    ros2 launch resem3d bringup.launch.py use_sim:=false robot_type:=fr3 robot_ip:=172.16.0.2

``robot_type:=panda`` selects the Panda, which franka_ros2 (Jazzy) calls ``fer``: frames
``fer_link0`` ... ``fer_hand_tcp`` and joints ``fer_joint1..7``. Add ``use_fake_hardware:=true``
to run franka_bringup without a robot (no gripper actions then).
"""

from pathlib import Path

import yaml
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

#: franka_ros2's robot_type for each value of ``robot_type`` (the Panda is ``fer`` on Jazzy).
FRANKA_ROBOT_TYPES = {'fr3': 'fr3', 'panda': 'fer'}
#: Frame and joint name prefix of the MuJoCo simulation (example-robot-data's Panda).
SIM_PREFIX = 'panda'
#: Nominal camera frame rate [Hz] asked of the RealSense driver.
CAMERA_FPS = 30


def robot_prefix(use_sim: bool, robot_type: str) -> str:
    """Prefix of the robot's frame and joint names (``<prefix>_link0``, ``<prefix>_joint1``).

    Args:
        use_sim: Whether the MuJoCo simulation stands in for the robot.
        robot_type: ``fr3`` or ``panda``.

    Returns:
        ``panda`` in the simulation, else franka_ros2's robot type (``fr3`` or ``fer``).
    """
    return SIM_PREFIX if use_sim else FRANKA_ROBOT_TYPES[robot_type]


def load_extrinsics(path: str) -> dict:
    """The hand-eye transform of ``config/camera_extrinsics.yaml`` (section camera_extrinsics).

    Raises:
        ValueError: When a field is missing or has the wrong length.
    """
    section = yaml.safe_load(Path(path).read_text())['camera_extrinsics']
    translation = [float(v) for v in section['translation_m']]
    rotation = [float(v) for v in section['rotation_xyzw']]
    if len(translation) != 3 or len(rotation) != 4:
        raise ValueError(f'{path}: translation_m needs 3 values and rotation_xyzw 4')
    return {'parent_frame': str(section['parent_frame']),
            'child_frame': str(section['child_frame']),
            'translation_m': translation, 'rotation_xyzw': rotation}


def camera_profile(perception_yaml: str) -> str:
    """RealSense stream profile ``<width>x<height>x<fps>`` matching perception.yaml's camera."""
    parameters = yaml.safe_load(Path(perception_yaml).read_text())
    camera = parameters['resem3d_perception']['ros__parameters']['camera']
    return f"{int(camera['width'])}x{int(camera['height'])}x{CAMERA_FPS}"


def launch_setup(context: LaunchContext) -> list:
    """The actions that depend on the arguments' values: names per robot, the real drivers."""
    use_sim = LaunchConfiguration('use_sim').perform(context) == 'true'
    robot_type = LaunchConfiguration('robot_type').perform(context)
    use_sim_time = LaunchConfiguration('use_sim_time').perform(context) or str(use_sim).lower()
    config_dir = Path(PathJoinSubstitution([FindPackageShare('resem3d'), 'config'])
                      .perform(context))
    task = LaunchConfiguration('task').perform(context)
    seed = LaunchConfiguration('seed').perform(context)
    prefix = robot_prefix(use_sim, robot_type)
    base_frame = f'{prefix}_link0'
    actions = [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare('resem3d'), 'launch',
                                      'resem3d_nodes.launch.py'])),
            launch_arguments={
                'base_frame': base_frame,
                'tool_frame': f'{prefix}_hand_tcp',
                'joint_prefix': f'{prefix}_',
                'use_sim_time': use_sim_time,
                'mllm_backend': LaunchConfiguration('mllm_backend'),
                'mllm_model': LaunchConfiguration('mllm_model'),
                'mllm_base_url': LaunchConfiguration('mllm_base_url'),
                'use_sim': str(use_sim).lower(),
                'transcript': LaunchConfiguration('transcript'),
                'scene': f'{task}@{seed}' if use_sim else '',
            }.items()),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            output='log',
            arguments=['-d', str(config_dir / 'resem3d.rviz'), '-f', base_frame],
            parameters=[{'use_sim_time': use_sim_time == 'true'}],
            condition=IfCondition(LaunchConfiguration('rviz'))),
    ]
    if use_sim:
        return actions
    return actions + real_robot(context, robot_type, config_dir)


def real_robot(context: LaunchContext, robot_type: str, config_dir: Path) -> list:
    """franka_bringup, the velocity controller, the RealSense driver, the hand-eye transform."""
    franka_type = FRANKA_ROBOT_TYPES[robot_type]
    controllers_yaml = str(config_dir / 'franka_velocity_controller.yaml')
    spawner_arguments = ['joint_velocity_controller', '--param-file', controllers_yaml,
                         '--controller-manager-timeout', '30']
    if franka_type != 'fr3':
        joints = ','.join(f'{franka_type}_joint{i}' for i in range(1, 8))
        spawner_arguments += ['--controller-ros-args', f'-p joints:=[{joints}]']
    serial = LaunchConfiguration('camera_serial').perform(context)
    profile = camera_profile(str(config_dir / 'perception.yaml'))
    extrinsics = load_extrinsics(str(config_dir / 'camera_extrinsics.yaml'))
    x, y, z = extrinsics['translation_m']
    qx, qy, qz, qw = extrinsics['rotation_xyzw']
    return [
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare('franka_bringup'), 'launch',
                                      'franka.launch.py'])),
            launch_arguments={
                'robot_type': franka_type,
                'robot_ip': LaunchConfiguration('robot_ip'),
                'load_gripper': LaunchConfiguration('load_gripper'),
                'use_fake_hardware': LaunchConfiguration('use_fake_hardware'),
                'controllers_yaml': controllers_yaml,
            }.items()),
        Node(
            package='controller_manager',
            executable='spawner',
            arguments=spawner_arguments,
            output='screen'),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare('realsense2_camera'), 'launch',
                                      'rs_launch.py'])),
            launch_arguments={
                'camera_namespace': 'camera',
                'camera_name': 'camera',
                # Quoted so that a numeric serial stays a string parameter.
                'serial_no': f"'{serial}'",
                'align_depth.enable': 'true',
                'enable_sync': 'true',
                'rgb_camera.color_profile': profile,
                'depth_module.depth_profile': profile,
                'pointcloud.enable': 'false',
                'publish_tf': 'true',
            }.items()),
        Node(
            package='tf2_ros',
            executable='static_transform_publisher',
            name='camera_extrinsics',
            output='log',
            arguments=['--x', str(x), '--y', str(y), '--z', str(z),
                       '--qx', str(qx), '--qy', str(qy), '--qz', str(qz), '--qw', str(qw),
                       '--frame-id', extrinsics['parent_frame'],
                       '--child-frame-id', extrinsics['child_frame']]),
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments; the sim node or the real drivers; the resem3d nodes; RViz."""
    use_sim = LaunchConfiguration('use_sim')
    arguments = [
        DeclareLaunchArgument('use_sim', default_value='true', choices=['true', 'false'],
                              description='MuJoCo simulation (true) or the real robot (false)'),
        DeclareLaunchArgument('robot_type', default_value='fr3', choices=['fr3', 'panda'],
                              description='Franka arm of the real robot (panda = franka_ros2 '
                                          "'fer')"),
        DeclareLaunchArgument('robot_ip', default_value='172.16.0.2',
                              description='Hostname or IP address of the robot (FCI)'),
        DeclareLaunchArgument('load_gripper', default_value='true', choices=['true', 'false'],
                              description='Start franka_gripper (the Franka Hand)'),
        DeclareLaunchArgument('use_fake_hardware', default_value='false',
                              choices=['true', 'false'],
                              description="franka_bringup's fake hardware instead of the robot"),
        DeclareLaunchArgument('camera_serial', default_value='',
                              description="RealSense serial number ('' = the first camera)"),
        DeclareLaunchArgument('mllm_backend', default_value='',
                              choices=['', 'openai', 'replay', 'oracle'],
                              description="Model client ('' = config/reasoning.yaml's; oracle: "
                                          'simulator ground truth, simulation only)'),
        DeclareLaunchArgument('mllm_model', default_value='',
                              description="Model name ('' = config/reasoning.yaml's)"),
        DeclareLaunchArgument('mllm_base_url', default_value='',
                              description="OpenAI-compatible endpoint ('' = "
                                          "config/reasoning.yaml's)"),
        DeclareLaunchArgument('transcript', default_value='',
                              description='Transcript folder: replayed (mllm_backend:=replay) '
                                          'or recorded (other backends); empty for none'),
        DeclareLaunchArgument('rviz', default_value='true', choices=['true', 'false'],
                              description='Start RViz with config/resem3d.rviz'),
        DeclareLaunchArgument('task', default_value='lab_bottle_to_stirrer',
                              description='Simulated task (resem3d tasks lists them)'),
        DeclareLaunchArgument('seed', default_value='0',
                              description='Seed of the simulated scene'),
        DeclareLaunchArgument('use_sim_time', default_value='',
                              description="Follow /clock ('' = same as use_sim)"),
    ]
    sim = Node(
        package='resem3d_sim',
        executable='sim_node',
        name='sim',
        output='screen',
        parameters=[
            PathJoinSubstitution([FindPackageShare('resem3d'), 'config', 'graph.yaml']),
            {'task': LaunchConfiguration('task'), 'seed': LaunchConfiguration('seed')}],
        condition=IfCondition(use_sim),
    )
    return LaunchDescription(arguments + [sim, OpaqueFunction(function=launch_setup)])
