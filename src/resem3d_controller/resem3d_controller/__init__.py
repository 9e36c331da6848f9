"""resem3d_controller: a real-time joint-space velocity QP (pinocchio + OSQP).

Public entry points:
    :class:`JointVelocityController` — one QP per tick, tracking poses or constraint programs.
    :class:`ControllerConfig` — every parameter (``config/controller.yaml``).
    :class:`RobotModel` — pinocchio kinematics of the arm from a URDF.
"""

from .collision import CollisionModel, Obstacle
from .config import ControllerConfig
from .controller import ControlCommand, ControlStatus, JointVelocityController
from .exceptions import ConfigError, ControllerError, InputError, RobotModelError
from .gripper import GripperCommand
from .kinematic_sim import KinematicArm, LimitViolations
from .limits import JointLimits, decelerate, joint_velocity_bounds
from .qp import QpSolution, VelocityQp
from .robot_model import RobotModel, default_urdf_path
from .tasks import ConstraintTask, PoseTask, Task, TaskRows

__all__ = [
    'CollisionModel', 'ConfigError', 'ConstraintTask', 'ControlCommand', 'ControlStatus',
    'ControllerConfig', 'ControllerError', 'GripperCommand', 'InputError', 'JointLimits',
    'JointVelocityController', 'KinematicArm', 'LimitViolations', 'Obstacle', 'PoseTask',
    'QpSolution', 'RobotModel', 'RobotModelError', 'Task', 'TaskRows', 'VelocityQp',
    'decelerate', 'default_urdf_path', 'joint_velocity_bounds',
]
