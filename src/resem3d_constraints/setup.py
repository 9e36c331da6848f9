from glob import glob

from setuptools import find_packages, setup

package_name = 'resem3d_constraints'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    # interfaces/ is a committed relative symlink to ../../resem3d_msgs (the ROS interface
    # package): its .msg/.srv/.action files are data of resem3d_constraints.ros_types.
    package_data={package_name: ['program.schema.json', 'examples/*.json',
                                 'interfaces/msg/*.msg', 'interfaces/srv/*.srv',
                                 'interfaces/action/*.action']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/examples', glob(package_name + '/examples/*.json')),
    ],
    install_requires=['numpy'],
    # rosbags: ROS 2 messages without ROS (ros_types.make_resem3d_typestore, message tests).
    extras_require={'test': ['pytest', 'hypothesis', 'rosbags'], 'ros': ['rosbags']},
    entry_points={'console_scripts': ['constraints_node = resem3d_constraints.node:main']},
    python_requires='>=3.10',
    zip_safe=False,
    maintainer='resem3d developers',
    maintainer_email='dev@resem3d.invalid',
    description='Declarative, validated 3D constraint language of resem3d (numpy only).',
    license='Apache-2.0',
)
