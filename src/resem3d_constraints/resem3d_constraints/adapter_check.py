"""Static checks that a package's ``node.py`` is a thin rclpy adapter over its core.

Every resem3d package has exactly one ROS module, ``<package>/node.py`` (shared/DESIGN.md):
short, one ``rclpy.node.Node`` subclass with the package's node name, a ``main()`` that the
package's console script points at, and the only module of the package that imports ROS. ROS
is not installed where the tests run, so these checks read the sources (``ast``) instead of
importing them; each package's test calls :func:`node_adapter_problems`. stdlib only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

__all__ = ['MAX_NODE_LINES', 'ROS_MODULES', 'is_ros_module', 'imported_modules',
           'node_adapter_problems']

#: Longest ``node.py`` [lines]: a longer one has logic that belongs in the core.
MAX_NODE_LINES = 200
#: Top-level modules only a ROS installation provides (besides ``*_msgs``, ``*_srvs``,
#: ``*_interfaces``).
ROS_MODULES = frozenset({'rclpy', 'tf2_ros', 'tf2_py', 'message_filters', 'cv_bridge',
                         'launch', 'launch_ros', 'rosidl_runtime_py', 'ament_index_python',
                         'builtin_interfaces', 'rosgraph_msgs'})


def is_ros_module(module: str) -> bool:
    """Whether importing ``module`` needs ROS."""
    top = module.split('.')[0]
    return top in ROS_MODULES or top.endswith(('_msgs', '_srvs', '_interfaces'))


def imported_modules(path: Path) -> set[str]:
    """The absolute modules a Python file imports, anywhere in it (``import a.b``: ``a.b``;
    ``from a import b``: ``a``)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _node_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [n for n in tree.body if isinstance(n, ast.ClassDef)
            and any((isinstance(b, ast.Name) and b.id == 'Node')
                    or (isinstance(b, ast.Attribute) and b.attr == 'Node') for b in n.bases)]


def _super_init_names(cls: ast.ClassDef) -> list[str]:
    """The string first arguments of ``super().__init__(...)`` calls in ``cls``."""
    return [call.args[0].value for call in ast.walk(cls)
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == '__init__' and call.args
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)]


def node_adapter_problems(package_root: Path, package: str, node_name: str, script: str,
                          max_lines: int = MAX_NODE_LINES) -> list[str]:
    """What keeps ``<package_root>/<package>/node.py`` from being a thin adapter.

    Args:
        package_root: The ROS package's folder (the one with ``setup.py``).
        package: The Python package name.
        node_name: The name the node gives ``Node.__init__``.
        script: The console script that must point at ``<package>.node:main``.
        max_lines: Longest ``node.py``.

    Returns:
        One line per problem; empty when there is none.
    """
    source = Path(package_root) / package
    node_py = source / 'node.py'
    if not node_py.is_file():
        return [f'{node_py}: missing']
    problems = []
    text = node_py.read_text(encoding='utf-8')
    lines = len(text.splitlines())
    if lines > max_lines:
        problems.append(f'node.py has {lines} lines (at most {max_lines}): move logic to the '
                        'core')
    tree = ast.parse(text, filename=str(node_py))
    if 'main' not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}:
        problems.append('node.py defines no main()')
    classes = _node_classes(tree)
    if len(classes) != 1:
        problems.append(f'node.py has {len(classes)} Node subclasses (expected 1)')
    elif _super_init_names(classes[0]) != [node_name]:
        problems.append(f'the node is named {_super_init_names(classes[0])} (expected '
                        f'[{node_name!r}])')
    if 'rclpy' not in {m.split('.')[0] for m in imported_modules(node_py)}:
        problems.append('node.py does not import rclpy')
    for path in sorted(source.rglob('*.py')):
        if path == node_py:
            continue
        ros = sorted(m for m in imported_modules(path) if is_ros_module(m))
        if ros:
            problems.append(f'{path.relative_to(source)} imports ROS: {", ".join(ros)}')
    init = source / '__init__.py'
    if init.is_file():
        tree = ast.parse(init.read_text(encoding='utf-8'))
        if any(isinstance(n, ast.ImportFrom) and ((n.level and n.module == 'node')
                                                  or n.module == f'{package}.node')
               for n in ast.walk(tree)):
            problems.append('__init__.py imports node.py (the core must import without ROS)')
    setup = Path(package_root) / 'setup.py'
    pattern = rf"['\"]{re.escape(script)} *= *{re.escape(package)}\.node:main['\"]"
    if not setup.is_file() or not re.search(pattern, setup.read_text(encoding='utf-8')):
        problems.append(f'setup.py has no console script {script} = {package}.node:main')
    return problems
