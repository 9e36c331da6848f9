"""Typed errors of the controller package."""


class ControllerError(Exception):
    """Base class of every error raised by resem3d_controller."""


class ConfigError(ControllerError):
    """A controller parameter is missing, unknown, of the wrong type or out of range."""


class RobotModelError(ControllerError):
    """The robot description cannot be loaded or lacks a required frame or joint."""


class InputError(ControllerError):
    """An input to the control step has the wrong shape or is not finite."""
