"""Typed errors of resem3d_sim, shared by every module of the package."""


class SimError(Exception):
    """Base class of every error raised by resem3d_sim."""


class RobotDescriptionError(SimError):
    """The robot description (URDF or one of its meshes) is missing or cannot be compiled."""


class SimInputError(SimError, ValueError):
    """An input to the simulator (command, pose, name, parameter) is malformed or not finite."""
