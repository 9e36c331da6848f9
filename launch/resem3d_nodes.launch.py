"""The resem3d nodes: perception, reasoning, constraints and controller.

Included by bringup.launch.py (MuJoCo simulation or the real robot) and gazebo.launch.py; the
robot, the camera and their drivers are started by those. Every node reads the ROS names
(topics, services, actions, the camera frame) from ``config/graph.yaml`` and its core
configuration from ``config/<core>.yaml`` (``config_file``; the same files the ``resem3d`` CLI
reads); the arguments below override the robot-dependent names and the model client.

    ros2 launch resem3d resem3d_nodes.launch.py base_frame:=fr3_link0 tool_frame:=fr3_hand_tcp
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the four resem3d nodes."""
    config_dir = LaunchConfiguration('config_dir')
    graph_file = LaunchConfiguration('graph_file')
    use_sim_time = ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)
    base_frame = ParameterValue(LaunchConfiguration('base_frame'), value_type=str)
    tool_frame = ParameterValue(LaunchConfiguration('tool_frame'), value_type=str)
    joint_prefix = ParameterValue(LaunchConfiguration('joint_prefix'), value_type=str)
    robot_urdf = ParameterValue(LaunchConfiguration('robot_urdf'), value_type=str)

    arguments = [
        DeclareLaunchArgument(
            'config_dir',
            default_value=PathJoinSubstitution([FindPackageShare('resem3d'), 'config']),
            description='Folder of perception.yaml, reasoning.yaml, controller.yaml'),
        DeclareLaunchArgument(
            'graph_file',
            default_value=PathJoinSubstitution([FindPackageShare('resem3d'), 'config',
                                                'graph.yaml']),
            description='ROS names of the graph (topics, services, actions), by node'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              choices=['true', 'false'],
                              description='Follow /clock (simulation) instead of wall time'),
        DeclareLaunchArgument('base_frame', default_value='fr3_link0',
                              description='Robot base frame (everything 3D is expressed in it)'),
        DeclareLaunchArgument('tool_frame', default_value='fr3_hand_tcp',
                              description='Tool centre point frame'),
        DeclareLaunchArgument('joint_prefix', default_value='fr3_',
                              description="Arm joints in /joint_states are "
                                          "'<joint_prefix>joint1..7'"),
        DeclareLaunchArgument('robot_urdf', default_value='',
                              description="The arm's URDF file for the controller's model "
                                          "(an FR3: franka_description's xacro output); '' = "
                                          "controller.yaml's urdf_path (the Panda model)"),
        DeclareLaunchArgument('mllm_backend', default_value='',
                              choices=['', 'openai', 'replay', 'oracle'],
                              description="Model client ('' = reasoning.yaml's; oracle: "
                                          'simulation only)'),
        DeclareLaunchArgument('mllm_model', default_value='',
                              description="Model name ('' = reasoning.yaml's)"),
        DeclareLaunchArgument('mllm_base_url', default_value='',
                              description="OpenAI-compatible endpoint ('' = reasoning.yaml's)"),
        DeclareLaunchArgument('use_sim', default_value='false', choices=['true', 'false'],
                              description='The MuJoCo simulation runs (allows the oracle)'),
        DeclareLaunchArgument('transcript', default_value='',
                              description='Transcript folder: replayed (replay backend) or '
                                          'recorded (other backends); empty for none'),
        DeclareLaunchArgument('scene', default_value='',
                              description="Simulated scene '<task>@<seed>' (oracle); empty on a "
                                          'robot'),
    ]

    perception = Node(
        package='resem3d_perception',
        executable='perception_node',
        name='perception',
        output='screen',
        parameters=[graph_file, {
            'config_file': PathJoinSubstitution([config_dir, 'perception.yaml']),
            'system_regions_file': PathJoinSubstitution([config_dir, 'workcell.yaml']),
            'base_frame': base_frame,
            'tool_frame': tool_frame,
            'scene': ParameterValue(LaunchConfiguration('scene'), value_type=str),
            'use_sim_time': use_sim_time,
        }],
    )
    reasoning = Node(
        package='resem3d_reasoning',
        executable='reasoning_node',
        name='reasoning',
        output='screen',
        parameters=[graph_file, {
            'config_file': PathJoinSubstitution([config_dir, 'reasoning.yaml']),
            'perception_config_file': PathJoinSubstitution([config_dir, 'perception.yaml']),
            'use_sim': ParameterValue(LaunchConfiguration('use_sim'), value_type=bool),
            'mllm_backend': ParameterValue(LaunchConfiguration('mllm_backend'), value_type=str),
            'mllm_model': ParameterValue(LaunchConfiguration('mllm_model'), value_type=str),
            'mllm_base_url': ParameterValue(LaunchConfiguration('mllm_base_url'),
                                            value_type=str),
            'transcript_dir': ParameterValue(LaunchConfiguration('transcript'), value_type=str),
            'base_frame': base_frame,
            'use_sim_time': use_sim_time,
        }],
    )
    constraints = Node(
        package='resem3d_constraints',
        executable='constraints_node',
        name='constraints',
        output='screen',
        parameters=[graph_file, {
            'base_frame': base_frame,
            'tool_frame': tool_frame,
            'use_sim_time': use_sim_time,
        }],
    )
    controller = Node(
        package='resem3d_controller',
        executable='controller_node',
        name='controller',
        output='screen',
        parameters=[graph_file, {
            'config_file': PathJoinSubstitution([config_dir, 'controller.yaml']),
            'base_frame': base_frame,
            'tool_frame': tool_frame,
            'joint_prefix': joint_prefix,
            'urdf_path': robot_urdf,
            'use_sim_time': use_sim_time,
        }],
    )
    return LaunchDescription(arguments + [perception, reasoning, constraints, controller])
