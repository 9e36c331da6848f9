"""The resem3d_msgs interface files, checked by ROS 2's own IDL translator (no ROS needed).

Debian bookworm ships ``rosidl translate`` (``python3-rosidl``, ``rosidl-tools``; run under the
system ``python3``, not the venv). It turns each .msg/.srv/.action file into the .idl that
every rosidl generator starts from, and rejects what colcon would reject. The .idl it writes
is then read by rosbags' IDL parser and must give the same types, and the same Jazzy type
hashes, as resem3d_constraints.ros_types registers from the .msg text.
"""

from __future__ import annotations

from pathlib import Path
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest
from rosbags.typesys import get_types_from_idl, get_typestore, Stores

from resem3d_constraints.ros_types import (interface_files, interface_texts, INTERFACE_PACKAGE,
                                           make_resem3d_typestore)

ROSIDL = '/usr/bin/rosidl'
MSGS_DIR = Path(__file__).resolve().parents[2] / 'resem3d_msgs'
#: Builtin field types of the ROS 2 interface language (everything else is a message type).
BUILTIN_TYPES = {'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16',
                 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring'}


def rosidl() -> str:
    """Path of the ``rosidl`` executable; fails (never skips) when it is missing."""
    if shutil.which(ROSIDL) is None:
        pytest.fail(f'{ROSIDL} is missing: run `make system-deps` (installs python3-rosidl, '
                    'rosidl-tools, python3-catkin-pkg and python3-empy from requirements/apt.txt)')
    return ROSIDL


def relative_paths() -> list[str]:
    """``msg/X.msg``, ``srv/Y.srv``, ... of every interface file."""
    paths = []
    for name in interface_files():
        _, kind, stem = name.split('/')
        paths.append(f'{kind}/{stem}.{kind}')
    return paths


def translate(folder: Path, files: list[str], out: Path) -> subprocess.CompletedProcess:
    """``rosidl translate --to idl`` of ``files`` (relative to ``folder``) into ``out``."""
    return subprocess.run([rosidl(), 'translate', '--to', 'idl', '--output-path', str(out),
                           INTERFACE_PACKAGE, *files], cwd=folder, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope='module')
def translated(tmp_path_factory) -> Path:
    """Every interface file copied to a temporary package folder and translated to .idl."""
    root = tmp_path_factory.mktemp('rosidl')
    package = root / INTERFACE_PACKAGE
    for relative in relative_paths():
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((MSGS_DIR / relative).read_text(encoding='utf-8'), encoding='utf-8')
    result = translate(package, relative_paths(), root / 'idl')
    assert result.returncode == 0, result.stderr[-2000:]
    return root / 'idl'


def test_the_package_data_is_the_interface_package():
    files = relative_paths()
    on_disk = sorted(str(p.relative_to(MSGS_DIR)) for kind in ('msg', 'srv', 'action')
                     for p in (MSGS_DIR / kind).glob(f'*.{kind}'))
    assert sorted(files) == on_disk
    assert {'msg/Region.msg', 'msg/RegionArray.msg', 'msg/Anchor.msg', 'msg/Constraint.msg',
            'msg/Stage.msg', 'msg/ConstraintProgram.msg', 'msg/TaskStatus.msg',
            'msg/ConstraintResidual.msg', 'msg/Mark.msg', 'srv/Instruct.srv', 'srv/Observe.srv',
            'action/ExecuteInstruction.action'} <= set(files)


def test_cmakelists_lists_every_interface_file():
    text = (MSGS_DIR / 'CMakeLists.txt').read_text(encoding='utf-8')
    listed = re.findall(r'"((?:msg|srv|action)/[A-Za-z0-9]+\.(?:msg|srv|action))"', text)
    assert sorted(listed) == sorted(relative_paths())
    assert 'rosidl_generate_interfaces(${PROJECT_NAME}' in text


def test_package_xml_declares_every_referenced_package():
    root = ElementTree.parse(MSGS_DIR / 'package.xml').getroot()
    assert root.get('format') == '3' and root.findtext('name') == INTERFACE_PACKAGE
    depends = {e.text for e in root.findall('depend')}
    assert root.findtext('member_of_group') == 'rosidl_interface_packages'
    assert {e.text for e in root.findall('buildtool_depend')} >= {
        'ament_cmake', 'rosidl_default_generators'}
    referenced = set()
    for text in interface_texts().values():
        for line in text.splitlines():
            field_type = line.split('#', 1)[0].split()[:1]
            if field_type and '/' in field_type[0]:
                referenced.add(field_type[0].split('/')[0])
    assert referenced and referenced <= depends, referenced - depends
    cmake = (MSGS_DIR / 'CMakeLists.txt').read_text(encoding='utf-8')
    for package in referenced:
        assert f'find_package({package} REQUIRED)' in cmake


def test_every_field_type_exists():
    typestore = make_resem3d_typestore()
    for name, text in interface_texts().items():
        for line in text.splitlines():
            words = line.split('#', 1)[0].split()
            if len(words) < 2 or '=' in words[1]:
                continue
            base = re.sub(r'\[.*\]$', '', words[0])
            if base in BUILTIN_TYPES or base.startswith('string<'):
                continue
            full = base.replace('/', '/msg/') if '/' in base else f'{INTERFACE_PACKAGE}/msg/{base}'
            assert full in typestore.types, f'{name}: unknown field type {words[0]}'


def test_rosidl_translates_every_file(translated):
    produced = sorted(str(p.relative_to(translated)) for p in translated.rglob('*.idl'))
    expected = sorted(re.sub(r'\.(msg|srv|action)$', '.idl', p) for p in relative_paths())
    assert produced == expected


def test_rosidl_idl_gives_the_same_types_and_hashes(translated):
    """rosbags reads rosidl's .idl (its #include lines dropped: the typestore resolves the
    included types by name) into the same definitions as the .msg text registration."""
    from_idl = {}
    for path in sorted(translated.rglob('*.idl')):
        text = '\n'.join(line for line in path.read_text(encoding='utf-8').splitlines()
                         if not line.startswith('#include'))
        from_idl.update(get_types_from_idl(text))
    from_msg = make_resem3d_typestore()
    assert sorted(from_idl) == sorted(interface_texts())
    idl_store = get_typestore(Stores.ROS2_JAZZY)
    idl_store.register(from_idl)
    for name in from_idl:
        assert idl_store.hash_rihs01(name) == from_msg.hash_rihs01(name), name
        assert idl_store.fielddefs[name] == from_msg.fielddefs[name], name


def test_rosidl_keeps_constants_and_units(translated):
    text = (translated / 'msg' / 'Constraint.idl').read_text(encoding='utf-8')
    assert 'const uint8 KIND_KEEP_AWAY = 7;' in text
    assert '@unit (value="m")' in text          # "[m]" in a comment becomes a unit annotation


@pytest.mark.parametrize('name,text,error', [
    ('msg/Bad.msg', 'float64 Bad-Name\n', 'invalid field name'),
    ('msg/Bad.msg', 'uint8 KIND_X=abc\nuint8 kind\n', 'can not be converted'),
    ('msg/bad_name.msg', 'float64 x\n', ''),
    ('srv/Bad.srv', 'string a\n---\nfloat64 2x\n', ''),
])
def test_rosidl_rejects_a_broken_definition(tmp_path, name, text, error):
    package = tmp_path / INTERFACE_PACKAGE
    (package / name).parent.mkdir(parents=True)
    (package / name).write_text(text, encoding='utf-8')
    result = translate(package, [name], tmp_path / 'idl')
    assert result.returncode != 0
    assert not list((tmp_path / 'idl').rglob('*.idl'))
    assert error in result.stderr
