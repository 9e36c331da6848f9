"""Kinematic model of the arm: pinocchio forward kinematics and frame Jacobians.

All poses and Jacobians are expressed in the configured base frame. Jacobians use pinocchio's
LOCAL_WORLD_ALIGNED convention: rows 0-2 are the linear velocity of the frame origin and rows 3-5
the angular velocity, both in base-frame axes. This is the tool twist convention of
:mod:`resem3d_constraints`.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pinocchio as pin

from .config import ControllerConfig
from .exceptions import RobotModelError

_ERD_SHARE = 'cmeel.prefix/share'
_PANDA_URDF = 'example-robot-data/robots/panda_description/urdf/panda.urdf'
_PANDA_SRDF = 'example-robot-data/robots/panda_description/srdf/panda.srdf'


def example_robot_data_share() -> Path:
    """Return the ``share`` folder that holds example-robot-data's robots.

    Raises:
        RobotModelError: if the example-robot-data package is not installed.
    """
    try:
        dist = metadata.distribution('example-robot-data')
    except metadata.PackageNotFoundError:
        raise RobotModelError(
            'example-robot-data is not installed (pip install example-robot-data); '
            'or set urdf_path to your robot description') from None
    return Path(str(dist.locate_file(_ERD_SHARE)))


def default_urdf_path() -> Path:
    """Path of the Panda URDF shipped by example-robot-data."""
    return example_robot_data_share() / _PANDA_URDF


class RobotModel:
    """Pinocchio model of the arm reduced to its actuated arm joints.

    Joints of the URDF that are not in ``config.arm_joints`` (the fingers) are locked at their
    neutral position. Call :meth:`update` once per tick with the joint positions, then read
    poses and Jacobians.

    Attributes:
        model: Reduced pinocchio model (``nq == nv == len(arm_joints)``).
        data: Pinocchio data of ``model``.
        geometry: Collision geometry of the reduced model (None if the URDF has no meshes that
            could be resolved).
        q_min_rad, q_max_rad: Joint position limits [rad].
        v_max_rad_s: Joint velocity limits [rad/s] (URDF values).
        a_max_rad_s2: Joint acceleration limits [rad/s^2].
    """

    def __init__(self, config: ControllerConfig | None = None) -> None:
        self.config = config or ControllerConfig()
        urdf = Path(self.config.urdf_path) if self.config.urdf_path else default_urdf_path()
        if self.config.srdf_path:
            self.srdf_path: Path | None = Path(self.config.srdf_path)
            if not self.srdf_path.is_file():
                raise RobotModelError(f'SRDF not found: {self.srdf_path}')
        else:
            self.srdf_path = None if self.config.urdf_path else (
                example_robot_data_share() / _PANDA_SRDF)
        if not urdf.is_file():
            raise RobotModelError(f'URDF not found: {urdf}')
        self.urdf_path = urdf
        try:
            full_model = pin.buildModelFromUrdf(str(urdf))
        except (RuntimeError, ValueError) as error:
            raise RobotModelError(f'{urdf}: cannot parse URDF: {error}') from None
        geometry = self._load_collision_geometry(full_model, urdf)

        missing = [n for n in self.config.arm_joints if not full_model.existJointName(n)]
        if missing:
            raise RobotModelError(f'{urdf}: joints not found: {", ".join(missing)}')
        locked = [full_model.getJointId(full_model.names[j]) for j in range(1, full_model.njoints)
                  if full_model.names[j] not in self.config.arm_joints]
        q_lock = pin.neutral(full_model)
        if geometry is not None:
            self.model, self.geometry = pin.buildReducedModel(full_model, geometry, locked, q_lock)
        else:
            self.model = pin.buildReducedModel(full_model, locked, q_lock)
            self.geometry = None
        if self.model.nq != len(self.config.arm_joints) or self.model.nv != self.model.nq:
            raise RobotModelError(f'{urdf}: arm joints must be single-DoF revolute or prismatic')
        order = [self.model.names[j] for j in range(1, self.model.njoints)]
        if tuple(order) != tuple(self.config.arm_joints):
            raise RobotModelError(f'{urdf}: arm joints must be listed in chain order: {order}')
        self.data = self.model.createData()

        self.tool_frame_id = self._frame_id(self.config.tool_frame)
        base_id = self._frame_id(self.config.base_frame)
        pin.framesForwardKinematics(self.model, self.data, pin.neutral(self.model))
        T_world_base = self.data.oMf[base_id]
        if self.model.frames[base_id].parentJoint != 0:
            raise RobotModelError(
                f'base frame {self.config.base_frame} must not move with a joint')
        # Constant transform from pinocchio's world (the URDF root) to the base frame.
        self._R_base_world = T_world_base.rotation.T.copy()
        self._p_base_world = -self._R_base_world @ T_world_base.translation
        self._base_is_world = bool(np.allclose(T_world_base.homogeneous, np.eye(4)))

        self.nq = self.model.nq
        self.q_min_rad = self.model.lowerPositionLimit.copy()
        self.q_max_rad = self.model.upperPositionLimit.copy()
        self.v_max_rad_s = self.model.velocityLimit.copy()
        self.a_max_rad_s2 = np.asarray(self.config.acceleration_limits_rad_s2, dtype=float)
        if not (np.all(np.isfinite(self.q_min_rad)) and np.all(self.q_max_rad > self.q_min_rad)):
            raise RobotModelError(f'{urdf}: every arm joint needs finite position limits')
        if not np.all(self.v_max_rad_s > 0):
            raise RobotModelError(f'{urdf}: every arm joint needs a positive velocity limit')
        self._point_frames: dict[tuple, int] = {}

    # ------------------------------------------------------------------ loading helpers
    @staticmethod
    def _load_collision_geometry(model: pin.Model, urdf: Path) -> pin.GeometryModel | None:
        """Collision geometry of the URDF, or None if its meshes cannot be resolved."""
        package_dirs = [str(urdf.parents[i]) for i in range(min(5, len(urdf.parents)))]
        try:
            package_dirs.append(str(example_robot_data_share()))
        except RobotModelError:
            pass
        try:
            return pin.buildGeomFromUrdf(model, str(urdf), pin.GeometryType.COLLISION,
                                         package_dirs=package_dirs)
        except (RuntimeError, ValueError, OSError):
            return None

    def self_collision_pairs(self) -> set[tuple[int, int]] | None:
        """Pairs (i < j) of collision-body indices to check for self-collision.

        From the SRDF (all pairs of bodies on different joints, minus its disabled pairs), or
        None when there is no SRDF.
        """
        if self.geometry is None or self.srdf_path is None:
            return None
        geometry = self.geometry.copy()
        geometry.addAllCollisionPairs()
        try:
            pin.removeCollisionPairs(self.model, geometry, str(self.srdf_path))
        except (RuntimeError, ValueError) as error:
            raise RobotModelError(f'{self.srdf_path}: cannot read SRDF: {error}') from None
        return {(min(p.first, p.second), max(p.first, p.second)) for p in geometry.collisionPairs}

    def _frame_id(self, name: str) -> int:
        if not self.model.existFrame(name):
            raise RobotModelError(f'{self.urdf_path}: frame not found: {name}')
        return self.model.getFrameId(name)

    def frame_id(self, name: str) -> int:
        """Pinocchio id of the frame ``name``.

        Raises:
            RobotModelError: if the model has no such frame.
        """
        return self._frame_id(name)

    # ------------------------------------------------------------------ per-tick queries
    def update(self, q_rad: np.ndarray) -> None:
        """Compute forward kinematics and joint Jacobians at ``q_rad`` (n,) [rad]."""
        pin.computeJointJacobians(self.model, self.data, q_rad)
        pin.updateFramePlacements(self.model, self.data)

    def frame_pose(self, frame_id: int) -> np.ndarray:
        """Pose T_base_frame (4, 4) of a frame at the last :meth:`update`."""
        T = self.data.oMf[frame_id].homogeneous
        if self._base_is_world:
            return T
        out = np.eye(4)
        out[:3, :3] = self._R_base_world @ T[:3, :3]
        out[:3, 3] = self._R_base_world @ T[:3, 3] + self._p_base_world
        return out

    def frame_jacobian(self, frame_id: int) -> np.ndarray:
        """Jacobian (6, n) of a frame's twist [v; w] in base-frame axes at its origin."""
        J = pin.getFrameJacobian(self.model, self.data, frame_id, pin.LOCAL_WORLD_ALIGNED)
        if self._base_is_world:
            return J
        out = np.empty_like(J)
        out[:3] = self._R_base_world @ J[:3]
        out[3:] = self._R_base_world @ J[3:]
        return out

    def frame_positions(self, frame_ids: list[int]) -> np.ndarray:
        """Origins (k, 3) of several frames in the base frame at the last :meth:`update`."""
        oMf = self.data.oMf
        p = np.array([oMf[f].translation for f in frame_ids])
        if self._base_is_world:
            return p
        return p @ self._R_base_world.T + self._p_base_world

    def point_frame(self, parent_frame_id: int, p_parent: np.ndarray) -> int:
        """Id of an operational frame at ``p_parent`` (3,) [m] in a parent frame (added once).

        Pinocchio then computes the point's position and Jacobian in C++ at every update;
        collision spheres use this. The model's data is rebuilt when a frame is added.
        """
        key = (parent_frame_id, tuple(np.round(np.asarray(p_parent, dtype=float), 9)))
        if key in self._point_frames:
            return self._point_frames[key]
        parent = self.model.frames[parent_frame_id]
        placement = parent.placement * pin.SE3(np.eye(3), np.asarray(p_parent, dtype=float))
        frame = pin.Frame(f'resem3d_point_{len(self._point_frames)}', parent.parentJoint,
                          parent_frame_id, placement, pin.FrameType.OP_FRAME)
        frame_id = self.model.addFrame(frame, False)
        self.data = self.model.createData()
        self._point_frames[key] = frame_id
        return frame_id

    def tool_pose(self) -> np.ndarray:
        """Pose T_base_tool (4, 4) of the tool centre point."""
        return self.frame_pose(self.tool_frame_id)

    def tool_jacobian(self) -> np.ndarray:
        """Jacobian (6, n) of the tool twist [v; w] in base-frame axes at the TCP."""
        return self.frame_jacobian(self.tool_frame_id)

    def forward_tool_pose(self, q_rad: np.ndarray) -> np.ndarray:
        """Tool pose at ``q_rad`` without Jacobians (for sampling targets)."""
        pin.framesForwardKinematics(self.model, self.data, q_rad)
        return self.frame_pose(self.tool_frame_id).copy()

    def neutral_configuration(self) -> np.ndarray:
        """Middle of the joint ranges [rad]."""
        return 0.5 * (self.q_min_rad + self.q_max_rad)
