# Copyright 2026 resem3d developers
# SPDX-License-Identifier: Apache-2.0
"""node.py is a thin ROS adapter: short, the only module that imports ROS, with a main().

The node itself needs rclpy and is not run here; these checks read the source (ast).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'resem3d_reasoning'
NODE = PACKAGE / 'node.py'
MAX_LINES = 200
ROS_MODULES = {'rclpy', 'tf2_ros', 'message_filters', 'cv_bridge', 'builtin_interfaces',
               'launch', 'launch_ros', 'rosidl_runtime_py', 'ament_index_python'}


def ros_imports(path: Path) -> set[str]:
    """Top-level names of the ROS modules ``path`` imports (anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split('.', 1)[0]
            if top in ROS_MODULES or top.endswith('_msgs'):
                found.add(top)
    return found


def test_node_is_short_and_defines_main_and_a_node_class():
    source = NODE.read_text(encoding='utf-8')
    assert len(source.splitlines()) <= MAX_LINES
    tree = ast.parse(source)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'main' in functions
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert len(classes) == 1
    assert [b.id for b in classes[0].bases if isinstance(b, ast.Name)] == ['Node']
    init = next(f for f in classes[0].body if isinstance(f, ast.FunctionDef)
                and f.name == '__init__')
    assert "super().__init__('reasoning')" in ast.unparse(init)
    callbacks = [f.name for f in classes[0].body if isinstance(f, ast.FunctionDef)
                 and f.name.endswith('_callback')]
    assert len(callbacks) >= 4


def test_only_the_node_imports_ros():
    assert ros_imports(NODE) == {'rclpy', 'resem3d_msgs'}
    offenders = {str(path.relative_to(PACKAGE)): ros_imports(path)
                 for path in sorted(PACKAGE.rglob('*.py')) if path != NODE}
    assert len(offenders) > 10
    assert {name: found for name, found in offenders.items() if found} == {}


def test_ros_imports_are_detected(tmp_path):
    sample = tmp_path / 'sample.py'
    sample.write_text('import numpy\nfrom geometry_msgs.msg import Pose\n'
                      'def f():\n    import rclpy.node\n')
    assert ros_imports(sample) == {'geometry_msgs', 'rclpy'}
