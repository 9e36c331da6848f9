"""The launch files and the configuration they wire, checked without ROS.

Every ``launch/*.py`` compiles and defines ``generate_launch_description``; every node it starts
is an executable of a package this bringup depends on (a console script for our packages);
every file it names exists and is installed; every parameter that ``config/graph.yaml`` or a
launch file sets on a resem3d node is declared by that node's ``node.py`` (so a rename in a node
cannot silently drop a setting: rclpy ignores undeclared overrides). The files are read with
:mod:`ast`, never imported: ``import launch`` needs ROS 2 (reference/ros2-conventions.md, §5).
"""

import ast
import os
import py_compile
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from catkin_pkg.package import parse_package

REPO = Path(__file__).resolve().parents[3]
LAUNCH = REPO / 'launch'
CONFIG = REPO / 'config'
SRC = REPO / 'src'
LAUNCH_FILES = sorted(LAUNCH.glob('*.py'))
GRAPH = CONFIG / 'graph.yaml'
#: Node name of each resem3d package (the fixed names of the graph).
NODES = {'perception': 'resem3d_perception', 'reasoning': 'resem3d_reasoning',
         'constraints': 'resem3d_constraints', 'controller': 'resem3d_controller',
         'sim': 'resem3d_sim'}
#: Parameters every rclpy node declares itself.
BUILTIN_PARAMETERS = {'use_sim_time'}
#: Arguments of the launch files of other packages that ours include (their documentation:
#: franka_bringup franka.launch.py, realsense2_camera rs_launch.py, ros_gz_sim gz_sim.launch.py).
EXTERNAL_LAUNCH_ARGUMENTS = {
    ('franka_bringup', 'franka.launch.py'): {
        'robot_type', 'arm_prefix', 'namespace', 'robot_ip', 'load_gripper',
        'use_fake_hardware', 'fake_sensor_commands', 'joint_state_rate',
        'load_franka_robot_state_broadcaster', 'controllers_yaml'},
    ('realsense2_camera', 'rs_launch.py'): {
        'camera_namespace', 'camera_name', 'serial_no', 'align_depth.enable', 'enable_sync',
        'rgb_camera.color_profile', 'depth_module.depth_profile', 'pointcloud.enable',
        'publish_tf', 'base_frame_id'},
    ('ros_gz_sim', 'gz_sim.launch.py'): {'gz_args', 'gz_version', 'on_exit_shutdown'},
}
_CONSOLE_SCRIPT = re.compile(r'^\s*(?P<name>[\w-]+)\s*=\s*(?P<module>[\w.]+):(?P<func>\w+)\s*$')
_CONFIG_NAME = re.compile(r'^[\w-]+\.(yaml|rviz)$')


# ----------------------------------------------------------------------------- helpers

def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def call_name(node: ast.Call) -> str:
    """``Name`` of a call (``Node``, ``FindPackageShare``), or the attribute's name."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, 'attr', '')


def keyword(node: ast.Call, name: str):
    return next((kw.value for kw in node.keywords if kw.arg == name), None)


def constant(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and call_name(node) == name]


def share_paths(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """``PathJoinSubstitution([FindPackageShare('pkg'), 'a', 'b'])`` as ('pkg', ['a', 'b'])."""
    found = []
    for call in calls(tree, 'PathJoinSubstitution'):
        if not call.args or not isinstance(call.args[0], ast.List):
            continue
        head, *rest = call.args[0].elts
        if isinstance(head, ast.Call) and call_name(head) == 'FindPackageShare':
            found.append((constant(head.args[0]), [constant(part) for part in rest]))
    return found


def declared_launch_arguments(tree: ast.AST) -> set[str]:
    return {constant(call.args[0]) for call in calls(tree, 'DeclareLaunchArgument')}


def launched_nodes(tree: ast.AST) -> list[ast.Call]:
    """``Node(...)`` calls of launch_ros (with a literal package and executable)."""
    return [call for call in calls(tree, 'Node') if keyword(call, 'package') is not None]


def dict_keys(node) -> set[str]:
    return {constant(key) for key in node.keys} if isinstance(node, ast.Dict) else set()


def parameter_override_keys(node_call: ast.Call) -> set[str]:
    """Keys of the literal dicts in a ``Node(parameters=[...])`` list."""
    parameters = keyword(node_call, 'parameters')
    if not isinstance(parameters, ast.List):
        return set()
    return set().union(*(dict_keys(item) for item in parameters.elts))


def include_arguments(tree: ast.AST) -> list[tuple[str, str, set[str]]]:
    """(package, launch file, argument names) of every ``IncludeLaunchDescription``."""
    found = []
    for call in calls(tree, 'IncludeLaunchDescription'):
        paths = share_paths(call)
        arguments = keyword(call, 'launch_arguments')
        # launch_arguments={...}.items()
        if isinstance(arguments, ast.Call) and isinstance(arguments.func, ast.Attribute):
            arguments = arguments.func.value
        package, parts = paths[0]
        found.append((package, parts[-1], dict_keys(arguments)))
    return found


def console_scripts(package: str) -> dict[str, str]:
    """Console scripts of a package's setup.py: {name: 'module:function'}."""
    scripts = {}
    for node in ast.walk(parse(SRC / package / 'setup.py')):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if constant(key) == 'console_scripts' and isinstance(value, ast.List):
                    for item in value.elts:
                        match = _CONSOLE_SCRIPT.match(constant(item) or '')
                        if match:
                            scripts[match['name']] = f"{match['module']}:{match['func']}"
    return scripts


def node_source(package: str) -> Path:
    return SRC / package / package / 'node.py'


def declared_parameters(package: str) -> set[str]:
    """Parameter names a node.py declares with ``declare_parameter(...)``.

    Literal names are taken as they are. A name built from an f-string with one placeholder
    (``f'{name}_topic'`` in a loop over literal names) is expanded with every string literal of
    the file, which includes the loop's names.
    """
    tree = parse(node_source(package))
    literals = {constant(node) for node in ast.walk(tree) if constant(node)}
    declared = set()
    for call in calls(tree, 'declare_parameter'):
        first = call.args[0] if call.args else None
        if constant(first):
            declared.add(constant(first))
        elif isinstance(first, ast.Name):
            declared.update(literals)       # declare_parameter(name, ...) over literal names
        elif isinstance(first, ast.JoinedStr):
            pieces = [constant(part) if isinstance(part, ast.Constant) else None
                      for part in first.values]
            if pieces.count(None) == 1:
                slot = pieces.index(None)
                for literal in literals:
                    declared.add(''.join(literal if i == slot else piece
                                         for i, piece in enumerate(pieces)))
    return declared


def node_parameter_defaults(package: str) -> set[str]:
    """String defaults of a node.py's ``declare_parameter`` calls and ``(name, default)`` pairs."""
    tree = parse(node_source(package))
    values = set()
    for call in calls(tree, 'declare_parameter'):
        if len(call.args) > 1 and constant(call.args[1]):
            values.add(constant(call.args[1]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple) and len(node.elts) == 2 and constant(node.elts[1]):
            values.add(constant(node.elts[1]))
    return values


def node_name(package: str) -> str | None:
    """The name a node.py gives ``super().__init__('<name>')``."""
    for call in calls(parse(node_source(package)), '__init__'):
        if call.args and constant(call.args[0]):
            return constant(call.args[0])
    return None


def exec_depends() -> set[str]:
    manifest = parse_package(str(SRC / 'resem3d' / 'package.xml'))
    return {dep.name for dep in manifest.exec_depends}


def installed_data_files(monkeypatch) -> dict[str, list[str]]:
    """The data_files src/resem3d/setup.py declares (setup() intercepted, run in its folder)."""
    import setuptools
    seen = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kwargs: seen.update(kwargs))
    monkeypatch.chdir(SRC / 'resem3d')
    runpy.run_path(str(SRC / 'resem3d' / 'setup.py'), run_name='__main__')
    return dict(seen['data_files'])


def require_node(package: str) -> None:
    if not node_source(package).is_file():
        pytest.fail(f'{package} has no node.py')


@pytest.fixture(scope='module')
def graph() -> dict:
    return yaml.safe_load(GRAPH.read_text())


# ----------------------------------------------------------------------------- launch files

def test_the_bringup_launch_files_exist():
    names = {path.name for path in LAUNCH_FILES}
    assert {'bringup.launch.py', 'gazebo.launch.py', 'resem3d_nodes.launch.py'} <= names


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles_and_defines_generate_launch_description(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / 'x.pyc'), doraise=True)
    functions = {node.name for node in parse(path).body if isinstance(node, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    assert path.name.endswith('.launch.py')


def test_launch_file_names_are_unique_in_the_workspace():
    seen: dict[str, Path] = {}
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith('.') and d not in ('build', 'install')]
        for name in files:
            if name.endswith('.launch.py'):
                real = (Path(root) / name).resolve()
                assert seen.setdefault(name, real) == real, f'{name} twice'
    assert 'bringup.launch.py' in seen


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_nodes_are_executables_of_known_packages(path):
    depends = exec_depends()
    nodes = launched_nodes(parse(path))
    assert nodes
    for call in nodes:
        package = constant(keyword(call, 'package'))
        executable = constant(keyword(call, 'executable'))
        assert package and executable, 'package and executable must be literals'
        if package.startswith('resem3d'):
            scripts = console_scripts(package)
            assert executable in scripts, f'{package} has no console script {executable}'
            module = scripts[executable].split(':')[0]
            assert (SRC / package / (module.replace('.', '/') + '.py')).is_file(), module
            name = constant(keyword(call, 'name'))
            assert name in NODES and NODES[name] == package, name
            assert node_name(package) == name, f'{package}/node.py is not named {name!r}'
        else:
            assert package in depends, f'{path.name} runs {package}: not an exec_depend'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_shared_files_exist_and_packages_are_dependencies(path):
    depends = exec_depends()
    for package, parts in share_paths(parse(path)):
        if package == 'resem3d':
            if parts and None not in parts and len(parts) > 1:
                assert (REPO.joinpath(*parts)).exists(), '/'.join(parts)
        else:
            assert package in depends, f'{path.name} uses {package}: not an exec_depend'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_config_files_named_in_launch_files_exist(path):
    names = {constant(node) for node in ast.walk(parse(path)) if constant(node)}
    config_names = {name for name in names if _CONFIG_NAME.match(name)}
    for name in config_names:
        assert (CONFIG / name).is_file(), f'{path.name} names config/{name}'


def test_launch_and_config_files_are_installed(monkeypatch):
    files = installed_data_files(monkeypatch)
    installed_launch = set(files.get('share/resem3d/launch', []))
    installed_config = set(files.get('share/resem3d/config', []))
    for path in LAUNCH_FILES:
        assert f'launch/{path.name}' in installed_launch
    named = set()
    for path in LAUNCH_FILES:
        named |= {constant(node) for node in ast.walk(parse(path))
                  if constant(node) and _CONFIG_NAME.match(constant(node))}
    assert named
    missing = {name for name in named if f'config/{name}' not in installed_config}
    assert not missing, f'setup.py does not install config/{sorted(missing)}'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_included_launch_files_declare_the_arguments_given(path):
    for package, launch_file, arguments in include_arguments(parse(path)):
        if package == 'resem3d':
            declared = declared_launch_arguments(parse(LAUNCH / launch_file))
        else:
            declared = EXTERNAL_LAUNCH_ARGUMENTS[(package, launch_file)]
        assert arguments <= declared, f'{launch_file} does not declare {arguments - declared}'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_parameters_set_on_resem3d_nodes_are_declared(path):
    for call in launched_nodes(parse(path)):
        package = constant(keyword(call, 'package'))
        if package.startswith('resem3d'):
            require_node(package)
            undeclared = parameter_override_keys(call) - declared_parameters(package) \
                - BUILTIN_PARAMETERS
            assert not undeclared, f'{package}/node.py declares no {sorted(undeclared)}'


def test_bringup_offers_the_documented_arguments():
    declared = declared_launch_arguments(parse(LAUNCH / 'bringup.launch.py'))
    assert {'use_sim', 'robot_type', 'robot_ip', 'camera_serial', 'mllm_backend', 'mllm_model',
            'mllm_base_url', 'rviz', 'task', 'use_sim_time'} <= declared


# ----------------------------------------------------------------------------- graph.yaml

def test_graph_is_a_parameter_file_keyed_by_node_name(graph):
    assert set(graph) == set(NODES)
    for name, section in graph.items():
        assert set(section) == {'ros__parameters'}, name
        assert section['ros__parameters'], name


@pytest.mark.parametrize('name', sorted(NODES))
def test_graph_parameters_are_declared_by_the_node(name, graph):
    package = NODES[name]
    require_node(package)
    keys = set(graph[name]['ros__parameters'])
    undeclared = keys - declared_parameters(package) - BUILTIN_PARAMETERS
    assert not undeclared, f'{package}/node.py declares no {sorted(undeclared)}'


def test_graph_topics_are_absolute_and_connect(graph):
    publishes = {}
    for name, section in graph.items():
        for key, value in section['ros__parameters'].items():
            if key.endswith(('_topic', '_service', '_action', '_ns')):
                assert isinstance(value, str) and value.startswith('/'), (name, key, value)
                publishes.setdefault(value, set()).add(name)
    # Topics several nodes must agree on.
    assert publishes['/resem3d/program'] >= {'reasoning', 'constraints', 'controller'}
    assert publishes['/resem3d/regions'] >= {'perception', 'constraints', 'controller'}
    assert publishes['/joint_velocity_controller/commands'] >= {'controller', 'sim'}
    assert publishes['/camera/camera/color/image_raw'] >= {'perception', 'sim'}


def test_declared_parameters_expands_templates(tmp_path, monkeypatch):
    package = tmp_path / 'pkg'
    (package / 'pkg').mkdir(parents=True)
    (package / 'pkg' / 'node.py').write_text(
        "class N:\n    def __init__(self):\n        super().__init__('n')\n"
        "        self.declare_parameter('a', 1)\n"
        "        for name in ('x', 'y'):\n"
        "            self.declare_parameter(f'{name}_topic', '')\n")
    monkeypatch.setattr(sys.modules[__name__], 'SRC', tmp_path)
    declared = declared_parameters('pkg')
    assert {'a', 'x_topic', 'y_topic'} <= declared
    assert 'b' not in declared
    assert node_name('pkg') == 'n'


# ----------------------------------------------------------------------------- RViz

def rviz_topics(config: dict) -> list[str]:
    topics = []

    def walk(node):
        if isinstance(node, dict):
            topic = node.get('Topic')
            if isinstance(topic, dict) and 'Value' in topic:
                topics.append(topic['Value'])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(config)
    return topics


def test_rviz_config_shows_the_graph_topics(graph):
    config = yaml.safe_load((CONFIG / 'resem3d.rviz').read_text())
    displays = config['Visualization Manager']['Displays']
    classes = {display['Class'] for display in displays}
    assert {'rviz_default_plugins/RobotModel', 'rviz_default_plugins/TF',
            'rviz_default_plugins/PointCloud2', 'rviz_default_plugins/Image',
            'rviz_default_plugins/MarkerArray'} <= classes
    known = {'/robot_description', '/clicked_point'}
    for section in graph.values():
        known |= {value for value in section['ros__parameters'].values()
                  if isinstance(value, str)}
    for package in NODES.values():
        if node_source(package).is_file():
            known |= node_parameter_defaults(package)
    topics = rviz_topics(config)
    assert {'/resem3d/segmented_cloud', '/resem3d/marked_image',
            '/resem3d/constraint_markers'} <= set(topics)
    for topic in topics:
        assert topic in known, f'RViz shows {topic}, which no node publishes'
    assert config['Visualization Manager']['Global Options']['Fixed Frame'] == 'fr3_link0'


# ----------------------------------------------------------------------------- robot config

def test_the_velocity_controller_matches_the_command_topic(graph):
    config = yaml.safe_load((CONFIG / 'franka_velocity_controller.yaml').read_text())['/**']
    managers = config['controller_manager']['ros__parameters']
    controller = [name for name, value in managers.items()
                  if isinstance(value, dict)
                  and value.get('type') == 'velocity_controllers/JointGroupVelocityController']
    assert controller == ['joint_velocity_controller']
    assert graph['controller']['ros__parameters']['velocity_command_topic'] == \
        f'/{controller[0]}/commands'
    parameters = config[controller[0]]['ros__parameters']
    assert parameters['joints'] == [f'fr3_joint{i}' for i in range(1, 8)]
    assert parameters['interface_name'] == 'velocity'
    assert managers['joint_state_broadcaster']['type'] == \
        'joint_state_broadcaster/JointStateBroadcaster'


def test_the_camera_extrinsics_look_at_the_workspace():
    extrinsics = yaml.safe_load((CONFIG / 'camera_extrinsics.yaml').read_text())[
        'camera_extrinsics']
    assert extrinsics['parent_frame'] == 'fr3_link0'
    assert extrinsics['child_frame'] == 'camera_link'
    p_base_cam = np.array(extrinsics['translation_m'], dtype=float)
    qx, qy, qz, qw = extrinsics['rotation_xyzw']
    assert np.isclose(np.linalg.norm([qx, qy, qz, qw]), 1.0, atol=1e-6)
    # camera_link's x axis (the optical axis) in the base frame.
    x_axis = np.array([1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy + qz * qw),
                       2 * (qx * qz - qy * qw)])
    # Where the optical axis meets the plane z = 0.1 m: in front of the robot, on the table.
    distance = (0.1 - p_base_cam[2]) / x_axis[2]
    assert distance > 0
    hit = p_base_cam + distance * x_axis
    assert 0.3 < hit[0] < 0.8 and abs(hit[1]) < 0.2
