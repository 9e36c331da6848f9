"""Controller parameters, shared by the CLI and the ROS node through ``config/controller.yaml``.

The YAML file uses the ROS 2 parameter-file layout (``<node>: ros__parameters: {...}``) so that
``ros2 launch`` can pass it to the node unchanged, while the plain-Python cores read the same file
with :meth:`ControllerConfig.from_yaml`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping

from .exceptions import ConfigError

NODE_NAME = 'resem3d_controller'

PANDA_ARM_JOINTS = tuple(f'panda_joint{i}' for i in range(1, 8))
# Franka Emika Panda datasheet joint acceleration limits [rad/s^2].
PANDA_ACCELERATION_LIMITS = (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
    """Every tunable parameter of the velocity QP controller.

    Attributes:
        urdf_path: URDF of the arm; empty string = the Panda shipped by example-robot-data.
        srdf_path: SRDF whose disabled collision pairs are skipped by self-collision rows;
            empty string = example-robot-data's Panda SRDF with the default URDF, else none
            (then bodies at least two joints apart are checked).
        base_frame: Frame in which poses, targets and regions are expressed.
        tool_frame: Tool centre point (TCP) frame tracked by the constraints.
        arm_joints: Names of the actuated arm joints, in command order.
        acceleration_limits_rad_s2: Per-joint acceleration limit [rad/s^2].
        velocity_scale: Fraction (0, 1] of the URDF velocity limits the controller may use.
        acceleration_scale: Fraction (0, 1] of the acceleration limits the controller may use.
        position_margin_rad: Distance kept from each joint position limit [rad].
        rate_hz: Control rate [Hz]; the QP's time step is 1 / rate_hz.
        task_gain_per_s: Default proportional gain of constraint tracking [1/s].
        max_linear_speed_m_s: Cap on the tracked Cartesian linear velocity [m/s].
        max_angular_speed_rad_s: Cap on the tracked Cartesian angular velocity [rad/s].
        damping: Levenberg-Marquardt style regularisation weight on joint velocity.
        smoothing_weight: Weight on the change of joint velocity from the last command.
        posture_weight: Weight of the posture (nullspace) task.
        posture_gain_per_s: Gain of the posture task [1/s].
        posture_rad: Preferred arm configuration [rad]; empty = middle of the joint range.
        hard_row_gain_per_s: Velocity-damper gain of hard-constraint and collision rows [1/s].
        slack_weight: Penalty on the slack that keeps hard rows feasible.
        max_hard_rows: Capacity reserved in the QP for hard-constraint rows.
        max_collision_rows: Capacity reserved in the QP for collision rows (closest pairs).
        collision_margin_m: Distance kept between collision spheres [m].
        collision_activation_m: Pairs closer than this get a QP row [m].
        spheres_per_link: Spheres fitted to each collision body.
        self_collision: Whether self-collision rows are added.
        gripper_settle_speed_m_s: A stage's gripper action waits until its subgoal is reached
            and the TCP moves slower than this [m/s]; the tool then holds its pose.
        max_input_age_s: Joint states older than this stop the arm (watchdog) [s].
        max_target_age_s: Targets older than this stop the arm (watchdog) [s]; perception runs
            at 15 Hz, so this must exceed one camera period.
        osqp_eps: Absolute and relative tolerance of OSQP.
        osqp_max_iter: Iteration cap of OSQP per tick.
    """

    urdf_path: str = ''
    srdf_path: str = ''
    base_frame: str = 'panda_link0'
    tool_frame: str = 'panda_hand_tcp'
    arm_joints: tuple[str, ...] = PANDA_ARM_JOINTS
    acceleration_limits_rad_s2: tuple[float, ...] = PANDA_ACCELERATION_LIMITS
    velocity_scale: float = 0.5
    acceleration_scale: float = 0.5
    position_margin_rad: float = 0.05
    rate_hz: float = 1000.0
    task_gain_per_s: float = 5.0
    max_linear_speed_m_s: float = 0.5
    max_angular_speed_rad_s: float = 1.5
    damping: float = 1e-3
    smoothing_weight: float = 1e-3
    posture_weight: float = 1e-3
    posture_gain_per_s: float = 1.0
    posture_rad: tuple[float, ...] = ()
    hard_row_gain_per_s: float = 20.0
    slack_weight: float = 1e4
    max_hard_rows: int = 6
    max_collision_rows: int = 4
    collision_margin_m: float = 0.01
    collision_activation_m: float = 0.05
    spheres_per_link: int = 12
    self_collision: bool = True
    gripper_settle_speed_m_s: float = 0.01
    max_input_age_s: float = 0.05
    max_target_age_s: float = 0.25
    osqp_eps: float = 1e-5
    osqp_max_iter: int = 200

    def __post_init__(self) -> None:
        for name in ('velocity_scale', 'acceleration_scale'):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f'{name}: must be in (0, 1], got {value}')
        positive = ('rate_hz', 'task_gain_per_s', 'max_linear_speed_m_s',
                    'max_angular_speed_rad_s', 'hard_row_gain_per_s', 'slack_weight',
                    'max_input_age_s', 'max_target_age_s', 'osqp_eps', 'damping')
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'{name}: must be a positive finite number, got {value}')
        non_negative = ('smoothing_weight', 'posture_weight', 'posture_gain_per_s',
                        'position_margin_rad', 'collision_margin_m', 'collision_activation_m')
        for name in non_negative:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f'{name}: must be a finite number >= 0, got {value}')
        for name in ('max_hard_rows', 'max_collision_rows'):
            if not 0 <= getattr(self, name) <= 64:
                raise ConfigError(f'{name}: must be in [0, 64], got {getattr(self, name)}')
        if not 1 <= self.spheres_per_link <= 16:
            raise ConfigError(f'spheres_per_link: must be in [1, 16], got {self.spheres_per_link}')
        if self.osqp_max_iter < 1:
            raise ConfigError(f'osqp_max_iter: must be >= 1, got {self.osqp_max_iter}')
        if len(self.acceleration_limits_rad_s2) != len(self.arm_joints):
            raise ConfigError('acceleration_limits_rad_s2: needs one value per arm joint '
                              f'({len(self.arm_joints)}), got '
                              f'{len(self.acceleration_limits_rad_s2)}')
        if any(not (math.isfinite(a) and a > 0) for a in self.acceleration_limits_rad_s2):
            raise ConfigError('acceleration_limits_rad_s2: every value must be positive')
        if self.posture_rad and len(self.posture_rad) != len(self.arm_joints):
            raise ConfigError(f'posture_rad: needs {len(self.arm_joints)} values or none')

    @property
    def dt_s(self) -> float:
        """Control period [s]."""
        return 1.0 / self.rate_hz

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> 'ControllerConfig':
        """Build a config from a flat mapping of parameter names to values.

        Raises:
            ConfigError: on an unknown name or a value of the wrong type.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if name not in fields:
                raise ConfigError(f'{name}: unknown controller parameter')
            default = fields[name].default
            kwargs[name] = _coerce(name, value, default)
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path, node_name: str = NODE_NAME) -> 'ControllerConfig':
        """Read the ``<node_name>.ros__parameters`` section of a ROS 2 parameter file."""
        import yaml  # local import: only the YAML path needs it

        try:
            document = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ConfigError(f'{path}: cannot read parameter file: {error}') from None
        try:
            params = document[node_name]['ros__parameters']
        except (TypeError, KeyError):
            raise ConfigError(f'{path}: no {node_name}.ros__parameters section') from None
        if not isinstance(params, dict):
            raise ConfigError(f'{path}: {node_name}.ros__parameters must be a mapping')
        return cls.from_mapping(params)


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of the field's default and convert lists to tuples."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f'{name}: expected true or false, got {value!r}')
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{name}: expected an integer, got {value!r}')
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{name}: expected a number, got {value!r}')
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f'{name}: expected a string, got {value!r}')
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{name}: expected a list, got {value!r}')
        element = default[0] if default else 0.0
        return tuple(_coerce(f'{name}[{i}]', v, element) for i, v in enumerate(value))
    raise ConfigError(f'{name}: unsupported parameter type')  # pragma: no cover
