"""The static thin-adapter checks (resem3d_constraints.adapter_check) find what they must."""

from resem3d_constraints.adapter_check import (imported_modules, is_ros_module,
                                               node_adapter_problems)

GOOD_NODE = '''
import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from pkg.core import work


class Talker(Node):
    def __init__(self):
        super().__init__('talker')


def main(args=None):
    rclpy.init(args=args)
'''


def _package(tmp_path, node=GOOD_NODE, core='import numpy\n', init='',
             setup="entry_points={'console_scripts': ['talker_node = pkg.node:main']}\n"):
    (tmp_path / 'pkg').mkdir()
    (tmp_path / 'pkg' / 'node.py').write_text(node)
    (tmp_path / 'pkg' / 'core.py').write_text(core)
    (tmp_path / 'pkg' / '__init__.py').write_text(init)
    (tmp_path / 'setup.py').write_text(setup)
    return tmp_path


def test_a_thin_adapter_has_no_problems(tmp_path):
    assert node_adapter_problems(_package(tmp_path), 'pkg', 'talker', 'talker_node') == []


def test_each_problem_is_reported(tmp_path):
    long_node = GOOD_NODE.replace('def main', 'x = 1\n' * 200 + 'def main_')
    root = _package(tmp_path, node=long_node, core='from geometry_msgs.msg import Pose\n',
                    init='from .node import Talker\n', setup='setup()\n')
    problems = node_adapter_problems(root, 'pkg', 'listener', 'talker_node')
    text = '\n'.join(problems)
    for expected in ('lines (at most 200)', 'no main()', "expected ['listener']",
                     'core.py imports ROS: geometry_msgs.msg', '__init__.py imports node.py',
                     'no console script talker_node'):
        assert expected in text, (expected, problems)


def test_missing_node_and_modules(tmp_path):
    assert node_adapter_problems(tmp_path, 'pkg', 'x', 'x') == [f'{tmp_path}/pkg/node.py: missing']
    path = tmp_path / 'm.py'
    path.write_text('import os\nimport tf2_ros\nfrom resem3d_msgs.msg import Region\n'
                    'from . import sibling\n')
    assert imported_modules(path) == {'os', 'tf2_ros', 'resem3d_msgs.msg'}
    assert is_ros_module('tf2_ros') and is_ros_module('franka_msgs.action')
    assert not is_ros_module('numpy') and not is_ros_module('resem3d_constraints')
