from setuptools import find_packages, setup

package_name = 'resem3d_controller'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['numpy', 'scipy', 'pyyaml', 'pin', 'osqp', 'example-robot-data'],
    extras_require={
        'test': ['pytest', 'hypothesis', 'pin-pink', 'qpsolvers', 'daqp', 'proxsuite'],
        'bench': ['pin-pink', 'qpsolvers', 'daqp', 'proxsuite'],
    },
    entry_points={'console_scripts': ['controller_node = resem3d_controller.node:main']},
    python_requires='>=3.10',
    zip_safe=True,
    maintainer='resem3d developers',
    maintainer_email='dev@resem3d.invalid',
    description='Real-time joint-space velocity QP (pinocchio + OSQP) for resem3d constraints.',
    license='Apache-2.0',
)
