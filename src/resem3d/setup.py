from glob import glob

from setuptools import find_packages, setup

package_name = 'resem3d'


def share_files(pattern: str) -> list[str]:
    """Files of the repository's top-level ``launch/`` or ``config/`` matching ``pattern``.

    ``launch`` and ``config`` here are committed relative symlinks to ``../../launch`` and
    ``../../config`` (reference/ros2-conventions.md, section 5: ament_python data_files must
    not point at ``../..``, which leaves colcon's build directory under --symlink-install). A
    missing or empty directory gives no files, so installing never fails on it.
    """
    return sorted(glob(pattern))


data_files = [
    ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
    ('share/' + package_name, ['package.xml']),
]
for folder, patterns in (('launch', ['launch/*.launch.py']),
                         ('config', ['config/*.yaml', 'config/*.rviz'])):
    files = [f for pattern in patterns for f in share_files(pattern)]
    if files:
        data_files.append((f'share/{package_name}/{folder}', files))

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={'resem3d.record': ['msgs/*.msg']},
    data_files=data_files,
    install_requires=['numpy', 'pyyaml', 'opencv-python-headless', 'mcap', 'rosbags',
                      'resem3d_constraints', 'resem3d_controller', 'resem3d_sim',
                      'resem3d_perception', 'resem3d_reasoning'],
    entry_points={'console_scripts': ['resem3d = resem3d.cli:main']},
    # colcon (core, ROS packages, list/graph) and catkin_pkg check the colcon workspace
    # (test/test_colcon_workspace.py); the launch tests need ROS 2 and skip without it.
    extras_require={'test': ['pytest', 'mcap-ros2-support', 'colcon-core', 'colcon-ros',
                             'colcon-package-information', 'catkin-pkg', 'pyyaml']},
    python_requires='>=3.10',
    zip_safe=True,
    maintainer='resem3d developers',
    maintainer_email='dev@resem3d.invalid',
    description='The resem3d system: the resem3d CLI and the bringup that installs the '
                'top-level launch/ and config/.',
    license='Apache-2.0',
)
