from setuptools import find_packages, setup

package_name = 'resem3d_sim'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={package_name: ['programs/*.json']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['numpy', 'mujoco', 'example-robot-data', 'pillow', 'resem3d_constraints'],
    entry_points={'console_scripts': ['resem3d-sim = resem3d_sim.cli:main',
                                      'sim_node = resem3d_sim.node:main']},
    # The tests drive the world with the project's controller and compare with pinocchio;
    # rosbags builds the ROS messages of ros_messages.py without ROS.
    extras_require={'test': ['pytest', 'hypothesis', 'resem3d_controller', 'pin', 'rosbags']},
    python_requires='>=3.10',
    zip_safe=True,
    maintainer='resem3d developers',
    maintainer_email='dev@resem3d.invalid',
    description='MuJoCo world of resem3d: Panda, scenes, RGB-D camera, tasks.',
    license='Apache-2.0',
)
