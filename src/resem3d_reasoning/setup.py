from setuptools import find_packages, setup

package_name = 'resem3d_reasoning'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={package_name: ['prompts/*.txt', 'prompts/*.json']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['numpy', 'pillow', 'pyyaml', 'openai', 'resem3d_constraints',
                      'resem3d_perception'],
    # The oracle answers from the simulator's ground truth and the tests ground real scenes;
    # the node-core tests build ROS messages with rosbags.
    extras_require={'test': ['pytest', 'hypothesis', 'resem3d_sim', 'resem3d_perception',
                             'rosbags']},
    entry_points={'console_scripts': ['reasoning_node = resem3d_reasoning.node:main']},
    python_requires='>=3.10',
    zip_safe=True,
    maintainer='resem3d developers',
    maintainer_email='dev@resem3d.invalid',
    description='Reasoning of resem3d: MLLM clients (OpenAI-compatible, replay, oracle), '
                'task planning and grounding into constraint programs.',
    license='Apache-2.0',
)
