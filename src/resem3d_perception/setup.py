from setuptools import find_packages, setup

package_name = 'resem3d_perception'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['numpy', 'scipy', 'open3d', 'opencv-python-headless', 'pillow', 'pyyaml',
                      'torch', 'torchvision', 'segment-anything', 'resem3d_constraints'],
    # The accuracy tests render the simulator's task scenes; the message tests use rosbags.
    extras_require={'test': ['pytest', 'hypothesis', 'resem3d_sim', 'rosbags']},
    entry_points={'console_scripts': ['perception_node = resem3d_perception.node:main']},
    python_requires='>=3.10',
    zip_safe=True,
    maintainer='resem3d developers',
    maintainer_email='dev@resem3d.invalid',
    description='Perception of resem3d: RGB-D clouds, part segmentation, visual marks, '
                'region refinement and 6-DoF object tracking.',
    license='Apache-2.0',
)
