"""The colcon workspace: colcon finds every package with its build type, the dependency graph
is the one the package.xml files declare, has no cycle and keeps the architecture's direction.

colcon (PyPI ``colcon-core``, ``colcon-ros``, ``colcon-package-information``) runs as a
subprocess from the repository root exactly as a ROS user runs it (no ``--base-paths``: the root
has no package.xml, reference/ros2-conventions.md section 4), with its log directory and its
``COLCON_HOME`` in a temporary directory so nothing is written into the checkout.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

REPO = Path(__file__).resolve().parents[3]
SRC = REPO / 'src'
COLCON = Path(sys.executable).parent / 'colcon'

MSGS = 'resem3d_msgs'
SYSTEM = 'resem3d'
CORES = ('resem3d_constraints', 'resem3d_perception', 'resem3d_reasoning',
         'resem3d_controller', 'resem3d_sim')
PACKAGES = (SYSTEM, MSGS) + CORES
BUILD_TYPES = {name: 'ros.ament_python' for name in (SYSTEM,) + CORES}
BUILD_TYPES[MSGS] = 'ros.ament_cmake'
# The architecture (DESIGN.md): the constraint language imports none of the other packages;
# the simulator needs only its types; nothing depends on the system package.
ALLOWED_DEPENDENCIES = {
    MSGS: set(),
    'resem3d_constraints': {MSGS},
    'resem3d_sim': {'resem3d_constraints', MSGS},
}
#: Python packages of ROS 2 that a node may import (besides *_msgs and *_interfaces).
ROS_PYTHON_PACKAGES = {'rclpy', 'tf2_ros', 'message_filters', 'cv_bridge', 'launch',
                       'launch_ros', 'ament_index_python', 'rosgraph_msgs'}
#: ROS packages that provide a Python module under another name (tf2_ros_py provides tf2_ros).
PYTHON_MODULE_PACKAGES = {'tf2_ros': {'tf2_ros', 'tf2_ros_py'}}
_DOT_EDGE = re.compile(r'^\s*"(?P<src>[^"]+)"\s*->\s*"(?P<dst>[^"]+)"\s*\[(?P<attrs>[^\]]*)\]')


def run_colcon(tmp_dir: Path, *args: str) -> str:
    """Run ``colcon <args>`` from the repository root and return its standard output.

    Args:
        tmp_dir: Directory for colcon's logs and user configuration.
        *args: The verb and its options.

    Returns:
        The standard output; the test fails with colcon's stderr on a non-zero exit.
    """
    assert COLCON.is_file(), (
        f'{COLCON} is missing: install the test extras (pip install -e src/resem3d[test])')
    env = dict(os.environ, COLCON_HOME=str(tmp_dir / 'colcon_home'),
               COLCON_LOG_PATH=str(tmp_dir / 'log'))
    result = subprocess.run([str(COLCON), '--log-base', str(tmp_dir / 'log'), *args],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, f'colcon {" ".join(args)} failed:\n{result.stderr}'
    return result.stdout


@pytest.fixture(scope='module')
def colcon_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('colcon')


@pytest.fixture(scope='module')
def listed(colcon_tmp) -> dict[str, tuple[str, str]]:
    """``colcon list`` as {name: (path relative to the repo, build type)}."""
    packages = {}
    for line in run_colcon(colcon_tmp, 'list').splitlines():
        name, path, build_type = line.split('\t')
        packages[name] = (path, build_type.strip('()'))
    return packages


@pytest.fixture(scope='module')
def graph_edges(colcon_tmp) -> set[tuple[str, str]]:
    """Direct dependency edges of ``colcon graph --dot`` (indirect ones are dashed)."""
    edges = set()
    for line in run_colcon(colcon_tmp, 'graph', '--dot').splitlines():
        match = _DOT_EDGE.match(line)
        if match and 'dashed' not in match['attrs']:
            edges.add((match['src'], match['dst']))
    return edges


@pytest.fixture(scope='module')
def manifests():
    """Every package.xml under src/, parsed by catkin_pkg, by package name."""
    return {path.parent.name: parse_package(str(path)) for path in SRC.glob('*/package.xml')}


def declared_dependencies(manifest) -> set[str]:
    """Names of the workspace packages a manifest depends on in any way (build, run, test)."""
    groups = (manifest.build_depends, manifest.buildtool_depends, manifest.build_export_depends,
              manifest.exec_depends, manifest.test_depends)
    return {dep.name for group in groups for dep in group if dep.name in PACKAGES}


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    """One dependency cycle as a list of package names, or None when the graph is acyclic."""
    successors: dict[str, list[str]] = {}
    for src, dst in edges:
        successors.setdefault(src, []).append(dst)
    state: dict[str, str] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 'open'
        for nxt in sorted(successors.get(node, [])):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
            if nxt not in state:
                cycle = visit(nxt, stack + [nxt])
                if cycle:
                    return cycle
        state[node] = 'done'
        return None

    for start in sorted(successors):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_colcon_lists_every_package_with_its_build_type(listed):
    assert set(listed) == set(PACKAGES)
    for name, (path, build_type) in listed.items():
        assert Path(path) == Path('src') / name
        assert build_type == BUILD_TYPES[name], name


def test_topological_order_puts_dependencies_first(colcon_tmp, graph_edges):
    order = run_colcon(colcon_tmp, 'list', '--topological-order', '--names-only').split()
    assert sorted(order) == sorted(PACKAGES)
    position = {name: index for index, name in enumerate(order)}
    for src, dst in graph_edges:
        assert position[dst] < position[src], f'{dst} must come before {src}'
    assert order[-1] == SYSTEM


def test_graph_edges_are_the_declared_dependencies(graph_edges, manifests):
    declared = {(name, dep) for name, manifest in manifests.items()
                for dep in declared_dependencies(manifest)}
    assert graph_edges == declared


def test_the_dependency_graph_has_no_cycle(graph_edges):
    assert find_cycle(graph_edges) is None


def test_find_cycle_reports_a_cycle():
    assert find_cycle({('a', 'b'), ('b', 'c'), ('c', 'a')}) is not None
    assert find_cycle({('a', 'b'), ('b', 'c'), ('a', 'c')}) is None


def test_the_system_package_depends_on_every_other_package(manifests):
    runtime = {dep.name for dep in manifests[SYSTEM].exec_depends}
    assert set(PACKAGES) - {SYSTEM} <= runtime


def test_nothing_depends_on_the_system_package(graph_edges):
    assert not [src for src, dst in graph_edges if dst == SYSTEM]


@pytest.mark.parametrize('name', sorted(ALLOWED_DEPENDENCIES))
def test_low_level_packages_depend_only_on_what_the_design_allows(name, manifests):
    assert declared_dependencies(manifests[name]) <= ALLOWED_DEPENDENCIES[name]


@pytest.mark.parametrize('name', CORES)
def test_cores_depend_on_the_constraint_language(name, manifests):
    if name != 'resem3d_constraints':
        assert 'resem3d_constraints' in {dep.name for dep in manifests[name].exec_depends}


def ros_imports(path: Path) -> set[str]:
    """Top-level ROS packages a module imports (rclpy, tf2_ros, message_filters, *_msgs...)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split('.')[0])
    return {name for name in names
            if name in ROS_PYTHON_PACKAGES or name.endswith(('_msgs', '_interfaces'))}


@pytest.mark.parametrize('name', CORES)
def test_a_node_declares_the_ros_packages_it_imports(name, manifests):
    node = SRC / name / name / 'node.py'
    if not node.is_file():
        pytest.skip(f'{name} has no node.py yet')
    imported = ros_imports(node)
    assert 'rclpy' in imported
    runtime = {dep.name for dep in manifests[name].exec_depends}
    missing = sorted(module for module in imported
                     if not PYTHON_MODULE_PACKAGES.get(module, {module}) & runtime)
    assert not missing, f'{name}/package.xml lacks exec_depend {missing}'


@pytest.mark.parametrize('name', PACKAGES)
def test_manifest_is_format_3_with_license_and_build_type(name, manifests):
    manifest = manifests[name]
    assert manifest.name == name
    assert manifest.package_format == 3
    assert manifest.licenses == ['Apache-2.0']
    build_types = [export.content for export in manifest.exports if export.tagname == 'build_type']
    assert build_types == [BUILD_TYPES[name].removeprefix('ros.')]


@pytest.mark.parametrize('name', PACKAGES)
def test_every_workspace_dependency_named_exists(name, manifests):
    manifest = manifests[name]
    groups = (manifest.build_depends, manifest.buildtool_depends, manifest.build_export_depends,
              manifest.exec_depends, manifest.test_depends)
    named = {dep.name for group in groups for dep in group if dep.name.startswith('resem3d')}
    assert named <= set(manifests), f'{name} names unknown packages {named - set(manifests)}'


@pytest.mark.parametrize('name', (SYSTEM,) + CORES)
def test_ament_python_packages_have_the_index_marker_and_script_dirs(name):
    root = SRC / name
    assert (root / 'resource' / name).is_file()
    setup_cfg = (root / 'setup.cfg').read_text()
    assert f'script_dir=$base/lib/{name}' in setup_cfg
    assert f'install_scripts=$base/lib/{name}' in setup_cfg
