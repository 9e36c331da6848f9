"""docker/: what can be checked without building the image.

The Dockerfile starts from a ROS 2 Jazzy image and copies only files that exist and that
.dockerignore keeps in the build context; compose.yaml parses, builds that Dockerfile from the
repository root, has the ``sim`` and ``real`` services (GPU only under a profile), and each
service's command launches a launch file of the repository with arguments that file declares.
"""

import ast
import fnmatch
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOCKER = REPO / 'docker'
DOCKERFILE = DOCKER / 'Dockerfile'
COMPOSE = DOCKER / 'compose.yaml'
JAZZY_IMAGES = re.compile(r'^(docker\.io/)?(library/)?(ros|osrf/ros):jazzy(-[a-z-]+)?$')
_ARG_REFERENCE = re.compile(r'\$\{(\w+)(:-[^}]*)?\}|\$(\w+)')
_COMPOSE_VARIABLE = re.compile(r'\$\{(\w+)(:-([^}]*))?\}')


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    instructions, current = [], ''
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith('#')):
            continue
        if current and line.startswith('#'):
            continue
        if line.endswith('\\'):
            current += line[:-1] + ' '
            continue
        current += line
        keyword, _, arguments = current.partition(' ')
        instructions.append((keyword.upper(), arguments.strip()))
        current = ''
    return instructions


def substitute_args(value: str, args: dict[str, str]) -> str:
    """``value`` with ``${NAME}`` / ``$NAME`` replaced by the ARG defaults in ``args``."""
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        return args.get(name, match.group(0))
    return _ARG_REFERENCE.sub(replace, value)


def copy_sources(arguments: str) -> list[str]:
    """Source paths of a COPY instruction (shell or JSON form; --from copies are skipped)."""
    if arguments.startswith('['):
        parts = json.loads(arguments)
    else:
        parts = shlex.split(arguments)
    flags = [part for part in parts if part.startswith('--')]
    if any(flag.startswith('--from') for flag in flags):
        return []
    paths = [part for part in parts if not part.startswith('--')]
    return paths[:-1]


def dockerignore_patterns() -> list[str]:
    lines = (REPO / '.dockerignore').read_text().splitlines()
    return [line.strip().rstrip('/') for line in lines
            if line.strip() and not line.startswith('#')]


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore drops ``relative`` (a path or one of its parents) from the context."""
    parts = Path(relative).parts
    prefixes = ['/'.join(parts[:index]) for index in range(1, len(parts) + 1)]
    for pattern in patterns:
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern):
                return True
            # '**/name' matches 'name' in any folder.
            if pattern.startswith('**/') and fnmatch.fnmatch(Path(prefix).name, pattern[3:]):
                return True
    return False


def declared_launch_arguments(path: Path) -> set[str]:
    """Names given to ``DeclareLaunchArgument(...)`` in a launch file (first positional)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == \
                'DeclareLaunchArgument' and node.args and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
    return names


def expand_compose_variables(text: str) -> str:
    """Compose ``${NAME:-default}`` with the default (``${NAME}`` with a placeholder)."""
    return _COMPOSE_VARIABLE.sub(lambda m: m.group(3) if m.group(2) else 'x', text)


@pytest.fixture(scope='module')
def instructions():
    return dockerfile_instructions(DOCKERFILE.read_text())


@pytest.fixture(scope='module')
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_the_image_starts_from_ros_2_jazzy(instructions):
    args: dict[str, str] = {}
    froms = []
    for keyword, arguments in instructions:
        if keyword == 'ARG' and '=' in arguments and not froms:
            name, _, default = arguments.partition('=')
            args[name] = default.strip('"\'')
        if keyword == 'FROM':
            froms.append(substitute_args(arguments.split()[0], args))
    assert froms, 'no FROM'
    assert JAZZY_IMAGES.match(froms[0]), froms[0]


def test_every_copy_source_exists_in_the_build_context(instructions):
    patterns = dockerignore_patterns()
    sources = [source for keyword, arguments in instructions if keyword == 'COPY'
               for source in copy_sources(arguments)]
    assert 'requirements/constraints.txt' in ' '.join(sources) or 'requirements/' in sources
    for source in sources:
        if source == '.':
            continue
        assert (REPO / source).exists(), f'COPY {source}: no such file in the repository'
        assert not is_ignored(source.rstrip('/'), patterns), f'COPY {source}: in .dockerignore'


def test_the_image_installs_the_drivers_the_launch_files_use(instructions):
    runs = ' '.join(arguments for keyword, arguments in instructions if keyword == 'RUN')
    for package in ('realsense2-camera', 'ros2-controllers', 'gz-ros2-control', 'ros-gz',
                    'pinocchio', 'launch-testing-ros'):
        assert f'ros-${{ROS_DISTRO}}-{package}' in runs, package
    assert 'franka_ros2' in runs and 'dependency.repos' in runs
    assert '-c requirements/constraints.txt' in runs
    assert 'apt.txt' in runs
    assert 'colcon build' in runs


def test_the_entrypoint_is_copied_and_valid_bash(instructions):
    entrypoint = [arguments for keyword, arguments in instructions if keyword == 'ENTRYPOINT']
    assert entrypoint and json.loads(entrypoint[-1])[0].endswith('entrypoint.sh')
    for script in ('entrypoint.sh', 'ros_env.sh'):
        subprocess.run(['bash', '-n', str(DOCKER / script)], check=True)


def test_dockerignore_keeps_local_environments_out():
    patterns = dockerignore_patterns()
    for path in ('.venv', '.git', 'runs', 'src/resem3d/resem3d.egg-info',
                 'src/resem3d/resem3d/__pycache__'):
        assert is_ignored(path, patterns), path
    for path in ('src/resem3d/setup.py', 'launch', 'config/graph.yaml', 'docker/entrypoint.sh'):
        assert not is_ignored(path, patterns), path


def test_is_ignored_understands_nested_patterns():
    assert is_ignored('a/b/__pycache__/c.pyc', ['**/__pycache__'])
    assert not is_ignored('a/b/c.py', ['**/__pycache__', 'build'])
    assert is_ignored('build/x', ['build'])


def test_compose_builds_the_dockerfile_from_the_repository_root(compose):
    services = compose['services']
    assert {'sim', 'real'} <= set(services)
    for name, service in services.items():
        build = service.get('build')
        if build is None:
            assert 'extends' in service, name
            continue
        assert (DOCKER / build['context']).resolve() == REPO
        assert (REPO / build['dockerfile']).resolve() == DOCKERFILE


def test_the_real_service_reaches_the_robot_and_the_camera(compose):
    real = compose['services']['real']
    assert real['network_mode'] == 'host'
    assert real['privileged'] is True
    assert 'use_sim:=false' in real['command'] and 'robot_ip:=' in real['command']


def test_gpu_reservations_only_under_a_profile(compose):
    gpu_services = [name for name, service in compose['services'].items()
                    if service.get('deploy', {}).get('resources', {}).get('reservations')]
    assert gpu_services
    for name in gpu_services:
        service = compose['services'][name]
        assert service.get('profiles'), f'{name} reserves a GPU but has no profile'
        devices = service['deploy']['resources']['reservations']['devices']
        assert any('gpu' in device['capabilities'] for device in devices)
    for name in ('sim', 'real'):
        assert 'deploy' not in compose['services'][name]


@pytest.mark.parametrize('name', ['sim', 'real', 'gazebo'])
def test_service_commands_launch_existing_files_with_declared_arguments(name, compose):
    service = compose['services'][name]
    tokens = shlex.split(expand_compose_variables(service['command']))
    assert tokens[:3] == ['ros2', 'launch', 'resem3d']
    launch_file = REPO / 'launch' / tokens[3]
    assert launch_file.is_file(), tokens[3]
    declared = declared_launch_arguments(launch_file)
    for token in tokens[4:]:
        argument = token.split(':=')[0]
        assert argument in declared, f'{tokens[3]} declares no argument {argument!r}'


def test_the_default_command_launches_the_simulation(instructions):
    command = [arguments for keyword, arguments in instructions if keyword == 'CMD'][-1]
    tokens = json.loads(command)
    assert tokens[:4] == ['ros2', 'launch', 'resem3d', 'bringup.launch.py']
    assert (REPO / 'launch' / tokens[3]).is_file()
    assert set(token.split(':=')[0] for token in tokens[4:]) <= declared_launch_arguments(
        REPO / 'launch' / tokens[3])


def test_the_readme_shows_every_service():
    readme = (DOCKER / 'README.md').read_text()
    for name in yaml.safe_load(COMPOSE.read_text())['services']:
        assert f' {name}' in readme, name
