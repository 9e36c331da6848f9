#!/usr/bin/env bash
# The environment of the resem3d image, sourced by the entry point and by the Dockerfile's
# build check: ROS 2, the franka_ros2 underlay, the resem3d overlay (each if present), then
# the Python venv's packages ahead of /opt/ros on PYTHONPATH.
#
# Why the last step: sourcing ROS puts /opt/ros/$ROS_DISTRO/lib/python3.12/site-packages on
# PYTHONPATH, which Python searches before any site directory. That folder holds the Python
# bindings of ros-jazzy-pinocchio (pulled in by libfranka), built against Ubuntu's numpy 1.x;
# resem3d's controller needs the pinned PyPI `pin` wheel (installed by cmeel under
# cmeel.prefix/ in the venv) running with the pinned numpy. Putting the venv first makes
# `import pinocchio` and `import numpy` resolve to the pinned wheels; everything ROS ships
# that the venv lacks (rclpy, message packages, launch) still comes from /opt/ros.

# shellcheck disable=SC1090,SC1091
source "/opt/ros/${ROS_DISTRO:-jazzy}/setup.bash"
for overlay in /opt/franka_ws/install/setup.bash /ws/install/setup.bash; do
    # shellcheck disable=SC1090
    if [ -f "${overlay}" ]; then source "${overlay}"; fi
done
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "${VIRTUAL_ENV}/bin/python" ]; then
    venv_site="$("${VIRTUAL_ENV}/bin/python" -c \
        'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    python_version="$("${VIRTUAL_ENV}/bin/python" -c \
        'import sys; print("{0}.{1}".format(*sys.version_info[:2]))')"
    cmeel_site="${venv_site}/cmeel.prefix/lib/python${python_version}/site-packages"
    export PYTHONPATH="${cmeel_site}:${venv_site}${PYTHONPATH:+:${PYTHONPATH}}"
fi
