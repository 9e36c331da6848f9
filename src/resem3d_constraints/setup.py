from glob import glob

from setuptools import find_packages, setup

package_name = 'resem3d_constraints'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={package_name: ['program.schema.json', 'examples/*.json']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/examples', glob(package_name + '/examples/*.json')),
    ],
    install_requires=['numpy'],
    extras_require={'test': ['pytest', 'hypothesis']},
    python_requires='>=3.10',
    zip_safe=False,
    maintainer='resem3d developers',
    maintainer_email='dev@resem3d.invalid',
    description='Declarative, validated 3D constraint language of resem3d (numpy only).',
    license='Apache-2.0',
)
