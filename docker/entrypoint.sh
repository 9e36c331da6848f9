#!/usr/bin/env bash
# Entry point of the resem3d image: source ROS 2, the franka_ros2 underlay, the resem3d overlay
# and the venv (docker/ros_env.sh), then run the command (default: the Dockerfile's CMD).
set -e
# shellcheck disable=SC1091
source /opt/resem3d/ros_env.sh
exec "$@"
