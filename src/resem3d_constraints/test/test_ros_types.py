"""Tests of the message type sources and of the resem3d_msgs types in the rosbags typestore.

Every message, service part and action part is registered, built with non-trivial values in
every field, and round-tripped through CDR (the bytes rclpy sends).
"""

from __future__ import annotations

import array
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from resem3d_constraints.exceptions import MessageConversionError
from resem3d_constraints.ros_types import (interface_files, interface_texts, INTERFACE_PACKAGE,
                                           make_resem3d_typestore, MessageTypes,
                                           RclpyMessageTypes, RosbagsMessageTypes,
                                           split_interface)

EXPECTED = {
    'resem3d_msgs/msg/Anchor', 'resem3d_msgs/msg/Condition', 'resem3d_msgs/msg/Constraint',
    'resem3d_msgs/msg/ConstraintProgram', 'resem3d_msgs/msg/ConstraintResidual',
    'resem3d_msgs/msg/GripperAction', 'resem3d_msgs/msg/Mark', 'resem3d_msgs/msg/PartLabels',
    'resem3d_msgs/msg/Region',
    'resem3d_msgs/msg/RegionArray', 'resem3d_msgs/msg/Stage', 'resem3d_msgs/msg/TaskStatus',
    'resem3d_msgs/srv/Instruct_Request', 'resem3d_msgs/srv/Instruct_Response',
    'resem3d_msgs/srv/Observe_Request', 'resem3d_msgs/srv/Observe_Response',
    'resem3d_msgs/action/ExecuteInstruction_Goal',
    'resem3d_msgs/action/ExecuteInstruction_Result',
    'resem3d_msgs/action/ExecuteInstruction_Feedback',
}

_NUMPY = {'bool': np.bool_, 'byte': np.uint8, 'char': np.uint8, 'int8': np.int8,
          'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32,
          'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64, 'float32': np.float32,
          'float64': np.float64}


@pytest.fixture(scope='module')
def typestore():
    return make_resem3d_typestore()


def sample_value(typestore, desc, seed: int):
    """A non-trivial value of a field description (rosbags fielddefs), varying with seed."""
    node, detail = desc
    kind = getattr(node, 'name', node)
    if kind == 'BASE':
        base = detail[0]
        if base == 'string':
            return f'value-{seed}-é'
        if base == 'bool':
            return seed % 2 == 1
        if base in ('float32', 'float64'):
            return float(np.float32(seed * 0.37 - 1.5))     # exact in float32 too
        info = np.iinfo(_NUMPY[base])
        return int(info.min + (seed * 7919) % (int(info.max) - int(info.min)))
    if kind == 'NAME':
        return sample_message(typestore, detail, seed)
    sub, length = detail
    count = length if kind == 'ARRAY' else 2 + seed % 2
    items = [sample_value(typestore, sub, seed + i + 1) for i in range(count)]
    sub_kind = getattr(sub[0], 'name', sub[0])
    if sub_kind == 'BASE' and sub[1][0] in _NUMPY:
        return np.array(items, dtype=_NUMPY[sub[1][0]])
    return items


def sample_message(typestore, name: str, seed: int = 1):
    """An instance of ``name`` with every field set to a non-default value."""
    _, fields = typestore.fielddefs[name]
    cls = typestore.types[name]
    return cls(**{field: sample_value(typestore, desc, seed + 3 * i)
                  for i, (field, desc) in enumerate(fields)})


def assert_equal(a, b, path='$'):
    if hasattr(a, '__dataclass_fields__'):
        assert type(a).__msgtype__ == type(b).__msgtype__, path
        for field in a.__dataclass_fields__:
            assert_equal(getattr(a, field), getattr(b, field), f'{path}.{field}')
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal(x, y, f'{path}[{i}]')
    else:
        assert a == b, path


def test_every_interface_is_registered(typestore):
    assert set(interface_texts()) == EXPECTED
    assert EXPECTED <= set(typestore.types)
    assert 'sensor_msgs/msg/Image' in typestore.types      # the Jazzy store underneath


def test_service_and_action_parts_keep_their_ros_names(typestore):
    """Registered as rosidl names them, not as rosbags normalises a /srv/ name."""
    assert 'resem3d_msgs/srv/msg/Instruct_Request' not in typestore.types
    cls = typestore.types['resem3d_msgs/srv/Observe_Response']
    assert cls.__msgtype__ == 'resem3d_msgs/srv/Observe_Response'
    fields = dict(typestore.fielddefs['resem3d_msgs/srv/Observe_Response'][1])
    assert fields['marks'][1][0][1] == 'resem3d_msgs/msg/Mark'     # relative type resolved
    assert typestore.types['resem3d_msgs/msg/Constraint'].KIND_KEEP_AWAY == 7


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_cdr_round_trip(typestore, name):
    for seed in (1, 2):
        msg = sample_message(typestore, name, seed)
        raw = bytes(typestore.serialize_cdr(msg, name))
        back = typestore.deserialize_cdr(raw, name)
        assert_equal(msg, back)
        assert bytes(typestore.serialize_cdr(back, name)) == raw
    definition = typestore.generate_msgdef(name, ros_version=2)[0]
    for field, _ in typestore.fielddefs[name][1]:
        assert f' {field}' in definition
    assert typestore.hash_rihs01(name).startswith('RIHS01_')


def test_sample_values_are_not_trivial(typestore):
    msg = sample_message(typestore, 'resem3d_msgs/msg/Region', 2)
    assert msg.name and msg.points_obj.dtype == np.float64 and len(msg.points_obj) >= 2
    assert msg.axes_obj.shape == (9,) and np.any(msg.axes_obj != 0.0)
    assert msg.header.stamp.sec != 0 or msg.header.stamp.nanosec != 0


def test_every_field_is_required_in_rosbags(typestore):
    cls = typestore.types['resem3d_msgs/msg/TaskStatus']
    with pytest.raises(TypeError):
        cls(task_id='x')


def test_split_interface():
    parts = split_interface('p/srv/S', 'string a\n# c\n---\nbool ok\n')
    assert parts == {'p/srv/S_Request': 'string a\n# c\n', 'p/srv/S_Response': 'bool ok\n'}
    action = split_interface('p/action/A', 'a\n---\nb\n---\nc\n')
    assert list(action) == ['p/action/A_Goal', 'p/action/A_Result', 'p/action/A_Feedback']
    assert split_interface('p/msg/M', 'int32 x\n') == {'p/msg/M': 'int32 x\n'}
    with pytest.raises(MessageConversionError, match='expected 3 parts'):
        split_interface('p/action/A', 'a\n---\nb\n')
    with pytest.raises(MessageConversionError, match='bad message type name'):
        split_interface('p/widget/A', '')


def test_interface_files_are_package_data():
    files = interface_files()
    assert list(files) == sorted(files)
    assert files['resem3d_msgs/msg/Region'].name == 'Region.msg'
    assert '---' in files['resem3d_msgs/action/ExecuteInstruction'].read_text(encoding='utf-8')


def test_rosbags_message_types(typestore):
    types = RosbagsMessageTypes(typestore)
    assert isinstance(types, MessageTypes)
    assert types.get('resem3d_msgs/msg/Region') is typestore.types['resem3d_msgs/msg/Region']
    values = types.array([1, 2.5], 'float64')
    assert isinstance(values, np.ndarray) and values.dtype == np.float64
    assert types.array(np.array([[1, 2], [3, 4]]), 'uint8').tolist() == [1, 2, 3, 4]
    with pytest.raises(MessageConversionError, match='no message type'):
        types.get('resem3d_msgs/msg/Nope')
    with pytest.raises(MessageConversionError, match='bad message type name'):
        types.get('Region')


def test_rclpy_message_types_without_ros():
    types = RclpyMessageTypes()
    assert isinstance(types, MessageTypes)
    values = types.array(np.array([0.5, -1.0]), 'float64')
    assert isinstance(values, array.array) and values.typecode == 'd'
    assert list(values) == [0.5, -1.0]
    assert types.array([3, 4], 'uint8').typecode == 'B'
    assert types.array([3], 'int32').itemsize == 4
    image = np.arange(24, dtype=np.uint16).reshape(2, 4, 3)           # cast and flattened
    assert list(types.array(image, 'uint8')) == list(range(24))
    assert list(types.array(np.array([-2, 70000]), 'int32')) == [-2, 70000]
    if importlib.util.find_spec(INTERFACE_PACKAGE) is not None:
        pytest.skip('resem3d_msgs is built here: the lookup would succeed')
    with pytest.raises(MessageConversionError, match='is the resem3d_msgs package built'):
        types.get('resem3d_msgs/msg/Region')
    with pytest.raises(MessageConversionError, match='bad message type name'):
        types.get('resem3d_msgs/srvs/Instruct_Request')


def test_modules_import_no_ros_and_no_rosbags():
    code = ('import sys\n'
            'import resem3d_constraints.ros_types, resem3d_constraints.ros_conversions\n'
            'bad = sorted(m for m in sys.modules if m.split(".")[0] in '
            '("rosbags", "rclpy", "resem3d_msgs", "std_msgs", "geometry_msgs"))\n'
            'print(",".join(bad))\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == ''


def test_typestore_is_jazzy(typestore):
    # A type newer than Humble: visualization_msgs/MeshFile (Jazzy's Marker.mesh_file).
    assert 'visualization_msgs/msg/MeshFile' in typestore.types
