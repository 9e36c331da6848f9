"""node.py of resem3d_controller is a thin rclpy adapter; the rest imports without ROS."""

import ast
from pathlib import Path
import re

PACKAGE = 'resem3d_controller'
NODE_NAME = 'controller'
SCRIPT = 'controller_node'
ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / PACKAGE
MAX_LINES = 200
# Top-level modules only a ROS installation provides.
ROS_MODULES = {'rclpy', 'tf2_ros', 'tf2_py', 'message_filters', 'launch', 'launch_ros',
               'rosidl_runtime_py', 'rosgraph_msgs', 'builtin_interfaces'}


def _is_ros(module: str) -> bool:
    top = module.split('.')[0]
    return top in ROS_MODULES or top.endswith(('_msgs', '_srvs', '_interfaces'))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_node_is_short_and_defines_main_and_one_node_class():
    text = (SOURCE / 'node.py').read_text(encoding='utf-8')
    assert len(text.splitlines()) <= MAX_LINES
    tree = ast.parse(text)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'main' in functions
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)
               and any(isinstance(b, ast.Name) and b.id == 'Node' for b in n.bases)]
    assert len(classes) == 1
    names = [call.args[0].value for call in ast.walk(classes[0])
             if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
             and call.func.attr == '__init__' and call.args
             and isinstance(call.args[0], ast.Constant)]
    assert names == [NODE_NAME]


def test_only_node_imports_ros():
    assert any(_is_ros(m) for m in _imports(SOURCE / 'node.py')) and 'rclpy' in \
        _imports(SOURCE / 'node.py')
    offenders = {path.name: sorted(m for m in _imports(path) if _is_ros(m))
                 for path in sorted(SOURCE.rglob('*.py')) if path.name != 'node.py'}
    assert {name: mods for name, mods in offenders.items() if mods} == {}
    init = ast.parse((SOURCE / '__init__.py').read_text(encoding='utf-8'))
    relative = {node.module for node in ast.walk(init)
                if isinstance(node, ast.ImportFrom) and node.level}
    assert 'node' not in relative and f'{PACKAGE}.node' not in _imports(SOURCE / '__init__.py')


def test_the_console_script_points_at_main():
    text = (ROOT / 'setup.py').read_text(encoding='utf-8')
    assert re.search(rf"['\"]{SCRIPT} *= *{PACKAGE}\.node:main['\"]", text)
